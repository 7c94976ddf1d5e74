"""Issue 11: an authenticated page makes no avoidable remote call. The security page (R17) shows the previous
login read once at login and kept in the session: with every outgoing HTTP request made to fail, it still
renders it."""

from __future__ import annotations

import pytest
import requests

from sso_demo import catalogue, portal
from sso_demo.config import AppConfig
from sso_demo.portal import home


def _cfg(tmp_path) -> AppConfig:
    return AppConfig(client_id="portail", client_secret="x", base_url="http://portail.test",
                     issuer="http://kc.test/realms/mon-compte-partenaire", secret_key="k" * 32,
                     secure_cookies=False, api_url="http://api.test", data_dir=str(tmp_path))


@pytest.fixture
def no_network(monkeypatch):
    calls = []

    def refuse(self, method, url, *a, **kw):
        calls.append((method, url))
        raise requests.ConnectionError(f"no remote call expected: {method} {url}")
    monkeypatch.setattr(requests.Session, "request", refuse)
    return calls


def _logged_in(app, facts: dict):
    user = dict(sub="s-1", username="lea.petit", first_name="Léa", last_name="Petit", partner="12345678900015",
                caf="751", roles=frozenset({"cdap:CDAP-Consulter"}))
    s = app.extensions["mcp_sessions"].create(user=user, kc_sid="kc-1", id_token="id", access_token="at",
                                              access_expires=9e9, facts=facts)
    client = app.test_client()
    with client.session_transaction() as flask_session:
        flask_session["sid"] = s.id
    return client, s


def test_the_security_page_shows_the_previous_login_without_any_remote_call(tmp_path, no_network):
    app = portal.create_app(_cfg(tmp_path))
    catalogue.remember([])  # the service catalogue already read by this process (test_portal_reads_the_catalogue)
    client, _ = _logged_in(app, {"previous_login": ("known", "2026-11-20T08:05:00+00:00")})
    for _ in range(3):
        page = client.get("/").get_data(as_text=True)
        assert "20/11/2026 à 09h05" in page  # Paris time of the stored UTC instant
    assert no_network == []


def test_the_previous_login_is_read_once_at_login_through_the_api(tmp_path, monkeypatch):
    app = portal.create_app(_cfg(tmp_path))
    asked = []

    class Answer:
        status_code = 200

        @staticmethod
        def json():
            return {"previous_login": "2026-11-20T08:05:00+00:00"}

    def fake_call(method, path, **kw):
        asked.append((method, path))
        return Answer()
    monkeypatch.setattr(home.apiclient, "call", fake_call)
    _, s = _logged_in(app, {})
    with app.test_request_context("/"):
        for hook in app.extensions["mcp_on_login"]:
            hook(s)
    assert asked == [("GET", "/api/v1/me")]
    assert s.facts["previous_login"] == ("known", "2026-11-20T08:05:00+00:00")


def test_journal_actions_and_times_read_in_french():
    from sso_demo.labels import action_fr, paris
    assert action_fr("suspend-service") == "Suspension d'un service"
    assert action_fr("keycloak:create:user") == "Keycloak : création (utilisateur)"
    assert action_fr("keycloak:echec:add:member") == "Keycloak : ajout (membre d'un groupe) — échec"
    assert action_fr("something-new") == "something-new"  # an unknown code still shows
    assert paris("2026-07-14T08:05:00+00:00") == "14/07/2026 à 10h05"  # summer time
    assert paris("2026-12-24T08:05:00+00:00") == "24/12/2026 à 09h05"


def test_no_trailing_slash_404(tmp_path, no_network):
    app = portal.create_app(_cfg(tmp_path))
    client, _ = _logged_in(app, {"previous_login": ("first", None)})
    for path in ("/console/12345678900015/journal/", "/signalement/"):  # routes declared without the slash
        assert client.get(path).status_code != 404, path


def test_taking_access_away_asks_first_and_calls_nothing_until_confirmed(tmp_path, no_network):
    app = portal.create_app(_cfg(tmp_path))
    user = dict(sub="s-2", username="caf.admin", first_name="Claire", last_name="Fontaine", partner=None,
                caf="751", roles=frozenset({"caf-administrateur"}))
    s = app.extensions["mcp_sessions"].create(user=user, kc_sid="kc-2", id_token="id", access_token="at",
                                              access_expires=9e9)
    client = app.test_client()
    with client.session_transaction() as flask_session:
        flask_session["sid"] = s.id
        flask_session["csrf_token"] = "t"
    for path, form in (("/caf/partenaires/12345678900015/utilisateurs/paul.bernard/suspension", {"suspend": "1"}),
                       ("/caf/partenaires/12345678900015/conventions/C-1/etat", {"to": "terminated"}),
                       ("/caf/partenaires/12345678900015/conventions/C-1/services/CDAP", {"suspend": "1"})):
        r = client.post(path, data={**form, "csrf_token": "t"})
        page = r.get_data(as_text=True)
        assert r.status_code == 200 and 'id="confirmer"' in page and 'name="confirm" value="1"' in page, path
    assert no_network == []  # nothing was asked of the API before the confirmation
    r = client.post("/caf/partenaires/12345678900015/conventions/C-1/etat", data={"to": "terminated", "csrf_token": "t"})
    assert "La résiliation est définitive" in r.get_data(as_text=True)


def test_refusals_read_as_sentences_with_the_code_in_small_print():
    from sso_demo.portal.api_views import errors_of

    class Refusal:
        headers = {"Content-Type": "application/problem+json"}

        @staticmethod
        def json():
            return {"violations": [{"code": "SIRET_INVALIDE", "message": "Le SIRET <b> est faux.", "path": "siret"},
                                   {"code": "X", "message": "Autre chose.", "path": ""}]}
    fields, general = errors_of(Refusal())
    assert str(fields["siret"]) == 'Le SIRET &lt;b&gt; est faux. <small class="code">SIRET_INVALIDE</small>'
    assert "[" not in str(general[0]) and 'class="code">X<' in str(general[0])
