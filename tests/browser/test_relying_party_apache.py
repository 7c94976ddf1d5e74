"""Issue 28 §4: the claims contract (docs/claims.md) read by a relying party we did not write and that is not
Python — Apache httpd with mod_auth_openidc (Debian's packages), configured by deploy/relying-party/httpd.conf
alone — driven by the real browser: single sign-on from the portal and its own end after idle time, refusal
without the habilitation the contract names, single logout from the portal (back-channel)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlparse

import pytest

from devstack import relying_party
from tests.browser.helpers import login

SECRET = "demo-only-service-tiers-secret"


@pytest.fixture(scope="module")
def rp_port(stack) -> int:
    return urlparse(stack.kc_admin.client("service-tiers")["rootUrl"]).port


@pytest.fixture
def apache(keycloak, rp_port, tmp_path):
    """A fresh Apache per story (its own session cache): the contract's idle time unless a story asks less."""
    started: list[relying_party.RelyingParty] = []

    def start(idle: int = relying_party.CONTRACT_IDLE_SECONDS) -> relying_party.RelyingParty:
        rp = relying_party.start(tmp_path / f"apache-{len(started)}", rp_port, keycloak.issuer, SECRET, idle=idle)
        started.append(rp)
        return rp
    yield start
    for rp in started:
        rp.stop()


def asked_to_log_in_again(page, rp: relying_party.RelyingParty, within: float = 10.0) -> bool:
    """Whether Apache's reserved page now sends her to Keycloak's login (Keycloak's back-channel call reaches
    Apache as it ends the sessions: allowed a few seconds)."""
    deadline = time.monotonic() + within
    while True:
        page.goto(rp.url + "/protege/")
        if page.query_selector("#kc-login"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)


def after_withdrawal(page, rp: relying_party.RelyingParty, within: float = 10.0) -> str:
    """What Apache does with her once the habilitation is withdrawn: « login » (her sessions ended, Keycloak asks
    her to log in again: the usual outcome) or « refused » (403: Apache holds a session whose token no longer
    carries the habilitation). The second happens when Keycloak 26 resurrects a session its admin API has just
    removed (keycloak/keycloak#51127, open: a read racing the removal re-hydrates the session from the
    database) — seen once in CI; the role is gone all the same. Never « served »: a 200 until the deadline fails."""
    deadline = time.monotonic() + within
    while True:
        answer = page.goto(rp.url + "/protege/")
        if page.query_selector("#kc-login"):
            return "login"
        if answer is not None and answer.status == 403:
            return "refused"
        if time.monotonic() > deadline:
            return "served"
        time.sleep(0.5)


def test_a_person_holding_the_habilitation_enters_without_her_password_again_until_the_module_idles(
        stack, new_page, apache):
    """The contract's 30 minutes without activity, shortened to the module's minimum (10 s): past it, the
    module's session is over — the next request goes back to Keycloak's authorization endpoint."""
    rp = apache(idle=10)
    stack.ready_user("lea.petit")
    page = new_page()
    login(page, stack.urls["portail"] + "/", "lea.petit")  # the portal first: the SSO session is Keycloak's
    answer = page.goto(rp.url + "/protege/")
    assert not page.query_selector("#password"), "no second login: the portal's session is enough"
    assert answer.status == 200 and page.url.startswith(rp.url + "/protege/"), rp.log()
    assert "Espace réservé" in page.inner_text("h1")
    # what the module read from the ID token, per the contract
    assert answer.headers["x-identifiant"] == "lea.petit"
    assert answer.headers["x-partenaire"] == "12345678900015"
    assert answer.headers["x-niveau"] in ("niveau-1", "niveau-2")
    held = json.loads(answer.headers["x-habilitations"])  # `resource_access.<service>.roles`, as the contract says
    assert held["cdap"]["roles"] == ["CDAP-Consulter"] and set(held) <= {"cdap", "afas"}
    # never from the browser's cache (found by the logout story: a cached copy outlived the session)
    assert answer.headers["cache-control"] == "no-store"
    inside = page.request.get(rp.url + "/protege/", max_redirects=0)
    assert inside.status == 200 and inside.headers["x-identifiant"] == "lea.petit"
    time.sleep(11)
    after = page.request.get(rp.url + "/protege/", max_redirects=0)
    assert after.status == 302 and "/protocol/openid-connect/auth" in after.headers["location"]


def test_a_person_without_the_habilitation_is_refused_in_french(stack, new_page, apache):
    rp = apache()
    stack.ready_user("paul.bernard")  # AFAS only: no CDAP Consulter
    page = new_page()
    login(page, stack.urls["portail"] + "/", "paul.bernard")
    answer = page.goto(rp.url + "/protege/")
    assert answer.status == 403
    assert page.inner_text("h1") == "Accès refusé" and "CDAP Consulter" in page.inner_text("#refus")
    assert "x-identifiant" not in answer.headers


def test_leaving_the_portal_ends_the_apache_session_too(stack, new_page, apache):
    """Single logout: Keycloak calls the module's back-channel logout; the next page asks for a login again."""
    rp = apache()
    stack.ready_user("lea.petit")
    page = new_page()
    login(page, stack.urls["portail"] + "/", "lea.petit")
    assert page.goto(rp.url + "/protege/").status == 200
    page.goto(stack.urls["portail"] + "/")
    page.click("text=Se déconnecter")
    page.wait_for_url(stack.urls["portail"] + "/auth/logged-out")
    assert asked_to_log_in_again(page, rp), f"still inside after the portal's logout: {page.url}\n{rp.log()}"


def test_a_habilitation_withdrawn_ends_the_session_in_the_service_we_did_not_write(stack, new_page, apache):
    """The contract's promise: when a role is withdrawn, Keycloak ends the person's sessions and tells every
    service (back-channel logout) — Apache's included; coming back, she meets the login, then the refusal."""
    from provisioning.domain.model import Group, Service
    from tests.browser.conftest import OPERATOR
    rp = apache()
    stack.ready_user("lea.petit")
    page = new_page()
    login(page, stack.urls["portail"] + "/", "lea.petit")
    assert page.goto(rp.url + "/protege/").status == 200
    take = {"siret": "12345678900015", "convention": "CONV-751-2026-0001", "service": Service.CDAP,
            "identifiant": "lea.petit", "profiles": set()}
    kc_user = stack.kc_admin.user_by_username("lea.petit")
    stack.provisioning.set_membership(OPERATOR, **take, groups=set())
    try:
        # the reconcile worker removes the role and ends her sessions; Keycloak tells Apache as it does
        deadline = time.monotonic() + 30
        while stack.kc_admin.get(f"/users/{kc_user['id']}/sessions") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stack.kc_admin.get(f"/users/{kc_user['id']}/sessions") == []
        outcome = after_withdrawal(page, rp)
        assert outcome in ("login", "refused"), f"Apache still served her: {page.url}\n{rp.log()}"
        if outcome == "login":
            login(page, rp.url + "/protege/", "lea.petit")
        assert page.inner_text("h1") == "Accès refusé"
    finally:
        stack.provisioning.set_membership(OPERATOR, **take, groups={Group.CDAP_CONSULTER})
        stack.settle()
