"""Use cases shared by the CLI, the REST API and the consoles. A mutation is checked for rights, applied to
a copy of the registry, validated whole, then stored with its audit entry and its R9 report in one
transaction, then reconciled into Keycloak. A refused mutation changes nothing anywhere."""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

from provisioning.desired_file import partner_to_dict
from provisioning.domain import naming, rules
from provisioning.domain.model import (
    Bulletin, Convention, ConventionStatus, Group, Member, Partner, Profile, Registry, Service, ServiceContract,
    StatusChange, User,
)
from provisioning.domain.scope import FileScope
from provisioning.errors import (
    Conflict, Forbidden, NotFound, ProvisioningError, Transient, Unavailable, ValidationFailed, Violation,
)
from provisioning.keycloak.gateway import Gateway
from provisioning.notify import messages
from provisioning.notify.notifier import Notifier
from provisioning.reconcile.apply import ApplyReport, Progress, execute
from provisioning.reconcile.desired import desired_state
from provisioning.reconcile.plan import Change, plan
from provisioning.reconcile.state import Scope, State, UserSpec
from provisioning.store.uow import UnitOfWork, stale_version

log = logging.getLogger(__name__)

CAF_ADMIN, PARTNER_ADMIN, DELEGATE = "caf-administrateur", "administrateur-partenaire", "responsable-habilitations"


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

    def can_manage_partner(self, p: Partner) -> bool:
        if self.system or (CAF_ADMIN in self.roles and self.caf == p.caf):
            return True
        return bool(self.partner == p.siret and self.roles & {PARTNER_ADMIN, DELEGATE})

    def is_member_of(self, p: Partner) -> bool:
        return self.partner == p.siret

    def is_caf_admin_of(self, caf_code: str) -> bool:
        return self.system or (CAF_ADMIN in self.roles and self.caf == caf_code)


# Conventions, services and suspensions are the Caf's (R11, R18): only an administrator of the partner's Caf.
CAF_ONLY = {"allowed": lambda a, p: a.is_caf_admin_of(p.caf),
            "refused": "Seule la Caf du partenaire peut faire cette opération."}


def _unknown_or_forbidden(actor: Actor, siret: str, unknown: bool):
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


def _user(p: Partner, identifiant: str) -> tuple[User | None, list[Violation]]:
    u = p.user(identifiant)
    if u is None:
        return None, [Violation("UTILISATEUR_INCONNU", f"« {identifiant} » n'est pas un utilisateur de {p.name}.",
                                "identifiant")]
    return u, []


def _on_user(identifiant: str, edit: Callable[[User], None]) -> Callable[[Registry, Partner], list[Violation]]:
    """A registry change that edits one user of the partner (refused when there is no such user)."""
    def change(reg: Registry, p: Partner) -> list[Violation]:
        u, missing = _user(p, identifiant)
        if not missing:
            edit(u)
        return missing
    return change


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
    reconcile_state: dict | None = None  # {state: en attente | appliqué | en échec, reason, …}


class Provisioning:
    def __init__(self, engine, gateway: Callable[[], Gateway], notifier: Notifier, *,
                 portal_url: str = "http://localhost:8081", today: Callable[[], date] | None = None,
                 now: Callable[[], datetime] | None = None, provisional_hours: int = 24,
                 onboarding: str = "password", reconcile_mode: str = "inline"):
        self.engine = engine
        self.gateway = gateway
        self.notifier = notifier
        self.portal_url = portal_url
        self.now = now or (lambda: datetime.now(timezone.utc))  # injectable clock (tests of the 24 h rule)
        self.today = today or (lambda: self.now().date())
        self.provisional_hours = provisional_hours
        if onboarding not in ("password", "action-link"):
            raise ValueError(f"onboarding mode {onboarding!r}: expected 'password' or 'action-link'")
        self.onboarding = onboarding  # action-link: Keycloak mails a 24 h link instead of a password
        if reconcile_mode not in ("inline", "worker"):
            raise ValueError(f"reconcile mode {reconcile_mode!r}: expected 'inline' or 'worker'")
        self.reconcile_mode = reconcile_mode  # worker: mutations answer once stored; the worker reconciles

    def provisional_deadline(self) -> int:
        """R13: a provisional password is valid 24 hours from now."""
        return int(self.now().timestamp()) + self.provisional_hours * 3600

    # --- reads -------------------------------------------------------------------------------------
    def registry(self) -> Registry:
        with UnitOfWork(self.engine) as uow:
            return uow.registry.load()

    def _load_partner(self, siret: str) -> Partner | None:
        with UnitOfWork(self.engine) as uow:
            return uow.registry.partner(siret)

    def partner(self, actor: Actor, siret: str) -> Partner:
        return self.partner_with_version(actor, siret)[0]

    def reconcile_state(self, key: str) -> dict | None:
        """Where Keycloak stands for this partner: en attente, appliqué, or en échec with the reason."""
        with UnitOfWork(self.engine) as uow:
            return uow.reconcile.state(key)

    def partner_with_version(self, actor: Actor, siret: str) -> tuple[Partner, int]:
        with UnitOfWork(self.engine) as uow:
            found = uow.registry.partner_with_version(siret)
        if found is None or not actor.can_manage_partner(found[0]):
            raise _unknown_or_forbidden(actor, siret, found is None)
        return found

    def partners(self, actor: Actor) -> list[Partner]:
        if not actor.system and CAF_ADMIN in actor.roles and actor.caf:
            with UnitOfWork(self.engine) as uow:
                return uow.registry.partners_of_caf(actor.caf)
        if not actor.system and actor.partner:
            p = self._load_partner(actor.partner)
            return [p] if p and actor.can_manage_partner(p) else []
        return [p for p in self.registry().partners if actor.can_manage_partner(p)]

    def audit(self, actor: Actor, siret: str | None = None, limit: int = 100, offset: int = 0) -> list[dict]:
        if siret:
            self.partner(actor, siret)
            with UnitOfWork(self.engine) as uow:
                return uow.audit.list(partner=siret, limit=limit, offset=offset)
        if actor.system:
            with UnitOfWork(self.engine) as uow:
                return uow.audit.list(limit=limit, offset=offset)
        if CAF_ADMIN in actor.roles and actor.caf:
            with UnitOfWork(self.engine) as uow:
                return uow.audit.list(caf=actor.caf, limit=limit, offset=offset)
        raise Forbidden()

    def notifications(self, actor: Actor, dead: bool = False) -> list[dict]:
        if not (actor.system or CAF_ADMIN in actor.roles):
            raise Forbidden()
        with UnitOfWork(self.engine) as uow:
            return uow.outbox.list(caf=None if actor.system else actor.caf, dead=dead)

    def resend_notification(self, actor: Actor, msg_id: int) -> None:
        """A dead letter of the actor's Caf goes back to the queue (audited), then the sender runs."""
        if not (actor.system or CAF_ADMIN in actor.roles):
            raise Forbidden()
        with UnitOfWork(self.engine) as uow:
            if not uow.outbox.resend(msg_id, caf=None if actor.system else actor.caf):
                raise NotFound(f"Pas de courriel n° {msg_id} à renvoyer pour votre Caf.")
            uow.audit.record(actor.username, "resend-mail", f"outbox:{msg_id}", caf=actor.caf)
            uow.commit()
        self.deliver_notifications()

    def previous_login(self, actor: Actor) -> datetime | None:
        """R17: date and time of the previous successful connection (None: first connection)."""
        if not actor.sub:
            raise Forbidden()
        return self.gateway().previous_login(actor.sub, actor.session)

    # --- security incidents (R18, R19) ---------------------------------------------------------------------
    INCIDENT_KINDS = {"incident": "incident ou défaut de sécurité", "perte": "perte ou vol de codes personnels"}

    def report_incident(self, actor: Actor, kind: str, description: str) -> int:
        """R19: any habilitated person reports a security incident (or R18: lost credentials) to the
        habilitation manager of their Caf; the report is audited and mailed. Returns its reference."""
        faults = []
        if kind not in self.INCIDENT_KINDS:
            faults.append(Violation("VALEUR_INCONNUE", "Choisissez le type de signalement.", "kind"))
        if len(description.strip()) < 20:
            faults.append(Violation("DESCRIPTION_TROP_COURTE", "Décrivez ce qui s'est passé (20 caractères au moins).",
                                    "description"))
        if faults:
            raise ValidationFailed(faults)
        p = self._load_partner(actor.partner) if actor.partner else None
        if p is None:
            raise Forbidden("Seules les personnes habilitées d'un partenaire font un signalement.")
        with UnitOfWork(self.engine) as uow:
            reg_caf = uow.registry.load_caf(p.caf)
            ref = uow.audit.record(actor.username, "report-incident", f"partner:{p.siret}", None,
                                   {"kind": kind, "description": description.strip()}, partner=p.siret, caf=p.caf)
            if reg_caf:
                subject, body = messages.incident_mail(ref, self.INCIDENT_KINDS[kind], actor.username, p.name,
                                                       self.now(), description.strip())
                uow.outbox.put(reg_caf.habilitation_mailbox, subject, body, caf=p.caf)
            uow.commit()
        self.deliver_notifications()
        return ref

    # --- usage rules (R15) ----------------------------------------------------------------------------
    def publish_usage_rules(self, actor: Actor, version: str, publisher) -> datetime:
        """Every user accepts again at their next login (FirstLoginGuard compares acceptance times)."""
        if not actor.system:
            raise Forbidden("La publication des règles d'usage est une opération nationale (ligne de commande).")
        at = self.now().replace(microsecond=0)
        with UnitOfWork(self.engine) as uow:
            uow.usage_rules.publish(version, at, actor.username)
            uow.audit.record(actor.username, "publish-usage-rules", f"usage-rules:{version}", None,
                             {"version": version, "published_at": at})
            publisher.publish(version, int(at.timestamp()))  # inside the transaction: both or neither
            uow.commit()
        return at

    def usage_rules_acceptances(self, actor: Actor) -> list[dict]:
        """Who accepted which version and when (Keycloak's acceptance time mapped onto the published versions)."""
        reg = self.registry()
        if actor.system:
            people = {u.identifiant: p for p in reg.partners for u in p.users}
        elif CAF_ADMIN in actor.roles and actor.caf:
            people = {u.identifiant: p for p in reg.partners if p.caf == actor.caf for u in p.users}
        else:
            raise Forbidden()
        with UnitOfWork(self.engine) as uow:
            versions = uow.usage_rules.versions()
        out = []
        for u in self.gateway().users_with_attributes():
            p = people.get(u["username"])
            if p is None:
                continue
            raw = (u["attributes"].get(naming.TERMS_ATTR) or [None])[0]
            at = datetime.fromtimestamp(int(raw), tz=timezone.utc) if raw and raw.isdigit() else None
            version = None
            if at is not None:
                eligible = [v for v, published in versions if published <= at]
                version = eligible[-1] if eligible else versions[0][0]
            out.append({"identifiant": u["username"], "partner": p.siret, "accepted_at": at.isoformat() if at else None,
                        "version": version, "current": version == versions[-1][0]})
        return sorted(out, key=lambda r: (r["partner"], r["identifiant"]))

    # --- desired-state file --------------------------------------------------------------------------
    def import_registry(self, actor: Actor, reg: Registry) -> None:
        """Store a validated desired-state file's part of the registry (audited per partner, reported to
        each Caf); Keycloak follows at the next reconcile. A registry without a scope is the whole one."""
        from provisioning.usecases.desired_state import store_file  # noqa: PLC0415 (it imports this module's peers)
        store_file(self, actor, reg if reg.scope is not None else replace(reg, scope=FileScope(everything=True)))

    # --- reconciliation --------------------------------------------------------------------------------
    def plan(self) -> list[Change]:
        reg = self.registry()
        return plan(desired_state(reg, self.today()), self.gateway().observe())

    def reconcile(self, actor: Actor, progress: Progress | None = None, partner: str | None = None) -> ApplyReport:
        """Make Keycloak match the registry: all of it, or one partner's slice (API mutations: only that
        partner is read from the store and from Keycloak, whatever the size of the realm)."""
        gw = self.gateway()
        scope = None
        if partner is None:
            reg = self.registry()
        else:
            with UnitOfWork(self.engine) as uow:
                p, settings = uow.registry.partner(partner), uow.registry.settings()
            if p is None:
                raise NotFound(f"Partenaire {partner} inconnu.")
            reg = Registry([], [p], settings)
            scope = Scope(partner, frozenset(u.identifiant for u in p.users))
        desired = desired_state(reg, self.today())
        if scope is not None:
            desired = scope.slice(desired)
        observed = gw.observe(scope)
        return self.execute_changes(actor, plan(desired, observed), observed, progress=progress, gateway=gw)

    def execute_changes(self, actor: Actor, changes: list[Change], observed: State, *,
                        progress: Progress | None = None, gateway: Gateway | None = None) -> ApplyReport:
        """Carry out exactly these changes; each one is audited as soon as Keycloak has it, so an interrupted
        run leaves a true trail. New users get their two mails (R13)."""
        gw = gateway or self.gateway()

        def onboard(user: UserSpec, _password: None, _user_id: str) -> None:
            """R13: the two mails go through the outbox as an intent; the provisional password is set and
            mailed when the mail leaves, so a mail server that is down loses nothing."""
            if user.enabled:
                self._queue_credentials(user)

        def audited(ch: Change) -> None:
            with UnitOfWork(self.engine) as uow:
                uow.audit.record(actor.username, f"keycloak:{ch.action}:{ch.kind}", ch.target, None,
                                 {"reason": ch.reason, "owner": ch.owner})
                uow.commit()

        report = execute(changes, observed, gw, new_password=lambda: None, on_user_created=onboard,
                         on_applied=audited, progress=progress)
        self.deliver_notifications()
        if report.halted:
            raise Unavailable(report.halted + f" ({len(report.applied)} changement(s) appliqué(s) avant l'arrêt ; "
                              "relancez la réconciliation)")
        return report

    def _queue_credentials(self, user: UserSpec) -> None:
        with UnitOfWork(self.engine) as uow:
            uow.outbox.put_credentials(user.email, {"username": user.username, "first_name": user.first_name,
                                                    "last_name": user.last_name, "email": user.email},
                                       caf=uow.registry.caf_of(user.username))
            uow.commit()

    def _deliver_credentials(self, gw: Gateway, who: dict) -> None:
        """R13, at sending time: a new provisional password valid 24 hours from now is set in Keycloak, then
        the identifiant and, in a separate mail, the password — or, in action-link mode, Keycloak's own mail
        with a link valid 24 hours. A retry sets a new password: an unsent one is never valid."""
        user = UserSpec(who["username"], who["first_name"], who["last_name"], who["email"])
        user_id = gw.user_id(user.username)
        if user_id is None:
            raise Transient(f"Le compte {user.username} n'existe pas encore dans Keycloak.")
        link = self.onboarding == "action-link"
        password = None if link else generate_password()
        gw.reset_provisional(user_id, password, None if link else self.provisional_deadline())
        subject, body = messages.identifiant_mail(user, self.portal_url, action_link=link)
        self.notifier.send(user.email, subject, body)
        if link:
            gw.send_action_link(user_id, self.provisional_hours * 3600, "portail")
        else:
            subject, body = messages.password_mail(user, password)
            self.notifier.send(user.email, subject, body)

    def deliver_notifications(self) -> int:
        """Claim due outbox rows, send each outside any database transaction, record each outcome (capped
        attempts with backoff, then a dead letter). Returns how many left."""
        with UnitOfWork(self.engine) as uow:
            token, rows = uow.outbox.claim()
            uow.commit()
        sent, gw = 0, None
        for i, row in enumerate(rows):
            error, down = None, False
            try:
                if row.kind == "credentials":
                    gw = gw or self.gateway()
                    self._deliver_credentials(gw, row.payload or {})
                else:
                    self.notifier.send(row.recipient, row.subject, row.body)
            except ProvisioningError as e:
                error, down = e.description, isinstance(e, Unavailable)
            with UnitOfWork(self.engine) as uow:
                if error is None:
                    uow.outbox.sent(row.id, token)
                    sent += 1
                elif uow.outbox.failed(row.id, token, error, row.attempts + 1):
                    log.error("outbox %s is a dead letter after %s attempts: %s", row.id, row.attempts + 1, error)
                if down:  # the mail server (or Keycloak) does not answer: the other rows wait, uncounted
                    uow.outbox.release(token)
                uow.commit()
            if down:
                break
        return sent

    # --- mutations ------------------------------------------------------------------------------------
    def report(self, uow: UnitOfWork, reg: Registry, caf_code: str, actor: Actor, lines: list[str]) -> None:
        caf = reg.caf(caf_code)
        if caf:
            subject, body = messages.change_report(caf.name, actor.username, lines)
            uow.outbox.put(caf.habilitation_mailbox, subject, body, caf=caf.code)

    def _mutate(self, actor: Actor, siret: str, action: str, describe: str,
                change: Callable[[Registry, Partner], list[Violation]], *, reconcile: bool = True,
                allowed: Callable[[Actor, Partner], bool] | None = None, refused: str = "",
                inform: tuple[list[str], str, bool] | Callable[[], tuple | None] | None = None,
                expected_version: int | None = None, acts_outside: bool = False,
                on_person: str | None = None, self_ok: bool = True) -> MutationResult:
        """One partner, one transaction: load it with its version, check rights, change it, validate that
        partner's rules (cross-partner uniqueness is the database's unique index), save only if the version
        read is still the stored one (VERSION_PERIMEE otherwise), with its audit row and R9 report.
        `expected_version`: the version the client saw (API If-Match). A change that changes nothing writes
        nothing (no audit, report, version or reconcile) unless it `acts_outside` the registry (re-issue).
        `inform`: (identifiants, what, suspended), or a function giving it once the change is made —
        mail those users about a suspension or its end (R18)."""
        with UnitOfWork(self.engine) as uow:
            found = uow.registry.partner_with_version(siret)
            if found is None:
                raise _unknown_or_forbidden(actor, siret, True)
            p, version = found
            if not (actor.can_manage_partner(p) or actor.is_member_of(p)):
                raise _unknown_or_forbidden(actor, siret, False)
            if not (allowed or Actor.can_manage_partner)(actor, p):
                raise Forbidden(refused or "Ce partenaire ne relève pas de votre périmètre.")
            if on_person:
                _check_hierarchy(actor, p, on_person, self_ok)
            if expected_version is not None and expected_version != version:
                raise stale_version(siret)
            caf = uow.registry.load_caf(p.caf)
            reg = Registry([caf] if caf else [], [p], uow.registry.settings())
            before = partner_to_dict(p)
            violations = change(reg, p)
            violations += rules.validate(reg, self.today())
            if violations:
                raise ValidationFailed(violations)
            after = partner_to_dict(p)
            if after == before and not acts_outside:
                return MutationResult(p, reconciled=False, changed=False, version=version)
            if after != before:
                version = uow.registry.save_partner(p, version)
                uow.reconcile.request(siret)  # with the change: the worker converges even if we stop here
            uow.audit.record(actor.username, action, f"partner:{siret}", before, after, partner=siret, caf=p.caf)
            self.report(uow, reg, p.caf, actor, [f"{p.name} : {describe}"])
            if callable(inform):
                inform = inform()
            if inform:
                idents, what, suspended = inform
                for ident in dict.fromkeys(idents):
                    u = p.user(ident)
                    if u:
                        mail = messages.suspension_mail if suspended else messages.reactivation_mail
                        subject, body = mail(u.first_name, u.last_name, what)
                        uow.outbox.put(u.email, subject, body, caf=p.caf)
            uow.commit()
        result = MutationResult(p, reconciled=False, version=version)
        if reconcile and after != before and self.reconcile_mode == "inline":
            report = self.reconcile_request(siret)
            if report is not None:
                result.applied = report.applied
                result.reconciled = report.complete
                if report.failed:
                    result.reconcile_error = "; ".join(f"{c.target} : {why}" for c, why in report.failed)
        with UnitOfWork(self.engine) as uow:
            result.reconcile_state = uow.reconcile.state(siret)
        if result.reconcile_error is None and result.reconcile_state and result.reconcile_state["reason"]:
            result.reconcile_error = result.reconcile_state["reason"]
        return result

    def reconcile_request(self, key: str) -> ApplyReport | None:
        """Carry out one reconcile request now, as the worker would (claimed, recorded); None when another
        worker holds it or Keycloak did not answer (the request stays for the worker, with backoff)."""
        with UnitOfWork(self.engine) as uow:
            token, claimed = uow.reconcile.claim(key=key)
            uow.commit()
        if not claimed:
            return None
        report, error = None, None
        try:
            report = self.reconcile(Actor("reconcile", system=True), partner=None if key == "*" else key)
        except ProvisioningError as e:
            error = e.description
            log.warning("reconcile of %s deferred: %s", key, e.description)
        failures = [{"target": f"{c.action} {c.kind} {c.target}", "reason": why} for c, why in report.failed] \
            if report else []
        with UnitOfWork(self.engine) as uow:
            uow.reconcile.finish(claimed[0], token, error=error, failures=failures)
            uow.commit()
        return report

    def equipments(self, actor: Actor, siret: str) -> tuple[Partner, dict[Profile, list[str]]]:
        """The partner's equipments for its own staff (AFAS), with who may be associated to each profile."""
        p = self._load_partner(siret)
        if p is None or not (actor.is_member_of(p) or actor.can_manage_partner(p)):
            raise _unknown_or_forbidden(actor, siret, p is None)
        candidates: dict[Profile, list[str]] = {prof: [] for prof in Profile}
        for u in p.users:
            for prof in p.granted_profiles(u.identifiant):
                candidates[prof].append(u.identifiant)
        return p, candidates

    def set_assignments(self, actor: Actor, siret: str, code: str, assignments: dict[Profile, list[str]], expected_version: int | None = None) -> MutationResult:
        """AFAS Habiliter (R10): associate providers and the approver to an equipment, within the caps (R8)."""
        if not (actor.system or actor.partner == siret or CAF_ADMIN in actor.roles):
            raise _unknown_or_forbidden(actor, siret, False)
        if not (actor.system or (actor.partner == siret and "afas:AFAS-Habiliter" in actor.roles)):
            raise Forbidden("L'association aux équipements est réservée aux membres du groupe « AFAS Habiliter ».")

        def change(reg: Registry, p: Partner) -> list[Violation]:
            e = next((x for x in p.equipments if x.code == code), None)
            if e is None:
                return [Violation("EQUIPEMENT_INCONNU", f"L'équipement {code} n'existe pas pour {p.name}.", "code")]
            e.assignments = {prof: list(dict.fromkeys(ids)) for prof, ids in assignments.items() if ids}
            return []
        what = f"équipement {code} : " + "; ".join(f"{k.value} = {', '.join(v) or '—'}" for k, v in assignments.items())
        return self._mutate(actor, siret, "set-assignments", what, change,
                            allowed=lambda a, p: a.system or (a.is_member_of(p) and "afas:AFAS-Habiliter" in a.roles),
                            expected_version=expected_version)

    def create_user(self, actor: Actor, siret: str, user: User, expected_version: int | None = None) -> MutationResult:
        """Another partner's identifiant or email is refused by the store's unique index; an account that
        exists in Keycloak without our marker is refused before anything is stored (never adopted)."""
        self.partner(actor, siret)  # rights first: an outsider learns nothing about Keycloak's accounts
        self._refuse_unmanaged(user.identifiant, user.email)

        def change(reg: Registry, p: Partner) -> list[Violation]:
            if p.user(user.identifiant):
                return [Violation("IDENTIFIANT_EN_DOUBLE", f"L'identifiant « {user.identifiant} » existe déjà.",
                                  "identifiant")]
            p.users.append(user)
            return []
        return self._mutate(actor, siret, "create-user", f"création de l'utilisateur {user.identifiant}", change,
                            expected_version=expected_version)

    def _refuse_unmanaged(self, username: str, email: str) -> None:
        if not rules.IDENTIFIANT_RE.fullmatch(username) or rules.email_faults(email, ""):
            return  # never sent to Keycloak: the registry's rules refuse it, with their codes, right after
        holder = self.gateway().unmanaged_account(username, email)
        if holder:
            raise Conflict(f"Un compte « {holder} » existe déjà dans Keycloak sans avoir été créé par Mon Compte "
                           "Partenaire (même identifiant ou même courriel) : il ne sera pas repris. Choisissez un "
                           "autre identifiant, ou demandez à la Caf une adoption explicite.", code="COMPTE_NON_GERE")

    def set_membership(self, actor: Actor, siret: str, convention: str, service: Service, identifiant: str,
                       groups: set[Group], profiles: set[Profile], expected_version: int | None = None) -> MutationResult:
        """Grant (or change) what a user holds on a bulletin; empty groups revoke."""
        def change(reg: Registry, p: Partner) -> list[Violation]:
            conv = p.convention(convention)
            if conv is None:
                return [Violation("CONVENTION_INCONNUE", f"La convention {convention} n'existe pas pour {p.name}.",
                                  "convention")]
            if p.user(identifiant) is None:
                return [Violation("MEMBRE_HORS_PARTENAIRE", f"« {identifiant} » n'est pas un utilisateur de {p.name}.",
                                  "identifiant")]
            b = conv.bulletin(service)
            if groups:
                out = rules.service_is_convened(p, service, conv)
                if out:
                    return out
            if b is None:
                return []
            b.members = [m for m in b.members if m.identifiant != identifiant]
            if groups:
                b.members.append(Member(identifiant, set(groups), set(profiles)))
            return []
        what = (f"{identifiant} : {service.value} " + (", ".join(sorted(g.value for g in groups)) or "retiré")
                + (f" ; profils {', '.join(sorted(x.value for x in profiles))}" if profiles else ""))
        return self._mutate(actor, siret, "set-membership", what, change, on_person=identifiant, self_ok=False,
                            expected_version=expected_version)

    def set_delegate(self, actor: Actor, siret: str, identifiant: str, delegate: bool, expected_version: int | None = None) -> MutationResult:
        if not (actor.system or CAF_ADMIN in actor.roles or PARTNER_ADMIN in actor.roles):
            raise Forbidden("Seul l'administrateur partenaire délègue ou révoque les responsables des habilitations.")

        def change(reg: Registry, p: Partner) -> list[Violation]:
            if PARTNER_ADMIN in actor.roles and not actor.system and p.administrator != actor.username:
                return [Violation("ADMINISTRATEUR_SEULEMENT", "Seul l'administrateur de ce partenaire délègue.")]
            p.delegates = [d for d in p.delegates if d != identifiant] + ([identifiant] if delegate else [])
            return []
        return self._mutate(actor, siret, "delegate" if delegate else "revoke-delegate",
                            f"{identifiant} {'désigné' if delegate else 'n’est plus'} responsable des habilitations",
                            change,
                            expected_version=expected_version)

    def suspend_user(self, actor: Actor, siret: str, identifiant: str, suspended: bool, expected_version: int | None = None) -> MutationResult:
        """R18: the Caf suspends (access removed, sessions ended, user informed) or reactivates a user."""
        change = _on_user(identifiant, lambda u: setattr(u, "suspended", suspended))
        return self._mutate(actor, siret, "suspend-user" if suspended else "reactivate-user",
                            f"{identifiant} {'suspendu' if suspended else 'réactivé'}", change, **CAF_ONLY,
                            inform=([identifiant], "l'accès de votre compte à Mon Compte Partenaire", suspended),
                            expected_version=expected_version)

    def suspend_service(self, actor: Actor, siret: str, number: str, service: Service,
                        suspended: bool, expected_version: int | None = None) -> MutationResult:
        """R18: suspend one service of a convention (every member loses it at once) or reactivate it."""
        members: list[str] = []

        def change(reg: Registry, p: Partner) -> list[Violation]:
            conv = p.convention(number)
            if conv is None or conv.bulletin(service) is None:
                return [Violation("BULLETIN_INCONNU", f"La convention {number} n'a pas de bulletin {service.value}.")]
            members.extend(m.identifiant for m in conv.bulletin(service).members)
            conv.suspended_services = (conv.suspended_services | {service}) if suspended \
                else (conv.suspended_services - {service})
            return []
        return self._mutate(actor, siret, "suspend-service" if suspended else "reactivate-service",
                            f"service {service.value} de la convention {number} "
                            f"{'suspendu' if suspended else 'rétabli'}", change, **CAF_ONLY,
                            inform=(members, f"votre accès au service {service.value}", suspended),
                            expected_version=expected_version)

    def report_lost_credentials(self, actor: Actor, siret: str, identifiant: str, expected_version: int | None = None) -> MutationResult:
        """R18: lost or stolen credentials are locked at once (disabled, sessions ended); re-issue unlocks."""
        change = _on_user(identifiant, lambda u: setattr(u, "locked", True))
        return self._mutate(actor, siret, "report-lost-credentials",
                            f"codes de {identifiant} déclarés perdus ou volés : compte verrouillé", change,
                            on_person=identifiant, expected_version=expected_version)

    def reissue_credentials(self, actor: Actor, siret: str, identifiant: str, expected_version: int | None = None) -> MutationResult:
        """A new pair of mails (identifiant, then a new provisional password valid 24 h); the old one is dead."""
        def change(reg: Registry, p: Partner) -> list[Violation]:
            u, missing = _user(p, identifiant)
            if missing:
                return missing
            if u.suspended:
                return [Violation("UTILISATEUR_SUSPENDU", f"« {identifiant} » est suspendu par la Caf : "
                                  "rétablissez-le avant de réémettre ses codes.")]
            u.locked = False
            return []
        result = self._mutate(actor, siret, "reissue-credentials", f"nouveaux codes envoyés à {identifiant}", change,
                              acts_outside=True, on_person=identifiant, expected_version=expected_version)
        if any(c.action == "create" and c.kind == "user" and c.target == identifiant for c in result.applied):
            return result  # just created: its first mails are on their way
        gw = self.gateway()
        user_id = gw.user_id(identifiant)
        if user_id is None:
            raise Transient("Le compte n'existe pas encore dans Keycloak ; relancez la réconciliation.")
        gw.reset_provisional(user_id, None, None)  # the old password dies now; the new one leaves with the mail
        u = result.partner.user(identifiant)
        self._queue_credentials(UserSpec(u.identifiant, u.first_name, u.last_name, u.email))
        self.deliver_notifications()
        return result

    def suspend_inactive(self, actor: Actor, days: int) -> list[str]:
        """R18: suspend users with no login for `days` days (accounts younger than that are spared)."""
        if not actor.system:
            raise Forbidden()
        cutoff = self.now() - timedelta(days=days)
        gw = self.gateway()
        logged_in = gw.logins_since(cutoff)
        created = {u["username"]: (u["id"], u["created"]) for u in gw.users_with_attributes()}
        reg = self.registry()
        doomed: dict[str, list[str]] = {}
        for p in reg.partners:
            for u in p.users:
                uid, created_at = created.get(u.identifiant, (None, None))
                if u.suspended or uid is None or uid in logged_in or created_at > cutoff.timestamp():
                    continue
                doomed.setdefault(p.siret, []).append(u.identifiant)
        for siret, idents in doomed.items():
            def change(reg: Registry, p: Partner, idents=idents) -> list[Violation]:
                for ident in idents:
                    p.user(ident).suspended = True
                return []
            self._mutate(actor, siret, "suspend-inactive", f"suspension après {days} jours sans connexion : "
                         + ", ".join(idents), change, reconcile=False,
                         inform=(idents, f"votre compte (aucune connexion depuis {days} jours)", True))
        if doomed:
            self.reconcile(actor)
        return sorted(i for idents in doomed.values() for i in idents)

    def adopt_account(self, actor: Actor, identifiant: str) -> MutationResult:
        """The only way an account Mon Compte Partenaire did not create becomes ours: a Caf administrator of
        the partner that lists it (or a national operator) adopts it, audited; then it is reconciled."""
        with UnitOfWork(self.engine) as uow:
            reg = uow.registry.load()
        p = reg.partner_of(identifiant)
        if p is None:
            raise NotFound(f"« {identifiant} » n'est l'utilisateur d'aucun partenaire du registre.")
        if not actor.is_caf_admin_of(p.caf):
            raise Forbidden("L'adoption d'un compte est réservée à la Caf du partenaire.", code="HORS_MANDAT")
        gw = self.gateway()
        if gw.unmanaged_account(identifiant, p.user(identifiant).email) != identifiant:
            raise Conflict(f"Aucun compte non géré « {identifiant} » à adopter dans Keycloak.", code="RIEN_A_ADOPTER")
        with UnitOfWork(self.engine) as uow:
            uow.audit.record(actor.username, "adopt-account", identifiant, None, {"partner": p.siret},
                             partner=p.siret, caf=p.caf)  # the intent, before Keycloak has it
            uow.reconcile.request(p.siret)
            uow.commit()
        gw.adopt(identifiant)
        report = self.reconcile_request(p.siret) if self.reconcile_mode == "inline" else None
        return MutationResult(p, reconciled=bool(report and report.complete),
                              applied=report.applied if report else [], reconcile_state=self.reconcile_state(p.siret))

    def create_partner(self, actor: Actor, partner: Partner) -> Partner:
        """R11: a Caf administrator registers a partner of its own Caf (administrator user included)."""
        if not actor.is_caf_admin_of(partner.caf):
            raise Forbidden("Un partenaire ne peut être créé que par un administrateur de sa Caf.")
        for u in partner.users:
            self._refuse_unmanaged(u.identifiant, u.email)
        with UnitOfWork(self.engine) as uow:
            if uow.registry.partner_with_version(partner.siret):
                raise ValidationFailed([Violation("PARTENAIRE_EXISTANT", f"Le SIRET {partner.siret} est déjà enregistré.",
                                                  "siret")])
            caf = uow.registry.load_caf(partner.caf)
            reg = Registry([caf] if caf else [], [partner], uow.registry.settings())
            violations = rules.validate(reg, self.today())
            if violations:
                raise ValidationFailed(violations)
            uow.registry.save_partner(partner)
            uow.audit.record(actor.username, "create-partner", f"partner:{partner.siret}", None,
                             partner_to_dict(partner), partner=partner.siret, caf=partner.caf)
            self.report(uow, reg, partner.caf, actor, [f"{partner.name} : partenaire enregistré"])
            uow.reconcile.request(partner.siret)
            uow.commit()
        if self.reconcile_mode == "inline":
            self.reconcile_request(partner.siret)
        return partner

    def prepare_convention(self, actor: Actor, siret: str, number: str, contract: ServiceContract,
                           services: list[Service], expected_version: int | None = None) -> MutationResult:
        """R3–R5: after the partner's request the Caf prepares the convention, its contract and its bulletins."""

        def change(reg: Registry, p: Partner) -> list[Violation]:
            if p.convention(number):
                return [Violation("CONVENTION_EXISTANTE", f"La convention {number} existe déjà.", "number")]
            if not services:
                return [Violation("BULLETIN_MANQUANT", "Choisissez au moins un service (un bulletin d'adhésion par "
                                  "service).", "services")]
            at = self.now()
            conv = Convention(number, ConventionStatus.PREPARED,
                              [StatusChange(ConventionStatus.REQUESTED, at, p.administrator or actor.username),
                               StatusChange(ConventionStatus.PREPARED, at, actor.username)],
                              contract, [Bulletin(svc) for svc in dict.fromkeys(services)])
            p.conventions.append(conv)
            return []
        return self._mutate(actor, siret, "prepare-convention", f"convention {number} préparée", change, **CAF_ONLY,
                            expected_version=expected_version)

    def bulletin_identifiants(self, actor: Actor, siret: str, number: str, service: Service) -> list[dict]:
        """R13: the attachment of the bulletin sent to the Caf — who holds what on it."""
        p = self.partner(actor, siret)
        conv = p.convention(number)
        b = conv.bulletin(service) if conv else None
        if b is None:
            raise NotFound(f"Pas de bulletin {service.value} pour la convention {number}.")
        rows = []
        for m in b.members:
            u = p.user(m.identifiant)
            rows.append({"identifiant": m.identifiant, "nom": u.last_name if u else "", "prenom": u.first_name if u else "",
                         "courriel": u.email if u else "", "groupes": " + ".join(sorted(g.value for g in m.groups)),
                         "profils": " + ".join(sorted(x.value for x in m.profiles))})
        return rows

    def transition_convention(self, actor: Actor, siret: str, number: str, to: ConventionStatus, expected_version: int | None = None) -> MutationResult:
        """The lifecycle, dated with its actor; suspending or reactivating an active convention tells its users."""
        members: list[str] = []
        before: list[ConventionStatus] = []

        def change(reg: Registry, p: Partner) -> list[Violation]:
            conv = p.convention(number)
            if conv is None:
                return [Violation("CONVENTION_INCONNUE", f"La convention {number} n'existe pas pour {p.name}.")]
            before.append(conv.status)
            members.extend(m.identifiant for b in conv.bulletins for m in b.members)
            return rules.transition(conv, to, actor.username, self.now())
        def inform() -> tuple[list[str], str, bool] | None:  # evaluated once the change is made
            if to is ConventionStatus.SUSPENDED or (to is ConventionStatus.ACTIVE and before == [ConventionStatus.SUSPENDED]):
                return members, f"vos habilitations au titre de la convention {number}", to is ConventionStatus.SUSPENDED
            return None
        return self._mutate(actor, siret, "convention-transition", f"convention {number} → {to.value}", change,
                            **CAF_ONLY, inform=inform,
                            expected_version=expected_version)
