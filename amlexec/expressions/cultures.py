"""Culture data for cultures other than en-US and the invariant culture, built from CLDR (Babel).

The engine runs .NET on ICU, so its ``CultureInfo`` data is CLDR as .NET maps it: ICU date patterns are
rewritten into .NET format strings (``EEEE`` -> ``dddd``, ``a`` -> ``tt``, a two-digit short-date year
widened to ``yyyy``), currency and percent patterns are reduced to .NET's pattern list (plain spaces, no
bidi marks), and the default decimals of ``N``/``F``/``P`` come from the decimal pattern (3). This module
does the same mapping from Babel's CLDR data. It is imported, and Babel loaded, only when a culture other
than en-US or the invariant culture is asked for; the results are cached per name.

How a locale argument is read (measured on the engine):

* ``''`` is the invariant culture for dates (and en-US for ``formatNumber``, handled by its caller);
* a name .NET refuses (characters other than letters, digits, ``-`` and one ``_``, or a single
  character) falls back to the name before its last ``-`` (``'nonsense-locale-!!'`` -> ``'nonsense-locale'``;
  ``'-'`` -> ``''``); without a ``-`` it is an error;
* a name with ``_`` (``'en_US'``), or a well-formed name ICU has no data for (``'zz'``, ``'nonsense-locale'``)
  gives the invariant culture's data; an unknown language with a region (``'xx-YY'``) gives ICU's default
  locale (en-US) data with the generic currency sign ``¤``;
* names compare case-insensitively and neutral names use their likely region (``'de'`` is de-DE).
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from amlexec.expressions.errors import ExpressionEvaluationError

if TYPE_CHECKING:
    from amlexec.expressions.dotnet_datetime import Culture
    from amlexec.expressions.numformat import NumberCulture

__all__ = ["check_float_culture", "date_culture", "number_culture"]

Resolved = tuple[Literal["invariant", "default", "unknown-region"], None] | tuple[Literal["cldr"], str]

_NET_VALID = re.compile(r"[A-Za-z0-9-]*_?[A-Za-z0-9-]*")
_BIDI = "\u200e\u200f\u061c"
_SPACES = "\u00a0\u202f\u2009 "


def _unknown_locale(name: str) -> ExpressionEvaluationError:
    return ExpressionEvaluationError(
        f"Unable to find the locale associated with '{name}'. The provided locale name is either invalid or "
        "does not have a locale associated with it."
    )


def _valid(name: str) -> bool:
    return name == "" or (len(name) > 1 and _NET_VALID.fullmatch(name) is not None)


@lru_cache(maxsize=256)
def resolve(name: str) -> Resolved:
    """Which culture data a locale argument stands for (see the module docstring)."""
    original = name
    while not _valid(name):
        if "-" not in name:
            raise _unknown_locale(original)
        name = name[: name.rindex("-")]
    if name == "" or "_" in name:
        return ("invariant", None)
    parts = [part for part in name.split("-") if part]
    if not parts:
        return ("invariant", None)
    from babel import Locale, UnknownLocaleError

    language = parts[0].lower()
    territory = next((p.upper() for p in parts[1:] if re.fullmatch(r"[A-Za-z]{2}|[0-9]{3}", p)), None)
    script = next((p.title() for p in parts[1:] if re.fullmatch(r"[A-Za-z]{4}", p)), None)
    for candidate in (
        [language, script, territory],
        [language, territory],
        [language],
    ):
        identifier = "_".join(p for p in candidate if p)
        try:
            locale = Locale.parse(identifier)
        except (UnknownLocaleError, ValueError):
            continue
        if locale.language == "en" and locale.territory in (None, "US") and locale.script is None:
            return ("default", None)
        return ("cldr", identifier)
    if re.fullmatch(r"[a-z]{2,3}", language) and territory is not None:
        return ("unknown-region", None)
    return ("invariant", None)


def check_float_culture(name: str) -> None:
    """``isFloat`` refuses names that are not RFC 4646-shaped (measured: ``'x'``, ``'-'``, ``'en-'``)."""
    if name and not re.fullmatch(r"[A-Za-z0-9]{2,}(?:[-_][A-Za-z0-9]+)*", name):
        raise ExpressionEvaluationError(
            "The template language function 'isFloat' expects an RFC 4646 culture identifier as its second "
            f"parameter. Culture name '{name}' is not supported."
        )


def _locale(identifier: str) -> Any:
    from babel import Locale

    locale = Locale.parse(identifier)
    if locale.territory is None:
        from babel.core import get_global

        likely = get_global("likely_subtags").get(locale.language)
        if likely:
            locale = Locale.parse(likely)
    return locale


# Numbers ---------------------------------------------------------------------------------------------------


def _affix(text: str) -> str:
    """A CLDR prefix or suffix as .NET's pattern list has it: plain spaces, no bidi marks."""
    return "".join(" " if ch in _SPACES else ch for ch in text if ch not in _BIDI)


@lru_cache(maxsize=64)
def number_culture(name: str) -> NumberCulture:
    """The ``NumberFormatInfo`` for a locale argument other than en-US (``''`` means en-US here)."""
    from amlexec.expressions.numformat import EN_US_NUMBERS, INVARIANT_NUMBERS

    kind, identifier = resolve(name)
    if kind == "invariant":
        return INVARIANT_NUMBERS
    if kind == "default":
        return EN_US_NUMBERS
    if kind == "unknown-region":
        # ICU's default-locale data, but no currency for the unknown region.
        return EN_US_NUMBERS.with_currency("¤")
    assert identifier is not None
    return _cldr_numbers(identifier)


def _cldr_numbers(identifier: str) -> NumberCulture:
    from babel import numbers

    from amlexec.expressions.numformat import NumberCulture

    locale = _locale(identifier)
    system = "default"
    decimal = numbers.get_decimal_symbol(locale, numbering_system=system)
    group = numbers.get_group_symbol(locale, numbering_system=system)
    minus = numbers.get_minus_sign_symbol(locale, numbering_system=system)
    plus = numbers.get_plus_sign_symbol(locale, numbering_system=system)
    percent = str(locale.number_symbols[locale.default_numbering_system].get("percentSign", "%"))
    currencies = numbers.get_territory_currencies(locale.territory) if locale.territory else []
    code = currencies[0] if currencies else None
    symbol = numbers.get_currency_symbol(code, locale) if code else "¤"
    digits = numbers.get_currency_precision(code) if code else 2
    pattern = locale.currency_formats["standard"]
    percent_pattern = locale.percent_formats[None]
    decimal_pattern = locale.decimal_formats[None]
    return NumberCulture(
        decimal=decimal,
        group=group,
        minus=minus,
        plus=plus,
        currency_symbol=symbol,
        currency_positive=(_affix(pattern.prefix[0]), _affix(pattern.suffix[0])),
        currency_negative=(_affix(pattern.prefix[1]), _affix(pattern.suffix[1])),
        percent_positive=(_affix(percent_pattern.prefix[0]), _affix(percent_pattern.suffix[0])),
        percent_negative=(_affix(percent_pattern.prefix[1]), _affix(percent_pattern.suffix[1])),
        percent_symbol=percent,
        group_sizes=tuple(decimal_pattern.grouping),
        number_digits=3,
        currency_digits=digits,
    )


# Dates -----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def date_culture(name: str) -> Culture:
    """The ``DateTimeFormatInfo`` for a locale argument other than en-US."""
    from amlexec.expressions.dotnet_datetime import EN_US, INVARIANT

    kind, identifier = resolve(name)
    if kind == "invariant":
        return INVARIANT
    if kind == "unknown-region":
        # Measured ('xx-YY'): en-US names and date patterns, 24-hour times (ICU's root time patterns).
        return replace(EN_US, short_time="HH:mm", long_time="HH:mm:ss")
    if kind == "default":
        return EN_US
    assert identifier is not None
    return _cldr_dates(identifier)


def _net_date_pattern(icu: str) -> str:
    """ICU date pattern -> .NET (``CalendarData.NormalizeDatePattern``)."""
    out: list[str] = []
    i = 0
    while i < len(icu):
        ch = icu[i]
        n = 1
        while i + n < len(icu) and icu[i + n] == ch:
            n += 1
        if ch == "'":
            end = icu.find("'", i + 1)
            end = len(icu) - 1 if end < 0 else end
            out.append(icu[i : end + 1])
            i = end + 1
            continue
        if ch in "Eec":
            out.append("ddd" if n <= 3 else "dddd")
        elif ch in "ML":
            out.append("M" * min(n, 4))
        elif ch == "y":
            out.append("yy" if n == 2 else "yyyy")
        elif ch == "G":
            out.append("g")
        elif ch == "d":
            out.append("d" * min(n, 2))
        elif ch == "\u200f":
            out.append(ch)  # recorded: .NET keeps the right-to-left mark of Arabic dates ('11\u200f\u200f/3' in ar-EG)
        elif ch in _BIDI:
            pass
        elif ch.isalpha() and ch.isascii():
            out.append(ch * n)
        else:
            out.append(_quote_literal(ch * n))
        i += n
    return "".join(out)


def _quote_literal(text: str) -> str:
    if all(not c.isascii() or c in " ,.-/:" for c in text):
        return text
    return "'" + text + "'"


def _net_time_pattern(icu: str) -> str:
    """ICU time pattern -> .NET (``CultureData.ConvertIcuTimeFormatString``)."""
    out: list[str] = []
    am_pm = False
    i = 0
    while i < len(icu):
        ch = icu[i]
        if ch == "'":
            end = icu.find("'", i + 1)
            end = len(icu) - 1 if end < 0 else end
            out.append(icu[i : end + 1])
            i = end + 1
            continue
        if ch in ":.Hhms\u202f":
            out.append(ch)
        elif ch in " \u00a0":
            out.append(" ")
        elif ch == "a" and not am_pm:
            am_pm = True
            out.append("tt")
        i += 1
    return "".join(out).strip(" ")


def _short_date(icu: str) -> str:
    pattern = _net_date_pattern(icu)
    # .NET widens a two-digit year in the default short date pattern (FixDefaultShortDatePattern).
    if "yy" in pattern and "yyy" not in pattern:
        pattern = pattern.replace("yy", "yyyy")
    return pattern


def _separator(pattern: str, fields: str, default: str) -> str:
    found = re.search(rf"[{fields}]+([^{fields}']+)[{fields}]", pattern)
    return found.group(1) if found else default


def _cldr_dates(identifier: str) -> Culture:
    locale = _locale(identifier)
    culture = _gregorian_culture(locale)
    calendar, territory = _DEFAULT_CALENDARS.get(locale.language, ("gregorian", None))
    neutral = "_" not in identifier  # Babel fills in a territory ('ar' reads as ar_EG), .NET does not
    if calendar == "gregorian" or not (neutral or locale.territory == territory):
        return culture
    if calendar == "thai":
        return replace(culture, calendar="thai", era=_BUDDHIST_ERA)
    return replace(
        culture,
        calendar="umalqura",
        month_names=_UMALQURA_MONTHS,
        month_abbreviations=_UMALQURA_MONTHS,
        month_genitive_names=(),
        month_genitive_abbreviations=(),
        era=_HIJRI_ERA,
        # The Umm al-Qura patterns carry the era, and right-to-left marks around the date separator.
        short_date="d\u200f/M\u200f/yyyy g",
        long_date="dddd، d MMMM yyyy g",
        year_month="MMMM yyyy g",
        date_separator="\u200f/",
    )


# The cultures whose default .NET calendar is not the Gregorian one (recorded: ar and ar-SA write Umm al-Qura
# dates, ar-EG Gregorian ones; th and th-TH the Buddhist era), and what the engine writes for them: CLDR's
# Gregorian data in Babel has neither the Hijri month names nor these eras.
# language -> (calendar, the one territory that keeps it; the neutral culture keeps it too)
_DEFAULT_CALENDARS = {"ar": ("umalqura", "SA"), "th": ("thai", "TH")}
_UMALQURA_MONTHS = (
    "محرم",
    "صفر",
    "ربيع الأول",
    "ربيع الآخر",
    "جمادى الأولى",
    "جمادى الآخرة",
    "رجب",
    "شعبان",
    "رمضان",
    "شوال",
    "ذو القعدة",
    "ذو الحجة",
)
_HIJRI_ERA = "بعد الهجرة"
_BUDDHIST_ERA = "พ.ศ."


def _gregorian_culture(locale: Any) -> Culture:
    from amlexec.expressions.dotnet_datetime import Culture

    def sunday_first(names: dict[int, str]) -> tuple[str, ...]:
        return tuple(names[(index + 6) % 7] for index in range(7))

    # .NET reads the stand-alone names (de: "Sep", "Di" where the format forms are "Sept.", "Di.").
    months = locale.months["stand-alone"]
    genitive = locale.months["format"]
    days = locale.days["stand-alone"]
    periods = locale.day_periods["format"]["abbreviated"]
    short_date = _short_date(locale.date_formats["short"].pattern)
    long_time = _net_time_pattern(locale.time_formats["medium"].pattern)
    skeletons = locale.datetime_skeletons
    month_day = skeletons.get("MMMMd")
    year_month = skeletons.get("yMMMM")
    return Culture(
        name=str(locale),
        month_names=tuple(months["wide"][m] for m in range(1, 13)),
        month_abbreviations=tuple(months["abbreviated"][m] for m in range(1, 13)),
        # Recorded: beside a day number .NET writes CLDR's format-context names ('2 stycznia 2024' in pl-PL).
        month_genitive_names=tuple(genitive["wide"][m] for m in range(1, 13)),
        month_genitive_abbreviations=tuple(genitive["abbreviated"][m] for m in range(1, 13)),
        day_names=sunday_first(days["wide"]),
        day_abbreviations=sunday_first(days["abbreviated"]),
        am=periods.get("am", "AM"),
        pm=periods.get("pm", "PM"),
        era=locale.eras["abbreviated"][1],
        short_date=short_date,
        long_date=_net_date_pattern(locale.date_formats["full"].pattern),
        short_time=_net_time_pattern(locale.time_formats["short"].pattern),
        long_time=long_time,
        month_day=_net_date_pattern(month_day.pattern if month_day else "MMMM d"),
        year_month=_net_date_pattern(year_month.pattern if year_month else "MMMM y"),
        date_separator=_separator(short_date, "dMy", "/"),
        time_separator=_separator(long_time, "Hhms", ":"),
    )
