"""Issue 30 §3: back up the production topology's databases and restore them on a fresh topology.

    python -m devstack backup --cluster --to DIR      while it runs
    python -m devstack restore --cluster --from DIR   on a topology whose databases are gone

Logical dumps (`pg_dump --format=custom`, one consistent snapshot per database), each taken by the database's own
role (least privilege). Keycloak's database is dumped first and the registry's after it: whatever the registry
decided between the two snapshots is in the registry's dump with its reconcile request, and the restore asks the
workers to compare every partner with Keycloak (`mcp-provisioning resync`), so Keycloak follows the registry
whatever moment each dump caught. What Keycloak alone holds (passwords, second factors, sessions) is as its dump
left it. The configuration (secrets, certificate) is not in a backup: production keeps it in its vault; here it
stays in `<cluster dir>/secrets.json` and `tls/`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa

from devstack import keycloak as kc
from devstack.cluster import DATABASES, Cluster, ClusterError, pg_bin

# Keycloak before the registry (see above); the applications' own journals and sessions after
ORDER = ("keycloak", "mcp", "sessions", "afas", "cdap")
assert set(ORDER) == set(DATABASES)
MANIFEST = "backup.json"


@dataclass(frozen=True)
class Backup:
    started: float          # epoch seconds: the recovery point is between `started` and `finished`
    finished: float
    keycloak_version: str
    registry_revision: str | None
    sizes: dict[str, int]   # bytes of each dump
    seconds: dict[str, float]
    sha256: dict[str, str]  # of each dump: a restore checks every file before it touches anything


@dataclass(frozen=True)
class Restored:
    restore_seconds: float  # from the empty topology to the dumps loaded
    start_seconds: float    # then to every service answering through the load balancer
    backup: Backup


def _client_env(c: Cluster, db: str) -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": c.secrets()[f"db_{db}"], "PGHOST": "127.0.0.1",
            "PGPORT": str(c.port("postgres")), "PGUSER": db, "PGDATABASE": db}


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise ClusterError(f"{' '.join(cmd[:2])} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


def backup(c: Cluster, dest: Path) -> Backup:
    """Dump every database of a running topology into `dest` (created; refused if it holds a backup)."""
    if not c.postgres_running():
        raise ClusterError("PostgreSQL of the topology is not running: nothing to back up")
    dest.mkdir(parents=True, exist_ok=True)
    if (dest / MANIFEST).exists():
        raise ClusterError(f"{dest} already holds a backup: give an empty directory")
    engine = sa.create_engine(c.db_url("mcp"))
    with engine.connect() as conn:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    started, sizes, seconds, digests = time.time(), {}, {}, {}
    for db in ORDER:
        t0, file = time.monotonic(), dest / f"{db}.dump"
        _run([pg_bin("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={file}"],
             _client_env(c, db))
        sizes[db], seconds[db], digests[db] = file.stat().st_size, round(time.monotonic() - t0, 2), _sha256(file)
    made = Backup(started, time.time(), kc.KEYCLOAK_VERSION, revision, sizes, seconds, digests)
    (dest / MANIFEST).write_text(json.dumps(asdict(made), indent=1))
    return made


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read(src: Path) -> Backup:
    """The backup's manifest, once every dump it lists is there and unchanged (all checked, all reported)."""
    try:
        made = Backup(**json.loads((src / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError) as e:
        raise ClusterError(f"{src} holds no readable backup ({MANIFEST}: {e})") from None
    faults = []
    for db in ORDER:
        file = src / f"{db}.dump"
        if db not in made.sha256:
            faults.append(f"{db}: not in the manifest")
        elif not file.is_file():
            faults.append(f"{file.name}: missing")
        elif _sha256(file) != made.sha256[db]:
            faults.append(f"{file.name}: changed since the backup (its SHA-256 differs)")
    if faults:
        raise ClusterError(f"{src}: nothing restored, the backup is not intact: " + "; ".join(faults))
    return made


def destroy(c: Cluster) -> None:
    """What the drill simulates: every process stopped, PostgreSQL's data and the Keycloak nodes' directories gone."""
    c.down()
    shutil.rmtree(c.pg_dir, ignore_errors=True)
    for i in range(c.nodes):
        shutil.rmtree(c.node_home(i), ignore_errors=True)


def restore(c: Cluster, src: Path, *, say=print) -> Restored:
    """Load a backup into a topology without databases, then start it: migrate (a backup of an older version is
    brought forward), the realm's configuration, every service, and a resync so Keycloak follows the registry."""
    made = read(src)
    if made.keycloak_version != kc.KEYCLOAK_VERSION:
        say(f"[restore] the backup was made with Keycloak {made.keycloak_version}, this is "
            f"{kc.KEYCLOAK_VERSION}: Keycloak migrates its database at its first start")
    if (c.pg_dir / "data" / "PG_VERSION").exists():
        raise ClusterError(f"the topology {c.name} still has its databases ({c.pg_dir}): a restore starts from "
                           "none (`./scripts/down.sh --cluster`, then remove that directory)")
    t0 = time.monotonic()
    say(f"[postgres] {c.start_postgres()}: empty databases, one role each")
    for db in ORDER:
        _run([pg_bin("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              f"--dbname={db}", str(src / f"{db}.dump")], _client_env(c, db))
        say(f"[restore] {db}: {made.sizes[db]} bytes loaded")
    restored = time.monotonic() - t0
    t1 = time.monotonic()
    c.up(seed=False, resync=True, say=say)
    return Restored(round(restored, 1), round(time.monotonic() - t1, 1), made)
