"""Issue 27 §5: the applications' sessions in PostgreSQL cost no database round trip per page, and an instance
never keeps serving a session another instance ended. Two stores on one real PostgreSQL stand for two instances
of an application (the production topology runs two gunicorn instances of each)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from sso_demo.sessions import SqlSessionStore, app_sessions


def _statements(store: SqlSessionStore, work) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)
    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    return len(seen)


def _until(condition, timeout: float = 5.0) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "not within the time allowed"
        time.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
def two_instances(postgres_url):
    a, b = SqlSessionStore(postgres_url, 1800, "portail"), SqlSessionStore(postgres_url, 1800, "portail")
    with a.engine.begin() as c:
        c.execute(sa.delete(app_sessions))
    for store in (a, b):
        _until(store._listener.listening.is_set)
    yield a, b
    a.close()
    b.close()


def _login(store: SqlSessionStore, kc_sid: str = "kc-1", sub: str = "sub-1"):
    return store.create(user={"sub": sub, "username": "jeanne.dupont"}, kc_sid=kc_sid, id_token="i", access_token="a")


def test_a_page_reads_its_session_without_a_round_trip_and_a_touch_still_reaches_the_database(two_instances):
    a, _ = two_instances
    s = _login(a)
    assert a.get(s.id) is not None  # first page: read from the database, then kept
    assert _statements(a, lambda: [a.get(s.id) for _ in range(50)]) == 0
    with a.engine.begin() as c:  # 31 s later by the clock: due for a touch, which the database records
        c.execute(sa.update(app_sessions).where(app_sessions.c.id == s.id).values(last_seen=time.time() - 31))
    a._reset()
    a.get(s.id)
    with a.engine.begin() as c:
        seen = c.execute(sa.select(app_sessions.c.last_seen).where(app_sessions.c.id == s.id)).scalar_one()
    assert time.time() - seen < 5


@pytest.mark.parametrize("ending", ["logout", "back-channel logout by Keycloak session", "back-channel logout by user",
                                    "new tokens"])
def test_what_one_instance_ends_or_changes_the_other_stops_serving_at_once(two_instances, ending):
    a, b = two_instances
    s = _login(a)
    other = _login(a, kc_sid="kc-2", sub="sub-2")
    assert b.get(s.id) is not None and b.get(other.id) is not None  # both cached by instance b
    assert _statements(b, lambda: b.get(s.id)) == 0
    if ending == "logout":
        a.drop(s.id)
    elif ending == "back-channel logout by Keycloak session":
        assert a.drop_kc_session("kc-1") == 1
    elif ending == "back-channel logout by user":
        assert a.drop_kc_session(None, "sub-1") == 1
    else:
        fresh = a.get(s.id)
        fresh.access_token = "refreshed"
        a.save(fresh)
    if ending == "new tokens":
        took = _until(lambda: b.get(s.id).access_token == "refreshed")
    else:
        took = _until(lambda: b.get(s.id) is None)
    assert took < 1.0, took
    assert b.get(other.id) is not None  # the other person's session is untouched


def test_while_the_listener_is_cut_off_every_page_reads_the_database(two_instances, postgres_url):
    """Its connection killed (a PostgreSQL restart, a network cut): what is announced meanwhile is unheard, so
    the cache is emptied and unused until it listens again."""
    a, b = two_instances
    s = _login(a)
    b.get(s.id)
    with a.engine.begin() as c:
        c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"))
    _until(lambda: not b._listener.listening.is_set())
    assert _statements(b, lambda: b.get(s.id)) > 0  # not from memory
    with a.engine.begin() as c:  # an end the cut-off listener cannot hear: seen all the same
        c.execute(sa.delete(app_sessions).where(app_sessions.c.id == s.id))
    assert b.get(s.id) is None
    _until(b._listener.listening.is_set, timeout=10)
    s2 = _login(a)
    b.get(s2.id)
    assert _statements(b, lambda: b.get(s2.id)) == 0  # listening again: pages from memory again
