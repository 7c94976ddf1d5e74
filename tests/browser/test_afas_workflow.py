"""The AFAS declaration end to end, three people holding the three profiles (R7), in headless Chromium."""

import time

from sso_demo.legal import typo  # pages print French spacing (issue 29 §8): expected texts too
from tests.browser.helpers import login

YEAR = 2025


def _open(stack, new_page, user):
    stack.ready_user(user)
    page = new_page()
    login(page, f"{stack.urls['afas']}/equipements/ALSH-0001/{YEAR}", user)
    assert page.url.endswith(f"/equipements/ALSH-0001/{YEAR}"), page.url
    return page


def _reopen(stack, page):
    """Navigate again (a reload after a POST would re-submit it)."""
    page.goto(f"{stack.urls['afas']}/equipements/ALSH-0001/{YEAR}")


def _fill(page, values: dict[str, int]):
    for k, v in values.items():
        page.fill(f"[name={k}]", str(v))


def test_declaration_from_entry_to_transmission(stack, new_page):
    lea = _open(stack, new_page, "lea.petit")        # activity provider
    paul = _open(stack, new_page, "paul.bernard")    # financial provider
    marc = _open(stack, new_page, "marc.martin")     # approver

    # each sees only the form of their profile
    assert lea.query_selector("#enregistrer-activite") and not lea.query_selector("#enregistrer-financier")
    assert paul.query_selector("#enregistrer-financier") and not paul.query_selector("#enregistrer-activite")
    assert marc.query_selector("#approuver") and not marc.query_selector("#enregistrer-activite")

    marc.click("#approuver")
    assert "Les données d'activité ne sont pas saisies" in marc.inner_text("#avis")

    # a refused form keeps what was typed and shows the error next to its field
    _fill(lea, {"jours_ouverture": 200, "capacite": 20, "enfants_inscrits": 60, "heures_realisees": "beaucoup"})
    lea.click("#enregistrer-activite")
    assert "nombre entier" in lea.inner_text("#act-heures_realisees-erreur")
    assert lea.input_value("#act-capacite") == "20"

    # 50 000 hours exceed 20 places x 200 days x 10 h: an anomaly to justify
    _fill(lea, {"heures_realisees": 50000})
    lea.click("#enregistrer-activite")
    assert lea.query_selector("#anomalie-ACT_HEURES_SUPERIEURES_CAPACITE")

    _reopen(stack, paul)
    _fill(paul, {"charges": 300000, "produits": 310000, "participations_familles": 40000})
    paul.click("#enregistrer-financier")
    assert "Aucune anomalie" not in paul.inner_text("section[aria-labelledby=t-anomalies]")

    _reopen(stack, marc)
    marc.click("#approuver")
    assert "1 anomalie(s) de cohérence ne sont pas justifiées" in marc.inner_text("#avis")
    assert marc.inner_text("#statut").startswith("Déclaration en cours")

    _reopen(stack, lea)
    lea.fill("#anomalie-ACT_HEURES_SUPERIEURES_CAPACITE textarea", "Séjours à la journée complète avec accueil "
             "périscolaire : les heures incluent le périscolaire.")
    lea.click("#anomalie-ACT_HEURES_SUPERIEURES_CAPACITE button")
    assert "Justifiée par lea.petit" in lea.inner_text("#anomalie-ACT_HEURES_SUPERIEURES_CAPACITE")

    # issue 29 §3: the approver sends it back for correction; each provider is mailed the reason
    _reopen(stack, marc)
    marc.fill("#motif", "court")
    marc.click("#renvoyer")
    assert "au moins 10 caractères" in marc.inner_text("#motif-erreur")
    reason = "Les charges oublient les centimes de la facture de décembre."
    marc.fill("#motif", reason)
    marc.click("#renvoyer")
    assert "Renvoyée pour correction" in marc.inner_text("#statut") and reason in marc.inner_text("#motif-renvoi")
    token = marc.eval_on_selector("input[name=csrf_token]", "e => e.value")  # a second click: not mailed twice
    again = marc.request.post(f"{stack.urls['afas']}/equipements/ALSH-0001/{YEAR}/renvoi",
                              form={"csrf_token": token, "motif": reason + " (bis)"})
    assert again.status == 409
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sent = [m for m in stack.smtp.mails if "à corriger" in m.subject]
        if {r for m in sent for r in m.recipients} >= {"lea.petit@hirondelles.example",
                                                         "paul.bernard@hirondelles.example"}:
            break
        time.sleep(0.3)
    assert any(reason in m.body and "paul.bernard@hirondelles.example" in m.recipients for m in sent), sent
    assert not [m for m in stack.smtp.mails if "(bis)" in m.body]
    _reopen(stack, paul)
    assert reason in paul.inner_text("#motif-renvoi")
    paul.fill("[name=charges]", "300 000,50")  # amounts with cents, typed the French way
    paul.click("#enregistrer-financier")
    assert paul.inner_text("#statut").startswith("Déclaration en cours")
    assert paul.input_value("#fin-charges") == "300\u202f000,50"

    _reopen(stack, marc)
    marc.click("#approuver")  # issue 29: what leaves is listed first, then confirmed
    listed = marc.inner_text("#liste-consequences")
    assert typo("Heures enfants réalisées : 50\u202f000") in listed
    assert typo("Total des charges : 300\u202f000,50\u00a0€") in listed
    assert "1 anomalie(s) de cohérence et leur justification" in listed
    marc.click("#confirmer")
    assert "Transmise à la Caf" in marc.inner_text("#statut") and "par marc.martin" in marc.inner_text("#statut")
    history = marc.inner_text("#historique")
    for who, what in (("lea.petit", "saisie des données d'activité"), ("paul.bernard", "saisie des données financières"),
                      ("marc.martin", "approbation refusée"), ("marc.martin", "renvoi pour correction"),
                      ("marc.martin", "approbation et transmission")):
        assert typo(f"{who} : {what}") in history

    # transmitted: read-only, even for a request typed by hand
    _reopen(stack, lea)
    assert not lea.query_selector("#enregistrer-activite")
    token = lea.eval_on_selector("input[name=csrf_token]", "e => e.value")
    resp = lea.request.post(f"{stack.urls['afas']}/equipements/ALSH-0001/{YEAR}/activite", form={
        "csrf_token": token, "jours_ouverture": "1", "capacite": "1", "enfants_inscrits": "1", "heures_realisees": "1"})
    assert resp.status == 409

    dash = new_page()
    login(dash, f"{stack.urls['afas']}/tableau-de-bord", "paul.bernard")
    row = dash.inner_text("#tableau")
    assert "ALSH-0001" in row and "50\u202f000" in row and "300\u202f000,50\u00a0€" in row and "6,00\u00a0€" in row
    assert "transmise" in row
    dash.set_viewport_size({"width": 375, "height": 800})  # issue 29 §7: cards, no word cut in half
    assert dash.evaluate("document.documentElement.scrollWidth") <= 375
    assert min(dash.eval_on_selector_all("#tableau td", "cs => cs.map(c => c.offsetWidth)")) >= 250


def test_a_provider_cannot_post_the_other_profile_data(stack, new_page):
    paul = _open(stack, new_page, "paul.bernard")
    token = paul.eval_on_selector("input[name=csrf_token]", "e => e.value")
    resp = paul.request.post(f"{stack.urls['afas']}/equipements/ALSH-0001/2024/activite", form={
        "csrf_token": token, "jours_ouverture": "1", "capacite": "1", "enfants_inscrits": "1", "heures_realisees": "1"})
    assert resp.status == 403
    resp = paul.request.post(f"{stack.urls['afas']}/equipements/ALSH-0001/2024/financier", form={
        "charges": "1", "produits": "1", "participations_familles": "0"})
    assert resp.status == 400  # no CSRF token: refused before anything else


def test_a_provider_associated_with_no_equipment_is_told_why_and_whom_to_ask(stack, new_page):
    """Issue 29 §3: not an empty page — the reason and who associates people to equipments."""
    from provisioning.domain.model import Group, Profile, Service, User
    from tests.browser.conftest import OPERATOR
    svc = stack.provisioning
    svc.create_user(OPERATOR, "12345678900015", User("noe.perret", "Noé", "Perret", "noe.perret@hirondelles.example"))
    svc.set_membership(OPERATOR, "12345678900015", "CONV-751-2026-0001", Service.AFAS, "noe.perret",
                       {Group.AFAS_DECLARER}, {Profile.ACTIVITE})
    stack.settle()
    try:
        stack.ready_user("noe.perret")
        page = new_page()
        login(page, f"{stack.urls['afas']}/", "noe.perret")
        text = page.inner_text("#aucune-association")
        assert "aucun équipement" in text and "AFAS Habiliter" in text
    finally:  # her profile leaves the bulletin's count (R8) for the stories that follow
        svc.set_membership(OPERATOR, "12345678900015", "CONV-751-2026-0001", Service.AFAS, "noe.perret", set(), set())
        stack.settle()
