""".NET's ``decimal``, the type the engine's ``decimal()`` makes and its arithmetic keeps.

A .NET decimal is a 96-bit integer mantissa and a scale of 0 to 28 decimal places; trailing zeros are part
of the value (``decimal('1.10')`` prints ``1.10``, ``mul`` of it by itself ``1.2100``). Every result is
rounded half to even to the largest scale (at most 28) whose mantissa fits in 96 bits, and is an overflow
when even scale 0 does not fit. Python's ``decimal`` module computes exactly; this module only applies
those limits, parses text as ``decimal.Parse`` does, and converts doubles as ``Convert.ToDecimal`` does
(rounded to 15 significant digits). Every rule here was measured on the recorded engine
(``tests/expressions/cases/decimals.json``).

Values travel as ``DecimalNumber``: a ``float`` subclass holding the exact value, so that code treating
numbers as doubles (JSON output, the double the engine writes for a decimal) keeps working, while the
arithmetic and text functions look for the exact value. ``Template.evaluate`` turns them into plain floats
before a value leaves the expression package (``plain_numbers``), once any decimal was ever made (``MADE``),
so the common path pays one list lookup.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, Inexact, InvalidOperation
from typing import Any

__all__ = [
    "EXACT",
    "MADE",
    "DecimalNumber",
    "DecimalOverflow",
    "add",
    "compare",
    "convert",
    "decimal_text",
    "divide",
    "fit",
    "from_text",
    "multiply",
    "plain_numbers",
    "remainder",
    "subtract",
    "to_double",
    "to_exact",
]

MAX_MANTISSA = 2**96 - 1
MAX_SCALE = 28
# Exact for any two operands (a product of two 29-digit mantissas has 58 digits; a sum, 58 + 1).
EXACT = Context(prec=160, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999, traps=[InvalidOperation])
_QUOTIENT = Context(prec=160, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999, traps=[DivisionByZero])
# Set once this process has made a decimal, never reset: until then no result needs ``plain_numbers``.
MADE = [False]


class DecimalOverflow(ArithmeticError):
    """The value does not fit a .NET decimal (more than 2**96 - 1 at scale 0)."""


class DecimalNumber(float):
    """A .NET decimal: ``exact`` is its value with its scale; as a float it is the nearest double."""

    __slots__ = ("exact",)
    exact: Decimal

    def __new__(cls, exact: Decimal) -> DecimalNumber:
        number = super().__new__(cls, float(exact) or 0.0)  # a decimal zero has no sign as a double
        number.exact = exact
        MADE[0] = True
        return number

    def __reduce__(self) -> tuple[Any, ...]:
        return (DecimalNumber, (self.exact,))

    def __repr__(self) -> str:
        return f"DecimalNumber({decimal_text(self)!r})"


def _mantissa(value: Decimal, scale: int) -> int:
    return abs(int(value.scaleb(scale, EXACT)))


def fit(exact: Decimal, scale: int) -> DecimalNumber:
    """``exact`` at ``scale`` places (capped at 28), fewer places while the mantissa overflows 96 bits."""
    scale = max(0, min(scale, MAX_SCALE))
    while True:
        rounded = exact.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN, context=EXACT)
        if _mantissa(rounded, scale) <= MAX_MANTISSA:
            return DecimalNumber(rounded)
        if scale == 0:
            raise DecimalOverflow("the value is outside the range of a decimal")
        scale -= 1


_WHITE = "[ \t\n\v\f\r]*"
_NUMBER_STYLE = re.compile(
    rf"{_WHITE}(?P<lead>[+-])?(?P<whole>[0-9][0-9,]*)?(?:\.(?P<fraction>[0-9]*))?{_WHITE}(?P<trail>[+-])?{_WHITE}"
)


def from_text(text: str) -> DecimalNumber | None:
    """``decimal.Parse(text, NumberStyles.Number, invariant)``: None when the text is no decimal.

    Measured: white space around, a sign before or after (not both), ',' anywhere in the integer part after
    its first digit, no exponent, no currency or parentheses; digits past 28 places are rounded half to even.
    """
    match = _NUMBER_STYLE.fullmatch(text)
    if match is None:
        return None
    whole = (match["whole"] or "").replace(",", "")
    fraction = match["fraction"] or ""
    if not whole and not fraction:
        return None
    if match["lead"] and match["trail"]:
        return None
    negative = "-" in (match["lead"], match["trail"])
    exact = Decimal(f"{'-' if negative else ''}{whole or '0'}.{fraction}")
    try:
        return fit(exact, len(fraction))
    except DecimalOverflow:
        return None


def _from_double(value: float) -> Decimal:
    # Convert.ToDecimal(double): 15 significant digits, trailing zeros dropped (1.0 is 1, 0.1 + 2e-17 is 0.1).
    if not math.isfinite(value) or abs(value) > 7.9228162514264337e28:
        raise DecimalOverflow("the double is outside the range of a decimal")
    if abs(value) < 1e-28:
        return Decimal(0)
    rounded = Decimal(f"{value:.14e}").normalize(EXACT)
    exponent = rounded.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent > 0:
        rounded = rounded.quantize(Decimal(1), context=EXACT)
    return fit(rounded, -min(exponent, 0)).exact


def to_exact(value: Any) -> Decimal:
    """The exact decimal of an int, a double (as ``Convert.ToDecimal``) or a ``DecimalNumber``."""
    if type(value) is DecimalNumber:
        return value.exact
    if type(value) is int:
        return Decimal(value)
    return _from_double(float(value))


def _scale(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


def convert(value: Any) -> DecimalNumber:
    """An int, a double or a decimal as a decimal (a double as ``Convert.ToDecimal``: 0.1 + 2e-17 is 0.1)."""
    if type(value) is DecimalNumber:
        return value
    exact = to_exact(value)
    return fit(exact, _scale(exact))


def add(left: Any, right: Any) -> DecimalNumber:
    total = EXACT.add(to_exact(left), to_exact(right))
    return fit(total, _scale(total))


def subtract(left: Any, right: Any) -> DecimalNumber:
    difference = EXACT.subtract(to_exact(left), to_exact(right))
    return fit(difference, _scale(difference))


def multiply(left: Any, right: Any) -> DecimalNumber:
    """Places add up (1.10 x 1.10 is 1.2100); a zero product of a mantissa wider than 32 bits is plain 0."""
    a, b = to_exact(left), to_exact(right)
    product = EXACT.multiply(a, b)
    if not product and max(_mantissa(a, _scale(a)), _mantissa(b, _scale(b))) >= 2**32:
        # Recorded: .NET's wide multiplication paths return zero without a scale (0.00 x 2 is 0.00, but
        # 0.00 x 4294967296 is 0).
        return DecimalNumber(Decimal(0))
    result = fit(product, _scale(product))
    if not result.exact and _scale(product) > MAX_SCALE + 19:
        # Recorded: past 47 places (more than a 64-bit power of ten to scale away) a zero loses its places.
        return DecimalNumber(Decimal(0))
    return result


def divide(left: Any, right: Any) -> DecimalNumber:
    """An exact quotient keeps the dividend's places less the divisor's (1.00 / 1 is 1.00, 10 / 4 is 2.5);
    an inexact one gets as many places as fit (1 / 3 has 28, 1000000 / 3 has 23)."""
    dividend, divisor = to_exact(left), to_exact(right)
    if not divisor:  # a double too small for a decimal is 0 as one (recorded: div(decimal(0), 4.9e-324))
        raise ZeroDivisionError("division by zero")
    natural = max(_scale(dividend) - _scale(divisor), 0)
    _QUOTIENT.clear_flags()
    quotient = _QUOTIENT.divide(dividend, divisor)
    if not _QUOTIENT.flags[Inexact] and _scale(quotient) <= natural:
        return fit(quotient, natural)
    # Recorded: a quotient needing more places than the natural ones is rounded at the most places that
    # fit, then loses its trailing zeros down to the natural places (10 / 4 is 2.5, 1.10 / 9223372036854775807
    # has 27 places); one that rounds to zero is plain 0.
    rounded = fit(quotient, MAX_SCALE).exact
    if not rounded:
        return DecimalNumber(Decimal(0))
    stripped = rounded.normalize(EXACT)
    return fit(rounded, max(_scale(stripped), natural))


def remainder(left: Any, right: Any) -> DecimalNumber:
    """Truncated remainder with the dividend's sign, at the larger of the two scales (10.50 mod 0.2 is 0.10)."""
    dividend, divisor = to_exact(left), to_exact(right)
    if not divisor:
        raise ZeroDivisionError("division by zero")
    if abs(dividend) < abs(divisor):
        return convert(left)  # recorded: the dividend as it is (mod(1, decimal('1.10')) is 1)
    rest = EXACT.remainder(dividend, divisor)
    return fit(rest, max(_scale(dividend), _scale(divisor)))


_DOUBLE_POWERS_OF_TEN = [float(f"1e{power}") for power in range(MAX_SCALE + 1)]


def to_double(value: DecimalNumber) -> float:
    """``Convert.ToDouble(decimal)``: mantissa as a double over a double power of ten, so not always the
    nearest double (recorded: 1.2345678901234567890123456789 gives 1.234567890123457), sign kept on zero."""
    exact = value.exact
    scale = _scale(exact)
    mantissa = _mantissa(exact, scale)
    double = (float(mantissa & (2**64 - 1)) + float(mantissa >> 64) * 2.0**64) / _DOUBLE_POWERS_OF_TEN[scale]
    return -double if exact.is_signed() else double


def compare(left: Any, right: Any) -> int:
    """-1, 0 or 1; a double is first converted as ``Convert.ToDecimal`` does (0.3 equals 0.30000000000000004)."""
    a, b = to_exact(left), to_exact(right)
    return (a > b) - (a < b)


def decimal_text(value: DecimalNumber) -> str:
    """``decimal.ToString()``: plain digits, every place of the scale, no sign on zero."""
    exact = value.exact
    text = format(exact.copy_abs(), "f")
    return "-" + text if exact < 0 else text


def plain_numbers(value: Any) -> Any:
    """``value`` with every ``DecimalNumber`` replaced by its double, as the engine writes it to JSON."""
    if type(value) is DecimalNumber:
        return float(value)
    if isinstance(value, list):
        return [plain_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: plain_numbers(item) for key, item in value.items()}
    return value
