"""Issue 32 in headless Chromium, against a real OpenID provider: the ProConnect stand-in, a second realm of the
test Keycloak with ProConnect's claims (realm-config/standin/). A person of the partner logs in with it, lands
on her security page, CDAP still asks our second factor, one logout ends both sessions; identities that match
none of our accounts (another SIRET, an unknown e-mail, a suspended person, look-alike addresses) are refused
with nothing created or linked in our realm; the link is removed by the person or by her managers."""

from __future__ import annotations

import base64
import json
import time

import requests

from provisioning.domain.model import Group, Service, User
from tests.browser.conftest import OPERATOR
from tests.browser.helpers import second_factor
from tests.support.proconnect import identity, links_of, log_in, our_realm, standin_sessions

A = "12345678900015"           # the partner of the example (Caf 751)
OTHER_SIRET = "98765432100019"  # an organisation that is not that partner
CONV = "CONV-751-2026-0001"


def _person(stack, ident: str, first: str, last: str, *, cdap: bool = False) -> str:
    email = f"{ident}@hirondelles.example"
    stack.provisioning.create_user(OPERATOR, A, User(ident, first, last, email))
    if cdap:
        stack.provisioning.set_membership(OPERATOR, A, CONV, Service.CDAP, ident, {Group.CDAP_CONSULTER}, set())
    stack.settle()
    return email


def _claims(jwt: str) -> dict:
    body = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _session_of(stack, app: str, username: str):
    store = stack.apps[app].extensions["mcp_sessions"]
    return next(s for s in store._by_id.values() if s.user.get("username") == username)


def test_a_person_logs_in_with_proconnect_cdap_asks_our_second_factor_and_one_logout_ends_both(stack, new_page):
    _person(stack, "agathe.roux", "Agathe", "Roux", cdap=True)
    password = identity(stack.kc_admin, "pc.agathe", "Agathe.Roux@hirondelles.example", A, first="Agathe",
                        last="Roux")  # ProConnect may send capitals: the same ASCII address
    page = new_page()
    log_in(page, stack.urls["portail"] + "/", "pc.agathe", password)
    page.wait_for_selector("#kc-accept")  # the usage rules, as at any first login
    page.click("#kc-accept")
    page.wait_for_url(stack.urls["portail"] + "/**")
    assert "Agathe Roux" in page.inner_text("h1")
    assert "CDAP" in page.inner_text("#liste-services")  # her habilitations
    assert "relié à votre identité ProConnect" in page.inner_text("#proconnect")
    assert [x["identityProvider"] for x in links_of(stack.kc_admin, "agathe.roux")] == ["proconnect"]
    # the provisional password mailed to her died at that login: no password to choose, none left to steal
    account = stack.kc_admin.user_by_username("agathe.roux")
    assert "UPDATE_PASSWORD" not in account["requiredActions"]
    assert not [c for c in stack.kc_admin.get(f"/users/{account['id']}/credentials") if c["type"] == "password"]

    # the broker's tokens never reach our applications: ours carry our claims, Keycloak keeps none of ProConnect's
    s = _session_of(stack, "portail", "agathe.roux")
    claims = _claims(s.id_token)
    assert claims["iss"].endswith("/realms/mon-compte-partenaire") and claims["partner"] == A
    assert not {"siret", "uid", "usual_name", "amr"} & set(claims)
    refused = requests.get(f"{stack.kc_admin.base_url}/realms/mon-compte-partenaire/broker/proconnect/token",
                           headers={"Authorization": f"Bearer {s.access_token}"}, timeout=10)
    assert refused.status_code >= 400 and "access_token" not in refused.text

    # CDAP: level 2, our second factor (enrolment the first time), never a password form
    page.click("#liste-services >> text=CDAP")
    page.wait_for_selector("#mcp-second-factor-form")
    assert page.query_selector("#password") is None
    second_factor(page, "agathe.roux")
    page.wait_for_url(stack.urls["cdap"] + "/**")
    assert page.query_selector("#numero")

    # one logout ends our session and the stand-in's
    assert standin_sessions(stack.kc_admin, "pc.agathe")
    page.goto(stack.urls["portail"] + "/")
    page.click("text=Se déconnecter")
    page.wait_for_url(stack.urls["portail"] + "/auth/logged-out**")
    assert stack.kc_admin.get(f"/users/{account['id']}/sessions") == []
    assert standin_sessions(stack.kc_admin, "pc.agathe") == []
    page.goto(stack.urls["cdap"] + "/")
    page.wait_for_selector("#kc-form-login")  # asked to log in again


def test_a_provider_that_proves_a_second_factor_opens_cdap_without_ours(stack, new_page):
    _person(stack, "basile.noel", "Basile", "Noël", cdap=True)
    password = identity(stack.kc_admin, "pc.basile", "basile.noel@hirondelles.example", A, amr=("pwd", "otp", "mfa"))
    page = new_page()
    log_in(page, stack.urls["cdap"] + "/", "pc.basile", password)
    page.wait_for_selector("#kc-accept")
    page.click("#kc-accept")
    page.wait_for_url(stack.urls["cdap"] + "/**")  # amr « mfa » counts as level 2 (configurable mapping)
    assert page.query_selector("#numero")
    assert _claims(_session_of(stack, "cdap", "basile.noel").id_token)["acr"] == "niveau-2"


def test_identities_matching_none_of_our_accounts_are_refused_and_nothing_is_created_or_linked(stack, new_page):
    _person(stack, "kevin.morel", "Kevin", "Morel")
    _person(stack, "lise.arnaud", "Lise", "Arnaud")
    stack.provisioning.suspend_user(OPERATOR, A, "lise.arnaud", True)
    stack.settle()
    no_match = "Votre compte ProConnect ne correspond à aucune habilitation"
    cases = [  # (identity, e-mail it claims, SIRET it claims, what the page says)
        ("pc.autre-siret", "kevin.morel@hirondelles.example", OTHER_SIRET, no_match),  # the victim's e-mail
        ("pc.inconnue", "personne.inconnue@hirondelles.example", A, no_match),
        ("pc.kelvin", "\u212aevin.morel@hirondelles.example", A, no_match),  # K: Java lower-cases it to « k »
        ("pc.pleine-chasse", "kevin.mor\uff45l@hirondelles.example", A, no_match),  # NFKC would make it « e »
        ("pc.decompose", "kevin.more\u0301l@hirondelles.example", A, no_match),  # a combining accent
        ("pc.siret-malforme", "kevin.morel@hirondelles.example", " 12345678900015", no_match),
        ("pc.suspendue", "lise.arnaud@hirondelles.example", A, "Votre accès à Mon Compte Partenaire est suspendu"),
    ]
    before = our_realm(stack.kc_admin)
    for username, email, siret, said in cases:
        password = identity(stack.kc_admin, username, email, siret)
        page = new_page()
        log_in(page, stack.urls["portail"] + "/", username, password)
        text = page.inner_text("body").replace("\u00a0", " ")
        assert said.replace("\u00a0", " ") in text, (username, text[:400])
        assert "Aucun compte n'a été créé ni relié" in text or "suspendu" in text
        page.goto(stack.urls["portail"] + "/")
        page.wait_for_selector("#kc-form-login")  # no session was opened
        page.context.close()
    assert our_realm(stack.kc_admin) == before  # no account created, no link, for any of them


def test_a_linked_person_suspended_since_is_refused_and_the_link_is_removed_by_her_and_her_administrator(
        stack, new_page):
    _person(stack, "ninon.leroy", "Ninon", "Leroy")
    password = identity(stack.kc_admin, "pc.ninon", "ninon.leroy@hirondelles.example", A)
    page = new_page()
    log_in(page, stack.urls["portail"] + "/", "pc.ninon", password)
    page.click("#kc-accept")
    page.wait_for_url(stack.urls["portail"] + "/**")

    # suspended after her link: no ProConnect login either, no session; her link waits for her reactivation
    stack.provisioning.suspend_user(OPERATOR, A, "ninon.leroy", True)
    stack.settle()
    refused = new_page()
    log_in(refused, stack.urls["portail"] + "/", "pc.ninon", password)
    assert not refused.url.startswith(stack.urls["portail"])
    refused.goto(stack.urls["portail"] + "/")
    refused.wait_for_selector("#kc-form-login")
    ninon = stack.kc_admin.user_by_username("ninon.leroy")
    assert stack.kc_admin.get(f"/users/{ninon['id']}/sessions") == [] and len(links_of(stack.kc_admin, "ninon.leroy")) == 1
    stack.provisioning.suspend_user(OPERATOR, A, "ninon.leroy", False)
    stack.settle()
    page = new_page()  # reactivated: her ProConnect login works again, through the link she kept
    log_in(page, stack.urls["portail"] + "/", "pc.ninon", password)
    page.wait_for_url(stack.urls["portail"] + "/**")

    # by herself, from her security page, after a confirmation
    page.click("#retirer-proconnect")
    assert "retirer la liaison" in page.inner_text("main").lower()
    page.click("#confirmer")
    assert "n'est relié à aucune identité ProConnect" in page.inner_text("#proconnect")
    assert links_of(stack.kc_admin, "ninon.leroy") == []

    # linked again at her next ProConnect login (same e-mail, same SIRET), then removed by her administrator
    again = new_page()
    log_in(again, stack.urls["portail"] + "/", "pc.ninon", password)
    again.wait_for_url(stack.urls["portail"] + "/**")
    linked = links_of(stack.kc_admin, "ninon.leroy")
    assert len(linked) == 1
    # a second ProConnect identity with her e-mail and SIRET never takes over an account already linked
    intruder_password = identity(stack.kc_admin, "pc.ninon-bis", "ninon.leroy@hirondelles.example", A)
    intruder = new_page()
    log_in(intruder, stack.urls["portail"] + "/", "pc.ninon-bis", intruder_password)
    assert "déjà relié à une autre identité ProConnect" in intruder.inner_text("body").replace("\u00a0", " ")
    # with her e-mail but another SIRET, the answer says nothing of her account (neither linked nor known)
    other_password = identity(stack.kc_admin, "pc.ninon-ailleurs", "ninon.leroy@hirondelles.example", OTHER_SIRET)
    elsewhere = new_page()
    log_in(elsewhere, stack.urls["portail"] + "/", "pc.ninon-ailleurs", other_password)
    said = elsewhere.inner_text("body").replace("\u00a0", " ")
    assert "ne correspond à aucune habilitation" in said and "déjà relié" not in said
    assert links_of(stack.kc_admin, "ninon.leroy") == linked
    stack.ready_user("jeanne.dupont")
    from tests.browser.helpers import login
    admin = new_page()
    login(admin, f"{stack.urls['portail']}/console/{A}/utilisateurs/ninon.leroy", "jeanne.dupont")
    assert admin.inner_text("#proconnect-compte").startswith("relié")
    admin.click("#retirer-proconnect")
    admin.click("#confirmer")
    assert "Liaison ProConnect de ninon.leroy retirée" in admin.inner_text("main")
    assert admin.inner_text("#proconnect-compte") == "non relié"
    assert links_of(stack.kc_admin, "ninon.leroy") == []
    deadline = time.monotonic() + 20
    while not any("ninon.leroy@hirondelles.example" in m.recipients and "ProConnect" in m.subject
                  for m in stack.smtp.mails):
        assert time.monotonic() < deadline, "the person is told by mail"
        time.sleep(0.3)
