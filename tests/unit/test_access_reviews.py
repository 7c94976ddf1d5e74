"""Access reviews as use cases (fake Keycloak, SQLite or PostgreSQL, an injected clock): a campaign from its
opening to the deadline's suspensions — mails, reminders, decisions and who may take them, the audit trail, the
CSV, and what the suspended grants leave in Keycloak. The same story against the real Keycloak:
tests/integration/test_access_reviews_keycloak.py."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from provisioning.domain.model import Group, Profile, Service
from provisioning.domain.reviews import Verdict
from provisioning.errors import Forbidden, NotFound, ValidationFailed
from provisioning.notify.notifier import MemoryNotifier
from provisioning.services import CAF_ADMIN, DELEGATE, PARTNER_ADMIN, Actor
from tests.unit.factories import add_caf_692, example_data, registry, second_partner
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL

SIRET, OTHER = "12345678900015", "98765432100015"
CAF = Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751")
LYON = Actor("caf.lyon", frozenset({CAF_ADMIN}), caf="692")
JEANNE = Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=SIRET)
MARC = Actor("marc.martin", frozenset({DELEGATE}), partner=SIRET)
OTHER_ADMIN = Actor("b.jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=OTHER)
KEY = {"lea-afas": f"{SIRET}/CONV-751-2026-0001/AFAS/lea.petit",
       "lea-cdap": f"{SIRET}/CONV-751-2026-0001/CDAP/lea.petit",
       "paul": f"{SIRET}/CONV-751-2026-0001/AFAS/paul.bernard",
       "marc": f"{SIRET}/CONV-751-2026-0001/AFAS/marc.martin"}


class Clock:
    def __init__(self):
        self.at = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw) -> None:
        self.at += timedelta(**kw)


@pytest.fixture
def world(use_case_store):
    clock, mails = Clock(), MemoryNotifier()
    svc = make_service(use_case_store, notifier=mails, now=clock)
    data = example_data()
    second_partner(data)
    add_caf_692(data)
    svc.import_registry(NATIONAL, registry(data))
    svc.reconcile(NATIONAL)
    mails.sent.clear()
    svc.clock, svc.mails = clock, mails
    return svc


def _to(mails, address: str) -> list:
    return [m for m in mails.sent if m[0] == address]


def test_a_campaign_from_opening_to_the_suspension_of_what_nobody_confirmed(world):
    svc, clock = world, world.clock
    opened = svc.open_review(CAF, "751", clock() + timedelta(days=30), [SIRET])
    assert opened["total"] == 4 and opened["state"] == "open"
    # the partner's administrator and its responsable des habilitations are asked, nobody else
    assert len(_to(svc.mails, "jeanne.dupont@hirondelles.example")) == 1
    assert "4 habilitation(s)" in _to(svc.mails, "marc.martin@hirondelles.example")[0][2]
    assert not _to(svc.mails, "b.jeanne.dupont@hirondelles.example")

    svc.decide(JEANNE, opened["id"], KEY["lea-afas"], Verdict.CONFIRM)
    svc.decide(JEANNE, opened["id"], KEY["paul"], Verdict.REVOKE)      # taken away at once
    assert "paul.bernard" not in svc.fake.state.members[f"/partenaires/{SIRET}/AFAS Déclarer"]
    told = _to(svc.mails, "paul.bernard@hirondelles.example")
    assert len(told) == 1 and "jeanne.dupont a retiré votre habilitation AFAS" in told[0][2]   # R18: he is told
    p = svc.registry().partner(SIRET)
    assert p.granted_groups("paul.bernard") == set()
    assert p.equipments[0].assignments[Profile.FINANCIER] == []    # the association went with the profile

    # reminders: J-14 to those who still have something to review, once; J-7 after; never two at a time
    svc.mails.sent.clear()
    clock.advance(days=16, hours=1)
    assert svc.tick_reviews()["reminders"] == 2
    assert "Il reste 2 habilitation(s)" in _to(svc.mails, "jeanne.dupont@hirondelles.example")[0][2]
    assert svc.tick_reviews()["reminders"] == 0
    clock.advance(days=7)
    assert svc.tick_reviews()["reminders"] == 2

    # the deadline: lea's CDAP and marc's AFAS were never confirmed — suspended, not deleted
    svc.mails.sent.clear()
    clock.advance(days=7)
    done = svc.tick_reviews()
    assert done["closed"] == [opened["id"]] and done["suspended"] == 2
    p = svc.registry().partner(SIRET)
    cdap = p.convention("CONV-751-2026-0001").bulletin(Service.CDAP).member("lea.petit")
    assert cdap.suspended and cdap.groups == {Group.CDAP_CONSULTER}               # kept, giving nothing
    assert p.granted_groups("lea.petit") == {Group.AFAS_DECLARER}                 # her confirmed AFAS stays
    assert p.granted_groups("marc.martin") == set()
    members = svc.fake.state.members
    assert "lea.petit" not in members[f"/partenaires/{SIRET}/CDAP Consulter"]
    assert "marc.martin" not in members[f"/partenaires/{SIRET}/AFAS Déclarer"]
    assert "lea.petit" in members[f"/partenaires/{SIRET}/AFAS Déclarer"]
    assert {"lea.petit", "marc.martin"} <= set(svc.fake.logged_out)               # their sessions ended
    # each person told what was suspended; the Caf told (R9) by the closing report
    assert "CDAP (CDAP Consulter)" in _to(svc.mails, "lea.petit@hirondelles.example")[0][2]
    caf_mails = _to(svc.mails, "habilitations@caf75.example")
    assert any("clôture" in m[1] and "lea.petit" in m[2] and "marc.martin" in m[2] for m in caf_mails)
    # a second run changes nothing and tells nobody again
    svc.mails.sent.clear()
    assert svc.tick_reviews() == {"reminders": 0, "closed": [], "suspended": 0, "opened": []}
    assert svc.mails.sent == []

    # the journal holds every decision, the reminders, the suspension and the closing
    actions = [e["action"] for e in svc.audit(CAF, limit=50)]
    assert {"open-review", "review-confirm", "review-revoke", "review-reminder", "review-suspend",
            "close-review"} <= set(actions)
    assert any(e["subject"] == "lea.petit" and e["action"] == "review-suspend" for e in svc.audit(CAF, limit=50))

    # the CSV: one line a grant, with what became of it
    rows = list(csv.DictReader(io.StringIO(svc.review_csv(CAF, opened["id"]).lstrip("\ufeff")), delimiter=";"))
    result = {(r["identifiant"], r["service"]): (r["resultat"], r["par"]) for r in rows}
    assert result == {("lea.petit", "AFAS"): ("confirmé", "jeanne.dupont"),
                      ("lea.petit", "CDAP"): ("suspendu (non confirmé)", ""),
                      ("paul.bernard", "AFAS"): ("retiré", "jeanne.dupont"),
                      ("marc.martin", "AFAS"): ("suspendu (non confirmé)", "")}
    decided = next(r for r in rows if r["identifiant"] == "lea.petit" and r["service"] == "AFAS")
    # issue 29: as people read it — Paris time, to the second, the column saying so (no UTC, no microseconds)
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}", decided["le (heure de Paris)"]), decided

    # granting again lifts the suspension
    svc.set_membership(JEANNE, SIRET, "CONV-751-2026-0001", Service.CDAP, "lea.petit", {Group.CDAP_CONSULTER}, set())
    assert Group.CDAP_CONSULTER in svc.registry().partner(SIRET).granted_groups("lea.petit")


def test_who_may_decide_and_what_is_refused(world):
    svc = world
    c = svc.open_review(CAF, "751", svc.clock() + timedelta(days=10))
    assert c["total"] == 8 and set(c["progress"]) == {SIRET, OTHER}
    # another Caf, another partner: as if the campaign did not exist
    with pytest.raises(NotFound):
        svc.review(LYON, c["id"])
    with pytest.raises(NotFound):
        svc.decide(OTHER_ADMIN, c["id"], KEY["lea-afas"], Verdict.CONFIRM)
    with pytest.raises(NotFound):
        svc.review_items(OTHER_ADMIN, c["id"], SIRET)
    # the partner sees only its own counts
    mine = svc.reviews(OTHER_ADMIN)
    assert [x["progress"].keys() for x in mine] == [{OTHER}] and mine[0]["total"] == 4
    # R12: a delegate reviews the others, not himself nor the administrator
    with pytest.raises(Forbidden):
        svc.decide(MARC, c["id"], KEY["marc"], Verdict.CONFIRM)
    page = svc.review_items(MARC, c["id"], SIRET)
    assert {i["identifiant"]: i["may_decide"] for i in page["items"]} == {
        "lea.petit": True, "paul.bernard": True, "marc.martin": False}
    svc.decide(MARC, c["id"], KEY["lea-cdap"], Verdict.CONFIRM)
    svc.decide(CAF, c["id"], KEY["marc"], Verdict.CONFIRM)             # the Caf may review on its behalf
    # a confirmation may become a withdrawal; a withdrawal is final
    svc.decide(JEANNE, c["id"], KEY["lea-cdap"], Verdict.REVOKE)
    with pytest.raises(ValidationFailed) as e:
        svc.decide(JEANNE, c["id"], KEY["lea-cdap"], Verdict.CONFIRM)
    assert e.value.violations[0].code == "HABILITATION_DEJA_RETIREE"
    with pytest.raises(NotFound):
        svc.decide(JEANNE, c["id"], f"{SIRET}/X/CDAP/lea.petit", Verdict.CONFIRM)
    # one campaign at a time per Caf; a deadline too near and a foreign partner are listed together
    with pytest.raises(ValidationFailed) as e:
        svc.open_review(CAF, "751", svc.clock() + timedelta(hours=2), ["35600000000001"])
    assert {v.code for v in e.value.violations} == {"ECHEANCE_TROP_PROCHE", "PARTENAIRE_HORS_CAF", "CAMPAGNE_EN_COURS"}
    with pytest.raises(Forbidden):
        svc.open_review(JEANNE, "751", svc.clock() + timedelta(days=10))
    # after the deadline, no decision is received
    svc.clock.advance(days=11)
    with pytest.raises(ValidationFailed) as e:
        svc.decide(JEANNE, c["id"], KEY["paul"], Verdict.CONFIRM)
    assert e.value.violations[0].code == "CAMPAGNE_CLOSE"


def test_last_connections_come_from_one_read_and_a_regrant_during_the_campaign_is_not_suspended(world):
    svc = world
    c = svc.open_review(CAF, "751", svc.clock() + timedelta(days=10), [SIRET])
    svc.fake.logins[svc.fake.user_id("lea.petit")] = svc.clock() - timedelta(days=3)
    svc.fake.calls.clear()
    page = svc.review_items(JEANNE, c["id"], SIRET)
    assert svc.fake.calls.count("last_logins") == 1
    seen = {(i["identifiant"], i["service"]): i["last_login"] for i in page["items"]}
    assert seen[("lea.petit", "CDAP")] == svc.clock() - timedelta(days=3) and seen[("paul.bernard", "AFAS")] is None
    # paul's AFAS grant is changed during the campaign: a newer decision than the one under review
    svc.set_membership(JEANNE, SIRET, "CONV-751-2026-0001", Service.AFAS, "paul.bernard", {Group.AFAS_DECLARER},
                       {Profile.FINANCIER, Profile.ACTIVITE})
    svc.clock.advance(days=10)
    svc.tick_reviews()
    p = svc.registry().partner(SIRET)
    assert Group.AFAS_DECLARER in p.granted_groups("paul.bernard")
    assert Group.CDAP_CONSULTER not in p.granted_groups("lea.petit")


def test_the_api_opens_lists_decides_and_exports_in_each_readers_scope(world):
    from provisioning.api import create_app
    from tests.unit.test_api_usecases import Verifier

    actors = {"caf": CAF, "lyon": LYON, "jeanne": JEANNE, "marc": MARC, "autre": OTHER_ADMIN}
    api = create_app(world, Verifier(actors)).test_client()
    h = lambda who: {"Authorization": f"Bearer {who}"}  # noqa: E731
    bad = api.post("/api/v1/cafs/751/reviews", headers=h("caf"), json={"deadline": "demain", "extra": 1})
    assert bad.status_code == 400 and {v["code"] for v in bad.get_json()["violations"]} == {"CHAMP_TYPE",
                                                                                           "CHAMP_INCONNU"}
    assert api.post("/api/v1/cafs/751/reviews", headers=h("lyon"), json={"deadline": "2026-12-20"}).status_code == 403
    assert api.get("/api/v1/reviews", headers=h("caf")).get_json() == []      # nothing was written
    r = api.post("/api/v1/cafs/751/reviews", headers=h("caf"), json={"deadline": "2026-12-20", "partners": [SIRET]})
    assert r.status_code == 201
    cid = r.get_json()["id"]
    assert r.get_json()["deadline"].startswith("2026-12-20T22:59")            # the day's last minute, Paris
    assert [x["id"] for x in api.get("/api/v1/reviews", headers=h("jeanne")).get_json()] == [cid]
    assert api.get("/api/v1/reviews", headers=h("autre")).get_json() == []     # not covered: sees none
    assert api.get(f"/api/v1/reviews/{cid}/partners/{SIRET}", headers=h("autre")).status_code == 404
    page = api.get(f"/api/v1/reviews/{cid}/partners/{SIRET}", headers=h("jeanne")).get_json()
    assert len(page["items"]) == 4 and page["partner"]["name"].startswith("Centre de loisirs")
    d = api.post(f"/api/v1/reviews/{cid}/decisions", headers=h("jeanne"),
                 json={"item": KEY["lea-cdap"], "decision": "confirmed"})
    assert d.status_code == 200 and d.get_json()["by"] == "jeanne.dupont"
    assert api.post(f"/api/v1/reviews/{cid}/decisions", headers=h("marc"),
                    json={"item": KEY["marc"], "decision": "confirmed"}).status_code == 403
    assert api.post(f"/api/v1/reviews/{cid}/decisions", headers=h("jeanne"),
                    json={"item": KEY["paul"], "decision": "peut-être"}).status_code == 400
    assert api.get(f"/api/v1/reviews/{cid}", headers=h("caf")).get_json()["progress"][SIRET] == {
        "total": 4, "confirmed": 1, "revoked": 0, "pending": 3}
    csv_ = api.get(f"/api/v1/reviews/{cid}/export.csv", headers=h("caf"))
    assert csv_.status_code == 200 and csv_.mimetype == "text/csv" and "confirmé;jeanne.dupont" in csv_.text
    assert api.get(f"/api/v1/reviews/{cid}/export.csv", headers=h("jeanne")).status_code == 404


def test_a_year_after_the_last_review_the_next_one_opens_by_itself(world):
    svc, clock = world, world.clock
    assert svc.tick_reviews()["opened"] == []              # a Caf's first review is opened by a person
    first = svc.open_review(CAF, "751", clock() + timedelta(days=30), [SIRET])
    clock.advance(days=200)
    assert svc.tick_reviews()["closed"] == [first["id"]]
    clock.advance(days=100)
    assert svc.tick_reviews()["opened"] == []              # 300 days after the opening: not yet
    svc.mails.sent.clear()
    clock.advance(days=66)
    opened = svc.tick_reviews()["opened"]
    assert len(opened) == 1
    c = svc.review(CAF, opened[0])
    assert c["opened_by"] == "job:revue-habilitations" and c["partners"] is None   # every partner of the Caf
    # the other partner is reviewed for the first time; A's grants, all suspended last time, are not asked again
    assert set(c["progress"]) == {OTHER} and c["state"] == "open"
    assert timedelta(days=30) <= c["deadline"] - clock() <= timedelta(days=31)
    assert any("revue annuelle" in m[1] for m in _to(svc.mails, "habilitations@caf75.example"))
    assert _to(svc.mails, "b.jeanne.dupont@hirondelles.example")       # the reviewers are asked, as usual
    assert svc.tick_reviews()["opened"] == []              # one a year, not one a day


def test_a_reminder_goes_to_who_can_decide_what_is_left(world):
    svc, clock = world, world.clock
    c = svc.open_review(CAF, "751", clock() + timedelta(days=30), [SIRET])
    for key in ("lea-afas", "lea-cdap", "paul"):
        svc.decide(JEANNE, c["id"], KEY[key], Verdict.CONFIRM)
    svc.mails.sent.clear()
    clock.advance(days=16, hours=1)
    assert svc.tick_reviews()["reminders"] == 1          # only Marc's own grant is left: Jeanne decides it
    assert "Il reste 1 habilitation(s)" in _to(svc.mails, "jeanne.dupont@hirondelles.example")[0][2]
    assert not _to(svc.mails, "marc.martin@hirondelles.example")


def test_keycloak_refusing_at_the_deadline_leaves_the_suspensions_stored_and_a_reconcile_to_finish(world):
    svc, clock = world, world.clock
    svc.open_review(CAF, "751", clock() + timedelta(days=10), [SIRET])
    clock.advance(days=11)
    svc.fake.fail_on = "remove_member"
    done = svc.tick_reviews()
    assert done["suspended"] == 4 and len(done["closed"]) == 1             # the registry decided, once
    assert Group.CDAP_CONSULTER not in svc.registry().partner(SIRET).granted_groups("lea.petit")
    assert "lea.petit" in svc.fake.state.members[f"/partenaires/{SIRET}/CDAP Consulter"]   # Keycloak not yet
    assert svc.plan() != []
    svc.fake.fail_on = None
    svc.reconcile(NATIONAL)                                                # the retry converges
    assert "lea.petit" not in svc.fake.state.members[f"/partenaires/{SIRET}/CDAP Consulter"]
    assert svc.plan() == [] and svc.tick_reviews()["suspended"] == 0
