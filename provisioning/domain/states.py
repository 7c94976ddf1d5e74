"""Machine states, as codes (issue 26 §4): the database, the API and the scripts carry the code; people read
its French label, given at the edge (templates, mails, CSV, the CLI). The API answers both: `state` and
`state_label` (or `label`)."""

from __future__ import annotations

import enum


class _Labelled(str, enum.Enum):
    @property
    def label(self) -> str:
        return LABELS[type(self)][self.value]  # by class: two enums may share a code ("suspended")


class ReconcileState(_Labelled):
    """Where a partner's (or the realm's) reconcile request stands."""
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"                    # retried, with a capped backoff
    NEEDS_ATTENTION = "needs_attention"  # only refusals: not retried until something changes (issue 25 §5)


class PersonState(_Labelled):
    """A partner's user as the registry holds her."""
    ACTIVE = "active"
    SUSPENDED = "suspended"
    LOCKED = "locked"  # codes declared lost or stolen


class AccountState(_Labelled):
    """A partner's user as Keycloak and the registry together show her (the account page)."""
    AWAITING_CREATION = "awaiting_creation"
    LOCKED_LOST_CREDENTIALS = "locked_lost_credentials"
    SUSPENDED = "suspended"
    LOCKED_AFTER_FAILURES = "locked_after_failures"
    AWAITING_FIRST_LOGIN = "awaiting_first_login"
    CODES_PENDING = "codes_pending"      # issue 29: her codes have not left yet
    AWAITING_CONVENTION = "awaiting_convention"  # issue 29: accounts are opened once a convention is signed
    UPDATING = "updating"                # Keycloak not yet in step with the registry (a moment)
    UNKNOWN = "unknown"                  # Keycloak did not answer: the registry's word only
    ACTIVE = "active"


class MailState(_Labelled):
    SENT = "sent"
    DEAD = "dead"        # attempts exhausted: shown to the Caf, which may send it again
    WAITING = "waiting"


class ReviewState(_Labelled):
    OPEN = "open"
    DUE = "due"          # deadline passed, closing under way
    CLOSED = "closed"


class ImportAction(_Labelled):
    CREATE = "create"
    UPDATE = "update"
    REFUSED = "refused"


LABELS: dict[type[_Labelled], dict[str, str]] = {
    ReconcileState: {"pending": "en attente", "applied": "appliqué", "failed": "en échec",
                     "needs_attention": "à traiter"},
    PersonState: {"active": "actif", "suspended": "suspendu", "locked": "verrouillé"},
    AccountState: {"awaiting_creation": "en attente de création dans Keycloak",
                   "locked_lost_credentials": "verrouillé (codes déclarés perdus ou volés)",
                   "suspended": "suspendu", "locked_after_failures": "verrouillé après des échecs de connexion",
                   "awaiting_first_login": "en attente de première connexion", "active": "actif",
                   "codes_pending": "codes en attente d'envoi",
                   "awaiting_convention": "compte ouvert à la signature de la convention", "updating": "mise à jour en cours",
                   "unknown": "état du compte inconnu (Keycloak injoignable)"},
    MailState: {"sent": "envoyé", "dead": "en échec définitif", "waiting": "en attente d'envoi"},
    ReviewState: {"open": "en cours", "due": "échue (clôture en cours)", "closed": "close"},
    ImportAction: {"create": "création", "update": "mise à jour", "refused": "refusée"},
}
