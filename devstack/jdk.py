"""Pick a JDK for Keycloak: 25 preferred, 21 or 17 accepted (Keycloak 26.7 runs on all three)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUPPORTED = (25, 21, 17)


class NoSuitableJdk(RuntimeError):
    pass


@dataclass(frozen=True)
class Jdk:
    home: Path
    major: int

    @property
    def java(self) -> Path:
        return self.home / "bin" / "java"


def java_major(java: Path) -> int | None:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major


def _candidates() -> list[Path]:
    homes: list[Path] = []
    for var in ("MCP_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(var):
            homes.append(Path(os.environ[var]))
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        homes.extend(sorted(p for p in jvm.iterdir() if (p / "bin" / "javac").exists()))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    return homes


def find_jdk() -> Jdk:
    """MCP_JAVA_HOME wins when set; otherwise the newest supported JDK found."""
    forced = os.environ.get("MCP_JAVA_HOME")
    seen: dict[Path, int] = {}
    for home in _candidates():
        home = home.resolve()
        if home in seen:
            continue
        major = java_major(home / "bin" / "java")
        if major is None or not (home / "bin" / "javac").exists():  # a JRE cannot build keycloak-extension/
            continue
        seen[home] = major
        if forced and home == Path(forced).resolve():
            if major < 17:
                raise NoSuitableJdk(f"MCP_JAVA_HOME={forced} is Java {major}; Keycloak needs 17, 21 or 25")
            return Jdk(home, major)
    usable = [Jdk(h, m) for h, m in seen.items() if m in SUPPORTED]
    if not usable:
        found = ", ".join(f"{h} (Java {m})" for h, m in seen.items()) or "none"
        raise NoSuitableJdk(
            "No JDK 25, 21 or 17 (with javac) found for Keycloak (found: " + found + "). "
            "Install one (e.g. `apt-get install openjdk-17-jdk-headless`) or set MCP_JAVA_HOME."
        )
    return min(usable, key=lambda j: SUPPORTED.index(j.major))  # SUPPORTED is in preference order
