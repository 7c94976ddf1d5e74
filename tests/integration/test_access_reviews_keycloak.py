"""Issue 16 end to end against the real Keycloak and a real SMTP server, with an injected clock: a Caf opens a
review, the partner's administrator confirms one grant and withdraws another, reminders go, and at the deadline
what nobody confirmed is suspended — group memberships gone in Keycloak, the person's live session ended, her
confirmed grant intact, the person and the Caf told; then a second plan is empty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from provisioning.domain.reviews import Verdict
from provisioning.notify.notifier import SmtpConfig, SmtpNotifier
from provisioning.services import CAF_ADMIN, PARTNER_ADMIN, Actor, Provisioning
from tests.integration.conftest import OPERATOR
from tests.unit.factories import registry

SIRET = "12345678900015"
BASE = f"/partenaires/{SIRET}"
CAF = Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751")
JEANNE = Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=SIRET)
CONV = "CONV-751-2026-0001"


def _members(kc_admin, path):
    group = kc_admin.get(f"/group-by-path{path}")
    return {u["username"] for u in kc_admin.get(f"/groups/{group['id']}/members")}


def test_a_review_from_opening_to_suspension_in_keycloak(keycloak, kc_admin, smtp, sqlite_engine, gateway,
                                                         user_token, provisioning):
    at = [datetime.now(UTC)]
    svc = Provisioning(sqlite_engine, lambda: gateway, SmtpNotifier(SmtpConfig("127.0.0.1", smtp.port)),
                       portal_url=keycloak.app_url("portail"), now=lambda: at[0])
    svc.import_registry(OPERATOR, registry())
    svc.reconcile(OPERATOR)
    token = user_token("lea.petit")          # Léa is connected: her session must not outlive the suspension
    lea = kc_admin.user_by_username("lea.petit")
    assert kc_admin.get(f"/users/{lea['id']}/sessions")
    smtp.clear()

    c = svc.open_review(CAF, "751", at[0] + timedelta(days=30))
    assert c["total"] == 4
    assert any("revue des habilitations" in m.subject for m in smtp.to("jeanne.dupont@hirondelles.example"))
    page = svc.review_items(JEANNE, c["id"], SIRET)
    assert {i["identifiant"]: i["last_login"] is not None for i in page["items"]}["lea.petit"]  # from Keycloak's events

    svc.decide(JEANNE, c["id"], f"{SIRET}/{CONV}/AFAS/lea.petit", Verdict.CONFIRM)
    svc.decide(JEANNE, c["id"], f"{SIRET}/{CONV}/AFAS/paul.bernard", Verdict.REVOKE)
    assert "paul.bernard" not in _members(kc_admin, f"{BASE}/AFAS Déclarer")          # withdrawn at once

    at[0] += timedelta(days=23, hours=1)      # J-7: one reminder (the J-14 one is not sent as well)
    assert svc.tick_reviews()["reminders"] == 2
    assert len([m for m in smtp.to("jeanne.dupont@hirondelles.example") if "rappel" in m.subject]) == 1

    at[0] += timedelta(days=7)                # the deadline
    done = svc.tick_reviews()
    assert done["closed"] == [c["id"]] and done["suspended"] == 2   # Léa's CDAP, Marc's AFAS
    assert "lea.petit" not in _members(kc_admin, f"{BASE}/CDAP Consulter")
    assert "lea.petit" in _members(kc_admin, f"{BASE}/AFAS Déclarer")                 # confirmed: kept
    assert "marc.martin" not in _members(kc_admin, f"{BASE}/AFAS Déclarer")
    assert kc_admin.get(f"/users/{lea['id']}/sessions") == []                           # her session ended
    refreshed = requests.post(f"{keycloak.issuer}/protocol/openid-connect/token/introspect", timeout=30,
                              data={"token": token, "client_id": "portail",
                                    "client_secret": "demo-only-portail-secret"}).json()
    assert refreshed["active"] is False
    assert any("suspension" in m.subject for m in smtp.to("lea.petit@hirondelles.example"))
    assert any("clôture" in m.subject for m in smtp.to("habilitations@caf75.example"))
    assert svc.plan() == []                    # Keycloak holds exactly what the registry says
    assert svc.tick_reviews() == {"reminders": 0, "closed": [], "suspended": 0, "opened": []}
