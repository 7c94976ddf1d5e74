"""A local Keycloak without Docker: fetch the distribution with Maven, unpack, run `kc.sh start-dev`.

One distribution zip is cached outside the work tree (MCP_CACHE_DIR) and unpacked once; each named
instance ("demo" for README command 1, "test" for the test run) is a copy of it under MCP_STATE_DIR
with our theme and realm file installed, its own H2 database, ports, PID file and log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devstack.jdk import find_jdk
from devstack.paths import CACHE_DIR, REPO_ROOT, STATE_DIR

KEYCLOAK_VERSION = os.environ.get("MCP_KEYCLOAK_VERSION", "26.7.3")
REALM = "mon-compte-partenaire"
THEME = "mon-compte-partenaire"


class KeycloakError(RuntimeError):
    """Keycloak could not be fetched, started or stopped; the message says why."""


@dataclass(frozen=True)
class Instance:
    name: str
    http_port: int
    management_port: int
    admin_user: str = "admin"
    admin_password: str = "admin"
    version: str = KEYCLOAK_VERSION
    state_dir: Path = STATE_DIR
    cache_dir: Path = CACHE_DIR
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.state_dir / f"keycloak-{self.name}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"keycloak-{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"keycloak-{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://localhost:{self.http_port}"

    @property
    def ready_url(self) -> str:
        return f"http://localhost:{self.management_port}/health/ready"


# Issue 32: the stand-in of ProConnect, a second realm of the same Keycloak, for the demo and the tests only (never
# imported by a production image: it is not among realm-config/*.json). Its variables point the broker at it.
PROCONNECT_STANDIN = REPO_ROOT / "realm-config" / "standin" / "proconnect-realm.json"


def proconnect_standin_env(keycloak_url: str) -> dict[str, str]:
    """The broker's endpoints on the stand-in realm of the Keycloak at `keycloak_url`."""
    oidc = f"{keycloak_url}/realms/proconnect/protocol/openid-connect"
    return {"MCP_PROCONNECT_ISSUER": f"{keycloak_url}/realms/proconnect",
            "MCP_PROCONNECT_AUTHORIZATION_URL": f"{oidc}/auth?acr_values=eidas1",
            "MCP_PROCONNECT_TOKEN_URL": f"{oidc}/token", "MCP_PROCONNECT_USERINFO_URL": f"{oidc}/userinfo",
            "MCP_PROCONNECT_JWKS_URL": f"{oidc}/certs", "MCP_PROCONNECT_LOGOUT_URL": f"{oidc}/logout"}


def demo_instance() -> Instance:
    port = int(os.environ.get("MCP_KEYCLOAK_PORT", "8080"))
    return Instance(
        name="demo",
        http_port=port,
        management_port=int(os.environ.get("MCP_KEYCLOAK_MANAGEMENT_PORT", "9000")),
        admin_user=os.environ.get("MCP_KEYCLOAK_ADMIN", "admin"),
        admin_password=os.environ.get("MCP_KEYCLOAK_ADMIN_PASSWORD", "admin"),
        extra_env={k: v for k, v in proconnect_standin_env(f"http://localhost:{port}").items()
                   if k not in os.environ},
    )


# The test run's applications listen on their own ports, so tests never collide with the demo stack.
TEST_APP_PORTS = {"portail": 18081, "cdap": 18082, "afas": 18083}
TEST_KEYCLOAK_SMTP_PORT = 11025  # where the test Keycloak sends its own mails (action links)
TEST_SERVICE_TIERS_PORT = 18084  # the Apache relying party of the claims contract's tests (docs/claims.md)


def test_instance() -> Instance:
    port = int(os.environ.get("MCP_TEST_KEYCLOAK_PORT", "8180"))
    return Instance(
        name="test",
        http_port=port,
        management_port=int(os.environ.get("MCP_TEST_KEYCLOAK_MANAGEMENT_PORT", "9100")),
        admin_user="admin",
        admin_password="test-admin-password",
        extra_env={**{f"MCP_{name.upper()}_URL": f"http://localhost:{port}" for name, port in TEST_APP_PORTS.items()},
                   "MCP_SERVICE_TIERS_URL": f"http://localhost:{TEST_SERVICE_TIERS_PORT}",
                   "MCP_SMTP_HOST": "127.0.0.1", "MCP_SMTP_PORT": str(TEST_KEYCLOAK_SMTP_PORT),
                   **proconnect_standin_env(f"http://localhost:{port}")},
    )


# --- distribution -------------------------------------------------------------------------------

def distribution_zip(version: str = KEYCLOAK_VERSION, cache_dir: Path = CACHE_DIR) -> Path:
    """The zip of org.keycloak:keycloak-quarkus-dist, fetched once through Maven's own settings."""
    target = cache_dir / f"keycloak-quarkus-dist-{version}.zip"
    if target.exists():
        return target
    mvn = shutil.which("mvn")
    if not mvn:
        raise KeycloakError("Maven (mvn) is needed to fetch Keycloak: apt-get install maven")
    cache_dir.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-q", "-B", "dependency:copy",
           f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{version}:zip",
           f"-DoutputDirectory={cache_dir}"]
    print(f"[keycloak] fetching keycloak-quarkus-dist {version} with Maven…", flush=True)
    done = subprocess.run(cmd, cwd=cache_dir, capture_output=True, text=True)
    if done.returncode != 0 or not target.exists():
        raise KeycloakError(f"mvn could not fetch Keycloak {version}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return target


def pristine_distribution(version: str = KEYCLOAK_VERSION, cache_dir: Path = CACHE_DIR) -> Path:
    home = cache_dir / "dist" / f"keycloak-{version}"
    if (home / "bin" / "kc.sh").exists():
        return home
    archive = distribution_zip(version, cache_dir)
    tmp = cache_dir / "dist" / f".unpack-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp)
    (tmp / f"keycloak-{version}" / "bin" / "kc.sh").chmod(0o755)
    for script in (tmp / f"keycloak-{version}" / "bin").glob("*.sh"):
        script.chmod(0o755)
    shutil.rmtree(home, ignore_errors=True)
    (tmp / f"keycloak-{version}").rename(home)
    shutil.rmtree(tmp, ignore_errors=True)
    return home


def prepare(instance: Instance, *, fresh_data: bool = False) -> Path:
    """Copy the distribution for this instance (once), then (re)install theme and realm file."""
    home = instance.home
    if not (home / "bin" / "kc.sh").exists():
        instance.state_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(pristine_distribution(instance.version, instance.cache_dir), home, symlinks=True)
    if fresh_data:
        shutil.rmtree(home / "data", ignore_errors=True)
    install_extension(home)
    install_theme(home)
    import_dir = home / "data" / "import"
    shutil.rmtree(import_dir, ignore_errors=True)
    import_dir.mkdir(parents=True)
    for realm_file in [*(REPO_ROOT / "realm-config").glob("*.json"), PROCONNECT_STANDIN]:
        shutil.copy2(realm_file, import_dir / realm_file.name)
    return home


IDENTITY_CSS = REPO_ROOT / "sso_demo" / "static" / "mcp-identity.css"  # issue 15: one source of the look
FONTS = REPO_ROOT / "sso_demo" / "static" / "fonts"  # issue 24: the fonts it names, served beside it


def install_theme(home: Path) -> Path:
    """Our login theme, with the identity stylesheet the applications serve (tokens, header, footer) and its fonts."""
    theme_dst = home / "themes" / THEME
    shutil.rmtree(theme_dst, ignore_errors=True)
    shutil.copytree(REPO_ROOT / "keycloak-theme" / THEME, theme_dst)
    shutil.copy2(IDENTITY_CSS, theme_dst / "login" / "resources" / "css" / IDENTITY_CSS.name)
    shutil.copytree(FONTS, theme_dst / "login" / "resources" / "css" / FONTS.name)
    return theme_dst


def install_extension(home: Path, jar: Path | None = None) -> Path:
    """Compile keycloak-extension/ against this distribution's own jars (no download) into providers/."""
    src = REPO_ROOT / "keycloak-extension" / "src" / "main"
    jar = jar or home / "providers" / "mcp-keycloak-extension.jar"
    sources = sorted((src / "java").rglob("*.java")) + sorted((src / "resources").rglob("*"))
    newest = max((f.stat().st_mtime for f in sources if f.is_file()), default=0)
    if jar.exists() and jar.stat().st_mtime >= newest:
        return jar
    jdk = find_jdk()
    jar.parent.mkdir(parents=True, exist_ok=True)
    build = jar.parent / ".build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    javac = [str(jdk.home / "bin" / "javac"), "--release", "17", "-nowarn", "-cp", str(home / "lib" / "lib" / "main" / "*"),
             "-d", str(build), *[str(f) for f in sources if f.suffix == ".java"]]
    done = subprocess.run(javac, capture_output=True, text=True)
    if done.returncode != 0:
        raise KeycloakError(f"keycloak-extension does not compile:\n{done.stdout}{done.stderr}")
    shutil.copytree(src / "resources", build, dirs_exist_ok=True)
    done = subprocess.run([str(jdk.home / "bin" / "jar"), "--create", "--file", str(jar), "-C", str(build), "."],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise KeycloakError(f"could not package keycloak-extension:\n{done.stderr}")
    shutil.rmtree(build, ignore_errors=True)
    return jar


# --- process ------------------------------------------------------------------------------------

def _read_pid(instance: Instance) -> int | None:
    try:
        return int(instance.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_ours(pid: int, instance: Instance) -> bool:
    """True when process group `pid` is alive and runs this instance (guards against PID reuse)."""
    for member in _group_members(pid):
        try:
            cmdline = Path(f"/proc/{member}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(instance.home) in cmdline:
            return True
    return False


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group: kc.sh and the JVM it launches."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def running_pid(instance: Instance) -> int | None:
    pid = _read_pid(instance)
    if pid is not None and _is_ours(pid, instance):
        return pid
    return None


def is_ready(instance: Instance, timeout: float = 2.0) -> bool:
    try:
        return requests.get(instance.ready_url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def _port_busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def log_tail(instance: Instance, lines: int = 60) -> str:
    try:
        text = instance.log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def start(instance: Instance, *, fresh_data: bool = False, timeout: float = 300.0) -> str:
    """Start (or reuse) the instance and wait until it is ready. Returns 'started' or 'reused'."""
    pid = running_pid(instance)
    if pid is not None:
        if fresh_data:
            stop(instance)
        else:
            wait_ready(instance, pid, timeout)
            return "reused"
    for port in (instance.http_port, instance.management_port):
        if _port_busy(port):
            raise KeycloakError(
                f"port {port} is already in use by another process; stop it or choose other ports "
                f"(MCP_KEYCLOAK_PORT / MCP_KEYCLOAK_MANAGEMENT_PORT)")
    jdk = find_jdk()
    home = prepare(instance, fresh_data=fresh_data)
    env = {**os.environ, **instance.extra_env,
           "JAVA_HOME": str(jdk.home),
           "KC_BOOTSTRAP_ADMIN_USERNAME": instance.admin_user,
           "KC_BOOTSTRAP_ADMIN_PASSWORD": instance.admin_password}
    cmd = [str(home / "bin" / "kc.sh"), "start-dev",
           f"--http-port={instance.http_port}",
           f"--http-management-port={instance.management_port}",
           "--http-management-host=127.0.0.1",  # health and metrics never leave the machine
           "--health-enabled=true",
           "--import-realm"]
    instance.state_dir.mkdir(parents=True, exist_ok=True)
    with open(instance.log_file, "ab") as log:
        log.write(f"\n=== {time.strftime('%F %T')} start-dev on Java {jdk.major} ({jdk.home})\n".encode())
        log.flush()
        proc = subprocess.Popen(cmd, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    instance.pid_file.write_text(str(proc.pid))
    try:
        wait_ready(instance, proc.pid, timeout)
    except KeycloakError:
        stop(instance)
        raise
    return "started"


def wait_ready(instance: Instance, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_ready(instance):
            return
        if not _group_members(pid):
            raise KeycloakError(f"Keycloak '{instance.name}' exited while starting. Last log lines:\n"
                                + log_tail(instance))
        time.sleep(1.0)
    raise KeycloakError(f"Keycloak '{instance.name}' not ready after {timeout:.0f} s "
                        f"({instance.ready_url}). Last log lines:\n" + log_tail(instance))


def stop(instance: Instance, timeout: float = 40.0) -> bool:
    """Stop this instance's own process group (never anything else). True if something was stopped."""
    pid = running_pid(instance)
    if pid is None:
        instance.pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)  # our Popen made pid a session/group leader
    deadline = time.monotonic() + timeout
    _reap(pid)
    # kc.sh dies at once; the JVM may still be flushing H2: wait for the whole group to be gone
    while time.monotonic() < deadline and _group_members(pid):
        time.sleep(0.3)
    if _group_members(pid):
        os.killpg(pid, signal.SIGKILL)
        time.sleep(1)
    _reap(pid)
    instance.pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # collect the exit status if it is our child (no zombie)
        os.waitpid(pid, os.WNOHANG)


def reset(instance: Instance) -> None:
    """Stop and delete the instance (database included); the cached distribution stays."""
    stop(instance)
    shutil.rmtree(instance.home, ignore_errors=True)
    instance.log_file.unlink(missing_ok=True)
