"""Differential test: amlexec against Data Factory's own engine on randomly composed expressions.

Skipped unless the oracle environment exists (``make oracle-env``); run with ``pytest -m oracle``.
Both sides must agree on the JSON value and type, or both must fail.
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import Oracle, oracle_python

from amlexec.expressions import ExpressionError, evaluate

pytestmark = pytest.mark.oracle

PIPELINE: dict[str, Any] = {
    "parameters": {"a": 1, "s": "Hello", "n": None, "f": 1.5, "arr": [1, 2, 3], "obj": {"x": 1, "Y": "q"}},
    "RunId": "run-1",
}
VARIABLES: dict[str, Any] = {"v": "x"}
LEAVES = [
    "0",
    "1",
    "-7",
    "3",
    "2.5",
    "-0.5",
    "0.1",
    "true",
    "false",
    "null",
    "''",
    "'abc'",
    "'AbC'",
    "'a,b,c'",
    "' 42 '",
    "'1.5'",
    "'é'",
    "pipeline().parameters.a",
    "pipeline().parameters.s",
    "pipeline().parameters.arr",
    "pipeline().parameters.obj",
    "pipeline().parameters.f",
    "pipeline().parameters.n",
    "variables('v')",
    "createArray(1,2)",
    "json('{\"k\":[1,2]}')",
]
# Deterministic functions with the argument counts worth composing.
FUNCTIONS: dict[str, tuple[int, ...]] = {
    "concat": (1, 2, 3),
    "substring": (2, 3),
    "replace": (3,),
    "toLower": (1,),
    "toUpper": (1,),
    "trim": (1,),
    "indexOf": (2,),
    "lastIndexOf": (2,),
    "split": (2,),
    "startsWith": (2,),
    "endsWith": (2,),
    "length": (1,),
    "contains": (2,),
    "empty": (1,),
    "first": (1,),
    "last": (1,),
    "join": (2,),
    "union": (2,),
    "intersection": (2,),
    "take": (2,),
    "skip": (2,),
    "createArray": (1, 2),
    "equals": (2,),
    "less": (2,),
    "greater": (2,),
    "lessOrEquals": (2,),
    "greaterOrEquals": (2,),
    "and": (2,),
    "or": (2,),
    "not": (1,),
    "if": (3,),
    "string": (1,),
    "int": (1,),
    "float": (1,),
    "bool": (1,),
    "array": (1,),
    "coalesce": (2,),
    "base64": (1,),
    "uriComponent": (1,),
    "add": (2,),
    "sub": (2,),
    "mul": (2,),
    "div": (2,),
    "mod": (2,),
    "min": (1, 2),
    "max": (1, 2),
    "range": (2,),
    "slice": (2, 3),
    "nthIndexOf": (3,),
    "reverse": (1,),
    "sort": (1,),
    "chunk": (2,),
}
CASES = 400


def compose(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice(LEAVES)
    name = rng.choice(list(FUNCTIONS))
    count = rng.choice(FUNCTIONS[name])
    return f"{name}({', '.join(compose(rng, depth - 1) for _ in range(count))})"


def same(actual: Any, expected: Any) -> bool:
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, float):
        return (math.isnan(actual) and math.isnan(expected)) or (
            actual == expected and math.copysign(1, actual) == math.copysign(1, expected)
        )
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(same(actual[k], expected[k]) for k in expected)
    return bool(actual == expected)


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    python = oracle_python()
    if python is None:
        pytest.skip("the oracle environment (.venv-oracle) is not installed")
    engine = Oracle(python)
    yield engine
    engine.close()


def test_random_expressions_match_the_engine(oracle: Oracle) -> None:
    rng = random.Random(20240601)
    mismatches: list[str] = []
    for _ in range(CASES):
        body = compose(rng, 3)
        text = "@" + body if rng.random() < 0.7 else f"v=@{{{body}}}"
        answer = oracle.ask(text, pipeline=PIPELINE, variables=VARIABLES)
        if not answer["ok"] and answer.get("error") in ("JSONDecodeError", "UnicodeDecodeError"):
            continue  # the bridge, not the engine, failed
        if answer["ok"] and json.dumps(answer["result"]) in ('"NaN"', '"Infinity"', '"-Infinity"'):
            continue
        try:
            ours: Any = evaluate(text, {"pipeline": PIPELINE, "variables": VARIABLES})
            failed = False
        except ExpressionError:
            ours, failed = None, True
        if answer["ok"] and (failed or not same(ours, answer["result"])):
            mismatches.append(f"{text}: engine {answer['result']!r}, amlexec {'error' if failed else repr(ours)}")
        elif not answer["ok"] and not failed:
            mismatches.append(f"{text}: engine error {answer['message'][:120]!r}, amlexec {ours!r}")
    assert not mismatches, f"{len(mismatches)} of {CASES} differ:\n" + "\n".join(mismatches[:30])
