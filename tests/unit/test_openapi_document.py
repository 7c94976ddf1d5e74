"""Issue 26 §7 (a first step): the OpenAPI document the API serves is valid OpenAPI 3. It was not: summaries
with commas inside YAML flow mappings became stray keys of their operations."""

from __future__ import annotations

from openapi_spec_validator import validate

from provisioning.api import create_app


def test_the_served_openapi_document_validates():
    doc = create_app(None, None).test_client().get("/openapi.json").get_json()
    validate(doc)
    operations = [op for path in doc["paths"].values() for op in path.values() if isinstance(op, dict)]
    assert operations and all(set(op) <= {"summary", "description", "parameters", "requestBody", "responses",
                                          "operationId", "tags", "security"} for op in operations)
