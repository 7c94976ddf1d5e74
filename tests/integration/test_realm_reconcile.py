"""Issue 28 §3 on the real Keycloak: the realm's configuration is reconciled into an existing realm at every
deploy — the freshly imported realm already agrees with its file (the comparison understands Keycloak's own
representation), hand-made drift is planned with its reason and put back, a client added to the file is created
and marked, a marked client removed from the file is deleted, a client nobody marked is never touched, and the
second plan is always empty. The shared test realm is given back as the file says at the end."""

from __future__ import annotations

import copy
import threading
from urllib.parse import urlparse

import pytest

from devstack import keycloak as kc
from provisioning.domain import naming
from provisioning.keycloak.realm_admin import RealmAdmin
from provisioning.usecases.realm import desired_realm, realm_apply, realm_plan


@pytest.fixture
def realm(keycloak):
    """The realm admin, the file as this Keycloak imported it (its environment), and the realm put back after."""
    admin = RealmAdmin(keycloak.url, keycloak.realm, keycloak.admin_user, keycloak.admin_password)
    tiers = urlparse(keycloak.admin().client("service-tiers")["rootUrl"])
    env = {**kc.test_instance().extra_env, **{f"MCP_{c.upper()}_URL": keycloak.app_url(c) for c in ("portail", "cdap", "afas")},
           "MCP_SERVICE_TIERS_URL": f"{tiers.scheme}://{tiers.netloc}"}
    desired = desired_realm(env=env)
    yield admin, desired
    realm_apply(admin, desired, actor="test")


def _client(admin: RealmAdmin, client_id: str) -> dict:
    return admin.kc.get_client(admin.kc.get_client_id(client_id))


def test_the_imported_realm_agrees_with_its_file_and_hand_made_drift_is_put_back(realm):
    admin, desired = realm
    assert [c.line() for c in realm_plan(admin, desired)] == []

    cdap = _client(admin, "cdap")
    admin.kc.update_client(cdap["id"], {**cdap, "redirectUris": ["https://ailleurs.example/*"]})
    admin.kc.update_realm(admin.realm, {"ssoSessionIdleTimeout": 7200})
    mapper = next(m for m in cdap["protocolMappers"] if m["name"] == "caf (attribut)")
    admin.kc.remove_client_mapper(cdap["id"], mapper["id"])
    terms = admin.kc.get_required_action_by_alias("TERMS_AND_CONDITIONS")
    admin.kc.update_required_action("TERMS_AND_CONDITIONS", {**terms, "enabled": False})  # usage rules skipped!
    drift = {(c.action, c.kind, c.target) for c in realm_plan(admin, desired)}
    assert drift == {("update", "client", "cdap"), ("update", "realm", "realm"), ("create", "mapper", "cdap/caf (attribut)"),
                     ("update", "action", "TERMS_AND_CONDITIONS")}

    applied, left = realm_apply(admin, desired, actor="test")
    assert len(applied) == 4 and left == []
    assert admin.kc.get_required_action_by_alias("TERMS_AND_CONDITIONS")["enabled"] is True
    cdap = _client(admin, "cdap")
    assert cdap["redirectUris"] == [desired_client(desired, "cdap")["redirectUris"][0]]
    assert admin.kc.get_realm(admin.realm)["ssoSessionIdleTimeout"] == 1800
    assert any(m["name"] == "caf (attribut)" for m in cdap["protocolMappers"])


def test_a_login_step_disabled_by_hand_is_put_back(realm):
    """The first-login guard (provisional password's 24 hours) and the second factor's enrolment are steps of the
    browser flow: one disabled by hand in the console is planned back and restored."""
    admin, desired = realm

    def step(provider: str) -> dict:
        return next(e for e in admin.kc.get_authentication_flow_executions("browser")
                    if e.get("providerId") == provider)
    admin.kc.update_authentication_flow_executions({**step("mcp-first-login-guard"), "requirement": "DISABLED"},
                                                   "browser")
    assert step("mcp-first-login-guard")["requirement"] == "DISABLED"
    assert [(c.action, c.kind, c.target) for c in realm_plan(admin, desired)] == [
        ("update", "execution", "browser/mcp-first-login-guard")]
    applied, left = realm_apply(admin, desired, actor="test")
    assert len(applied) == 1 and left == []
    assert step("mcp-first-login-guard")["requirement"] == "REQUIRED"


def desired_client(desired: dict, client_id: str) -> dict:
    return next(c for c in desired["clients"] if c["clientId"] == client_id)


def test_a_client_added_to_the_file_is_created_marked_and_removed_with_it_while_unmarked_ones_stay(realm):
    admin, desired = realm
    realm_apply(admin, desired, actor="test")
    admin.kc.create_client({"clientId": "outil-fait-a-la-main", "redirectUris": ["https://outil.example/*"]})
    grown = copy.deepcopy(desired)
    new = copy.deepcopy(desired_client(desired, "service-tiers"))
    new.update(clientId="declarations-eaje", name="Déclarations EAJE", protocolMappers=[])
    grown["clients"].append(new)
    grown["roles"]["client"]["declarations-eaje"] = [{"name": "declarant"}, {"name": "valideur"}]
    planned = {(c.action, c.kind, c.target) for c in realm_plan(admin, grown)}
    assert planned == {("create", "client", "declarations-eaje"), ("create", "role", "declarations-eaje/declarant"),
                       ("create", "role", "declarations-eaje/valideur")}
    applied, left = realm_apply(admin, grown, actor="test")
    assert left == []
    created = _client(admin, "declarations-eaje")
    assert created["attributes"][naming.MANAGED_BY_ATTR] == naming.MANAGED_BY
    assert {r["name"] for r in admin.kc.get_client_roles(created["id"])} == {"declarant", "valideur"}

    applied, left = realm_apply(admin, desired, actor="test")  # the entry leaves the file
    assert [(c.action, c.target) for c in applied] == [("delete", "declarations-eaje")] and left == []
    assert admin.kc.get_client_id("declarations-eaje") is None
    assert admin.kc.get_client_id("outil-fait-a-la-main") is not None  # never ours: never touched
    admin.kc.delete_client(admin.kc.get_client_id("outil-fait-a-la-main"))


def test_two_deploys_applying_at_once_both_succeed_and_leave_one_client(realm, keycloak):
    """A second process doing the same thing: both plan the creation; one creates, the other meets 409 —
    which is what it wanted — and both check afterwards that the realm says what the file says."""
    admin, desired = realm
    grown = copy.deepcopy(desired)
    new = copy.deepcopy(desired_client(desired, "service-tiers"))
    new.update(clientId="deux-deploiements", name="Deux déploiements", protocolMappers=[])
    grown["clients"].append(new)
    outcomes: list[object] = []

    def deploy() -> None:
        other = RealmAdmin(keycloak.url, keycloak.realm, keycloak.admin_user, keycloak.admin_password)
        try:
            outcomes.append(realm_apply(other, grown, actor="test")[1])
        except Exception as e:  # noqa: BLE001 (the outcome is asserted below)
            outcomes.append(e)
    threads = [threading.Thread(target=deploy) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes == [[], []]
    assert [c["clientId"] for c in admin.kc.get_clients()].count("deux-deploiements") == 1
    realm_apply(admin, desired, actor="test")
    assert admin.kc.get_client_id("deux-deploiements") is None



def test_a_realm_made_before_proconnect_gets_its_flows_broker_and_mappers(realm):
    """Issue 32 on a realm imported before ProConnect existed: its two flows (and the level-2 sub-flows with
    their configurations), the identity provider and its mappers are created by the deploy's `realm apply`;
    a hand-changed endpoint is put back; the second plan is empty."""
    admin, desired = realm
    kcadmin = admin.kc
    kcadmin.update_realm(admin.realm, {"firstBrokerLoginFlow": "first broker login"})
    kcadmin.delete_idp("proconnect")
    for alias in ("MCP ProConnect chaque accès", "MCP ProConnect premier accès"):
        flow = next(f for f in kcadmin.get_authentication_flows() if f["alias"] == alias)
        kcadmin.delete_authentication_flow(flow["id"])
    planned = {(c.action, c.kind, c.target) for c in realm_plan(admin, desired)}
    assert {("create", "flow", "MCP ProConnect chaque accès"), ("create", "flow", "MCP ProConnect premier accès"),
            ("create", "idp", "proconnect"), ("update", "realm", "realm"),
            ("create", "idpmapper", "proconnect/siret")} <= planned

    applied, left = realm_apply(admin, desired, actor="test")
    assert left == [], [c.line() for c in left]
    steps = [(e.get("displayName") if e.get("authenticationFlow") else e.get("providerId"), e["requirement"])
             for e in kcadmin.get_authentication_flow_executions("MCP ProConnect chaque accès")]
    assert steps == [("mcp-proconnect-check", "REQUIRED"), ("MCP ProConnect niveau 2", "CONDITIONAL"),
                     ("conditional-level-of-authentication", "REQUIRED"), ("MCP ProConnect second facteur", "CONDITIONAL"),
                     ("conditional-user-configured", "REQUIRED"), ("auth-otp-form", "ALTERNATIVE"),
                     ("webauthn-authenticator", "ALTERNATIVE"), ("auth-recovery-authn-code-form", "ALTERNATIVE"),
                     ("mcp-second-factor-enrolment", "REQUIRED")]
    check = next(e for e in kcadmin.get_authentication_flow_executions("MCP ProConnect chaque accès")
                 if e.get("providerId") == "mcp-proconnect-check")
    assert kcadmin.get_authenticator_config(check["authenticationConfig"])["config"]["mfaAmrValues"] == "mfa"
    idp = kcadmin.get_idp("proconnect")
    assert (idp["firstBrokerLoginFlowAlias"], idp["postBrokerLoginFlowAlias"], idp["storeToken"]) == (
        "MCP ProConnect premier accès", "MCP ProConnect chaque accès", False)
    assert {m["name"] for m in kcadmin.get_idp_mappers("proconnect")} == {
        "courriel (brut)", "siret", "acr", "amr"}

    # an endpoint changed by hand is put back
    kcadmin.update_idp("proconnect", {**idp, "config": {**idp["config"], "tokenUrl": "https://ailleurs.example/token"}})
    assert [(c.action, c.kind, c.target) for c in realm_plan(admin, desired)] == [("update", "idp", "proconnect")]
    realm_apply(admin, desired, actor="test")
    assert kcadmin.get_idp("proconnect")["config"]["tokenUrl"].endswith("/realms/proconnect/protocol/openid-connect/token")
    assert realm_plan(admin, desired) == []
