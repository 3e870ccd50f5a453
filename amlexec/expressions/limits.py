"""Resource bounds for parsing and evaluating expressions.

Expressions come from request payloads, so every source of unbounded work has a cap: the length of an
expression, how deeply it nests, the size of any string or collection it builds, and the total amount of
data one evaluation may produce. Exceeding a cap raises ``ExpressionLimitError``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LIMITS", "Limits"]


@dataclass(frozen=True)
class Limits:
    """The caps; the values are generous for real activities and keep a hostile payload cheap."""

    # Logic Apps documents 8,192 characters per expression; allow more, parsing is linear.
    max_expression_length: int = 32_768
    # Nesting of calls, indexes and parentheses; real expressions rarely pass 10.
    max_depth: int = 64
    # Nesting of data handled by json(), equality and text conversion.
    max_value_depth: int = 256
    # Any single string result (characters).
    max_string_length: int = 1_048_576
    # Any single array result (elements); matches the engine's own cap on range().
    max_collection_length: int = 100_000
    # Total characters + elements produced by one evaluation; bounds repeated doubling and fan-out.
    max_total_work: int = 2_000_000
    # The engine's own cap on range(count).
    max_range_count: int = 100_000
    # Parsed templates kept by compile().
    template_cache_size: int = 4096


LIMITS = Limits()
