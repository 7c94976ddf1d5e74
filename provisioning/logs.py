"""Structured, correlated logs (issue 30 §2): one JSON object a line (python-json-logger's formatter), each with
the request id of the work it belongs to, and nothing secret in any of them.

The request id is born where a person's request enters (an application or the API: `X-Request-Id`, taken from
the caller when it is well formed, else made here), goes from the applications to the API in that header, and
is written with what the request causes: its audit entries, its mails (outbox rows) and its partner's reconcile
request; the worker and the mail sender then log their work on that row under the same id. So one id finds,
across processes, the page that was clicked, the change, the reconcile run and the mail.

Redaction is a filter on the handler (the last step before a line leaves): bearer tokens, JWTs, passwords and
OAuth parameters in any message or field become « [caché] ». It is a net, not the policy: no code logs a secret.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from provisioning import settings

HEADER = "X-Request-Id"
_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{8,64}")
HIDDEN = "[caché]"
_SECRETS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # a JWT, wherever it appears
    re.compile(r"(?i)((?:password|passwd|mot_de_passe|secret|client_secret|totp|otp)[\"']?\s*[=:]\s*[\"']?)"
               r"[^\s\"'&,}]+"),
    re.compile(r"((?:[?&]|\b)(?:code|state|session_state|id_token_hint|access_token|refresh_token|logout_token|"
               r"id_token)=)[^&\s\"]+"),
    re.compile(r"(provisoire\s*:\s*)\S+"),  # a credential mail's body, were it ever logged
)


def current() -> str | None:
    """The id of the request (or run) this code works for, if any."""
    return _ID.get()


def new_id() -> str:
    return uuid.uuid4().hex


def accepted(value: str | None) -> str:
    """A caller's id when well formed (8 to 64 letters, digits, `.`, `_`, `:`, `-`), else a new one: a hostile
    header never reaches a log line or a database row."""
    return value if value and _WELL_FORMED.fullmatch(value) else new_id()


@contextlib.contextmanager
def bound(request_id: str | None) -> Iterator[str]:
    """Work done inside carries this id (a new one when None): a worker's run of a request, a mail's sending."""
    rid = request_id or new_id()
    token = _ID.set(rid)
    try:
        yield rid
    finally:
        _ID.reset(token)


def enter(request_id: str) -> Any:
    """For frameworks whose request has a start and an end hook (Flask): `leave(enter(id))`."""
    return _ID.set(request_id)


def leave(token: Any) -> None:
    _ID.reset(token)


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + HIDDEN, text)
    return text


class _Context(logging.Filter):
    """Each record gets the current request id (None outside any request) and the process's name."""

    def __init__(self, process: str):
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _ID.get()
        record.process_name = self.process
        return True


class Redact(logging.Filter):
    """The message, its arguments and its extra fields, secrets hidden (see `_SECRETS`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = redact(record.getMessage())
        except (TypeError, ValueError):  # arguments that do not fit the message: shown raw, still redacted
            record.msg = redact(f"{record.msg} {record.args!r}")
        record.args = None
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in _PLAIN:
                record.__dict__[key] = redact(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:  # formatters print exc_text when exc_info is gone: the traceback, redacted
            record.exc_text = redact(record.exc_text)
            record.exc_info = None
        return True


_PLAIN = {"name", "levelname", "pathname", "filename", "module", "funcName", "threadName", "processName",
          "process_name", "request_id", "taskName", "msg"}


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "text":
        return logging.Formatter("%(asctime)s %(levelname)s %(process_name)s %(name)s [%(request_id)s] %(message)s")
    # `time`: ISO 8601 in UTC with microseconds, whatever the machine's time zone
    return JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s %(process_name)s",
                         rename_fields={"levelname": "level", "name": "logger", "process_name": "process"},
                         timestamp="time", json_ensure_ascii=False)


class _Stderr(logging.StreamHandler):
    """Writes to the standard error of the moment (a test runner replaces it; a stream kept from the start
    would be a closed file by then)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def handler(process: str, stream: Any = None, fmt: str | None = None) -> logging.Handler:
    """A handler writing this process's lines: JSON by default (MCP_LOG_FORMAT=text for a person at a terminal)."""
    h = logging.StreamHandler(stream) if stream is not None else _Stderr()
    h.addFilter(_Context(process))
    h.addFilter(Redact())
    h.setFormatter(formatter(fmt or str(settings.initial("log_format"))))
    h.set_name("mcp")
    return h


def configure(process: str, default_level: str = "INFO") -> None:
    """The process's root logger writes JSON lines to stderr at MCP_LOG_LEVEL (else `default_level`). Once: a
    second call replaces the first handler."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "mcp"]:
        root.removeHandler(old)
    root.addHandler(handler(process))
    root.setLevel(str(settings.initial("log_level")) or default_level)


def install_flask(app: Any, process: str) -> None:
    """Every request of this Flask application gets an id (the caller's `X-Request-Id` when well formed), echoed
    in the answer, bound while it is served, and one log line when it ends: method, path without its query
    (where codes and states travel), status, endpoint and duration."""
    from flask import g, request

    access = logging.getLogger(f"{process}.requests")

    @app.before_request
    def _begin():
        g.request_id = accepted(request.headers.get(HEADER))
        g._log_token = enter(g.request_id)
        g._log_started = time.perf_counter()

    @app.after_request
    def _answer(resp):
        rid = getattr(g, "request_id", None)
        if rid:
            resp.headers[HEADER] = rid
            access.info("%s %s %s", request.method, request.path, resp.status_code,
                        extra={"method": request.method, "path": request.path, "status": resp.status_code,
                               "endpoint": request.endpoint,
                               "duration_ms": round((time.perf_counter() - g._log_started) * 1000, 1)})
        return resp

    @app.teardown_request
    def _end(_error):
        token = g.pop("_log_token", None)
        if token is not None:
            leave(token)
