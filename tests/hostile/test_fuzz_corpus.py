"""Replay the fuzzers' seed corpora (``fuzz/corpus``) through the same checks the atheris harnesses run.

Runs without atheris, so every ``make test`` keeps the seeds (and any input added there after a fix) green:
only results or amlexec's own errors, within the time bound, with the harnesses' oracles holding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.targets import check_expression, check_payload

CORPUS = Path(__file__).resolve().parents[2] / "fuzz" / "corpus"


@pytest.mark.parametrize("seed", sorted((CORPUS / "payload").iterdir()), ids=lambda p: p.name)
def test_payload_seed(seed: Path) -> None:
    check_payload(seed.read_bytes())


@pytest.mark.parametrize("seed", sorted((CORPUS / "expressions").iterdir()), ids=lambda p: p.name)
def test_expression_seed(seed: Path) -> None:
    check_expression(seed.read_bytes())
