"""Issue 15: one look from login to logout. The key pages — Keycloak's login, usage rules and password pages,
the security page, the AFAS dashboard, both consoles, an error page — at 1,280 and 375 px against committed
screenshots (tests/browser/visual/, tolerance in visual.py), each with zero axe-core violation; every one of
them, and the footer's pages, holds from 320 to 1,440 px without sideways scrolling; the same header and
footer on Keycloak's pages as on the applications'."""

from __future__ import annotations

import pytest

from tests.browser.axe import violations
from tests.browser.fonts import HOSTILE_FAMILY, launch_chromium
from tests.browser.helpers import login
from tests.browser.visual import check

WIDTHS = {"1280": (1280, 800), "375": (375, 812)}
MASK = ("#derniere-connexion",)  # the previous login's date and time
HIDE = ("main table", ".table-defile", "#etat-keycloak", ".pagination", "main dl", "#compte-utilisateurs",
        "#aucun-resultat")  # what the other tests fill or change
PAGES = [  # (name, user or None, app, path)
    ("securite", "lea.petit", "portail", "/"),
    ("afas", "marc.martin", "afas", "/"),
    ("console-partenaire", "jeanne.dupont", "portail", "/console/12345678900015/utilisateurs"),
    ("console-caf", "caf.admin", "portail", "/caf/"),
    ("erreur-404", None, "portail", "/page-inexistante"),
]


def _no_sideways_scroll(page, name: str) -> None:
    for width in (320, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        culprits = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                             (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : ''))""")
        assert overflow <= 0, f"{name} at {width} px scrolls sideways by {overflow} px: {culprits}"


def _look(page, name: str, mask=(), hide=()) -> None:
    for label, (w, h) in WIDTHS.items():
        page.set_viewport_size({"width": w, "height": h})
        page.evaluate("() => window.scrollTo(0, 0)")
        check(page, f"{name}-{label}", mask, hide)
    _no_sideways_scroll(page, name)
    assert violations(page) == [], name


@pytest.mark.parametrize("name, user, app, path", PAGES, ids=[p[0] for p in PAGES])
def test_application_pages_look_as_committed(stack, new_page, name, user, app, path):
    page = new_page(bypass_csp=True)
    if user:
        stack.ready_user(user)
        login(new_page(), stack.urls[app] + "/", user)  # a login before: the security page says when, whatever ran first
        login(page, stack.urls[app] + "/", user)
    page.goto(stack.urls[app] + path)
    assert page.locator("header.mcp-entete .mcp-marque").is_visible()
    assert page.locator("footer.mcp-pied a").count() == 4
    _look(page, name, MASK, HIDE)


def test_keycloak_pages_look_like_the_portal(stack, new_page):
    """Login, usage rules, personal password: our header and footer on Keycloak's pages, the same look."""
    admin = stack.kc_admin
    made = [admin.create_user("visuel.regles", "Visuel-Regles-2026!", temporary=False, first="Vera",
                              last="Visuel", required_actions=["TERMS_AND_CONDITIONS"]),
            admin.create_user("visuel.motdepasse", "Visuel-Provisoire-2026!", temporary=True, first="Victor",
                              last="Visuel", required_actions=["UPDATE_PASSWORD"])]
    try:
        page = new_page(bypass_csp=True)
        page.goto(stack.urls["portail"] + "/auth/login")
        page.wait_for_selector("#kc-login")
        header = page.locator("#kc-header .mcp-marque")
        assert header.is_visible() and "Mon Compte Partenaire" in header.inner_text()
        footer = page.locator("#mcp-pied a")
        assert [footer.nth(i).get_attribute("href") for i in range(footer.count())] == [
            stack.urls["portail"] + p for p in ("/mentions-legales", "/donnees-personnelles", "/accessibilite", "/aide")]
        # issue 29: the language menu is named in French for screen readers (it was « languages »)
        assert page.query_selector("[aria-label='languages']") is None
        assert page.query_selector("[aria-label='Langues']") is not None
        _look(page, "keycloak-connexion")

        page.fill("#username", "visuel.regles")
        page.fill("#password", "Visuel-Regles-2026!")
        page.click("#kc-login")
        page.wait_for_selector("#kc-accept")
        _look(page, "keycloak-regles")
        assert "rgb(179, 38, 30)" in page.eval_on_selector("#kc-decline", "e => getComputedStyle(e).color"), \
            "refusing the usage rules (which ends the access) is styled as destructive"

        page = new_page(bypass_csp=True)
        page.goto(stack.urls["portail"] + "/auth/login")
        page.fill("#username", "visuel.motdepasse")
        page.fill("#password", "Visuel-Provisoire-2026!")
        page.click("#kc-login")
        page.wait_for_selector("#password-new")
        _look(page, "keycloak-mot-de-passe")
    finally:
        for uid in made:
            admin.delete(f"/users/{uid}")


def test_the_footer_pages_hold_from_320_to_1440_px(stack, new_page):
    page = new_page(bypass_csp=True)
    for path in ("/mentions-legales", "/donnees-personnelles", "/accessibilite", "/aide"):
        page.goto(stack.urls["portail"] + path)
        _no_sideways_scroll(page, path)
        assert violations(page) == [], path


def test_the_look_does_not_depend_on_the_machines_fonts(stack, playwright_session, tmp_path):
    """Issue 24: on a machine whose fonts answer every family a page could ask the system for (sans-serif,
    Arial, Liberation Sans…) with a serif face, and list every font installed (fonts-liberation included where
    it is), an application page and Keycloak's login page match the same references: they draw only with the
    fonts they serve."""
    browser = launch_chromium(playwright_session, "hostile", tmp_path)
    try:
        page = browser.new_context(locale="fr-FR").new_page()
        page.goto(stack.urls["portail"] + "/page-inexistante")
        widths = page.evaluate("""() => ['sans-serif', 'Arial', 'Liberation Sans', 'serif', 'monospace'].map(f => {
              const c = document.createElement('canvas').getContext('2d');
              c.font = `20px ${f}`; return c.measureText('Mon Compte Partenaire, habilitations').width; })""")
        # the machine is hostile indeed: whatever a page asks of the system, it gets the serif face
        assert len(set(widths)) == 1, (HOSTILE_FAMILY, widths)
        for label, (w, h) in WIDTHS.items():
            page.set_viewport_size({"width": w, "height": h})
            check(page, f"erreur-404-{label}", redraw=False)
        page.goto(stack.urls["portail"] + "/auth/login")
        page.wait_for_selector("#kc-login")
        for label, (w, h) in WIDTHS.items():
            page.set_viewport_size({"width": w, "height": h})
            page.evaluate("() => window.scrollTo(0, 0)")
            check(page, f"keycloak-connexion-{label}", redraw=False)
    finally:
        browser.close()
