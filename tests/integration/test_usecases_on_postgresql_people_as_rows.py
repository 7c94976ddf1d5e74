"""tests/store/test_people_as_rows.py again, on a real PostgreSQL server (its JSON columns, its bind parameters)."""

from tests.integration.usecases_pg import use_case_engine, use_case_store  # noqa: F401 (override the unit ones)
from tests.store.test_people_as_rows import *  # noqa: F403 (the same tests, collected here)


def test_migration_0017_on_postgresql(postgres_url):
    import sqlalchemy as sa

    from provisioning.store.uow import make_engine
    from tests.store.test_people_as_rows import migration_round_trip
    engine = make_engine(postgres_url)
    with engine.begin() as c:
        c.execute(sa.text("DROP SCHEMA public CASCADE"))
        c.execute(sa.text("CREATE SCHEMA public"))
    migration_round_trip(engine)
    engine.dispose()
