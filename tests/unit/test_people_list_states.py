"""Issue 29 §1: the people list says where each person's account really stands — codes still to leave, never
connected, active, locked after failures (until when), locked (codes lost), suspended — read for the whole page
in one bulk request to Keycloak (never one per person), filterable; when Keycloak does not answer, the list still
answers with the registry's word."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from provisioning.domain import naming
from provisioning.errors import Transient
from provisioning.services import CAF_ADMIN, PARTNER_ADMIN, Actor
from tests.unit.services import example_api

SIRET = "12345678900015"
ACTORS = {"caf": Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751"),
          "jeanne": Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=SIRET)}


@pytest.fixture
def api(use_case_store):
    client = example_api(use_case_store, ACTORS)
    client.svc.deliver_notifications()  # everyone's codes have left
    return client


def _rows(api, **params) -> dict[str, dict]:
    r = api.get(f"/api/v1/partners/{SIRET}/users", headers={"Authorization": "Bearer jeanne"},
                query_string={"accounts": "true", **params})
    assert r.status_code == 200, r.get_json()
    return {x["identifiant"]: x for x in r.get_json()}


def test_each_person_has_the_state_her_managers_need_from_one_bulk_read(api):
    svc = api.svc
    now = datetime.now(UTC)
    accepted = str(int(now.timestamp()))
    for ident in ("jeanne.dupont", "marc.martin", "lea.petit"):
        svc.fake.attributes[ident] = {naming.TERMS_ATTR: [accepted]}
    svc.fake.passwords.pop("jeanne.dupont", None)
    svc.fake.passwords.pop("marc.martin", None)
    svc.fake.lockouts["marc.martin"] = now + timedelta(minutes=12)
    svc.suspend_user(ACTORS["caf"], SIRET, "lea.petit", True)
    with svc.uow() as uow:  # new codes asked for paul, not sent yet
        uow.outbox.put_credentials("paul.bernard@hirondelles.example", {"username": "paul.bernard"}, caf="751")
        uow.commit()
    svc.fake.calls.clear()
    rows = _rows(api)
    assert {k: v["account_state"] for k, v in rows.items()} == {
        "jeanne.dupont": "active", "marc.martin": "locked_after_failures", "lea.petit": "suspended",
        "paul.bernard": "codes_pending"}
    assert svc.fake.calls.count("accounts") == 1, "one bulk read for the page"
    assert rows["marc.martin"]["locked_until"] is not None and rows["jeanne.dupont"]["locked_until"] is None
    assert rows["paul.bernard"]["account_state_label"] == "codes en attente d'envoi"
    # never connected: her provisional password not replaced yet
    svc.fake.passwords["jeanne.dupont"] = "provisoire"
    assert _rows(api)["jeanne.dupont"]["account_state"] == "awaiting_first_login"
    # a filter on the account's state
    assert set(_rows(api, account_state="suspended")) == {"lea.petit"}
    r = api.get(f"/api/v1/partners/{SIRET}/users", headers={"Authorization": "Bearer jeanne"},
                query_string={"account_state": "codes_pending"})
    assert [x["identifiant"] for x in r.get_json()] == ["paul.bernard"] and r.headers["X-Total-Count"] == "1"
    # without `accounts`, the list costs no call to Keycloak
    svc.fake.calls.clear()
    api.get(f"/api/v1/partners/{SIRET}/users", headers={"Authorization": "Bearer jeanne"})
    assert "accounts" not in svc.fake.calls


def test_keycloak_silent_the_list_still_answers_with_the_registrys_word(api, monkeypatch):
    def down(usernames):
        raise Transient("Keycloak injoignable")
    monkeypatch.setattr(api.svc.fake, "accounts", down)
    api.svc.suspend_user(ACTORS["caf"], SIRET, "lea.petit", True)
    rows = _rows(api)
    assert rows["lea.petit"]["account_state"] == "suspended"
    assert rows["marc.martin"]["account_state"] == "unknown"
    assert "inconnu" in rows["marc.martin"]["account_state_label"]
