"""WSGI entry point for production: `gunicorn --bind 127.0.0.1:8090 'provisioning.api.wsgi:app'`.
The daily inactivity job is then `mcp-provisioning suspend-inactive` from cron (not a thread per worker)."""

from __future__ import annotations

from provisioning import logs
from provisioning.api import from_config
from provisioning.app_factory import build
from provisioning.config import Config

logs.configure("api")
_cfg = Config.from_env()
app = from_config(_cfg, build(_cfg))
