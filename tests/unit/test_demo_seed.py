"""Issue 25: a second `up.sh` deleted every partner added to the demo Caf since the first (it re-imported the
example file, which owns the whole registry). The seed now fills an empty registry only, and never writes to
Keycloak beside a running worker."""

from __future__ import annotations

from devstack.seed import seed_demo
from provisioning.domain.model import Convention, ConventionStatus, Partner, User
from provisioning.reconcile.worker import run_once
from tests.unit.services import make_service
from tests.unit.test_desired_state_files import NATIONAL

NEW = "44281937100018"


def test_a_second_up_keeps_what_was_added_since_the_first(use_case_store):
    svc = make_service(use_case_store, reconcile_mode="worker")
    first = seed_demo(svc)
    assert first.stored and first.partners == 1 and first.applied
    assert "lea.petit" in svc.fake.state.users
    svc.create_partner(NATIONAL, Partner(NEW, "Centre social Les Tilleuls", "751", administrator="sam.perrin",
                                         users=[User("sam.perrin", "Sam", "Perrin", "sam.perrin@tilleuls.example")],
                                         # signed by both parties: its people have their accounts (issue 29)
                                         conventions=[Convention("CONV-751-2026-0100", ConventionStatus.ACTIVE)]))
    run_once(svc)
    assert "sam.perrin" in svc.fake.state.users
    calls = len(svc.fake.calls)

    second = seed_demo(svc)
    assert not second.stored and second.partners == 2 and second.applied is None
    assert len(svc.fake.calls) == calls, "the seed wrote nothing to Keycloak: the worker follows"
    assert {p.siret for p in svc.registry().partners} == {"12345678900015", NEW}
    run_once(svc)  # the worker's full check: nothing of the new partner is removed
    assert svc.fake.state.users["sam.perrin"].enabled and svc.fake.state.users["lea.petit"].enabled
    assert {p.siret for p in svc.registry().partners} == {"12345678900015", NEW}
