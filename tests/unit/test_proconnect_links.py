"""Issue 32 in-process (fake Keycloak): who removes a person's ProConnect link (herself, her managers, her Caf,
nobody else), what it leaves (an audit entry, a mail when someone else did it, « AUCUNE_LIAISON » at a second
click), and a person removed from the registry losing her link while a suspended one keeps it."""

from __future__ import annotations

import copy

import pytest

from provisioning.services import CAF_ADMIN, DELEGATE, PARTNER_ADMIN, Actor
from tests.unit.factories import add_caf_692, example_data, registry, second_partner
from tests.unit.services import example_api

SIRET = "12345678900015"
ACTORS = {"caf": Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751"),
          "lyon": Actor("caf.lyon", frozenset({CAF_ADMIN}), caf="692"),
          "jeanne": Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=SIRET),
          "marc": Actor("marc.martin", frozenset({DELEGATE}), partner=SIRET),
          "lea": Actor("lea.petit", partner=SIRET),
          "paul": Actor("paul.bernard", partner=SIRET),
          "b-admin": Actor("b.jeanne.dupont", frozenset({PARTNER_ADMIN}), partner="98765432100015")}
H = {who: {"Authorization": f"Bearer {who}"} for who in ACTORS}


def _data() -> dict:
    d = example_data()
    add_caf_692(d)     # another Caf, with its administrator
    second_partner(d)  # another partner of the same Caf, with its administrator
    return d


@pytest.fixture
def api(use_case_store):
    actors = dict(ACTORS)
    client = example_api(use_case_store, actors, _data())
    client.verifier_actors = actors
    client.svc.reconcile(Actor("cli", system=True))  # the accounts exist in (fake) Keycloak
    client.svc.fake.proconnect |= {"lea.petit", "paul.bernard"}
    return client


def _unlink(api, who: str, ident: str):
    return api.delete(f"/api/v1/partners/{SIRET}/users/{ident}/proconnect", headers=H[who])


def _mails_to(api, email: str) -> list[str]:
    api.svc.deliver_notifications()
    return [body for recipient, subject, body in api.svc.notifier.sent if recipient == email and "ProConnect" in subject]


def test_the_person_removes_her_own_link_and_is_not_mailed_about_her_own_act(api):
    lea = Actor("lea.petit", partner=SIRET, sub=api.svc.fake.state.users["lea.petit"].id)
    api.verifier_actors["lea-token"] = lea  # her own token: /me reads her account by its Keycloak id
    assert api.get("/api/v1/me", headers={"Authorization": "Bearer lea-token"}).get_json()["proconnect"] is True
    r = _unlink(api, "lea", "lea.petit")
    assert r.status_code == 200, r.get_json()
    assert "lea.petit" not in api.svc.fake.proconnect
    assert api.get("/api/v1/me", headers={"Authorization": "Bearer lea-token"}).get_json()["proconnect"] is False
    assert _mails_to(api, "lea.petit@hirondelles.example") == []
    rows = api.get(f"/api/v1/audit?partner={SIRET}&user=lea.petit", headers=H["caf"]).get_json()
    assert rows[0]["action"] == "unlink-proconnect" and rows[0]["actor"] == "lea.petit"
    r = _unlink(api, "lea", "lea.petit")  # a second click: nothing left, said so, nothing written
    assert r.status_code == 422 and r.get_json()["violations"][0]["code"] == "AUCUNE_LIAISON"
    assert [x["action"] for x in api.get(f"/api/v1/audit?partner={SIRET}&user=lea.petit",
                                         headers=H["caf"]).get_json()].count("unlink-proconnect") == 1


def test_her_administrator_or_her_caf_remove_it_and_she_is_told_by_mail(api):
    assert api.get(f"/api/v1/partners/{SIRET}/users/paul.bernard/account", headers=H["jeanne"]).get_json()[
        "proconnect"] is True
    assert _unlink(api, "jeanne", "paul.bernard").status_code == 200
    assert api.get(f"/api/v1/partners/{SIRET}/users/paul.bernard/account", headers=H["jeanne"]).get_json()[
        "proconnect"] is False
    assert any("retirée par jeanne.dupont" in body for body in _mails_to(api, "paul.bernard@hirondelles.example"))
    assert _unlink(api, "caf", "lea.petit").status_code == 200


@pytest.mark.parametrize("who, status", [("paul", 403), ("lyon", 403), ("b-admin", 404)])
def test_nobody_else_removes_it(api, who, status):
    """A colleague without rights, another Caf, another partner's administrator: refused, link kept."""
    assert _unlink(api, who, "lea.petit").status_code == status
    assert "lea.petit" in api.svc.fake.proconnect


def test_keycloak_refusing_the_removal_leaves_no_audit_and_no_mail(api):
    api.svc.fake.fail_on = "unlink_identity"
    assert _unlink(api, "jeanne", "paul.bernard").status_code >= 500
    api.svc.fake.fail_on = None
    assert "paul.bernard" in api.svc.fake.proconnect
    assert "unlink-proconnect" not in [x["action"] for x in api.get(
        f"/api/v1/audit?partner={SIRET}&user=paul.bernard", headers=H["caf"]).get_json()]
    assert _mails_to(api, "paul.bernard@hirondelles.example") == []


def test_a_person_removed_from_the_registry_loses_her_link_a_suspended_one_keeps_it(api):
    svc, national = api.svc, Actor("cli", system=True)
    svc.suspend_user(national, SIRET, "lea.petit", True)
    svc.reconcile(national)
    assert svc.fake.state.users["lea.petit"].enabled is False and "lea.petit" in svc.fake.proconnect
    data = copy.deepcopy(_data())
    p = data["partners"][0]
    p["users"] = [u for u in p["users"] if u["identifiant"] != "paul.bernard"]
    for u in p["users"]:
        u["suspended"] = u["identifiant"] == "lea.petit" or u.get("suspended", False)
    for c in p["conventions"]:
        for b in c["bulletins"]:
            b["members"] = [m for m in b["members"] if m["identifiant"] != "paul.bernard"]
    for e in p["equipments"]:
        e["assignments"] = {k: [i for i in v if i != "paul.bernard"] for k, v in e["assignments"].items()}
    p["delegates"] = [d for d in p.get("delegates", []) if d != "paul.bernard"]
    svc.import_registry(national, registry(data))
    svc.reconcile(national)
    assert svc.fake.state.users["paul.bernard"].enabled is False
    assert "paul.bernard" not in svc.fake.proconnect, "removed: the link goes with her"
    assert "lea.petit" in svc.fake.proconnect, "suspended: her link waits for her reactivation"
