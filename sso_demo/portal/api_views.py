"""Helpers for the consoles: every action goes through the provisioning API with the user's own token,
so the consoles obey exactly the API's rules (rights, validation, audit, R9 reports)."""

from __future__ import annotations

from collections import Counter

from flask import Response, abort
from markupsafe import Markup

from sso_demo import apiclient
from sso_demo.labels import action_fr

PAGE_SIZE = 20


def call(method: str, path: str, *, ok=(200, 201), refusals=(400, 409, 422), **kw):
    """The response when it succeeded or was refused with explanations (400 shape, 422 rules; 409 a stale
    version, an account Mon Compte Partenaire does not manage); 403/404 become error pages."""
    try:
        r = apiclient.call(method, path, **kw)
    except apiclient.ApiUnavailable:
        abort(503)
    if r.status_code in ok or r.status_code in refusals:
        return r
    if r.status_code in (401, 403):
        abort(403)
    if r.status_code == 404:
        abort(404)
    abort(503)


def _json(r) -> dict:
    """The API's JSON: results (application/json) and refusals (application/problem+json, RFC 9457)."""
    ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
    return r.json() if ctype in ("application/json", "application/problem+json") else {}


def _field_key(path: str, known: set[str] | None) -> str:
    """The form field a violation's path names: its last part (`…users[0].email` → email), or, with `known`
    field names, its last two parts joined (`…contract.caf_administrator.email` → caf_administrator_email);
    a path naming no field of the form gives "" (the violation is listed above the form, never lost)."""
    parts = [x.split("[")[0] for x in path.split(".") if x]
    if known is None:
        return parts[-1] if parts else ""
    for key in ("_".join(parts[-2:]), parts[-1] if parts else ""):
        if key in known:
            return key
    return ""


def errors_of(r, known: set[str] | None = None) -> tuple[dict[str, str], list[str]]:
    """Violations next to their field, the others as a list (see _field_key)."""
    fields: dict[str, str] = {}
    general: list[str] = []
    body = _json(r)
    for v in body.get("violations", []):
        key = _field_key(v.get("path") or "", known)
        # the sentence for people; the stable code in small print, for support
        text = Markup('{} <small class="code">{}</small>').format(v["message"], v["code"])
        if key and key not in fields:
            fields[key] = text
        else:
            general.append(text)
    if not body.get("violations") and body.get("error_description"):
        general.append(body["error_description"])
    return fields, general


def paginate(rows: list, page: int) -> tuple[list, int, int]:
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    return rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], page, pages


def unchanged_or(r, done: str) -> str:
    """The API says when a request changed nothing (and wrote nothing): say so rather than « done »."""
    body = _json(r)
    return "Aucun changement : c'était déjà le cas." if body.get("changed") is False else done


def users_page(siret: str, args) -> dict:
    """One page of a partner's users from the API (search without accents, sort, page): what the two
    consoles' user tables show. The API does the work; 2,000 users cost one request either way."""
    q = args.get("q", "").strip()[:100]
    sort = args.get("tri", "nom") if args.get("tri") in ("identifiant", "nom", "prenom", "courriel", "etat") else "nom"
    order = "desc" if args.get("ordre") == "desc" else "asc"
    page = max(args.get("page", 1, type=int) or 1, 1)
    state = args.get("etat", "") if args.get("etat", "") in ACCOUNT_STATES else ""
    r = call("GET", f"/api/v1/partners/{siret}/users", params={
        "q": q, "sort": sort, "order": order, "offset": (page - 1) * PAGE_SIZE, "limit": PAGE_SIZE, "accounts": "true",
        **({"account_state": state} if state else {})})
    total = int(r.headers.get("X-Total-Count", "0"))
    pages = max(1, -(-total // PAGE_SIZE))
    return {"rows": r.json() if r.status_code == 200 else [], "total": total, "page": min(page, pages),
            "pages": pages, "q": q, "tri": sort, "ordre": order, "etat": state, "states": ACCOUNT_STATES,
            "args": {"q": q, "tri": sort, "ordre": order, **({"etat": state} if state else {})}}


# issue 29: what a manager filters people by (the API's account states, in the order people think of them)
ACCOUNT_STATES = {"awaiting_convention": "en attente de la convention", "codes_pending": "codes en attente d'envoi", "awaiting_first_login": "jamais connecté",
                  "active": "actif", "locked_after_failures": "verrouillé après des échecs",
                  "locked_lost_credentials": "verrouillé (codes perdus)", "suspended": "suspendu",
                  "awaiting_creation": "à traiter (compte non créé)"}


JOURNAL_FILTERS = ("du", "au", "auteur", "personne", "partenaire")


def _journal_params(args, partner: str | None) -> tuple[dict, dict]:
    """The page's filters (French names) and the API's query for them."""
    f = {k: args.get(k, "").strip()[:64] for k in JOURNAL_FILTERS}
    params = {"actor": f["auteur"], "user": f["personne"], "since": f["du"], "until": f["au"],
              "partner": partner or f["partenaire"]}
    return f, {k: v for k, v in params.items() if v}


def grouped(rows: list[dict]) -> list[dict]:
    """Issue 29 §6: what people did, one line each; what Keycloak did after them (the reconciler's entries, one
    per object) folded into one line — « Keycloak mis à jour : création (utilisateur) ×3 ; … » — its details on
    demand."""
    out: list[dict] = []
    for row in rows:
        automatic = row.get("action", "").startswith("keycloak:")
        last = out[-1] if out else None
        if automatic and last and last.get("details") is not None and last["actor"] == row.get("actor"):
            last["details"].append(row)
            continue
        out.append({**row, "details": [row]} if automatic else row)
    for row in out:
        if row.get("details") is not None:
            counts = Counter(action_fr(d["action"]).removeprefix("Keycloak : ") for d in row["details"])
            row["summary"] = "Keycloak mis à jour : " + " ; ".join(
                f"{what}{f' ×{n}' if n > 1 else ''}" for what, n in counts.items())
    return out


def journal_page(args, partner: str | None = None) -> dict:
    """One page of the journal with the filters people use: dates (Paris days), author, person concerned,
    and (Caf) a partner; the same filters give the CSV export."""
    f, params = _journal_params(args, partner)
    page = max(args.get("page", 1, type=int) or 1, 1)
    r = call("GET", "/api/v1/audit", params={**params, "limit": PAGE_SIZE + 1, "offset": (page - 1) * PAGE_SIZE})
    if r.status_code != 200:
        fields, general = errors_of(r)
        return {"rows": [], "page": 1, "has_next": False, "filters": f, "errors": general + list(fields.values()),
                "params": params, "args": {k: v for k, v in f.items() if v}}
    rows = r.json()
    return {"rows": grouped(rows[:PAGE_SIZE]), "page": page, "has_next": len(rows) > PAGE_SIZE, "filters": f, "errors": [],
            "params": params, "args": {k: v for k, v in f.items() if v}}


def journal_csv(args, partner: str | None = None):
    """The API's CSV of the journal with the same filters as the page."""
    _, params = _journal_params(args, partner)
    r = call("GET", "/api/v1/audit.csv", params=params, ok=(200,), refusals=())
    return Response(r.content, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="journal.csv"'})


def account_of(siret: str, ident: str) -> dict | None:
    """What Keycloak knows of the account (three reads, on this one page); None if Keycloak does not answer
    (the page still works, and says so)."""
    try:
        r = apiclient.call("GET", f"/api/v1/partners/{siret}/users/{ident}/account")
    except apiclient.ApiUnavailable:
        return None
    return r.json() if r.status_code == 200 else None


def history_of(siret: str, ident: str) -> list[dict]:
    """The newest 20 journal entries about one person."""
    r = call("GET", "/api/v1/audit", params={"partner": siret, "user": ident, "limit": 20})
    return r.json() if r.status_code == 200 else []


def refusal_text(r) -> Markup:
    """A refusal as one line (the violations, or the error's own description), for a flash message."""
    fields, general = errors_of(r)
    return Markup("Refusé : ") + Markup(" ").join(general + list(fields.values()))


def pdf_download(siret: str, doc_id: int):
    """A signed document, as the API serves it; a file that no longer matches its hash is refused, said so."""
    from flask import Response, render_template
    r = call("GET", f"/api/v1/partners/{siret}/documents/{doc_id}.pdf", ok=(200,), refusals=(409,))
    if r.status_code == 409:
        return render_template("errors/400.html", message=_json(r).get("error_description", "")), 409
    return Response(r.content, mimetype="application/pdf", headers={
        "Content-Disposition": r.headers.get("Content-Disposition", "attachment"),
        "Digest": r.headers.get("Digest", "")})
