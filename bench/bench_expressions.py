"""Expression evaluation throughput: cached templates evaluated against a context, one core.

Baseline, in the same alternating rounds: parsing the ``string functions`` expression uncached, which is
what every evaluation would cost without the template cache. Rates are per CPU-second (median and IQR over
rounds); wall-second rates follow for comparison.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

from measure import interleave, rates, ratios, spread

from amlexec.expressions import Template
from amlexec.expressions import compile as compile_expression

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
CONTEXT = {
    "pipeline": {"parameters": {"a": "left", "n": 41, "day": "2026-11-20T00:00:00Z"}, "RunId": "r-1"},
    "variables": {"v": [1, 2, 3]},
}
CASES = {
    "property access": "@pipeline().parameters.a",
    "string functions": "@concat(toUpper(pipeline().parameters.a), '-', string(add(pipeline().parameters.n, 1)))",
    "interpolation": "run @{pipeline().RunId} on @{pipeline().parameters.a}",
    "date format": "@formatDateTime(addDays(pipeline().parameters.day, 1), 'yyyy-MM-dd')",
    "collection": "@length(union(variables('v'), createArray(3, 4, 5)))",
}


def _evaluator(template: Template) -> Callable[[int], object]:
    return lambda _index: template.evaluate(CONTEXT, now=NOW)


def main() -> None:
    from amlexec.expressions.parser import parse_template  # the uncached parser

    rounds = int(os.environ.get("BENCH_EXPRESSIONS_ROUNDS", "30"))
    contenders: dict[str, Callable[[int], object]] = {}
    for name, text in CASES.items():
        contenders[name] = _evaluator(compile_expression(text))
    contenders["parse (uncached)"] = lambda _: parse_template(CASES["string functions"])
    for function in contenders.values():  # warm up
        for i in range(50):
            function(i)
    # Roughly 10 ms per contender per round: short enough to interleave finely, long enough for the timers.
    calls = {
        "property access": 8000,
        "string functions": 2000,
        "interpolation": 4000,
        "date format": 300,
        "collection": 2000,
        "parse (uncached)": 150,
    }
    timings = interleave(contenders, rounds=rounds, calls=calls)
    print(f"expression evaluation, cached templates, {rounds} alternating rounds (median, IQR over rounds):")
    for name, text in (*CASES.items(), ("parse (uncached)", CASES["string functions"])):
        print(
            f"  {name:17s}: {rates(timings[name].cpu):>28s} /CPU-s, {rates(timings[name].wall):>28s} /wall-s   {text}"
        )
    cached, parsed = timings["string functions"], timings["parse (uncached)"]
    print(
        f"  baseline: parsing uncached costs {spread(ratios(parsed.cpu, cached.cpu), digits=1)}x a cached "
        "evaluation of the same expression (CPU, per round)"
    )


if __name__ == "__main__":
    main()
