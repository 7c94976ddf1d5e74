"""Issue 25: one writer per partner. Whoever writes to Keycloak for a partner — the worker, the CLI's `apply` —
does it under that partner's claim (and the realm's, "*", for what partners share); the other waits its turn
or, past its wait, is refused before writing anything."""

from __future__ import annotations

import pytest

from provisioning.reconcile.worker import run_once
from provisioning.store.uow import ClaimBusy, UnitOfWork, holding
from provisioning.usecases import desired_state as files
from tests.unit.factories import example_data, registry, second_partner
from tests.unit.services import make_service, reconciled_service
from tests.unit.test_desired_state_files import NATIONAL

A, B = "12345678900015", "98765432100015"


@pytest.fixture
def svc(use_case_engine):
    return reconciled_service(use_case_engine)


def _hand_over_and_deliver(svc, holder: str) -> None:
    """The other writer gives the partner back; the waiting codes are due at once and leave."""
    import sqlalchemy as sa

    from provisioning.store import tables as t
    with UnitOfWork(svc.engine) as uow:
        uow.reconcile.let_go(holder)
        uow.commit()
    with svc.engine.begin() as c:
        c.execute(sa.update(t.outbox).values(next_attempt_at=None))
    svc.deliver_notifications()


def _with_b():
    d = example_data()
    second_partner(d)
    return registry(d)


def test_apply_holds_the_claims_of_what_it_changes_while_it_writes(svc):
    p = files.plan_file(svc, NATIONAL, _with_b())
    assert files.claim_keys(p) == ["*", B]
    seen = []
    create = svc.fake.create_user

    def worker_tries_meanwhile(spec, password, expires_at=None, **more):
        with UnitOfWork(svc.engine) as uow:  # what the worker does on each round
            _, claimed = uow.reconcile.claim(key=B)
            uow.commit()
        seen.append(bool(claimed))
        return create(spec, password, expires_at, **more)
    svc.fake.create_user = worker_tries_meanwhile
    files.apply_plan(svc, NATIONAL, p)
    assert seen and not any(seen), "the worker never got partner B while `apply` wrote it"
    svc.fake.create_user = create
    assert run_once(svc) == 1  # afterwards, B's request (made by the store) is the worker's again: a no-op
    assert files.plan_file(svc, NATIONAL, _with_b()).empty


def test_apply_waits_for_the_worker_then_is_refused_having_written_nothing(svc):
    p = files.plan_file(svc, NATIONAL, _with_b())
    calls, versions = len(svc.fake.calls), _versions(svc)
    with holding(svc.uow, [B]):  # the worker (or another apply) is writing partner B
        with pytest.raises(ClaimBusy) as e, holding(svc.uow, files.claim_keys(p), wait=0.5):
            raise AssertionError("never reached")
        assert e.value.code == "OCCUPE" and "98765432100015" in e.value.description
        with pytest.raises(ClaimBusy):
            files.apply_plan(svc, NATIONAL, p, claim_wait=0.5)
    assert len(svc.fake.calls) == calls and _versions(svc) == versions, "nothing written, anywhere"
    files.apply_plan(svc, NATIONAL, p)  # once free, it goes through
    assert "b.lea.petit" in svc.fake.state.users


def test_the_worker_does_not_take_a_partner_someone_holds(svc):
    svc.suspend_user(NATIONAL, A, "paul.bernard", True)
    with holding(svc.uow, [A]):
        assert run_once(svc) == 0
        assert svc.fake.state.users["paul.bernard"].enabled
    assert run_once(svc) == 1
    assert not svc.fake.state.users["paul.bernard"].enabled


def _versions(svc):
    with UnitOfWork(svc.engine) as uow:
        return uow.registry.versions()


def test_codes_leave_under_the_partners_claim_and_wait_while_someone_else_writes_it(use_case_engine):
    """Credential delivery writes to Keycloak (a provisional password): it takes the person's partner claim,
    or runs under the reconcile's own claim when that reconcile created her."""
    import sqlalchemy as sa

    from provisioning.store import tables as t
    from tests.store.test_credentials_at_sending import SwitchableNotifier
    s = make_service(use_case_engine, SwitchableNotifier(down=True), reconcile_mode="worker")
    s.import_registry(NATIONAL, registry())
    run_once(s)  # created under the worker's claim; the mail server is down: the codes wait
    s.notifier.down = False
    with s.engine.begin() as c:
        c.execute(sa.update(t.outbox).values(next_attempt_at=None))
    with UnitOfWork(s.engine) as uow:  # another process (the worker, an `apply`) is writing partner A
        assert uow.reconcile.hold(A, "another-process")
        uow.commit()
    s.deliver_notifications()
    assert not [m for m in s.notifier.sent if "lea.petit" in m[0]], "not while someone else writes partner A"
    with s.engine.connect() as c:
        row = c.execute(sa.select(t.outbox).where(t.outbox.c.username == "lea.petit")).one()
    assert row.attempts == 0 and row.sent_at is None and row.next_attempt_at is not None
    _hand_over_and_deliver(s, "another-process")
    assert len([m for m in s.notifier.sent if m[0] == "lea.petit@hirondelles.example"]) == 2


def test_a_reissue_meeting_a_busy_partner_is_not_refused_after_storing_and_its_codes_follow(svc):
    """Found by the simulation (issue 25 §8): a worker that died mid-reconcile left partner A's claim held; a
    re-issue then stored the unlock and its journal line, and only then answered 409 OCCUPE — a refusal that
    had written. Now the re-issue succeeds; the old password dies with the delivery of the new one, under the
    claim, once the other writer is gone."""

    svc.REISSUE_CLAIM_WAIT = 0.0
    svc.deliver_notifications()
    with UnitOfWork(svc.engine) as uow:  # the dead worker's claim, not expired yet
        assert uow.reconcile.hold(A, "dead-worker")
        uow.commit()
    old = svc.fake.passwords["lea.petit"]
    svc.reissue_credentials(NATIONAL, A, "lea.petit")  # no OCCUPE
    assert svc.fake.passwords["lea.petit"] == old, "not while another holds partner A"
    _hand_over_and_deliver(svc, "dead-worker")
    mailed = svc.notifier.sent[-1]
    assert mailed[0] == "lea.petit@hirondelles.example" and svc.fake.passwords["lea.petit"] in mailed[2]
    assert old in svc.fake.history["lea.petit"]  # replaced, remembered by the password history


def test_a_full_reconcile_takes_every_partners_claim_or_waits(svc):
    """Issue 25: a full reconcile (`*`) writes every partner; it wrote them under the realm's claim only, so
    beside an `apply` holding one partner. Now it holds every partner's claim (one statement) or waits."""
    from datetime import timedelta

    from provisioning.store import uow as uow_module
    svc.fake.state.users["lea.petit"] = __import__("dataclasses").replace(svc.fake.state.users["lea.petit"],
                                                                          enabled=False)  # drift to correct
    with UnitOfWork(svc.engine) as uow:
        assert uow.reconcile.hold(A, "apply-elsewhere")
        uow.reconcile.request("*")
        uow.commit()
    assert run_once(svc) == 1
    assert not svc.fake.state.users["lea.petit"].enabled, "not while another writer holds partner A"
    assert svc.reconcile_state("*")["state"] == "failed" and "attend son tour" in svc.reconcile_state("*")["reason"]
    with UnitOfWork(svc.engine) as uow:
        assert uow.reconcile.holds(A, "apply-elsewhere")  # what it could not take, it did not keep either
        uow.reconcile.let_go("apply-elsewhere")
        uow.commit()
    real_now = uow_module.now
    uow_module.now = lambda: real_now() + timedelta(seconds=10)  # past its backoff
    try:
        while run_once(svc):
            pass
    finally:
        uow_module.now = real_now
    assert svc.fake.state.users["lea.petit"].enabled and svc.reconcile_state("*")["state"] == "applied"
    with UnitOfWork(svc.engine) as uow:
        assert uow.reconcile.hold(A, "next-writer")  # given back
        uow.commit()
