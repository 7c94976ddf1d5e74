"""Issue 31 §2–4 through the use cases, with real PDFs (WeasyPrint) and real signatures (pyHanko, the local test
PKI): the Caf issues the convention's documents, the partner's representative signs after a level-2 login, the
Caf countersigns, and only then is the convention « signée »; a bulletin whose people change is issued again and
signed again; a file changed by one byte is refused."""

from __future__ import annotations

import pytest

from provisioning.domain.model import ConventionStatus, Group, Profile, Service, ServiceContract
from provisioning.domain.paperwork import CAF_SIDE, PARTNER_SIDE
from provisioning.errors import Forbidden, ProvisioningError, ValidationFailed
from provisioning.notify.notifier import MemoryNotifier
from provisioning.paperwork.render import render
from provisioning.paperwork.signatory import LocalPkiSignatory
from provisioning.services import CAF_ADMIN, DELEGATE, PARTNER_ADMIN, Actor
from tests.unit.factories import registry
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL

A, NUMBER = "12345678900015", "CONV-751-2026-0002"
CAF = Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751", acr="niveau-2")
JEANNE = Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=A, acr="niveau-2")


@pytest.fixture(scope="module")
def signatory(tmp_path_factory):
    return LocalPkiSignatory(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def svc(use_case_store, signatory):
    s = make_service(use_case_store, signatory=signatory, renderer=render, notifier=MemoryNotifier())
    s.import_registry(NATIONAL, registry())
    p = s.partner(CAF, A)
    s.prepare_convention(CAF, A, NUMBER, p.conventions[0].contract, [Service.AFAS])
    return s


def codes(e: ProvisioningError) -> list[str]:
    return [v.code for v in e.violations] or [e.code]


def outbox(svc) -> list[tuple[str, str]]:
    with svc.uow() as uow:
        return [(m["recipient"], m["subject"]) for m in uow.outbox.list(limit=500)]


def test_issued_signed_countersigned_then_signee_from_the_files_only(svc, signatory):
    docs = svc.issue_documents(CAF, A, NUMBER)
    assert [(d.kind, d.version, d.awaits) for d in sorted(docs, key=lambda d: d.kind)] == [
        ("bulletin-AFAS", 1, PARTNER_SIDE), ("contrat", 1, PARTNER_SIDE), ("convention", 1, PARTNER_SIDE)]
    assert any(r == "jeanne.dupont@hirondelles.example" and NUMBER in s for r, s in outbox(svc))
    with pytest.raises(ValidationFailed) as again:
        svc.issue_documents(CAF, A, NUMBER)
    assert codes(again.value) == ["DOCUMENTS_A_JOUR"]

    # who may sign, and how
    level_1 = Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=A, acr="niveau-1")
    for who, code in ((level_1, "NIVEAU_2_REQUIS"), (Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=A), "NIVEAU_2_REQUIS"),
                      (Actor("marc.martin", frozenset({DELEGATE}), partner=A, acr="niveau-2"), "forbidden"),
                      (Actor("caf.lyon", frozenset({CAF_ADMIN}), caf="692", acr="niveau-2"), "forbidden"),
                      (Actor("ops", system=True, acr="niveau-2"), "forbidden")):
        with pytest.raises(ProvisioningError) as refused:
            svc.sign_documents(who, A, NUMBER)
        assert codes(refused.value) == [code], who
    with pytest.raises(ValidationFailed) as first:
        svc.sign_documents(CAF, A, NUMBER)  # the partner signs first
    assert codes(first.value) == ["RIEN_A_SIGNER"]
    with pytest.raises(ValidationFailed) as button:
        svc.transition_convention(CAF, A, NUMBER, ConventionStatus.SIGNED_BY_PARTNER)
    assert codes(button.value) == ["SIGNATURE_ELECTRONIQUE_REQUISE"]

    svc.sign_documents(JEANNE, A, NUMBER)
    conv = svc.partner(CAF, A).convention(NUMBER)
    assert conv.status is ConventionStatus.SIGNED_BY_PARTNER and conv.history[-1].actor == "jeanne.dupont"
    assert any(r == "habilitations@caf75.example" and "à contresigner" in s for r, s in outbox(svc))
    with pytest.raises(ValidationFailed) as twice:
        svc.sign_documents(JEANNE, A, NUMBER)  # a second click
    assert codes(twice.value) == ["RIEN_A_SIGNER"]
    with pytest.raises(ValidationFailed) as between:
        svc.issue_documents(CAF, A, NUMBER)
    assert codes(between.value) == ["EMISSION_IMPOSSIBLE"]

    svc.sign_documents(CAF, A, NUMBER)
    view = svc.documents(CAF, A, NUMBER)
    assert view.convention.status is ConventionStatus.SIGNED_BY_CAF and view.due == []
    for d in view.current:
        _, pdf = svc.document_pdf(JEANNE, A, d.id)
        v = signatory.verify(pdf)
        assert v.ok and [s.field for s in v.signatures] == [PARTNER_SIDE, CAF_SIDE]
        assert [s.signer for s in v.signatures] == ["Jeanne Dupont", "Claire Fontaine"]
    entries = svc.audit(CAF, A, limit=5)
    assert entries[0]["action"] == "sign-documents" and view.current[0].sha256 in entries[0]["summary"]
    svc.transition_convention(CAF, A, NUMBER, ConventionStatus.ACTIVE)


def test_a_bulletin_whose_people_change_is_issued_again_and_signed_again(svc):
    svc.issue_documents(CAF, A, NUMBER)
    svc.sign_documents(JEANNE, A, NUMBER)
    svc.sign_documents(CAF, A, NUMBER)
    svc.transition_convention(CAF, A, NUMBER, ConventionStatus.ACTIVE)
    svc.set_membership(CAF, A, NUMBER, Service.AFAS, "marc.martin", {Group("AFAS Déclarer")}, {Profile.APPROBATEUR})
    assert svc.documents(CAF, A, NUMBER).due == ["bulletin-AFAS"]
    [new] = svc.issue_documents(CAF, A, NUMBER)
    assert (new.kind, new.version, new.awaits) == ("bulletin-AFAS", 2, PARTNER_SIDE)
    view = svc.documents(JEANNE, A, NUMBER)
    assert [(d.version, d.current) for d in view.versions if d.kind == "bulletin-AFAS"] == [(2, True), (1, False)]
    svc.sign_documents(JEANNE, A, NUMBER)
    svc.sign_documents(CAF, A, NUMBER)
    view = svc.documents(CAF, A, NUMBER)
    assert view.convention.status is ConventionStatus.ACTIVE and {d.awaits for d in view.current} == {None}


def test_a_file_changed_by_one_byte_is_refused_and_fails_verification(svc, signatory, use_case_store):
    svc.issue_documents(CAF, A, NUMBER)
    svc.sign_documents(JEANNE, A, NUMBER)
    d = next(d for d in svc.documents(CAF, A, NUMBER).current if d.kind == "convention")
    _, pdf = svc.document_pdf(CAF, A, d.id)
    bad = bytearray(pdf)
    bad[len(bad) // 2] ^= 0x01
    assert signatory.verify(pdf).ok and not svc.verify_pdf(bytes(bad)).ok
    # the stored file altered behind our back: neither served nor countersigned
    row = use_case_store.tables["documents"][d.id]
    use_case_store.tables["documents"][d.id] = (row[0], bytes(bad))
    with pytest.raises(ProvisioningError) as served:
        svc.document_pdf(CAF, A, d.id)
    assert served.value.code == "DOCUMENT_ALTERE"
    with pytest.raises(ProvisioningError) as countersigned:
        svc.sign_documents(CAF, A, NUMBER)
    assert countersigned.value.code == "DOCUMENT_ALTERE"
    assert svc.partner(CAF, A).convention(NUMBER).status is ConventionStatus.SIGNED_BY_PARTNER


def test_documents_are_issued_only_from_a_complete_contract_and_read_by_the_partners_managers(svc):
    svc.set_contract(CAF, A, NUMBER, ServiceContract(incident_procedure="Appeler."))
    with pytest.raises(ValidationFailed) as incomplete:
        svc.issue_documents(CAF, A, NUMBER)
    assert codes(incomplete.value) == ["CONTRAT_INCOMPLET"]
    with pytest.raises(Forbidden):
        svc.issue_documents(JEANNE, A, NUMBER)  # the Caf's business
    other = Actor("b.jeanne", frozenset({PARTNER_ADMIN}), partner="98765432100015", acr="niveau-2")
    with pytest.raises(ProvisioningError) as outsider:
        svc.documents(other, A, NUMBER)
    assert outsider.value.status == 404


def test_on_a_database_the_same_and_a_stale_signature_is_refused(use_case_engine, signatory):
    """The SQL repository: versions, the compare-and-set of a signature, the file checked against its hash."""
    import sqlalchemy as sa

    from provisioning.store import tables as t
    s = make_service(use_case_engine, signatory=signatory, renderer=render)
    s.import_registry(NATIONAL, registry())
    s.prepare_convention(CAF, A, NUMBER, s.partner(CAF, A).conventions[0].contract, [Service.AFAS])
    s.issue_documents(CAF, A, NUMBER)
    stale = s.documents(CAF, A, NUMBER).current[0]
    s.sign_documents(JEANNE, A, NUMBER)
    with s.uow() as uow, pytest.raises(ProvisioningError) as lost:  # who read the file before that signature
        uow.documents.sign(stale, PARTNER_SIDE, b"%PDF-", s.now(), "x")
    assert lost.value.code == "DOCUMENT_MODIFIE"
    s.sign_documents(CAF, A, NUMBER)
    assert s.partner(CAF, A).convention(NUMBER).status is ConventionStatus.SIGNED_BY_CAF
    d = s.documents(CAF, A, NUMBER).current[0]
    with use_case_engine.begin() as c:
        pdf = c.execute(sa.select(t.convention_documents.c.pdf).where(t.convention_documents.c.id == d.id)).scalar_one()
        c.execute(sa.update(t.convention_documents).where(t.convention_documents.c.id == d.id)
                  .values(pdf=pdf[:-10] + b"0" + pdf[-9:]))
    with pytest.raises(ProvisioningError) as served:
        s.document_pdf(JEANNE, A, d.id)
    assert served.value.code == "DOCUMENT_ALTERE"
