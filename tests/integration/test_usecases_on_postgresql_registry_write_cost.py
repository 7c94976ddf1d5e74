"""tests/store/test_registry_write_cost.py again, on a real PostgreSQL server (two partners writing the same
person at once: the unique index, not a lock of the whole table, decides)."""

from tests.integration.usecases_pg import use_case_engine, use_case_store  # noqa: F401 (override the unit ones)
from tests.store.test_registry_write_cost import *  # noqa: F403 (the same tests, collected here)
