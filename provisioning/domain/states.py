"""Machine states, as codes (issue 26 §4): the database, the API and the scripts carry the code; people read
its French label, given at the edge (templates, mails, CSV, the CLI)."""

from __future__ import annotations

import enum


class ReconcileState(str, enum.Enum):
    """Where a partner's (or the realm's) reconcile request stands."""
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"                    # retried, with a capped backoff
    NEEDS_ATTENTION = "needs_attention"  # only refusals: not retried until something changes (issue 25 §5)

    @property
    def label(self) -> str:
        return _RECONCILE_LABELS[self]


_RECONCILE_LABELS = {ReconcileState.PENDING: "en attente", ReconcileState.APPLIED: "appliqué",
                     ReconcileState.FAILED: "en échec", ReconcileState.NEEDS_ATTENTION: "à traiter"}
