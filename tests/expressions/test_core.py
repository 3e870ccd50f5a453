"""Hand-written tests for the expression core: template splitting, the parser, accessors, the evaluator's
laziness and limits, text conversion, and the public API's guarantees (only ExpressionError escapes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from amlexec import expressions
from amlexec.expressions import (
    LIMITS,
    ExpressionError,
    ExpressionEvaluationError,
    ExpressionLimitError,
    ExpressionSyntaxError,
    compile,
    evaluate,
    to_text,
)
from amlexec.expressions.functions import FUNCTIONS

CONTEXT: dict[str, Any] = {
    "pipeline": {
        "parameters": {"a": 1, "s": "hello", "n": None, "arr": [1, 2, 3], "obj": {"x": 1, "Y": {"z": "q"}}},
        "RunId": "run-1",
        "globalParameters": {"env": "dev"},
    },
    "trigger": {"scheduledTime": "2024-01-02T03:04:05Z", "startTime": "2024-01-02T03:04:06Z"},
    "variables": {"v": "x", "list": [1, "a"]},
    "activity": {"Lookup1": {"output": {"firstRow": {"id": 7}}}},
    "item": {"name": "it"},
    "linkedService": {"url": "https://example.com"},
    "dataset": {"path": "in/"},
}


def test_public_api_is_curated() -> None:
    assert set(expressions.__all__) == {
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
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("", ""),
        ("a@b", "a@b"),
        ("@", "@"),
        ("@@", "@"),
        ("@@@", "@@"),
        ("@@abc", "@abc"),
        ("@@{x}@{1}", "@{x}@{1}"),
        ("x@@y", "x@@y"),
        ("a@@{x}@{1}", "a@{x}1"),
        ("@{1}@", "1@"),
        ("@{1}@@", "1@@"),
        ("x@{'}'}y", "x}y"),
        ("x@{'@{'}y", "x@{y"),
        ("@{'a'}@{'b'}", "ab"),
        ("@{ 'a' }", "a"),
    ],
)
def test_template_splitting(text: str, expected: str) -> None:
    assert evaluate(text) == expected


def test_whole_expression_keeps_type_interpolation_makes_text() -> None:
    assert evaluate("@add(1, 2)") == 3
    assert evaluate("@{add(1, 2)}") == "3"
    assert evaluate("@pipeline().parameters.arr", CONTEXT) == [1, 2, 3]
    assert evaluate("v=@{pipeline().parameters.arr}", CONTEXT) == "v=[1,2,3]"
    assert evaluate("@{pipeline().parameters.n}|@{true}", CONTEXT) == "|True"


def test_literals() -> None:
    assert evaluate("@'it''s'") == "it's"
    assert evaluate("@-9223372036854775808") == -(2**63)
    assert evaluate("@5.") == 5.0
    assert evaluate("@1e3") == 1000.0
    assert evaluate("@TRUE") is True
    assert evaluate("@Null") is None


@pytest.mark.parametrize(
    "text",
    [
        "@.5",
        "@[1,2]",
        "@{}",
        "a@{}b",
        "a@{b",
        "@concat('a',)",
        "@concat('a' 'b')",
        "@concat(,'a')",
        "@concat('a'",
        "@concat('a'))",
        "@concat('a') x",
        "@nosuch",
        "@'unterminated",
        "@'a''",
        '@"a"',
        "@add(1,2)+1",
        "@-add(1,2)",
        "@--1",
        "@1-",
        "@123abc",
        "@1e",
        "@1e+",
        "@0x10",
        "@()",
        "@(1)",
        "@concat('a')[",
        "@concat('a')[]",
        "@pipeline()?",
        "@pipeline()?x",
        "@pipeline().?x",
        "@pipeline().parameters.1",
        "@pipeline().parameters.",
        "@'abc'[0]",
        "@1.5.x",
        "@true()",
        "@null.x",
        "@ ",
        "@ {1}",
        "@9223372036854775808",
        "@concat('a')@{1}",
    ],
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile(text)
    assert caught.value.position is not None
    assert 0 <= caught.value.position <= len(text)


def test_syntax_error_says_what_was_expected_and_found() -> None:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile("@concat('a' 'b')")
    assert "expected" in caught.value.message and "found" in caught.value.message
    assert caught.value.position == 12


def test_unknown_function_and_arity_are_compile_time_errors() -> None:
    with pytest.raises(ExpressionSyntaxError, match="unknown function 'nosuch'") as caught:
        compile("@concat('a', nosuch(1))")
    assert caught.value.position == 13
    with pytest.raises(ExpressionSyntaxError, match="expects 2 arguments but was given 3"):
        compile("@add(1, 2, 3)")
    with pytest.raises(ExpressionSyntaxError, match="at least 1"):
        compile("@concat()")
    with pytest.raises(ExpressionSyntaxError, match="expects 0 arguments"):
        compile("@pipeline(1)")


def test_function_names_are_case_insensitive() -> None:
    assert evaluate("@CONCAT('a', 'b')") == "ab"
    assert evaluate("@toupper('x')") == "X"


def test_template_metadata() -> None:
    template = compile("@concat(variables('v'), activity('Lookup1').output.firstRow.id, utcNow())")
    assert template.is_expression
    assert {"concat", "variables", "activity"} <= template.functions
    assert template.roots == {"variables", "activity"}
    assert template.references["variables"] == {"v"}
    assert template.references["activity"] == {"Lookup1"}
    assert not compile("plain").is_expression
    assert not compile("@@x").is_expression
    assert compile("@add(1,2)").deterministic
    assert not compile("@guid()").deterministic


def test_compile_is_cached() -> None:
    assert compile("@add(1, 2)") is compile("@add(1, 2)")


def test_context_functions() -> None:
    assert evaluate("@pipeline().RunId", CONTEXT) == "run-1"
    assert evaluate("@pipeline().globalParameters.env", CONTEXT) == "dev"
    assert evaluate("@trigger().scheduledTime", CONTEXT) == "2024-01-02T03:04:05Z"
    assert evaluate("@variables('V')", CONTEXT) == "x"
    assert evaluate("@activity('lookup1').output.firstRow.id", CONTEXT) == 7
    assert evaluate("@item().name", CONTEXT) == "it"
    assert evaluate("@linkedService().url", CONTEXT) == "https://example.com"
    assert evaluate("@dataset().path", CONTEXT) == "in/"


@pytest.mark.parametrize(
    "text",
    ["@variables('nope')", "@activity('nope')", "@item()", "@trigger()", "@pipeline().parameters.x", "@variables(1)"],
)
def test_missing_context_is_an_evaluation_error(text: str) -> None:
    context: dict[str, Any] = {"variables": {}, "activity": {}} if "('nope')" in text else {}
    with pytest.raises(ExpressionEvaluationError):
        evaluate(text, context)


def test_pipeline_always_exists_as_in_data_factory() -> None:
    assert evaluate("@pipeline()", {}) == {}
    assert evaluate("@pipeline()?.parameters?.x", {}) is None


def test_property_access() -> None:
    assert evaluate("@pipeline().Parameters.OBJ.y.Z", CONTEXT) == "q"
    assert evaluate("@pipeline()['parameters']['s']", CONTEXT) == "hello"
    assert evaluate('@json(\'{"A":1,"a":2}\').a') == 2  # an exact match wins
    assert evaluate("@json('{\"A\":1,\"a\":2}')['A']") == 1
    assert evaluate("@pipeline().parameters.arr[add(0, 1)]", CONTEXT) == 2
    assert evaluate("@pipeline().parameters?.missing", CONTEXT) is None
    assert evaluate("@pipeline().parameters.n?.x.y", CONTEXT) is None  # '?' on null ends the path
    assert evaluate("@pipeline().parameters.arr?[7]", CONTEXT) is None


@pytest.mark.parametrize(
    "text",
    [
        "@pipeline().parameters.missing",
        "@pipeline().parameters.missing?.x",
        "@pipeline().parameters.n.x",
        "@pipeline().parameters.arr[3]",
        "@pipeline().parameters.arr[-1]",
        "@pipeline().parameters.arr['0']",
        "@pipeline().parameters.obj[0]",
        "@pipeline().parameters.s.length",
        "@pipeline().parameters.s?.length",
        "@pipeline().parameters?['missing'].x",
    ],
)
def test_bad_property_access(text: str) -> None:
    with pytest.raises(ExpressionEvaluationError):
        evaluate(text, CONTEXT)


def test_lazy_functions_skip_unneeded_arguments() -> None:
    assert evaluate("@if(true, 1, div(1, 0))") == 1
    assert evaluate("@and(false, div(1, 0))") is False
    assert evaluate("@or(true, 'not a boolean')") is True
    assert evaluate("@coalesce(null, 2, div(1, 0))") == 2
    with pytest.raises(ExpressionEvaluationError):
        evaluate("@if(div(1, 0), 1, 2)")
    with pytest.raises(ExpressionEvaluationError):
        evaluate("@and(true, 'x')")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@div(-7, 2)", -3),
        ("@mod(-7, 3)", -1),
        ("@mod(7, -3)", 1),
        ("@div(7, 2.0)", 3.5),
        ("@add(9223372036854775806, 1)", 2**63 - 1),
        ("@div(-9223372036854775807, -1)", 2**63 - 1),
    ],
)
def test_arithmetic(text: str, expected: Any) -> None:
    result = evaluate(text)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        "@add(9223372036854775807, 1)",
        "@mul(-9223372036854775808, -1)",
        "@div(1, 0)",
        "@mod(1, 0.0)",
        "@add('1', 2)",
        "@add(true, 1)",
        "@div(-9223372036854775808, -1)",
    ],
)
def test_arithmetic_errors(text: str) -> None:
    with pytest.raises(ExpressionEvaluationError):
        evaluate(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "True"),
        (False, "False"),
        (0, "0"),
        (-5, "-5"),
        (1.0, "1"),
        (0.1, "0.1"),
        (1e-05, "1E-05"),
        (0.0001, "0.0001"),
        (1e16, "10000000000000000"),
        (1e17, "1E+17"),
        (1.5e-7, "1.5E-07"),
        (-0.0, "-0"),
        (0.1 + 0.2, "0.30000000000000004"),
        ([1, 1.0, "a", None, True], '[1,1.0,"a",null,true]'),
        ({"a": {"b": [1e20]}}, '{"a":{"b":[1E+20]}}'),
        ({"s": 'q"\\\n\u2028é'}, '{"s":"q\\"\\\\\\n\\u2028é"}'),
        ({"$content-type": "application/octet-stream", "$content": "aGk="}, "hi"),
    ],
)
def test_to_text(value: Any, text: str) -> None:
    assert to_text(value) == text


def test_strings_count_utf16_code_units() -> None:
    assert evaluate("@length('😀')") == 2
    assert evaluate("@substring('a😀b', 1, 2)") == "😀"
    assert evaluate("@indexOf('😀a', 'a')") == 2


def test_utc_now_uses_the_injected_clock_when_available() -> None:
    if "utcnow" not in FUNCTIONS:
        pytest.skip("date functions not merged yet")
    instant = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert evaluate("@utcNow()", now=instant).startswith("2024-01-02T03:04:05")


def test_nondeterministic_functions_have_the_right_shape() -> None:
    assert len(evaluate("@guid()")) == 36
    assert len(evaluate("@guid('N')")) == 32
    assert evaluate("@guid('B')").startswith("{")
    for _ in range(50):
        assert 1 <= evaluate("@rand(1, 5)") < 5
    assert evaluate("@rand(3, 3)") == 3
    with pytest.raises(ExpressionEvaluationError):
        evaluate("@guid('n')")


def test_limits() -> None:
    with pytest.raises(ExpressionLimitError):
        compile("@" + "concat(" * (LIMITS.max_depth + 1) + "'a'" + ")" * (LIMITS.max_depth + 1))
    with pytest.raises(ExpressionLimitError):
        compile("@concat('" + "a" * LIMITS.max_expression_length + "')")
    with pytest.raises(ExpressionLimitError):
        evaluate("@length(createArray(" + ",".join(["range(0,100000)"] * 25) + "))")
    chain = "'aaaaaaaaaaaaaaaa'"
    for _ in range(12):
        chain = f"replace({chain}, 'a', 'aaaa')"
    with pytest.raises(ExpressionLimitError):
        evaluate("@" + chain)
    with pytest.raises(ExpressionLimitError):
        evaluate("@json('" + "[" * (LIMITS.max_value_depth + 1) + "')")


def test_range_limit_matches_the_engine() -> None:
    assert len(evaluate("@range(0, 100000)")) == 100_000
    with pytest.raises(ExpressionEvaluationError):
        evaluate("@range(0, 100001)")


def test_deep_context_values_do_not_overflow_the_stack() -> None:
    deep: list[Any] = []
    cursor = deep
    for _ in range(5000):
        inner: list[Any] = []
        cursor.append(inner)
        cursor = inner
    context = {"pipeline": {"parameters": {"d": deep}}}
    assert evaluate("@equals(pipeline().parameters.d, pipeline().parameters.d)", context) is True
    assert len(evaluate("@string(pipeline().parameters.d)", context)) == 10_002


@pytest.mark.parametrize("value", [None, 1, b"@x", ["@x"]])
def test_non_string_input_is_an_expression_error(value: Any) -> None:
    with pytest.raises(ExpressionError):
        evaluate(value)


def test_every_function_is_registered_in_lower_case() -> None:
    for name, spec in FUNCTIONS.items():
        assert name == spec.name.lower()
        assert spec.max_args is None or spec.max_args >= spec.min_args
