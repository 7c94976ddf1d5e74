"""One way to build each of the three applications: Flask app, OIDC and session handling, error pages."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, render_template
from sqlalchemy import exc as sa_exc

from provisioning import metrics
from sso_demo import catalogue
from sso_demo import labels as journal_labels
from sso_demo.auth import init_auth
from sso_demo.config import AppConfig
from sso_demo.legal import init_legal

HERE = Path(__file__).resolve().parent


def make_app(client_id: str, cfg: AppConfig | None, *blueprints: Blueprint) -> Flask:
    cfg = cfg or AppConfig.from_env(client_id)
    app = Flask(f"sso_demo.{client_id}", template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.config["MAX_CONTENT_LENGTH"] = 3_000_000    # a CSV import (1 MB) and its preview form (base64)
    app.config["MAX_FORM_MEMORY_SIZE"] = 2_000_000
    app.url_map.strict_slashes = False  # /console/ and /console both answer (no trailing-slash 404); before any rule
    init_auth(app, cfg)
    metrics.instrument(app, client_id, cfg.metrics_token)  # issue 30: requests by route; /metrics with its token
    init_legal(app)  # the footer's pages, public, in every app
    for bp in blueprints:
        app.register_blueprint(bp)

    app.add_template_filter(journal_labels.action_fr, "action_fr")
    app.add_template_filter(journal_labels.paris, "paris")
    app.add_template_filter(catalogue.profile_label, "profil")  # issue 29: labels, never codes
    app.add_template_filter(journal_labels.french_amount, "montant")  # « 90 000,50 € » (issue 29 §3)
    app.add_template_filter(journal_labels.french_number, "nombre")   # « 90 000 »

    @app.get("/healthz")
    def healthz():  # the load balancer's liveness check: this process answers (no database, no Keycloak)
        return {"status": "ok"}

    @app.errorhandler(404)
    def not_found(_e):
        return render_template("errors/404.html"), 404

    @app.errorhandler(503)
    def unavailable(_e):
        return render_template("errors/400.html", message="Le service de provisionnement est momentanément "
                               "indisponible ; réessayez dans quelques instants."), 503

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    def database_down(e):  # issue 14: the shared database restarting (sessions, AFAS, CDAP) is a clear 503
        app.logger.warning("database unreachable: %s", e.__class__.__name__)
        resp = app.make_response((render_template(
            "errors/400.html", message="Le service est momentanément indisponible (base de données injoignable) ; "
            "rien n'a été perdu, réessayez dans quelques instants."), 503))
        resp.headers["Retry-After"] = "5"
        return resp
    return app
