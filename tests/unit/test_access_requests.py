"""Issue 31 §1 through the use cases: an organisation asks for access without an account; hostile or wrong
requests are refused with every fault and nothing stored; each address confirms through its link; the Caf sees it,
accepts it (the partner is registered, its administrator without an account yet) or refuses it with a reason,
mailed; another Caf sees nothing of it."""

from __future__ import annotations

import re

import pytest

from provisioning.directory import ExtractDirectory
from provisioning.domain.access_requests import Contact, RequestState
from provisioning.errors import ProvisioningError, ValidationFailed
from provisioning.services import CAF_ADMIN, Actor
from tests.unit.factories import add_caf_692, example_data, registry
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL

MESANGES = "75100000000016"  # in the demo extract: Association Les Mésanges, 75011 Paris
CAF = Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751")
LYON = Actor("caf.lyon", frozenset({CAF_ADMIN}), caf="692")
REP = Contact("Hélène", "Garnier", "presidence@mesanges.example", "Présidente")
ADMIN = Contact("Noé", "Lefèvre", "noe.lefevre@mesanges.example", "Directeur")


@pytest.fixture
def svc(use_case_store):
    s = make_service(use_case_store)
    d = example_data()
    add_caf_692(d)
    s.import_registry(NATIONAL, registry(d))
    s.directory = ExtractDirectory()
    return s


def stored(svc) -> tuple[int, int]:
    with svc.uow() as uow:
        return (len(uow.requests.of_caf("751", tuple(RequestState))) + len(uow.requests.of_caf("692", tuple(RequestState))),
                len(uow.outbox.list(limit=1000)))


def links(svc) -> dict[str, str]:
    with svc.uow() as uow:
        mails = uow.outbox.list(limit=1000)
    return {m["recipient"]: re.search(r"/demande-d-acces/(\S+)", m["body"]).group(1) for m in mails
            if "confirmez votre adresse" in m["subject"]}


def test_hostile_and_wrong_requests_are_refused_with_every_fault_and_nothing_stored(svc):
    before = stored(svc)
    cases = [
        (("75100000000017", "751", ["AFAS"], REP, ADMIN), ["SIRET_INVALIDE"]),  # a wrong key
        (("75100000000040", "751", ["AFAS"], REP, ADMIN), ["SIRET_INCONNU"]),   # not in the directory
        ((MESANGES, "692", ["AFAS"], REP, ADMIN), ["HORS_TERRITOIRE"]),         # Paris asking Lyon's Caf
        ((MESANGES, "999", [], REP, ADMIN), ["CAF_INCONNUE", "SERVICE_MANQUANT"]),
        ((MESANGES, "751", ["AFAS", "AFAS", "ZZZ"], REP, ADMIN), ["VALEUR_INCONNUE", "VALEUR_EN_DOUBLE"]),
        ((MESANGES, "751", ["AFAS"], Contact("<script>", "Garnier", "pas-un-courriel"),
          Contact("Noé", "Lefèvre\u200b", "noe@x.example")),
         ["NOM_CARACTERE_INTERDIT", "COURRIEL_INVALIDE", "NOM_CARACTERE_INVISIBLE"]),
        (("12345678900015", "751", ["AFAS"], REP, ADMIN), ["PARTENAIRE_EXISTANT"]),
    ]
    for args, codes in cases:
        with pytest.raises(ValidationFailed) as refused:
            svc.submit_access_request(*args)
        assert [v.code for v in refused.value.violations] == codes, args
        assert "rien n'a été enregistré" in refused.value.description
    assert stored(svc) == before


def test_confirmed_then_accepted_registers_the_partner_without_accounts(svc):
    r = svc.submit_access_request(MESANGES, "751", ["AFAS"], REP, ADMIN)
    assert r.establishment.name == "Association Les Mésanges" and r.establishment.postal_code == "75011"
    with pytest.raises(ValidationFailed) as twice:
        svc.submit_access_request(MESANGES, "751", ["CDAP"], REP, ADMIN)
    assert [v.code for v in twice.value.violations] == ["DEMANDE_EN_COURS"]
    assert svc.access_requests(CAF) == []  # not before every address is confirmed
    found = links(svc)
    assert set(found) == {REP.email, ADMIN.email}
    rid, token = found[REP.email].split("/")
    with pytest.raises(ProvisioningError) as forged:
        svc.confirm_access_request(rid, token[:-2] + "xx")
    assert forged.value.code == "LIEN_INVALIDE"
    svc.confirm_access_request(rid, token)
    svc.confirm_access_request(rid, token)  # a second click changes nothing
    assert svc.access_requests(CAF) == []
    svc.confirm_access_request(*found[ADMIN.email].split("/"))
    [waiting] = svc.access_requests(CAF)
    assert waiting.state is RequestState.REQUESTED and svc.access_requests(LYON) == []
    with pytest.raises(ProvisioningError) as other:
        svc.accept_access_request(LYON, rid)  # another Caf's request is unknown to her
    assert other.value.status == 404
    p = svc.accept_access_request(CAF, rid)
    assert (p.siret, p.name, p.caf, p.administrator) == (MESANGES, "Association Les Mésanges", "751", "noe.lefevre")
    assert svc.fake.state.users.get("noe.lefevre") is None  # no account before a convention awaits her
    with pytest.raises(ProvisioningError) as again:
        svc.accept_access_request(CAF, rid)
    assert again.value.code == "DEMANDE_TRAITEE"
    entries = [e["action"] for e in svc.audit(CAF, limit=20)]
    assert {"access-request", "access-request-confirmation", "access-request-accepted", "create-partner"} <= set(entries)


def test_refused_with_a_reason_mailed_to_both(svc):
    svc.submit_access_request(MESANGES, "751", ["AFAS"], REP, REP)  # one person: one link
    [link] = links(svc).values()
    rid, _ = link.split("/")
    svc.confirm_access_request(*link.split("/"))
    with pytest.raises(ValidationFailed):
        svc.refuse_access_request(CAF, rid, "  ")
    r = svc.refuse_access_request(CAF, rid, "Aucun accueil de loisirs déclaré à cette adresse.")
    assert r.state is RequestState.REFUSED
    with svc.uow() as uow:
        told = [m for m in uow.outbox.list(limit=100) if "n'est pas acceptée" in m["subject"]]
    assert [m["recipient"] for m in told] == [REP.email] and "Aucun accueil" in told[0]["body"]
    assert svc.partner_list(CAF) and MESANGES not in {s for s, _, _ in svc.partner_list(CAF)}


def test_the_legal_representative_signs_and_alone_has_an_account_before_the_signatures(svc):
    """The request named two people: the representative signs (her account comes with the convention to sign),
    the administrator may not sign and gets her account once the convention is signed by both parties."""
    from provisioning.domain.model import ConventionStatus, Service
    from provisioning.reconcile.desired import with_accounts
    from provisioning.services import PARTNER_ADMIN
    svc.submit_access_request(MESANGES, "751", ["AFAS"], REP, ADMIN)
    for link in links(svc).values():
        svc.confirm_access_request(*link.split("/"))
    [r] = svc.access_requests(CAF)
    p = svc.accept_access_request(CAF, r.id)
    assert (p.administrator, p.representative) == ("noe.lefevre", "helene.garnier")
    assert with_accounts(p) == set()  # no convention yet: nobody
    contract = svc.partner(CAF, "12345678900015").conventions[0].contract
    svc.prepare_convention(CAF, MESANGES, "CONV-751-2026-0500", contract, [Service.AFAS])
    assert with_accounts(svc.partner(CAF, MESANGES)) == {"helene.garnier"}
    svc.issue_documents(CAF, MESANGES, "CONV-751-2026-0500")
    noe = Actor("noe.lefevre", frozenset({PARTNER_ADMIN}), partner=MESANGES, acr="niveau-2")
    with pytest.raises(ProvisioningError) as administrator:
        svc.sign_documents(noe, MESANGES, "CONV-751-2026-0500")
    assert administrator.value.status == 403
    helene = Actor("helene.garnier", frozenset(), partner=MESANGES, acr="niveau-2")
    assert svc.signs_for(helene) and not svc.signs_for(noe)
    assert [v.convention.number for v in svc.every_convention_documents(helene, MESANGES)] == ["CONV-751-2026-0500"]
    svc.sign_documents(helene, MESANGES, "CONV-751-2026-0500")
    svc.sign_documents(Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751", acr="niveau-2"), MESANGES,
                       "CONV-751-2026-0500")
    p = svc.partner(CAF, MESANGES)
    assert p.convention("CONV-751-2026-0500").status is ConventionStatus.SIGNED_BY_CAF
    assert with_accounts(p) == {"helene.garnier", "noe.lefevre"}


def test_ten_thousand_characters_and_control_characters_are_refused_with_nothing_stored(svc):
    before = stored(svc)
    for rep in (Contact("H" * 10_000, "Garnier", "presidence@mesanges.example"),
                Contact("Hélène", "Garnier", "presidence@mesanges.example", "Présidente\x07"),
                Contact("Hélène", "Garnier", "presidence@mesanges.example", "P" * 10_000)):
        with pytest.raises(ValidationFailed) as refused:
            svc.submit_access_request(MESANGES, "751", ["AFAS"], rep, ADMIN)
        assert {v.code for v in refused.value.violations} <= {"NOM_TROP_LONG", "TEXTE_CARACTERE_INTERDIT",
                                                              "TEXTE_TROP_LONG"} and refused.value.violations
    assert stored(svc) == before


def test_two_caf_administrators_deciding_at_once_one_wins_and_the_other_changes_nothing(svc):
    """A decision read before the other was stored: its save finds the state changed (compare-and-set)."""
    svc.submit_access_request(MESANGES, "751", ["AFAS"], REP, REP)
    [link] = links(svc).values()
    rid, _ = link.split("/")
    svc.confirm_access_request(*link.split("/"))
    with svc.uow() as uow:
        stale = uow.requests.get(rid)  # the second administrator's page, read before the first one decided
    svc.refuse_access_request(CAF, rid, "Aucun accueil de loisirs à cette adresse.")
    stale.state = RequestState.ACCEPTED
    with svc.uow() as uow, pytest.raises(ProvisioningError) as lost:
        uow.requests.save(stale, RequestState.REQUESTED)
    assert lost.value.code == "DEMANDE_TRAITEE"
    [r] = svc.access_requests(CAF)
    assert r.state is RequestState.REFUSED and MESANGES not in {s for s, _, _ in svc.partner_list(CAF)}
