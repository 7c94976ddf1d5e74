"""Audit trail and the R9 change reports sent to the Caf."""

from flask import Blueprint, current_app, g, jsonify, request

bp = Blueprint("audit", __name__, url_prefix="/api/v1")


def _svc():
    return current_app.extensions["provisioning"]


@bp.get("/audit")
def audit():
    limit = min(int(request.args.get("limit", 100)), 500)
    offset = max(int(request.args.get("offset", 0)), 0)
    return jsonify(_svc().audit(g.actor, request.args.get("partner"), limit, offset))


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
def incidents():
    """R19: report a security incident, or lost credentials, to the Caf's habilitation manager."""
    body = request.get_json(silent=True) or {}
    ref = _svc().report_incident(g.actor, str(body.get("kind", "")), str(body.get("description", "")))
    return jsonify({"reference": ref}), 201


@bp.get("/notifications")
def notifications():
    return jsonify(_svc().notifications(g.actor))
