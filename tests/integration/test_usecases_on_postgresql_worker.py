"""tests/unit/test_worker.py again, on a real PostgreSQL server (issue 9: use-case tests that touch the store
run on SQLite and on PostgreSQL)."""

import pytest

from tests.integration.conftest import fresh_engine
from tests.unit.test_worker import *  # noqa: F401,F403 (the same tests, collected here)


@pytest.fixture
def use_case_engine(tmp_path, postgres_url):
    engine = fresh_engine("postgresql", tmp_path, lambda: postgres_url)
    yield engine
    engine.dispose()
