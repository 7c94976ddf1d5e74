"""The API's door: declared models validate every body and query string (400 naming the field, never
echoing the input), bodies are bounded (413), every error is RFC 9457 problem details, and the served
OpenAPI document's request schemas are those same models."""

from __future__ import annotations

import pytest

from provisioning.api import MAX_BODY, create_app, models
from provisioning.services import Actor

SYSTEM = Actor("test", system=True)


class Verifier:
    def verify(self, header):
        return SYSTEM


class NoService:
    """Every request here must be refused before the service is reached."""

    def __getattr__(self, name):
        raise AssertionError(f"the service was called ({name}) for a request the door should refuse")


@pytest.fixture
def api():
    return create_app(NoService(), Verifier()).test_client()


USERS = "/api/v1/partners/12345678900015/users"


def test_unknown_fields_and_wrong_types_are_400_with_their_path_and_no_echo(api):
    secret = "<script>alert('x')</script>" * 3
    r = api.post(USERS, json={"identifiant": 42, "first_name": "A", "last_name": "B", "email": "a@b.fr",
                              "role": secret})
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    body = r.get_json()
    assert {(v["code"], v["path"]) for v in body["violations"]} == {("CHAMP_TYPE", "identifiant"),
                                                                      ("CHAMP_INCONNU", "role")}
    assert body["type"].endswith(":requete_invalide") and body["status"] == 400 and body["code"] == "requete_invalide"
    assert "alert(" not in r.get_data(as_text=True) and "42" not in r.get_data(as_text=True)


def test_nested_faults_name_their_path(api):
    r = api.post("/api/v1/partners/12345678900015/conventions", json={
        "number": "CONV-1", "services": ["CDAP", "XYZ"], "contract": {"caf_administrator": {"name": 1}}})
    assert {(v["code"], v["path"]) for v in r.get_json()["violations"]} == {
        ("VALEUR_INCONNUE", "services.1"), ("CHAMP_TYPE", "contract.caf_administrator.name")}


@pytest.mark.parametrize("data, ctype", [(b"{not json", "application/json"), (b"[]", "application/json"),
                                         (b"", "application/json"), (b"x=1", "application/x-www-form-urlencoded")])
def test_a_body_that_is_not_a_json_object_is_400(api, data, ctype):
    r = api.post(USERS, data=data, content_type=ctype)
    assert r.status_code == 400 and r.get_json()["violations"][0]["code"] == "CORPS_INVALIDE"


def test_oversized_bodies_are_413_and_long_texts_400(api):
    r = api.post(USERS, data=b'{"identifiant": "' + b"a" * MAX_BODY + b'"}', content_type="application/json")
    assert r.status_code == 413 and r.get_json()["code"] == "corps_trop_gros"
    r = api.post(USERS, json={"identifiant": "a" * 65, "first_name": "A", "last_name": "B", "email": "a@b.fr"})
    assert r.status_code == 400 and r.get_json()["violations"][0]["code"] == "TEXTE_TROP_LONG"


@pytest.mark.parametrize("qs", ["limit=abc", "limit=0", "limit=501", "offset=-1", "page=2"])
def test_query_parameters_are_validated(api, qs):
    r = api.get(f"/api/v1/audit?{qs}")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"


def test_404_405_are_problem_details_never_html(api):
    r = api.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.get_json()["code"] == "not_found" and b"<html" not in r.data.lower()
    r = api.delete("/api/v1/partners")
    assert r.status_code == 405 and r.get_json()["code"] == "methode_non_permise" and "GET" in r.headers["Allow"]


def test_a_bug_is_a_500_problem_that_says_nothing_of_the_code(api):
    r = api.get("/api/v1/partners")  # the service blows up: AssertionError inside
    assert r.status_code == 500 and r.get_json()["code"] == "erreur_interne"
    assert "AssertionError" not in r.get_data(as_text=True) and "Traceback" not in r.get_data(as_text=True)


def test_the_served_document_describes_each_body_with_the_model_that_validates_it(api):
    spec = api.get("/openapi.json").get_json()
    op = spec["paths"]["/api/v1/partners/{siret}/users"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/NewUser"}
    assert spec["components"]["schemas"]["NewUser"] == models.NewUser.model_json_schema()
    assert spec["components"]["schemas"]["NewUser"]["additionalProperties"] is False
    params = {p["name"]: p["schema"] for p in spec["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert params["limit"]["maximum"] == 500


def test_every_route_is_in_the_document_and_every_body_has_a_model():
    from provisioning.api import meta
    app = create_app(NoService(), Verifier())
    spec = meta.document(app)
    import re
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = spec["paths"][path].get(method.lower())
            assert op is not None, (method, path)
            if method in ("POST", "PUT") and "requestBody" not in op:
                view = app.view_functions[rule.endpoint]
                assert not hasattr(view, "request_model"), path  # bodiless actions (suspend, delegate…)
