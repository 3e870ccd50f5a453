"""Property tests: any text, and any generated expression tree, either evaluates to a JSON-like value or
raises an ExpressionError, never another exception, and quickly."""

from __future__ import annotations

import gc
import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlexec.expressions import ExpressionError, compile, evaluate
from amlexec.expressions.functions import FUNCTIONS

CONTEXT: dict[str, Any] = {
    "pipeline": {"parameters": {"a": 1, "s": "hello", "arr": [1, 2, 3], "obj": {"x": {"y": None}}}},
    "variables": {"v": "x"},
}
# CPU seconds of this thread, not wall time: the bound is about the work an expression can cost, and a
# busy machine (CI running beside other jobs) must not fail it.
TIME_BUDGET_SECONDS = 0.5


def _run(text: str) -> None:
    # A collection of the whole session's heap would be charged to whichever expression it interrupts.
    gc.disable()
    try:
        started = time.thread_time()
        try:
            value = evaluate(text, CONTEXT)
        except ExpressionError:
            pass
        else:
            json.dumps(value, allow_nan=True)  # the result is JSON-like
        spent = time.thread_time() - started
    finally:
        gc.enable()
    assert spent < TIME_BUDGET_SECONDS


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    _run(text)
    _run("@" + text)
    _run("x@{" + text + "}")


_ALPHABET = "@{}()[].,?'\" -+0123456789eEabcxyz_$\t\n"


@settings(max_examples=500)
@given(st.text(alphabet=_ALPHABET, max_size=120))
def test_expression_shaped_text(text: str) -> None:
    _run("@" + text)
    _run(text)


_LITERALS = st.sampled_from(
    [
        "0",
        "1",
        "-7",
        "2.5",
        "-0.0",
        "1e300",
        "9223372036854775807",
        "true",
        "false",
        "null",
        "''",
        "'abc'",
        "'A,b'",
        "' 1.5 '",
        "'{\"a\":[1]}'",
        "'😀'",
        "pipeline().parameters.arr",
        "pipeline().parameters.obj",
        "variables('v')",
        "pipeline().parameters?.missing",
    ]
)
_NAMES = sorted(name for name in FUNCTIONS if name not in {"utcnow", "guid", "rand"})


def _trees() -> st.SearchStrategy[str]:
    def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        call = st.builds(
            lambda name, args: f"{name}({', '.join(args)})",
            st.sampled_from(_NAMES),
            st.lists(children, min_size=1, max_size=4),
        )
        indexed = st.builds(lambda target, key: f"{target}?[{key}]", call, children)
        return st.one_of(call, indexed)

    return st.recursive(_LITERALS, extend, max_leaves=12)


@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
@given(_trees())
def test_generated_expression_trees(tree: str) -> None:
    _run("@" + tree)
    _run("@{" + tree + "}!")


@given(_trees())
def test_compile_reports_only_expression_errors(tree: str) -> None:
    try:
        template = compile("@" + tree)
    except ExpressionError:
        return
    assert template.is_expression
    assert template.functions <= set(FUNCTIONS)
