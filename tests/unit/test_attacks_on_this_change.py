"""Issues 28/29, attacked once before saying done: another partner's token on the new list and filter, a
hostile filter value, a second click on a suspension, markup in a catalogue label shown by the portal."""

from __future__ import annotations

import pytest

from provisioning.api.meta import describe
from provisioning.catalogue_file import DEFAULT, read
from provisioning.domain.model import Settings
from provisioning.services import CAF_ADMIN, PARTNER_ADMIN, Actor
from sso_demo import catalogue as portal_catalogue
from sso_demo import portal
from tests.unit.factories import example_data, second_partner
from tests.unit.services import example_api
from tests.unit.test_pages_make_no_remote_call import _cfg, _logged_in

A, B = "12345678900015", "98765432100015"
ACTORS = {"caf": Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751"),
          "jeanne": Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=A),
          "b": Actor("b.jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=B)}


@pytest.fixture
def api(use_case_store):
    data = example_data()
    second_partner(data)
    return example_api(use_case_store, ACTORS, data)


def _h(who):
    return {"Authorization": f"Bearer {who}"}


def test_another_partners_token_learns_nothing_from_the_list_its_filter_or_a_suspension(api):
    svc = api.svc
    svc.fake.calls.clear()
    for query in ({"accounts": "true"}, {"account_state": "suspended"}):
        mine = api.get(f"/api/v1/partners/{A}/users", headers=_h("b"), query_string=query)
        none = api.get("/api/v1/partners/11111111111111/users", headers=_h("b"), query_string=query)
        assert mine.status_code == none.status_code == 404
    assert "accounts" not in svc.fake.calls, "refused before any read of Keycloak"
    r = api.post(f"/api/v1/partners/{A}/users/paul.bernard/suspension", headers=_h("b"))
    assert r.status_code == 404 and not svc.registry().partner(A).user("paul.bernard").suspended


def test_a_hostile_filter_value_is_refused_and_a_second_click_changes_nothing(api):
    for value in ("<script>alert(1)</script>", "x" * 10_000, "suspended\u200b", "\x00"):
        r = api.get(f"/api/v1/partners/{A}/users", headers=_h("jeanne"), query_string={"account_state": value})
        assert r.status_code == 400, (value[:20], r.status_code)
    first = api.post(f"/api/v1/partners/{A}/users/paul.bernard/suspension", headers=_h("jeanne"))
    audit = len(api.svc.audit(ACTORS["caf"], A, limit=500))
    again = api.post(f"/api/v1/partners/{A}/users/paul.bernard/suspension", headers=_h("jeanne"))
    assert first.status_code == again.status_code == 200
    assert first.get_json()["changed"] is True and again.get_json()["changed"] is False
    assert len(api.svc.audit(ACTORS["caf"], A, limit=500)) == audit, "the second click journals nothing"


def test_markup_in_a_catalogue_label_is_shown_as_text(tmp_path, monkeypatch):
    text = DEFAULT.read_text(encoding="utf-8").replace(
        "label: Consultation des données allocataires", 'label: "<img src=x onerror=alert(1)> Consultation"')
    body = describe(read(text, env={}), Settings())

    class Answer:
        status_code = 200

        @staticmethod
        def json():
            return body
    monkeypatch.setattr(portal_catalogue.requests, "get", lambda url, **kw: Answer())
    portal_catalogue.forget()
    try:
        app = portal.create_app(_cfg(tmp_path))
        client, _ = _logged_in(app, {"previous_login": ("first", None)})  # lea.petit holds CDAP
        page = client.get("/").get_data(as_text=True)
        assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt; Consultation" in page
    finally:
        portal_catalogue.forget()
