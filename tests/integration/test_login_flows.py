"""Real login flows against Keycloak's own pages, driven over HTTP (issue 2 §6)."""

import time

import pytest

from tests.support.oidc import Page, Redirect, Rp

PORTAIL_SECRET = "demo-only-portail-secret"


@pytest.fixture
def rp(keycloak):
    return Rp(keycloak.issuer, "portail", PORTAIL_SECRET, keycloak.app_url("portail") + "/auth/callback")


def test_code_flow_with_pkce_returns_a_verified_id_token(rp, make_user):
    username, uid = make_user(required_actions=[])
    req, page = rp.authorize()
    # one page with identifiant and password, as the seed shows (no identity-first step)
    assert isinstance(page, Page) and page.has_input("username") and page.has_input("password")
    result = rp.login(page, username, "Correct-Horse-42!")
    assert isinstance(result, Redirect), result.text()[:500]
    assert result.params["state"] == req.state
    tokens = rp.exchange(result.params["code"], req)
    claims = rp.verify_id_token(tokens["id_token"], req)
    assert claims["sub"] == uid
    assert claims["preferred_username"] == username


def test_id_token_with_a_wrong_nonce_is_rejected(rp, make_user):
    username, _ = make_user(required_actions=[])
    req, page = rp.authorize()
    result = rp.login(page, username, "Correct-Horse-42!")
    tokens = rp.exchange(result.params["code"], req)
    req.nonce = "not-the-nonce-we-sent"
    with pytest.raises(Exception, match="nonce"):
        rp.verify_id_token(tokens["id_token"], req)


def test_authorization_request_without_pkce_is_refused(rp):
    _, result = rp.authorize(pkce=False)
    # Keycloak sends the error back to the (registered) redirect URI
    assert isinstance(result, Redirect)
    assert result.params["error"] == "invalid_request"
    assert "code_challenge" in result.params.get("error_description", "")


def test_unregistered_redirect_uri_is_refused(keycloak):
    rogue = Rp(keycloak.issuer, "portail", PORTAIL_SECRET, keycloak.app_url("portail") + "/auth/callback-evil")
    _, result = rogue.authorize()
    assert isinstance(result, Page) and result.status == 400


def test_temporary_password_meets_usage_rules_first_then_new_password(rp, make_user, kc_admin):
    username, uid = make_user("Provisoire-Temp-2026!", temporary=True)
    req, page = rp.authorize()
    page = rp.login(page, username, "Provisoire-Temp-2026!")
    assert isinstance(page, Page)
    assert page.soup.find(id="kc-accept") and page.soup.find(id="kc-decline"), page.text()[:500]
    assert not page.has_input("password-new"), "usage rules must come before the password page"

    page = rp.submit(page, {"accept": "Accepter"})
    assert isinstance(page, Page) and page.has_input("password-new") and page.has_input("password-confirm")
    result = rp.submit(page, {"password-new": "Perso-Nouveau-2026!", "password-confirm": "Perso-Nouveau-2026!"})
    assert isinstance(result, Redirect), result.text()[:500]
    claims = rp.verify_id_token(rp.exchange(result.params["code"], req)["id_token"], req)
    assert claims["sub"] == uid

    user = kc_admin.get(f"/users/{uid}")
    assert user["requiredActions"] == []
    accepted_at = int(user["attributes"]["terms_and_conditions"][0])
    assert abs(accepted_at - time.time()) < 120


def test_declining_usage_rules_returns_access_denied_and_opens_no_session(rp, make_user, kc_admin):
    username, uid = make_user("Provisoire-Temp-2026!", temporary=True)
    req, page = rp.authorize()
    page = rp.login(page, username, "Provisoire-Temp-2026!")
    assert page.soup.find(id="kc-decline") is not None
    result = rp.submit(page, {"cancel": "Refuser"})
    assert isinstance(result, Redirect)
    assert result.params["error"] == "access_denied"
    assert result.params["state"] == req.state
    assert kc_admin.get(f"/users/{uid}/sessions") == []
    # no SSO cookie: a new authorization request shows the login form again
    _, again = rp.authorize()
    assert isinstance(again, Page) and again.has_input("password")
    user = kc_admin.get(f"/users/{uid}")
    assert "TERMS_AND_CONDITIONS" in user["requiredActions"]
    assert "terms_and_conditions" not in (user.get("attributes") or {})


def _fail_logins(rp, username: str, times: int) -> None:
    for _ in range(times):
        _, page = rp.authorize()
        page = rp.login(page, username, "Mauvais-Mot-De-Passe-1!")
        assert isinstance(page, Page)
        time.sleep(1.2)  # slower than quickLoginCheckMilliSeconds, so only failureFactor counts


def test_four_failures_do_not_lock_the_account(rp, make_user, kc_admin):
    username, uid = make_user(required_actions=[])
    _fail_logins(rp, username, 4)
    assert kc_admin.get(f"/attack-detection/brute-force/users/{uid}")["disabled"] is False
    _, page = rp.authorize()
    assert isinstance(rp.login(page, username, "Correct-Horse-42!"), Redirect)


def test_five_wrong_passwords_in_a_row_lock_the_account(rp, make_user, kc_admin):
    username, uid = make_user(required_actions=[])
    _fail_logins(rp, username, 5)
    status = kc_admin.get(f"/attack-detection/brute-force/users/{uid}")
    assert status["disabled"] is True and status["numFailures"] >= 5
    _, page = rp.authorize()
    result = rp.login(page, username, "Correct-Horse-42!")
    assert isinstance(result, Page), "the right password must not get in while locked"
    errors = kc_admin.get("/events", params={"user": uid, "type": "LOGIN_ERROR", "max": 20})
    assert any(e.get("error") == "user_temporarily_disabled" for e in errors)
