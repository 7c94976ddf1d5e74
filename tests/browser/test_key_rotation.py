"""Issue 30 §5: Keycloak's signing key rotated while people are logged in (the procedure of docs/operations.md: a
new key, active, above the old one; the old one kept to check what it signed until it is retired). Every open
session goes on in the three applications and through the API; a new login signed with the new key is accepted
everywhere; and a logout still ends the sessions of the other applications — its back-channel logout tokens are
signed with the new key, which an application knew nothing of (found by this test: the applications kept the
realm's keys of their first login for ever, so after a rotation Keycloak's logout reached no session)."""

from __future__ import annotations

import time

from tests.browser.helpers import log_in_to_the_three, login

A = "12345678900015"


def _active_rs256(stack) -> str:
    keys = stack.kc_admin.get("/keys")
    return keys["active"]["RS256"]


def _rotate(stack) -> str:
    """A new RSA key above every other (Keycloak signs with the highest priority); returns its component id."""
    realm_id = stack.kc_admin.get("")["id"]
    r = stack.kc_admin.post("/components", json={
        "name": "rotation-test", "providerId": "rsa-generated", "providerType": "org.keycloak.keys.KeyProvider",
        "parentId": realm_id, "config": {"priority": ["1000000"], "keySize": ["2048"], "active": ["true"],
                                         "enabled": ["true"], "algorithm": ["RS256"]}})
    return r.headers["Location"].rsplit("/", 1)[1]


def test_a_key_rotation_keeps_every_open_session_and_logout_still_ends_them_all(stack, new_page):
    stack.ready_user("lea.petit")
    stack.ready_user("jeanne.dupont")
    for who in ("lea.petit", "jeanne.dupont"):  # sessions of earlier stories
        stack.kc_admin.post(f"/users/{stack.kc_admin.user_by_username(who)['id']}/logout")
    lea = new_page()
    log_in_to_the_three(lea, stack.urls, "lea.petit")
    assert "ALSH-0001" in lea.inner_text("main")
    admin = new_page()
    login(admin, stack.urls["portail"] + "/", "jeanne.dupont")

    old = _active_rs256(stack)
    component = _rotate(stack)
    try:
        new = _active_rs256(stack)
        assert new != old, "Keycloak signs with the new key from now on"
        # open sessions go on: pages of the three applications, and the console's calls to the API with the
        # access token signed by the old key (still published to check what it signed)
        for app, seen in (("portail", "Bienvenue Léa Petit"), ("afas", "ALSH-0001")):
            lea.goto(stack.urls[app] + "/")
            assert seen in lea.inner_text("main"), app
        lea.goto(stack.urls["cdap"] + "/")
        assert lea.query_selector("#numero"), "CDAP: the session and its second factor are still there"
        admin.goto(f"{stack.urls['portail']}/console/{A}/utilisateurs")
        assert "lea.petit" in admin.inner_text("#utilisateurs"), "the API accepted the old key's token"

        # logout in CDAP, before any new login taught the portal or AFAS the new key: Keycloak's back-channel logout
        # tokens (signed with it) end their sessions
        lea.goto(stack.urls["cdap"] + "/")
        lea.click("text=Se déconnecter")
        lea.wait_for_url(stack.urls["cdap"] + "/auth/logged-out")
        deadline = time.monotonic() + 10
        for app in ("portail", "afas"):
            while True:
                lea.goto(stack.urls[app] + "/")
                if lea.query_selector("#kc-login") or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert lea.query_selector("#kc-login"), f"{app}: the logout signed with the new key ended its session"

        # a new login is signed with the new key: accepted by the applications and by the API behind them
        stack.ready_user("marc.martin")
        marc = new_page()
        login(marc, stack.urls["portail"] + "/", "marc.martin")
        marc.goto(f"{stack.urls['portail']}/console/{A}/utilisateurs")
        assert "lea.petit" in marc.inner_text("#utilisateurs"), "the API fetched the new key"
        stack.ready_user("paul.bernard")
        paul = new_page()
        login(paul, stack.urls["afas"] + "/", "paul.bernard")  # straight into AFAS: its own first check
        assert paul.url.startswith(stack.urls["afas"]) and paul.query_selector("text=Se déconnecter")
    finally:
        stack.kc_admin.delete(f"/components/{component}")
    assert _active_rs256(stack) == old
