"""The reconcile worker killed with SIGKILL at a random moment of a large first reconcile, then restarted:
does the realm converge, with each user created once, no orphan membership, an empty plan afterwards, and an
audit trail listing every user Keycloak received? (issue 9; numbers printed, nothing asserted on time)

    KEYCLOAK_URL=http://localhost:8180 KEYCLOAK_ADMIN=admin KEYCLOAK_ADMIN_PASSWORD=… \\
        .venv/bin/python benchmarks/bench_worker_kill.py --users 500 --runs 20

It deletes every object carrying the ownership marker in that realm first: never point it at a Keycloak
whose data matters.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from devstack.admin import AdminSession, remove_managed
from devstack.smtp_sink import MailSink
from provisioning.domain.model import Caf, CafAdministrator, Convention, ConventionStatus, Partner, Registry, User
from provisioning.domain.rules import siret_with_key
from provisioning.domain.scope import FileScope
from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway
from provisioning.notify.notifier import SmtpConfig, SmtpNotifier
from provisioning.services import Actor, Provisioning
from provisioning.store import tables as t
from provisioning.store.uow import make_engine, migrate

REALM = "mon-compte-partenaire"
SECRET = os.environ.get("MCP_PROVISIONING_CLIENT_SECRET", "demo-only-provisioning-secret")
NATIONAL = Actor("bench", system=True)


def registry(users: int) -> Registry:
    caf = Caf("751", "Caf de Paris", "habilitations@caf75.example",
              [CafAdministrator("caf.admin", "Claire", "Fontaine", "caf.admin@caf75.example")])
    partners = []
    for i in range(users // 4):
        people = [User(f"k{i}.{k}", "Prénom", "Nom", f"k{i}.{k}@x.example") for k in range(4)]
        partners.append(Partner(siret_with_key(f"{7000000000000 + i:013d}"), f"Partenaire {i}", "751",
                                people[0].identifiant, [people[1].identifiant], people,
                                conventions=[Convention(f"K-{i}", ConventionStatus.ACTIVE)]))  # accounts open
    return Registry([caf], partners, scope=FileScope(everything=True))


def worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "provisioning.cli", "worker", "--interval", "0.5"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def pending(engine) -> int:
    with engine.connect() as c:
        r = t.reconcile_requests.c
        return c.execute(sa.select(sa.func.count()).where(r.generation > r.done_generation)).scalar()


def one_run(n: int, args, admin: AdminSession, sink: MailSink, tmp: Path) -> dict:
    remove_managed(admin)
    db = tmp / f"run-{n}.sqlite"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    gw = KeycloakGateway(KeycloakConfig(args.keycloak, client_secret=SECRET))
    svc = Provisioning(engine, lambda: gw, SmtpNotifier(SmtpConfig("127.0.0.1", sink.port)), reconcile_mode="worker")
    svc.import_registry(NATIONAL, registry(args.users))  # a reconcile request per partner, nothing applied yet
    env = {**os.environ, "KEYCLOAK_URL": args.keycloak, "MCP_DATABASE_URL": f"sqlite:///{db}",
           "MCP_SMTP_HOST": "127.0.0.1", "MCP_SMTP_PORT": str(sink.port), "MCP_RECONCILE": "worker",
           "MCP_RECONCILE_CLAIM_SECONDS": "6"}
    t0 = time.monotonic()
    first = worker(env)
    kill_at = random.uniform(2, args.kill_within)
    time.sleep(kill_at)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    second = worker(env)
    deadline = time.monotonic() + args.timeout
    while pending(engine) and time.monotonic() < deadline:
        time.sleep(1)
    os.killpg(second.pid, signal.SIGTERM)
    second.wait(timeout=30)
    elapsed = time.monotonic() - t0
    managed = admin.get("/users", params={"q": "mcp.managed-by:mon-compte-partenaire", "max": 100000})
    names = [u["username"] for u in managed]
    with engine.connect() as c:
        created = [r.object for r in c.execute(sa.select(t.audit_log.c.object)
                                                .where(t.audit_log.c.action == "keycloak:create:user"))]
    leftover = svc.plan()
    return {"kill_at": kill_at, "seconds": elapsed, "pending": pending(engine), "users": len(names),
            "duplicates": len(names) - len(set(names)), "unaudited": len(set(names) - set(created)),
            "plan_after": len(leftover)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kill-within", type=float, default=20.0, help="seconds: the kill falls in [2, this]")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--seed", type=int, default=20261127)
    args = ap.parse_args()
    args.keycloak = os.environ.get("KEYCLOAK_URL", "http://localhost:8180").rstrip("/")
    random.seed(args.seed)
    admin = AdminSession(args.keycloak, os.environ.get("KEYCLOAK_ADMIN", "admin"),
                         os.environ.get("KEYCLOAK_ADMIN_PASSWORD", "admin"), realm=REALM)
    sink = MailSink().start()
    tmp = Path(tempfile.mkdtemp())
    converged = 0
    try:
        for n in range(1, args.runs + 1):
            r = one_run(n, args, admin, sink, tmp)
            ok = not r["pending"] and not r["duplicates"] and not r["unaudited"] and not r["plan_after"] \
                and r["users"] == args.users // 4 * 4 + 1
            converged += ok
            print(f"run {n}: killed at {r['kill_at']:.1f} s, converged in {r['seconds']:.0f} s — users {r['users']}, "
                  f"duplicates {r['duplicates']}, not audited {r['unaudited']}, plan after {r['plan_after']}, "
                  f"requests pending {r['pending']} → {'ok' if ok else 'NOT CONVERGED'}", flush=True)
    finally:
        remove_managed(admin)
        sink.stop()
    print(f"{converged} of {args.runs} runs converged ({args.users} users, worker killed with SIGKILL once a run)")


if __name__ == "__main__":
    main()
