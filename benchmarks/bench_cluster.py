"""The production topology (issue 14 §4): password logins per second through the load balancer (TLS, the
browser flow: form, credentials, code, tokens) with two Keycloak nodes and with one; the failover time from a
SIGKILL of a node to the next successful login; the memory of the whole topology. Nothing asserted.

    .venv/bin/python benchmarks/bench_cluster.py [--seconds 10] [--repeat 3] [--concurrency 4]

It brings up its own cluster (`cluster-bench`, ports from 28443, fresh) and removes it at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests
from common import REALM, code_flow_login, load

from devstack.admin import AdminSession
from devstack.cluster import Cluster

PASSWORD = "Banc-Grappe-Connexions-2026!"


def session(c: Cluster) -> requests.Session:
    s = requests.Session()
    s.trust_env, s.verify = False, str(c.ca_file)  # the machine's CA bundle would replace our certificate
    return s


def browser_login(c: Cluster, username: str) -> str:
    """One login from a fresh cookie jar; returns the node the load balancer chose."""
    s = session(c)
    code_flow_login(s, f"{c.issuer}/protocol/openid-connect", ("portail", c.secrets()["client_portail"]),
                    c.url("portail") + "/auth/callback", username, PASSWORD)
    return s.cookies.get("MCP_KC_NODE", "?")


def rate(c: Cluster, users: list[str], seconds: float, concurrency: int) -> float:
    latencies, elapsed = load(lambda i: browser_login(c, users[i % len(users)]), seconds, concurrency)
    return len(latencies) / elapsed


def rss_mib(c: Cluster) -> tuple[float, dict[str, float]]:
    """Resident memory of every process of the topology: the process groups of its parts, and PostgreSQL (the
    postmaster and its children)."""
    groups = {p.pid(): p.name for p in c.all_procs() if p.pid()}
    try:
        postmaster = (c.pg_dir / "data" / "postmaster.pid").read_text().split()[0]
    except OSError:
        postmaster = ""
    per: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid, pgid, rss = stat.parent.name, fields[1], int(fields[2]), int(fields[21]) * 4096 / 2**20
        name = groups.get(pgid) or ("postgres" if postmaster in (pid, ppid) else None)
        if name:
            kind = name.rsplit("-", 1)[0] if name[-1].isdigit() else name
            per[kind] = per.get(kind, 0.0) + rss
    return sum(per.values()), per


def failover(c: Cluster, user: str) -> float:
    """SIGKILL the node the next login lands on; seconds until a fresh login succeeds."""
    node = browser_login(c, user)
    index = int(node.removeprefix("kc")) - 1
    c.node_proc(index).kill()
    t0 = time.monotonic()
    while True:
        try:
            browser_login(c, user)
            elapsed = time.monotonic() - t0
            break
        except (requests.RequestException, AssertionError, KeyError):
            time.sleep(0.1)
    c.start_node(index, import_realm=False)
    c.wait_lb("keycloak", f"/realms/{REALM}/.well-known/openid-configuration")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--failovers", type=int, default=3)
    args = ap.parse_args()
    c = Cluster(name="cluster-bench", base=28443)
    c.down(reset=True)
    t0 = time.monotonic()
    try:
        c.up(seed=False, say=lambda m: None)
        print(f"topology up in {time.monotonic() - t0:.0f} s (PostgreSQL, 2 Keycloak nodes, HAProxy, 8 gunicorn, "
              "2 workers, 2 daily jobs)", flush=True)
        admin = AdminSession(c.url("keycloak"), "admin", c.secrets()["keycloak_admin_password"], realm=REALM)
        admin.http.trust_env, admin.http.verify = False, str(c.ca_file)
        users = [f"bench.grappe.{i}" for i in range(args.concurrency)]
        for name in users:
            admin.create_user(name, PASSWORD, temporary=False, email=f"{name}@bench.example")
            browser_login(c, name)  # usage rules accepted once, outside the measure
        print(f"{args.repeat} × {args.seconds:.0f} s at concurrency {args.concurrency}; median [min–max] "
              "browser-flow logins/s through HAProxy (TLS)")
        for label in ("two nodes", "one node"):
            if label == "one node":
                c.node_proc(1).stop()  # a clean stop: the load balancer sees it down within 2 s
                time.sleep(3)
            runs = [rate(c, users, args.seconds, args.concurrency) for _ in range(args.repeat)]
            print(f"  {label:10s} {statistics.median(runs):6.1f} [{min(runs):.1f}–{max(runs):.1f}]", flush=True)
        c.start_node(1, import_realm=False)
        c.wait_lb("keycloak", f"/realms/{REALM}/.well-known/openid-configuration")
        total, per = rss_mib(c)
        print(f"memory (RSS) of the topology: {total:.0f} MiB — "
              + ", ".join(f"{k} {v:.0f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1])))
        times = [failover(c, users[0]) for _ in range(args.failovers)]
        print(f"failover, SIGKILL of the serving node → next successful login: median {statistics.median(times):.1f} s "
              f"[{min(times):.1f}–{max(times):.1f}] over {len(times)}")
    finally:
        c.down(reset=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
