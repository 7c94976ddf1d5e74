"""Snapshots for « a refusal wrote nothing »: every table's rows (the refusal property, the simulation) and
`with unchanged(engine, kc_admin): <refused request>`, which fails if the registry, the outbox or Keycloak moved."""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from provisioning.store import tables as t


def every_table(engine) -> list[tuple[str, list[str]]]:
    with engine.connect() as c:
        return [(tb.name, sorted(repr(tuple(r)) for r in c.execute(sa.select(tb))))
                for tb in t.metadata.sorted_tables]


def state(engine, kc_admin) -> dict:
    with engine.connect() as c:
        store = {
            "partners": sorted(map(tuple, c.execute(sa.select(t.partners.c.siret, t.partners.c.version)).all())),
            "cafs": sorted(r.code for r in c.execute(sa.select(t.cafs.c.code))),
            "audit": c.execute(sa.select(sa.func.count()).select_from(t.audit_log)).scalar(),
            "outbox": c.execute(sa.select(sa.func.count()).select_from(t.outbox)).scalar(),
        }
    users = kc_admin.get("/users", params={"max": 2000, "briefRepresentation": "false"})
    keycloak = {
        "users": sorted((u["username"], u["enabled"], u.get("email"), str(sorted((u.get("attributes") or {}).items())))
                        for u in users),
        "memberships": sorted((u["username"], g["path"]) for u in users
                              for g in kc_admin.get(f"/users/{u['id']}/groups")),
        "organizations": sorted(o["alias"] for o in kc_admin.get("/organizations", params={"max": 2000})),
    }
    return {"store": store, "keycloak": keycloak}


@contextmanager
def unchanged(engine, kc_admin):
    before = state(engine, kc_admin)
    yield
    after = state(engine, kc_admin)
    for part in ("store", "keycloak"):
        for key in before[part]:
            assert after[part][key] == before[part][key], f"{part}.{key} changed"
