"""Issue 16, the pure core of access reviews: what a campaign asks to review, who may decide, progress per
partner, reminders, and what is suspended at the deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from provisioning.domain import reviews as rv
from provisioning.domain.model import ConventionStatus, Group, Profile, Service
from provisioning.usecases.base import Actor
from tests.unit.factories import example_data, registry, second_partner

A, B = "12345678900015", "98765432100015"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _campaign(partners=None, days=30) -> rv.Campaign:
    return rv.Campaign("C-2026", "751", "caf.admin", T0, T0 + timedelta(days=days),
                       frozenset(partners) if partners is not None else None)


def _registry():
    data = example_data()
    second_partner(data)
    return registry(data)


def test_a_campaign_lists_each_person_on_each_bulletin_in_force_with_groups_and_profiles():
    reg = _registry()
    found = rv.items(_campaign(), reg.partners)
    lea = [i for i in found if i.partner == A and i.identifiant == "lea.petit"]
    assert {i.service for i in lea} == {Service.AFAS, Service.CDAP}
    afas = next(i for i in lea if i.service == Service.AFAS)
    assert Group.AFAS_DECLARER in afas.groups and Profile("fournisseur-donnees-activite") in afas.profiles
    assert {i.partner for i in found} == {A, B}
    assert len({i.key for i in found}) == len(found), "one item per person, bulletin and convention"


def test_the_scope_limits_the_campaign_and_a_convention_not_in_force_is_not_reviewed():
    reg = _registry()
    assert {i.partner for i in rv.items(_campaign([B]), reg.partners)} == {B}
    reg.partner(A).conventions[0].status = ConventionStatus.SUSPENDED
    assert not [i for i in rv.items(_campaign(), reg.partners) if i.partner == A]
    other_caf = rv.Campaign("C-X", "692", "caf.lyon", T0, T0 + timedelta(days=30))
    assert rv.items(other_caf, reg.partners) == []


def test_a_campaign_request_is_refused_with_every_fault():
    reg = _registry()
    known = {p.siret: p for p in reg.partners}
    faults = rv.validate_campaign("751", T0, T0 + timedelta(hours=2), ["00000000000000", A], known)
    assert {f.code for f in faults} == {"ECHEANCE_TROP_PROCHE", "PARTENAIRE_HORS_CAF"}
    assert {f.code for f in rv.validate_campaign("751", T0, T0 + timedelta(days=400), [], known)} == \
        {"ECHEANCE_TROP_LOINTAINE", "PERIMETRE_VIDE"}
    assert rv.validate_campaign("751", T0, T0 + timedelta(days=30), None, known) == []


def test_who_may_decide_for_a_partner():
    p = _registry().partner(A)
    assert rv.may_decide(Actor("jeanne.dupont", frozenset({"administrateur-partenaire"}), partner=A), p)
    assert rv.may_decide(Actor("marc.martin", frozenset({"responsable-habilitations"}), partner=A), p)  # on its behalf
    assert rv.may_decide(Actor("caf.admin", frozenset({"caf-administrateur"}), caf="751"), p)
    assert not rv.may_decide(Actor("lea.petit", frozenset(), partner=A), p)
    assert not rv.may_decide(Actor("b.jeanne.dupont", frozenset({"administrateur-partenaire"}), partner=B), p)
    assert not rv.may_decide(Actor("caf.lyon", frozenset({"caf-administrateur"}), caf="692"), p)


def test_decisions_count_the_last_one_and_progress_is_per_partner():
    found = rv.items(_campaign(), _registry().partners)
    mine = [i for i in found if i.partner == A]
    d = [rv.Decision(mine[0].key, rv.Verdict.REVOKE, "jeanne.dupont", T0 + timedelta(days=1)),
         rv.Decision(mine[0].key, rv.Verdict.CONFIRM, "jeanne.dupont", T0 + timedelta(days=2)),  # changed her mind
         rv.Decision(mine[1].key, rv.Verdict.REVOKE, "marc.martin", T0 + timedelta(days=2))]
    pr = rv.progress(found, d)
    assert (pr[A].total, pr[A].confirmed, pr[A].revoked, len(pr[A].pending)) == (len(mine), 1, 1, len(mine) - 2)
    assert not pr[A].done and pr[B].confirmed == 0 and len(pr[B].pending) == pr[B].total


def test_decisions_are_refused_once_the_campaign_is_closed_or_outside_it():
    c, found = _campaign(), rv.items(_campaign(), _registry().partners)
    keys = {i.key for i in found}
    assert rv.check_decision(c, keys, found[0].key, T0 + timedelta(days=3)) == []
    assert {f.code for f in rv.check_decision(c, keys, "x/y/AFAS/z", c.deadline)} == \
        {"CAMPAGNE_CLOSE", "HABILITATION_HORS_CAMPAGNE"}


def test_reminders_go_once_each_and_a_late_worker_sends_only_the_nearest():
    c, sent = _campaign(), set()
    assert rv.reminder_due(c, T0 + timedelta(days=10), sent) is None
    assert rv.reminder_due(c, c.deadline - timedelta(days=14), sent) == 14
    sent.add(14)
    assert rv.reminder_due(c, c.deadline - timedelta(days=10), sent) is None
    assert rv.reminder_due(c, c.deadline - timedelta(hours=12), sent) == 1  # days 7 and 1 have both come: the nearest
    assert rv.reminder_due(c, c.deadline, sent | {1}) is None


def test_at_the_deadline_what_nobody_confirmed_is_suspended_not_before():
    c = _campaign()
    found = rv.items(c, _registry().partners)
    d = [rv.Decision(found[0].key, rv.Verdict.CONFIRM, "jeanne.dupont", T0 + timedelta(days=1)),
         rv.Decision(found[1].key, rv.Verdict.REVOKE, "jeanne.dupont", T0 + timedelta(days=1))]
    assert rv.to_suspend(c, found, d, c.deadline - timedelta(seconds=1)) == []
    assert rv.to_suspend(c, found, d, c.deadline) == found[2:]


def test_a_campaign_a_year_by_default():
    assert rv.next_campaign_due(None, T0)
    assert not rv.next_campaign_due(T0, T0 + timedelta(days=364))
    assert rv.next_campaign_due(T0, T0 + timedelta(days=365))
