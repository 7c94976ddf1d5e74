"""Access reviews in the consoles (issue 16): the partner's administrator and responsables des habilitations
confirm or withdraw each grant (last connection beside it); the Caf opens a review, follows it partner by
partner and exports its result. Every action is the API's, with the user's own token."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from provisioning.domain.states import ReviewState
from sso_demo.auth import current_principal, require_role, signed_in
from sso_demo.portal import confirm
from sso_demo.portal.api_views import call, errors_of

bp = Blueprint("reviews", __name__)
ADMIN, DELEGATE, CAF_ADMIN = "administrateur-partenaire", "responsable-habilitations", "caf-administrateur"
YEARLY = timedelta(days=365)
STATES = {s.value: s.label for s in ReviewState}  # the API's codes, in French


@bp.app_context_processor
def labels():
    return {"review_states": STATES}


def _own(siret: str) -> None:
    if signed_in().partner != siret:
        abort(403)


# --- partner console -----------------------------------------------------------------------------------
@bp.get("/console/<siret>/revues")
@require_role(ADMIN, DELEGATE)
def partner_reviews(siret: str):
    _own(siret)
    rows = call("GET", "/api/v1/reviews").json()
    if len(rows) == 1:
        return redirect(url_for("reviews.partner_review", siret=siret, cid=rows[0]["id"]))
    return render_template("portal/reviews/partner_list.html", siret=siret, rows=rows)


@bp.get("/console/<siret>/revues/<cid>")
@require_role(ADMIN, DELEGATE)
def partner_review(siret: str, cid: str):
    _own(siret)
    r = call("GET", f"/api/v1/reviews/{cid}/partners/{siret}").json()
    people: dict[str, dict] = {}
    for it in r["items"]:
        p = people.setdefault(it["identifiant"], {"identifiant": it["identifiant"], "first_name": it["first_name"],
                                                  "last_name": it["last_name"], "last_login": it["last_login"],
                                                  "items": []})
        p["items"].append(it)
    pending = sum(1 for it in r["items"] if it["decision"] is None)
    return render_template("portal/reviews/partner_review.html", siret=siret, r=r, people=list(people.values()),
                           pending=pending)


@bp.post("/console/<siret>/revues/<cid>")
@require_role(ADMIN, DELEGATE)
def decide(siret: str, cid: str):
    _own(siret)
    item, decision = request.form.get("item", ""), request.form.get("decision", "")
    back = url_for("reviews.partner_review", siret=siret, cid=cid)
    if decision == "revoked" and (ask := confirm.needed(
            "retirer cette habilitation",
            ["La personne perd à l'instant l'accès que lui donnait cette habilitation ; ses sessions en cours sont "
             "fermées.", "Le retrait est définitif pour cette revue : pour la rendre, il faudra l'accorder de "
                         "nouveau depuis sa fiche.", "Le gestionnaire des habilitations de la Caf en est informé."],
            back)):
        return ask
    r = call("POST", f"/api/v1/reviews/{cid}/decisions", json={"item": item, "decision": decision})
    if r.status_code == 200:
        *_, service, who = item.split("/") if item.count("/") == 3 else ("", "", "", item)
        flash(f"Habilitation {service} {'confirmée' if decision == 'confirmed' else 'retirée'} pour {who}.")
    else:
        fields, general = errors_of(r)
        flash(Markup("Refusé : ") + Markup(" ").join(general + list(fields.values())), "erreur")
    return redirect(back + "#" + _anchor(item))


def _anchor(item: str) -> str:
    return "h-" + "".join(c if c.isalnum() else "-" for c in item)


@bp.app_template_filter("anchor")
def anchor_filter(item: str) -> str:
    return _anchor(item)


# --- Caf console -----------------------------------------------------------------------------------------
@bp.route("/caf/revues", methods=["GET", "POST"])
@require_role(CAF_ADMIN)
def caf_reviews():
    caf = current_principal().caf
    partners = call("GET", "/api/v1/partners").json()
    form = {"deadline": (date.today() + timedelta(days=30)).isoformat(), "scope": "tous", "partners": []}
    errors, status = [], 200
    if request.method == "POST":
        chosen = request.form.getlist("partners")
        form = {"deadline": request.form.get("deadline", ""), "scope": request.form.get("scope", "tous"),
                "partners": chosen}
        body = {"deadline": form["deadline"], "partners": chosen if form["scope"] == "choisis" else None}
        r = call("POST", f"/api/v1/cafs/{caf}/reviews", json=body)
        if r.status_code == 201:
            c = r.json()
            flash(f"Revue ouverte : {c['total']} habilitation(s) à revoir chez {len(c['progress'])} partenaire(s) ; "
                  "leurs administrateurs sont prévenus par courriel.")
            return redirect(url_for("reviews.caf_review", cid=c["id"]))
        fields, general = errors_of(r)
        errors, status = general + list(fields.values()), 422
    rows = call("GET", "/api/v1/reviews").json()
    last = max((datetime.fromisoformat(c["opened_at"]) for c in rows), default=None)
    due = last + YEARLY if last else None  # a review a year at least (issue 16)
    return render_template("portal/reviews/caf_list.html", rows=rows, partners=partners, form=form, errors=errors,
                           due=due, overdue=due is None or due <= datetime.now(UTC)), status


@bp.get("/caf/revues/<cid>")
@require_role(CAF_ADMIN)
def caf_review(cid: str):
    r = call("GET", f"/api/v1/reviews/{cid}").json()
    names = {p["siret"]: p["name"] for p in call("GET", "/api/v1/partners").json()}
    return render_template("portal/reviews/caf_review.html", r=r, names=names)


@bp.get("/caf/revues/<cid>.csv")
@require_role(CAF_ADMIN)
def caf_review_csv(cid: str):
    r = call("GET", f"/api/v1/reviews/{cid}/export.csv", ok=(200,), refusals=())
    return Response(r.content, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": r.headers.get("Content-Disposition", "attachment")})
