"""Audit trail and the R9 change reports sent to the Caf."""

import csv
import io
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, g, jsonify

from provisioning.api import models as m
from provisioning.api import responses as answers
from provisioning.domain import journal

PARIS = ZoneInfo("Europe/Paris")

bp = Blueprint("audit", __name__, url_prefix="/api/v1")


def _svc():
    return current_app.extensions["provisioning"]


def _rows(q, with_changes: bool) -> list[dict]:
    def paris_midnight(d):  # a day as people mean it: Paris time
        return datetime.combine(d, time(0), PARIS).astimezone(UTC)
    return _svc().audit(g.actor, q.partner, q.limit, q.offset, actor=q.actor or None, subject=q.user or None,
                        since=paris_midnight(q.since) if q.since else None,
                        until=paris_midnight(q.until + timedelta(days=1)) if q.until else None,
                        request_id=q.request_id, with_changes=with_changes)


@bp.get("/audit")
@m.query(m.AuditQuery)
@answers.returns(answers.AuditList)
def audit():
    return jsonify(_rows(g.query, with_changes=True))


@bp.get("/audit.csv")
@m.query(m.AuditExportQuery)
def audit_csv():
    """The same journal and filters as a spreadsheet: Paris time, French action, who, whom, what changed."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";")
    w.writerow(["numero", "date (heure de Paris)", "auteur", "action", "code", "personne", "objet", "changement"])
    for r in _rows(g.query, with_changes=False):
        at = datetime.fromisoformat(r["at"]).astimezone(PARIS).strftime("%d/%m/%Y %H:%M:%S")
        w.writerow([journal.spreadsheet_cell(x) for x in (
            r["id"], at, r["actor"], journal.action_fr(r["action"]), r["action"], r["subject"] or "", r["object"],
            r["summary"] or "")])
    return Response("\ufeff" + buf.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="journal.csv"'})



@bp.get("/me")
@answers.returns(answers.Me)
def me():
    prev = _svc().previous_login(g.actor)
    return jsonify({"username": g.actor.username, "partner": g.actor.partner, "caf": g.actor.caf,
                    "previous_login": prev.isoformat() if prev else None,
                    "proconnect": _svc().proconnect_linked(g.actor), "signs": _svc().signs_for(g.actor)})


@bp.get("/usage-rules/acceptances")
@answers.returns(answers.AcceptanceList)
def acceptances():
    """R15: who accepted which version of the usage rules, and when (Caf administrators)."""
    return jsonify(_svc().usage_rules_acceptances(g.actor))


@bp.post("/incidents")
@m.body(m.Incident)
@answers.returns(answers.IncidentReceipt, 201)
def incidents():
    """R19: report a security incident, or lost credentials, to the Caf's habilitation manager."""
    ref = _svc().report_incident(g.actor, g.body.kind, g.body.description)
    return jsonify({"reference": ref}), 201


@bp.get("/notifications")
@m.query(m.NotificationsQuery)
@answers.returns(answers.NotificationList)
def notifications():
    return jsonify(_svc().notifications(g.actor, dead=g.query.state == "dead"))


@bp.post("/notifications/<int:msg_id>/resend")
@answers.returns(answers.Resent, 202)
def resend(msg_id: int):
    """A dead letter (attempts exhausted) goes back to the queue, with fresh attempts."""
    _svc().resend_notification(g.actor, msg_id)
    return jsonify({"resent": msg_id}), 202
