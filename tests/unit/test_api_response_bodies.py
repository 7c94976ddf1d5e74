"""Issue 26 §7: every 2xx body the API answers is described in the served document. A tour calls each operation
once the way a real client does (the example partner, real objects, the role that may), asserts it succeeded,
and validates the body against the document's schema for that status — formats included (a moment without its
offset is not a `date-time`). The tour must reach every operation that declares a JSON answer: a new operation
without a described body, or left out of the tour, fails here. Schemathesis (test_api_contract.py) then checks
the same schemas on the answers of generated requests."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from provisioning.api import create_app
from provisioning.api.meta import document
from provisioning.directory import ExtractDirectory
from provisioning.domain import naming
from provisioning.services import DELEGATE, PARTNER_ADMIN, Actor
from tests.unit.factories import example_data, registry
from tests.unit.services import make_service
from tests.unit.test_api_contract import ACTORS as CONTRACT_ACTORS
from tests.unit.test_api_usecases import Verifier
from tests.unit.test_desired_state_files import NATIONAL

S = "/api/v1/partners/12345678900015"
ACTORS = {**CONTRACT_ACTORS,  # marc.martin as his token says he is: in AFAS Habiliter (R10)
          "habiliter": Actor("marc.martin", frozenset({DELEGATE, "afas:AFAS-Habiliter"}), partner="12345678900015")}
CONV = "CONV-751-2026-0001"
CONTACT = {"name": "Jeanne Dupont", "email": "jeanne.dupont@hirondelles.example"}
CONTRACT = {**{role: CONTACT for role in ("partner_administrator", "partner_security_officer", "partner_cnil_referent",
                                          "caf_administrator", "caf_portal_manager", "caf_security_officer",
                                          "caf_cnil_referent")},
            "incident_procedure": "Signaler tout incident au gestionnaire d'habilitations de la Caf dans l'heure."}
CSV = ("identifiant;nom;prenom;courriel;convention;groupes;profils\n"
       f"zoe.martin;Martin;Zoé;zoe.martin@hirondelles.example;{CONV};CDAP Consulter;\n").encode()


def _request(siret: str, who: str) -> dict:
    person = {"first_name": "Hélène", "last_name": "Garnier", "email": f"{who}@asso.example", "function": "Présidente"}
    return {"siret": siret, "caf": "751", "services": ["AFAS"], "representative": person, "administrator": person}


def _links(svc) -> dict[str, str]:
    """{rid:<who>} and {token:<who>} of the confirmation links mailed so far."""
    out = {}
    with svc.uow() as uow:
        for mail in uow.outbox.list(limit=500):
            if found := re.search(r"/demande-d-acces/([^/\s]+)/(\S+)", mail["body"]):
                who = mail["recipient"].split("@")[0]
                out[f"{{rid:{who}}}"], out[f"{{token:{who}}}"] = found.group(1), found.group(2)
    return out


def _tour(review: dict) -> list[tuple[str, str, str, dict]]:
    """(method, path, caller, request) in an order where each step finds what it needs."""
    return [
        ("get", "/health", "nobody", {}),
        ("get", "/api/v1/partners", "caf", {}),
        ("post", "/api/v1/partners", "caf", {"json": {"siret": "98765432100015", "name": "Mairie de Sainte-Foy",
                                                      "caf": "751", "administrator": {
                                                          "identifiant": "luc.blanc", "first_name": "Luc",
                                                          "last_name": "Blanc", "email": "luc.blanc@mairie.example"}}}),
        ("get", S, "jeanne", {}),
        ("get", f"{S}/reconcile", "jeanne", {}),
        ("get", f"{S}/users?sort=nom", "jeanne", {}),
        ("post", f"{S}/users", "jeanne", {"json": {"identifiant": "ines.roy", "first_name": "Inès",
                                                  "last_name": "Roy", "email": "ines.roy@hirondelles.example"}}),
        ("post", f"{S}/users/import", "jeanne", {"data": CSV}),
        ("post", f"{S}/users/import?apply=true", "jeanne", {"data": CSV}),
        ("put", f"{S}/conventions/{CONV}/bulletins/CDAP/members/ines.roy", "jeanne",
         {"json": {"groups": ["CDAP Consulter"]}}),
        ("delete", f"{S}/conventions/{CONV}/bulletins/CDAP/members/ines.roy", "jeanne", {}),
        ("get", f"{S}/equipments", "jeanne", {}),
        ("put", f"{S}/equipments/EAJE-0002", "caf", {"json": {"name": "Crèche Les Petits Pas", "type": "EAJE",
                                                              "sites": ["3 rue Haute"]}}),
        ("put", f"{S}/equipments/ALSH-0001/assignments", "habiliter",
         {"json": {"approbateur": ["marc.martin"], "fournisseur-donnees-activite": ["lea.petit"],
                   "fournisseur-donnees-financieres": ["paul.bernard"]}}),
        ("put", f"{S}/equipments/ALSH-0001/sites", "habiliter", {"json": {"lea.petit": ["12 rue des Lilas"]}}),
        ("post", f"{S}/equipments/ALSH-0001/send-back", "habiliter",
         {"json": {"service": "AFAS", "period": "2025", "reason": "Les heures du mercredi comptent deux fois."}}),
        ("delete", f"{S}/equipments/EAJE-0002", "caf", {}),
        ("put", f"{S}/delegates/lea.petit", "jeanne", {}),
        ("delete", f"{S}/delegates/lea.petit", "jeanne", {}),
        ("post", f"{S}/users/paul.bernard/suspension", "caf", {}),
        ("delete", f"{S}/users/paul.bernard/suspension", "caf", {}),
        ("post", f"{S}/users/paul.bernard/lost-credentials", "jeanne", {}),
        ("post", f"{S}/users/paul.bernard/credentials", "jeanne", {}),
        ("get", f"{S}/users/paul.bernard/account", "jeanne", {}),
        ("delete", f"{S}/users/paul.bernard/lockout", "jeanne", {}),
        ("delete", f"{S}/users/paul.bernard/second-factor", "jeanne", {}),
        ("delete", f"{S}/users/paul.bernard/proconnect", "paul", {}),  # issue 32: the person herself
        ("post", f"{S}/conventions/{CONV}/services/CDAP/suspension", "caf", {}),
        ("delete", f"{S}/conventions/{CONV}/services/CDAP/suspension", "caf", {}),
        ("post", f"{S}/conventions", "caf", {"json": {"number": "CONV-751-2026-0002", "services": ["CDAP"]}}),
        ("put", f"{S}/conventions/CONV-751-2026-0002/contract", "caf", {"json": CONTRACT}),
        ("post", f"{S}/conventions/CONV-751-2026-0002/documents", "caf", {}),  # issue 31
        ("get", f"{S}/conventions/CONV-751-2026-0002/documents", "jeanne", {}),
        ("get", f"{S}/documents", "jeanne", {}),
        ("post", f"{S}/conventions/CONV-751-2026-0002/signatures", "jeanne-niveau-2", {}),
        ("post", "/api/v1/documents/verification", "paul", {"data": "{pdf}"}),
        ("post", f"{S}/conventions/CONV-751-2026-0002/transitions", "caf", {"json": {"to": "terminated"}}),
        # issue 31 §1: two organisations ask for access; one is accepted, the other refused
        ("get", "/api/v1/cafs", "nobody", {}),
        ("get", "/api/v1/directory/75100000000016", "nobody", {}),
        ("post", "/api/v1/access-requests", "nobody", {"json": _request("75100000000016", "mesanges")}),
        ("post", "/api/v1/access-requests", "nobody", {"json": _request("75100000000024", "ecureuils")}),
        ("post", "/api/v1/access-requests/{rid:mesanges}/confirmations", "nobody", {"json": {"token": "{token:mesanges}"}}),
        ("post", "/api/v1/access-requests/{rid:ecureuils}/confirmations", "nobody", {"json": {"token": "{token:ecureuils}"}}),
        ("get", "/api/v1/access-requests", "caf", {}),
        ("post", "/api/v1/access-requests/{rid:mesanges}/acceptance", "caf", {}),
        ("post", "/api/v1/access-requests/{rid:ecureuils}/refusal", "caf", {"json": {"reason": "Aucun accueil ici."}}),
        ("get", "/api/v1/audit?limit=5", "caf", {}),
        ("get", "/api/v1/me", "paul", {}),
        ("get", "/api/v1/catalogue", "paul", {}),
        ("get", "/api/v1/usage-rules/acceptances", "caf", {}),
        ("post", "/api/v1/incidents", "jeanne", {"json": {"kind": "incident",
                                                          "description": "Un poste du centre a été volé ce matin."}}),
        ("get", "/api/v1/notifications", "caf", {}),
        ("post", f"/api/v1/notifications/{review['dead']}/resend", "caf", {}),
        ("post", "/api/v1/cafs/751/reviews", "caf", {"json": {"deadline": "2027-01-20"}}),
        ("get", "/api/v1/reviews", "caf", {}),
        ("get", "/api/v1/reviews/{campaign}", "caf", {}),
        ("get", "/api/v1/reviews/{campaign}/partners/12345678900015", "jeanne", {}),
        ("post", "/api/v1/reviews/{campaign}/decisions", "jeanne",
         {"json": {"item": f"12345678900015/{CONV}/AFAS/paul.bernard", "decision": "confirmed"}}),
    ]


@pytest.fixture
def tour(use_case_store):
    svc = make_service(use_case_store)
    svc.directory = ExtractDirectory()  # issue 31 §1: the demo extract of the SIRENE directory
    svc.import_registry(NATIONAL, registry(example_data()))
    svc.reconcile(NATIONAL)  # the accounts exist in (fake) Keycloak
    svc.fake.second_factors["paul.bernard"] = {"otp"}  # a phone to reset, a lockout to lift
    svc.fake.proconnect.add("paul.bernard")  # a ProConnect link he removes himself
    svc.fake.lockouts["paul.bernard"] = datetime.now(UTC) + timedelta(minutes=15)
    svc.fake.attributes["paul.bernard"] = {naming.TERMS_ATTR: [str(int(datetime.now(UTC).timestamp()))]}
    svc.fake.logins[svc.fake.state.users["paul.bernard"].id] = datetime.now(UTC) - timedelta(days=2)
    svc.deliver_notifications()  # then a dead letter for the Caf to send again
    with svc.uow() as uow:
        uow.outbox.put("x@caf75.example", "s", "b", caf="751")
        token, [row] = uow.outbox.claim()
        assert uow.outbox.failed(row.id, token, "refusé", attempts=8)
        dead = row.id
        uow.commit()
    paul = svc.fake.state.users["paul.bernard"].id  # /me reads the previous login of the token's subject
    actors = {**ACTORS, "paul": Actor("paul.bernard", frozenset(), partner="12345678900015", sub=paul, session="s"),
              "jeanne-niveau-2": Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner="12345678900015",
                                       acr="niveau-2")}
    app = create_app(svc, Verifier(actors), Verifier(actors))
    return app, {"dead": dead}


def _template(app, method: str, path: str) -> str:
    rule, _ = app.url_map.bind("localhost").match(path.split("?")[0], method.upper(), return_rule=True)
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)


def test_every_json_answer_is_described_and_every_answer_matches_it(tour):
    app, context = tour
    spec = document(app)
    schemas = Registry().with_resource("urn:doc", Resource.from_contents(spec, default_specification=DRAFT202012))
    client, reached, campaign, pdf = app.test_client(), set(), "", b""
    for method, path, who, request in _tour(context):
        path = path.replace("{campaign}", campaign)
        for key, value in _links(app.extensions["provisioning"]).items():
            path = path.replace(key, value)
            if request.get("json", {}).get("token") == key:
                request = {"json": {"token": value}}
        if request.get("data") == "{pdf}":  # the file just issued, as its downloader has it
            request = {"data": pdf, "content_type": "application/pdf"}
        response = getattr(client, method)(path, headers={"Authorization": f"Bearer {who}"}, **request)
        assert 200 <= response.status_code < 300, (method, path, response.status_code, response.get_data(as_text=True)[:500])
        template = _template(app, method, path)
        declared = spec["paths"][template][method]["responses"].get(str(response.status_code))
        assert declared and "application/json" in declared.get("content", {}), \
            f"{method.upper()} {template} answered {response.status_code} with a body the document does not describe"
        schema = {"$ref": "urn:doc#" + declared["content"]["application/json"]["schema"]["$ref"].removeprefix("#")}
        validator = jsonschema.Draft202012Validator(schema, registry=schemas, format_checker=jsonschema.FormatChecker())
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(response.get_json())]
        assert not errors, (method, template, errors[:5])
        reached.add((method, template))
        body = response.get_json()
        assert body, f"{method.upper()} {template}: an empty answer proves no schema"
        if template == "/api/v1/cafs/{caf}/reviews":
            campaign = response.get_json()["id"]
        if template.endswith("/documents") and method == "post":
            download = client.get(f"{S}/documents/{body[0]['id']}.pdf", headers={"Authorization": "Bearer caf"})
            assert download.status_code == 200 and download.mimetype == "application/pdf"
            pdf = download.data
    described = {(method, path) for path, item in spec["paths"].items() for method, op in item.items()
                 if isinstance(op, dict) and any("application/json" in r.get("content", {})
                                                 for s, r in op.get("responses", {}).items() if s.startswith("2"))}
    described -= {("get", "/openapi.json")}
    assert described - reached == set(), "operations with a JSON answer the tour does not reach"
