"""Write Data Factory's answers for a list of expressions as committed cases (tests/expressions/cases/*.json).

Shared by the small recorders (trigger functions, URIs): each case is ``{"expression", "context"?, "result"}``
or ``{"expression", "context"?, "error": {"kind", "function"}, "engine_message"}``, the format
tests/expressions/test_cases.py reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from classify_errors import classify, shorten
from engine import Oracle, oracle_python


def answer_fields(expression: str, answer: Mapping[str, Any]) -> dict[str, Any]:
    """What a case keeps of the engine's answer: its result, or the error (kind and function, as
    ``classify_errors`` reads the message) and the message, shortened."""
    if answer["ok"]:
        return {"result": answer["result"]}
    message = shorten(answer["message"])
    return {"error": classify(expression, message)[0], "engine_message": message}


def record(
    expressions: list[str],
    output: Path,
    *,
    pipeline: dict[str, Any] | None = None,
    context: dict[str, Any] | Callable[[str], dict[str, Any] | None] | None = None,
    deviations: Mapping[str, str] | None = None,
    wanted: Callable[[dict[str, Any]], bool] | None = None,
) -> int:
    """Ask the engine each expression once (``pipeline`` is what it sees as the run's context) and write the
    cases, each with ``context`` (what amlexec is given for the same run; a function of the expression to
    give it to some only) and, for an expression in ``deviations``, why amlexec differs. Answers ``wanted``
    refuses are left out. Returns how many were written."""
    python = oracle_python()
    if python is None:
        raise SystemExit("the oracle environment (.venv-oracle) is missing; run make oracle-env")
    oracle = Oracle(python)
    cases: list[dict[str, Any]] = []
    try:
        for expression in dict.fromkeys(expressions):
            answer = oracle.ask(expression, pipeline=pipeline or {})
            if wanted is not None and not wanted(answer):
                continue
            case: dict[str, Any] = {"expression": expression}
            if deviations and expression in deviations:
                case["deviation"] = deviations[expression]
            given = context(expression) if callable(context) else context
            if given is not None:
                case["context"] = given
            case.update(answer_fields(expression, answer))
            cases.append(case)
    finally:
        oracle.close()
    output.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return len(cases)
