"""R19 (and R18 for lost credentials): any habilitated person reports to the Caf's habilitation manager."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from sso_demo.auth import login_required
from sso_demo.portal.api_views import call, errors_of

bp = Blueprint("incident", __name__)


@bp.route("/signalement", methods=["GET", "POST"])
@login_required
def report():
    form, fields, general, reference, status = {}, {}, [], None, 200
    if request.method == "POST":
        form = {"kind": request.form.get("kind", ""), "description": request.form.get("description", "")}
        r = call("POST", "/api/v1/incidents", ok=(201,), refusals=(400, 422), json=form)
        if r.status_code == 201:
            reference, form = r.json()["reference"], {}
        else:
            fields, general = errors_of(r)
            status = 422
    return render_template("portal/incident.html", form=form, fields=fields, general=general,
                           reference=reference), status
