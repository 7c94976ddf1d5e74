"""The unit of work of one command on one partner (issue 26 §1): it loads the partner with its version once
the actor may act, lets the handler edit it and record what the change means (journal subject, people told,
mails, more writes of the same transaction), then on leaving validates the partner's rules and writes the
partner, its journal, the Caf's report (R9), the mails and the reconcile request in one transaction — or
nothing at all. Keycloak follows afterwards (inline, or through the worker).

What the change did is found by identity against the partner as read (domain/delta.py), and what follows costs
that, not the partner (issue 27): a change to people and grants only is checked by the rules for those (the
rest passed them when it was stored; uniqueness and membership are asked of the store's index), journaled as
those, and written as those rows. A change to the partner itself (its conventions, equipments, delegates…) is
checked whole.

    with app.changing(actor, CreateUser(...), "create-user", f"création de {ident}") as ch:
        ch.refuse(...)          # a refusal: nothing written
        ch.partner.users.append(user)
    return ch.result
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, NoReturn

from provisioning.desired_file import partner_to_dict
from provisioning.domain import journal, rules
from provisioning.domain.delta import Delta, between, view
from provisioning.domain.model import Partner, Registry, User
from provisioning.errors import ValidationFailed, Violation
from provisioning.notify import messages
from provisioning.store.uow import UnitOfWork

if TYPE_CHECKING:
    from provisioning.usecases.base import Actor, Core, MutationResult


class _Refused(Exception):
    """A handler's refusal, completed on leaving with the partner's own rule faults."""
    def __init__(self, violations: list[Violation]):
        super().__init__(violations)
        self.violations = violations


class PartnerChange:
    def __init__(self, app: Core, actor: Actor, siret: str, action: str, describe: str, *,
                 expected_version: int | None = None, on_person: str | None = None, self_ok: bool = True,
                 subject: str | None = None, reconcile: bool = True, acts_outside: bool = False,
                 report: bool = True):
        """`on_person`: the person acted upon (R12 hierarchy, the journal's subject unless `subject`);
        `acts_outside`: the command acts beyond the registry (a re-issue, an unlock in Keycloak), so it is
        journaled even when the partner's document does not change; `reconcile=False`: Keycloak is not
        asked to follow now (the caller reconciles once for many partners, or nothing in Keycloak changes);
        `report=False`: no R9 report to the Caf (the command changes nobody's habilitations)."""
        self.app, self.actor, self.siret, self.action, self.describe = app, actor, siret, action, describe
        self.expected_version, self.on_person, self.self_ok = expected_version, on_person, self_ok
        self.subject = subject or on_person
        self.reconcile, self.acts_outside, self.reports = reconcile, acts_outside, report
        self._about: list[str] = []
        self._mails: list[tuple[str, str, str]] = []
        self._informs: list[tuple[list[str], str, bool, str]] = []
        self._writes: list[Callable[[UnitOfWork], None]] = []
        self.result: MutationResult

    # --- what the handler sees and says ----------------------------------------------------------------
    def __enter__(self) -> PartnerChange:
        self.uow = self.app.uow().__enter__()
        try:
            self.partner, self.version = self.app._checked(self.uow, self.actor, self.siret, self.action,
                                                           self.on_person, self.self_ok, self.expected_version)
            caf = self.uow.registry.load_caf(self.partner.caf)
            self.registry = Registry([caf] if caf else [], [self.partner], self.uow.registry.settings())
        except BaseException:
            self.uow.__exit__(None, None, None)
            raise
        self._read = self.uow.registry.as_read(self.siret)  # the partner as read, never changed
        return self

    @staticmethod
    def refuse(violations: list[Violation]) -> None:
        """Stop here with these refusals, if any: nothing is written; the partner's rules are checked as it
        stands, so the answer lists every fault at once."""
        if violations:
            raise _Refused(violations)

    @staticmethod
    def fail(*violations: Violation) -> NoReturn:
        """Stop here, refused (as `refuse`)."""
        raise _Refused(list(violations))

    def person(self, identifiant: str) -> User:
        """The partner's person, or the command is refused (UTILISATEUR_INCONNU)."""
        u = self.partner.user(identifiant)
        if u is None:
            self.fail(Violation("UTILISATEUR_INCONNU", f"« {identifiant} » n'est pas un utilisateur de "
                                f"{self.partner.name}.", "identifiant"))
        return u

    def has_stored(self, identifiant: str) -> bool:
        """Whether the partner, as stored, has this person: asked of the store's index (one lookup, where
        `partner.user` walks its people: 5,000 of them on a big partner)."""
        return any(siret == self.siret for _, _, siret in self.uow.registry.holders([identifiant], []))

    def about(self, people: list[str]) -> None:
        """Each of these people gets a line in their own history if the change touched them."""
        self._about += people

    def mail(self, recipient: str, subject: str, body: str) -> None:
        """Sent with the change (through the outbox), or not at all."""
        self._mails.append((recipient, subject, body))

    def inform(self, identifiants: list[str], what: str, suspended: bool, by: str = "La Caf") -> None:
        """R18: the people a suspension (or its end) concerns are told by mail."""
        self._informs.append((identifiants, what, suspended, by))

    def also(self, write: Callable[[UnitOfWork], None]) -> None:
        """More writes of the same transaction (an access review's decision stored with the revocation)."""
        self._writes.append(write)

    # --- leaving: validate, write, commit, then let Keycloak follow ------------------------------------
    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        from provisioning.usecases.base import MutationResult
        try:
            if isinstance(error, _Refused):
                raise ValidationFailed(error.violations + self._faults(between(self._read, self.partner))) from None
            if kind is not None:
                return
            written = self._write()
        finally:
            self.uow.__exit__(kind, error, tb)
        if written is None:
            self.result = MutationResult(self.partner, reconciled=False, changed=False, version=self.version)
            return
        self.result = self.app._reconciled(self.siret, MutationResult(self.partner, reconciled=False,
                                                                      version=self.version),
                                           self.reconcile and written)

    def _faults(self, d: Delta) -> list[Violation]:
        if self._read is None or d.header:
            return rules.validate(self.registry, self.app.today())
        return rules.validate(self.registry, self.app.today(), focus=_focus(self.uow, self.partner, d))

    def _write(self) -> bool | None:
        """None: nothing changed and nothing was written; else whether the partner's document changed."""
        uow, p = self.uow, self.partner
        d = between(self._read, p)
        faults = self._faults(d)
        if faults:
            raise ValidationFailed(faults)
        changed = bool(d)
        if not changed and not self.acts_outside:
            return None
        # the journal compares what the change touched: its header and those people, before and after
        before = partner_to_dict(view(self._read, d, 0)) if self._read is not None else None
        after = partner_to_dict(view(p, d, 1))
        if changed:
            self.version = uow.registry.save_partner(p, self.version, delta=d)
            uow.reconcile.request(self.siret)  # with the change: the worker converges even if we stop here
        self.app._journal(uow, self.actor, self.action, self.describe, p, before, after, self.subject,
                          self._about)
        # R9's report to the Caf: the change, then each person it changed and how (issue 29: after a bulk change
        # — a CSV import — the Caf reads who got what, not only « import of 40 lines »)
        people = [f"  – {ident} : {' ; '.join(found)}" for ident in dict.fromkeys([*filter(None, [self.subject]),
                                                                                   *self._about])
                  if (found := journal.person_changes(before, after, ident))]
        if self.reports:
            self.app.report(uow, self.registry, p.caf, self.actor, [f"{p.name} : {self.describe}", *people])
        for recipient, subject, body in self._mails:
            uow.outbox.put(recipient, subject, body, caf=p.caf)
        for write in self._writes:
            write(uow)
        for informed in self._informs:
            _inform(uow, p, *informed)
        uow.commit()
        return changed


def _focus(uow: UnitOfWork, p: Partner, d: Delta) -> rules.Focus:
    """What the rules need to check a change to people and grants only: where they stand, and what the
    store's index says of their identifiants and addresses (one or two indexed reads)."""
    users = {ident: d.user_at[ident] for ident, (_, after) in d.users.items() if after is not None}
    people = frozenset(k[2] for k in d.members)
    removed = frozenset(d.removed)
    replaced = {ident for ident, (before, _) in d.users.items() if before is not None}  # their rows are old
    rows = uow.registry.holders(sorted({*users, *people}), [d.users[i][1].email for i in users])  # type: ignore[union-attr]
    others = [r for r in rows if r[0] not in replaced]
    return rules.Focus(users, removed, {k: d.member_at[k] for k, (_, after) in d.members.items() if after is not None},
                       people, frozenset(r[0] for r in others if r[0] in users), frozenset(r[1] for r in others),
                       frozenset(i for i, _, siret in rows if siret == p.siret and i not in removed) | set(users))


def _inform(uow: UnitOfWork, p: Partner, identifiants: list[str], what: str, suspended: bool, by: str) -> None:
    mail = messages.suspension_mail if suspended else messages.reactivation_mail
    for ident in dict.fromkeys(identifiants):
        u = p.user(ident)
        if u:
            subject, body = mail(u.first_name, u.last_name, what, by)
            uow.outbox.put(u.email, subject, body, caf=p.caf)

