"""Password logins per second (issue 11 §4): the real browser flow (authorization code + PKCE through
Keycloak's login form, our first-login guard in the flow, code exchanged for tokens) against Keycloak's direct
grant in the same run; then the same direct grant with passwords hashed by pbkdf2-sha512 instead of the
argon2 default, to show what the hashing costs. Three repetitions, median and spread; nothing asserted.

    KEYCLOAK_URL=http://localhost:8180 KEYCLOAK_ADMIN=admin KEYCLOAK_ADMIN_PASSWORD=… \\
        .venv/bin/python benchmarks/bench_logins.py [--seconds 10] [--repeat 3] [--concurrency 4]

For the run only, it enables the direct grant on the `portail` client and changes the realm's hashing
policy, then puts both back; it creates bench users (bench.login.N) and deletes them. Never point it at a
Keycloak whose data matters.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import requests
from common import REALM, admin_from_env, code_flow_login, load

from devstack.keycloak import TEST_APP_PORTS

CLIENT, SECRET = "portail", "demo-only-portail-secret"
REDIRECT = f"http://localhost:{TEST_APP_PORTS['portail']}/auth/callback"
PASSWORD = "Banc-Essai-Connexions-2026!"
CURRENT = [PASSWORD]  # the password hashed with the realm's current algorithm (history forbids reusing one)


def browser_login(base: str, username: str) -> None:
    """One login as a browser does it, from a fresh cookie jar: form, credentials, code, tokens."""
    code_flow_login(requests.Session(), base, (CLIENT, SECRET), REDIRECT, username, PASSWORD, plain_http=True)


def direct_login(base: str, username: str) -> None:
    t = requests.post(base + "/token", timeout=30, data={
        "grant_type": "password", "client_id": CLIENT, "client_secret": SECRET, "username": username,
        "password": CURRENT[0], "scope": "openid"})
    assert t.status_code == 200, t.text[:200]


def rate(login, base: str, users: list[str], seconds: float, concurrency: int) -> float:
    """Completed logins per second, `concurrency` people logging in again and again."""
    latencies, elapsed = load(lambda i: login(base, users[i % len(users)]), seconds, concurrency)
    return len(latencies) / elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keycloak", default=os.environ.get("KEYCLOAK_URL", "http://localhost:8180"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    admin = admin_from_env(args.keycloak)
    base = f"{args.keycloak}/realms/{REALM}/protocol/openid-connect"
    users = [f"bench.login.{i}" for i in range(args.concurrency)]
    ids = []
    client = admin.client(CLIENT)
    realm = admin.get("")
    try:
        for name in users:
            ids.append(admin.create_user(name, PASSWORD, temporary=False, email=f"{name}@bench.example"))
        admin.put(f"/clients/{client['id']}", json={**client, "directAccessGrantsEnabled": True})
        for name in users:  # first login of each: usage rules accepted once, outside the measure
            browser_login(base, name)
        cpus = os.cpu_count()
        print(f"{args.repeat} × {args.seconds:.0f} s at concurrency {args.concurrency}, {cpus} CPU(s) shared by "
              "Keycloak and this client; median [min–max] logins/s")
        figures = {}
        for name, login in (("browser flow (code + PKCE, form, guard)", browser_login),
                            ("direct grant (password)", direct_login)):
            runs = [rate(login, base, users, args.seconds, args.concurrency) for _ in range(args.repeat)]
            figures[name] = statistics.median(runs)
            print(f"  argon2 (default)  {name:40s} {statistics.median(runs):6.1f} [{min(runs):.1f}–{max(runs):.1f}]",
                  flush=True)
        admin.put("", json={**realm, "passwordPolicy": realm["passwordPolicy"] + " and hashAlgorithm(pbkdf2-sha512)"})
        CURRENT[0] = "Banc-Essai-Pbkdf2-2026!"
        for uid in ids:  # hashed with the new algorithm when a password is set again
            admin.put(f"/users/{uid}/reset-password", json={"type": "password", "value": CURRENT[0],
                                                            "temporary": False})
        runs = [rate(direct_login, base, users, args.seconds, args.concurrency) for _ in range(args.repeat)]
        print(f"  pbkdf2-sha512     {'direct grant (password)':40s} {statistics.median(runs):6.1f} "
              f"[{min(runs):.1f}–{max(runs):.1f}]")
        print(f"Keycloak's published sizing: about 15 password logins/s per vCPU, so about {15 * cpus} here "
              "(on dedicated CPUs)")
    finally:
        admin.put("", json=realm)  # the hashing policy as it was
        admin.put(f"/clients/{client['id']}", json={**client, "directAccessGrantsEnabled": False})
        for uid in ids:
            admin.delete(f"/users/{uid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
