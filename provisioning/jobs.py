"""The daily job of the API process: suspend users without login for MCP_INACTIVITY_DAYS days (R18)
and deliver pending notifications. The same work is `mcp-provisioning suspend-inactive` for cron users."""

from __future__ import annotations

import logging
import os
import threading

from provisioning.errors import ProvisioningError
from provisioning.services import Actor, Provisioning

log = logging.getLogger(__name__)


def start_daily(svc: Provisioning) -> threading.Thread | None:
    days = int(os.environ.get("MCP_INACTIVITY_DAYS", "90"))
    every = float(os.environ.get("MCP_INACTIVITY_CHECK_HOURS", "24")) * 3600
    if days <= 0:
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                names = svc.suspend_inactive(Actor("job:suspend-inactive", system=True), days)
                if names:
                    log.warning("suspended after %s days without login: %s", days, ", ".join(names))
                svc.deliver_notifications()
            except ProvisioningError as e:  # retried at the next run
                log.error("daily job failed: %s", e)

    t = threading.Thread(target=loop, name="mcp-daily-job", daemon=True)
    t.start()
    return t
