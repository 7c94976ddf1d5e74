"""tests/store/test_worker.py again, on a real PostgreSQL server (use-case tests that touch the store run on
SQLite and on PostgreSQL)."""

from tests.integration.usecases_pg import use_case_engine, use_case_store  # noqa: F401 (override the unit ones)
from tests.store.test_worker import *  # noqa: F403 (the same tests, collected here)
