"""The CLI as an operator runs it (a real process), against the real Keycloak and a SQLite store."""

import os
import subprocess
import sys

import pytest
import yaml

from tests.integration.conftest import clean_managed
from tests.unit.factories import EXAMPLE, add_user, afas_members, example_data


@pytest.fixture
def cli(keycloak, kc_admin, smtp, tmp_path):
    clean_managed(kc_admin)
    env = {**os.environ, "KEYCLOAK_URL": keycloak.url, "MCP_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}",
           "MCP_SMTP_HOST": "127.0.0.1", "MCP_SMTP_PORT": str(smtp.port)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "provisioning.cli", *args], env=env, capture_output=True,
                              text=True, timeout=300, stdin=subprocess.DEVNULL)
    yield run
    clean_managed(kc_admin)


def _bad_file(tmp_path) -> str:
    d = example_data()
    for who in ("x.un", "x.deux"):
        add_user(d, who)
        afas_members(d).append({"identifiant": who, "groups": ["AFAS Déclarer"],
                                "profiles": ["fournisseur-donnees-activite"]})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


def test_validate_points_at_the_line_of_each_fault(cli, tmp_path):
    bad = _bad_file(tmp_path)
    r = cli("validate", bad)
    assert r.returncode == 1
    assert "[AFAS_TROP_DE_FOURNISSEURS_ACTIVITE]" in r.stderr and "ligne " in r.stderr
    line = int(r.stderr.split("ligne ")[1].split(":")[0])
    assert "members" in open(bad, encoding="utf-8").read().splitlines()[line - 1]


def test_apply_then_plan_is_empty(cli, kc_admin):
    r = cli("apply", "--file", str(EXAMPLE), "--yes")
    assert r.returncode == 0, r.stderr
    assert "[1/" in r.stdout  # progress
    r = cli("plan", "--detailed-exitcode")
    assert r.returncode == 0 and "Aucun changement" in r.stdout


def test_bulletin_with_three_activity_providers_is_refused_and_changes_nothing(cli, kc_admin, tmp_path):
    assert cli("apply", "--file", str(EXAMPLE), "--yes").returncode == 0
    users_before = {u["username"] for u in kc_admin.get("/users", params={"max": 1000})}
    status_before = cli("status", "--json").stdout

    r = cli("apply", "--file", _bad_file(tmp_path), "--yes")
    assert r.returncode == 1
    assert "AFAS_TROP_DE_FOURNISSEURS_ACTIVITE" in r.stderr
    assert {u["username"] for u in kc_admin.get("/users", params={"max": 1000})} == users_before
    assert "x.un" not in users_before
    assert cli("status", "--json").stdout == status_before  # store untouched


def test_apply_without_a_terminal_asks_for_yes(cli):
    r = cli("apply", "--file", str(EXAMPLE))
    assert r.returncode == 1 and "--yes" in r.stderr
    assert cli("plan", "--file", str(EXAMPLE), "--detailed-exitcode").returncode == 2  # nothing applied
