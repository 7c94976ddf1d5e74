"""Issue 27: one person's change on a big partner cost the whole partner several times over — its document
parsed once for the rights check and once for the change, every person's name and address checked again, its
index rows read back. Now: parsed once, the formats of the people who changed checked, the index rows known
from the read."""

from __future__ import annotations

import pytest

from provisioning.api import create_app
from provisioning.domain import rules
from provisioning.domain.model import User
from tests.support.partner_reads import count_partner_reads
from tests.unit.factories import TODAY, add_user, example_data, registry
from tests.unit.services import make_service
from tests.unit.test_api_contract import ACTORS
from tests.unit.test_api_usecases import Verifier
from tests.unit.test_desired_state_files import NATIONAL

A = "12345678900015"


@pytest.fixture
def big(use_case_store):
    data = example_data()
    for k in range(300):
        add_user(data, f"personne.{k}")
    svc = make_service(use_case_store, reconcile_mode="worker")  # the change alone (Keycloak follows later)
    svc.import_registry(NATIONAL, registry(data))
    return svc


def test_adding_a_person_parses_the_partner_once_and_checks_the_formats_of_that_person_only(big, monkeypatch):
    client = create_app(big, Verifier(ACTORS), Verifier(ACTORS)).test_client()
    parsed = count_partner_reads(monkeypatch)
    checked: list[str] = []
    real_names = rules.person_name_faults
    monkeypatch.setattr(rules, "person_name_faults",
                        lambda value, label, path: checked.append(value) or real_names(value, label, path))
    r = client.post(f"/api/v1/partners/{A}/users", headers={"Authorization": "Bearer caf"},
                    json={"identifiant": "nouvelle.venue", "first_name": "Nouvelle", "last_name": "Venue-Unique",
                          "email": "nouvelle.venue@x.example"})
    assert r.status_code == 201, r.get_json()
    assert parsed == [A], "the partner's document is parsed by the change only (rights: its row's columns)"
    assert "Venue-Unique" in checked and len(checked) <= 4, checked  # the new person's names, not the 300 others
    assert big.partner(ACTORS["caf"], A).user("nouvelle.venue") is not None


def test_a_remembered_check_never_hides_a_fault():
    """The memo is of values: the same bad name is refused every time, wherever it stands."""
    data = example_data()
    reg = registry(data)
    for _ in range(2):
        reg.partners[0].users.append(User("mauvais.nom", "Jean<script>", "Nom", "mauvais.nom@x.example"))
        faults = [v for v in rules.validate(reg, TODAY) if v.code == "NOM_CARACTERE_INTERDIT"]
        assert [v.path for v in faults] == [f"partners[0].users[{len(reg.partners[0].users) - 1}].first_name"]
        reg.partners[0].users.pop()
    reg.partners[0].users.append(User("b", "Jean", "Nom", "x@x.example"))
    assert [v.code for v in rules.validate(reg, TODAY)].count("IDENTIFIANT_INVALIDE") == 1


def test_the_api_refuses_an_outsider_from_the_columns_as_before(big):
    client = create_app(big, Verifier(ACTORS), Verifier(ACTORS)).test_client()
    body = {"identifiant": "x.y", "first_name": "X", "last_name": "Y", "email": "x.y@x.example"}
    assert client.post("/api/v1/partners/98765432100015/users", headers={"Authorization": "Bearer caf"},
                       json=body).status_code == 404
    assert client.post(f"/api/v1/partners/{A}/users", headers={"Authorization": "Bearer lea"},
                       json=body).status_code in (403, 404)


def test_delivering_a_partners_codes_reads_its_document_once_a_claim_not_once_a_person(big, monkeypatch):
    """Each code's recipient is decided from the registry when it leaves (issue 25); that read was one whole
    partner per person: 5,000 new people, 5,000 parses of a 5,000-person document."""
    from provisioning.reconcile.worker import run_once
    from provisioning.store.uow import Outbox
    parsed = count_partner_reads(monkeypatch)
    run_once(big)  # Keycloak follows: 300-odd accounts made, their codes sent with the reconcile
    people = len(big.partner(ACTORS["caf"], A).users)
    assert len([m for m in big.notifier.sent if "mot de passe" in m[1].lower()]) >= people - 1
    assert parsed.count(A) <= 6 + -(-people // Outbox.CLAIM_BATCH), parsed.count(A)
