"""First apply of a realm against Keycloak's own partialImport of the same content (issue 11 §2), measured in
the same run, alternating, three repetitions; numbers printed, nothing asserted.

    KEYCLOAK_URL=http://localhost:8180 KEYCLOAK_ADMIN=admin KEYCLOAK_ADMIN_PASSWORD=… \\
        .venv/bin/python benchmarks/bench_first_apply.py [--partners 50] [--repeat 3]

Ours: the registry stored, then one reconcile: organisations, groups with their roles, users, memberships,
and each user's provisional password set (Argon2) as its credentials mail leaves (outbox, to memory).
partialImport: the same users (with a temporary password each), groups, roles and memberships in one request;
it has no organisations, so ours does more. Both start from a realm without our objects. It deletes every
object carrying the ownership marker in that realm: never point it at a Keycloak whose data matters.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from devstack.admin import AdminSession, remove_managed
from provisioning.domain import naming as n
from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway
from provisioning.notify.notifier import MemoryNotifier
from provisioning.reconcile.desired import desired_state
from provisioning.services import Actor, Provisioning
from provisioning.store.uow import make_engine, migrate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_reconcile import synthetic
from common import admin_from_env

NATIONAL = Actor("bench", system=True)


def ours(keycloak: str, partners: int, per: int) -> float:
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp(prefix='bench-first-apply-')}/registry.sqlite")
    migrate(engine)
    gw = KeycloakGateway(KeycloakConfig(keycloak, client_secret=os.environ.get(
        "MCP_PROVISIONING_CLIENT_SECRET", "demo-only-provisioning-secret")))
    notifier = MemoryNotifier()
    svc = Provisioning(engine, lambda: gw, notifier)
    t0 = time.perf_counter()
    svc.import_registry(NATIONAL, synthetic(partners, per))
    report = svc.reconcile(NATIONAL)
    took = time.perf_counter() - t0
    passwords = [m for m in notifier.sent if "mot de passe" in m[1]]
    assert not report.failed and len(passwords) == partners * per, (report.failed, len(passwords))
    return took


def import_body(partners: int, per: int) -> dict:
    """The same content as Keycloak's partial import representation (organisations aside)."""
    want = desired_state(synthetic(partners, per), date.today())
    attrs = lambda spec: {**{k: [v] for k, v in spec.attributes}, n.MANAGED_BY_ATTR: [n.MANAGED_BY]}  # noqa: E731
    nodes: dict[str, dict] = {}
    roots: list[dict] = []
    for path, g in sorted(want.groups.items(), key=lambda kv: kv[1].depth):
        node = {"name": path.rsplit("/", 1)[1], "path": path, "attributes": attrs(g), "subGroups": [],
                "realmRoles": sorted(r for c, r in g.roles if c is None),
                "clientRoles": {c: sorted(r for c2, r in g.roles if c2 == c) for c, _ in g.roles if c}}
        nodes[path] = node
        parent = path.rsplit("/", 1)[0]
        (nodes[parent]["subGroups"] if parent in nodes else roots).append(node)
    groups_of: dict[str, list[str]] = {}
    for path, members in want.members.items():
        for u in members:
            groups_of.setdefault(u, []).append(path)
    users = [{"username": u.username, "firstName": u.first_name, "lastName": u.last_name, "email": u.email,
              "emailVerified": True, "enabled": u.enabled, "attributes": attrs(u),
              "requiredActions": ["TERMS_AND_CONDITIONS", "UPDATE_PASSWORD"],
              "credentials": [{"type": "password", "value": "Import-Provisoire-2026!", "temporary": True}],
              "groups": sorted(groups_of.get(u.username, []))} for u in want.users.values()]
    return {"ifResourceExists": "FAIL", "groups": roots, "users": users}


def partial_import(admin: AdminSession, body: dict, chunk: int = 1000) -> float:
    """Keycloak's partialImport of the whole body, in requests of `chunk` users (the groups with the first):
    Keycloak refuses request bodies over 10 MB (413), about 7,000 users here."""
    t0 = time.perf_counter()
    users = body["users"]
    for i in range(0, max(len(users), 1), chunk):
        part = {**body, "groups": body["groups"] if i == 0 else [], "users": users[i:i + chunk]}
        r = admin.post("/partialImport", json=part, timeout=3600)
        assert r.status_code == 200, r.text[:300]
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keycloak", default=os.environ.get("KEYCLOAK_URL", "http://localhost:8180"))
    ap.add_argument("--partners", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--users-per-partner", type=int, default=4)
    args = ap.parse_args()
    admin = admin_from_env(args.keycloak)
    body = import_body(args.partners, args.users_per_partner)
    remove_managed(admin)
    mine, theirs = [], []
    try:
        for i in range(args.repeat):
            theirs.append(partial_import(admin, body))
            print(f"  run {i + 1}: partialImport {theirs[-1]:.1f} s", flush=True)
            remove_managed(admin)
            mine.append(ours(args.keycloak, args.partners, args.users_per_partner))
            print(f"  run {i + 1}: ours {mine[-1]:.1f} s (ratio {mine[-1] / theirs[-1]:.2f})", flush=True)
            remove_managed(admin)
    finally:
        remove_managed(admin)
    ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
    print(f"first apply of {args.partners} partners / {args.partners * args.users_per_partner} users, {args.repeat} repetitions, "
          "median [min–max]")
    print(f"  ours (store + reconcile + passwords set)  {statistics.median(mine):7.1f} s [{min(mine):.1f}–{max(mine):.1f}]")
    print(f"  Keycloak partialImport (no organisations)  {statistics.median(theirs):7.1f} s "
          f"[{min(theirs):.1f}–{max(theirs):.1f}]")
    print(f"  ratio ours / partialImport               {statistics.median(ratios):7.2f} [{min(ratios):.2f}–{max(ratios):.2f}]"
          "  (goal ≤ 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
