"""The fixture that reruns a module of use-case unit tests on a real PostgreSQL server: such a module is
`from tests.unit.<module> import *` plus `from tests.integration.usecases_pg import use_case_engine,
use_case_store` (the in-memory registry's tests, too, run on PostgreSQL there)."""

import pytest

from tests.integration.conftest import fresh_engine


@pytest.fixture
def use_case_engine(tmp_path, postgres_url):
    engine = fresh_engine("postgresql", tmp_path, lambda: postgres_url)
    yield engine
    engine.dispose()


@pytest.fixture
def use_case_store(use_case_engine):
    return use_case_engine
