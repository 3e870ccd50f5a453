"""Expression evaluation throughput: cached templates evaluated against a context, one core."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from amlexec.expressions import compile as compile_expression

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
CONTEXT = {"pipeline": {"parameters": {"a": "left", "n": 41, "day": "2026-11-20T00:00:00Z"}, "RunId": "r-1"},
           "variables": {"v": [1, 2, 3]}}
CASES = {
    "property access": "@pipeline().parameters.a",
    "string functions": "@concat(toUpper(pipeline().parameters.a), '-', string(add(pipeline().parameters.n, 1)))",
    "interpolation": "run @{pipeline().RunId} on @{pipeline().parameters.a}",
    "date format": "@formatDateTime(addDays(pipeline().parameters.day, 1), 'yyyy-MM-dd')",
    "collection": "@length(union(variables('v'), createArray(3, 4, 5)))",
}


def rate(text: str, seconds: float = 1.0) -> float:
    template = compile_expression(text)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(500):
            template.evaluate(CONTEXT, now=NOW)
        count += 500
    return count / elapsed


def parse_rate(seconds: float = 1.0) -> float:
    from amlexec.expressions.parser import parse_template  # the uncached parser

    text = CASES["string functions"]
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            parse_template(text)
        count += 100
    return count / elapsed


def main() -> None:
    for name, text in CASES.items():
        print(f"evaluate {name:17s}: {rate(text):>10,.0f} /s   {text}")
    print(f"parse (uncached)          : {parse_rate():>10,.0f} /s")


if __name__ == "__main__":
    main()
