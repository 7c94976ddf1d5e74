"""Pages in milliseconds (issue 11 §1): the portal's security page (R17) against a static file served by the
same process and Keycloak's userinfo endpoint, at concurrency 1 and 8, three repetitions each; numbers
printed, nothing asserted.

    KEYCLOAK_URL=http://localhost:8180 KEYCLOAK_ADMIN=admin KEYCLOAK_ADMIN_PASSWORD=… \\
        .venv/bin/python benchmarks/bench_pages.py [--seconds 5] [--repeat 3]

Needs the test Keycloak (its realm registers the portal on port 18081). The API and the portal run as they are
deployed: gunicorn, one process of 8 threads each (the portal's sessions live in its process). It deletes
every object carrying the ownership marker in that realm first: never point it at a Keycloak whose data matters.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests
from common import REALM, admin_from_env, form, load, localhost_is_secure, pkce

from devstack.admin import remove_managed
from devstack.keycloak import TEST_APP_PORTS
from provisioning.desired_file import load_file
from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway
from provisioning.notify.notifier import MemoryNotifier
from provisioning.services import Actor, Provisioning
from provisioning.store.uow import make_engine, migrate

ROOT = Path(__file__).resolve().parent.parent
NATIONAL = Actor("bench", system=True)
USER, PASSWORD = "lea.petit", "Banc-Essai-Pages-2026!"
API_PORT = 18090


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer in {timeout} s")


def _gunicorn(target: str, port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:provisioning.gunicorn_conf",
                             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8",
                             "--access-logfile", "/dev/null", target],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def login(portal: str) -> requests.Session:
    """The real browser flow over HTTP: the portal's /auth/login, Keycloak's form, back with the code."""
    s = requests.Session()
    r = s.get(portal + "/auth/login", timeout=10)
    localhost_is_secure(s)
    action, fields = form(r.text, r.url)
    r = s.post(action, data={**fields, "username": USER, "password": PASSWORD}, timeout=10)
    localhost_is_secure(s)
    if not r.url.startswith(portal):  # first login of this user: the usage rules (R15) to accept once
        action, fields = form(r.text, r.url)
        r = s.post(action, data={**fields, "accept": "Accepter"}, timeout=10)
    assert r.url.startswith(portal) and "derniere-connexion" in r.text, (r.url, r.text[:400])
    return s


def code_token(browser: requests.Session, keycloak: str, portal: str) -> str:
    """An access token of the portal client for the logged-in user (authorization code + PKCE, answered at
    once from the SSO session), for Keycloak's userinfo baseline."""
    verifier, challenge = pkce()
    base = f"{keycloak}/realms/{REALM}/protocol/openid-connect"
    redirect = portal + "/auth/callback"
    r = browser.get(base + "/auth", allow_redirects=False, timeout=10, params={
        "client_id": "portail", "response_type": "code", "scope": "openid", "redirect_uri": redirect,
        "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16), "code_challenge": challenge,
        "code_challenge_method": "S256"})
    code = parse_qs(urlparse(r.headers["Location"]).query)["code"][0]
    return requests.post(base + "/token", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier,
        "client_id": "portail", "client_secret": "demo-only-portail-secret"}).json()["access_token"]


def measure(get, seconds: float, concurrency: int) -> tuple[float, float]:
    """(p50 in ms, requests per second) of `get(session_index)` run by `concurrency` threads for `seconds`."""
    latencies, elapsed = load(get, seconds, concurrency)
    return statistics.median(latencies) * 1000, len(latencies) / elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keycloak", default=os.environ.get("KEYCLOAK_URL", "http://localhost:8180"))
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sessions", choices=("memory", "postgres"), default="memory",
                    help="the portal's sessions: in its process, or in a throwaway local PostgreSQL (production)")
    args = ap.parse_args()
    admin = admin_from_env(args.keycloak)
    remove_managed(admin)
    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    db = f"sqlite:///{tmp / 'registry.sqlite'}"
    engine = make_engine(db)
    migrate(engine)
    svc = Provisioning(engine, lambda: KeycloakGateway(KeycloakConfig(args.keycloak,
                       client_secret="demo-only-provisioning-secret")), MemoryNotifier())
    svc.import_registry(NATIONAL, load_file(str(ROOT / "examples/desired-state.yaml"), date.today()))
    svc.reconcile(NATIONAL)
    u = admin.user_by_username(USER)
    admin.put(f"/users/{u['id']}/reset-password", json={"type": "password", "value": PASSWORD, "temporary": False})
    admin.put(f"/users/{u['id']}", json={"requiredActions": []})

    portal = f"http://localhost:{TEST_APP_PORTS['portail']}"
    env = {**os.environ, "KEYCLOAK_URL": args.keycloak, "MCP_DATABASE_URL": db, "MCP_SMTP_PORT": "1",
           "MCP_RECONCILE": "worker", "MCP_PORTAIL_URL": portal, "MCP_API_URL": f"http://127.0.0.1:{API_PORT}",
           "MCP_INSECURE_COOKIES": "1", "MCP_PORTAIL_SESSION_KEY": "b" * 40, "PYTHONPATH": str(ROOT)}
    pg = None
    if args.sessions == "postgres":
        sys.path.insert(0, str(ROOT))
        from tests.support.postgres import LocalPostgres
        pg = LocalPostgres()
        env["MCP_PORTAIL_SESSION_URL"] = pg.start()
        print("the portal's sessions in PostgreSQL")
    procs = [_gunicorn("provisioning.api.wsgi:app", API_PORT, env), _gunicorn("sso_demo.wsgi:portail",
                                                                                TEST_APP_PORTS["portail"], env)]
    try:
        _wait(f"http://127.0.0.1:{API_PORT}/openapi.json")
        _wait(portal + "/static/style.css")
        sessions = [login(portal) for _ in range(8)]  # one browser per thread, each with its own session
        token = code_token(sessions[0], args.keycloak, portal)
        userinfo = f"{args.keycloak}/realms/{REALM}/protocol/openid-connect/userinfo"
        kc = [requests.Session() for _ in range(8)]
        targets = {
            "security page (portal /)": lambda i: sessions[i].get(portal + "/", timeout=10),
            "static file, same process": lambda i: sessions[i].get(portal + "/static/style.css", timeout=10),
            "Keycloak userinfo": lambda i: kc[i].get(userinfo, headers={"Authorization": f"Bearer {token}"},
                                                     timeout=10),
        }
        for name, get in targets.items():  # warm up (connections, caches)
            r = get(0)
            assert r.status_code == 200 and len(r.history) == 0, (name, r.status_code)  # served, not redirected
            assert "portal" not in name or "derniere-connexion" in r.text  # the real page, R17 line included
            measure(get, 0.5, 2)
        print(f"{args.repeat} repetitions of {args.seconds:.0f} s; median [min–max]")
        results = {}
        for conc in (1, 8):
            for name, get in targets.items():
                runs = [measure(get, args.seconds, conc) for _ in range(args.repeat)]
                results[(name, conc)] = runs
                p50 = [r[0] for r in runs]
                rps = [r[1] for r in runs]
                print(f"  c={conc} {name:28s} p50 {statistics.median(p50):6.1f} ms [{min(p50):.1f}–{max(p50):.1f}]"
                      f"   {statistics.median(rps):6.0f} req/s [{min(rps):.0f}–{max(rps):.0f}]", flush=True)
        page1, static1 = results[("security page (portal /)", 1)], results[("static file, same process", 1)]
        page8, static8 = results[("security page (portal /)", 8)], results[("static file, same process", 8)]
        ratio = statistics.median(a[0] / b[0] for a, b in zip(page1, static1, strict=True))
        share = statistics.median(a[1] / b[1] for a, b in zip(page8, static8, strict=True))
        print(f"goal c=1: page p50 ≤ 3× the static file's — measured {ratio:.2f}×")
        print(f"goal c=8: page throughput ≥ 40 % of the static file's — measured {share:.0%}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
        remove_managed(admin)
        if pg is not None:
            pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
