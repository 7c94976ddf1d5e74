"""Issue 30 §3: the backup and restore drill on the production topology. Work is left waiting (a suspension and
its mail, a new partner's people), everything is backed up, a change is made after the backup (the recovery
point: it must be lost whole, in the registry and in Keycloak alike), both databases are destroyed with every
process, and the backup is restored on a fresh topology: each person logs in with her own password, nothing of
the audit before the backup is missing, the waiting work resumes, and the plan is empty."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import sqlalchemy as sa

from devstack import backup
from tests.cluster.conftest import Browser
from tests.cluster.test_failover import REALM, _admin, _partner_registry, _text
from tests.support.topology_report import TYPED, figure

DEMO = "12345678900015"


def _password_accepted(c, username: str, password: str) -> bool:
    """A login through the load balancer: accepted when Keycloak goes on past the password (the usage rules,
    a second factor it asks for, or the portal itself)."""
    b = Browser(c)
    r = b.get(c.url("portail") + "/auth/login")
    r = b.submit(r, {"username": username, "password": password})
    if "Règles d'usage" in _text(r) and r.url.startswith(c.url("keycloak")):
        r = b.submit(r, {"accept": ""})
    if r.url.startswith(c.url("portail")) and r.status_code == 200:
        return True
    return 'name="otp"' in r.text or 'name="totp"' in r.text


def _pending(engine, keys: list[str]) -> int:
    from provisioning.store import tables as t
    r = t.reconcile_requests.c
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(
            r.generation > r.done_generation, r.key.in_(keys))).scalar()


def test_backup_destroy_restore_on_a_fresh_topology(cluster_env, tmp_path: Path):
    from provisioning.app_factory import build
    from provisioning.services import Actor
    from provisioning.store import tables as t
    c = cluster_env
    admin = _admin(c)
    system = Actor("test:drill", system=True)

    svc = build()
    if svc.suspend_user(system, DEMO, "paul.bernard", False).changed:  # a run before this one (a kept cluster)
        deadline = time.monotonic() + 60
        while not admin.get("/users", params={"username": "paul.bernard", "exact": "true"})[0]["enabled"]:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    # each person of the demo partner (and the Caf) gets a password of her own, as after her first connection
    people = {u["username"]: u for u in admin.get("/users", params={"max": 2000})
              if u.get("enabled") and not u["username"].startswith("service-account-")
              and not (u.get("email") or "").endswith("@grappe.example")}
    assert {"jeanne.dupont", "marc.martin", "lea.petit"} <= set(people), sorted(people)
    passwords = {name: f"Sauvegarde-{i:02d}-{secrets.token_hex(3)}!" for i, name in enumerate(sorted(people))}
    TYPED.update(passwords.values())
    for name, pw in passwords.items():
        admin.put(f"/users/{people[name]['id']}/reset-password", json={"type": "password", "value": pw,
                                                                      "temporary": False})
    lea_credentials = {x["type"] for x in admin.get(f"/users/{people['lea.petit']['id']}/credentials")}

    # work left waiting: the workers stopped, a suspension (its mail and its reconcile) and a new partner
    for i in range(2):
        c.background_proc("worker", i).stop()
    svc.suspend_user(system, DEMO, "paul.bernard", True)
    tag = "r" + secrets.token_hex(2)
    waiting = _partner_registry(tag, 1, 3)
    svc.import_registry(system, waiting)
    with svc.engine.connect() as conn:
        to_paul = conn.execute(sa.select(t.outbox.c.id).where(
            t.outbox.c.recipient == people["paul.bernard"]["email"], t.outbox.c.sent_at.is_(None))).scalars().all()
        audit_at_backup = set(conn.execute(sa.select(t.audit_log.c.id)).scalars())
    assert to_paul, "the suspension's mail waits in the outbox"
    keys = [DEMO, *(p.siret for p in waiting.partners)]
    assert _pending(svc.engine, keys) == 2

    made = backup.backup(c, tmp_path / "sauvegarde")
    assert set(made.sizes) == {"keycloak", "mcp", "sessions", "afas", "cdap"} and all(made.sizes.values())

    # after the recovery point: a partner recorded and created in Keycloak, to be lost whole
    lost = _partner_registry("l" + secrets.token_hex(2), 1, 2)
    svc.import_registry(system, lost)
    svc.reconcile_request(lost.partners[0].siret)
    lost_people = [u.identifiant for u in lost.partners[0].users]
    assert all(admin.get("/users", params={"username": n, "exact": "true"}) for n in lost_people)
    svc.engine.dispose()

    backup.destroy(c)
    assert not c.postgres_running() and not (c.pg_dir / "data").exists()
    t0 = time.monotonic()
    restored = backup.restore(c, tmp_path / "sauvegarde", say=lambda m: print(m, flush=True))
    serving = time.monotonic() - t0

    svc = build()
    deadline = time.monotonic() + 120
    while _pending(svc.engine, keys):  # the waiting work resumes on the new topology
        assert time.monotonic() < deadline, "the reconcile requests of before the backup did not resume"
        time.sleep(1)
    admin = _admin(c)
    [paul] = admin.get("/users", params={"username": "paul.bernard", "exact": "true"})
    assert paul["enabled"] is False, "the suspension waiting at the backup was carried out"
    for person in waiting.partners[0].users:
        assert admin.get("/users", params={"username": person.identifiant, "exact": "true"}), person.identifiant
    for name in lost_people:
        assert admin.get("/users", params={"username": name, "exact": "true"}) == [], f"{name} survived the restore"
    with svc.uow() as uow:
        assert uow.registry.load().partner(lost.partners[0].siret) is None, "the lost partner is not in the registry"

    deadline = time.monotonic() + 60
    while True:  # the mails queued before the backup leave once a worker runs again, and the new people's codes
        mails = [json.loads(line) for line in (c.dir / "mails.jsonl").read_text().splitlines() if line.strip()]
        to = [r for m in mails for r in m["recipients"]]
        with svc.engine.connect() as conn:
            sent = conn.execute(sa.select(sa.func.count()).where(t.outbox.c.id.in_(to_paul),
                                                                 t.outbox.c.sent_at.is_not(None))).scalar()
        codes = {p.email: to.count(p.email) for p in waiting.partners[0].users}
        if sent == len(to_paul) and all(n >= 2 for n in codes.values()):  # identifiant and password, apart
            break
        assert time.monotonic() < deadline, (sent, codes)
        time.sleep(1)
    assert people["paul.bernard"]["email"] in to

    with svc.engine.connect() as conn:
        audit_now = set(conn.execute(sa.select(t.audit_log.c.id)).scalars())
    assert audit_at_backup <= audit_now, f"{len(audit_at_backup - audit_now)} audit entries lost"

    first_login = time.monotonic()
    refused = [n for n, pw in passwords.items() if n != "paul.bernard" and not _password_accepted(c, n, pw)]
    assert refused == [], f"passwords not restored: {refused}"
    assert not _password_accepted(c, "paul.bernard", passwords["paul.bernard"]), "a suspended account logs in"
    assert {x["type"] for x in admin.get(f"/users/{people['lea.petit']['id']}/credentials")} == lea_credentials

    assert svc.plan() == [], "after the resync, Keycloak is what the registry says"
    figure(f"drill: backup of {sum(made.sizes.values()) // 1024} KiB in {made.finished - made.started:.1f} s; "
          f"restore: databases loaded in {restored.restore_seconds} s, topology serving after "
          f"{serving:.0f} s, {len(passwords) - 1} people logged in with their passwords "
          f"{time.monotonic() - first_login:.1f} s later; realm {REALM}")
