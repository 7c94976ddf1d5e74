"""The registry's own behaviour — transactions, claims, queues (outbox, reconcile requests, leases), what SQL
reads and writes, SCIM's filters in SQL, shared sessions — tested on a SQLite file here and rerun on PostgreSQL
by tests/integration/test_usecases_on_postgresql_*.py. The use cases' tests (tests/unit) run on the registry
in memory (provisioning/store/memory.py)."""

import pytest

from tests.unit.services import sqlite_engine


@pytest.fixture
def use_case_engine(tmp_path):
    engine = sqlite_engine(tmp_path)
    yield engine
    engine.dispose()
