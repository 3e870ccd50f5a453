"""The Data Factory expression language, in pure Python.

``evaluate(text, context)`` resolves one JSON string value from an activity: plain text comes back
unchanged, ``@expr`` keeps the JSON type of its result, ``...@{expr}...`` always yields a string.
``compile(text)`` parses once (cached) and reports syntax errors, unknown functions and wrong argument
counts up front, with the names of the context the template needs. Every failure is an
``ExpressionError`` subclass whose ``kind`` (syntax, evaluation, limit) and ``function`` say what failed;
only a bug in amlexec itself, in strict mode (``set_strict``, ``AMLEXEC_EXPRESSIONS_STRICT=1``), is an
``InternalExpressionError`` instead. ``to_text`` is the .NET-style text conversion used by ``string()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from amlexec.expressions.errors import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    InternalExpressionError,
)
from amlexec.expressions.evaluator import Template, compile_template, is_strict, set_strict
from amlexec.expressions.evaluator import evaluate as _evaluate
from amlexec.expressions.limits import LIMITS, Limits
from amlexec.expressions.values import to_text

__all__ = [
    "LIMITS",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
    "InternalExpressionError",
    "Limits",
    "Template",
    "compile",
    "evaluate",
    "is_strict",
    "set_strict",
    "to_text",
]


def evaluate(expression: str, context: dict[str, Any] | None = None, *, now: datetime | None = None) -> Any:
    """Resolve one string value in ``context`` (keys: pipeline, trigger, variables, activity, item,
    linkedService, dataset; any may be missing). ``now`` is the clock for ``utcNow`` (default: real UTC)."""
    return _evaluate(expression, context, now=now)


def compile(text: str) -> Template:
    """Parse and check ``text`` once; the result is cached (bounded LRU) and can be evaluated many times."""
    return compile_template(text)
