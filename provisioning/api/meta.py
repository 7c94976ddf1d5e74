"""Health and the served OpenAPI document."""

import re
from pathlib import Path

import yaml
from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel

from provisioning.api import responses as answers
from provisioning.domain import catalogue
from provisioning.reconcile.desired import opening

bp = Blueprint("meta", __name__)
PUBLIC_ENDPOINTS = {"meta.openapi", "meta.health", "meta.catalogue_", "static",
                    "metrics"}  # Prometheus: its own bearer token (MCP_METRICS_TOKEN), not a person's
_SPEC = Path(__file__).with_name("openapi.yaml")


@bp.get("/openapi.json")
def openapi():
    return jsonify(document(current_app))


def document(app) -> dict:
    """The hand-written description (paths, summaries, responses) completed from the code: each operation's
    request body and query parameters are the JSON Schemas of the models that validate them."""
    spec = yaml.safe_load(_SPEC.read_text(encoding="utf-8"))
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        body, query = getattr(view, "request_model", None), getattr(view, "query_model", None)
        answers: dict[str, type[BaseModel]] = getattr(view, "response_models", {})
        if not (body or query or answers):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            op = spec["paths"].setdefault(path, {}).setdefault(method.lower(), {"responses": {"200": {"description": "ok"}}})
            for status, model in answers.items():
                _answer(op, status, model, schemas)
            if body:
                schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[body.__name__] = schema
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{body.__name__}"}}}}
                op["responses"].setdefault("400", {"$ref": "#/components/responses/Refused"})
            if query:
                qs = query.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(qs.pop("$defs", {}))
                props = qs["properties"]
                op["parameters"] = [{"name": name, "in": "query", "required": False, "schema": prop}
                                    for name, prop in props.items()]
                op["responses"].setdefault("400", {"$ref": "#/components/responses/Refused"})
    _catalogue_parameters(spec)
    _every_refusal(spec)
    return spec


def _catalogue_parameters(spec: dict) -> None:
    """A path's {service} is one of the catalogue's codes, read when the document is served."""
    codes = catalogue.current().codes()
    for item in spec["paths"].values():
        for params in [item.get("parameters", [])] + [(item.get(m) or {}).get("parameters", []) for m in METHODS]:
            for param in params:
                if param.get("name") == "service" and param.get("in") == "path":
                    param["schema"] = {"type": "string", "enum": codes}


METHODS = ("get", "post", "put", "delete", "patch")


def _answer(op: dict, status: str, model: type[BaseModel], schemas: dict) -> None:
    """A 2xx answer's body: the JSON Schema of its response model (provisioning/api/responses.py)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    response = op["responses"].setdefault(status, {"description": "ok"})
    response["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
    if model is answers.MutationAnswer:  # RFC 7240: the partner's document left out on request
        params = op.setdefault("parameters", [])
        if not any(p.get("name") == "Prefer" for p in params):
            params.append({"name": "Prefer", "in": "header", "required": False,
                           "description": "`return=minimal`: the answer without `partner` (a big partner's "
                                          "document is most of its size); `Preference-Applied` says it was heard",
                           "schema": {"type": "string", "example": "return=minimal"}})
        response.setdefault("headers", {})["Preference-Applied"] = {
            "description": "`return=minimal` when the answer left the partner out", "schema": {"type": "string"}}


def _every_refusal(spec: dict) -> None:
    """The refusals every operation can answer, from how the API is built rather than listed by hand (issue 26
    §7: 69 (operation, status) pairs were answered but undocumented): a token is required (401), roles and
    scopes refuse (403), a path names objects that may not exist (404), a mutation meets a newer version or
    another writer (409) and the rules (422), a body can be unreadable (400) or too large (413), and the
    registry or Keycloak can be unavailable (503). Public operations (health, this document) answer none."""
    refused = {"$ref": "#/components/responses/Refused"}
    for path, item in spec["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None or op.get("security") == []:
                continue
            statuses = ["401", "403", "503"]
            if "{" in path or any(p.get("name") == "partner" for p in op.get("parameters", [])):
                statuses.append("404")  # an object named by the path, or the partner a query asks about
            if method != "get":
                statuses += ["400", "409", "413", "422"]
            for status in statuses:
                op["responses"].setdefault(status, refused)


@bp.get("/health")
@answers.returns(answers.Health)
def health():
    return jsonify({"status": "ok"})


@bp.get("/api/v1/catalogue")
@answers.returns(answers.Catalogue)
def catalogue_():
    """The service catalogue, public like this API's description (names of services, groups, roles and caps: no
    person's data); every application builds its menus and forms from it."""
    settings = current_app.extensions["provisioning"].registry_settings()
    return jsonify(describe(catalogue.current(), settings))


def describe(cat: catalogue.Catalogue, settings) -> dict:
    openings = opening(cat, settings)
    return {"version": cat.version, "services": [{
        "code": s.code, "label": s.label, "description": s.description, "client": s.client, "url": s.url,
        "level": s.level, "granted_by": sorted(s.granted_by), "scoped_by": list(s.scoped_by), "reviewed": s.reviewed,
        "profiles_per_person": [s.profiles_min, s.profiles_max], "equipment_types": sorted(s.equipment_types),
        "groups": [{"name": g.name, "role": g.role, "description": g.description,
                    "assigns_equipments": g.assigns_equipments,
                    "opens_on": openings[g.key].isoformat() if g.key in openings else None} for g in s.groups],
        "profiles": [{"code": p.code, "label": p.label, "description": p.description, "requires": p.requires,
                      "cap": p.cap} for p in s.profiles]} for s in cat.services]}
