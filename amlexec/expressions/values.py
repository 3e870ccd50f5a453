"""Value helpers shared by the evaluator and the function library.

Values are JSON-like Python objects: ``str``, ``int``, ``float``, ``bool``, ``None``, ``list``, ``dict``.
This module turns them into text the way Data Factory's .NET engine does (``to_text`` for ``string()``,
``concat()`` and ``@{...}``; ``to_json_text`` for arrays and objects, which the engine writes with
Newtonsoft.Json), names their types as the engine's messages do, compares them deeply, and offers
UTF-16 helpers because the engine measures and slices strings in UTF-16 code units.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from amlexec.expressions.dotnet_decimal import DecimalNumber, decimal_text
from amlexec.expressions.errors import ExpressionEvaluationError, ExpressionLimitError
from amlexec.expressions.limits import LIMITS

__all__ = [
    "BINARY_CONTENT",
    "BINARY_CONTENT_TYPE",
    "dotnet_double_text",
    "is_binary",
    "is_number",
    "json_double_text",
    "to_json_text",
    "to_text",
    "type_name",
    "utf8_bytes",
    "utf16_len",
    "utf16_slice",
]

# Binary values (from binary(), base64ToBinary(), xml() ...) travel as these two-key objects, as in the engine.
BINARY_CONTENT_TYPE = "$content-type"
BINARY_CONTENT = "$content"


def is_number(value: object) -> bool:
    """True for int, float and decimal, never for bool (a Python bool is an int, the engine's Boolean is not)."""
    kind = type(value)
    return kind is int or kind is float or kind is DecimalNumber


def type_name(value: object) -> str:
    """The engine's name for a value's type, as used in its error messages."""
    if value is None:
        return "Null"
    if value is True or value is False:
        return "Boolean"
    if type(value) is int:
        return "Integer"
    if type(value) is float or type(value) is DecimalNumber:
        return "Float"  # the engine's JTokenType for both doubles and decimals
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    return type(value).__name__


def is_binary(value: object) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 2
        and isinstance(value.get(BINARY_CONTENT), str)
        and isinstance(value.get(BINARY_CONTENT_TYPE), str)
    )


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip significant digits and the power of ten of the first digit.

    Python's ``repr`` and .NET Core 3.0+ both produce the shortest string that reads back to the same
    double, so the digits agree; only the layout differs.
    """
    text = repr(abs(value))
    if "e" in text:
        mantissa, _, exponent_text = text.partition("e")
        exponent = int(exponent_text)
        digits = mantissa.replace(".", "")
    else:
        whole, _, fraction = text.partition(".")
        if whole != "0":
            exponent = len(whole) - 1
            digits = whole + fraction
        else:
            stripped = fraction.lstrip("0")
            exponent = -(len(fraction) - len(stripped)) - 1
            digits = stripped
    digits = digits.lstrip("0").rstrip("0") or "0"
    return digits, exponent


def _layout(value: float, *, json_style: bool) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + ("0.0" if json_style else "0")
    digits, exponent = _shortest_digits(value)
    # Measured on the engine: plain notation for 1E-04 <= |x| < 1E+17, scientific (E+XX, E-XX) otherwise.
    if exponent < -4 or exponent >= 17:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}E{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        text = "0." + "0" * (-exponent - 1) + digits
    elif len(digits) <= exponent + 1:
        text = digits + "0" * (exponent + 1 - len(digits))
        if json_style:
            text += ".0"
    else:
        text = digits[: exponent + 1] + "." + digits[exponent + 1 :]
    return sign + text


def dotnet_double_text(value: float) -> str:
    """``double.ToString()`` in .NET Core 3.0+, invariant culture: ``1``, ``0.1``, ``1E-05``, ``1E+20``."""
    return _layout(value, json_style=False)


def json_double_text(value: float) -> str:
    """A double as Newtonsoft.Json writes it: like .NET, plus ``.0`` when the text would look integral."""
    return _layout(value, json_style=True)


_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\u0085": "\\u0085",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _json_string(text: str) -> str:
    # Newtonsoft's default escaping: quotes, backslash, control characters and three line separators;
    # everything else (including non-ASCII) is written as is.
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    out = ['"']
    for char in text:
        escaped = _JSON_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def to_json_text(value: Any) -> str:
    """Compact JSON as Newtonsoft.Json writes it (no spaces, doubles keep ``.0``, non-ASCII unescaped).

    Iterative, so deeply nested input cannot exhaust Python's stack; output length is capped.
    """
    parts: list[str] = []
    size = 0
    limit = LIMITS.max_string_length
    # The stack holds either values still to write or literal text to emit.
    stack: list[tuple[bool, Any]] = [(False, value)]
    while stack:
        is_text, item = stack.pop()
        if is_text:
            piece = item
        elif item is None:
            piece = "null"
        elif item is True:
            piece = "true"
        elif item is False:
            piece = "false"
        elif type(item) is int:
            piece = str(item)
        elif type(item) is float:
            # Recorded: Newtonsoft writes NaN and the infinities as strings ("NaN"), not as bare words.
            piece = json_double_text(item) if math.isfinite(item) else f'"{json_double_text(item)}"'
        elif type(item) is DecimalNumber:
            piece = decimal_text(item)
            if "." not in piece:  # Newtonsoft writes a decimal with a decimal point: 12.0
                piece += ".0"
        elif isinstance(item, str):
            piece = _json_string(item)
        elif isinstance(item, list):
            if not item:
                piece = "[]"
            else:
                stack.append((True, "]"))
                for index in range(len(item) - 1, -1, -1):
                    stack.append((False, item[index]))
                    if index:
                        stack.append((True, ","))
                piece = "["
        elif isinstance(item, dict):
            if not item:
                piece = "{}"
            else:
                stack.append((True, "}"))
                entries = list(item.items())
                for index in range(len(entries) - 1, -1, -1):
                    key, member = entries[index]
                    stack.append((False, member))
                    stack.append((True, _json_string(str(key)) + ":"))
                    if index:
                        stack.append((True, ","))
                piece = "{"
        else:
            raise ExpressionEvaluationError(f"cannot write a value of type {type(item).__name__} as JSON")
        parts.append(piece)
        size += len(piece)
        if size > limit:
            raise ExpressionLimitError(f"text longer than {limit} characters")
    return "".join(parts)


def to_text(value: Any) -> str:
    """Text of a value as ``string()``, ``concat()`` and ``@{...}`` produce it (.NET conventions).

    null -> ``""``; booleans -> ``True``/``False``; doubles -> .NET shortest form (``1``, ``1E-05``);
    arrays and objects -> compact JSON; binary values -> their decoded content (UTF-8).
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if value is True:
        return "True"
    if value is False:
        return "False"
    if type(value) is int:
        if not -(2**63) <= value < 2**63:
            # Recorded: a BigInteger from json() is no IConvertible, so string(), concat() and @{...} refuse it
            # (inside an array or object it is written as JSON).
            raise ExpressionEvaluationError("cannot convert an integer outside the 64-bit range to text")
        return str(value)
    if type(value) is float:
        return dotnet_double_text(value)
    if type(value) is DecimalNumber:
        return decimal_text(value)
    if isinstance(value, dict) and is_binary(value):
        try:
            return base64.b64decode(value[BINARY_CONTENT], validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return to_json_text(value)
    return to_json_text(value)


def utf8_bytes(text: str) -> bytes:
    """UTF-8 bytes as .NET's ``Encoding.UTF8`` writes them: an unpaired surrogate becomes U+FFFD.

    JSON text may carry lone surrogates (``"\\ud83d"``), which Python's strict encoder refuses; the engine's
    strings are UTF-16, so a surrogate pair held as two characters is one character to it.
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, which is what the engine counts (an emoji is 2)."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for char in text if char > "\uffff")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _to_units(text: str) -> str:
    # Represent each UTF-16 code unit as one Python character (surrogates kept as lone code points).
    return "".join(
        chr(0xD800 + ((ord(char) - 0x10000) >> 10)) + chr(0xDC00 + ((ord(char) - 0x10000) & 0x3FF))
        if char > "\uffff"
        else char
        for char in text
    )


def _from_units(units: str) -> str:
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def utf16_units(text: str) -> str:
    """The text with astral characters split into surrogate pairs, so indexes count UTF-16 code units."""
    if text.isascii() or all(char <= "\uffff" for char in text):
        return text
    return _to_units(text)


def utf16_join(units: str) -> str:
    """Inverse of ``utf16_units``: recombine surrogate pairs (lone halves stay as they are)."""
    if units.isascii() or _SURROGATE.search(units) is None:
        return units
    try:
        return _from_units(units)
    except UnicodeDecodeError:
        return units


def utf16_slice(text: str, start: int, stop: int | None) -> str:
    """``text[start:stop]`` measured in UTF-16 code units."""
    return utf16_join(utf16_units(text)[start:stop])
