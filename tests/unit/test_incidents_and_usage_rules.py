"""R19 incident reports and R15 usage-rules versions at the use-case level (fake Keycloak, SQLite): who may,
what is audited and mailed, and which version each acceptance counts for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from provisioning.errors import Forbidden, Transient, ValidationFailed
from provisioning.services import CAF_ADMIN, Actor
from tests.unit.factories import registry
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL

LEA = Actor("lea.petit", partner="12345678900015")
CAF = Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751")
LYON = Actor("caf.lyon", frozenset({CAF_ADMIN}), caf="692")


@pytest.fixture
def svc(use_case_store):
    s = make_service(use_case_store)
    s.import_registry(NATIONAL, registry())
    s.reconcile(NATIONAL)
    return s


def test_an_incident_is_validated_audited_and_mailed_to_the_caf(svc):
    with pytest.raises(ValidationFailed) as e:
        svc.report_incident(LEA, "autre", "trop court")
    assert {v.code for v in e.value.violations} == {"VALEUR_INCONNUE", "DESCRIPTION_TROP_COURTE"}
    with pytest.raises(Forbidden):
        svc.report_incident(CAF, "incident", "Un courriel suspect demandait mon mot de passe.")
    ref = svc.report_incident(LEA, "perte", "J'ai perdu le carnet où je notais mes codes d'accès.")
    [mail] = [m for m in svc.notifier.sent if m[0] == "habilitations@caf75.example" and f"n° {ref}" in m[1]]
    assert "lea.petit" in mail[2] and "carnet" in mail[2]
    assert svc.audit(NATIONAL, "12345678900015")[0]["action"] == "report-incident"


class Publisher:
    def __init__(self, fail: bool = False):
        self.fail, self.published = fail, []

    def publish(self, version, at):
        if self.fail:
            raise Transient("Keycloak injoignable (test)")
        self.published.append((version, at))


def test_a_published_version_counts_acceptances_from_its_date(svc):
    with pytest.raises(Forbidden):
        svc.publish_usage_rules(CAF, "2027-01-01", Publisher())  # national only
    with pytest.raises(Transient):
        svc.publish_usage_rules(NATIONAL, "2027-01-01", Publisher(fail=True))
    assert [r["version"] for r in svc.usage_rules_acceptances(NATIONAL)] == [None] * 4  # nothing stored: both or neither
    base = datetime(2026, 12, 1, tzinfo=UTC)
    svc.now = lambda: base
    publisher = Publisher()
    svc.publish_usage_rules(NATIONAL, "2026-12-01", publisher)
    assert publisher.published == [("2026-12-01", int(base.timestamp()))]
    svc.fake.attributes["lea.petit"] = {"terms_and_conditions": [str(int((base + timedelta(days=1)).timestamp()))]}
    svc.fake.attributes["paul.bernard"] = {"terms_and_conditions": [str(int((base - timedelta(days=30)).timestamp()))]}
    rows = {r["identifiant"]: r for r in svc.usage_rules_acceptances(CAF)}
    assert rows["lea.petit"]["version"] == "2026-12-01" and rows["lea.petit"]["current"]
    assert rows["paul.bernard"]["version"] == "2016-06-20" and not rows["paul.bernard"]["current"]
    assert rows["marc.martin"]["version"] is None
    assert svc.usage_rules_acceptances(LYON) == []  # another Caf sees none of these people
    with pytest.raises(Forbidden):
        svc.usage_rules_acceptances(LEA)
