"""The kernel every use case stands on: configuration and adapters (the unit of work's factory, Keycloak's
gateway, the notifier, the clock), reads, and `changing`, the one way a partner changes (usecases/change.py:
one partner, its version, its rules; journal, report and reconcile request in one transaction)."""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from provisioning.domain import journal, policy
from provisioning.domain.model import Partner, Registry, Settings
from provisioning.errors import Forbidden, NotFound, Unauthorized
from provisioning.keycloak.gateway import Gateway
from provisioning.notify import messages
from provisioning.notify.notifier import Notifier
from provisioning.reconcile.apply import ApplyReport
from provisioning.reconcile.desired import managed_role_labels, roles_of
from provisioning.reconcile.plan import Change
from provisioning.store.uow import UnitOfWork, stale_version
from provisioning.usecases.change import PartnerChange
from provisioning.usecases.commands import OnPartner

if TYPE_CHECKING:
    from provisioning.paperwork.render import Rendered
    from provisioning.paperwork.signatory import Signatory

log = logging.getLogger(__name__)


CAF_ADMIN, PARTNER_ADMIN, DELEGATE = policy.CAF_ADMIN, policy.PARTNER_ADMIN, policy.DELEGATE


@dataclass(frozen=True)
class Actor:
    """Who acts: from a verified token (API, consoles) or the operator of the CLI (system)."""
    username: str
    roles: frozenset[str] = frozenset()
    partner: str | None = None
    caf: str | None = None
    system: bool = False
    sub: str | None = None       # Keycloak user id
    session: str | None = None   # Keycloak SSO session id of the token
    acr: str | None = None       # the token's level of authentication (« niveau-2 »: second factor used)

    def can_manage_partner(self, p: Partner) -> bool:
        return policy.its_managers(self, p)

    def is_member_of(self, p: Partner) -> bool:
        return self.partner == p.siret

    def is_caf_admin_of(self, caf_code: str) -> bool:
        return self.system or (CAF_ADMIN in self.roles and self.caf == caf_code)


def _unknown_or_forbidden(actor: Actor, siret: str, unknown: bool) -> NotFound | Forbidden:
    """A partner's staff cannot tell another partner's SIRET from an unknown one: both are « inconnu »."""
    if unknown or not (actor.system or CAF_ADMIN in actor.roles):
        return NotFound(f"Partenaire {siret} inconnu.")
    return Forbidden("Ce partenaire ne relève pas de votre périmètre.")


def _check_hierarchy(actor: Actor, p: Partner, identifiant: str, self_ok: bool) -> None:
    """R12: a responsable des habilitations manages the partner's users, not the administrator who
    appointed them nor another delegate (nor, for habilitations, themselves)."""
    if actor.system or CAF_ADMIN in actor.roles or PARTNER_ADMIN in actor.roles or DELEGATE not in actor.roles:
        return
    if identifiant == actor.username and self_ok:
        return
    if identifiant == p.administrator or identifiant in p.delegates:
        who = ("l'administrateur du partenaire" if identifiant == p.administrator else
               "vous-même" if identifiant == actor.username else "un autre responsable des habilitations")
        raise Forbidden(f"Un responsable des habilitations n'agit pas sur {who} : demandez-le à l'administrateur "
                        "du partenaire.", code="HORS_HIERARCHIE")


def generate_password(length: int = 16) -> str:
    """Random provisional password meeting the realm policy (12+ chars, 4 classes)."""
    classes = [string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#$%&*+-=?@_"]
    chars = [secrets.choice(c) for c in classes]
    alphabet = "".join(classes)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


@dataclass
class MutationResult:
    partner: Partner
    reconciled: bool
    reconcile_error: str | None = None
    applied: list[Change] = field(default_factory=list)
    changed: bool = True   # False: the request changed nothing, and nothing was written
    version: int = 0       # the partner's stored version after the request (API ETag)
    reconcile_state: dict[str, Any] | None = None  # {state: pending | applied | failed | needs_attention, label (French), reason, …}


class Core:
    REISSUE_CLAIM_WAIT = 5.0  # seconds a re-issue waits for another writer of the partner before deferring
    BUSY_RETRY_SECONDS = 5.0  # a delivery whose partner another writer holds (or whose account is disabled) waits

    def __init__(self, engine: Engine | None, gateway: Callable[[], Gateway], notifier: Notifier, *,
                 portal_url: str = "http://localhost:8081", today: Callable[[], date] | None = None,
                 now: Callable[[], datetime] | None = None, provisional_hours: int = 24,
                 onboarding: str = "password", reconcile_mode: str = "inline", workers: int = 4,
                 uow: Callable[[], UnitOfWork] | None = None, signatory: Signatory | None = None,
                 renderer: Callable[..., Rendered] | None = None):
        self.engine = engine  # the database, when there is one (SCIM's searches in SQL); None in memory
        # every transaction of a use case, claims included: injected (the use-case tests give the registry in
        # memory, store/memory.py), by default the engine's
        if uow is None:
            if engine is None:
                raise ValueError("a registry: an engine, or a unit of work's factory")
            uow = partial(UnitOfWork, engine)
        self.uow: Callable[[], UnitOfWork] = uow
        # independent Keycloak changes (users, memberships) and mails sent at once: Keycloak hashes passwords
        # on every core, where one request at a time would leave all but one idle
        self.workers = workers
        self.gateway = gateway
        self.notifier = notifier
        self.portal_url = portal_url
        self.now = now or (lambda: datetime.now(UTC))  # injectable clock (tests of the 24 h rule)
        self.today = today or (lambda: self.now().date())
        self.provisional_hours = provisional_hours
        if onboarding not in ("password", "action-link"):
            raise ValueError(f"onboarding mode {onboarding!r}: expected 'password' or 'action-link'")
        self.onboarding = onboarding  # action-link: Keycloak mails a 24 h link instead of a password
        if reconcile_mode not in ("inline", "worker"):
            raise ValueError(f"reconcile mode {reconcile_mode!r}: expected 'inline' or 'worker'")
        self.reconcile_mode = reconcile_mode  # worker: mutations answer once stored; the worker reconciles
        self._signatory = signatory  # issue 31: made from the settings at the first signature when not given
        self._renderer = renderer    # issue 31: WeasyPrint's (provisioning/paperwork/render.py) when not given

    def renderer(self) -> Callable[..., Rendered]:
        """What lays a convention's document out as PDF/A."""
        if self._renderer is None:
            from provisioning.paperwork.render import render
            self._renderer = render
        return self._renderer

    def signatory(self) -> Signatory:
        """Who signs and verifies the conventions' documents (provisioning/paperwork/signatory.py)."""
        if self._signatory is None:
            from provisioning.paperwork.signatory import from_settings
            self._signatory = from_settings()
        return self._signatory

    def reconcile_request(self, key: str) -> ApplyReport | None:
        """Apply a stored reconcile request now (inline mode): the facade gives usecases/reconciling.py's."""
        raise NotImplementedError

    def current_actor(self, actor: Actor) -> Actor:
        """Issue 25: the token says who acts; the registry says what they may do now. A person removed,
        suspended, locked or moved to another partner is refused at once (measured on main: a suspended
        administrator locked another user, a terminated partner's administrator created users, for up to the
        token's 300 s); the roles the registry manages are those it gives her now (never more than the token)."""
        if actor.system:
            return actor
        with self.uow() as uow:
            found = uow.registry.standing(actor.username)
            settings = uow.registry.settings()
        if found is None or found[0].refused or (actor.partner or None) != found[0].partner \
                or (actor.caf is not None and actor.caf != found[0].caf):
            raise Unauthorized("Votre accès a changé depuis votre connexion (retiré, suspendu ou verrouillé) : "
                               "reconnectez-vous ; si le refus persiste, adressez-vous à votre administrateur.",
                               code="ACCES_RETIRE")
        person, partner, caf = found
        now = roles_of(person.identifiant, caf, partner, settings, self.today())
        return replace(actor, roles=(actor.roles - managed_role_labels()) | (actor.roles & now))

    def provisional_deadline(self) -> int:
        """R13: a provisional password is valid 24 hours from now."""
        return int(self.now().timestamp()) + self.provisional_hours * 3600

    def registry(self) -> Registry:
        with self.uow() as uow:
            return uow.registry.load()

    def registry_settings(self) -> Settings:
        """The registry's settings (R10's opening date): one row read."""
        with self.uow() as uow:
            return uow.registry.settings()

    def _load_partner(self, siret: str) -> Partner | None:
        with self.uow() as uow:
            return uow.registry.partner(siret)

    def partner(self, actor: Actor, siret: str) -> Partner:
        return self.partner_with_version(actor, siret)[0]

    def partner_with_version(self, actor: Actor, siret: str) -> tuple[Partner, int]:
        with self.uow() as uow:
            found = uow.registry.partner_with_version(siret)
        if found is None or not actor.can_manage_partner(found[0]):
            raise _unknown_or_forbidden(actor, siret, found is None)
        return found

    def check_manages(self, actor: Actor, siret: str) -> None:
        """Whether `actor` may act on this partner (R12), from its row's columns: never its document (a
        5,000-person partner was parsed for a yes or a no before each of its changes)."""
        with self.uow() as uow:
            found = uow.registry.partner_summary(siret)
        if found is None or not actor.can_manage_partner(Partner(*found)):
            raise _unknown_or_forbidden(actor, siret, found is None)

    def partners(self, actor: Actor) -> list[Partner]:
        if not actor.system and CAF_ADMIN in actor.roles and actor.caf:
            with self.uow() as uow:
                return uow.registry.partners_of_caf(actor.caf)
        if not actor.system and actor.partner:
            p = self._load_partner(actor.partner)
            return [p] if p and actor.can_manage_partner(p) else []
        return [p for p in self.registry().partners if actor.can_manage_partner(p)]

    def partner_list(self, actor: Actor) -> list[tuple[str, str, str]]:
        """(SIRET, name, Caf) of the partners the actor may manage, for a list: a Caf's 60,000 partners are
        read from their columns, never their documents (issue 27)."""
        if not actor.system and CAF_ADMIN in actor.roles and actor.caf:
            with self.uow() as uow:
                return uow.registry.partner_summaries(actor.caf)
        if actor.system:
            with self.uow() as uow:
                return uow.registry.partner_summaries()
        return [(p.siret, p.name, p.caf) for p in self.partners(actor)]

    def audit(self, reader: Actor, siret: str | None = None, limit: int = 100, offset: int = 0,
              **filters: Any) -> list[dict[str, Any]]:
        """The journal in the reader's scope (a partner, a Caf, everything for the CLI); `filters`: actor,
        subject (the person concerned), since, until, request_id, with_changes."""
        actor = reader
        if siret:
            self.check_manages(actor, siret)
            scope: dict[str, str] = {"partner": siret}
        elif actor.system:
            scope = {}
        elif CAF_ADMIN in actor.roles and actor.caf:
            scope = {"caf": actor.caf}
        else:
            raise Forbidden()
        with self.uow() as uow:
            return uow.audit.list(partner=scope.get("partner"), caf=scope.get("caf"), limit=limit, offset=offset,
                                  **filters)

    def previous_login(self, actor: Actor) -> datetime | None:
        """R17: date and time of the previous successful connection (None: first connection)."""
        if not actor.sub:
            raise Forbidden()
        return self.gateway().previous_login(actor.sub, actor.session)

    def proconnect_linked(self, actor: Actor) -> bool:
        """Issue 32: whether the signed-in person's account has a ProConnect identity linked (her security page)."""
        if not actor.sub:
            raise Forbidden()
        return self.gateway().proconnect_linked(actor.sub)

    def report(self, uow: UnitOfWork, reg: Registry, caf_code: str, actor: Actor, lines: list[str]) -> None:
        caf = reg.caf(caf_code)
        if caf:
            subject, body = messages.change_report(caf.name, actor.username, lines)
            uow.outbox.put(caf.habilitation_mailbox, subject, body, caf=caf.code)

    def changing(self, actor: Actor, cmd: OnPartner, action: str, describe: str, **options: Any) -> PartnerChange:
        """The unit of work of a command on one partner (usecases/change.py): `with app.changing(...) as ch:`."""
        return PartnerChange(self, actor, cmd.siret, action, describe, expected_version=cmd.expected_version,
                             **options)

    def _checked(self, uow: UnitOfWork, actor: Actor, siret: str, action: str, on_person: str | None,
                 self_ok: bool, expected_version: int | None) -> tuple[Partner, int]:
        """The partner and its version, once the actor may do `action` on it (and on `on_person`, R12)."""
        found = uow.registry.partner_with_version(siret)
        if found is None:
            raise _unknown_or_forbidden(actor, siret, True)
        p, version = found
        if not (actor.can_manage_partner(p) or actor.is_member_of(p)):
            raise _unknown_or_forbidden(actor, siret, False)
        refused = policy.refusal(actor, action, p)  # who may do what: domain/policy.py
        if refused:
            raise Forbidden(refused)
        if on_person:
            _check_hierarchy(actor, p, on_person, self_ok)
        if expected_version is not None and expected_version != version:
            raise stale_version(siret)
        return p, version

    @staticmethod
    def _journal(uow: UnitOfWork, actor: Actor, action: str, describe: str, p: Partner, before: dict[str, Any] | None,
                 after: dict[str, Any], subject: str | None, people: list[str]) -> None:
        """The entry (what changed, about `subject`), and one line in each other person's history it changed."""
        siret = p.siret
        uow.audit.record(actor.username, action, f"partner:{siret}", before, after, partner=siret, caf=p.caf,
                         subject=subject, summary=journal.summary(describe, before, after, subject))
        for person in people:
            if journal.person_changes(before, after, person):
                uow.audit.record(actor.username, action, f"partner:{siret}", partner=siret, caf=p.caf, subject=person,
                                 summary=journal.summary(describe, before, after, person))

    def _reconciled(self, siret: str, result: MutationResult, changed: bool) -> MutationResult:
        """Inline mode: Keycloak follows now; either way the answer says where the partner's request stands."""
        if changed and self.reconcile_mode == "inline":
            report = self.reconcile_request(siret)
            if report is not None:
                result.applied = report.applied
                result.reconciled = report.complete
                if report.failed:
                    result.reconcile_error = "; ".join(f"{c.target} : {why}" for c, why in report.failed)
        with self.uow() as uow:
            result.reconcile_state = uow.reconcile.state(siret)
        if result.reconcile_error is None and result.reconcile_state and result.reconcile_state["reason"]:
            result.reconcile_error = result.reconcile_state["reason"]
        return result
