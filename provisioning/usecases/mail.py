"""Mail through the outbox: delivery outside transactions, credentials as intents, dead letters, and the
security incident reports (R19) that reach the Caf's habilitation manager."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from provisioning import logs, metrics
from provisioning.errors import (
    Forbidden,
    NotFound,
    ProvisioningError,
    Transient,
    Unavailable,
    ValidationFailed,
    Violation,
)
from provisioning.keycloak.gateway import AccountDisabled, Gateway
from provisioning.notify import messages
from provisioning.reconcile.state import UserSpec
from provisioning.store import uow as store
from provisioning.store.uow import HELD, Outbox, Person, UnitOfWork
from provisioning.usecases.base import CAF_ADMIN, Actor, generate_password

if TYPE_CHECKING:
    from provisioning.services import Provisioning as App

log = logging.getLogger(__name__)


def notifications(app: App, actor: Actor, dead: bool = False, waiting: bool = False) -> list[dict[str, Any]]:
    if not (actor.system or CAF_ADMIN in actor.roles):
        raise Forbidden()
    with app.uow() as uow:
        return uow.outbox.list(caf=None if actor.system else actor.caf, dead=dead, waiting=waiting)

def resend_notification(app: App, actor: Actor, msg_id: int) -> None:
    """A dead letter of the actor's Caf goes back to the queue (audited), then the sender runs."""
    if not (actor.system or CAF_ADMIN in actor.roles):
        raise Forbidden()
    if not 0 < msg_id < 2**63:  # beyond the database's integers: no such mail (it answered 500)
        raise NotFound(f"Pas de courriel n° {msg_id} à renvoyer pour votre Caf.")
    with app.uow() as uow:
        if not uow.outbox.resend(msg_id, caf=None if actor.system else actor.caf):
            raise NotFound(f"Pas de courriel n° {msg_id} à renvoyer pour votre Caf.")
        uow.audit.record(actor.username, "resend-mail", f"outbox:{msg_id}", caf=actor.caf)
        uow.commit()
    app.deliver_notifications()

def _queue_credentials(app: App, user: UserSpec) -> None:
    with app.uow() as uow:
        credentials_intent(uow, user)
        uow.commit()

def credentials_intent(uow: UnitOfWork, user: UserSpec) -> int | None:
    """Once: a person whose codes are already waiting to leave is not queued twice. Returns the intent
    written (None: one was waiting already, and stays whatever becomes of this caller's change)."""
    if uow.outbox.credentials_pending(user.username):
        return None
    return uow.outbox.put_credentials(user.email, {"username": user.username, "first_name": user.first_name,
                                                   "last_name": user.last_name, "email": user.email},
                                      caf=uow.registry.caf_of(user.username))

def _deliverable(app: App, rows: list[Any], token: str) -> list[tuple[Any, Person]]:
    """Decided at the moment of sending, from the registry (issue 25): a queued intent does not undo what
    happened since. A person removed or whose codes were reported lost gets nothing; their intent is
    dropped, with a line in the journal. A suspended person's codes wait, as a disabled account's do: a
    re-issue has already killed her old password, so dropping them would leave her, once reactivated,
    with no password at all (found by the simulation). The names and address are the registry's now — read
    for the whole claim at once, each partner once (issue 27)."""
    out: list[tuple[Any, Person]] = []
    if not rows:
        return out
    with app.uow() as uow:
        found = uow.registry.people([(row.payload or {}).get("username", "") for row in rows])
        for row in rows:
            username = (row.payload or {}).get("username", "")
            person = found.get(username)
            if person is not None and person.refused is None:
                out.append((row, person))
                continue
            if person is not None and person.suspended:
                uow.outbox.later(row.id, token, app.disabled_wait(row.at))
                continue
            why = "n'est plus au registre" if person is None else f"est {person.refused}"
            uow.outbox.drop(row.id, token)
            uow.audit.record("outbox", "credentials-withdrawn", username, None, {"raison": why},
                             partner=person.partner if person else None, caf=row.caf_code, subject=username,
                             summary=f"codes de {username} non envoyés : {why}")
            log.info("credentials of %s not sent: %s", username, why)
        uow.commit()
    return out

def disabled_wait(app: App, queued_at: datetime) -> float:
    """An account still disabled: every 5 s at first (the worker is about to enable it), then less and less
    often — a tenth of the time waited, at most 5 minutes — so an account that stays disabled (its
    convention suspended) does not cost a round trip every 5 s forever."""
    waited = (store.now() - (queued_at if queued_at.tzinfo else queued_at.replace(tzinfo=UTC))).total_seconds()
    return min(300.0, max(app.BUSY_RETRY_SECONDS, waited / 10))

def _deliver_credentials(app: App, gw: Gateway, person: Person) -> None:
    """R13, at sending time: a new provisional password valid 24 hours from now is set in Keycloak, then
    the identifiant and, in a separate mail, the password — or, in action-link mode, Keycloak's own mail
    with a link valid 24 hours. A retry sets a new password: an unsent one is never valid. Only to an
    account of ours that the plan has enabled: delivery never enables one."""
    user = UserSpec(person.identifiant, person.first_name, person.last_name, person.email)
    user_id = gw.user_id(user.username)
    if user_id is None:
        raise Transient(f"Le compte {user.username} n'existe pas encore dans Keycloak.")
    link = app.onboarding == "action-link"
    password = None if link else generate_password()
    gw.reset_provisional(user_id, password, None if link else app.provisional_deadline(), only_if_enabled=True)
    subject, body = messages.identifiant_mail(user, app.portal_url, action_link=link)
    app.notifier.send(user.email, subject, body)
    if link:
        gw.send_action_link(user_id, app.provisional_hours * 3600, "portail")
    else:
        assert password is not None
        subject, body = messages.password_mail(user, password)
        app.notifier.send(user.email, subject, body)

def deliver_notifications(app: App) -> int:
    """Claim due outbox rows, send each outside any database transaction (a few at a time: setting a
    provisional password costs Keycloak a hash), record each outcome (capped attempts with backoff, then
    a dead letter). Claims follow one another until nothing is due. Returns how many left."""
    total = 0
    while True:
        sent, claimed, down = _deliver_one_claim(app, )
        total += sent
        if down or claimed < Outbox.CLAIM_BATCH:
            return total

def _deliver_one_claim(app: App) -> tuple[int, int, bool]:
    """(sent, claimed, mail server or Keycloak down) for one claim of due rows. Credentials go partner by
    partner, each partner's under its claim (one hold for all its people); partners and plain mails run a
    few at a time."""
    with app.uow() as uow:
        token, rows = uow.outbox.claim(Outbox.CLAIM_BATCH)
        uow.commit()
    if not rows:
        return 0, 0, False
    down = threading.Event()  # the mail server (or Keycloak) does not answer: the rest wait, uncounted
    held = HELD.get()  # the claim this flow writes under (a reconcile delivering what it created)
    tasks: list[Callable[[], int]] = [partial(_send_mail, app, row, token, down)
                                      for row in rows if row.kind != "credentials"]
    by_key: dict[str, list[tuple[Any, Person]]] = {}
    for row, person in _deliverable(app, [row for row in rows if row.kind == "credentials"], token):
        by_key.setdefault(person.partner or "*", []).append((row, person))
    if by_key:
        gw = app.gateway()
        tasks += [partial(_send_credentials, app, key, people, token, held, gw, down)
                  for key, people in sorted(by_key.items())]
    if not tasks:
        return 0, len(rows), False
    sent = tasks[0]()  # alone first: a mail server that is down costs one attempt, not one a mail
    if len(tasks) > 1 and not down.is_set():
        with ThreadPoolExecutor(max(1, min(app.workers, len(tasks) - 1))) as pool:
            sent += sum(pool.map(lambda task: task(), tasks[1:]))
    if down.is_set():
        with app.uow() as uow:
            uow.outbox.release(token)
            uow.commit()
    return sent, len(rows), down.is_set()

def _send_mail(app: App, row: Any, token: str, down: threading.Event) -> int:
    return _attempt(app, row, token, down, lambda: app.notifier.send(row.recipient, row.subject, row.body))

def _send_credentials(app: App, key: str, people: list[tuple[Any, Person]], token: str, held: str | None,
                      gw: Gateway, down: threading.Event) -> int:
    """Issue 25: a person's codes leave under her partner's claim (the realm's for a Caf administrator), as
    every other write to Keycloak for that partner: under the caller's claim when it holds it (the
    reconcile that created her), else under one taken for this delivery. Someone else writing that partner
    now: the codes wait a few seconds, no attempt counted."""
    with app.uow() as uow:
        mine = None if held and uow.reconcile.holds(key, held) else str(uuid.uuid4())  # claimed_by: 36
        if mine and not uow.reconcile.hold(key, mine):
            for row, _ in people:
                uow.outbox.later(row.id, token, app.BUSY_RETRY_SECONDS)
            uow.commit()
            return 0
        uow.commit()
    try:
        return sum(_attempt(app, row, token, down, partial(_deliver_credentials, app, gw, person))
                   for row, person in people)
    finally:
        if mine:
            with app.uow() as uow:
                uow.reconcile.let_go(mine)
                uow.commit()

def _attempt(app: App, row: Any, token: str, down: threading.Event, action: Callable[[], None]) -> int:
    """One row: do it, record sent or failed (capped backoff, then a dead letter); 1 when sent. Logged under
    the id of the request that caused the mail (issue 30 §2)."""
    with logs.bound(getattr(row, "request_id", None)):
        return _attempt_one(app, row, token, down, action)


def _attempt_one(app: App, row: Any, token: str, down: threading.Event, action: Callable[[], None]) -> int:
    if down.is_set():
        return 0
    error = None
    try:
        action()
    except AccountDisabled:  # the plan has not enabled her yet (a re-issue in worker mode): soon, uncounted
        with app.uow() as uow:
            uow.outbox.later(row.id, token, app.disabled_wait(row.at))
            uow.commit()
        return 0
    except ProvisioningError as e:
        error = e.description
        if isinstance(e, Unavailable):
            down.set()
    with app.uow() as uow:
        dead = False
        if error is None:
            uow.outbox.sent(row.id, token)
        elif dead := uow.outbox.failed(row.id, token, error, row.attempts + 1):
            log.error("outbox %s is a dead letter after %s attempts: %s", row.id, row.attempts + 1, error)
        uow.commit()
    log.info("outbox %s (%s): %s", row.id, row.kind, "sent" if error is None else f"failed ({error})",
             extra={"outbox": row.id, "kind": row.kind, "outcome": "sent" if error is None else "failed"})
    metrics.MAILS.labels(row.kind, "sent" if error is None else "dead" if dead else "failed").inc()
    return int(error is None)

INCIDENT_KINDS = {"incident": "incident ou défaut de sécurité", "perte": "perte ou vol de codes personnels"}

def report_incident(app: App, actor: Actor, kind: str, description: str) -> int:
    """R19: any habilitated person reports a security incident (or R18: lost credentials) to the
    habilitation manager of their Caf; the report is audited and mailed. Returns its reference."""
    faults = []
    if kind not in INCIDENT_KINDS:
        faults.append(Violation("VALEUR_INCONNUE", "Choisissez le type de signalement.", "kind"))
    if len(description.strip()) < 20:
        faults.append(Violation("DESCRIPTION_TROP_COURTE", "Décrivez ce qui s'est passé (20 caractères au moins).",
                                "description"))
    if faults:
        raise ValidationFailed(faults)
    p = app._load_partner(actor.partner) if actor.partner else None
    if p is None:
        raise Forbidden("Seules les personnes habilitées d'un partenaire font un signalement.")
    with app.uow() as uow:
        reg_caf = uow.registry.load_caf(p.caf)
        ref = uow.audit.record(actor.username, "report-incident", f"partner:{p.siret}", None,
                               {"kind": kind, "description": description.strip()}, partner=p.siret, caf=p.caf)
        if reg_caf:
            subject, body = messages.incident_mail(ref, INCIDENT_KINDS[kind], actor.username, p.name,
                                                   app.now(), description.strip())
            uow.outbox.put(reg_caf.habilitation_mailbox, subject, body, caf=p.caf)
        uow.commit()
    app.deliver_notifications()
    return ref
