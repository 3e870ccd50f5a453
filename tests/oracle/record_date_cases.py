"""Record how Data Factory's engine answers date/time expressions into tests/expressions/cases/dates.json.

Run with the project interpreter (the engine itself runs in ``.venv-oracle``, see engine.py):

    .venv/bin/python tests/oracle/record_date_cases.py

Cases that depend on the current instant are only recorded when their answer cannot change within a
day (e.g. a time-only input printed with a time-only format) or is coarse (``yyyy``), and carry the
recording instant as ``now``. Cases where amlexec deliberately differs from the engine (cultures
other than en-US and invariant) are left out; tests/expressions/test_dates.py covers those.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import Oracle, oracle_python
from recording import answer_fields

OUT = Path(__file__).resolve().parents[1] / "expressions" / "cases" / "dates.json"


def q(text: str) -> str:
    """A single-quoted expression string literal."""
    return "'" + text.replace("'", "''") + "'"


TIMESTAMPS = [
    "2024-01-02",
    "2024-01-02T03:04",
    "2024-01-02T03:04Z",
    "2024-01-02T03:04:05",
    "2024-01-02T03:04:05Z",
    "2024-01-02T03:04:05z",
    "2024-01-02T03:04:05.1Z",
    "2024-01-02T03:04:05.12Z",
    "2024-01-02T03:04:05.123Z",
    "2024-01-02T03:04:05.1234Z",
    "2024-01-02T03:04:05.12345Z",
    "2024-01-02T03:04:05.123456Z",
    "2024-01-02T03:04:05.1234567Z",
    "2024-01-02T03:04:05.12345678Z",
    "2024-01-02T03:04:05.9999999999Z",
    "2024-01-02T03:04:05,5Z",
    "2024-01-02 03:04:05",
    "2024-01-02 03:04:05Z",
    "2024-01-02t03:04:05Z",
    "2024-01-02 T03:04:05Z",
    "2024-01-02T 03:04:05Z",
    "2024-01-02  03:04:05",
    "  2024-01-02  ",
    "2024-01-02T03:04:05+0530",
    "2024-01-02T03:04:05-05:00",
    "2024-01-02T03:04:05+05",
    "2024-01-02T03:04:05+1:00",
    "2024-01-02T03:04:05+100",
    "2024-01-02T03:04:05 +05:00",
    "2024-01-02T03:04:05-00:00",
    "2024-01-02T03:04:05+00:00",
    "2024-01-02T03:04:05+14:00",
    "2024-01-02T03:04:05-14:00",
    "2024-01-02T03:04:05+14:01",
    "2024-01-02T03:04:05+15:00",
    "2024-01-02T03:04:05+01:60",
    "2024-01-02T03:04:05+01:30:00",
    "2024-01-02T03:04:05.123+01:00",
    "2024-01-02T03:04:05.123 +01:00",
    "2024-01-02Z",
    "2024-01-02 +01:00",
    "2024-01-02T03:04:05 GMT",
    "2024-01-02T03:04:05GMT",
    "2024-01-02 03:04:05 GMT",
    "Tue, 02 Jan 2024 03:04:05 GMT",
    "Tue, 02 Jan 2024 03:04:05",
    "Tue, 02 Jan 2024 03:04:05 UTC",
    "Tue, 02 Jan 2024 03:04:05 +0100",
    "Wed, 02 Jan 2024 03:04:05 GMT",
    "02 Jan 2024 03:04:05 GMT",
    "02 Jan 2024",
    "Jan 2 2024",
    "Jan 2, 2024",
    "Jan 2,2024",
    "2 Jan, 2024",
    "January 2, 2024 3:04 PM",
    "January 2 2024 10:00",
    "2024 Jan 2",
    "Jan-02-2024",
    "02-Jan-2024",
    "2-Jan-24",
    "Sept 2 2024",
    "jan 2 2024",
    "JANUARY 2 2024",
    "Tues, 02 Jan 2024",
    "Tuesday, 02 Jan 2024",
    "Tuesday, January 2, 2024",
    "Tuesday 2024-01-02",
    "Monday 2024-01-02",
    "Jan 2024",
    "1/2/2024",
    "01/02/2024 10:00",
    "13/01/2024",
    "2024/01/02",
    "2024-1-2",
    "2024-1-2T03:04:05Z",
    "2024.01.02",
    "01-02-2024",
    "1.2.2024",
    "1/2/24",
    "1/2/0001",
    "1/2/1",
    "1/2/100",
    "1/2/49",
    "1/2/50",
    "10:00 1/2/2024",
    "1/2/2024 10:00:00.123",
    "1/2/2024 10:00:00.123 PM",
    "1/2/2024 0:00 PM",
    "1/2/2024 12:00 PM",
    "1/2/2024 12:00 AM",
    "1/2/2024 10:00:60",
    "1/2/2024 10:60",
    "1/2/2024 5 AM",
    "1/2/2024 5",
    "2024-01-02 3:4:5",
    "2024-01-02 3 PM",
    "2024-01-02 10:00 pm",
    "2024-01-02 12:00:00 AM",
    "2024-01-02 13:00:00 PM",
    "2024-01-02T3:04:05",
    "2024-01-02T03:4:05",
    "2024-01-02T03:04:5",
    "2024-01-02T03:04:05PM",
    "2024-01-02T10:00:00 PM",
    "2024-01-02T3",
    "2024-01-02T03",
    "2024-01-02 03",
    "2024-01-02T",
    "T03:04",
    "20240102",
    "20240102T030405",
    "2024-01",
    "2024",
    "24-01-02",
    "2024-W01-1",
    "2024-001-01",
    "2024-01-02T24:00:00",
    "2024-02-30",
    "1900-02-29",
    "2000-02-29",
    "2024-02-29",
    "2023-02-29",
    "",
    " ",
    "bogus",
    "0001-01-01T00:00:00Z",
    "0001-01-01",
    "9999-12-31T23:59:59.9999999Z",
    "9999-12-31T23:59:59.9999999",
    "10000-01-01",
    "0000-01-01",
    "02024-01-01",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00+02:00",
    "0001-01-01T05:00:00+06:00",
    "0001-01-01T00:30:00+01:00",
    "0001-01-01T00:00:00.5+01:00",
    "0001-01-02T00:00:00+01:00",
    "0001-01-01T00:00:00-01:00",
    "9999-12-31T23:00:00+00:30",
    "9999-12-31T23:00:00-00:30",
    "9999-12-31T23:00:00-01:00",
    "2024-01-02T03:04:05Z+01:00",
    "2024-01-02T03:04:05 GMT+01:00",
    "2024-01-02T03:04:05.Z",
]
# Time-only inputs take today's date; print only the time so the answer is stable.
TIME_ONLY = ["03:04:05", "3 PM", "5:07 AM", "5 AM", "23:59:59.9999999", "12:00 AM", "10:30 pm"]

STANDARD_FORMATS = [*"dDfFgGMmOoRrstTuUYy", "", "e", "X", "h", "K", "z", "Z", "q", " ", "%"]
CUSTOM_FORMATS = [
    "dd",
    "%d",
    "%M",
    "%y",
    "%h",
    "%H",
    "%m",
    "%s",
    "%f",
    "%F",
    "%t",
    "%K",
    "%z",
    "%g",
    "%%",
    "%\\\\",
    "%:",
    "%/",
    "yyyy",
    "yy",
    "yyy",
    "yyyyy",
    "yyyyyyy",
    "MMMM",
    "MMM",
    "MM",
    "M ",
    "ddd",
    "dddd",
    "ddddd",
    "d ",
    "hh",
    "hhh",
    "h ",
    "HH",
    "H ",
    "HHH",
    "mm",
    "m ",
    "mmm",
    "ss",
    "s ",
    "sss",
    "f ",
    "ff",
    "fff",
    "ffff",
    "fffff",
    "ffffff",
    "fffffff",
    "ffffffff",
    "F ",
    "FF",
    "FFF",
    "FFFF",
    "FFFFFF",
    "FFFFFFF",
    "FFFFFFFF",
    "ss.FFFFFFF",
    "ss.fff",
    "ss,FFF",
    "ss.FFF.",
    "HH:mm:ss.FFF",
    "tt",
    "t ",
    "ttt",
    "zz",
    "zzz",
    "zzzz",
    " K",
    "g ",
    "gg",
    "ggg",
    "yyyy/MM/dd",
    "yyyy-MM-dd",
    "yyyyMMdd",
    "yyyyMMddHHmmss",
    "HH:mm",
    "hh:mm:ss tt",
    "h:m:s t",
    "H:m:s.F",
    "yyyy-MM-ddTHH:mm:ss.fffZ",
    "yyyy-MM-ddTHH:mm:ssK",
    "yyyy-MM-dd'T'HH:mm:ss",
    "dd MMMM",
    "d MMMM",
    "MMMM yyyy",
    "dddd, MMMM d, yyyy",
    "ddd, dd MMM yyyy",
    "\\d",
    "\\\\",
    "\\",
    '"HH"',
    "'HH'",
    "'unterminated",
    '"unterminated',
    "'it''s'",
    "'a\\'b'",
    "abc",
    "Today is dddd",
    "The date is yyyy",
    "ABCDEFGHIJKLNOPQRSTUVWXZ",
    "year: yyyy, week?",
    "#yyyy#",
    "yyyy\\MM",
    "yyyy%MM",
    "yyyy%",
    "y/M/d",
    "y-M-d H:m",
    "MM/dd/yyyy HH:mm:ss",
    "dd.MM.yyyy",
    "yyyyMMddTHHmmssZ",
    "'Q'M",
    "HH'h'mm",
    'HH"h"mm',
    "hh tt",
    "h tt",
    "T",
    "TT",
    "Z",
]
FORMAT_TIMESTAMPS = [
    "2024-01-02T03:04:05.1200000Z",
    "2024-11-22T15:04:05.0045000+01:00",
    "2024-11-22T15:04:05",
    "2024-07-04T00:00:00Z",
    "2024-12-31T12:30:59.9999999",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.9999999Z",
    "2009-06-15T13:45:30.6175425Z",
    "0987-03-04T23:00:00",
]


def build_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []

    def add(expression: str, *, now_dependent: bool = False) -> None:
        cases.append({"expression": expression, "now_dependent": now_dependent})

    for ts in TIMESTAMPS:
        add(f"@addDays({q(ts)}, 0)")
    for ts in TIME_ONLY:
        add(f"@formatDateTime({q(ts)}, 'HH:mm:ss.fffffff')", now_dependent=True)
    for ts in FORMAT_TIMESTAMPS:
        for fmt in STANDARD_FORMATS + CUSTOM_FORMATS:
            add(f"@formatDateTime({q(ts)}, {q(fmt)})")
    for ts in FORMAT_TIMESTAMPS[:3]:
        add(f"@formatDateTime({q(ts)})")
        for fmt in [*STANDARD_FORMATS[:19], "", "ddd MMM tt gg", "dddd MMMM"]:
            add(f"@formatDateTime({q(ts)}, {q(fmt)}, '')")
            add(f"@formatDateTime({q(ts)}, {q(fmt)}, 'en-US')")
        add(f"@formatDateTime({q(ts)}, 'd', 'EN-us')")
        add(f"@formatDateTime({q(ts)}, 'd', 'en')")
        add(f"@formatDateTime({q(ts)}, 'd', 'nonsense-locale-!!')")
        add(f"@formatDateTime({q(ts)}, 'd', null)")
        add(f"@formatDateTime({q(ts)}, null)")
        add(f"@formatDateTime({q(ts)}, 'd', 'en-US', 'x')")

    arithmetic_ts = [
        "2024-01-31T10:20:30.1234567Z",
        "2024-02-29T00:00:00",
        "2024-03-31T23:59:59+02:00",
        "2023-12-31T23:59:59.9999999Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T00:00:00Z",
    ]
    for function in ("addDays", "addHours", "addMinutes", "addSeconds"):
        for ts in arithmetic_ts:
            for amount in (
                "1",
                "-1",
                "0",
                "30",
                "-400",
                "100000",
                "3000000",
                "300000000000",
                "1.5",
                "'1'",
                "true",
                "null",
            ):
                add(f"@{function}({q(ts)}, {amount})")
        add(f"@{function}('2024-01-31T00:00:00Z', 1, 'yyyy-MM-dd HH:mm:ss')")
        add(f"@{function}('2024-01-31T00:00:00Z', 1, '')")
        add(f"@{function}('2024-01-31T00:00:00Z', 1, null)")
        add(f"@{function}('2024-01-31T00:00:00Z', 1, 'D')")
        add(f"@{function}('2024-01-31T00:00:00Z', 1, 'o', 'x')")
        add(f"@{function}('2024-01-31T00:00:00Z')")
        add(f"@{function}(1, 1)")
        add(f"@{function}(null, 1)")
    units = ["Second", "Minute", "Hour", "Day", "Week", "Month", "Year"]
    unit_spellings = [
        "second",
        "MONTH",
        " Day",
        "Day ",
        "Days",
        "Months",
        "Millisecond",
        "Ticks",
        "Quarter",
        "",
        "0",
        "1",
        "3",
        "6",
        "7",
        "8",
        "-1",
        "Day, Hour",
        "Second,Minute",
        "Day,Bogus",
    ]
    month_ts = [
        "2024-01-31T10:00:00Z",
        "2024-02-29T00:00:00",
        "2023-01-31T00:00:00+01:00",
        "2024-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T00:00:00Z",
        "9999-12-01T00:00:00Z",
    ]
    for function in ("addToTime", "subtractFromTime"):
        for ts in month_ts:
            for unit in units:
                for amount in ("1", "-1", "13", "-25", "12000"):
                    add(f"@{function}({q(ts)}, {amount}, {q(unit)})")
        for unit in unit_spellings:
            add(f"@{function}('2024-01-31T00:00:00Z', 1, {q(unit)})")
        add(f"@{function}('2024-01-31T00:00:00Z', 1, null)")
        add(f"@{function}('2024-01-31T00:00:00Z', 1.5, 'Day')")
        add(f"@{function}('2024-01-31T00:00:00Z', '1', 'Day')")
        add(f"@{function}('2024-01-31T00:00:00Z', 1, 'Month', 'yyyy-MM-dd')")
        add(f"@{function}('2024-01-31T00:00:00Z', 1, 'Month', '')")
        add(f"@{function}('2024-01-31T00:00:00Z', 1, 'Month', null)")
        add(f"@{function}('2024-01-31T00:00:00Z', 1, 'Month', 'o', 'x')")
        add(f"@{function}('2024-01-31T00:00:00Z', 1)")
    for function in ("getFutureTime", "getPastTime"):
        for unit in units:
            add(f"@{function}(0, {q(unit)}, 'yyyy')", now_dependent=True)
        add(f"@{function}(1.5, 'Day', 'yyyy')")
        add(f"@{function}('1', 'Day', 'yyyy')")
        add(f"@{function}(1, 'Days', 'yyyy')")
        add(f"@{function}(100000, 'Year')")
        add(f"@{function}(1, 'Day', 'yyyy', 'x')")
        add(f"@{function}(1)")
    add("@utcNow('yyyy')", now_dependent=True)
    add("@utcNow(null)")
    add("@utcNow('e')")
    add("@utcNow('yyyy', 'x')")

    part_ts = [
        "2024-01-07T05:10:00.123",
        "2024-12-31T23:59:59.9999999Z",
        "2023-12-31T00:00:00+01:00",
        "2024-03-01T00:30:00-01:00",
        "0001-01-01",
        "9999-12-31T23:59:59.9999999",
        "2000-02-29T12:00:00Z",
        "1/2/2024 10:00 PM",
        "bogus",
    ]
    for function in ("startOfDay", "startOfHour", "startOfMonth"):
        for ts in part_ts:
            add(f"@{function}({q(ts)})")
        add(f"@{function}('2024-01-31T05:00:00Z', 'yyyy-MM-dd HH:mm')")
        add(f"@{function}('2024-01-31T05:00:00Z', null)")
        add(f"@{function}('2024-01-31T05:00:00Z', 'o', 'x')")
    for function in ("dayOfWeek", "dayOfMonth", "dayOfYear", "ticks"):
        for ts in part_ts:
            add(f"@{function}({q(ts)})")
        add(f"@{function}('2024-01-31T05:00:00Z', 'x')")
        add(f"@{function}(null)")
    for day in range(1, 8):
        add(f"@dayOfWeek('2024-01-0{day}')")

    for start, end in [
        ("2024-01-31", "2024-02-01"),
        ("2024-01-31T10:00:00Z", "2024-01-30"),
        ("2024-01-31T10:00:00Z", "2024-01-30T01:02:03.5Z"),
        ("2024-01-01T00:00:00+01:00", "2024-01-01"),
        ("0001-01-01", "9999-12-31T23:59:59.9999999"),
        ("2024-01-01", "2024-01-01"),
        ("2024-01-01T00:00:00.0000001", "2024-01-01"),
        ("2024-01-01", "bogus"),
    ]:
        add(f"@dateDifference({q(start)}, {q(end)})")
    add("@dateDifference('2024-01-01', '2024-01-02', 'x')")

    for text, args in [
        ("2024-01-31T10:00:00Z", ""),
        ("2024-01-31T10:00:00+02:00", ""),
        ("2024-01-31T10:00:00Z", ", 'en-US'"),
        ("2024-01-31T10:00:00Z", ", ''"),
        ("01/31/2024", ", ''"),
        ("31-01-2024", ", '', 'dd-MM-yyyy'"),
        ("31-01-2024 10:11", ", 'en-US', 'dd-MM-yyyy HH:mm'"),
        ("31-01-2024 10:11Z", ", 'en-US', 'dd-MM-yyyy HH:mmK'"),
        ("31-01-2024 10:11+01:00", ", 'en-US', 'dd-MM-yyyy HH:mmK'"),
        ("31-01-2024 10:11+01:00", ", 'en-US', 'dd-MM-yyyy HH:mmzzz'"),
        ("31-01-2024", ", 'en-US', 'd-M-yyyy'"),
        ("31-1-2024", ", 'en-US', 'dd-MM-yyyy'"),
        (" 31-01-2024", ", 'en-US', 'dd-MM-yyyy'"),
        ("31-01-2024 ", ", 'en-US', 'dd-MM-yyyy'"),
        ("Jan 31 2024", ", 'en-US', 'MMM dd yyyy'"),
        ("January 31 2024", ", 'en-US', 'MMMM dd yyyy'"),
        ("2024-01-31", ", 'en-US', 'o'"),
        ("2024-01-31T10:00:00.0000000Z", ", 'en-US', 'o'"),
        ("2024-01-31", ", 'en-US', 'yyyy-MM-dd'"),
        ("20240131", ", 'en-US', 'yyyyMMdd'"),
        ("20240131103000", ", 'en-US', 'yyyyMMddHHmmss'"),
        ("2024-01-31", ", 'en-US', ''"),
        ("2024-01-31", ", 'en-US', null"),
        ("2024-01-31", ", null"),
        ("garbage", ""),
        ("1/2/2024", ", 'en-US', 'd'"),
        ("Tuesday, January 2, 2024", ", 'en-US', 'D'"),
        ("24-01-31", ", 'en-US', 'yy-MM-dd'"),
        ("99-01-31", ", 'en-US', 'yy-MM-dd'"),
        ("49-01-31", ", 'en-US', 'yy-MM-dd'"),
        ("50-01-31", ", 'en-US', 'yy-MM-dd'"),
        ("2024-01-31 10.5", ", 'en-US', 'yyyy-MM-dd HH.f'"),
        ("2024-01-31T10:00:00Z", ", 'en-US', 'yyyy-MM-ddTHH:mm:ssZ'"),
        ("2024-01-31T10:00:00Z", ", 'en-US', 'yyyy-MM-dd''T''HH:mm:ss''Z'''"),
        ("2024-01-31 10:00 PM", ", 'en-US', 'yyyy-MM-dd hh:mm tt'"),
        ("2024-01-31 13:00 PM", ", 'en-US', 'yyyy-MM-dd HH:mm tt'"),
        ("2024-01-31 10:00:00.1234567", ", 'en-US', 'yyyy-MM-dd HH:mm:ss.fffffff'"),
        ("2024-01-31 10:00:00.12", ", 'en-US', 'yyyy-MM-dd HH:mm:ss.FFFFFFF'"),
        ("2024-01-31 10:00:00", ", 'en-US', 'yyyy-MM-dd HH:mm:ss.FFFFFFF'"),
        ("Wed 2024-01-31", ", 'en-US', 'ddd yyyy-MM-dd'"),
        ("Thu 2024-01-31", ", 'en-US', 'ddd yyyy-MM-dd'"),
        ("2024-02-30", ", 'en-US', 'yyyy-MM-dd'"),
        ("2024/01/31", ", 'en-US', 'yyyy/MM/dd'"),
    ]:
        add(f"@parseDateTime({q(text)}{args})")
    add("@parseDateTime('2024-01-31', 'en-US', 'yyyy-MM-dd', 'x')")

    _add_time_zone_cases(add)
    # Inputs that once crashed amlexec (found with AMLEXEC_EXPRESSIONS_STRICT=1): time units and date parts
    # of non-ASCII digits or thousands of digits, and empty text for a format of optional parts only.
    add("@addToTime('2024-01-01T00:00:00Z', 1, '²')")
    add("@getPastTime(1, '²', 'yyyy')")
    for unit in ["١", "0" * 30 + "4", "99999999999", "9" * 5000]:
        add(f"@addToTime('2024-01-01T00:00:00Z', 1, {q(unit)})")
    for ts in ["1/99999999999999999999/2024", "1" * 5000 + "-01-01", "1/2/" + "9" * 5000]:
        add(f"@addDays({q(ts)}, 0)")
    for text, args in [
        ("", "'', 'FFFFFFF'"),
        ("2024", "'en-US', 'yyyyFFF'"),
        ("2024²", "'en-US', 'yyyyF'"),
        ("2024-01-02 10", "'en-US', 'yyyy-MM-dd HH.FFF'"),
    ]:
        add(f"@parseDateTime({q(text)}, {args})")
    return [dict(c) for c in cases]


WINDOWS_ZONES_SAMPLE = [
    "UTC",
    "utc",
    "Pacific Standard Time",
    "pacific standard time",
    "Eastern Standard Time",
    "Central Standard Time",
    "Mountain Standard Time",
    "US Mountain Standard Time",
    "Alaskan Standard Time",
    "Hawaiian Standard Time",
    "W. Europe Standard Time",
    "Central Europe Standard Time",
    "Romance Standard Time",
    "GMT Standard Time",
    "Greenwich Standard Time",
    "E. Europe Standard Time",
    "FLE Standard Time",
    "Russian Standard Time",
    "India Standard Time",
    "Nepal Standard Time",
    "China Standard Time",
    "Tokyo Standard Time",
    "Korea Standard Time",
    "AUS Eastern Standard Time",
    "Cen. Australia Standard Time",
    "Lord Howe Standard Time",
    "New Zealand Standard Time",
    "Chatham Islands Standard Time",
    "Dateline Standard Time",
    "Line Islands Standard Time",
    "UTC-11",
    "UTC+12",
    "UTC-02",
    "UTC+13",
    "Morocco Standard Time",
    "Egypt Standard Time",
    "Iran Standard Time",
    "Pacific SA Standard Time",
    "Paraguay Standard Time",
    "E. South America Standard Time",
    "Newfoundland Standard Time",
    "Atlantic Standard Time",
    "Arabian Standard Time",
    "South Africa Standard Time",
    "Singapore Standard Time",
    "America/Los_Angeles",
    "america/los_angeles",
    "Europe/London",
    "Etc/UTC",
    "Etc/GMT+5",
    "GMT",
    "EST",
    "Mid-Atlantic Standard Time",
    "Kamchatka Standard Time",
    "Coordinated Universal Time",
    "Nope",
    "",
    " UTC",
    "UTC+00",
    "Local",
]
DST_ZONES = {
    "Pacific Standard Time": "America/Los_Angeles",
    "Eastern Standard Time": "America/New_York",
    "W. Europe Standard Time": "Europe/Berlin",
    "GMT Standard Time": "Europe/London",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Pacific SA Standard Time": "America/Santiago",
    "Lord Howe Standard Time": "Australia/Lord_Howe",
}
# Not recorded: around Morocco's Ramadan transitions the engine (on Linux) converts wall-clock times
# with the year-round +01:00 and flags nothing as skipped or repeated; amlexec follows the tz rules.


def _transitions(iana: str, year: int) -> list[datetime]:
    """UTC instants in ``year`` where the zone's offset changes (found by hourly scan + bisection)."""
    import zoneinfo

    zone = zoneinfo.ZoneInfo(iana)
    found = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    step = timedelta(hours=1)
    while moment.year == year:
        nxt = moment + step
        if moment.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
            low, high = moment, nxt
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                if mid.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = mid
                else:
                    high = mid
            found.append(high)
        moment = nxt
    return found


def _add_time_zone_cases(add: Any) -> None:
    instants = [
        "2024-01-15T12:00:00Z",
        "2024-07-15T12:00:00Z",
        "1900-07-01T00:00:00Z",
        "2010-07-01T00:00:00Z",
    ]
    for zone in WINDOWS_ZONES_SAMPLE:
        for ts in instants:
            add(f"@convertFromUtc({q(ts)}, {q(zone)})")
        add(f"@convertToUtc('2024-07-15T12:00:00', {q(zone)})")
        add(f"@convertTimeZone('2024-01-15T12:00:00', {q(zone)}, 'UTC')")
        add(f"@convertTimeZone('2024-01-15T12:00:00', 'UTC', {q(zone)})")
    for ts in ["2024-01-31T00:00:00Z", "2024-01-31T00:00:00", "2024-01-31T00:00:00+01:00"]:
        for function, zone_args in [
            ("convertFromUtc", "'Pacific Standard Time'"),
            ("convertFromUtc", "'UTC'"),
            ("convertToUtc", "'Pacific Standard Time'"),
            ("convertToUtc", "'UTC'"),
            ("convertToUtc", "'Etc/UTC'"),
            ("convertToUtc", "'GMT'"),
            ("convertTimeZone", "'UTC', 'Pacific Standard Time'"),
            ("convertTimeZone", "'Pacific Standard Time', 'UTC'"),
            ("convertTimeZone", "'Pacific Standard Time', 'W. Europe Standard Time'"),
            ("convertTimeZone", "'UTC', 'UTC'"),
            ("convertTimeZone", "'Etc/UTC', 'Etc/UTC'"),
            ("convertTimeZone", "'UTC', 'GMT'"),
        ]:
            add(f"@{function}({q(ts)}, {zone_args})")
    for fmt in ["o", "D", "K|zzz", "yyyy-MM-ddTHH:mm:ssK", "", "e"]:
        add(f"@convertFromUtc('2024-03-10T10:30:00Z', 'India Standard Time', {q(fmt)})")
        add(f"@convertToUtc('2024-03-10T10:30:00', 'India Standard Time', {q(fmt)})")
        add(f"@convertTimeZone('2024-03-10T10:30:00', 'UTC', 'India Standard Time', {q(fmt)})")
    for edge in ["0001-01-01T00:00:00", "0001-01-01T03:00:00", "9999-12-31T23:00:00", "9999-12-31T20:00:00"]:
        add(f"@convertFromUtc({q(edge + 'Z')}, 'Pacific Standard Time')")
        add(f"@convertFromUtc({q(edge + 'Z')}, 'India Standard Time')")
        add(f"@convertToUtc({q(edge)}, 'Pacific Standard Time')")
        add(f"@convertToUtc({q(edge)}, 'India Standard Time')")
        add(f"@convertTimeZone({q(edge)}, 'India Standard Time', 'Pacific Standard Time')")
    add("@convertFromUtc('2024-03-10T10:30:00Z', null)")
    add("@convertFromUtc('2024-03-10T10:30:00Z', 1)")
    add("@convertFromUtc('2024-03-10T10:30:00Z', 'UTC', 'o', 'x')")
    add("@convertToUtc('2024-03-10T10:30:00', 'UTC', 'o', 'x')")
    add("@convertTimeZone('2024-03-10T10:30:00', 'UTC', 'UTC', 'o', 'x')")
    add("@convertTimeZone('2024-03-10T10:30:00', 'UTC')")
    # Around every DST transition of 2024: the wall-clock times on both sides, to the tick.
    for windows, iana in DST_ZONES.items():
        import zoneinfo

        rules = zoneinfo.ZoneInfo(iana)
        for instant in _transitions(iana, 2024):
            for delta in (-3600, -1, 0, 1, 1800, 3600):
                utc = instant + timedelta(seconds=delta)
                add(f"@convertFromUtc({q(utc.strftime('%Y-%m-%dT%H:%M:%SZ'))}, {q(windows)})")
            before = (instant - timedelta(seconds=1)).astimezone(rules).replace(tzinfo=None)
            after = instant.astimezone(rules).replace(tzinfo=None)
            for wall in {
                before,
                after,
                before + timedelta(seconds=1),
                after - timedelta(seconds=1),
                before - timedelta(minutes=30),
                after + timedelta(minutes=30),
                min(before, after) + timedelta(minutes=30),
            }:
                text = wall.strftime("%Y-%m-%dT%H:%M:%S")
                add(f"@convertToUtc({q(text)}, {q(windows)})")
                add(f"@convertToUtc({q(text + '.9999999')}, {q(windows)})")
                add(f"@convertTimeZone({q(text)}, {q(windows)}, 'Tokyo Standard Time')")


def main() -> None:
    python = oracle_python()
    if python is None:
        raise SystemExit("no oracle interpreter (make oracle-env)")
    oracle = Oracle(python)
    recorded: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        for case in build_cases():
            expression = case["expression"]
            if expression in seen:
                continue
            seen.add(expression)
            now = datetime.now(UTC)
            answer = oracle.ask(expression)
            entry: dict[str, Any] = {"expression": expression}
            if case["now_dependent"]:
                entry["now"] = now.isoformat().replace("+00:00", "Z")
            entry.update(answer_fields(expression, answer))
            recorded.append(entry)
    finally:
        oracle.close()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {len(recorded)} cases into {OUT}")


if __name__ == "__main__":
    main()
