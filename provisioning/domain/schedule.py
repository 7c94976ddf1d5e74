"""When a daily job is due: every day at a fixed local time in Paris (issue 25 §6), whatever the restarts.

A job is due when it has not completed since the latest scheduled instant; a process back after downtime
therefore runs it once (not once per missed day), and a restart never postpones it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def parse_at(text: str) -> time:
    """« HH:MM », local time. Between 02:00 and 03:00 a day can lack or repeat the hour (summer time);
    the default, 04:00, has neither."""
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError as e:
        raise ValueError(f"heure quotidienne invalide « {text} » : attendu HH:MM (heure de Paris)") from e


def latest_due(now: datetime, at: time, tz: ZoneInfo = PARIS) -> datetime:
    """The latest scheduled instant at or before `now` (an aware datetime)."""
    local = now.astimezone(tz)
    today = datetime.combine(local.date(), at, tzinfo=tz)
    if today > local:
        today = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=tz)
    return today


def next_due(now: datetime, at: time, tz: ZoneInfo = PARIS) -> datetime:
    last = latest_due(now, at, tz)
    return datetime.combine(last.date() + timedelta(days=1), at, tzinfo=tz)


def is_due(last_run: datetime | None, now: datetime, at: time, tz: ZoneInfo = PARIS) -> bool:
    return last_run is None or last_run < latest_due(now, at, tz)
