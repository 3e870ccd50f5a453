"""Bounded work per message: hostile shapes are rejected with our own errors (or evaluated) quickly and
in little memory.

Every case runs one message (``validate_payload`` then ``resolve``) or one expression under a watchdog
and ``tracemalloc``: it must end with a result or an ``AmlexecError`` within ``TIME_BOUND`` seconds and
with a traced peak under ``MEMORY_BOUND``. The watchdog (``SIGALRM``) raises a ``BaseException`` so
that a runaway evaluation stops even through ``except Exception`` safety nets, and a hang costs the suite
at most ``TIME_BOUND`` seconds. Cases marked ``xfail(strict=True)`` are known bugs (see their reasons).
"""

from __future__ import annotations

import json
import signal
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import AZURE_ML_SERVICE, FIXED_TIME

from amlexec.errors import AmlexecError, RequestRejected
from amlexec.expressions import ExpressionError, evaluate
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import LaunchRequest, RequestContext
from amlexec.resolve import preview, resolve
from amlexec.validation import STANDARD_TIER_MAX_MESSAGE, validate_payload

TIME_BOUND = 2.0
MEMORY_BOUND = 64 * 1024 * 1024

REGISTRY = LinkedServiceRegistry.from_json(json.dumps([AZURE_ML_SERVICE]), env={})
CONTEXT = RequestContext(request_id="hostile-1", received_at=FIXED_TIME, correlation_id="c")

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM for the watchdog")


class Overrun(BaseException):
    """Raised by the watchdog inside a call that ran past the time bound."""


@contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    def expire(_signum: int, _frame: Any) -> None:
        raise Overrun(f"still running after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def bounded(call: Callable[[], Any], *, memory: bool = True) -> Any:
    """Run ``call`` within the bounds; return its result or the AmlexecError it raised.

    Time is measured on a plain run; memory on a second run under tracemalloc (which slows allocation-heavy
    code several times over, so that run gets a looser watchdog).
    """

    def run(seconds: float) -> Any:
        try:
            with watchdog(seconds):
                try:
                    return call()
                except AmlexecError as error:
                    return error
        except Overrun as overrun:
            pytest.fail(f"{overrun} (bound {TIME_BOUND:g}s)", pytrace=False)

    # The bound is on work (CPU time of this thread), so a busy machine cannot fail it; the wall-clock
    # watchdog, ten times looser, only stops a call that would otherwise never return.
    started = time.thread_time()
    outcome = run(TIME_BOUND * 10)
    elapsed = time.thread_time() - started
    assert elapsed < TIME_BOUND, f"took {elapsed:.2f} CPU seconds"
    if memory:
        del outcome
        tracemalloc.start()  # traces only what is allocated from here on
        try:
            outcome = run(TIME_BOUND * 5)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < MEMORY_BOUND, f"traced peak {peak / 2**20:.0f} MiB"
    return outcome


def activity(**type_properties: Any) -> dict[str, Any]:
    return {
        "name": "Score",
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
        "typeProperties": {"mlPipelineId": "azureml:score:1", **type_properties},
    }


def message(body: bytes | dict[str, Any]) -> LaunchRequest:
    return resolve(validate_payload(body), CONTEXT, REGISTRY)


def encoded(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def codes(outcome: Any) -> set[str]:
    assert isinstance(outcome, RequestRejected), f"expected a rejection, got {outcome!r}"[:300]
    return {issue.code for issue in outcome.issues}


def _nested_dict(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


# --------------------------------------------------------------------------------------------- JSON shapes


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 120_000 + b"]" * 120_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        encoded({"activity": activity(), "pipeline": {"parameters": {"p": _nested_dict(70)}}}),
        b'{"activity":' + b"[" * 100_000,  # unterminated
    ],
    ids=["array-240k", "object-50k", "envelope-70", "unterminated"],
)
def test_deep_json_is_rejected_quickly(body: bytes) -> None:
    assert codes(bounded(lambda: message(body))) & {"too_deep", "invalid_json", "payload_too_large"}


def test_nesting_at_the_limit_is_evaluated() -> None:
    deep: Any = "@pipeline().RunId"
    for _ in range(28):
        deep = [deep]
    pipeline_parameters: Any = {"leaf": 1}
    for _ in range(58):
        pipeline_parameters = {"p": pipeline_parameters}
    body = {"activity": activity(jobSettings={"x": deep}), "pipeline": {"parameters": pipeline_parameters}}
    request = bounded(lambda: message(body))
    assert isinstance(request, LaunchRequest)


def test_deep_dict_payload_is_rejected() -> None:
    assert "too_deep" in codes(bounded(lambda: message({"activity": activity(), "item": _nested_dict(5000)})))


# ------------------------------------------------------------------------------------------- huge strings


def test_payload_exactly_at_the_limit_is_read_one_byte_over_is_not() -> None:
    base = encoded({"activity": activity(), "item": {"pad": ""}})
    at_limit = base.replace(b'"pad":""', b'"pad":"' + b"x" * (STANDARD_TIER_MAX_MESSAGE - len(base)) + b'"')
    assert len(at_limit) == STANDARD_TIER_MAX_MESSAGE
    assert isinstance(bounded(lambda: message(at_limit)), LaunchRequest)
    over = at_limit.replace(b'"x', b'"xx', 1)
    assert codes(bounded(lambda: message(over))) == {"payload_too_large"}
    huge = b" " * 100 * 2**20
    assert codes(bounded(lambda: message(huge), memory=False)) == {"payload_too_large"}


@pytest.mark.parametrize("where", ["mlPipelineParameters", "jobInputs"])
def test_huge_parameter_value_is_rejected(where: str) -> None:
    body = encoded({"activity": activity(**{where: {"p": "x" * 250_000}})})
    assert codes(bounded(lambda: message(body))) == {"value_too_long"}


def test_huge_strings_in_other_properties() -> None:
    body = encoded(
        {"activity": {**activity(experimentName="e" * 120_000, mlParentRunId="r" * 120_000), "name": "n" * 1000}}
    )
    assert bounded(lambda: message(body)) is not None
    expression = encoded({"activity": activity(experimentName="@" + "x" * 200_000)})
    assert codes(bounded(lambda: message(expression)))


def test_huge_context_string_is_passed_through_once() -> None:
    body = encoded(
        {
            "activity": activity(mlPipelineParameters={"p": "@pipeline().parameters.big"}),
            "pipeline": {"parameters": {"big": "b" * 250_000}},
        }
    )
    request = bounded(lambda: message(body))
    assert isinstance(request, LaunchRequest) and len(str(request.parameters["p"])) == 250_000


# ------------------------------------------------------------------------------------ thousands of things


def test_thousands_of_parameters_are_rejected_with_one_issue() -> None:
    body = encoded({"activity": activity(mlPipelineParameters={f"p{i}": i for i in range(5_000)})})
    assert codes(bounded(lambda: message(body))) == {"too_many_parameters"}


def test_thousands_of_issues_stay_cheap() -> None:
    params = {" " * i: {"value": "@(", "type": "Expression"} for i in range(1, 250)}
    bad = {f"n{i}": [1, {"value": 7, "type": "Expression"}] for i in range(3_000)}
    body = encoded({"activity": activity(mlPipelineParameters=params, jobInputs=bad, experimentName=[1] * 5_000)})
    outcome = bounded(lambda: message(body))
    assert isinstance(outcome, RequestRejected)
    assert len(str(outcome)) < 4_000  # the message names three issues and counts the rest


def test_thousands_of_user_properties_and_outputs() -> None:
    body = encoded(
        {
            "activity": {
                **activity(),
                "userProperties": [{"name": f"u{i}", "value": "@pipeline().RunId"} for i in range(3_000)],
            },
            "activityOutputs": {f"a{i}": {"o": i} for i in range(3_000)},
        }
    )
    assert bounded(lambda: message(body)) is not None


# ------------------------------------------------------------------------------------ expression shapes


def expression(text: str, context: dict[str, Any] | None = None) -> Any:
    return bounded(lambda: evaluate(text, context or {}, now=FIXED_TIME))


def limited(outcome: Any) -> bool:
    return isinstance(outcome, ExpressionError)


@pytest.mark.parametrize(
    "text",
    [
        "@range(0, 2147483647)",
        "@range(2147483647, 2)",
        "@range(-2147483648, 100001)",
        "@range(0, 9223372036854775807)",
        "@range(0, -1)",
        "@take(range(0, 100000), -2147483648)",
        "@union(range(0, 100000), range(100000, 100000))",
        "@chunk(range(0, 100000), 0)",
        "@join(range(0, 100000), '--------------------------------')",
    ],
)
def test_range_with_huge_arguments_is_limited(text: str) -> None:
    assert limited(expression(text))


@pytest.mark.parametrize(
    "text",
    [
        "@length(range(0, 100000))",
        "@length(string(createArray(range(0, 30000), range(30000, 30000))))",
        "@last(range(2147383648, 100000))",
        "@length(skip(range(-2147483648, 100000), 99999))",
    ],
)
def test_range_at_its_limit_is_evaluated(text: str) -> None:
    assert not limited(expression(text))


def _nest(template: str, seed: str, depth: int) -> str:
    text = seed
    for _ in range(depth):
        text = template.format(text)
    return text


def test_string_doubling_is_limited() -> None:
    assert limited(expression("@" + _nest("replace({}, 'x', 'xx')", "'xx'", 40)))
    assert limited(
        expression(
            "@" + _nest("concat({0}, {0}, {0}, {0})", "pipeline().parameters.s", 6),
            {"pipeline": {"parameters": {"s": "s" * 1000}}},
        )
    )


@pytest.mark.parametrize(
    "text",
    [
        "@" + _nest("concat({0}, {0})", "'ab'", 11),
        "@" + _nest("string(createArray({0}, {0}))", "'ab'", 9),
        "@" + _nest("base64({})", "'abc'", 50),
        "@" + _nest("uriComponent({})", "'%'", 50),
        "@" + _nest("join(split({}, ''), 'xx')", "'abcdef'", 30),
        "@" + _nest("json(string(createArray({0}, {0})))", "1", 13),
    ],
)
def test_string_repetition_is_bounded(text: str) -> None:
    expression(text)


@pytest.mark.parametrize(
    "text",
    [
        "@{'a'}" * 1365,
        "@{pipeline().parameters.s}" * 300,
        "@{" * 4000,
        "@@{" * 2700,
        "x@{concat('@{', '}')}" * 400,
        "@{" + _nest("concat('@{{', {}, '}}')", "'x'", 60) + "}",
        "@{string(range(0, 30000))}@{string(range(30000, 30000))}",
    ],
)
def test_pathological_interpolation_is_bounded(text: str) -> None:
    expression(text, {"pipeline": {"parameters": {"s": "s" * 3000}}})


def test_interpolating_a_large_context_value_many_times_is_bounded() -> None:
    body = encoded({"activity": activity(mlPipelineParameters={"p": "@{item()}" * 910}), "item": {"a": "x" * 120_000}})
    assert codes(bounded(lambda: message(body))) == {"evaluation_failed"}


def test_concatenating_a_large_path_many_times_is_bounded() -> None:
    assert limited(expression("@concat(" + ",".join(["item().a"] * 900) + ")", {"item": {"a": "x" * 240_000}}))


def test_join_with_a_long_separator_is_bounded() -> None:
    assert limited(expression("@join(range(0, 100000), '" + "-" * 1000 + "')"))


def test_intersection_of_large_arrays_is_bounded() -> None:
    expression("@length(intersection(range(0, 100000), range(0, 100000)))")


def test_union_of_many_arrays_is_bounded() -> None:
    expression("@length(union(chunk(range(0, 100000), 1), chunk(range(0, 1), 1)))")


@pytest.mark.parametrize(
    "text",
    [
        "@" + "concat(" * 70 + "'a'" + ")" * 70,
        "@" + "createArray(" * 100 + "1" + ")[0]" * 100,
        "@" + "(" * 5000 + "'a'" + ")" * 5000,
        "@pipeline()" + "?.a" * 2000,
        "@pipeline()" + "['a']" * 2000,
        "@json('" + "[" * 8000 + "]" * 8000 + "')",
        "@json(pipeline().parameters.deep)",
        "@string(json(pipeline().parameters.deep))",
        "@" + "not(" * 64 + "true" + ")" * 64,
        "@" + "if(true, " * 70 + "1" + ", 2)" * 70,
    ],
)
def test_deep_expression_nesting_is_bounded(text: str) -> None:
    expression(text, {"pipeline": {"parameters": {"deep": "[" * 100_000 + "]" * 100_000}}})


def test_expression_nesting_within_the_limit_is_evaluated() -> None:
    assert expression("@" + "concat(" * 60 + "'a'" + ")" * 60) == "a"


# ------------------------------------------------------------------------------------------ huge numbers


@pytest.mark.parametrize(
    "text",
    [
        "@add(" + "9" * 5000 + ", 1)",
        "@int('" + "9" * 5000 + "')",
        "@float('" + "9" * 5000 + "')",
        "@json('" + "9" * 5000 + "')",
        "@" + _nest("mul({0}, {0})", "9223372036854775807", 10),
        "@add(9223372036854775807, 1)",
        "@div(-9223372036854775808, -1)",
        "@mod(-9223372036854775808, -1)",
        "@mul(1e308, 10)",
        "@int(mul(1e308, 10))",
        "@formatNumber(1e308, 'N1000')",
        "@formatNumber(1e308, '" + "0" * 8000 + "')",
        "@string(1e-320)",
        "@addDays('2026-01-01', 99999999999)",
        "@getFutureTime(2147483647, 'Year')",
        "@ticks('9999-12-31T23:59:59.9999999Z')",
    ],
)
def test_huge_numbers_in_expressions_are_bounded(text: str) -> None:
    expression(text)


def test_integer_with_thousands_of_digits_in_a_payload_is_rejected() -> None:
    body = encoded({"activity": activity(mlPipelineParameters={"n": 1})}).replace(b'"n":1', b'"n":' + b"9" * 5000)
    assert codes(bounded(lambda: message(body)))


def test_overflowing_float_never_reaches_json_output_as_infinity() -> None:
    body = encoded({"activity": activity(mlPipelineParameters={"x": 1})}).replace(b'"x":1', b'"x":1e400')
    outcome = bounded(lambda: message(body))
    if isinstance(outcome, LaunchRequest):
        json.dumps(outcome.public_view(), allow_nan=False)


def test_numbers_at_the_edges_of_json() -> None:
    body = encoded({"activity": activity(mlPipelineParameters={"a": 1})}).replace(
        b'"a":1', b'"a":-9223372036854775809,"b":1e-400,"c":' + b"1" * 4000 + b',"d":-0.0'
    )
    request = bounded(lambda: message(body))
    assert isinstance(request, LaunchRequest)
    json.dumps(request.public_view(), allow_nan=False)


# --------------------------------------------------------------------------------------------- unicode


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf" + encoded({"activity": activity()}),  # BOM
        encoded({"activity": activity()}).decode().encode("utf-16"),
        b'{"name": "\xc0\xaf"}',  # overlong UTF-8
        b'{"name": "\xed\xa0\x80"}',  # an encoded surrogate
        b"\x00" * 1000,
        encoded({"activity": activity(experimentName="\u202eexe.\u200b\u0000")}),
        encoded({"activity": activity(mlPipelineParameters={"\u0000": "\ufeff", "é": "e\u0301" * 5000})}),
        encoded({"activity": {**activity(), "name": "\U0001f600" * 10_000}}),
        encoded({"activity": activity(mlPipelineParameters={"p": "@substring('\U0001f600', 0, 1)"})}),
        encoded({"activity": activity(mlPipelineParameters={"p": "@toUpper('ß' )" + "ﬃ" * 3000})}),
        encoded({"activity": activity(mlPipelineParameters={"p": "\ud800"})}),
        encoded({"activity": {**activity(), "name": "\udfff"}}),
    ],
)
def test_unicode_edge_cases_are_bounded(body: bytes) -> None:
    bounded(lambda: message(body))


def test_lone_surrogate_in_an_invalid_expression_is_rejected() -> None:
    body = b'{"name":"a","type":"AzureMLExecutePipeline","typeProperties":{"mlPipelineId":"@\\ud800"}}'
    assert codes(bounded(lambda: message(body)))


def test_suite_runs_with_the_default_recursion_limit() -> None:
    # The bounds above rely on the interpreter's default stack; a raised limit would hide depth bugs.
    assert sys.getrecursionlimit() <= 10_000


def test_lone_surrogate_in_a_run_time_expression_previews() -> None:
    body = encoded({"activity": activity(mlPipelineParameters={"p": "@concat('\ud800', item().x)"})})
    bounded(lambda: preview(validate_payload(body), CONTEXT, REGISTRY))
