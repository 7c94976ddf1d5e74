"""The API's use cases in-process (fake Keycloak, SQLite, a token verifier that names the caller): the Caf
registers a partner, prepares and activates its convention, the partner grants habilitations and associates
AFAS equipments, the Caf suspends a service; each answer's status, body and ETag. The same routes run with
real tokens against the real Keycloak in tests/integration/test_api.py."""

from __future__ import annotations

import pytest

from provisioning.api import create_app
from provisioning.errors import Unauthorized
from provisioning.services import CAF_ADMIN, DELEGATE, PARTNER_ADMIN, Actor
from tests.unit.factories import registry
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL

NEW = "55566677700019"
ACTORS = {
    "caf": Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751"),
    "lyon": Actor("caf.lyon", frozenset({CAF_ADMIN}), caf="692"),
    "sam": Actor("sam.perrin", frozenset({PARTNER_ADMIN}), partner=NEW),
    "habiliter": Actor("alex.roy", frozenset({DELEGATE, "afas:AFAS-Habiliter"}), partner=NEW),
}


class Verifier:
    def verify(self, header):
        try:
            return ACTORS[(header or "").removeprefix("Bearer ")]
        except KeyError:
            raise Unauthorized() from None


@pytest.fixture
def api(use_case_engine):
    svc = make_service(use_case_engine)
    svc.import_registry(NATIONAL, registry())
    client = create_app(svc, Verifier()).test_client()
    client.svc = svc
    return client


def h(who: str) -> dict:
    return {"Authorization": f"Bearer {who}"}


def test_from_registration_to_an_active_convention_with_habilitations(api):
    r = api.post("/api/v1/partners", headers=h("caf"), json={
        "siret": NEW, "name": "Association Les Lucioles", "caf": "751",
        "administrator": {"identifiant": "sam.perrin", "first_name": "Sam", "last_name": "Perrin",
                          "email": "sam.perrin@lucioles.example"}})
    assert r.status_code == 201 and r.get_json()["administrator"] == "sam.perrin"
    assert api.post("/api/v1/partners", headers=h("lyon"), json={
        "siret": "35600000000001", "name": "X", "caf": "751", "administrator": {
            "identifiant": "x.y", "first_name": "X", "last_name": "Y", "email": "x@y.fr"}}).status_code == 403
    assert {p["siret"] for p in api.get("/api/v1/partners", headers=h("caf")).get_json()} >= {NEW}

    contract = {"partner_administrator": {"name": "Sam Perrin", "email": "sam.perrin@lucioles.example"},
                "caf_administrator": {"name": "Claire Fontaine"}, "incident_procedure": "Appeler la Caf."}
    r = api.post(f"/api/v1/partners/{NEW}/conventions", headers=h("caf"),
                 json={"number": "CONV-751-2026-0009", "services": ["AFAS", "CDAP"], "contract": contract})
    assert r.status_code == 201 and r.headers["ETag"].startswith('"v')
    conv = r.get_json()["partner"]["conventions"][0]
    assert conv["status"] == "prepared" and [b["service"] for b in conv["bulletins"]] == ["CDAP", "AFAS"]
    assert api.post(f"/api/v1/partners/{NEW}/conventions", headers=h("caf"), json={
        "number": "CONV-751-2026-0010", "services": ["CDAP", "CDAP"]}).status_code == 422  # the same twice
    assert api.post(f"/api/v1/partners/{NEW}/conventions/CONV-751-2026-0009/transitions", headers=h("sam"),
                    json={"to": "active"}).status_code == 403  # the Caf's business
    for to in ("signed_by_partner", "signed_by_caf", "active"):
        r = api.post(f"/api/v1/partners/{NEW}/conventions/CONV-751-2026-0009/transitions", headers=h("caf"),
                     json={"to": to})
        assert r.status_code == 200 and r.get_json()["changed"] is True
    r = api.post(f"/api/v1/partners/{NEW}/conventions/CONV-751-2026-0009/transitions", headers=h("caf"),
                 json={"to": "prepared"})
    assert r.status_code == 422 and r.get_json()["violations"][0]["code"] == "TRANSITION_INTERDITE"

    r = api.post(f"/api/v1/partners/{NEW}/users", headers=h("sam"), json={
        "identifiant": "alex.roy", "first_name": "Alex", "last_name": "Roy", "email": "alex.roy@lucioles.example"})
    assert r.status_code == 201 and r.get_json()["reconciled"] is True
    member = f"/api/v1/partners/{NEW}/conventions/CONV-751-2026-0009/bulletins/AFAS/members/alex.roy"
    r = api.put(member, headers=h("sam"), json={"groups": ["AFAS Déclarer", "AFAS Habiliter"],
                                               "profiles": ["approbateur"]})
    assert r.status_code == 200
    users = {u["identifiant"]: u for u in api.get(f"/api/v1/partners/{NEW}/users", headers=h("sam")).get_json()}
    assert users["alex.roy"]["profiles"] == ["approbateur"] and users["sam.perrin"]["administrator"]
    csv = api.get(f"/api/v1/partners/{NEW}/conventions/CONV-751-2026-0009/bulletins/AFAS/identifiants.csv",
                  headers=h("sam"))
    assert csv.status_code == 200 and "alex.roy" in csv.get_data(as_text=True)
    assert api.put(f"/api/v1/partners/{NEW}/delegates/alex.roy", headers=h("sam")).status_code == 200


def test_afas_equipments_and_a_service_suspension(api):
    test_from_registration_to_an_active_convention_with_habilitations(api)
    svc = api.svc
    p = svc.partner(NATIONAL, NEW)
    from provisioning.domain.model import Equipment, EquipmentType
    p.equipments.append(Equipment("ALSH-0042", "Accueil des Lucioles", EquipmentType.ALSH))
    svc.import_registry(NATIONAL, _with(svc, p))
    r = api.get(f"/api/v1/partners/{NEW}/equipments", headers=h("habiliter"))
    assert r.status_code == 200 and r.get_json()["candidates"]["approbateur"] == ["alex.roy"]
    path = f"/api/v1/partners/{NEW}/equipments/ALSH-0042/assignments"
    assert api.put(path, headers=h("sam"), json={"approbateur": ["alex.roy"]}).status_code == 403  # not Habiliter
    assert api.put(path, headers=h("habiliter"), json={"approbateur": ["alex.roy", "alex.roy"]}).status_code == 422
    r = api.put(path, headers=h("habiliter"), json={"approbateur": ["alex.roy"]})
    assert r.status_code == 200 and r.get_json()["partner"]["equipments"][0]["assignments"] == {
        "approbateur": ["alex.roy"]}
    suspend = f"/api/v1/partners/{NEW}/conventions/CONV-751-2026-0009/services/AFAS/suspension"
    assert api.post(suspend, headers=h("sam")).status_code == 403
    r = api.post(suspend, headers=h("caf"))
    assert r.status_code == 200 and r.get_json()["partner"]["conventions"][0]["suspended_services"] == ["AFAS"]
    assert not svc.fake.state.members.get(f"/partenaires/{NEW}/AFAS Approbateur")
    assert api.delete(suspend, headers=h("caf")).status_code == 200
    assert svc.fake.state.members[f"/partenaires/{NEW}/AFAS Approbateur"] == {"alex.roy"}
    journal = api.get(f"/api/v1/audit?partner={NEW}&limit=50", headers=h("caf")).get_json()
    assert {"suspend-service", "reactivate-service", "set-assignments"} <= {e["action"] for e in journal}
    assert any("AFAS" in n["body"] for n in api.get("/api/v1/notifications", headers=h("caf")).get_json())


def _with(svc, partner):
    reg = svc.registry()
    reg.partners = [partner if x.siret == partner.siret else x for x in reg.partners]
    return reg
