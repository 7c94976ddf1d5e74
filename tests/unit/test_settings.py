"""Issue 26 §5: typed settings, declared once (provisioning/settings.py). A misspelled variable or a wrong value
is refused at start with every fault listed; secrets come from files too; the documentation's table is the
declaration; every MCP_* variable the repository sets or reads is declared. A misspelled variable stopping a
real process: tests/processes/test_production_mode.py."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from provisioning import settings
from provisioning.config import Config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch):
    for k in list(os.environ):
        if k.startswith("MCP_"):
            monkeypatch.delenv(k)
    return monkeypatch


def test_every_wrong_value_and_unknown_variable_is_listed_at_once(env):
    for k, v in {"MCP_RECONCILE_MODE": "inline", "MCP_SMTP_PORT": "99999", "MCP_ONBOARDING": "lien",
                 "MCP_DAILY_AT": "25:00", "MCP_INSECURE_COOKIES": "peut-être", "MCP_INACTIVITY_DAYS": "-1",
                 "MCP_RESYNC_MINUTES": "dix"}.items():
        env.setenv(k, v)
    with pytest.raises(settings.InvalidSettings) as e:
        settings.read()
    faults = {v.path: (v.code, v.message) for v in e.value.violations}
    assert faults["MCP_RECONCILE_MODE"] == ("VARIABLE_INCONNUE", "variable inconnue, lue par aucun processus : "
                                                                 "vouliez-vous dire MCP_RECONCILE ?")
    assert faults["MCP_SMTP_PORT"] == ("VALEUR_INVALIDE", "au plus 65535 (reçu « 99999 »)")
    assert faults["MCP_ONBOARDING"] == ("VALEUR_INVALIDE", "valeurs acceptées : 'password' ou 'action-link' "
                                                           "(reçu « lien »)")
    assert faults["MCP_DAILY_AT"][1].startswith("heure quotidienne invalide « 25:00 »")
    assert faults["MCP_INSECURE_COOKIES"][1].startswith("1 ou 0")
    assert faults["MCP_INACTIVITY_DAYS"][1] == "au moins 0 (reçu « -1 »)"
    assert faults["MCP_RESYNC_MINUTES"][1] == "un nombre est attendu (reçu « dix »)"
    assert len(faults) == 7


def test_values_are_typed_an_empty_variable_is_unset_and_a_secret_file_wins(env, tmp_path):
    env.setenv("MCP_SMTP_PORT", "2525")
    env.setenv("MCP_INSECURE_COOKIES", "1")
    env.setenv("MCP_ONBOARDING", "")  # compose files write `MCP_X: ""`
    env.setenv("MCP_ENV", " Demo ")
    secret = tmp_path / "secret"
    secret.write_text("from-the-file\n")
    env.setenv("MCP_PROVISIONING_CLIENT_SECRET", "from-the-variable")
    env.setenv("MCP_PROVISIONING_CLIENT_SECRET_FILE", str(secret))
    st = settings.read()
    assert (st.smtp_port, st.insecure_cookies, st.onboarding, st.env) == (2525, True, "password", "demo")
    assert st.provisioning_client_secret == "from-the-file"
    assert Config.from_env(st).keycloak.client_secret == "from-the-file"


def test_the_documentation_table_is_the_declaration():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = text.split("<!-- settings:begin -->\n")[1].split("<!-- settings:end -->")[0]
    assert table == settings.markdown(), "regenerate: .venv/bin/python -m provisioning.settings --markdown"


def test_every_variable_the_repository_sets_or_reads_is_declared():
    """So that the refusal of unknown variables never meets one of ours; templates (MCP_{APP}_…) excepted."""
    known = settings.known_variables()
    found: dict[str, str] = {}
    places = ["provisioning", "sso_demo", "devstack", "scripts", "tests", "benchmarks", "realm-config", "deploy",
              ".ci", "docker-compose.yml", "README.md", "docs"]
    for place in places:
        path = ROOT / place
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and p.suffix in
                                                 (".py", ".sh", ".json", ".yml", ".yaml", ".md", ".env", ".example", "")]
        for f in files:
            for name in re.findall(r"\bMCP_[A-Z0-9_]*[A-Z0-9]\b", f.read_text(encoding="utf-8", errors="ignore")):
                found.setdefault(name, str(f.relative_to(ROOT)))
    typos_on_purpose = {"MCP_RECONCILE_MODE", "MCP_SMTP_STARTTL", "MCP_X"}  # examples, in docs and tests
    undeclared = {n: where for n, where in found.items() if n not in known and not n.endswith("_FILE")
                  and n not in typos_on_purpose
                  and not any(k.startswith(n + "_") for k in known)}  # a prefix a program matches (MCP_SMTP…)
    assert undeclared == {}


def test_a_secret_file_that_cannot_be_read_is_a_listed_fault_not_a_crash(env, tmp_path):
    env.setenv("MCP_PROVISIONING_CLIENT_SECRET_FILE", str(tmp_path / "absent"))
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    env.setenv("MCP_SMTP_PASSWORD_FILE", str(tmp_path / "binary"))
    env.setenv("MCP_SMTP_PORT", "x")
    with pytest.raises(settings.InvalidSettings) as e:
        settings.read()
    faults = {v.path: v.code for v in e.value.violations}
    assert faults == {"MCP_PROVISIONING_CLIENT_SECRET_FILE": "FICHIER_SECRET_ILLISIBLE",
                      "MCP_SMTP_PASSWORD_FILE": "FICHIER_SECRET_ILLISIBLE", "MCP_SMTP_PORT": "VALEUR_INVALIDE"}
    settings._at_import.cache_clear()
    assert settings.initial("claim_wait_seconds") == 120  # a module's constant: the default, the start refuses
    settings._at_import.cache_clear()


def test_one_name_for_each_mail_setting_in_python_and_in_the_realm(env):
    """Issue 26 §5: the realm import's mail placeholders are the variables provisioning reads, with the same
    defaults; the same values give Keycloak and provisioning the same server, protection, login and sender."""
    smtp = json.loads((ROOT / "realm-config" / "mon-compte-partenaire-realm.json").read_text(encoding="utf-8"))[
        "smtpServer"]
    placeholders = dict(re.fullmatch(r"\$\{(MCP_[A-Z_]+):([^}]*)\}", v).groups() for v in smtp.values()
                        if v.startswith("${"))
    assert set(placeholders) == {"MCP_SMTP_HOST", "MCP_SMTP_PORT", "MCP_SMTP_FROM", "MCP_SMTP_STARTTLS",
                                 "MCP_SMTP_SSL", "MCP_SMTP_AUTH", "MCP_SMTP_USERNAME", "MCP_SMTP_PASSWORD"}
    for var, default in placeholders.items():
        declared = settings.Settings.model_fields[var.removeprefix("MCP_").lower()].default
        assert str(declared).lower() == default.lower() or (declared == "" and default == ""), var
    assert smtp["fromDisplayName"] == settings.SENDER_NAME
    for k, v in {"MCP_SMTP_HOST": "smtp.caf.example", "MCP_SMTP_PORT": "465", "MCP_SMTP_SSL": "true",
                 "MCP_SMTP_AUTH": "true", "MCP_SMTP_USERNAME": "mcp", "MCP_SMTP_PASSWORD": "s3cret",
                 "MCP_SMTP_FROM": "habilitations@caf.example"}.items():
        env.setenv(k, v)
    smtp_cfg = Config.from_env(settings.read()).smtp
    assert (smtp_cfg.host, smtp_cfg.port, smtp_cfg.security, smtp_cfg.username, smtp_cfg.password) == \
        ("smtp.caf.example", 465, "ssl", "mcp", "s3cret")
    assert smtp_cfg.sender == "Mon Compte Partenaire <habilitations@caf.example>"


def test_mail_settings_that_contradict_each_other_are_refused_together(env):
    for k, v in {"MCP_SMTP_SSL": "1", "MCP_SMTP_STARTTLS": "1", "MCP_SMTP_AUTH": "1",
                 "MCP_SMTP_FROM": "Mon Compte <x@caf.example>"}.items():
        env.setenv(k, v)
    with pytest.raises(settings.InvalidSettings) as e:
        settings.read()
    faults = {v.path: v.message for v in e.value.violations}
    assert set(faults) == {"MCP_SMTP_SSL", "MCP_SMTP_AUTH", "MCP_SMTP_FROM"}
    assert "s'excluent" in faults["MCP_SMTP_SSL"] and "MCP_SMTP_USERNAME" in faults["MCP_SMTP_AUTH"]


def test_without_login_asked_no_login_is_tried_even_with_a_username(env):
    env.setenv("MCP_SMTP_USERNAME", "mcp")
    env.setenv("MCP_SMTP_PASSWORD", "s3cret")
    smtp_cfg = Config.from_env(settings.read()).smtp
    assert (smtp_cfg.username, smtp_cfg.password, smtp_cfg.security) == ("", "", "none")
