"""Audit trail and the R9 change reports sent to the Caf."""

from flask import Blueprint, current_app, g, jsonify

from provisioning.api import models as m

bp = Blueprint("audit", __name__, url_prefix="/api/v1")


def _svc():
    return current_app.extensions["provisioning"]


@bp.get("/audit")
@m.query(m.AuditQuery)
def audit():
    q = g.query
    return jsonify(_svc().audit(g.actor, q.partner, q.limit, q.offset))


@bp.get("/me")
def me():
    prev = _svc().previous_login(g.actor)
    return jsonify({"username": g.actor.username, "partner": g.actor.partner, "caf": g.actor.caf,
                    "previous_login": prev.isoformat() if prev else None})


@bp.get("/usage-rules/acceptances")
def acceptances():
    """R15: who accepted which version of the usage rules, and when (Caf administrators)."""
    return jsonify(_svc().usage_rules_acceptances(g.actor))


@bp.post("/incidents")
@m.body(m.Incident)
def incidents():
    """R19: report a security incident, or lost credentials, to the Caf's habilitation manager."""
    ref = _svc().report_incident(g.actor, g.body.kind, g.body.description)
    return jsonify({"reference": ref}), 201


@bp.get("/notifications")
@m.query(m.NotificationsQuery)
def notifications():
    return jsonify(_svc().notifications(g.actor, dead=g.query.state == "dead"))


@bp.post("/notifications/<int:msg_id>/resend")
def resend(msg_id: int):
    """A dead letter (attempts exhausted) goes back to the queue, with fresh attempts."""
    _svc().resend_notification(g.actor, msg_id)
    return jsonify({"resent": msg_id}), 202
