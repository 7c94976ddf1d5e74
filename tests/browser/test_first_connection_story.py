"""Issue 4: the user's story from the seed, in headless Chromium, with mails read from the SMTP server;
axe-core finds no accessibility violation on any page the story shows."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from provisioning.domain.model import User
from provisioning.typography import typo  # mails leave with French spacing (issue 29 §8): expected texts too
from tests.browser.axe import violations
from tests.browser.conftest import OPERATOR

SIRET = "12345678900015"


@pytest.fixture
def newcomer(stack):
    def make(ident: str, first: str, last: str) -> tuple[str, str]:
        email = f"{ident}@hirondelles.example"
        stack.provisioning.create_user(OPERATOR, SIRET, User(ident, first, last, email))
        stack.settle()  # the worker creates the account; its two mails leave then
        mails = [m for m in stack.smtp.mails if email in m.recipients]
        assert [m.subject for m in mails] == [typo("« Mon Compte Partenaire » : votre identifiant"),
                                              typo("« Mon Compte Partenaire » : votre mot de passe provisoire")]
        assert ident in mails[0].body and not re.search(r"provisoire\s*:", mails[0].body)
        return ident, stack.provisional_password(email)
    return make


def _assert_accessible(page, what):
    found = violations(page)
    assert found == [], f"{what}: {found}"


def test_first_connection_story(stack, new_page, newcomer):
    ident, provisional = newcomer("nina.roux", "Nina", "Roux")
    page = new_page(bypass_csp=True)
    page.goto(stack.urls["portail"] + "/")
    _assert_accessible(page, "login page")
    assert page.get_attribute("html", "lang") == "fr"
    page.fill("#username", ident)
    page.fill("#password", provisional)
    page.click("#kc-login")

    # R15: the usage rules first, full text, Refuser then Accepter
    page.wait_for_selector("#kc-accept")
    text = page.inner_text("body").replace("\u00a0", " ").replace("\u202f", " ")  # French no-break spaces (issue 15)
    assert "«\u00a0Mon Compte Partenaire\u00a0»" in page.inner_text("#kc-page-title")
    assert "Règles d’usage liées à l’utilisation du portail « Mon Compte Partenaire »" in text or \
        "Règles d'usage liées à l'utilisation du portail « Mon Compte Partenaire »" in text
    assert "Vos engagements" in text and "loi relative à l’informatique" in text
    buttons = [b.inner_text().strip() for b in page.query_selector_all("form button, form input[type=submit]")]
    assert buttons[-2:] == ["Refuser", "Accepter"] or [b for b in buttons if b] == ["Refuser", "Accepter"]
    _assert_accessible(page, "usage rules page")
    page.click("#kc-accept")

    # R16: personal password (new + confirmation), with the seed's security text and French policy messages
    page.wait_for_selector("#password-new")
    assert "Par mesure de sécurité, veuillez maintenant personnaliser votre mot de passe." in page.inner_text("body")
    assert "Ne partagez jamais votre identifiant et votre mot de passe" in page.inner_text("#mcp-security")
    _assert_accessible(page, "personal password page")
    page.fill("#password-new", "court")
    page.fill("#password-confirm", "court")
    page.click("#kc-submit")
    page.wait_for_selector("#password-new")
    assert "caractères" in page.inner_text("body")  # French policy message
    page.fill("#password-new", "Nina-Personnel-2026!")
    page.fill("#password-confirm", "Nina-Personnel-2026!")
    page.click("#kc-submit")

    # R17: security page, first connection; R14: no service yet
    page.wait_for_url(stack.urls["portail"] + "/")
    assert page.inner_text("h1") == "Bienvenue Nina Roux dans l'espace sécurisé Mon Compte Partenaire"
    assert "première connexion" in page.inner_text("#derniere-connexion")
    assert "30 minutes" in page.inner_text("main")
    assert page.query_selector("#aucun-service")
    _assert_accessible(page, "security page")

    page.click("text=Se déconnecter")
    page.wait_for_url(stack.urls["portail"] + "/auth/logged-out")
    _assert_accessible(page, "logged-out page")
    page.goto(stack.urls["portail"] + "/")
    page.fill("#username", ident)
    page.fill("#password", "Nina-Personnel-2026!")
    page.click("#kc-login")
    page.wait_for_url(stack.urls["portail"] + "/")
    today = datetime.now(ZoneInfo("Europe/Paris")).strftime("%d/%m/%Y")
    assert f"Votre dernière connexion à ce service date du {today} à " in page.inner_text("#derniere-connexion")


def test_refusing_the_usage_rules_gives_no_access_and_says_why(stack, new_page, newcomer):
    ident, provisional = newcomer("omar.diallo", "Omar", "Diallo")
    page = new_page(bypass_csp=True)
    page.goto(stack.urls["portail"] + "/")
    page.fill("#username", ident)
    page.fill("#password", provisional)
    page.click("#kc-login")
    page.click("#kc-decline")
    page.wait_for_url(stack.urls["portail"] + "/auth/callback*")
    assert "Accès impossible sans acceptation des règles d'usage" in page.inner_text("h1")
    _assert_accessible(page, "rules refused page")
    uid = stack.kc_admin.user_by_username(ident)["id"]
    assert stack.kc_admin.get(f"/users/{uid}/sessions") == []


def test_expired_provisional_password_page_is_french_and_accessible(stack, new_page, newcomer):
    ident, provisional = newcomer("ines.morel", "Inès", "Morel")
    uid = stack.kc_admin.user_by_username(ident)["id"]
    user = stack.kc_admin.get(f"/users/{uid}")
    attrs = user["attributes"]
    attrs["mcp.provisional-expires-at"] = [str(int(datetime.now().timestamp()) - 60)]  # a minute ago
    stack.kc_admin.put(f"/users/{uid}", json={"attributes": attrs})
    page = new_page(bypass_csp=True)
    page.goto(stack.urls["portail"] + "/")
    page.fill("#username", ident)
    page.fill("#password", provisional)
    page.click("#kc-login")
    page.wait_for_load_state()
    assert "Votre mot de passe provisoire a expiré" in page.inner_text("body")
    _assert_accessible(page, "expired page")


def test_keycloak_error_page_is_french_and_accessible(stack, keycloak, new_page):
    page = new_page(bypass_csp=True)
    page.goto(f"{keycloak.issuer}/protocol/openid-connect/auth?client_id=inconnu&response_type=code"
              "&scope=openid&redirect_uri=http://localhost:18081/auth/callback")
    assert page.get_attribute("html", "lang") == "fr"
    assert "Client non trouvé." in page.inner_text("body")
    _assert_accessible(page, "error page")


def test_application_pages_are_accessible(stack, new_page):
    stack.ready_user("marc.martin")
    page = new_page(bypass_csp=True)
    page.goto(stack.urls["afas"] + "/")
    page.fill("#username", "marc.martin")
    page.fill("#password", stack.ready_user("marc.martin"))
    page.click("#kc-login")
    page.wait_for_url(stack.urls["afas"] + "/")
    for url in (stack.urls["afas"] + "/", stack.urls["afas"] + "/equipements/ALSH-0001/2024",
                stack.urls["afas"] + "/tableau-de-bord", stack.urls["afas"] + "/habilitations",
                stack.urls["cdap"] + "/", stack.urls["portail"] + "/"):
        page.goto(url)
        _assert_accessible(page, url)


def test_axe_does_find_violations_when_there_are(new_page):
    """Guards the accessibility checks above against a silent no-op."""
    page = new_page()
    page.set_content("<html><body><img src='x.png'><input type='text'></body></html>")
    ids = {v["id"] for v in violations(page)}
    assert {"image-alt", "html-has-lang"} <= ids
