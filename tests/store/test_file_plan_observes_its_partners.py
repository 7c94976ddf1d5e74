"""Issue 27: a file naming a few partners reads Keycloak partner by partner, as an API mutation does, not the
whole realm (a full read: 23 to 34 minutes at 50,000 partners). Its plan is the one the full read gives, for
every kind of change a partner's file makes and with drift left by hand in Keycloak. And of the registry it reads
the partners it names only: whom its people would meet elsewhere is asked of the identifiant index."""

from __future__ import annotations

from dataclasses import replace

import pytest

from provisioning.domain.model import User
from provisioning.domain.scope import FileScope
from provisioning.errors import ValidationFailed
from provisioning.store import uow as store
from provisioning.usecases import desired_state as files
from tests.support.partner_reads import count_partner_reads
from tests.unit.factories import example_data, registry, second_partner
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL

A, B = "12345678900015", "98765432100015"


@pytest.fixture
def svc(use_case_engine):
    s = make_service(use_case_engine)
    data = example_data()
    second_partner(data)
    s.import_registry(NATIONAL, registry(data))
    s.reconcile(NATIONAL)
    return s


def _file(svc, sirets: set[str], edit) -> object:
    reg = files.export(svc, NATIONAL, FileScope(partners=frozenset(sirets)))
    return edit(reg)


def _add(reg):
    [p, *rest] = reg.partners
    return replace(reg, partners=[replace(p, users=[*p.users, User("zoe.roy", "Zoé", "Roy", "zoe.roy@x.example")]),
                                  *rest])


def _remove_paul(reg):
    out = []
    for p in reg.partners:
        p.users = [u for u in p.users if u.identifiant != "paul.bernard"]
        for c in p.conventions:
            for b in c.bulletins:
                b.members = [m for m in b.members if m.identifiant != "paul.bernard"]
        for e in p.equipments:
            e.assignments = {k: [x for x in v if x != "paul.bernard"] for k, v in e.assignments.items()}
        out.append(p)
    return replace(reg, partners=out)


def _drop_partner_b(reg):
    return replace(reg, partners=[p for p in reg.partners if p.siret != B])


def _drift(svc) -> None:
    """By hand in Keycloak: a member taken out of a group, an account disabled, a stranger added to a group."""
    st = svc.fake.state
    path = next(p for p, names in st.members.items() if "lea.petit" in names)
    st.members[path].discard("lea.petit")
    st.users["marc.martin"] = replace(st.users["marc.martin"], enabled=False)
    st.members[path].add("b.paul.bernard")


@pytest.mark.parametrize(("case", "sirets"), [(case, sirets) for case in ("nothing", "add", "remove", "drift")
                                               for sirets in ({A}, {A, B})] + [("drop-b", {A, B})])
def test_the_plan_partner_by_partner_is_the_plan_of_the_full_read(svc, case, sirets, monkeypatch):
    if case == "drift":
        _drift(svc)
    edit = {"nothing": lambda r: r, "add": _add, "remove": _remove_paul, "drop-b": _drop_partner_b,
            "drift": lambda r: r}[case]
    calls = len(svc.fake.calls)
    one_by_one = files.plan_file(svc, NATIONAL, _file(svc, sirets, edit))
    observed = svc.fake.calls[calls:]
    assert "observe" not in observed and sorted(c for c in observed if c.startswith("observe:")) == \
        sorted(f"observe:{s}" for s in sirets)
    monkeypatch.setattr(files, "OBSERVED_ONE_BY_ONE", 0)  # the whole realm read, as before
    full = files.plan_file(svc, NATIONAL, _file(svc, sirets, edit))
    assert sorted(map(repr, one_by_one.changes)) == sorted(map(repr, full.changes))
    if case != "nothing":
        assert one_by_one.changes, "a plan with something in it"


# --- what the plan reads of the registry ---------------------------------------------------------------------


def _with_user(reg, siret: str, user: User):
    return replace(reg, partners=[replace(p, users=[*p.users, user]) if p.siret == siret else p for p in reg.partners])


def test_a_partners_file_reads_only_the_partners_it_names(svc, monkeypatch):
    parsed = count_partner_reads(monkeypatch)
    monkeypatch.setattr(store.RegistryRepository, "load", lambda self: pytest.fail("the whole registry was read"))
    reg = _file(svc, {A}, _add)
    parsed.clear()
    plan = files.plan_file(svc, NATIONAL, reg)
    files.apply_plan(svc, NATIONAL, plan)
    assert set(parsed) == {A}
    assert "zoe.roy" in {u.identifiant for u in svc.partner(NATIONAL, A).users}


@pytest.mark.parametrize("clash", ["identifiant", "email"])
def test_a_person_another_partner_holds_is_refused_at_the_files_line(svc, clash):
    """The rule read the whole registry to find it; the index finds it now, with the same code, at the path of
    the file's person (so at its line), and nothing is written."""
    theirs = svc.partner(NATIONAL, B).users[0]
    user = User(theirs.identifiant if clash == "identifiant" else "new.person", "Ana", "Dias",
                theirs.email.upper() if clash == "email" else "ana.dias@x.example")
    reg = _with_user(_file(svc, {A}, lambda r: r), A, user)
    with pytest.raises(ValidationFailed) as refused:
        files.plan_file(svc, NATIONAL, reg)
    [v] = refused.value.violations
    assert v.code == ("IDENTIFIANT_EN_DOUBLE" if clash == "identifiant" else "COURRIEL_EN_DOUBLE")
    assert v.path.startswith("partners[0].users[")


def test_a_person_moving_between_two_partners_of_the_same_file_is_accepted(svc):
    def move(reg):
        pa = next(p for p in reg.partners if p.siret == A)
        pb = next(p for p in reg.partners if p.siret == B)
        lea = pa.user("lea.petit")
        reg = _remove_paul(reg)  # any edit; then Léa leaves A for B
        for c in pa.conventions:
            for b in c.bulletins:
                b.members = [m for m in b.members if m.identifiant != "lea.petit"]
        for e in pa.equipments:
            e.assignments = {k: [x for x in v if x != "lea.petit"] for k, v in e.assignments.items()}
        pa.users = [u for u in pa.users if u.identifiant != "lea.petit"]
        pb.users = [*pb.users, lea]
        return reg
    plan = files.plan_file(svc, NATIONAL, _file(svc, {A, B}, move))
    files.apply_plan(svc, NATIONAL, plan, allow_destroy=len(plan.destructive))
    assert svc.partner(NATIONAL, B).user("lea.petit") is not None and svc.partner(NATIONAL, A).user("lea.petit") is None
