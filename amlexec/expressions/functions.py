"""The built-in function library (everything except dates, which live in ``dates.py``).

Each function is a ``FunctionSpec`` keyed by its lower-case name in ``FUNCTIONS``; ``DATE_FUNCTIONS`` from
``dates.py`` is merged in. Behaviour follows the Data Factory / Logic Apps engine as measured with the
oracle (``tests/oracle``): argument types are checked strictly (``add('1', 2)`` fails), integers stay
64-bit and overflow is an error, ``indexOf``/``startsWith``/``endsWith`` ignore case while ``contains``,
``replace`` and ``equals`` do not, string positions count UTF-16 code units.

``if``, ``and``, ``or`` and ``coalesce`` are declared here but evaluated lazily by the evaluator.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any
from urllib.parse import quote, unquote_plus, unquote_to_bytes, urlsplit

from amlexec.expressions import dotnet_decimal
from amlexec.expressions.collation import compare_text
from amlexec.expressions.dates import DATE_FUNCTIONS
from amlexec.expressions.dotnet_decimal import DecimalNumber, DecimalOverflow
from amlexec.expressions.errors import ExpressionEvaluationError, ExpressionLimitError
from amlexec.expressions.jsontext import parse_json
from amlexec.expressions.limits import LIMITS
from amlexec.expressions.numformat import NumberFormatError, format_number, parse_culture_float
from amlexec.expressions.registry import CallContext, FunctionImpl, FunctionSpec
from amlexec.expressions.values import (
    BINARY_CONTENT,
    BINARY_CONTENT_TYPE,
    is_binary,
    is_number,
    to_text,
    type_name,
    utf8_bytes,
    utf16_join,
    utf16_len,
    utf16_units,
)
from amlexec.expressions.xml_functions import fn_xml, fn_xpath, xml_to_json

__all__ = ["CONTEXT_FUNCTIONS", "FUNCTIONS", "NONDETERMINISTIC_FUNCTIONS"]

Args = Sequence[Any]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_ORDINALS = ("first", "second", "third", "fourth")


def _fail(name: str, message: str) -> ExpressionEvaluationError:
    return ExpressionEvaluationError(f"function '{name}' {message}")


def _wrong_type(name: str, index: int, expected: str, value: Any) -> ExpressionEvaluationError:
    return _fail(name, f"expects its {_ORDINALS[index]} argument to be {expected}, got {type_name(value)}")


def _str(name: str, args: Args, index: int) -> str:
    value = args[index]
    if not isinstance(value, str):
        raise _wrong_type(name, index, "a string", value)
    return value


def _int(name: str, args: Args, index: int) -> int:
    value = args[index]
    if type(value) is not int:
        raise _wrong_type(name, index, "an integer", value)
    _check_int64(name, value)
    return int(value)


def _number(name: str, args: Args, index: int) -> int | float:
    value = args[index]
    if not is_number(value):
        raise _wrong_type(name, index, "a number (integer or float)", value)
    _check_int64(name, value)
    return value  # type: ignore[no-any-return]


def _is_big(value: Any) -> bool:
    """An integer beyond 64 bits: only json() makes one (Newtonsoft reads it as a BigInteger)."""
    return type(value) is int and not INT64_MIN <= value <= INT64_MAX


def _check_int64(name: str, value: Any) -> None:
    # The engine's functions convert their arguments through IConvertible, which BigInteger is not, so each
    # refuses such a number. Python would compute with it, or fail converting it to a float (OverflowError).
    if _is_big(value):
        raise _fail(name, "cannot use an integer outside the 64-bit range (Object must implement IConvertible)")


def _int32(value: int) -> int:
    return ((value + 2**31) % 2**32) - 2**31


def _checked(name: str, value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise _fail(name, "caused an arithmetic overflow (the result does not fit in a 64-bit integer)")
    return value


# ---------------------------------------------------------------------------------------------- strings


# Simple (one-to-one) case mapping, like .NET's invariant ToUpper/ToLower: 'ß' stays 'ß'.
# Python knows only the full mappings; where a full upper mapping expands but Unicode's simple one
# exists (Greek letters with ypogegrammeni, 'ᾳ' -> 'ᾼ'), use the simple one. Recorded: dotless 'ı'
# stays 'ı' (as 'İ' stays 'İ' in toLower): .NET's invariant casing leaves the Turkish i's alone.
_SIMPLE_UPPER = {
    **{chr(code): chr(code + 8) for base in (0x1F80, 0x1F90, 0x1FA0) for code in range(base, base + 8)},
    "\u1fb3": "\u1fbc",
    "\u1fc3": "\u1fcc",
    "\u1ff3": "\u1ffc",
    "\u0131": "\u0131",
}


def _upper(text: str) -> str:
    if text.isascii():
        return text.upper()
    return "".join(_SIMPLE_UPPER.get(c) or (u if len(u := c.upper()) == 1 else c) for c in text)


def _lower(text: str) -> str:
    if text.isascii():
        return text.lower()
    return "".join(u if len(u := c.lower()) == 1 else c for c in text)


def _fold(text: str) -> str:
    """Length-preserving case folding for ordinal ignore-case searches."""
    return _upper(text)


def _bounded_join(name: str, texts: Iterable[str], separator: str = "") -> str:
    """Join ``texts``, refusing as soon as the result would pass the string limit (before building it)."""
    parts: list[str] = []
    total = 0
    for text in texts:
        total += len(text) + (len(separator) if parts else 0)
        if total > LIMITS.max_string_length:
            raise ExpressionLimitError(
                f"function '{name}' would build a string of more than {LIMITS.max_string_length} characters"
            )
        parts.append(text)
    return separator.join(parts)


def fn_concat(args: Args, _: CallContext) -> str:
    return _bounded_join("concat", (to_text(arg) for arg in args))


def fn_substring(args: Args, _: CallContext) -> str:
    text = _str("substring", args, 0)
    start = _int32(_int("substring", args, 1))
    units = utf16_units(text)
    if start < 0 or start >= len(units):
        raise _fail("substring", f"start index {start} is out of range for a string of length {len(units)}")
    if len(args) < 3:
        return utf16_join(units[start:])
    length = _int32(_int("substring", args, 2))
    if length < 0 or start + length > len(units):
        raise _fail(
            "substring",
            f"start index {start} plus length {length} must be no larger than the string's length {len(units)}",
        )
    return utf16_join(units[start : start + length])


def fn_replace(args: Args, _: CallContext) -> str:
    text = _str("replace", args, 0)
    old = _str("replace", args, 1)
    new = _str("replace", args, 2)
    if not old:
        raise _fail("replace", "cannot replace an empty string (second argument)")
    if new and text.count(old) * (len(new) - len(old)) + len(text) > LIMITS.max_string_length:
        raise ExpressionLimitError(
            f"function 'replace' would build a string over {LIMITS.max_string_length} characters"
        )
    return text.replace(old, new)


def fn_to_lower(args: Args, _: CallContext) -> str:
    return _lower(_str("toLower", args, 0))


def fn_to_upper(args: Args, _: CallContext) -> str:
    return _upper(_str("toUpper", args, 0))


# .NET Char.IsWhiteSpace (Python's str.strip() also strips U+001C..U+001F, which .NET keeps).
_DOTNET_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def fn_trim(args: Args, _: CallContext) -> str:
    return _str("trim", args, 0).strip(_DOTNET_WHITESPACE)


def _search_args(name: str, args: Args) -> tuple[str, str]:
    return _fold(utf16_units(_str(name, args, 0))), _fold(utf16_units(_str(name, args, 1)))


def fn_index_of(args: Args, _: CallContext) -> int:
    text, sought = _search_args("indexOf", args)
    return text.find(sought)


def fn_last_index_of(args: Args, _: CallContext) -> int:
    text, sought = _search_args("lastIndexOf", args)
    return text.rfind(sought)


def fn_nth_index_of(args: Args, _: CallContext) -> int:
    text, sought = _search_args("nthIndexOf", args)
    occurrence = _int32(_int("nthIndexOf", args, 2))
    # Recorded: an empty sought string is found at 0 before the occurrence is checked (even 0 passes).
    if not sought:
        return 0
    if occurrence == 0:
        raise _fail("nthIndexOf", "expects its third argument to be a non-zero integer")
    if occurrence > 0:
        position = -1
        for _attempt in range(min(occurrence, len(text) + 1)):
            position = text.find(sought, position + 1)
            if position < 0:
                return -1
        return position if occurrence <= len(text) + 1 else -1
    position = len(text) + 1
    for _attempt in range(min(-occurrence, len(text) + 1)):
        position = text.rfind(sought, 0, max(position - 1 + len(sought), 0))
        if position < 0:
            return -1
    return position if -occurrence <= len(text) + 1 else -1


def fn_split(args: Args, _: CallContext) -> list[str]:
    text = _str("split", args, 0)
    separator = _str("split", args, 1)
    if not separator:
        return [text]
    if text.count(separator) + 1 > LIMITS.max_collection_length:
        raise ExpressionLimitError(f"function 'split' would build more than {LIMITS.max_collection_length} parts")
    return text.split(separator)


def fn_starts_with(args: Args, _: CallContext) -> bool:
    text, sought = _search_args("startsWith", args)
    return text.startswith(sought)


def fn_ends_with(args: Args, _: CallContext) -> bool:
    text, sought = _search_args("endsWith", args)
    return text.endswith(sought)


def fn_guid(args: Args, _: CallContext) -> str:
    layout = _str("guid", args, 0) if args else "D"
    value = uuid.uuid4()
    if layout == "N":
        return value.hex
    if layout == "D":
        return str(value)
    if layout == "B":
        return "{" + str(value) + "}"
    if layout == "P":
        return "(" + str(value) + ")"
    if layout == "X":
        raw = value.hex
        tail = ",".join(f"0x{raw[i : i + 2]}" for i in range(16, 32, 2))
        return f"{{0x{raw[0:8]},0x{raw[8:12]},0x{raw[12:16]},{{{tail}}}}}"
    raise _fail("guid", f"does not support the format {layout!r}; the formats are N, D, B, P and X")


def _slice_bounds(length: int, start: int, end: int | None) -> tuple[int, int]:
    # JavaScript-style slice: negative positions count from the end; out-of-range positions clamp.
    def clamp(position: int) -> int:
        if position < 0:
            return max(length + position, 0)
        return min(position, length)

    low = clamp(start)
    high = length if end is None else clamp(end)
    return low, max(low, high)


def fn_slice(args: Args, _: CallContext) -> str:
    units = utf16_units(_str("slice", args, 0))
    start = _int32(_int("slice", args, 1))
    end = _int32(_int("slice", args, 2)) if len(args) > 2 else None
    low, high = _slice_bounds(len(units), start, end)
    return utf16_join(units[low:high])


_DOTNET_ARRAY_MAX_LENGTH = 0x7FFFFFC7


def fn_chunk(args: Args, _: CallContext) -> list[Any]:
    collection = args[0]
    size = _int("chunk", args, 1)
    if not isinstance(collection, (str, list)):
        raise _wrong_type("chunk", 0, "a string or an array", collection)
    # Recorded: the engine converts the size with a checked Int32 conversion (no wrapping here).
    if not -(2**31) <= size < 2**31:
        raise _fail("chunk", f"chunk size {size} is too large or too small for a 32-bit integer")
    if size < 1:
        raise _fail("chunk", f"expects a chunk size of at least 1, got {size}")
    if isinstance(collection, str):
        units = utf16_units(collection)
        return [utf16_join(units[i : i + size]) for i in range(0, len(units), size)]
    # Recorded: for arrays the engine preallocates a list of the chunk size, which .NET refuses beyond
    # Array.MaxLength (0x7FFFFFC7), even for an empty array.
    if size > _DOTNET_ARRAY_MAX_LENGTH:
        raise _fail("chunk", f"chunk size {size} exceeds the largest supported array ({_DOTNET_ARRAY_MAX_LENGTH})")
    return [collection[i : i + size] for i in range(0, len(collection), size)]


def fn_length(args: Args, _: CallContext) -> int:
    value = args[0]
    if isinstance(value, str):
        return utf16_len(value)
    if isinstance(value, list):
        return len(value)
    raise _wrong_type("length", 0, "an array or a string", value)


# ------------------------------------------------------------------------------------------ collections


def _strict_equals(left: Any, right: Any) -> bool:
    """Equality of JSON tokens as ``contains``/``union``/``intersection`` use it: 2 and 2.0 differ."""
    stack = [(left, right)]
    while stack:
        a, b = stack.pop()
        if type(a) is not type(b):
            # Recorded: a double and a decimal are both Float tokens and compare as decimals (1.1 and 1.10).
            if _is_float_token(a) and _is_float_token(b) and _decimal_order(a, b) == 0:
                continue
            return False
        if isinstance(a, list):
            if len(a) != len(b):
                return False
            stack.extend(zip(a, b, strict=True))
        elif isinstance(a, dict):
            if len(a) != len(b) or a.keys() != b.keys():
                return False
            stack.extend((a[key], b[key]) for key in a)
        elif _is_nan(a) and _is_nan(b):
            continue  # recorded: JSON tokens compare NaN equal to NaN (contains([NaN], NaN) is true)
        elif a != b or (type(a) is float and math.copysign(1, a) != math.copysign(1, b)):
            return False
    return True


def _is_float_token(value: Any) -> bool:
    return type(value) is float or type(value) is DecimalNumber


def _decimal_order(left: Any, right: Any, name: str | None = None) -> int | None:
    """Order of two numbers one of which is a decimal. A double beyond a decimal's range fails function
    ``name`` (recorded: equals(decimal('1'), 1E+30) is an overflow), or gives None without a name."""
    try:
        return dotnet_decimal.compare(left, right)
    except DecimalOverflow:
        if name is None:
            return None
        raise _fail(name, "caused an arithmetic overflow (a number is outside the range of a decimal)") from None


def _find_key(mapping: dict[str, Any], key: str) -> str | None:
    if key in mapping:
        return key
    folded = key.lower()
    for name in mapping:
        if name.lower() == folded:
            return name
    return None


def fn_contains(args: Args, _: CallContext) -> bool:
    collection, item = args
    if isinstance(collection, str):
        if not isinstance(item, str):
            raise _fail("contains", f"expects a substring (a string) when searching a string, got {type_name(item)}")
        return item in collection
    if isinstance(collection, list):
        return any(_strict_equals(member, item) for member in collection)
    if isinstance(collection, dict):
        if not isinstance(item, str):
            raise _fail("contains", f"expects a key (a string) when searching an object, got {type_name(item)}")
        return _find_key(collection, item) is not None
    raise _wrong_type("contains", 0, "an object, an array or a string", collection)


def fn_empty(args: Args, _: CallContext) -> bool:
    value = args[0]
    if value is None:
        return True
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    raise _wrong_type("empty", 0, "an object, an array or a string", value)


def fn_first(args: Args, _: CallContext) -> Any:
    value = args[0]
    if isinstance(value, str):
        return utf16_join(utf16_units(value)[:1])
    if isinstance(value, list):
        return value[0] if value else None
    raise _wrong_type("first", 0, "an array or a string", value)


def fn_last(args: Args, _: CallContext) -> Any:
    value = args[0]
    if isinstance(value, str):
        return utf16_join(utf16_units(value)[-1:])
    if isinstance(value, list):
        return value[-1] if value else None
    raise _wrong_type("last", 0, "an array or a string", value)


def fn_join(args: Args, _: CallContext) -> str:
    items = args[0]
    if not isinstance(items, list):
        raise _wrong_type("join", 0, "an array", items)
    separator = _str("join", args, 1)
    return _bounded_join("join", (to_text(item) for item in items), separator)


def _same_kind(name: str, args: Args) -> type:
    kinds = {type(arg) for arg in args}
    if len(kinds) != 1 or not kinds <= {list, dict}:
        names = ",".join(type_name(arg) for arg in args)
        if len(kinds) == 1:
            raise _fail(name, f"expects arrays or objects, got {names}")
        raise _fail(name, f"expects arguments of one type (all arrays or all objects), got {names}")
    return kinds.pop()


def _strict_key(value: Any) -> str:
    """A text key equal for two values exactly when ``_strict_equals`` holds (built without recursion).

    Types are tagged so 1, 1.0 and true stay apart; object keys are sorted (key order never matters); a NaN
    gets a key of its own, since NaN equals nothing.
    """
    out: list[str] = []
    stack: list[Any] = [value]
    close = object()
    while stack:
        node = stack.pop()
        if node is close:
            out.append(")")
        elif isinstance(node, tuple) and len(node) == 2 and node[0] is close:
            out.append(json.dumps(node[1]) + ":")
        elif node is None:
            out.append("n")
        elif isinstance(node, bool):
            out.append("t" if node else "f")
        elif isinstance(node, int):
            out.append(f"i{node},")
        elif type(node) is DecimalNumber:
            # Recorded: union() keeps a decimal apart from an equal double, as .NET's hash codes differ.
            out.append(f"m{dotnet_decimal.to_exact(node).normalize(dotnet_decimal.EXACT)},")
        elif isinstance(node, float):
            out.append(f"d{node!r},")  # NaN too: union() keeps one NaN (recorded)
        elif isinstance(node, str):
            out.append("s" + json.dumps(node))
        elif isinstance(node, list):
            out.append("[")
            stack.append(close)
            stack.extend(reversed(node))
        elif isinstance(node, dict):
            out.append("{")
            stack.append(close)
            for key in sorted(node, reverse=True):
                stack.append(node[key])
                stack.append((close, key))
        else:
            out.append(f"?{id(node)},")
    return "".join(out)


def _distinct(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    seen: set[str] = set()
    for item in items:
        key = _strict_key(item)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def fn_union(args: Args, _: CallContext) -> Any:
    kind = _same_kind("union", args)
    if kind is dict:
        merged: dict[str, Any] = {}
        for mapping in args:
            merged.update(mapping)
        return merged
    combined = [item for items in args for item in items]
    if len(combined) > LIMITS.max_collection_length * 4:
        raise ExpressionLimitError("function 'union' was given too many elements")
    return _distinct(combined)


def fn_intersection(args: Args, _: CallContext) -> Any:
    kind = _same_kind("intersection", args)
    if kind is dict:
        first = args[0]
        return {
            key: value
            for key, value in first.items()
            if all(key in other and _strict_equals(other[key], value) for other in args[1:])
        }
    others = [{_strict_key(member) for member in other} for other in args[1:]]
    return [item for item in _distinct(list(args[0])) if all(_strict_key(item) in keys for keys in others)]


def _count_arg(name: str, args: Args) -> int:
    # The engine takes counts and indexes as 32-bit integers: a 64-bit value wraps (2147483648 is negative).
    count = _int32(_int(name, args, 1))
    if count < 0:
        raise _fail(name, f"expects a count of 0 or more, got {count}")
    return count


def fn_take(args: Args, _: CallContext) -> Any:
    collection = args[0]
    count = _count_arg("take", args)
    if isinstance(collection, str):
        return utf16_join(utf16_units(collection)[:count])
    if isinstance(collection, list):
        return collection[:count]
    raise _wrong_type("take", 0, "an array or a string", collection)


def fn_skip(args: Args, _: CallContext) -> Any:
    collection = args[0]
    count = _count_arg("skip", args)
    if isinstance(collection, str):
        return utf16_join(utf16_units(collection)[count:])
    if isinstance(collection, list):
        return collection[count:]
    raise _wrong_type("skip", 0, "an array or a string", collection)


def fn_create_array(args: Args, _: CallContext) -> list[Any]:
    return list(args)


def _sort_key_compare(name: str, left: Any, right: Any) -> int:
    # Recorded: booleans sort among numbers as 0 and 1 (sort([2.5, 1, true]) is [1, true, 2.5], ties stable).
    if (is_number(left) or type(left) is bool) and (is_number(right) or type(right) is bool):
        a, b = int(left) if type(left) is bool else left, int(right) if type(right) is bool else right
        if _is_nan(a) or _is_nan(b):
            return _is_nan(b) - _is_nan(a)  # recorded: NaN sorts first, as .NET's CompareTo orders it
        if type(a) is DecimalNumber or type(b) is DecimalNumber:
            order = _decimal_order(a, b)
            if order is not None:
                return order
        return int(a > b) - int(a < b)
    if isinstance(left, str) and isinstance(right, str):
        # sort() orders strings ordinally (by UTF-16 code unit), unlike less().
        a, b = utf16_units(left), utf16_units(right)
        return (a > b) - (a < b)
    if left is None and right is None:
        return 0
    raise _fail(name, f"cannot compare {type_name(left)} with {type_name(right)} while sorting")


def fn_sort(args: Args, _: CallContext) -> list[Any]:
    items = args[0]
    if not isinstance(items, list):
        raise _wrong_type("sort", 0, "an array", items)
    if len(args) > 1:  # recorded: a null sort key is refused, not read as none
        key = _str("sort", args, 1)

        def pick(item: dict[str, Any] | Any) -> Any:
            if not isinstance(item, dict):
                raise _fail("sort", f"did not find the sort key {key!r} on every object in the array")
            found = _find_key(item, key)
            if found is None:
                raise _fail("sort", f"did not find the sort key {key!r} on every object in the array")
            return item[found]

        def by_key(left: tuple[Any, Any], right: tuple[Any, Any]) -> int:
            return _sort_key_compare("sort", left[0], right[0])

        keyed = [(pick(item), item) for item in items]
        keyed.sort(key=cmp_to_key(by_key))
        return [item for _, item in keyed]
    return sorted(items, key=cmp_to_key(lambda a, b: _sort_key_compare("sort", a, b)))


def fn_reverse(args: Args, _: CallContext) -> list[Any]:
    items = args[0]
    if not isinstance(items, list):
        raise _wrong_type("reverse", 0, "an array", items)
    return items[::-1]


# ------------------------------------------------------------------------------------------- logical


def fn_equals(args: Args, _: CallContext) -> bool:
    # Top-level numbers compare by value (1 equals 1.0); nested values compare as JSON tokens.
    # Recorded: equals takes two or more values and is true when all are equal; when all are numbers and
    # any is a float, all compare as doubles (equals(2**53 + 1, 2**53, 2.0**53) is true).
    if all(is_number(value) for value in args):
        for value in args:
            _check_int64("equals", value)
        if any(type(value) is DecimalNumber for value in args):
            # With a decimal all compare as decimals (a NaN beside one is an overflow, recorded).
            return all(_decimal_order(args[0], value, "equals") == 0 for value in args[1:])
        if any(_is_nan(value) for value in args):
            return False  # recorded: equals(NaN, NaN) is false, as == says
        numbers = [float(value) for value in args] if any(type(v) is float for v in args) else list(args)
        return all(_numeric_order(numbers[0], value) == 0 for value in numbers[1:])
    return all(_strict_equals(args[0], value) for value in args[1:])


def fn_strong_equals(args: Args, context: CallContext) -> bool:
    # equals() for values of one type only: the engine refuses 1 and '1' outright (numbers are one type).
    # Recorded: like equals() it takes two or more values.
    kinds = {"Float": "Integer"}
    names = [type_name(value) for value in args]
    types = {kinds.get(name, name) for name in names}
    # Recorded: null pairs with a string, an object or an array (reference types), not with a number or a boolean.
    nullable = {"Null", "String", "Object", "Array"}
    with_null = "Null" in types and len(types) == 2 and types <= nullable
    if len(types) > 1 and not with_null:
        raise _fail("strongEquals", f"expects parameters of same type, but found '{','.join(names)}' distinct types")
    return fn_equals(args, context)


def _numeric_order(left: int | float, right: int | float, name: str | None = None) -> int:
    # Mixed int/float comparisons happen in double precision, as in .NET; with a decimal, in decimal.
    if type(left) is DecimalNumber or type(right) is DecimalNumber:
        order = _decimal_order(left, right, name)
        if order is not None:
            return order
    if type(left) is not type(right):
        left, right = float(left), float(right)
    return (left > right) - (left < right)


def _is_nan(value: Any) -> bool:
    return type(value) is float and math.isnan(value)


def _compare(name: str, args: Args) -> int | None:
    """-1, 0 or 1; None when NaN makes the two unordered (then less, greater and the rest are all false)."""
    left, right = args
    if is_number(left) and is_number(right):
        _check_int64(name, left)
        _check_int64(name, right)
        if _is_nan(left) or _is_nan(right):
            return None
        return _numeric_order(left, right, name)
    if isinstance(left, str) and isinstance(right, str):
        return compare_text(left, right)
    for value in (left, right):
        if not (is_number(value) or isinstance(value, str)):
            raise _fail(name, f"expects two numbers or two strings, got {type_name(value)}")
    raise _fail(name, f"expects two arguments of matching types, got {type_name(left)} and {type_name(right)}")


def fn_less(args: Args, _: CallContext) -> bool:
    order = _compare("less", args)
    return order is not None and order < 0


def fn_less_or_equals(args: Args, _: CallContext) -> bool:
    order = _compare("lessOrEquals", args)
    return order is not None and order <= 0


def fn_greater(args: Args, _: CallContext) -> bool:
    order = _compare("greater", args)
    return order is not None and order > 0


def fn_greater_or_equals(args: Args, _: CallContext) -> bool:
    order = _compare("greaterOrEquals", args)
    return order is not None and order >= 0


def _bool(name: str, args: Args, index: int) -> bool:
    value = args[index]
    if value is not True and value is not False:
        raise _wrong_type(name, index, "a boolean", value)
    return bool(value)


def fn_and(args: Args, _: CallContext) -> bool:
    return all(_check_bool("and", arg, i) for i, arg in enumerate(args))


def fn_or(args: Args, _: CallContext) -> bool:
    return any(_check_bool("or", arg, i) for i, arg in enumerate(args))


def _check_bool(name: str, value: Any, index: int) -> bool:
    if value is not True and value is not False:
        raise _fail(name, f"expects booleans; argument {index + 1} is {type_name(value)}")
    return bool(value)


def fn_not(args: Args, _: CallContext) -> bool:
    return not _bool("not", args, 0)


def fn_if(args: Args, _: CallContext) -> Any:
    return args[1] if _bool("if", args, 0) else args[2]


def fn_coalesce(args: Args, _: CallContext) -> Any:
    return next((arg for arg in args if arg is not None), None)


# ---------------------------------------------------------------------------------------- conversion


def fn_string(args: Args, _: CallContext) -> str:
    return to_text(args[0])


def fn_int(args: Args, _: CallContext) -> int:
    value = args[0]
    if value is True or value is False:
        return int(value)
    if type(value) is int:
        # The engine converts through a double, so values that round to 2**63 overflow.
        if _is_big(value) or not -(2.0**63) <= float(value) < 2.0**63:
            raise _fail("int", f"cannot convert {value} to a 64-bit integer")
        return int(value)
    number: float | None = None
    if type(value) is DecimalNumber:
        exact = value.exact
        if exact == exact.to_integral_value() and INT64_MIN <= exact <= INT64_MAX:
            return int(exact)
        raise _fail("int", f"cannot convert {to_text(value)[:100]!r} (Float) to an integer")
    if type(value) is float:
        number = value
    elif isinstance(value, str):
        number = parse_culture_float(value, "en-US")
    if number is not None and math.isnan(number):
        return INT64_MIN  # recorded: int('NaN') is what x64 makes of (long)NaN
    if number is not None and math.isfinite(number) and number == int(number) and -(2.0**63) <= number < 2.0**63:
        return int(number)
    raise _fail("int", f"cannot convert {to_text(value)[:100]!r} ({type_name(value)}) to an integer")


def fn_float(args: Args, _: CallContext) -> float:
    value = args[0]
    if len(args) > 1:
        return _culture_float(value, args[1])
    if type(value) is DecimalNumber:
        return dotnet_decimal.to_double(value)
    if is_number(value) or value is True or value is False:
        if _is_big(value):
            raise _fail("float", "cannot convert an integer outside the 64-bit range to a float")
        return float(value)
    if isinstance(value, str):
        number = parse_culture_float(value, "en-US")
        if number is not None:
            return number
    raise _fail("float", f"cannot convert {to_text(value)[:100]!r} ({type_name(value)}) to a float")


def _culture_float(value: Any, culture: Any) -> float:
    """float(text, culture): the text read with the culture's separators (recorded: '1.000,5' in de-DE)."""
    if culture is True or culture is False or is_number(culture):
        # Recorded: a boolean or a number is read as its text, which ICU may take for a culture name of its
        # own ('True', 'Infinity': parsed as en-US) or refuse ('1', '1.5': not an RFC 4646 identifier).
        culture = to_text(culture)
    if not isinstance(value, str):
        raise _fail(
            "float", "expects its first parameter to be a string when a culture is supplied in the second parameter"
        )
    if not isinstance(culture, str):
        raise _fail("float", "was invoked with a parameter that is not valid: the value cannot be converted to a float")
    try:
        number = parse_culture_float(value, culture)
    except ExpressionEvaluationError:
        raise _fail(
            "float", f"expects an RFC 4646 culture identifier as its second parameter; {culture!r} is not supported"
        ) from None
    if number is None:
        raise _fail("float", f"cannot convert {value[:100]!r} to a float in culture {culture!r}")
    return number


def fn_bool(args: Args, _: CallContext) -> bool:
    value = args[0]
    if value is True or value is False:
        return bool(value)
    if is_number(value):
        return bool(value != 0)
    if isinstance(value, str):
        word = value.strip(_DOTNET_WHITESPACE).lower()
        if word in ("true", "false"):
            return word == "true"
    raise _fail("bool", f"cannot convert {to_text(value)[:100]!r} ({type_name(value)}) to a boolean")


def fn_json(args: Args, _: CallContext) -> Any:
    value = args[0]
    if is_binary(value):
        # Recorded: an xml() value becomes Newtonsoft's JSON of the document; other binary content is read
        # as JSON text (json(base64ToBinary('IjEi')) is "1").
        content = _decode_b64("json", str(value[BINARY_CONTENT])).decode("utf-8", "replace")
        if _media_type(str(value[BINARY_CONTENT_TYPE])) == "application/xml":
            return xml_to_json(content)
        return parse_json(content)
    if not isinstance(value, str):
        raise _wrong_type("json", 0, "a string", value)
    return parse_json(value)


def fn_array(args: Args, _: CallContext) -> list[Any]:
    value = args[0]
    return value if isinstance(value, list) else [value]


def fn_decimal(args: Args, _: CallContext) -> DecimalNumber:
    # Recorded: the engine parses the value's text as a .NET decimal, so a double written with an exponent
    # (1E+20, 1E-05) is refused like the text '1e3', and decimal(-0.0) is 0.
    value = args[0]
    if type(value) is DecimalNumber:
        return value
    if is_number(value):
        if _is_big(value):
            raise _fail("decimal", "cannot convert an integer outside the 64-bit range to a decimal number")
        # Recorded: a double's text here has 15 significant digits (decimal(0.30000000000000004) is 0.3).
        value = format_number(value, "G15", "en-US") if type(value) is float else str(value)
    if isinstance(value, str):
        number = dotnet_decimal.from_text(value)
        if number is not None:
            return number
    raise _fail("decimal", f"cannot convert {to_text(value)[:100]!r} ({type_name(value)}) to a decimal number")


def _encodable_text(name: str, value: Any) -> str:
    if isinstance(value, (str, list, dict)):
        return to_text(value)
    raise _wrong_type(name, 0, "a string, an object or an array", value)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def fn_base64(args: Args, _: CallContext) -> str:
    value = args[0]
    if is_binary(value):
        return str(value[BINARY_CONTENT])
    return _b64(utf8_bytes(_encodable_text("base64", value)))


def _decode_b64(name: str, text: str) -> bytes:
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(name, f"cannot decode {text[:100]!r} from base64") from None


def fn_base64_to_string(args: Args, _: CallContext) -> str:
    return _decode_b64("base64ToString", _str("base64ToString", args, 0)).decode("utf-8", "replace")


def _binary(data: bytes, content_type: str = "application/octet-stream") -> dict[str, str]:
    return {BINARY_CONTENT_TYPE: content_type, BINARY_CONTENT: _b64(data)}


def fn_base64_to_json(args: Args, _: CallContext) -> Any:
    text = _decode_b64("base64ToJson", _str("base64ToJson", args, 0)).decode("utf-8", "replace")
    try:
        if not text.strip():  # json('') is null; an empty decoded string is no JSON to this function
            raise ExpressionEvaluationError("empty")
        return parse_json(text)
    except ExpressionEvaluationError:
        raise _fail("base64ToJson", "the decoded string is not a valid json serialized value") from None


def fn_base64_to_binary(args: Args, _: CallContext) -> dict[str, str]:
    text = _str("base64ToBinary", args, 0)
    _decode_b64("base64ToBinary", text)  # refused unless it is base64
    # Recorded: the content is the text as given, white space and all (base64ToBinary(' aGVsbG8= ')).
    return {BINARY_CONTENT_TYPE: "application/octet-stream", BINARY_CONTENT: text}


def fn_binary(args: Args, _: CallContext) -> dict[str, str]:
    value = args[0]
    if value is None:
        raise _fail("binary", "cannot convert null to binary")
    if is_binary(value):
        return dict(value)
    return _binary(utf8_bytes(to_text(value)))


def fn_data_uri(args: Args, _: CallContext) -> str:
    value = args[0]
    if value is None:
        raise _fail("dataUri", "cannot convert null to a data URI")
    if is_binary(value):
        return f"data:{value[BINARY_CONTENT_TYPE]};base64,{value[BINARY_CONTENT]}"
    if isinstance(value, str):
        return "data:text/plain;charset=utf-8;base64," + _b64(utf8_bytes(value))
    return "data:application/json;charset=utf-8;base64," + _b64(utf8_bytes(to_text(value)))


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


# The character sets .NET knows without a code-page provider, by the names the engine accepts, and the
# Python codec that reads them the same way (utf-16 and utf-32 are little-endian there, without a BOM).
_DOTNET_CHARSETS = {
    "utf-8": "utf-8",
    "utf-16": "utf-16-le",
    "unicode": "utf-16-le",
    "utf-16be": "utf-16-be",
    "unicodefffe": "utf-16-be",
    "utf-32": "utf-32-le",
    "utf-32be": "utf-32-be",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "iso-8859-1": "latin-1",
    "latin1": "latin-1",
}


def _codec(name: str, charset: str) -> str:
    codec = _DOTNET_CHARSETS.get(charset.lower())
    if codec is None:
        raise _fail(name, f"cannot decode the data: the character set {charset!r} is not supported")
    return codec


def _decode_text(name: str, data: bytes, charset: str) -> str:
    codec = _codec(name, charset)
    if codec == "ascii":  # .NET's ASCII decoder writes '?' for every byte above 0x7F
        return bytes(byte if byte < 0x80 else 0x3F for byte in data).decode("ascii")
    return data.decode(codec, "replace")


def _data_uri_charset(content_type: str) -> str | None:
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            return value.strip()
    return None


_DATA_URI = re.compile(r"^data:(?P<type>[^,]*?)(?P<b64>;base64)?,(?P<data>.*)$", re.DOTALL | re.IGNORECASE)


def _parse_data_uri(name: str, args: Args) -> tuple[str, bytes]:
    """The media type and parameters as written (possibly empty) and the decoded data."""
    text = _str(name, args, 0)
    match = _DATA_URI.match(text)
    if match is None:
        raise _fail(name, f"expects a data URI ('data:[<media type>][;base64],<data>'), got {text[:100]!r}")
    content_type = match.group("type")
    data = match.group("data")
    if match.group("b64"):
        return content_type, _decode_b64(name, data)
    return content_type, unquote_to_bytes(utf8_bytes(data))


def fn_data_uri_to_string(args: Args, _: CallContext) -> str:
    content_type, data = _parse_data_uri("dataUriToString", args)
    charset = _data_uri_charset(content_type)
    if charset is not None and charset.lower() != "utf-8":
        # Recorded: dataUriToString reads UTF-8 only (us-ascii, utf-16 and utf8 are all refused).
        raise _fail("dataUriToString", f"parameter is not valid: the charset {charset!r} is not supported")
    return data.decode("utf-8", "replace")


def fn_decode_data_uri(args: Args, _: CallContext) -> Any:
    """decodeDataUri: text for text/* (US-ASCII unless a charset says otherwise), JSON for a JSON media
    type, a binary value for anything else (recorded on the engine)."""
    content_type, data = _parse_data_uri("decodeDataUri", args)
    if content_type.startswith(";"):
        raise _fail("decodeDataUri", "expects a data URI with a media type before its parameters")
    charset = _data_uri_charset(content_type)
    media = _media_type(content_type)
    if not content_type or media.startswith("text/"):
        return _decode_text("decodeDataUri", data, charset or "us-ascii")
    if media == "application/json" or media.endswith("+json"):
        text = _decode_text("decodeDataUri", data, charset or "us-ascii")
        try:
            return parse_json(text)
        except ExpressionEvaluationError as error:
            raise _fail("decodeDataUri", f"the data is not valid JSON ({error})") from None
    if charset is not None:
        _codec("decodeDataUri", charset)  # an unknown character set is refused here too
        return _binary(data, content_type)
    return _binary(data, content_type + ";charset=us-ascii")


def fn_data_uri_to_binary(args: Args, _: CallContext) -> dict[str, str]:
    content_type, data = _parse_data_uri("dataUriToBinary", args)
    charset = _data_uri_charset(content_type)
    if charset is not None and charset.lower() not in _DOTNET_CHARSETS:
        raise _fail("dataUriToBinary", f"the content type's character set {charset!r} is not valid")
    return _binary(data, content_type or "text/plain")


def fn_uri_component(args: Args, _: CallContext) -> str:
    # Uri.EscapeDataString: only A-Z a-z 0-9 - _ . ~ stay as they are; since .NET Core 3.0 an unpaired
    # surrogate is escaped as U+FFFD rather than refused.
    return quote(utf8_bytes("".join(to_text(arg) for arg in args)), safe="-_.~")


def fn_uri_component_to_string(args: Args, _: CallContext) -> str:
    # Recorded: the engine decodes UTF-8 bytes, so an unpaired surrogate in the text comes back as U+FFFD.
    text = utf8_bytes(_str("uriComponentToString", args, 0)).decode("utf-8")
    return unquote_plus(text, errors="replace")


def fn_uri_component_to_binary(args: Args, _: CallContext) -> dict[str, str]:
    text = unquote_plus(_str("uriComponentToBinary", args, 0), errors="replace")
    return _binary(utf8_bytes(text))


def fn_is_int(args: Args, _: CallContext) -> bool:
    text = _str("isInt", args, 0).strip(_DOTNET_WHITESPACE)
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return False
    # More than 19 significant digits never fits, and int() refuses text over 4300 digits outright.
    if len(text.lstrip("+-").lstrip("0")) > 19:
        return False
    return INT64_MIN <= int(text) <= INT64_MAX


def fn_is_float(args: Args, _: CallContext) -> bool:
    text = _str("isFloat", args, 0)
    # Recorded: without a culture isFloat reads the invariant culture (isFloat('Infinity') is true), where
    # float() reads en-US (float('Infinity') is refused, float('∞') is not).
    culture = _str("isFloat", args, 1) if len(args) > 1 and args[1] is not None else ""
    return parse_culture_float(text, culture) is not None


def fn_format_number(args: Args, _: CallContext) -> str:
    number = _number("formatNumber", args, 0)
    if type(number) is DecimalNumber:
        number = dotnet_decimal.to_double(number)  # recorded: formatted as its double (decimal('2.5') 'F0' is 2)
    pattern = _str("formatNumber", args, 1)
    # Recorded: a null culture is refused (formatNumber(0, 'F2', null)), not read as the default.
    culture = _str("formatNumber", args, 2) if len(args) > 2 else "en-US"
    try:
        return format_number(number, pattern, culture)
    except NumberFormatError as error:  # only the refusals format_number means: any other error is a bug
        raise _fail("formatNumber", str(error)) from None


# ---------------------------------------------------------------------------------------------- math


def _decimal_math(name: str, operation: Callable[[Any, Any], DecimalNumber], left: Any, right: Any) -> DecimalNumber:
    try:
        return operation(left, right)
    except DecimalOverflow:
        raise _fail(name, "caused an arithmetic overflow (the result is outside the range of a decimal)") from None
    except ZeroDivisionError:
        raise _fail(name, "cannot divide by zero") from None


def _has_decimal(left: Any, right: Any) -> bool:
    return type(left) is DecimalNumber or type(right) is DecimalNumber


def fn_add(args: Args, _: CallContext) -> int | float:
    left, right = _number("add", args, 0), _number("add", args, 1)
    if _has_decimal(left, right):
        return _decimal_math("add", dotnet_decimal.add, left, right)
    if type(left) is int and type(right) is int:
        return _checked("add", left + right)
    return float(left) + float(right)


def fn_sub(args: Args, _: CallContext) -> int | float:
    left, right = _number("sub", args, 0), _number("sub", args, 1)
    if _has_decimal(left, right):
        return _decimal_math("sub", dotnet_decimal.subtract, left, right)
    if type(left) is int and type(right) is int:
        return _checked("sub", left - right)
    return float(left) - float(right)


def fn_mul(args: Args, _: CallContext) -> int | float:
    left, right = _number("mul", args, 0), _number("mul", args, 1)
    if _has_decimal(left, right):
        return _decimal_math("mul", dotnet_decimal.multiply, left, right)
    if type(left) is int and type(right) is int:
        return _checked("mul", left * right)
    return float(left) * float(right)


def _int_quotient(dividend: int, divisor: int) -> int:
    quotient = abs(dividend) // abs(divisor)
    return quotient if (dividend >= 0) == (divisor > 0) else -quotient


def fn_div(args: Args, _: CallContext) -> int | float:
    left, right = _number("div", args, 0), _number("div", args, 1)
    if right == 0:
        raise _fail("div", "cannot divide by zero")
    if _has_decimal(left, right):
        return _decimal_math("div", dotnet_decimal.divide, left, right)
    if type(left) is int and type(right) is int:
        return _checked("div", _int_quotient(left, right))
    return float(left) / float(right)


def fn_mod(args: Args, _: CallContext) -> int | float:
    left, right = _number("mod", args, 0), _number("mod", args, 1)
    if right == 0:
        raise _fail("mod", "cannot divide by zero")
    if _has_decimal(left, right):
        return _decimal_math("mod", dotnet_decimal.remainder, left, right)
    if type(left) is int and type(right) is int:
        if left == INT64_MIN and right == -1:
            raise _fail("mod", "caused an arithmetic overflow")
        return left - right * _int_quotient(left, right)
    return math.fmod(float(left), float(right))


def _extreme(name: str, args: Args, pick: Callable[..., Any]) -> int | float:
    values = list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)
    if not values:
        raise _fail(name, "expects at least one number")
    for value in values:
        if not is_number(value):
            raise _fail(name, f"expects numbers, got {type_name(value)}")
        _check_int64(name, value)
    if any(type(value) is DecimalNumber for value in values):
        # Recorded: with a decimal among them all compare as decimals and the pick becomes one (the first
        # of equal values: min(decimal('1.00'), 1) is 1.00, min(1, decimal('1.00')) is 1).
        def order(left: Any, right: Any) -> int:
            return _decimal_order(left, right, name) or 0

        chosen = pick(values, key=cmp_to_key(order))
        try:
            return dotnet_decimal.convert(chosen)
        except DecimalOverflow:
            raise _fail(name, "caused an arithmetic overflow (a number is outside the range of a decimal)") from None
    any_float = any(type(value) is float for value in values)
    if any(_is_nan(value) for value in values):
        # Recorded: the engine orders as CompareTo does, NaN below every number: min of a NaN is NaN, max
        # passes it over (max(2, NaN, 1) is 2) unless every value is NaN.
        if name == "min" or all(_is_nan(value) for value in values):
            return math.nan
        values = [value for value in values if not _is_nan(value)]
    result = pick(values)
    # Any float among the inputs makes the result a float, as in the engine.
    return float(result) if any_float else result


def fn_min(args: Args, _: CallContext) -> int | float:
    return _extreme("min", args, min)


def fn_max(args: Args, _: CallContext) -> int | float:
    return _extreme("max", args, max)


def fn_range(args: Args, _: CallContext) -> list[int]:
    start = _int32(_int("range", args, 0))
    count = _int32(_int("range", args, 1))
    if count < 0 or count > LIMITS.max_range_count or start + count - 1 > 2**31 - 1:
        raise _fail(
            "range",
            f"expects a count from 0 to {LIMITS.max_range_count} and start + count - 1 no larger than "
            f"2147483647; got start {start}, count {count}",
        )
    return list(range(start, start + count))


def fn_rand(args: Args, _: CallContext) -> int:
    low = _int32(_int("rand", args, 0))
    high = _int32(_int("rand", args, 1))
    if low > high:
        raise _fail("rand", f"expects the minimum ({low}) to be no greater than the maximum ({high})")
    if low == high:
        return low
    # .NET Random.Next(min, max): the maximum is exclusive.
    return low + secrets.randbelow(high - low)


# ----------------------------------------------------------------------------------------------- URIs

_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443, "ldap": 389, "nntp": 119, "mailto": 25}


@dataclass(frozen=True)
class _UriParts:
    """What .NET's System.Uri reports for the URI functions (recorded from the engine)."""

    scheme: str
    host: str
    port: int
    path: str
    query: str  # with its '?', or ""


def _non_ascii_escaped(text: str) -> str:
    # System.Uri percent-encodes non-ASCII characters of the path and query as UTF-8 (the host keeps them).
    return "".join(ch if ord(ch) < 128 else "".join(f"%{b:02X}" for b in ch.encode("utf-8")) for ch in text)


def _uri(name: str, args: Args) -> _UriParts:
    text = _str(name, args, 0)
    stripped = text.strip()
    try:
        parts = urlsplit(stripped)
        explicit_port = parts.port
    except ValueError:
        parts, explicit_port = None, None
    malformed = any(char in text for char in ' <>"{}|^`')
    if parts is None or malformed or not parts.scheme:
        raise _fail(name, f"expects a well-formed absolute URI, got {text[:100]!r}")
    scheme = parts.scheme.lower()
    before_fragment = stripped.partition("#")[0]
    query = "?" + _non_ascii_escaped(parts.query) if "?" in before_fragment else ""
    if parts.netloc or scheme == "file":
        # urlsplit drops a bare '?', which the engine keeps (hence the check on the text itself).
        host = str(parts.hostname or "")
        port = explicit_port if explicit_port is not None else _DEFAULT_PORTS.get(scheme, -1)
        return _UriParts(scheme, host, port, _non_ascii_escaped(parts.path or "/"), query)
    # No authority: a non-hierarchical URI (mailto:, urn:, news:, tel:, data:). mailto's address is its host.
    rest = before_fragment[len(parts.scheme) + 1 :]
    if scheme == "mailto":
        address = rest.partition("?")[0]
        host_and_port = address.rpartition("@")[2]
        host, _, port_text = host_and_port.partition(":")
        port = int(port_text) if port_text.isdigit() else _DEFAULT_PORTS["mailto"]
        return _UriParts(scheme, host, port, "", query)
    return _UriParts(scheme, "", -1, _non_ascii_escaped(rest), "")


def fn_uri_host(args: Args, _: CallContext) -> str:
    host = _uri("uriHost", args).host
    return f"[{host}]" if ":" in host else host


def fn_uri_path(args: Args, _: CallContext) -> str:
    return _uri("uriPath", args).path


def fn_uri_path_and_query(args: Args, _: CallContext) -> str:
    parts = _uri("uriPathAndQuery", args)
    return parts.path + parts.query


def fn_uri_port(args: Args, _: CallContext) -> int:
    return _uri("uriPort", args).port


def fn_uri_query(args: Args, _: CallContext) -> str:
    return _uri("uriQuery", args).query


def fn_uri_scheme(args: Args, _: CallContext) -> str:
    return _uri("uriScheme", args).scheme


# -------------------------------------------------------------------------------------------- objects


def _object(name: str, args: Args) -> dict[str, Any]:
    value = args[0]
    if not isinstance(value, dict):
        raise _wrong_type(name, 0, "an object", value)
    return value


def _property_name(name: str, args: Args) -> str:
    key = _str(name, args, 1)
    invalid = [symbol for symbol in "[]." if symbol in key]
    if invalid:
        raise _fail(
            name,
            f"the property name {key!r} has these invalid characters '{', '.join(invalid)}'; "
            "the name cannot contain any of '[', ']', '.'",
        )
    return key


def fn_add_property(args: Args, _: CallContext) -> dict[str, Any]:
    mapping = _object("addProperty", args)
    key = _property_name("addProperty", args)
    if _find_key(mapping, key) is not None:
        raise _fail("addProperty", f"cannot add property {key!r}: the object already has it")
    return {**mapping, key: args[2]}


def fn_set_property(args: Args, _: CallContext) -> dict[str, Any]:
    mapping = _object("setProperty", args)
    key = _property_name("setProperty", args)
    existing = _find_key(mapping, key)
    if existing is None:
        return {**mapping, key: args[2]}
    # Recorded: the engine removes the property and adds it again, so it moves to the end (keeping its
    # original spelling): setProperty({"a":1,"b":2}, 'A', 0) is {"b":2,"a":0}.
    updated = {name: value for name, value in mapping.items() if name != existing}
    updated[existing] = args[2]
    return updated


def fn_remove_property(args: Args, _: CallContext) -> dict[str, Any]:
    mapping = _object("removeProperty", args)
    key = _property_name("removeProperty", args)
    existing = _find_key(mapping, key)
    return {name: value for name, value in mapping.items() if name != existing}


# -------------------------------------------------------------------------------------------- context


# Data Factory always runs an expression inside a pipeline, so pipeline() is an object even when the
# caller supplied nothing; the other roots exist only in some places (a ForEach, a trigger) and must be given.
_ALWAYS_PRESENT = frozenset({"pipeline"})


def _context_value(context: CallContext, root: str) -> Any:
    values = getattr(context, "context", None)
    if root in _ALWAYS_PRESENT and (not isinstance(values, dict) or root not in values):
        return {}
    if not isinstance(values, dict) or root not in values:
        raise ExpressionEvaluationError(f"'{root}()' is not available here: the context has no '{root}'")
    return values[root]


def _named_entry(context: CallContext, root: str, function: str, args: Args) -> Any:
    name = _str(function, args, 0)
    entries = _context_value(context, root)
    if isinstance(entries, dict):
        key = _find_key(entries, name)
        if key is not None:
            return entries[key]
    raise ExpressionEvaluationError(f"{function}('{name}') cannot be found in the context")


def _root_function(root: str) -> FunctionImpl:
    def impl(_args: Args, context: CallContext) -> Any:
        return _context_value(context, root)

    return impl


def fn_variables(args: Args, context: CallContext) -> Any:
    return _named_entry(context, "variables", "variables", args)


def fn_activity(args: Args, context: CallContext) -> Any:
    return _named_entry(context, "activity", "activity", args)


def _trigger_outputs(context: CallContext, function: str) -> dict[str, Any]:
    trigger = _context_value(context, "trigger")
    outputs = trigger.get("outputs") if isinstance(trigger, dict) else None
    if not isinstance(outputs, dict):
        raise ExpressionEvaluationError(f"'{function}()' is not available here: this trigger has no outputs")
    return outputs


def fn_trigger_outputs(_args: Args, context: CallContext) -> Any:
    # The same value as trigger().outputs (the recorded engine: triggerOutputs() is {"body": triggerBody()}).
    return _trigger_outputs(context, "triggerOutputs")


def fn_trigger_body(_args: Args, context: CallContext) -> Any:
    # Data Factory documents triggerBody() as the event trigger's body, the same value as trigger().outputs.body
    # (storage events: folderPath and fileName; custom events: event). Any other trigger has none.
    outputs = _trigger_outputs(context, "triggerBody")
    if "body" not in outputs:
        raise ExpressionEvaluationError(
            "'triggerBody()' is not available here: only a storage or custom event trigger has a body"
        )
    return outputs["body"]


def _spec(name: str, min_args: int, max_args: int | None, impl: FunctionImpl) -> FunctionSpec:
    return FunctionSpec(name=name, min_args=min_args, max_args=max_args, impl=impl)


_CORE_SPECS = [
    # strings
    _spec("concat", 1, None, fn_concat),
    _spec("substring", 2, 3, fn_substring),
    _spec("replace", 3, 3, fn_replace),
    _spec("toLower", 1, 1, fn_to_lower),
    _spec("toUpper", 1, 1, fn_to_upper),
    _spec("trim", 1, 1, fn_trim),
    _spec("indexOf", 2, 2, fn_index_of),
    _spec("lastIndexOf", 2, 2, fn_last_index_of),
    _spec("nthIndexOf", 3, 3, fn_nth_index_of),
    _spec("split", 2, 2, fn_split),
    _spec("startsWith", 2, 2, fn_starts_with),
    _spec("endsWith", 2, 2, fn_ends_with),
    _spec("guid", 0, 1, fn_guid),
    _spec("slice", 2, 3, fn_slice),
    _spec("chunk", 2, 2, fn_chunk),
    _spec("length", 1, 1, fn_length),
    _spec("isInt", 1, 1, fn_is_int),
    _spec("isFloat", 1, 2, fn_is_float),
    _spec("formatNumber", 2, 3, fn_format_number),
    # collections
    _spec("contains", 2, 2, fn_contains),
    _spec("empty", 1, 1, fn_empty),
    _spec("first", 1, 1, fn_first),
    _spec("last", 1, 1, fn_last),
    _spec("join", 2, 2, fn_join),
    _spec("union", 2, None, fn_union),
    _spec("intersection", 2, None, fn_intersection),
    _spec("take", 2, 2, fn_take),
    _spec("skip", 2, 2, fn_skip),
    _spec("createArray", 1, None, fn_create_array),
    _spec("sort", 1, 2, fn_sort),
    _spec("reverse", 1, 1, fn_reverse),
    # logical
    _spec("equals", 2, None, fn_equals),
    _spec("strongEquals", 2, None, fn_strong_equals),
    _spec("less", 2, 2, fn_less),
    _spec("lessOrEquals", 2, 2, fn_less_or_equals),
    _spec("greater", 2, 2, fn_greater),
    _spec("greaterOrEquals", 2, 2, fn_greater_or_equals),
    _spec("and", 1, None, fn_and),
    _spec("or", 1, None, fn_or),
    _spec("not", 1, 1, fn_not),
    _spec("if", 3, 3, fn_if),
    # conversion
    _spec("string", 1, 1, fn_string),
    _spec("int", 1, 1, fn_int),
    _spec("float", 1, 2, fn_float),
    _spec("bool", 1, 1, fn_bool),
    _spec("decimal", 1, 1, fn_decimal),
    _spec("json", 1, 1, fn_json),
    _spec("xml", 1, 1, fn_xml),
    _spec("xpath", 2, 2, fn_xpath),
    _spec("array", 1, 1, fn_array),
    _spec("coalesce", 1, None, fn_coalesce),
    _spec("base64", 1, 1, fn_base64),
    _spec("encodeBase64", 1, 1, fn_base64),
    _spec("base64ToString", 1, 1, fn_base64_to_string),
    _spec("base64ToJson", 1, 1, fn_base64_to_json),
    _spec("decodeBase64", 1, 1, fn_base64_to_string),
    _spec("base64ToBinary", 1, 1, fn_base64_to_binary),
    _spec("binary", 1, 1, fn_binary),
    _spec("dataUri", 1, 1, fn_data_uri),
    _spec("dataUriToString", 1, 1, fn_data_uri_to_string),
    _spec("decodeDataUri", 1, 1, fn_decode_data_uri),
    _spec("dataUriToBinary", 1, 1, fn_data_uri_to_binary),
    _spec("uriComponent", 1, None, fn_uri_component),
    _spec("encodeUriComponent", 1, None, fn_uri_component),
    _spec("uriComponentToString", 1, 1, fn_uri_component_to_string),
    _spec("decodeUriComponent", 1, 1, fn_uri_component_to_string),
    _spec("uriComponentToBinary", 1, 1, fn_uri_component_to_binary),
    # math
    _spec("add", 2, 2, fn_add),
    _spec("sub", 2, 2, fn_sub),
    _spec("mul", 2, 2, fn_mul),
    _spec("div", 2, 2, fn_div),
    _spec("mod", 2, 2, fn_mod),
    _spec("min", 1, None, fn_min),
    _spec("max", 1, None, fn_max),
    _spec("range", 2, 2, fn_range),
    _spec("rand", 2, 2, fn_rand),
    # URIs
    _spec("uriHost", 1, 1, fn_uri_host),
    _spec("uriPath", 1, 1, fn_uri_path),
    _spec("uriPathAndQuery", 1, 1, fn_uri_path_and_query),
    _spec("uriPort", 1, 1, fn_uri_port),
    _spec("uriQuery", 1, 1, fn_uri_query),
    _spec("uriScheme", 1, 1, fn_uri_scheme),
    # objects
    _spec("addProperty", 3, 3, fn_add_property),
    _spec("setProperty", 3, 3, fn_set_property),
    _spec("removeProperty", 2, 2, fn_remove_property),
    # context
    _spec("pipeline", 0, 0, _root_function("pipeline")),
    _spec("trigger", 0, 0, _root_function("trigger")),
    _spec("triggerBody", 0, 0, fn_trigger_body),
    _spec("triggerOutputs", 0, 0, fn_trigger_outputs),
    _spec("item", 0, 0, _root_function("item")),
    _spec("linkedService", 0, 0, _root_function("linkedService")),
    _spec("dataset", 0, 0, _root_function("dataset")),
    _spec("variables", 1, 1, fn_variables),
    _spec("activity", 1, 1, fn_activity),
]

# Functions whose value comes from the run's context rather than their arguments.
CONTEXT_FUNCTIONS = frozenset(
    {
        "pipeline",
        "trigger",
        "triggerbody",
        "triggeroutputs",
        "item",
        "linkedservice",
        "dataset",
        "variables",
        "activity",
    }
)
# Functions whose value changes from call to call.
NONDETERMINISTIC_FUNCTIONS = frozenset({"utcnow", "guid", "rand", "getfuturetime", "getpasttime"})

FUNCTIONS: dict[str, FunctionSpec] = {spec.name.lower(): spec for spec in _CORE_SPECS}
FUNCTIONS.update({name.lower(): spec for name, spec in DATE_FUNCTIONS.items()})
