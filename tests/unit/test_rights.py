"""Who may act on whom (R12): a responsable des habilitations never acts on the administrator, on another
delegate, or on their own habilitations. Refusals write nothing."""

from __future__ import annotations

import pytest

from provisioning.domain.model import Group, Service
from provisioning.errors import Forbidden
from provisioning.services import DELEGATE, PARTNER_ADMIN, Actor
from tests.unit.test_desired_state_files import NATIONAL, A, counts, svc  # noqa: F401 (fixture)

MARC = Actor("marc.martin", frozenset({DELEGATE}), partner=A)       # delegate of A
JEANNE = Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=A)  # its administrator
CONV = "CONV-751-2026-0001"


@pytest.fixture
def two_delegates(svc):  # noqa: F811
    svc.set_delegate(NATIONAL, A, "paul.bernard", True)
    return svc


@pytest.mark.parametrize("act", [
    lambda s, who: s.report_lost_credentials(MARC, A, who),
    lambda s, who: s.reissue_credentials(MARC, A, who),
    lambda s, who: s.set_membership(MARC, A, CONV, Service.CDAP, who, {Group.CDAP_CONSULTER}, set()),
], ids=["verrouiller", "reemettre", "habiliter"])
@pytest.mark.parametrize("who", ["jeanne.dupont", "paul.bernard"], ids=["administrateur", "autre-delegue"])
def test_a_delegate_cannot_act_on_the_administrator_or_another_delegate(two_delegates, act, who):
    before = counts(two_delegates)
    with pytest.raises(Forbidden) as e:
        act(two_delegates, who)
    assert e.value.code == "HORS_HIERARCHIE"
    assert counts(two_delegates) == before


def test_a_delegate_cannot_grant_themselves_habilitations(two_delegates):
    with pytest.raises(Forbidden) as e:
        two_delegates.set_membership(MARC, A, CONV, Service.CDAP, "marc.martin", {Group.CDAP_CONSULTER}, set())
    assert "vous-même" in e.value.description


def test_a_delegate_still_manages_ordinary_users_and_the_administrator_manages_delegates(two_delegates):
    r = two_delegates.set_membership(MARC, A, CONV, Service.CDAP, "lea.petit", set(), set())
    assert r.changed
    r = two_delegates.report_lost_credentials(JEANNE, A, "paul.bernard")
    assert r.changed and two_delegates.partner(NATIONAL, A).user("paul.bernard").locked
