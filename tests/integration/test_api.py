"""The REST API with real Keycloak bearer tokens (obtained through the real login form), real store and SMTP."""

from datetime import UTC

import pytest

from provisioning.api import create_app
from provisioning.api.auth import TokenVerifier
from tests.integration.conftest import OPERATOR
from tests.unit.factories import example_data, registry, second_partner

A, B = "12345678900015", "98765432100015"
CONV_A = "CONV-751-2026-0001"


@pytest.fixture
def api(provisioning, keycloak):
    data = example_data()
    b = second_partner(data)
    b["conventions"][0]["bulletins"] = [x for x in b["conventions"][0]["bulletins"] if x["service"] == "AFAS"]
    provisioning.import_registry(OPERATOR, registry(data))
    provisioning.reconcile(OPERATOR)
    app = create_app(provisioning, TokenVerifier(keycloak.issuer, "provisioning-api"))
    return app.test_client()


def _h(token):
    return {"Authorization": f"Bearer {token}"}


def test_openapi_is_served_and_everything_else_needs_a_token(api):
    spec = api.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/api/v1/partners" in spec["paths"]
    r = api.get("/api/v1/partners")
    assert r.status_code == 401 and r.get_json()["error"] == "unauthorized"
    assert api.get("/api/v1/partners", headers=_h("not.a.jwt")).status_code == 401


def test_token_for_another_audience_is_refused(api, keycloak, user_token):
    # a token minted for the provisioning service account has no provisioning-api audience
    import requests
    t = requests.post(keycloak.issuer + "/protocol/openid-connect/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": "provisioning",
        "client_secret": "demo-only-provisioning-secret"}).json()["access_token"]
    assert api.get("/api/v1/partners", headers=_h(t)).status_code == 401


def test_partner_admin_sees_only_their_partner(api, user_token):
    t = user_token("jeanne.dupont")
    assert [p["siret"] for p in api.get("/api/v1/partners", headers=_h(t)).get_json()] == [A]
    assert api.get(f"/api/v1/partners/{A}/users", headers=_h(t)).status_code == 200
    unknown = "11111111111111"  # no such partner: another partner's SIRET must answer exactly the same
    for path in ("", "/users", "/equipments"):
        other, none = api.get(f"/api/v1/partners/{B}{path}", headers=_h(t)), \
            api.get(f"/api/v1/partners/{unknown}{path}", headers=_h(t))
        assert other.status_code == none.status_code == 404, path
        assert str(other.get_json()).replace(B, "?") == str(none.get_json()).replace(unknown, "?")
    r = api.post(f"/api/v1/partners/{B}/users", headers=_h(t), json={
        "identifiant": "intrus", "first_name": "I", "last_name": "N", "email": "intrus@x.example"})
    assert r.status_code == 404
    assert api.get(f"/api/v1/audit?partner={B}", headers=_h(t)).status_code == 404


def test_two_approvers_are_refused_with_the_rule_code_and_nothing_changes(api, user_token, provisioning, kc_admin,
                                                                          smtp):
    t = user_token("jeanne.dupont")
    before = provisioning.registry()
    audit_before = provisioning.audit(OPERATOR, A)
    smtp.clear()
    r = api.put(f"/api/v1/partners/{A}/conventions/{CONV_A}/bulletins/AFAS/members/paul.bernard", headers=_h(t),
                json={"groups": ["AFAS Déclarer"], "profiles": ["fournisseur-donnees-financieres", "approbateur"]})
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "validation_failed"
    assert [v["code"] for v in body["violations"]] == ["AFAS_TROP_D_APPROBATEURS"]
    assert provisioning.registry() == before
    assert provisioning.audit(OPERATOR, A) == audit_before
    assert provisioning.plan() == []  # Keycloak untouched too
    assert smtp.mails == []  # and nothing reported to the Caf
    grp = kc_admin.get("/group-by-path/partenaires/12345678900015/AFAS Approbateur")
    assert {u["username"] for u in kc_admin.get(f"/groups/{grp['id']}/members")} == {"marc.martin"}


def test_partner_admin_cannot_grant_a_service_the_convention_lacks(api, user_token, provisioning):
    t = user_token("b.jeanne.dupont")
    r = api.put(f"/api/v1/partners/{B}/conventions/CONV-751-2026-0002/bulletins/CDAP/members/b.lea.petit",
                headers=_h(t), json={"groups": ["CDAP Consulter"]})
    assert r.status_code == 422
    assert [v["code"] for v in r.get_json()["violations"]] == ["SERVICE_NON_CONVENTIONNE"]


def test_every_fault_of_a_request_is_listed(api, user_token):
    t = user_token("jeanne.dupont")
    r = api.post(f"/api/v1/partners/{A}/users", headers=_h(t), json={"identifiant": 42})
    assert r.status_code == 400 and r.mimetype == "application/problem+json"  # the shape, before any rule
    codes = [(v["code"], v.get("path")) for v in r.get_json()["violations"]]
    assert ("CHAMP_TYPE", "identifiant") in codes
    assert {("CHAMP_MANQUANT", f) for f in ("first_name", "last_name", "email")} <= set(codes)


def test_partner_admin_creates_a_user_who_gets_two_mails_and_the_caf_is_told(api, user_token, smtp, kc_admin):
    t = user_token("jeanne.dupont")
    r = api.post(f"/api/v1/partners/{A}/users", headers=_h(t), json={
        "identifiant": "nina.roux", "first_name": "Nina", "last_name": "Roux", "email": "nina.roux@hirondelles.example"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["reconciled"] is True
    user = kc_admin.user_by_username("nina.roux")
    assert user["attributes"]["partner"] == [A]
    assert len(smtp.to("nina.roux@hirondelles.example")) == 2
    assert any("nina.roux" in m.body for m in smtp.to("habilitations@caf75.example"))
    # R14: created but in no group
    assert kc_admin.get(f"/users/{user['id']}/groups") == []


def test_administrator_delegates_and_a_delegate_cannot_delegate(api, user_token):
    admin = user_token("jeanne.dupont")
    r = api.put(f"/api/v1/partners/{A}/delegates/lea.petit", headers=_h(admin))
    assert r.status_code == 200 and "lea.petit" in r.get_json()["partner"]["delegates"]
    delegate = user_token("marc.martin")
    assert api.put(f"/api/v1/partners/{A}/delegates/paul.bernard", headers=_h(delegate)).status_code == 403
    # but a delegate manages users of the partner
    r = api.put(f"/api/v1/partners/{A}/conventions/{CONV_A}/bulletins/CDAP/members/paul.bernard",
                headers=_h(delegate), json={"groups": ["CDAP Consulter"]})
    assert r.status_code == 200, r.get_json()


def test_caf_admin_manages_partners_of_its_caf_and_conventions(api, user_token, provisioning):
    t = user_token("caf.admin")
    assert {p["siret"] for p in api.get("/api/v1/partners", headers=_h(t)).get_json()} == {A, B}
    r = api.post(f"/api/v1/partners/{A}/conventions/{CONV_A}/transitions", headers=_h(t), json={"to": "prepared"})
    assert r.status_code == 422 and r.get_json()["violations"][0]["code"] == "TRANSITION_INTERDITE"
    r = api.post(f"/api/v1/partners/{A}/conventions/{CONV_A}/transitions", headers=_h(t), json={"to": "suspended"})
    assert r.status_code == 200
    users = {u["identifiant"]: u for u in api.get(f"/api/v1/partners/{A}/users", headers=_h(t)).get_json()}
    assert users["lea.petit"]["groups"] == []  # suspended convention: no service
    partner_admin = user_token("jeanne.dupont")
    r = api.post(f"/api/v1/partners/{A}/conventions/{CONV_A}/transitions", headers=_h(partner_admin),
                 json={"to": "active"})
    assert r.status_code == 403


def test_afas_habiliter_associates_providers_to_equipments_within_the_rules(api, user_token, provisioning):
    path = f"/api/v1/partners/{A}/equipments/ALSH-0001/assignments"
    marc = user_token("marc.martin")  # AFAS Habiliter
    r = api.get(f"/api/v1/partners/{A}/equipments", headers=_h(marc))
    assert r.status_code == 200 and r.get_json()["candidates"]["approbateur"] == ["marc.martin"]
    r = api.put(path, headers=_h(marc), json={"approbateur": ["marc.martin", "lea.petit"]})
    assert r.status_code == 422
    assert {v["code"] for v in r.get_json()["violations"]} == {"AFAS_TROP_D_APPROBATEURS", "ASSOCIATION_SANS_PROFIL"}
    r = api.put(path, headers=_h(marc), json={"fournisseur-donnees-activite": ["lea.petit"],
                                              "fournisseur-donnees-financieres": [], "approbateur": ["marc.martin"]})
    assert r.status_code == 200
    [e] = provisioning.registry().partner(A).equipments
    assert {k.value: v for k, v in e.assignments.items()} == {"fournisseur-donnees-activite": ["lea.petit"],
                                                              "approbateur": ["marc.martin"]}
    lea = user_token("lea.petit")  # not AFAS Habiliter
    assert api.put(path, headers=_h(lea), json={"approbateur": ["marc.martin"]}).status_code == 403
    b_admin = user_token("b.marc.martin")  # AFAS Habiliter, but of partner B
    assert api.put(path, headers=_h(b_admin), json={"approbateur": ["marc.martin"]}).status_code == 404  # as unknown
    assert api.get(f"/api/v1/partners/{A}/equipments", headers=_h(b_admin)).status_code == 404


def test_incident_reports_are_validated_audited_and_mailed_to_the_caf(api, user_token, smtp, provisioning):
    lea = user_token("lea.petit")
    r = api.post("/api/v1/incidents", headers=_h(lea), json={"kind": "autre", "description": "bref"})
    assert r.status_code == 400
    assert [(v["code"], v["path"]) for v in r.get_json()["violations"]] == [("VALEUR_INCONNUE", "kind")]
    r = api.post("/api/v1/incidents", headers=_h(lea), json={"kind": "incident", "description": "bref"})
    assert r.status_code == 422
    assert {v["code"] for v in r.get_json()["violations"]} == {"DESCRIPTION_TROP_COURTE"}
    r = api.post("/api/v1/incidents", headers=_h(lea), json={"kind": "perte", "description": "J'ai perdu le carnet "
                                                                                             "où je notais mes codes."})
    assert r.status_code == 201
    ref = r.get_json()["reference"]
    assert any(f"signalement n° {ref}" in m.subject for m in smtp.to("habilitations@caf75.example"))
    assert provisioning.audit(OPERATOR, A)[0]["action"] == "report-incident"
    caf = user_token("caf.admin")  # no partner: not a partner's habilitated person
    assert api.post("/api/v1/incidents", headers=_h(caf), json={"kind": "incident",
                                                                 "description": "x" * 30}).status_code == 403


def test_a_caf_administrator_sees_only_the_partners_of_its_own_caf(provisioning, keycloak, user_token):
    data = example_data()
    data["scope"] = {"cafs": ["751", "692"]}
    data["cafs"].append({"code": "692", "name": "Caf du Rhône", "habilitation_mailbox": "habilitations@caf69.example",
                         "administrators": [{"identifiant": "caf.lyon", "first_name": "Louis", "last_name": "Roche",
                                             "email": "louis.roche@caf69.example"}]})
    provisioning.import_registry(OPERATOR, registry(data))
    provisioning.reconcile(OPERATOR)
    app = create_app(provisioning, TokenVerifier(keycloak.issuer, "provisioning-api")).test_client()
    lyon = user_token("caf.lyon")
    assert app.get("/api/v1/partners", headers=_h(lyon)).get_json() == []
    assert app.get(f"/api/v1/partners/{A}", headers=_h(lyon)).status_code == 403
    r = app.post(f"/api/v1/partners/{A}/conventions/{CONV_A}/transitions", headers=_h(lyon), json={"to": "suspended"})
    assert r.status_code == 403
    journal = app.get("/api/v1/audit", headers=_h(lyon)).get_json()  # its own Caf's entries only
    assert journal and all(e["caf_code"] == "692" and A not in e["object"] for e in journal)
    assert app.get("/api/v1/usage-rules/acceptances", headers=_h(lyon)).get_json() == []


def test_the_console_reads_an_account_from_keycloak_and_unlocks_it_after_failed_logins(api, user_token, keycloak,
                                                                                        kc_admin):
    """Issue 12 §4: « en attente de première connexion », last connection, « verrouillé jusqu'à HH:MM » after
    brute force, and an audited unlock that lets the right password in again."""
    import time
    from datetime import datetime

    from tests.support.oidc import Page, Redirect, Rp
    t = user_token("jeanne.dupont")
    r = api.get(f"/api/v1/partners/{A}/users/lea.petit/account", headers=_h(t))
    assert r.status_code == 200 and r.get_json()["state"] == "awaiting_first_login"
    assert r.get_json()["last_login"] is None
    assert api.get(f"/api/v1/partners/{A}/users/lea.petit/account",
                   headers=_h(user_token("b.jeanne.dupont"))).status_code == 404  # another partner's staff
    user_token("lea.petit")  # a first login (its password set by the helper)
    a = api.get(f"/api/v1/partners/{A}/users/lea.petit/account", headers=_h(t)).get_json()
    assert a["state"] == "active" and a["state_label"] == "actif" and a["last_login"] is not None

    rp = Rp(keycloak.issuer, "portail", "demo-only-portail-secret", keycloak.app_url("portail") + "/auth/callback")
    for _ in range(5):
        _, page = rp.authorize()
        assert isinstance(rp.login(page, "lea.petit", "Mauvais-Mot-De-Passe-1!"), Page)
        time.sleep(1.2)
    a = api.get(f"/api/v1/partners/{A}/users/lea.petit/account", headers=_h(t)).get_json()
    assert a["state"] == "locked_after_failures" and a["failures"] >= 5
    until = datetime.fromisoformat(a["locked_until"])
    assert 60 < (until - datetime.now(UTC)).total_seconds() <= 15 * 60  # the realm's wait, from Keycloak

    r = api.delete(f"/api/v1/partners/{A}/users/lea.petit/lockout", headers=_h(t))
    assert r.status_code == 200
    a = api.get(f"/api/v1/partners/{A}/users/lea.petit/account", headers=_h(t)).get_json()
    assert a["state"] == "active" and a["locked_until"] is None
    _, page = rp.authorize()
    assert isinstance(rp.login(page, "lea.petit", "Jeton-De-Test-2026!"), Redirect)
    journal = api.get(f"/api/v1/audit?partner={A}&limit=5", headers=_h(t)).get_json()
    assert journal[0]["action"] == "unlock-user" and journal[0]["actor"] == "jeanne.dupont"
