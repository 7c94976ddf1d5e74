"""tests/store/test_leases.py again, on a real PostgreSQL server (concurrent claims of one lease)."""

from tests.integration.usecases_pg import use_case_engine, use_case_store  # noqa: F401 (override the unit ones)
from tests.store.test_leases import *  # noqa: F403 (the same tests, collected here)
