"""Security page (R17) and the user's services."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, g, jsonify, redirect, render_template, url_for
from markupsafe import Markup

from sso_demo import apiclient, catalogue
from sso_demo.auth import current_principal, login_required, signed_in
from sso_demo.portal import confirm
from sso_demo.portal.api_views import call, errors_of

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
    app_session.facts["proconnect"] = bool(r.json().get("proconnect"))  # issue 32: her page says it, no call
    app_session.facts["signs"] = bool(r.json().get("signs"))  # issue 31: she signs her partner's documents


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
                           proconnect=g.app_session.facts.get("proconnect"),
                           signs=g.app_session.facts.get("signs"),
                           is_admin=p.has("administrateur-partenaire") or p.has("responsable-habilitations"),
                           is_caf_admin=p.has("caf-administrateur"))


@bp.get("/etat-keycloak/<siret>")
@login_required
def reconcile_state(siret: str):
    """For reconcile.js in both consoles: the API's word on Keycloak for this partner (its rights apply)."""
    r = call("GET", f"/api/v1/partners/{siret}/reconcile", refusals=())
    return jsonify(r.json())


@bp.post("/proconnect/retirer")
@login_required
def unlink_proconnect():
    """Issue 32: the person removes her own ProConnect link, after a confirmation."""
    p = signed_in()
    if ask := confirm.needed("retirer la liaison de votre compte avec ProConnect", [
            "Vous ne pourrez plus vous connecter avec ProConnect ; connectez-vous avec votre identifiant et votre "
            "mot de passe.",
            "À votre prochaine connexion avec ProConnect, votre compte sera relié de nouveau si votre adresse "
            "électronique et le SIRET de votre structure sont ceux que votre Caf a enregistrés."],
            url_for("home.index")):
        return ask
    r = call("DELETE", f"/api/v1/partners/{p.partner}/users/{p.username}/proconnect")
    if r.status_code == 200 or any(v.get("code") == "AUCUNE_LIAISON" for v in r.json().get("violations", [])):
        g.app_session.facts["proconnect"] = False
        current_app.extensions["mcp_sessions"].save(g.app_session)
        flash("La liaison de votre compte avec ProConnect est retirée.")
    else:
        fields, general = errors_of(r)
        flash(Markup("Refusé : ") + Markup(" ").join(general or list(fields.values())), "erreur")
    return redirect(url_for("home.index"))
