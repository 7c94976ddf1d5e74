"""plan() is pure data; apply() on the fake gateway converges, reruns safely, corrects drift, owns only its objects."""

from dataclasses import replace

from provisioning.domain.model import ConventionStatus
from provisioning.keycloak.fake import FakeGateway
from provisioning.reconcile.apply import apply
from provisioning.reconcile.desired import desired_state
from provisioning.reconcile.plan import plan
from provisioning.reconcile.state import State
from tests.unit.factories import TODAY, add_user, example_data, registry, second_partner

HIR = "/partenaires/12345678900015"


def converge(reg, gw, today=TODAY):
    return apply(desired_state(reg, today), gw, new_password=lambda: "Provisoire-Test-2026!")


def test_plan_from_empty_creates_the_mapped_objects():
    changes = plan(desired_state(registry(), TODAY), State())
    kinds = {(c.action, c.kind) for c in changes}
    assert ("create", "organisation") in kinds and ("create", "user") in kinds
    created_groups = {c.target for c in changes if c.kind == "group"}
    assert f"{HIR}/AFAS Déclarer" in created_groups and f"{HIR}/CDAP Consulter" in created_groups
    assert all(c.reason for c in changes)


def test_after_apply_a_second_plan_is_empty_and_apply_is_idempotent():
    gw = FakeGateway()
    reg = registry()
    first = converge(reg, gw)
    assert {u.username for u in first.created_users} == {"caf.admin", "jeanne.dupont", "marc.martin",
                                                         "lea.petit", "paul.bernard"}
    assert plan(desired_state(reg, TODAY), gw.observe()) == []
    assert converge(reg, gw).empty


def test_partner_administrator_has_no_service_role_by_default():
    gw = FakeGateway()
    converge(registry(), gw)
    holding = {p for p, members in gw.state.members.items() if "jeanne.dupont" in members}
    assert holding == {f"{HIR}/Administrateur partenaire"}


def test_drift_by_hand_shows_in_plan_and_apply_corrects_it():
    gw = FakeGateway()
    reg = registry()
    converge(reg, gw)
    gw.hand_add_member("jeanne.dupont", f"{HIR}/AFAS Approbateur")
    gw.hand_grant_role("paul.bernard", ("afas", "approbateur"))
    drift = plan(desired_state(reg, TODAY), gw.observe())
    assert [(c.action, c.kind, c.target) for c in drift] == [
        ("remove", "member", f"jeanne.dupont -> {HIR}/AFAS Approbateur"),
        ("remove", "direct-role", "paul.bernard -> afas:approbateur"),
    ]
    converge(reg, gw)
    assert plan(desired_state(reg, TODAY), gw.observe()) == []


def test_removed_member_loses_access():
    gw = FakeGateway()
    data = example_data()
    converge(registry(data), gw)
    cdap = data["partners"][0]["conventions"][0]["bulletins"][1]
    cdap["members"] = []
    changes = plan(desired_state(registry(data), TODAY), gw.observe())
    assert [(c.action, c.target) for c in changes] == [("remove", f"lea.petit -> {HIR}/CDAP Consulter")]
    report = converge(registry(data), gw)
    assert gw.logged_out == ["lea.petit"]  # her live sessions end with the role (every application is told)
    assert [(c.action, c.kind) for c in report.applied] == [("remove", "member"), ("end", "sessions")]


def test_suspended_convention_removes_memberships_but_keeps_groups():
    gw = FakeGateway()
    reg = registry()
    converge(reg, gw)
    reg.partners[0].conventions[0].status = ConventionStatus.SUSPENDED
    changes = plan(desired_state(reg, TODAY), gw.observe())
    assert changes and all(c.action == "remove" and c.kind == "member" for c in changes)
    assert all("Administrateur" not in c.target and "Responsables" not in c.target for c in changes)


def test_an_account_we_did_not_create_is_a_conflict_never_adopted():
    gw = FakeGateway()
    gw.hand_add_user("lea.petit", first="Léa", last="Petit", email="lea.petit@hirondelles.example")
    gw.hand_add_user("quelquun", email="paul.bernard@hirondelles.example")  # same email, other username
    report = converge(registry(), gw)
    assert {c.target for c, _ in report.failed} == {"lea.petit", "paul.bernard"}
    assert all(c.action == "conflict" for c, _ in report.failed)
    assert "lea.petit" not in {u.username for u in report.created_users} and "paul.bernard" not in gw.state.users
    assert "lea.petit" not in gw.passwords
    assert gw.state.users["lea.petit"].attributes == () and not gw.state.users["lea.petit"].managed
    assert all("lea.petit" not in m for m in gw.state.members.values())
    assert all("lea.petit" not in m for m in gw.state.org_members.values())


def test_never_deletes_what_it_did_not_create():
    gw = FakeGateway()
    gw.hand_add_user("stranger")
    gw.state.groups["/autre"] = replace(desired_state(registry(), TODAY).groups["/partenaires"], path="/autre",
                                        managed=False, id="g-x")
    converge(registry(), gw)
    data = example_data()
    data["partners"] = []
    data["cafs"][0]["administrators"] = []
    changes = plan(desired_state(registry(data), TODAY), gw.observe())
    targets = {c.target for c in changes}
    assert "stranger" not in targets and "/autre" not in targets
    assert ("disable", "user", "lea.petit") in {(c.action, c.kind, c.target) for c in changes}
    assert ("delete", "organisation", "p-12345678900015") in {(c.action, c.kind, c.target) for c in changes}


def test_refused_changes_stop_nothing_else_and_a_rerun_finishes_the_job():
    gw = FakeGateway()
    reg = registry()
    gw.fail_on = "add_org_member"  # (a new person's groups come with her creation: no call of their own)
    first = converge(reg, gw)
    assert first.failed and {c.kind for c, _ in first.failed} == {"org-member"}
    assert all("simulated failure" in why for _, why in first.failed)
    assert {c.kind for c in first.applied} >= {"user", "group", "organisation", "member"}
    gw.fail_on = None
    report = converge(reg, gw)
    assert not any(c.action == "create" for c in report.applied)  # nothing created twice
    assert {c.kind for c in report.applied} == {"org-member"} and report.complete
    assert plan(desired_state(reg, TODAY), gw.observe()) == []


def test_a_suspension_never_waits_behind_a_refused_creation():
    gw = FakeGateway()
    data = example_data()
    converge(registry(data), gw)
    add_user(data, "nouveau.venu")
    data["partners"][0]["users"][2]["suspended"] = True  # lea.petit
    gw.fail_on = "create_user"
    order = [(c.action, c.kind) for c in plan(desired_state(registry(data), TODAY), gw.observe())]
    assert order.index(("disable", "user")) < order.index(("create", "user"))
    report = converge(registry(data), gw)
    assert [(c.kind, c.target) for c, _ in report.failed] == [
        ("user", "nouveau.venu"), ("org-member", "nouveau.venu -> p-12345678900015")]  # its dependant fails with it
    assert "dépend d'un changement qui a échoué" in report.failed[1][1]
    assert gw.state.users["lea.petit"].enabled is False and "lea.petit" in gw.logged_out


def test_keycloak_unreachable_halts_the_run_and_says_so():
    from provisioning.errors import Unavailable
    gw = FakeGateway()
    calls = []

    def down(*a, **k):
        calls.append(1)
        raise Unavailable("Keycloak injoignable")
    gw.create_org = down
    report = converge(registry(), gw)
    assert report.halted == "Keycloak injoignable" and not report.complete
    assert len(calls) == 1 and len(report.failed) == 1  # nothing more was sent to a dead server


def test_suspended_user_is_disabled_and_logged_out():
    gw = FakeGateway()
    reg = registry()
    converge(reg, gw)
    reg.partners[0].update_user("lea.petit", suspended=True)
    converge(reg, gw)
    assert gw.state.users["lea.petit"].enabled is False
    assert "lea.petit" in gw.logged_out
    assert all("lea.petit" not in m for m in gw.state.members.values())


def test_partners_are_isolated_in_their_own_groups():
    gw = FakeGateway()
    data = example_data()
    second_partner(data)
    converge(registry(data), gw)
    b_groups = [p for p, m in gw.state.members.items() if any(u.startswith("b.") for u in m)]
    assert b_groups and all(p.startswith("/partenaires/98765432100015/") for p in b_groups)


def test_scoped_apply_reconciles_one_partner_and_leaves_the_others_alone():
    from provisioning.reconcile.state import Scope
    gw = FakeGateway()
    data = example_data()
    second_partner(data)
    reg = registry(data)
    converge(reg, gw)
    gw.hand_add_member("b.jeanne.dupont", "/partenaires/98765432100015/AFAS Approbateur")  # drift in B
    reg.partners[0].update_user("paul.bernard", suspended=True)                           # change in A
    scope = Scope("12345678900015", frozenset(u.identifiant for u in reg.partners[0].users))
    report = apply(desired_state(reg, TODAY), gw, new_password=lambda: "x", scope=scope)
    assert gw.calls.count("observe") == 1 and "observe:12345678900015" in gw.calls  # one full read: the first
    assert {c.target.split(" -> ")[0] for c in report.applied} == {"paul.bernard"}
    assert "b.jeanne.dupont" in gw.state.members["/partenaires/98765432100015/AFAS Approbateur"]
    full = plan(desired_state(reg, TODAY), gw.observe())
    assert [(c.action, c.target) for c in full] == [
        ("remove", "b.jeanne.dupont -> /partenaires/98765432100015/AFAS Approbateur")]


def test_scoped_apply_creates_a_new_partner_under_the_existing_root():
    from provisioning.reconcile.state import Scope
    gw = FakeGateway()
    data = example_data()
    converge(registry(data), gw)
    second_partner(data)
    reg = registry(data)
    b = reg.partners[1]
    apply(desired_state(reg, TODAY), gw, new_password=lambda: "x",
          scope=Scope(b.siret, frozenset(u.identifiant for u in b.users)))
    assert plan(desired_state(reg, TODAY), gw.observe()) == []


def test_independent_changes_run_together_by_kind_and_groups_level_by_level():
    from provisioning.reconcile.apply import _batches
    data = example_data()
    second_partner(data)
    changes = plan(desired_state(registry(data), TODAY), State())
    batches = _batches(changes)
    assert [c for b in batches for c in b] == changes  # nothing reordered, nothing lost
    for b in batches:
        assert len({(type(c), getattr(getattr(c, "spec", None), "depth", None)) for c in b}) == 1
    group_batches = [b for b in batches if b[0].kind == "group"]
    assert [b[0].spec.depth for b in group_batches] == sorted(b[0].spec.depth for b in group_batches)
    assert len(group_batches) < sum(len(b) for b in group_batches)  # siblings together, not one by one


def test_applying_a_few_at_a_time_reaches_the_same_realm_as_one_at_a_time():
    data = example_data()
    second_partner(data)
    reg = registry(data)
    serial, parallel = FakeGateway(), FakeGateway()
    apply(desired_state(reg, TODAY), serial, new_password=lambda: "Provisoire-Test-2026!", workers=1)
    report = apply(desired_state(reg, TODAY), parallel, new_password=lambda: "Provisoire-Test-2026!", workers=4)
    assert report.complete
    want = desired_state(reg, TODAY)
    assert plan(want, parallel.observe()) == [] and plan(want, serial.observe()) == []
    assert parallel.observe().members == serial.observe().members
