"""NCRONTAB as Functions timers evaluate it: parsing, the both-days rule, DST in two zones, bounded work."""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from amlexec.factory_triggers.ncrontab import Ncrontab, NcrontabError, parse_ncrontab

BERLIN = ZoneInfo("Europe/Berlin")  # W. Europe Standard Time: 2026-03-29 02:00->03:00, 2026-10-25 03:00->02:00
PACIFIC = ZoneInfo("America/Los_Angeles")  # Pacific Standard Time: 2026-03-08 02:00->03:00, 2026-11-01 02:00->01:00
ALL_MINUTES = tuple(range(60))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fire_times(expression: str, since: str, until: str, zone: ZoneInfo | None = None) -> list[str]:
    found = parse_ncrontab(expression).occurrences(utc(since), utc(until), zone)
    return [moment.strftime("%Y-%m-%dT%H:%M:%S") for moment in found]


@pytest.mark.parametrize(
    ("expression", "field", "expected"),
    [
        ("0 */15 * * * *", "minutes", (0, 15, 30, 45)),
        ("0 0 9-17 * * *", "hours", tuple(range(9, 18))),
        ("0 0 8-20/4 * * *", "hours", (8, 12, 16, 20)),
        ("0 0 20/2 * * *", "hours", (20, 22)),  # n/s runs from n to the field's maximum
        ("0 0 17-9 * * *", "hours", tuple(range(9, 18))),  # NCrontab swaps a reversed range
        ("0 */0 * * * *", "minutes", ALL_MINUTES),  # and reads a step below 1 as 1
        ("0 0 0 1,15,31 * *", "days", (1, 15, 31)),
        ("0 0 0 * JAN,jul *", "months", (1, 7)),
        ("0 0 0 * January-March *", "months", (1, 2, 3)),
        ("0 0 0 * j *", "months", (1,)),  # any prefix; the first name in calendar order wins
        ("0 0 0 * * MON-FRI", "days_of_week", (1, 2, 3, 4, 5)),
        ("0 0 0 * * t", "days_of_week", (2,)),  # Tuesday before Thursday
        ("0 0 0 * * sunday,6", "days_of_week", (0, 6)),
        ("0 0 0 * * */2", "days_of_week", (0, 2, 4, 6)),
        ("*/20 * * * * *", "seconds", (0, 20, 40)),
        ("  0  5  *  *  *  *  ", "minutes", (5,)),  # runs of spaces separate fields like one space
    ],
)
def test_fields_parse_as_ncrontab_reads_them(expression: str, field: str, expected: tuple[int, ...]) -> None:
    assert getattr(parse_ncrontab(expression), field) == expected


def test_five_fields_are_minute_hour_day_month_weekday_with_second_zero() -> None:
    short, full = parse_ncrontab("30 9 * * 1-5"), parse_ncrontab("0 30 9 * * 1-5")
    assert (short.seconds, short.minutes, short.hours, short.has_seconds) == ((0,), (30,), (9,), False)
    since, until = utc("2026-01-01T00:00:00"), utc("2026-02-01T00:00:00")
    assert list(short.occurrences(since, until)) == list(full.occurrences(since, until))
    assert fire_times("30 9 * * 1-5", "2026-01-01T00:00:00", "2026-01-06T00:00:00") == [
        "2026-01-01T09:30:00",  # Thursday
        "2026-01-02T09:30:00",
        "2026-01-05T09:30:00",  # Monday; the weekend is skipped
    ]


def test_friday_the_13th_needs_both_day_fields() -> None:
    # croniter's default (day_or=True) would fire on every Friday and every 13th: 14 times in Q1 2026.
    assert fire_times("0 0 9 13 * 5", "2026-01-01T00:00:00", "2026-04-01T00:00:00") == [
        "2026-02-13T09:00:00",
        "2026-03-13T09:00:00",
    ]


def test_days_a_month_lacks_never_match() -> None:
    assert fire_times("0 0 0 31 * *", "2026-01-01T00:00:00", "2026-06-01T00:00:00") == [
        "2026-01-31T00:00:00",
        "2026-03-31T00:00:00",
        "2026-05-31T00:00:00",
    ]
    assert fire_times("0 0 0 29 2 *", "2025-01-01T00:00:00", "2033-01-01T00:00:00") == [
        "2028-02-29T00:00:00",
        "2032-02-29T00:00:00",
    ]
    assert parse_ncrontab("0 0 0 30 2 *").next_occurrence(utc("2026-01-01T00:00:00")) is None


def test_window_is_open_at_since_closed_at_until_and_counts_whole_seconds() -> None:
    every_second = parse_ncrontab("* * * * * *")
    since = utc("2026-01-01T10:00:00").replace(microsecond=500_000)
    found = list(every_second.occurrences(since, utc("2026-01-01T10:00:03")))
    assert found == [utc("2026-01-01T10:00:01"), utc("2026-01-01T10:00:02"), utc("2026-01-01T10:00:03")]
    assert list(every_second.occurrences(utc("2026-01-01T10:00:00"), utc("2026-01-01T10:00:00"))) == []
    assert all(moment.tzinfo is UTC for moment in found)


def test_other_offsets_in_and_out_are_read_as_instants() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    schedule = parse_ncrontab("0 0 9 * * *")
    found = schedule.next_occurrence(datetime(2026, 1, 1, 12, 0, tzinfo=tokyo), tokyo)
    assert found == utc("2026-01-02T00:00:00")  # 09:00 in Tokyo, asked from a Tokyo-time instant
    assert schedule.next_occurrence(utc("2026-01-01T00:00:00"), ZoneInfo("UTC")) == utc("2026-01-01T09:00:00")


@pytest.mark.parametrize(
    ("expression", "field", "value"),
    [
        ("0 0 0 * * 7", "day-of-week", "7"),  # NCrontab's range is 0-6
        ("0 60 * * * *", "minute", "60"),
        ("60 * * * * *", "second", "60"),
        ("0 0 24 * * *", "hour", "24"),
        ("0 0 0 0 * *", "day-of-month", "0"),
        ("0 0 0 32 * *", "day-of-month", "32"),
        ("0 0 0 * 13 *", "month", "13"),
        ("0 0 0 * FOO *", "month", "FOO"),
        ("0 0 0 * * Mondays", "day-of-week", "Mondays"),
        ("0 0 9 ? * MON", "day-of-month", "?"),  # Quartz syntax is not NCRONTAB
        ("0 0 0 L * *", "day-of-month", "L"),
        ("0 0 0 * * 5#3", "day-of-week", "5#3"),
        ("0 1,,2 * * * *", "minute", "1,,2"),
        ("0 */x * * * *", "minute", "*/x"),
        ("0 -5 * * * *", "minute", "-5"),
        ("0 5a * * * *", "minute", "5a"),
        ("0 0\t0 * * * *", "minute", "0\t0"),  # NCrontab separates fields with spaces only
    ],
)
def test_errors_name_the_field_and_the_value(expression: str, field: str, value: str) -> None:
    with pytest.raises(NcrontabError) as caught:
        parse_ncrontab(expression)
    message = str(caught.value)
    assert f"{field} field {value!r}" in message


@pytest.mark.parametrize("expression", ["", "* * * *", "* * * * * * *", "0 0 9 * * MON 2026"])
def test_field_count_must_be_five_or_six(expression: str) -> None:
    with pytest.raises(NcrontabError, match="expected 6"):
        parse_ncrontab(expression)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(NcrontabError):
        parse_ncrontab(5)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    schedule = parse_ncrontab("0 0 * * * *")
    with pytest.raises(ValueError, match="since"):
        list(schedule.occurrences(datetime(2026, 1, 1), utc("2026-01-02T00:00:00")))
    with pytest.raises(ValueError, match="after"):
        schedule.next_occurrence(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("0 */5 * * * *", True),  # hours "*"
        ("0 0 9-17 * * *", True),  # a range
        ("0 0,1 9 * * *", True),  # two consecutive minutes print as "0-1"
        ("0 30 9 * * *", False),
        ("0 0,30 1 * * *", False),
        ("0 0 */2 * * *", False),  # NCrontab prints 0,2,4,...: no "*", no range
        ("30 9 * * *", False),  # five fields: the implicit second is not inspected
        ("*/10 30 9 * * *", False),  # seconds print as 0,10,20,...
        ("* 30 9 * * *", True),  # seconds print as "*"
    ],
)
def test_interval_schedules_as_functions_classifies_them(expression: str, interval: bool) -> None:
    assert parse_ncrontab(expression).is_interval is interval


# (expression, zone, since, until, expected UTC fire times): the wall clock of each is in the comment.
DST_CASES = [
    pytest.param(
        "0 30 2 * * *",
        BERLIN,
        "2026-03-28T00:00:00",
        "2026-03-31T00:00:00",
        ["2026-03-28T01:30:00", "2026-03-29T01:30:00", "2026-03-30T00:30:00"],
        id="berlin-spring-skipped-0230-fires-at-0330-summer-time",
    ),
    pytest.param(
        "0 */30 * * * *",
        BERLIN,
        "2026-03-29T00:00:00",
        "2026-03-29T02:00:00",
        # 01:30 CET, then "02:00" read as CET = 03:00 CEST, then 03:30 CEST, 04:00 CEST
        ["2026-03-29T00:30:00", "2026-03-29T01:00:00", "2026-03-29T01:30:00", "2026-03-29T02:00:00"],
        id="berlin-spring-interval-keeps-its-pace",
    ),
    pytest.param(
        "0 30 2 * * *",
        BERLIN,
        "2026-10-24T00:00:00",
        "2026-10-27T00:00:00",
        ["2026-10-24T00:30:00", "2026-10-25T00:30:00", "2026-10-26T01:30:00"],
        id="berlin-autumn-repeated-0230-fires-once-in-summer-time",
    ),
    pytest.param(
        "0 */30 * * * *",
        BERLIN,
        "2026-10-24T23:15:00",
        "2026-10-25T02:00:00",
        # 01:30 CEST, 02:00 CEST, 02:30 CEST, 02:00 CET, 02:30 CET, 03:00 CET
        [
            "2026-10-24T23:30:00",
            "2026-10-25T00:00:00",
            "2026-10-25T00:30:00",
            "2026-10-25T01:00:00",
            "2026-10-25T01:30:00",
            "2026-10-25T02:00:00",
        ],
        id="berlin-autumn-interval-fires-in-both-passes",
    ),
    pytest.param(
        "0 30 2 * * *",
        PACIFIC,
        "2026-03-07T00:00:00",
        "2026-03-10T00:00:00",
        ["2026-03-07T10:30:00", "2026-03-08T10:30:00", "2026-03-09T09:30:00"],
        id="pacific-spring-skipped-0230-fires-at-0330-pdt",
    ),
    pytest.param(
        "0 30 1 * * *",
        PACIFIC,
        "2026-10-31T00:00:00",
        "2026-11-03T00:00:00",
        ["2026-10-31T08:30:00", "2026-11-01T08:30:00", "2026-11-02T09:30:00"],
        id="pacific-autumn-repeated-0130-fires-once-in-pdt",
    ),
    pytest.param(
        "0 0 * * * *",
        PACIFIC,
        "2026-11-01T07:30:00",
        "2026-11-01T10:00:00",
        # 01:00 PDT, 01:00 PST, 02:00 PST
        ["2026-11-01T08:00:00", "2026-11-01T09:00:00", "2026-11-01T10:00:00"],
        id="pacific-autumn-hourly-fires-every-real-hour",
    ),
    pytest.param(
        "0 30 1 * * *",
        PACIFIC,
        "2026-11-01T09:10:00",
        "2026-11-03T00:00:00",
        ["2026-11-02T09:30:00"],
        id="pacific-autumn-search-starting-in-second-pass-skips-it",
    ),
    pytest.param(
        "0 0 9 * * *",
        PACIFIC,
        "2026-03-06T00:00:00",
        "2026-03-10T00:00:00",
        ["2026-03-06T17:00:00", "2026-03-07T17:00:00", "2026-03-08T16:00:00", "2026-03-09T16:00:00"],
        id="pacific-wall-clock-kept-across-spring",
    ),
]


@pytest.mark.parametrize(("expression", "zone", "since", "until", "expected"), DST_CASES)
def test_daylight_saving_as_functions_handles_it(
    expression: str, zone: ZoneInfo, since: str, until: str, expected: list[str]
) -> None:
    assert fire_times(expression, since, until, zone) == expected


def _brute_force(schedule: Ncrontab, since: datetime, until: datetime) -> Iterator[datetime]:
    moment = since.replace(second=0) + timedelta(minutes=1)
    while moment <= until:
        if schedule.matches(moment.replace(tzinfo=None)):
            yield moment
        moment += timedelta(minutes=1)


def _random_field(rng: random.Random, low: int, high: int) -> str:
    kind = rng.randrange(5)
    a, b = sorted(rng.sample(range(low, high + 1), 2))
    return ["*", str(a), f"{a}-{b}", f"*/{rng.randint(2, 7)}", f"{a},{b}"][kind]


def test_agrees_with_a_minute_by_minute_search_in_utc() -> None:
    rng = random.Random(20260101)
    since, until = utc("2026-02-26T00:00:00"), utc("2026-03-03T00:00:00")  # crosses a month end
    for _ in range(40):
        expression = " ".join(
            [
                "0",
                _random_field(rng, 0, 59),
                _random_field(rng, 0, 23),
                _random_field(rng, 1, 31),
                rng.choice(["*", "2,3", "3"]),
                _random_field(rng, 0, 6),
            ]
        )
        schedule = parse_ncrontab(expression)
        assert list(schedule.occurrences(since, until)) == list(_brute_force(schedule, since, until)), expression


class _Counter:
    """Measures the search's work without a clock: dates considered, and lookups (every loop turn makes one)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dates = 0
        self.lookups = 0
        original_dates = Ncrontab._candidate_dates

        def counted_dates(schedule: Ncrontab, first: date, last: date) -> Iterator[date]:
            for day in original_dates(schedule, first, last):
                self.dates += 1
                yield day

        def counted_bisect(values: tuple[int, ...], value: int) -> int:
            self.lookups += 1
            return bisect.bisect_left(values, value)

        monkeypatch.setattr(Ncrontab, "_candidate_dates", counted_dates)
        monkeypatch.setattr("amlexec.factory_triggers.ncrontab.bisect_left", counted_bisect)


def test_a_yearly_schedule_over_ten_years_costs_a_few_steps_a_year(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _Counter(monkeypatch)
    found = fire_times("0 0 6 25 DEC *", "2026-01-02T00:00:00", "2036-01-02T00:00:00", BERLIN)
    assert len(found) == 10
    assert counter.dates <= 2 * len(found) + 2
    # Stepping month by month would take 12 lookups a year, day by day 365, second by second 31 million.
    assert counter.lookups <= 12 * len(found) + 12


def test_friday_13th_over_ten_years_looks_at_thirteenths_only(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _Counter(monkeypatch)
    found = fire_times("0 0 9 13 * FRI", "2026-01-01T00:00:00", "2036-01-01T00:00:00")
    assert len(found) == 17  # 2026-02-13 ... 2035-07-13
    assert counter.dates <= 10 * 12 + 2 * len(found)


def test_a_schedule_that_never_fires_stops_at_until(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _Counter(monkeypatch)
    assert fire_times("0 0 0 30 2 *", "2026-01-01T00:00:00", "2036-01-01T00:00:00") == []
    assert counter.lookups <= 3 * 11  # a month lookup and a day lookup per February, and no more
