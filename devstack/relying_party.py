"""The claims contract's relying party (docs/claims.md): Apache httpd with mod_auth_openidc, Debian's packages,
configured by deploy/relying-party/httpd.conf alone. Started here for the tests, as its own process."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "deploy" / "relying-party" / "httpd.conf"
HTDOCS = ROOT / "deploy" / "relying-party" / "htdocs"
APACHE = "/usr/sbin/apache2"
CONTRACT_IDLE_SECONDS = 1800  # R17: 30 minutes without activity, as everywhere else


class RelyingPartyError(RuntimeError):
    pass


@dataclass
class RelyingParty:
    url: str
    directory: Path
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def start(directory: Path, port: int, issuer: str, secret: str, *, idle: int = CONTRACT_IDLE_SECONDS,
          timeout: float = 30.0, client_id: str = "service-tiers",
          require: str = "resource_access.cdap.roles:CDAP-Consulter", level: str = "niveau-1") -> RelyingParty:
    """Apache in the foreground on 127.0.0.1:`port`, its state in `directory`; returns once it answers. By default
    the demonstration client `service-tiers` asking CDAP Consulter; a catalogue service's client with its own
    habilitation otherwise."""
    if not Path(APACHE).exists() or not Path("/usr/lib/apache2/modules/mod_auth_openidc.so").exists():
        raise RelyingPartyError("Apache and mod_auth_openidc are needed: apt-get install apache2-bin "
                                "libapache2-mod-auth-openidc")
    directory.mkdir(parents=True, exist_ok=True)
    url = f"http://localhost:{port}"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RP_DIR": str(directory), "RP_PORT": str(port),
           "RP_URL": url, "RP_ISSUER": issuer, "RP_SECRET": secret, "RP_PASSPHRASE": secrets.token_urlsafe(32),
           "RP_IDLE": str(idle), "RP_HTDOCS": str(HTDOCS), "RP_CLIENT_ID": client_id, "RP_REQUIRE": require,
           "RP_LEVEL": level}
    defines = ["-DRP_STARTED_AS_ROOT"] if os.geteuid() == 0 else []
    check = subprocess.run([APACHE, "-f", str(CONF), *defines, "-t"], env=env, capture_output=True, text=True)
    if check.returncode != 0:
        raise RelyingPartyError(f"Apache refuses its configuration: {check.stderr[-2000:]}")
    with open(directory / "stdout.log", "ab") as out:
        proc = subprocess.Popen([APACHE, "-f", str(CONF), *defines, "-DFOREGROUND"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    rp = RelyingParty(url, directory, proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RelyingPartyError(f"Apache stopped at start (exit {proc.returncode}): {rp.log()}")
        try:
            if requests.get(url + "/", timeout=2).status_code == 200:
                return rp
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    rp.stop()
    raise RelyingPartyError(f"Apache did not answer on {url} within {timeout} s: {rp.log()}")


def available() -> bool:
    return shutil.which(APACHE) is not None or Path(APACHE).exists()
