"""Issue 25 §6: migrations are a deployment step. `mcp-provisioning migrate` run by several processes at once
(two deployments, compose retrying) ends with one schema at head and no error; every other command refuses a
base at another revision with a clear message and changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from provisioning.store.uow import head_revision, make_engine, migrate, schema_revision

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MCP_DATABASE_URL": url, "MCP_ENV": ""}
    return subprocess.run([sys.executable, "-m", "provisioning.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_base(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite'}"
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    with engine.begin() as c:
        c.execute(sa.text("DROP SCHEMA public CASCADE"))
        c.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def test_four_migrations_at_once_end_with_one_schema_at_head(empty_base):
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda _: cli(empty_base, "migrate"), range(4)))
    assert [r.returncode for r in runs] == [0, 0, 0, 0], "\n".join(r.stderr[-1500:] for r in runs)
    said = sorted(r.stdout.strip() for r in runs)
    assert sum("migrée : vide →" in s for s in said) == 1, said  # one did the work, the others found it done
    assert sum("déjà à jour" in s for s in said) == 3, said
    assert schema_revision(make_engine(empty_base)) == head_revision()


def test_a_command_on_a_base_not_migrated_refuses_and_says_what_to_do(empty_base):
    r = cli(empty_base, "export", "--caf", "751", "--as", "national")
    assert r.returncode == 1
    assert "[SCHEMA_NON_A_JOUR]" in r.stderr and "mcp-provisioning migrate" in r.stderr
    assert schema_revision(make_engine(empty_base)) is None  # it created nothing
    assert cli(empty_base, "migrate").returncode == 0
    assert cli(empty_base, "export", "--caf", "751", "--as", "national").returncode == 0


def test_a_base_left_at_an_older_revision_is_refused_until_migrated(empty_base):
    engine = make_engine(empty_base)
    migrate(engine, to="0007")
    r = cli(empty_base, "status")
    assert r.returncode == 1 and "révision 0007" in r.stderr and head_revision() in r.stderr
    done = cli(empty_base, "migrate")
    assert done.returncode == 0 and f"0007 → {head_revision()}" in done.stdout


def test_a_migration_blocked_by_a_running_transaction_gives_up_having_changed_nothing(postgres_url):
    """Issue 30 §4: during a rolling upgrade the version in use keeps reading; a migration queued behind one of its
    transactions would hold every query behind it. It waits `lock_timeout` (5 s) at most, then gives up, whole."""
    from provisioning.errors import ProvisioningError
    engine = make_engine(postgres_url)
    with engine.begin() as c:
        c.execute(sa.text("DROP SCHEMA public CASCADE"))
        c.execute(sa.text("CREATE SCHEMA public"))
    migrate(engine, to="0013")
    reader = engine.connect()
    reader.execute(sa.text("SELECT count(*) FROM audit_log"))  # an open transaction of the running version
    try:
        with pytest.raises(ProvisioningError) as refused:
            migrate(engine)  # 0014 adds columns to audit_log: it needs the table to itself
        assert refused.value.code == "MIGRATION_BLOQUEE" and "relancez" in str(refused.value)
        assert schema_revision(engine) == "0013"
    finally:
        reader.rollback()
        reader.close()
    assert migrate(engine) == ("0013", head_revision())
    engine.dispose()
