"""Parse expression strings: split a JSON string value into literal text and expressions, then parse each
expression into a syntax tree.

How a string value is read (measured on the engine):

* no leading ``@`` and no ``@{`` anywhere: plain text, returned unchanged;
* ``@@...``: plain text with the first ``@`` removed (``@@{x}`` stays ``@{x}``; nothing is interpolated);
* ``@`` alone: the text ``@``;
* ``@{`` anywhere (and no leading ``@`` other than ``@{``): interpolation, always a string; ``@@{`` inside
  writes a literal ``@{``;
* otherwise ``@expr``: one expression, whose value keeps its JSON type.

The parser is recursive descent with an explicit depth cap, so no input can exhaust Python's stack.
Every error is an ``ExpressionSyntaxError`` carrying a 0-based offset into the original string.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from amlexec.expressions.ast import Accessor, Call, Literal, Node, Path
from amlexec.expressions.errors import ExpressionLimitError, ExpressionSyntaxError
from amlexec.expressions.limits import LIMITS

__all__ = ["ParsedTemplate", "parse_template"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class Tok(Enum):
    IDENT = "identifier"
    INTEGER = "integer"
    FLOAT = "number"
    STRING = "string"
    LPAREN = "'('"
    RPAREN = "')'"
    LBRACKET = "'['"
    RBRACKET = "']'"
    DOT = "'.'"
    COMMA = "','"
    QUESTION = "'?'"
    RBRACE = "'}'"
    END = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Tok
    text: str
    position: int
    value: object = None


def _describe(token: Token) -> str:
    if token.kind is Tok.END:
        return "the end of the expression"
    if token.kind is Tok.STRING:
        return f"string '{token.value}'"
    return (
        f"{token.kind.value} {token.text!r}"
        if token.kind in (Tok.IDENT, Tok.INTEGER, Tok.FLOAT)
        else (token.kind.value)
    )


_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$")
_IDENT_PART = _IDENT_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_WHITESPACE = frozenset(" \t\r\n\f\v")
_PUNCTUATION = {
    "(": Tok.LPAREN,
    ")": Tok.RPAREN,
    "[": Tok.LBRACKET,
    "]": Tok.RBRACKET,
    ".": Tok.DOT,
    ",": Tok.COMMA,
    "?": Tok.QUESTION,
    "}": Tok.RBRACE,
}


class _Lexer:
    """Tokens of one expression, from ``start`` to the end of the text (or a closing brace)."""

    def __init__(self, text: str, start: int) -> None:
        self.text = text
        self.index = start

    def next(self) -> Token:
        text = self.text
        length = len(text)
        index = self.index
        while index < length and text[index] in _WHITESPACE:
            index += 1
        if index >= length:
            self.index = index
            return Token(Tok.END, "", index)
        char = text[index]
        punctuation = _PUNCTUATION.get(char)
        if punctuation is not None:
            self.index = index + 1
            return Token(punctuation, char, index)
        if char == "'":
            return self._string(index)
        if char in _DIGITS or char in "+-":
            return self._number(index)
        if char in _IDENT_START or (char.isalpha() and not char.isascii()):
            end = index + 1
            while end < length and (text[end] in _IDENT_PART or (text[end].isalnum() and not text[end].isascii())):
                end += 1
            self.index = end
            return Token(Tok.IDENT, text[index:end], index)
        raise ExpressionSyntaxError(f"unexpected character {char!r} at position {index}", position=index)

    def _string(self, start: int) -> Token:
        text = self.text
        pieces: list[str] = []
        index = start + 1
        while True:
            quote = text.find("'", index)
            if quote < 0:
                raise ExpressionSyntaxError(
                    f"the string starting at position {start} is not terminated: expected a closing quote (')",
                    position=start,
                )
            pieces.append(text[index:quote])
            if text.startswith("''", quote):
                pieces.append("'")
                index = quote + 2
                continue
            self.index = quote + 1
            return Token(Tok.STRING, text[start : quote + 1], start, "".join(pieces))

    def _number(self, start: int) -> Token:
        text = self.text
        length = len(text)
        index = start
        if text[index] in "+-":
            index += 1
        digits_start = index
        while index < length and text[index] in _DIGITS:
            index += 1
        if index == digits_start:
            raise ExpressionSyntaxError(f"expected a digit after {text[start]!r} at position {start}", position=start)
        is_float = False
        if index < length and text[index] == ".":
            is_float = True
            index += 1
            while index < length and text[index] in _DIGITS:
                index += 1
        if index < length and text[index] in "eE":
            is_float = True
            index += 1
            if index < length and text[index] in "+-":
                index += 1
            exponent_start = index
            while index < length and text[index] in _DIGITS:
                index += 1
            if index == exponent_start:
                raise ExpressionSyntaxError(
                    f"the number at position {start} has no digits after its exponent", position=start
                )
        if index < length and (text[index] in _IDENT_PART or text[index] == "'"):
            raise ExpressionSyntaxError(
                f"unexpected character {text[index]!r} at position {index} after a number", position=index
            )
        self.index = index
        literal = text[start:index]
        if is_float:
            value: object = float(literal)
            if value in (float("inf"), float("-inf")):
                raise ExpressionSyntaxError(f"the number {literal!r} at position {start} is too large", position=start)
            return Token(Tok.FLOAT, literal, start, value)
        # Measure before converting: int() refuses text of more than 4300 digits with a ValueError.
        too_long = len(literal.lstrip("+-").lstrip("0")) > 19
        number = 0 if too_long else int(literal)
        if too_long or not _INT64_MIN <= number <= _INT64_MAX:
            raise ExpressionSyntaxError(
                f"the integer {literal!r} at position {start} does not fit in 64 bits", position=start
            )
        return Token(Tok.INTEGER, literal, start, number)


class _Parser:
    def __init__(self, text: str, start: int, *, inside_braces: bool) -> None:
        self.lexer = _Lexer(text, start)
        self.inside_braces = inside_braces
        self.token = self.lexer.next()
        self.depth = 0

    def advance(self) -> Token:
        token = self.token
        self.token = self.lexer.next()
        return token

    def at(self, kind: Tok) -> bool:
        # A method rather than an inline test so type checkers don't narrow self.token across advance().
        return self.token.kind is kind

    def expect(self, kind: Tok, what: str) -> Token:
        if self.token.kind is not kind:
            raise ExpressionSyntaxError(
                f"expected {what} at position {self.token.position} but found {_describe(self.token)}",
                position=self.token.position,
            )
        return self.advance()

    def parse_all(self) -> tuple[Node, int]:
        node = self.expression()
        closing = Tok.RBRACE if self.inside_braces else Tok.END
        if self.token.kind is not closing:
            wanted = "'}' closing the interpolation" if self.inside_braces else "the end of the expression"
            raise ExpressionSyntaxError(
                f"expected {wanted} at position {self.token.position} but found {_describe(self.token)}",
                position=self.token.position,
            )
        return node, self.token.position + 1

    def expression(self) -> Node:
        token = self.token
        if token.kind is Tok.STRING or token.kind is Tok.INTEGER or token.kind is Tok.FLOAT:
            self.advance()
            return Literal(token.value, token.position)
        if token.kind is not Tok.IDENT:
            raise ExpressionSyntaxError(
                f"expected a function call or a literal at position {token.position} but found {_describe(token)}",
                position=token.position,
            )
        self.advance()
        lowered = token.text.lower()
        if self.token.kind is not Tok.LPAREN:
            if lowered in _KEYWORDS:
                return Literal(_KEYWORDS[lowered], token.position)
            raise ExpressionSyntaxError(
                f"expected '(' after the function name {token.text!r} at position {self.token.position} "
                f"but found {_describe(self.token)}",
                position=self.token.position,
            )
        if lowered in _KEYWORDS:
            raise ExpressionSyntaxError(
                f"{token.text!r} at position {token.position} is a literal, not a function",
                position=token.position,
            )
        self.depth += 1
        if self.depth > LIMITS.max_depth:
            raise ExpressionLimitError(
                f"the expression nests deeper than {LIMITS.max_depth} levels", position=token.position
            )
        self.advance()
        args: list[Node] = []
        if not self.at(Tok.RPAREN):
            while True:
                args.append(self.expression())
                if self.at(Tok.COMMA):
                    self.advance()
                    continue
                break
        self.expect(Tok.RPAREN, f"',' or ')' in the arguments of {token.text!r}")
        call = Call(lowered, token.text, tuple(args), token.position)
        steps = self.accessors()
        self.depth -= 1
        return Path(call, tuple(steps), token.position) if steps else call

    def accessors(self) -> list[Accessor]:
        steps: list[Accessor] = []
        while True:
            token = self.token
            null_safe = False
            if token.kind is Tok.QUESTION:
                null_safe = True
                self.advance()
                if self.token.kind not in (Tok.DOT, Tok.LBRACKET):
                    raise ExpressionSyntaxError(
                        f"expected '.' or '[' after the null-safe operator '?' at position "
                        f"{self.token.position} but found {_describe(self.token)}",
                        position=self.token.position,
                    )
            if self.token.kind is Tok.DOT:
                self.advance()
                name = self.expect(Tok.IDENT, "a property name after '.'")
                steps.append(Accessor(Literal(name.text, name.position), null_safe, token.position))
            elif self.token.kind is Tok.LBRACKET:
                self.advance()
                self.depth += 1
                if self.depth > LIMITS.max_depth:
                    raise ExpressionLimitError(
                        f"the expression nests deeper than {LIMITS.max_depth} levels", position=token.position
                    )
                key = self.expression()
                self.depth -= 1
                self.expect(Tok.RBRACKET, "']' closing the index")
                steps.append(Accessor(key, null_safe, token.position))
            else:
                return steps


_KEYWORDS: dict[str, object] = {"true": True, "false": False, "null": None}


@dataclass(frozen=True, slots=True)
class ParsedTemplate:
    """A string value split into parts: ``str`` pieces are literal text, nodes are expressions.

    ``whole`` is True for ``@expr`` (one node whose value keeps its type); otherwise the parts are
    concatenated as text (interpolation), or the single ``str`` part is the literal value.
    """

    parts: tuple[str | Node, ...]
    whole: bool


def parse_template(text: str) -> ParsedTemplate:
    """Split and parse a string value; raises ``ExpressionSyntaxError`` or ``ExpressionLimitError``."""
    starts_with_at = text.startswith("@")
    if not starts_with_at and "@{" not in text:
        return ParsedTemplate((text,), whole=False)
    if starts_with_at and not text.startswith("@{"):
        if text.startswith("@@"):
            return ParsedTemplate((text[1:],), whole=False)
        if len(text) == 1:
            return ParsedTemplate((text,), whole=False)
        _check_length(text)
        node, _ = _Parser(text, 1, inside_braces=False).parse_all()
        return ParsedTemplate((node,), whole=True)
    _check_length(text)
    return ParsedTemplate(tuple(_interpolation_parts(text)), whole=False)


def _check_length(text: str) -> None:
    if len(text) > LIMITS.max_expression_length:
        raise ExpressionLimitError(
            f"the expression is {len(text)} characters long; the limit is {LIMITS.max_expression_length}",
            position=LIMITS.max_expression_length,
        )


def _interpolation_parts(text: str) -> list[str | Node]:
    parts: list[str | Node] = []
    literal: list[str] = []
    index = 0
    while True:
        found = text.find("@{", index)
        if found < 0:
            literal.append(text[index:])
            break
        if found > 0 and text[found - 1] == "@":
            # '@@{' writes a literal '@{' (the first '@' was already copied as text).
            literal.append(text[index : found - 1])
            literal.append("@{")
            index = found + 2
            continue
        literal.append(text[index:found])
        if "}" not in text[found + 2 :]:
            raise ExpressionSyntaxError(
                f"the interpolation starting at position {found} is not terminated: expected '}}'",
                position=found,
            )
        try:
            node, index = _Parser(text, found + 2, inside_braces=True).parse_all()
        except ExpressionSyntaxError as error:
            if "not terminated" in error.message and "string" in error.message:
                raise ExpressionSyntaxError(
                    f"the interpolation starting at position {found} is not terminated: expected '}}'",
                    position=found,
                ) from None
            raise
        if literal:
            joined = "".join(literal)
            if joined:
                parts.append(joined)
            literal = []
        parts.append(node)
    joined = "".join(literal)
    if joined or not parts:
        parts.append(joined)
    return parts
