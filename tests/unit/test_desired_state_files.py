"""Desired-state files own a scope; applying one never touches the rest; destruction needs its count;
export round-trips; a change that changes nothing writes nothing. Fake Keycloak, the registry in memory."""

from __future__ import annotations

import copy

import pytest
import yaml

from provisioning.desired_file import dump, load
from provisioning.domain.scope import FileScope
from provisioning.errors import Conflict, Forbidden, ProvisioningError, ValidationFailed
from provisioning.services import CAF_ADMIN, Actor
from provisioning.usecases import desired_state as files
from tests.unit.factories import TODAY, add_caf_692, example_data, registry, second_partner
from tests.unit.services import make_service

NATIONAL = Actor("cli:national", system=True)
CAF_751 = Actor("cli:op@caf:751", frozenset({CAF_ADMIN}), caf="751")
CAF_692 = Actor("cli:op@caf:692", frozenset({CAF_ADMIN}), caf="692")
A, B, LYON = "12345678900015", "98765432100015", "55555555500005"


def two_cafs() -> dict:
    """Caf 751 with partners A and B, Caf 692 with one partner of its own (whole-registry file)."""
    d = example_data()
    second_partner(d)
    add_caf_692(d)
    lyon = copy.deepcopy(d["partners"][1])
    lyon.update(siret=LYON, name="Mairie de Lyon", caf="692")
    for u in lyon["users"]:
        u["identifiant"] = u["identifiant"].replace("b.", "l.")
        u["email"] = u["email"].replace("b.", "l.")
    lyon["administrator"] = lyon["administrator"].replace("b.", "l.")
    lyon["delegates"] = [x.replace("b.", "l.") for x in lyon["delegates"]]
    for e in lyon["equipments"]:
        e["assignments"] = {k: [x.replace("b.", "l.") for x in v] for k, v in e["assignments"].items()}
    for c in lyon["conventions"]:
        c["number"] = "CONV-692-2026-0001"
        for b in c["bulletins"]:
            for m in b["members"]:
                m["identifiant"] = m["identifiant"].replace("b.", "l.")
    d["partners"].append(lyon)
    return d


def caf_file(d: dict, code: str = "751") -> dict:
    """The part of a whole-registry file that one Caf owns."""
    out = copy.deepcopy(d)
    out["scope"] = {"cafs": [code]}
    out.pop("settings", None)
    out["cafs"] = [c for c in out["cafs"] if c["code"] == code]
    out["partners"] = [p for p in out["partners"] if p["caf"] == code]
    return out


@pytest.fixture
def svc(use_case_store):
    s = make_service(use_case_store)
    s.import_registry(NATIONAL, registry(two_cafs()))
    s.reconcile(NATIONAL)
    return s


def counts(svc) -> dict:
    """What the registry holds, read through the unit of work (the same on memory, SQLite and PostgreSQL)."""
    with svc.uow() as uow:
        return {"audit": len(uow.audit.list(limit=10**6, with_changes=False)),
                "outbox": len(uow.outbox.list(limit=10**6)),
                "versions": uow.registry.versions()}


def test_a_file_without_scope_is_refused_with_a_clear_message():
    d = example_data()
    del d["scope"]
    with pytest.raises(ValidationFailed) as e:
        registry(d)
    [v] = e.value.violations
    assert v.code == "PERIMETRE_MANQUANT" and "scope" in v.message and v.line is None or v.line >= 1


def test_a_file_cannot_describe_what_lies_outside_its_scope():
    d = caf_file(two_cafs())
    d["partners"][1]["caf"] = "692"  # a partner of another Caf slipped into Caf 751's file
    d["settings"] = {"afas_habiliter_opening": "2018-04-01"}
    with pytest.raises(ValidationFailed) as e:
        load(yaml.safe_dump(d, allow_unicode=True), TODAY)
    found = {(v.code, v.path) for v in e.value.violations}
    assert ("HORS_PERIMETRE", "partners[1].siret") in found and ("HORS_PERIMETRE", "settings") in found
    assert all(v.line for v in e.value.violations if v.code == "HORS_PERIMETRE")


def test_applying_one_cafs_file_leaves_every_other_caf_alone(svc):
    d = caf_file(two_cafs())
    d["partners"] = [p for p in d["partners"] if p["siret"] == A]  # B dropped: removed
    svc.fake.hand_add_member("l.jeanne.dupont", f"/partenaires/{LYON}/AFAS Approbateur")  # drift at Caf 692
    p = files.plan_file(svc, CAF_751, load(yaml.safe_dump(d, allow_unicode=True), TODAY))
    assert {c.owner for c in p.changes} == {f"partner:{B}"}  # Caf 692's drift is not this file's business
    assert p.lines()[0].destructive and p.removes_partners
    files.apply_plan(svc, CAF_751, p, allow_destroy=len(p.destructive))
    reg = svc.registry()
    assert {x.siret for x in reg.partners} == {A, LYON}
    assert svc.fake.state.users["l.lea.petit"].enabled and not svc.fake.state.users["b.lea.petit"].enabled
    assert "l.jeanne.dupont" in svc.fake.state.members[f"/partenaires/{LYON}/AFAS Approbateur"]


def test_a_caf_administrator_applies_only_its_own_cafs_files(svc):
    d = caf_file(two_cafs())
    before = counts(svc)
    with pytest.raises(Forbidden) as e:
        files.plan_file(svc, CAF_692, load(yaml.safe_dump(d, allow_unicode=True), TODAY))
    assert e.value.code == "HORS_MANDAT" and "751" in e.value.description
    with pytest.raises(Forbidden) as e:
        files.plan_file(svc, CAF_751, registry(two_cafs()))  # scope: all
    assert e.value.code == "HORS_MANDAT"
    named = caf_file(two_cafs(), "692")
    named["scope"], named["cafs"] = {"partners": [LYON]}, []
    with pytest.raises(Forbidden):  # naming another Caf's partner does not get round it
        files.plan_file(svc, CAF_751, load(yaml.safe_dump(named, allow_unicode=True), TODAY))
    assert counts(svc) == before


def test_destruction_needs_the_exact_count_and_yes_alone_never_suffices(svc):
    d = caf_file(two_cafs())
    d["partners"] = [p for p in d["partners"] if p["siret"] == A]
    p = files.plan_file(svc, CAF_751, load(yaml.safe_dump(d, allow_unicode=True), TODAY))
    n = len(p.destructive)
    assert n > 1 and p.removes_partners
    before = counts(svc)
    with pytest.raises(ProvisioningError) as e:
        files.apply_plan(svc, CAF_751, p)
    assert e.value.code == "DESTRUCTION_NON_AUTORISEE" and f"--allow-destroy {n}" in e.value.description
    with pytest.raises(ProvisioningError) as e:
        files.apply_plan(svc, CAF_751, p, allow_destroy=n - 1)
    assert e.value.code == "DESTRUCTION_COMPTE_DIFFERENT"
    assert counts(svc) == before and B in {x.siret for x in svc.registry().partners}


def test_a_few_revocations_pass_under_the_threshold_but_not_above_it(svc):
    d = caf_file(two_cafs())
    d["partners"][0]["conventions"][0]["bulletins"][1]["members"] = []  # lea.petit loses CDAP
    p = files.plan_file(svc, CAF_751, load(yaml.safe_dump(d, allow_unicode=True), TODAY))
    assert [(c.action, c.kind) for c in p.destructive] == [("remove", "member")]
    with pytest.raises(ProvisioningError):
        files.check_destruction(p, None, threshold=0)
    report = files.apply_plan(svc, CAF_751, p)  # default threshold: one revocation needs no count
    assert report.complete and "lea.petit" not in svc.fake.state.members[f"/partenaires/{A}/CDAP Consulter"]


def test_export_round_trips_and_its_plan_is_empty(svc):
    text = dump(files.export(svc, CAF_751, FileScope(cafs=frozenset({"751"}))))
    assert "l.lea.petit" not in text and "scope:" in text
    back = load(text, TODAY)
    assert {x.siret for x in back.partners} == {A, B}
    p = files.plan_file(svc, CAF_751, back)
    assert p.empty, [str(c) for c in p.lines()]
    with pytest.raises(Forbidden):
        files.export(svc, CAF_751, FileScope(cafs=frozenset({"692"})))


def test_a_plan_is_refused_if_the_registry_moved_since_it_was_shown(svc):
    d = caf_file(two_cafs())
    d["partners"][0]["users"][3]["last_name"] = "Bernard-Durand"
    p = files.plan_file(svc, CAF_751, load(yaml.safe_dump(d, allow_unicode=True), TODAY))
    svc.set_delegate(NATIONAL, A, "lea.petit", True)  # someone else's edit after the plan was shown
    before = counts(svc)
    with pytest.raises(Conflict) as e:
        files.apply_plan(svc, CAF_751, p)
    assert e.value.code == "VERSION_PERIMEE"
    assert counts(svc) == before


def test_a_change_that_changes_nothing_writes_nothing(svc):
    before = counts(svc)
    sent = len(svc.notifier.sent)
    calls = len(svc.fake.calls)
    r = svc.set_delegate(NATIONAL, A, "lea.petit", False)  # not a delegate: nothing to revoke
    assert r.changed is False
    r = svc.suspend_user(NATIONAL, A, "paul.bernard", False)  # not suspended
    assert r.changed is False
    assert counts(svc) == before and len(svc.notifier.sent) == sent
    assert len(svc.fake.calls) == calls  # no reconcile either
    assert files.plan_file(svc, NATIONAL, registry(two_cafs())).empty
    svc.import_registry(NATIONAL, registry(two_cafs()))  # the same file again
    assert counts(svc) == before


def test_interleaved_edits_lose_nothing_silently(svc):
    """The client's If-Match version: the second of two edits based on the same read is refused."""
    version = counts(svc)["versions"][A]
    svc.set_delegate(NATIONAL, A, "lea.petit", True, expected_version=version)
    with pytest.raises(Conflict) as e:
        svc.set_delegate(NATIONAL, A, "paul.bernard", True, expected_version=version)
    assert e.value.code == "VERSION_PERIMEE"
    assert set(svc.partner(NATIONAL, A).delegates) == {"marc.martin", "lea.petit"}


def test_an_account_we_did_not_create_is_never_adopted(svc):
    from provisioning.domain.model import User
    svc.fake.hand_add_user("intrus", email="intrus@ailleurs.example")
    before = counts(svc)
    for ident, mail in (("intrus", "x@hirondelles.example"), ("nouvelle", "intrus@ailleurs.example")):
        with pytest.raises(Conflict) as e:
            svc.create_user(NATIONAL, A, User(ident, "Ines", "Trus", mail))
        assert e.value.code == "COMPTE_NON_GERE"
    assert counts(svc) == before
    d = caf_file(two_cafs())
    d["partners"][0]["users"].append({"identifiant": "intrus", "first_name": "I", "last_name": "T",
                                      "email": "intrus2@x.example"})
    p = files.plan_file(svc, CAF_751, load(yaml.safe_dump(d, allow_unicode=True), TODAY))
    [conflict] = [c for c in p.changes if c.target == "intrus" or c.target.startswith("intrus ")]
    assert conflict.action == "conflict"
    report = files.apply_plan(svc, CAF_751, p)
    assert [c.action for c, _ in report.failed] == ["conflict"]
    assert svc.fake.state.users["intrus"].attributes == () and not svc.fake.state.users["intrus"].managed


def test_adoption_is_explicit_audited_and_reserved_to_the_partners_caf(svc):
    svc.fake.hand_add_user("deja.la", email="deja.la@x.example")
    d = caf_file(two_cafs())
    d["partners"][0]["users"].append({"identifiant": "deja.la", "first_name": "D", "last_name": "L",
                                      "email": "deja.la@x.example"})
    files.apply_plan(svc, CAF_751, files.plan_file(svc, CAF_751, load(yaml.safe_dump(d, allow_unicode=True), TODAY)))
    assert not svc.fake.state.users["deja.la"].managed  # listed, never adopted by a plan
    with pytest.raises(Forbidden):
        svc.adopt_account(CAF_692, "deja.la")
    r = svc.adopt_account(CAF_751, "deja.la")
    assert r.reconciled and svc.fake.state.users["deja.la"].managed
    assert svc.fake.state.users["deja.la"].attributes == (("caf", "751"), ("partner", A))
    assert any(e["action"] == "adopt-account" and e["actor"] == CAF_751.username for e in svc.audit(NATIONAL, A))
    with pytest.raises(Conflict):
        svc.adopt_account(CAF_751, "deja.la")  # nothing left to adopt
