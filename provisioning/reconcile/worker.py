"""The reconcile worker, level-triggered: an API or console change writes a reconcile request for its
partner in the same transaction; this loop takes due requests (one worker per request: claims), observes,
plans and applies that partner's slice, and records the outcome (appliqué, or en échec with each refused
object's reason). Transient failures retry with exponential backoff, capped; a request made while one
runs is kept (its generation is newer) and done next.

    mcp-provisioning worker            # runs until stopped (README command 1 starts it)
    mcp-provisioning worker --once     # what is due now, then exit (cron, tests)
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from provisioning import logs, settings
from provisioning.errors import ProvisioningError
from provisioning.services import Actor, Provisioning
from provisioning.store import uow as store
from provisioning.store.uow import acting_under, renewing

log = logging.getLogger(__name__)
WORKER = Actor("worker:reconcile", system=True)


def run_once(svc: Provisioning, limit: int = 20) -> int:
    """Reconcile what is due, one request at a time (a worker that dies holds at most one); returns how
    many requests were handled."""
    handled = 0
    while handled < limit:
        with svc.uow() as uow:
            token, due = uow.reconcile.claim(1)
            uow.commit()
        if not due:
            break
        [req] = due
        with logs.bound(getattr(req, "request_id", None)):  # the request that asked, in every line of the run
            _run_request(svc, req, token)
        handled += 1
    return handled


def _run_request(svc: Provisioning, req: Any, token: str) -> None:
    """One claimed request: observe, plan and apply its partner (or the realm), then record the outcome."""
    failures, error, terminal = [], None, False
    if req.key == "*":  # the whole registry: every partner's claim as well, or later
        with svc.uow() as uow:
            every = uow.reconcile.hold_every_partner(token)
            uow.commit()
        if not every:
            with svc.uow() as uow:
                uow.reconcile.finish(req, token, error="Un autre processus écrit pour un partenaire : la "
                                     "réconciliation complète attend son tour.", failures=[])
                uow.commit()
            return
    with renewing(svc.uow, token), acting_under(token):
        try:
            report = svc.reconcile(WORKER, partner=None if req.key == "*" else req.key)
            failures = [{"target": f"{c.action} {c.kind} {c.target}", "reason": why} for c, why in report.failed]
            terminal = report.needs_attention
        except ProvisioningError as e:  # Keycloak or the database unreachable, partner gone…
            error, terminal = e.description, not e.retryable
    with svc.uow() as uow:
        uow.reconcile.finish(req, token, error=error, failures=failures, terminal=terminal)
        if req.key == "*":
            uow.reconcile.let_go(token)  # the partners' claims it took
        uow.commit()
    log.info("reconcile %s: %s", req.key, "done" if not (error or failures) else error or
             f"{len(failures)} change(s) refused", extra={"partner": req.key, "refused": len(failures),
                                                          "error": error})


RESYNC_SECONDS = float(settings.initial("resync_minutes")) * 60  # 0: no periodic resync
RESYNC = "resync"


def resync_if_due(svc: Provisioning, every: float = RESYNC_SECONDS) -> int:
    """Level-triggered for real (issue 25 §5): every `every` seconds (recorded in the registry, so restarts
    and several workers do not multiply it), every partner at rest is asked again, one claim at a time like
    any request; a hand edit in Keycloak is corrected within that period."""
    if every <= 0:
        return 0
    with logs.bound(None):  # the requests it makes, and its line, carry this run's id (issue 30 §2)
        with svc.uow() as uow:
            last, at = uow.job_runs.last(RESYNC), store.now()
            if last is not None and (at - last).total_seconds() < every:
                return 0
            asked = uow.reconcile.request_resync()
            uow.job_runs.done(RESYNC, at)
            uow.commit()
        if asked:
            log.info("periodic resync: %s reconcile request(s)", asked)
    return asked


LEASE = "reconcile-worker"
LEASE_SECONDS = float(settings.initial("worker_lease_seconds"))  # a dead worker's successor waits this long


class Lease:
    """Issue 14: several worker processes may run (one per machine); one is active. A thread renews the
    lease every third of its life; `held` says whether this process may work. The claims on each request
    remain what guarantees that nothing is done twice (a lease can lapse during a long pause)."""

    def __init__(self, svc: Provisioning, name: str = LEASE, seconds: float = LEASE_SECONDS,
                 holder: str | None = None):
        self.svc, self.name, self.seconds = svc, name, seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = threading.Event()

    def renew_once(self) -> bool:
        try:
            with self.svc.uow() as uow:
                ok = uow.leases.acquire(self.name, self.holder, self.seconds)
                uow.commit()
        except Exception:
            log.exception("lease %s: renewal failed", self.name)
            ok = False
        if ok and not self.held.is_set():
            log.info("lease %s taken by %s", self.name, self.holder)
        if not ok and self.held.is_set():
            log.warning("lease %s lost by %s", self.name, self.holder)
        (self.held.set if ok else self.held.clear)()
        return ok

    def keep(self, stop: threading.Event) -> threading.Thread:
        def loop() -> None:
            while not stop.is_set():
                self.renew_once()
                stop.wait(self.seconds / 3)
            with self.svc.uow() as uow:  # a clean stop hands over at once
                uow.leases.release(self.name, self.holder)
                uow.commit()
        t = threading.Thread(target=loop, name=f"lease-{self.name}", daemon=True)
        t.start()
        return t


def run_forever(svc: Provisioning, interval: float = 0.5, stop: threading.Event | None = None,
                mail_every: float = 5.0, lease: Lease | None = None, resync_every: float = RESYNC_SECONDS) -> None:
    """Until stopped: due requests, then (every `mail_every` seconds) the outbox's due retries, so a mail
    that failed while the mail server was down leaves once it is back without anyone acting. With a
    `lease`, only while this process holds it (the others wait, ready to take over)."""
    stop = stop or threading.Event()
    log.info("reconcile worker started (every %.1f s)", interval)
    last_mail, next_resync_check = 0.0, 0.0
    keeper = lease.keep(stop) if lease else None
    while not stop.is_set():
        if lease and not lease.held.is_set():
            stop.wait(interval)
            continue
        try:
            if resync_every > 0 and time.monotonic() >= next_resync_check:  # not a read every round
                next_resync_check = time.monotonic() + min(resync_every, 60.0)
                resync_if_due(svc, resync_every)
            handled = run_once(svc)
            if time.monotonic() - last_mail >= mail_every:
                last_mail = time.monotonic()
                svc.deliver_notifications()
        except Exception:
            log.exception("reconcile worker round failed")
            handled = 0
        if not handled:
            stop.wait(interval)
    if keeper:
        keeper.join(5)
    log.info("reconcile worker stopped")


def main_loop(svc: Provisioning, once: bool, interval: float) -> int:
    if once:
        return run_once(svc)
    with contextlib.suppress(KeyboardInterrupt):
        run_forever(svc, interval, lease=Lease(svc))
    return 0


def wait_applied(svc: Provisioning, key: str, timeout: float = 30.0) -> str:
    """Tests and scripts: the state of a request once nothing is pending for it (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        with svc.uow() as uow:
            state = uow.reconcile.state(key)
        if state and state["state"] != "pending" or time.monotonic() > deadline:
            return state["state"] if state else "inconnu"
        time.sleep(0.2)
