"""tests/store/test_file_plan_observes_its_partners.py again, on a real PostgreSQL server (the index questions a
file's plan asks instead of loading the registry)."""

from tests.integration.usecases_pg import use_case_engine, use_case_store  # noqa: F401 (override the unit ones)
from tests.store.test_file_plan_observes_its_partners import *  # noqa: F403 (the same tests, collected here)
