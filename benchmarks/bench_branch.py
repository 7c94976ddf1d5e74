"""Keycloak at the size of a whole branch (issue 27 §3 and §6): the full no-op plan, the bulk endpoint's pages
and the plans PostgreSQL chose for them, on a realm of `--partners` partners of 5 people each (50,000 partners,
250,000 people by default). Printed, never asserted; it takes about 15 minutes at the default size.

    .venv/bin/python benchmarks/bench_branch.py [--partners 50000] [--template 50] [--pages 3]

Provisioning 50,000 partners through Keycloak's API takes hours on two cores (2,000 took 539 s), so it builds
the realm the way a restore would: it starts a throwaway PostgreSQL and a Keycloak on it (instance "branch",
ports 8380/9300), provisions `--template` synthetic partners through our reconciler (real Keycloak writes:
organisations, groups with roles, users with passwords, memberships), stops Keycloak, copies those partners'
rows in SQL until the realm holds `--partners` (every id, SIRET, identifiant and name rewritten: each copy is
exactly what the reconciler would have written for the partner of that number), and starts Keycloak again with
PostgreSQL's auto_explain on, so the plans of the bulk endpoint's queries are logged with their real costs.

Then it measures:
- a page of 500 marked groups (and of users) at the start and at the end of the realm, read by key (`after`,
  what the gateway does) and by offset (`first`, what it did before): the cost of a page must not grow with
  where it is;
- the full no-op plan: every partner desired (the same synthetic registry) against everything observed;
  requests, time and the process's memory; it must find nothing to do;
- the plan of one partner (an API mutation's).
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_reconcile import UUID, counting, synthetic  # noqa: E402

from devstack import keycloak as kc  # noqa: E402
from provisioning.domain import naming as n  # noqa: E402
from provisioning.domain.model import Registry  # noqa: E402
from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway  # noqa: E402
from provisioning.reconcile.apply import apply  # noqa: E402
from provisioning.reconcile.desired import desired_state  # noqa: E402
from provisioning.reconcile.plan import plan  # noqa: E402
from provisioning.reconcile.state import Scope  # noqa: E402
from tests.support.postgres import LocalPostgres  # noqa: E402

SECRET = "demo-only-provisioning-secret"
PER_PARTNER = 5

# the rows a partner owns in Keycloak's tables, found from the `partner` attribute of its groups and users
CLONE = """
create temporary table tpl_groups as
  select distinct a.group_id as id, a.value as siret from group_attribute a where a.name = 'partner';
create temporary table tpl_users as
  select distinct a.user_id as id, a.value as siret from user_attribute a where a.name = 'partner';
create temporary table tpl_orgs as
  select o.id, t.siret from org o join tpl_groups t on t.id = o.group_id;
-- one copy of each template partner per row of `copies`: k, its SIRET, the copy's SIRET and their tags
create or replace function pg_temp.nid(id varchar, k int) returns varchar language sql immutable as
  $$ select substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4) || '-' || substr(h, 17, 4)
            || '-' || substr(h, 21, 12) from (select md5(id || ':' || k) as h) x $$;
create or replace function pg_temp.rw(v varchar, c copies) returns varchar language sql immutable as
  $$ select replace(replace(replace(v, c.siret, c.new_siret), c.tag, c.new_tag), c.name, c.new_name) $$;
insert into keycloak_group (id, name, parent_group, realm_id, type, description, org_id, created_timestamp,
                            last_modified_timestamp)
  select pg_temp.nid(g.id, c.k),
         case when g.type = 1 then pg_temp.nid(g.name, c.k) else pg_temp.rw(g.name, c) end,
         case when g.parent_group in (select id from tpl_groups) then pg_temp.nid(g.parent_group, c.k)
              else g.parent_group end,
         g.realm_id, g.type, g.description, null,  -- its organisation, once that is copied (they name each other)
         g.created_timestamp, g.last_modified_timestamp
  from keycloak_group g join tpl_groups t on t.id = g.id join copies c on c.siret = t.siret;
insert into group_attribute (id, name, value, group_id)
  select pg_temp.nid(a.id, c.k), a.name, pg_temp.rw(a.value, c), pg_temp.nid(a.group_id, c.k)
  from group_attribute a join tpl_groups t on t.id = a.group_id join copies c on c.siret = t.siret;
insert into group_role_mapping (role_id, group_id)
  select m.role_id, pg_temp.nid(m.group_id, c.k)
  from group_role_mapping m join tpl_groups t on t.id = m.group_id join copies c on c.siret = t.siret;
insert into org (id, enabled, realm_id, group_id, name, description, alias, redirect_url)
  select pg_temp.nid(o.id, c.k), o.enabled, o.realm_id, pg_temp.nid(o.group_id, c.k), pg_temp.rw(o.name, c),
         o.description, pg_temp.rw(o.alias, c), o.redirect_url
  from org o join tpl_orgs t on t.id = o.id join copies c on c.siret = t.siret;
update keycloak_group g set org_id = pg_temp.nid(o.org_id, c.k)
  from keycloak_group o join tpl_groups t on t.id = o.id join copies c on c.siret = t.siret
  where o.org_id is not null and g.id = pg_temp.nid(o.id, c.k);
insert into user_entity (id, email, email_constraint, email_verified, enabled, federation_link, first_name,
                         last_name, realm_id, username, created_timestamp, service_account_client_link, not_before,
                         last_modified_timestamp)
  select pg_temp.nid(u.id, c.k), pg_temp.rw(u.email, c), pg_temp.rw(u.email_constraint, c), u.email_verified,
         u.enabled, u.federation_link, u.first_name, u.last_name, u.realm_id, pg_temp.rw(u.username, c),
         u.created_timestamp, u.service_account_client_link, u.not_before, u.last_modified_timestamp
  from user_entity u join tpl_users t on t.id = u.id join copies c on c.siret = t.siret;
insert into user_attribute (name, value, user_id, id, long_value_hash, long_value_hash_lower_case, long_value)
  select a.name, pg_temp.rw(a.value, c), pg_temp.nid(a.user_id, c.k), pg_temp.nid(a.id, c.k), a.long_value_hash,
         a.long_value_hash_lower_case, a.long_value
  from user_attribute a join tpl_users t on t.id = a.user_id join copies c on c.siret = t.siret;
insert into credential (id, salt, type, user_id, created_date, user_label, secret_data, credential_data, priority,
                        version)
  select pg_temp.nid(x.id, c.k), x.salt, x.type, pg_temp.nid(x.user_id, c.k), x.created_date, x.user_label,
         x.secret_data, x.credential_data, x.priority, x.version
  from credential x join tpl_users t on t.id = x.user_id join copies c on c.siret = t.siret;
insert into user_required_action (user_id, required_action)
  select pg_temp.nid(x.user_id, c.k), x.required_action
  from user_required_action x join tpl_users t on t.id = x.user_id join copies c on c.siret = t.siret;
insert into user_role_mapping (role_id, user_id)
  select x.role_id, pg_temp.nid(x.user_id, c.k)
  from user_role_mapping x join tpl_users t on t.id = x.user_id join copies c on c.siret = t.siret;
insert into user_group_membership (group_id, user_id, membership_type)
  select case when m.group_id in (select id from tpl_groups) then pg_temp.nid(m.group_id, c.k) else m.group_id end,
         pg_temp.nid(m.user_id, c.k), m.membership_type
  from user_group_membership m join tpl_users t on t.id = m.user_id join copies c on c.siret = t.siret;
"""


def _copies(template: int, partners: int) -> list[dict]:
    """Copy k of template partner i is partner k·template + i of the synthetic registry."""
    reg = synthetic(partners, PER_PARTNER)
    out = []
    for m in range(template, partners):
        i, k = m % template, m // template
        out.append({"k": k, "siret": reg.partners[i].siret, "new_siret": reg.partners[m].siret,
                    "tag": f"bench{i}.", "new_tag": f"bench{m}.", "name": f"Partenaire {i} (",
                    "new_name": f"Partenaire {m} ("})
    return out


def clone(engine: sa.Engine, template: int, partners: int) -> float:
    t = time.perf_counter()
    with engine.begin() as c:
        c.execute(sa.text("create temporary table copies (k int, siret varchar, new_siret varchar, tag varchar, "
                          "new_tag varchar, name varchar, new_name varchar)"))
        c.execute(sa.text("insert into copies values (:k, :siret, :new_siret, :tag, :new_tag, :name, :new_name)"),
                  _copies(template, partners))
        for statement in CLONE.split(";\n"):
            if statement.strip():
                c.exec_driver_sql(statement)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("vacuum analyze")
    return time.perf_counter() - t


def _page(url: str, token: str, **params) -> tuple[float, list[dict]]:
    t = time.perf_counter()
    r = requests.get(f"{url}/realms/mon-compte-partenaire/{n.BULK_ENDPOINT}", params={"max": 500, **params},
                     headers={"Authorization": f"Bearer {token}"}, timeout=600)
    r.raise_for_status()
    return time.perf_counter() - t, r.json()


def pages(url: str, rounds: int) -> None:
    token = requests.post(f"{url}/realms/mon-compte-partenaire/protocol/openid-connect/token", timeout=30, data={
        "grant_type": "client_credentials", "client_id": "provisioning", "client_secret": SECRET}).json()["access_token"]
    for kind in ("groups", "users"):
        # the realm walked by key once: the last id of each page, to ask for the last full page both ways
        ends, count = [], 0
        page = _page(url, token, kind=kind)[1]
        while page:
            ends.append(page[-1]["id"])
            count += len(page)
            if len(page) < 500:
                break
            page = _page(url, token, kind=kind, after=ends[-1])[1]
        last_full = max(count // 500 - 1, 0)  # the last page holding 500
        by_key = {"after": ends[last_full - 1]} if last_full else {}
        for label, params in (("first page", {}), ("last full page by key (after)", by_key),
                              ("last full page by offset", {"first": last_full * 500})):
            took = sorted(_page(url, token, kind=kind, **params)[0] for _ in range(rounds))
            print(f"  {kind} ({count} in all), {label:30} median {statistics.median(took) * 1000:8.1f} ms "
                  f"[{took[0] * 1000:.1f}–{took[-1] * 1000:.1f}]", flush=True)


def _print_plans(log: str, title: str) -> None:
    """Each statement's slowest run in auto_explain's lines, with the top of its plan."""
    print(title, flush=True)
    slowest: dict[str, tuple[float, str]] = {}
    for m in re.finditer(r"duration: ([\d.]+) ms  plan:\n(.*?)(?=\n\S|\Z)", log, re.S):
        query = re.search(r"Query Text: (.*)", m.group(2))
        text, ms = (query.group(1) if query else "?"), float(m.group(1))
        if ms > slowest.get(text, (0.0, ""))[0]:
            slowest[text] = (ms, m.group(2))
    for text, (ms, how) in sorted(slowest.items(), key=lambda kv: -kv[1][0]):
        print(f"  {ms:8.0f} ms at worst  {text[:200]}")
        print("\n".join("      " + line.strip("\t") for line in how.splitlines()[1:16]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partners", type=int, default=50_000)
    ap.add_argument("--template", type=int, default=50, help="partners provisioned through Keycloak's API")
    ap.add_argument("--pages", type=int, default=3, help="repetitions of each page read")
    ap.add_argument("--repeat", type=int, default=2, help="full no-op plans")
    args = ap.parse_args()
    if args.partners < args.template:
        ap.error("--partners must be at least --template")
    pg = LocalPostgres()
    url = pg.start()
    host = url.split("@", 1)[1]
    engine = sa.create_engine(url)
    extra = dict(kc.test_instance().extra_env)
    extra.update(KC_DB="postgres", KC_DB_URL=f"jdbc:postgresql://{host}", KC_DB_USERNAME="postgres",
                 KC_DB_PASSWORD="unused")
    inst = replace(kc.test_instance(), name="branch", http_port=8380, management_port=9300, extra_env=extra)
    try:
        kc.start(inst, fresh_data=True)
        gw = KeycloakGateway(KeycloakConfig(inst.url, client_secret=SECRET))
        reg = synthetic(args.template, PER_PARTNER)
        t = time.perf_counter()
        report = apply(desired_state(reg, date.today()), gw, new_password=lambda: "Bench-Provisoire-2026!", workers=4)
        print(f"template: {args.template} partners provisioned through Keycloak, {len(report.applied)} changes in "
              f"{time.perf_counter() - t:.0f} s", flush=True)
        kc.stop(inst)
        print(f"copied in SQL to {args.partners} partners / {args.partners * PER_PARTNER} people in "
              f"{clone(engine, args.template, args.partners):.0f} s", flush=True)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("load 'auto_explain'")  # its settings are known once it is loaded
            for setting in ("session_preload_libraries = 'auto_explain'", "auto_explain.log_min_duration = 200",
                            "auto_explain.log_analyze = on", "auto_explain.log_buffers = on"):
                c.exec_driver_sql(f"alter system set {setting}")
            c.exec_driver_sql("select pg_reload_conf()")
        t = time.perf_counter()
        kc.start(inst)
        print(f"Keycloak started on it in {time.perf_counter() - t:.0f} s", flush=True)

        print("1. a page of 500 of the bulk endpoint, at the start and at the end of the realm", flush=True)
        pages(inst.url, args.pages)

        print(f"2. the full no-op plan: {args.partners} partners desired against everything observed", flush=True)
        gw = KeycloakGateway(KeycloakConfig(inst.url, client_secret=SECRET))
        calls = counting(gw)
        whole = synthetic(args.partners, PER_PARTNER)
        desired = desired_state(whole, date.today())
        took = []
        for rep in range(args.repeat):
            calls.clear()
            t = time.perf_counter()
            observed = gw.observe()
            observed_in = time.perf_counter() - t
            changes = plan(desired, observed)
            took.append(time.perf_counter() - t)
            print(f"  run {rep + 1}: {took[-1]:.1f} s (observe {observed_in:.1f} s), {sum(calls.values())} requests, "
                  f"{len(changes)} change(s); {len(observed.users)} users and {len(observed.groups)} groups observed; "
                  f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB", flush=True)
            for c in changes[:5]:
                print(f"    {c.action} {c.kind} {c.target}: {c.reason}")
        print(f"  median {statistics.median(took):.1f} s (goal ≤ 600 s)")

        print("3. the plan of one partner (an API mutation's)", flush=True)
        p = whole.partners[len(whole.partners) // 2]
        scope = Scope(p.siret, frozenset(u.identifiant for u in p.users))
        spent: dict[str, list[float]] = {}  # where the time goes: Keycloak's answer time by request path

        def timed(r, *a, **k):
            path = UUID.sub("{id}", r.request.path_url.split("?")[0])
            spent.setdefault(f"{r.request.method} {path}", []).append(r.elapsed.total_seconds())
        gw.kc.connection._s.hooks["response"].append(timed)
        mine = scope.slice(desired_state(Registry(whole.cafs, [p]), date.today()))  # as a mutation builds it
        log_file = pg.dir / "log"
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:  # every statement from here
            c.exec_driver_sql("alter system set auto_explain.log_min_duration = 10")
            c.exec_driver_sql("select pg_reload_conf()")
        time.sleep(1)
        mark = log_file.stat().st_size
        took, observing = [], []
        for _ in range(5):
            calls.clear()
            spent.clear()
            t = time.perf_counter()
            observed = gw.observe(scope)
            observing.append(time.perf_counter() - t)
            changes = plan(mine, observed)
            took.append(time.perf_counter() - t)
        print(f"  median {statistics.median(took) * 1000:.0f} ms [{min(took) * 1000:.0f}–{max(took) * 1000:.0f}] "
              f"(observing {statistics.median(observing) * 1000:.0f} ms), {sum(calls.values())} requests, "
              f"{len(changes)} change(s) (goal ≤ 200 ms); the last one's requests:", flush=True)
        for path, seconds in sorted(spent.items(), key=lambda kv: -sum(kv[1])):
            print(f"    {sum(seconds) * 1000:7.0f} ms  {len(seconds):3d} × {path}")
        _print_plans(log_file.read_bytes()[mark:].decode(errors="replace"),
                     "  its statements over 10 ms, at worst over the five plans:")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("alter system set auto_explain.log_min_duration = 200")
            c.exec_driver_sql("select pg_reload_conf()")

        _print_plans(log_file.read_bytes()[:mark].decode(errors="replace"),
                     "4. the plans PostgreSQL chose for statements over 200 ms before (auto_explain):")
    finally:
        kc.stop(inst)
        engine.dispose()
        pg.stop()


if __name__ == "__main__":
    main()
