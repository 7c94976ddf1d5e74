"""Issue 29 §1: the partner's administrator and its delegates (within R12) suspend and reactivate their own
staff, with the Caf's confirmation, mail and session end; a suspension the Caf decided is the Caf's to lift;
nobody suspends themselves; a delegate acts on neither the administrator nor another delegate."""

from __future__ import annotations

import pytest

from provisioning.services import CAF_ADMIN, DELEGATE, PARTNER_ADMIN, Actor
from tests.unit.services import example_api

SIRET = "12345678900015"
ACTORS = {"caf": Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751"),
          "jeanne": Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=SIRET),
          "marc": Actor("marc.martin", frozenset({DELEGATE}), partner=SIRET)}


@pytest.fixture
def api(use_case_store):
    return example_api(use_case_store, ACTORS)


def _suspension(api, who: str, ident: str, suspend: bool):
    path = f"/api/v1/partners/{SIRET}/users/{ident}/suspension"
    return (api.post if suspend else api.delete)(path, headers={"Authorization": f"Bearer {who}"})


def _user(api, ident: str) -> dict:
    return next(u for u in api.get(f"/api/v1/partners/{SIRET}", headers={"Authorization": "Bearer caf"})
                .get_json()["users"] if u["identifiant"] == ident)


def test_the_partner_administrator_suspends_and_reactivates_her_staff_like_the_caf(api):
    svc = api.svc
    r = _suspension(api, "jeanne", "paul.bernard", True)
    assert r.status_code == 200, r.get_json()
    paul = _user(api, "paul.bernard")
    assert (paul["suspended"], paul["suspended_by"]) == (True, "partenaire")
    assert svc.fake.state.users["paul.bernard"].enabled is False, "Keycloak follows: account disabled"
    svc.deliver_notifications()
    to_paul = [body for recipient, _, body in svc.notifier.sent if recipient == paul["email"]]
    assert any("Votre structure (Centre de loisirs Les Hirondelles) a suspendu" in body for body in to_paul), \
        "the person is told who suspended her"
    # the delegate, within R12: an ordinary user yes, the administrator no, himself no
    assert _suspension(api, "marc", "paul.bernard", False).status_code == 200
    assert "suspended" not in _user(api, "paul.bernard") and svc.fake.state.users["paul.bernard"].enabled
    assert _suspension(api, "marc", "jeanne.dupont", True).get_json()["error"] == "HORS_HIERARCHIE"
    assert _suspension(api, "jeanne", "jeanne.dupont", True).get_json()["error"] == "SOI_MEME"


def test_a_suspension_the_caf_decided_is_lifted_by_the_caf_only(api):
    assert _suspension(api, "caf", "lea.petit", True).status_code == 200
    assert _user(api, "lea.petit")["suspended_by"] == "caf"
    r = _suspension(api, "jeanne", "lea.petit", False)
    assert r.status_code == 403 and r.get_json()["error"] == "SUSPENDU_PAR_LA_CAF"
    assert _user(api, "lea.petit")["suspended"] is True, "nothing written"
    assert _suspension(api, "caf", "lea.petit", False).status_code == 200
    # a partner's suspension: the Caf may lift it too
    assert _suspension(api, "jeanne", "lea.petit", True).status_code == 200
    assert _suspension(api, "caf", "lea.petit", False).status_code == 200
