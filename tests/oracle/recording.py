"""Write Data Factory's answers for a list of expressions as committed cases (tests/expressions/cases/*.json).

Shared by the small recorders (trigger functions, URIs): each case is ``{"expression", "context"?, "result"}``
or ``{"expression", "context"?, "error": {"kind", "function"}, "engine_message"}``, the format
tests/expressions/test_cases.py reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from classify_errors import classify, shorten
from engine import Oracle, oracle_python


def record(
    expressions: list[str],
    output: Path,
    *,
    pipeline: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> int:
    """Ask the engine each expression (``pipeline`` is what it sees as the run's context) and write the cases,
    each with ``context`` (what amlexec is given for the same run). Returns how many were written."""
    python = oracle_python()
    if python is None:
        raise SystemExit("the oracle environment (.venv-oracle) is missing; run make oracle-env")
    oracle = Oracle(python)
    cases: list[dict[str, Any]] = []
    try:
        for expression in expressions:
            answer = oracle.ask(expression, pipeline=pipeline or {})
            case: dict[str, Any] = {"expression": expression}
            if context is not None:
                case["context"] = context
            if answer["ok"]:
                case["result"] = answer["result"]
            else:
                message = shorten(answer["message"])
                case["error"] = classify(expression, message)[0]
                case["engine_message"] = message
            cases.append(case)
    finally:
        oracle.close()
    output.write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return len(cases)
