"""Issue 25: loss of access is immediate in the API too. The token says who calls; the registry says, on every
request, whether that person still may and with which of the roles it manages. Measured on main: for up to
the token's 300 s, a suspended administrator locked another user, a revoked delegate kept acting."""

from __future__ import annotations

import pytest

from provisioning.api import create_app
from provisioning.services import DELEGATE, PARTNER_ADMIN, Actor
from tests.unit.test_api_usecases import ACTORS, Verifier, h
from tests.unit.test_api_usecases import api as base_api  # noqa: F401 (the fixture)
from tests.unit.test_desired_state_files import NATIONAL

A = "12345678900015"
MARC = Actor("marc.martin", frozenset({DELEGATE, "afas:AFAS-Habiliter"}), partner=A)  # the example's delegate
CALLERS = {**ACTORS, "marc": MARC, "marc-ailleurs": Actor("marc.martin", MARC.roles, partner="98765432100015"),
           "ghost": Actor("personne.inconnue", frozenset({PARTNER_ADMIN}), partner=A)}


@pytest.fixture
def api(base_api):  # noqa: F811
    client = create_app(base_api.svc, Verifier(CALLERS)).test_client()
    client.svc = base_api.svc
    return client


def test_a_suspended_administrator_is_refused_at_once_with_her_unexpired_token(api):
    assert api.get(f"/api/v1/partners/{A}/users", headers=h("jeanne")).status_code == 200
    api.svc.suspend_user(NATIONAL, A, "jeanne.dupont", True)
    r = api.post(f"/api/v1/partners/{A}/users/paul.bernard/lost-credentials", headers=h("jeanne"))
    assert r.status_code == 401 and r.get_json()["error"] == "ACCES_RETIRE"
    assert "reconnectez-vous" in r.get_json()["error_description"]
    assert not api.svc.partner(NATIONAL, A).user("paul.bernard").locked, "nothing done"
    api.svc.suspend_user(NATIONAL, A, "jeanne.dupont", False)
    assert api.get(f"/api/v1/partners/{A}/users", headers=h("jeanne")).status_code == 200


def test_a_person_removed_or_locked_or_moved_is_refused(api):
    assert api.get(f"/api/v1/partners/{A}", headers=h("marc")).status_code == 200
    assert api.get(f"/api/v1/partners/{A}", headers=h("marc-ailleurs")).status_code == 401  # names another partner
    assert api.get(f"/api/v1/partners/{A}", headers=h("ghost")).status_code == 401  # nobody of the registry
    api.svc.report_lost_credentials(NATIONAL, A, "marc.martin")  # his codes were stolen: locked
    assert api.get(f"/api/v1/partners/{A}", headers=h("marc")).status_code == 401


def test_a_role_the_registry_no_longer_gives_stops_at_once(api):
    """The delegate revoked by the administrator keeps his token's role for minutes; the API drops it now."""
    assert api.get(f"/api/v1/partners/{A}/users", headers=h("marc")).status_code == 200
    assert api.delete(f"/api/v1/partners/{A}/delegates/marc.martin", headers=h("jeanne")).status_code == 200
    r = api.get(f"/api/v1/partners/{A}/users", headers=h("marc"))
    assert r.status_code in (403, 404), r.get_data(as_text=True)[:300]
