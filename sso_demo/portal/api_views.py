"""Helpers for the consoles: every action goes through the provisioning API with the user's own token,
so the consoles obey exactly the API's rules (rights, validation, audit, R9 reports)."""

from __future__ import annotations

from flask import abort
from markupsafe import Markup

from sso_demo import apiclient

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
