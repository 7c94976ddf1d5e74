"""Benchmark: how observation and planning scale with the number of partners (not a test; run by hand).

    KEYCLOAK_URL=http://localhost:8080 .venv/bin/python benchmarks/bench_reconcile.py --partners 100

Creates N synthetic partners (4 users each, AFAS + CDAP bulletins) in the realm through the reconciler,
then measures a full plan, a scoped plan (one partner, what an API mutation does) and counts the HTTP
requests each makes. `--cleanup` removes them afterwards (they carry the ownership marker).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from collections import Counter
from datetime import date
from pathlib import Path

from provisioning.desired_file import load_file
from provisioning.domain.model import (
    Bulletin,
    Caf,
    Convention,
    ConventionStatus,
    Group,
    Member,
    Partner,
    Profile,
    Registry,
    Service,
    User,
)
from provisioning.domain.rules import siret_with_key
from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway
from provisioning.reconcile.apply import apply
from provisioning.reconcile.desired import desired_state
from provisioning.reconcile.plan import plan
from provisioning.reconcile.state import Scope

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "desired-state.yaml"


def synthetic(n: int, per_partner: int = 4) -> Registry:
    caf = Caf("999", "Caf de test", "habilitations@bench.example")
    partners = []
    for i in range(n):
        siret = siret_with_key(f"{9000000000000 + i:013d}")
        users = [User(f"bench{i}.u{j}", "Prénom", f"Nom{j}", f"bench{i}.u{j}@bench.example")
                 for j in range(max(4, per_partner))]
        afas = Bulletin(Service.AFAS, [Member(users[1].identifiant, {Group.AFAS_DECLARER}, {Profile.ACTIVITE}),
                                       Member(users[2].identifiant, {Group.AFAS_DECLARER}, {Profile.FINANCIER}),
                                       Member(users[3].identifiant, {Group.AFAS_DECLARER}, {Profile.APPROBATEUR})])
        cdap = Bulletin(Service.CDAP, [Member(users[1].identifiant, {Group.CDAP_CONSULTER})])
        partners.append(Partner(siret, f"Partenaire {i}", "999", users[0].identifiant, [], users, [],
                                [Convention(f"B-{i}", ConventionStatus.ACTIVE, bulletins=[afas, cdap])]))
    return Registry([caf], partners)


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def counting(gw: KeycloakGateway, by_path: Counter | None = None) -> Counter:
    """Requests by method; `by_path` (optional) also counts them by path, ids folded (where they go)."""
    calls: Counter = Counter()

    def seen(r, *a, **k):
        calls.update([r.request.method])
        if by_path is not None:
            by_path.update([r.request.method + " " + UUID.sub("{id}", r.request.path_url.split("?")[0])])
    gw.kc.connection._s.hooks["response"].append(seen)
    return calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--partners", type=int, default=50)
    ap.add_argument("--cleanup", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--users-per-partner", type=int, default=4)
    args = ap.parse_args()
    url = os.environ.get("KEYCLOAK_URL", "http://localhost:8080")
    gw = KeycloakGateway(KeycloakConfig(url, client_secret=os.environ.get("MCP_PROVISIONING_CLIENT_SECRET",
                                                                          "demo-only-provisioning-secret")))
    where: Counter = Counter()
    calls = counting(gw, where)
    base = load_file(str(EXAMPLE), date.today())  # the demo seed stays as it is
    reg = synthetic(args.partners, args.users_per_partner)
    reg.cafs += base.cafs
    reg.partners += base.partners
    desired = desired_state(reg, date.today())

    t = time.perf_counter()
    report = apply(desired, gw, new_password=lambda: "Bench-Provisoire-2026!", workers=4)
    print(f"apply ({args.partners} partners): {len(report.applied)} changes in {time.perf_counter() - t:.1f} s, "
          f"{sum(calls.values())} requests")

    took = []
    for _ in range(args.repeat):  # the first one right after the apply also pays Keycloak's catching up
        calls.clear()
        where.clear()
        t = time.perf_counter()
        changes = plan(desired, gw.observe())
        took.append(time.perf_counter() - t)
    total = sum(calls.values())
    print(f"full plan: {len(changes)} changes, median {statistics.median(took):.2f} s "
          f"[{min(took):.2f}–{max(took):.2f}] over {args.repeat}, {total} requests "
          f"({total / len(reg.partners):.2f} a partner)")
    for path, count in where.most_common(8):
        print(f"    {count:6d}  {path}")

    p = reg.partners[args.partners // 2]
    scope = Scope(p.siret, frozenset(u.identifiant for u in p.users))
    calls.clear()
    t = time.perf_counter()
    changes = plan(scope.slice(desired), gw.observe(scope))
    took = [time.perf_counter() - t]
    for _ in range(args.repeat - 1):
        t = time.perf_counter()
        plan(scope.slice(desired), gw.observe(scope))
        took.append(time.perf_counter() - t)
    print(f"scoped plan (1 partner): {len(changes)} changes, median {statistics.median(took):.2f} s "
          f"[{min(took):.2f}–{max(took):.2f}], {sum(calls.values()) // args.repeat} requests")

    if args.cleanup:  # back to the demo seed: bench groups and organisations deleted, bench users disabled
        apply(desired_state(base, date.today()), gw, new_password=lambda: "x")
        for u in gw.observe().users.values():
            if u.managed and u.username.startswith("bench"):
                gw.kc.delete_user(u.id)
        print("cleaned up")


if __name__ == "__main__":
    main()
