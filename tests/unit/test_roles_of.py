"""Issue 25: the roles the registry gives one person, computed for her alone (the API checks them on every
request), are exactly those desired_state gives her through her groups — for every person of registries with
suspensions, a delegate, a terminated convention and the « AFAS Habiliter » opening date on either side."""

from __future__ import annotations

from datetime import date

import pytest

from provisioning.reconcile.desired import desired_state, roles_of
from tests.unit.factories import TODAY, example_data, registry, second_partner


def _from_desired(reg, today):
    s = desired_state(reg, today)
    out: dict[str, set[str]] = {}
    for path, members in s.members.items():
        for who in members:
            for client, role in s.groups[path].roles:
                out.setdefault(who, set()).add(f"{client}:{role}" if client else role)
    return out


def _variants():
    yield "example", example_data(), TODAY
    d = example_data()
    second_partner(d)
    d["partners"][0]["users"][2]["suspended"] = True
    yield "suspended-and-second-partner", d, TODAY
    d = example_data()
    d["partners"][0]["conventions"][0]["status"] = "terminated"
    yield "terminated", d, TODAY
    yield "before-habiliter-opening", example_data(), date(2018, 1, 2)


@pytest.mark.parametrize("name, data, today", list(_variants()), ids=[v[0] for v in _variants()])
def test_one_persons_roles_are_what_the_whole_desired_state_gives_her(name, data, today):
    reg = registry(data)  # valid today; planned as at `today`
    expected = _from_desired(reg, today)
    people = {u.identifiant: p for p in reg.partners for u in p.users}
    admins = {a.identifiant: c for c in reg.cafs for a in c.administrators}
    assert people and admins
    for who in [*people, *admins, "personne.inconnue"]:
        got = roles_of(who, admins.get(who), people.get(who), reg.settings, today)
        assert got == frozenset(expected.get(who, set())), (name, who)
