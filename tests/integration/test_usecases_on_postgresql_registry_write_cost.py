"""tests/unit/test_registry_write_cost.py again, on a real PostgreSQL server (two partners writing the same
person at once: the unique index, not a lock of the whole table, decides)."""

from tests.integration.usecases_pg import use_case_engine  # noqa: F401 (overrides the SQLite one)
from tests.unit.test_registry_write_cost import *  # noqa: F403 (the same tests, collected here)
