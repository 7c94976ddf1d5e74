"""Issue 12 §4, the consoles as people use them daily, in headless Chromium: a locked account shown with
until when and unlocked; 2,000 users in one partner searched without accents, sorted and paged; tables read
at 375 px wide; an equipment refused with its reasons then removed after a confirmation. axe-core clean."""

from __future__ import annotations

import re
import time

from provisioning.domain.model import Convention, ConventionStatus, User
from provisioning.store.uow import UnitOfWork
from sso_demo.legal import typo  # pages print French spacing (issue 29 §8): expected texts too
from tests.browser.axe import violations
from tests.browser.conftest import OPERATOR
from tests.browser.helpers import login

A = "12345678900015"
SCALE = "33300044400047"


def _clean(page, what: str) -> None:
    found = violations(page)
    assert found == [], f"{what}: {found}"


def test_a_locked_account_says_until_when_and_its_administrator_unlocks_it(stack, new_page):
    stack.provisioning.create_user(OPERATOR, A, User("yann.lopez", "Yann", "Lopez", "yann.lopez@hirondelles.example"))
    stack.settle()
    password = stack.ready_user("yann.lopez")
    intruder = new_page()
    login(intruder, stack.urls["portail"] + "/", "yann.lopez")  # he has used his account once
    intruder.click("text=Se déconnecter")
    intruder.wait_for_load_state()
    for _ in range(5):  # Keycloak's brute-force protection: 5 failures lock for 5 minutes
        intruder.goto(stack.urls["portail"] + "/")
        intruder.fill("#username", "yann.lopez")
        intruder.fill("#password", "Pas-Le-Bon-2026!")
        intruder.click("#kc-login")
        intruder.wait_for_load_state()
        time.sleep(1.1)  # slower than the quick-login check: only the failure count matters

    stack.ready_user("jeanne.dupont")
    admin = new_page(bypass_csp=True)
    login(admin, f"{stack.urls['portail']}/console/{A}/utilisateurs/yann.lopez", "jeanne.dupont")
    state = admin.inner_text("#etat-compte")
    assert re.fullmatch(r"verrouillé après des échecs de connexion jusqu'à \d{2}/\d{2}/\d{4} à \d{2}h\d{2} "
                        r"\(heure de Paris\)", state), state
    _clean(admin, "user page of a locked account")
    admin.click("#deverrouiller")
    assert "Compte de yann.lopez déverrouillé" in admin.inner_text("main")
    assert admin.inner_text("#etat-compte") == "actif"
    assert "Déverrouillage après tentatives de connexion" in admin.inner_text("#historique-personne")
    login(intruder, stack.urls["portail"] + "/", "yann.lopez", password)  # the right password gets in again
    assert intruder.url.startswith(stack.urls["portail"]) and intruder.query_selector("#derniere-connexion")


def test_two_thousand_users_searched_sorted_paged_and_readable_at_375_px(stack, new_page):
    from provisioning.domain.model import Partner
    admin_user = User("rose.martin", "Rose", "Martin", "rose.martin@grande.example")
    stack.provisioning.create_partner(OPERATOR, Partner(SCALE, "Grande Fédération", "751", admin_user.identifiant, [],
                                                        [admin_user], conventions=[  # signed: accounts open
                                                            Convention("CONV-751-2026-0500", ConventionStatus.ACTIVE)]))
    stack.settle()
    people = [User(f"agent.{i:04d}", f"Prénom{i:04d}", f"Nom{i:04d}", f"agent.{i:04d}@grande.example")
              for i in range(1, 2000)]
    people[776] = User("agent.0777", "Élodie", "Lefèvre", "agent.0777@grande.example")
    with UnitOfWork(stack.provisioning.engine) as uow:  # the registry only: Keycloak is not what is measured
        p, version = uow.registry.partner_with_version(SCALE)
        p.users += people
        uow.registry.save_partner(p, version, reindex=False)
        uow.commit()
    try:
        stack.ready_user("rose.martin")
        page = new_page(bypass_csp=True)
        login(page, f"{stack.urls['portail']}/console/{SCALE}/utilisateurs", "rose.martin")
        assert page.inner_text("#compte-utilisateurs") == "2000 utilisateurs."
        assert len(page.query_selector_all("#utilisateurs tbody tr")) == 20
        assert "Page 1 sur 100" in page.inner_text("nav[aria-label=Pagination]")
        page.click("text=Page suivante")
        assert "Page 2 sur 100" in page.inner_text("nav[aria-label=Pagination]")
        page.fill("#q", "ELODIE LEFEVRE")  # no accents, capitals: found all the same
        page.click("form[role=search] button")
        assert page.inner_text("#compte-utilisateurs") == typo("1 utilisateur pour « ELODIE LEFEVRE ».")
        assert "agent.0777" in page.inner_text("#utilisateurs")
        page.fill("#q", "zzz")
        page.click("form[role=search] button")
        assert typo("Aucun utilisateur ne correspond à « zzz »") in page.inner_text("#aucun-resultat")
        page.goto(f"{stack.urls['portail']}/console/{SCALE}/utilisateurs?tri=nom&ordre=desc")
        first = page.inner_text("#utilisateurs tbody tr >> nth=0")
        assert "Nom1999" in first
        assert page.get_attribute("#utilisateurs th[aria-sort]", "aria-sort") == "descending"
        _clean(page, "2,000 users, sorted")
        page.click("#utilisateurs th >> text=Identifiant")
        assert "agent.0001" in page.inner_text("#utilisateurs tbody tr >> nth=0")

        page.set_viewport_size({"width": 375, "height": 800})
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
        cell = page.locator("#utilisateurs tbody tr >> nth=0 >> td >> nth=2")
        assert page.evaluate("e => getComputedStyle(e, '::before').content", cell.element_handle()) == '"Groupes\u00a0: "'
        _clean(page, "users at 375 px")
        page.goto(f"{stack.urls['portail']}/console/{SCALE}/journal")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        _clean(page, "journal at 375 px")
    finally:
        with UnitOfWork(stack.provisioning.engine) as uow:  # leave the shared stack as it was
            p, version = uow.registry.partner_with_version(SCALE)
            p.users = [u for u in p.users if u.identifiant == "rose.martin"]
            uow.registry.save_partner(p, version, reindex=False)
            uow.commit()


def test_an_equipment_is_refused_with_its_reasons_then_removed_after_a_confirmation(stack, new_page):
    stack.ready_user("caf.admin")
    page = new_page(bypass_csp=True)
    login(page, f"{stack.urls['portail']}/caf/partenaires/{A}/equipements/nouveau", "caf.admin")
    page.fill("#code", "eaje 1")
    page.check("input[name=type][value=EAJE]")
    page.fill("#sites", "Crèche des Lilas\nCrèche des Lilas")
    page.click("form[novalidate] button")
    assert "majuscules, chiffres ou tirets" in page.inner_text("#code-erreur")  # every fault, each by its field
    assert "obligatoire" in page.inner_text("#name-erreur") or "vide" in page.inner_text("#name-erreur")
    assert "Le même site figure deux fois" in page.inner_text("#sites-erreur")
    assert page.input_value("#sites") == "Crèche des Lilas\nCrèche des Lilas"  # what was typed stays
    _clean(page, "refused equipment form")
    page.fill("#code", "EAJE-0001")
    page.fill("#name", "Crèche Les Lilas")
    page.fill("#sites", "Crèche des Lilas, 75020 Paris")
    page.click("form[novalidate] button")
    assert "EAJE" in page.inner_text("#equipement-EAJE-0001")
    page.click("#equipement-EAJE-0001 >> text=Retirer")
    assert "Ses associations (fournisseurs de données, approbateur) sont supprimées" in page.inner_text(
        "#liste-consequences")
    _clean(page, "confirmation of a removal")
    page.click("#confirmer")
    assert not page.query_selector("#equipement-EAJE-0001")
    assert "Équipement EAJE-0001 retiré" in page.inner_text("main")
