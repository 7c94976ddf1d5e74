"""tests/store/test_shared_sessions.py again, with the sessions in a real PostgreSQL server (as in production)."""

import pytest
import sqlalchemy as sa

from tests.store.test_shared_sessions import *  # noqa: F403 (the same tests, collected here)


@pytest.fixture
def session_url(postgres_url):
    engine = sa.create_engine(postgres_url)
    with engine.begin() as c:
        c.execute(sa.text("DROP TABLE IF EXISTS app_sessions"))
    engine.dispose()
    return postgres_url
