"""Issue 26 §7: the served OpenAPI document says every status the API answers. Schemathesis in-process (fake
Keycloak, SQLite), every operation, each role and no token, requests aimed at real objects too: no 5xx, no
status or content type the document does not describe, and every body matches its documented schema. The same
with real tokens on the real Keycloak: tests/integration/test_api_fuzz.py."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from provisioning.api import create_app
from provisioning.services import CAF_ADMIN, DELEGATE, PARTNER_ADMIN, Actor
from tests.unit.factories import example_data, registry, second_partner
from tests.unit.services import make_service
from tests.unit.test_api_usecases import Verifier
from tests.unit.test_desired_state_files import NATIONAL

SIRET = "12345678900015"
ACTORS = {"caf": Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751"),
          "lyon": Actor("caf.lyon", frozenset({CAF_ADMIN}), caf="692"),
          "jeanne": Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=SIRET),
          "marc": Actor("marc.martin", frozenset({DELEGATE}), partner=SIRET),
          "lea": Actor("lea.petit", frozenset(), partner=SIRET)}
REAL = {"siret": SIRET, "number": "CONV-751-2026-0001", "identifiant": "paul.bernard", "code": "ALSH-0001"}
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


def test_every_answer_of_every_operation_is_in_the_document(use_case_engine):
    svc = make_service(use_case_engine)
    data = example_data()
    second_partner(data)
    svc.import_registry(NATIONAL, registry(data))
    app = create_app(svc, Verifier(ACTORS), Verifier(ACTORS))
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    seen: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=4, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def each_caller(case):
            for aim in (False, True):
                if aim and case.path_parameters:
                    case.path_parameters = {**case.path_parameters,
                                            **{k: v for k, v in REAL.items() if k in case.path_parameters}}
                for who in [*ACTORS, "nobody"]:
                    response = case.call(headers={"Authorization": f"Bearer {who}"})
                    seen[response.status_code] = seen.get(response.status_code, 0) + 1
                    case.validate_response(response, checks=CHECKS)
        each_caller()
    assert {200, 401, 403, 404} <= set(seen) and (seen.get(400, 0) + seen.get(422, 0)) > 0, seen
