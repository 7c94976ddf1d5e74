"""Caf console (issue 6): partners and conventions of the administrator's own Caf (R11): register a partner,
prepare a convention with its contrat de service and bulletins, issue its documents and countersign them (issue
31: the partner's representative signs first), activate, suspend and
reactivate a user, a service or a whole convention, see R9 reports and the audit, export a bulletin (R13)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from provisioning.domain.journal import folded
from sso_demo import catalogue
from sso_demo.auth import current_principal, require_role
from sso_demo.portal import confirm
from sso_demo.portal.api_views import (
    account_of,
    call,
    errors_of,
    history_of,
    journal_csv,
    journal_page,
    paginate,
    pdf_download,
    refusal_text,
    unchanged_or,
    users_page,
)

bp = Blueprint("caf", __name__, url_prefix="/caf")
CAF_ADMIN = "caf-administrateur"
CONTACTS = [("partner_administrator", "Administrateur du partenaire"),
            ("partner_security_officer", "Responsable sécurité du partenaire"),
            ("partner_cnil_referent", "Référent Cnil du partenaire"),
            ("caf_administrator", "Administrateur Caf"),
            ("caf_portal_manager", "Responsable « Mon compte partenaire » de la Caf"),
            ("caf_security_officer", "Responsable sécurité de la Caf"),
            ("caf_cnil_referent", "Référent Cnil de la Caf")]
NEXT_STEPS = {  # status -> buttons (target, label)
    "requested": [("prepared", "Préparer")],
    # the two signatures are the documents' (issue 31), never a button: see « Documents » below
    "prepared": [("terminated", "Résilier")],
    "signed_by_partner": [("terminated", "Résilier")],
    "signed_by_caf": [("active", "Activer"), ("terminated", "Résilier")],
    "active": [("suspended", "Suspendre la convention"), ("terminated", "Résilier")],
    "suspended": [("active", "Rétablir la convention"), ("terminated", "Résilier")],
    "terminated": [],
}
STATUS_LABELS = {"requested": "demandée", "prepared": "préparée", "signed_by_partner": "signée par le partenaire",
                 "signed_by_caf": "signée par la Caf", "active": "active", "suspended": "suspendue",
                 "terminated": "résiliée"}


@bp.app_context_processor
def labels():
    return {"status_labels": STATUS_LABELS}


@bp.get("/")
@require_role(CAF_ADMIN)
def home():
    rows = call("GET", "/api/v1/partners").json()
    q = request.args.get("q", "").strip()
    if q:
        rows = [r for r in rows if folded(q) in folded(f"{r['siret']} {r['name']}")]
    shown, page, pages = paginate(rows, request.args.get("page", 1, type=int))
    return render_template("portal/caf/home.html", rows=shown, q=q, page=page, pages=pages)


@bp.route("/partenaires/nouveau", methods=["GET", "POST"])
@require_role(CAF_ADMIN)
def new_partner():
    form: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    general: list[Any] = []
    status = 200
    if request.method == "POST":
        form = {k: request.form.get(k, "").strip() for k in
                ("siret", "name", "identifiant", "first_name", "last_name", "email")}
        form["siret"] = "".join(form["siret"].split())  # « 442 819 371 00018 » as people type it
        body = {"siret": form["siret"], "name": form["name"], "caf": current_principal().caf or "",
                "administrator": {k: form[k] for k in ("identifiant", "first_name", "last_name", "email")}}
        r = call("POST", "/api/v1/partners", json=body)
        if r.status_code == 201:
            flash(f"Partenaire {form['name']} enregistré. Son administrateur recevra ses codes dès que la "
                  "convention sera signée par les deux parties.")
            return redirect(url_for("caf.partner", siret=form["siret"]))
        fields, general = errors_of(r)
        status = 422
    return render_template("portal/caf/new_partner.html", form=form, fields=fields, general=general), status


@bp.get("/partenaires/<siret>")
@require_role(CAF_ADMIN)
def partner(siret: str):
    p = call("GET", f"/api/v1/partners/{siret}").json()
    return render_template("portal/caf/partner.html", p=p, next_steps=NEXT_STEPS, contacts=dict(CONTACTS),
                           u=users_page(siret, request.args),
                           missing={c["number"]: _missing(c["contract"]) for c in p["conventions"]},
                           documents={d["convention"]: d  # every convention's documents: one request
                                      for d in call("GET", f"/api/v1/partners/{siret}/documents").json()})


@bp.get("/demandes")
@require_role(CAF_ADMIN)
def access_requests():
    """Issue 31 §1: the organisations asking for access (addresses confirmed), then the ones decided."""
    return render_template("portal/caf/requests.html", requests=call("GET", "/api/v1/access-requests").json())


@bp.post("/demandes/<rid>/<decision>")
@require_role(CAF_ADMIN)
def decide(rid: str, decision: str):
    if decision == "acceptation":
        r = call("POST", f"/api/v1/access-requests/{rid}/acceptance", refusals=(400, 409, 422))
        if r.status_code == 201:
            flash(f"Demande acceptée : {r.json()['name']} est enregistré. Préparez maintenant sa convention.")
            return redirect(url_for("caf.new_convention", siret=r.json()["siret"]))
    elif decision == "refus":
        r = call("POST", f"/api/v1/access-requests/{rid}/refusal", json={"reason": request.form.get("reason", "")},
                 refusals=(400, 409, 422))
        if r.status_code == 200:
            flash("Demande refusée : le motif est envoyé au demandeur.")
            return redirect(url_for("caf.access_requests"))
    else:
        abort(404)
    flash(refusal_text(r), "erreur")
    return redirect(url_for("caf.access_requests"))


@bp.post("/partenaires/<siret>/conventions/<number>/documents")
@require_role(CAF_ADMIN)
def issue_documents(siret: str, number: str):
    """Issue 31: the documents whose next version is due, as PDF; the partner's representative is mailed."""
    r = call("POST", f"/api/v1/partners/{siret}/conventions/{number}/documents")
    if r.status_code == 201:
        flash(f"Convention {number} : {len(r.json())} document(s) émis ; le représentant du partenaire est invité "
              "par courriel à les signer.")
    else:
        flash(refusal_text(r), "erreur")
    return redirect(url_for("caf.partner", siret=siret) + f"#convention-{number}")


@bp.post("/partenaires/<siret>/conventions/<number>/contreseing")
@require_role(CAF_ADMIN)
def countersign(siret: str, number: str):
    """Issue 31: the Caf countersigns what the partner signed (a level-2 login: the API checks the token)."""
    r = call("POST", f"/api/v1/partners/{siret}/conventions/{number}/signatures", refusals=(400, 403, 409, 422))
    if r.status_code == 200:
        status = r.json()["partner"]["conventions"]
        now = next((c["status"] for c in status if c["number"] == number), "")
        flash(f"Documents de la convention {number} contresignés. Convention : {STATUS_LABELS.get(now, now)}.")
    else:
        flash(refusal_text(r), "erreur")
    return redirect(url_for("caf.partner", siret=siret) + f"#convention-{number}")


@bp.get("/partenaires/<siret>/documents/<int:doc_id>.pdf")
@require_role(CAF_ADMIN)
def document_pdf(siret: str, doc_id: int):
    return pdf_download(siret, doc_id)


def _missing(contract: dict) -> list[str]:
    """What the contrat de service still lacks before the partner may sign (the API enforces it too)."""
    out = [label for key, label in CONTACTS
           if not (contract.get(key) or {}).get("name") or not (contract.get(key) or {}).get("email")]
    return out + ([] if (contract.get("incident_procedure") or "").strip() else ["Procédure de traitement des incidents"])


def _contract_from(form: dict) -> dict:
    contract = {"incident_procedure": form.get("incident_procedure", "").strip()}
    for key, _ in CONTACTS:
        name, email = form.get(f"{key}_name", "").strip(), form.get(f"{key}_email", "").strip()
        phone = form.get(f"{key}_phone", "").strip()  # issue 29: the contacts have a phone
        if name or email or phone:
            contract[key] = {"name": name, "email": email, "phone": phone}
    return contract


CONTRACT_FIELDS = {f"{k}_{a}" for k, _ in CONTACTS for a in ("name", "email", "phone")} | {"incident_procedure"}


@bp.route("/partenaires/<siret>/conventions/nouvelle", methods=["GET", "POST"])
@require_role(CAF_ADMIN)
def new_convention(siret: str):
    p = call("GET", f"/api/v1/partners/{siret}").json()
    form: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    general: list[Any] = []
    status = 200
    if request.method == "POST":
        form = {**request.form.to_dict(), "services": request.form.getlist("services")}
        r = call("POST", f"/api/v1/partners/{siret}/conventions", ok=(201,),
                 json={"number": form.get("number", "").strip(), "services": form["services"],
                       "contract": _contract_from(form)})
        if r.status_code == 201:
            flash(f"Convention {form['number']} préparée.")
            return redirect(url_for("caf.partner", siret=siret))
        fields, general = errors_of(r, CONTRACT_FIELDS | {"number", "services"})
        status = 422
    return render_template("portal/caf/new_convention.html", p=p, form=form, fields=fields, general=general,
                           services=catalogue.services(),
                           contacts=CONTACTS), status


@bp.route("/partenaires/<siret>/conventions/<number>/contrat", methods=["GET", "POST"])
@require_role(CAF_ADMIN)
def contract(siret: str, number: str):
    """R4: complete the contrat de service (every contact and the incident procedure before signing)."""
    p = call("GET", f"/api/v1/partners/{siret}").json()
    conv = next((c for c in p["conventions"] if c["number"] == number), None)
    if conv is None:
        abort(404)
    form = {f"{k}_{a}": (conv["contract"].get(k) or {}).get(a, "") or ""
            for k, _ in CONTACTS for a in ("name", "email", "phone")}
    form["incident_procedure"] = conv["contract"].get("incident_procedure", "")
    fields: dict[str, Any] = {}
    general: list[Any] = []
    status = 200
    if request.method == "POST":
        form = request.form.to_dict()
        r = call("PUT", f"/api/v1/partners/{siret}/conventions/{number}/contract", json=_contract_from(form))
        if r.status_code == 200:
            flash(unchanged_or(r, f"Contrat de service de la convention {number} enregistré."))
            return redirect(url_for("caf.partner", siret=siret) + f"#convention-{number}")
        fields, general = errors_of(r, CONTRACT_FIELDS)
        status = 422
    return render_template("portal/caf/contract.html", p=p, conv=conv, form=form, fields=fields, general=general,
                           contacts=CONTACTS), status


EQUIPMENT_FIELDS = {"code", "name", "type", "sites"}


@bp.route("/partenaires/<siret>/equipements/nouveau", methods=["GET", "POST"], defaults={"code": None})
@bp.route("/partenaires/<siret>/equipements/<code>", methods=["GET", "POST"])
@require_role(CAF_ADMIN)
def equipment(siret: str, code: str | None):
    """R7: the Caf declares the partner's equipments (accueils de loisirs first, EAJE), with their sites."""
    p = call("GET", f"/api/v1/partners/{siret}").json()
    current = next((e for e in p["equipments"] if e["code"] == code), None) if code else None
    if code and current is None:
        abort(404)
    form = {"code": code or "", "name": current["name"] if current else "",
            "type": current["type"] if current else "ALSH", "sites": "\n".join(current["sites"]) if current else ""}
    fields: dict[str, Any] = {}
    general: list[Any] = []
    status = 200
    if request.method == "POST":
        form = {k: request.form.get(k, "").strip() for k in ("code", "name", "type", "sites")}
        if code:
            form["code"] = code
        target = form["code"].upper()
        sites = [x.strip() for x in form["sites"].splitlines() if x.strip()]
        if not target:
            fields = {"code": "Le numéro de l'équipement est obligatoire."}
        else:
            r = call("PUT", f"/api/v1/partners/{siret}/equipments/{quote(target, safe='')}",
                     json={"name": form["name"], "type": form["type"], "sites": sites})
            if r.status_code == 200:
                flash(unchanged_or(r, f"Équipement {target} enregistré."))
                return redirect(url_for("caf.partner", siret=siret) + "#equipements")
            fields, general = errors_of(r, EQUIPMENT_FIELDS)
        status = 422
    return render_template("portal/caf/equipment.html", p=p, form=form, fields=fields, general=general,
                           editing=bool(code)), status


@bp.post("/partenaires/<siret>/equipements/<code>/retrait")
@require_role(CAF_ADMIN)
def remove_equipment(siret: str, code: str):
    if ask := confirm.needed(
            f"retirer l'équipement {code}",
            ["L'équipement disparaît d'AFAS pour ce partenaire : plus aucune déclaration ne peut y être saisie.",
             "Ses associations (fournisseurs de données, approbateur) sont supprimées.",
             "Les déclarations déjà transmises restent dans AFAS."],
            url_for("caf.partner", siret=siret) + "#equipements"):
        return ask
    _act(call("DELETE", f"/api/v1/partners/{siret}/equipments/{quote(code, safe='')}"), f"Équipement {code} retiré.")
    return redirect(url_for("caf.partner", siret=siret) + "#equipements")


def _act(r, done: str) -> None:
    if r.status_code == 200:
        body = r.json()
        flash(unchanged_or(r, done + ("" if body.get("reconciled") else
                                      " (en attente d'application dans Keycloak : voir l'état ci-dessous)")))
    else:
        fields, general = errors_of(r)
        flash(Markup("Refusé : ") + Markup(" ").join(general + list(fields.values())), "erreur")


@bp.post("/partenaires/<siret>/conventions/<number>/etat")
@require_role(CAF_ADMIN)
def transition(siret: str, number: str):
    to = request.form.get("to", "")
    if to in ("suspended", "terminated"):
        ask = confirm.needed(
            f"{'suspendre' if to == 'suspended' else 'résilier'} la convention {number}",
            ["Chaque utilisateur habilité au titre de cette convention perd à l'instant l'accès à ses services ; "
             "ses sessions en cours sont fermées.",
             "Le gestionnaire des habilitations de la Caf en est informé."]
            + (["La résiliation est définitive : la convention ne pourra pas être réactivée."]
               if to == "terminated" else ["Vous pourrez la réactiver ensuite."]),
            url_for("caf.partner", siret=siret))
        if ask:
            return ask
    _act(call("POST", f"/api/v1/partners/{siret}/conventions/{number}/transitions", json={"to": to}),
         f"Convention {number} : {STATUS_LABELS.get(to, to)}.")
    return redirect(url_for("caf.partner", siret=siret))


@bp.post("/partenaires/<siret>/conventions/<number>/services/<service>")
@require_role(CAF_ADMIN)
def service_suspension(siret: str, number: str, service: str):
    suspend = request.form.get("suspend") == "1"
    if suspend and (ask := confirm.needed(
            f"suspendre le service {service} de la convention {number}",
            [f"Les utilisateurs du service {service} de ce partenaire perdent à l'instant leur accès ; leurs sessions "
             "en cours sont fermées.", "Vous pourrez rétablir le service ensuite."],
            url_for("caf.partner", siret=siret))):
        return ask
    _act(call("POST" if suspend else "DELETE",
              f"/api/v1/partners/{siret}/conventions/{number}/services/{service}/suspension"),
         f"Service {service} {'suspendu' if suspend else 'rétabli'}.")
    return redirect(url_for("caf.partner", siret=siret))


@bp.post("/partenaires/<siret>/utilisateurs/<ident>/suspension")
@require_role(CAF_ADMIN)
def user_suspension(siret: str, ident: str):
    suspend = request.form.get("suspend") == "1"
    if suspend and (ask := confirm.needed(
            f"suspendre {ident}",
            [f"{ident} ne peut plus se connecter ; ses sessions en cours sont fermées.",
             f"Un courriel en informe {ident}.", "Vous pourrez rétablir son accès ensuite."],
            _back(siret))):
        return ask
    _act(call("POST" if suspend else "DELETE", f"/api/v1/partners/{siret}/users/{ident}/suspension"),
         f"Accès de {ident} {'suspendu' if suspend else 'rétabli'}.")
    return redirect(_back(siret))


def _back(siret: str) -> str:
    """Where a form asks to come back to: a page of this console only (never another site)."""
    back = request.form.get("retour", "")
    ok = back.startswith("/caf/") and "//" not in back and "\\" not in back
    return back if ok else url_for("caf.partner", siret=siret)


@bp.get("/partenaires/<siret>/utilisateurs/<ident>")
@require_role(CAF_ADMIN)
def user(siret: str, ident: str):
    """A partner's user seen by its Caf: Keycloak's state (lockout, last connection, rules), suspension,
    unlock, history."""
    p = call("GET", f"/api/v1/partners/{siret}").json()
    u = next((x for x in p["users"] if x["identifiant"] == ident), None)
    if u is None:
        abort(404)
    return render_template("portal/caf/user.html", p=p, u=u, account=account_of(siret, ident),
                           history=history_of(siret, ident))


@bp.post("/partenaires/<siret>/utilisateurs/<ident>/deverrouillage")
@require_role(CAF_ADMIN)
def unlock(siret: str, ident: str):
    _act(call("DELETE", f"/api/v1/partners/{siret}/users/{ident}/lockout"), f"Compte de {ident} déverrouillé.")
    return redirect(url_for("caf.user", siret=siret, ident=ident))


@bp.post("/partenaires/<siret>/utilisateurs/<ident>/second-facteur")
@require_role(CAF_ADMIN)
def reset_second_factor(siret: str, ident: str):
    from sso_demo.portal.console import SECOND_FACTOR_RESET
    if ask := confirm.needed(f"réinitialiser le second facteur de {ident}", SECOND_FACTOR_RESET,
                             url_for("caf.user", siret=siret, ident=ident)):
        return ask
    _act(call("DELETE", f"/api/v1/partners/{siret}/users/{ident}/second-factor"),
         f"Second facteur de {ident} réinitialisé.")
    return redirect(url_for("caf.user", siret=siret, ident=ident))


@bp.get("/partenaires/<siret>/conventions/<number>/bulletins/<service>.csv")
@require_role(CAF_ADMIN)
def bulletin_csv(siret: str, number: str, service: str):
    r = call("GET", f"/api/v1/partners/{siret}/conventions/{number}/bulletins/{service}/identifiants.csv")
    return Response(r.content, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": r.headers.get("Content-Disposition", "attachment")})


@bp.get("/notifications")
@require_role(CAF_ADMIN)
def notifications():
    return render_template("portal/caf/notifications.html", rows=call("GET", "/api/v1/notifications").json())


@bp.post("/notifications/<int:msg_id>/renvoyer")
@require_role(CAF_ADMIN)
def resend(msg_id: int):
    r = call("POST", f"/api/v1/notifications/{msg_id}/resend", ok=(202,))
    if r.status_code == 202:
        flash(f"Courriel n° {msg_id} remis en file d'envoi.")
    else:
        flash(Markup("Renvoi refusé : ") + Markup(" ").join(errors_of(r)[1]), "erreur")
    return redirect(url_for("caf.notifications"))


@bp.get("/regles-d-usage")
@require_role(CAF_ADMIN)
def acceptances():
    """R15: who accepted which version of the usage rules, and when."""
    return render_template("portal/caf/acceptances.html",
                           rows=call("GET", "/api/v1/usage-rules/acceptances").json())


@bp.get("/journal")
@require_role(CAF_ADMIN)
def audit():
    j = journal_page(request.args)
    return render_template("portal/caf/audit.html", j=j, csv_url=url_for("caf.audit_csv", **j["args"]))


@bp.get("/journal.csv")
@require_role(CAF_ADMIN)
def audit_csv():
    return journal_csv(request.args)
