"""The whole system for browser stories: real Keycloak, provisioning API (real server thread), the portal,
CDAP and AFAS (real servers on the ports the test realm registered), a real SMTP server, headless Chromium."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from devstack.smtp_sink import MailSink
from provisioning import catalogue_file
from provisioning.api import create_app as create_api
from provisioning.api.auth import TokenVerifier
from provisioning.domain import catalogue as service_catalogue
from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway
from provisioning.notify.notifier import SmtpConfig, SmtpNotifier
from provisioning.paperwork.signatory import LocalPkiSignatory
from provisioning.reconcile.worker import run_forever
from provisioning.services import Actor, Provisioning
from provisioning.store.uow import UnitOfWork, make_engine, migrate
from sso_demo import afas, cdap, portal
from sso_demo import catalogue as portal_catalogue
from sso_demo.config import AppConfig
from tests.browser import settle
from tests.browser.fonts import launch_chromium
from tests.browser.helpers import PASSWORDS, RESETS
from tests.integration.conftest import clean_managed
from tests.unit.factories import example_data, registry, second_partner

OPERATOR = Actor("cli:browser-tests", system=True)

settle.install()  # a click that navigates returns once the new page has loaded

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # request lines would drown the test report


@dataclass
class Stack:
    provisioning: Provisioning
    smtp: MailSink
    urls: dict[str, str]
    apps: dict
    kc_admin: object

    def ready_user(self, username: str) -> str:
        """A provisioned user who has done first login already: known password, no required action.
        Done once per user (until `forget`): the realm's password history refuses a password used before,
        so each reset uses a new one, remembered for `login`."""
        if username in PASSWORDS:
            return PASSWORDS[username]
        password = f"Navigateur-{len(PASSWORDS) + sum(RESETS.values())}-{RESETS.get(username, 0)}-Test!"
        PASSWORDS[username] = password
        u = self.kc_admin.user_by_username(username)
        self.kc_admin.put(f"/users/{u['id']}/reset-password",
                          json={"type": "password", "value": password, "temporary": False})
        self.kc_admin.put(f"/users/{u['id']}", json={"requiredActions": []})
        return password

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the reconcile worker has no request left pending (a test then reads Keycloak)."""
        deadline = time.monotonic() + timeout
        while True:
            with UnitOfWork(self.provisioning.engine) as uow:
                pending = uow.reconcile.counts().get(uow.reconcile.PENDING, 0)
            if not pending:
                return
            assert time.monotonic() < deadline, f"{pending} reconcile request(s) still pending after {timeout} s"
            time.sleep(0.1)

    def wait_for_mails(self, which, recipients: set[str], timeout: float = 30.0) -> list:
        """The mails `which` selects, once every one of `recipients` has one (the outbox sends a moment later)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.smtp.mails if which(m) and set(m.recipients) & recipients]
            if {r for m in found for r in m.recipients} >= recipients:
                return found
            assert time.monotonic() < deadline, f"no such mail for {recipients - {r for m in found for r in m.recipients}}"
            time.sleep(0.2)

    def forget(self, username: str) -> None:
        """The user's password changed outside the tests' knowledge (re-issue): reset it next time."""
        PASSWORDS.pop(username, None)
        RESETS[username] = RESETS.get(username, 0) + 1

    def provisional_password(self, email: str) -> str:
        mail = next(m for m in reversed(self.smtp.mails) if email in m.recipients and "mot de passe" in m.subject)
        return re.search(r"provisoire\s*:\s*(\S+)", mail.body).group(1)


def _serve(app, port: int):
    srv = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture(scope="package")
def stack(keycloak, tmp_path_factory):
    admin = keycloak.admin()
    clean_managed(admin)
    sink = MailSink().start()
    state = tmp_path_factory.mktemp("stack")
    engine = make_engine(f"sqlite:///{state / 'registry.sqlite'}")
    migrate(engine)
    gw = KeycloakGateway(KeycloakConfig(keycloak.url, client_secret="demo-only-provisioning-secret"))
    # as deployed: API changes answer once stored, a reconcile worker (its own thread here) follows
    svc = Provisioning(engine, lambda: gw, SmtpNotifier(SmtpConfig("127.0.0.1", sink.port)),
                       portal_url=keycloak.app_url("portail"), reconcile_mode="worker",
                       signatory=LocalPkiSignatory(state / "pki"))  # issue 31: the stack's own test PKI
    api = _serve(create_api(svc, TokenVerifier(keycloak.issuer, "provisioning-api")), 0)
    api_url = f"http://127.0.0.1:{api.server_port}"
    urls = {c: keycloak.app_url(c) for c in ("portail", "cdap", "afas")}
    # the services' addresses in this deployment, as MCP_CDAP_URL and MCP_AFAS_URL say them to every process of a
    # real one: the portal's menus lead there
    before = service_catalogue.current()
    service_catalogue.install(catalogue_file.load(urls=catalogue_urls(urls)))
    portal_catalogue.forget()
    apps, servers = {}, [api]
    for client_id, factory in (("portail", portal.create_app), ("cdap", cdap.create_app), ("afas", afas.create_app)):
        cfg = AppConfig(client_id=client_id, client_secret=f"demo-only-{client_id}-secret", base_url=urls[client_id],
                        issuer=keycloak.issuer, secret_key=f"test-{client_id}", portal_url=urls["portail"],
                        cdap_url=urls["cdap"], afas_url=urls["afas"], api_url=api_url, data_dir=str(state))
        apps[client_id] = factory(cfg)
        servers.append(_serve(apps[client_id], int(urls[client_id].rsplit(":", 1)[1])))
    data = example_data()
    b = second_partner(data)  # partner B (same Caf), AFAS only: for tenant isolation
    b["conventions"][0]["bulletins"] = [x for x in b["conventions"][0]["bulletins"] if x["service"] == "AFAS"]
    svc.import_registry(OPERATOR, registry(data))
    svc.reconcile(OPERATOR)
    stop = threading.Event()
    # no periodic resync here: a page would say « en attente » for the moments it runs, at whatever time the
    # suite reaches 10 minutes (the resync has its own tests)
    worker = threading.Thread(target=run_forever, args=(svc, 0.2, stop), kwargs={"resync_every": 0}, daemon=True)
    worker.start()
    yield Stack(svc, sink, urls, apps, admin)
    stop.set()
    worker.join(30)
    for s in servers:
        s.shutdown()
    sink.stop()
    clean_managed(admin)
    service_catalogue.install(before)
    portal_catalogue.forget()


def catalogue_urls(urls: dict[str, str]) -> dict[str, str]:
    return {"CDAP": urls["cdap"], "AFAS": urls["afas"]}


@pytest.fixture(scope="session")
def playwright_session():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium(playwright_session, tmp_path_factory):
    browser = launch_chromium(playwright_session, "private", tmp_path_factory.mktemp("fontconfig"))
    yield browser
    browser.close()


@pytest.fixture
def new_page(chromium):
    """A fresh browser profile per person (own cookies), French first like our users."""
    contexts = []

    def make(**options):
        # bypass_csp=True only where axe-core must be injected into the page
        ctx = chromium.new_context(locale="fr-FR", **options)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        settle.watch(page)
        return page
    yield make
    for c in contexts:
        c.close()
