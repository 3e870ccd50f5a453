"""Record Data Factory's own answers for formatTimeSpan and convertTimeZone at a time zone's repeated hour.

Run from the repository root with the oracle environment present:

    .venv/bin/python tests/oracle/record_time_span_cases.py

``formatTimeSpan`` reads a span as ``TimeSpan.Parse`` does with the invariant culture (a number of days,
``[d.]h:m[:s[.f]]``, ``d:h:m:s``, and ``h:m:s`` past 23 hours as days) and writes it with the standard (``c``, ``g``,
``G``) or a custom format; ``convertTimeZone`` refuses an instant whose wall-clock time is ambiguous in the source
zone. Both found by ``make oracle-fuzz``. Writes ``tests/expressions/cases/time_spans.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from recording import record  # noqa: E402

OUTPUT = HERE.parents[1] / "tests" / "expressions" / "cases" / "time_spans.json"
EXPRESSIONS = [
    "@formatTimeSpan('01:02:03')",
    "@formatTimeSpan(5, 'c')",
    "@formatTimeSpan('abc', 'c')",
    "@formatTimeSpan('5', 'c')",
    "@formatTimeSpan('-5', 'c')",
    "@formatTimeSpan(' 1:2:3 ', 'c')",
    "@formatTimeSpan('1.2:3', 'c')",
    "@formatTimeSpan('1:2:3.1234567', 'c')",
    "@formatTimeSpan('1:2:3.12345678', 'c')",
    "@formatTimeSpan('1:2:3,5', 'c')",
    "@formatTimeSpan('1:2:3,5', 'c', 'de-DE')",
    "@formatTimeSpan('24:00', 'c')",
    "@formatTimeSpan('1:60', 'c')",
    "@formatTimeSpan('-1.02:03:04.5', 'g')",
    "@formatTimeSpan('-1.02:03:04.5', 'G')",
    "@formatTimeSpan('00:00:00', 'g')",
    "@formatTimeSpan('00:00:00', 'G')",
    "@formatTimeSpan('-1.02:03:04.5', 'c')",
    "@formatTimeSpan('1.02:03:04.5', 'dd\\.hh\\:mm\\:ss')",
    "@formatTimeSpan('1.02:03:04.5', 'd\\d')",
    "@formatTimeSpan('1.02:03:04.5', 'ddd')",
    "@formatTimeSpan('1.02:03:04.5', 'h')",
    "@formatTimeSpan('1.02:03:04.5', '%h')",
    "@formatTimeSpan('1.02:03:04.5', 'm')",
    "@formatTimeSpan('1.02:03:04.5', 'fff')",
    "@formatTimeSpan('1.02:03:04.5', 'FFF')",
    "@formatTimeSpan('1.02:03:04', 'FFF')",
    "@formatTimeSpan('1.02:03:04.5', '''h''h')",
    "@formatTimeSpan('1.02:03:04.5', 'hh:mm')",
    "@formatTimeSpan('1.02:03:04.5', 'x')",
    "@formatTimeSpan('-1.02:03:04.5', 'hh\\:mm')",
    "@formatTimeSpan('1.02:03:04.5', 'T')",
    "@formatTimeSpan('1.02:03:04.5', null)",
    "@formatTimeSpan('1.02:03:04.5', 'c', null)",
    "@formatTimeSpan('1.02:03:04.5', 'c', 'xx')",
    "@formatTimeSpan('1.02:03:04.5', 'hhh')",
    "@formatTimeSpan('1.02:03:04.5', 'ss\\.ffffffff')",
    "@formatTimeSpan('10675199.02:48:05.4775808', 'c')",
    "@formatTimeSpan('P1D', 'c')",
    "@formatTimeSpan(dateDifference('2024-01-01', '2024-01-03T01:00:00'), 'g')",
    "@formatTimeSpan('1.02:03:04.5', 'dd\\ \\d\\a\\y\\s')",
    "@formatTimeSpan('1.02:03:04.5', '\"x\"')",
    "@formatTimeSpan('1:2:3', '')",
    "@formatTimeSpan('1', 'c')",
    "@formatTimeSpan('1:2', 'g')",
    "@formatTimeSpan('0.5:00', 'c')",
    "@formatTimeSpan('1.24:00', 'c')",
    "@formatTimeSpan('1:02:03:04', 'c')",
    "@formatTimeSpan('1.02:03:04.5', 'g', 'de-DE')",
    "@formatTimeSpan('1.02:03:04.5', 'G', 'fr-FR')",
    "@formatTimeSpan('1.02:03:04.5', 'g', '')",
    "@formatTimeSpan('-0:00:01', 'c')",
    "@formatTimeSpan('-00:00:00', 'c')",
    "@formatTimeSpan('1.02:03:04.5', 'F')",
    "@formatTimeSpan('1.02:03:04.5', '%d')",
    "@formatTimeSpan('1.02:03:04.5', '%%d')",
    "@formatTimeSpan('1.02:03:04.5', 'dddddddd')",
    "@formatTimeSpan('1.02:03:04.5', 'ddddddddd')",
    "@formatTimeSpan('1.02:03:04.5', 'dd''x')",
    "@formatTimeSpan('1.02:03:04.5', 'dd\\')",
    "@formatTimeSpan('1.02:03:04.5', 'hh mm')",
    "@formatTimeSpan('1.02:03:04.5', 'hh-mm')",
    "@formatTimeSpan('1.02:03:04.5', 'FFFFFFF')",
    "@formatTimeSpan('1.02:03:04.0000001', 'FFFFFF')",
    "@formatTimeSpan(' -1:2 ', 'c')",
    "@formatTimeSpan('1.2', 'c')",
    "@formatTimeSpan('01:02:03.', 'c')",
    "@formatTimeSpan('+1:02', 'c')",
    "@formatTimeSpan('１:02', 'c')",
    "@formatTimeSpan('10675199.02:48:05.4775807', 'c')",
    "@formatTimeSpan('-10675199.02:48:05.4775808', 'c')",
    "@formatTimeSpan('10675200', 'c')",
    "@formatTimeSpan('1:2:3:4:5', 'c')",
    "@formatTimeSpan('25:00:00.5', 'c')",
    "@formatTimeSpan('25:00', 'c')",
    "@formatTimeSpan('1.25:00:00', 'c')",
    "@formatTimeSpan('25:61:00', 'c')",
    "@formatTimeSpan('1:24:00:00', 'c')",
    "@formatTimeSpan('-00:30:00', '')",
    "@formatTimeSpan('01:02:03', 'c')",
    "@formatTimeSpan('1.02:03:04.5', 'g')",
    "@formatTimeSpan('1.02:03:04.5', 'G')",
    "@formatTimeSpan('01:02:03', 'hh\\:mm')",
    "@formatTimeSpan('01:02:03', 'c', 'de-DE')",
    "@formatTimeSpan('1.02:03:04.5', 'G', 'de-DE')",
    "@formatTimeSpan('25:00:00', 'c')",
    "@formatTimeSpan('1:2', 'c')",
    "@convertTimeZone('2024-11-03T05:30:00-00:00', 'Eastern Standard Time', 'UTC')",
    "@convertTimeZone('2024-11-03T04:59:59Z', 'Eastern Standard Time', 'UTC')",
    "@convertTimeZone('2024-11-03T07:00:00Z', 'Eastern Standard Time', 'UTC')",
    "@convertTimeZone('2024-11-03T05:00:00Z', 'Eastern Standard Time', 'UTC')",
    "@convertTimeZone('2024-11-03T06:59:59Z', 'Eastern Standard Time', 'UTC')",
    "@convertTimeZone('2024-10-27T00:30:00Z', 'W. Europe Standard Time', 'UTC')",
    "@convertTimeZone('2024-10-27T01:30:00Z', 'W. Europe Standard Time', 'UTC')",
    "@convertTimeZone('2024-10-27T02:30:00Z', 'W. Europe Standard Time', 'UTC')",
    "@convertTimeZone('2024-11-03T01:30:00', 'Eastern Standard Time', 'UTC')",
    "@convertTimeZone('2024-03-10T02:30:00', 'Eastern Standard Time', 'UTC')",
    "@convertTimeZone('2024-11-03T05:30:00Z', 'Eastern Standard Time', 'UTC')",
    "@convertTimeZone('2024-11-03T06:30:00Z', 'Eastern Standard Time', 'UTC')",
    "@convertTimeZone('2024-11-03T05:30:00Z', 'UTC', 'Eastern Standard Time')",
    "@convertToUtc('2024-11-03T01:30:00', 'Eastern Standard Time')",
    "@convertFromUtc('2024-11-03T05:30:00Z', 'Eastern Standard Time')",
]


def main() -> None:
    print(f"recorded {record(EXPRESSIONS, OUTPUT)} time-span and time-zone expressions")


if __name__ == "__main__":
    main()
