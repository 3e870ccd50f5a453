"""Errors raised by the expression language: syntax, evaluation and resource limits.

Every ``ExpressionError`` says which failure happened: ``kind`` is ``"syntax"`` (the text is malformed,
names an unknown function or gives one the wrong number of arguments; ``compile()`` finds these),
``"evaluation"`` (well formed, but the values given make it fail) or ``"limit"`` (a resource bound of
amlexec's own was hit), and ``function`` is the lower-case name of the template-language function that
failed (``None`` when no function did: a malformed text, a property path on a missing member).

``InternalExpressionError`` is not an ``ExpressionError``: it is a bug in amlexec, raised only in strict
mode (``AMLEXEC_EXPRESSIONS_STRICT=1``, the test suite's setting) where production would mask it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from amlexec.errors import PermanentError

__all__ = [
    "ErrorKind",
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
    "InternalExpressionError",
]

ErrorKind = Literal["syntax", "evaluation", "limit"]


class ExpressionError(PermanentError):
    """Base of every expression failure; ``position`` is a 0-based offset in the source text when known.

    ``function`` is the lower-case name of the function that failed, or ``None``; the evaluator fills it in
    for errors raised inside a function's implementation, so raise sites need not name themselves.
    """

    # Only the subclasses are raised; the base names the most general kind for code that builds one anyway.
    kind: ClassVar[ErrorKind] = "evaluation"

    def __init__(self, message: str, *, position: int | None = None, function: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.function = function


class ExpressionSyntaxError(ExpressionError):
    """The text is not a well-formed expression (or names an unknown function / wrong arity)."""

    kind: ClassVar[ErrorKind] = "syntax"


class ExpressionEvaluationError(ExpressionError):
    """The expression is well formed but cannot be evaluated with the values given."""

    kind: ClassVar[ErrorKind] = "evaluation"


class ExpressionLimitError(ExpressionError):
    """The expression would exceed a resource bound (length, depth, result size, range count)."""

    kind: ClassVar[ErrorKind] = "limit"


class InternalExpressionError(Exception):
    """An unexpected Python exception inside the expression engine: a bug, never the user's mistake.

    Raised instead of an ``ExpressionError`` only in strict mode, so tests and fuzzers that accept any
    ``ExpressionError`` still see it. Deliberately not an ``AmlexecError`` (callers treat those as handled
    outcomes) nor a ``ValueError``/``TypeError`` (pydantic validators would turn it into a validation
    error). The original exception is ``__cause__``; ``expression`` is the text, truncated.
    """

    kind: ClassVar[str] = "internal"

    def __init__(self, stage: str, expression: str, cause: BaseException) -> None:
        self.stage = stage
        self.expression = expression
        super().__init__(f"internal error while {stage} {expression!r}: {type(cause).__name__}: {cause}")
