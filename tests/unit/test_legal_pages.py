"""Issue 15: the footer's four pages, public in every app (Keycloak's pages link to them before anyone is
known); the personal-data notice states the realm's real retention of connection events; French spacing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from sso_demo import afas, cdap, portal
from sso_demo.legal import PAGES, typo, typo_html
from tests.unit.test_pages_make_no_remote_call import _cfg

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("factory", [portal.create_app, cdap.create_app, afas.create_app])
def test_every_app_serves_the_four_pages_without_login_and_links_them_from_its_footer(tmp_path, factory):
    cfg = _cfg(tmp_path)
    client = factory(cfg).test_client()
    for path, title, _ in PAGES:
        r = client.get(path)
        assert r.status_code == 200, path
        soup = BeautifulSoup(r.get_data(as_text=True), "html.parser")
        assert soup.find("h1").get_text(strip=True) == title
        footer = soup.find("footer", class_="mcp-pied")
        hrefs = [a["href"] for a in footer.find_all("a")]
        assert hrefs == [cfg.portal_url + p for p, _, _ in PAGES]
        assert soup.find("a", class_="mcp-evitement")["href"] == "#contenu"


def test_the_privacy_notice_states_the_retention_the_realm_really_applies(tmp_path):
    realm = json.loads((ROOT / "realm-config" / "mon-compte-partenaire-realm.json").read_text())
    days = realm["eventsExpiration"] // 86400
    page = portal.create_app(_cfg(tmp_path)).test_client().get("/donnees-personnelles").get_data(as_text=True)
    assert f"{days}\u00a0jours" in page or f"{days} jours" in page
    assert "article 6-1-e" in page and "CNIL" in page


def test_the_accessibility_statement_has_the_rgaa_parts(tmp_path):
    text = BeautifulSoup(portal.create_app(_cfg(tmp_path)).test_client().get("/accessibilite").get_data(as_text=True),
                         "html.parser").get_text(" ")
    for part in ("État de conformité", "non conforme", "Contenus non accessibles", "Voies de recours",
                 "Défenseur des droits"):
        assert part in text, part


def test_french_spacing_in_text_never_in_markup():
    assert typo("Accessibilité : non conforme ; vraiment ! « Oui » ?") == \
        "Accessibilité\u00a0: non conforme\u202f; vraiment\u202f! «\u00a0Oui\u00a0»\u202f?"
    assert typo("https://x.example:8443/a") == "https://x.example:8443/a"  # a URL's colon is no punctuation
    assert str(typo_html('<a href="https://x.example/?a=1 ;b">lien : ici</a>')) == \
        '<a href="https://x.example/?a=1 ;b">lien\u00a0: ici</a>'


def test_the_legal_pages_follow_french_spacing(tmp_path):
    client = portal.create_app(_cfg(tmp_path)).test_client()
    for path, _, _ in PAGES:
        text = BeautifulSoup(client.get(path).get_data(as_text=True), "html.parser").find("article").get_text()
        for bad in (" :", " ;", " !", " ?", "« ", " »"):
            assert bad not in text, (path, bad)


def test_keycloak_french_texts_follow_french_spacing():
    """The login theme's French messages (outside their HTML tags): no ordinary space before : ; ! ? nor
    inside « »."""
    import re
    path = ROOT / "keycloak-theme" / "mon-compte-partenaire" / "login" / "messages" / "messages_fr.properties"
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" not in line or line.lstrip().startswith("#"):
            continue
        key, value = line.split("=", 1)
        text = "".join(p for p in re.split(r"(<[^>]+>)", value) if not p.startswith("<"))
        assert typo(text) == text, key
