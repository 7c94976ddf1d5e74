"""OIDC for the three applications (Authlib): code flow with PKCE S256, state and nonce; ID-token signature,
issuer, audience and nonce checked; server-side sessions with a 30-minute idle limit; RP-initiated logout
by POST (no token in a URL) and back-channel logout by Keycloak's session id."""

from __future__ import annotations

import functools
import secrets
import time
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from provisioning import logs as request_logs
from provisioning.api.auth import key_id
from sso_demo import catalogue, logs
from sso_demo.config import AppConfig, acr_level
from sso_demo.sessions import SessionStore, SqlSessionStore, make_store

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass(frozen=True)
class Principal:
    sub: str
    username: str
    first_name: str
    last_name: str
    partner: str | None
    caf: str | None
    roles: frozenset[str]  # realm roles as is, client roles as "client:role"
    acr: str = ""  # the login's level (« niveau-2 »: with the second factor; issue 31 asks it to sign)

    def has(self, role: str) -> bool:
        return role in self.roles

    @property
    def level(self) -> int:
        return acr_level(self.acr)

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.username


def safe_next(target: str | None) -> str:
    """Only a same-origin path, after normalisation: never an absolute or scheme-relative URL, in any
    encoding (no open redirect). Anything doubtful gives "/": a return address is a convenience."""
    if not target or len(target) > 2048:
        return "/"
    decoded = target
    for _ in range(3):  # %252F%252F… decodes in steps: look at every layer
        if "\\" in decoded or any(unicodedata.category(c)[0] in "CZ" for c in decoded):  # controls, spaces
            return "/"
        path = decoded.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith("/") or "//" in path or "/./" in path + "/" or "/../" in path + "/":
            return "/"
        parts = urlsplit(decoded)
        if parts.scheme or parts.netloc:
            return "/"
        decoded, before = unquote(decoded), decoded
        if decoded == before:
            break
    else:
        return "/"  # still encoded after three layers: nobody needs that
    return target


def _cfg() -> AppConfig:
    return current_app.config["MCP"]


def _store() -> SessionStore | SqlSessionStore:
    return current_app.extensions["mcp_sessions"]


def _client():
    return current_app.extensions["mcp_oauth"].keycloak


REFUSED_CLIENT = ("invalid_client", "unauthorized_client")


def _rotating(current, following) -> None:
    """Issue 30 §5, a client secret rotated without failed logins: the instances are given the next secret
    (MCP_<APP>_CLIENT_SECRET_NEXT) before Keycloak has it; once Keycloak has it, the code exchange that the
    current secret no longer passes is made again with the next one (the code is not spent: Keycloak checks the
    client before the code). Afterwards the next secret becomes the current one."""
    fetch = current.fetch_access_token

    def fetch_with_either(**params):
        try:
            return fetch(**params)
        except OAuthError as e:
            if e.error not in REFUSED_CLIENT:
                raise
            return following.fetch_access_token(**params)
    current.fetch_access_token = fetch_with_either


_KEYS_ASKED: dict[str, float] = {}  # per application: when an unknown key id last made it fetch the realm's keys
KEYS_AT_MOST_EVERY = 10.0  # seconds: a forged token naming an unknown key costs Keycloak nothing more


def _keys_for(raw: str) -> KeySet:
    """The realm's keys, able to check this token: the cached set, fetched again when it does not hold the
    token's key (Keycloak rotated its keys: a logout token signed with the new key must still end the session;
    authlib's cache was kept for the process's life), at most every few seconds."""
    keys = KeySet.import_key_set(_client().fetch_jwk_set())
    kid = key_id(raw)
    if kid is None or kid in {k.kid for k in keys.keys}:
        return keys  # known, or not a token naming a key: decoding says
    app, now = current_app.name, time.monotonic()
    if now - _KEYS_ASKED.get(app, -KEYS_AT_MOST_EVERY) < KEYS_AT_MOST_EVERY:
        return keys
    _KEYS_ASKED[app] = now
    return KeySet.import_key_set(_client().fetch_jwk_set(force=True))


def _roles(access_token: str, keys: KeySet) -> tuple[frozenset[str], dict]:
    claims = jwt.decode(access_token, keys, algorithms=["RS256", "PS256", "ES256"]).claims
    roles = set((claims.get("realm_access") or {}).get("roles", []))
    for client, access in (claims.get("resource_access") or {}).items():
        roles |= {f"{client}:{r}" for r in access.get("roles", [])}
    return frozenset(roles), claims


def on_login(app: Flask, hook) -> None:
    """Run `hook(app_session)` once after each login: pages then read `app_session.facts`, never a remote
    service per request."""
    app.extensions["mcp_on_login"].append(hook)


def current_principal() -> Principal | None:
    return getattr(g, "principal", None)


def signed_in() -> Principal:
    """The person signed in, in a view behind login_required or require_role (anonymous there: 401)."""
    p = current_principal()
    if p is None:
        abort(401)
    return p


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_principal() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def require_role(*roles: str):
    """Server-side check on every protected route (menus are only a convenience)."""
    def deco(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not any(current_principal().has(r) for r in roles):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return deco


def init_auth(app: Flask, cfg: AppConfig) -> None:
    logs.install()
    request_logs.install_flask(app, cfg.client_id)  # first: every request has its id, sent on to the API
    app.config["MCP"] = cfg
    app.secret_key = cfg.secret_key
    app.config.update(SESSION_COOKIE_NAME=cfg.cookie_name, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SECURE=cfg.secure_cookies, SESSION_COOKIE_SAMESITE="Lax",
                      PERMANENT_SESSION_LIFETIME=cfg.idle_timeout)
    oauth = OAuth(app)
    for name, secret in zip(("keycloak", "keycloak_next"), cfg.client_secrets, strict=False):
        oauth.register(name, client_id=cfg.client_id, client_secret=secret, server_metadata_url=cfg.metadata_url,
                       client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"})
    if len(cfg.client_secrets) == 2:
        _rotating(oauth.keycloak, oauth.keycloak_next)
    app.extensions["mcp_oauth"] = oauth
    app.extensions["mcp_sessions"] = make_store(cfg.session_url, cfg.idle_timeout, cfg.client_id)
    app.extensions["mcp_on_login"] = []  # callables(AppSession) run once after each login (on_login)
    app.register_blueprint(bp)

    @app.before_request
    def load_principal():
        g.principal = None
        g.app_session = None
        if request.endpoint in ("static", "metrics"):  # a style sheet, a font, a scrape: no session (nor its database)
            return
        s = _store().get(session.get("sid"))
        if s is None:
            if session.get("sid"):
                session.pop("sid", None)
                g.session_expired = True
        else:
            g.app_session = s
            g.principal = Principal(**s.user)
        if request.method == "POST" and request.endpoint != "auth.backchannel_logout":
            sent = request.form.get("csrf_token", "")
            expected = session.get("csrf_token", "")
            if not expected or not secrets.compare_digest(sent, expected):
                abort(400, description="Jeton anti-falsification (CSRF) absent ou invalide.")

    @app.context_processor
    def inject():
        if "csrf_token" not in session:
            session["csrf_token"] = secrets.token_urlsafe(32)
        p = current_principal()
        return {"principal": p, "csrf_token": session["csrf_token"], "cfg": cfg,
                "idle_minutes": cfg.idle_timeout // 60,
                "nav_services": lambda: catalogue.nav(p) if p else []}  # read only where a page shows the menu

    @app.after_request
    def security_headers(resp):
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; frame-ancestors 'none'; form-action 'self' "
                                + cfg.issuer.split("/realms/")[0])
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @app.errorhandler(403)
    def forbidden(_e):
        return render_template("errors/403.html"), 403

    @app.errorhandler(400)
    def bad_request(e):
        return render_template("errors/400.html", message=getattr(e, "description", "")), 400


bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.get("/login")
def login():
    session["next"] = safe_next(request.args.get("next"))
    extra = {"acr_values": _cfg().required_acr} if _cfg().required_acr else {}  # step-up (issue 13)
    if request.args.get("niveau") == "2":  # a step asked of this login only: a signature (issue 31)
        extra = {"acr_values": "niveau-2"}
    return _client().authorize_redirect(_cfg().base_url + "/auth/callback", **extra)


def acr_refusal(required: str, *claim_sets: dict) -> str | None:
    """Issue 13: every token this app accepts must carry at least the level it requires (the ID token and the
    access token alike); a level-1 token is refused even if it is otherwise valid."""
    if not required:
        return None
    need = acr_level(required)
    for claims in claim_sets:
        if acr_level(claims.get("acr")) < need:
            return f"niveau d'authentification {claims.get('acr') or 'absent'} insuffisant (requis : {required})"
    return None


@bp.get("/callback")
def callback():
    if request.args.get("error") == "access_denied":
        return render_template("errors/rules_refused.html"), 403  # R15: refusing the usage rules means no access
    cfg = _cfg()
    try:
        token = _client().authorize_access_token(claims_options={
            "iss": {"essential": True, "value": cfg.issuer},
            "aud": {"essential": True, "value": cfg.client_id},
        })
    except (OAuthError, JoseError) as e:
        return render_template("errors/login_failed.html", reason=getattr(e, "error", e.__class__.__name__)), 400
    info = token["userinfo"]
    roles, access = _roles(token["access_token"], _keys_for(token["access_token"]))
    if refused := acr_refusal(cfg.required_acr, info, access):
        current_app.logger.warning("connexion refusée : %s", refused)
        return render_template("errors/second_factor_required.html"), 403
    user = dict(sub=info["sub"], username=info.get("preferred_username", info["sub"]),
                first_name=info.get("given_name", ""), last_name=info.get("family_name", ""),
                partner=access.get("partner"), caf=access.get("caf"), roles=roles,
                acr=str(access.get("acr") or info.get("acr") or ""))
    old = session.get("sid")
    if old:
        _store().drop(old)
    s = _store().create(user=user, kc_sid=info.get("sid", ""), id_token=token["id_token"],
                        access_token=token["access_token"], refresh_token=token.get("refresh_token", ""),
                        access_expires=time.time() + int(token.get("expires_in", 60)))
    g.app_session = s
    for hook in current_app.extensions["mcp_on_login"]:  # what a page needs from elsewhere: read once, here
        hook(s)
    _store().save(s)  # what the hooks read is kept with the session (shared by every instance)
    nxt = session.get("next", "/")
    session.clear()  # new session identity after login (no fixation)
    session["sid"] = s.id
    session["csrf_token"] = secrets.token_urlsafe(32)
    session.permanent = True
    action = ACTION_OUTCOMES.get((request.args.get("kc_action"), request.args.get("kc_action_status")))
    if action:
        flash(*action)
    return redirect(safe_next(nxt))


# Keycloak's application-initiated actions come back with kc_action and kc_action_status
ACTION_OUTCOMES = {
    ("UPDATE_PASSWORD", "success"): ("Votre mot de passe a été changé.", "info"),
    ("UPDATE_PASSWORD", "cancelled"): ("Votre mot de passe n'a pas été changé.", "info"),
    ("UPDATE_PASSWORD", "error"): ("Le changement de mot de passe a échoué ; réessayez.", "erreur"),
}


@bp.get("/mot-de-passe")
@login_required
def change_password():
    """« Changer mon mot de passe »: Keycloak's own password page (its policy and history apply), then back
    here (application-initiated action UPDATE_PASSWORD)."""
    session["next"] = "/"
    return _client().authorize_redirect(_cfg().base_url + "/auth/callback", kc_action="UPDATE_PASSWORD")


@bp.post("/logout")
def logout():
    """Ends this app's session, then Keycloak's SSO session (which back-channel logs out the others)."""
    s = g.app_session
    session.clear()
    if s is None:
        return redirect(url_for("auth.logged_out"))
    _store().drop(s.id)
    meta = _client().load_server_metadata()
    return render_template("auth/end_session.html", action=meta["end_session_endpoint"], id_token=s.id_token,
                           post_logout=_cfg().base_url + "/auth/logged-out", client_id=_cfg().client_id)


@bp.get("/logged-out")
def logged_out():
    return render_template("auth/logged_out.html")


@bp.post("/backchannel-logout")
def backchannel_logout():
    raw = request.form.get("logout_token", "")
    cfg = _cfg()
    try:
        token = jwt.decode(raw, _keys_for(raw), algorithms=["RS256", "PS256", "ES256"])
        jwt.JWTClaimsRegistry(leeway=30, iss={"essential": True, "value": cfg.issuer},
                              aud={"essential": True, "value": cfg.client_id}).validate(token.claims)
    except (JoseError, ValueError):
        return {"error": "invalid_request"}, 400
    c = token.claims
    if BACKCHANNEL_EVENT not in (c.get("events") or {}) or "nonce" in c or not (c.get("sid") or c.get("sub")):
        return {"error": "invalid_request"}, 400
    _store().drop_kc_session(c.get("sid"), c.get("sub"))
    return "", 200


def user_access_token() -> str | None:
    """The user's access token for the provisioning API, refreshed when it is about to expire."""
    s = g.app_session
    if s is None:
        return None
    if time.time() > s.access_expires - 20 and s.refresh_token:
        meta = _client().load_server_metadata()
        for secret in _cfg().client_secrets:  # the next one only while the client's secret is being rotated
            r = requests.post(meta["token_endpoint"], timeout=10, data={
                "grant_type": "refresh_token", "refresh_token": s.refresh_token,
                "client_id": _cfg().client_id, "client_secret": secret})
            if r.status_code != 401:
                break
        if r.status_code != 200:
            return None
        body = r.json()
        s.access_token, s.refresh_token = body["access_token"], body.get("refresh_token", s.refresh_token)
        s.access_expires = time.time() + int(body.get("expires_in", 60))
        _store().save(s)
    return s.access_token
