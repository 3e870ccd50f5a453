"""Culture-aware number parsing and formatting for ``float``/``int``/``isFloat`` and ``formatNumber``.

Parsing follows .NET's ``NumberStyles.Float | AllowThousands``: surrounding white space, a leading sign,
group separators in the integer part, a decimal separator and an exponent. Formatting covers the .NET
standard formats (C, D, E, F, G, N, P, R, X with an optional precision) and the common custom pattern
characters (``0 # . , %`` and quoted literals, ``;`` sections). Rounding is done on the exact decimal
value of the double, half to even, as measured on the engine. A few cultures are known; any other
culture name falls back to en-US.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from amlexec.expressions.errors import ExpressionLimitError

__all__ = ["NumberFormatError", "format_number", "parse_culture_float"]


class NumberFormatError(ValueError):
    """A format the number cannot be written with ('D' for a float, an unknown standard letter)."""


@dataclass(frozen=True)
class Culture:
    decimal: str
    group: str
    currency: str
    currency_before: bool  # "$1.00" vs "1,00 €"
    percent_space: bool  # "50 %" vs "50%"
    currency_digits: int = 2


_CULTURES = {
    "en-us": Culture(".", ",", "$", True, False),
    "": Culture(".", ",", "¤", True, False),
    "en-gb": Culture(".", ",", "£", True, False),
    "de-de": Culture(",", ".", "€", False, True),
    "fr-fr": Culture(",", "\u202f", "€", False, True),
    "es-es": Culture(",", ".", "€", False, True),
    "it-it": Culture(",", ".", "€", False, False),
    "nl-nl": Culture(",", ".", "€", True, False),
    "ja-jp": Culture(".", ",", "￥", True, False, 0),
}


def _culture(name: str) -> Culture:
    return _CULTURES.get(name.lower(), _CULTURES["en-us"])


# Precision beyond this would only build huge strings; .NET allows more, amlexec refuses (a limit error).
_MAX_PRECISION = 1000


def _too_precise(places: int) -> ExpressionLimitError:
    return ExpressionLimitError(f"a format with {places} decimal places is more than the supported {_MAX_PRECISION}")


_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u2028\u2029\u202f\u3000"


def parse_culture_float(text: str, culture_name: str) -> float | None:
    """The double ``text`` denotes in the culture, or None if .NET would refuse it."""
    culture = _culture(culture_name)
    body = text.strip(_WHITESPACE)
    if body.lower() in ("nan", "-nan", "+nan"):
        return math.nan
    sign = ""
    if body[:1] in "+-" and body:
        sign, body = body[0], body[1:]
    group = re.escape(culture.group)
    decimal_separator = re.escape(culture.decimal)
    pattern = rf"(?P<int>[0-9](?:[0-9]|{group})*)?(?:{decimal_separator}(?P<frac>[0-9]*))?(?P<exp>[eE][+-]?[0-9]+)?"
    match = re.fullmatch(pattern, body)
    if match is None:
        return None
    whole = (match.group("int") or "").replace(culture.group, "")
    fraction = match.group("frac") or ""
    if not whole and not fraction:
        return None
    try:
        return float(f"{sign}{whole or '0'}.{fraction or '0'}{match.group('exp') or ''}")
    except (ValueError, OverflowError):
        return None


def _group(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return separator.join(parts)


def _fixed(value: Decimal, places: int) -> tuple[str, str]:
    """Integer and fraction digits of |value| rounded half to even to ``places`` decimals (as measured)."""
    quantum = Decimal(1).scaleb(-places)
    with localcontext(Context(prec=_MAX_PRECISION + 400)):
        rounded = abs(value).quantize(quantum, rounding=ROUND_HALF_EVEN)
    text = f"{rounded:f}"
    whole, _, fraction = text.partition(".")
    return whole, fraction


def _standard(number: int | float, kind: str, precision: int | None, culture: Culture) -> str:
    exact = Decimal(number)
    negative = exact < 0 or (isinstance(number, float) and math.copysign(1, number) < 0 and number != 0)
    sign = "-" if negative else ""
    upper = kind.upper()
    if upper == "D":
        if not isinstance(number, int):
            raise NumberFormatError("format 'D' is only valid for integers")
        digits = str(abs(number)).rjust(precision or 0, "0")
        return sign + digits
    if upper == "X":
        if not isinstance(number, int):
            raise NumberFormatError("format 'X' is only valid for integers")
        digits = format(number & 0xFFFFFFFFFFFFFFFF if number < 0 else number, "x").rjust(precision or 0, "0")
        return digits.upper() if kind == "X" else digits
    if upper in ("F", "N", "C", "P"):
        # Measured: the engine's default is 3 decimals for F, N and P (the culture's currency digits for C).
        default = culture.currency_digits if upper == "C" else 3
        places = default if precision is None else precision
        scaled = exact * 100 if upper == "P" else exact
        whole, fraction = _fixed(scaled, places)
        if upper != "F":
            whole = _group(whole, culture.group)
        body = whole + (culture.decimal + fraction if places else "")
        if upper == "P":
            return sign + body + (" %" if culture.percent_space else "%")
        if upper == "C":
            if culture.currency_before:
                return f"{sign}{culture.currency}{body}"
            return f"{sign}{body} {culture.currency}"
        return sign + body
    if upper == "E":
        places = 6 if precision is None else precision
        if exact == 0:
            mantissa, exponent = "0" + ("." + "0" * places if places else ""), 0
        else:
            exponent = abs(exact).adjusted()
            scaled = abs(exact).scaleb(-exponent)
            whole, fraction = _fixed(scaled, places)
            if whole == "10":
                exponent += 1
                whole, fraction = _fixed(abs(exact).scaleb(-exponent), places)
            mantissa = whole + (culture.decimal + fraction if places else "")
        return f"{sign}{mantissa}{kind}{'-' if exponent < 0 else '+'}{abs(exponent):03d}"
    if upper in ("G", "R"):
        from amlexec.expressions.values import dotnet_double_text

        if isinstance(number, int) and precision is None:
            return str(number)
        if precision is None or upper == "R":
            text = dotnet_double_text(float(number))
        else:
            text = f"{float(number):.{precision}g}"
            text = re.sub(r"e([+-])0*(\d\d)", r"E\1\2", text)
        return text.replace(".", culture.decimal) if culture.decimal != "." else text
    raise NumberFormatError(f"format {kind!r} is not a known standard format")


def _custom(number: int | float, pattern: str, culture: Culture) -> str:
    sections = _split_sections(pattern)
    value = Decimal(number)
    if value < 0 and len(sections) > 1:
        section, value = sections[1], -value
        force_sign = False
    elif value == 0 and len(sections) > 2:
        section = sections[2]
        force_sign = False
    else:
        section = sections[0]
        force_sign = value < 0
    value = abs(value)
    if "%" in section:
        value *= 100
    literal_free = re.sub(r"'[^']*'|\"[^\"]*\"|\\.", "", section)
    point = literal_free.find(".")
    integer_part = literal_free if point < 0 else literal_free[:point]
    fraction_part = "" if point < 0 else literal_free[point + 1 :]
    grouping = "," in integer_part.rstrip(",") and ("0" in integer_part or "#" in integer_part)
    # Trailing commas before the point divide by 1000 each.
    trailing_commas = len(integer_part) - len(integer_part.rstrip(","))
    value = value.scaleb(-3 * trailing_commas)
    places = sum(1 for c in fraction_part if c in "0#")
    if places > _MAX_PRECISION:
        # Rounding to that many places would overflow the decimal context below (InvalidOperation).
        raise _too_precise(places)
    required_places = sum(1 for c in fraction_part[: len(fraction_part.rstrip("#"))] if c == "0")
    whole, fraction = _fixed(value, places)
    fraction = fraction.rstrip("0").ljust(required_places, "0") if places else ""
    min_whole = sum(1 for c in integer_part[integer_part.find("0") :] if c == "0") if "0" in integer_part else 0
    whole = whole.lstrip("0").rjust(min_whole, "0")
    if grouping and whole:
        whole = _group(whole, culture.group)
    number_text = whole + (culture.decimal + fraction if fraction else "")
    # Re-insert literal text around the digit placeholders.
    out: list[str] = []
    placed = False
    index = 0
    while index < len(section):
        char = section[index]
        if char in "'\"":
            end = section.find(char, index + 1)
            end = len(section) if end < 0 else end
            out.append(section[index + 1 : end])
            index = end + 1
            continue
        if char == "\\" and index + 1 < len(section):
            out.append(section[index + 1])
            index += 2
            continue
        if char in "0#.,":
            if not placed:
                out.append(number_text)
                placed = True
        elif char == "%":
            out.append("%")
        else:
            out.append(char)
        index += 1
    text = "".join(out)
    if force_sign:
        text = "-" + text
    return text


def _split_sections(pattern: str) -> list[str]:
    sections: list[str] = []
    current: list[str] = []
    quote = ""
    for char in pattern:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == ";":
            sections.append("".join(current))
            current = []
        else:
            current.append(char)
    sections.append("".join(current))
    return sections[:3]


def format_number(number: int | float, pattern: str, culture_name: str) -> str:
    """``number.ToString(pattern, culture)`` for the standard and common custom .NET formats."""
    culture = _culture(culture_name)
    if isinstance(number, float) and not math.isfinite(number):
        return "NaN" if math.isnan(number) else ("∞" if number > 0 else "-∞")
    standard = re.fullmatch(r"([A-Za-z])(\d{0,9})", pattern)
    if standard:
        precision = int(standard.group(2)) if standard.group(2) else None
        if precision is not None and precision > _MAX_PRECISION:
            raise _too_precise(precision)
        return _standard(number, standard.group(1), precision, culture)
    if not pattern:
        return _standard(number, "G", None, culture)
    return _custom(number, pattern, culture)
