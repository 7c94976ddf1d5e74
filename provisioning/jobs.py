"""The daily job: suspend users without login for MCP_INACTIVITY_DAYS days (R18; 0: never), the access
reviews' reminders and deadlines (issue 16), and deliver pending notifications. Every day at MCP_DAILY_AT
(Paris time, default 04:00), and once at start when a run was missed (issue 25). It runs as its own process
(`mcp-provisioning daily`), or as a thread of the API process (the embedded default); with several instances,
one holds the `daily-job` lease and works, the others wait to take over (issue 14). For cron users, the same
work once is `mcp-provisioning suspend-inactive` and `mcp-provisioning reviews`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, time

from sqlalchemy.exc import SQLAlchemyError

from provisioning import logs
from provisioning.domain.schedule import is_due, parse_at
from provisioning.errors import ProvisioningError
from provisioning.reconcile.worker import Lease
from provisioning.services import Actor, Provisioning
from provisioning.store.uow import now

log = logging.getLogger(__name__)
JOB = Actor("job:suspend-inactive", system=True)
LEASE = "daily-job"


def settings() -> tuple[int, time]:
    """MCP_INACTIVITY_DAYS (0: no suspension for inactivity) and MCP_DAILY_AT, the Paris time it runs at."""
    from provisioning import settings as declared
    st = declared.read(strict=False)
    return st.inactivity_days, parse_at(st.daily_at)


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


def run_if_due(svc: Provisioning, days: int, at: time, clock: Callable[[], datetime] = now) -> bool:
    """The job, if it has not completed since its latest scheduled instant; its completion is recorded, so a
    restart neither repeats nor postpones it, and a process back after downtime catches up once."""
    with svc.uow() as uow:
        last = uow.job_runs.last(LEASE)
    moment = clock()
    if not is_due(last, moment, at):
        return False
    with logs.bound(None):  # one id a run: its suspensions, reviews' decisions and mails (issue 30 §2)
        run_job(svc, days)
    with svc.uow() as uow:
        uow.job_runs.done(LEASE, moment)
        uow.commit()
    return True


def run_daily(svc: Provisioning, stop: threading.Event, *, days: int, at: time, lease: Lease,
              poll: float = 60.0, clock: Callable[[], datetime] = now) -> None:
    """Every `poll` seconds, while this process holds the lease: the job if it is due. A process that takes
    the lease over finds in the registry whether today's run was done (the job is idempotent besides)."""
    keeper = lease.keep(stop)
    lease.held.wait(min(poll, 5.0))  # the first renewal, so a job due at start runs at start
    while True:
        if lease.held.is_set():
            try:
                if run_if_due(svc, days, at, clock):
                    log.info("daily job done (next at %s, Paris time)", at.strftime("%H:%M"))
            except (ProvisioningError, SQLAlchemyError) as e:  # retried at the next poll: still due
                log.error("daily job failed: %s", e)
        if stop.wait(poll):
            break
    keeper.join(5)


def start_daily(svc: Provisioning) -> threading.Thread:
    """The API process's thread (the embedded default); `mcp-provisioning daily` is the same as a process."""
    days, at = settings()
    stop = threading.Event()
    t = threading.Thread(target=run_daily, args=(svc, stop),
                         kwargs={"days": days, "at": at, "lease": Lease(svc, LEASE, seconds=60.0)},
                         name="mcp-daily-job", daemon=True)
    t.start()
    return t
