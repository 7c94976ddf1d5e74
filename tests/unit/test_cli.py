"""The operator's command line in-process, on a fake Keycloak and SQLite: every command, its output and its
documented exit code (0 ok, 1 refused, 2 plan not empty, 3 unavailable, 4 partly applied, 5 a bug). The
same commands run as real processes against the real Keycloak in tests/integration/test_cli.py."""

from __future__ import annotations

import json

import pytest
import yaml

from provisioning import cli
from provisioning.errors import Unavailable
from tests.unit.factories import EXAMPLE, example_data, second_partner
from tests.unit.services import make_service


@pytest.fixture
def svc(use_case_store, monkeypatch):
    s = make_service(use_case_store)
    monkeypatch.setattr(cli, "_service", lambda: s)
    monkeypatch.setenv("MCP_OPERATOR", "caf:751")
    return s


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path, data: dict, name: str = "etat.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


def test_validate_plan_apply_then_an_empty_plan(svc, capsys):
    code, out, _ = run(capsys, "validate", str(EXAMPLE))
    assert code == 0 and "valide" in out and "Caf 751" in out
    code, out, _ = run(capsys, "validate", str(EXAMPLE), "--json")
    assert json.loads(out) == {"valid": True, "scope": {"cafs": ["751"]}, "partners": 1}
    code, out, _ = run(capsys, "plan", "--file", str(EXAMPLE), "--detailed-exitcode")
    assert code == 2 and "+ create user lea.petit" in out and "Périmètre : Caf 751" in out
    code, out, _ = run(capsys, "apply", "--file", str(EXAMPLE), "--yes")
    assert code == 0 and "[1/" in out and "en attente d'envoi" in out
    code, out, _ = run(capsys, "plan", "--file", str(EXAMPLE), "--detailed-exitcode", "--json")
    assert code == 0 and json.loads(out)["changes"] == []
    code, out, _ = run(capsys, "status", "--json")
    status = json.loads(out)
    assert status["partners"] == 1 and status["pending_changes"] == 0


def test_refusals_have_their_exit_code_and_write_nothing(svc, capsys, tmp_path, monkeypatch):
    bad = example_data()
    bad["partners"][0]["siret"] = "12345678900017"
    code, _, err = run(capsys, "validate", write(tmp_path, bad))
    assert code == 1 and "SIRET_INVALIDE" in err and "ligne" in err
    code, out, _ = run(capsys, "validate", write(tmp_path, bad), "--json")
    assert code == 1 and json.loads(out)["violations"][0]["code"] == "SIRET_INVALIDE"
    code, _, err = run(capsys, "apply", "--file", str(EXAMPLE))  # no terminal to ask
    assert code == 1 and "--yes" in err
    monkeypatch.delenv("MCP_OPERATOR")
    code, _, err = run(capsys, "plan", "--file", str(EXAMPLE))
    assert code == 1 and "OPERATEUR_NON_DECLARE" in err
    code, _, err = run(capsys, "plan", "--file", str(EXAMPLE), "--as", "caf:692")
    assert code == 1 and "HORS_MANDAT" in err
    code, _, err = run(capsys, "validate", str(tmp_path / "absent.yaml"))
    assert code == 1 and "fichier_introuvable" in err
    assert svc.registry().partners == []


def test_the_destruction_guard_and_export(svc, capsys, tmp_path):
    d = example_data()
    second_partner(d)
    assert run(capsys, "apply", "--file", write(tmp_path, d), "--yes")[0] == 0
    code, out, _ = run(capsys, "export", "--caf", "751")
    exported = yaml.safe_load(out)
    assert code == 0 and exported["scope"] == {"cafs": ["751"]} and len(exported["partners"]) == 2
    exported["partners"] = exported["partners"][:1]
    path = write(tmp_path, exported, "moins-un.yaml")
    code, out, _ = run(capsys, "plan", "--file", path, "--json")
    n = json.loads(out)["destructive"]
    code, _, err = run(capsys, "apply", "--file", path, "--yes")
    assert code == 1 and f"--allow-destroy {n}" in err
    assert run(capsys, "apply", "--file", path, "--yes", "--allow-destroy", str(n))[0] == 0
    assert [p.siret for p in svc.registry().partners] == [exported["partners"][0]["siret"]]
    out_file = tmp_path / "export.yaml"
    assert run(capsys, "export", "--partner", exported["partners"][0]["siret"], "--out", str(out_file))[0] == 0
    assert yaml.safe_load(out_file.read_text())["scope"] == {"partners": [exported["partners"][0]["siret"]]}


def test_saved_plans_outbox_worker_and_reissue(svc, capsys, tmp_path):
    assert run(capsys, "apply", "--file", str(EXAMPLE), "--yes")[0] == 0
    d = example_data()
    d["partners"][0]["users"][3]["last_name"] = "Bernard-Durand"
    saved = tmp_path / "plan.json"
    assert run(capsys, "plan", "--file", write(tmp_path, d), "--out", str(saved))[0] == 0
    assert run(capsys, "apply", str(saved), "--yes")[0] == 0
    assert svc.fake.state.users["paul.bernard"].last_name == "Bernard-Durand"
    code, _, err = run(capsys, "apply", str(saved), "--yes")  # the world moved: that plan is no longer it
    assert code == 1 and "PLAN_PERIME" in err
    code, out, _ = run(capsys, "outbox", "--all", "--json")
    assert code == 0 and any(r["kind"] == "credentials" for r in json.loads(out))
    assert run(capsys, "outbox", "--dead")[1].strip().endswith("0 courriel(s).")
    code, out, _ = run(capsys, "worker", "--once", "--full")
    assert code == 0 and "traitée" in out
    code, out, _ = run(capsys, "reissue", "lea.petit")
    assert code == 0 and "lea.petit" in out
    code, _, err = run(capsys, "reissue", "personne")
    assert code == 1 and "not_found" in err
    assert run(capsys, "notify")[0] == 0


def test_unavailable_keycloak_is_exit_3_partial_failures_exit_4_and_bugs_exit_5(svc, capsys, monkeypatch):
    def down(scope=None):
        raise Unavailable("Keycloak injoignable (test)")
    monkeypatch.setattr(svc.fake, "observe", down)
    code, _, err = run(capsys, "plan", "--file", str(EXAMPLE))
    assert code == 3 and "injoignable" in err
    monkeypatch.undo()
    monkeypatch.setattr(cli, "_service", lambda: svc)
    monkeypatch.setenv("MCP_OPERATOR", "caf:751")
    svc.fake.fail_on = "add_org_member"  # (group memberships of new people come with their creation)
    code, _, err = run(capsys, "apply", "--file", str(EXAMPLE), "--yes")
    assert code == 4 and "non appliqué" in err
    monkeypatch.setattr(cli, "_service", lambda: 1 / 0)
    code, _, err = run(capsys, "status")
    assert code == 5 and "erreur_interne" in err and "ZeroDivisionError" not in err


def test_adopt_and_usage_rules_acceptances(svc, capsys, tmp_path):
    svc.fake.hand_add_user("deja.la", email="deja.la@x.example")
    d = example_data()
    d["partners"][0]["users"].append({"identifiant": "deja.la", "first_name": "D", "last_name": "L",
                                      "email": "deja.la@x.example"})
    code, _, err = run(capsys, "apply", "--file", write(tmp_path, d), "--yes")
    assert code == 4 and "deja.la" in err  # a conflict, reported, never adopted
    code, out, _ = run(capsys, "adopt", "deja.la")
    assert code == 0 and "adopté" in out and svc.fake.state.users["deja.la"].managed
    code, out, _ = run(capsys, "usage-rules", "acceptances", "--json")
    assert code == 0 and isinstance(json.loads(out), list)
    code, out, _ = run(capsys, "suspend-inactive", "--days", "90")
    assert code == 0 and "suspendu" in out


def test_text_outputs_and_usage_rules(svc, capsys, monkeypatch):
    assert run(capsys, "apply", "--file", str(EXAMPLE), "--yes")[0] == 0
    code, out, _ = run(capsys, "plan", "--file", str(EXAMPLE))
    assert code == 0 and "Aucun changement" in out
    code, out, _ = run(capsys, "status")
    assert code == 0 and "partners" in out and "Keycloak conforme." in out
    code, out, _ = run(capsys, "usage-rules", "acceptances")
    assert code == 0 and "non acceptées" in out and "lea.petit" in out
    monkeypatch.delenv("MCP_KEYCLOAK_REALM_ADMIN_PASSWORD", raising=False)
    code, _, err = run(capsys, "usage-rules", "publish", "2027-01-01")
    assert code == 1 and "MCP_KEYCLOAK_REALM_ADMIN_PASSWORD" in err
    code, _, err = run(capsys, "outbox", "--resend", "999")
    assert code == 1 and "999" in err


def test_the_api_answers_once_stored_by_default_and_the_cli_acts_inline(monkeypatch, tmp_path):
    """Deployed, the API leaves Keycloak to the worker (README); an operator's CLI command waits for it."""
    from provisioning import cli as cli_module
    from provisioning.config import Config
    monkeypatch.delenv("MCP_RECONCILE", raising=False)
    monkeypatch.setenv("MCP_DATABASE_URL", f"sqlite:///{tmp_path / 'r.sqlite'}")
    assert cli_module.main(["migrate"]) == 0
    assert Config.from_env().reconcile_mode == "worker"
    monkeypatch.setenv("MCP_RECONCILE", "worker")
    assert cli_module._service().reconcile_mode == "inline"


def test_the_daily_job_once_as_its_own_command(svc, capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(svc, "suspend_inactive", lambda actor, days: seen.append((actor.username, days)) or ["x.y"])
    monkeypatch.setenv("MCP_INACTIVITY_DAYS", "45")
    code, out, _ = run(capsys, "daily", "--once")
    assert code == 0 and "1 utilisateur(s) suspendu(s)" in out and seen == [("job:suspend-inactive", 45)]
    monkeypatch.setenv("MCP_INACTIVITY_DAYS", "0")
    code, out, _ = run(capsys, "daily", "--once")
    assert code == 0 and "désactivée" in out
