"""Issue 13 against the real Keycloak: levels of authentication (acr niveau-1 / niveau-2), step-up for CDAP only,
TOTP enrolment at first need computed with pyotp, recovery codes (each once), a wrong code refused and counted
by brute-force protection, and a reset by the administrator that forces a new enrolment."""

from __future__ import annotations

import re

import pyotp
import pytest

from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway
from tests.integration.conftest import PROVISIONING_SECRET
from tests.support.oidc import Page, Redirect, Rp
from tests.support.totp import fresh_code

PASSWORD = "Correct-Horse-42!"


def _rp(keycloak, client: str, http=None) -> Rp:
    rp = Rp(keycloak.issuer, client, f"demo-only-{client}-secret", keycloak.app_url(client) + "/auth/callback")
    if http is not None:
        rp.http = http  # the same browser: the same SSO cookie
    return rp


def _tokens(rp: Rp, req, result) -> dict:
    assert isinstance(result, Redirect), result.text()[:600]
    tokens = rp.exchange(result.params["code"], req)
    return {"id": rp.verify_id_token(tokens["id_token"], req), "raw": tokens}


def _access_claims(raw: dict) -> dict:
    import base64
    import json
    body = raw["access_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _enrol_totp(rp: Rp, page: Page) -> tuple[pyotp.TOTP, list[str], Page | Redirect]:
    """The choice page (French), then Keycloak's TOTP page in its « key as text » mode, then the recovery codes."""
    assert "Protéger l’accès aux données des allocataires" in page.text(), page.text()[:500]
    page = rp.submit(page, {"choice": "totp"})
    assert isinstance(page, Page) and page.has_input("totp"), page.text()[:500]
    manual = page.soup.find("a", href=re.compile(r"mode=manual"))
    assert manual is not None, "the key must be offered as text for people without a scanning app"
    page = rp._follow(rp.http.get(rp._abs(page, manual["href"]), allow_redirects=False, timeout=30))
    secret = page.soup.find(id="kc-totp-secret-key").get_text(strip=True).replace(" ", "")
    totp = pyotp.TOTP(secret)
    page = rp.submit(page, {"totp": fresh_code(totp), "userLabel": "Téléphone"})
    assert isinstance(page, Page), "recovery codes come right after the TOTP"
    codes = [li.get_text(strip=True).split(": ")[-1] for li in page.soup.select("#kc-recovery-codes-list li")]
    assert len(codes) >= 10, page.text()[:600]
    result = rp.submit(page, {"kcRecoveryCodesConfirmation": "on"})
    return totp, codes, result


@pytest.fixture
def person(make_user):
    username, uid = make_user(required_actions=[])
    return username, uid


def test_cdap_steps_up_once_per_session_and_the_portal_stays_at_level_1(keycloak, person, kc_admin):
    username, uid = person
    portal = _rp(keycloak, "portail")
    req, page = portal.authorize()
    first = _tokens(portal, req, portal.login(page, username, PASSWORD))
    assert first["id"]["acr"] == "niveau-1"  # a password: level 1, no second factor asked

    cdap = _rp(keycloak, "cdap", portal.http)
    req, page = cdap.authorize()  # the CDAP client requires level 2 (minimum.acr.value): step-up
    assert isinstance(page, Page) and not page.has_input("password"), "the SSO session is kept: no password again"
    totp, codes, result = _enrol_totp(cdap, page)
    tokens = _tokens(cdap, req, result)
    assert tokens["id"]["acr"] == "niveau-2" and _access_claims(tokens["raw"])["acr"] == "niveau-2"
    types = {c["type"] for c in kc_admin.get(f"/users/{uid}/credentials")}
    assert {"otp", "recovery-authn-codes"} <= types

    req, page = cdap.authorize()  # within the SSO session: not asked again
    assert _tokens(cdap, req, page)["id"]["acr"] == "niveau-2"
    lower = _rp(keycloak, "cdap")  # a client asking less than its minimum still gets the step-up (realm-side)
    _, page = lower.authorize(extra={"acr_values": "niveau-1"})
    page = lower.login(page, username, PASSWORD)
    assert isinstance(page, Page) and page.has_input("otp"), "CDAP never gets a password-only token"
    req, page = portal.authorize()
    assert isinstance(page, Redirect)  # the portal is not disturbed

    # a new session: password, then the code; a wrong code is refused and counted by brute-force protection
    other = _rp(keycloak, "cdap")
    req, page = other.authorize()
    page = other.login(page, username, PASSWORD)
    assert isinstance(page, Page) and page.has_input("otp"), page.text()[:400]
    before = kc_admin.get(f"/attack-detection/brute-force/users/{uid}")["numFailures"]
    page = other.submit(page, {"otp": "000000" if totp.now() != "000000" else "111111"})
    assert isinstance(page, Page) and page.has_input("otp")
    assert kc_admin.get(f"/attack-detection/brute-force/users/{uid}")["numFailures"] == before + 1
    assert _tokens(other, req, other.submit(page, {"otp": fresh_code(totp)}))["id"]["acr"] == "niveau-2"

    # a recovery code works once
    used = _with_recovery_code(keycloak, username, codes)
    assert isinstance(used, Redirect)
    again = _with_recovery_code(keycloak, username, codes, index_hint=0)
    assert isinstance(again, Page), "a recovery code already used is refused"


def _with_recovery_code(keycloak, username: str, codes: list[str], index_hint: int | None = None):
    """A new session choosing « another way »: the recovery code Keycloak asks for (by its number)."""
    rp = _rp(keycloak, "cdap")
    _, page = rp.authorize()
    page = rp.login(page, username, PASSWORD)
    page = rp.submit(page, {"tryAnotherWay": "on"})
    choice = next(li.find("form") for li in page.soup.find_all("li") if li.find("form") is not None
                  and "récupération" in li.get_text(" ").lower())  # Keycloak's « autre méthode » list
    execution = choice.find("input", attrs={"name": "authenticationExecution"})["value"]
    action = rp._abs(page, choice["action"])
    page = rp._follow(rp.http.post(action, data={"authenticationExecution": execution}, allow_redirects=False,
                                   timeout=30))
    asked = re.search(r"(\d+)", page.soup.find("label", attrs={"for": "recoveryCodeInput"}).get_text())
    number = int(asked.group(1)) - 1 if index_hint is None else index_hint
    return rp.submit(page, {"recoveryCodeInput": codes[number]})


def test_a_reset_by_the_administrator_forces_a_new_enrolment(keycloak, person, kc_admin):
    username, uid = person
    cdap = _rp(keycloak, "cdap")
    req, page = cdap.authorize()
    _enrol = _enrol_totp(cdap, cdap.login(page, username, PASSWORD))
    assert _tokens(cdap, req, _enrol[2])["id"]["acr"] == "niveau-2"
    gw = KeycloakGateway(KeycloakConfig(keycloak.url, client_secret=PROVISIONING_SECRET))
    assert gw.account(username).second_factors == ("otp", "recovery-authn-codes")
    assert gw.reset_second_factor(uid) == ["otp", "recovery-authn-codes"]
    assert gw.account(username).second_factors == ()
    fresh = _rp(keycloak, "cdap")
    _, page = fresh.authorize()
    page = fresh.login(page, username, PASSWORD)
    assert "Protéger l’accès aux données des allocataires" in page.text()  # enrolment again, not the old code
