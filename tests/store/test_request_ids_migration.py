"""Migration 0014 (issue 30 §2): the request id columns are added to a registry in use — the rows written before
keep no id (null), the version still running during a rolling upgrade can go on writing without them, and what
is written after carries the id of the request at work. The migrated schema is the one the code declares."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from provisioning import logs
from provisioning.store import tables as t
from provisioning.store.uow import UnitOfWork, make_engine, migrate

AT = datetime(2026, 12, 1, tzinfo=UTC)


def test_rows_from_before_keep_no_id_and_rows_after_carry_the_request_s(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    migrate(engine, to="0013")
    with engine.begin() as conn:
        conn.execute(sa.text("insert into audit_log (at, actor, action, object) values (:at, 'a', 'x', 'o')"),
                     {"at": AT})
        conn.execute(sa.text("insert into outbox (at, recipient, subject, body) values (:at, 'r@x.fr', 's', 'b')"),
                     {"at": AT})
    migrate(engine)
    with engine.begin() as conn:  # the old version, still running: its inserts name none of the new columns
        conn.execute(sa.text("insert into audit_log (at, actor, action, object) values (:at, 'old', 'x', 'o')"),
                     {"at": AT})
    with logs.bound("req-after-0014"), UnitOfWork(engine) as uow:
        uow.audit.record("new", "y", "o")
        uow.outbox.put("r@x.fr", "s", "b")
        uow.reconcile.request("12345678900015")
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert [(e["actor"], e["request_id"]) for e in uow.audit.list()] == [
            ("new", "req-after-0014"), ("old", None), ("a", None)]
        assert [m["request_id"] for m in uow.outbox.list()] == ["req-after-0014", None]
        assert [e["actor"] for e in uow.audit.list(request_id="req-after-0014")] == ["new"]
    with engine.connect() as c:
        assert c.execute(sa.select(t.reconcile_requests.c.request_id)).scalar() == "req-after-0014"


def test_the_migrated_schema_is_the_declared_one(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'head.sqlite'}")
    migrate(engine)
    with engine.connect() as c:
        differences = compare_metadata(MigrationContext.configure(c), t.metadata)
    assert differences == []
