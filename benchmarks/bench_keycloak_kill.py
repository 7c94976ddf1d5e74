"""Keycloak killed (SIGKILL) while the worker delivers a new partner's codes, then started again (issue 25):
does every password that was mailed work? Measured on the code before issue 25: one of 150 was mailed a
password Keycloak did not hold, and the outbox said « envoyé ». Figures printed; a broken guarantee fails.

    .venv/bin/python benchmarks/bench_keycloak_kill.py --people 60 --runs 5

It starts its own Keycloak (instance "kill", ports 8380/9300, fresh data) so that it can kill it, and a worker
process; every mailed password is then tried in a real login (the provisional password opens the
first-connection pages).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack import keycloak as kc  # noqa: E402
from devstack.admin import AdminSession, remove_managed  # noqa: E402
from devstack.smtp_sink import MailSink  # noqa: E402
from provisioning.services import Actor, Provisioning  # noqa: E402
from provisioning.store.uow import make_engine, migrate  # noqa: E402
from tests.support.oidc import Page, Rp  # noqa: E402
from tests.unit.factories import example_data, registry, second_partner  # noqa: E402

NATIONAL = Actor("bench", system=True)
PORTAIL = f"http://localhost:{kc.TEST_APP_PORTS['portail']}/auth/callback"


def one_run(n: int, args, inst, admin: AdminSession, sink: MailSink, tmp: Path) -> dict:
    remove_managed(admin)
    db = tmp / f"kill-{n}.sqlite"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    d = example_data()
    p = second_partner(d)
    tag = f"k{n}x{random.randrange(10**6)}"
    people = [f"{tag}.{i:03d}" for i in range(args.people)]
    for who in people:
        p["users"].append({"identifiant": who, "first_name": "Camille", "last_name": "Coupure",
                           "email": f"{who}@coupure.example"})
    from provisioning.keycloak.fake import FakeGateway
    from provisioning.notify.notifier import MemoryNotifier
    Provisioning(engine, lambda: FakeGateway(), MemoryNotifier(), reconcile_mode="worker").import_registry(
        NATIONAL, registry(d))  # stored, a request per partner: the worker below does everything in Keycloak
    env = {**os.environ, "KEYCLOAK_URL": inst.url, "MCP_DATABASE_URL": f"sqlite:///{db}", "MCP_ENV": "",
           "MCP_SMTP_HOST": "127.0.0.1", "MCP_SMTP_PORT": str(sink.port), "MCP_RECONCILE": "worker",
           "MCP_RECONCILE_CLAIM_SECONDS": "6"}
    worker = subprocess.Popen([sys.executable, "-m", "provisioning.cli", "worker", "--interval", "0.2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not any(m.recipients and m.recipients[0].startswith(tag) for m in sink.mails):  # deliveries began
            if time.monotonic() > deadline:
                raise SystemExit("no code left within 120 s")
            time.sleep(0.05)
        time.sleep(random.uniform(0, args.kill_within))
        mailed_before = sum(1 for m in sink.mails if m.recipients[0].startswith(tag) and "mot de passe" in m.subject)
        os.killpg(kc.running_pid(inst), signal.SIGKILL)
        t0 = time.monotonic()
        while any(kc._port_busy(port) for port in (inst.http_port, inst.management_port)):
            if time.monotonic() - t0 > 60:
                raise SystemExit("the killed Keycloak's ports are still taken after 60 s")
            time.sleep(0.2)
        kc.start(inst)  # the same data: what Keycloak had committed
        restart = time.monotonic() - t0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            out = subprocess.run([sys.executable, "-m", "provisioning.cli", "outbox", "--json"], env=env,
                                 capture_output=True, text=True, timeout=60)
            mailed = {m.recipients[0].split("@")[0] for m in sink.mails
                      if m.recipients[0].startswith(tag) and "mot de passe" in m.subject}
            if out.returncode == 0 and not json.loads(out.stdout) and len(mailed) == len(people):
                break
            time.sleep(1)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    works, broken = 0, []
    for who in people:
        mails = [m for m in sink.mails if m.recipients[0] == f"{who}@coupure.example" and "mot de passe" in m.subject]
        if not mails:
            broken.append(f"{who}: no password mailed")
            continue
        password = re.search(r"provisoire\s*:\s*(\S+)", mails[-1].body).group(1)
        rp = Rp(inst.url + f"/realms/{kc.REALM}", "portail", "demo-only-portail-secret", PORTAIL)
        _, page = rp.authorize()
        result = rp.login(page, who, password)
        if isinstance(result, Page) and result.soup.find(id="kc-accept"):  # the usage rules: the password worked
            works += 1
        else:
            broken.append(f"{who}: the last password mailed does not open a session")
    return {"people": len(people), "mailed_before_kill": mailed_before, "works": works, "broken": broken,
            "restart": restart}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=60)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kill-within", type=float, default=3.0, help="seconds after the first code left")
    ap.add_argument("--postgres", action="store_true",
                    help="Keycloak on a local PostgreSQL, as in production (dev-file H2 writes committed data to "
                         "disk up to a second later: a SIGKILL loses what it had acknowledged)")
    args = ap.parse_args()
    extra, pg = dict(kc.test_instance().extra_env), None
    if args.postgres:
        from tests.support.postgres import LocalPostgres
        pg = LocalPostgres()
        host = pg.start().split("@", 1)[1]
        extra.update(KC_DB="postgres", KC_DB_URL=f"jdbc:postgresql://{host}", KC_DB_USERNAME="postgres",
                     KC_DB_PASSWORD="unused")
    inst = replace(kc.test_instance(), name="kill", http_port=8380, management_port=9300, extra_env=extra)
    kc.start(inst, fresh_data=True)
    admin = AdminSession(inst.url, inst.admin_user, inst.admin_password, kc.REALM)
    sink = MailSink().start()
    runs = []
    try:
        with tempfile.TemporaryDirectory() as d:
            for n in range(args.runs):
                r = one_run(n, args, inst, admin, sink, Path(d))
                runs.append(r)
                print(f"  run {n + 1}: Keycloak killed after {r['mailed_before_kill']} password(s) mailed, back in "
                      f"{r['restart']:.0f} s; {r['works']}/{r['people']} last mailed passwords open a session",
                      flush=True)
    finally:
        sink.stop()
        kc.stop(inst)
        if pg:
            pg.stop()
    total = sum(r["people"] for r in runs)
    print(f"Keycloak ({'PostgreSQL' if pg else 'dev-file H2'}) SIGKILL during delivery, {args.runs} run(s) of "
          f"{args.people} new people: "
          f"{sum(r['works'] for r in runs)}/{total} mailed passwords work")
    for r in runs:
        for b in r["broken"]:
            print("BROKEN:", b, file=sys.stderr)
    return 1 if any(r["broken"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
