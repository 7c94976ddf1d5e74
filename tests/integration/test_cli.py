"""The CLI as an operator runs it (a real process), against the real Keycloak and a SQLite store."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from provisioning.typography import typo  # mails leave with French spacing (issue 29 §8): expected texts too
from tests.integration.conftest import clean_managed
from tests.unit.factories import EXAMPLE, add_caf_692, add_user, afas_members, example_data, second_partner


@pytest.fixture
def cli(keycloak, kc_admin, smtp, tmp_path):
    clean_managed(kc_admin)
    base = {**os.environ, "KEYCLOAK_URL": keycloak.url, "MCP_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}",
           "MCP_SMTP_HOST": "127.0.0.1", "MCP_SMTP_PORT": str(smtp.port),
           "MCP_OPERATOR": "caf:751"}

    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "provisioning.cli", *args], env={**base, **(env or {})},
                              capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run("migrate").returncode == 0  # the deployment step before any other command
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
    assert "members" in Path(bad).read_text(encoding="utf-8").splitlines()[line - 1]


def test_apply_then_plan_is_empty(cli, kc_admin):
    r = cli("apply", "--file", str(EXAMPLE), "--yes")
    assert r.returncode == 0, r.stderr
    assert "[1/" in r.stdout  # progress
    r = cli("plan", "--file", str(EXAMPLE), "--detailed-exitcode")
    assert r.returncode == 0 and "Aucun changement" in r.stdout
    r = cli("plan", "--detailed-exitcode", "--as", "national")  # the stored registry, whole realm
    assert r.returncode == 0 and "Aucun changement" in r.stdout
    r = cli("plan", "--detailed-exitcode")  # a Caf administrator does not reconcile the whole realm
    assert r.returncode == 1 and "HORS_MANDAT" in r.stderr


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


def _two_cafs(tmp_path) -> tuple[str, dict]:
    """A national whole-registry file: Caf 751 (the example, plus partner B) and Caf 692 with its own partner."""
    d = example_data()
    second_partner(d)
    add_caf_692(d)
    lyon = {"siret": "55555555500005", "name": "Mairie de Lyon", "caf": "692", "administrator": "l.admin",
            "users": [{"identifiant": "l.admin", "first_name": "Lou", "last_name": "Admin",
                       "email": "l.admin@lyon.example"},
                      {"identifiant": "l.agent", "first_name": "Lise", "last_name": "Agent",
                       "email": "l.agent@lyon.example"}],
            # signed by both parties: its people have their accounts (issue 29 §2)
            "conventions": [{"number": "CONV-692-2026-0001", "status": "active"}]}
    d["partners"].append(lyon)
    path = tmp_path / "national.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path), d


def test_one_cafs_file_changes_only_that_caf_and_the_others_still_log_in(cli, kc_admin, tmp_path, user_token):
    national, _ = _two_cafs(tmp_path)
    assert cli("apply", "--file", national, "--yes", "--as", "caf:751").returncode == 1  # not its mandate
    r = cli("apply", "--file", national, "--yes", "--as", "national")
    assert r.returncode == 0, r.stderr

    mine = tmp_path / "caf-751.yaml"
    r = cli("export", "--caf", "751", "--out", str(mine))
    assert r.returncode == 0, r.stderr
    assert cli("validate", str(mine)).returncode == 0
    r = cli("plan", "--file", str(mine), "--detailed-exitcode")
    assert r.returncode == 0 and "Aucun changement" in r.stdout, r.stdout  # export round-trips

    edited = yaml.safe_load(mine.read_text(encoding="utf-8"))
    assert {p["caf"] for p in edited["partners"]} == {"751"}
    edited["partners"] = [p for p in edited["partners"] if p["siret"] != "98765432100015"]  # B removed
    mine.write_text(yaml.safe_dump(edited, allow_unicode=True, sort_keys=False), encoding="utf-8")
    r = cli("plan", "--file", str(mine), "--json")
    shown = json.loads(r.stdout)
    n = shown["destructive"]
    assert n > 0 and shown["changes"][0]["destructive"] and shown["scope"] == {"cafs": ["751"]}
    assert not any("55555555500005" in c["target"] or c["target"].startswith("l.") for c in shown["changes"])

    before = cli("status", "--json").stdout
    r = cli("apply", "--file", str(mine), "--yes")  # --yes alone never suffices to remove a partner
    assert r.returncode == 1 and "DESTRUCTION_NON_AUTORISEE" in r.stderr and f"--allow-destroy {n}" in r.stderr
    r = cli("apply", "--file", str(mine), "--yes", "--allow-destroy", str(n + 1))
    assert r.returncode == 1 and "DESTRUCTION_COMPTE_DIFFERENT" in r.stderr
    assert cli("status", "--json").stdout == before
    r = cli("apply", "--file", str(mine), "--yes", "--allow-destroy", str(n))
    assert r.returncode == 0, r.stderr

    assert kc_admin.user_by_username("b.lea.petit")["enabled"] is False
    for who in ("l.agent", "l.admin", "caf.lyon", "lea.petit"):
        assert kc_admin.user_by_username(who)["enabled"] is True
    assert user_token("l.agent")  # Caf 692's people still log in through the real login form
    assert cli("plan", "--detailed-exitcode", "--as", "national").returncode == 0


def test_a_file_without_scope_is_refused_and_commands_need_a_mandate(cli, tmp_path):
    d = example_data()
    del d["scope"]
    path = tmp_path / "sans-perimetre.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    r = cli("validate", str(path))
    assert r.returncode == 1 and "PERIMETRE_MANQUANT" in r.stderr and "scope" in r.stderr
    env_less = cli("plan", "--file", str(EXAMPLE), "--as", "personne")
    assert env_less.returncode == 1 and "OPERATEUR_NON_DECLARE" in env_less.stderr


def test_a_missing_or_read_only_registry_database_is_exit_3_without_a_traceback(cli, tmp_path):
    """Regression: a missing or read-only registry database gave a Python traceback instead of exit 3."""
    env = {"MCP_DATABASE_URL": f"sqlite:///{tmp_path / 'absent' / 'dir' / 'x.sqlite'}"}
    r = cli("status", env=env)
    assert r.returncode == 3 and "[base_indisponible]" in r.stderr and "Traceback" not in r.stderr
    ro = tmp_path / "ro.sqlite"
    assert cli("migrate", env={"MCP_DATABASE_URL": f"sqlite:///{ro}"}).returncode == 0  # created
    read_only = f"sqlite:///file:{ro}?mode=ro&uri=true"  # (chmod would not stop root, who runs CI)
    r = cli("apply", "--file", str(EXAMPLE), "--yes", env={"MCP_DATABASE_URL": read_only})
    assert r.returncode == 3 and "[base_indisponible]" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_with_the_mail_server_down_credentials_wait_and_leave_later_with_a_working_password(cli, tmp_path, smtp,
                                                                                        keycloak):
    """Regression: with SMTP down, `apply` said « envoyés » and the credential mails were lost for good."""
    down = {"MCP_SMTP_PORT": "1"}  # nothing listens there
    r = cli("apply", "--file", str(EXAMPLE), "--yes", env=down)
    assert r.returncode == 0, r.stderr
    assert "en attente d'envoi" in r.stdout and "envoyés" not in r.stdout
    assert smtp.to("lea.petit@hirondelles.example") == []
    waiting = json.loads(cli("outbox", "--json", env=down).stdout)
    assert {w["recipient"] for w in waiting if w["kind"] == "credentials"} >= {"lea.petit@hirondelles.example"}
    assert all(w["state"] == "waiting" and w["state_label"] == "en attente d'envoi" for w in waiting)

    import sqlalchemy as sa
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'cli.sqlite'}")
    with engine.begin() as c:  # the backoff has passed
        c.execute(sa.text("UPDATE outbox SET next_attempt_at = NULL"))
    r = cli("notify")
    assert r.returncode == 0, r.stderr
    mails = smtp.to("lea.petit@hirondelles.example")
    assert sorted("mot de passe" in m.subject for m in mails) == [False, True]
    password = re.search(r"provisoire\s*:\s*(\S+)", next(m for m in mails if "mot de passe" in m.subject).body).group(1)
    from tests.support.oidc import Page, Rp
    rp = Rp(keycloak.issuer, "portail", "demo-only-portail-secret", keycloak.app_url("portail") + "/auth/callback")
    _, page = rp.authorize()
    result = rp.login(page, "lea.petit", password)  # the mailed password is the one Keycloak holds:
    assert isinstance(result, Page) and result.soup.find(id="kc-accept")  # the usage rules come next
    assert json.loads(cli("outbox", "--json").stdout) == []


def test_the_worker_process_applies_what_a_change_requested(cli, tmp_path, kc_admin, smtp, gateway):
    """A change in worker mode answers once stored (« en attente »); `mcp-provisioning worker` (a real
    process, on the real Keycloak) then applies it and records « appliqué »."""
    from provisioning.notify.notifier import SmtpConfig, SmtpNotifier
    from provisioning.services import Actor, Provisioning
    from provisioning.store.uow import make_engine
    assert cli("apply", "--file", str(EXAMPLE), "--yes").returncode == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.sqlite'}")
    svc = Provisioning(engine, lambda: gateway, SmtpNotifier(SmtpConfig("127.0.0.1", smtp.port)),
                       reconcile_mode="worker")
    r = svc.suspend_user(Actor("cli:test", system=True), "12345678900015", "paul.bernard", True)
    assert r.reconcile_state["state"] == "pending"
    assert kc_admin.user_by_username("paul.bernard")["enabled"] is True  # not yet: the worker does it
    run = cli("worker", "--once")
    assert run.returncode == 0 and "traitée" in run.stdout, run.stderr
    assert kc_admin.user_by_username("paul.bernard")["enabled"] is False
    assert svc.reconcile_state("12345678900015")["state"] == "applied"
    status = json.loads(cli("status", "--json").stdout)
    assert status["reconcile_applied"] >= 1 and "reconcile_pending" not in status


def test_a_saved_plan_is_applied_exactly_or_refused_when_things_moved(cli, tmp_path, kc_admin):
    assert cli("apply", "--file", str(EXAMPLE), "--yes").returncode == 0
    d = example_data()
    d["partners"][0]["conventions"][0]["bulletins"][1]["members"] = []  # lea.petit loses CDAP
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    saved = tmp_path / "plan.json"
    r = cli("plan", "--file", str(edited), "--out", str(saved))
    assert r.returncode == 0 and saved.exists(), r.stderr
    assert json.loads(saved.read_text())["destructive"] >= 1

    paul = kc_admin.user_by_username("paul.bernard")
    group = kc_admin.get("/group-by-path/partenaires/12345678900015/CDAP Consulter")
    kc_admin.put(f"/users/{paul['id']}/groups/{group['id']}")  # Keycloak moves after the plan was shown
    r = cli("apply", str(saved), "--yes")
    assert r.returncode == 1 and "PLAN_PERIME" in r.stderr
    assert {m["username"] for m in kc_admin.get(f"/groups/{group['id']}/members")} == {"lea.petit", "paul.bernard"}

    kc_admin.delete(f"/users/{paul['id']}/groups/{group['id']}")  # back as it was: the saved plan is current again
    r = cli("apply", str(saved), "--yes")
    assert r.returncode == 0, r.stderr
    assert {m["username"] for m in kc_admin.get(f"/groups/{group['id']}/members")} == set()


def test_apply_racing_the_worker_gives_every_new_person_her_codes_exactly_once(cli, tmp_path, smtp, keycloak):
    """Issue 25, two real processes: measured on main, `mcp-provisioning apply` of a new partner while the
    worker ran left 150 of 150 people enabled, in their groups, without password, mail or outbox row (the side
    whose `create user` got 409 withdrew the other side's codes). `apply` now takes the partner's claim: the
    worker waits its turn, and each person gets her two mails once, with a password Keycloak holds."""
    from tests.support.oidc import Page, Rp
    base = {**os.environ, "KEYCLOAK_URL": keycloak.url, "MCP_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite'}",
            "MCP_SMTP_HOST": "127.0.0.1", "MCP_SMTP_PORT": str(smtp.port), "MCP_OPERATOR": "caf:751"}
    assert cli("apply", "--file", str(EXAMPLE), "--yes").returncode == 0
    d = example_data()
    p = second_partner(d)
    newcomers = [f"course.{i:02d}" for i in range(30)]
    for who in newcomers:
        p["users"].append({"identifiant": who, "first_name": "Camille", "last_name": f"Course {who[-2:]}",
                           "email": f"{who}@course.example"})
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    worker = subprocess.Popen([sys.executable, "-m", "provisioning.cli", "worker", "--interval", "0.1"], env=base,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        r = cli("apply", "--file", str(path), "--yes")
        assert r.returncode == 0, r.stderr
        deadline = time.monotonic() + 120
        while json.loads(cli("outbox", "--json").stdout) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert json.loads(cli("outbox", "--json").stdout) == [], "every code left"
    assert json.loads(cli("outbox", "--json", "--dead").stdout) == []
    people = [u["identifiant"] for u in p["users"]]
    for who in people:
        email = next(u["email"] for u in p["users"] if u["identifiant"] == who)
        subjects = sorted(m.subject for m in smtp.to(email) if "identifiant" in m.subject or "mot de passe" in m.subject)
        assert subjects == [typo("« Mon Compte Partenaire » : votre identifiant"),
                            typo("« Mon Compte Partenaire » : votre mot de passe provisoire")], (who, subjects)
    rp = Rp(keycloak.issuer, "portail", "demo-only-portail-secret", keycloak.app_url("portail") + "/auth/callback")
    for who in (newcomers[0], newcomers[-1], "b.lea.petit"):  # the mailed password is the one Keycloak holds
        email = next(u["email"] for u in p["users"] if u["identifiant"] == who)
        mail = next(m for m in smtp.to(email) if "mot de passe" in m.subject)
        fresh = Rp(rp.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)  # a new browser each
        _, page = fresh.authorize()
        result = fresh.login(page, who, re.search(r"provisoire\s*:\s*(\S+)", mail.body).group(1))
        assert isinstance(result, Page) and result.soup.find(id="kc-accept"), who
    assert cli("plan", "--file", str(path), "--detailed-exitcode").returncode == 0
