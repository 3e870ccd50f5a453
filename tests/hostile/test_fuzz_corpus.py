"""Replay the fuzzers' seed corpora (``fuzz/corpus``) through the same checks the atheris harnesses run.

Runs without atheris, so every ``make test`` keeps the seeds (and any input added there after a fix) green:
only results or amlexec's own errors, within the time bound, with the harnesses' oracles holding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from amlexec.expressions import InternalExpressionError, set_strict
from amlexec.expressions.functions import FUNCTIONS
from amlexec.expressions.registry import CallContext, FunctionSpec
from fuzz.targets import check_expression, check_payload

CORPUS = Path(__file__).resolve().parents[2] / "fuzz" / "corpus"


@pytest.mark.parametrize("seed", sorted((CORPUS / "payload").iterdir()), ids=lambda p: p.name)
def test_payload_seed(seed: Path) -> None:
    check_payload(seed.read_bytes())


@pytest.mark.parametrize("seed", sorted((CORPUS / "expressions").iterdir()), ids=lambda p: p.name)
def test_expression_seed(seed: Path) -> None:
    check_expression(seed.read_bytes())


def test_an_internal_error_is_a_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite runs in strict mode (as FUZZ_STRICT_MASKED=1 makes the fuzzers do): a bug inside a function
    # must reach the harness as a crash, not hide behind the ExpressionError the safety net would make of it.
    def broken(_args: Sequence[Any], _context: CallContext) -> Any:
        raise KeyError("boom")

    monkeypatch.setitem(FUNCTIONS, "trim", FunctionSpec("trim", 1, 1, broken))
    previous = set_strict(True)
    try:
        with pytest.raises(InternalExpressionError) as caught:
            check_expression(b"trim('strict-mode finding')")
    finally:
        set_strict(previous)
    assert isinstance(caught.value.__cause__, KeyError)
