"""The portal: security page after login (R17), the user's services (R1, R14), the consoles (issue 6)."""

from __future__ import annotations

from flask import Flask

from sso_demo.app_factory import make_app
from sso_demo.auth import on_login
from sso_demo.config import AppConfig


def create_app(cfg: AppConfig | None = None) -> Flask:
    from sso_demo.portal import access_request, caf, console, home, incident, reviews
    app = make_app("portail", cfg, home.bp, console.bp, caf.bp, incident.bp, reviews.bp, access_request.bp)
    access_request.limiter.init_app(app)  # issue 31 §1: the public request form, per visitor

    @app.errorhandler(429)
    def too_many(_e):
        from flask import render_template
        return render_template("errors/429.html"), 429
    on_login(app, home.read_previous_login)
    return app
