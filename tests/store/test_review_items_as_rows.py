"""Issue 27 §2: an access review's items are rows (migration 0013), not one JSON value per campaign. A campaign
frozen before reads the same after, in the same order, and back again after a downgrade; a partner's review page
and a decision read only their own items, never the campaign's whole list."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command

from provisioning.domain.reviews import Verdict
from provisioning.store.uow import UnitOfWork, _alembic, make_engine, migrate
from tests.unit.factories import example_data, registry, second_partner
from tests.unit.services import make_service
from tests.unit.test_access_reviews import CAF
from tests.unit.test_desired_state_files import NATIONAL

A, B = "12345678900015", "98765432100015"
FROZEN = [{"partner": A, "convention": "C-1", "service": "AFAS", "identifiant": "lea.petit",
           "groups": ["AFAS Déclarer"], "profiles": ["fournisseur-donnees-activite"]},
          {"partner": B, "convention": "C-2", "service": "CDAP", "identifiant": "b.lea", "groups": ["CDAP Consulter"],
           "profiles": []},
          {"partner": A, "convention": "C-1", "service": "CDAP", "identifiant": "lea.petit",
           "groups": ["CDAP Consulter"], "profiles": []}]


def _to(engine, revision: str, down: bool = False) -> None:
    cfg = _alembic()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)


AT = datetime(2026, 12, 1, tzinfo=UTC)


def _campaign_at_0012(tmp_path):
    """A registry at revision 0012 holding campaign r1, its items frozen as JSON."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    _to(engine, "0012")
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO review_campaigns (id, caf_code, opened_by, opened_at, deadline, items, "
                          "reminders_sent) VALUES ('r1', '751', 'x', :at, :at, :items, '[]')"),
                  {"at": AT, "items": json.dumps(FROZEN)})
    return engine


def test_a_campaign_frozen_before_0013_reads_the_same_after_and_back(tmp_path):
    engine = _campaign_at_0012(tmp_path)
    migrate(engine)
    with UnitOfWork(engine) as uow:
        every = uow.reviews.get("r1")
        mine = uow.reviews.get("r1", partner=A)
        one = uow.reviews.get("r1", key=f"{B}/C-2/CDAP/b.lea")
    assert every and mine and one
    assert [(i.partner, i.service.value, i.identifiant) for i in every.items] == [
        (A, "AFAS", "lea.petit"), (B, "CDAP", "b.lea"), (A, "CDAP", "lea.petit")]  # the frozen order
    assert [i.key for i in mine.items] == [f"{A}/C-1/AFAS/lea.petit", f"{A}/C-1/CDAP/lea.petit"]
    assert [i.identifiant for i in one.items] == ["b.lea"]
    _to(engine, "0012", down=True)
    with engine.connect() as c:
        back = json.loads(c.execute(sa.text("SELECT items FROM review_campaigns WHERE id = 'r1'")).scalar_one())
    assert back == FROZEN


def test_the_migration_keeps_every_decision(tmp_path):
    """Found writing 0013: dropping the JSON column on SQLite recreated the table and, foreign keys on, the
    drop cascaded to every decision taken."""
    engine = _campaign_at_0012(tmp_path)
    with engine.begin() as c:
        c.execute(sa.text("INSERT INTO review_decisions (campaign_id, item, partner_siret, verdict, by, at) "
                          "VALUES ('r1', :item, :p, 'confirmed', 'x', :at)"), {"item": f"{A}/C-1/AFAS/lea.petit",
                                                                               "p": A, "at": AT})
    migrate(engine)
    with UnitOfWork(engine) as uow:
        assert [d.verdict for d in uow.reviews.decisions("r1")] == [Verdict.CONFIRM]


def test_a_partners_page_and_a_decision_read_only_their_own_items(use_case_engine):
    svc = make_service(use_case_engine)
    data = example_data()
    second_partner(data)
    svc.import_registry(NATIONAL, registry(data))
    campaign = svc.open_review(CAF, "751", svc.now() + timedelta(days=30))
    unfiltered: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if "FROM review_items" in statement and not re.search(r'review_items\.(partner_siret|"?key"?) =', statement):
            unfiltered.append(statement)
    sa.event.listen(use_case_engine, "before_cursor_execute", watch)
    try:
        page = svc.review_items(CAF, campaign["id"], A)
        svc.decide(CAF, campaign["id"], page["items"][0]["key"], Verdict.CONFIRM)
        assert {i["identifiant"] for i in page["items"]} <= {"lea.petit", "paul.bernard", "marc.martin",
                                                             "jeanne.dupont"} and page["items"]
    finally:
        sa.event.remove(use_case_engine, "before_cursor_execute", watch)
    assert unfiltered == []
    assert svc.review(CAF, campaign["id"])["progress"][B]["total"] > 0  # the Caf's view still sees every partner
