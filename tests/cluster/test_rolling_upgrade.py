"""Issue 30 §4: upgrades without downtime, under a steady login load through the load balancer. The Keycloak nodes
are restarted one after the other (as for a version change), then every instance of the applications and the
API (the first of each service together, then the second), then the next version's *expand* migration runs while
this version serves, and an instance of this version restarts on it. Failed logins and failed requests are
counted in each phase, by the people's browsers and by HAProxy (5xx it answered): the goal is 0 everywhere."""

from __future__ import annotations

import csv
import io
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
import sqlalchemy as sa

from devstack.cluster import SERVICES, Cluster
from provisioning.store.uow import head_revision
from tests.cluster.test_failover import _ready_person, _text, login
from tests.support import future_migration
from tests.support.topology_report import TYPED, figure

PASSWORD = f"Sans-Coupure-{secrets.token_hex(3)}!"  # its own: the realm's history refuses a password used before
TYPED.add(PASSWORD)
PEOPLE = (("jeanne.dupont", "portail"), ("marc.martin", "afas"))


@dataclass
class Load:
    """One thread per person: log in (through Keycloak), open her application's page twice (AFAS's reads the API
    with her token), a quarter of a second, log in again. Each outcome is kept with its time."""
    c: Cluster
    events: list[tuple[float, str, bool, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, username: str, app: str) -> None:
        first = username.split(".")[0].capitalize()
        while not self.stop.is_set():
            try:
                b, r = login(self.c, username, app, PASSWORD)
                self.events.append((time.monotonic(), "login", first in _text(r), r.url))
            except (AssertionError, requests.RequestException) as e:
                self.events.append((time.monotonic(), "login", False, str(e)[:300]))
                continue
            for _ in range(2):
                try:
                    r = b.get(self.c.url(app) + "/")
                    ok = r.status_code == 200 and r.url.startswith(self.c.url(app)) and first in _text(r)
                    self.events.append((time.monotonic(), "request", ok, f"{r.status_code} {r.url}"))
                except requests.RequestException as e:
                    self.events.append((time.monotonic(), "request", False, str(e)[:300]))
            self.stop.wait(0.25)  # steady, not flat out: the machine runs the other tests beside

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=self.run, args=p, daemon=True) for p in PEOPLE]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def between(self, t0: float, t1: float) -> dict[str, list]:
        out: dict[str, list] = {"login": [], "request": []}
        for at, kind, ok, detail in list(self.events):
            if t0 <= at <= t1:
                out[kind].append((ok, detail))
        return out


def _stats(c: Cluster) -> list[dict[str, str]]:
    text = requests.get(f"http://127.0.0.1:{c.port('lb_stats')}/;csv", timeout=5).text.lstrip("# ")
    return list(csv.DictReader(io.StringIO(text)))


def _errors_answered(c: Cluster) -> dict[str, int]:
    """5xx HAProxy's frontends answered, per frontend (its own 503 included)."""
    return {row["pxname"]: int(row["hrsp_5xx"] or 0) for row in _stats(c) if row["svname"] == "FRONTEND"}


def _wait_in_service(c: Cluster, backend: str, server: str, timeout: float = 60) -> None:
    """The load balancer sends it traffic again (its checks passed `rise` times)."""
    deadline = time.monotonic() + timeout
    while True:
        [row] = [r for r in _stats(c) if r["pxname"] == backend and r["svname"] == server]
        if row["status"] == "UP":
            return
        assert time.monotonic() < deadline, f"{backend}/{server} still {row['status']}"
        time.sleep(0.3)


def test_rolling_restarts_and_an_expand_migration_under_a_steady_login_load(cluster_env, tmp_path):
    c = cluster_env
    for username, _ in PEOPLE:
        _ready_person(c, username, PASSWORD)
    future_migration.write(tmp_path / "next", "9001", "expand")  # the next version's, for the third phase
    phases: list[tuple[str, float, float, dict[str, int], dict[str, int]]] = []

    def phase(name: str, work) -> None:
        time.sleep(0.5)  # some load before
        errors, t0 = _errors_answered(c), time.monotonic()
        work()
        time.sleep(1)  # and after
        phases.append((name, t0, time.monotonic(), errors, _errors_answered(c)))

    def keycloak_nodes() -> None:
        for i in range(c.nodes):
            c.node_proc(i).stop()
            c.start_node(i, import_realm=False)
            _wait_in_service(c, "be_keycloak", f"kc{i + 1}")

    def instances() -> None:
        for i in range(c.instances):  # never both instances of a service at once
            with ThreadPoolExecutor(len(SERVICES)) as pool:
                list(pool.map(lambda s, i=i: c.instance_proc(s, i).stop(), SERVICES))
                list(pool.map(lambda s, i=i: c.start_instance(s, i), SERVICES))
                list(pool.map(lambda s, i=i: _wait_in_service(c, f"be_{s}", f"{s}{i + 1}"), SERVICES))

    def expand_migration() -> None:
        engine = sa.create_engine(c.db_url("mcp"))
        future_migration.upgrade(engine, tmp_path / "next", "9001")
        c.instance_proc("api", 0).stop()  # this version restarts on the expanded schema (a crash, a restart)
        c.start_instance("api", 0)
        _wait_in_service(c, "be_api", "api1")
        c.background_proc("worker", 0).stop()
        c.start_background("worker", 0)
        engine.dispose()

    try:
        with Load(c) as load:
            phase("Keycloak nodes one after the other", keycloak_nodes)
            phase("application and API instances one after the other", instances)
            phase("expand migration while this version serves", expand_migration)
    finally:  # the way back (an expand is undone before any contract): the registry at this code's revision
        engine = sa.create_engine(c.db_url("mcp"))
        future_migration.downgrade(engine, tmp_path / "next", head_revision())
        engine.dispose()

    lines, failed = [], []
    for name, t0, t1, before, after in phases:
        seen = load.between(t0 - 0.5, t1)
        bad = {k: [d for ok, d in v if not ok] for k, v in seen.items()}
        errors = {fe: after[fe] - before.get(fe, 0) for fe in after if after[fe] - before.get(fe, 0)}
        lines.append(f"{name}: {t1 - t0:.0f} s, {len(seen['login'])} logins ({len(bad['login'])} failed), "
                     f"{len(seen['request'])} pages ({len(bad['request'])} failed), 5xx answered: {errors or 0}")
        failed += [f"{name}: {k}: {d}" for k, v in bad.items() for d in v] + ([f"{name}: 5xx {errors}"] if errors else [])
    for line in lines:
        figure(f"rolling upgrade under load, {line}")
    assert all(len(load.between(t0, t1)["login"]) >= 3 for _, t0, t1, _, _ in phases), "the load was not steady"
    assert failed == [], failed
