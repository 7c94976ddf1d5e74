"""Issue 12, the whole story in headless Chromium for a partner that did not exist before the test, played on a
375 px phone and each page also looked at on a 1,280 px desktop (issue 29): the Caf
registers it, prepares and completes its convention, issues its documents (issue 31: both parties sign them, in
the browser in test_online_convention.py), activates it, declares its accueil de loisirs; the partner
administrator's first connection (the password rules ticked as she types), then a CSV import (a refused preview,
a corrected file, the apply); every user's first connection; AFAS Habiliter associates the
providers and the approver, each on her sites; the declaration is entered, sent back for correction (the
providers mailed), an anomaly justified, approved and transmitted; a CDAP consultation of a beneficiary of the
partner's territory (second factor and recovery codes); the administrator suspends a provider and gives her
access back. axe-core clean on every new page."""

from __future__ import annotations

from sso_demo.legal import typo  # pages print French spacing (issue 29 §8): expected texts too
from tests.browser.axe import violations
from tests.browser.helpers import PASSWORDS, fill_contract, keycloak_follows, login, second_factor
from tests.support.paperwork import signed_by_both

SIRET = "44400011100013"
CONV = "CONV-751-2026-0777"
EQUIP = "ALSH-0777"
YEAR = 2025
DOMAIN = "colibris.example"
SCHOOL, GYM = "École Jules-Ferry, 75011 Paris", "Gymnase Voltaire, 75011 Paris"
ADMIN = ("ines.moreau", "Inès", "Moreau")
HEADER = "identifiant;nom;prenom;courriel;convention;groupes;profils\n"
GOOD = (f"ines.moreau;Moreau;Inès;ines.moreau@{DOMAIN};;AFAS Habiliter;\n"
        f"leo.garcia;Garcia;Léo;leo.garcia@{DOMAIN};;AFAS Déclarer;fournisseur-donnees-activite\n"
        f"mia.roux;Roux;Mia;mia.roux@{DOMAIN};{CONV};AFAS Déclarer;fournisseur-donnees-financieres\n"
        f"sacha.fabre;Fabre;Sacha;sacha.fabre@{DOMAIN};;AFAS Déclarer + CDAP Consulter;approbateur\n")
BAD_EXTRA = (f"tom.petit;Petit;Tom;pas-un-courriel;;CDAP Lire;\n"
             f"nina.vidal;Vidal;Nina;nina.vidal@{DOMAIN};;AFAS Déclarer;approbateur\n")  # a second approver


NARROW, WIDE = {"width": 375, "height": 812}, {"width": 1280, "height": 800}


def _fits(page, what: str, width: int) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"{what} at {width} px: {wide} px wide, because of " + str(page.evaluate(
        """(w) => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1)
            .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > w + 1))
            .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' '
                              + (e.className || '') + ' ' + Math.round(e.getBoundingClientRect().right))""", width))


def _clean(page, what: str) -> None:
    """Issue 29: the story is played on a phone (375 px: every click, every form) and each page it reaches is
    looked at on a desktop too (1,280 px): nothing scrolls sideways, axe-core finds nothing, at both widths."""
    for size in (NARROW, WIDE):
        page.set_viewport_size(size)
        _fits(page, what, size["width"])
        found = violations(page)
        assert found == [], f"{what} at {size['width']} px: {found}"
    page.set_viewport_size(NARROW)


def _first_connection(stack, new_page, ident: str, url: str, *, check_rules: bool = False):
    """Provisional password from the mail, the usage rules, then a personal password; back on `url`."""
    page = new_page(bypass_csp=True, viewport=NARROW)
    page.goto(url)
    page.fill("#username", ident)
    page.fill("#password", stack.provisional_password(f"{ident}@{DOMAIN}"))
    page.click("#kc-login")
    page.click("#kc-accept")
    page.wait_for_selector("#password-new")
    password = f"Colibri-{ident.split('.')[0].capitalize()}-2026!"
    if check_rules:
        rules = page.locator("#mcp-password-rules")
        assert "compter au moins 12 caractères" in rules.inner_text()
        assert page.locator("#mcp-password-rules li.mcp-ok").count() == 0  # nothing typed: nothing ticked
        page.type("#password-new", "colibri")  # lower case only: one rule met, as it is typed
        ticked = page.locator("#mcp-password-rules li.mcp-ok").all_inner_texts()
        assert [t.split(" — ")[0] for t in ticked] == ["contenir une minuscule\u202f;",  # French spacing (issue 15)
                                                         "compter au plus 128 caractères\u202f;",
                                                         "être différent de votre identifiant\u202f;"]
        assert "respectée" in ticked[0] and "à respecter" in page.inner_text("#mcp-password-rules li[data-rule=length]")
        page.fill("#password-new", "")
        page.type("#password-new", ident.upper())  # her identifiant (issue 29: the rule said « respectée »)
        assert "mcp-ok" not in (page.get_attribute("#mcp-password-rules li[data-rule=notUsername]", "class") or "")
        page.fill("#password-new", "")
        page.type("#password-new", password)
        page.type("#password-confirm", password)
        assert page.locator("#mcp-password-rules li:not(.mcp-ok)").all_inner_texts() == [
            "être différent de votre adresse de courriel et de vos 5 derniers mots de passe (vérifié à l’envoi)."]
        _clean(page, "password page")
    else:
        page.fill("#password-new", password)
        page.fill("#password-confirm", password)
    page.click("#kc-submit")
    page.wait_for_url(url + "**")
    PASSWORDS[ident] = password
    return page


def _upload(page, text: str) -> None:
    page.set_input_files("#csv", files=[{"name": "utilisateurs.csv", "mimeType": "text/csv",
                                         "buffer": text.encode("utf-8")}])
    page.click("form[enctype] button")
    page.wait_for_selector("#bilan")


def test_a_new_partner_from_registration_to_a_transmitted_declaration(stack, new_page):
    portail, afas, cdap = stack.urls["portail"], stack.urls["afas"], stack.urls["cdap"]

    # --- the Caf: partner, convention and its contract, signatures, activation, equipment -------------------
    stack.ready_user("caf.admin")
    caf = new_page(bypass_csp=True, viewport=NARROW)
    login(caf, portail + "/caf/", "caf.admin")
    caf.click("text=Nouveau partenaire")
    for field, value in (("siret", SIRET), ("name", "Association Les Colibris"), ("identifiant", ADMIN[0]),
                         ("first_name", ADMIN[1]), ("last_name", ADMIN[2]), ("email", f"{ADMIN[0]}@{DOMAIN}")):
        caf.fill(f"#{field}", value)
    caf.click("form[novalidate] button")
    caf.wait_for_url(f"{portail}/caf/partenaires/{SIRET}")
    assert "Aucune convention pour ce partenaire" in caf.inner_text("#aucune-convention")  # empty states
    assert "Aucun équipement déclaré" in caf.inner_text("#aucun-equipement")
    _clean(caf, "new partner page")
    caf.click("text=Préparer une convention")
    caf.fill("#number", CONV)
    caf.check("input[name=services][value=AFAS]")
    caf.check("input[name=services][value=CDAP]")
    fill_contract(caf)
    caf.click("form[novalidate] button")
    caf.wait_for_url(f"{portail}/caf/partenaires/{SIRET}")
    section = f"#convention-{CONV}"
    # issue 31: no button says « signed »; the Caf issues the documents, each party signs them
    assert "Enregistrer la signature" not in caf.inner_text(section)
    caf.click(f"{section} >> text=Émettre les documents")
    caf.wait_for_load_state()
    assert caf.locator(f"{section} tr.document[data-awaits=partenaire]").count() == 4  # convention, contrat, 2 bulletins
    stack.wait_for_mails(lambda m: f"documents de la convention {CONV}" in m.subject, {f"{ADMIN[0]}@{DOMAIN}"})

    caf.click("text=Déclarer un équipement")
    caf.fill("#code", EQUIP)
    caf.fill("#name", "Accueil de loisirs Les Colibris")
    caf.fill("#sites", f"{SCHOOL}\n{GYM}")
    _clean(caf, "equipment form")
    caf.click("form[novalidate] button")
    caf.wait_for_url(f"{portail}/caf/partenaires/{SIRET}#equipements")
    row = caf.inner_text(f"#equipement-{EQUIP}")
    assert "Accueil de loisirs Les Colibris" in row and typo("École Jules-Ferry, 75011 Paris ; Gymnase Voltaire") in row
    _clean(caf, "partner page with its equipment")
    keycloak_follows(caf)

    # --- both parties sign (in the browser: test_online_convention.py); the Caf activates ---------------------
    signed_by_both(stack.provisioning, SIRET, CONV)
    caf.reload()
    assert caf.inner_text(f"{section} .etat") == "signée par la Caf"
    caf.click(f"{section} >> text=Activer")
    caf.wait_for_load_state()
    assert caf.inner_text(f"{section} .etat") == "active"

    # --- the partner administrator: first connection, then a CSV import -------------------------------------
    stack.wait_for_mails(lambda m: "mot de passe" in m.subject, {f"{ADMIN[0]}@{DOMAIN}"})
    admin = _first_connection(stack, new_page, ADMIN[0], portail + "/", check_rules=True)
    admin.goto(f"{portail}/console/{SIRET}/utilisateurs/import")
    _clean(admin, "import page")
    _upload(admin, HEADER + GOOD + BAD_EXTRA)
    assert typo("6 ligne(s) : 4 création(s)") not in admin.inner_text("#bilan")
    assert "2 refusée(s)" in admin.inner_text("#bilan")
    assert not admin.query_selector("#appliquer")  # a refused line: nothing to apply
    assert "COURRIEL_INVALIDE" in admin.inner_text("#ligne-6") and "VALEUR_INCONNUE" in admin.inner_text("#ligne-6")
    assert "AFAS_TROP_D_APPROBATEURS" in admin.inner_text("#ligne-7")
    assert "approbateur" in admin.inner_text("#ligne-5") and "création" in admin.inner_text("#ligne-5")
    _clean(admin, "import preview")
    admin.click("text=Déposer un autre fichier")
    _upload(admin, HEADER + GOOD)
    assert typo("4 ligne(s) : 3 création(s), 1 mise(s) à jour, 0 refusée(s)") in admin.inner_text("#bilan")
    admin.click("#appliquer")
    admin.wait_for_url(f"{portail}/console/{SIRET}/utilisateurs")
    assert typo("Import appliqué : 3 utilisateur(s) créé(s), 1 mis à jour") in admin.inner_text("main")
    keycloak_follows(admin)
    stack.settle()
    table = admin.inner_text("#utilisateurs")
    assert "sacha.fabre" in table and "Approbateur" in table  # labels, never codes (issue 29)


    # --- every new user's first connection; AFAS Habiliter associates them to the equipment ------------------
    leo = _first_connection(stack, new_page, "leo.garcia", afas + "/")
    mia = _first_connection(stack, new_page, "mia.roux", afas + "/")
    sacha = _first_connection(stack, new_page, "sacha.fabre", afas + "/")
    assert "Accueil de loisirs Les Colibris (ALSH-0777)" in leo.inner_text("main")
    admin.goto(afas + "/habilitations")
    form = admin.locator(f"form:has(input[name=equipment][value='{EQUIP}'])")
    form.locator("input[name=fournisseur-donnees-activite][value='leo.garcia']").check()
    form.locator("input[name=fournisseur-donnees-financieres][value='mia.roux']").check()
    form.locator("input[name=approbateur][value='sacha.fabre']").check()
    # per site (issue 29 §3): Léo works at the school only; Mia with no site ticked is refused, nothing saved
    form.locator(f"input[name='lieux:leo.garcia'][value='{GYM}']").uncheck()
    for site in (SCHOOL, GYM):
        form.locator(f"input[name='lieux:mia.roux'][value='{site}']").uncheck()
    form.locator("button").click()
    admin.wait_for_load_state()
    assert "Cochez au moins un lieu d'implantation pour mia.roux" in admin.inner_text("#erreurs")
    assert "Rien n'a été modifié" in admin.inner_text("#erreurs")
    form = admin.locator(f"form:has(input[name=equipment][value='{EQUIP}'])")
    assert not form.locator("input[name=approbateur][value='sacha.fabre']").is_checked()  # indeed nothing saved
    form.locator("input[name=fournisseur-donnees-activite][value='leo.garcia']").check()
    form.locator("input[name=fournisseur-donnees-financieres][value='mia.roux']").check()
    form.locator("input[name=approbateur][value='sacha.fabre']").check()
    form.locator(f"input[name='lieux:leo.garcia'][value='{GYM}']").uncheck()
    form.locator("button").click()
    admin.wait_for_load_state()
    assert "Rien n'a été modifié" not in admin.inner_text("main")
    form = admin.locator(f"form:has(input[name=equipment][value='{EQUIP}'])")
    assert form.locator(f"input[name='lieux:leo.garcia'][value='{SCHOOL}']").is_checked()
    assert not form.locator(f"input[name='lieux:leo.garcia'][value='{GYM}']").is_checked()  # as saved
    assert form.locator(f"input[name='lieux:mia.roux'][value='{GYM}']").is_checked()  # the whole equipment
    _clean(admin, "AFAS habilitations")
    leo.goto(afas + "/")
    mine = leo.inner_text(f"tr:has-text('{EQUIP}')")
    assert SCHOOL.split(",")[0] in mine and "Gymnase" not in mine and "vos lieux" in mine

    # --- the declaration: activity (an anomaly, justified), financial data, approval and transmission --------
    decl = f"{afas}/equipements/{EQUIP}/{YEAR}"
    leo.goto(decl)
    for k, v in {"jours_ouverture": 200, "capacite": 20, "enfants_inscrits": 60, "heures_realisees": 50000}.items():
        leo.fill(f"[name={k}]", str(v))
    leo.click("#enregistrer-activite")
    assert leo.query_selector("#anomalie-ACT_HEURES_SUPERIEURES_CAPACITE")
    mia.goto(decl)
    for k, v in {"charges": "300 000,50", "produits": "310000", "participations_familles": "40 000"}.items():
        mia.fill(f"[name={k}]", v)  # typed as people type amounts: cents after a comma, spaces in thousands
    mia.click("#enregistrer-financier")
    assert mia.input_value("#fin-charges") == "300\u202f000,50"  # given back the French way (issue 29 §3)
    sacha.goto(decl)
    sacha.click("#approuver")
    assert "ne sont pas justifiées" in sacha.inner_text("#avis")
    # the approver sends it back for correction (issue 29 §3): Léo and Mia are mailed the reason, the
    # declaration reads « à corriger » until a provider saves again
    reason = "Les heures réalisées comptent aussi le périscolaire : précisez-le."
    sacha.fill("#motif", reason)
    sacha.click("#renvoyer")
    assert "Renvoyée pour correction" in sacha.inner_text("#statut")
    _clean(sacha, "declaration sent back")
    told = stack.wait_for_mails(lambda m: "à corriger" in m.subject, {f"leo.garcia@{DOMAIN}", f"mia.roux@{DOMAIN}"})
    assert all(typo(reason) in m.body for m in told)
    leo.goto(decl)
    leo.fill("#anomalie-ACT_HEURES_SUPERIEURES_CAPACITE textarea", "Accueil périscolaire compris dans les heures.")
    leo.click("#anomalie-ACT_HEURES_SUPERIEURES_CAPACITE button")
    sacha.goto(decl)
    sacha.click("#approuver")
    _clean(sacha, "approval confirmation")
    sacha.click("#confirmer")  # after reading what leaves (issue 29)
    assert "Transmise à la Caf" in sacha.inner_text("#statut") and "(heure de Paris)" in sacha.inner_text("#statut")
    _clean(sacha, "transmitted declaration")

    # --- CDAP: a beneficiary of the partner's territory, consulted and traced ------------------------------
    sacha.goto(cdap + "/")
    assert not sacha.query_selector("#password")  # CDAP steps up: a second factor, enrolled at first need
    _clean(sacha, "second factor choice")
    second_factor(sacha, "sacha.fabre")
    numero = sacha.inner_text("#exemples .numero >> nth=0")
    sacha.fill("#numero", numero)
    sacha.select_option("#purpose", index=1)
    sacha.click("form[novalidate] button")
    assert f"Allocataire {numero}" in sacha.inner_text("#resultat")
    sacha.goto(cdap + "/journal")
    assert numero in sacha.inner_text("main") and "sacha.fabre" in sacha.inner_text("main")

    # --- the partner administrator suspends Mia, then gives her access back (issue 29 §1) ---------------------
    admin.goto(f"{portail}/console/{SIRET}/utilisateurs/mia.roux")
    admin.click("#suspension")
    assert "ses sessions en cours sont fermées" in admin.inner_text("#liste-consequences")
    _clean(admin, "suspension confirmation")
    admin.click("#confirmer")
    keycloak_follows(admin)
    admin.reload()
    assert admin.inner_text("#etat-compte") == "suspendu"
    stack.wait_for_mails(lambda m: "suspension" in m.subject, {f"mia.roux@{DOMAIN}"})
    mia.goto(afas + "/")
    assert not mia.url.startswith(afas), f"her AFAS session ended with the suspension: {mia.url}"
    admin.click("#suspension")  # « Rétablir l'accès »
    keycloak_follows(admin)
    admin.reload()  # the account's state is read from Keycloak with the page
    assert admin.inner_text("#etat-compte") == "actif"

    # --- the journals say who did what to whom --------------------------------------------------------------
    admin.goto(f"{portail}/console/{SIRET}/utilisateurs/sacha.fabre")
    history = admin.inner_text("#historique-personne")
    assert "Import d'utilisateurs (CSV)" in history and "ines.moreau" in history
    assert typo("habilitations AFAS (CONV-751-2026-0777) : aucune → AFAS Déclarer ; profils approbateur") in history
    assert admin.inner_text("#etat-compte") == "actif"
    assert "acceptée le" in admin.inner_text("#regles-acceptees")
    _clean(admin, "user page")
