"""Shared state and steps of the browser stories (a plain module, so tests and fixtures share one copy)."""

from __future__ import annotations

import pyotp

from tests.support.totp import fresh_code

PASSWORDS: dict[str, str] = {}  # username -> the password the tests set
RESETS: dict[str, int] = {}


def login(page, url: str, username: str, password: str | None = None) -> None:
    page.goto(url)
    page.fill("#username", username)
    page.fill("#password", password or PASSWORDS[username])
    page.click("#kc-login")
    page.wait_for_load_state()
    second_factor(page, username)


TOTPS: dict = {}        # username -> pyotp.TOTP enrolled by the tests (issue 13)


def second_factor(page, username: str) -> None:
    """After reaching a level-2 service (CDAP): enrol an authenticator app the first time (its key read as
    text), give its code the next times; nothing when the page asks neither."""
    page.wait_for_load_state()
    if page.query_selector("#mcp-second-factor-form"):
        page.check("#mcp-choice-totp")
        page.click("#mcp-second-factor-continue")
        page.wait_for_selector("#kc-totp-settings")
        page.click("#mode-manual")
        totp = TOTPS[username] = pyotp.TOTP(page.inner_text("#kc-totp-secret-key").replace(" ", ""))
        page.fill("#totp", fresh_code(totp))
        page.click("#saveTOTPBtn")
        page.wait_for_selector("#kc-recovery-codes-list")
        page.check("#kcRecoveryCodesConfirmationCheck")
        page.click("#saveRecoveryAuthnCodesBtn")
        page.wait_for_load_state()
    elif page.query_selector("input#otp") and username in TOTPS:
        page.fill("#otp", fresh_code(TOTPS[username]))
        page.click("#kc-login")
        page.wait_for_load_state()
        if page.query_selector("#kc-recovery-codes-list"):  # never saved before: asked again (issue 29)
            page.check("#kcRecoveryCodesConfirmationCheck")
            page.click("#saveRecoveryAuthnCodesBtn")
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
    if "partner_security_officer" not in skip:  # issue 29: a contact's phone (the others leave it empty)
        page.fill("#partner_security_officer_phone", "01 23 45 67 89")
    if "incident_procedure" not in skip:
        page.fill("#incident_procedure", "Prévenir la Caf dans l'heure ; le responsable sécurité confirme par écrit.")


def log_in_to_the_three(page, urls: dict[str, str], username: str) -> None:
    """One login at the portal, then CDAP (its second factor) and AFAS in the same browser: three sessions."""
    login(page, urls["portail"] + "/", username)
    page.goto(urls["cdap"] + "/")
    second_factor(page, username)
    page.goto(urls["afas"] + "/")
