"""Issue 27: `GET /api/v1/partners` parsed every partner document of the Caf (people, conventions, bulletins) to
answer three columns; at 60,000 partners that is the registry in memory per request. Now the columns only."""

from __future__ import annotations

import pytest

from provisioning.api import create_app
from tests.support.partner_reads import count_partner_reads
from tests.unit.factories import add_caf_692, example_data, registry, second_partner
from tests.unit.services import make_service
from tests.unit.test_api_contract import ACTORS
from tests.unit.test_api_usecases import Verifier
from tests.unit.test_desired_state_files import NATIONAL


@pytest.fixture
def client(use_case_engine):
    svc = make_service(use_case_engine)
    data = example_data()
    second_partner(data)
    add_caf_692(data)
    svc.import_registry(NATIONAL, registry(data))
    return create_app(svc, Verifier({**ACTORS, "cli": NATIONAL}), Verifier(ACTORS)).test_client()


@pytest.mark.parametrize(("who", "expected"), [
    ("caf", {("12345678900015", "751"), ("98765432100015", "751")}),
    ("lyon", set()),  # a Caf without partners: another Caf's are not listed
    ("cli", {("12345678900015", "751"), ("98765432100015", "751")}),
])
def test_a_caf_or_national_list_parses_no_partner_document(client, who, expected, monkeypatch):
    parsed = count_partner_reads(monkeypatch)
    r = client.get("/api/v1/partners", headers={"Authorization": f"Bearer {who}"})
    assert r.status_code == 200 and parsed == []
    assert {(p["siret"], p["caf"]) for p in r.get_json()} == expected
    assert all(p["name"] for p in r.get_json())


def test_a_partners_own_staff_still_sees_only_its_partner(client):
    r = client.get("/api/v1/partners", headers={"Authorization": "Bearer jeanne"})
    assert [p["siret"] for p in r.get_json()] == ["12345678900015"]
    assert client.get("/api/v1/partners", headers={"Authorization": "Bearer lea"}).get_json() == []


def test_exporting_one_partner_parses_that_partner_only(use_case_engine, monkeypatch):
    """`mcp-provisioning export --partner` read and parsed every partner of the registry to keep one."""
    from provisioning.domain.scope import FileScope
    from provisioning.usecases import desired_state as files
    svc = make_service(use_case_engine)
    data = example_data()
    second_partner(data)
    svc.import_registry(NATIONAL, registry(data))
    parsed = count_partner_reads(monkeypatch)
    reg = files.export(svc, NATIONAL, FileScope(partners=frozenset({"98765432100015"})))
    assert [p.siret for p in reg.partners] == ["98765432100015"] and parsed == ["98765432100015"]
    parsed.clear()
    reg = files.export(svc, NATIONAL, FileScope(cafs=frozenset({"751"})))
    assert [p.siret for p in reg.partners] == ["12345678900015", "98765432100015"] and [c.code for c in reg.cafs] == ["751"]


def test_a_partners_staff_request_reads_its_partner_once_to_know_who_acts(client, monkeypatch):
    """current_actor's standing read the person's partner twice per API request."""
    parsed = count_partner_reads(monkeypatch)
    r = client.get("/api/v1/partners", headers={"Authorization": "Bearer jeanne"})
    assert r.status_code == 200
    # who acts (standing); the answer's read finds the partner as this process keeps it (issue 27)
    assert parsed == ["12345678900015"]
