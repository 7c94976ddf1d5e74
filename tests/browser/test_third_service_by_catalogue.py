"""Issue 28 §5, end to end: a third Caf service, « Déclarations EAJE », is added by one catalogue entry (and its
client secret) on the unchanged tree. The entry is the shipped catalogue plus the text below, installed in this
process (API, portal and reconciler run here); then:

- the realm is deployed from it: the plan creates the service's client and roles, a second plan is empty;
- the Caf's convention carries an EAJE bulletin; the partner's administrator grants it in her console, whose
  form comes from the catalogue;
- the person's portal menu shows EAJE; following it, the service — Apache with mod_auth_openidc, configured only
  with the client and the habilitation the contract names — lets her in without a new login, the ID token
  carrying her EAJE roles; SCIM shows the habilitation;
- the grant withdrawn, Keycloak ends her sessions and Apache's (back-channel logout).

At the end the registry and the realm are given back as the shipped catalogue says (the client is deleted: it
carries our marker)."""

from __future__ import annotations

import json
import socket
import time

import pytest

from devstack import keycloak as kc
from devstack import relying_party
from provisioning import catalogue_file
from provisioning.domain import catalogue
from provisioning.domain.model import Contact, ConventionStatus, Service, ServiceContract
from provisioning.keycloak.realm_admin import RealmAdmin
from provisioning.scim.resources import PartnerUser, users_of
from provisioning.store.uow import UnitOfWork
from provisioning.usecases.realm import desired_realm, realm_apply, realm_plan
from sso_demo import catalogue as portal_catalogue
from tests.browser.conftest import OPERATOR, catalogue_urls
from tests.browser.helpers import login
from tests.browser.test_relying_party_apache import after_withdrawal
from tests.support.paperwork import signed_by_both

SIRET, CONV = "12345678900015", "CONV-751-2026-0042"
SECRET = "eaje-secret-du-coffre"
ENTRY = """
  - code: EAJE
    label: Déclarations EAJE
    description: Déclarations d'activité des établissements d'accueil du jeune enfant.
    client: eaje
    url: http://localhost:8085
    redirect_path: /protege/redirect_uri
    post_logout_path: /
    backchannel_logout_path: /protege/redirect_uri?logout=backchannel
    level: niveau-1
    granted_by: [partner-administrator, caf]
    profiles_per_person: {min: 1, max: 2, code: EAJE_NOMBRE_DE_PROFILS}
    groups:
      - {name: EAJE Déclarer, key: eaje-declarer, role: EAJE-Declarer, description: Saisir les déclarations}
    profiles:
      - {code: declarant, key: eaje-declarant, group_name: EAJE Déclarants, label: déclarant,
         requires: EAJE Déclarer, cap: 2, cap_code: EAJE_TROP_DE_DECLARANTS}
      - {code: valideur, key: eaje-valideur, group_name: EAJE Valideur, label: valideur,
         requires: EAJE Déclarer, cap: 1, cap_code: EAJE_TROP_DE_VALIDEURS}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _realm_env(keycloak) -> dict[str, str]:
    """The environment the test realm was imported with (its applications' addresses), plus the new secret."""
    from urllib.parse import urlparse
    tiers = urlparse(keycloak.admin().client("service-tiers")["rootUrl"])
    return {**kc.test_instance().extra_env,
            **{f"MCP_{c.upper()}_URL": keycloak.app_url(c) for c in ("portail", "cdap", "afas")},
            "MCP_SERVICE_TIERS_URL": f"{tiers.scheme}://{tiers.netloc}", "MCP_SERVICE_SECRETS": f"EAJE={SECRET}"}


@pytest.fixture
def eaje(stack, keycloak, tmp_path):
    """The catalogue with the entry, the realm deployed from it, the service (Apache) started; all given back."""
    port = _free_port()
    url = f"http://localhost:{port}"
    text = catalogue_file.DEFAULT.read_text(encoding="utf-8").rstrip() + "\n" + ENTRY
    admin = RealmAdmin(keycloak.url, keycloak.realm, keycloak.admin_user, keycloak.admin_password)
    env = _realm_env(keycloak)
    rp = None
    with catalogue.installed(catalogue_file.read(text, urls={**catalogue_urls(stack.urls), "EAJE": url})):
        portal_catalogue.forget()
        try:
            desired = desired_realm(env=env)
            planned = {(c.action, c.kind, c.target) for c in realm_plan(admin, desired)}
            assert planned == {("create", "client", "eaje"), ("create", "role", "eaje/EAJE-Declarer"),
                               ("create", "role", "eaje/declarant"), ("create", "role", "eaje/valideur")}
            applied, left = realm_apply(admin, desired, actor="test:catalogue")
            assert len(applied) == 4 and left == [], "a second plan is empty"
            rp = relying_party.start(tmp_path / "eaje", port, keycloak.issuer, SECRET, client_id="eaje",
                                     require="resource_access.eaje.roles:declarant")
            yield rp
        finally:
            if rp is not None:
                rp.stop()
            with UnitOfWork(stack.provisioning.engine) as uow:  # the registry as the shipped catalogue knows it
                p, version = uow.registry.partner_with_version(SIRET)
                p.conventions = [c for c in p.conventions if c.number != CONV]
                uow.registry.save_partner(p, version)
                uow.commit()
            stack.provisioning.reconcile(OPERATOR, partner=SIRET)
    portal_catalogue.forget()
    realm_apply(admin, desired_realm(env=_realm_env(keycloak)), actor="test:catalogue")
    assert not admin.kc.get_client_id("eaje"), "the client made from the entry leaves with it"


def _contract() -> ServiceContract:
    who = Contact("Jeanne Dupont", "jeanne.dupont@hirondelles.example")
    return ServiceContract(who, who, who, who, who, who, who, "Signaler tout incident à la Caf dans l'heure.")


def test_a_third_service_added_by_a_catalogue_entry_works_end_to_end(stack, new_page, eaje):
    rp, svc = eaje, stack.provisioning
    svc.prepare_convention(OPERATOR, SIRET, CONV, _contract(), [Service("EAJE")])
    signed_by_both(svc, SIRET, CONV)  # issue 31: its documents signed by both parties
    svc.transition_convention(OPERATOR, SIRET, CONV, ConventionStatus.ACTIVE)
    stack.settle()

    # the partner's administrator grants it in her console: the bulletin's form is the catalogue's
    stack.ready_user("jeanne.dupont")
    admin_page = new_page()
    login(admin_page, stack.urls["portail"] + "/", "jeanne.dupont")
    admin_page.goto(stack.urls["portail"] + f"/console/{SIRET}/utilisateurs/lea.petit")
    form = f"#bulletin-EAJE-{CONV}"
    admin_page.check(f"{form} input[name=groups][value='EAJE Déclarer']")
    admin_page.check(f"{form} input[name=profiles][value=declarant]")
    assert "(plafond 2)" in admin_page.inner_text(form)
    admin_page.click(f"{form} button[type=submit]")
    assert "Habilitations EAJE de lea.petit enregistrées" in admin_page.inner_text("body")
    stack.settle()

    state = svc.reconcile_state(SIRET)
    assert state["state"] == "applied", str(state)
    kc_lea = stack.kc_admin.user_by_username("lea.petit")
    groups = {g["path"] for g in stack.kc_admin.get(f"/users/{kc_lea['id']}/groups")}
    assert f"/partenaires/{SIRET}/EAJE Déclarer" in groups and f"/partenaires/{SIRET}/EAJE Déclarants" in groups, groups

    # her menu shows it; following it, the service lets her in on the portal's session, her roles in the token
    stack.ready_user("lea.petit")
    page = new_page()
    login(page, stack.urls["portail"] + "/", "lea.petit")
    link = page.query_selector("#liste-services a:text-is('EAJE')")
    assert link is not None and link.get_attribute("href") == rp.url + "/", page.inner_text("#liste-services")
    answer = page.goto(rp.url + "/protege/")
    assert not page.query_selector("#password"), "no second login"
    assert answer.status == 200, rp.log()
    held = json.loads(answer.headers["x-habilitations"])
    assert sorted(held["eaje"]["roles"]) == ["EAJE-Declarer", "declarant"]
    assert answer.headers["x-partenaire"] == SIRET

    # SCIM shows the habilitation (its extension reads the catalogue too)
    p = svc.registry().partner(SIRET)
    lea = next(u for u in users_of(p, {}) if u.user_name == "lea.petit")
    assert "EAJE Déclarer" in lea[PartnerUser].habilitations and "declarant" in lea[PartnerUser].profiles

    # withdrawn: Keycloak ends her sessions and tells the service
    kc_user = stack.kc_admin.user_by_username("lea.petit")
    svc.set_membership(OPERATOR, siret=SIRET, convention=CONV, service=Service("EAJE"), identifiant="lea.petit",
                       groups=set(), profiles=set())
    deadline = time.monotonic() + 30
    while stack.kc_admin.get(f"/users/{kc_user['id']}/sessions") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stack.kc_admin.get(f"/users/{kc_user['id']}/sessions") == []
    # asked to log in again, or refused with a token that no longer carries EAJE (keycloak#51127): never served
    assert after_withdrawal(page, rp) in ("login", "refused"), f"the service still served her: {page.url}\n{rp.log()}"
