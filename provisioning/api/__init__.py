"""REST API (Flask app factory). Every route goes through services.Provisioning, so the API, the CLI and
the consoles obey the same rules; errors are JSON {error, error_description, violations[]}."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import Flask, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from provisioning.api.auth import TokenVerifier
from provisioning.domain import user_import
from provisioning.errors import ProvisioningError, Unavailable
from provisioning.services import Provisioning


class IsoJSON(DefaultJSONProvider):
    """Dates as ISO 8601 (Flask's default is the HTTP date format); a moment always with its offset — a naive
    one is UTC here (SQLite's columns, a file's day) — as RFC 3339 and the OpenAPI `date-time` format ask."""
    ensure_ascii = False

    @staticmethod
    def default(o):
        if isinstance(o, datetime):
            return (o if o.tzinfo else o.replace(tzinfo=UTC)).isoformat()
        if isinstance(o, date):
            return o.isoformat()
        return DefaultJSONProvider.default(o)


MAX_BODY = 64 * 1024  # the largest legitimate body (a convention with its contract) is a few kilobytes
HTTP_PROBLEMS = {
    400: ("requete_invalide", "La requête est mal formée."),
    404: ("not_found", "Ressource inconnue."),
    405: ("methode_non_permise", "Méthode non permise sur cette ressource."),
    413: ("corps_trop_gros", f"Le corps de la requête dépasse {MAX_BODY // 1024} Kio."),
}


def problem(e: ProvisioningError) -> dict:
    """RFC 9457 problem details, plus our stable fields (error, error_description, violations) that the
    consoles and the CLI print the same way."""
    return {"type": f"urn:mon-compte-partenaire:probleme:{e.code}", "title": e.description, "status": e.status,
            "code": e.code, **e.as_dict()}


def create_app(service: Provisioning, verifier: TokenVerifier, scim_verifier: TokenVerifier | None = None, *,
               metrics_token: str = "") -> Flask:
    """`scim_verifier`: tokens for /scim/v2 (audience « scim »); without it, SCIM is not served.
    `metrics_token`: /metrics (Prometheus) answers this bearer token, with the registry's queues (issue 30)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.json = IsoJSON(app)
    app.extensions["provisioning"] = service
    app.extensions["verifier"] = verifier

    from provisioning import logs, metrics
    from provisioning.api import access_requests, audit, documents, meta, partners, reviews
    logs.install_flask(app, "api")  # first: every request, refused ones included, has its id (issue 30 §2)
    metrics.instrument(app, "api", metrics_token, lambda: service.uow())  # the queues, read at each scrape
    for module in (meta, partners, audit, reviews, documents, access_requests):
        app.register_blueprint(module.bp)

    @app.before_request
    def larger_body_for_imports():
        if request.endpoint == "partners.import_users":  # a CSV of up to 2,000 users (Flask ≥ 3.1: per request)
            request.max_content_length = user_import.MAX_BYTES
        if request.endpoint == "documents.verify_document":  # a signed PDF (issue 31)
            request.max_content_length = documents.MAX_PDF

    @app.before_request
    def authenticate():
        if request.endpoint in meta.PUBLIC_ENDPOINTS or request.endpoint in access_requests.PUBLIC:
            return None
        actor = verifier.verify(request.headers.get("Authorization"))
        # issue 25: a person's standing in the registry now, on every request (an operator acts as himself)
        g.actor = actor if actor.system else service.current_actor(actor)
        return None

    @app.errorhandler(ProvisioningError)
    def on_error(e: ProvisioningError):
        resp = jsonify(problem(e))
        resp.status_code = e.status
        resp.mimetype = "application/problem+json"
        if e.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="mon-compte-partenaire"'
        return resp

    @app.errorhandler(HTTPException)
    def on_http_error(e: HTTPException):  # 404, 405, 413, … as problem details too, never an HTML page
        code, text = HTTP_PROBLEMS.get(e.code or 500, ("erreur_http", e.name))
        resp = on_error(ProvisioningError(code, text, e.code or 500))
        if isinstance(e, MethodNotAllowed) and e.valid_methods:
            resp.headers["Allow"] = ", ".join(e.valid_methods)
        return resp

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    def on_database_down(_e):  # issue 14: the registry's database restarting is a 503 to retry, not a bug
        app.logger.warning("registry database unreachable: %s", _e.__class__.__name__)
        resp = on_error(Unavailable("La base du registre est momentanément injoignable ; rien n'a été enregistré, "
                                    "réessayez dans quelques instants."))
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(Exception)
    def on_bug(e: Exception):
        app.logger.exception("unexpected error")  # the details stay in the log, never in the answer
        return on_error(ProvisioningError("erreur_interne", "Erreur interne ; elle est journalisée.", 500))

    @app.after_request
    def headers(resp):
        resp.headers["Server"] = "mon-compte-partenaire"  # no server or Python version disclosed
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        return resp

    if scim_verifier is not None:  # issue 16: SCIM 2.0 beside the API, same process, its own audience
        from werkzeug.middleware.dispatcher import DispatcherMiddleware

        from provisioning.scim.app import ScimApplication
        app.extensions["scim"] = ScimApplication(service.engine, scim_verifier, today=service.today)
        app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]  # Flask's documented way
            app.wsgi_app, {"/scim": app.extensions["scim"]})
    return app


def serve() -> None:
    """`mcp-provisioning-api`: the API on MCP_API_PORT (default 8090) with the configured adapters."""
    from provisioning import logs, settings
    from provisioning.app_factory import build
    from provisioning.config import Config
    from provisioning.jobs import start_daily
    from provisioning.production import dev_server
    logs.configure("api")
    st = settings.at_start()
    cfg = Config.from_env(st)  # a typo or a wrong value refused first, all listed (and demo values in production)
    dev_server("mcp-provisioning-api", "provisioning.api.wsgi:app")
    svc = build(cfg)
    start_daily(svc)
    app = from_config(cfg, svc)
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        sys_version = ""  # no Python version in the Server header (development server only; production: gunicorn)

    srv = make_server(st.api_host, st.api_port, app,
                      threaded=True, request_handler=Quiet)
    srv._server_version = "mon-compte-partenaire"
    srv.serve_forever()


def from_config(cfg, svc) -> Flask:
    jwks = f"{cfg.keycloak.server_url}/realms/{cfg.keycloak.realm}/protocol/openid-connect/certs"
    return create_app(svc, TokenVerifier(cfg.issuer, cfg.api_audience, jwks_url=jwks),
                      TokenVerifier(cfg.issuer, cfg.scim_audience, jwks_url=jwks), metrics_token=cfg.metrics_token)
