"""The portal: security page after login (R17), the user's services (R1, R14), consoles (issue 6)."""

from __future__ import annotations

from flask import Flask, render_template

from sso_demo.auth import init_auth
from sso_demo.config import AppConfig


def create_app(cfg: AppConfig | None = None) -> Flask:
    cfg = cfg or AppConfig.from_env("portail")
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    init_auth(app, cfg)
    from sso_demo.portal import caf, console, home  # noqa: PLC0415
    app.register_blueprint(home.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(caf.bp)

    @app.errorhandler(404)
    def not_found(_e):
        return render_template("errors/404.html"), 404

    @app.errorhandler(503)
    def unavailable(_e):
        return render_template("errors/400.html", message="Le service de provisionnement est momentanément "
                               "indisponible ; réessayez dans quelques instants."), 503
    return app
