"""Metrics in the Prometheus format (issue 30 §1), through prometheus-client — not hand-written.

Per process: HTTP requests by application, route and status, and their latency (the API, the three apps);
Keycloak calls by operation and outcome (keycloak/gateway.py's `_call`, every call goes through it); changes a
reconcile carried out by kind, action and outcome, and how long reconciles take; mails and codes sent or failed.
Read from the registry at each scrape (one small query each, never kept in memory): the reconcile queue by
state, how old its oldest waiting request is, how many are claimed; the outbox's due, waiting and dead letters;
who holds each lease. `/metrics` answers only with the bearer token of MCP_METRICS_TOKEN (not set: 404): the
queue's figures are no one else's business. The worker and the daily job, which serve no HTTP, expose theirs on
MCP_METRICS_PORT. docs/operations.md lists the alert rules.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

HTTP_REQUESTS = Counter("mcp_http_requests", "HTTP requests answered", ["app", "route", "method", "status"])
HTTP_SECONDS = Histogram("mcp_http_request_seconds", "Time to answer an HTTP request", ["app", "route"],
                         buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
KEYCLOAK_CALLS = Counter("mcp_keycloak_calls", "Calls to Keycloak's admin API", ["operation", "outcome"])
KEYCLOAK_SECONDS = Histogram("mcp_keycloak_call_seconds", "Time of a call to Keycloak", ["operation"],
                             buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
RECONCILE_CHANGES = Counter("mcp_reconcile_changes", "Changes a reconcile carried out in Keycloak",
                            ["kind", "action", "outcome"])
RECONCILE_SECONDS = Histogram("mcp_reconcile_seconds", "Time of a reconcile (observe, plan, apply)", ["scope"],
                              buckets=(.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900))
MAILS = Counter("mcp_mails", "Mails and codes the outbox tried to send", ["kind", "outcome"])

_VARIABLE = re.compile(r"^(création de l'organisation|création du groupe)\b.*")
_SEGMENT = re.compile(r"[a-z][a-z-]*")


def operation(what: str) -> str:
    """A Keycloak call's name without what varies (ids, paths, names), so that labels stay few:
    « GET /users/9f0c…/credentials » → « GET /users/{x}/credentials »."""
    if what.startswith("GET "):
        parts = what[4:].split("?")[0].strip("/").split("/")
        return "GET /" + "/".join(p if _SEGMENT.fullmatch(p) else "{x}" for p in parts)
    return _VARIABLE.sub(r"\1", what)[:60]


class RegistryCollector(Collector):
    """The queues as the registry holds them at the scrape: a few counting queries through the unit of work."""

    def __init__(self, uow: Callable[[], Any]):
        self.uow = uow

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.uow() as uow:
            reconcile = uow.reconcile.counts()
            oldest, claimed = uow.reconcile.waiting()
            mails = uow.outbox.counts()
            leases = uow.leases.holders()
        states = GaugeMetricFamily("mcp_reconcile_requests", "Reconcile requests by state", labels=["state"])
        for state, n in sorted(reconcile.items()):
            states.add_metric([state], n)
        yield states
        yield GaugeMetricFamily("mcp_reconcile_oldest_waiting_seconds",
                                "Age of the oldest request Keycloak has not followed yet (0: none)", value=oldest)
        yield GaugeMetricFamily("mcp_reconcile_claimed", "Requests a worker holds now", value=claimed)
        outbox = GaugeMetricFamily("mcp_outbox", "Outbox rows: due now, waiting (not sent), dead letters",
                                   labels=["state"])
        for state in ("due", "waiting", "dead"):
            outbox.add_metric([state], mails.get(state, 0))
        yield outbox
        held = GaugeMetricFamily("mcp_lease_held", "1 for each lease a live process holds", labels=["lease", "holder"])
        for name, holder in sorted(leases.items()):
            held.add_metric([name, holder], 1)
        yield held


def registry_with(uow: Callable[[], Any]) -> CollectorRegistry:
    """This process's metrics plus the registry's queues, for one /metrics answer."""
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Process())
    scrape.register(RegistryCollector(uow))
    return scrape


class _Process(Collector):
    """The process's own counters (the default registry), inside a scrape registry of its own."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def allowed(header: str | None, token: str) -> bool:
    return bool(token) and hmac.compare_digest((header or "").encode(), f"Bearer {token}".encode())


def exposition(uow: Callable[[], Any] | None = None) -> bytes:
    return generate_latest(registry_with(uow) if uow is not None else REGISTRY)


def instrument(app: Any, name: str, token: str, uow: Callable[[], Any] | None = None) -> None:
    """A Flask application's requests counted and timed by route; `/metrics` behind the bearer token."""
    from flask import Response, abort, g, request

    @app.before_request
    def _started() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _counted(resp: Any) -> Any:
        route = request.url_rule.rule if request.url_rule is not None else "(aucune)"
        HTTP_REQUESTS.labels(name, route, request.method, str(resp.status_code)).inc()
        started = g.get("metrics_started")
        if started is not None:
            HTTP_SECONDS.labels(name, route).observe(time.perf_counter() - started)
        return resp

    def metrics() -> Response:
        if not token:
            abort(404)
        if not allowed(request.headers.get("Authorization"), token):
            return Response("jeton de supervision requis\n", 401, {"WWW-Authenticate": "Bearer"})
        return Response(exposition(uow), mimetype=CONTENT_TYPE.split(";")[0])

    app.add_url_rule("/metrics", "metrics", metrics)


def serve(port: int, uow: Callable[[], Any] | None = None) -> None:
    """The worker's and the daily job's metrics on their own port of 127.0.0.1 (they serve no HTTP otherwise;
    a local agent scrapes them: nothing is exposed beyond the host)."""
    from prometheus_client import start_http_server
    start_http_server(port, addr="127.0.0.1", registry=registry_with(uow) if uow is not None else REGISTRY)
