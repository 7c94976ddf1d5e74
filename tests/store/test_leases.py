"""Issue 14: one active worker among several: a lease taken, renewed, refused to another while valid, taken over
once expired, released on a clean stop."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from provisioning.reconcile.worker import Lease, run_forever
from provisioning.store.uow import UnitOfWork, now


def test_a_lease_is_held_by_one_until_it_expires_or_is_released(use_case_engine):
    t0 = now()
    with UnitOfWork(use_case_engine) as uow:
        assert uow.leases.acquire("w", "a", 10, at=t0)
        assert not uow.leases.acquire("w", "b", 10, at=t0 + timedelta(seconds=5))   # a holds it
        assert uow.leases.acquire("w", "a", 10, at=t0 + timedelta(seconds=5))       # a renews
        assert not uow.leases.acquire("w", "b", 10, at=t0 + timedelta(seconds=14))  # renewed until 15 s
        assert uow.leases.acquire("w", "b", 10, at=t0 + timedelta(seconds=16))      # a died: b takes over
        assert not uow.leases.acquire("w", "a", 10, at=t0 + timedelta(seconds=17))
        uow.leases.release("w", "a")  # not its lease any more: nothing happens
        assert not uow.leases.acquire("w", "a", 10, at=t0 + timedelta(seconds=18))
        uow.leases.release("w", "b")
        assert uow.leases.acquire("w", "a", 10, at=t0 + timedelta(seconds=18))      # a clean stop hands over
        uow.commit()


def test_of_two_workers_one_works_and_the_other_takes_over_when_it_stops(use_case_engine):
    from tests.unit.services import make_service
    rounds = {"a": 0, "b": 0}
    svcs, leases, stops, threads = {}, {}, {}, {}
    for name in ("a", "b"):  # two processes: their own service objects over one database
        svc = svcs[name] = make_service(use_case_engine)

        def counted(name=name):
            rounds[name] += 1  # one per working round (mail_every=0)
        svc.deliver_notifications = counted
        leases[name], stops[name] = Lease(svc, seconds=1.0, holder=name), threading.Event()
        threads[name] = threading.Thread(target=run_forever, args=(svc, 0.05, stops[name]),
                                         kwargs={"mail_every": 0.0, "lease": leases[name]}, daemon=True)
        threads[name].start()
        time.sleep(0.3)
    time.sleep(1.0)
    assert leases["a"].held.is_set() and not leases["b"].held.is_set()
    assert rounds["a"] > 5 and rounds["b"] == 0  # only the holder works
    stops["a"].set()
    threads["a"].join(5)
    deadline = time.monotonic() + 3
    while not leases["b"].held.is_set():
        assert time.monotonic() < deadline, "the other worker takes over"
        time.sleep(0.05)
    before = rounds["b"]
    time.sleep(0.5)
    assert rounds["b"] > before
    stops["b"].set()
    threads["b"].join(5)


def test_many_instances_claiming_at_once_get_one_holder(use_case_engine):
    """The first claim races an INSERT against an UPDATE; the primary key leaves exactly one holder."""
    from concurrent.futures import ThreadPoolExecutor
    barrier = threading.Barrier(6)

    def claim(i: int) -> bool:
        barrier.wait()
        with UnitOfWork(use_case_engine) as uow:
            ok = uow.leases.acquire("race", f"h{i}", 30)
            uow.commit()
        return ok
    with ThreadPoolExecutor(6) as pool:
        won = list(pool.map(claim, range(6)))
    assert won.count(True) == 1


def test_of_two_daily_job_processes_only_the_lease_holder_runs_the_job(use_case_engine, monkeypatch):
    """And the one that takes over does not run again what the other did today (the registry says so)."""
    from datetime import UTC, datetime
    from datetime import time as clock_time

    from provisioning.jobs import run_daily
    from tests.unit.services import make_service
    runs = {"a": 0, "b": 0}
    moment = [datetime(2027, 1, 11, 9, 0, tzinfo=UTC)]  # 10:00 in Paris; the job is at 04:00
    stops, threads, leases = {}, {}, {}
    for name in ("a", "b"):
        svc = make_service(use_case_engine)

        def job(actor, days, name=name):
            runs[name] += 1
            return []
        svc.suspend_inactive = job
        svc.deliver_notifications = lambda: 0
        stops[name], leases[name] = threading.Event(), Lease(svc, "daily-job", seconds=1.0, holder=name)
        threads[name] = threading.Thread(target=run_daily, args=(svc, stops[name]), daemon=True,
                                         kwargs={"days": 90, "at": clock_time(4, 0), "lease": leases[name],
                                                 "poll": 0.05, "clock": lambda: moment[0]})
        threads[name].start()
        time.sleep(0.3)
    time.sleep(0.5)
    assert runs == {"a": 1, "b": 0}  # never run: due at once, and once only
    stops["a"].set()
    threads["a"].join(5)
    time.sleep(1.5)
    assert leases["b"].held.is_set() and runs == {"a": 1, "b": 0}  # took over; today's run was done
    moment[0] = datetime(2027, 1, 12, 3, 1, tzinfo=UTC)  # 04:01 in Paris, the next day
    time.sleep(0.5)
    assert runs == {"a": 1, "b": 1}
    stops["b"].set()
    threads["b"].join(5)
