"""Issue 29 §3: « Approuver et transmettre » had no way back — an approver who finds a mistake could only
transmit it or leave it. Now she sends the declaration back to the equipment's providers with a reason; each
is mailed it, with the change or not at all; the journal keeps it; nobody else may."""

from __future__ import annotations

import pytest

from provisioning.api import create_app
from provisioning.domain.model import Profile
from provisioning.services import PARTNER_ADMIN, Actor
from tests.unit.factories import example_data, registry
from tests.unit.services import make_service
from tests.unit.test_api_usecases import Verifier
from tests.unit.test_desired_state_files import NATIONAL

A = "12345678900015"
URL = f"/api/v1/partners/{A}/equipments/ALSH-0001/send-back"
ACTORS = {
    "marc": Actor("marc.martin", frozenset({"afas:approbateur"}), partner=A),   # the approver, associated
    "lea": Actor("lea.petit", frozenset({"afas:fournisseur-donnees-activite"}), partner=A),
    "jeanne": Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=A),   # administrator, not approver
    "caf": Actor("caf.admin", frozenset({"caf-admin"}), caf="751"),
}
BODY = {"service": "AFAS", "period": "2025", "reason": "Les heures réalisées comptent deux fois le mercredi."}


@pytest.fixture
def svc(use_case_store):
    s = make_service(use_case_store)
    s.import_registry(NATIONAL, registry(example_data()))
    s.reconcile(NATIONAL)
    s.deliver_notifications()
    s.notifier.sent.clear()
    return s


def _client(svc):
    return create_app(svc, Verifier(ACTORS), Verifier(ACTORS)).test_client()


def test_the_approver_sends_back_and_each_provider_of_the_equipment_is_mailed_the_reason(svc):
    r = _client(svc).post(URL, headers={"Authorization": "Bearer marc"}, json=BODY)
    assert r.status_code == 200, r.get_json()
    svc.deliver_notifications()
    mailed = {to: (subject, body) for to, subject, body in svc.notifier.sent}
    assert set(mailed) == {"lea.petit@hirondelles.example", "paul.bernard@hirondelles.example"}
    subject, body = mailed["lea.petit@hirondelles.example"]
    assert "AFAS 2025" in subject and "à corriger" in subject
    assert "Marc Martin vous renvoie" in body and "« Les heures réalisées comptent deux fois le mercredi. »" in body
    assert "/equipements/ALSH-0001/2025" in body
    [entry] = svc.audit(NATIONAL, A, limit=1)
    assert entry["action"] == "send-back" and entry["actor"] == "marc.martin"
    assert "renvoi pour correction" in entry["summary"] or "renvoi pour correction" in str(entry)


def test_only_the_associated_approver_sends_back(svc):
    client = _client(svc)
    for who in ("lea", "jeanne"):
        r = client.post(URL, headers={"Authorization": f"Bearer {who}"}, json=BODY)
        assert r.status_code == 403 and r.get_json()["code"] == "APPROBATEUR_SEULEMENT", (who, r.get_json())
    # another partner's equipment, or an unknown one: nothing learnt
    assert client.post(URL.replace(A, "98765432100015"), headers={"Authorization": "Bearer marc"},
                       json=BODY).status_code == 404
    r = client.post(URL.replace("ALSH-0001", "ALSH-9999"), headers={"Authorization": "Bearer marc"}, json=BODY)
    assert r.status_code == 422 and r.get_json()["violations"][0]["code"] == "EQUIPEMENT_INCONNU"
    svc.deliver_notifications()
    assert svc.notifier.sent == [] and [e["action"] for e in svc.audit(NATIONAL, A, limit=3)] != ["send-back"]


def test_with_nobody_associated_any_holder_approves_and_every_holder_provides(svc):
    svc.set_assignments(NATIONAL, A, "ALSH-0001", {Profile.APPROBATEUR: [], Profile.ACTIVITE: ["lea.petit"]})
    svc.deliver_notifications()
    svc.notifier.sent.clear()  # the Caf's report of the association
    assert _client(svc).post(URL, headers={"Authorization": "Bearer marc"}, json=BODY).status_code == 200
    svc.deliver_notifications()  # nobody associated as financial provider: every holder of the profile
    assert {to for to, _, _ in svc.notifier.sent} == {"lea.petit@hirondelles.example",
                                                       "paul.bernard@hirondelles.example"}


@pytest.mark.parametrize(("reason", "code"), [("court", "MOTIF_TROP_COURT"), ("   ", "TEXTE_VIDE"),
                                              ("Motif\u202eà l'envers", "TEXTE_CARACTERE_INVISIBLE")])
def test_a_reason_that_says_nothing_is_refused_and_nobody_is_mailed(svc, reason, code):
    r = _client(svc).post(URL, headers={"Authorization": "Bearer marc"}, json={**BODY, "reason": reason})
    assert r.status_code == 422 and [v["code"] for v in r.get_json()["violations"]] == [code]
    svc.deliver_notifications()
    assert svc.notifier.sent == []


def test_a_malformed_request_is_refused_at_the_door(svc):
    client = _client(svc)
    for body in ({**BODY, "period": "25"}, {**BODY, "service": "XYZ"}, {**BODY, "reason": "x" * 1001},
                 {k: v for k, v in BODY.items() if k != "reason"}, {**BODY, "extra": 1}):
        assert client.post(URL, headers={"Authorization": "Bearer marc"}, json=body).status_code == 400, body


def test_a_suspended_provider_is_not_mailed(svc):
    svc.suspend_user(NATIONAL, A, "paul.bernard", True)
    svc.deliver_notifications()
    svc.notifier.sent.clear()
    assert _client(svc).post(URL, headers={"Authorization": "Bearer marc"}, json=BODY).status_code == 200
    svc.deliver_notifications()
    assert {to for to, _, _ in svc.notifier.sent} == {"lea.petit@hirondelles.example"}
