"""Who may do what to a partner: the table of domain/policy.py, read as a matrix of actors and actions."""

from __future__ import annotations

import pytest

from provisioning.domain import policy
from provisioning.services import CAF_ADMIN, DELEGATE, PARTNER_ADMIN, Actor
from tests.unit.factories import registry

P = registry().partners[0]  # partner 12345678900015 of Caf 751, administrator jeanne.dupont
WHO = {
    "national": Actor("cli", system=True),
    "sa-caf": Actor("caf.admin", frozenset({CAF_ADMIN}), caf="751"),
    "autre-caf": Actor("caf.lyon", frozenset({CAF_ADMIN}), caf="692"),
    "administrateur": Actor("jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=P.siret),
    "delegue": Actor("marc.martin", frozenset({DELEGATE}), partner=P.siret),
    "habiliter": Actor("marc.martin", frozenset({DELEGATE, "afas:AFAS-Habiliter"}), partner=P.siret),
    "utilisateur": Actor("lea.petit", partner=P.siret),
    "autre-partenaire": Actor("b.jeanne.dupont", frozenset({PARTNER_ADMIN}), partner="98765432100015"),
}
ALLOWED = {  # action -> who may, everyone else is refused
    "create-user": {"national", "sa-caf", "administrateur", "delegue", "habiliter"},
    "set-membership": {"national", "sa-caf", "administrateur", "delegue", "habiliter"},
    "report-lost-credentials": {"national", "sa-caf", "administrateur", "delegue", "habiliter"},
    "reissue-credentials": {"national", "sa-caf", "administrateur", "delegue", "habiliter"},
    "delegate": {"national", "sa-caf", "administrateur"},
    "revoke-delegate": {"national", "sa-caf", "administrateur"},
    "set-assignments": {"national", "habiliter"},
    "set-sites": {"national", "habiliter"},
    "suspend-user": {"national", "sa-caf", "administrateur", "delegue", "habiliter"},  # issue 29
    "reactivate-user": {"national", "sa-caf", "administrateur", "delegue", "habiliter"},
    "suspend-service": {"national", "sa-caf"},
    "reactivate-service": {"national", "sa-caf"},
    "prepare-convention": {"national", "sa-caf"},
    "set-contract": {"national", "sa-caf"},
    "declare-equipment": {"national", "sa-caf"},
    "remove-equipment": {"national", "sa-caf"},
    "import-users": {"national", "sa-caf", "administrateur", "delegue", "habiliter"},
    "unlock-user": {"national", "sa-caf", "administrateur", "delegue", "habiliter"},
    "reset-second-factor": {"national", "sa-caf", "administrateur", "delegue", "habiliter"},
    "convention-transition": {"national", "sa-caf"},
    "issue-documents": {"national", "sa-caf"},  # issue 31
    "sign-documents": {"sa-caf", "administrateur"},  # a person, never the CLI
    "suspend-inactive": {"national"},
    "review-revoke": {"national", "sa-caf", "administrateur", "delegue", "habiliter"},
    "review-suspend": {"national"},
    # issue 32: the person herself too (the handler narrows the staff to her and her managers)
    "unlink-proconnect": {"national", "sa-caf", "administrateur", "delegue", "habiliter", "utilisateur"},
    # issue 29 §3: the partner's staff and its Caf reach the handler, which lets only the equipment's approver
    "send-back": {"national", "sa-caf", "administrateur", "delegue", "habiliter", "utilisateur"},
}


def test_the_matrix_covers_every_action_of_the_table():
    assert set(ALLOWED) == set(policy.POLICY)


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_who_may_do_what(action):
    for who, actor in WHO.items():
        reason = policy.refusal(actor, action, P)
        assert (reason is None) == (who in ALLOWED[action]), (action, who, reason)
        assert reason is None or reason.endswith(".")


def test_an_action_missing_from_the_table_is_refused():
    assert "inconnue" in policy.refusal(WHO["national"], "supprimer-tout", P)


def test_the_administrator_of_another_partner_of_the_same_caf_does_not_delegate_here():
    other = Actor("b.jeanne.dupont", frozenset({PARTNER_ADMIN}), partner=P.siret)  # a token claiming the partner
    assert policy.refusal(other, "delegate", P) is not None  # not its administrator by the registry
