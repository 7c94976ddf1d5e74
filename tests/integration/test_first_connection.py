"""R13–R18 against the real Keycloak (with our extension) and a real SMTP server: 24-hour provisional
password (injectable clock), re-issue, lost credentials, suspensions and reactivation, inactivity."""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from provisioning.domain.model import Service
from provisioning.typography import typo  # mails leave with French spacing (issue 29 §8): expected texts too
from tests.integration.conftest import OPERATOR
from tests.support.oidc import Page, Redirect, Rp
from tests.unit.factories import registry

SIRET = "12345678900015"
CONV = "CONV-751-2026-0001"


def _password(smtp, email):
    mail = [m for m in smtp.to(email) if "mot de passe" in m.subject][-1]
    return re.search(r"provisoire\s*:\s*(\S+)", mail.body).group(1)


@pytest.fixture
def rp(keycloak):
    return Rp(keycloak.issuer, "portail", "demo-only-portail-secret", keycloak.app_url("portail") + "/auth/callback")


def _login(rp, username, password):
    _, page = rp.authorize()
    return rp.login(page, username, password)


def test_provisional_password_older_than_24_hours_opens_no_session(provisioning, smtp, kc_admin, rp):
    provisioning.now = lambda: datetime.now(UTC) - timedelta(hours=24, minutes=1)  # created yesterday
    provisioning.import_registry(OPERATOR, registry())
    provisioning.reconcile(OPERATOR)
    page = _login(rp, "lea.petit", _password(smtp, "lea.petit@hirondelles.example"))
    assert isinstance(page, Page)
    assert "mot de passe provisoire a expiré" in page.text() and "administrateur" in page.text()
    uid = kc_admin.user_by_username("lea.petit")["id"]
    assert kc_admin.get(f"/users/{uid}/sessions") == []
    # a fresh Rp (new browser): still no way in
    assert not isinstance(_login(Rp(rp.issuer, rp.client_id, rp.client_secret, rp.redirect_uri), "lea.petit",
                                 _password(smtp, "lea.petit@hirondelles.example")), Redirect)


def test_provisional_password_within_24_hours_leads_to_the_usage_rules(provisioning, smtp, rp):
    provisioning.now = lambda: datetime.now(UTC) - timedelta(hours=23, minutes=50)
    provisioning.import_registry(OPERATOR, registry())
    provisioning.reconcile(OPERATOR)
    page = _login(rp, "lea.petit", _password(smtp, "lea.petit@hirondelles.example"))
    assert isinstance(page, Page) and page.soup.find(id="kc-accept")
    assert "Règles d" in page.text() and "Vos engagements" in page.text()


def test_reissue_sends_a_new_pair_and_kills_the_old_password(provisioning, smtp, rp, kc_admin):
    provisioning.now = lambda: datetime.now(UTC) - timedelta(hours=30)
    provisioning.import_registry(OPERATOR, registry())
    provisioning.reconcile(OPERATOR)
    old = _password(smtp, "lea.petit@hirondelles.example")
    provisioning.now = lambda: datetime.now(UTC)
    smtp.clear()
    provisioning.reissue_credentials(OPERATOR, SIRET, "lea.petit")
    mails = smtp.to("lea.petit@hirondelles.example")
    assert sorted(m.subject for m in mails) == sorted([
        typo("« Mon Compte Partenaire » : votre identifiant"), typo("« Mon Compte Partenaire » : votre mot de passe provisoire")])
    new = _password(smtp, "lea.petit@hirondelles.example")
    assert new != old
    assert not isinstance(_login(rp, "lea.petit", old), Redirect)
    fresh = Rp(rp.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
    page = _login(fresh, "lea.petit", new)
    assert isinstance(page, Page) and page.soup.find(id="kc-accept")  # usage rules, then personal password


def test_lost_credentials_lock_at_once_and_reissue_unlocks(provisioning, smtp, kc_admin):
    provisioning.import_registry(OPERATOR, registry())
    provisioning.reconcile(OPERATOR)
    uid = kc_admin.user_by_username("paul.bernard")["id"]
    provisioning.report_lost_credentials(OPERATOR, SIRET, "paul.bernard")
    assert kc_admin.get(f"/users/{uid}")["enabled"] is False
    provisioning.reissue_credentials(OPERATOR, SIRET, "paul.bernard")
    user = kc_admin.get(f"/users/{uid}")
    assert user["enabled"] is True and "UPDATE_PASSWORD" in user["requiredActions"]
    assert (user["firstName"], user["lastName"], user["email"]) == ("Paul", "Bernard", "paul.bernard@hirondelles.example")
    assert user["attributes"]["partner"] == [SIRET]
    # and his habilitations are back exactly
    groups = {g["path"] for g in kc_admin.get(f"/users/{uid}/groups")}
    assert groups == {f"/partenaires/{SIRET}/AFAS Déclarer",
                      f"/partenaires/{SIRET}/AFAS Fournisseurs de données financières"}


def test_after_lost_codes_and_new_ones_the_old_password_cannot_be_chosen_again(provisioning, smtp, kc_admin):
    """Issue 25, measured on main: the re-issue deleted the password credential, so Keycloak's password history
    lost it and the person could choose the stolen password again. Now it is replaced and remembered."""
    provisioning.import_registry(OPERATOR, registry())
    provisioning.reconcile(OPERATOR)
    uid = kc_admin.user_by_username("paul.bernard")["id"]
    stolen = "Ancien-Mot-De-Passe-2026!"
    kc_admin.put(f"/users/{uid}/reset-password", json={"type": "password", "value": stolen, "temporary": False})
    provisioning.report_lost_credentials(OPERATOR, SIRET, "paul.bernard")
    provisioning.reissue_credentials(OPERATOR, SIRET, "paul.bernard")
    again = kc_admin.request("PUT", f"/users/{uid}/reset-password",
                             json={"type": "password", "value": stolen, "temporary": False})
    assert again.status_code == 400 and "istory" in again.text, again.text  # invalidPasswordHistoryMessage


def _paths(kc_admin, username):
    uid = kc_admin.user_by_username(username)["id"]
    return {g["path"] for g in kc_admin.get(f"/users/{uid}/groups")}


def test_suspending_a_service_removes_it_at_once_informs_users_and_reactivation_restores(provisioning, smtp,
                                                                                             kc_admin):
    provisioning.import_registry(OPERATOR, registry())
    provisioning.reconcile(OPERATOR)
    before = _paths(kc_admin, "lea.petit")
    smtp.clear()
    provisioning.suspend_service(OPERATOR, SIRET, CONV, Service.CDAP, True)
    assert f"/partenaires/{SIRET}/CDAP Consulter" not in _paths(kc_admin, "lea.petit")
    assert any("CDAP" in m.body and "suspendu" in m.body for m in smtp.to("lea.petit@hirondelles.example"))
    provisioning.suspend_service(OPERATOR, SIRET, CONV, Service.CDAP, False)
    assert _paths(kc_admin, "lea.petit") == before


def test_suspending_a_user_ends_live_sessions(provisioning, smtp, kc_admin, rp):
    provisioning.import_registry(OPERATOR, registry())
    provisioning.reconcile(OPERATOR)
    uid = kc_admin.user_by_username("paul.bernard")["id"]
    kc_admin.put(f"/users/{uid}/reset-password", json={"type": "password", "value": "Session-Vive-2026!",
                                                       "temporary": False})
    kc_admin.put(f"/users/{uid}", json={"requiredActions": []})
    assert isinstance(_login(rp, "paul.bernard", "Session-Vive-2026!"), Redirect)
    assert len(kc_admin.get(f"/users/{uid}/sessions")) == 1
    provisioning.suspend_user(OPERATOR, SIRET, "paul.bernard", True)
    assert kc_admin.get(f"/users/{uid}/sessions") == []
    assert kc_admin.get(f"/users/{uid}")["enabled"] is False
    assert any("suspendu" in m.body for m in smtp.to("paul.bernard@hirondelles.example"))
    provisioning.suspend_user(OPERATOR, SIRET, "paul.bernard", False)
    assert kc_admin.get(f"/users/{uid}")["enabled"] is True
    assert _paths(kc_admin, "paul.bernard") == {f"/partenaires/{SIRET}/AFAS Déclarer",
                                                f"/partenaires/{SIRET}/AFAS Fournisseurs de données financières"}


def test_users_without_login_for_n_days_are_suspended(provisioning, smtp, kc_admin, rp):
    provisioning.import_registry(OPERATOR, registry())
    provisioning.reconcile(OPERATOR)
    created = datetime.now(UTC)
    time.sleep(2)
    uid = kc_admin.user_by_username("paul.bernard")["id"]
    kc_admin.put(f"/users/{uid}/reset-password", json={"type": "password", "value": "Actif-Recemment-2026!",
                                                       "temporary": False})
    kc_admin.put(f"/users/{uid}", json={"requiredActions": []})
    assert isinstance(_login(rp, "paul.bernard", "Actif-Recemment-2026!"), Redirect)
    # one day later, with a one-day window that starts just after the accounts were created:
    # only paul.bernard logged in inside it
    provisioning.now = lambda: created + timedelta(days=1, seconds=1)
    smtp.clear()
    suspended = provisioning.suspend_inactive(OPERATOR, days=1)
    assert suspended == ["jeanne.dupont", "lea.petit", "marc.martin"]
    assert kc_admin.user_by_username("lea.petit")["enabled"] is False
    assert kc_admin.get(f"/users/{uid}")["enabled"] is True
    assert any("aucune connexion depuis 1 jours" in m.body for m in smtp.to("lea.petit@hirondelles.example"))
    # accounts younger than the window are spared
    provisioning.now = lambda: created + timedelta(days=1, seconds=1)
    assert provisioning.suspend_inactive(OPERATOR, days=2) == []


def test_a_new_usage_rules_version_is_accepted_again_and_listed(provisioning, keycloak, kc_admin, smtp, rp):
    from provisioning.keycloak.gateway import UsageRulesPublisher
    provisioning.import_registry(OPERATOR, registry())
    provisioning.reconcile(OPERATOR)
    # first connection: rules accepted, personal password set
    page = _login(rp, "lea.petit", _password(smtp, "lea.petit@hirondelles.example"))
    page = rp.submit(page, {"accept": "Accepter"})
    assert isinstance(rp.submit(page, {"password-new": "Perso-Lea-2026!!", "password-confirm": "Perso-Lea-2026!!"}),
                      Redirect)
    [row] = [r for r in provisioning.usage_rules_acceptances(OPERATOR) if r["identifiant"] == "lea.petit"]
    assert row["version"] == "2016-06-20" and row["accepted_at"] and row["current"]
    assert next(r for r in provisioning.usage_rules_acceptances(OPERATOR)
                if r["identifiant"] == "paul.bernard")["version"] is None

    time.sleep(1)
    publisher = UsageRulesPublisher(keycloak.url, keycloak.realm, keycloak.admin_user, keycloak.admin_password)
    try:
        provisioning.publish_usage_rules(OPERATOR, "2026-12-01", publisher)
        again = Rp(rp.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
        page = _login(again, "lea.petit", "Perso-Lea-2026!!")
        assert isinstance(page, Page) and page.soup.find(id="kc-accept"), "new version: accept again"
        assert isinstance(again.submit(page, {"accept": "Accepter"}), Redirect)  # no new password this time
        [row] = [r for r in provisioning.usage_rules_acceptances(OPERATOR) if r["identifiant"] == "lea.petit"]
        assert row["version"] == "2026-12-01" and row["current"]
    finally:
        publisher.publish("2016-06-20", 0)  # the shared test realm goes back to the first version


def test_suspending_a_convention_informs_its_users_and_reactivation_restores(provisioning, smtp, kc_admin):
    from provisioning.domain.model import ConventionStatus
    provisioning.import_registry(OPERATOR, registry())
    provisioning.reconcile(OPERATOR)
    before = _paths(kc_admin, "marc.martin")
    smtp.clear()
    provisioning.transition_convention(OPERATOR, SIRET, CONV, ConventionStatus.SUSPENDED)
    assert _paths(kc_admin, "marc.martin") == {f"/partenaires/{SIRET}/Responsables des habilitations"}
    for who in ("lea.petit", "paul.bernard", "marc.martin"):
        assert any(f"convention {CONV}" in m.body and "suspendu" in m.body for m in smtp.to(f"{who}@hirondelles.example"))
    provisioning.transition_convention(OPERATOR, SIRET, CONV, ConventionStatus.ACTIVE)
    assert _paths(kc_admin, "marc.martin") == before
    assert any("rétabli" in m.body for m in smtp.to("lea.petit@hirondelles.example"))


def test_action_link_mode_mails_a_24_hour_link_and_never_a_password(provisioning, keycloak, kc_admin, rp):
    """For organisations that refuse passwords in mail: Keycloak's execute-actions mail, lifespan 24 h."""
    import base64
    import json
    from urllib.parse import parse_qs, urljoin, urlparse

    from devstack.keycloak import TEST_KEYCLOAK_SMTP_PORT
    from devstack.smtp_sink import MailSink
    from provisioning.notify.notifier import SmtpConfig, SmtpNotifier
    sink = MailSink(port=TEST_KEYCLOAK_SMTP_PORT).start()  # where the test Keycloak sends its own mails
    try:
        provisioning.onboarding = "action-link"
        provisioning.notifier = SmtpNotifier(SmtpConfig("127.0.0.1", sink.port))
        provisioning.import_registry(OPERATOR, registry())
        provisioning.reconcile(OPERATOR)
        mails = sink.to("lea.petit@hirondelles.example")
        assert len(mails) == 2 and not any(re.search(r"provisoire\s*:", m.body) for m in mails)
        uid = kc_admin.user_by_username("lea.petit")["id"]
        assert [c for c in kc_admin.get(f"/users/{uid}/credentials") if c["type"] == "password"] == []
        link_mail = next(m for m in mails if "identifiant" not in m.subject)
        # issue 29 §8: Keycloak's own mail in our voice (email theme), not « votre administrateur vient de
        # demander une mise à jour de votre compte »
        assert link_mail.subject == "«\u00a0Mon Compte Partenaire\u00a0»\u00a0: votre lien de première connexion"
        assert link_mail.body.startswith("Bonjour Léa Petit,")
        assert "accepter les règles d’usage puis choisir votre mot de passe" in link_mail.body
        assert "valable 1 jour" in link_mail.body and "administrateur vient de demander" not in link_mail.body
        link = re.search(r"(http://\S+/login-actions/action-token\?\S+)", link_mail.body).group(1)
        key = parse_qs(urlparse(link).query)["key"][0]
        claims = json.loads(base64.urlsafe_b64decode(key.split(".")[1] + "=="))
        assert abs(claims["exp"] - time.time() - 24 * 3600) < 300  # valid 24 hours

        page = rp._follow(rp.http.get(link, allow_redirects=False, timeout=30))
        assert "Accepter les règles d’usage" in page.text()  # the actions are named in French first
        proceed = page.soup.find("a", href=re.compile("action-token"))
        result = rp._follow(rp.http.get(urljoin(page.url, proceed["href"]), allow_redirects=False, timeout=30))
        assert isinstance(result, Page) and result.soup.find(id="kc-accept"), result.text()[:300]
        result = rp.submit(result, {"accept": "Accepter"})
        assert isinstance(result, Page) and result.has_input("password-new")
        rp.submit(result, {"password-new": "Lien-Active-2026!!", "password-confirm": "Lien-Active-2026!!"})
        fresh = Rp(rp.issuer, rp.client_id, rp.client_secret, rp.redirect_uri)
        assert isinstance(_login(fresh, "lea.petit", "Lien-Active-2026!!"), Redirect)
    finally:
        sink.stop()
