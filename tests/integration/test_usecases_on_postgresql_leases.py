"""tests/unit/test_leases.py again, on a real PostgreSQL server (concurrent claims of one lease)."""

from tests.integration.usecases_pg import use_case_engine  # noqa: F401 (overrides the SQLite one)
from tests.unit.test_leases import *  # noqa: F403 (the same tests, collected here)
