"""Shared state and steps of the browser stories (a plain module, so tests and fixtures share one copy)."""

from __future__ import annotations

PASSWORDS: dict[str, str] = {}  # username -> the password the tests set
RESETS: dict[str, int] = {}


def login(page, url: str, username: str, password: str | None = None) -> None:
    page.goto(url)
    page.fill("#username", username)
    page.fill("#password", password or PASSWORDS[username])
    page.click("#kc-login")
    page.wait_for_load_state()


def keycloak_follows(page, timeout: float = 30_000) -> None:
    """After a console change (stored, answered « en attente »): the page's state line turns « appliqué »
    in place once the reconcile worker has applied it (reconcile.js polls), without reloading."""
    page.wait_for_function(
        "() => { const s = document.querySelector('#etat-keycloak strong'); return s && s.textContent === 'appliqué'; }",
        timeout=timeout)
