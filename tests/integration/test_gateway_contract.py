"""One contract, two gateways: every behaviour the core relies on is asserted against the fake (used by the
unit tests) and against the real Keycloak, so the fake cannot drift from the real thing."""

from __future__ import annotations

import uuid

import pytest

from provisioning.domain import naming as n
from provisioning.errors import ProvisioningError
from provisioning.keycloak.fake import FakeGateway
from provisioning.keycloak.gateway import AccountDisabled
from provisioning.reconcile.state import GroupSpec, OrgSpec, UserSpec
from tests.integration.conftest import clean_managed

SIRET = "12345678900015"
ROOT = GroupSpec(f"/{n.PARTNERS_ROOT}", ((n.KIND_ATTR, "root"),))
PARTNER = GroupSpec(f"/{n.PARTNERS_ROOT}/{SIRET}", ((n.KIND_ATTR, "partner"), (n.PARTNER_ATTR, SIRET)))
CDAP = GroupSpec(f"/{n.PARTNERS_ROOT}/{SIRET}/CDAP Consulter",
                 ((n.KIND_ATTR, "cdap-consulter"), (n.PARTNER_ATTR, SIRET)), frozenset({("cdap", "CDAP-Consulter")}))


class FakeHands:
    def __init__(self, gw: FakeGateway):
        self.gw = gw

    def add_user(self, username: str, email: str) -> None:
        self.gw.hand_add_user(username, email=email)


class KeycloakHands:
    def __init__(self, admin):
        self.admin, self.created = admin, []

    def add_user(self, username: str, email: str) -> None:
        self.created.append(self.admin.create_user(username, "Hors-Registre-2026!", temporary=False, email=email))


@pytest.fixture(params=["fake", "keycloak"])
def backend(request):
    if request.param == "fake":
        gw = FakeGateway()
        yield gw, FakeHands(gw)
        return
    admin = request.getfixturevalue("kc_admin")
    clean_managed(admin)
    hands = KeycloakHands(admin)
    yield request.getfixturevalue("gateway"), hands
    for uid in hands.created:
        admin.delete(f"/users/{uid}")
    clean_managed(admin)


def user(name: str, enabled: bool = True) -> UserSpec:
    return UserSpec(name, "Prénom", "Nom", f"{name}@contrat.example", enabled, ((n.PARTNER_ATTR, SIRET),))


def test_what_we_create_is_observed_as_ours_with_its_members(backend):
    gw, _ = backend
    root = gw.create_group(ROOT, None)
    parent = gw.create_group(PARTNER, root)
    cdap = gw.create_group(CDAP, parent)
    org = gw.create_org(OrgSpec(n.org_alias(SIRET), f"Partenaire ({SIRET})", ((n.PARTNER_ATTR, SIRET),)))
    uid = gw.create_user(user("contrat.un"), None)
    gw.add_member(uid, cdap)
    gw.add_org_member(org, uid)
    seen = gw.observe()
    assert seen.users["contrat.un"].managed and seen.users["contrat.un"].enabled
    assert seen.users["contrat.un"].attributes == ((n.PARTNER_ATTR, SIRET),)
    assert seen.groups[CDAP.path].managed and seen.groups[CDAP.path].roles == CDAP.roles
    assert seen.members[CDAP.path] == {"contrat.un"}
    assert seen.org_members[n.org_alias(SIRET)] == {"contrat.un"} and seen.orgs[n.org_alias(SIRET)].managed


def test_disable_remove_and_adopt_are_observed(backend):
    gw, hands = backend
    cdap = gw.create_group(CDAP, gw.create_group(PARTNER, gw.create_group(ROOT, None)))
    uid = gw.create_user(user("contrat.deux"), None)
    gw.add_member(uid, cdap)
    gw.set_enabled(uid, False)
    gw.remove_member(uid, cdap)
    seen = gw.observe()
    assert seen.users["contrat.deux"].enabled is False and seen.members[CDAP.path] == set()
    hands.add_user("hors.registre", "hors.registre@ailleurs.example")
    assert not gw.observe().users.get("hors.registre", UserSpec("x", "", "", "", managed=False)).managed
    assert gw.adopt("hors.registre") is True and gw.adopt("personne.ici") is False
    assert gw.observe().users["hors.registre"].managed


def test_accounts_we_did_not_create_are_found_by_username_or_email(backend):
    gw, hands = backend
    hands.add_user("compte.tiers", "compte.tiers@ailleurs.example")
    gw.create_user(user("contrat.trois"), None)
    assert gw.unmanaged_account("compte.tiers", "autre@x.example") == "compte.tiers"
    assert gw.unmanaged_account("nouveau.nom", "COMPTE.TIERS@ailleurs.example") == "compte.tiers"
    assert gw.unmanaged_account("contrat.trois", "contrat.trois@contrat.example") is None  # ours
    assert gw.unmanaged_account(f"x{uuid.uuid4().hex[:8]}", "libre@x.example") is None


def test_refusals_and_absences_are_the_same(backend):
    gw, _ = backend
    assert gw.user_id("personne.inconnue") is None
    gw.create_user(user("contrat.quatre"), None)
    with pytest.raises(ProvisioningError):  # Keycloak answers 409: our error, never a library's
        gw.create_user(user("contrat.quatre"), None)
    root = gw.create_group(ROOT, None)
    gid = gw.create_group(PARTNER, root)
    gw.delete_group(gid)
    gw.delete_group(gid)  # already gone: not an error (an interrupted run deleted it)
    assert PARTNER.path not in gw.observe().groups


def test_a_provisional_password_never_enables_an_account(backend):
    """Issue 25: enabling is the plan's decision. Measured on main: `reset_provisional` set `enabled = True`,
    so a queued delivery gave a suspended person a working password back."""
    gw, _ = backend
    uid = gw.create_user(user("contrat.cinq", enabled=False), None)
    gw.reset_provisional(uid, "Provisoire-Contrat-2026!", None)  # a re-issue's kill: allowed, stays disabled
    assert gw.observe().users["contrat.cinq"].enabled is False
    with pytest.raises(AccountDisabled):  # a delivery: refused while disabled, retried later
        gw.reset_provisional(uid, "Provisoire-Contrat-2027!", None, only_if_enabled=True)
    assert gw.observe().users["contrat.cinq"].enabled is False
    gw.set_enabled(uid, True)
    gw.reset_provisional(uid, "Provisoire-Contrat-2028!", None, only_if_enabled=True)
    assert gw.observe().users["contrat.cinq"].enabled is True
