"""Issue 27: a change to people and grants is checked by the rules for what it touched (rules.Focus), the rest
having passed them when it was stored. The property: from a valid partner, after any mix of changes to its
people and grants — good or bad names, addresses taken, people removed while still named, grants outside the
catalogue or over a cap, grants for strangers —, the focused check finds exactly what checking the whole partner
finds. Where a duplicate is said differs (the whole check names the later of the two in the list, the focused
one names the person the change touched), so duplicates are compared by code and person."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import replace
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.domain import catalogue, rules
from provisioning.domain.delta import between, working_copy
from provisioning.domain.model import Group, Member, Profile, Registry, User
from provisioning.usecases.change import _focus
from tests.unit.factories import TODAY, add_user, example_data, registry

NAMES = ["Anne", "Jean<script>", "Zoé", "", "Éloïse\u200b", "O'Brien"]
DUPLICATES = {"IDENTIFIANT_EN_DOUBLE", "COURRIEL_EN_DOUBLE"}


@functools.cache
def _partner():
    """Read once: each example changes a working copy of it, never it."""
    data = example_data()
    for k in range(6):
        add_user(data, f"personne.{k}")
    reg = registry(data)
    assert rules.validate(reg, TODAY) == []
    return reg


class _Index:
    """The store's identifiant index as it stood before the change (store/uow.RegistryRepository.holders)."""
    def __init__(self, reg: Registry):
        self.rows = [(u.identifiant, u.email.lower(), p.siret) for p in reg.partners for u in p.users]
        self.rows += [(a.identifiant, a.email.lower(), None) for c in reg.cafs for a in c.administrators]

    def holders(self, identifiants, emails):
        ids, mails = set(identifiants), {e.lower() for e in emails}
        return [r for r in self.rows if r[0] in ids or r[1] in mails]


@st.composite
def changes(draw):
    return draw(st.lists(st.tuples(st.sampled_from(["add", "email", "names", "remove", "suspend", "grant",
                                                    "ungrant", "suspend-grant"]),
                                   st.integers(0, 50), st.integers(0, 50), st.integers(0, 50)),
                         min_size=1, max_size=5))


def _apply(p, ops):
    cat = catalogue.current()
    groups = [Group(g.name) for _, g in cat.groups()] + [Group("Groupe Inconnu")]
    profiles = [Profile(x.code) for _, x in cat.profiles()] + [Profile("profil-inconnu")]
    bulletins = [b for c in p.conventions for b in c.bulletins]
    for op, a, b, c in ops:
        people = [u.identifiant for u in p.users]
        who = people[a % len(people)] if people else "personne"
        if op == "add":
            ident = ["nouvelle.personne", who, "caf.admin", "X", "nouvelle.deux"][b % 5]
            email = [f"{ident}@x.example", p.users[c % len(p.users)].email.upper() if p.users else "a@x.example",
                     "caf.admin@caf75.example", "pas-une-adresse"][c % 4]
            p.users.append(User(ident, NAMES[b % len(NAMES)], NAMES[c % len(NAMES)], email))
        elif op == "email" and p.users:
            other = p.users[b % len(p.users)].email
            p.update_user(who, email=[other, f"autre.{b}@x.example", other.title()][c % 3])
        elif op == "names":
            p.update_user(who, first_name=NAMES[b % len(NAMES)], last_name=NAMES[c % len(NAMES)])
        elif op == "remove":
            p.users = [u for u in p.users if u.identifiant != who]
        elif op == "suspend":
            p.update_user(who, suspended=True, suspended_by="caf")
        elif op == "grant":
            bulletin = bulletins[b % len(bulletins)]
            ident = [who, "inconnu.total"][c % 2] if c % 7 else "caf.admin"
            member = Member(ident, {groups[x % len(groups)] for x in (b, c) if (b + c) % 5},
                            {profiles[x % len(profiles)] for x in (a, b, c)[: c % 4]})
            bulletin.members = [m for m in bulletin.members if m.identifiant != ident] + [member]
        elif op == "ungrant":
            bulletin = bulletins[b % len(bulletins)]
            bulletin.members = [m for m in bulletin.members if m.identifiant != who]
        elif op == "suspend-grant":
            bulletin = bulletins[b % len(bulletins)]
            if bulletin.members:
                m = bulletin.members[c % len(bulletin.members)]
                bulletin.update(m.identifiant, suspended=not m.suspended)
    return p


def _compared(faults):
    return Counter((v.code, v.message.split("«")[1].split("»")[0].strip().lower() if "«" in v.message else "")
                   if v.code in DUPLICATES else (v.code, v.message, v.path) for v in faults)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(changes())
def test_the_focused_check_finds_what_the_whole_check_finds(ops):
    reg = _partner()
    read = reg.partners[0]
    changed = _apply(working_copy(read), ops)
    d = between(read, changed)
    if d.header:  # a change to the partner itself (or two people with one identifiant) is checked whole
        return
    after = Registry(reg.cafs, [changed], reg.settings)
    uow = SimpleNamespace(registry=_Index(reg))
    whole = rules.validate(after, TODAY)
    focused = rules.validate(after, TODAY, focus=_focus(uow, changed, d))
    assert _compared(focused) == _compared(whole), (ops, whole, focused)


def test_a_working_copy_shares_the_people_and_a_change_is_found_by_identity():
    read = _partner().partners[0]
    copy = working_copy(read)
    assert copy == read and copy.users is not read.users and all(a is b for a, b in zip(copy.users, read.users, strict=True))
    assert not between(read, copy)
    copy.users.append(User("nouvelle.venue", "Nouvelle", "Venue", "nouvelle.venue@x.example"))
    d = between(read, copy)
    assert not d.header and not d.reordered and list(d.users) == ["nouvelle.venue"]
    assert d.user_at == {"nouvelle.venue": len(read.users)}
    copy.update_user("lea.petit", email="lea.nouvelle@x.example")
    copy.users.remove(copy.user("paul.bernard"))
    d = between(read, copy)
    assert {i: (b is not None, a is not None) for i, (b, a) in d.users.items()} == {
        "nouvelle.venue": (False, True), "lea.petit": (True, True), "paul.bernard": (True, False)}
    assert not d.reordered  # a removal leaves the others in their order
    copy.users.reverse()
    assert between(read, copy).reordered
    assert replace(read, name="Autre nom") != read and between(read, replace(working_copy(read), name="Autre")).header


def test_one_person_replaced_or_removed_is_found_without_walking_the_others_one_by_one():
    """A suspension (a person replaced in place), a grant changed in place, a person removed: each found by
    comparing pointers, the rest left in its order (nothing rewritten but that person's row)."""
    read = _partner().partners[0]
    copy = working_copy(read)
    copy.update_user("lea.petit", suspended=False)  # a copy equal to what it replaces: nothing changed
    assert not between(read, copy)
    copy.update_user("lea.petit", suspended=True, suspended_by="caf")
    d = between(read, copy)
    assert list(d.users) == ["lea.petit"] and d.user_at == {"lea.petit": 2} and not d.reordered and not d.header
    copy = working_copy(read)
    afas = copy.conventions[0].bulletins[0]
    afas.update("paul.bernard", suspended=True)
    d = between(read, copy)
    assert list(d.members) == [("CONV-751-2026-0001", "AFAS", "paul.bernard")] and not d.reordered
    copy = working_copy(read)
    copy.users = [u for u in copy.users if u.identifiant != "marc.martin"]
    d = between(read, copy)
    assert {i: a for i, (_, a) in d.users.items()} == {"marc.martin": None} and not d.reordered
