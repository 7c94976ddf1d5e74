"""CDAP (demo): consult a beneficiary by number within the partner's scope; every consultation is logged."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, render_template, request

from sso_demo.app_factory import make_app
from sso_demo.auth import current_principal, require_role
from sso_demo.cdap import beneficiaries
from sso_demo.config import AppConfig
from sso_demo.journal import create_tables, engine_for

ROLE = "cdap:CDAP-Consulter"
PURPOSES = ("Instruction d'un dossier d'aide", "Calcul d'une participation familiale",
            "Vérification d'un quotient familial")

meta = sa.MetaData()
consultations = sa.Table(
    "cdap_consultations", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("partner", sa.String(14), nullable=False),
    sa.Column("numero", sa.String(16), nullable=False),
    sa.Column("purpose", sa.String(128), nullable=False),
    sa.Column("found", sa.Boolean, nullable=False),
)

bp = Blueprint("cdap", __name__)


def _engine() -> sa.Engine:
    return current_app.extensions["cdap_db"]


@bp.get("/")
@require_role(ROLE)
def index():
    p = current_principal()
    return render_template("cdap/search.html", purposes=PURPOSES, result=None, errors={}, form={},
                           examples=beneficiaries.examples(p.partner or "", p.caf))


@bp.post("/recherche")
@require_role(ROLE)
def search():
    p = current_principal()
    if not p.partner:
        abort(403)
    form = {"numero": request.form.get("numero", "").strip(), "purpose": request.form.get("purpose", "")}
    errors = {}
    if not form["numero"].isdigit():
        errors["numero"] = "Saisissez un numéro d'allocataire (chiffres uniquement)."
    if form["purpose"] not in PURPOSES:
        errors["purpose"] = "Indiquez la finalité de la consultation."
    if errors:
        return render_template("cdap/search.html", purposes=PURPOSES, result=None, errors=errors, form=form,
                               examples=beneficiaries.examples(p.partner, p.caf)), 422
    # scope: only beneficiaries the partner serves; others look exactly like unknown numbers
    found = beneficiaries.find(p.partner, p.caf, form["numero"])
    with _engine().begin() as c:
        c.execute(sa.insert(consultations).values(at=datetime.now(UTC), username=p.username,
                                                  partner=p.partner, numero=form["numero"],
                                                  purpose=form["purpose"], found=found is not None))
    return render_template("cdap/search.html", purposes=PURPOSES, result=found or "absent", errors={}, form=form,
                           examples=beneficiaries.examples(p.partner, p.caf))


@bp.get("/journal")
@require_role(ROLE)
def journal():
    p = current_principal()
    with _engine().connect() as c:
        rows = c.execute(sa.select(consultations).where(consultations.c.partner == p.partner)
                         .order_by(consultations.c.id.desc()).limit(200)).all()
    return render_template("cdap/journal.html", rows=rows)


def create_app(cfg: AppConfig | None = None) -> Flask:
    app = make_app("cdap", cfg, bp)
    app.extensions["cdap_db"] = engine_for("cdap", app.config["MCP"].data_dir, app.config["MCP"].journal_url)
    create_tables(meta, app.extensions["cdap_db"])
    return app
