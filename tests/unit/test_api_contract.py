"""Issue 26 §7: the served OpenAPI document says every status the API answers. Schemathesis in-process (fake
Keycloak, SQLite), every operation, valid and invalid requests, each role and no token, aimed at real objects
too, with every check schemathesis has (`--checks all`) but two: no 5xx, no status, content type or header the
document does not describe, every body matches its schema, invalid data refused. Left out: `ignored_auth` (the
verifier here is a fake that takes a role's name for a token; the Keycloak fuzz test sends real tokens) and
`positive_data_acceptance` (a request the schema allows may still break a rule — R8's caps, a description too
short —, answered 422 by design). With real tokens on the real Keycloak: tests/integration/test_api_fuzz.py."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from provisioning.api import create_app
from provisioning.services import CAF_ADMIN, DELEGATE, PARTNER_ADMIN, Actor
from tests.support import pdf_media  # noqa: F401 (issue 31: bodies for application/pdf)
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
NOT_HERE = [ignored_auth, positive_data_acceptance]


def test_every_answer_of_every_operation_is_in_the_document(use_case_store):
    svc = make_service(use_case_store)
    data = example_data()
    second_partner(data)
    svc.import_registry(NATIONAL, registry(data))
    app = create_app(svc, Verifier(ACTORS), Verifier(ACTORS))
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    seen: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30

    for operation, mode in [(op, mode) for op in operations for mode in GenerationMode]:
        @given(case=operation.as_strategy(generation_mode=mode))
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
                    case.validate_response(response, excluded_checks=NOT_HERE)
        try:
            each_caller()
        except Unsatisfiable:  # an operation without parameters or body: there is no invalid request to send
            assert mode is GenerationMode.NEGATIVE
    assert {200, 401, 403, 404} <= set(seen) and (seen.get(400, 0) + seen.get(422, 0)) > 0, seen
