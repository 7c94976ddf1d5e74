"""Issue 30 §2: the log lines of a whole test run, written as the processes write them (JSON, redacted), are
searched at its end for every password the run generated or typed, and for any token: one found fails the run.

Installed by tests/conftest.py. What it covers: every process of the run that logs in the test process — the API,
the three applications, the worker and the mail sender of the browser stories and the use-case tests. The
production topology's processes write their own files: tests/cluster/conftest.py searches those (`leaked`)."""

from __future__ import annotations

import json
import logging
import re
import sys
import tempfile
from pathlib import Path

from provisioning import logs

TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.|(?i:bearer)\s+(?!\[caché\])[A-Za-z0-9._~+/=-]{8,}")
GENERATED: set[str] = set()  # every provisional password generated during the run


def leaks(text: str, secrets: set[str]) -> list[str]:
    """What of `secrets` (passwords) and which tokens appear in `text`, shown shortened."""
    found = [f"mot de passe {s[:3]}…" for s in sorted(secrets) if len(s) >= 8 and s in text]
    found += [f"jeton {m.group(0)[:12]}…" for m in TOKEN.finditer(text)]
    return found


def mailed_passwords(store: Path) -> set[str]:
    """The provisional passwords in the mails a sink kept (JSON lines): what subprocess workers generated."""
    found = set()
    for line in (store.read_text(encoding="utf-8").splitlines() if store.exists() else []):
        if line.strip() and (m := re.search(r"provisoire\s*:\s*(\S+)", json.loads(line).get("body", ""))):
            found.add(m.group(1))
    return found


def search_files(files: list[Path], secrets: set[str]) -> tuple[int, list[str]]:
    """(lines read, leaks found with the file's name) over log files other processes wrote."""
    lines, found = 0, []
    for log in files:
        text = log.read_text(encoding="utf-8", errors="replace")
        lines += text.count("\n")
        found += [f"{log.name}: {hit}" for hit in leaks(text, secrets)]
    return lines, found


class RunLog:
    def __init__(self) -> None:
        self.path = Path(tempfile.mkstemp(prefix="mcp-test-run-", suffix=".jsonl")[1])
        self.file = self.path.open("w", encoding="utf-8")
        self.handler = logs.handler("tests", stream=self.file, fmt="json")
        self.handler.setLevel(logging.INFO)
        root = logging.getLogger()
        root.addHandler(self.handler)
        if root.level == logging.NOTSET or root.level > logging.INFO:
            root.setLevel(logging.INFO)

    def record_passwords(self) -> None:
        """Every module holding the password generator gets one that remembers what it made."""
        from provisioning.usecases import base
        original = base.generate_password
        if getattr(original, "recording", False):
            return

        def recording(*args, **kwargs):
            password = original(*args, **kwargs)
            GENERATED.add(password)
            return password
        recording.recording = True  # type: ignore[attr-defined]
        for module in list(sys.modules.values()):
            if getattr(module, "generate_password", None) is original:
                module.generate_password = recording  # type: ignore[attr-defined]

    def finish(self) -> tuple[int, list[str]]:
        """(lines written, leaks found)."""
        logging.getLogger().removeHandler(self.handler)
        self.file.close()
        typed = set()
        browser = sys.modules.get("tests.browser.helpers")
        if browser is not None:
            typed = set(browser.PASSWORDS.values())
        text = self.path.read_text(encoding="utf-8")
        found = leaks(text, GENERATED | typed)
        if not found:
            self.path.unlink()
        return text.count("\n"), found
