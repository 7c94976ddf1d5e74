"""The registries tests run on. `use_case_store`: in memory (provisioning/store/memory.py), for the use
cases; `use_case_engine`: a SQLite file, for the store's own behaviour (queues, claims, statements). The
integration tests rerun modules of both kinds on PostgreSQL by overriding these fixtures
(tests/integration/usecases_pg.py)."""

import pytest

from provisioning.store.memory import MemoryStore
from tests.unit.services import sqlite_engine


@pytest.fixture
def use_case_store():
    return MemoryStore()


@pytest.fixture
def use_case_engine(tmp_path):
    engine = sqlite_engine(tmp_path)
    yield engine
    engine.dispose()
