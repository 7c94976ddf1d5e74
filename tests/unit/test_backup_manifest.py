"""Issue 30 §3: a restore checks the whole backup before it touches anything — a dump changed by one byte, or
missing, is refused with every fault named, and nothing is restored (the drill itself, on the production
topology, is tests/cluster/test_recovery.py)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from devstack import backup
from devstack.cluster import ClusterError


def _made(tmp_path):
    sums = {}
    for db in backup.ORDER:
        (tmp_path / f"{db}.dump").write_bytes(f"PGDMP {db} ".encode() * 100)
        sums[db] = backup._sha256(tmp_path / f"{db}.dump")
    made = backup.Backup(1.0, 2.0, "26.7.3", "0015", {db: 600 for db in backup.ORDER},
                         {db: 0.1 for db in backup.ORDER}, sums)
    (tmp_path / backup.MANIFEST).write_text(json.dumps(asdict(made)))
    return made


def test_an_intact_backup_reads(tmp_path):
    made = _made(tmp_path)
    assert backup.read(tmp_path) == made


def test_a_changed_byte_or_a_missing_dump_refuses_the_whole_restore_naming_each(tmp_path):
    _made(tmp_path)
    data = bytearray((tmp_path / "mcp.dump").read_bytes())
    data[10] ^= 1
    (tmp_path / "mcp.dump").write_bytes(bytes(data))
    (tmp_path / "cdap.dump").unlink()
    with pytest.raises(ClusterError) as refused:
        backup.read(tmp_path)
    said = str(refused.value)
    assert "nothing restored" in said and "mcp.dump: changed" in said and "cdap.dump: missing" in said
    assert "keycloak.dump" not in said


def test_a_restore_refuses_a_damaged_backup_before_starting_anything(tmp_path):
    _made(tmp_path)
    (tmp_path / "keycloak.dump").write_bytes(b"not a dump")

    class Untouchable:  # any use of the topology would be a partial restore
        def __getattr__(self, name):
            raise AssertionError(f"the topology was touched ({name}) before the backup was checked")

    with pytest.raises(ClusterError, match="keycloak.dump: changed"):
        backup.restore(Untouchable(), tmp_path)  # type: ignore[arg-type]
