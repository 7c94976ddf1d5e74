"""What pages show people, the French way: the audit trail (each stable action code has a sentence; the code
stays beside it in small print for support), times in Europe/Paris that say so, numbers and amounts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from provisioning.domain.journal import ACTIONS, action_fr  # noqa: F401 (one table for API and pages)

PARIS = ZoneInfo("Europe/Paris")


def paris(value, seconds: bool = False, label: bool = False) -> str:
    """An instant (datetime or ISO text; naive means UTC, as our stores keep it) as Paris wall-clock time:
    27/11/2026 à 23h05, or to the second 27/11/2026 à 23:05:09 (« 23h05:09 » mixed two notations, issue 29) —
    with « (heure de Paris) » when `label` (a sentence, not a labelled column)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return "—" if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(PARIS).strftime("%d/%m/%Y à " + ("%H:%M:%S" if seconds else "%Hh%M"))
    return text + " (heure de Paris)" if label else text


def french_number(v: int | float) -> str:
    """« 90 000 » (narrow no-break space between thousands), as French pages write numbers (issue 29)."""
    return f"{v:,}".replace(",", "\u202f")


def amount(v: int | float | str | Decimal | None) -> Decimal:
    """A stored amount: exact text since amounts have cents, whole euros (an int) before."""
    return Decimal(str(v if v is not None else 0))


def french_amount(v: int | float | str | Decimal | None, *, euro: bool = True) -> str:
    """« 90 000,50 € »: thousands apart (narrow no-break space), a decimal comma, two decimals, the sign after a
    no-break space — as French administrative pages write an amount (issue 29 §3)."""
    whole, cents = f"{amount(v).quantize(Decimal('0.01')):,.2f}".split(".")
    return f"{whole.replace(',', chr(0x202F))},{cents}" + ("\u00a0€" if euro else "")
