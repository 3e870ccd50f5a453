"""Parse text the way ``json()`` does in the engine (Newtonsoft.Json's lenient reader).

Accepted beyond strict JSON, as measured: single-quoted strings, unquoted property names, trailing commas,
``//`` and ``/* */`` comments, hexadecimal (``0x1F``) and leading-zero octal (``012``) integers, ``.5`` and
``1.``, ``NaN``/``Infinity``, text after the first complete value (ignored), and empty text (null).
Integers of any size are kept exact. Nesting is capped and parsing is iterative, so hostile input cannot
exhaust the stack.
"""

from __future__ import annotations

import re
from typing import Any

from amlexec.expressions.errors import ExpressionEvaluationError, ExpressionLimitError
from amlexec.expressions.limits import LIMITS

__all__ = ["parse_json"]

_NUMBER = re.compile(r"-?(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_$]+")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_WORDS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}


class _Failure(Exception):
    pass


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0

    def fail(self, message: str) -> _Failure:
        return _Failure(f"{message} at offset {self.index}")

    def skip_space(self) -> None:
        text = self.text
        length = len(text)
        while self.index < length:
            char = text[self.index]
            if char in " \t\r\n\f\v\ufeff\u00a0":
                self.index += 1
            elif text.startswith("//", self.index):
                end = text.find("\n", self.index)
                self.index = length if end < 0 else end + 1
            elif text.startswith("/*", self.index):
                end = text.find("*/", self.index + 2)
                if end < 0:
                    raise self.fail("unterminated comment")
                self.index = end + 2
            else:
                return

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.index] if self.index < len(self.text) else ""

    def string(self) -> str:
        text = self.text
        quote = text[self.index]
        self.index += 1
        out: list[str] = []
        while True:
            if self.index >= len(text):
                raise self.fail("unterminated string")
            char = text[self.index]
            if char == quote:
                self.index += 1
                return "".join(out)
            if char == "\\":
                escape = text[self.index + 1 : self.index + 2]
                if escape == "u":
                    digits = text[self.index + 2 : self.index + 6]
                    if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                        raise self.fail("bad \\u escape")
                    out.append(chr(int(digits, 16)))
                    self.index += 6
                    continue
                replacement = _ESCAPES.get(escape)
                if replacement is None:
                    raise self.fail(f"bad escape sequence \\{escape}")
                out.append(replacement)
                self.index += 2
                continue
            out.append(char)
            self.index += 1

    def scalar(self) -> Any:
        text = self.text
        char = text[self.index]
        if char in "\"'":
            return self.string()
        for word, value in _WORDS.items():
            if text.startswith(word, self.index):
                self.index += len(word)
                return value
        match = _NUMBER.match(text, self.index)
        if match is None:
            raise self.fail(f"unexpected character {char!r}")
        literal = match.group()
        self.index = match.end()
        negative = literal.startswith("-")
        digits = literal[1:] if negative else literal
        if digits[:2] in ("0x", "0X"):
            number: Any = int(digits, 16)
        elif "." in digits or "e" in digits or "E" in digits:
            return float(literal)
        elif len(digits) > 1 and digits.startswith("0") and all(c in "01234567" for c in digits):
            number = int(digits, 8)
        else:
            number = int(digits)
        return -number if negative else number

    def key(self) -> str:
        char = self.peek()
        if char in "\"'":
            return self.string()
        match = _IDENTIFIER.match(self.text, self.index)
        if match is None:
            raise self.fail(f"invalid property name character {char!r}")
        self.index = match.end()
        return match.group()

    def parse(self) -> Any:
        if not self.peek():
            return None
        # Containers under construction; each entry is (container, pending key for objects).
        stack: list[tuple[list[Any] | dict[str, Any], list[str]]] = []
        while True:
            char = self.peek()
            if not char:
                raise self.fail("unexpected end of text")
            if char in "[{":
                self.index += 1
                if len(stack) >= LIMITS.max_value_depth:
                    raise ExpressionLimitError(f"json() input nests deeper than {LIMITS.max_value_depth} levels")
                container: list[Any] | dict[str, Any] = [] if char == "[" else {}
                stack.append((container, []))
                if not self._after_open(stack):
                    continue
                value: Any = stack.pop()[0]
            else:
                value = self.scalar()
            # Attach the finished value to its parent, closing containers as they end.
            while True:
                if not stack:
                    return value
                parent, pending = stack[-1]
                if isinstance(parent, list):
                    parent.append(value)
                else:
                    parent[pending.pop()] = value
                if self._after_value(stack):
                    value = stack.pop()[0]
                    continue
                break

    def _after_open(self, stack: list[tuple[list[Any] | dict[str, Any], list[str]]]) -> bool:
        """Just after '[' or '{': True if the container closed at once (empty); otherwise ready for a value."""
        container, pending = stack[-1]
        closing = "]" if isinstance(container, list) else "}"
        if self.peek() == closing:
            self.index += 1
            return True
        if isinstance(container, dict):
            pending.append(self.key())
            if self.peek() != ":":
                raise self.fail("expected ':' after a property name")
            self.index += 1
        return False

    def _after_value(self, stack: list[tuple[list[Any] | dict[str, Any], list[str]]]) -> bool:
        """After a member: True if the container closed; otherwise positioned at the next member."""
        container, pending = stack[-1]
        closing = "]" if isinstance(container, list) else "}"
        char = self.peek()
        if char == closing:
            self.index += 1
            return True
        if char != ",":
            raise self.fail(f"expected ',' or {closing!r}")
        self.index += 1
        if self.peek() == closing:  # trailing comma
            self.index += 1
            return True
        if isinstance(container, dict):
            pending.append(self.key())
            if self.peek() != ":":
                raise self.fail("expected ':' after a property name")
            self.index += 1
        return False


def parse_json(text: str) -> Any:
    """The value ``json(text)`` yields; raises ``ExpressionEvaluationError`` naming what is wrong."""
    try:
        return _Reader(text).parse()
    except _Failure as failure:
        shown = text if len(text) <= 100 else text[:100] + "..."
        raise ExpressionEvaluationError(f"function 'json' cannot parse {shown!r}: {failure}") from None
