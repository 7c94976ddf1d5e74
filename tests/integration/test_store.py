"""The store on SQLite and on a real PostgreSQL server: same code, only the URL differs."""

import pytest
import sqlalchemy as sa

from provisioning.desired_file import partner_to_dict
from provisioning.domain.model import User
from provisioning.errors import Conflict, ValidationFailed
from provisioning.store.uow import UnitOfWork
from tests.unit.factories import example_data, registry, second_partner


def put(uow, reg) -> None:
    for c in reg.cafs:
        uow.registry.save_caf(c)
    for p in reg.partners:
        uow.registry.save_partner(p)
    uow.registry.save_settings(reg.settings)


def test_registry_round_trips(engine):
    reg = registry()
    with UnitOfWork(engine) as uow:
        put(uow, reg)
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
        put(uow, reg)
        uow.commit()
    b = reg.partners[1]
    b.users.append(User("lea.petit", "Léa", "Autre", "autre@x.example"))
    with UnitOfWork(engine) as uow, pytest.raises(ValidationFailed) as refused:
        uow.registry.save_partner(b, 1)
    assert [v.code for v in refused.value.violations] == ["IDENTIFIANT_EN_DOUBLE"]
    assert "Hirondelles" not in str(refused.value)  # the other partner is not named


def test_a_save_from_a_stale_read_is_refused_and_writes_nothing(engine):
    """Two interleaved edits of one partner: the second save, based on the version both read, loses."""
    reg = registry()
    with UnitOfWork(engine) as uow:
        put(uow, reg)
        uow.commit()
    siret = reg.partners[0].siret
    with UnitOfWork(engine) as first, UnitOfWork(engine) as second:
        a, va = first.registry.partner_with_version(siret)
        b, vb = second.registry.partner_with_version(siret)
        a.users.append(User("x.premier", "Xavier", "Premier", "x.premier@x.example"))
        b.users.append(User("y.second", "Yves", "Second", "y.second@x.example"))
        assert first.registry.save_partner(a, va) == va + 1
        first.commit()
        with pytest.raises(Conflict) as lost:
            second.registry.save_partner(b, vb)
    assert lost.value.code == "VERSION_PERIMEE" and lost.value.status == 409
    with UnitOfWork(engine) as uow:
        stored, version = uow.registry.partner_with_version(siret)
    assert version == va + 1
    assert {u.identifiant for u in stored.users} >= {"x.premier"} and stored.user("y.second") is None


def test_uncommitted_work_is_rolled_back(engine):
    with UnitOfWork(engine) as uow:
        put(uow, registry())
        uow.audit.record("x", "import", "partner:1")
        # no commit
    with UnitOfWork(engine) as uow:
        assert uow.registry.load().partners == []
        assert uow.audit.list() == []


def test_audit_log_is_append_only(engine):
    with UnitOfWork(engine) as uow:
        uow.audit.record("caf.admin", "suspend-user", "partner:12345678900015", {"a": 1}, {"a": 2})
        uow.commit()
    for stmt in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as c:
            c.execute(sa.text(stmt))
    with UnitOfWork(engine) as uow:
        [entry] = uow.audit.list()
    assert entry["actor"] == "caf.admin" and entry["changes"] == [{"path": "a", "before": 1, "after": 2}]


def test_two_senders_never_claim_the_same_outbox_row(engine):
    """Concurrent senders on SQLite and on PostgreSQL (FOR UPDATE SKIP LOCKED): each row is claimed once."""
    import threading
    with UnitOfWork(engine) as uow:
        for i in range(60):
            uow.outbox.put(f"x{i}@caf75.example", "rapport", "corps", caf="751")
        uow.commit()
    taken: list[int] = []
    lock = threading.Lock()

    def sender():
        while True:
            with UnitOfWork(engine) as uow:
                token, rows = uow.outbox.claim(limit=7)
                uow.commit()
            if not rows:
                return
            with UnitOfWork(engine) as uow:
                for r in rows:
                    uow.outbox.sent(r.id, token)
                uow.commit()
            with lock:
                taken.extend(r.id for r in rows)

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert sorted(taken) == sorted(set(taken)) and len(taken) == 60
