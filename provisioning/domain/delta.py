"""What a change did to a partner, found by identity rather than by comparing documents (issue 27: one person
added to a 5,000-person partner was validated, diffed and written as 5,000 people).

A partner as read is kept untouched; the handler gets `working_copy(read)`: new lists and containers holding
the same people and grants. User and Member are frozen, so a person changed is a new object: `between(read,
changed)` finds who was added, changed or removed by walking the lists with `is`, which costs pointers, not
people (a list that only grew is checked as a prefix). The store writes those rows, the rules check them
(`rules.validate(..., focus=...)`), the journal records them (`view`). Pure: no store, no framework."""

from __future__ import annotations

import copy
import itertools
import operator
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from provisioning.domain.model import Bulletin, Convention, Equipment, Member, Partner, User

T = TypeVar("T")
MemberKey = tuple[str, str, str]  # (convention, service, identifiant)


def working_copy(p: Partner) -> Partner:
    """A copy a handler may change freely (lists, conventions, equipments are its own), sharing the people and
    grants, which are frozen. Costs list copies, not objects per person."""
    return Partner(
        p.siret, p.name, p.caf, p.administrator, list(p.delegates), list(p.users),
        [Equipment(e.code, e.name, e.type, list(e.sites), {k: list(v) for k, v in e.assignments.items()},
                   {i: list(s) for i, s in e.sites_of.items()}) for e in p.equipments],
        # a contract's contacts are replaced, never changed: the copy shares them
        [Convention(c.number, c.status, list(c.history), copy.copy(c.contract),
                    [Bulletin(b.service, list(b.members)) for b in c.bulletins], set(c.suspended_services))
         for c in p.conventions],
        p.representative, p.positions)


def positions(p: Partner) -> dict[str, int]:
    """Where each of its people stands (Partner.positions' hint)."""
    return {u.identifiant: i for i, u in enumerate(p.users)}


def positions_after(read: Partner, d: Delta | None, after: Partner) -> dict[str, int]:
    """The hint for `after`: the read one when nobody moved (people replaced in place), grown in place by those
    appended (a hint is checked at each use: an older copy sharing it finds them out of its reach); else built
    anew."""
    if d is None or d.reordered or any(a is None for _, a in d.users.values()):
        return positions(after)
    read.positions.update({i: at for i, at in d.user_at.items() if d.users[i][0] is None})
    return read.positions


def _header(p: Partner) -> tuple[Any, ...]:
    """Everything but the people and their grants (small: a partner's conventions and equipments)."""
    return (p.siret, p.name, p.caf, p.administrator, p.delegates, p.representative, p.equipments,
            [(c.number, c.status, c.history, c.contract, [b.service for b in c.bulletins], c.suspended_services)
             for c in p.conventions])


@dataclass
class Delta:
    """`users`: identifiant → (before, after), None on the side where it is absent; `members`: (convention,
    service, identifiant) → (before, after); `at`: where each changed or added one stands after the change
    (its index in the list), for the rules' paths and the rows' order; `reordered`: an order changed
    otherwise than by appending (the store then rewrites the order of every row)."""
    header: bool = False
    users: dict[str, tuple[User | None, User | None]] = field(default_factory=dict)
    members: dict[MemberKey, tuple[Member | None, Member | None]] = field(default_factory=dict)
    user_at: dict[str, int] = field(default_factory=dict)
    member_at: dict[MemberKey, int] = field(default_factory=dict)
    reordered: bool = False

    def __bool__(self) -> bool:
        return self.header or bool(self.users) or bool(self.members) or self.reordered

    @property
    def removed(self) -> set[str]:
        return {ident for ident, (_, after) in self.users.items() if after is None}


class Ambiguous(Exception):
    """Two of a list's records share a key (two people with one identifiant): what changed cannot be told by
    key, and the change is checked whole (where the rules refuse the duplicate)."""


def _walk(before: Sequence[T], after: Sequence[T], key: Callable[[T], Hashable]
          ) -> tuple[dict[Any, tuple[T | None, T | None]], dict[Any, int], bool]:
    """(changes, positions of the changed and added, reordered). A new record that takes the key of one kept
    unchanged is said added: the rules find the duplicate through the store's index."""
    n = len(before)
    if len(after) >= n and all(map(operator.is_, before, after[:n])):  # unchanged, or only grew
        tail = {key(x): i for i, x in enumerate(after[n:], start=n)}
        if len(tail) != len(after) - n:
            raise Ambiguous()
        return {key(x): (None, x) for x in after[n:]}, tail, False
    quick = _replaced_or_removed(before, after, key)
    if quick is not None:
        return quick
    b = {key(x): x for x in before}
    if len(b) != n or len({key(x) for x in after}) != len(after):
        raise Ambiguous()
    changes: dict[Any, tuple[T | None, T | None]] = {}
    at: dict[Any, int] = {}
    kept: list[Any] = []
    last_kept, first_added = -1, len(after)
    for i, x in enumerate(after):
        k = key(x)
        y = b.get(k)
        if y is None:
            changes[k], at[k] = (None, x), i
            first_added = min(first_added, i)
            continue
        kept.append(k)
        last_kept = i
        if y is not x and y != x:
            changes[k], at[k] = (y, x), i
    stay = set(kept)
    for k, y in b.items():
        if k not in stay:
            changes[k] = (y, None)
    moved = first_added < last_kept or [k for k in b if k in stay] != kept
    return changes, at, moved


def _replaced_or_removed(before: Sequence[T], after: Sequence[T], key: Callable[[T], Hashable]
                         ) -> tuple[dict[Any, tuple[T | None, T | None]], dict[Any, int], bool] | None:
    """The two other changes of one person, found comparing pointers (in C, not person by person in Python):
    records replaced in place (same length, same keys where they differ), or one record removed (the rest
    unmoved). None: another kind of change, for the general walk."""
    n = len(before)
    if len(after) == n:
        moved = list(itertools.compress(range(n), map(operator.is_not, before, after)))
        if not all(key(before[i]) == key(after[i]) for i in moved):
            return None
        moved = [i for i in moved if before[i] != after[i]]  # a copy equal to what it replaced changes nothing
        return {key(after[i]): (before[i], after[i]) for i in moved}, {key(after[i]): i for i in moved}, False
    if len(after) == n - 1:
        first = next(itertools.compress(range(n - 1), map(operator.is_not, before, after)), n - 1)
        if all(map(operator.is_, before[first + 1:], after[first:])):
            return {key(before[first]): (before[first], None)}, {}, False
    return None


def between(before: Partner | None, after: Partner) -> Delta:
    """What `after` (a working copy of `before`) changed; everything, when there was nothing before. Two records
    sharing a key make it a change to the partner itself (`header`: checked whole, rows written anew)."""
    try:
        return _between(before, after)
    except Ambiguous:
        return Delta(header=True, reordered=True)


def _between(before: Partner | None, after: Partner) -> Delta:
    if before is None:
        before = Partner(after.siret, "", after.caf)
        header = True
    else:
        header = _header(before) != _header(after)
    users, user_at, moved = _walk(before.users, after.users, lambda u: u.identifiant)
    d = Delta(header, users, {}, user_at, {}, moved)
    old = {(c.number, b.service.value): b.members for c in before.conventions for b in c.bulletins}
    new = {(c.number, b.service.value): b.members for c in after.conventions for b in c.bulletins}
    for where in [*old, *(k for k in new if k not in old)]:
        changes, at, moved = _walk(old.get(where, []), new.get(where, []), lambda m: m.identifiant)
        d.members.update({(*where, ident): ch for ident, ch in changes.items()})
        d.member_at.update({(*where, ident): i for ident, i in at.items()})
        d.reordered |= moved
    return d


def view(p: Partner, d: Delta, side: int) -> Partner:
    """The partner with its whole header but only the people and grants the change touched, as they stood
    before (side 0) or after (side 1): what the journal compares (its paths name people, so the entry is the
    same as a comparison of the whole partners)."""
    users = [x for ch in d.users.values() if (x := ch[side]) is not None]
    members: dict[tuple[str, str], list[Member]] = {}
    for (number, service, _), ch in d.members.items():
        if (m := ch[side]) is not None:
            members.setdefault((number, service), []).append(m)
    return Partner(p.siret, p.name, p.caf, p.administrator, p.delegates, users, p.equipments,
                   [Convention(c.number, c.status, c.history, c.contract,
                               [Bulletin(b.service, members.get((c.number, b.service.value), []))
                                for b in c.bulletins], c.suspended_services) for c in p.conventions],
                   p.representative)
