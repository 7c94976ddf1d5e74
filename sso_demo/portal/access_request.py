"""Issue 31 §1: the public page where an organisation asks for access (no account yet): its SIRET first, looked up
in the SIRENE directory (name and address come from it), then its Caf, the services, its legal representative and
its future administrator. Each address confirms by the mailed link (a page with a button: a mail scanner opening
the link confirms nothing). Rate-limited per visitor (flask-limiter), CSRF-protected like every form here."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from sso_demo import apiclient, catalogue
from sso_demo.portal.api_views import _json, errors_of

bp = Blueprint("access_request", __name__, url_prefix="/demande-d-acces")
limiter = Limiter(get_remote_address, default_limits=[], storage_uri="memory://")
LIMIT = "20 per minute;60 per hour"  # a person sends the form a few times; a robot is stopped
PEOPLE = ("representative", "administrator")
FIELDS = ("first_name", "last_name", "email", "function")


def _public(method: str, path: str, **kw):
    try:
        return apiclient.call_public(method, path, **kw)
    except apiclient.ApiUnavailable:
        abort(503)


def _form() -> dict[str, Any]:
    f: dict[str, Any] = {k: request.form.get(k, "").strip() for k in ("siret", "caf")}
    f["services"] = request.form.getlist("services")
    for who in PEOPLE:
        f[who] = {k: request.form.get(f"{who}_{k}", "").strip() for k in FIELDS}
    return f


@bp.route("", methods=["GET", "POST"])
@limiter.limit(LIMIT, methods=["POST"])
def ask():
    form, fields, general, found, status = _form(), {}, [], None, 200
    cafs = _public("GET", "/api/v1/cafs").json()
    if request.method == "POST" and form["siret"]:
        r = _public("GET", f"/api/v1/directory/{form['siret'].replace(' ', '')[:20]}")
        found = r.json() if r.status_code == 200 else None
        if found is None:
            fields["siret"] = "Ce SIRET est absent du répertoire SIRENE : vérifiez-le (14 chiffres)."
            status = 422
        elif request.form.get("step") == "request":
            body = {"siret": form["siret"], "caf": form["caf"], "services": form["services"],
                    **{who: form[who] for who in PEOPLE}}
            r = _public("POST", "/api/v1/access-requests", json=body)
            if r.status_code == 201:
                return render_template("portal/access_request/sent.html", r=r.json())
            fields, general = errors_of(r, known={f"{who}_{k}" for who in PEOPLE for k in FIELDS}
                                        | {"siret", "caf", "services"})
            status = 422 if r.status_code in (400, 422) else 503
    flat = {"siret": form["siret"], **{f"{who}_{k}": v for who in PEOPLE for k, v in form[who].items()}}
    return render_template("portal/access_request/form.html", form=form, flat=flat, found=found, cafs=cafs,
                           fields=fields, general=general, services=catalogue.services()), status


@bp.route("/<rid>/<token>", methods=["GET", "POST"])
@limiter.limit(LIMIT, methods=["POST"])
def confirm(rid: str, token: str):
    """GET shows what is confirmed and a button; POST confirms."""
    if request.method == "GET":
        return render_template("portal/access_request/confirm.html", done=None)
    r = _public("POST", f"/api/v1/access-requests/{rid[:64]}/confirmations", json={"token": token[:100]})
    if r.status_code == 200:
        return render_template("portal/access_request/confirm.html", done=r.json())
    return render_template("portal/access_request/confirm.html", done=None,
                           error=_json(r).get("error_description", "Confirmation impossible.")), \
        r.status_code if r.status_code in (404, 410, 422) else 503
