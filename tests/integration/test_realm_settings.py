"""The shipped realm file, imported into a real Keycloak, read back through the admin API (issue 2 §3)."""

import pytest
import requests

SERVICE_CLIENTS = ("portail", "cdap", "afas")


@pytest.fixture(scope="module")
def realm(keycloak):
    return keycloak.admin().get("")


def test_oidc_discovery_advertises_code_flow_with_pkce(keycloak):
    d = requests.get(keycloak.issuer + "/.well-known/openid-configuration", timeout=10).json()
    assert d["issuer"] == keycloak.issuer
    assert "S256" in d["code_challenge_methods_supported"]
    assert "code" in d["response_types_supported"]
    assert d["backchannel_logout_supported"] is True
    assert d["authorization_endpoint"].startswith(keycloak.issuer)


def test_french_by_default_english_available_with_our_login_theme(realm):
    assert realm["internationalizationEnabled"] is True
    assert realm["defaultLocale"] == "fr"
    assert set(realm["supportedLocales"]) == {"fr", "en"}
    assert realm["loginTheme"] == "mon-compte-partenaire"


def test_usage_rules_are_a_default_action_ordered_before_the_personal_password(kc_admin):
    actions = {a["alias"]: a for a in kc_admin.get("/authentication/required-actions")}
    terms, password = actions["TERMS_AND_CONDITIONS"], actions["UPDATE_PASSWORD"]
    assert terms["enabled"] and terms["defaultAction"]
    assert password["enabled"] and not password["defaultAction"]
    assert terms["priority"] < password["priority"]


def test_sessions_idle_after_30_minutes_with_consistent_client_sessions(realm):
    assert realm["ssoSessionIdleTimeout"] == 1800
    assert 1800 < realm["ssoSessionMaxLifespan"] <= 12 * 3600
    # client sessions may not outlive the SSO session they belong to
    assert 0 < realm["clientSessionIdleTimeout"] <= realm["ssoSessionIdleTimeout"]
    assert 0 < realm["clientSessionMaxLifespan"] <= realm["ssoSessionMaxLifespan"]
    assert realm["accessTokenLifespan"] <= 300


def test_brute_force_detection_locks_after_five_failures(realm):
    assert realm["bruteForceProtected"] is True
    assert realm["failureFactor"] == 5
    assert realm["waitIncrementSeconds"] > 0


def test_password_policy_meets_cnil_2022_100(realm):
    rules = {part.strip().split("(")[0]: part.strip().split("(")[1].rstrip(")")
             for part in realm["passwordPolicy"].split(" and ")}
    assert int(rules["length"]) >= 12
    for cls in ("upperCase", "lowerCase", "digits", "specialChars"):
        assert int(rules[cls]) >= 1, cls
    assert "notUsername" in rules and "notEmail" in rules
    assert int(rules["passwordHistory"]) >= 1


def test_weak_passwords_are_refused_by_the_policy(kc_admin, make_user):
    _, uid = make_user()
    for weak in ("Court-1!", "tout-en-minuscules-123!", "SansChiffre-Ni-Rien!", "SansSpecial12345Ab"):
        r = kc_admin.request("PUT", f"/users/{uid}/reset-password",
                             json={"type": "password", "value": weak, "temporary": False})
        assert r.status_code == 400, (weak, r.text)
    ok = kc_admin.request("PUT", f"/users/{uid}/reset-password",
                          json={"type": "password", "value": "Un-Vrai-Secret-2026", "temporary": False})
    assert ok.status_code == 204, ok.text


def test_login_admin_and_required_action_events_are_kept_a_year(kc_admin, realm):
    cfg = kc_admin.get("/events/config")
    assert cfg["eventsEnabled"] is True
    assert cfg["eventsExpiration"] >= 365 * 24 * 3600
    assert cfg["adminEventsEnabled"] is True and cfg["adminEventsDetailsEnabled"] is True
    wanted = {"LOGIN", "LOGIN_ERROR", "LOGOUT", "UPDATE_PASSWORD", "UPDATE_CREDENTIAL",
              "CUSTOM_REQUIRED_ACTION", "CUSTOM_REQUIRED_ACTION_ERROR"}
    assert wanted <= set(cfg["enabledEventTypes"])


def test_organizations_enabled(realm):
    assert realm["organizationsEnabled"] is True


@pytest.mark.parametrize("client_id", SERVICE_CLIENTS)
def test_service_clients_are_confidential_code_only_with_pkce_and_backchannel_logout(keycloak, kc_admin, client_id):
    c = kc_admin.client(client_id)
    base = keycloak.app_url(client_id)
    assert c["publicClient"] is False and c["clientAuthenticatorType"] == "client-secret"
    assert c["standardFlowEnabled"] is True
    assert c["implicitFlowEnabled"] is False
    assert c["directAccessGrantsEnabled"] is False
    assert c["serviceAccountsEnabled"] is False
    assert c["redirectUris"] == [f"{base}/auth/callback"]  # exact, no wildcard
    a = c["attributes"]
    assert a["pkce.code.challenge.method"] == "S256"
    assert a["backchannel.logout.url"] == f"{base}/auth/backchannel-logout"
    assert a["backchannel.logout.session.required"] == "true"
    assert c["frontchannelLogout"] is False
    secret = kc_admin.get(f"/clients/{c['id']}/client-secret")["value"]
    assert secret.startswith("demo-only-")  # demo default; MCP_*_CLIENT_SECRET overrides


def test_service_roles_exist(kc_admin):
    def roles(client_id):
        return {r["name"] for r in kc_admin.get(f"/clients/{kc_admin.client(client_id)['id']}/roles")}

    assert "CDAP-Consulter" in roles("cdap")
    assert {"AFAS-Déclarer", "AFAS-Habiliter", "fournisseur-donnees-activite",
            "fournisseur-donnees-financieres", "approbateur"} <= roles("afas")


def test_provisioning_service_account_holds_only_what_it_needs(kc_admin):
    c = kc_admin.client("provisioning")
    assert c["serviceAccountsEnabled"] is True
    assert c["standardFlowEnabled"] is False and c["directAccessGrantsEnabled"] is False
    sa = kc_admin.get(f"/clients/{c['id']}/service-account-user")
    rm = kc_admin.client("realm-management")
    granted = {r["name"] for r in kc_admin.get(f"/users/{sa['id']}/role-mappings/clients/{rm['id']}")}
    assert granted == {"manage-users", "view-users", "query-users", "query-groups", "view-clients",
                       "query-clients", "view-events", "view-realm", "manage-organizations", "view-organizations",
                       "query-organizations"}
    assert not granted & {"realm-admin", "manage-realm", "manage-clients", "impersonation"}
    realm_roles = {r["name"] for r in kc_admin.get(f"/users/{sa['id']}/role-mappings/realm")}
    assert "admin" not in realm_roles


def test_provisioning_service_account_gets_a_token_but_cannot_administer_clients(keycloak, kc_admin):
    token = requests.post(keycloak.issuer + "/protocol/openid-connect/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": "provisioning",
        "client_secret": "demo-only-provisioning-secret"}).json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    base = f"{keycloak.url}/admin/realms/{keycloak.realm}"
    assert requests.get(f"{base}/users?max=1", headers=h, timeout=10).status_code == 200
    assert requests.get(f"{base}/organizations?max=1", headers=h, timeout=10).status_code == 200
    denied = requests.post(f"{base}/clients", headers=h, json={"clientId": "intrus"}, timeout=10)
    assert denied.status_code == 403
