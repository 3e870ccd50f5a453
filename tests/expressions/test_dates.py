"""Date and time functions: the recorded engine answers, plus properties the engine cannot record."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from date_harness import FakeContext, call, load_cases, parse_now, run_expression
from hypothesis import given, settings
from hypothesis import strategies as st

from amlexec.expressions.dates import DATE_FUNCTIONS
from amlexec.expressions.dotnet_datetime import (
    EN_US,
    MAX_TICKS,
    DotNetDateTime,
    Kind,
    format_datetime,
    parse_timestamp,
)
from amlexec.expressions.errors import ExpressionError, ExpressionEvaluationError
from amlexec.expressions.timezones import find_time_zone, local_to_utc, utc_to_local

NOW = datetime(2026, 11, 21, 11, 20, 33, 123456, tzinfo=UTC)
CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["expression"][:80] for c in CASES])
def test_date_recorded_case(case: dict[str, Any]) -> None:
    if case.get("error"):
        with pytest.raises(ExpressionError):
            run_expression(case["expression"], parse_now(case))
    else:
        assert run_expression(case["expression"], parse_now(case)) == case["result"]


def test_date_fixture_is_large_and_mixed() -> None:
    assert len(CASES) > 1000
    assert sum(1 for c in CASES if c.get("error")) > 100


def test_date_registry_shape() -> None:
    expected = {
        "utcnow": (0, 1),
        "adddays": (2, 3),
        "addhours": (2, 3),
        "addminutes": (2, 3),
        "addseconds": (2, 3),
        "addtotime": (3, 4),
        "subtractfromtime": (3, 4),
        "getfuturetime": (2, 3),
        "getpasttime": (2, 3),
        "formatdatetime": (1, 3),
        "parsedatetime": (1, 3),
        "startofday": (1, 2),
        "startofhour": (1, 2),
        "startofmonth": (1, 2),
        "dayofweek": (1, 1),
        "dayofmonth": (1, 1),
        "dayofyear": (1, 1),
        "ticks": (1, 1),
        "convertfromutc": (2, 3),
        "converttoutc": (2, 3),
        "converttimezone": (3, 4),
        "datedifference": (2, 2),
        # One argument is the engine's own refusal (an evaluation error naming the count), not an arity error.
        "formattimespan": (1, 3),
    }
    assert {k: (v.min_args, v.max_args) for k, v in DATE_FUNCTIONS.items()} == expected
    assert all(spec.name.lower() == key for key, spec in DATE_FUNCTIONS.items())


def test_date_utcnow_uses_injected_clock() -> None:
    ctx = FakeContext(NOW)
    assert call("utcNow", [], ctx) == "2026-11-21T11:20:33.1234560Z"
    assert call("utcNow", ["yyyy-MM-dd"], ctx) == "2026-11-21"
    assert call("getFutureTime", [1, "Month"], ctx) == "2026-12-21T11:20:33.1234560Z"
    assert call("getPastTime", [2, "Week", "d"], ctx) == "11/7/2026"
    # A time-only timestamp takes the injected day.
    assert call("addHours", ["10:00", 1], ctx) == "2026-11-21T11:00:00.0000000"


def test_date_round_trip_shape() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", run_expression("@utcNow()"))


def test_date_other_cultures_use_their_own_names_and_order() -> None:
    # The engine answers with the culture's data (tests/expressions/cases/locales.json records 2,175 answers).
    assert run_expression("@formatDateTime('2024-01-02', 'D', 'fr-FR')") == "mardi 2 janvier 2024"
    assert run_expression("@parseDateTime('31/01/2024', 'de-DE', 'dd/MM/yyyy')") == "2024-01-31T00:00:00.0000000"


def test_date_dst_gap_and_overlap() -> None:
    pacific = find_time_zone("Pacific Standard Time")
    assert pacific is not None
    ticks = DotNetDateTime.from_parts(2024, 3, 10, hour=2, minute=30).ticks
    assert local_to_utc(ticks, pacific) is None  # skipped hour
    ticks = DotNetDateTime.from_parts(2024, 11, 3, hour=1, minute=30).ticks
    assert local_to_utc(ticks, pacific) is None  # repeated hour
    utc = DotNetDateTime.from_parts(2024, 7, 1).ticks
    assert utc_to_local(utc, pacific) == utc - 7 * 3600 * 10_000_000
    assert find_time_zone("Not A Zone") is None
    assert find_time_zone("../../etc/passwd") is None


def test_date_month_arithmetic_clamps() -> None:
    value = DotNetDateTime.from_parts(2024, 1, 31, kind=Kind.UTC)
    assert format_datetime(value.add_months(1), "yyyy-MM-dd", EN_US) == "2024-02-29"
    assert format_datetime(value.add_months(13), "yyyy-MM-dd", EN_US) == "2025-02-28"
    with pytest.raises(ExpressionEvaluationError):
        value.add_months(12 * 8000)
    with pytest.raises(ExpressionEvaluationError):
        DotNetDateTime(MAX_TICKS + 1, Kind.UTC)


_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "2024-01-31T10:00:00Z",
            "1/2/2024 3 PM",
            "9999-12-31",
            "0001-01-01T00:00:00+14:00",
            "Pacific Standard Time",
            "UTC",
            "Month",
            "Year",
            "yyyy-MM-dd",
            "%",
            "'",
            "\\",
            "en-US",
            "",
        ]
    ),
)


@settings(max_examples=1500, deadline=None)
@given(name=st.sampled_from(sorted(DATE_FUNCTIONS)), args=st.lists(_JSON_SCALARS, max_size=4))
def test_date_functions_only_raise_evaluation_errors(name: str, args: list[Any]) -> None:
    spec = DATE_FUNCTIONS[name]
    if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
        return
    with contextlib.suppress(ExpressionEvaluationError):
        spec.impl(args, FakeContext(NOW))


@settings(max_examples=1500, deadline=None)
@given(text=st.text(alphabet="0123456789-/:.,TZ+ APMGJanFebDecMonTue", max_size=40))
def test_date_parser_never_crashes(text: str) -> None:
    today = DotNetDateTime.from_parts(2026, 11, 21)
    value = parse_timestamp(text, today)
    if value is not None:
        assert 0 <= value.ticks <= MAX_TICKS


@settings(max_examples=1500, deadline=None)
@given(
    fmt=st.text(alphabet="dMyhHmsfFtgKz:/'\"\\% .,-xT", max_size=20),
    ticks=st.integers(min_value=0, max_value=MAX_TICKS),
    kind=st.sampled_from(list(Kind)),
)
def test_date_formatter_never_crashes(fmt: str, ticks: int, kind: Kind) -> None:
    with contextlib.suppress(ExpressionEvaluationError):
        assert isinstance(format_datetime(DotNetDateTime(ticks, kind), fmt, EN_US), str)
