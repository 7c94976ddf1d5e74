"""Issue 28 §2: the portal keeps no copy of the catalogue. Its menus, its second-factor notes, the consoles' caps
and the CSV import's model are built from the API's GET /api/v1/catalogue, read once per process and kept a few
minutes: a service added to the catalogue appears without a change to the portal."""

from __future__ import annotations

import pytest
import requests

from provisioning.api.meta import describe
from provisioning.domain.model import Settings
from sso_demo import catalogue, portal
from sso_demo.portal import console
from tests.unit.test_pages_make_no_remote_call import _cfg, _logged_in
from tests.unit.test_service_catalogue import with_eaje


@pytest.fixture
def api_catalogue(monkeypatch):
    """The API's answer for the shipped catalogue plus the EAJE entry; every read counted."""
    reads = []
    body = describe(with_eaje(), Settings())

    class Answer:
        status_code = 200

        @staticmethod
        def json():
            return body

    def get(url, **kw):
        reads.append(url)
        return Answer()
    monkeypatch.setattr(catalogue.requests, "get", get)
    catalogue.forget()
    yield reads
    catalogue.forget()


def test_the_menu_lists_the_services_the_person_holds_a_role_of_from_the_catalogue(tmp_path, api_catalogue):
    app = portal.create_app(_cfg(tmp_path))
    client, _ = _logged_in(app, {"previous_login": ("first", None)})  # lea.petit: cdap:CDAP-Consulter
    page = client.get("/").get_data(as_text=True)
    assert 'href="http://localhost:8082/">CDAP</a>' in page and "second-facteur-CDAP" in page  # niveau-2
    assert "EAJE" not in page and ">AFAS<" not in page
    app2 = portal.create_app(_cfg(tmp_path / "b"))
    with app2.app_context():
        assert [code for code, _ in catalogue.nav(_Principal({"eaje:declarant"}))] == ["EAJE"]
        assert [code for code, _ in catalogue.nav(_Principal({"afas:approbateur", "cdap:CDAP-Consulter"}))] == [
            "CDAP", "AFAS"]
    for _ in range(5):
        client.get("/")
    assert len(api_catalogue) == 1, "read once for many pages"


def test_the_consoles_caps_and_the_import_model_come_from_the_catalogue(tmp_path, api_catalogue):
    app = portal.create_app(_cfg(tmp_path))
    partner = {"conventions": [{"number": "CONV-1", "bulletins": [
        {"service": "EAJE", "members": [{"identifiant": "a", "profiles": ["declarant"]},
                                        {"identifiant": "b", "profiles": ["declarant", "valideur"]},
                                        {"identifiant": "c", "profiles": ["valideur"], "suspended": True}]},
        {"service": "CDAP", "members": [{"identifiant": "a", "profiles": []}]}]}]}
    with app.app_context():
        caps = console._caps(partner)
        assert caps == [{"convention": "CONV-1", "service": "EAJE", "rows": [
            {"label": "déclarant", "cap": 2, "count": 2}, {"label": "valideur", "cap": 1, "count": 1}]}]
        model = console._import_template().splitlines()
    assert model[0] == "identifiant;nom;prenom;courriel;convention;groupes;profils"
    assert [line.split(";")[5:] for line in model[1:]] == [
        ["CDAP Consulter", ""], ["AFAS Déclarer", "fournisseur-donnees-activite"], ["EAJE Déclarer", "declarant"]]


def test_the_api_down_the_pages_keep_the_last_catalogue_and_do_not_ask_at_every_page(tmp_path, monkeypatch):
    catalogue.forget()
    calls = []

    def down(url, **kw):
        calls.append(url)
        raise requests.ConnectionError("down")
    monkeypatch.setattr(catalogue.requests, "get", down)
    app = portal.create_app(_cfg(tmp_path))
    client, _ = _logged_in(app, {"previous_login": ("first", None)})
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert len(calls) == 1, "a failed read is retried later, not at every page"
    catalogue.forget()


class _Principal:
    def __init__(self, roles):
        self.roles = roles

    def has(self, role):
        return role in self.roles
