"""ScheduleTrigger recurrences: the docs' examples, DST in two Windows zones, issues with paths, the real corpus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_dir

from amlexec.errors import Issue
from amlexec.factory_triggers.recurrence import Recurrence, RecurrenceError, parse_recurrence

_SHARED = shared_dir()
# The public trigger corpus beside the checkout (../shared, or AMLEXEC_SHARED_DIR); its tests skip without it.
CORPUS = _SHARED / "corpus" / "triggers" if _SHARED is not None else Path("/nonexistent")
MIDNIGHT = "2026-01-01T00:00:00Z"  # a Thursday
AFTERNOON = "2026-01-01T12:25:00Z"  # for the examples that run "at the specified start time"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def recurrence(frequency: str, start: str, schedule: dict[str, Any] | None = None, **extra: Any) -> Recurrence:
    document: dict[str, Any] = {"frequency": frequency, "interval": 1, "startTime": start, "timeZone": "UTC", **extra}
    if schedule is not None:
        document["schedule"] = schedule
    return parse_recurrence(document)


def first(found: Recurrence, count: int, after: str | None = None) -> list[str]:
    moment = utc(after) if after else found.start - timedelta(seconds=1)
    return [t.strftime("%Y-%m-%dT%H:%M") for t in found.next_occurrences(moment, count)]


def every_15_minutes(day: str, start: str = "00:00", end: str = "23:45") -> list[str]:
    moment, last, out = utc(f"{day}T{start}:00"), utc(f"{day}T{end}:00"), []
    while moment <= last:
        out.append(moment.strftime("%Y-%m-%dT%H:%M"))
        moment += timedelta(minutes=15)
    return out


WEEKDAYS_5 = ["monday", "tuesday", "wednesday", "thursday", "friday"]

# Every row of "Examples of trigger recurrence schedules" in Data Factory's "Create a trigger that runs a pipeline on
# a schedule": (schedule, the frequency the row assumes, startTime, expected first fire times in UTC).
DOCS_EXAMPLES = [
    pytest.param(
        {"hours": [5]},
        "Day",
        MIDNIGHT,
        ["2026-01-01T05:00", "2026-01-02T05:00", "2026-01-03T05:00"],
        id="run at 5:00 AM every day",
    ),
    pytest.param(
        {"minutes": [15], "hours": [5]},
        "Day",
        MIDNIGHT,
        ["2026-01-01T05:15", "2026-01-02T05:15"],
        id="run at 5:15 AM every day",
    ),
    pytest.param(
        {"minutes": [15], "hours": [5, 17]},
        "Day",
        MIDNIGHT,
        ["2026-01-01T05:15", "2026-01-01T17:15", "2026-01-02T05:15"],
        id="run at 5:15 AM and 5:15 PM every day",
    ),
    pytest.param(
        {"minutes": [15, 45], "hours": [5, 17]},
        "Day",
        MIDNIGHT,
        ["2026-01-01T05:15", "2026-01-01T05:45", "2026-01-01T17:15", "2026-01-01T17:45", "2026-01-02T05:15"],
        id="run at 5:15 AM, 5:45 AM, 5:15 PM and 5:45 PM every day",
    ),
    pytest.param(
        {"minutes": [0, 15, 30, 45]},
        "Day",
        MIDNIGHT,
        [*every_15_minutes("2026-01-01"), "2026-01-02T00:00"],
        id="run every 15 minutes",
    ),
    pytest.param(
        {"hours": list(range(24))},
        "Day",
        AFTERNOON,
        [f"2026-01-01T{hour:02}:25" for hour in range(12, 24)] + ["2026-01-02T00:25", "2026-01-02T01:25"],
        id="run every hour, minutes from startTime",
    ),
    pytest.param(
        {"minutes": [0]},
        "Day",
        MIDNIGHT,
        [f"2026-01-01T{hour:02}:00" for hour in range(24)] + ["2026-01-02T00:00"],
        id="run every hour on the hour",
    ),
    pytest.param(
        {"minutes": [15]},
        "Day",
        MIDNIGHT,
        [f"2026-01-01T{hour:02}:15" for hour in range(24)] + ["2026-01-02T00:15"],
        id="run at 15 minutes past every hour",
    ),
    pytest.param(
        {"hours": [17], "weekDays": ["saturday"]},
        "Week",
        MIDNIGHT,
        ["2026-01-03T17:00", "2026-01-10T17:00", "2026-01-17T17:00"],
        id="run at 5:00 PM on Saturdays every week",
    ),
    pytest.param(
        {"hours": [17], "weekDays": ["monday", "wednesday", "friday"]},
        "Week",
        MIDNIGHT,
        ["2026-01-02T17:00", "2026-01-05T17:00", "2026-01-07T17:00", "2026-01-09T17:00"],
        id="run at 5:00 PM on Monday, Wednesday and Friday every week",
    ),
    pytest.param(
        {"minutes": [15, 45], "hours": [17], "weekDays": ["monday", "wednesday", "friday"]},
        "Week",
        MIDNIGHT,
        ["2026-01-02T17:15", "2026-01-02T17:45", "2026-01-05T17:15", "2026-01-05T17:45", "2026-01-07T17:15"],
        id="run at 5:15 PM and 5:45 PM on Monday, Wednesday and Friday every week",
    ),
    pytest.param(
        {"minutes": [0, 15, 30, 45], "weekDays": WEEKDAYS_5},
        "Week",
        MIDNIGHT,
        every_15_minutes("2026-01-01") + every_15_minutes("2026-01-02") + ["2026-01-05T00:00"],
        id="run every 15 minutes on weekdays",
    ),
    pytest.param(
        {"minutes": [0, 15, 30, 45], "hours": [9, 10, 11, 12, 13, 14, 15, 16], "weekDays": WEEKDAYS_5},
        "Week",
        MIDNIGHT,
        every_15_minutes("2026-01-01", "09:00", "16:45")
        + every_15_minutes("2026-01-02", "09:00", "16:45")
        + ["2026-01-05T09:00"],
        id="run every 15 minutes on weekdays between 9:00 AM and 4:45 PM",
    ),
    pytest.param(
        {"weekDays": ["tuesday", "thursday"]},
        "Week",
        AFTERNOON,
        ["2026-01-01T12:25", "2026-01-06T12:25", "2026-01-08T12:25"],
        id="run on Tuesdays and Thursdays at the specified start time",
    ),
    pytest.param(
        {"minutes": [0], "hours": [6], "monthDays": [28]},
        "Month",
        MIDNIGHT,
        ["2026-01-28T06:00", "2026-02-28T06:00", "2026-03-28T06:00"],
        id="run at 6:00 AM on the 28th day of every month",
    ),
    pytest.param(
        {"minutes": [0], "hours": [6], "monthDays": [-1]},
        "Month",
        MIDNIGHT,
        ["2026-01-31T06:00", "2026-02-28T06:00", "2026-03-31T06:00", "2026-04-30T06:00"],
        id="run at 6:00 AM on the last day of the month",
    ),
    pytest.param(
        {"minutes": [0], "hours": [6], "monthDays": [1, -1]},
        "Month",
        MIDNIGHT,
        ["2026-01-01T06:00", "2026-01-31T06:00", "2026-02-01T06:00", "2026-02-28T06:00"],
        id="run at 6:00 AM on the first and last day of every month",
    ),
    pytest.param(
        {"monthDays": [1, 14]},
        "Month",
        AFTERNOON,
        ["2026-01-01T12:25", "2026-01-14T12:25", "2026-02-01T12:25", "2026-02-14T12:25"],
        id="run on the first and 14th day of every month at the specified start time",
    ),
    pytest.param(
        {"minutes": [0], "hours": [5], "monthlyOccurrences": [{"day": "friday", "occurrence": 1}]},
        "Month",
        MIDNIGHT,
        ["2026-01-02T05:00", "2026-02-06T05:00", "2026-03-06T05:00"],
        id="run on the first Friday of every month at 5:00 AM",
    ),
    pytest.param(
        {"monthlyOccurrences": [{"day": "friday", "occurrence": 1}]},
        "Month",
        AFTERNOON,
        ["2026-01-02T12:25", "2026-02-06T12:25", "2026-03-06T12:25"],
        id="run on the first Friday of every month at the specified start time",
    ),
    pytest.param(
        {"monthlyOccurrences": [{"day": "friday", "occurrence": -3}]},
        "Month",
        AFTERNOON,
        ["2026-01-16T12:25", "2026-02-13T12:25", "2026-03-13T12:25"],
        id="run on the third Friday from the end of the month at the specified start time",
    ),
    pytest.param(
        {
            "minutes": [15],
            "hours": [5],
            "monthlyOccurrences": [{"day": "friday", "occurrence": 1}, {"day": "friday", "occurrence": -1}],
        },
        "Month",
        MIDNIGHT,
        ["2026-01-02T05:15", "2026-01-30T05:15", "2026-02-06T05:15", "2026-02-27T05:15"],
        id="run on the first and last Friday of every month at 5:15 AM",
    ),
    pytest.param(
        {"monthlyOccurrences": [{"day": "friday", "occurrence": 1}, {"day": "friday", "occurrence": -1}]},
        "Month",
        AFTERNOON,
        ["2026-01-02T12:25", "2026-01-30T12:25", "2026-02-06T12:25", "2026-02-27T12:25"],
        id="run on the first and last Friday of every month at the specified start time",
    ),
    pytest.param(
        {"monthlyOccurrences": [{"day": "friday", "occurrence": 5}]},
        "Month",
        AFTERNOON,
        ["2026-01-30T12:25", "2026-05-29T12:25", "2026-07-31T12:25"],  # no fifth Friday in Feb, Mar, Apr, Jun
        id="run on the fifth Friday of every month at the specified start time",
    ),
    pytest.param(
        {"minutes": [0, 15, 30, 45], "monthlyOccurrences": [{"day": "friday", "occurrence": -1}]},
        "Month",
        MIDNIGHT,
        [*every_15_minutes("2026-01-30"), "2026-02-27T00:00"],
        id="run every 15 minutes on the last Friday of the month",
    ),
    pytest.param(
        {"minutes": [15, 45], "hours": [5, 17], "monthlyOccurrences": [{"day": "wednesday", "occurrence": 3}]},
        "Month",
        MIDNIGHT,
        ["2026-01-21T05:15", "2026-01-21T05:45", "2026-01-21T17:15", "2026-01-21T17:45", "2026-02-18T05:15"],
        id="run at 5:15 AM, 5:45 AM, 5:15 PM and 5:45 PM on the third Wednesday of every month",
    ),
]


def test_the_docs_table_has_26_rows_and_all_are_here() -> None:
    assert len(DOCS_EXAMPLES) == 26


@pytest.mark.parametrize(("schedule", "frequency", "start", "expected"), DOCS_EXAMPLES)
def test_every_example_of_the_docs_table(
    schedule: dict[str, Any], frequency: str, start: str, expected: list[str]
) -> None:
    assert first(recurrence(frequency, start, schedule), len(expected)) == expected


def test_all_24_hours_equals_hourly_without_a_schedule() -> None:
    # Docs: {"hours": [0..23]} "is equivalent to a trigger with a frequency value of hour ... and no schedule".
    by_schedule = recurrence("Day", AFTERNOON, {"hours": list(range(24))})
    hourly = recurrence("Hour", AFTERNOON)
    assert first(by_schedule, 60) == first(hourly, 60)


def test_on_the_hour_with_week_or_month_runs_one_day_per_period() -> None:
    # Docs: {"minutes": [0]} "if the frequency value is week or month, the schedule executes one day a week or one
    # day a month only".
    weekly = first(recurrence("Week", MIDNIGHT, {"minutes": [0]}), 25)
    assert weekly == [f"2026-01-01T{hour:02}:00" for hour in range(24)] + ["2026-01-08T00:00"]
    monthly = first(recurrence("Month", MIDNIGHT, {"minutes": [0]}), 25)
    assert monthly == [f"2026-01-01T{hour:02}:00" for hour in range(24)] + ["2026-02-01T00:00"]


def test_schedule_limits_and_expands() -> None:
    # Docs: "scheduled to run only on day 31, the trigger runs only in those months that have a 31st day", and
    # "scheduled to run on month days 1 and 2, runs on the 1st and 2nd days of the month".
    only_31 = recurrence("Month", MIDNIGHT, {"monthDays": [31], "hours": [6], "minutes": [0]})
    assert first(only_31, 3) == ["2026-01-31T06:00", "2026-03-31T06:00", "2026-05-31T06:00"]
    first_two = recurrence("Month", MIDNIGHT, {"monthDays": [1, 2], "hours": [6], "minutes": [0]})
    assert first(first_two, 3) == ["2026-01-01T06:00", "2026-01-02T06:00", "2026-02-01T06:00"]


@pytest.mark.parametrize("start", ["2017-04-07T14:00:00Z", "2017-04-05T14:00:00Z", "2017-04-01T14:00:00Z"])
def test_start_time_in_the_past(start: str) -> None:
    # Docs: now 2017-04-08 13:00, every two days from 2017-04-07 14:00 (or 04-05, or 04-01): the first execution is
    # 2017-04-09 14:00, then 04-11, 04-13, 04-15.
    every_two_days = parse_recurrence({"frequency": "Day", "interval": 2, "startTime": start, "timeZone": "UTC"})
    assert first(every_two_days, 4, after="2017-04-08T13:00:00") == [
        "2017-04-09T14:00",
        "2017-04-11T14:00",
        "2017-04-13T14:00",
        "2017-04-15T14:00",
    ]


def test_quickstart_every_15_minutes_with_an_end_one_hour_later() -> None:
    # Docs (quickstart, no timeZone: the pre-2020 UTC form without Z): "runs the pipeline 15 minutes, 30 minutes,
    # and 45 minutes after the start time" -- the end is exclusive.
    quickstart = parse_recurrence(
        {"frequency": "Minute", "interval": 15, "startTime": "2017-12-08T00:00:00", "endTime": "2017-12-08T01:00:00"}
    )
    found = quickstart.occurrences(utc("2017-12-08T00:00:00"), utc("2017-12-09T00:00:00"))
    assert [t.strftime("%H:%M") for t in found] == ["00:15", "00:30", "00:45"]
    assert quickstart.time_zone_id == "UTC"


@pytest.mark.parametrize(
    ("frequency", "interval", "expected"),
    [
        ("Minute", 7, ["2026-01-01T00:00", "2026-01-01T00:07", "2026-01-01T00:14"]),
        ("Hour", 5, ["2026-01-01T00:00", "2026-01-01T05:00", "2026-01-01T10:00"]),
        ("Day", 3, ["2026-01-01T00:00", "2026-01-04T00:00", "2026-01-07T00:00"]),
        ("Week", 2, ["2026-01-01T00:00", "2026-01-15T00:00", "2026-01-29T00:00"]),
        ("Month", 5, ["2026-01-01T00:00", "2026-06-01T00:00", "2026-11-01T00:00"]),
        ("mOnTh", 1, ["2026-01-01T00:00", "2026-02-01T00:00", "2026-03-01T00:00"]),  # any case
    ],
)
def test_without_a_schedule_start_plus_k_intervals(frequency: str, interval: int, expected: list[str]) -> None:
    found = parse_recurrence({"frequency": frequency, "interval": interval, "startTime": MIDNIGHT, "timeZone": "UTC"})
    assert first(found, 3) == expected
    assert found.frequency == frequency.capitalize()


def test_monthly_from_the_31st_runs_on_the_last_day_of_shorter_months() -> None:
    monthly = recurrence("Month", "2026-01-31T08:00:00Z")
    assert first(monthly, 4) == ["2026-01-31T08:00", "2026-02-28T08:00", "2026-03-31T08:00", "2026-04-30T08:00"]


def test_interval_counts_periods_from_the_start_period() -> None:
    # Every other week, Sunday-to-Saturday weeks counted from startTime's (Friday 2020-05-08, corpus 003).
    biweekly = parse_recurrence(
        {
            "frequency": "Week",
            "interval": 2,
            "startTime": "2020-05-08T01:48:00Z",
            "timeZone": "UTC",
            "schedule": {"minutes": [3], "hours": [2], "weekDays": ["Monday", "Thursday", "Sunday"]},
        }
    )
    assert first(biweekly, 5) == [
        "2020-05-17T02:03",  # the start week's Monday and Thursday are before startTime
        "2020-05-18T02:03",
        "2020-05-21T02:03",
        "2020-05-31T02:03",
        "2020-06-01T02:03",
    ]
    every_third_day = recurrence("Day", MIDNIGHT, {"hours": [9]}, interval=3)
    assert first(every_third_day, 3) == ["2026-01-01T09:00", "2026-01-04T09:00", "2026-01-07T09:00"]


def test_never_before_start_never_at_or_after_end() -> None:
    daily = recurrence(
        "Day", "2026-01-01T12:00:00Z", {"hours": [6, 18], "minutes": [0]}, endTime="2026-01-03T18:00:00Z"
    )
    assert first(daily, 10, after="2025-12-01T00:00:00") == [
        "2026-01-01T18:00",
        "2026-01-02T06:00",
        "2026-01-02T18:00",
        "2026-01-03T06:00",
    ]
    assert list(daily.occurrences(utc("2026-01-02T06:00:00"), utc("2026-01-02T18:00:00"))) == [
        utc("2026-01-02T18:00:00")
    ]


@pytest.mark.parametrize(
    ("schedule", "frequency", "interval", "expected"),
    [
        # The UI offers no schedule for Minute/Hour; these are amlexec's reading (module docstring).
        ({"minutes": [0, 30]}, "Hour", 2, ["2026-01-01T00:00", "2026-01-01T00:30", "2026-01-01T02:00"]),
        ({"hours": [9]}, "Hour", 1, ["2026-01-01T09:00", "2026-01-02T09:00"]),
        (
            {"hours": [9, 10], "minutes": [0, 20, 40]},
            "Minute",
            20,
            ["2026-01-01T09:00", "2026-01-01T09:20", "2026-01-01T09:40", "2026-01-01T10:00"],
        ),
        ({"minutes": [5]}, "Minute", 5, ["2026-01-01T00:05", "2026-01-01T01:05"]),
    ],
)
def test_minute_and_hour_with_a_schedule(
    schedule: dict[str, Any], frequency: str, interval: int, expected: list[str]
) -> None:
    assert first(recurrence(frequency, MIDNIGHT, schedule, interval=interval), len(expected)) == expected


def test_a_schedule_that_can_never_fire_ends_instead_of_spinning(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every other hour from midnight is always even, so hour 3 never comes; every 12 months from April has no 31st.
    slots = 0
    original = Recurrence._slot_times

    def counted(found: Recurrence, *args: Any) -> list[datetime]:
        nonlocal slots
        slots += 1
        return original(found, *args)

    monkeypatch.setattr(Recurrence, "_slot_times", counted)
    counter = PeriodCounter(monkeypatch)
    odd_hour = recurrence("Hour", MIDNIGHT, {"hours": [3]}, interval=2)
    assert odd_hour.next_occurrences(utc("2026-01-01T00:00:00"), 1) == []
    assert slots <= 5 * 366 * 24 + 2  # gives up after five years of hours
    never = recurrence("Month", "2026-04-01T00:00:00Z", {"monthDays": [31]}, interval=12)
    assert never.next_occurrences(utc("2026-01-01T00:00:00"), 1) == []
    assert counter.calls <= 400 + 2  # after a 400-year Gregorian cycle of Aprils


# --- daylight saving: two Windows zones, spring and autumn ---------------------------------------------------------

BERLIN = "W. Europe Standard Time"  # 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00
PACIFIC = "Pacific Standard Time"  # 2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00


def local_recurrence(
    zone: str, frequency: str, start: str, schedule: dict[str, Any] | None = None, interval: int = 1
) -> Recurrence:
    document: dict[str, Any] = {"frequency": frequency, "interval": interval, "startTime": start, "timeZone": zone}
    if schedule is not None:
        document["schedule"] = schedule
    return parse_recurrence(document)


def dst(
    zone: str,
    frequency: str,
    start: str,
    after: str,
    expected: list[str],
    *,
    schedule: dict[str, Any] | None = None,
    interval: int = 1,
    case: str,
) -> Any:
    return pytest.param(local_recurrence(zone, frequency, start, schedule, interval), after, expected, id=case)


DST_CASES = [
    # Day and longer keep the wall clock (UTC moves); a skipped time fires one gap later, a repeated one once.
    dst(
        BERLIN,
        "Day",
        "2026-03-27T08:00:00",
        "2026-03-26T00:00",
        ["2026-03-27T07:00", "2026-03-28T07:00", "2026-03-29T06:00", "2026-03-30T06:00"],
        case="berlin-spring-day-keeps-0800",
    ),
    dst(
        BERLIN,
        "Day",
        "2026-10-23T08:00:00",
        "2026-10-22T00:00",
        ["2026-10-23T06:00", "2026-10-24T06:00", "2026-10-25T07:00", "2026-10-26T07:00"],
        case="berlin-autumn-day-keeps-0800",
    ),
    dst(
        BERLIN,
        "Day",
        "2026-03-28T02:30:00",
        "2026-03-27T00:00",
        ["2026-03-28T01:30", "2026-03-29T01:30", "2026-03-30T00:30"],
        case="berlin-spring-skipped-0230-runs-at-0330",
    ),
    dst(
        BERLIN,
        "Day",
        "2026-10-24T02:30:00",
        "2026-10-23T00:00",
        ["2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30"],
        case="berlin-autumn-repeated-0230-runs-once-first-pass",
    ),
    # 02:00 and 02:30 do not exist and run at 03:00 and 03:30, which run anyway: once each.
    dst(
        BERLIN,
        "Day",
        "2026-03-28T00:00:00",
        "2026-03-29T00:00",
        ["2026-03-29T01:00", "2026-03-29T01:30", "2026-03-30T00:00"],
        schedule={"hours": [2, 3], "minutes": [0, 30]},
        case="berlin-spring-skipped-times-merge-with-real-ones",
    ),
    dst(
        BERLIN,
        "Week",
        "2026-03-21T09:00:00",
        "2026-03-20T00:00",
        ["2026-03-21T08:00", "2026-03-22T08:00", "2026-03-28T08:00", "2026-03-29T07:00"],
        schedule={"weekDays": ["Saturday", "Sunday"]},
        case="berlin-spring-week",
    ),
    dst(
        BERLIN,
        "Hour",
        "2026-03-29T00:00:00",
        "2026-03-28T00:00",
        ["2026-03-28T23:00", "2026-03-29T00:00", "2026-03-29T01:00", "2026-03-29T02:00"],
        case="berlin-spring-hourly-steps-in-absolute-time",
    ),
    dst(
        BERLIN,
        "Minute",
        "2026-10-25T01:30:00",
        "2026-10-24T00:00",
        ["2026-10-24T23:30", "2026-10-25T00:00", "2026-10-25T00:30", "2026-10-25T01:00", "2026-10-25T01:30"],
        interval=30,
        case="berlin-autumn-every-30-minutes-through-both-passes",
    ),
    dst(
        PACIFIC,
        "Day",
        "2026-03-07T09:00:00",
        "2026-03-06T00:00",
        ["2026-03-07T17:00", "2026-03-08T16:00", "2026-03-09T16:00"],
        schedule={"hours": [9], "minutes": [0]},
        case="pacific-spring-day-keeps-0900",
    ),
    dst(
        PACIFIC,
        "Day",
        "2026-10-31T09:00:00",
        "2026-10-30T00:00",
        ["2026-10-31T16:00", "2026-11-01T17:00", "2026-11-02T17:00"],
        schedule={"hours": [9], "minutes": [0]},
        case="pacific-autumn-day-keeps-0900",
    ),
    dst(
        PACIFIC,
        "Day",
        "2026-03-07T02:30:00",
        "2026-03-06T00:00",
        ["2026-03-07T10:30", "2026-03-08T10:30", "2026-03-09T09:30"],
        case="pacific-spring-skipped-0230-runs-at-0330",
    ),
    dst(
        PACIFIC,
        "Day",
        "2026-10-31T01:30:00",
        "2026-10-30T00:00",
        ["2026-10-31T08:30", "2026-11-01T08:30", "2026-11-02T09:30"],
        case="pacific-autumn-repeated-0130-runs-once-first-pass",
    ),
    dst(
        PACIFIC,
        "Month",
        "2026-01-15T09:00:00",
        "2026-01-01T00:00",
        [
            "2026-01-15T17:00",
            "2026-03-15T16:00",
            "2026-05-15T16:00",
            "2026-07-15T16:00",
            "2026-09-15T16:00",
            "2026-11-15T17:00",
        ],
        interval=2,
        case="pacific-month-across-both",
    ),
    dst(
        PACIFIC,
        "Hour",
        "2026-11-01T00:00:00",
        "2026-11-01T06:00",
        ["2026-11-01T07:00", "2026-11-01T08:00", "2026-11-01T09:00", "2026-11-01T10:00"],
        case="pacific-autumn-hourly-runs-01-twice",
    ),
]


@pytest.mark.parametrize(("found", "after", "expected"), DST_CASES)
def test_daylight_saving(found: Recurrence, after: str, expected: list[str]) -> None:
    assert first(found, len(expected), after=after) == expected


# --- issues ----------------------------------------------------------------------------------------------------------


def issues_of(document: Any, path: str = "properties.typeProperties.recurrence") -> list[tuple[str, str]]:
    with pytest.raises(RecurrenceError) as caught:
        parse_recurrence(document, path)
    return [(issue.path, issue.code) for issue in caught.value.issues]


def test_every_issue_is_reported_at_once_with_its_path() -> None:
    prefix = "triggers[0].typeProperties.recurrence"
    document = {
        "frequency": "Daily",
        "interval": 0,
        "startTime": "yesterday",
        "timeZone": "Mars Standard Time",
        "schedule": {
            "minutes": [0, 60, "x"],
            "hours": 25,
            "weekDays": ["Funday"],
            "monthDays": [0, 32],
            "monthlyOccurrences": [{"day": "Friday", "occurrence": 6}, {"occurrence": 1}, "first Friday"],
        },
    }
    assert issues_of(document, prefix) == [
        (f"{prefix}.frequency", "invalid_value"),
        (f"{prefix}.interval", "out_of_range"),
        (f"{prefix}.timeZone", "unknown_time_zone"),
        (f"{prefix}.startTime", "invalid_value"),
        (f"{prefix}.schedule.minutes[1]", "out_of_range"),
        (f"{prefix}.schedule.minutes[2]", "wrong_type"),
        (f"{prefix}.schedule.hours", "out_of_range"),
        (f"{prefix}.schedule.monthDays[0]", "out_of_range"),
        (f"{prefix}.schedule.monthDays[1]", "out_of_range"),
        (f"{prefix}.schedule.weekDays[0]", "invalid_value"),
        (f"{prefix}.schedule.monthlyOccurrences[0].occurrence", "out_of_range"),
        (f"{prefix}.schedule.monthlyOccurrences[1].day", "missing"),
        (f"{prefix}.schedule.monthlyOccurrences[2]", "wrong_type"),
    ]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], [("r", "wrong_type")]),
        ({}, [("r.frequency", "missing"), ("r.startTime", "missing")]),
        ({"frequency": 5, "startTime": MIDNIGHT}, [("r.frequency", "wrong_type")]),
        ({"frequency": "Year", "startTime": MIDNIGHT}, [("r.frequency", "invalid_value")]),
        ({"frequency": "Day", "interval": 1001, "startTime": MIDNIGHT}, [("r.interval", "out_of_range")]),
        ({"frequency": "Day", "interval": 1.5, "startTime": MIDNIGHT}, [("r.interval", "wrong_type")]),
        ({"frequency": "Day", "interval": True, "startTime": MIDNIGHT}, [("r.interval", "wrong_type")]),
        ({"frequency": "Day", "startTime": 20260101}, [("r.startTime", "wrong_type")]),
        ({"frequency": "Day", "startTime": "2026-02-30T00:00:00Z"}, [("r.startTime", "invalid_value")]),
        ({"frequency": "Day", "startTime": MIDNIGHT, "timeZone": 1}, [("r.timeZone", "wrong_type")]),
        (
            {
                "frequency": "Day",
                "startTime": "2026-01-01T00:00:00",
                "endTime": "2026-02-01T00:00:00",
                "timeZone": "UTC",
            },
            [("r.startTime", "missing_utc_designator"), ("r.endTime", "missing_utc_designator")],
        ),
        (
            {"frequency": "Day", "startTime": MIDNIGHT, "endTime": MIDNIGHT, "timeZone": "UTC"},
            [("r.endTime", "out_of_range")],
        ),
        (
            {"frequency": "Day", "startTime": MIDNIGHT, "schedule": {"weekDays": ["Monday"], "monthDays": [1]}},
            [("r.schedule.weekDays", "not_allowed"), ("r.schedule.monthDays", "not_allowed")],
        ),
        (
            {"frequency": "Week", "startTime": MIDNIGHT, "schedule": {"monthlyOccurrences": [{"day": "Monday"}]}},
            [("r.schedule.monthlyOccurrences", "not_allowed")],
        ),
        ({"frequency": "Day", "startTime": MIDNIGHT, "schedule": [5]}, [("r.schedule", "wrong_type")]),
    ],
)
def test_invalid_documents(document: Any, expected: list[tuple[str, str]]) -> None:
    assert issues_of(document, "r") == expected


def test_issue_messages_say_what_was_expected_and_found() -> None:
    with pytest.raises(RecurrenceError) as caught:
        parse_recurrence({"frequency": "Daily", "startTime": MIDNIGHT})
    (issue,) = caught.value.issues
    assert issue == Issue(
        "properties.typeProperties.recurrence.frequency",
        "Data Factory's frequency is Day, not Daily",
        "one of Minute, Hour, Day, Week, Month",
        'string "Daily"',
        code="invalid_value",
    )
    assert "frequency is Day, not Daily" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_lenient_where_data_factory_is() -> None:
    lenient = parse_recurrence(
        {
            "frequency": "week",
            "interval": "2",  # JSON.NET reads a string of digits as an integer
            "startTime": "2026-01-01T12:25:00.1234567",  # seven fractional digits, as Data Factory writes them
            "timeZone": "w. europe standard time",
            "schedule": {"hours": 9, "minutes": ["30"], "weekDays": "MONDAY", "monthDays": None, "unknown": 1},
        }
    )
    assert (lenient.interval, lenient.schedule.hours, lenient.schedule.minutes, lenient.schedule.week_days) == (
        2,
        (9,),
        (30,),
        (1,),
    )
    assert lenient.start == utc("2026-01-01T11:25:00.123456")
    # Every other week from startTime's week (Sunday 2025-12-28), whose Monday is before startTime.
    assert first(lenient, 2) == ["2026-01-12T08:30", "2026-01-26T08:30"]


def test_a_non_utc_zone_with_an_explicit_offset_reads_the_instant() -> None:
    found = local_recurrence(BERLIN, "Day", "2026-01-01T06:00:00Z", {"hours": [9], "minutes": [0]})
    assert found.start == utc("2026-01-01T06:00:00")
    assert found.start_local == datetime(2026, 1, 1, 7, 0)
    assert first(found, 2) == ["2026-01-01T08:00", "2026-01-02T08:00"]
    offset = parse_recurrence({"frequency": "Day", "startTime": "2013-01-09T09:30:00-08:00", "timeZone": "UTC"})
    assert offset.start == utc("2013-01-09T17:30:00")


def test_far_future_queries_end_quietly() -> None:
    # Near year 9999 the date arithmetic overflows; the recurrence simply has nothing more to say.
    far = datetime(9999, 12, 31, 12, 0, tzinfo=UTC)
    for frequency in ("Minute", "Hour", "Day", "Month"):
        document = {"frequency": frequency, "startTime": "2026-01-01T00:00:00", "timeZone": "Tokyo Standard Time"}
        for schedule in (None, {"minutes": [0, 30]}):
            found = parse_recurrence(document if schedule is None else {**document, "schedule": schedule})
            assert all(moment > far for moment in found.next_occurrences(far, 3))


def test_api_edges() -> None:
    daily = recurrence("Day", MIDNIGHT)
    assert daily.next_occurrences(utc("2026-01-01T00:00:00"), 0) == []
    with pytest.raises(ValueError, match="count"):
        daily.next_occurrences(utc("2026-01-01T00:00:00"), -1)
    with pytest.raises(ValueError, match="after"):
        daily.next_occurrences(datetime(2026, 1, 1), 1)
    with pytest.raises(ValueError, match="until"):
        list(daily.occurrences(utc("2026-01-01T00:00:00"), datetime(2026, 1, 2)))
    with pytest.raises(AttributeError):
        daily.interval = 2  # type: ignore[misc]
    assert all(t.tzinfo is UTC for t in daily.next_occurrences(utc("2025-01-01T00:00:00"), 3))


# --- the real corpus -------------------------------------------------------------------------------------------------


def corpus_schedule_triggers() -> Iterator[Any]:
    for path in sorted(CORPUS.glob("*.json")):
        trigger = json.loads(path.read_text(encoding="utf-8"))
        if trigger["properties"].get("type") == "ScheduleTrigger":
            yield pytest.param(trigger["properties"]["typeProperties"]["recurrence"], id=path.stem[:3])


# 004 legitimately cannot parse: its author committed frequency "Daily" (the enum is Day) and timeZone
# "SE Standard time", which is no Windows zone (the corpus index flags both as invalid).
CORPUS_REFUSED = {
    "004": [
        ("properties.typeProperties.recurrence.frequency", "invalid_value"),
        ("properties.typeProperties.recurrence.timeZone", "unknown_time_zone"),
    ],
}

# Hand-checked first fire times (UTC) from each startTime.
CORPUS_FIRST = {
    "001": ["2020-05-11T02:02"],  # every 3 months: 2nd Monday of May; the 1st Sunday is before start, then endTime
    "002": ["2020-05-31T02:02", "2020-07-01T02:02", "2020-07-02T02:02"],  # days 1-3 and -1, every other month
    "003": ["2020-05-18T02:03", "2020-05-21T02:03", "2020-06-01T02:03"],
    "006": ["2021-11-29T22:00", "2021-12-30T22:00"],  # last day 06:00 China Standard Time (+8)
    "011": ["2023-10-20T11:04", "2023-11-17T11:04"],  # every 4 weeks on Friday, startTime's 16:34 in Sri Lanka
    "014": ["2024-01-12T19:06", "2024-02-12T19:06", "2024-03-12T18:06"],  # PST, then PDT
    "026": ["2020-01-23T08:34", "2020-01-24T08:34", "2020-01-25T08:34"],  # hours [8], startTime's minute; endTime
    "031": ["2019-07-07T17:20", "2019-07-07T17:21", "2019-07-07T17:22", "2019-07-07T17:23", "2019-07-07T17:24"],
    "036": ["2021-09-07T08:00", "2021-09-07T09:00"],
}


def conforms(found: Recurrence, moment: datetime) -> bool:
    """Whether a fire time honours the schedule on the trigger's wall clock."""
    zone: tzinfo = found.zone or UTC
    local = moment.astimezone(zone)
    schedule = found.schedule
    checks = [
        not schedule.hours or local.hour in schedule.hours,
        not schedule.minutes or local.minute in schedule.minutes,
        not schedule.week_days or (local.weekday() + 1) % 7 in schedule.week_days,
    ]
    if schedule.month_days and not schedule.monthly_occurrences:
        length = (date(local.year + local.month // 12, local.month % 12 + 1, 1) - timedelta(days=1)).day
        checks.append(any(local.day in (day, length + day + 1) for day in schedule.month_days))
    return all(checks)


@pytest.mark.parametrize("document", list(corpus_schedule_triggers()))
def test_every_corpus_schedule_trigger(document: dict[str, Any], request: pytest.FixtureRequest) -> None:
    key = request.node.callspec.id
    if key in CORPUS_REFUSED:
        assert issues_of(document) == CORPUS_REFUSED[key]
        return
    found = parse_recurrence(document)
    early = first(found, len(CORPUS_FIRST.get(key, [])) + 1)
    if key in CORPUS_FIRST:
        assert early[: len(CORPUS_FIRST[key])] == CORPUS_FIRST[key]
    for after in (found.start - timedelta(days=1), utc("2026-06-01T00:00:00")):
        upcoming = found.next_occurrences(after, 5)
        assert upcoming == sorted(set(upcoming))
        for moment in upcoming:
            assert moment.tzinfo is UTC and moment > after and moment >= found.start
            assert found.end is None or moment < found.end
            assert conforms(found, moment), moment
        if found.end is None:
            assert len(upcoming) == 5


def test_corpus_has_the_schedule_triggers_it_says(corpus_dir: Path) -> None:
    assert corpus_dir / "triggers" == CORPUS
    assert len(list(corpus_schedule_triggers())) == 36


# --- bounded work ----------------------------------------------------------------------------------------------------


class PeriodCounter:
    """Counts the periods expanded: the work, measured without a clock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = Recurrence._period_candidates

        def counted(found: Recurrence, days: list[date], times: list[time], zone: tzinfo) -> list[datetime]:
            self.calls += 1
            return original(found, days, times, zone)

        monkeypatch.setattr(Recurrence, "_period_candidates", counted)


def test_a_yearly_recurrence_over_ten_years_expands_about_ten_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    yearly = local_recurrence(BERLIN, "Month", "2026-03-31T06:00:00", {"monthDays": [-1], "hours": [6]}, interval=12)
    counter = PeriodCounter(monkeypatch)
    found = list(yearly.occurrences(utc("2026-01-01T00:00:00"), utc("2036-01-01T00:00:00")))
    assert len(found) == 10
    assert counter.calls <= len(found) + 2


def test_a_query_years_after_start_jumps_instead_of_walking(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = PeriodCounter(monkeypatch)
    daily = local_recurrence(PACIFIC, "Day", "2016-01-01T09:00:00", {"hours": [9, 21], "minutes": [0]})
    found = list(daily.occurrences(utc("2026-06-01T00:00:00"), utc("2026-06-02T00:00:00")))
    assert found == [utc("2026-06-01T04:00:00"), utc("2026-06-01T16:00:00")]
    assert counter.calls <= 3


def test_a_minute_recurrence_years_after_start_jumps_to_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = 0
    original = Recurrence._fixed_steps

    def counted(found: Recurrence, after: datetime) -> Iterator[datetime]:
        nonlocal steps
        for moment in original(found, after):
            steps += 1
            yield moment

    monkeypatch.setattr(Recurrence, "_fixed_steps", counted)
    minutely = recurrence("Minute", "2016-01-01T00:00:30Z")
    window = list(minutely.occurrences(utc("2026-06-01T00:00:00"), utc("2026-06-01T00:03:00")))
    assert window == [utc("2026-06-01T00:00:30"), utc("2026-06-01T00:01:30"), utc("2026-06-01T00:02:30")]
    # Walking from startTime would take more than five million steps; the window costs its own three and one more.
    assert steps <= 4
