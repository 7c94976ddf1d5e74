"""The audit trail in French for people: each stable action code has a sentence; the code stays beside it
in small print for support. Times are shown in Europe/Paris and say so."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from provisioning.domain.journal import ACTIONS, action_fr  # noqa: F401 (one table for API and pages)

PARIS = ZoneInfo("Europe/Paris")


def paris(value, seconds: bool = False, label: bool = False) -> str:
    """An instant (datetime or ISO text; naive means UTC, as our stores keep it) as Paris wall-clock time:
    27/11/2026 à 23h05 — with « (heure de Paris) » when `label` (a sentence, not a labelled column)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "—" if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(PARIS).strftime("%d/%m/%Y à %Hh%M" + (":%S" if seconds else ""))
    return text + " (heure de Paris)" if label else text
