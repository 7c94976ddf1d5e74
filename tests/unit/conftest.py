"""The store the use-case tests run on: SQLite here; tests/integration reruns them on PostgreSQL by
overriding this fixture."""

import pytest

from tests.unit.services import sqlite_engine


@pytest.fixture
def use_case_engine(tmp_path):
    engine = sqlite_engine(tmp_path)
    yield engine
    engine.dispose()
