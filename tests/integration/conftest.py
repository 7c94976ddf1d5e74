"""Fixtures for provisioning against the real parts: Keycloak (session fixture in tests/conftest.py),
a real SMTP server (aiosmtpd, in-process), SQLite and a real PostgreSQL server."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from devstack.admin import remove_managed
from devstack.smtp_sink import MailSink
from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway
from provisioning.notify.notifier import SmtpConfig, SmtpNotifier
from provisioning.services import Actor, Provisioning
from provisioning.store.uow import make_engine, migrate
from tests.support.oidc import login_token
from tests.support.postgres import LocalPostgres

PROVISIONING_SECRET = "demo-only-provisioning-secret"
OPERATOR = Actor("cli:test", system=True)


@pytest.fixture(scope="session")
def postgres_url():
    if os.environ.get("MCP_TEST_POSTGRES_URL"):
        yield os.environ["MCP_TEST_POSTGRES_URL"]
        return
    pg = LocalPostgres()
    try:
        url = pg.start()
    except Exception as e:  # noqa: BLE001
        pg.stop()
        pytest.fail(f"could not start PostgreSQL for the store tests: {e}", pytrace=False)
    yield url
    pg.stop()


def fresh_engine(kind: str, tmp_path, postgres_url_factory):
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    else:
        engine = make_engine(postgres_url_factory())
        with engine.begin() as c:
            c.execute(sa.text("DROP SCHEMA public CASCADE"))
            c.execute(sa.text("CREATE SCHEMA public"))
    migrate(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    e = fresh_engine(request.param, tmp_path, lambda: request.getfixturevalue("postgres_url"))
    yield e
    e.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    e = fresh_engine("sqlite", tmp_path, None)
    yield e
    e.dispose()


@pytest.fixture(scope="session")
def smtp_server():
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp(smtp_server):
    smtp_server.clear()
    return smtp_server


def clean_managed(kc_admin) -> None:
    """Remove what the reconciler created in the shared test realm (its ownership marker says so)."""
    remove_managed(kc_admin)


@pytest.fixture
def gateway(keycloak):
    return KeycloakGateway(KeycloakConfig(keycloak.url, client_secret=PROVISIONING_SECRET))


@pytest.fixture
def provisioning(keycloak, kc_admin, smtp, sqlite_engine, gateway):
    clean_managed(kc_admin)
    svc = Provisioning(sqlite_engine, lambda: gateway,
                       SmtpNotifier(SmtpConfig("127.0.0.1", smtp.port)), portal_url=keycloak.app_url("portail"))
    yield svc
    clean_managed(kc_admin)


@pytest.fixture
def user_token(keycloak, kc_admin):
    """An access token for a realm user, obtained through the real login form of the `portail` client."""
    def token(username: str) -> str:
        return login_token(keycloak, kc_admin, username)
    return token
