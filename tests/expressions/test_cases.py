"""Run every recorded conformance case in ``tests/expressions/cases/*.json``.

Case file format: a JSON list of objects, each

    {"expression": "<the string value as written in an activity>",
     "context": {...},              # optional; passed to evaluate() as is (pipeline, variables, trigger...)
     "now": "2024-01-02T03:04:05Z", # optional; ISO instant used as the clock for utcNow()
     "result": <any JSON value>}    # the engine's value; its JSON type must match exactly
or, for an expression the engine rejects,

    {"expression": "...", "context": {...}, "now": "...",
     "error": {"kind": "syntax" | "evaluation" | "limit", "function": "concat" | null},
     "engine_message": "The template language function 'concat' expects ..."}

where the ``ExpressionError`` raised must have that ``kind`` and name that ``function`` (lower case; null
when no function failed, e.g. a parse error or a missing property). ``tests/oracle/classify_errors.py``
derives both from the engine's message when a case is recorded. Optional ``"deviation": "<reason>"`` marks
a known, documented difference from the engine (the case is expected to fail, strictly); other keys, such
as ``engine_message``, are informational.

Results compare by JSON type as well as value: ``1`` is not ``1.0`` and ``true`` is not ``1``; floats
compare exactly, including the sign of zero.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from amlexec.expressions import ExpressionError, evaluate

CASES_DIR = Path(__file__).with_name("cases")


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.json")):
        for index, case in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            marks = [pytest.mark.xfail(strict=True, reason=case["deviation"])] if case.get("deviation") else []
            params.append(pytest.param(case, id=f"{path.stem}-{index}", marks=marks))
    return params


def same_json(actual: Any, expected: Any) -> bool:
    """Equal as JSON values with identical types (int vs float vs bool distinguished)."""
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(actual)
        return actual == expected and math.copysign(1, actual) == math.copysign(1, expected)
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same_json, actual, expected))
    if isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(same_json(actual[k], expected[k]) for k in expected)
    return bool(actual == expected)


def _now(case: dict[str, Any]) -> datetime | None:
    text = case.get("now")
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


KINDS = {"syntax", "evaluation", "limit"}


def test_every_error_case_says_which_failure() -> None:
    vague = [
        f"{path.name}: {case['expression'][:80]!r} has error={case['error']!r}"
        for path in sorted(CASES_DIR.glob("*.json"))
        for case in json.loads(path.read_text(encoding="utf-8"))
        if "error" in case
        and not (
            isinstance(case["error"], dict)
            and set(case["error"]) == {"kind", "function"}
            and case["error"]["kind"] in KINDS
            and (case["error"]["function"] is None or case["error"]["function"] == case["error"]["function"].lower())
        )
    ]
    assert not vague, "error cases must say {kind, function} (tests/oracle/classify_errors.py):\n" + "\n".join(
        vague[:20]
    )


@pytest.mark.parametrize("case", _load())
def test_recorded_case(case: dict[str, Any]) -> None:
    expression = case["expression"]
    context = case.get("context")
    expected = case.get("error")
    if expected is not None:
        with pytest.raises(ExpressionError) as caught:
            value = evaluate(expression, context, now=_now(case))
            pytest.fail(f"expected an error, got {value!r}")
        error = caught.value
        assert (error.kind, error.function) == (expected["kind"], expected["function"]), (
            f"{expression!r}: got a {error.kind} error from function {error.function!r} ({error.message}); "
            f"expected a {expected['kind']} error from {expected['function']!r} "
            f"(engine: {case.get('engine_message', 'not recorded')})"
        )
        return
    value = evaluate(expression, context, now=_now(case))
    assert same_json(value, case["result"]), f"{expression!r}: got {value!r}, engine says {case['result']!r}"
