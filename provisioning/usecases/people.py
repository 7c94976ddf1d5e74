"""Handlers of a partner's people: creation (never adopting an account we did not create, except by explicit
adoption), habilitations on bulletins, delegation, suspensions, lost credentials and re-issue (R12–R18).
Each takes the application, the actor and its command (usecases/commands.py)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from provisioning.domain import policy, rules
from provisioning.domain.model import Member, Partner
from provisioning.domain.states import AccountState
from provisioning.errors import Conflict, Forbidden, NotFound, ProvisioningError, Transient, Violation
from provisioning.keycloak.gateway import Gateway
from provisioning.notify import messages
from provisioning.reconcile.desired import with_accounts
from provisioning.reconcile.state import UserSpec
from provisioning.store.uow import holding
from provisioning.usecases.base import Actor, MutationResult, _unknown_or_forbidden
from provisioning.usecases.change import PartnerChange
from provisioning.usecases.commands import (
    AdoptAccount,
    CreateUser,
    OnPartner,
    ReissueCredentials,
    ReportLostCredentials,
    ResetSecondFactor,
    SetDelegate,
    SetMembership,
    SuspendInactive,
    SuspendUser,
    UnlinkProConnect,
    UnlockUser,
)
from provisioning.usecases.usage_rules import version_accepted

if TYPE_CHECKING:
    from provisioning.services import Provisioning as App

log = logging.getLogger(__name__)


def create_user(app: App, actor: Actor, cmd: CreateUser) -> MutationResult:
    """Another partner's identifiant or email is refused by the store's unique index; an account that exists
    in Keycloak without our marker is refused before anything is stored (never adopted)."""
    user = cmd.user
    app.check_manages(actor, cmd.siret)  # rights first: an outsider learns nothing about Keycloak's accounts
    refuse_unmanaged(app, user.identifiant, user.email)
    with app.changing(actor, cmd, "create-user", f"création de l'utilisateur {user.identifiant}",
                      subject=user.identifiant) as ch:
        if ch.has_stored(user.identifiant):
            ch.fail(Violation("IDENTIFIANT_EN_DOUBLE", f"L'identifiant « {user.identifiant} » existe déjà.",
                              "identifiant"))
        ch.partner.users.append(user)
    return ch.result


def refuse_unmanaged(app: App, username: str, email: str) -> None:
    if not rules.IDENTIFIANT_RE.fullmatch(username) or rules.email_faults(email, ""):
        return  # never sent to Keycloak: the registry's rules refuse it, with their codes, right after
    holder = app.gateway().unmanaged_account(username, email)
    if holder:
        raise Conflict(f"Un compte « {holder} » existe déjà dans Keycloak sans avoir été créé par Mon Compte "
                       "Partenaire (même identifiant ou même courriel) : il ne sera pas repris. Choisissez un "
                       "autre identifiant, ou demandez à la Caf une adoption explicite.", code="COMPTE_NON_GERE")


def set_membership(app: App, actor: Actor, cmd: SetMembership) -> MutationResult:
    """Grant (or change) what a user holds on a bulletin; empty groups revoke."""
    ident, service, groups, profiles = cmd.identifiant, cmd.service, cmd.groups, cmd.profiles
    what = (f"{ident} : {service.value} " + (", ".join(sorted(g.value for g in groups)) or "retiré")
            + (f" ; profils {', '.join(sorted(x.value for x in profiles))}" if profiles else ""))
    with app.changing(actor, cmd, "set-membership", what, on_person=ident, self_ok=False) as ch:
        p = ch.partner
        conv = p.convention(cmd.convention)
        if conv is None:
            ch.fail(Violation("CONVENTION_INCONNUE", f"La convention {cmd.convention} n'existe pas pour {p.name}.",
                              "convention"))
        if not ch.has_stored(ident):
            ch.fail(Violation("MEMBRE_HORS_PARTENAIRE", f"« {ident} » n'est pas un utilisateur de {p.name}.",
                              "identifiant"))
        spec = service.spec
        if spec is not None and not policy.may_grant(actor, p, spec):  # the catalogue says who grants it
            raise Forbidden(policy.grant_refusal(spec))
        if groups:
            ch.refuse(rules.service_is_convened(p, service, conv))
        b = conv.bulletin(service)
        if b is not None:  # a grant changed stays where it stands (the rows keep their order), a review's
            if not groups:  # suspension lifted
                b.members = [m for m in b.members if m.identifiant != ident]
            elif b.update(ident, groups=set(groups), profiles=set(profiles), suspended=False) is None:
                b.members.append(Member(ident, set(groups), set(profiles)))
    return ch.result


def account(app: App, actor: Actor, siret: str, identifiant: str) -> dict[str, Any]:
    """What Keycloak knows of a partner's user (issue 12 §4), for its managers: state, lockout, last
    connection, the usage-rules version accepted (mapped onto the published versions)."""
    p = app._load_partner(siret)
    if p is None or not actor.can_manage_partner(p):
        raise _unknown_or_forbidden(actor, siret, p is None)
    u = p.user(identifiant)
    if u is None:
        raise NotFound(f"« {identifiant} » n'est pas un utilisateur de {p.name}.")
    a = app.gateway().account(identifiant)
    with app.uow() as uow:
        versions = uow.usage_rules.versions()
    version = version_accepted(versions, a.terms_accepted_at)
    locked = a.locked_until is not None and a.locked_until > app.now()
    if not a.exists:
        state = AccountState.AWAITING_CREATION if identifiant in with_accounts(p) else AccountState.AWAITING_CONVENTION
    elif u.locked:
        state = AccountState.LOCKED_LOST_CREDENTIALS
    elif u.suspended or not a.enabled:
        state = AccountState.SUSPENDED
    elif locked:
        state = AccountState.LOCKED_AFTER_FAILURES
    elif a.last_login is None:
        state = AccountState.AWAITING_FIRST_LOGIN
    else:
        state = AccountState.ACTIVE
    return {"identifiant": identifiant, "state": state.value, "state_label": state.label, "exists": a.exists,
            "enabled": a.enabled,
            "last_login": a.last_login, "locked_until": a.locked_until if locked else None,
            "failures": a.failures, "password_change_pending": a.password_change_pending,
            "second_factors": list(a.second_factors), "proconnect": a.proconnect,
            "usage_rules": {"version": version, "accepted_at": a.terms_accepted_at,
                            "current": bool(versions) and version == versions[-1][0]}}


def account_states(app: App, p: Partner, identifiants: list[str]) -> dict[str, tuple[AccountState, datetime | None]]:
    """A page of a partner's people as their managers need to see them (issue 29): suspended, locked, codes
    still to leave, never connected, locked after failures (until when), active — the registry, the outbox and
    one bulk read of Keycloak for the page, never a request per person."""
    with app.uow() as uow:
        pending = uow.outbox.credentials_pending_among(identifiants)
    try:
        accounts: dict[str, Any] | None = app.gateway().accounts(identifiants)
    except ProvisioningError as e:
        log.warning("account states unavailable: %s", e.description)
        accounts = None
    now, out, opened = app.now(), {}, with_accounts(p)
    for ident in identifiants:
        u, a = p.user(ident), (accounts or {}).get(ident)
        until = a.locked_until if a is not None and a.locked_until and a.locked_until > now else None
        if u is None:
            continue
        if u.locked:
            state = AccountState.LOCKED_LOST_CREDENTIALS
        elif u.suspended:
            state = AccountState.SUSPENDED
        elif ident not in opened:
            state = AccountState.AWAITING_CONVENTION
        elif ident in pending:
            state = AccountState.CODES_PENDING
        elif accounts is None:
            state = AccountState.UNKNOWN
        elif a is None:
            state = AccountState.AWAITING_CREATION
        elif not a.enabled:
            state = AccountState.UPDATING
        elif until:
            state = AccountState.LOCKED_AFTER_FAILURES
        elif a.password_change_pending or a.terms_accepted_at is None:
            state = AccountState.AWAITING_FIRST_LOGIN
        else:
            state = AccountState.ACTIVE
        out[ident] = (state, until)
    return out


def _account_id(app: App, ch: PartnerChange, identifiant: str) -> tuple[Gateway, str]:
    """A change made in Keycloak on a partner's user account (unlock, second-factor reset) runs inside the
    registry transaction, so if Keycloak refuses nothing is audited."""
    ch.person(identifiant)
    gw = app.gateway()
    user_id = gw.user_id(identifiant)
    if user_id is None:
        ch.fail(Violation("COMPTE_ABSENT", f"Le compte de « {identifiant} » n'existe pas encore dans Keycloak."))
    return gw, user_id


def unlock_user(app: App, actor: Actor, cmd: UnlockUser) -> MutationResult:
    """End a lockout after failed logins (Keycloak's brute-force protection) before it expires, audited."""
    ident = cmd.identifiant
    with app.changing(actor, cmd, "unlock-user", f"{ident} déverrouillé (échecs de connexion effacés)",
                      reconcile=False, acts_outside=True, on_person=ident) as ch:
        gw, user_id = _account_id(app, ch, ident)
        gw.unlock(user_id)
    return ch.result


def reset_second_factor(app: App, actor: Actor, cmd: ResetSecondFactor) -> MutationResult:
    """Issue 13: lost phone or security key: the second factors and recovery codes go (Keycloak), the user
    is told by mail, the next level-2 login enrols anew; audited like a lost-credentials lock."""
    ident = cmd.identifiant
    with app.changing(actor, cmd, "reset-second-factor", f"second facteur de {ident} réinitialisé",
                      reconcile=False, acts_outside=True, on_person=ident) as ch:
        gw, user_id = _account_id(app, ch, ident)
        if not gw.reset_second_factor(user_id):
            ch.fail(Violation("AUCUN_SECOND_FACTEUR", f"« {ident} » n'a pas de second facteur à réinitialiser."))
        # issue 25: a session opened with the lost factor must not keep level 2: every session ends
        gw.logout_user(user_id)
        u = ch.partner.user(ident)
        if u:
            ch.mail(u.email, *messages.second_factor_reset_mail(u.first_name, u.last_name, actor.username))
    return ch.result


def unlink_proconnect(app: App, actor: Actor, cmd: UnlinkProConnect) -> MutationResult:
    """Issue 32: the person's ProConnect link removed in Keycloak, by herself (her security page) or by her
    managers (the partner's console, the Caf); audited; she is told by mail when it was someone else."""
    ident = cmd.identifiant
    with app.changing(actor, cmd, "unlink-proconnect", f"liaison ProConnect de {ident} retirée",
                      reconcile=False, acts_outside=True, on_person=ident) as ch:
        herself = actor.partner == cmd.siret and actor.username == ident
        if not herself and not policy.its_managers(actor, ch.partner):
            raise Forbidden("Seuls la personne elle-même, les gestionnaires de son partenaire et sa Caf retirent "
                            "une liaison ProConnect.")
        gw, user_id = _account_id(app, ch, ident)
        if not gw.unlink_identity(user_id):
            ch.fail(Violation("AUCUNE_LIAISON", f"Le compte de « {ident} » n'est relié à aucune identité ProConnect."))
        u = ch.partner.user(ident)
        if u and not herself:
            ch.mail(u.email, *messages.proconnect_unlinked_mail(u.first_name, u.last_name, actor.username))
    return ch.result


def set_delegate(app: App, actor: Actor, cmd: SetDelegate) -> MutationResult:
    ident, delegate = cmd.identifiant, cmd.delegate
    with app.changing(actor, cmd, "delegate" if delegate else "revoke-delegate",
                      f"{ident} {'désigné' if delegate else 'n’est plus'} responsable des habilitations",
                      subject=ident) as ch:
        p = ch.partner
        p.delegates = [d for d in p.delegates if d != ident] + ([ident] if delegate else [])
    return ch.result


def suspend_user(app: App, actor: Actor, cmd: SuspendUser) -> MutationResult:
    """R18: the Caf — or the partner's administrator and delegates, within R12 (issue 29) — suspends (access
    removed, sessions ended, the person informed) or reactivates a user. A suspension the Caf decided is lifted
    by the Caf only; nobody suspends themselves."""
    ident, suspended = cmd.identifiant, cmd.suspended
    with app.changing(actor, cmd, "suspend-user" if suspended else "reactivate-user",
                      f"{ident} {'suspendu' if suspended else 'réactivé'}", on_person=ident, self_ok=False,
                      subject=ident) as ch:
        u = ch.person(ident)
        by_caf = policy.its_caf(actor, ch.partner)
        if ident == actor.username:
            raise Forbidden("Vous ne pouvez pas suspendre ni rétablir votre propre compte : demandez-le à la Caf.",
                            code="SOI_MEME")
        if not suspended and u.suspended and u.suspended_by != "partenaire" and not by_caf:
            raise Forbidden(f"{ident} a été suspendu par la Caf : seule la Caf peut le rétablir.",
                            code="SUSPENDU_PAR_LA_CAF")
        by = ("caf" if by_caf else "partenaire") if suspended and not u.suspended else u.suspended_by
        ch.partner.update_user(ident, suspended=suspended, suspended_by=by if suspended else "")
        ch.inform([ident], "l'accès de votre compte à Mon Compte Partenaire", suspended,
                  "La Caf" if by_caf else f"Votre structure ({ch.partner.name})")
    return ch.result


def report_lost_credentials(app: App, actor: Actor, cmd: ReportLostCredentials) -> MutationResult:
    """R18: lost or stolen credentials are locked at once (disabled, sessions ended); re-issue unlocks."""
    ident = cmd.identifiant
    with app.changing(actor, cmd, "report-lost-credentials",
                      f"codes de {ident} déclarés perdus ou volés : compte verrouillé", on_person=ident) as ch:
        ch.person(ident)
        ch.partner.update_user(ident, locked=True)
    return ch.result


def reissue_credentials(app: App, actor: Actor, cmd: ReissueCredentials) -> MutationResult:
    """A new pair of mails (identifiant, then a new provisional password valid 24 h); the old one is dead."""
    ident, siret = cmd.identifiant, cmd.siret
    # refused before anything is written (issue 25): an account Keycloak holds without our marker gets no
    # codes, so no journal line, no report and no mail to the Caf either
    person = app.partner(actor, siret).user(ident)
    if person is not None and app.gateway().unmanaged_account(ident, person.email) == ident:
        raise Conflict(f"Le compte {ident} n'est pas géré par Mon Compte Partenaire : aucun code ne lui "
                       "est envoyé.", code="COMPTE_NON_GERE")
    with app.changing(actor, cmd, "reissue-credentials", f"nouveaux codes envoyés à {ident}",
                      acts_outside=True, on_person=ident) as ch:
        u = ch.person(ident)
        if u.suspended:
            ch.fail(Violation("UTILISATEUR_SUSPENDU", f"« {ident} » est suspendu par la Caf : "
                              "rétablissez-le avant de réémettre ses codes."))
        ch.partner.update_user(ident, locked=False)
    result = ch.result
    if any(c.action == "create" and c.kind == "user" and c.target == ident for c in result.applied):
        return result  # just created: its first mails are on their way
    # the change is stored: from here nothing is a refusal (issue 25 §4; found by the simulation and the
    # refusal property): the old password dies now if Keycloak lets us, else with the delivery of the new
    # one, which replaces it under the partner's claim and checks that Keycloak holds it
    gw = app.gateway()
    user_id: str | None = ""
    try:
        user_id = gw.user_id(ident)
        if user_id is not None:
            with holding(app.uow, [siret], wait=app.REISSUE_CLAIM_WAIT):  # not beside the worker
                gw.reset_provisional(user_id, None, None)  # into Keycloak's password history
    except ProvisioningError as e:  # Keycloak down or refusing, the partner busy (ClaimBusy)
        log.info("re-issue for %s: old password not reset now (%s); the delivery replaces it", ident, e)
    if user_id is None:  # no account yet: its creation mails the codes
        raise Transient("Le compte n'existe pas encore dans Keycloak ; relancez la réconciliation.")
    held = result.partner.user(ident)
    assert held is not None  # the change just refused a partner without that person
    app._queue_credentials(UserSpec(held.identifiant, held.first_name, held.last_name, held.email))
    app.deliver_notifications()
    return result


def suspend_inactive(app: App, actor: Actor, cmd: SuspendInactive) -> list[str]:
    """R18: suspend users with no login for `days` days (accounts younger than that are spared)."""
    if not actor.system:
        raise Forbidden()
    days = cmd.days
    cutoff = app.now() - timedelta(days=days)
    gw = app.gateway()
    logged_in = gw.logins_since(cutoff)
    created = {u["username"]: (u["id"], u["created"]) for u in gw.users_with_attributes()}
    doomed: dict[str, list[str]] = {}
    for p in app.registry().partners:
        for u in p.users:
            uid, created_at = created.get(u.identifiant, (None, None))
            if u.suspended or uid is None or uid in logged_in or created_at > cutoff.timestamp():
                continue
            doomed.setdefault(p.siret, []).append(u.identifiant)
    for siret, idents in doomed.items():
        with app.changing(actor, OnPartner(siret=siret), "suspend-inactive",
                          f"suspension après {days} jours sans connexion : " + ", ".join(idents),
                          reconcile=False) as ch:
            for ident in idents:
                # removed since the registry was read: nothing to suspend
                ch.partner.update_user(ident, suspended=True)
            ch.inform(idents, f"votre compte (aucune connexion depuis {days} jours)", True)
    if doomed:
        app.reconcile(actor)
    return sorted(i for idents in doomed.values() for i in idents)


def adopt_account(app: App, actor: Actor, cmd: AdoptAccount) -> MutationResult:
    """The only way an account Mon Compte Partenaire did not create becomes ours: a Caf administrator of the
    partner that lists it (or a national operator) adopts it, audited; then it is reconciled."""
    identifiant = cmd.identifiant
    with app.uow() as uow:
        p = uow.registry.partner_of(identifiant)
    if p is None:
        raise NotFound(f"« {identifiant} » n'est l'utilisateur d'aucun partenaire du registre.")
    if not actor.is_caf_admin_of(p.caf):
        raise Forbidden("L'adoption d'un compte est réservée à la Caf du partenaire.", code="HORS_MANDAT")
    gw = app.gateway()
    person = p.user(identifiant)
    assert person is not None  # partner_of found the partner through this person
    if gw.unmanaged_account(identifiant, person.email) != identifiant:
        raise Conflict(f"Aucun compte non géré « {identifiant} » à adopter dans Keycloak.", code="RIEN_A_ADOPTER")
    with app.uow() as uow:
        uow.audit.record(actor.username, "adopt-account", identifiant, None, {"partner": p.siret},
                         partner=p.siret, caf=p.caf)  # the intent, before Keycloak has it
        uow.reconcile.request(p.siret)
        uow.commit()
    gw.adopt(identifiant)
    report = app.reconcile_request(p.siret) if app.reconcile_mode == "inline" else None
    return MutationResult(p, reconciled=bool(report and report.complete),
                          applied=report.applied if report else [], reconcile_state=app.reconcile_state(p.siret))
