"""Shared fixtures. `keycloak` yields a running Keycloak for the whole test run:

- KEYCLOAK_URL set: that server (admin from KEYCLOAK_ADMIN / KEYCLOAK_ADMIN_PASSWORD); the realm must exist;
- MCP_KEYCLOAK_BACKEND=testcontainers and a Docker engine answering: a container (optional, for Docker users);
- otherwise: the local distribution's "test" instance (ports 8180/9100), started once with a fresh
  database so the current realm file is the one imported, and stopped at the end (left running when
  MCP_KEEP_TEST_KEYCLOAK=1: .ci/run then runs the benchmarks on it and stops it).

When no Keycloak can be had, every test needing it fails with the reason: never a silent skip.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
import requests

from devstack import keycloak as kc
from devstack.admin import AdminSession
from tests.support.run_logs import GENERATED, RunLog

REALM = kc.REALM


@dataclass(frozen=True)
class KeycloakServer:
    url: str
    admin_user: str
    admin_password: str
    realm: str = REALM
    app_ports: tuple[tuple[str, int], ...] = (("portail", 8081), ("cdap", 8082), ("afas", 8083))

    def app_url(self, client_id: str) -> str:
        """Base URL the realm registered for this application (its redirect and logout URIs hang off it)."""
        return f"http://localhost:{dict(self.app_ports)[client_id]}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{self.realm}"

    def admin(self) -> AdminSession:
        return AdminSession(self.url, self.admin_user, self.admin_password, realm=self.realm)


def _docker_answers() -> bool:
    try:
        import docker
        docker.from_env().ping()
        return True
    except Exception:  # noqa: BLE001 (whatever fails, no Docker answers)
        return False


@pytest.fixture(scope="session")
def keycloak():
    if os.environ.get("KEYCLOAK_URL"):
        server = KeycloakServer(os.environ["KEYCLOAK_URL"].rstrip("/"),
                                os.environ.get("KEYCLOAK_ADMIN", "admin"),
                                os.environ.get("KEYCLOAK_ADMIN_PASSWORD", "admin"))
        r = requests.get(server.issuer + "/.well-known/openid-configuration", timeout=10)
        if r.status_code != 200:
            pytest.fail(f"KEYCLOAK_URL={server.url} has no realm {REALM} (HTTP {r.status_code})")
        # the applications must listen where that realm expects them: read it from the clients' root URLs
        admin = server.admin()
        ports = tuple((c, urlparse(admin.client(c)["rootUrl"]).port) for c in ("portail", "cdap", "afas"))
        yield KeycloakServer(server.url, server.admin_user, server.admin_password, app_ports=ports)
        return
    if os.environ.get("MCP_KEYCLOAK_BACKEND") == "testcontainers":
        if not _docker_answers():
            pytest.fail("MCP_KEYCLOAK_BACKEND=testcontainers but no Docker engine answers")
        yield from _testcontainers_keycloak()
        return
    inst = kc.test_instance()
    try:
        kc.start(inst, fresh_data=True)
    except Exception as e:  # noqa: BLE001 (the reason is the message)
        pytest.fail(f"could not start the local Keycloak for the tests: {e}", pytrace=False)
    try:
        yield KeycloakServer(inst.url, inst.admin_user, inst.admin_password,
                             app_ports=tuple(kc.TEST_APP_PORTS.items()))
    finally:
        if os.environ.get("MCP_KEEP_TEST_KEYCLOAK") != "1":
            kc.stop(inst)


def _testcontainers_keycloak():
    from pathlib import Path

    from testcontainers.keycloak import KeycloakContainer

    root = Path(__file__).resolve().parent.parent
    # the same extension jar, theme and realm as docker-compose.yml (without the jar, logins could not pass)
    jar = kc.install_extension(kc.pristine_distribution(), root / "build" / "mcp-keycloak-extension.jar")
    container = (KeycloakContainer(f"quay.io/keycloak/keycloak:{kc.KEYCLOAK_VERSION}")
                 .with_volume_mapping(str(jar), "/opt/keycloak/providers/mcp-keycloak-extension.jar")
                 .with_volume_mapping(str(root / "realm-config"), "/opt/keycloak/data/import")
                 .with_volume_mapping(str(root / "keycloak-theme" / kc.THEME), f"/opt/keycloak/themes/{kc.THEME}")
                 .with_volume_mapping(str(kc.IDENTITY_CSS),
                                      f"/opt/keycloak/themes/{kc.THEME}/login/resources/css/{kc.IDENTITY_CSS.name}")
                 .with_volume_mapping(str(kc.FONTS), f"/opt/keycloak/themes/{kc.THEME}/login/resources/css/fonts")
                 .with_command("start-dev --import-realm"))
    for name, value in kc.test_instance().extra_env.items():  # the test apps' redirect URIs, as for the local one
        if not name.startswith("MCP_SMTP"):  # 127.0.0.1 is the container itself: Keycloak's own mails are not tested there
            container = container.with_env(name, value)
    with container:
        yield KeycloakServer(container.get_url(), container.username, container.password)


@pytest.fixture
def kc_admin(keycloak) -> AdminSession:
    return keycloak.admin()


@pytest.fixture
def make_user(kc_admin):
    """Create throwaway users in the realm; they are deleted after the test."""
    created: list[str] = []

    def make(password: str = "Correct-Horse-42!", *, temporary: bool = False,
             required_actions: list[str] | None = None, **kw) -> tuple[str, str]:
        username = f"t-{uuid.uuid4().hex[:10]}"
        uid = kc_admin.create_user(username, password, temporary=temporary,
                                   required_actions=required_actions, **kw)
        created.append(uid)
        return username, uid

    yield make
    for uid in created:
        kc_admin.delete(f"/users/{uid}")


def pytest_collection_modifyitems(items):
    for item in items:
        path = str(item.fspath).replace(os.sep, "/")
        if "tests/integration" in path or "tests/browser" in path:
            item.add_marker(pytest.mark.integration)


# --- issue 30 §2: the whole run's log lines hold no password and no token --------------------------------------
def pytest_configure(config):
    config._mcp_run_log = RunLog()


def pytest_collection_finish(session):
    session.config._mcp_run_log.record_passwords()


def pytest_sessionfinish(session, exitstatus):
    run_log = getattr(session.config, "_mcp_run_log", None)
    if run_log is None:
        return
    lines, found = run_log.finish()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if found:
        if reporter:
            reporter.write_line(f"[journaux] secrets dans les journaux de ce passage ({run_log.path}) : "
                                + ", ".join(found[:10]), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter:
        reporter.write_line(f"[journaux] {lines} lignes lues : aucun des {len(GENERATED)} mots de passe générés, "
                            "aucun jeton")
