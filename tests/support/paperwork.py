"""Issue 31: a convention comes into force only through its signed documents. Tests that need an active
convention, and are not about signing, have both parties sign through the use cases (real PDFs, real signatures,
each signer with a level-2 token as the consoles would have)."""

from __future__ import annotations

from provisioning.services import CAF_ADMIN, PARTNER_ADMIN, Actor, Provisioning

OPERATOR = Actor("ops", system=True)


def signatories(svc: Provisioning, siret: str) -> tuple[Actor, Actor]:
    """(the partner's administrator, an administrator of its Caf), both at level 2."""
    p = svc.partner(OPERATOR, siret)
    with svc.uow() as uow:
        caf = uow.registry.load_caf(p.caf)
    assert caf and caf.administrators and p.administrator, "a signature needs both signatories"
    return (Actor(p.administrator, frozenset({PARTNER_ADMIN}), partner=siret, acr="niveau-2"),
            Actor(caf.administrators[0].identifiant, frozenset({CAF_ADMIN}), caf=p.caf, acr="niveau-2"))


def signed_by_both(svc: Provisioning, siret: str, number: str) -> None:
    """Issue the convention's documents, the partner signs, the Caf countersigns: « signée par la Caf »."""
    representative, caf = signatories(svc, siret)
    if svc.documents(caf, siret, number).due:
        svc.issue_documents(caf, siret, number)
    svc.sign_documents(representative, siret, number)
    svc.sign_documents(caf, siret, number)
