"""Every benchmark, one command, each figure printed beside its baseline from the same run:

    .venv/bin/python benchmarks/run.py                 # medium: the table of docs/benchmarks.md
    .venv/bin/python benchmarks/run.py --size small    # a quick pass (.ci/run): the benchmarks keep working
    .venv/bin/python benchmarks/run.py --size large    # 2,000 partners / 10,000 users, Keycloak on PostgreSQL
    .venv/bin/python benchmarks/run.py --size branch   # a whole branch: 50,000 partners / 250,000 people (~25 min)

It starts its own Keycloak (instance "bench", ports 8280/9200, fresh data; on PostgreSQL for --size large,
since Keycloak's dev-file H2 fails on large imports) and stops it at the end — unless --reuse-keycloak names a
running one (.ci/run passes the test run's, so CI starts Keycloak once). Nothing is asserted on time; a
benchmark that crashes makes the run fail. The cluster benchmark brings a whole production topology up: it runs
at the medium size only (the failover tests already bring one up in CI).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack import keycloak as kc  # noqa: E402

SIZES = {  # (script, arguments) for each size
    "small": [("bench_pages.py", ["--seconds", "1", "--repeat", "1"]),
              ("bench_logins.py", ["--seconds", "2", "--repeat", "1", "--concurrency", "2"]),
              ("bench_reconcile.py", ["--partners", "10", "--cleanup"]),
              ("bench_first_apply.py", ["--partners", "5", "--repeat", "1"]),
              ("bench_core.py", ["--large", "200", "--repeat", "1", "--people", "500"]),
              ("bench_worker_kill.py", ["--users", "15", "--runs", "1", "--kill-within", "3"]),
              ("bench_users_page.py", ["--users", "300", "--rounds", "5", "--repeat", "1"]),
              ("bench_scim.py", ["--partners", "50", "--rounds", "5", "--repeat", "1"]),
              ("bench_one_writer.py", ["--people", "20", "--runs", "1"])],
    "medium": [("bench_pages.py", ["--seconds", "5", "--repeat", "3"]),
               ("bench_logins.py", ["--seconds", "10", "--repeat", "3", "--concurrency", "4"]),
               ("bench_reconcile.py", ["--partners", "200", "--cleanup"]),
               ("bench_first_apply.py", ["--partners", "50", "--repeat", "3"]),
               ("bench_core.py", ["--large", "5000", "--repeat", "3"]),
               ("bench_users_page.py", ["--users", "2000", "--rounds", "50", "--repeat", "3"]),
               ("bench_scim.py", ["--partners", "500", "--rounds", "30", "--repeat", "3"]),
               ("bench_one_writer.py", ["--people", "150", "--runs", "20"]),
               ("bench_cluster.py", ["--seconds", "10", "--repeat", "3", "--concurrency", "4", "--failovers", "3"])],
    "large": [("bench_reconcile.py", ["--partners", "2000", "--users-per-partner", "5", "--cleanup"]),
              ("bench_first_apply.py", ["--partners", "2000", "--users-per-partner", "5", "--repeat", "1"])],
    # issue 27 §6: each script brings its own servers (Keycloak and PostgreSQL for bench_branch)
    "branch": [("bench_branch.py", ["--partners", "50000", "--template", "50", "--pages", "3", "--repeat", "1"]),
               ("bench_scim.py", ["--partners", "62500", "--rounds", "5", "--repeat", "1", "--national"]),
               ("bench_core.py", ["--large", "5000", "--repeat", "3", "--people", "5000", "--postgres"])],
}
SELF_CONTAINED = {"branch"}  # sizes whose scripts start what they need


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=sorted(SIZES), default="medium")
    ap.add_argument("--reuse-keycloak", metavar="URL",
                    help="a running Keycloak with the realm imported (admin from KEYCLOAK_ADMIN / KEYCLOAK_ADMIN_PASSWORD)")
    args = ap.parse_args()
    if args.size in SELF_CONTAINED:
        print(f"[bench] machine: {os.cpu_count()} CPU(s); each script starts its own servers", flush=True)
        return _run_all(SIZES[args.size], {**os.environ, "PYTHONPATH": str(ROOT)})
    if args.reuse_keycloak:
        if args.size == "large":
            ap.error("--size large starts its own Keycloak on PostgreSQL")
        print(f"[bench] machine: {os.cpu_count()} CPU(s); Keycloak {kc.KEYCLOAK_VERSION} at {args.reuse_keycloak} "
              "(reused)", flush=True)
        env = {**os.environ, "KEYCLOAK_URL": args.reuse_keycloak, "PYTHONPATH": str(ROOT)}
        return _run_all(SIZES[args.size], env)
    pg = None
    extra = dict(kc.test_instance().extra_env)  # the realm registers the applications' test ports
    if args.size == "large":
        from tests.support.postgres import LocalPostgres
        pg = LocalPostgres()
        url = pg.start()
        host = url.split("@", 1)[1]
        extra.update(KC_DB="postgres", KC_DB_URL=f"jdbc:postgresql://{host}", KC_DB_USERNAME="postgres",
                     KC_DB_PASSWORD="unused")
    inst = replace(kc.test_instance(), name="bench", http_port=8280, management_port=9200, extra_env=extra)
    print(f"[bench] machine: {os.cpu_count()} CPU(s); Keycloak {kc.KEYCLOAK_VERSION} on "
          f"{'PostgreSQL' if pg else 'dev-file H2'}", flush=True)
    kc.start(inst, fresh_data=True)
    env = {**os.environ, "KEYCLOAK_URL": inst.url, "KEYCLOAK_ADMIN": inst.admin_user,
           "KEYCLOAK_ADMIN_PASSWORD": inst.admin_password, "PYTHONPATH": str(ROOT)}
    try:
        return _run_all(SIZES[args.size], env)
    finally:
        kc.stop(inst)
        if pg:
            pg.stop()


def _run_all(scripts: list[tuple[str, list[str]]], env: dict[str, str]) -> int:
    failed = []
    for script, arguments in scripts:
        print(f"\n[bench] {script} {' '.join(arguments)}", flush=True)
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *arguments], env=env, cwd=ROOT)
        print(f"[bench] {script}: {'ok' if done.returncode == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s",
              flush=True)
        if done.returncode != 0:
            failed.append(script)
    if failed:
        print(f"[bench] failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
