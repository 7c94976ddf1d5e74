"""Issue 28 §1, §2, §5: the services are a catalogue. A third service, « Déclarations EAJE », is added by one
catalogue entry and nothing else: the test writes the entry next to the shipped catalogue, installs it, and runs
the story through the API on the unchanged code — bulletin, grant (by whom the entry says, within its caps and
profile counts, with its own refusal codes), the plan into Keycloak, the person's roles, the CSV import, the access
review, the API's catalogue and OpenAPI, the realm's client and roles. A catalogue with faults is refused whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from provisioning import catalogue_file
from provisioning.api.meta import document
from provisioning.domain import catalogue
from provisioning.reconcile.desired import roles_of
from provisioning.reconcile.realm import ObservedRealm, plan_realm
from provisioning.services import CAF_ADMIN, DELEGATE, PARTNER_ADMIN, Actor
from provisioning.usecases.realm import REALM_FILE, desired_realm
from tests.support.paperwork import signed_by_both
from tests.unit.factories import TODAY, example_data, registry
from tests.unit.services import example_api

SIRET = "12345678900015"
CONV = "CONV-751-2026-0007"
EAJE_ENTRY = """
  - code: EAJE
    label: Déclarations EAJE
    description: Déclarations d'activité des établissements d'accueil du jeune enfant.
    client: eaje
    url: http://localhost:8085
    level: niveau-1
    granted_by: [partner-administrator, caf]
    equipment_types: {types: [EAJE], code: EQUIPEMENT_HORS_EAJE}
    profiles_per_person: {min: 1, max: 2, code: EAJE_NOMBRE_DE_PROFILS, without_group_code: EAJE_PROFIL_SANS_GROUPE}
    groups:
      - name: EAJE Déclarer
        key: eaje-declarer
        role: EAJE-Déclarer
        description: Saisir et transmettre les déclarations de l'établissement
    profiles:
      - {code: declarant, key: eaje-declarant, group_name: EAJE Déclarants, label: déclarant, requires: EAJE Déclarer,
         cap: 2, cap_code: EAJE_TROP_DE_DECLARANTS}
      - {code: valideur, key: eaje-valideur, group_name: EAJE Valideur, label: valideur, requires: EAJE Déclarer,
         cap: 1, cap_code: EAJE_TROP_DE_VALIDEURS}
"""
ACTORS = {"caf": Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751"),
          "jeanne": Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=SIRET),
          "marc": Actor("marc.martin", frozenset({DELEGATE}), partner=SIRET)}
CONTACT = {"name": "Jeanne Dupont", "email": "jeanne.dupont@hirondelles.example"}
CONTRACT = {**{role: CONTACT for role in ("partner_administrator", "partner_security_officer", "partner_cnil_referent",
                                          "caf_administrator", "caf_portal_manager", "caf_security_officer",
                                          "caf_cnil_referent")},
            "incident_procedure": "Signaler tout incident au gestionnaire d'habilitations de la Caf dans l'heure."}


def with_eaje() -> catalogue.Catalogue:
    """The shipped catalogue plus one entry, as an operator would write it."""
    return catalogue_file.read(catalogue_file.DEFAULT.read_text(encoding="utf-8").rstrip() + "\n" + EAJE_ENTRY,
                               env={})  # the file's own addresses, whatever this machine's environment says


@pytest.fixture
def eaje():
    with catalogue.installed(with_eaje()) as cat:
        yield cat


@pytest.fixture
def api(use_case_store, eaje):
    return example_api(use_case_store, ACTORS)


def h(who: str) -> dict:
    return {"Authorization": f"Bearer {who}"}


def _convened(api) -> None:
    """The Caf prepares a convention with an EAJE bulletin, and it comes into force."""
    base = f"/api/v1/partners/{SIRET}/conventions"
    r = api.post(base, headers=h("caf"), json={"number": CONV, "services": ["EAJE"], "contract": CONTRACT})
    assert r.status_code == 201, r.get_json()
    assert [b["service"] for b in r.get_json()["partner"]["conventions"][-1]["bulletins"]] == ["EAJE"]
    signed_by_both(api.svc, SIRET, CONV)  # issue 31: its documents signed by both parties
    assert api.post(f"{base}/{CONV}/transitions", headers=h("caf"), json={"to": "active"}).status_code == 200


def _member(who: str, ident: str, groups: list[str], profiles: list[str]):
    return (f"/api/v1/partners/{SIRET}/conventions/{CONV}/bulletins/EAJE/members/{ident}", h(who),
            {"groups": groups, "profiles": profiles})


def test_the_shipped_catalogue_is_what_the_realm_file_already_holds():
    """CDAP and AFAS are two entries: their clients, roles and levels are those of the realm file (the catalogue
    adds nothing to it), and the plan of the shipped registry is what it was."""
    cat = catalogue_file.load()
    assert cat.codes() == ["CDAP", "AFAS"]
    assert desired_realm(env={})["roles"]["client"]["afas"] == \
        __import__("json").loads(REALM_FILE.read_text(encoding="utf-8"))["roles"]["client"]["afas"]
    clients = {c["clientId"]: c for c in desired_realm(env={})["clients"]}
    for s in cat.services:
        acr = clients[s.client]["attributes"].get("minimum.acr.value", "niveau-1")
        assert acr == s.level, f"{s.code}: the realm file's level is not the catalogue's"


def test_a_third_service_is_granted_within_its_own_rules_by_whom_its_entry_says(api, eaje):
    _convened(api)
    for ident in ("lea.petit", "paul.bernard", "marc.martin"):
        path, _, body = _member("jeanne", ident, ["EAJE Déclarer"], ["declarant"])
        r = api.put(path, headers=h("jeanne"), json=body)
        if ident != "marc.martin":
            assert r.status_code == 200, r.get_json()
    # its cap, with the entry's own code: two declarants at most
    assert r.status_code == 422 and "EAJE_TROP_DE_DECLARANTS" in {v["code"] for v in r.get_json()["violations"]}
    # its profile count (1 to 2) and a profile without the group it requires, with the entry's codes
    path, _, body = _member("jeanne", "marc.martin", ["EAJE Déclarer"], [])
    r = api.put(path, headers=h("jeanne"), json=body)
    assert r.status_code == 422 and {v["code"] for v in r.get_json()["violations"]} == {"EAJE_NOMBRE_DE_PROFILS"}
    # an AFAS group or profile is not granted on an EAJE bulletin
    path, _, body = _member("jeanne", "marc.martin", ["AFAS Déclarer"], ["approbateur"])
    codes = {v["code"] for v in api.put(path, headers=h("jeanne"), json=body).get_json()["violations"]}
    assert {"GROUPE_HORS_SERVICE", "PROFIL_HORS_SERVICE"} <= codes
    # the entry says the partner administrator and the Caf grant EAJE: a delegate does not
    path, _, body = _member("marc", "lea.petit", ["EAJE Déclarer"], ["declarant", "valideur"])
    r = api.put(path, headers=h("marc"), json=body)
    assert r.status_code == 403 and "EAJE" in r.get_json()["error_description"]
    path, _, body = _member("caf", "marc.martin", ["EAJE Déclarer"], ["valideur"])
    r = api.put(path, headers=h("caf"), json=body)
    assert r.status_code == 200
    # an unknown service names nothing
    assert api.put(path.replace("/EAJE/", "/CRECHE/"), headers=h("caf"), json=body).status_code == 404

    # Keycloak follows: the partner's EAJE groups hold the client's roles, with their members
    svc = api.svc
    state = svc.fake.state
    base = f"/partenaires/{SIRET}"
    assert state.groups[f"{base}/EAJE Déclarer"].roles == frozenset({("eaje", "EAJE-Déclarer")})
    assert state.members[f"{base}/EAJE Déclarer"] == {"lea.petit", "paul.bernard", "marc.martin"}
    assert state.members[f"{base}/EAJE Déclarants"] == {"lea.petit", "paul.bernard"}
    assert state.members[f"{base}/EAJE Valideur"] == {"marc.martin"}
    assert svc.plan() == [], "a second plan is empty"
    reg = svc.registry()
    p = reg.partner(SIRET)
    assert {"eaje:EAJE-Déclarer", "eaje:valideur"} <= roles_of("marc.martin", None, p, reg.settings, TODAY)
    # the person's habilitations as the API lists them
    users = {u["identifiant"]: u for u in api.get(f"/api/v1/partners/{SIRET}/users", headers=h("jeanne")).get_json()}
    assert "valideur" in users["marc.martin"]["profiles"] and "EAJE Déclarer" in users["marc.martin"]["groups"]

    # the access review lists the EAJE grants (the entry puts the service in reviews)
    review = svc.open_review(ACTORS["caf"], "751", datetime.now(UTC) + timedelta(days=30))
    items = svc.review_items(ACTORS["caf"], review["id"], SIRET)["items"]
    assert {(i["service"], i["identifiant"]) for i in items} >= {("EAJE", "lea.petit"), ("EAJE", "marc.martin")}


def test_the_csv_import_reads_the_third_services_groups_and_profiles(api, eaje):
    _convened(api)
    csv = ("identifiant;nom;prenom;courriel;convention;groupes;profils\n"
           "zoe.martin;Martin;Zoé;zoe.martin@hirondelles.example;;EAJE Déclarer;declarant + valideur\n"
           "ines.roy;Roy;Inès;ines.roy@hirondelles.example;;EAJE Déclarer;valideur\n"
           "hugo.blanc;Blanc;Hugo;hugo.blanc@hirondelles.example;;EAJE Déclarer;inspecteur\n").encode()
    r = api.post(f"/api/v1/partners/{SIRET}/users/import", headers=h("jeanne"),
                 data=csv, content_type="text/csv")
    assert r.status_code == 200, r.get_data(as_text=True)
    lines = {x["identifiant"]: x for x in r.get_json()["lines"]}
    assert lines["zoe.martin"]["action"] == "create" and "declarant + valideur" in lines["zoe.martin"]["grants"][0]
    assert [v["code"] for v in lines["ines.roy"]["refusals"]] == ["EAJE_TROP_DE_VALIDEURS"]
    assert [v["code"] for v in lines["hugo.blanc"]["refusals"]] == ["VALEUR_INCONNUE"]
    assert "valideur" in lines["hugo.blanc"]["refusals"][0]["message"]  # the values it may take, from the catalogue


def test_the_api_describes_the_catalogue_it_runs_with(api, eaje):
    body = api.get("/api/v1/catalogue", headers=h("marc")).get_json()
    eaje_entry = next(s for s in body["services"] if s["code"] == "EAJE")
    assert eaje_entry["client"] == "eaje" and eaje_entry["granted_by"] == ["caf", "partner-administrator"]
    assert [(p["code"], p["cap"]) for p in eaje_entry["profiles"]] == [("declarant", 2), ("valideur", 1)]
    afas = next(s for s in body["services"] if s["code"] == "AFAS")
    assert next(g for g in afas["groups"] if g["name"] == "AFAS Habiliter")["opens_on"] == "2018-04-01"
    spec = document(api.application)
    member = spec["paths"]["/api/v1/partners/{siret}/conventions/{number}/bulletins/{service}/members/{identifiant}"]
    services = [p for p in member.get("parameters", []) + member["put"].get("parameters", []) if p["name"] == "service"]
    assert services and services[0]["schema"]["enum"] == ["CDAP", "AFAS", "EAJE"]
    groups = spec["components"]["schemas"]["Membership"]["properties"]["groups"]
    assert "EAJE Déclarer" in str(groups)


def test_the_realm_gets_the_third_services_client_and_roles(eaje):
    desired = desired_realm(env={"MCP_SERVICE_SECRETS": "EAJE=secret-from-the-vault"})
    client = next(c for c in desired["clients"] if c["clientId"] == "eaje")
    assert client["secret"] == "secret-from-the-vault" and client["redirectUris"] == ["http://localhost:8085/auth/callback"]
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert "habilitations EAJE" in {m["name"] for m in client["protocolMappers"]}
    assert {r["name"] for r in desired["roles"]["client"]["eaje"]} == {"EAJE-Déclarer", "declarant", "valideur"}
    # a realm that has everything but the new service: the plan creates its client and its three roles, only that
    without = {**desired, "clients": [c for c in desired["clients"] if c["clientId"] != "eaje"]}
    observed = ObservedRealm(settings={k: v for k, v in desired.items()},
                             clients=[{**c, "id": c["clientId"], "attributes": {**c.get("attributes", {}),
                                                                             "mcp.managed-by": "mon-compte-partenaire"}}
                                      for c in without["clients"]],
                             client_scopes={c["clientId"]: (c.get("defaultClientScopes", []),
                                                            c.get("optionalClientScopes", []))
                                            for c in without["clients"]},
                             realm_roles={r["name"] for r in desired["roles"].get("realm", [])},
                             client_roles={cid: {r["name"] for r in roles}
                                           for cid, roles in desired["roles"]["client"].items() if cid != "eaje"},
                             required_actions={a["alias"]: a for a in desired.get("requiredActions", [])})
    changes = plan_realm(desired, observed)
    assert sorted((c.action, c.kind, c.target) for c in changes) == [
        ("create", "client", "eaje"), ("create", "role", "eaje/EAJE-Déclarer"), ("create", "role", "eaje/declarant"),
        ("create", "role", "eaje/valideur")]
    # production: a service without its secret is refused before anything is read from Keycloak
    with pytest.raises(Exception) as refused:
        desired_realm(env={}, every_variable_set=True)
    assert "SECRET_NON_DEFINI" in str(refused.value) and "EAJE" in str(refused.value)


def test_a_catalogue_with_faults_is_refused_whole_with_every_fault(tmp_path: Path):
    text = catalogue_file.DEFAULT.read_text(encoding="utf-8")
    twice = text.rstrip() + "\n" + EAJE_ENTRY.replace("code: EAJE", "code: AFAS").replace(
        "name: EAJE Déclarer", "name: AFAS Déclarer").replace("requires: EAJE Déclarer", "requires: AFAS Habiliter", 1)
    with pytest.raises(catalogue_file.InvalidCatalogue) as e:
        catalogue_file.read(twice)
    said = " ".join(v.message for v in e.value.violations)
    assert "code « AFAS » déjà employé" in said and "groupe « AFAS Déclarer » déjà employé" in said
    assert "le groupe requis « AFAS Habiliter » n'est pas un groupe du service" in said
    with pytest.raises(catalogue_file.InvalidCatalogue) as e:
        catalogue_file.read(text.replace("level: niveau-2", "level: niveau-9").replace("key: cdap-consulter",
                                                                                      "key: CDAP consulter"))
    assert len(e.value.violations) == 2 and all(v.code == "CATALOGUE_INVALIDE" for v in e.value.violations)
    with pytest.raises(catalogue_file.InvalidCatalogue):
        catalogue_file.read(text, urls={"CRECHE": "https://creche.example"})
    assert catalogue_file.read(text, urls={"CDAP": "https://cdap.caf.example/"}).service("CDAP").url == \
        "https://cdap.caf.example"


def test_a_registry_naming_a_service_the_catalogue_does_not_have_is_refused(eaje):
    data = example_data()
    data["partners"][0]["conventions"][0]["bulletins"].append({"service": "EAJE", "members": [
        {"identifiant": "lea.petit", "groups": ["EAJE Déclarer"], "profiles": ["declarant"]}]})
    assert registry(data).partners[0].conventions[0].bulletin("EAJE") is not None  # with the entry: read
    # without it: refused, with the values the catalogue has
    with catalogue.installed(catalogue_file.load()), pytest.raises(Exception) as refused:
        registry(data)
    assert "SCHEMA_VALEUR" in str(refused.value) and "CDAP, AFAS" in str(refused.value)


def test_the_domain_reads_no_service_by_name():
    """No rule, plan or use case names CDAP or AFAS: they are the catalogue's (the model keeps their names for the
    tests and the demo applications only)."""
    root = Path(__file__).resolve().parents[2] / "provisioning"
    offenders = []
    for path in [*root.glob("domain/*.py"), *root.glob("reconcile/*.py"), *root.glob("usecases/*.py")]:
        if path.name == "model.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if any(f"{kind}.{name}" in code for kind in ("Service", "Group", "Profile")
                   for name in ("CDAP", "AFAS", "CDAP_CONSULTER", "AFAS_DECLARER", "AFAS_HABILITER", "ACTIVITE",
                                "FINANCIER", "APPROBATEUR")):
                offenders.append(f"{path.relative_to(root)}:{n}")
    assert offenders == []


def test_a_process_started_with_a_faulty_catalogue_stops_with_every_fault(tmp_path: Path):
    import subprocess
    import sys
    bad = tmp_path / "services.yaml"
    bad.write_text(catalogue_file.DEFAULT.read_text(encoding="utf-8").replace("key: afas-habiliter", "key: afas-declarer")
                   .replace("cap: 1\n", "cap: 0\n"), encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", "from provisioning import settings; settings.at_start()"],
                         env={"PATH": "/usr/bin:/bin", "MCP_CATALOGUE": str(bad)}, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert "services.yaml" in run.stderr and "CATALOGUE_INVALIDE" in run.stderr
    assert "profiles.2.cap" in run.stderr  # pydantic's fault, with its place
