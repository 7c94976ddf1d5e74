"""What the HTTP benchmarks share: Keycloak's forms read as a browser would, PKCE, the admin session from the
environment, and a timed load of N threads."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time
from urllib.parse import urljoin

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
