"""Partner console (issue 6): the administrator partenaire and the responsables des habilitations manage
the users of their own partner: create, grant within the convention (caps shown and enforced), delegate,
report lost credentials, re-issue, read the audit trail."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from sso_demo import catalogue
from sso_demo.auth import current_principal, login_required, require_role, signed_in
from sso_demo.portal import confirm
from sso_demo.portal.api_views import (
    account_of,
    call,
    errors_of,
    history_of,
    journal_csv,
    journal_page,
    pdf_download,
    refusal_text,
    unchanged_or,
    users_page,
)

bp = Blueprint("console", __name__, url_prefix="/console")
ADMIN, DELEGATE = "administrateur-partenaire", "responsable-habilitations"
SECOND_FACTOR_RESET = [  # shown before a reset (téléphone ou clé perdus), in both consoles
    "Son application d'authentification, ses clés de sécurité et ses codes de récupération cessent à l'instant "
    "d'ouvrir CDAP.",
    "À la prochaine connexion à CDAP, un nouveau second facteur sera enregistré : assurez-vous que c'est bien "
    "lui qui le demande (téléphone ou clé perdus).",
    "Un courriel en informe la personne, et le gestionnaire des habilitations de la Caf.",
]
user_import_max = 1_000_000  # the API refuses larger files with its own message (FICHIER_TROP_GROS, 413)


def _own(siret: str) -> None:
    """Server-side tenant check (the API checks again): a partner's console is for its own staff only."""
    if signed_in().partner != siret:
        abort(403)


def _partner(siret: str) -> dict:
    return call("GET", f"/api/v1/partners/{siret}").json()


def _caps(partner: dict) -> list[dict]:
    """Per bulletin of a service with profiles (the catalogue's): how many hold each profile, against its cap
    (R8)."""
    out = []
    for c in partner["conventions"]:
        for b in c["bulletins"]:
            s = catalogue.service(b["service"])
            if s and s["profiles"]:
                rows = [{"label": p["label"], "cap": p["cap"],
                         "count": sum(p["code"] in m["profiles"] for m in b["members"] if not m.get("suspended"))}
                        for p in s["profiles"]]
                out.append({"convention": c["number"], "service": s["code"], "rows": rows})
    return out


@bp.get("/")
@require_role(ADMIN, DELEGATE)
def home():
    return redirect(url_for("console.users", siret=current_principal().partner))


@bp.get("/<siret>/utilisateurs")
@require_role(ADMIN, DELEGATE)
def users(siret: str):
    _own(siret)
    partner = _partner(siret)
    return render_template("portal/console/users.html", siret=siret, partner=partner, u=users_page(siret, request.args),
                           caps=_caps(partner))


@bp.route("/<siret>/utilisateurs/nouveau", methods=["GET", "POST"])
@require_role(ADMIN, DELEGATE)
def new_user(siret: str):
    _own(siret)
    form: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    general: list[Any] = []
    status = 200
    if request.method == "POST":
        form = {k: request.form.get(k, "").strip() for k in ("identifiant", "first_name", "last_name", "email")}
        r = call("POST", f"/api/v1/partners/{siret}/users", json=form)
        if r.status_code == 201:
            flash(f"Utilisateur {form['identifiant']} créé : son identifiant et son mot de passe provisoire lui sont "
                  "envoyés dans deux courriels distincts.")
            return redirect(url_for("console.users", siret=siret))
        fields, general = errors_of(r)
        status = 422
    return render_template("portal/console/new_user.html", siret=siret, form=form, fields=fields,
                           general=general), status


IMPORT_HEADER = "identifiant;nom;prenom;courriel;convention;groupes;profils\r\n"
EXAMPLE_PEOPLE = [("eva.morel", "Morel", "Éva"), ("hugo.blanc", "Blanc", "Hugo"), ("ines.roy", "Roy", "Inès"),
                  ("jules.fabre", "Fabre", "Jules")]


def _import_template() -> str:
    """The header and one example line per service of the catalogue: its first group, with a profile that group
    allows when it has any."""
    lines = [IMPORT_HEADER]
    for (ident, last, first), s in zip(EXAMPLE_PEOPLE, catalogue.services(), strict=False):
        group = s["groups"][0]["name"]
        profile = next((p["code"] for p in s["profiles"] if p["requires"] == group), "")
        lines.append(f"{ident};{last};{first};{ident}@exemple.fr;;{group};{profile}\r\n")
    return "".join(lines)


@bp.get("/<siret>/utilisateurs/import/modele.csv")
@require_role(ADMIN, DELEGATE)
def import_template(siret: str):
    _own(siret)
    return Response("\ufeff" + _import_template(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="modele-import-utilisateurs.csv"'})


@bp.route("/<siret>/utilisateurs/import", methods=["GET", "POST"])
@require_role(ADMIN, DELEGATE)
def import_users(siret: str):
    """Issue 12 §5: upload a CSV, read the plan line by line, then apply it (whole or not at all). The file
    travels back with the preview form (base64): the apply re-plans it under the API's rules."""
    _own(siret)
    plan: Any = None
    general: list[Any] = []
    data = ""
    status = 200
    if request.method == "POST":
        if request.form.get("step") == "appliquer":
            data = request.form.get("fichier", "")
            try:
                raw = base64.b64decode(data, validate=True)
            except ValueError:
                abort(400)
        else:
            upload = request.files.get("csv")
            raw = upload.read(user_import_max + 1) if upload else b""
            data = base64.b64encode(raw).decode()
        apply = request.form.get("step") == "appliquer"
        r = call("POST", f"/api/v1/partners/{siret}/users/import?apply={'true' if apply else 'false'}",
                 data=raw, headers_extra={"Content-Type": "text/csv; charset=utf-8"})
        body = r.json() if r.headers.get("Content-Type", "").startswith("application/") else {}
        if r.status_code == 200 and apply:
            c = body.get("counts", {})
            flash(unchanged_or(r, f"Import appliqué : {c.get('created', 0)} utilisateur(s) créé(s), "
                                  f"{c.get('updated', 0)} mis à jour. Chaque nouvel utilisateur reçoit ses codes "
                                  "dans deux courriels distincts."))
            return redirect(url_for("console.users", siret=siret))
        if r.status_code == 200:
            plan = body
        else:
            fields, general = errors_of(r)
            general = general + list(fields.values())
            status = 422
    return render_template("portal/console/import.html", siret=siret, plan=plan, general=general, data=data,
                           partner=_partner(siret)), status


@bp.route("/<siret>/utilisateurs/<ident>", methods=["GET", "POST"])
@require_role(ADMIN, DELEGATE)
def user(siret: str, ident: str):
    _own(siret)
    partner = _partner(siret)
    u = next((x for x in partner["users"] if x["identifiant"] == ident), None)
    if u is None:
        abort(404)
    fields: dict[str, Any] = {}
    general: list[Any] = []
    status = 200
    typed: Any = None
    if request.method == "POST":
        number, service = request.form["convention"], request.form["service"]
        body = {"groups": request.form.getlist("groups"), "profiles": request.form.getlist("profiles")}
        path = f"/api/v1/partners/{siret}/conventions/{number}/bulletins/{service}/members/{ident}"
        r = call("PUT", path, json=body) if body["groups"] else call("DELETE", path)
        if r.status_code == 200:
            flash(unchanged_or(r, f"Habilitations {service} de {ident} enregistrées."))
            return redirect(url_for("console.user", siret=siret, ident=ident))
        fields, general = errors_of(r)
        general = general + list(fields.values())  # shown inside the bulletin's own form, next to its boxes
        status, typed = 422, {"convention": number, "service": service, **body}
    bulletins = []
    for c in partner["conventions"]:
        for b in c["bulletins"]:
            m = next((x for x in b["members"] if x["identifiant"] == ident), None)
            held = typed if typed and typed["convention"] == c["number"] and typed["service"] == b["service"] else \
                {"groups": m["groups"] if m else [], "profiles": m["profiles"] if m else []}
            refused = bool(typed) and typed["convention"] == c["number"] and typed["service"] == b["service"]
            s = catalogue.service(b["service"]) or {"groups": [], "profiles": [], "profiles_per_person": [0, 0]}
            bulletins.append({"convention": c["number"], "status": c["status"], "service": b["service"],
                              "groups": [grp["name"] for grp in s["groups"]], "profiles": s["profiles"],
                              "per_person": s["profiles_per_person"],
                              "requires": sorted({p["requires"] for p in s["profiles"]}),
                              "held": held, "errors": general if refused else []})
    return render_template("portal/console/user.html", siret=siret, partner=partner, u=u, bulletins=bulletins,
                           caps=_caps(partner),
                           is_admin=signed_in().has(ADMIN), account=account_of(siret, ident),
                           history=history_of(siret, ident)), status


@bp.post("/<siret>/utilisateurs/<ident>/<action>")
@require_role(ADMIN, DELEGATE)
def user_action(siret: str, ident: str, action: str):
    _own(siret)
    routes = {
        # what the page says once done: about the person, in words that fit anyone (issue 29: no « il »)
        "deleguer": ("PUT", f"/api/v1/partners/{siret}/delegates/{ident}",
                     f"{ident} est désormais responsable des habilitations"),
        "revoquer": ("DELETE", f"/api/v1/partners/{siret}/delegates/{ident}",
                     f"{ident} n'est plus responsable des habilitations"),
        "codes-perdus": ("POST", f"/api/v1/partners/{siret}/users/{ident}/lost-credentials",
                         f"Compte de {ident} verrouillé : codes déclarés perdus ou volés"),
        "reemission": ("POST", f"/api/v1/partners/{siret}/users/{ident}/credentials",
                       f"{ident} a reçu de nouveaux codes (deux courriels, valables 24 heures)"),
        "suspendre": ("POST", f"/api/v1/partners/{siret}/users/{ident}/suspension",
                      f"Accès de {ident} suspendu : ses sessions sont fermées et un courriel l'en informe"),
        "retablir": ("DELETE", f"/api/v1/partners/{siret}/users/{ident}/suspension",
                     f"Accès de {ident} rétabli : la connexion est de nouveau possible (un courriel l'en informe)"),
        "deverrouiller": ("DELETE", f"/api/v1/partners/{siret}/users/{ident}/lockout",
                          f"Compte de {ident} déverrouillé : la connexion est de nouveau possible"),
        "second-facteur": ("DELETE", f"/api/v1/partners/{siret}/users/{ident}/second-factor",
                           f"Second facteur de {ident} réinitialisé : un nouveau sera enregistré à la prochaine "
                           "connexion à un service qui le demande (un courriel l'en informe)"),
        "proconnect": ("DELETE", f"/api/v1/partners/{siret}/users/{ident}/proconnect",
                       f"Liaison ProConnect de {ident} retirée : la connexion se fait par identifiant et mot de passe "
                       "(un courriel l'en informe)"),
    }
    if action not in routes:
        abort(404)
    method, path, done = routes[action]
    if action == "codes-perdus" and (ask := confirm.needed(
            f"déclarer perdus les codes de {ident}",
            [f"Le compte de {ident} est verrouillé à l'instant ; ses sessions en cours sont fermées.",
             "Le gestionnaire des habilitations de la Caf en est informé.",
             "Pour rouvrir l'accès, réémettez ses codes : identifiant et mot de passe provisoire (24 heures) lui "
             "sont alors envoyés dans deux courriels distincts."],
            url_for("console.user", siret=siret, ident=ident))):
        return ask
    if action == "suspendre" and (ask := confirm.needed(
            f"suspendre l'accès de {ident}",
            [f"{ident} ne peut plus se connecter ; ses sessions en cours sont fermées.",
             f"Un courriel en informe {ident}, et le gestionnaire des habilitations de la Caf.",
             "Ses habilitations sont conservées : vous pourrez rétablir son accès ensuite."],
            url_for("console.user", siret=siret, ident=ident))):
        return ask
    if action == "proconnect" and (ask := confirm.needed(
            f"retirer la liaison ProConnect de {ident}",
            [f"{ident} ne pourra plus se connecter avec ProConnect sans que son compte soit relié de nouveau.",
             "À sa prochaine connexion avec ProConnect, le compte sera relié de nouveau si son adresse électronique "
             "et le SIRET de votre structure sont ceux que la Caf a enregistrés.",
             f"Un courriel en informe {ident}."],
            url_for("console.user", siret=siret, ident=ident))):
        return ask
    if action == "second-facteur" and (ask := confirm.needed(
            f"réinitialiser le second facteur de {ident}", SECOND_FACTOR_RESET,
            url_for("console.user", siret=siret, ident=ident))):
        return ask
    r = call(method, path)
    if r.status_code == 200:
        flash(unchanged_or(r, f"{done}."))
    else:
        flash(Markup("Refusé : ") + Markup(" ").join(errors_of(r)[1] or list(errors_of(r)[0].values())), "erreur")
    return redirect(url_for("console.user", siret=siret, ident=ident))


@bp.get("/<siret>/conventions/<number>/bulletins/<service>.csv")
@require_role(ADMIN, DELEGATE)
def bulletin_csv(siret: str, number: str, service: str):
    """Issue 29: the partner administrator exports her bulletins' attachment herself (R13), as the Caf does."""
    _own(siret)
    r = call("GET", f"/api/v1/partners/{siret}/conventions/{number}/bulletins/{service}/identifiants.csv",
             ok=(200,), refusals=())
    return Response(r.content, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": r.headers.get("Content-Disposition", "attachment")})


@bp.get("/<siret>/conventions")
@login_required
def conventions(siret: str):
    """Issue 31: the partner's conventions and their documents, for its managers and for the person who signs
    them (its legal representative, or its administrator): the API says who may read and who may sign."""
    _own(siret)
    docs = call("GET", f"/api/v1/partners/{siret}/documents").json()
    me = signed_in()
    return render_template("portal/console/conventions.html", siret=siret, documents=docs,
                           manager=me.has(ADMIN) or me.has(DELEGATE), signs=g.app_session.facts.get("signs"))


@bp.post("/<siret>/conventions/<number>/signature")
@login_required
def sign(siret: str, number: str):
    """The representative signs every document awaiting her (a level-2 login: the API checks the token)."""
    _own(siret)
    r = call("POST", f"/api/v1/partners/{siret}/conventions/{number}/signatures", refusals=(400, 403, 409, 422))
    if r.status_code == 200:
        flash(f"Documents de la convention {number} signés : la Caf les contresigne à son tour.")
    else:
        flash(refusal_text(r), "erreur")
    return redirect(url_for("console.conventions", siret=siret) + f"#convention-{number}")


@bp.get("/<siret>/documents/<int:doc_id>.pdf")
@login_required
def document_pdf(siret: str, doc_id: int):
    _own(siret)
    return pdf_download(siret, doc_id)


@bp.get("/<siret>/journal")
@require_role(ADMIN, DELEGATE)
def audit(siret: str):
    _own(siret)
    j = journal_page(request.args, partner=siret)
    return render_template("portal/console/audit.html", siret=siret, j=j,
                           csv_url=url_for("console.audit_csv", siret=siret, **j["args"]))


@bp.get("/<siret>/journal.csv")
@require_role(ADMIN, DELEGATE)
def audit_csv(siret: str):
    _own(siret)
    return journal_csv(request.args, partner=siret)
