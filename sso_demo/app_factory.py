"""One way to build each of the three applications: Flask app, OIDC and session handling, error pages."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, render_template

from sso_demo.auth import init_auth
from sso_demo.config import AppConfig

HERE = Path(__file__).resolve().parent


def make_app(client_id: str, cfg: AppConfig | None, *blueprints: Blueprint) -> Flask:
    cfg = cfg or AppConfig.from_env(client_id)
    app = Flask(f"sso_demo.{client_id}", template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    init_auth(app, cfg)
    for bp in blueprints:
        app.register_blueprint(bp)

    @app.errorhandler(404)
    def not_found(_e):
        return render_template("errors/404.html"), 404

    @app.errorhandler(503)
    def unavailable(_e):
        return render_template("errors/400.html", message="Le service de provisionnement est momentanément "
                               "indisponible ; réessayez dans quelques instants."), 503
    return app
