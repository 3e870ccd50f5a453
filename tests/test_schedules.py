"""Which schedule occurrences fall due on a tick, whatever the timer reports as its previous tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from amlexec.errors import ConfigurationError
from amlexec.schedules import MAX_CATCH_UP, Schedule, due_occurrences, load_schedules

NIGHTLY = Schedule("nightly", "0 0 2 * * *", b"{}")
NOW = datetime(2026, 11, 21, 2, 0, 4, tzinfo=UTC)


def test_a_last_tick_in_year_one_does_not_overflow() -> None:
    """What the timer extension reports before it has stored a status; the window is capped at a day."""
    (due,) = due_occurrences([NIGHTLY], now=NOW, last_tick=datetime(1, 1, 1, tzinfo=UTC))
    assert due == (NIGHTLY, datetime(2026, 11, 21, 2, 0, tzinfo=UTC))


def test_the_look_back_is_capped_at_a_day_plus_the_overlap() -> None:
    hourly = Schedule("hourly", "0 0 * * * *", b"{}")
    (due,) = due_occurrences([hourly], now=NOW, last_tick=NOW - timedelta(days=30))
    assert due[1] == datetime(2026, 11, 21, 2, 0, tzinfo=UTC), "only the latest missed occurrence"
    assert timedelta(days=1) == MAX_CATCH_UP


def test_no_previous_tick_looks_back_one_period() -> None:
    assert due_occurrences([NIGHTLY], now=NOW + timedelta(minutes=5), last_tick=None) == []
    assert due_occurrences([NIGHTLY], now=NOW, last_tick=None) == [(NIGHTLY, datetime(2026, 11, 21, 2, 0, tzinfo=UTC))]


@pytest.mark.parametrize(
    ("cron", "zone", "now", "last", "expected"),
    [
        ("0 0 2 * * *", "UTC", "2026-11-21T02:00:04", "2026-11-21T01:59:04", "2026-11-21T02:00:00"),
        ("0 0 2 * * *", "UTC", "2026-11-21T02:01:40", "2026-11-21T02:00:40", None),
        ("0 */15 * * * *", "UTC", "2026-11-21T02:31:00", "2026-11-21T02:30:00", "2026-11-21T02:30:00"),
        ("0 0 2 * * *", "W. Europe Standard Time", "2026-11-21T01:00:05", "2026-11-21T00:59:05", "2026-11-21T01:00:00"),
        ("0 0 2 * * *", "Europe/Berlin", "2026-07-21T00:00:05", "2026-07-20T23:59:05", "2026-07-21T00:00:00"),
        ("0 0 9 * * 1-5", "UTC", "2026-11-23T09:00:01", None, "2026-11-23T09:00:00"),
        ("0 0 9 * * 1-5", "UTC", "2026-11-22T09:00:01", None, None),
        ("0 0 * * * *", "UTC", "2026-11-21T07:30:00", "2026-11-21T01:59:00", "2026-11-21T07:00:00"),
    ],
    ids=[
        "due this tick",
        "not due",
        "every 15 minutes",
        "Windows zone, winter",
        "IANA zone, summer",
        "weekday",
        "not on a Sunday",
        "after downtime: only the latest",
    ],
)
def test_due_occurrences(cron: str, zone: str, now: str, last: str | None, expected: str | None) -> None:
    schedule = Schedule("s", cron, b"{}", zone)
    at = datetime.fromisoformat(now).replace(tzinfo=UTC)
    since = datetime.fromisoformat(last).replace(tzinfo=UTC) if last else None
    due = due_occurrences([schedule], now=at, last_tick=since)
    assert [d[1] for d in due] == ([datetime.fromisoformat(expected).replace(tzinfo=UTC)] if expected else [])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"name": "x"}', "expected a JSON array"),
        ('[{"schedule": "0 0 2 * * *", "payload": {}}]', "needs a non-empty 'name'"),
        ('[{"name": "a", "schedule": "0 0 25 * * *", "payload": {}}]', "hour field '25': 25 is above the maximum 23"),
        ('[{"name": "a", "schedule": "0 0 2 * * *"}]', "give 'payload' or 'payloadFile'"),
        ('[{"name": "a", "schedule": "0 0 2 * * *", "payload": {}, "timeZone": "Mars/Base"}]', "neither a Windows"),
        (
            '[{"name": "a", "schedule": "0 0 2 * * *", "payload": {}}, {"name": "a", "schedule": "0 0 3 * * *", '
            '"payload": {}}]',
            "used twice",
        ),
        ("[not json", "not valid JSON"),
    ],
    ids=["not an array", "no name", "hour 25", "no payload", "unknown zone", "duplicate name", "bad JSON"],
)
def test_schedule_configuration_errors_say_what_to_fix(document: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_schedules(None, document)
    assert message in str(info.value)


def test_a_name_in_both_the_file_and_the_setting_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "schedules.json"
    file.write_text('[{"name": "a", "schedule": "0 0 2 * * *", "payload": {}}]', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="schedule name 'a' is defined twice"):
        load_schedules(file, '[{"name": "a", "schedule": "0 0 3 * * *", "payload": {}}]')
    assert [s.name for s in load_schedules(file, '[{"name": "b", "schedule": "0 0 3 * * *", "payload": {}}]')] == [
        "a",
        "b",
    ]


def test_day_of_month_and_day_of_week_must_both_match_as_functions_timers_fire() -> None:
    """NCrontab (what Functions timers use) fires on Friday the 13th only; croniter's default would fire on
    every 13th and every Friday: 14 times in Q1 2026 instead of 2."""
    (friday_13th,) = load_schedules(None, '[{"name": "f13", "schedule": "0 0 9 13 * 5", "payload": {}}]')
    fired = friday_13th.occurrences(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    assert fired == [datetime(2026, 2, 13, 9, tzinfo=UTC), datetime(2026, 3, 13, 9, tzinfo=UTC)]


def test_five_field_cron_is_accepted_with_seconds_zero() -> None:
    (five,) = load_schedules(None, '[{"name": "five", "schedule": "30 2 * * *", "payload": {}}]')
    fired = five.occurrences(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))
    assert fired == [datetime(2026, 1, 1, 2, 30, tzinfo=UTC), datetime(2026, 1, 2, 2, 30, tzinfo=UTC)]
