"""Mail leaves outside database transactions, through an outbox: claimed by one sender, capped attempts
with backoff, dead letters listed for the Caf with a resend action; credentials are intents, the provisional
password being set in Keycloak and mailed only when the mail leaves. Regression: with the mail server down,
`apply` created the users and their credential mails were lost for good."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from provisioning.errors import Unavailable
from provisioning.notify.notifier import MemoryNotifier
from provisioning.store import tables as t
from provisioning.store.uow import Outbox, UnitOfWork
from tests.unit.factories import registry
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL


class DownThenUp(MemoryNotifier):
    down: bool = True

    def send(self, recipient, subject, body):
        if self.down:
            raise Unavailable("Serveur de messagerie injoignable (test)")
        super().send(recipient, subject, body)


@pytest.fixture
def svc(use_case_engine):
    return make_service(use_case_engine, DownThenUp())


def rows(svc) -> list:
    with svc.engine.connect() as c:
        return list(c.execute(sa.select(t.outbox).order_by(t.outbox.c.id)))


def test_credentials_wait_for_the_mail_server_and_their_24_hours_start_when_they_leave(svc):
    svc.import_registry(NATIONAL, registry())
    report = svc.reconcile(NATIONAL)
    assert len(report.created_users) == 5
    pending = [r for r in rows(svc) if r.kind == "credentials"]
    assert len(pending) == 5 and all(r.sent_at is None and r.attempts <= 1 for r in pending)
    assert all("Provisoire" not in str(r.payload) and r.body == "" for r in pending)  # no secret stored
    assert not any(svc.fake.passwords.values())  # nobody can log in with a password never mailed

    svc.notifier.down = False
    later = datetime.now(UTC) + timedelta(hours=3)
    svc.now = lambda: later
    with svc.engine.begin() as c:  # the backoff has passed
        c.execute(sa.update(t.outbox).values(next_attempt_at=None))
    svc.deliver_notifications()
    lea = [m for m in svc.notifier.sent if m[0] == "lea.petit@hirondelles.example"]
    assert [("identifiant" in s, "mot de passe" in s) for _, s, _ in lea] == [(True, False), (False, True)]
    password = svc.fake.passwords["lea.petit"]
    assert password and password in lea[1][2] and "lea.petit" not in lea[1][2].replace("Léa Petit", "")
    assert svc.fake.deadlines["lea.petit"] == int(later.timestamp()) + 24 * 3600  # from the sending time
    assert all(r.sent_at for r in rows(svc))


def test_a_mail_server_that_stays_down_makes_dead_letters_the_caf_can_resend(svc):
    with UnitOfWork(svc.engine) as uow:
        uow.outbox.put("habilitations@caf75.example", "rapport", "corps", caf="751")
        uow.commit()
    for attempt in range(1, Outbox.MAX_ATTEMPTS + 1):
        with svc.engine.begin() as c:
            c.execute(sa.update(t.outbox).values(next_attempt_at=None))
        assert svc.deliver_notifications() == 0
        [row] = rows(svc)
        assert row.attempts == attempt
    assert row.dead_at is not None and row.next_attempt_at is None
    assert svc.deliver_notifications() == 0 and rows(svc)[0].attempts == Outbox.MAX_ATTEMPTS  # no more tries
    with UnitOfWork(svc.engine) as uow:
        [dead] = uow.outbox.list(caf="751", dead=True)
        assert dead["state"] == "dead" and dead["state_label"] == "en échec définitif" and "injoignable" in dead["error"]
        assert uow.outbox.list(caf="692", dead=True) == []
        assert uow.outbox.resend(dead["id"], caf="692") is False  # not that Caf's
        assert uow.outbox.resend(dead["id"], caf="751") is True
        uow.commit()
    svc.notifier.down = False
    assert svc.deliver_notifications() == 1


def test_backoff_grows_and_a_down_server_costs_one_attempt_not_one_per_mail(svc):
    with UnitOfWork(svc.engine) as uow:
        for i in range(3):
            uow.outbox.put(f"x{i}@caf75.example", "rapport", "corps", caf="751")
        uow.commit()
    svc.deliver_notifications()
    first, second, third = rows(svc)
    assert first.attempts == 1 and second.attempts == third.attempts == 0  # released, not counted
    assert second.claimed_by is None and third.claimed_by is None
    assert svc.deliver_notifications() == 0 and rows(svc)[0].attempts == 1  # not due yet: backoff
    delay = rows(svc)[0].next_attempt_at
    assert delay is not None


def test_a_claimed_row_is_sent_by_one_sender_only(svc):
    with UnitOfWork(svc.engine) as uow:
        uow.outbox.put("a@caf75.example", "rapport", "corps", caf="751")
        uow.commit()
    with UnitOfWork(svc.engine) as first:
        token, taken = first.outbox.claim()
        first.commit()
    with UnitOfWork(svc.engine) as second:
        assert second.outbox.claim()[1] == []
    with UnitOfWork(svc.engine) as first:
        first.outbox.sent(taken[0].id, token)
        first.commit()
    assert rows(svc)[0].sent_at is not None


def test_the_migration_indexes_whose_credentials_wait_and_keeps_those_already_queued(tmp_path):
    """0008: an intent queued before the upgrade is still found (« not queued twice », withdrawn on refusal), and
    the check compares the indexed column, not the JSON of every pending row."""
    from provisioning.store.uow import make_engine, migrate
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    migrate(engine, to="0007")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO outbox (at, recipient, subject, body, kind, payload, attempts) VALUES "
                             "(CURRENT_TIMESTAMP, 'a@x.example', 's', '', 'credentials', :p, 0)"),
                     {"p": '{"username": "ancien.compte", "email": "a@x.example"}'})
    migrate(engine)
    with UnitOfWork(engine) as uow:
        assert uow.outbox.credentials_pending("ancien.compte")
        assert not uow.outbox.credentials_pending("autre.compte")
        pending = uow.conn.execute(sa.select(sa.text("id")).select_from(sa.text("outbox"))
                                   .where(sa.text("username = 'ancien.compte'"))).scalar_one()
        uow.outbox.withdraw(pending)
        assert not uow.outbox.credentials_pending("ancien.compte")
    assert "ix_outbox_username" in {i["name"] for i in sa.inspect(engine).get_indexes("outbox")}


@pytest.mark.parametrize("msg_id", [0, -1, 2**63, 10**30])
def test_resending_a_mail_number_beyond_the_databases_integers_is_not_found(svc, msg_id):
    """Issue 26: `resend` with an id ≥ 2^63 answered 500 (the database's integer overflowed)."""
    from provisioning.errors import NotFound
    with pytest.raises(NotFound):
        svc.resend_notification(NATIONAL, msg_id)


def test_a_mail_waiting_behind_a_hundred_newer_sent_ones_is_still_listed_as_waiting(svc, capsys, monkeypatch):
    """Found by the one-writer benchmark: `mcp-provisioning outbox` took the newest 100 rows, then kept the
    unsent ones — with 154 new people, the last codes still waiting were not listed and the outbox looked empty."""
    from provisioning import cli
    from provisioning.store.uow import UnitOfWork
    with UnitOfWork(svc.engine) as uow:
        uow.outbox.put("attend@x.example", "en attente", "corps", caf="751")
        for i in range(120):
            uow.outbox.put(f"envoye{i}@x.example", "envoyé", "corps", caf="751")
        uow.commit()
    with UnitOfWork(svc.engine) as uow:
        token, rows = uow.outbox.claim(200)
        for r in rows:
            if r.recipient != "attend@x.example":
                uow.outbox.sent(r.id, token)
        uow.outbox.release(token)
        uow.commit()
    monkeypatch.setattr(cli, "_service", lambda: svc)
    assert cli.main(["outbox", "--json"]) == 0
    waiting = json.loads(capsys.readouterr().out)
    assert [w["recipient"] for w in waiting] == ["attend@x.example"]


def test_a_claim_takes_at_most_its_limit_on_every_database(use_case_engine):
    """On PostgreSQL `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` claimed every due row
    (a claim of 2 took 3: the planner re-ran the subquery, which passed over the rows just updated as locked).
    A sender, or the reconcile worker, holding more than it asked for starves the others — the worker's
    `claim(1)` expects one request."""
    from provisioning.store.uow import UnitOfWork
    with UnitOfWork(use_case_engine) as uow:
        for i in range(5):
            uow.outbox.put(f"p{i}@x.example", "sujet", "corps")
            uow.reconcile.request(f"k{i}")
        uow.commit()
    taken, keys = [], []
    for _ in range(4):
        with UnitOfWork(use_case_engine) as uow:
            taken.append(len(uow.outbox.claim(limit=2)[1]))
            keys.append([r.key for r in uow.reconcile.claim(1)[1]])
            uow.commit()
    assert taken == [2, 2, 1, 0]
    assert [len(k) for k in keys] == [1, 1, 1, 1] and len({k[0] for k in keys}) == 4
