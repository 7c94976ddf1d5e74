"""A partner's people: creation (never adopting an account we did not create, except by explicit
adoption), habilitations on bulletins, delegation, suspensions, lost credentials and re-issue (R12–R18)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from provisioning.domain import rules
from provisioning.domain.model import Group, Member, Partner, Profile, Registry, Service, User
from provisioning.domain.states import AccountState
from provisioning.errors import Conflict, Forbidden, NotFound, ProvisioningError, Transient, Violation
from provisioning.keycloak.gateway import Gateway
from provisioning.notify import messages
from provisioning.reconcile.state import UserSpec
from provisioning.store.uow import UnitOfWork, holding
from provisioning.usecases.base import Actor, MutationResult, _on_user, _unknown_or_forbidden, _user
from provisioning.usecases.reconciling import Reconciling
from provisioning.usecases.usage_rules import version_accepted

log = logging.getLogger(__name__)


class People(Reconciling):
    REISSUE_CLAIM_WAIT = 5.0  # seconds a re-issue waits for another writer of the partner before deferring

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
                            expected_version=expected_version, subject=user.identifiant)

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

    def account(self, actor: Actor, siret: str, identifiant: str) -> dict[str, Any]:
        """What Keycloak knows of a partner's user (issue 12 §4), for its managers: state, lockout, last
        connection, the usage-rules version accepted (mapped onto the published versions)."""
        p = self._load_partner(siret)
        if p is None or not actor.can_manage_partner(p):
            raise _unknown_or_forbidden(actor, siret, p is None)
        u = p.user(identifiant)
        if u is None:
            raise NotFound(f"« {identifiant} » n'est pas un utilisateur de {p.name}.")
        a = self.gateway().account(identifiant)
        with UnitOfWork(self.engine) as uow:
            versions = uow.usage_rules.versions()
        version = version_accepted(versions, a.terms_accepted_at)
        locked = a.locked_until is not None and a.locked_until > self.now()
        if not a.exists:
            state = AccountState.AWAITING_CREATION
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
                "second_factors": list(a.second_factors),
                "usage_rules": {"version": version, "accepted_at": a.terms_accepted_at,
                                "current": bool(versions) and version == versions[-1][0]}}

    def _on_account(self, identifiant: str, act: Callable[[Gateway, str], list[Violation]]
                    ) -> Callable[[Registry, Partner], list[Violation]]:
        """A change made in Keycloak on a partner's user account (unlock, second-factor reset): `act(gateway,
        user_id)` runs inside the registry transaction, so if Keycloak refuses nothing is audited; it returns
        the refusals, if any."""
        def change(reg: Registry, p: Partner) -> list[Violation]:
            _, missing = _user(p, identifiant)
            if missing:
                return missing
            gw = self.gateway()
            user_id = gw.user_id(identifiant)
            if user_id is None:
                return [Violation("COMPTE_ABSENT", f"Le compte de « {identifiant} » n'existe pas encore dans Keycloak.")]
            return act(gw, user_id)
        return change

    def unlock_user(self, actor: Actor, siret: str, identifiant: str,
                    expected_version: int | None = None) -> MutationResult:
        """End a lockout after failed logins (Keycloak's brute-force protection) before it expires, audited."""
        return self._mutate(actor, siret, "unlock-user", f"{identifiant} déverrouillé (échecs de connexion effacés)",
                            self._on_account(identifiant, _unlock),
                            reconcile=False, acts_outside=True, on_person=identifiant,
                            expected_version=expected_version)

    def reset_second_factor(self, actor: Actor, siret: str, identifiant: str,
                            expected_version: int | None = None) -> MutationResult:
        """Issue 13: lost phone or security key: the second factors and recovery codes go (Keycloak), the
        user is told by mail, the next level-2 login enrols anew; audited like a lost-credentials lock."""
        def reset(gw: Gateway, user_id: str) -> list[Violation]:
            if gw.reset_second_factor(user_id):
                # issue 25: a session opened with the lost factor must not keep level 2: every session ends
                gw.logout_user(user_id)
                return []
            return [Violation("AUCUN_SECOND_FACTEUR", f"« {identifiant} » n'a pas de second facteur à réinitialiser.")]
        return self._mutate(actor, siret, "reset-second-factor", f"second facteur de {identifiant} réinitialisé",
                            self._on_account(identifiant, reset), reconcile=False, acts_outside=True,
                            on_person=identifiant, expected_version=expected_version,
                            inform_mail=lambda p: [(u.email, *messages.second_factor_reset_mail(
                                u.first_name, u.last_name, actor.username)) for u in [p.user(identifiant)] if u])

    def set_delegate(self, actor: Actor, siret: str, identifiant: str, delegate: bool, expected_version: int | None = None) -> MutationResult:
        def change(reg: Registry, p: Partner) -> list[Violation]:
            p.delegates = [d for d in p.delegates if d != identifiant] + ([identifiant] if delegate else [])
            return []
        return self._mutate(actor, siret, "delegate" if delegate else "revoke-delegate",
                            f"{identifiant} {'désigné' if delegate else 'n’est plus'} responsable des habilitations",
                            change, expected_version=expected_version, subject=identifiant)

    def suspend_user(self, actor: Actor, siret: str, identifiant: str, suspended: bool, expected_version: int | None = None) -> MutationResult:
        """R18: the Caf suspends (access removed, sessions ended, user informed) or reactivates a user."""
        change = _on_user(identifiant, lambda u: setattr(u, "suspended", suspended))
        return self._mutate(actor, siret, "suspend-user" if suspended else "reactivate-user",
                            f"{identifiant} {'suspendu' if suspended else 'réactivé'}", change,
                            inform=([identifiant], "l'accès de votre compte à Mon Compte Partenaire", suspended),
                            expected_version=expected_version, subject=identifiant)

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
            if u is None:
                return missing
            if u.suspended:
                return [Violation("UTILISATEUR_SUSPENDU", f"« {identifiant} » est suspendu par la Caf : "
                                  "rétablissez-le avant de réémettre ses codes.")]
            u.locked = False
            return []
        # refused before anything is written (issue 25): an account Keycloak holds without our marker gets no
        # codes, so no journal line, no report and no mail to the Caf either
        person = self.partner(actor, siret).user(identifiant)
        if person is not None and self.gateway().unmanaged_account(identifiant, person.email) == identifiant:
            raise Conflict(f"Le compte {identifiant} n'est pas géré par Mon Compte Partenaire : aucun code ne lui "
                           "est envoyé.", code="COMPTE_NON_GERE")
        result = self._mutate(actor, siret, "reissue-credentials", f"nouveaux codes envoyés à {identifiant}", change,
                              acts_outside=True, on_person=identifiant, expected_version=expected_version)
        if any(c.action == "create" and c.kind == "user" and c.target == identifiant for c in result.applied):
            return result  # just created: its first mails are on their way
        # the change is stored: from here nothing is a refusal (issue 25 §4; found by the simulation and the
        # refusal property): the old password dies now if Keycloak lets us, else with the delivery of the new
        # one, which replaces it under the partner's claim and checks that Keycloak holds it
        gw = self.gateway()
        user_id: str | None = ""
        try:
            user_id = gw.user_id(identifiant)
            if user_id is not None:
                with holding(self.engine, [siret], wait=self.REISSUE_CLAIM_WAIT):  # not beside the worker
                    gw.reset_provisional(user_id, None, None)  # into Keycloak's password history
        except ProvisioningError as e:  # Keycloak down or refusing, the partner busy (ClaimBusy)
            log.info("re-issue for %s: old password not reset now (%s); the delivery replaces it", identifiant, e)
        if user_id is None:  # no account yet: its creation mails the codes
            raise Transient("Le compte n'existe pas encore dans Keycloak ; relancez la réconciliation.")
        u = result.partner.user(identifiant)
        assert u is not None  # the mutation just refused a partner without that person
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
            def change(reg: Registry, p: Partner, idents: list[str] = idents) -> list[Violation]:
                for ident in idents:
                    u = p.user(ident)
                    if u is not None:  # removed since the registry was read: nothing to suspend
                        u.suspended = True
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
            p = uow.registry.partner_of(identifiant)
        if p is None:
            raise NotFound(f"« {identifiant} » n'est l'utilisateur d'aucun partenaire du registre.")
        if not actor.is_caf_admin_of(p.caf):
            raise Forbidden("L'adoption d'un compte est réservée à la Caf du partenaire.", code="HORS_MANDAT")
        gw = self.gateway()
        person = p.user(identifiant)
        assert person is not None  # partner_of found the partner through this person
        if gw.unmanaged_account(identifiant, person.email) != identifiant:
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


def _unlock(gw: Gateway, user_id: str) -> list[Violation]:
    gw.unlock(user_id)
    return []
