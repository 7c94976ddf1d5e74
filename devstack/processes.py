"""Background helper processes of the local stack (SMTP sink, provisioning API): PID file, log, clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.paths import REPO_ROOT, STATE_DIR


@dataclass(frozen=True)
class Helper:
    name: str
    module: str
    args: tuple[str, ...]
    port: int | None  # ready when this port accepts connections; None: ready when alive after a second

    @property
    def pid_file(self) -> Path:
        return STATE_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return STATE_DIR / f"{self.name}.log"


def _alive(pid: int, helper: Helper) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return helper.module in cmd


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def running_pid(helper: Helper) -> int | None:
    try:
        pid = int(helper.pid_file.read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid, helper) else None


def start(helper: Helper, env: dict[str, str] | None = None, timeout: float = 30) -> str:
    if running_pid(helper):
        return "reused"
    if helper.port is not None and _listening(helper.port):
        raise RuntimeError(f"port {helper.port} is already used by another process ({helper.name})")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(helper.log_file, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", helper.module, *helper.args], cwd=REPO_ROOT,
                                env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    helper.pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if helper.port is None:
            time.sleep(1.0)
            if proc.poll() is None:
                return "started"
            break
        if _listening(helper.port):
            return "started"
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    stop(helper)
    tail = helper.log_file.read_text(errors="replace").splitlines()[-20:]
    raise RuntimeError(f"{helper.name} did not start:\n" + "\n".join(tail))


def stop(helper: Helper) -> bool:
    pid = running_pid(helper)
    helper.pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    for _ in range(50):
        if not _alive(pid, helper):
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return True
