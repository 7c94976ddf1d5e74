"""REST API (Flask app factory). Every route goes through services.Provisioning, so the API, the CLI and
the consoles obey the same rules; errors are JSON {error, error_description, violations[]}."""

from __future__ import annotations

import os
from datetime import date, datetime

from flask import Flask, g, jsonify, request
from flask.json.provider import DefaultJSONProvider

from provisioning.api.auth import TokenVerifier
from provisioning.errors import ProvisioningError
from provisioning.services import Provisioning


class IsoJSON(DefaultJSONProvider):
    """Dates as ISO 8601 (Flask's default is the HTTP date format)."""
    ensure_ascii = False

    @staticmethod
    def default(o):
        if isinstance(o, (date, datetime)):
            return o.isoformat()
        return DefaultJSONProvider.default(o)


def create_app(service: Provisioning, verifier: TokenVerifier) -> Flask:
    app = Flask(__name__)
    app.json = IsoJSON(app)
    app.extensions["provisioning"] = service
    app.extensions["verifier"] = verifier

    from provisioning.api import audit, meta, partners  # noqa: PLC0415
    app.register_blueprint(meta.bp)
    app.register_blueprint(partners.bp)
    app.register_blueprint(audit.bp)

    @app.before_request
    def authenticate():
        if request.endpoint in meta.PUBLIC_ENDPOINTS:
            return None
        g.actor = verifier.verify(request.headers.get("Authorization"))
        return None

    @app.errorhandler(ProvisioningError)
    def on_error(e: ProvisioningError):
        resp = jsonify(e.as_dict())
        resp.status_code = e.status
        if e.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="mon-compte-partenaire"'
        return resp

    @app.after_request
    def headers(resp):
        resp.headers["Server"] = "mon-compte-partenaire"  # no server or Python version disclosed
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        return resp

    return app


def serve() -> None:
    """`mcp-provisioning-api`: the API on MCP_API_PORT (default 8090) with the configured adapters."""
    from provisioning.app_factory import build  # noqa: PLC0415
    from provisioning.config import Config  # noqa: PLC0415

    from provisioning.jobs import start_daily  # noqa: PLC0415

    from provisioning.production import dev_server  # noqa: PLC0415

    cfg = Config.from_env()  # in production, the settings are refused first, all listed
    dev_server("mcp-provisioning-api", "provisioning.api.wsgi:app")
    svc = build(cfg)
    start_daily(svc)
    app = from_config(cfg, svc)
    from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: PLC0415

    class Quiet(WSGIRequestHandler):
        sys_version = ""  # no Python version in the Server header (development server only; production: gunicorn)

    srv = make_server(os.environ.get("MCP_API_HOST", "127.0.0.1"), int(os.environ.get("MCP_API_PORT", "8090")), app,
                      threaded=True, request_handler=Quiet)
    srv._server_version = "mon-compte-partenaire"
    srv.serve_forever()


def from_config(cfg, svc) -> Flask:
    return create_app(svc, TokenVerifier(cfg.issuer, cfg.api_audience,
                                         jwks_url=f"{cfg.keycloak.server_url}/realms/{cfg.keycloak.realm}"
                                                  "/protocol/openid-connect/certs"))
