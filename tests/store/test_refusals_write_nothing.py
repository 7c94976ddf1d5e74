"""Issue 25 §4: a refusal writes nothing — no audit row, no mail, no version, no request, anywhere.

A property over the use cases: each command is run on a fresh reconciled registry with Keycloak refusing at
its k-th call, for every k up to the number of calls it makes when nothing refuses (then once more with the
command refused by its own rules). Whenever the command answers with a refusal (an error that is not a
dependency's passing failure), every table must be exactly as it was before. Inline and worker modes both.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

from provisioning.domain.model import ConventionStatus, EquipmentType, Group, Profile, Service, User
from provisioning.errors import Conflict, ProvisioningError
from provisioning.keycloak.fake import FakeGateway
from provisioning.notify.notifier import MemoryNotifier
from provisioning.reconcile.worker import run_once
from provisioning.services import Provisioning
from provisioning.store.uow import make_engine, migrate
from tests.support.snapshot import every_table
from tests.unit.factories import TODAY, registry
from tests.unit.test_desired_state_files import NATIONAL

A = "12345678900015"
CONV = "CONV-751-2026-0001"
NEW = User("nouvelle.venue", "Nouvelle", "Venue", "nouvelle.venue@hirondelles.example")

COMMANDS: dict[str, Callable[[Provisioning], object]] = {
    "create-user": lambda s: s.create_user(NATIONAL, A, NEW),
    "create-user-taken": lambda s: s.create_user(NATIONAL, A, User("lea.petit", "Léa", "Petit", "x@y.example")),
    "suspend-user": lambda s: s.suspend_user(NATIONAL, A, "paul.bernard", True),
    "suspend-unknown": lambda s: s.suspend_user(NATIONAL, A, "personne.inconnue", True),
    "lost-credentials": lambda s: s.report_lost_credentials(NATIONAL, A, "lea.petit"),
    "reissue": lambda s: s.reissue_credentials(NATIONAL, A, "lea.petit"),
    "delegate": lambda s: s.set_delegate(NATIONAL, A, "lea.petit", True),
    "membership": lambda s: s.set_membership(NATIONAL, A, CONV, Service.CDAP, "paul.bernard",
                                             {Group.CDAP_CONSULTER}, set()),
    "membership-refused": lambda s: s.set_membership(NATIONAL, A, CONV, Service.AFAS, "paul.bernard",
                                                     {Group.AFAS_DECLARER}, {Profile.APPROBATEUR}),
    "unlock": lambda s: s.unlock_user(NATIONAL, A, "lea.petit"),
    "second-factor-reset": lambda s: s.reset_second_factor(NATIONAL, A, "lea.petit"),
    "suspend-convention": lambda s: s.transition_convention(NATIONAL, A, CONV, ConventionStatus.SUSPENDED),
    "terminate-twice": lambda s: s.transition_convention(NATIONAL, A, CONV, ConventionStatus.PREPARED),
    "suspend-service": lambda s: s.suspend_service(NATIONAL, A, CONV, Service.AFAS, True),
    "declare-equipment": lambda s: s.declare_equipment(NATIONAL, A, "ALSH-0002", "Accueil Les Mésanges",
                                                       EquipmentType.ALSH, ["3 rue des Lilas, 75020 Paris"]),
    "declare-equipment-unknown": lambda s: s.declare_equipment(NATIONAL, "99999999999999", "ALSH-0002", "X",
                                                               EquipmentType.ALSH, ["ici"]),
    "remove-equipment-unknown": lambda s: s.remove_equipment(NATIONAL, A, "ALSH-9999"),
    "adopt-unknown": lambda s: s.adopt_account(NATIONAL, "personne.inconnue"),
    "create-user-invisible": lambda s: s.create_user(NATIONAL, A, User("z.w", "Zoé\u200b", "W", "z.w@x.example")),
}


class Refusing:
    """The fake Keycloak refusing (409, as it does for a name taken by an account we do not manage) at its
    `at`-th call; counts the calls."""

    def __init__(self, fake: FakeGateway, at: int | None):
        self.fake, self.at, self.calls = fake, at, 0

    def __getattr__(self, name: str):
        attr = getattr(self.fake, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls += 1
            if self.calls - 1 == self.at:
                raise Conflict(f"refusé par Keycloak (test, appel {self.calls} : {name})", code="REFUS_TEST")
            return attr(*args, **kwargs)
        return call


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The example registry stored and reconciled, its codes sent: every run starts from a copy."""
    path = tmp_path_factory.mktemp("refusals") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    fake = FakeGateway()
    svc = Provisioning(engine, lambda: fake, MemoryNotifier(), today=lambda: TODAY, reconcile_mode="worker")
    svc.import_registry(NATIONAL, registry())
    while run_once(svc):
        pass
    svc.deliver_notifications()
    fake.second_factors["lea.petit"] = {"otp"}
    engine.dispose()
    return path, fake


def _run(template, tmp_path, mode: str, command: str, at: int | None, n: int):
    path, fake = template
    db = tmp_path / f"{command}-{mode}-{n}.sqlite"
    shutil.copy(path, db)
    engine = make_engine(f"sqlite:///{db}")
    gw = Refusing(fake.copy(), at)
    mail = MemoryNotifier()
    svc = Provisioning(engine, lambda: gw, mail, today=lambda: TODAY, reconcile_mode=mode)
    svc.REISSUE_CLAIM_WAIT = 0.0

    def tables_now():
        return every_table(engine)
    before = tables_now()
    refusal = None
    try:
        COMMANDS[command](svc)
    except ProvisioningError as e:
        if not e.retryable:
            refusal = e
    after = tables_now()
    engine.dispose()
    return gw.calls, refusal, before, after, mail.sent


@pytest.mark.parametrize("mode", ["inline", "worker"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_refused_command_writes_nothing_wherever_the_refusal_comes(template, tmp_path, mode, command):
    calls, refusal, before, after, sent = _run(template, tmp_path, mode, command, None, 0)
    runs = [(None, refusal, before, after, sent)]
    for k in range(calls):
        _, refusal, before, after, sent = _run(template, tmp_path, mode, command, k, k + 1)
        runs.append((k, refusal, before, after, sent))
    refused = 0
    for k, refusal, before, after, sent in runs:
        if refusal is None:
            continue
        refused += 1
        changed = [b[0] for b, a in zip(before, after, strict=True) if b != a]
        assert not changed, f"{command} ({mode}) refused [{refusal.code}] at Keycloak call {k}, yet wrote {changed}"
        assert not sent, f"{command} ({mode}) refused [{refusal.code}] at Keycloak call {k}, yet mailed {sent}"
    if command.endswith(("-taken", "-unknown", "-refused", "-twice", "-invisible")):
        assert runs[0][1] is not None, f"{command} was meant to be refused by its own rules"
