"""The function-library contract: how each built-in function is declared and called."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["CallContext", "FunctionImpl", "FunctionSpec"]


class CallContext(Protocol):
    """What a function may ask of the evaluation in progress."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC (injected so tests and resolution are deterministic)."""
        ...


FunctionImpl = Callable[[Sequence[Any], CallContext], Any]


@dataclass(frozen=True)
class FunctionSpec:
    """A built-in function: canonical name, arity bounds (``max_args=None`` = variadic), implementation.

    Arguments reach ``impl`` already evaluated as JSON-like Python values (str, int, float, bool, None,
    list, dict); ``impl`` returns such a value or raises ``ExpressionEvaluationError`` (or, for one of
    amlexec's own bounds, ``ExpressionLimitError``). The evaluator sets the error's ``function`` to this
    function's lower-case name. Any other exception is a bug: strict mode raises it as
    ``InternalExpressionError``, production masks it as an ``ExpressionEvaluationError`` and logs it.
    """

    name: str
    min_args: int
    max_args: int | None
    impl: FunctionImpl
