"""The daily job: suspend users without login for MCP_INACTIVITY_DAYS days (R18; 0: never), the access
reviews' reminders and deadlines (issue 16), and deliver pending notifications. It runs as its own process
(`mcp-provisioning daily`), or as a thread of the API process (the embedded default); with several instances,
one holds the `daily-job` lease and works, the others wait to take over (issue 14). For cron users, the same
work once is `mcp-provisioning suspend-inactive` and `mcp-provisioning reviews`."""

from __future__ import annotations

import logging
import os
import threading

from provisioning.errors import ProvisioningError
from provisioning.reconcile.worker import Lease
from provisioning.services import Actor, Provisioning

log = logging.getLogger(__name__)
JOB = Actor("job:suspend-inactive", system=True)
LEASE = "daily-job"


def settings() -> tuple[int, float]:
    return (int(os.environ.get("MCP_INACTIVITY_DAYS", "90")),
            float(os.environ.get("MCP_INACTIVITY_CHECK_HOURS", "24")) * 3600)


def run_job(svc: Provisioning, days: int) -> list[str]:
    names = svc.suspend_inactive(JOB, days) if days > 0 else []  # 0: no suspension for inactivity
    if names:
        log.warning("suspended after %s days without login: %s", days, ", ".join(names))
    try:  # issue 16: the access reviews' reminders and deadlines
        done = svc.tick_reviews()
        if done["closed"]:
            log.warning("access reviews closed: %s (%s grants suspended)", done["closed"], done["suspended"])
    except ProvisioningError as e:
        log.error("access reviews: %s", e)
    svc.deliver_notifications()
    return names


def run_daily(svc: Provisioning, stop: threading.Event, *, days: int, every: float, lease: Lease,
              first_wait: float | None = None) -> None:
    """Every `every` seconds, while this process holds the lease: the job. A process that takes the lease
    over runs it at its next tick (the job is idempotent: a user already suspended is not again)."""
    keeper = lease.keep(stop)
    wait = every if first_wait is None else first_wait
    while not stop.wait(wait):
        wait = every
        if not lease.held.is_set():
            continue
        try:
            run_job(svc, days)
        except ProvisioningError as e:  # retried at the next run
            log.error("daily job failed: %s", e)
    keeper.join(5)


def start_daily(svc: Provisioning) -> threading.Thread:
    """The API process's thread (the embedded default); `mcp-provisioning daily` is the same as a process."""
    days, every = settings()
    stop = threading.Event()
    t = threading.Thread(target=run_daily, args=(svc, stop),
                         kwargs={"days": days, "every": every, "lease": Lease(svc, LEASE, seconds=60.0)},
                         name="mcp-daily-job", daemon=True)
    t.start()
    return t
