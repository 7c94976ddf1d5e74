"""tests/store/test_scim_filters_in_sql.py again, on a real PostgreSQL server (its LIKE is case-sensitive and
escapes differently from SQLite's: the index must still select a superset, with the same answers)."""

from tests.integration.usecases_pg import use_case_engine, use_case_store  # noqa: F401 (override the unit ones)
from tests.store.test_scim_filters_in_sql import *  # noqa: F403 (the same tests, collected here)
