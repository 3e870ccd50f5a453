"""Culture-aware number parsing and formatting for ``float``/``int``/``isFloat`` and ``formatNumber``.

Parsing follows .NET's ``NumberStyles.Float | AllowThousands``: surrounding white space, a leading sign,
group separators in the integer part, a decimal separator and an exponent. Formatting covers the .NET
standard formats (C, D, E, F, G, N, P, R, X with an optional precision) and the common custom pattern
characters (``0 # . , %`` and quoted literals, ``;`` sections). Rounding is done on the exact decimal
value of the double, half to even, as measured on the engine (custom formats: 15 significant digits, half
away from zero). en-US (also for ``''``) is built in; other cultures come from ``cultures`` (CLDR via Babel,
loaded on first use).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext

from amlexec.expressions.errors import ExpressionLimitError

__all__ = ["NumberFormatError", "format_number", "parse_culture_float"]


class NumberFormatError(ValueError):
    """A format the number cannot be written with ('D' for a float, an unknown standard letter)."""


@dataclass(frozen=True)
class NumberCulture:
    """The slice of a .NET ``NumberFormatInfo`` that formatting and parsing use."""

    decimal: str
    group: str
    minus: str
    plus: str
    currency_symbol: str
    # (prefix, suffix) around the digits, with "¤" standing for the currency symbol and "-" for the sign.
    currency_positive: tuple[str, str]
    currency_negative: tuple[str, str]
    percent_positive: tuple[str, str]
    percent_negative: tuple[str, str]
    percent_symbol: str = "%"
    group_sizes: tuple[int, ...] = (3,)
    number_digits: int = 3  # default decimals of F, N, P (ICU cultures: the decimal pattern's 3)
    currency_digits: int = 2

    def with_currency(self, symbol: str) -> NumberCulture:
        return replace(self, currency_symbol=symbol)


EN_US_NUMBERS = NumberCulture(".", ",", "-", "+", "$", ("¤", ""), ("-¤", ""), ("", "%"), ("-", "%"))
INVARIANT_NUMBERS = NumberCulture(
    ".", ",", "-", "+", "¤", ("¤", ""), ("(¤", ")"), ("", " %"), ("-", " %"), number_digits=2
)


def _culture(name: str) -> NumberCulture:
    # formatNumber and isFloat read '' as the default culture (en-US), unlike the date functions.
    if name == "" or name.lower() in ("en-us", "en"):
        return EN_US_NUMBERS
    from amlexec.expressions.cultures import number_culture

    return number_culture(name)


# Precision beyond this would only build huge strings; .NET allows more, amlexec refuses (a limit error).
_MAX_PRECISION = 1000


def _too_precise(places: int) -> ExpressionLimitError:
    return ExpressionLimitError(f"a format with {places} decimal places is more than the supported {_MAX_PRECISION}")


_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u2028\u2029\u202f\u3000"


def parse_culture_float(text: str, culture_name: str) -> float | None:
    """The double ``text`` denotes in the culture, or None if .NET would refuse it."""
    if culture_name:
        from amlexec.expressions.cultures import check_float_culture

        check_float_culture(culture_name)
    culture = _culture(culture_name)
    body = text.strip(_WHITESPACE)
    if body.lower() in ("nan", "-nan", "+nan"):
        return math.nan
    sign = ""
    if body[:1] in "+-" and body:
        sign, body = body[0], body[1:]
    # Recorded: the culture's infinity symbol, without case: 'Infinity' in the invariant culture (''), '∞' in
    # the ICU cultures (float('∞') and float('Infinity', '') are infinite, float('Infinity') is refused).
    if body.lower() == ("infinity" if not culture_name else "∞"):
        return -math.inf if sign == "-" else math.inf
    # .NET also takes a plain space for a no-break-space group separator (fr-FR's U+202F, sv-SE's U+00A0),
    # but not the other no-break space.
    group = f"[ {culture.group}]" if culture.group in ("\u00a0", "\u202f") else re.escape(culture.group)
    decimal_separator = re.escape(culture.decimal)
    pattern = rf"(?P<int>[0-9](?:[0-9]|{group})*)?(?:{decimal_separator}(?P<frac>[0-9]*))?(?P<exp>[eE][+-]?[0-9]+)?"
    match = re.fullmatch(pattern, body)
    if match is None:
        return None
    whole = re.sub(group, "", match.group("int") or "")
    fraction = match.group("frac") or ""
    if not whole and not fraction:
        return None
    try:
        return float(f"{sign}{whole or '0'}.{fraction or '0'}{match.group('exp') or ''}")
    except (ValueError, OverflowError):
        return None


def _group(digits: str, separator: str, sizes: tuple[int, ...] = (3,)) -> str:
    """Insert group separators: the first size from the right, then the next, the last one repeating."""
    parts: list[str] = []
    end = len(digits)
    index = 0
    while end > 0:
        size = sizes[min(index, len(sizes) - 1)]
        if size <= 0:
            parts.append(digits[:end])
            break
        parts.append(digits[max(0, end - size) : end])
        end -= size
        index += 1
    return separator.join(reversed(parts))


def _fixed(value: Decimal, places: int, rounding: str = ROUND_HALF_EVEN) -> tuple[str, str]:
    """Integer and fraction digits of |value| rounded to ``places`` decimals (half to even, as measured)."""
    quantum = Decimal(1).scaleb(-places)
    with localcontext(Context(prec=_MAX_PRECISION + 400)):
        rounded = abs(value).quantize(quantum, rounding=rounding)
    text = f"{rounded:f}"
    whole, _, fraction = text.partition(".")
    return whole, fraction


def _standard(number: int | float, kind: str, precision: int | None, culture: NumberCulture) -> str:
    exact = Decimal(number)
    # Recorded: -0.0 keeps its sign (F2 gives -0.00, G gives -0).
    negative = exact < 0 or (isinstance(number, float) and math.copysign(1, number) < 0)
    sign = culture.minus if negative else ""
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
        # Measured: the engine's default is 3 decimals for F, N and P under ICU cultures (the decimal
        # pattern's maximum; 2 for the invariant culture) and the currency's digits for C.
        default = culture.currency_digits if upper == "C" else culture.number_digits
        places = default if precision is None else precision
        scaled = exact * 100 if upper == "P" else exact
        whole, fraction = _fixed(scaled, places)
        if upper != "F":
            whole = _group(whole, culture.group, culture.group_sizes)
        body = whole + (culture.decimal + fraction if places else "")
        if upper in ("P", "C"):
            if upper == "P":
                prefix, suffix = culture.percent_negative if negative else culture.percent_positive
                symbol = culture.percent_symbol
            else:
                prefix, suffix = culture.currency_negative if negative else culture.currency_positive
                symbol = culture.currency_symbol
            marker = "%" if upper == "P" else "¤"
            prefix = prefix.replace("-", culture.minus).replace(marker, symbol)
            suffix = suffix.replace("-", culture.minus).replace(marker, symbol)
            return prefix + body + suffix
        return sign + body
    if upper == "E":
        places = 6 if precision is None else precision
        if exact == 0:
            mantissa, exponent = "0" + (culture.decimal + "0" * places if places else ""), 0
        else:
            exponent = abs(exact).adjusted()
            scaled = abs(exact).scaleb(-exponent)
            whole, fraction = _fixed(scaled, places)
            if whole == "10":
                exponent += 1
                whole, fraction = _fixed(abs(exact).scaleb(-exponent), places)
            mantissa = whole + (culture.decimal + fraction if places else "")
        return f"{sign}{mantissa}{kind}{culture.minus if exponent < 0 else culture.plus}{abs(exponent):03d}"
    if upper in ("G", "R"):
        from amlexec.expressions.values import dotnet_double_text

        if isinstance(number, int) and precision is None:
            return str(number).replace("-", culture.minus)
        if precision is None or upper == "R":
            text = dotnet_double_text(float(number))
        else:
            text = f"{float(number):.{precision}g}"
            text = re.sub(r"e([+-])0*(\d\d)", r"E\1\2", text)
        if culture.decimal != "." or culture.minus != "-":
            text = text.replace(".", "\0").replace("-", culture.minus).replace("\0", culture.decimal)
        return text
    raise NumberFormatError(f"format {kind!r} is not a known standard format")


_EXPONENT = re.compile(r"[eE][+-]?0+")


def _pieces(section: str) -> list[tuple[int, int, str | None]]:
    """The section read once: ``(start, end, literal)`` for quoted text and backslash escapes (their text),
    ``(start, end, None)`` for every other character, which is a format character or printed as it is."""
    pieces: list[tuple[int, int, str | None]] = []
    index = 0
    while index < len(section):
        char = section[index]
        if char in "'\"":
            end = section.find(char, index + 1)
            end = len(section) if end < 0 else end
            pieces.append((index, end + 1, section[index + 1 : end]))
            index = end + 1
        elif char == "\\" and index + 1 < len(section):
            pieces.append((index, index + 2, section[index + 1]))
            index += 2
        else:
            pieces.append((index, index + 1, None))
            index += 1
    return pieces


def _exponent_marker(section: str) -> re.Match[str] | None:
    """The first ``E0``/``E+0``/``e-00``... outside quoted text: the section is then scientific."""
    literal = [(start, end) for start, end, text in _pieces(section) if text is not None]
    for match in _EXPONENT.finditer(section):
        if not any(start <= match.start() < end for start, end in literal):
            return match
    return None


def _emit(section: str, number_text: str, culture: NumberCulture, *, placed: bool = False) -> str:
    """The section's literal text with ``number_text`` where its first digit placeholder stands."""
    out: list[str] = []
    for start, _end, literal in _pieces(section):
        char = section[start]
        if literal is not None:
            out.append(literal)
        elif char in "0#.,":
            if not placed:
                out.append(number_text)
                placed = True
        elif char == "%":
            out.append(culture.percent_symbol)
        else:
            out.append(char)
    return "".join(out)


def _scientific(
    value: Decimal, integer_part: str, fraction_part: str, marker: str, culture: NumberCulture
) -> tuple[str, str, str]:
    """Integer digits, fraction digits and exponent text of |value| in a scientific custom format.

    Recorded: as many integer digits as there are placeholders before the point ('##0.0E+0' of 1234.5 is
    123.5E+1, '00.00E+0' of 1 is 10.00E-1), the mantissa rounded half away from zero (95 with '0E+0' is
    1E+2), 'E+' always signs the exponent, 'E'/'E-' only when negative, its '0's are its least digits.
    """
    whole_places = sum(1 for c in integer_part if c in "0#")
    places = sum(1 for c in fraction_part if c in "0#")
    required = sum(1 for c in fraction_part[: len(fraction_part.rstrip("#"))] if c == "0")
    exponent = 0
    if value and not whole_places + places:
        # Recorded: with no digit placeholders the number is rounded to no digits at all, so only a first digit
        # of 5 or more leaves an exponent (95 with 'E+0' is E+3, 1234.5 is E+0).
        first_digit = value.as_tuple().digits[0]
        exponent = value.adjusted() + 2 if first_digit >= 5 else 0
    elif value:
        exponent = value.adjusted() - (whole_places - 1)
        whole, fraction = _fixed(value.scaleb(-exponent), places, ROUND_HALF_UP)
        if len(whole.lstrip("0")) > whole_places:  # rounding carried into one more digit
            exponent += 1
    whole, fraction = _fixed(value.scaleb(-exponent), places, ROUND_HALF_UP)
    fraction = fraction.rstrip("0").ljust(required, "0") if places else ""
    # Recorded: every integer placeholder is a digit here, even a '#' ('##0.0E+0' of 0 is 000.0E+0).
    whole = whole.lstrip("0").rjust(whole_places, "0")
    # Recorded: the culture's signs (ar-SA's carry a letter mark: 'e\u061c-3').
    sign = culture.minus if exponent < 0 else (culture.plus if "+" in marker else "")
    digits = str(abs(exponent)).rjust(marker.count("0"), "0")
    return whole, fraction, marker[0] + sign + digits


def _custom(number: int | float, pattern: str, culture: NumberCulture) -> str:
    sections = _split_sections(pattern)
    # Measured: custom formats see a double as its 15 significant digits, rounded half away from zero
    # (0.125 with '0.00' is 0.13, where 'N2' gives 0.12).
    value = Decimal(f"{number:.14e}") if isinstance(number, float) else Decimal(number)
    if value < 0 and len(sections) > 1:
        section, value = sections[1], -value
        force_sign = False
    elif value == 0 and len(sections) > 2:
        section = sections[2]
        force_sign = False
    else:
        section = sections[0]
        force_sign = value.is_signed()  # recorded: -0.0 keeps its sign ('0.00' gives -0.00)
    value = abs(value)
    if "%" in section:
        value *= 100
    marker = _exponent_marker(section)
    mantissa_section = section[: marker.start()] if marker else section
    literal_free = re.sub(r"'[^']*'|\"[^\"]*\"|\\.", "", mantissa_section)
    point = literal_free.find(".")
    integer_part = literal_free if point < 0 else literal_free[:point]
    fraction_part = "" if point < 0 else literal_free[point + 1 :]
    places = sum(1 for c in fraction_part if c in "0#")
    if places > _MAX_PRECISION:
        # Rounding to that many places would overflow the decimal context below (InvalidOperation).
        raise _too_precise(places)
    grouping = "," in integer_part.rstrip(",") and ("0" in integer_part or "#" in integer_part)
    if marker is not None:
        whole, fraction, exponent_text = _scientific(value, integer_part, fraction_part, marker.group(), culture)
        if grouping and whole:  # recorded: '#,##0.0E+0' of 1234.5 is 1,234.5E+0
            whole = _group(whole, culture.group, culture.group_sizes)
        number_text = whole + (culture.decimal + fraction if fraction else "")
        has_digits = any(c in "0#" for c in integer_part + fraction_part)
        text = _emit(mantissa_section, number_text, culture, placed=not has_digits)
        text += exponent_text + _emit(section[marker.end() :], "", culture, placed=True)
        if force_sign:  # recorded: even with no digits ('E+0' of -0.012345 is -E+0)
            text = culture.minus + text
        return text
    # Trailing commas before the point divide by 1000 each.
    trailing_commas = len(integer_part) - len(integer_part.rstrip(","))
    value = value.scaleb(-3 * trailing_commas)
    required_places = sum(1 for c in fraction_part[: len(fraction_part.rstrip("#"))] if c == "0")
    whole, fraction = _fixed(value, places, ROUND_HALF_UP)
    fraction = fraction.rstrip("0").ljust(required_places, "0") if places else ""
    min_whole = sum(1 for c in integer_part[integer_part.find("0") :] if c == "0") if "0" in integer_part else 0
    whole = whole.lstrip("0").rjust(min_whole, "0")
    if grouping and whole:
        whole = _group(whole, culture.group, culture.group_sizes)
    number_text = whole + (culture.decimal + fraction if fraction else "")
    text = _emit(section, number_text, culture)
    # Recorded: '#' of -0.0 or '#.#' of -0.0001 is empty, with no sign; a format without placeholders keeps it
    # ('@{x}' of -0.0 is -@{x}).
    if force_sign and (number_text or not any(char in "0#" for char in literal_free)):
        text = culture.minus + text
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
