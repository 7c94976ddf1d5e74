"""Security page (R17) and the user's services."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, g, jsonify, render_template

from sso_demo import apiclient, catalogue
from sso_demo.auth import current_principal, login_required
from sso_demo.portal.api_views import call

bp = Blueprint("home", __name__)
PARIS = ZoneInfo("Europe/Paris")


def read_previous_login(app_session) -> None:
    """R17, once at login: the previous successful connection, kept in the session so the security page
    costs no call. ('first' | 'known' | 'unknown', ISO time)."""
    try:
        r = apiclient.call("GET", "/api/v1/me")
    except apiclient.ApiUnavailable:
        r = None
    if r is None or r.status_code != 200:
        app_session.facts["previous_login"] = ("unknown", None)
        return
    prev = r.json().get("previous_login")
    app_session.facts["previous_login"] = ("known", prev) if prev else ("first", None)


def _previous_login() -> tuple[str, datetime | None]:
    state, when = g.app_session.facts.get("previous_login", ("unknown", None))
    return state, datetime.fromisoformat(when).astimezone(PARIS) if when else None


@bp.get("/")
@login_required
def index():
    p = current_principal()
    # the catalogue's services the person holds a role of (a group or a profile), in the catalogue's order
    offered = [s for s in catalogue.services() if any(p.has(r) for r in catalogue.roles(s))]
    services = [(s["code"], s["label"], s["url"]) for s in offered]
    second_factor = {s["code"] for s in offered if s["level"] == "niveau-2"}
    state, when = _previous_login()
    return render_template("portal/index.html", services=services, second_factor=second_factor, previous_state=state, previous=when,
                           is_admin=p.has("administrateur-partenaire") or p.has("responsable-habilitations"),
                           is_caf_admin=p.has("caf-administrateur"))


@bp.get("/etat-keycloak/<siret>")
@login_required
def reconcile_state(siret: str):
    """For reconcile.js in both consoles: the API's word on Keycloak for this partner (its rights apply)."""
    r = call("GET", f"/api/v1/partners/{siret}/reconcile", refusals=())
    return jsonify(r.json())
