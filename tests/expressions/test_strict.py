"""Strict mode, error kinds and the failing function's name; regressions strict mode found.

The suite runs with ``AMLEXEC_EXPRESSIONS_STRICT=1`` (tests/conftest.py), so a Python exception escaping a
function implementation is an ``InternalExpressionError`` and fails whichever test met it. Production keeps
the safety net: the caller gets an ``ExpressionError`` and the bug is logged once, without values.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from itertools import count
from typing import Any

import pytest

from amlexec.errors import AmlexecError
from amlexec.expressions import (
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    InternalExpressionError,
    compile,
    evaluate,
    is_strict,
    set_strict,
)
from amlexec.expressions import evaluator as evaluator_module
from amlexec.expressions.functions import FUNCTIONS
from amlexec.expressions.limits import LIMITS
from amlexec.expressions.registry import CallContext, FunctionSpec

SECRET = "hunter2-not-for-logs"
_unique = count()


def _fresh(expression: str) -> str:
    """The same expression under a text never compiled before (templates are cached by text)."""
    return f"@if(equals('{next(_unique)}', ''), null, {expression})"


def _broken(_args: Sequence[Any], _context: CallContext) -> Any:
    # A bug as it would look in a function: a Python exception quoting the value it choked on.
    raise TypeError(f"unsupported operand: {SECRET!r}")


@pytest.fixture
def broken_length(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FUNCTIONS, "length", FunctionSpec("length", 1, 1, _broken))


def _mode(enabled: bool) -> Iterator[None]:
    previous = set_strict(enabled)
    try:
        yield
    finally:
        set_strict(previous)


@pytest.fixture
def strict() -> Iterator[None]:
    # Explicit, so these tests hold even when the suite is run with AMLEXEC_EXPRESSIONS_STRICT=0 on purpose.
    yield from _mode(True)


@pytest.fixture
def production() -> Iterator[None]:
    yield from _mode(False)


# ------------------------------------------------------------------------------------------- strict mode


def test_the_suite_runs_in_strict_mode() -> None:
    if os.environ["AMLEXEC_EXPRESSIONS_STRICT"].strip().lower() in ("0", "false", "no", "off"):
        pytest.skip("AMLEXEC_EXPRESSIONS_STRICT=0: running the way production does, on purpose")
    assert is_strict(), "tests/conftest.py sets AMLEXEC_EXPRESSIONS_STRICT=1 before amlexec is imported"


def test_an_internal_error_is_not_an_expression_error() -> None:
    # Tests, fuzzers and callers that accept any ExpressionError (or AmlexecError) must not swallow a bug,
    # and pydantic validators must not turn it into a validation error (they catch ValueError/TypeError).
    assert not issubclass(InternalExpressionError, (ExpressionError, AmlexecError, ValueError, TypeError))


@pytest.mark.usefixtures("broken_length", "strict")
def test_strict_mode_raises_the_internal_error_with_the_expression() -> None:
    text = _fresh(f"length('{SECRET}')")
    with pytest.raises(InternalExpressionError) as caught:
        evaluate(text)
    assert caught.value.expression == text
    assert caught.value.stage == "evaluating"
    assert isinstance(caught.value.__cause__, TypeError)


@pytest.mark.usefixtures("broken_length", "production")
def test_production_masks_it_and_logs_it_once_without_values(caplog: pytest.LogCaptureFixture) -> None:
    text = _fresh("length(pipeline().parameters.secret)")
    context = {"pipeline": {"parameters": {"secret": SECRET}}}
    with caplog.at_level(logging.WARNING, logger="amlexec.expressions.evaluator"):
        for _ in range(3):
            with pytest.raises(ExpressionEvaluationError) as caught:
                evaluate(text, context)
            assert isinstance(caught.value.__cause__, TypeError)
            assert SECRET not in caught.value.message
    records = [r for r in caplog.records if r.name == "amlexec.expressions.evaluator"]
    assert len(records) == 1, "one warning per bug and expression, however often it is evaluated"
    logged = records[0].getMessage()
    assert records[0].levelno == logging.WARNING
    assert text in logged and "TypeError" in logged and "test_strict.py" in logged
    assert SECRET not in logged and records[0].exc_info is None


@pytest.mark.usefixtures("strict")
def test_production_masks_a_parser_bug_as_a_syntax_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(_text: str) -> Any:
        raise IndexError("string index out of range")

    monkeypatch.setattr(evaluator_module, "parse_template", crash)
    text = _fresh("concat('a')")
    with pytest.raises(InternalExpressionError) as strict_error:
        compile(text)
    assert strict_error.value.stage == "parsing"
    previous = set_strict(False)
    try:
        with pytest.raises(ExpressionSyntaxError) as masked:
            compile(text)
    finally:
        set_strict(previous)
    assert isinstance(masked.value.__cause__, IndexError)


@pytest.mark.usefixtures("broken_length", "strict")
def test_a_long_expression_is_truncated_in_the_internal_error() -> None:
    text = _fresh("length('" + "x" * 1000 + "')")
    with pytest.raises(InternalExpressionError) as caught:
        evaluate(text)
    assert caught.value.expression == text[:200]


# ---------------------------------------------------------------------------------- kinds and functions


@pytest.mark.parametrize(
    ("text", "error_type", "function"),
    [
        # syntax: malformed text names no function; unknown functions and wrong counts name theirs
        ("@concat('a',", ExpressionSyntaxError, None),
        ("@nosuch(1)", ExpressionSyntaxError, "nosuch"),
        ("@NoSuch(1)", ExpressionSyntaxError, "nosuch"),
        ("@substring('a')", ExpressionSyntaxError, "substring"),
        ("@concat(toUpper())", ExpressionSyntaxError, "toupper"),
        # evaluation: the function that failed, however deep, in lower case
        ("@toUpper(1)", ExpressionEvaluationError, "toupper"),
        ("@concat('a', int('x'))", ExpressionEvaluationError, "int"),
        ("@length(concat('a', div(1, 0)))", ExpressionEvaluationError, "div"),
        ("@encodeBase64(1)", ExpressionEvaluationError, "encodebase64"),
        ("@addDays('bogus', 1)", ExpressionEvaluationError, "adddays"),
        ("@variables('nope')", ExpressionEvaluationError, "variables"),
        ("@trigger().outputs", ExpressionEvaluationError, "trigger"),
        # the lazily evaluated functions name themselves, and let their arguments' errors through
        ("@if('yes', 1, 2)", ExpressionEvaluationError, "if"),
        ("@if(true, div(1, 0), 2)", ExpressionEvaluationError, "div"),
        ("@and(true, 1)", ExpressionEvaluationError, "and"),
        ("@or(false, 'x')", ExpressionEvaluationError, "or"),
        ("@coalesce(null, int('x'))", ExpressionEvaluationError, "int"),
        # a failed property or index selection is no function's failure, not even the enclosing call's
        ("@pipeline().parameters.missing", ExpressionEvaluationError, None),
        ("@concat('a', pipeline().parameters.missing)", ExpressionEvaluationError, None),
        ("@createArray(1)[5]", ExpressionEvaluationError, None),
        ("@createArray(1)[int('x')]", ExpressionEvaluationError, "int"),
        # limit: amlexec's own bounds, named after the function that would have built the value
        ("@formatNumber(1, '." + "0" * 2000 + "')", ExpressionLimitError, "formatnumber"),
        ("@formatNumber(1, 'F1001')", ExpressionLimitError, "formatnumber"),
        (f"@range(0, {LIMITS.max_range_count + 1})", ExpressionEvaluationError, "range"),
        ("@json('" + "[" * (LIMITS.max_value_depth + 1) + "')", ExpressionLimitError, "json"),
        ("@" + "concat(" * (LIMITS.max_depth + 1) + "'a'" + ")" * (LIMITS.max_depth + 1), ExpressionLimitError, None),
    ],
)
def test_errors_say_their_kind_and_function(text: str, error_type: type[ExpressionError], function: str | None) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(text, {"pipeline": {"parameters": {}}, "variables": {}})
    assert type(caught.value) is error_type, caught.value.message
    assert caught.value.kind == error_type.kind
    assert caught.value.function == function, caught.value.message


def test_the_kinds_are_stable() -> None:
    assert (ExpressionSyntaxError.kind, ExpressionEvaluationError.kind, ExpressionLimitError.kind) == (
        "syntax",
        "evaluation",
        "limit",
    )


def test_a_string_over_the_limit_is_the_building_functions_limit_error() -> None:
    half = "x" * (LIMITS.max_string_length // 2 + 1)
    with pytest.raises(ExpressionLimitError) as caught:
        evaluate("@concat(pipeline().parameters.s, pipeline().parameters.s)", {"pipeline": {"parameters": {"s": half}}})
    assert caught.value.function == "concat"


# -------------------------------------------------------------- regressions strict mode found (hand-written)
# Recorded ones are in cases/core.json and cases/dates.json. These cannot be: the oracle's bridge cannot
# pass an unpaired surrogate to .NET, or amlexec deliberately refuses what the engine would build.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # .NET's UTF-8 encoder and (since .NET Core 3.0) Uri.EscapeDataString write an unpaired surrogate
        # as U+FFFD; Python's strict encoder raised UnicodeEncodeError.
        ("@base64('\ud83d')", "77+9"),
        ("@encodeBase64('a\ud83db')", "Ye+/vWI="),
        ("@uriComponent('\ud83d')", "%EF%BF%BD"),
        ("@encodeUriComponent('x\udc00')", "x%EF%BF%BD"),
        ("@binary('\ud83d')", {"$content-type": "application/octet-stream", "$content": "77+9"}),
        ("@dataUri('\ud83d')", "data:text/plain;charset=utf-8;base64,77+9"),
        ("@uriComponentToBinary('\ud83d')", {"$content-type": "application/octet-stream", "$content": "77+9"}),
        ("@dataUriToString('data:,a\ud83d')", "a\ufffd"),
        # a pair of escapes is one character to .NET, whose strings are UTF-16
        ("@json('\"\\ud83d\\ude00\"')", "\U0001f600"),
        ("@base64(json('\"\\ud83d\\ude00\"'))", "8J+YgA=="),
        ("@length(json('\"\\ud83d\\ude00\"'))", 2),
    ],
)
def test_unpaired_surrogates_encode_as_the_replacement_character(text: str, expected: Any) -> None:
    assert evaluate(text) == expected


def test_an_integer_literal_of_thousands_of_digits_is_a_syntax_error() -> None:
    # int() refuses more than 4300 digits with a ValueError; the engine: "cannot be converted to number".
    with pytest.raises(ExpressionSyntaxError):
        compile("@add(" + "9" * 5000 + ", 1)")
