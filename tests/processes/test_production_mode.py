"""Real processes starting (the applications, the API under Werkzeug and gunicorn, the CLI, the demo stack):
MCP_ENV=production refuses demo settings and Werkzeug's development server, listing what to set; without it
the demo defaults still start; a misspelled variable stops a process before it does anything."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

GOOD = {  # what an operator sets for production
    "MCP_ENV": "production",
    "MCP_PROVISIONING_CLIENT_SECRET": "s3cret-from-the-vault-0123456789",
    "MCP_DATABASE_URL": "sqlite:///:memory:",
    **{f"MCP_{c}_CLIENT_SECRET": f"{c.lower()}-secret-from-the-vault" for c in ("PORTAIL", "CDAP", "AFAS")},
    **{f"MCP_{c}_SESSION_KEY": "k" * 40 for c in ("PORTAIL", "CDAP", "AFAS")},
    **{f"MCP_{c}_URL": f"https://{c.lower()}.caf.example" for c in ("PORTAIL", "CDAP", "AFAS")},
}
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env={**CLEAN, **env}, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args", [["-m", "sso_demo"], ["-c", "from provisioning.api import serve; serve()"],
                                  ["-m", "provisioning.cli", "status"], ["-m", "devstack.cli", "up"]],
                         ids=["applications", "api", "cli", "demo-stack"])
def test_demo_settings_are_refused_in_production_with_what_to_set(args):
    r = run(args, {"MCP_ENV": "production"})
    assert r.returncode != 0 and "[configuration_production]" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [["-m", "sso_demo"], ["-m", "provisioning.cli", "status"]], ids=["applications", "cli"])
def test_a_misspelled_environment_is_refused_not_run_as_the_demo(args):
    """Issue 26: MCP_ENV=prod (a typo) ran the demo with its known secrets."""
    r = run(args, {"MCP_ENV": "prod"})
    assert r.returncode != 0 and "[CONFIGURATION_INVALIDE]" in r.stderr, r.stderr
    assert "MCP_ENV: [VALEUR_INVALIDE] valeurs acceptées : '', 'demo' ou 'production' (reçu « prod »)" in r.stderr
    assert "Traceback" not in r.stderr


def test_every_wrong_setting_of_an_application_is_listed_at_once():
    r = run(["-m", "sso_demo"], {"MCP_ENV": "production", "MCP_INSECURE_COOKIES": "1"})
    for what in ("MCP_PORTAIL_CLIENT_SECRET", "MCP_PORTAIL_SESSION_KEY", "MCP_INSECURE_COOKIES", "MCP_PORTAIL_URL"):
        assert what in r.stderr


def test_production_settings_pass_but_werkzeug_is_refused_for_gunicorn():
    for args, wsgi in ((["-m", "sso_demo"], "sso_demo.wsgi:portail"),
                       (["-c", "from provisioning.api import serve; serve()"], "provisioning.api.wsgi:app")):
        r = run(args, GOOD)
        assert r.returncode != 0 and "gunicorn" in r.stderr and wsgi in r.stderr, r.stderr
        assert "SECRET" not in r.stderr and "SESSION_KEY" not in r.stderr


def test_the_wsgi_entry_points_build_with_production_settings(tmp_path):
    env = {**GOOD, "MCP_DATABASE_URL": f"sqlite:///{tmp_path / 'r.sqlite'}"}
    entry = ["-c", "from sso_demo import wsgi; print(wsgi.cdap.name); from provisioning.api import wsgi as w; "
                   "print(w.app.name)"]
    r = run(entry, env)  # the registry not migrated yet: the API refuses to start, saying what to do
    assert r.returncode != 0 and "[SCHEMA_NON_A_JOUR]" in r.stderr and "mcp-provisioning migrate" in r.stderr
    assert run(["-m", "provisioning.cli", "migrate"], env).returncode == 0
    r = run(entry, env)
    assert r.returncode == 0, r.stderr
    assert "sso_demo.cdap" in r.stdout and "provisioning.api" in r.stdout


def test_the_api_discloses_no_server_version():
    from provisioning.api import create_app
    app = create_app(None, None).test_client()
    r = app.get("/openapi.json")
    assert r.headers["Server"] == "mon-compte-partenaire"


def test_under_gunicorn_the_api_names_no_server_or_version(tmp_path):
    """A real gunicorn on loopback, with the project's gunicorn settings and production settings."""
    import socket
    import time

    import requests
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**CLEAN, **GOOD, "MCP_DATABASE_URL": f"sqlite:///{tmp_path / 'r.sqlite'}"}
    assert run(["-m", "provisioning.cli", "migrate"], env).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:provisioning.gunicorn_conf",
                             "--bind", f"127.0.0.1:{port}", "--workers", "1", "provisioning.api.wsgi:app"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # ready when it answers: gunicorn's start takes 1 s on an idle machine, much more on a loaded one
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                r = requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=10)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.1)
        assert r.status_code == 200
        assert r.raw.headers.getlist("Server") == ["mon-compte-partenaire"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("args", [["-m", "provisioning.cli", "status"], ["-m", "sso_demo"]], ids=["cli", "applications"])
def test_a_misspelled_variable_stops_a_process_before_it_does_anything(args, tmp_path):
    r = subprocess.run([sys.executable, *args], env={**CLEAN, "MCP_STATE_DIR": str(tmp_path), "MCP_SMTP_STARTTL": "1"},
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "MCP_SMTP_STARTTL: [VARIABLE_INCONNUE]" in r.stderr and "MCP_SMTP_STARTTLS ?" in r.stderr
    assert list(tmp_path.iterdir()) == []  # no database, no log: nothing started
