"""Run the recorded date cases through the date functions directly (no parser/evaluator needed).

The recorded expressions are a single call whose arguments are literals or nested calls, so a tiny
reader suffices here; once ``amlexec.expressions.evaluate`` exists the shared case runner covers the
same file through the real evaluator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from amlexec.expressions.dates import DATE_FUNCTIONS
from amlexec.expressions.errors import ExpressionError

CASES = Path(__file__).with_name("cases") / "dates.json"
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class FakeContext:
    instant: datetime

    def now(self) -> datetime:
        return self.instant


class _Reader:
    def __init__(self, text: str, ctx: FakeContext) -> None:
        self.text, self.pos, self.ctx = text, 0, ctx

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def value(self) -> Any:
        self._skip()
        ch = self.text[self.pos]
        if ch == "'":
            out, self.pos = [], self.pos + 1
            while True:
                if self.text[self.pos] == "'":
                    if self.text[self.pos + 1 : self.pos + 2] == "'":
                        out.append("'")
                        self.pos += 2
                        continue
                    self.pos += 1
                    return "".join(out)
                out.append(self.text[self.pos])
                self.pos += 1
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            return float(number.group()) if number.group(1) or number.group(2) else int(number.group())
        name = _NAME.match(self.text, self.pos)
        assert name, self.text
        self.pos = name.end()
        word = name.group()
        if word in ("null", "true", "false"):
            return {"null": None, "true": True, "false": False}[word]
        assert self.text[self.pos] == "("
        self.pos += 1
        args: list[Any] = []
        self._skip()
        if self.text[self.pos] == ")":
            self.pos += 1
        else:
            while True:
                args.append(self.value())
                self._skip()
                sep = self.text[self.pos]
                self.pos += 1
                if sep == ")":
                    break
                assert sep == ",", self.text
        return call(word, args, self.ctx)


class ArityError(ExpressionError):
    """Stands in for the evaluator's arity check."""


def call(name: str, args: Sequence[Any], ctx: FakeContext) -> Any:
    spec = DATE_FUNCTIONS[name.lower()]
    if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
        raise ArityError(f"{spec.name}: wrong number of arguments")
    return spec.impl(args, ctx)


def run_expression(expression: str, now: datetime | None = None) -> Any:
    assert expression.startswith("@")
    ctx = FakeContext(now or datetime(2026, 11, 21, 11, 20, 33, tzinfo=UTC))
    return _Reader(expression[1:], ctx).value()


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(CASES.read_text(encoding="utf-8"))
    return cases


def parse_now(case: dict[str, Any]) -> datetime | None:
    text = case.get("now")
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))
