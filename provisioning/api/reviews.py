"""Access reviews (issue 16): the Caf opens a campaign and follows it; a partner's reviewers decide."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, g, jsonify

from provisioning.api import models as m
from provisioning.api import responses as answers
from provisioning.domain.reviews import Verdict

bp = Blueprint("reviews", __name__, url_prefix="/api/v1")
PARIS = ZoneInfo("Europe/Paris")


def _svc():
    return current_app.extensions["provisioning"]


@bp.post("/cafs/<caf>/reviews")
@m.body(m.NewReview)
@answers.returns(answers.Review, 201)
def open_review(caf: str):
    """The deadline is a day: the campaign ends at its last minute, Paris time."""
    deadline = datetime.combine(g.body.deadline, time(23, 59), PARIS)
    return jsonify(_svc().open_review(g.actor, caf, deadline, g.body.partners)), 201


@bp.get("/reviews")
@answers.returns(answers.ReviewList)
def list_reviews():
    return jsonify(_svc().reviews(g.actor))


@bp.get("/reviews/<campaign_id>")
@answers.returns(answers.Review)
def get_review(campaign_id: str):
    return jsonify(_svc().review(g.actor, campaign_id))


@bp.get("/reviews/<campaign_id>/partners/<siret>")
@answers.returns(answers.ReviewItems)
def review_items(campaign_id: str, siret: str):
    return jsonify(_svc().review_items(g.actor, campaign_id, siret))


@bp.post("/reviews/<campaign_id>/decisions")
@m.body(m.ReviewDecision)
@answers.returns(answers.DecisionAnswer)
def decide(campaign_id: str):
    return jsonify(_svc().decide(g.actor, campaign_id, g.body.item, Verdict(g.body.decision)))


@bp.get("/reviews/<campaign_id>/export.csv")
def export(campaign_id: str):
    return Response(_svc().review_csv(g.actor, campaign_id), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="revue-{campaign_id[:8]}.csv"'})
