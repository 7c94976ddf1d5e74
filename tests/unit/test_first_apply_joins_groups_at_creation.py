"""Issue 27 §4: a new person joins, with her creation, the groups that exist by then — one request to Keycloak
instead of one more per group — and the plan's memberships for her are journaled all the same; a group the
same apply creates first is joined that way too; someone already there still gets her memberships one by one."""

from __future__ import annotations

from collections import Counter
from datetime import date

from provisioning.keycloak.fake import FakeGateway
from provisioning.reconcile.apply import execute
from provisioning.reconcile.desired import desired_state
from provisioning.reconcile.plan import AddMember, plan
from provisioning.reconcile.state import State
from tests.unit.factories import registry

TODAY = date(2026, 11, 16)


def _first_apply(gw: FakeGateway, desired: State):
    audited: list[tuple[str, str | None]] = []
    changes = plan(desired, gw.observe())
    report = execute(changes, gw.observe(), gw, new_password=lambda: "Provisoire-2026!x",
                     on_audit=lambda ch, why: audited.append((str(ch), why)))
    return changes, report, audited


def test_new_people_join_their_groups_in_their_creation_request():
    gw, desired = FakeGateway(), desired_state(registry(), TODAY)
    changes, report, audited = _first_apply(gw, desired)
    joins = [ch for ch in changes if isinstance(ch, AddMember)]
    assert joins and not report.failed
    calls = Counter(gw.calls)
    assert calls["add_member"] == 0, "every membership of a new person came with her creation"
    assert calls["create_user"] == len(desired.users)
    assert all(ch in report.applied for ch in joins)
    assert {str(ch) for ch in joins} <= {what for what, why in audited if why is None}, "journaled as before"
    assert {p: m for p, m in gw.state.members.items() if m} == {p: m for p, m in desired.members.items() if m}
    assert plan(desired, gw.observe()) == [], "and the second plan is empty"


def test_someone_already_there_gets_a_new_group_by_its_own_request():
    gw, desired = FakeGateway(), desired_state(registry(), TODAY)
    _first_apply(gw, desired)
    gw.calls.clear()
    someone = next(iter(sorted(u for m in desired.members.values() for u in m)))
    path = next(p for p, m in desired.members.items() if someone in m)
    gw.state.members[path].discard(someone)  # drift: she left a group in Keycloak
    changes, report, _ = _first_apply(gw, desired)
    assert [type(ch).__name__ for ch in changes] == ["AddMember"] and not report.failed
    assert Counter(gw.calls)["add_member"] == 1 and someone in gw.state.members[path]
