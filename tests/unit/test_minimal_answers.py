"""A mutation's answer without the partner's document when the client says `Prefer: return=minimal` (RFC 7240;
issue 27): on a partner of thousands of people the document is most of the answer's cost, and a client adding
people one by one does not read it back. The change itself, its ETag and its reconcile state are the same."""

from __future__ import annotations

import pytest

from provisioning.services import CAF_ADMIN, Actor
from tests.unit.services import example_api

SIRET = "12345678900015"
CAF = {"Authorization": "Bearer caf"}


@pytest.fixture
def api(use_case_store):
    return example_api(use_case_store, {"caf": Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751")})


def _add(api, ident: str, prefer: str | None):
    headers = {**CAF, **({"Prefer": prefer} if prefer is not None else {})}
    return api.post(f"/api/v1/partners/{SIRET}/users", headers=headers, json={
        "identifiant": ident, "first_name": "Nina", "last_name": "Morel", "email": f"{ident}@example.org"})


@pytest.mark.parametrize("prefer", ["return=minimal", "RETURN=minimal", "respond-async, return=minimal; x=1",
                                    " return = minimal "])
def test_return_minimal_leaves_the_partner_out_and_changes_the_same(api, prefer):
    r = _add(api, "nina.morel", prefer)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert "partner" not in body and body["changed"] is True and body["reconcile"]["state"]
    assert r.headers["Preference-Applied"] == "return=minimal" and "Prefer" in r.headers["Vary"]
    doc = api.get(f"/api/v1/partners/{SIRET}", headers=CAF)
    assert r.headers["ETag"] == doc.headers["ETag"]  # the version written, as a full answer gives it
    assert "nina.morel" in {u["identifiant"] for u in doc.get_json()["users"]}


@pytest.mark.parametrize("prefer", [None, "return=representation", "return=minimalist", "minimal", ""])
def test_without_it_the_answer_holds_the_partner(api, prefer):
    r = _add(api, "nina.morel", prefer)
    assert r.status_code == 201
    assert "nina.morel" in {u["identifiant"] for u in r.get_json()["partner"]["users"]}
    assert "Preference-Applied" not in r.headers


def test_a_refusal_is_the_same_either_way(api):
    first, again = _add(api, "nina.morel", "return=minimal"), _add(api, "nina.morel", "return=minimal")
    assert first.status_code == 201 and again.status_code == 422
    assert [v["code"] for v in again.get_json()["violations"]] == ["IDENTIFIANT_EN_DOUBLE"]


def test_the_openapi_document_offers_the_preference():
    from provisioning.api import create_app
    from provisioning.api.meta import document
    from provisioning.store.memory import MemoryStore
    from tests.unit.services import make_service
    spec = document(create_app(make_service(MemoryStore()), None))
    op = spec["paths"]["/api/v1/partners/{siret}/users"]["post"]
    assert any(p["name"] == "Prefer" and p["in"] == "header" for p in op["parameters"])
    assert "Preference-Applied" in op["responses"]["201"]["headers"]
    assert "partner" not in spec["components"]["schemas"]["MutationAnswer"].get("required", [])
