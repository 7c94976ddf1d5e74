"""Issue 31, done when: an organisation asks for access online (no account), its two addresses confirm through
their links, the Caf accepts and prepares the convention, the documents are issued, the legal representative (not
the administrator: she alone has an account before the signatures) receives her codes and signs after a second
factor, the Caf countersigns and activates, and then the administrator receives hers. Hostile requests (a wrong
SIRET, one absent from the directory, markup in a name, another Caf's territory, a flood from one address) are
refused with clear messages and nothing stored. After a new person joins the AFAS bulletin, it is issued again and
signed again; the downloaded PDF verifies (two timestamped signatures) and a copy with one byte changed does
not."""

from __future__ import annotations

import re

from provisioning.domain.access_requests import RequestState
from provisioning.domain.model import Group, Profile, Service, User
from sso_demo.portal import access_request
from tests.browser.axe import violations
from tests.browser.conftest import OPERATOR
from tests.browser.helpers import PASSWORDS, fill_contract, login, second_factor

SIRET = "75100000000016"       # the demo SIRENE extract: Association Les Mésanges, 75011 Paris
LYON_SIRET = "69200000000012"  # Les Canuts, 69001 Lyon: not Paris's Caf's territory
MARKUP_SIRET = "75100000000032"  # « Centre social Les Tilleuls <Belleville> »: the directory's own markup
CONV = "CONV-751-2026-0316"
REP = ("Hélène", "Garnier", "presidence@mesanges.example")
ADMIN = ("Noé", "Lefèvre", "noe.lefevre@mesanges.example")


def _first_connection(stack, new_page, ident: str, email: str, portail: str):
    """Provisional password from the mail, the usage rules, her own password; on her security page."""
    page = new_page(bypass_csp=True)
    page.goto(portail + "/")
    page.fill("#username", ident)
    page.fill("#password", stack.provisional_password(email))
    page.click("#kc-login")
    page.click("#kc-accept")
    PASSWORDS[ident] = f"Mesanges-{ident.split('.')[0].capitalize()}-2026!"
    page.fill("#password-new", PASSWORDS[ident])
    page.fill("#password-confirm", PASSWORDS[ident])
    page.click("#kc-submit")
    page.wait_for_url(portail + "/**")
    return page


def _stored(stack) -> int:
    with stack.provisioning.uow() as uow:
        return len(uow.requests.of_caf("751", tuple(RequestState)))


def _lookup(page, portail: str, siret: str) -> None:
    page.goto(portail + "/demande-d-acces")
    page.fill("#siret", siret)
    page.click("form button")
    page.wait_for_load_state()


def _fill(page, caf: str = "751", rep=REP, admin=ADMIN) -> None:
    page.select_option("#caf", caf)
    page.check("#service-AFAS")
    for who, (first, last, email) in (("representative", rep), ("administrator", admin)):
        page.fill(f"#{who}_first_name", first)
        page.fill(f"#{who}_last_name", last)
        page.fill(f"#{who}_email", email)
    page.click("form button")
    page.wait_for_load_state()


def test_an_organisation_asks_online_and_its_convention_is_signed_by_both(stack, new_page):
    portail = stack.urls["portail"]
    before = _stored(stack)
    page = new_page(bypass_csp=True)

    # --- hostile or wrong requests: clear messages, nothing stored -------------------------------------------
    _lookup(page, portail, "75100000000017")  # a wrong key
    assert "absent du répertoire SIRENE" in page.inner_text("#siret-erreur")
    _lookup(page, portail, "75100000000040")  # a right key, not in the directory
    assert "absent du répertoire SIRENE" in page.inner_text("#siret-erreur")
    _lookup(page, portail, LYON_SIRET)
    _fill(page)
    assert "ne relève pas de cette Caf" in page.inner_text("#caf-erreur")
    _lookup(page, portail, MARKUP_SIRET)
    assert "Les Tilleuls <Belleville>" in page.inner_text("#etablissement")  # text, never markup
    assert page.query_selector("belleville") is None
    _lookup(page, portail, SIRET)
    _fill(page, rep=("<b>Hélène</b>", "Garnier", "presidence@mesanges.example"))
    assert "caractère interdit" in page.inner_text("#representative_first_name-erreur")
    assert _stored(stack) == before

    # --- the request, then each address confirms ---------------------------------------------------------------
    _lookup(page, portail, SIRET)
    assert "Association Les Mésanges" in page.inner_text("#etablissement")
    assert violations(page) == []
    _fill(page)
    assert "est enregistrée" in page.inner_text("#demande-envoyee")
    assert _stored(stack) == before + 1
    assert stack.kc_admin.user_by_username("noe.lefevre") is None  # no account before the Caf accepts
    links = {}
    for email in (REP[2], ADMIN[2]):
        [mail] = stack.wait_for_mails(lambda m: "confirmez votre adresse" in m.subject, {email})
        links[email] = re.search(r"(/demande-d-acces/\S+)", mail.body).group(1)
    page.goto(portail + links[REP[2]])
    assert violations(page) == []
    page.click("#confirmer-adresse")
    assert "attend encore la confirmation" in page.inner_text("#confirmee")
    page.goto(portail + links[ADMIN[2]])
    page.click("#confirmer-adresse")
    assert "transmise à la Caf" in page.inner_text("#confirmee")
    stack.wait_for_mails(lambda m: "demande d'accès de Association Les Mésanges" in m.subject,
                         {"habilitations@caf75.example"})

    # --- the Caf accepts, prepares the convention, issues its documents ----------------------------------------
    stack.ready_user("caf.admin")
    caf = new_page(bypass_csp=True)
    login(caf, portail + "/caf/demandes", "caf.admin")
    assert "Présidente" not in caf.inner_text(f"#demande-{SIRET}")  # no function given: none shown
    assert violations(caf) == []
    caf.click(f"#demande-{SIRET} >> text=Accepter")
    caf.wait_for_url(f"{portail}/caf/partenaires/{SIRET}/conventions/nouvelle")
    caf.fill("#number", CONV)
    caf.check("input[name=services][value=AFAS]")
    fill_contract(caf)
    caf.click("form[novalidate] button")
    caf.wait_for_url(f"{portail}/caf/partenaires/{SIRET}")
    section = f"#convention-{CONV}"
    caf.click(f"{section} >> text=Émettre les documents")
    caf.wait_for_load_state()
    assert caf.locator(f"{section} tr.document").count() == 3

    # --- the legal representative's codes (the administrator's wait for the signatures), her signature after a
    # second factor; the Caf countersigns and activates; then the administrator receives hers ------------------
    stack.wait_for_mails(lambda m: "mot de passe" in m.subject, {REP[2]})
    assert stack.kc_admin.user_by_username("noe.lefevre") is None
    rep = _first_connection(stack, new_page, "helene.garnier", REP[2], portail)
    rep.click("#lien-conventions")  # her security page leads her to the documents
    for who, person, url, verb in (("helene.garnier", rep, f"{portail}/console/{SIRET}/conventions", "Signer"),
                                   ("caf.admin", caf, f"{portail}/caf/partenaires/{SIRET}", "Contresigner")):
        person.goto(url)
        if person.query_selector("text=Me reconnecter avec mon second facteur pour signer"):
            person.click("text=Me reconnecter avec mon second facteur pour signer")
            second_factor(person, who)
            person.wait_for_url(url + "**")
        assert violations(person) == []
        person.click(f"{section} button:has-text('{verb}')")
        person.wait_for_load_state()
        assert "Refusé" not in person.inner_text("main")
    assert caf.inner_text(f"{section} .etat") == "signée par la Caf"
    caf.click(f"{section} >> text=Activer")
    caf.wait_for_load_state()
    assert caf.inner_text(f"{section} .etat") == "active"
    history = caf.inner_text(f"{section} .historique")
    assert "signée par le partenaire" in history and "helene.garnier" in history
    stack.wait_for_mails(lambda m: "mot de passe" in m.subject, {ADMIN[2]})  # now the administrator's codes
    admin = _first_connection(stack, new_page, "noe.lefevre", ADMIN[2], portail)
    assert "Gérer les utilisateurs de votre organisme" in admin.inner_text("main")

    # --- a new person on the AFAS bulletin: it is issued again, signed again; the files verify ---------------------
    svc = stack.provisioning
    svc.create_user(OPERATOR, SIRET, User("ines.roy", "Inès", "Roy", "ines.roy@mesanges.example"))
    svc.set_membership(OPERATOR, SIRET, CONV, Service.AFAS, "ines.roy", {Group("AFAS Déclarer")},
                       {Profile("fournisseur-donnees-activite")})
    caf.goto(f"{portail}/caf/partenaires/{SIRET}")
    assert "Nouvelle version due" in caf.inner_text(section)
    caf.click(f"{section} >> text=Émettre les nouvelles versions")
    caf.wait_for_load_state()
    assert caf.locator(f"{section} tr.document[data-awaits=partenaire]").evaluate_all(
        "rows => rows.map(r => r.dataset.kind)") == ["bulletin-AFAS"]
    for person, url, verb in ((rep, f"{portail}/console/{SIRET}/conventions", "Signer"),
                              (caf, f"{portail}/caf/partenaires/{SIRET}", "Contresigner")):
        person.goto(url)  # both still at level 2 in their sessions: no second factor asked again
        person.click(f"{section} button:has-text('{verb}')")
        person.wait_for_load_state()
        assert "Refusé" not in person.inner_text("main")
    assert caf.inner_text(f"{section} .etat") == "active"
    assert "version 1" in rep.text_content(f"{section} details")  # the history keeps the first version
    link = rep.locator(f"{section} tr[data-kind=bulletin-AFAS] a").first
    pdf = rep.request.get(portail + link.get_attribute("href")).body()
    check = svc.verify_pdf(pdf)  # as anyone holding the file: two signatures, timestamped, intact
    assert check.ok and [s.field for s in check.signatures] == ["partenaire", "caf"]
    assert [s.signer for s in check.signatures] == ["Hélène Garnier", "Claire Fontaine"]
    changed = bytearray(pdf)
    changed[len(changed) // 2] ^= 0x01
    assert not svc.verify_pdf(bytes(changed)).ok

    # --- a flood from one address: refused after a few, nothing stored --------------------------------------------
    # (what the hour allows, whatever the machine's speed: how many fit in a minute's window depends on it)
    _lookup(page, portail, SIRET)
    token = page.input_value("input[name=csrf_token]")
    statuses = [page.request.post(portail + "/demande-d-acces", form={
        "csrf_token": token, "siret": LYON_SIRET, "step": "lookup"}).status for _ in range(100)]
    assert set(statuses) <= {200, 429} and statuses.count(200) <= 60 and statuses[-1] == 429
    assert "Trop de demandes" in page.request.post(portail + "/demande-d-acces", form={
        "csrf_token": token, "siret": SIRET, "step": "lookup"}).text()
    assert _stored(stack) == before + 1
    access_request.limiter.reset()  # the next tests of this process start afresh
