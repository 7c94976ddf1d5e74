"""WSGI entry points for production (gunicorn), one application a process:

    gunicorn --bind 127.0.0.1:8081 'sso_demo.wsgi:portail'
    gunicorn --bind 127.0.0.1:8082 'sso_demo.wsgi:cdap'
    gunicorn --bind 127.0.0.1:8083 'sso_demo.wsgi:afas'

Each is built on first import from the environment (AppConfig.from_env), which refuses demo settings
when MCP_ENV=production.
"""

from __future__ import annotations

import sys

from provisioning import logs
from sso_demo import afas as _afas
from sso_demo import cdap as _cdap
from sso_demo import portal as _portal

_FACTORIES = {"portail": _portal.create_app, "cdap": _cdap.create_app, "afas": _afas.create_app}


def __getattr__(name: str):
    """Only the application asked for is built (a gunicorn process serves one)."""
    if name not in _FACTORIES:
        raise AttributeError(name)
    logs.configure(name)
    app = _FACTORIES[name]()
    setattr(sys.modules[__name__], name, app)
    return app
