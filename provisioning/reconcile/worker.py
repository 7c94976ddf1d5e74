"""The reconcile worker, level-triggered: an API or console change writes a reconcile request for its
partner in the same transaction; this loop takes due requests (one worker per request: claims), observes,
plans and applies that partner's slice, and records the outcome (appliqué, or en échec with each refused
object's reason). Transient failures retry with exponential backoff, capped; a request made while one
runs is kept (its generation is newer) and done next.

    mcp-provisioning worker            # runs until stopped (README command 1 starts it)
    mcp-provisioning worker --once     # what is due now, then exit (cron, tests)
"""

from __future__ import annotations

import logging
import threading
import time

from provisioning.errors import ProvisioningError
from provisioning.services import Actor, Provisioning
from provisioning.store.uow import UnitOfWork, renewing

log = logging.getLogger(__name__)
WORKER = Actor("worker:reconcile", system=True)


def run_once(svc: Provisioning, limit: int = 20) -> int:
    """Reconcile what is due, one request at a time (a worker that dies holds at most one); returns how
    many requests were handled."""
    handled = 0
    while handled < limit:
        with UnitOfWork(svc.engine) as uow:
            token, due = uow.reconcile.claim(1)
            uow.commit()
        if not due:
            break
        [req] = due
        failures, error = [], None
        with renewing(svc.engine, token):
            try:
                report = svc.reconcile(WORKER, partner=None if req.key == "*" else req.key)
                failures = [{"target": f"{c.action} {c.kind} {c.target}", "reason": why} for c, why in report.failed]
            except ProvisioningError as e:  # Keycloak or the database unreachable, partner gone…
                error = e.description
        with UnitOfWork(svc.engine) as uow:
            uow.reconcile.finish(req, token, error=error, failures=failures)
            uow.commit()
        handled += 1
    return handled


def run_forever(svc: Provisioning, interval: float = 0.5, stop: threading.Event | None = None,
                mail_every: float = 5.0) -> None:
    """Until stopped: due requests, then (every `mail_every` seconds) the outbox's due retries, so a mail
    that failed while the mail server was down leaves once it is back without anyone acting."""
    stop = stop or threading.Event()
    log.info("reconcile worker started (every %.1f s)", interval)
    last_mail = 0.0
    while not stop.is_set():
        try:
            handled = run_once(svc)
            if time.monotonic() - last_mail >= mail_every:
                last_mail = time.monotonic()
                svc.deliver_notifications()
        except Exception:  # noqa: BLE001 (a bug or a database hiccup must not end the worker)
            log.exception("reconcile worker round failed")
            handled = 0
        if not handled:
            stop.wait(interval)
    log.info("reconcile worker stopped")


def main_loop(svc: Provisioning, once: bool, interval: float) -> int:
    if once:
        return run_once(svc)
    try:
        run_forever(svc, interval)
    except KeyboardInterrupt:
        pass
    return 0


def wait_applied(svc: Provisioning, key: str, timeout: float = 30.0) -> str:
    """Tests and scripts: the state of a request once nothing is pending for it (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        with UnitOfWork(svc.engine) as uow:
            state = uow.reconcile.state(key)
        if state and state["state"] != "en attente" or time.monotonic() > deadline:
            return state["state"] if state else "inconnu"
        time.sleep(0.2)
