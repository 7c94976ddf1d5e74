"""What the HTTP benchmarks share: Keycloak's forms read as a browser would, PKCE, the admin session from the
environment, and a timed load of N threads."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import statistics
import threading
import time
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from bs4 import BeautifulSoup

from devstack.admin import AdminSession

REALM = "mon-compte-partenaire"


def admin_from_env(keycloak: str) -> AdminSession:
    return AdminSession(keycloak, os.environ.get("KEYCLOAK_ADMIN", "admin"), os.environ["KEYCLOAK_ADMIN_PASSWORD"],
                        REALM)


def form(html: str, url: str) -> tuple[str, dict]:
    """The page's POST form: its absolute action and the values of its named inputs."""
    found = BeautifulSoup(html, "html.parser").find("form", attrs={"method": lambda m: m and m.lower() == "post"})
    assert found is not None, (url, BeautifulSoup(html, "html.parser").get_text(" ", strip=True)[:300])
    return urljoin(url, found["action"]), {i["name"]: i.get("value", "") for i in found.find_all("input")
                                           if i.get("name")}


def localhost_is_secure(s: requests.Session) -> None:
    """Browsers send Secure cookies to http://localhost; requests must be told."""
    for cookie in s.cookies:
        cookie.secure = False


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def code_flow_login(s: requests.Session, base: str, client: tuple[str, str], redirect: str, username: str,
                    password: str, *, plain_http: bool = False) -> dict:
    """One login as a browser does it: the login page, the credentials, Keycloak's redirects and the usage
    rules (accepted at a user's first login), then the code exchanged (PKCE) for tokens, which it returns.
    `base`: the realm's openid-connect endpoint; `client`: (id, secret)."""
    verifier, challenge = pkce()
    r = s.get(base + "/auth", timeout=30, params={
        "client_id": client[0], "response_type": "code", "scope": "openid", "redirect_uri": redirect,
        "state": secrets.token_urlsafe(16), "nonce": secrets.token_urlsafe(16), "code_challenge": challenge,
        "code_challenge_method": "S256"})
    r.raise_for_status()
    if plain_http:
        localhost_is_secure(s)
    action, fields = form(r.text, r.url)
    r = s.post(action, data={**fields, "username": username, "password": password}, allow_redirects=False, timeout=30)
    for _ in range(5):
        location = r.headers.get("Location", "")
        if location.startswith(redirect):
            break
        if r.status_code in (302, 303):
            r = s.get(location, allow_redirects=False, timeout=30)
        else:
            action, fields = form(r.text, r.url)
            r = s.post(action, data={**fields, "accept": "Accepter"}, allow_redirects=False, timeout=30)
    code = parse_qs(urlparse(r.headers["Location"]).query)["code"][0]
    t = s.post(base + "/token", timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier,
        "client_id": client[0], "client_secret": client[1]})
    assert t.status_code == 200 and "access_token" in t.json(), t.text[:200]
    return t.json()


def load(call, seconds: float, concurrency: int) -> tuple[list[float], float]:
    """`call(thread_index)` repeated by `concurrency` threads for `seconds`: (each call's latency, elapsed)."""
    latencies: list[float] = []
    lock, stop = threading.Lock(), time.monotonic() + seconds

    def loop(i: int) -> None:
        mine = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            call(i)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(concurrency)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.monotonic() - t0


def median_p90_ms(request, rounds: int, repeat: int):
    """`request()` timed `rounds` times, `repeat` runs: (median of the runs' medians, median of their p90s) in ms,
    and the last result. `request` asserts what it must."""
    runs, last = [], None
    for _ in range(repeat):
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            last = request()
            times.append(time.perf_counter() - t0)
        runs.append((statistics.median(times), sorted(times)[int(0.9 * (len(times) - 1))]))
    return statistics.median(m for m, _ in runs) * 1000, statistics.median(p for _, p in runs) * 1000, last
