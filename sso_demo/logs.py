"""Keep authorization codes, states and tokens out of the development server's request lines (werkzeug logs the
query string); every other line passes through the handler's redaction (provisioning/logs.py)."""

from __future__ import annotations

import logging

from provisioning.logs import Redact


def install() -> None:
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, Redact) for f in werkzeug.filters):
        werkzeug.addFilter(Redact())
