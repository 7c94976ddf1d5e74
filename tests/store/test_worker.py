"""The reconcile worker: a change writes its reconcile request in the same transaction; the worker takes
requests by partner, records appliqué or en échec with the reason, retries with capped backoff, and a request
made while one runs is not lost."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from provisioning.errors import Unavailable
from provisioning.reconcile.worker import run_once
from provisioning.store import tables as t
from provisioning.store.uow import UnitOfWork
from tests.unit.factories import registry
from tests.unit.services import make_service, reconciled_service
from tests.unit.test_desired_state_files import NATIONAL

A = "12345678900015"


@pytest.fixture
def svc(use_case_engine):
    return reconciled_service(use_case_engine)


def due_now(svc):
    with svc.engine.begin() as c:
        c.execute(sa.update(t.reconcile_requests).values(next_attempt_at=None))


def test_a_change_answers_once_stored_and_the_worker_applies_it(svc):
    assert svc.reconcile_state(A)["state"] == "applied"  # the import's request, done by the worker
    calls = len(svc.fake.calls)
    r = svc.suspend_user(NATIONAL, A, "paul.bernard", True)
    assert r.reconcile_state["state"] == "pending" and len(svc.fake.calls) == calls  # Keycloak untouched
    assert svc.fake.state.users["paul.bernard"].enabled
    assert run_once(svc) == 1
    assert svc.reconcile_state(A)["state"] == "applied"
    assert not svc.fake.state.users["paul.bernard"].enabled
    assert run_once(svc) == 0  # nothing left


def test_keycloak_down_is_retried_with_backoff_and_then_converges(svc):
    svc.suspend_user(NATIONAL, A, "paul.bernard", True)
    observe = svc.fake.observe

    def down(scope=None):
        raise Unavailable("Keycloak injoignable (test)")
    svc.fake.observe = down
    run_once(svc)
    state = svc.reconcile_state(A)
    assert state["state"] == "failed" and "injoignable" in state["reason"] and state["attempts"] == 1
    assert run_once(svc) == 0  # not due again before its backoff
    due_now(svc)
    run_once(svc)
    assert svc.reconcile_state(A)["attempts"] == 2
    svc.fake.observe = observe
    due_now(svc)
    run_once(svc)
    assert svc.reconcile_state(A) == {**svc.reconcile_state(A), "state": "applied", "attempts": 0, "reason": None}
    assert not svc.fake.state.users["paul.bernard"].enabled


def test_a_refused_object_is_reported_with_its_reason_and_the_rest_is_applied(svc):
    from provisioning.domain.model import User
    svc.fake.hand_add_user("pris.ailleurs", email="x@ailleurs.example")
    svc.fake.unmanaged_account = lambda username, email: None  # as if created between the check and the worker
    svc.create_user(NATIONAL, A, User("pris.ailleurs", "Pris", "Ailleurs", "pris@x.example"))
    svc.suspend_user(NATIONAL, A, "paul.bernard", True)
    run_once(svc)
    state = svc.reconcile_state(A)
    assert state["state"] == "needs_attention" and "pris.ailleurs" in state["reason"]
    assert not svc.fake.state.users["paul.bernard"].enabled  # the suspension did not wait


def test_a_terminal_refusal_stops_retrying_until_the_registry_changes(svc):
    """Issue 25 §5: measured before, a conflict with an account we do not manage was retried every 5 minutes
    forever. Only refusals (nothing retryable): « à traiter », not due any more, whatever the time; the next
    change of the partner asks again."""
    from datetime import timedelta

    from provisioning.domain.model import User
    from provisioning.store import uow as uow_module
    svc.fake.hand_add_user("pris.ailleurs", email="x@ailleurs.example")
    svc.fake.unmanaged_account = lambda username, email: None
    svc.create_user(NATIONAL, A, User("pris.ailleurs", "Pris", "Ailleurs", "pris@x.example"))
    run_once(svc)
    assert svc.reconcile_state(A)["state"] == "needs_attention"
    real_now = uow_module.now
    uow_module.now = lambda: real_now() + timedelta(days=1)
    try:
        calls = len(svc.fake.calls)
        assert run_once(svc) == 0 and len(svc.fake.calls) == calls  # not retried a day later
    finally:
        uow_module.now = real_now
    svc.suspend_user(NATIONAL, A, "paul.bernard", True)  # a change: asked again, still to handle
    assert run_once(svc) == 1 and svc.reconcile_state(A)["state"] == "needs_attention"
    assert not svc.fake.state.users["paul.bernard"].enabled


def test_keycloak_refusing_a_value_is_terminal_and_a_5xx_is_retried():
    """The gateway's classification: 400/403/409/422 will be refused again; 5xx and no answer may pass later."""
    from keycloak.exceptions import KeycloakError

    from provisioning.errors import KeycloakRefused, Transient, Unavailable
    from provisioning.keycloak.gateway import KeycloakGateway

    def failing(code):
        def fn():
            raise KeycloakError(error_message="refusé", response_code=code)
        return fn
    gw = KeycloakGateway.__new__(KeycloakGateway)
    gw._client_ids, gw._roles = {}, {}
    for code, kind, retryable in ((400, KeycloakRefused, False), (403, KeycloakRefused, False),
                                  (409, KeycloakRefused, False), (500, Transient, True), (503, Transient, True),
                                  (None, Unavailable, True), (404, Transient, True)):
        with pytest.raises(kind) as e:
            gw._call("test", failing(code))
        assert e.value.retryable is retryable, code


def test_a_request_made_while_the_worker_runs_is_not_lost(svc):
    svc.suspend_user(NATIONAL, A, "paul.bernard", True)
    with UnitOfWork(svc.engine) as uow:
        token, [req] = uow.reconcile.claim()
        uow.commit()
    svc.suspend_user(NATIONAL, A, "lea.petit", True)  # a second change while the first run is under way
    with UnitOfWork(svc.engine) as uow:
        uow.reconcile.finish(req, token, error=None, failures=[])
        uow.commit()
    assert svc.reconcile_state(A)["state"] == "pending"
    assert run_once(svc) == 1
    assert not svc.fake.state.users["lea.petit"].enabled and svc.reconcile_state(A)["state"] == "applied"


def test_two_workers_never_take_the_same_request(svc):
    svc.suspend_user(NATIONAL, A, "paul.bernard", True)
    with UnitOfWork(svc.engine) as one:
        _, taken = one.reconcile.claim()
        one.commit()
    with UnitOfWork(svc.engine) as two:
        assert two.reconcile.claim()[1] == []
    assert [r.key for r in taken] == [A]


def test_a_killed_workers_request_is_taken_over_once_its_claim_lapses_but_never_while_it_runs(svc, monkeypatch):
    import time

    from provisioning.store.uow import ReconcileRequests, renewing
    monkeypatch.setattr(ReconcileRequests, "CLAIM_SECONDS", 1)
    svc.suspend_user(NATIONAL, A, "paul.bernard", True)
    with UnitOfWork(svc.engine) as uow:
        token, [req] = uow.reconcile.claim(1)
        uow.commit()
    with renewing(svc.uow, token):  # alive and working: its claim is renewed
        time.sleep(1.6)
        assert run_once(svc) == 0
    time.sleep(1.2)  # then it is killed (no finish): the claim lapses
    assert run_once(svc) == 1
    assert svc.reconcile_state(A)["state"] == "applied" and not svc.fake.state.users["paul.bernard"].enabled


def test_a_caf_change_from_a_file_is_reconciled_by_the_worker_too(tmp_path):
    """Found by the SIGKILL benchmark: a file import changed a Caf's administrators and no request covered
    them (requests were per partner), so the worker never created caf.admin."""
    from tests.unit.services import make_service, sqlite_engine
    s = make_service(sqlite_engine(tmp_path), reconcile_mode="worker")
    s.import_registry(NATIONAL, registry())
    while run_once(s):
        pass
    assert "caf.admin" in s.fake.state.users and s.plan() == []


def test_a_run_killed_right_after_keycloak_created_a_user_leaves_that_user_in_the_audit_trail(tmp_path):
    """Found by the SIGKILL benchmark: the audit row was written after the change, so a worker killed between
    the two left a user in Keycloak that the trail did not list. The intent is now written first."""
    from tests.unit.services import make_service, sqlite_engine
    s = make_service(sqlite_engine(tmp_path), reconcile_mode="worker")
    s.import_registry(NATIONAL, registry())
    real = s.fake.create_user

    def dies_after_creating(spec, password, expires_at=None, **more):
        real(spec, password, expires_at, **more)
        raise SystemExit("killed")  # the process dies: nothing after this line runs
    s.fake.create_user = dies_after_creating
    with pytest.raises(SystemExit):
        run_once(s)
    created = list(s.fake.state.users)  # users are created a few at a time: each may have got through
    assert created
    intents = {e["object"] for e in s.audit(NATIONAL) if e["action"] == "keycloak:create:user"}
    assert set(created) <= intents


def _credentials_rows(s) -> list[str]:
    with s.engine.connect() as c:
        return [r.payload["username"] for r in c.execute(sa.select(t.outbox.c.payload).where(
            t.outbox.c.kind == "credentials"))]


def test_a_run_killed_right_after_a_creation_still_sends_that_persons_codes_once(tmp_path):
    """Found by the issue-14 failover test (3 of 150 people never got their codes): the credentials intent was
    written after Keycloak created the account, so a worker killed in between left an account nobody could
    enter, which the next run, seeing it exists, did not create again. The intent now goes with the creation's."""
    from tests.unit.services import make_service, sqlite_engine
    s = make_service(sqlite_engine(tmp_path), reconcile_mode="worker")
    s.import_registry(NATIONAL, registry())
    real = s.fake.create_user

    def dies_after_creating(spec, password, expires_at=None, **more):
        real(spec, password, expires_at, **more)
        raise SystemExit("killed")
    s.fake.create_user = dies_after_creating
    with pytest.raises(SystemExit):
        run_once(s)
    created = set(s.fake.state.users)
    assert created and created <= set(_credentials_rows(s))
    s.fake.create_user = real
    with s.engine.begin() as c:  # the dead worker's claim lapses
        c.execute(sa.update(t.reconcile_requests).values(claimed_until=None, claimed_by=None, next_attempt_at=None))
    run_once(s)
    s.deliver_notifications()
    rows = _credentials_rows(s)
    assert len(rows) == len(set(rows)) and set(rows) == set(s.fake.state.users), "everyone's codes, once"
    assert set(s.fake.passwords) >= created, "each of them got a provisional password, set as the mail left"


def test_a_refused_creation_withdraws_its_codes_and_codes_never_reach_an_account_we_did_not_create(svc):
    from tests.unit.factories import add_user, example_data
    data = example_data()
    add_user(data, "nina.refus")
    svc.fake.fail_on = "create_user"
    svc.import_registry(NATIONAL, registry(data))
    run_once(svc)
    assert "nina.refus" not in svc.fake.state.users and "nina.refus" not in _credentials_rows(svc)
    svc.fake.fail_on = None
    from provisioning.reconcile.state import UserSpec
    # a person of the registry whose identifiant Keycloak already gives to an account we did not create
    svc.fake.state.users["nina.refus"] = UserSpec("nina.refus", "I", "N", "intrus@x.example", id="id-intrus",
                                                  managed=False)
    svc._queue_credentials(UserSpec("nina.refus", "I", "N", "nina.refus@example.fr"))
    svc.deliver_notifications()
    assert "nina.refus" not in svc.fake.passwords, "an unmanaged account's password is never set"
    with svc.engine.connect() as c:
        error = c.execute(sa.select(t.outbox.c.error).where(t.outbox.c.kind == "credentials",
                                                           t.outbox.c.username == "nina.refus")).scalar()
    assert "n'est pas géré" in error
    # someone the registry does not know (any more): the intent is dropped, said in the journal, nothing set
    svc.fake.state.users["intrus"] = UserSpec("intrus", "I", "N", "intrus@x.example", id="id-intrus2", managed=True)
    svc._queue_credentials(UserSpec("intrus", "I", "N", "intrus@x.example"))
    svc.deliver_notifications()
    assert "intrus" not in svc.fake.passwords and "intrus" not in _credentials_rows(svc)
    assert any(e["action"] == "credentials-withdrawn" and e["object"] == "intrus"
               for e in svc.audit(NATIONAL, limit=20))


def test_a_refused_change_is_audited_as_intended_then_failed(svc):
    svc.fake.fail_on = "set_enabled"
    svc.suspend_user(NATIONAL, A, "paul.bernard", True)
    run_once(svc)
    trail = [(e["action"], e["object"]) for e in svc.audit(NATIONAL)]
    assert ("keycloak:disable:user", "paul.bernard") in trail and ("keycloak:echec:disable:user", "paul.bernard") in trail


def test_the_running_worker_sends_mail_that_waited_for_the_mail_server_without_anyone_acting(use_case_engine):
    import threading
    import time

    from provisioning.reconcile.worker import run_forever
    from tests.store.test_outbox import DownThenUp

    s = make_service(use_case_engine, DownThenUp(), reconcile_mode="worker")
    s.import_registry(NATIONAL, registry())
    run_once(s)  # users created; their credential mails wait (the mail server is down)
    assert s.notifier.sent == []
    due_now_outbox = sa.update(t.outbox).values(next_attempt_at=None)
    with s.engine.begin() as c:
        c.execute(due_now_outbox)
    s.notifier.down = False
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(s, 0.05, stop), kwargs={"mail_every": 0.1})
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not s.notifier.sent and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(10)
    assert any("paul.bernard" in body for _to, _subject, body in s.notifier.sent)


def test_an_idle_worker_polls_by_reading_only(svc):
    """Polled twice a second, an idle claim must not take SQLite's write lock (nor touch a row)."""
    with UnitOfWork(svc.engine) as uow:
        before = uow.conn.execute(sa.select(t.reconcile_requests)).all()
        raw = uow.conn.connection.dbapi_connection
        changes = getattr(raw, "total_changes", None)  # SQLite counts every row an UPDATE touched
        _token, due = uow.reconcile.claim(1)
        assert due == [] and uow.outbox.claim()[1] == []
        assert uow.conn.execute(sa.select(t.reconcile_requests)).all() == before
        assert getattr(raw, "total_changes", None) == changes
        if svc.engine.dialect.name == "sqlite":
            assert raw.in_transaction is False  # no write was begun: the write lock was never asked for


def test_a_partner_removed_from_the_registry_leaves_keycloak_through_the_worker(use_case_engine):
    """Found while testing issue 14: the removed partner's request failed « Partenaire inconnu » at every retry
    and its groups, organisation and enabled accounts stayed in Keycloak. Its slice now converges to nothing;
    a person the same file moved to another partner keeps the account (not its sessions)."""
    from tests.unit.factories import example_data, second_partner
    s = make_service(use_case_engine, reconcile_mode="worker")
    data = example_data()
    b = second_partner(data)
    s.import_registry(NATIONAL, registry(data))
    run_once(s)
    assert "b.paul.bernard" in s.fake.state.users and "b.lea.petit" in s.fake.state.users
    data["partners"].remove(b)
    data["partners"][0]["users"].append({"identifiant": "b.lea.petit", "first_name": "Léa", "last_name": "Petit",
                                         "email": "b.lea.petit@hirondelles.example"})
    s.import_registry(NATIONAL, registry(data))
    for key in ("98765432100015", A):  # the removed partner's request first: the worst order for b.lea.petit
        with UnitOfWork(s.engine) as uow:
            token, due = uow.reconcile.claim(1, key=key)
            uow.commit()
        assert due, key
        report = s.reconcile(NATIONAL, partner=key)
        with UnitOfWork(s.engine) as uow:
            uow.reconcile.finish(due[0], token, error=None, failures=[])
            uow.commit()
        assert not report.failed
        if key != A:
            touched = {(c.action, c.target) for c in report.applied}
            assert ("disable", "b.paul.bernard") in touched
            assert not touched & {("disable", "b.lea.petit"), ("delete", "b.lea.petit")}, "the moved person keeps her account"
            assert ("end", "b.lea.petit") in touched  # her tokens still name the partner she left
    assert s.reconcile_state("98765432100015")["state"] == "applied"
    users = s.fake.state.users
    assert not users["b.paul.bernard"].enabled, "a person who left is disabled, as a full reconcile does"
    assert users["b.lea.petit"].enabled and ("partner", A) in users["b.lea.petit"].attributes
    assert not any("98765432100015" in g for g in s.fake.state.groups) and "p-98765432100015" not in s.fake.state.orgs
    assert s.plan() == []


def test_a_hand_edit_in_keycloak_is_corrected_by_the_periodic_resync(svc):
    """Issue 25 §5: measured before, a change made by hand in Keycloak stayed until the partner changed again.
    The resync asks every partner at rest again (once per period, whatever the restarts), one claim at a time;
    a partner « à traiter » is left alone (retrying changes nothing)."""
    from dataclasses import replace
    from datetime import timedelta

    from provisioning.reconcile.worker import resync_if_due
    from provisioning.store import uow as uow_module
    lea = svc.fake.state.users["lea.petit"]
    svc.fake.state.users["lea.petit"] = replace(lea, enabled=False)  # an administrator, by hand
    svc.fake.hand_add_member("paul.bernard", next(iter(svc.fake.state.groups)))
    assert svc.plan()
    assert resync_if_due(svc, every=600) >= 2  # the partner and the realm's shared objects
    assert resync_if_due(svc, every=600) == 0  # once per period
    while run_once(svc):
        pass
    assert svc.fake.state.users["lea.petit"].enabled and svc.plan() == []
    with UnitOfWork(svc.engine) as uow:
        assert uow.reconcile.counts() == {"applied": 2}
    real_now = uow_module.now
    uow_module.now = lambda: real_now() + timedelta(seconds=601)
    try:
        with svc.engine.begin() as c:  # partner A waits for someone: not asked again
            c.execute(sa.text("UPDATE reconcile_requests SET state = 'à traiter' WHERE key = :k"), {"k": A})
        assert resync_if_due(svc, every=600) == 1  # the period passed: the realm's only
    finally:
        uow_module.now = real_now
