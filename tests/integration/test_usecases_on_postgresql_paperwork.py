"""Issue 31 on a real PostgreSQL server: the documents' versions, PDFs (bytea) and compare-and-set signatures, and
the access requests (JSON documents, their states decided once)."""

from tests.integration.usecases_pg import use_case_engine, use_case_store  # noqa: F401 (override the unit ones)
from tests.unit.test_access_requests import *  # noqa: F403 (the same tests, collected here)
from tests.unit.test_paperwork_usecases import (  # noqa: F401 (the same tests, collected here)
    signatory,
    test_on_a_database_the_same_and_a_stale_signature_is_refused,
)
