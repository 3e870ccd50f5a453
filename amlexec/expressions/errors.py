"""Errors raised by the expression language: syntax, evaluation and resource limits."""

from __future__ import annotations

from amlexec.errors import PermanentError

__all__ = [
    "ExpressionError",
    "ExpressionEvaluationError",
    "ExpressionLimitError",
    "ExpressionSyntaxError",
]


class ExpressionError(PermanentError):
    """Base of every expression failure; ``position`` is a 0-based offset in the source text when known."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class ExpressionSyntaxError(ExpressionError):
    """The text is not a well-formed expression (or names an unknown function / wrong arity)."""


class ExpressionEvaluationError(ExpressionError):
    """The expression is well formed but cannot be evaluated with the values given."""


class ExpressionLimitError(ExpressionError):
    """The expression would exceed a resource bound (length, depth, result size, range count)."""
