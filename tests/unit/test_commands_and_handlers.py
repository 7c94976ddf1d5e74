"""Issue 26 §1–2: every change is a command with one registered handler, and the unit of work is injected.

The registry of handlers is the one list of what the registry accepts: a command without a handler, or a
handler registered for a command its signature does not take, fails here rather than at a caller. The unit of
work is the one given to the application: a service without a database, whose unit of work opens the registry
it was given (in memory here, PostgreSQL where the integration tests rerun it), carries out every kind of partner
command — so no use case builds its own."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from provisioning.domain.model import ConventionStatus, EquipmentType, Group, Profile, Service, User
from provisioning.errors import ValidationFailed
from provisioning.notify.notifier import MemoryNotifier
from provisioning.services import Provisioning
from provisioning.usecases import commands
from provisioning.usecases.handlers import HANDLERS
from tests.unit.factories import TODAY
from tests.unit.services import reconciled_service
from tests.unit.test_desired_state_files import NATIONAL
from tests.unit.test_user_import import HEADER

A = "12345678900015"
CONV = "CONV-751-2026-0001"


def _commands() -> set[type[commands.Command]]:
    found = set()
    for value in vars(commands).values():
        if inspect.isclass(value) and issubclass(value, commands.Command) and dataclasses.is_dataclass(value) \
                and value not in (commands.Command, commands.OnPartner):
            found.add(value)
    return found


def test_every_command_has_one_handler_that_takes_it():
    assert set(HANDLERS) == _commands()
    for command, handler in HANDLERS.items():
        taken = list(inspect.signature(handler).parameters.values())[2].annotation
        assert taken in (command.__name__, command), (command.__name__, handler.__qualname__, taken)


def test_a_command_nobody_handles_is_refused_before_anything(use_case_store):
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Unknown(commands.Command):
        pass
    svc = reconciled_service(use_case_store)
    with pytest.raises(TypeError, match="Unknown"):
        svc.handle(NATIONAL, Unknown())


def test_commands_are_data_the_facade_and_handle_give_the_same_change(use_case_store):
    svc = reconciled_service(use_case_store)
    person = User("nouvelle.venue", "Nouvelle", "Venue", "nouvelle.venue@hirondelles.example")
    result = svc.handle(NATIONAL, commands.CreateUser(siret=A, user=person))
    assert result.changed and result.partner.user("nouvelle.venue") == person
    again = svc.create_user  # the facade's name builds the same command: a second one is refused, listed
    with pytest.raises(ValidationFailed) as refused:
        again(NATIONAL, A, person)
    assert [v.code for v in refused.value.violations] == ["IDENTIFIANT_EN_DOUBLE"]


def test_every_partner_command_goes_through_the_injected_unit_of_work(use_case_store):
    """The service has no database of its own (engine None): any use case opening a transaction elsewhere than
    through the unit of work it was given fails."""
    ready = reconciled_service(use_case_store)
    opened: list[int] = []

    def unit_of_work():
        opened.append(1)
        return ready.uow()
    svc = Provisioning(None, lambda: ready.fake, MemoryNotifier(), today=lambda: TODAY, reconcile_mode="worker",
                       uow=unit_of_work)
    svc.create_user(NATIONAL, A, User("nouvelle.venue", "Nouvelle", "Venue", "nouvelle.venue@hirondelles.example"))
    svc.set_membership(NATIONAL, A, CONV, Service.CDAP, "nouvelle.venue", {Group.CDAP_CONSULTER}, set())
    svc.set_delegate(NATIONAL, A, "nouvelle.venue", True)
    svc.suspend_user(NATIONAL, A, "paul.bernard", True)
    svc.report_lost_credentials(NATIONAL, A, "lea.petit")
    svc.declare_equipment(NATIONAL, A, "ALSH-0002", "Accueil Les Mésanges", EquipmentType.ALSH, ["3 rue des Lilas"])
    svc.set_assignments(NATIONAL, A, "ALSH-0002", {Profile.ACTIVITE: []})
    svc.remove_equipment(NATIONAL, A, "ALSH-0002")
    svc.suspend_service(NATIONAL, A, CONV, Service.AFAS, True)
    svc.transition_convention(NATIONAL, A, CONV, ConventionStatus.SUSPENDED)
    imported = svc.import_users(NATIONAL, A, (HEADER + "eva.morel;Morel;Éva;eva.morel@hirondelles.example;;;\n")
                                .encode(), apply=True)
    assert opened
    with ready.uow() as uow:
        stored = uow.registry.partner(A)
        actions = [e["action"] for e in uow.audit.list(partner=A, limit=20)]
    assert imported.counts["created"] == 1
    assert stored is not None and stored.user("nouvelle.venue") is not None and stored.user("eva.morel")
    assert "nouvelle.venue" in stored.delegates and stored.user("paul.bernard").suspended
    assert {"create-user", "set-membership", "delegate", "suspend-user", "report-lost-credentials",
            "declare-equipment", "remove-equipment", "suspend-service", "convention-transition",
            "import-users"} <= set(actions)


def test_a_setting_of_the_application_reaches_its_handlers(use_case_store, monkeypatch):
    """Found moving the use cases into handlers: the re-issue's wait for the partner's claim had become a module
    constant, so the 0 s tests and the simulation give it on their instance was ignored (5 s waits)."""
    import contextlib

    from provisioning.usecases import people
    svc = reconciled_service(use_case_store)
    waits: list[float] = []

    @contextlib.contextmanager
    def holding(engine, keys, wait):
        waits.append(wait)
        yield
    monkeypatch.setattr(people, "holding", holding)
    svc.REISSUE_CLAIM_WAIT = 0.25
    svc.reissue_credentials(NATIONAL, A, "lea.petit")
    assert waits == [0.25]
