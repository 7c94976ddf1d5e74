"""Issue 24: the set-up (scripts/lib.sh) waits for another apt-get or dpkg instead of failing at once, and
says clearly when it waited too long. A real apt-get against the real locks (CI runs as root)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock")
INSTALLED = "fonts-dejavu-core"  # installed by the test set-up itself: apt-get has nothing to fetch

if os.geteuid() != 0 or not Path("/usr/bin/apt-get").exists():  # as scripts/test.sh itself needs
    pytest.fail("the set-up tests need root and apt-get (a Debian machine, as CI has)", pytrace=False)


def _hold_locks(seconds: float, held: threading.Event) -> None:
    """Hold dpkg's and apt's locks as a running apt-get would (fcntl locks, like apt's own)."""
    with contextlib.ExitStack() as stack:
        for path in LOCKS:
            fcntl.lockf(stack.enter_context(open(path, "a")), fcntl.LOCK_EX)
        held.set()
        time.sleep(seconds)


def _apt(args: str, timeout_s: int) -> subprocess.CompletedProcess:
    script = f'source scripts/lib.sh; apt_get {args}'
    return subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MCP_APT_LOCK_TIMEOUT": str(timeout_s)})


@pytest.mark.parametrize("args", ["update -qq", f"install -y -qq --no-install-recommends {INSTALLED}"])
def test_apt_waits_for_another_apt_then_goes_ahead(args):
    held = threading.Event()
    holder = threading.Thread(target=_hold_locks, args=(4, held))
    holder.start()
    held.wait(10)
    started = time.monotonic()
    done = _apt(args, 60)
    holder.join()
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started >= 3.5, "it went ahead while the lock was held"
    assert "waiting" in done.stdout and "went ahead" in done.stdout, done.stdout


def test_apt_gives_up_with_a_clear_message_when_the_lock_stays_held():
    held = threading.Event()
    holder = threading.Thread(target=_hold_locks, args=(8, held))
    holder.start()
    held.wait(10)
    done = _apt(f"install -y -qq --no-install-recommends {INSTALLED}", 2)
    holder.join()
    assert done.returncode == 100
    assert "kept the package lock for more than 2 s" in done.stderr, done.stderr
