"""Issue 6, Caf console in headless Chromium: partners of its Caf, a new partner and its convention from
preparation to activation, suspensions, R9 reports, audit, CSV export of a bulletin; axe-core clean."""

import csv
import io
import re
import time
from pathlib import Path

from sso_demo.legal import typo  # pages print French spacing (issue 29 §8): expected texts too
from tests.browser.axe import violations
from tests.browser.helpers import fill_contract, keycloak_follows, login
from tests.support.paperwork import signed_by_both

A, B, C = "12345678900015", "98765432100015", "55566677700019"


def _caf(stack, new_page):
    stack.ready_user("caf.admin")
    page = new_page(bypass_csp=True)
    login(page, stack.urls["portail"] + "/", "caf.admin")
    page.click("#lien-caf")
    page.wait_for_url(stack.urls["portail"] + "/caf/")
    return page


def test_partners_of_the_caf_and_csv_export_of_a_bulletin(stack, new_page):
    page = _caf(stack, new_page)
    table = page.inner_text("#partenaires")
    assert A in table and B in table
    assert violations(page) == []
    page.click("text=Centre de loisirs Les Hirondelles")
    assert "Convention CONV-751-2026-0001 — active" in page.inner_text("main")
    assert violations(page) == []
    with page.expect_download() as dl:
        page.click("#convention-CONV-751-2026-0001 >> text=exporter les identifiants (CSV) >> nth=0")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8-sig")), delimiter=";"))
    assert {r["identifiant"] for r in rows} >= {"lea.petit", "paul.bernard", "marc.martin"}
    assert next(r for r in rows if r["identifiant"] == "marc.martin")["profils"] == "approbateur"


def test_new_partner_and_its_convention_from_preparation_to_activation(stack, new_page):
    page = _caf(stack, new_page)
    page.click("text=Nouveau partenaire")
    for field, value in (("siret", "123"), ("name", "Association Les Lucioles"), ("identifiant", "sam.perrin"),
                         ("first_name", "Sam"), ("last_name", "Perrin"), ("email", "sam.perrin@lucioles.example")):
        page.fill(f"#{field}", value)
    page.click("form[novalidate] button")
    assert "14 chiffres" in page.inner_text("#siret-erreur")
    assert page.input_value("#name") == "Association Les Lucioles"
    assert violations(page) == []
    page.fill("#siret", C)
    page.click("form[novalidate] button")
    page.wait_for_url(f"{stack.urls['portail']}/caf/partenaires/{C}")
    keycloak_follows(page)  # stored at once; no account, no codes before a convention signed by both (issue 29)
    assert "dès que la convention sera signée" in page.inner_text("main")
    assert stack.kc_admin.user_by_username("sam.perrin") is None
    assert not [m for m in stack.smtp.mails if "sam.perrin@lucioles.example" in m.recipients]

    page.click("text=Préparer une convention")
    page.click("form[novalidate] button")  # nothing filled: every fault listed
    assert page.query_selector("#erreurs") or page.query_selector(".erreur-champ")
    page.fill("#number", "CONV-751-2026-0003")
    page.check("input[name=services][value=AFAS]")
    fill_contract(page, skip=("caf_cnil_referent", "incident_procedure"))  # prepared now, completed later
    page.fill("#caf_cnil_referent_email", "pas-un-courriel")
    page.fill("#caf_portal_manager_phone", "appelez-moi")
    page.click("form[novalidate] button")
    assert "n'est pas valide" in page.inner_text("#caf_cnil_referent_email-erreur")  # next to its field
    assert "téléphone" in page.inner_text("#caf_portal_manager_phone-erreur").lower()
    page.fill("#caf_portal_manager_phone", "")
    page.fill("#caf_cnil_referent_email", "")
    assert violations(page) == []
    page.click("form[novalidate] button")
    page.wait_for_url(f"{stack.urls['portail']}/caf/partenaires/{C}")
    section = "#convention-CONV-751-2026-0003"
    assert "préparée" in page.inner_text(f"{section} .etat")
    missing = page.inner_text("#contrat-incomplet-CONV-751-2026-0003")
    assert "Référent Cnil de la Caf" in missing and "Procédure de traitement des incidents" in missing
    assert "Enregistrer la signature" not in page.inner_text(section)  # issue 31: signatures are the documents'
    page.click(f"{section} >> text=Émettre les documents")  # refused: the contract is incomplete
    assert "il manque le référent Cnil de la Caf, la procédure d'incident" in page.inner_text("main")
    assert page.inner_text(f"{section} .etat") == "préparée"
    page.click(f"{section} >> text=Compléter le contrat de service")
    assert page.input_value("#partner_administrator_name") == "Sam Perrin"  # what was entered stays
    assert page.input_value("#partner_security_officer_phone") == "01 23 45 67 89"
    fill_contract(page)
    assert violations(page) == []
    page.click("form[novalidate] button")
    assert not page.query_selector("#contrat-incomplet-CONV-751-2026-0003")
    page.click(f"{section} >> text=Émettre les documents")
    page.wait_for_load_state()
    assert page.locator(f"{section} tr.document").count() == 3  # convention, contrat, the AFAS bulletin
    signed_by_both(stack.provisioning, C, "CONV-751-2026-0003")  # signing itself: test_new_partner_story
    page.reload()
    assert page.inner_text(f"{section} .etat") == "signée par la Caf"
    page.click(f"{section} >> text=Activer")
    page.wait_for_load_state()
    assert page.inner_text(f"{section} .etat") == "active"
    history = page.inner_text(f"{section} .historique")
    assert "signée par la Caf" in history and "caf.admin" in history
    assert re.search(r"signée par la Caf le \d{2}/\d{2}/\d{4} à \d{2}h\d{2} \(heure de Paris\)", history), history
    assert "Claire Fontaine" in page.inner_text(section)
    keycloak_follows(page)  # the activation's groups and roles reach Keycloak: the line says so in place
    assert typo("Habilitations dans Keycloak : appliqué") in page.inner_text("#etat-keycloak")
    # her account exists since the convention awaited her signature (issue 31), and her two mails left
    assert stack.kc_admin.user_by_username("sam.perrin") is not None
    deadline = time.monotonic() + 30
    while len([m for m in stack.smtp.mails if "sam.perrin@lucioles.example" in m.recipients]) < 2:
        assert time.monotonic() < deadline, "her codes did not leave after the signatures"
        time.sleep(0.2)


def test_suspend_and_reactivate_a_service_and_a_user(stack, new_page):
    page = _caf(stack, new_page)
    page.goto(f"{stack.urls['portail']}/caf/partenaires/{A}")
    page.click("#convention-CONV-751-2026-0001 >> text=Suspendre le service CDAP")
    assert "perdent à l'instant leur accès" in page.inner_text("#liste-consequences")  # asked first
    assert violations(page) == []
    page.click("#confirmer")
    assert "(service suspendu)" in page.inner_text("#convention-CONV-751-2026-0001")
    keycloak_follows(page)
    lea = stack.kc_admin.user_by_username("lea.petit")["id"]
    assert f"/partenaires/{A}/CDAP Consulter" not in {g["path"] for g in stack.kc_admin.get(f"/users/{lea}/groups")}
    page.click("#convention-CONV-751-2026-0001 >> text=Rétablir le service CDAP")
    keycloak_follows(page)
    assert f"/partenaires/{A}/CDAP Consulter" in {g["path"] for g in stack.kc_admin.get(f"/users/{lea}/groups")}

    page.click("#utilisateurs >> text=paul.bernard")  # his page: Keycloak's view of the account, the actions
    assert page.inner_text("#etat-compte").startswith(("actif", "en attente de première connexion"))
    assert page.inner_text("#second-facteur").startswith("aucun")  # the Caf sees the second factor too
    assert violations(page) == []
    page.click("#suspension-paul\\.bernard")
    paul = stack.kc_admin.user_by_username("paul.bernard")["id"]
    assert "ne peut plus se connecter" in page.inner_text("#liste-consequences")
    page.click("#annuler")  # changing one's mind changes nothing
    assert stack.kc_admin.get(f"/users/{paul}")["enabled"] is True and "Suspendre paul.bernard" in page.inner_text("main")
    page.click("#suspension-paul\\.bernard")
    page.click("#confirmer")
    assert "paul.bernard suspendu" in page.inner_text("main")
    keycloak_follows(page)
    assert stack.kc_admin.get(f"/users/{paul}")["enabled"] is False
    page.click("#suspension-paul\\.bernard")
    keycloak_follows(page)
    assert stack.kc_admin.get(f"/users/{paul}")["enabled"] is True

    page.click("text=Signalements")
    reports = page.inner_text("#signalements")
    assert "habilitations@caf75.example" in reports and "paul.bernard suspendu" in reports
    assert violations(page) == []
    page.click("text=Journal")
    assert "Suspension d'un service" in page.inner_text("#journal") and "caf.admin" in page.inner_text("#journal")
    assert violations(page) == []
    page.fill("#personne", "paul.bernard")  # who did what to whom, before → after
    page.click("form.filtres button")
    journal = page.inner_text("#journal")
    assert typo("état : actif → suspendu") in journal and typo("état : suspendu → actif") in journal
    assert "lea.petit" not in journal
    with page.expect_download() as dl:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8-sig")), delimiter=";"))
    assert rows and {r["personne"] for r in rows} == {"paul.bernard"}
    assert any(r["action"] == "Suspension d'un utilisateur" and "actif → suspendu" in r["changement"] for r in rows)
    page.fill("#du", "2999-01-01")
    page.click("form.filtres button")
    assert "Aucune entrée ne correspond à ces filtres" in page.inner_text("#journal-vide")
    assert violations(page) == []


def test_the_caf_sees_who_accepted_the_usage_rules(stack, keycloak, new_page):
    from provisioning.domain.model import User
    from tests.browser.conftest import OPERATOR
    from tests.support.oidc import Redirect, Rp
    stack.provisioning.create_user(OPERATOR, A, User("eva.klein", "Eva", "Klein", "eva.klein@hirondelles.example"))
    stack.settle()
    rp = Rp(keycloak.issuer, "portail", "demo-only-portail-secret", stack.urls["portail"] + "/auth/callback")
    _, page = rp.authorize()
    page = rp.login(page, "eva.klein", stack.provisional_password("eva.klein@hirondelles.example"))
    page = rp.submit(page, {"accept": "Accepter"})  # her first connection: the rules, then her password
    assert isinstance(rp.submit(page, {"password-new": "Eva-Personnel-2026!", "password-confirm": "Eva-Personnel-2026!"}),
                      Redirect)

    page = _caf(stack, new_page)
    page.click("text=Règles d'usage")
    rows = {r.query_selector_all("td")[1].inner_text(): r.inner_text()
            for r in page.query_selector_all("#acceptations tbody tr")}
    assert "2016-06-20" in rows["eva.klein"] and re.search(r"\d{2}/\d{2}/\d{4} à \d{2}h\d{2}", rows["eva.klein"])
    assert "pas encore acceptées" in rows["b.lea.petit"]  # every user of the Caf's partners is listed
    assert violations(page) == []
