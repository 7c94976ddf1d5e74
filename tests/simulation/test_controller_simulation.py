"""Issue 25 §8: a deterministic simulation of the controller, the way FoundationDB and TigerBeetle test theirs.

Hypothesis's stateful testing drives the real use cases (API mutations, CLI applies of a file, worker steps,
credential deliveries, suspensions, lost codes, re-issues, removals) over the fake Keycloak, a fake mail server
and a fake clock, interleaving them at random with faults: the mail server down, Keycloak failing before a call
or after it (done, but the answer lost), the process dying between two calls to Keycloak or right after a mail
left. After every step it checks the invariants; once the faults stop, everything must converge.

Invariants:
- Keycloak never enables an account during a step unless the registry holds that person active after it.
- Codes are mailed only to a person active in the registry (not suspended, not reported lost, not removed
  before the step — but for the one the step reactivates or re-issues to), and the password mailed is the one
  Keycloak holds at the end of that step.
- A refused command (a ProvisioningError other than a dependency's failure) wrote nothing: every table is
  the same before and after.
- Faults stopped and the clock moved on: the plan is empty, every active person's account is enabled and its
  password is the last one mailed to her; every other person's account is disabled.

MCP_SIMULATION_EXAMPLES (default 180, what CI runs: about 45 s here) and MCP_SIMULATION_SEED (default: drawn, printed) set the budget and
the seed: a failing seed replays with the same value.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from provisioning.domain.model import User
from provisioning.domain.scope import FileScope
from provisioning.errors import ProvisioningError, Transient, Unavailable
from provisioning.keycloak.fake import FakeGateway
from provisioning.reconcile.worker import resync_if_due, run_once
from provisioning.services import Actor, Provisioning
from provisioning.store import uow as uow_module
from provisioning.store.uow import UnitOfWork, make_engine, migrate
from provisioning.usecases import desired_state as files
from tests.support.snapshot import every_table
from tests.unit.factories import TODAY, registry

NATIONAL = Actor("cli:simulation", system=True)
NEWCOMERS = ("sim.alix", "sim.bao")  # few names: the same person meets many events
EXAMPLES = int(os.environ.get("MCP_SIMULATION_EXAMPLES", "180"))
SEED = int(os.environ.get("MCP_SIMULATION_SEED") or random.SystemRandom().randrange(2**32))
PASSWORD = re.compile(r"provisoire\s*:\s*(\S+)")
REPORT: dict[str, int] = {"examples": 0, "steps": 0, "faults": 0, "crashes": 0, "refusals": 0}


class Crash(BaseException):
    """The process dies here: nothing catches it but the simulation (cleanup blocks still run: an in-process
    approximation of a crash; what a real crash leaves — a claim or an outbox row held — waits for its expiry)."""


class FlakyKeycloak:
    """The fake Keycloak with a fault armed: after `countdown` more calls, the next one fails before it is
    made, or after it is made (done, but the answer lost), or the process dies there."""

    def __init__(self, fake: FakeGateway):
        self.fake = fake
        self.countdown: int | None = None
        self.mode = "before"

    def __getattr__(self, name: str):
        attr = getattr(self.fake, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args, **kwargs):
            if self.countdown is None:
                return attr(*args, **kwargs)
            if self.countdown > 0:
                self.countdown -= 1
                return attr(*args, **kwargs)
            self.countdown, mode = None, self.mode
            if mode == "after":
                attr(*args, **kwargs)
            if mode == "crash":
                raise Crash(name)
            raise Unavailable(f"Keycloak injoignable (simulation, {name})")
        return call


class FlakyMail:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.down = False
        self.crash_after_next = False

    def send(self, recipient: str, subject: str, body: str) -> None:
        if self.down:
            raise Unavailable("Serveur de messagerie injoignable (simulation)")
        self.sent.append((recipient, subject, body))
        if self.crash_after_next:
            self.crash_after_next = False
            raise Crash("after a mail left")


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


_TEMPLATE: dict[str, object] = {}


def _template(tmp: Path) -> dict[str, object]:
    """The example registry stored and reconciled once, its codes delivered: each example starts from a copy."""
    if not _TEMPLATE:
        path = tmp / "template.sqlite"
        engine = make_engine(f"sqlite:///{path}")
        migrate(engine)
        fake, mail = FakeGateway(), FlakyMail()
        svc = Provisioning(engine, lambda: fake, mail, today=lambda: TODAY, reconcile_mode="worker")
        svc.import_registry(NATIONAL, registry())
        while run_once(svc):
            pass
        svc.deliver_notifications()
        engine.dispose()
        _TEMPLATE.update(path=path, fake=fake, sent=list(mail.sent), siret=registry().partners[0].siret)
    return _TEMPLATE


class Controller(RuleBasedStateMachine):
    tmp: Path  # set by the test

    def __init__(self) -> None:
        super().__init__()
        REPORT["examples"] += 1
        t = _template(self.tmp)
        db = self.tmp / f"example-{REPORT['examples']}.sqlite"
        shutil.copy(t["path"], db)  # type: ignore[arg-type]
        self.engine = make_engine(f"sqlite:///{db}")
        self.clock = Clock()
        uow_module.now = self.clock  # the store's clock: claims, backoffs and leases follow simulated time
        uow_module.CLAIM_WAIT = 0.0  # a claim held by another (a crashed step's) is busy now, not in 120 real s
        self.keycloak = FlakyKeycloak(t["fake"].copy())  # type: ignore[attr-defined]
        self.mail = FlakyMail()
        self.mail.sent = list(t["sent"])  # type: ignore[call-overload]
        self.svc = Provisioning(self.engine, lambda: self.keycloak, self.mail, today=lambda: TODAY,
                                reconcile_mode="worker")
        self.svc.workers = 1  # deliveries one after the other: the simulation is deterministic
        self.svc.REISSUE_CLAIM_WAIT = 0.0
        self.reissuing: str | None = None  # a re-issue unlocks the person it mails
        self.reactivating: str | None = None  # a reactivation lets the codes held while suspended leave
        self.by_hand = False  # the step was a hand edit in Keycloak, not ours
        self.siret = _TEMPLATE["siret"]
        self._before = self._observe()

    def teardown(self) -> None:
        try:
            self._converge()
        finally:
            self.engine.dispose()
            uow_module.now, uow_module.CLAIM_WAIT = _REAL_NOW, _REAL_WAIT

    # --- what the simulation observes -----------------------------------------------------------------
    def _people(self) -> dict[str, tuple[str, str]]:
        """identifiant -> (state in the registry, email): actif, suspendu, verrouillé."""
        reg = self.svc.registry()
        out = {a.identifiant: ("actif", a.email) for c in reg.cafs for a in c.administrators}
        for p in reg.partners:
            for u in p.users:
                out[u.identifiant] = ("suspendu" if u.suspended else "verrouillé" if u.locked else "actif", u.email)
        return out

    def _observe(self) -> dict[str, object]:
        users = self.keycloak.fake.state.users
        return {"people": self._people(), "enabled": {n for n, u in users.items() if u.enabled},
                "mails": len(self.mail.sent)}

    def _tables(self) -> list[tuple[str, list[str]]]:
        return every_table(self.engine)

    def _do(self, action) -> None:
        """One step: the action, a refusal checked to have written nothing, a crash or a fault absorbed."""
        REPORT["steps"] += 1
        before = self._tables()
        try:
            action()
        except Crash:
            REPORT["crashes"] += 1
        except Transient:
            REPORT["faults"] += 1
        except ProvisioningError as refusal:
            REPORT["refusals"] += 1
            assert self._tables() == before, f"refused ({refusal.code}) yet something was written"

    # --- rules: what people and processes do ------------------------------------------------------------
    @rule(who=st.sampled_from(NEWCOMERS))
    def api_creates_a_person(self, who: str) -> None:
        user = User(who, "Camille", who.split(".")[1].capitalize(), f"{who}@sim.example")
        self._do(lambda: self.svc.create_user(NATIONAL, self.siret, user))

    def _present(self) -> list[str]:
        return [who for who in NEWCOMERS if who in self._before["people"]]  # type: ignore[operator]

    @precondition(lambda self: self._present())
    @rule(data=st.data(), suspended=st.booleans())
    def caf_suspends_or_reactivates(self, data: st.DataObject, suspended: bool) -> None:
        who = data.draw(st.sampled_from(self._present()))
        self.reactivating = None if suspended else who  # her codes held while suspended may leave now
        self._do(lambda: self.svc.suspend_user(NATIONAL, self.siret, who, suspended))

    @precondition(lambda self: self._present())
    @rule(data=st.data())
    def codes_reported_lost(self, data: st.DataObject) -> None:
        who = data.draw(st.sampled_from(self._present()))
        self._do(lambda: self.svc.report_lost_credentials(NATIONAL, self.siret, who))

    @precondition(lambda self: self._present())
    @rule(data=st.data())
    def codes_reissued(self, data: st.DataObject) -> None:
        who = self.reissuing = data.draw(st.sampled_from(self._present()))
        self._do(lambda: self.svc.reissue_credentials(NATIONAL, self.siret, who))

    @rule(who=st.sampled_from(NEWCOMERS), add=st.booleans())
    def cli_applies_a_file(self, who: str, add: bool) -> None:
        """The operator exports the partner, adds or removes a person in the file, plans and applies it."""
        def apply() -> None:
            reg = files.export(self.svc, NATIONAL, FileScope(partners=frozenset({self.siret})))
            [p] = reg.partners
            users = [u for u in p.users if u.identifiant != who]
            if add:
                users.append(User(who, "Camille", "Fichier", f"{who}@sim.example"))
            reg = replace(reg, partners=[replace(p, users=users)])
            plan = files.plan_file(self.svc, NATIONAL, reg)
            files.apply_plan(self.svc, NATIONAL, plan, allow_destroy=1000)
        self._do(apply)

    @precondition(lambda self: self._present())
    @rule(data=st.data(), enabled=st.booleans())
    def an_administrator_edits_keycloak_by_hand(self, data: st.DataObject, enabled: bool) -> None:
        """Drift: an account enabled or disabled in Keycloak's console; the resync must correct it."""
        who = data.draw(st.sampled_from(self._present()))
        if (u := self.keycloak.fake.state.users.get(who)) is not None:
            self.keycloak.fake.state.users[who] = replace(u, enabled=enabled)
            self.by_hand = True

    @rule()
    def periodic_resync(self) -> None:
        self._do(lambda: resync_if_due(self.svc, every=1))

    @rule()
    def full_reconcile_requested(self) -> None:
        def ask() -> None:
            with UnitOfWork(self.engine) as uow:
                uow.reconcile.request("*")
                uow.commit()
        self._do(ask)

    @rule()
    def worker_step(self) -> None:
        self._do(lambda: run_once(self.svc))

    @rule()
    def outbox_delivers(self) -> None:
        self._do(self.svc.deliver_notifications)

    @initialize(mail_down=st.booleans())
    def the_mail_server_at_start(self, mail_down: bool) -> None:
        self.mail.down = mail_down

    @rule(fault=st.sampled_from(["down", "up", "crash-after-next-mail"]))
    def mail_server(self, fault: str) -> None:
        if fault == "crash-after-next-mail":
            self.mail.crash_after_next = True
        else:
            self.mail.down = fault == "down"

    @rule(calls=st.integers(0, 12), mode=st.sampled_from(["before", "after", "crash"]))
    def keycloak_fails_at_a_call(self, calls: int, mode: str) -> None:
        self.keycloak.countdown, self.keycloak.mode = calls, mode

    @rule(seconds=st.sampled_from([1, 5, 30, 120, 600, 3600]))
    def time_passes(self, seconds: int) -> None:
        self.clock.at += timedelta(seconds=seconds)

    # --- invariants, after every step ----------------------------------------------------------------------
    @invariant()
    def nothing_undone_and_no_codes_to_the_wrong_person(self) -> None:
        before, after = self._before, self._observe()
        start, end = before["people"], after["people"]  # type: ignore[union-attr]
        users = self.keycloak.fake.state.users
        for name in after["enabled"] - before["enabled"]:  # type: ignore[operator]
            if users[name].managed and not self.by_hand:
                assert end.get(name, ("absent",))[0] == "actif", \
                    f"{name}'s account was enabled while the registry holds them {end.get(name, ('absent',))[0]}"
        by_mail = {email: who for who, (_, email) in {**start, **end}.items()}
        last: dict[str, str] = {}
        for recipient, _, body in self.mail.sent[before["mails"]:]:  # type: ignore[misc]
            if (m := PASSWORD.search(body)) is None:
                continue
            who = by_mail.get(recipient, recipient)
            state_before, state_after = start.get(who, ("absent",))[0], end.get(who, ("absent",))[0]
            allowed = ("actif", "absent", "verrouillé") if who == self.reissuing else \
                ("actif", "absent", "suspendu") if who == self.reactivating else ("actif", "absent")
            assert state_after == "actif" and state_before in allowed, \
                f"codes mailed to {who} ({state_before} before the step, {state_after} after it)"
            last[who] = m.group(1)
        for who, password in last.items():
            assert self.keycloak.fake.passwords.get(who) == password, f"{who} was mailed a password Keycloak does not hold"
            assert users[who].enabled, f"{who} was mailed codes for a disabled account"
        self._before, self.reissuing, self.reactivating, self.by_hand = after, None, None, False

    # --- once the faults stop ---------------------------------------------------------------------------------
    def _converge(self) -> None:
        self.keycloak.countdown, self.mail.down, self.mail.crash_after_next = None, False, False
        for _ in range(20):
            self.clock.at += timedelta(hours=1)  # past every backoff and every claim a crash left
            for dead in self.svc.notifications(NATIONAL, dead=True):  # what an operator resends
                self.svc.resend_notification(NATIONAL, dead["id"])
            resync_if_due(self.svc, every=1)  # the periodic resync corrects what was edited by hand
            while run_once(self.svc):
                pass
            self.svc.deliver_notifications()
            if not self.svc.plan():
                break
        self.nothing_undone_and_no_codes_to_the_wrong_person()
        assert self.svc.plan() == [], f"no convergence: {self.svc.plan()}"
        users = self.keycloak.fake.state.users
        mailed: dict[str, str] = {}
        for recipient, _, body in self.mail.sent:
            if m := PASSWORD.search(body):
                mailed[recipient] = m.group(1)
        for who, (state, email) in self._people().items():
            account = users.get(who)
            assert account is not None, f"{who} is in the registry and has no account"
            if state != "actif":
                assert not account.enabled, f"{who} ({state}) still has an enabled account"
                continue
            assert account.enabled, f"{who} is active and their account is disabled"
            assert self.keycloak.fake.passwords.get(who) == mailed.get(email), \
                f"{who}: the live password is not the last one mailed"
        for name, account in users.items():
            if account.managed and name not in self._people():
                assert not account.enabled, f"{name} left the registry and their account is enabled"


_REAL_NOW, _REAL_WAIT = uow_module.now, uow_module.CLAIM_WAIT


def test_the_controller_under_random_interleavings_and_faults(tmp_path, record_property, pytestconfig):
    Controller.tmp = tmp_path
    pytestconfig.mcp_simulation = (SEED, EXAMPLES, REPORT)  # printed in the report's summary (conftest.py)
    print(f"\nsimulation: seed {SEED}, {EXAMPLES} examples (MCP_SIMULATION_SEED={SEED} replays it)")
    record_property("simulation_seed", SEED)
    try:
        run_state_machine_as_test(seed(SEED)(Controller), settings=settings(
            max_examples=EXAMPLES, stateful_step_count=30, deadline=None, database=None,
            suppress_health_check=list(HealthCheck), print_blob=True))
    finally:
        print(f"simulation: seed {SEED}: {REPORT['examples']} examples, {REPORT['steps']} steps, "
              f"{REPORT['faults']} faults absorbed, {REPORT['crashes']} crashes, {REPORT['refusals']} refusals")


if __name__ == "__main__":
    pytest.main([__file__, "-s"])
