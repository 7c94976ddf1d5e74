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


CONTRACT = {  # the contrat de service's seven contacts (R4), all required before the partner signs
    "partner_administrator": ("Sam Perrin", "sam.perrin@lucioles.example"),
    "partner_security_officer": ("Rémi Durand", "remi.durand@lucioles.example"),
    "partner_cnil_referent": ("Zoé Garnier", "zoe.garnier@lucioles.example"),
    "caf_administrator": ("Claire Fontaine", "claire.fontaine@caf75.example"),
    "caf_portal_manager": ("Hugo Lambert", "hugo.lambert@caf75.example"),
    "caf_security_officer": ("Nadia Chevalier", "nadia.chevalier@caf75.example"),
    "caf_cnil_referent": ("Inès Robert", "ines.robert@caf75.example"),
}


def fill_contract(page, skip: tuple[str, ...] = ()) -> None:
    for key, (name, email) in CONTRACT.items():
        if key not in skip:
            page.fill(f"#{key}_name", name)
            page.fill(f"#{key}_email", email)
    if "incident_procedure" not in skip:
        page.fill("#incident_procedure", "Prévenir la Caf dans l'heure ; le responsable sécurité confirme par écrit.")
