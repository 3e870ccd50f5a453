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
from amlexec.expressions.values import utf16_join

__all__ = ["parse_json"]

# Newtonsoft reads an integer too big for 64 bits as a BigInteger, unless its text (sign included) is longer
# than this; then it refuses it ("JSON integer ... is too large to parse"). The cap also keeps every number
# json() returns far below the 4300 digits that Python's int() and str() accept.
_MAX_INTEGER_TEXT = 380
_NUMBER = re.compile(r"-?(?:0[xX][0-9a-fA-F]*|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)")
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
                # "\ud83d\ude00" is one character to .NET (UTF-16); rejoin such pairs, keep lone halves.
                return utf16_join("".join(out))
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
        following = self.text[self.index : self.index + 1]
        if following and not following.isspace() and following not in ",]}/":
            # Newtonsoft reads a number up to a delimiter: '12abc' and '2024-02-29' are no numbers.
            raise self.fail(f"{literal + following!r} is not a valid number (unexpected character {following!r})")
        hexadecimal = literal[1:2] in ("x", "X") or literal[2:3] in ("x", "X")
        if not hexadecimal and ("." in literal or "e" in literal or "E" in literal):
            return float(literal)
        return self._integer(literal, hexadecimal)

    def _integer(self, literal: str, hexadecimal: bool) -> int:
        # As Newtonsoft reads them (measured on the engine): 0x... is hexadecimal and 0... octal, both as the
        # bits of a 64-bit integer (0xFFFFFFFFFFFFFFFF is -1) and neither with a sign ('-0777' is decimal);
        # any other integer is decimal, exact at any size up to the text cap.
        if literal.startswith("-") and hexadecimal:
            raise self.fail(f"{literal!r} is not a valid number")
        if hexadecimal or (len(literal) > 1 and literal[0] == "0"):
            digits = literal[2:] if hexadecimal else literal[1:]
            valid = "0123456789abcdefABCDEF" if hexadecimal else "01234567"
            if not digits or any(c not in valid for c in digits):
                raise self.fail(f"{literal!r} is not a valid number")
            number = int(digits, 16 if hexadecimal else 8)
            if number >= 2**64:
                raise self.fail(f"{literal!r} is not a valid number")
            return number - 2**64 if number >= 2**63 else number
        if len(literal) > _MAX_INTEGER_TEXT:
            raise self.fail(f"the JSON integer {literal[:40]}... is too large to parse")
        return int(literal)

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
