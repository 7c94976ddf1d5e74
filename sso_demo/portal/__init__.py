"""The portal: security page after login (R17), the user's services (R1, R14), consoles (issue 6)."""

from __future__ import annotations

from flask import Flask

from sso_demo.auth import init_auth
from sso_demo.config import AppConfig


def create_app(cfg: AppConfig | None = None) -> Flask:
    cfg = cfg or AppConfig.from_env("portail")
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    init_auth(app, cfg)
    from sso_demo.portal import home  # noqa: PLC0415
    app.register_blueprint(home.bp)
    return app
