"""Issue 25 §6: the daily job runs at a fixed Paris time; a restart neither repeats nor postpones it; after
downtime it catches up once (not once per missed day). Measured before: it first ran 24 h after each start."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from provisioning.domain.schedule import is_due, latest_due, next_due, parse_at
from provisioning.jobs import run_if_due
from tests.unit.services import make_service

AT = time(4, 0)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_latest_due_instant_is_today_at_four_in_paris_once_passed_else_yesterday():
    assert latest_due(utc(2027, 1, 11, 3, 30), AT) == utc(2027, 1, 11, 3, 0)   # winter: Paris = UTC+1
    assert latest_due(utc(2027, 1, 11, 2, 59), AT) == utc(2027, 1, 10, 3, 0)
    assert latest_due(utc(2027, 7, 11, 2, 30), AT) == utc(2027, 7, 11, 2, 0)   # summer: Paris = UTC+2
    assert next_due(utc(2027, 7, 11, 2, 30), AT) == utc(2027, 7, 12, 2, 0)


@pytest.mark.parametrize("day", [(2027, 3, 28), (2027, 10, 31)], ids=["summer-time-starts", "summer-time-ends"])
def test_a_day_that_changes_the_clocks_has_exactly_one_run(day):
    """Over 48 hours around the change, polled every minute: one run a day, at 04:00 local."""
    from datetime import date, timedelta

    from provisioning.domain.schedule import PARIS
    moment = utc(*day) - timedelta(hours=12)  # the day before, at noon or 13:00: yesterday's run was done
    last, runs = moment, []
    while moment < utc(*day) + timedelta(hours=36):
        if is_due(last, moment, AT):
            runs.append(moment)
            last = moment
        moment += timedelta(minutes=1)
    first = date(*day)
    assert [r.astimezone(PARIS).strftime("%Y-%m-%d %H:%M") for r in runs] == [
        f"{first} 04:00", f"{first + timedelta(days=1)} 04:00"]


def test_never_run_is_due_and_a_bad_time_is_refused_clearly():
    assert is_due(None, utc(2027, 1, 11, 12, 0), AT)
    assert parse_at(" 23:05 ") == time(23, 5)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_at("4h")


def test_a_restart_neither_repeats_nor_postpones_and_downtime_is_caught_up_once(use_case_store):
    svc = make_service(use_case_store)
    runs = []
    svc.suspend_inactive = lambda actor, days: runs.append(days) or []
    svc.deliver_notifications = lambda: 0
    assert run_if_due(svc, 90, AT, clock=lambda: utc(2027, 1, 11, 9, 0))           # first start: due
    assert not run_if_due(svc, 90, AT, clock=lambda: utc(2027, 1, 11, 9, 5))       # a restart that day
    assert not run_if_due(svc, 90, AT, clock=lambda: utc(2027, 1, 12, 2, 59))      # 03:59 the next day
    assert run_if_due(svc, 90, AT, clock=lambda: utc(2027, 1, 12, 3, 0))           # 04:00: due
    assert run_if_due(svc, 90, AT, clock=lambda: utc(2027, 1, 15, 12, 0))          # back after 3 days: once
    assert not run_if_due(svc, 90, AT, clock=lambda: utc(2027, 1, 15, 12, 1))
    assert runs == [90, 90, 90]


def test_a_failed_run_stays_due(use_case_store):
    from provisioning.errors import Transient
    svc = make_service(use_case_store)

    def down(actor, days):
        raise Transient("Keycloak indisponible")
    svc.suspend_inactive = down
    svc.deliver_notifications = lambda: 0
    with pytest.raises(Transient):
        run_if_due(svc, 90, AT, clock=lambda: utc(2027, 1, 11, 9, 0))
    svc.suspend_inactive = lambda actor, days: []
    assert run_if_due(svc, 90, AT, clock=lambda: utc(2027, 1, 11, 9, 1))
