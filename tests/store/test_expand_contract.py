"""Issue 30 §4, expand/contract: this code, on a registry its successor migrated while it still runs. An *expand*
migration (a column added) admits it: it starts, reads and writes; a *contract* (the column dropped, the release
after) admits it no more: it refuses to start, saying why. An older schema is refused as before."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from provisioning.store import tables as t
from provisioning.store.uow import (
    SchemaNotCurrent,
    UnitOfWork,
    head_revision,
    make_engine,
    migrate,
    require_current_schema,
)
from tests.support import future_migration


def test_this_code_starts_on_its_successors_expanded_schema_and_works(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.sqlite'}")
    migrate(engine)
    future_migration.write(tmp_path / "next", "9001", "expand")
    future_migration.upgrade(engine, tmp_path / "next", "9001")
    with engine.connect() as c:
        assert {head_revision(), "9001"} <= set(c.execute(sa.select(t.schema_compat.c.revision)).scalars())
    require_current_schema(engine)  # no refusal: an instance of this version may (re)start mid-upgrade
    with UnitOfWork(engine) as uow:  # and it reads and writes: it names its own columns only
        uow.audit.record("old-version", "x", "o")
        uow.reconcile.request("12345678900015")
        uow.commit()
    with UnitOfWork(engine) as uow:
        assert uow.audit.list()[0]["actor"] == "old-version"
    future_migration.downgrade(engine, tmp_path / "next", head_revision())  # the way back, before any contract
    with engine.connect() as c:
        admitted = set(c.execute(sa.select(t.schema_compat.c.revision)).scalars())
    assert head_revision() in admitted and "9001" not in admitted
    require_current_schema(engine)


def test_a_contract_of_the_next_version_refuses_this_one_saying_why(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.sqlite'}")
    migrate(engine)
    future_migration.write(tmp_path / "next", "9001", "expand")
    future_migration.write(tmp_path / "next", "9002", "contract", down="9001")
    future_migration.upgrade(engine, tmp_path / "next", "9002")
    with pytest.raises(SchemaNotCurrent) as refused:
        require_current_schema(engine)
    assert refused.value.code == "SCHEMA_NON_A_JOUR" and "9002" in str(refused.value) \
        and "plus récente" in str(refused.value) and head_revision() in str(refused.value)


def test_an_older_schema_is_still_refused(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'r.sqlite'}")
    migrate(engine, to="0014")
    with pytest.raises(SchemaNotCurrent) as refused:
        require_current_schema(engine)
    assert "mcp-provisioning migrate" in str(refused.value)


def test_an_older_versions_migrate_on_a_newer_base_changes_nothing_and_says_why(tmp_path):
    """A deployment gone wrong (the previous version's `migrate` after the next one's): a clear refusal, the base
    as it was, instead of Alembic's « Can't locate revision »."""
    from provisioning.errors import ProvisioningError
    from provisioning.store.uow import schema_revision
    engine = make_engine(f"sqlite:///{tmp_path / 'r.sqlite'}")
    migrate(engine)
    future_migration.write(tmp_path / "next", "9001", "expand")
    future_migration.upgrade(engine, tmp_path / "next", "9001")
    with pytest.raises(ProvisioningError) as refused:
        migrate(engine)
    assert refused.value.code == "SCHEMA_PLUS_RECENT" and "9001" in str(refused.value)
    assert schema_revision(engine) == "9001"
