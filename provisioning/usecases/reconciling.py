"""Keycloak follows the registry: plans, reconcile requests (the worker's and the inline ones), execution
of exactly a plan with each change audited as it lands, and the desired-state file import."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from provisioning import metrics
from provisioning.domain import journal
from provisioning.domain.model import Registry
from provisioning.domain.scope import FileScope
from provisioning.errors import ProvisioningError, Unavailable
from provisioning.keycloak.gateway import Gateway
from provisioning.reconcile.apply import ApplyReport, Progress, execute
from provisioning.reconcile.desired import desired_state
from provisioning.reconcile.operations import CreateUser
from provisioning.reconcile.plan import Change
from provisioning.reconcile.plan import plan as plan_changes
from provisioning.reconcile.state import Scope, State
from provisioning.store.uow import acting_under, renewing
from provisioning.usecases.base import Actor
from provisioning.usecases.desired_state import store_file
from provisioning.usecases.mail import credentials_intent

if TYPE_CHECKING:
    from provisioning.services import Provisioning as App

log = logging.getLogger(__name__)


def import_registry(app: App, actor: Actor, reg: Registry) -> None:
    """Store a validated desired-state file's part of the registry (audited per partner, reported to
    each Caf); Keycloak follows at the next reconcile. A registry without a scope is the whole one."""
    store_file(app, actor, reg if reg.scope is not None else replace(reg, scope=FileScope(everything=True)))

def plan(app: App) -> list[Change]:
    reg = app.registry()
    return plan_changes(desired_state(reg, app.today()), app.gateway().observe())

def reconcile(app: App, actor: Actor, progress: Progress | None = None, partner: str | None = None) -> ApplyReport:
    """Make Keycloak match the registry: all of it, or one partner's slice (timed: provisioning/metrics.py)."""
    with metrics.RECONCILE_SECONDS.labels("partner" if partner else "realm").time():
        return _reconcile(app, actor, progress, partner)


def _reconcile(app: App, actor: Actor, progress: Progress | None, partner: str | None) -> ApplyReport:
    """Make Keycloak match the registry: all of it, or one partner's slice (API mutations: only that
    partner is read from the store and from Keycloak, whatever the size of the realm)."""
    gw = app.gateway()
    scope, p = None, None
    if partner is None:
        reg = app.registry()
    else:
        with app.uow() as uow:
            p, settings = uow.registry.partner(partner), uow.registry.settings()
        # a partner that left the registry: its slice converges to nothing (found while testing issue 14: its
        # request failed « inconnu » for ever and its accounts stayed in Keycloak)
        reg = Registry([], [p] if p else [], settings)
        scope = Scope(partner, frozenset(u.identifiant for u in p.users) if p else frozenset())
    desired = desired_state(reg, app.today())
    if scope is not None:
        desired = scope.slice(desired)
    observed = gw.observe(scope)
    changes = plan_changes(desired, observed)
    if partner is not None and p is None:
        # a person the same change moved elsewhere keeps the account (her sessions end: their claims name the
        # old partner)
        with app.uow() as uow:
            changes = [ch for ch in changes if not (ch.kind == "user" and ch.destructive and (
                uow.registry.partner_of(ch.target) or uow.registry.caf_of(ch.target)))]
    return app.execute_changes(actor, changes, observed, progress=progress, gateway=gw)

def execute_changes(app: App, actor: Actor, changes: list[Change], observed: State, *,
                    progress: Progress | None = None, gateway: Gateway | None = None) -> ApplyReport:
    """Carry out exactly these changes; each one is audited before it is sent (and its failure after), so
    a run killed at any point leaves a trail of everything Keycloak received. New users get their two
    mails (R13)."""
    gw = gateway or app.gateway()
    intents: dict[str, int] = {}  # the credentials intents this run wrote (it withdraws only those)

    def audited(ch: Change, failure: str | None) -> None:
        """Before each change, its intent; after a refusal, that it failed and why."""
        action = f"keycloak:{ch.action}:{ch.kind}" if failure is None else f"keycloak:echec:{ch.action}:{ch.kind}"
        after = {"reason": ch.reason, "owner": ch.owner, **({"echec": failure} if failure else {})}
        owner = ch.owner or ""
        person = ch.target.split(" -> ")[0] if ch.kind in journal.PERSON_KINDS else None
        with app.uow() as uow:  # in the partner's journal, and the person's history
            if isinstance(ch, CreateUser) and ch.spec.enabled:
                # R13: the two mails are an intent written with the creation's own intent, before Keycloak
                # has the account (a run killed right after the creation still sends them, once; found by the
                # issue-14 failover test); a refused creation withdraws them
                if failure is None:
                    written = credentials_intent(uow, ch.spec)
                    if written is not None:
                        intents[ch.target] = written
                elif ch.target in intents:
                    # ours only: when a second writer created the account first (409 here), its intent
                    # stays and delivers (issue 25: 150 people left without codes)
                    uow.outbox.withdraw(intents.pop(ch.target))
            uow.audit.record(actor.username, action, ch.target, None, after,
                             partner=owner.removeprefix("partner:") if owner.startswith("partner:") else None,
                             subject=person, summary=f"{ch.target} : {ch.reason}"
                             + (f" — échec : {failure}" if failure else ""))
            uow.commit()

    report = execute(changes, observed, gw, new_password=lambda: None,
                     on_audit=audited, progress=progress, workers=app.workers)
    for outcome, done in (("applied", report.applied), ("failed", [c for c, _ in report.failed])):
        for ch in done:
            metrics.RECONCILE_CHANGES.labels(ch.kind, ch.action, outcome).inc()
    touched = sorted({ch.target for ch in report.applied if ch.kind == "user"})
    if touched:  # a reactivated person's codes waited for her account: they leave now, not minutes later
        with app.uow() as uow:
            uow.outbox.due_now(touched)
            uow.commit()
    app.deliver_notifications()
    if report.halted:
        raise Unavailable(report.halted + f" ({len(report.applied)} changement(s) appliqué(s) avant l'arrêt ; "
                          "relancez la réconciliation)")
    return report

def reconcile_request(app: App, key: str) -> ApplyReport | None:
    """Carry out one reconcile request now, as the worker would (claimed, recorded); None when another
    worker holds it or Keycloak did not answer (the request stays for the worker, with backoff)."""
    with app.uow() as uow:
        token, claimed = uow.reconcile.claim(key=key)
        uow.commit()
    if not claimed:
        return None
    report, error, terminal = None, None, False
    with renewing(app.uow, token), acting_under(token):
        try:
            report = app.reconcile(Actor("reconcile", system=True), partner=None if key == "*" else key)
        except ProvisioningError as e:
            error, terminal = e.description, not e.retryable
            log.warning("reconcile of %s deferred: %s", key, e.description)
    failures = [{"target": f"{c.action} {c.kind} {c.target}", "reason": why} for c, why in report.failed] \
        if report else []
    with app.uow() as uow:
        uow.reconcile.finish(claimed[0], token, error=error, failures=failures,
                             terminal=terminal or bool(report and report.needs_attention))
        uow.commit()
    return report

def reconcile_state(app: App, key: str) -> dict[str, Any] | None:
    """Where Keycloak stands for this partner: pending, applied, failed (retried) or needs_attention, with the reason and the French label."""
    with app.uow() as uow:
        return uow.reconcile.state(key)
