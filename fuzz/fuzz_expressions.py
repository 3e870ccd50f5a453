"""Coverage-guided fuzzing (atheris) of the expression language: ``compile`` and ``evaluate``.

Each input is UTF-8 text (lone surrogates allowed, as JSON strings may carry them), evaluated as given,
as ``@text`` and as ``x@{text}`` in a fixed context (see ``fuzz/targets.py``). Only a result or an
``ExpressionError`` is acceptable; any other exception, an input slower than ``FUZZ_TIME_BOUND`` seconds,
a non-JSON result or a deterministic template giving two different values is a crash.

    .venv/bin/python fuzz/fuzz_expressions.py fuzz/corpus/expressions -max_total_time=60 \
        -dict=fuzz/expressions.dict
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["amlexec", "fuzz"]):
    from fuzz.targets import check_expression


def test_one_input(data: bytes) -> None:
    check_expression(data)


def _argv() -> list[str]:
    # libFuzzer's -fork mode re-runs argv[0] through a shell: name the interpreter too, so the workers
    # use this virtualenv's Python whatever the script's permissions.
    return [f"{shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))}", *sys.argv[1:]]


def main() -> None:
    check_expression(b"formatDateTime(utcNow(), 'yyyy')")  # warm caches before the time bound applies
    atheris.Setup(_argv(), test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
