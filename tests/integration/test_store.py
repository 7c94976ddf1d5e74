"""The store on SQLite and on a real PostgreSQL server: same code, only the URL differs."""

import pytest
import sqlalchemy as sa

from provisioning.desired_file import partner_to_dict
from provisioning.domain.model import User
from provisioning.errors import Conflict
from provisioning.store.uow import UnitOfWork
from tests.unit.factories import example_data, registry, second_partner


def test_registry_round_trips(engine):
    reg = registry()
    with UnitOfWork(engine) as uow:
        uow.registry.replace_all(reg)
        uow.commit()
    with UnitOfWork(engine) as uow:
        back = uow.registry.load()
    assert [partner_to_dict(p) for p in back.partners] == [partner_to_dict(p) for p in reg.partners]
    assert back.settings == reg.settings and back.cafs == reg.cafs


def test_an_identifiant_cannot_belong_to_two_partners(engine):
    data = example_data()
    second_partner(data)
    reg = registry(data)
    with UnitOfWork(engine) as uow:
        uow.registry.replace_all(reg)
        uow.commit()
    b = reg.partners[1]
    b.users.append(User("lea.petit", "Léa", "Autre", "autre@x.example"))
    with UnitOfWork(engine) as uow, pytest.raises(Conflict):
        uow.registry.save_partner(b)


def test_uncommitted_work_is_rolled_back(engine):
    with UnitOfWork(engine) as uow:
        uow.registry.replace_all(registry())
        uow.audit.record("x", "import", "partner:1")
        # no commit
    with UnitOfWork(engine) as uow:
        assert uow.registry.load().partners == []
        assert uow.audit.list() == []


def test_audit_log_is_append_only(engine):
    with UnitOfWork(engine) as uow:
        uow.audit.record("caf.admin", "suspend-user", "partner:12345678900017", {"a": 1}, {"a": 2})
        uow.commit()
    for stmt in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as c:
                c.execute(sa.text(stmt))
    with UnitOfWork(engine) as uow:
        [entry] = uow.audit.list()
    assert entry["actor"] == "caf.admin" and entry["before"] == {"a": 1} and entry["after"] == {"a": 2}
