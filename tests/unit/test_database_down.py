"""Issue 14: while the database restarts, the API and the applications answer a clear 503 (problem details for
the API, a French page for people, Retry-After), never a 500 with a trace."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from provisioning.api import create_app
from sso_demo import portal
from tests.unit.test_api_door import Verifier
from tests.unit.test_pages_make_no_remote_call import _cfg, _logged_in


def _down(*_a, **_kw):
    raise sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


class DatabaseDown:
    def __getattr__(self, name):
        return _down


def test_the_api_says_503_transient_with_retry_after():
    r = create_app(DatabaseDown(), Verifier()).test_client().get("/api/v1/partners")
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    body = r.get_json()
    assert body["code"] == "transient" and "momentanément injoignable" in body["title"]
    assert "OperationalError" not in r.get_data(as_text=True) and "SELECT" not in r.get_data(as_text=True)


def test_an_application_page_says_503_in_french(tmp_path, monkeypatch):
    app = portal.create_app(_cfg(tmp_path))
    client, _ = _logged_in(app, {"previous_login": ("first", None)})
    monkeypatch.setattr(app.extensions["mcp_sessions"], "get", _down)
    r = client.get("/")
    page = r.get_data(as_text=True)
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    assert "momentanément indisponible" in page and "OperationalError" not in page
