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


def test_instances_starting_together_make_their_tables_once(postgres_url):
    """Found by the cluster's parallel start: eight instances creating their tables at once on PostgreSQL, one
    lost the race (« duplicate key … pg_type ») and did not boot. Each store, AFAS's and CDAP's journals."""
    import threading

    from sso_demo.afas import meta as afas_tables
    from sso_demo.cdap import meta as cdap_tables
    from sso_demo.journal import create_tables
    from sso_demo.sessions import _metadata as session_tables
    engine = sa.create_engine(postgres_url)
    with engine.begin() as c:
        for name in (*session_tables.tables, *afas_tables.tables, *cdap_tables.tables):
            c.execute(sa.text(f"DROP TABLE IF EXISTS {name} CASCADE"))
    start, failed = threading.Barrier(8), []

    def instance(meta: sa.MetaData) -> None:
        own = sa.create_engine(postgres_url)  # each instance its own engine and connections
        start.wait()
        try:
            create_tables(meta, own)
        except Exception as e:  # noqa: BLE001 - the test reports what an instance met
            failed.append(repr(e)[:200])
        own.dispose()

    threads = [threading.Thread(target=instance, args=(m,))
               for m in (session_tables, session_tables, session_tables, afas_tables, afas_tables, cdap_tables,
                         cdap_tables, session_tables)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failed == []
    with engine.connect() as c:
        made = set(sa.inspect(c).get_table_names())
    assert {*session_tables.tables, *afas_tables.tables, *cdap_tables.tables} <= made
    engine.dispose()
