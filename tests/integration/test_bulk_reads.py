"""Plans that read in bulk (issue 11 §2): our Keycloak extension's read-only endpoint returns the members of
every group and organisation carrying our marker, a page at a time. It must see exactly what Keycloak's
per-group admin reads see (foreign members included), cost far fewer requests, and answer only to the
provisioning service account."""

from __future__ import annotations

from collections import Counter

import requests

from provisioning.domain import naming as n
from provisioning.keycloak.gateway import KeycloakConfig, KeycloakGateway
from provisioning.reconcile.state import Scope
from tests.integration.conftest import OPERATOR, PROVISIONING_SECRET
from tests.unit.factories import example_data, registry, second_partner

A = "12345678900015"
REALM = "mon-compte-partenaire"


def _kind(path: str) -> str:
    for suffix in ("/members", "/children"):
        if path.endswith(suffix):
            return suffix[1:]
    return "bulk" if n.BULK_ENDPOINT in path else "other"


def _gateway(keycloak, bulk: bool, page_size: int = 500) -> tuple[KeycloakGateway, Counter]:
    gw = KeycloakGateway(KeycloakConfig(keycloak.url, client_secret=PROVISIONING_SECRET), page_size=page_size,
                         bulk_reads=bulk)
    calls: Counter = Counter()
    gw.kc.connection._s.hooks["response"].append(
        lambda r, *a, **k: calls.update([_kind(r.request.path_url.split("?")[0])]))
    return gw, calls


def _seeded(provisioning, kc_admin):
    data = example_data()
    second_partner(data)
    provisioning.import_registry(OPERATOR, registry(data))
    provisioning.reconcile(OPERATOR)
    stranger = kc_admin.user_by_username("b.lea.petit")  # a member added by hand: drift both reads must see
    group = kc_admin.get(f"/group-by-path/partenaires/{A}/CDAP Consulter")
    kc_admin.put(f"/users/{stranger['id']}/groups/{group['id']}")


def test_bulk_and_per_group_reads_observe_the_same_members(provisioning, keycloak, kc_admin):
    _seeded(provisioning, kc_admin)
    bulk_gw, bulk_calls = _gateway(keycloak, True, page_size=2)  # tiny pages: paging is exercised
    plain_gw, plain_calls = _gateway(keycloak, False)
    bulk, plain = bulk_gw.observe(), plain_gw.observe()
    assert bulk.users == plain.users  # names, emails, states, our attributes, marker: the same people
    assert bulk.groups == plain.groups  # paths, attributes, roles and ids: the same realm either way
    assert bulk.members == plain.members and bulk.org_members == plain.org_members
    assert bulk.orgs == plain.orgs  # names, attributes and marker from the extension as from the admin API
    assert "b.lea.petit" in bulk.members[f"/partenaires/{A}/CDAP Consulter"]
    assert bulk.member_ids == plain.member_ids
    assert bulk_calls["members"] == 0 and bulk_calls["bulk"] >= 2  # every member list came in bulk, in pages
    assert bulk_calls["children"] == 0  # and no hierarchy walk
    assert plain_calls["members"] >= len(plain.members)  # the admin API: one read (at least) per group

    scope = Scope(A, frozenset(u for u, spec in plain.users.items() if dict(spec.attributes).get("partner") == A))
    bulk_gw2, calls = _gateway(keycloak, True)
    scoped = bulk_gw2.observe(scope)
    assert scoped.members == {p: m for p, m in plain.members.items() if p.startswith(f"/partenaires/{A}")}
    assert calls["members"] == 0 and calls["children"] == 0
    plain_scoped = _gateway(keycloak, False)[0].observe(scope)
    assert scoped.groups == plain_scoped.groups and scoped.users == plain_scoped.users
    assert scoped.direct_roles == plain_scoped.direct_roles and scoped.orgs == plain_scoped.orgs
    assert calls["bulk"] == 3 and calls["other"] <= 1, "a partner's plan: its people, groups and organisation"



def test_a_plan_through_bulk_reads_removes_the_foreign_member(provisioning, kc_admin):
    _seeded(provisioning, kc_admin)
    changes = provisioning.plan()
    assert ("remove", "member", f"b.lea.petit -> /partenaires/{A}/CDAP Consulter") in {
        (c.action, c.kind, c.target) for c in changes}


def _token(keycloak, client_id: str, secret: str) -> str:
    return requests.post(f"{keycloak.url}/realms/{REALM}/protocol/openid-connect/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}).json()["access_token"]


def test_the_bulk_endpoint_answers_only_the_provisioning_service_account(provisioning, keycloak, user_token,
                                                                          kc_admin):
    _seeded(provisioning, kc_admin)
    url = f"{keycloak.url}/realms/{REALM}/{n.BULK_ENDPOINT}"
    assert requests.get(url, params={"kind": "groups"}, timeout=10).status_code == 401
    person = user_token("jeanne.dupont")  # a partner administrator, through the real login
    r = requests.get(url, params={"kind": "groups"}, headers={"Authorization": f"Bearer {person}"}, timeout=10)
    assert r.status_code == 403
    # another client's service account, even holding view-users, is refused: the endpoint names its caller
    cdap = kc_admin.client("cdap")
    kc_admin.put(f"/clients/{cdap['id']}", json={**cdap, "serviceAccountsEnabled": True})
    try:
        account = kc_admin.get(f"/clients/{cdap['id']}/service-account-user")
        rm = kc_admin.client("realm-management")
        view_users = kc_admin.get(f"/clients/{rm['id']}/roles/view-users")
        kc_admin.post(f"/users/{account['id']}/role-mappings/clients/{rm['id']}", json=[view_users])
        other = _token(keycloak, "cdap", "demo-only-cdap-secret")
        r = requests.get(url, params={"kind": "groups"}, headers={"Authorization": f"Bearer {other}"}, timeout=10)
        assert r.status_code == 403
    finally:
        kc_admin.put(f"/clients/{cdap['id']}", json={**cdap, "serviceAccountsEnabled": False})
    mine = {"Authorization": f"Bearer {_token(keycloak, 'provisioning', PROVISIONING_SECRET)}"}
    assert requests.get(url, params={"kind": "groups"}, headers=mine, timeout=10).status_code == 200
    for hostile in ({"kind": "roles"}, {"kind": "<script>alert(1)</script>"}, {"kind": "groups", "first": -1},
                    {"kind": "groups", "max": 0}, {"kind": "groups", "partner": "x" * 10_000}):
        r = requests.get(url, params=hostile, headers=mine, timeout=10)
        assert r.status_code in (400, 414) or (r.status_code == 200 and r.json() == []), (hostile, r.status_code)
        assert "<script>" not in r.text
    assert requests.get(url, params={"kind": "groups", "max": 5000}, headers=mine, timeout=10).status_code == 400
    # an unknown partner with the root named: nothing of any partner, only that root (a first group hangs from it)
    r = requests.get(url, params={"kind": "groups", "partner": "x" * 10_000, "root": ["partenaires", "<script>"]},
                     headers=mine, timeout=10)
    assert r.status_code == 200 and [e["path"] for e in r.json()] == ["/partenaires"]
    many = {"kind": "users", "partner": A, "username": [f"u{i}" for i in range(201)]}
    assert requests.get(url, params=many, headers=mine, timeout=10).status_code == 400


def test_one_partner_s_people_come_with_their_direct_roles_and_the_named_newcomers(provisioning, keycloak,
                                                                                    kc_admin):
    """Issue 27 §3: a plan of one partner reads its people, the roles they hold directly and anyone named (not
    yet marked) in one request; another partner's people never come with them."""
    _seeded(provisioning, kc_admin)
    lea = kc_admin.user_by_username("lea.petit")
    rm = kc_admin.get("/roles/responsable-habilitations")
    kc_admin.post(f"/users/{lea['id']}/role-mappings/realm", json=[rm])  # drift: a role given by hand
    stranger = kc_admin.create_user("hors.registre", "Hors-Registre-2026!", temporary=False)
    url = f"{keycloak.url}/realms/{REALM}/{n.BULK_ENDPOINT}"
    mine = {"Authorization": f"Bearer {_token(keycloak, 'provisioning', PROVISIONING_SECRET)}"}
    r = requests.get(url, params={"kind": "users", "partner": A, "username": ["hors.registre"]}, headers=mine,
                     timeout=10)
    assert r.status_code == 200
    people = {u["username"]: u for u in r.json()}
    assert "hors.registre" in people and "b.lea.petit" not in people  # named: yes; partner B's: no
    assert all(u["attributes"].get("partner") == [A] for name, u in people.items() if name != "hors.registre")
    assert "responsable-habilitations" in people["lea.petit"]["realmRoles"]
    scoped = _gateway(keycloak, True)[0].observe(
        Scope(A, frozenset(u for u in people if u != "hors.registre")))
    assert ("lea.petit", (None, "responsable-habilitations")) in scoped.direct_roles
    kc_admin.delete(f"/users/{stranger}")
    kc_admin.delete(f"/users/{lea['id']}/role-mappings/realm", json=[rm])


def test_pages_by_key_and_by_offset_are_the_same_pages(provisioning, keycloak, kc_admin):
    """Issue 27 §3: a page read after the previous page's last id holds what the same page read at an offset
    holds, for each kind, one partner's or all; asking both ways at once is refused."""
    _seeded(provisioning, kc_admin)
    url = f"{keycloak.url}/realms/{REALM}/{n.BULK_ENDPOINT}"
    mine = {"Authorization": f"Bearer {_token(keycloak, 'provisioning', PROVISIONING_SECRET)}"}

    def ids(params: dict) -> list[str]:
        r = requests.get(url, params=params, headers=mine, timeout=10)
        assert r.status_code == 200, (params, r.status_code, r.text[:200])
        return [e["id"] for e in r.json()]

    for kind, partner in (("groups", None), ("groups", A), ("users", None), ("organizations", None)):
        base = {"kind": kind, "max": 2, **({"partner": partner} if partner else {})}
        by_offset, first = [], 0
        while page := ids({**base, "first": first}):
            by_offset += page
            first += 2
        by_key = ids(base)
        while len(page := ids({**base, "after": by_key[-1]})):
            by_key += page
        assert by_key == by_offset and len(by_key) == len(set(by_key)) >= 2, kind
    r = requests.get(url, params={"kind": "groups", "first": 2, "after": by_key[0]}, headers=mine, timeout=10)
    assert r.status_code == 400
