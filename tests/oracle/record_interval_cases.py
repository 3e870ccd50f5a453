"""Record Data Factory's own answers for addToTime/subtractFromTime with intervals beyond 32 bits.

Run from the repository root with the oracle environment present:

    .venv/bin/python tests/oracle/record_interval_cases.py

The engine keeps the interval in a 32-bit integer, wrapping: ``addToTime(t, 9223372036854775807, 'Day')`` is a
day earlier, ``subtractFromTime(t, -2147483648, 'Minute')`` adds -2**31 minutes and fails (found by
``make oracle-fuzz``). Writes ``tests/expressions/cases/intervals.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from recording import record  # noqa: E402

OUTPUT = HERE.parents[1] / "tests" / "expressions" / "cases" / "intervals.json"
INTERVALS = [
    "9223372036854775807",
    "-9223372036854775808",
    "4294967297",
    "2147483648",
    "-2147483648",
    "3000000000",
    "2147483647",
    "-2147483649",
    "4294967295",
    "1",
]
UNITS = ["Second", "Minute", "Hour", "Day", "Week", "Month", "Year"]


def main() -> None:
    expressions = [
        f"@{function}('2024-02-29T10:00:00Z', {interval}, '{unit}')"
        for interval in INTERVALS
        for unit in UNITS
        for function in ("addToTime", "subtractFromTime")
    ]
    print(f"recorded {record(expressions, OUTPUT)} interval expressions")


if __name__ == "__main__":
    main()
