"""Two writers meeting (issue 25), repeated: figures, nothing asserted on time; a broken guarantee fails the run.

1. `mcp-provisioning apply` of a new partner of N people while `mcp-provisioning worker` runs (two processes):
   in every run, every person gets her identifiant and her password exactly once, the outbox is empty with no
   dead letter, and a second plan is empty. (Measured on the code before issue 25: 150 of 150 without codes.)
2. A suspension racing a queued delivery: the codes of N people wait (mail server down), half of them are
   suspended, the mail server comes back: no suspended person is mailed codes or has an enabled account.

    KEYCLOAK_URL=http://localhost:8180 KEYCLOAK_ADMIN=admin KEYCLOAK_ADMIN_PASSWORD=… \\
        .venv/bin/python benchmarks/bench_one_writer.py --people 150 --runs 20

It deletes every object carrying the ownership marker in that realm first: never point it at a Keycloak
whose data matters.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.admin import AdminSession, remove_managed  # noqa: E402
from devstack.smtp_sink import MailSink  # noqa: E402
from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway  # noqa: E402
from provisioning.notify.notifier import SmtpConfig, SmtpNotifier  # noqa: E402
from provisioning.reconcile.worker import run_once  # noqa: E402
from provisioning.services import Actor, Provisioning  # noqa: E402
from provisioning.store.uow import make_engine, migrate  # noqa: E402
from provisioning.typography import typo  # noqa: E402
from tests.unit.factories import EXAMPLE, example_data, registry, second_partner  # noqa: E402

SECRET = os.environ.get("MCP_PROVISIONING_CLIENT_SECRET", "demo-only-provisioning-secret")
NATIONAL = Actor("bench", system=True)
SUBJECTS = [typo("« Mon Compte Partenaire » : votre identifiant"),  # as they leave: French spacing
            typo("« Mon Compte Partenaire » : votre mot de passe provisoire")]


def _file(people: int, tag: str, tmp: Path) -> tuple[Path, list[dict]]:
    d = example_data()
    p = second_partner(d)
    for i in range(people):
        who = f"{tag}.{i:03d}"
        p["users"].append({"identifiant": who, "first_name": "Camille", "last_name": f"Course {i}",
                           "email": f"{who}@course.example"})
    path = tmp / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, p["users"]


def apply_racing_the_worker(n: int, args, admin: AdminSession, sink: MailSink, tmp: Path) -> dict:
    remove_managed(admin)
    env = {**os.environ, "KEYCLOAK_URL": args.keycloak, "MCP_DATABASE_URL": f"sqlite:///{tmp / f'race-{n}.sqlite'}",
           "MCP_SMTP_HOST": "127.0.0.1", "MCP_SMTP_PORT": str(sink.port), "MCP_OPERATOR": "caf:751", "MCP_ENV": ""}

    def cli(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "provisioning.cli", *a], env=env, capture_output=True,
                              text=True, timeout=900, stdin=subprocess.DEVNULL)
    for step in (("migrate",), ("apply", "--file", str(EXAMPLE), "--yes")):
        if (r := cli(*step)).returncode != 0:
            raise SystemExit(f"{step[0]} failed: {r.stderr[-2000:]}")
    path, users = _file(args.people, f"r{n}", tmp)
    first_mail = len(sink.mails)  # partner B's own people have the same addresses in every run: this run's mails
    worker = subprocess.Popen([sys.executable, "-m", "provisioning.cli", "worker", "--interval", "0.1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    t0 = time.monotonic()
    try:
        r = cli("apply", "--file", str(path), "--yes")
        if r.returncode != 0:
            raise SystemExit(f"apply failed: {r.stderr[-2000:]}")
        deadline = time.monotonic() + 600
        while json.loads(cli("outbox", "--json").stdout) and time.monotonic() < deadline:
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    mails = sink.mails[first_mail:]
    exactly_once = sum(sorted(m.subject for m in mails if u["email"] in m.recipients and m.subject in SUBJECTS)
                       == SUBJECTS for u in users)
    waiting, dead = json.loads(cli("outbox", "--json").stdout), json.loads(cli("outbox", "--json", "--dead").stdout)
    empty_plan = cli("plan", "--file", str(path), "--detailed-exitcode").returncode == 0
    return {"people": len(users), "exactly_once": exactly_once, "waiting": len(waiting), "dead": len(dead),
            "empty_plan": empty_plan, "seconds": elapsed}


class Switch:
    def __init__(self, port: int):
        self.down, self.smtp = True, SmtpNotifier(SmtpConfig("127.0.0.1", port))

    def send(self, recipient: str, subject: str, body: str) -> None:
        if self.down:
            from provisioning.errors import Unavailable
            raise Unavailable("serveur de messagerie arrêté (banc d'essai)")
        self.smtp.send(recipient, subject, body)


def suspension_racing_delivery(n: int, args, admin: AdminSession, sink: MailSink, tmp: Path) -> dict:
    remove_managed(admin)
    engine = make_engine(f"sqlite:///{tmp / f'suspend-{n}.sqlite'}")
    migrate(engine)
    gw = KeycloakGateway(KeycloakConfig(args.keycloak, client_secret=SECRET))
    mail = Switch(sink.port)
    svc = Provisioning(engine, lambda: gw, mail, reconcile_mode="worker")
    d = example_data()
    p = second_partner(d)
    tag = f"s{n}"
    for i in range(args.people):
        p["users"].append({"identifiant": f"{tag}.{i:03d}", "first_name": "Camille", "last_name": f"Suspendue {i}",
                           "email": f"{tag}.{i:03d}@course.example"})
    svc.import_registry(NATIONAL, registry(d))
    while run_once(svc):  # created and enabled; their codes wait: the mail server is down
        pass
    suspended = [f"{tag}.{i:03d}" for i in range(0, args.people, 2)]
    for who in suspended:  # the Caf suspends half of them; the worker has not run yet
        svc.suspend_user(NATIONAL, p["siret"], who, True)
    mail.down = False
    svc.deliver_notifications()  # the queued codes meet the suspensions first
    while run_once(svc):
        pass
    svc.deliver_notifications()
    mailed = sum(1 for who in suspended for m in sink.to(f"{who}@course.example") if m.subject == SUBJECTS[1])
    enabled = sum(1 for who in suspended if gw.account(who).enabled)
    others = [f"{tag}.{i:03d}" for i in range(1, args.people, 2)]
    served = sum(1 for who in others if [m.subject for m in sink.to(f"{who}@course.example")].count(SUBJECTS[1]) == 1)
    engine.dispose()
    return {"suspended": len(suspended), "mailed_suspended": mailed, "enabled_suspended": enabled,
            "others": len(others), "others_mailed_once": served}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keycloak", default=os.environ.get("KEYCLOAK_URL", "http://localhost:8180"))
    ap.add_argument("--people", type=int, default=150)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--only", choices=["race", "suspension"], help="one of the two benchmarks")
    args = ap.parse_args()
    admin = AdminSession(args.keycloak, os.environ.get("KEYCLOAK_ADMIN", "admin"),
                         os.environ.get("KEYCLOAK_ADMIN_PASSWORD", "admin"), "mon-compte-partenaire")
    sink = MailSink().start()
    broken = []
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            races = [apply_racing_the_worker(n, args, admin, sink, tmp)
                     for n in range(args.runs if args.only != "suspension" else 0)]
            for n, r in enumerate(races):
                if r["exactly_once"] != r["people"] or r["waiting"] or r["dead"] or not r["empty_plan"]:
                    broken.append(f"apply racing the worker, run {n + 1}: {r}")
            if races:
                print(f"apply racing the worker, {args.runs} run(s) of {races[0]['people']} people: codes exactly once "
                      f"in {sum(r['exactly_once'] == r['people'] for r in races)}/{args.runs} runs, "
                      f"{sum(r['dead'] for r in races)} dead letters, empty plan after "
                      f"{sum(r['empty_plan'] for r in races)}/{args.runs}; apply + deliveries "
                      f"{statistics.median(r['seconds'] for r in races):.1f} s median")
            susp = [suspension_racing_delivery(n, args, admin, sink, tmp)
                    for n in range(args.runs if args.only != "race" else 0)]
            for n, r in enumerate(susp):
                if r["mailed_suspended"] or r["enabled_suspended"] or r["others_mailed_once"] != r["others"]:
                    broken.append(f"suspension racing delivery, run {n + 1}: {r}")
            if susp:
                print(f"suspension racing a queued delivery, {args.runs} run(s), {susp[0]['suspended']} suspended each: "
                      f"{sum(r['mailed_suspended'] for r in susp)} codes mailed to a suspended person, "
                      f"{sum(r['enabled_suspended'] for r in susp)} suspended accounts enabled; the others mailed "
                      f"once in {sum(r['others_mailed_once'] == r['others'] for r in susp)}/{args.runs} runs")
    finally:
        sink.stop()
        remove_managed(admin)
    for b in broken:
        print("BROKEN:", b, file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
