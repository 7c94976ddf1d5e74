"""tests/store/test_memory_store.py again, on a real PostgreSQL server: the in-memory registry the use-case
tests run on answers as PostgreSQL does, too."""

from tests.integration.usecases_pg import use_case_engine, use_case_store  # noqa: F401 (override the unit ones)
from tests.store.test_memory_store import *  # noqa: F403 (the same tests, collected here)
