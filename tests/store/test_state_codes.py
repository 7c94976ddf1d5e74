"""Issue 26 §4: machine states are codes in the database, the API and the scripts; people read French labels.
A registry written before migration 0011 (French labels stored) reads as codes after it."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from provisioning.domain.reviews import Verdict
from provisioning.domain.states import ReconcileState
from provisioning.store import tables as t
from provisioning.store.uow import UnitOfWork, make_engine, migrate


def test_a_registry_from_before_0011_has_its_french_states_recoded(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    migrate(engine, to="0010")
    at = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.begin() as c:
        for key, state in (("A", "en attente"), ("B", "appliqué"), ("C", "en échec"), ("D", "à traiter")):
            c.execute(sa.insert(t.reconcile_requests).values(key=key, requested_at=at, state=state, updated_at=at))
        campaigns = sa.table("review_campaigns", *(sa.column(n) for n in (  # as 0010 had it (items: 0013)
            "id", "caf_code", "opened_by", "opened_at", "deadline", "items", "reminders_sent")))
        c.execute(sa.insert(campaigns).values(id="r1", caf_code="751", opened_by="x", opened_at=at,
                                              deadline=at, items=sa.literal("[]"), reminders_sent=sa.literal("[]")))
        for verdict in ("confirmé", "retiré"):
            c.execute(sa.insert(t.review_decisions).values(campaign_id="r1", item=verdict, partner_siret="1",
                                                           verdict=verdict, by="x", at=at))
    migrate(engine)
    with UnitOfWork(engine) as uow:
        states = {k: uow.reconcile.state(k) for k in "ABCD"}
        verdicts = {d.item: d.verdict for d in uow.reviews.decisions("r1")}
    assert {k: (s["state"], s["label"]) for k, s in states.items() if s} == {
        "A": ("pending", "en attente"), "B": ("applied", "appliqué"), "C": ("failed", "en échec"),
        "D": ("needs_attention", "à traiter")}
    assert verdicts == {"confirmé": Verdict.CONFIRM, "retiré": Verdict.REVOKE}
    assert [s.label for s in ReconcileState] == ["en attente", "appliqué", "en échec", "à traiter"]
