"""Issue 16 in headless Chromium: the Caf opens an access review from its console; the partner's administrator
finds every grant with its holder's last connection, confirms one and withdraws another (after a confirmation
page; Keycloak follows); the Caf follows the progress and exports the result as CSV. axe-core clean.
`MCP_UPDATE_SCREENSHOTS=1` also rewrites the README's screenshot of the review page (docs/)."""

import csv
import io
import os
from pathlib import Path

from provisioning.domain.model import Group, Service, User
from tests.browser.axe import violations
from tests.browser.conftest import OPERATOR
from tests.browser.helpers import login

A = "12345678900015"
CONV = "CONV-751-2026-0001"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _row(key: str) -> str:
    """The review table's row of one grant (its id is the key, made an HTML id)."""
    return "#h-" + "".join(c if c.isalnum() else "-" for c in key)


def _members(stack, path):
    g = stack.kc_admin.get(f"/group-by-path{path}")
    return {u["username"] for u in stack.kc_admin.get(f"/groups/{g['id']}/members")}


def test_a_review_opened_by_the_caf_and_decided_by_the_partner_administrator(stack, new_page):
    svc = stack.provisioning
    svc.create_user(OPERATOR, A, User("ines.faure", "Inès", "Faure", "ines.faure@hirondelles.example"))
    svc.set_membership(OPERATOR, A, CONV, Service.CDAP, "ines.faure", {Group.CDAP_CONSULTER}, set())
    stack.settle()
    assert "ines.faure" in _members(stack, f"/partenaires/{A}/CDAP Consulter")

    # the Caf opens it for one partner; a date in the past is refused with its reason, nothing opened
    stack.ready_user("caf.admin")
    caf = new_page(bypass_csp=True)
    login(caf, stack.urls["portail"] + "/", "caf.admin")
    caf.goto(stack.urls["portail"] + "/caf/revues")
    assert "Aucune revue n'a encore été ouverte" in caf.inner_text("#prochaine-revue")
    assert violations(caf) == []
    caf.fill("#deadline", "2020-01-01")
    caf.click("#ouvrir-revue button")
    assert "ECHEANCE_TROP_PROCHE" in caf.inner_text("#erreurs")
    assert "Aucune revue" in caf.inner_text("#revues")
    caf.fill("#deadline", "2030-01-01")
    caf.click("#ouvrir-revue button")
    assert "ECHEANCE_TROP_LOINTAINE" in caf.inner_text("#erreurs")
    caf.goto(stack.urls["portail"] + "/caf/revues")
    caf.check("input[name=scope][value=choisis]")
    caf.check(f"input[name=partners][value='{A}']")
    with caf.expect_navigation():
        caf.click("#ouvrir-revue button")
    assert "Revue ouverte" in caf.inner_text("main") and "Centre de loisirs Les Hirondelles" in caf.inner_text("#avancement")
    assert violations(caf) == []
    assert any("revue des habilitations" in m.subject for m in stack.smtp.mails
               if "jeanne.dupont@hirondelles.example" in m.recipients)

    # the partner's administrator: every grant, the last connection, confirm and withdraw
    stack.ready_user("jeanne.dupont")
    page = new_page(bypass_csp=True)
    login(page, stack.urls["portail"] + "/", "jeanne.dupont")
    page.click("#lien-console")
    page.click("text=Revue des habilitations")
    page.wait_for_selector("#revue")
    table = page.inner_text("#revue")
    assert "ines.faure" in table and "lea.petit" in table and "b.lea.petit" not in table  # its own partner only
    assert "aucune connexion enregistrée" in page.inner_text(_row(f"{A}/{CONV}/CDAP/ines.faure"))
    assert violations(page) == []
    with page.expect_navigation():
        page.click("button[aria-label='Confirmer CDAP pour lea.petit']")
    assert "Habilitation CDAP confirmée pour lea.petit" in page.inner_text("main")
    assert "Confirmé" in page.inner_text(_row(f"{A}/{CONV}/CDAP/lea.petit"))
    with page.expect_navigation():
        page.click("button[aria-label='Retirer CDAP pour ines.faure']")
    assert "ses sessions en cours sont fermées" in page.inner_text("#liste-consequences")
    with page.expect_navigation():
        page.click("#confirmer")
    assert "Habilitation CDAP retirée pour ines.faure" in page.inner_text("main")
    stack.settle()
    assert "ines.faure" not in _members(stack, f"/partenaires/{A}/CDAP Consulter")
    assert page.query_selector("button[aria-label='Retirer CDAP pour ines.faure']") is None  # final
    # issue 29 §7: at 375 px each grant is a card whose cells say what they are (the columns shrank to a letter)
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    widths = page.eval_on_selector_all("#revue td[data-label]:not(.rappel)", "cs => cs.map(c => c.offsetWidth)")
    assert widths and min(widths) >= 250, widths
    assert "Personne" in page.eval_on_selector("#revue td.rappel", "e => getComputedStyle(e, '::before').content")
    assert violations(page) == []
    page.set_viewport_size({"width": 1280, "height": 800})
    if os.environ.get("MCP_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "revue-habilitations.png"), full_page=True)

    # the Caf's progress and CSV; the next yearly review is announced
    caf.goto(stack.urls["portail"] + "/caf/revues")
    assert "Prochaine revue annuelle le" in caf.inner_text("#prochaine-revue")
    caf.click("#revues tbody a")
    caf.wait_for_selector("#avancement")
    row = caf.inner_text("#avancement tbody tr")
    assert row.split("\t")[-3:] == ["1", "1", str(int(row.split("\t")[1]) - 2)]
    with caf.expect_download() as dl:
        caf.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8-sig")), delimiter=";"))
    result = {(r["identifiant"], r["service"]): r["resultat"] for r in rows}
    assert result[("ines.faure", "CDAP")] == "retiré" and result[("lea.petit", "CDAP")] == "confirmé"
    assert result[("paul.bernard", "AFAS")] == "en attente"
