"""AFAS (demo with real rules): equipments, yearly activity and financial data by their providers, automated
consistency checks to justify, dashboard, approval and transmission by the approver, association of
providers to equipments by AFAS Habiliter through the provisioning API."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, url_for

from sso_demo import apiclient
from sso_demo.afas import rules
from sso_demo.app_factory import make_app
from sso_demo.auth import require_role, signed_in
from sso_demo.config import AppConfig
from sso_demo.journal import create_tables, engine_for
from sso_demo.portal import confirm

DECLARER, HABILITER = "afas:AFAS-Déclarer", "afas:AFAS-Habiliter"

meta = sa.MetaData()
declarations = sa.Table(
    "afas_declarations", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("partner", sa.String(14), nullable=False),
    sa.Column("equipment", sa.String(64), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("activity", sa.JSON, nullable=True),
    sa.Column("financial", sa.JSON, nullable=True),
    sa.Column("transmitted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("transmitted_by", sa.String(64), nullable=True),
    sa.UniqueConstraint("partner", "equipment", "year"),
)
anomalies = sa.Table(
    "afas_anomalies", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("declaration_id", sa.Integer, sa.ForeignKey("afas_declarations.id"), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("justification", sa.Text, nullable=True),
    sa.Column("justified_by", sa.String(64), nullable=True),
    sa.Column("justified_at", sa.DateTime(timezone=True), nullable=True),
)
history = sa.Table(
    "afas_history", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("declaration_id", sa.Integer, sa.ForeignKey("afas_declarations.id"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("action", sa.String(255), nullable=False),
)

returns = sa.Table(  # issue 29 §3: declarations sent back to their providers, until they answer
    "afas_returns", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("declaration_id", sa.Integer, sa.ForeignKey("afas_declarations.id"), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),  # a provider saved since
)

bp = Blueprint("afas", __name__)


def _db() -> sa.Engine:
    return current_app.extensions["afas_db"]


def _now() -> datetime:
    return datetime.now(UTC)


def _equipments(refresh: bool = False) -> tuple[list[dict], dict]:
    """The partner's equipments from the provisioning API, with the user's own token (API rules apply);
    read once per request unless `refresh`."""
    if not refresh and "afas_equipments" in g:
        return g.afas_equipments
    p = signed_in()
    if not p.partner:
        abort(403)
    try:
        r = apiclient.call("GET", f"/api/v1/partners/{p.partner}/equipments")
    except apiclient.ApiUnavailable:
        abort(503)
    if r.status_code in (403, 404):
        abort(403)
    if r.status_code != 200:
        abort(503)
    body = r.json()
    g.afas_equipments = [e for e in body["equipments"] if e["type"] == "ALSH"], body["candidates"]
    return g.afas_equipments


def _equipment(code: str) -> dict:
    e = next((x for x in _equipments()[0] if x["code"] == code), None)
    if e is None:
        abort(404)
    return e


def _declaration(c, code: str, year: int, create: bool = False):
    p = signed_in()
    q = sa.select(declarations).where(declarations.c.partner == p.partner, declarations.c.equipment == code,
                                      declarations.c.year == year)
    row = c.execute(q).first()
    if row is None and create:
        c.execute(sa.insert(declarations).values(partner=p.partner, equipment=code, year=year))
        row = c.execute(q).first()
    return row


def _log(c, decl_id: int, action: str) -> None:
    c.execute(sa.insert(history).values(declaration_id=decl_id, at=_now(), username=signed_in().username,
                                        action=action))


def _refresh_anomalies(c, decl) -> None:
    """Recompute checks; a justification survives only while its anomaly still stands unchanged."""
    found = {a.code: a for a in rules.consistency_checks(decl.activity, decl.financial)}
    existing = {r.code: r for r in c.execute(sa.select(anomalies).where(anomalies.c.declaration_id == decl.id))}
    for code, row in existing.items():
        if code not in found or found[code].message != row.message:
            c.execute(sa.delete(anomalies).where(anomalies.c.id == row.id))
    for code, a in found.items():
        if code not in existing or existing[code].message != a.message:
            c.execute(sa.insert(anomalies).values(declaration_id=decl.id, code=code, message=a.message))


def _open_return(c, decl_id: int):
    """The send-back the providers have not answered yet (None: none)."""
    return c.execute(sa.select(returns).where(returns.c.declaration_id == decl_id, returns.c.answered_at.is_(None))
                     .order_by(returns.c.id.desc())).first()


def _view(code: str, year: int, errors: dict | None = None, form: dict | None = None, status: int = 200,
          notice: str | None = None, refusals: list[str] | None = None):
    p = signed_in()
    e = _equipment(code)
    with _db().connect() as c:
        decl = _declaration(c, code, year)
        rows = list(c.execute(sa.select(anomalies).where(anomalies.c.declaration_id == decl.id))) if decl else []
        hist = list(c.execute(sa.select(history).where(history.c.declaration_id == decl.id)
                              .order_by(history.c.id))) if decl else []
        sent_back = _open_return(c, decl.id) if decl else None
    transmitted = bool(decl and decl.transmitted_at)
    a = e.get("assignments", {})
    can = {
        "activity": not transmitted and rules.may_act(p.roles, p.username, rules.ROLE_ACTIVITY, a),
        "financial": not transmitted and rules.may_act(p.roles, p.username, rules.ROLE_FINANCIAL, a),
        "approve": not transmitted and rules.may_act(p.roles, p.username, rules.ROLE_APPROVER, a),
    }
    can["send_back"] = can["approve"] and bool(decl and (decl.activity or decl.financial)) and sent_back is None
    unjustified = sum(1 for r in rows if not r.justification)
    if refusals is None and decl is not None:
        refusals = rules.approval_refusals(decl.activity, decl.financial, unjustified, transmitted)
    return render_template("afas/declaration.html", e=e, year=year, decl=decl, anomalies=rows, history=hist,
                           can=can, transmitted=transmitted, errors=errors or {}, form=form or {},
                           activity_fields=rules.ACTIVITY_FIELDS, financial_fields=rules.FINANCIAL_FIELDS,
                           notice=notice, refusals=refusals or [], sent_back=sent_back,
                           reason_max=SEND_BACK_REASON_MAX), status


@bp.get("/")
@require_role(DECLARER, HABILITER)
def index():
    equipments, _ = _equipments()
    year = _now().year - 1  # declarations concern the past year
    p = signed_in()
    with _db().connect() as c:
        rows = {r.equipment: r for r in c.execute(sa.select(declarations).where(
            declarations.c.partner == p.partner, declarations.c.year == year))}
    # issue 29 §3: a person who may act on no equipment is told why, and whom to ask, not shown an empty page
    acts = {e["code"] for e in equipments if any(rules.may_act(p.roles, p.username, role, e.get("assignments", {}))
                                                 for role in rules.PROFILE_OF_ROLE)}
    return render_template("afas/index.html", equipments=equipments, year=year, rows=rows, acts=acts, me=p.username,
                           can_declare=p.has(DECLARER), can_habiliter=p.has(HABILITER))


@bp.get("/equipements/<code>/<int:year>")
@require_role(DECLARER)
def declaration(code: str, year: int):
    return _view(code, year)


def _save(code: str, year: int, role: str, fields: dict, column: str, label: str):
    p = signed_in()
    e = _equipment(code)
    if not rules.may_act(p.roles, p.username, role, e.get("assignments", {})):
        abort(403)
    values, errors = rules.parse(fields, request.form)
    if errors:
        return _view(code, year, errors=errors, form=request.form, status=422)
    with _db().begin() as c:
        decl = _declaration(c, code, year, create=True)
        if decl.transmitted_at:
            return _view(code, year, status=409, notice="La déclaration est transmise : elle n'est plus modifiable.")
        c.execute(sa.update(declarations).where(declarations.c.id == decl.id).values(**{column: values}))
        _log(c, decl.id, f"saisie des {label}")
        c.execute(sa.update(returns).where(returns.c.declaration_id == decl.id, returns.c.answered_at.is_(None))
                  .values(answered_at=_now()))  # corrected: back with the approver
        _refresh_anomalies(c, _declaration(c, code, year))
    return redirect(url_for("afas.declaration", code=code, year=year))


@bp.post("/equipements/<code>/<int:year>/activite")
@require_role(DECLARER)
def save_activity(code: str, year: int):
    return _save(code, year, rules.ROLE_ACTIVITY, rules.ACTIVITY_FIELDS, "activity", "données d'activité")


@bp.post("/equipements/<code>/<int:year>/financier")
@require_role(DECLARER)
def save_financial(code: str, year: int):
    return _save(code, year, rules.ROLE_FINANCIAL, rules.FINANCIAL_FIELDS, "financial", "données financières")


@bp.post("/equipements/<code>/<int:year>/anomalies/<int:anomaly_id>")
@require_role(DECLARER)
def justify(code: str, year: int, anomaly_id: int):
    p = signed_in()
    e = _equipment(code)
    text = (request.form.get("justification") or "").strip()
    with _db().begin() as c:
        decl = _declaration(c, code, year)
        row = c.execute(sa.select(anomalies).where(anomalies.c.id == anomaly_id,
                                                   anomalies.c.declaration_id == (decl.id if decl else -1))).first()
        if row is None:
            abort(404)
        role = rules.ROLE_ACTIVITY if row.code.startswith("ACT_") else rules.ROLE_FINANCIAL
        if not rules.may_act(p.roles, p.username, role, e.get("assignments", {})):
            abort(403)
        if decl.transmitted_at:
            return _view(code, year, status=409, notice="La déclaration est transmise : elle n'est plus modifiable.")
        if len(text) < 10:
            return _view(code, year, errors={f"anomalie-{anomaly_id}": "Justifiez l'anomalie en 10 caractères au moins."},
                         form=request.form, status=422)
        c.execute(sa.update(anomalies).where(anomalies.c.id == anomaly_id)
                  .values(justification=text, justified_by=p.username, justified_at=_now()))
        _log(c, decl.id, f"justification de l'anomalie {row.code}")
    return redirect(url_for("afas.declaration", code=code, year=year))


@bp.post("/equipements/<code>/<int:year>/transmission")
@require_role(DECLARER)
def transmit(code: str, year: int):
    p = signed_in()
    e = _equipment(code)
    if not rules.may_act(p.roles, p.username, rules.ROLE_APPROVER, e.get("assignments", {})):
        abort(403)
    with _db().begin() as c:
        decl = _declaration(c, code, year)
        if decl is None:
            refusals = rules.approval_refusals(None, None, 0, False)
            return _view(code, year, status=422, refusals=refusals,
                         notice="Approbation impossible : " + " ".join(refusals))
        unjustified = c.execute(sa.select(sa.func.count()).select_from(anomalies).where(
            anomalies.c.declaration_id == decl.id, anomalies.c.justification.is_(None))).scalar_one()
        refusals = rules.approval_refusals(decl.activity, decl.financial, unjustified, bool(decl.transmitted_at))
        if not refusals:  # issue 29 §3: what is transmitted, read before it leaves
            justified = c.execute(sa.select(sa.func.count()).select_from(anomalies).where(
                anomalies.c.declaration_id == decl.id)).scalar_one()
            ask = confirm.needed(f"approuver et transmettre la déclaration {year} de {e['name']}",
                                 rules.transmitted_lines(decl.activity, decl.financial, justified),
                                 url_for("afas.declaration", code=code, year=year))
            if ask:
                return ask
        if refusals:
            _log(c, decl.id, "approbation refusée : " + " ".join(refusals))
        else:
            c.execute(sa.update(declarations).where(declarations.c.id == decl.id)
                      .values(transmitted_at=_now(), transmitted_by=p.username))
            _log(c, decl.id, "approbation et transmission à la Caf")
    if refusals:
        return _view(code, year, status=422, refusals=refusals,
                     notice="Approbation impossible : " + " ".join(refusals))
    return redirect(url_for("afas.declaration", code=code, year=year))


SEND_BACK_REASON_MAX = 1000


@bp.post("/equipements/<code>/<int:year>/renvoi")
@require_role(DECLARER)
def send_back(code: str, year: int):
    """Issue 29 §3: the approver sends the declaration back to its providers with a reason; the provisioning
    API checks she is this equipment's approver and mails each provider (its outbox: retried, journaled)."""
    p = signed_in()
    e = _equipment(code)
    if not rules.may_act(p.roles, p.username, rules.ROLE_APPROVER, e.get("assignments", {})):
        abort(403)
    reason = (request.form.get("motif") or "").strip()
    with _db().connect() as c:
        decl = _declaration(c, code, year)
        waiting = _open_return(c, decl.id) if decl else None
    if decl is None or decl.transmitted_at:
        return _view(code, year, status=409, notice="Rien à renvoyer : la déclaration n'est pas saisie ou est "
                     "déjà transmise.")
    if waiting is not None:  # a second click, or a second tab: the providers are not mailed twice
        return _view(code, year, status=409, notice="La déclaration est déjà renvoyée aux fournisseurs : ils la "
                     "corrigent.")
    try:
        r = apiclient.call("POST", f"/api/v1/partners/{p.partner}/equipments/{code}/send-back",
                           json={"service": "AFAS", "period": str(year), "reason": reason[:SEND_BACK_REASON_MAX]})
    except apiclient.ApiUnavailable:
        abort(503)
    if r.status_code in (400, 422):
        body = r.json()
        said = " ".join(v["message"] for v in body.get("violations", [])) or body.get("detail") or \
            "Le motif n'est pas accepté."
        return _view(code, year, errors={"motif": said}, form=request.form, status=422)
    if r.status_code in (403, 404):
        abort(403)
    if r.status_code != 200:
        abort(503)
    with _db().begin() as c:
        c.execute(sa.insert(returns).values(declaration_id=decl.id, at=_now(), username=p.username, reason=reason))
        _log(c, decl.id, f"renvoi pour correction aux fournisseurs : « {reason} »")
    return redirect(url_for("afas.declaration", code=code, year=year))


@bp.get("/tableau-de-bord")
@require_role(DECLARER)
def dashboard():
    p = signed_in()
    with _db().connect() as c:
        rows = list(c.execute(sa.select(declarations).where(declarations.c.partner == p.partner)
                              .order_by(declarations.c.year.desc(), declarations.c.equipment)))
        waiting = set(c.execute(sa.select(returns.c.declaration_id).where(
            returns.c.answered_at.is_(None), returns.c.declaration_id.in_([r.id for r in rows]))).scalars())
    return render_template("afas/dashboard.html", rows=rows, hourly_cost=rules.hourly_cost, waiting=waiting)


def _sites_chosen(e: dict, body: dict[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """Issue 29 §3: the sites ticked for each person associated (`lieux:<identifiant>`); every site ticked is the
    whole equipment (nothing sent for her); none ticked is refused before anything is sent."""
    if len(e["sites"]) < 2:
        return {}, []
    chosen, errors = {}, []
    for ident in dict.fromkeys(i for ids in body.values() for i in ids):
        ticked = [s for s in request.form.getlist(f"lieux:{ident}") if s in e["sites"]]
        if not ticked:
            errors.append(f"Cochez au moins un lieu d'implantation pour {ident} (tous : l'équipement entier).")
        elif set(ticked) != set(e["sites"]):
            chosen[ident] = ticked
    return chosen, errors


def _save_associations(partner: str, code: str, e: dict | None) -> tuple[list[str], list[str], int]:
    """The people per profile, then (several sites) each one's sites, through the API; (what was saved, the
    refusals, the status). The sites are checked here first, so a refusal there leaves nothing saved."""
    body = {prof: request.form.getlist(prof) for prof in rules.PROFILE_OF_ROLE.values()}
    sites_of, errors = _sites_chosen(e, body) if e else ({}, [])
    if errors:
        return [], errors, 422
    calls = [("assignments", body)] + ([("sites", sites_of)] if e and (len(e["sites"]) > 1 or e.get("sites_of"))
                                       else [])
    saved: list[str] = []
    for what, payload in calls:
        r = apiclient.call("PUT", f"/api/v1/partners/{partner}/equipments/{code}/{what}", json=payload)
        if r.status_code in (403, 409, 422):
            answer = r.json()
            return saved, [v["message"] for v in answer.get("violations", [])] or [answer.get("error_description", "")], \
                r.status_code
        if r.status_code != 200:
            abort(503)
        saved.append(what)
    return saved, [], 200


@bp.route("/habilitations", methods=["GET", "POST"])
@require_role(HABILITER)
def habilitations():
    """R10: associate providers and the approver to equipments, through the provisioning API (caps R8)."""
    p = signed_in()
    equipments, candidates = _equipments()
    errors, notice, status = [], None, 200
    saved: list[str] = []
    if request.method == "POST":
        code = request.form.get("equipment", "")
        e = next((x for x in equipments if x["code"] == code), None)
        saved, errors, status = _save_associations(p.partner, code, e)
        if saved:
            equipments, candidates = _equipments(refresh=True)
        if not errors:
            notice = f"Associations de l'équipement {code} enregistrées."
    profiles = list(rules.PROFILE_OF_ROLE.values())
    people = list(dict.fromkeys(i for prof in profiles for i in candidates.get(prof, [])))
    return render_template("afas/habilitations.html", equipments=equipments, candidates=candidates, people=people,
                           profiles=profiles, errors=errors, notice=notice, partial=bool(saved and errors)), status


def create_app(cfg: AppConfig | None = None) -> Flask:
    app = make_app("afas", cfg, bp)
    app.extensions["afas_db"] = engine_for("afas", app.config["MCP"].data_dir, app.config["MCP"].journal_url)
    create_tables(meta, app.extensions["afas_db"])
    return app
