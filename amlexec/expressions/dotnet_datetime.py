"""Timestamps the way Data Factory's engine sees them: .NET ``DateTime`` values, parsing and formatting.

The engine is written in .NET, so every date function works on a ``DateTime``: a count of 100 ns
*ticks* since 0001-01-01 plus a *kind* (unspecified, UTC, or "local"). Python's ``datetime`` cannot
hold ticks (it stops at microseconds), so this module keeps its own small value type and
re-implements, from observed behaviour of the engine (en-US culture, UTC host):

* lenient parsing of timestamp strings (ISO 8601 and the usual en-US culture shapes),
* ``ParseExact``-style parsing for ``parseDateTime`` with an explicit format,
* formatting with .NET standard and custom format strings.

An explicit offset in the input is converted to the host's local time; the engine's hosts run in
UTC, so such values become UTC instants of *local* kind, which print with a ``+00:00`` suffix.
Every failure is an :class:`ExpressionEvaluationError`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import cached_property, lru_cache

from amlexec.expressions.errors import ExpressionEvaluationError

__all__ = [
    "MAX_TICKS",
    "TICKS_PER_DAY",
    "TICKS_PER_HOUR",
    "TICKS_PER_MINUTE",
    "TICKS_PER_SECOND",
    "Culture",
    "DotNetDateTime",
    "Kind",
    "format_datetime",
    "parse_exact",
    "parse_timestamp",
    "resolve_culture",
]

TICKS_PER_SECOND = 10_000_000
TICKS_PER_MINUTE = 60 * TICKS_PER_SECOND
TICKS_PER_HOUR = 60 * TICKS_PER_MINUTE
TICKS_PER_DAY = 24 * TICKS_PER_HOUR
# 9999-12-31T23:59:59.9999999, the largest .NET DateTime.
MAX_TICKS = 3_652_059 * TICKS_PER_DAY - 1
# .NET refuses offsets beyond +/-14:00.
_MAX_OFFSET_TICKS = 14 * TICKS_PER_HOUR


def _out_of_range() -> ExpressionEvaluationError:
    return ExpressionEvaluationError("The date/time value is outside the range 0001-01-01 .. 9999-12-31.")


class Kind(Enum):
    """``DateTimeKind``: decides the suffix a round-trip string carries (none, ``Z``, ``+00:00``)."""

    UNSPECIFIED = "unspecified"
    UTC = "utc"
    LOCAL = "local"


@dataclass(frozen=True)
class DotNetDateTime:
    """A .NET ``DateTime``: ``ticks`` (100 ns units since 0001-01-01T00:00) and a :class:`Kind`."""

    ticks: int
    kind: Kind

    def __post_init__(self) -> None:
        if not 0 <= self.ticks <= MAX_TICKS:
            raise _out_of_range()

    @classmethod
    def from_parts(
        cls,
        year: int,
        month: int,
        day: int,
        *,
        hour: int = 0,
        minute: int = 0,
        second: int = 0,
        fraction_ticks: int = 0,
        kind: Kind = Kind.UNSPECIFIED,
    ) -> DotNetDateTime:
        """Build from calendar fields; invalid fields raise ``ExpressionEvaluationError``."""
        if not (1 <= year <= 9999 and 1 <= month <= 12 and hour < 24 and minute < 60 and second < 60):
            raise ExpressionEvaluationError("The date/time fields are out of range.")
        try:
            ordinal = date(year, month, day).toordinal()
        except (ValueError, OverflowError) as exc:  # a day beyond a C int overflows rather than being invalid
            raise ExpressionEvaluationError("The date/time fields are out of range.") from exc
        ticks = (
            (ordinal - 1) * TICKS_PER_DAY
            + hour * TICKS_PER_HOUR
            + minute * TICKS_PER_MINUTE
            + second * TICKS_PER_SECOND
            + fraction_ticks
        )
        return cls(ticks, kind)

    # Calendar fields -------------------------------------------------------------------------------------

    @cached_property
    def date(self) -> date:
        # Kept: a format such as 'yyyy-MM-dd' reads the calendar date once per field.
        return date.fromordinal(self.ticks // TICKS_PER_DAY + 1)

    @property
    def year(self) -> int:
        return self.date.year

    @property
    def month(self) -> int:
        return self.date.month

    @property
    def day(self) -> int:
        return self.date.day

    @property
    def time_of_day(self) -> int:
        """Ticks since midnight."""
        return self.ticks % TICKS_PER_DAY

    @property
    def hour(self) -> int:
        return self.time_of_day // TICKS_PER_HOUR

    @property
    def minute(self) -> int:
        return self.time_of_day // TICKS_PER_MINUTE % 60

    @property
    def second(self) -> int:
        return self.time_of_day // TICKS_PER_SECOND % 60

    @property
    def fraction(self) -> int:
        """Ticks within the current second (0 .. 9,999,999)."""
        return self.ticks % TICKS_PER_SECOND

    @property
    def day_of_week(self) -> int:
        """0 = Sunday, as .NET's ``DayOfWeek``."""
        return self.date.isoweekday() % 7

    @property
    def day_of_year(self) -> int:
        return self.date.timetuple().tm_yday

    # Arithmetic ------------------------------------------------------------------------------------------

    def add_ticks(self, delta: int) -> DotNetDateTime:
        return DotNetDateTime(self.ticks + delta, self.kind)

    def add_months(self, months: int) -> DotNetDateTime:
        """``DateTime.AddMonths``: the day is clamped to the length of the target month."""
        d = self.date
        index = d.year * 12 + (d.month - 1) + months
        year, month0 = divmod(index, 12)
        if not 1 <= year <= 9999:
            raise _out_of_range()
        day = min(d.day, _days_in_month(year, month0 + 1))
        start = DotNetDateTime.from_parts(year, month0 + 1, day, kind=self.kind)
        return start.add_ticks(self.time_of_day)

    def with_kind(self, kind: Kind) -> DotNetDateTime:
        return DotNetDateTime(self.ticks, kind)


def _days_in_month(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - date(year, month, 1)).days


# Cultures --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Culture:
    """The slice of a .NET ``DateTimeFormatInfo`` that formatting and parsing use."""

    name: str
    month_names: tuple[str, ...]
    month_abbreviations: tuple[str, ...]
    day_names: tuple[str, ...]
    day_abbreviations: tuple[str, ...]
    am: str
    pm: str
    era: str
    short_date: str
    long_date: str
    short_time: str
    long_time: str
    month_day: str
    year_month: str
    two_digit_year_max: int = 2049
    # What '/' and ':' in a format print (.NET's DateSeparator and TimeSeparator).
    date_separator: str = "/"
    time_separator: str = ":"
    # MonthGenitiveNames: a month name beside a day number ('2 stycznia' in pl-PL, 'styczeń' alone); empty
    # where they are the plain names.
    month_genitive_names: tuple[str, ...] = ()
    month_genitive_abbreviations: tuple[str, ...] = ()
    # The culture's default calendar: "gregorian", "thai" (Buddhist era: the year + 543, as th-TH) or
    # "umalqura" (the Hijri calendar of Saudi Arabia, as ar-SA).
    calendar: str = "gregorian"


def _calendar_date(value: DotNetDateTime, culture: Culture) -> tuple[int, int, int]:
    """Year, month and day of ``value`` in the culture's calendar."""
    if culture.calendar == "thai":
        return value.year + _THAI_YEAR_OFFSET, value.month, value.day
    if culture.calendar == "umalqura":
        from hijridate import Gregorian  # lazily: only ar-SA dates need the Umm al-Qura tables

        try:
            hijri = Gregorian(value.year, value.month, value.day).to_hijri()
        except OverflowError:
            # hijridate covers 1343-1500 AH (1924-2077); .NET's table starts in 1900.
            raise ExpressionEvaluationError(
                "the date is outside the range of the Umm al-Qura calendar amlexec supports (1924-08-01 to 2077-11-16)"
            ) from None
        return hijri.year, hijri.month, hijri.day
    return value.year, value.month, value.day


def _gregorian_date(year: int, month: int, day: int, culture: Culture) -> tuple[int, int, int]:
    """A date of the culture's calendar as a Gregorian one (raises ValueError/OverflowError if none)."""
    if culture.calendar == "thai":
        return year - _THAI_YEAR_OFFSET, month, day
    if culture.calendar == "umalqura":
        from hijridate import Hijri

        gregorian = Hijri(year, month, day).to_gregorian()
        return gregorian.year, gregorian.month, gregorian.day
    return year, month, day


_THAI_YEAR_OFFSET = 543


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

INVARIANT = Culture(
    name="",
    month_names=_MONTHS,
    month_abbreviations=tuple(m[:3] for m in _MONTHS),
    day_names=_DAYS,
    day_abbreviations=tuple(d[:3] for d in _DAYS),
    am="AM",
    pm="PM",
    era="A.D.",
    short_date="MM/dd/yyyy",
    long_date="dddd, dd MMMM yyyy",
    short_time="HH:mm",
    long_time="HH:mm:ss",
    month_day="MMMM dd",
    year_month="yyyy MMMM",
)
# The engine's .NET uses ICU data, whose en-US time patterns put a narrow no-break space before AM/PM.
EN_US = Culture(
    name="en-US",
    month_names=_MONTHS,
    month_abbreviations=tuple(m[:3] for m in _MONTHS),
    day_names=_DAYS,
    day_abbreviations=tuple(d[:3] for d in _DAYS),
    am="AM",
    pm="PM",
    era="AD",
    short_date="M/d/yyyy",
    long_date="dddd, MMMM d, yyyy",
    short_time="h:mm\u202ftt",
    long_time="h:mm:ss\u202ftt",
    month_day="MMMM d",
    year_month="MMMM yyyy",
)


def resolve_culture(name: str) -> Culture:
    """Map a locale argument to culture data; ``''`` means the invariant culture.

    en-US is built in; any other name goes to ``cultures`` (CLDR through Babel, loaded on first use), which
    also reproduces how the engine reads unknown and malformed names.
    """
    if name == "":
        return INVARIANT
    if name.lower() in ("en-us", "en"):
        return EN_US
    from amlexec.expressions.cultures import date_culture

    return date_culture(name)


# Formatting ------------------------------------------------------------------------------------------------

_ROUND_TRIP = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK"
_FIXED_STANDARD = {
    "O": _ROUND_TRIP,
    "o": _ROUND_TRIP,
    "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
}


def _standard_pattern(letter: str, culture: Culture) -> tuple[str, Culture] | None:
    if letter in _FIXED_STANDARD:
        # Culture-independent patterns always use invariant names (Tue, Jan).
        return _FIXED_STANDARD[letter], INVARIANT
    patterns = {
        "d": culture.short_date,
        "D": culture.long_date,
        "f": f"{culture.long_date} {culture.short_time}",
        "F": f"{culture.long_date} {culture.long_time}",
        "g": f"{culture.short_date} {culture.short_time}",
        "G": f"{culture.short_date} {culture.long_time}",
        "M": culture.month_day,
        "m": culture.month_day,
        "t": culture.short_time,
        "T": culture.long_time,
        "U": f"{culture.long_date} {culture.long_time}",
        "Y": culture.year_month,
        "y": culture.year_month,
    }
    pattern = patterns.get(letter)
    return None if pattern is None else (pattern, culture)


def _bad_format(fmt: str) -> ExpressionEvaluationError:
    return ExpressionEvaluationError(f"The format string '{fmt}' is not a valid date/time format.")


def format_datetime(value: DotNetDateTime, fmt: str, culture: Culture = EN_US) -> str:
    """``DateTime.ToString(fmt, culture)``; ``''`` means the general ``G`` pattern."""
    if fmt == "":
        fmt = "G"
    if len(fmt) == 1:
        found = _standard_pattern(fmt, culture)
        if found is None:
            raise _bad_format(fmt)
        pattern, culture = found
        # R, u and U show the instant in UTC; with the engine's UTC host that changes no digits.
        return _format_custom(value, pattern, culture, fmt)
    return _format_custom(value, fmt, culture, fmt)


def _repeat(fmt: str, i: int) -> int:
    n = 1
    while i + n < len(fmt) and fmt[i + n] == fmt[i]:
        n += 1
    return n


def _quoted(fmt: str, i: int, original: str) -> tuple[str, int]:
    """Read a quoted literal starting at ``fmt[i]``; returns (text, index after the closing quote)."""
    quote = fmt[i]
    out: list[str] = []
    i += 1
    while i < len(fmt):
        ch = fmt[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(fmt):
                raise _bad_format(original)
            out.append(fmt[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise _bad_format(original)


def _offset_text(count: int) -> str:
    # Every value the engine formats is UTC, local-on-a-UTC-host or unspecified (treated as local):
    # the offset is always zero.
    if count == 1:
        return "+0"
    if count == 2:
        return "+00"
    return "+00:00"


# A custom format is read once into steps: literal text, or a writer printing one field (or a culture's
# separator) of a value. A writer gets the pieces written so far: an empty 'F' field edits the one before it.
_Writer = Callable[["DotNetDateTime", Culture, list[str]], str]
_Step = str | _Writer
_FIELD_LETTERS = "dMyhHmsfFtgKz"
_DAY_NUMBER = re.compile(r"(?<!d)d{1,2}(?!d)")
# Formats longer than this are read every time rather than kept (a hostile stream of distinct long formats
# must not fill memory); the ones people write are a few dozen characters.
_MAX_CACHED_FORMAT = 256


def _time_separator(_value: DotNetDateTime, culture: Culture, _out: list[str]) -> str:
    return culture.time_separator


def _date_separator(_value: DotNetDateTime, culture: Culture, _out: list[str]) -> str:
    return culture.date_separator


def _year_of(value: DotNetDateTime, culture: Culture) -> int:
    return value.year if culture.calendar == "gregorian" else _calendar_date(value, culture)[0]


def _month_of(value: DotNetDateTime, culture: Culture) -> int:
    return value.month if culture.calendar == "gregorian" else _calendar_date(value, culture)[1]


def _field_writer(ch: str, n: int, genitive: bool = False) -> _Writer:
    """The writer of the field ``ch`` repeated ``n`` times (``n`` at most 7 for 'f' and 'F'); ``genitive``
    when the format also has a day number, which makes .NET write a month name in its genitive form."""
    if ch in "dM" and n <= 2:
        digits = f"0{n}d"
        if ch == "d":
            return lambda value, culture, _out: format(
                value.day if culture.calendar == "gregorian" else _calendar_date(value, culture)[2], digits
            )
        return lambda value, culture, _out: format(
            value.month if culture.calendar == "gregorian" else _calendar_date(value, culture)[1], digits
        )
    if ch == "d":
        if n == 3:
            return lambda value, culture, _out: culture.day_abbreviations[value.day_of_week]
        return lambda value, culture, _out: culture.day_names[value.day_of_week]
    if ch == "M":
        if n == 3:
            if genitive:
                return lambda value, culture, _out: (
                    culture.month_genitive_abbreviations or culture.month_abbreviations
                )[_month_of(value, culture) - 1]
            return lambda value, culture, _out: culture.month_abbreviations[_month_of(value, culture) - 1]
        if genitive:
            return lambda value, culture, _out: (culture.month_genitive_names or culture.month_names)[
                _month_of(value, culture) - 1
            ]
        return lambda value, culture, _out: culture.month_names[_month_of(value, culture) - 1]
    if ch == "y":
        if n == 1:
            return lambda value, culture, _out: str(_year_of(value, culture) % 100)
        if n == 2:
            return lambda value, culture, _out: format(_year_of(value, culture) % 100, "02d")
        year_digits = f"0{n}d"
        return lambda value, culture, _out: format(_year_of(value, culture), year_digits)
    if ch in "hHms":
        two = f"0{min(n, 2)}d"
        if ch == "h":
            return lambda value, _culture, _out: format(value.hour % 12 or 12, two)
        if ch == "H":
            return lambda value, _culture, _out: format(value.hour, two)
        if ch == "m":
            return lambda value, _culture, _out: format(value.minute, two)
        return lambda value, _culture, _out: format(value.second, two)
    if ch == "f":
        return lambda value, _culture, _out: f"{value.fraction:07d}"[:n]
    if ch == "F":

        def trimmed_fraction(value: DotNetDateTime, _culture: Culture, out: list[str]) -> str:
            digits = f"{value.fraction:07d}"[:n].rstrip("0")
            if not digits and out and out[-1].endswith("."):
                # .NET drops the '.' written just before an 'F' field that prints nothing.
                out[-1] = out[-1][:-1]
            return digits

        return trimmed_fraction
    if ch == "t":
        if n == 1:
            return lambda value, culture, _out: (culture.am if value.hour < 12 else culture.pm)[:1]
        return lambda value, culture, _out: culture.am if value.hour < 12 else culture.pm
    if ch == "g":
        return lambda _value, culture, _out: culture.era
    if ch == "K":
        return lambda value, _culture, _out: (
            "Z" if value.kind is Kind.UTC else "+00:00" if value.kind is Kind.LOCAL else ""
        )
    # 'z'
    offset = _offset_text(n)
    return lambda _value, _culture, _out: offset


def _format_steps(fmt: str, original: str) -> tuple[_Step, ...]:
    """Read a custom format into steps; every malformed format raises the same ``_bad_format(original)``."""
    steps: list[_Step] = []
    genitive = _DAY_NUMBER.search(_QUOTED.sub("", fmt)) is not None
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch in _FIELD_LETTERS:
            # Unlike the other letters, each K prints on its own.
            n = 1 if ch == "K" else _repeat(fmt, i)
            if ch in "fF" and n > 7:
                raise _bad_format(original)
            steps.append(_field_writer(ch, n, genitive))
            i += n
        elif ch in "'\"":
            text, i = _quoted(fmt, i, original)
            steps.append(text)
        elif ch == "%":
            # '%x' formats 'x' as a one-letter custom pattern; '%%' and a trailing '%' are errors.
            if i + 1 >= len(fmt) or fmt[i + 1] == "%":
                raise _bad_format(original)
            nxt = fmt[i + 1]
            if nxt in "'\"\\":
                raise _bad_format(original)
            if nxt in _FIELD_LETTERS:
                steps.append(_field_writer(nxt, 1))
            elif nxt == ":":
                steps.append(_time_separator)
            elif nxt == "/":
                steps.append(_date_separator)
            else:
                steps.append(nxt)
            i += 2
        elif ch == "\\":
            if i + 1 >= len(fmt):
                raise _bad_format(original)
            steps.append(fmt[i + 1])
            i += 2
        elif ch == ":":
            steps.append(_time_separator)
            i += 1
        elif ch == "/":
            steps.append(_date_separator)
            i += 1
        else:
            steps.append(ch)
            i += 1
    return tuple(steps)


# The same few formats recur in every request: each is read once. Steps depend on the text alone (the culture
# comes with each value to format); a malformed format raises and is never kept.
_cached_format_steps = lru_cache(maxsize=1024)(_format_steps)


def _format_custom(value: DotNetDateTime, fmt: str, culture: Culture, original: str) -> str:
    steps = _cached_format_steps(fmt, original) if len(fmt) <= _MAX_CACHED_FORMAT else _format_steps(fmt, original)
    # One piece per step, as .NET writes them: an empty 'F' field looks back at the piece before it.
    out: list[str] = []
    for step in steps:
        out.append(step if isinstance(step, str) else step(value, culture, out))
    return "".join(out)


# Lenient parsing (DateTime.Parse, en-US) -------------------------------------------------------------------

_WS = r"[ \t\r\n\f\v]"
_ZONE = r"(?P<zone>[Zz]|[+-]\d{1,4}(?::\d{2})?)"
_ISO_TIME = r"(?P<ihour>\d{2}):(?P<imin>\d{2})(?::(?P<isec>\d{2})(?:[.,](?P<ifrac>\d+))?)?"
_ISO = re.compile(
    rf"(?P<year>\d{{4,}})-(?P<month>\d{{1,2}})-(?P<day>\d{{1,2}})"
    rf"(?:{_WS}*[Tt]{_WS}*{_ISO_TIME})?"
    rf"(?:{_WS}*{_ZONE})?"
)
_TIME = re.compile(
    r"(?:(?P<hour>\d{1,2}):(?P<minute>\d{1,2})(?::(?P<second>\d{1,2})(?:\.(?P<frac>\d+))?)?"
    rf"(?:{_WS}*(?P<ampm>[AaPp][Mm]?)(?![A-Za-z]))?"
    rf"|(?P<bhour>\d{{1,2}}){_WS}*(?P<bampm>[AaPp][Mm]?)(?![A-Za-z]))"
)
_TOKEN = re.compile(r"\d+|[^\W\d_]+|[-/.,]")


@lru_cache(maxsize=16)
def _culture_time(separator: str) -> re.Pattern[str]:
    """A time written with the culture's separator after white space: hour, minutes, maybe seconds."""
    sep = re.escape(separator)
    return re.compile(rf"(?<=\s)\d{{1,2}}{sep}\d{{2}}(?:{sep}\d{{2}})?(?=\s|$)")


_BIDI_MARKS = re.compile("[\u200e\u200f\u061c]")
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


@lru_cache(maxsize=64)
def _culture_words(culture: Culture) -> tuple[dict[str, int], dict[str, int], frozenset[str]]:
    """Month and day names (full and abbreviated, case-folded, the English ones too) and the literal words
    of the culture's date patterns ('de' in pt-BR, 年 月 日 in ja-JP), which a lenient parse skips."""
    months: dict[str, int] = {}
    days: dict[str, int] = {}
    for names, abbreviations, english in (
        (_MONTHS, (), True),
        (culture.month_names, culture.month_abbreviations, False),
        (culture.month_genitive_names, culture.month_genitive_abbreviations, False),
    ):
        for index, name in enumerate((*names, *abbreviations)):
            months.setdefault(name.casefold().rstrip("."), index % 12 + 1)
            if english:
                months.setdefault(name[:3].casefold(), index % 12 + 1)
    for index, name in enumerate((*_DAYS, *(d[:3] for d in _DAYS), *culture.day_names, *culture.day_abbreviations)):
        days.setdefault(name.casefold().rstrip("."), index % 7)
    literals: set[str] = set()
    for pattern in (culture.long_date, culture.short_date, culture.year_month, culture.month_day):
        for match in _QUOTED.finditer(pattern):
            literals.update(word.casefold() for word in _tokens(match.group(1) or match.group(2) or ""))
        # Unquoted letters that are no format field are literal too (年 月 日 in ja-JP's 'yyyy年M月d日').
        unquoted = _FIELD_RUN.sub(" ", _QUOTED.sub(" ", pattern))
        literals.update(word.casefold() for word in _tokens(unquoted))
    literals.update(word.casefold() for word in _tokens(culture.era))  # 'بعد الهجرة' (ar-SA), 'พ.ศ.' (th-TH)
    return months, days, frozenset(word for word in literals if word[:1].isalpha())


_FIELD_RUN = re.compile(f"[{_FIELD_LETTERS}]+")


def _tokens(text: str) -> list[str]:
    """Numbers, words and the separators - / . , of a date's text. A word keeps its combining marks
    (Devanagari 'जनवरी' is one word); anything else is no token, which the caller refuses."""
    if text.isascii():
        return _TOKEN.findall(text)
    out: list[str] = []
    kind = ""
    for char in text:
        if char.isalpha() or (kind == "word" and unicodedata.category(char)[0] == "M"):
            this = "word"
        elif char.isdigit():
            this = "number"
        else:
            this = ""
            if char in "-/.,":
                out.append(char)
        if this and this == kind:
            out[-1] += char
        elif this:
            out.append(char)
        kind = this
    return out


def _month_from_name(word: str, culture: Culture = EN_US) -> int | None:
    return _culture_words(culture)[0].get(word.casefold())


def _day_from_name(word: str, culture: Culture = EN_US) -> int | None:
    return _culture_words(culture)[1].get(word.casefold())


def _leading_day_name(text: str, culture: Culture) -> tuple[int | None, str]:
    """A day name opening the text (the longest that matches, 'terça-feira' too) and the text after it."""
    folded = text.casefold()
    best: tuple[int, int] | None = None
    for name, day in _culture_words(culture)[1].items():
        whole_word = folded.startswith(name) and (len(folded) == len(name) or not folded[len(name)].isalnum())
        if whole_word and (best is None or len(name) > best[0]):
            best = (len(name), day)
    if best is None:
        return None, text
    rest = text[best[0] :].lstrip(" \t\r\n\f\v")
    if rest.startswith("."):  # an abbreviation's dot ('Di.')
        rest = rest[1:]
    return best[1], rest


# A run of digits longer than this is never a valid date part; such runs read as an impossible value.
_MAX_FIELD_DIGITS = 100
_IMPOSSIBLE = 10**_MAX_FIELD_DIGITS


def _number(text: str) -> int:
    # int() refuses text of more than 4300 digits with a ValueError; a date part that long fails anyway.
    return int(text) if len(text) <= _MAX_FIELD_DIGITS else _IMPOSSIBLE


def _expand_year(text: str, culture: Culture) -> int:
    year = _number(text)
    if len(text) <= 2:
        # Two-digit years fall in the century window ending at the culture's TwoDigitYearMax.
        top = culture.two_digit_year_max
        year += (top // 100) * 100
        if year > top:
            year -= 100
    return year


def _fraction_ticks(digits: str | None) -> int:
    if not digits:
        return 0
    # The engine reads the fraction as a double and rounds it to whole ticks.
    return round(float("0." + digits) * TICKS_PER_SECOND)


def _offset_ticks(zone: str) -> int | None:
    """Ticks east of UTC for a ``+hh:mm``-style suffix; None when malformed or beyond 14 hours."""
    sign = -1 if zone[0] == "-" else 1
    body = zone[1:]
    if ":" in body:
        hours_text, minutes_text = body.split(":")
        if len(hours_text) > 2:
            return None
    elif len(body) <= 2:
        hours_text, minutes_text = body, "0"
    else:
        hours_text, minutes_text = body[:-2], body[-2:]
    hours, minutes = int(hours_text), int(minutes_text)
    if minutes >= 60:
        return None
    total = hours * TICKS_PER_HOUR + minutes * TICKS_PER_MINUTE
    if total > _MAX_OFFSET_TICKS:
        return None
    return sign * total


@dataclass
class _Parsed:
    year: int | None = None
    month: int | None = None
    day: int | None = None
    hour: int = 0
    minute: int = 0
    second: int = 0
    fraction: int = 0
    zone: str | None = None
    weekday: int | None = None


def parse_timestamp(
    text: str, today: DotNetDateTime | Callable[[], DotNetDateTime], culture: Culture = EN_US
) -> DotNetDateTime | None:
    """Parse like the engine (``DateTime.Parse`` with round-trip kind); None when it would refuse.

    ``today`` supplies the date for a time-only string and the year for a month/day-only one; a function
    giving it is called only then (an ISO 8601 timestamp, the usual case, never needs it).
    """
    # ICU cultures write U+202F before AM/PM (en-US) and the engine reads it back as a space.
    stripped = text.replace("\u202f", " ").strip(" \t\r\n\f\v")
    if not stripped:
        return None
    iso = _cached_iso_value(stripped) if len(stripped) <= _MAX_CACHED_TIMESTAMP else _iso_value(stripped)
    if iso is not _NOT_ISO:
        return iso
    parsed = _parse_general(stripped, culture)
    if parsed is None:
        return None
    return _finish(parsed, today if isinstance(today, DotNetDateTime) else today())


class _NotIso(Enum):
    """Says the text is not ISO 8601 (``None`` already means ISO-shaped but refused)."""

    NOT_ISO = "not ISO 8601"


_NOT_ISO = _NotIso.NOT_ISO
# An ISO timestamp with its offset and seven fractional digits is 33 characters: longer text is parsed every
# time rather than kept.
_MAX_CACHED_TIMESTAMP = 64


def _iso_value(text: str) -> DotNetDateTime | _NotIso | None:
    """The value of an ISO 8601 timestamp, or ``_NOT_ISO``. Year, month and day are always there, so unlike
    other shapes the value depends on the text alone, not on today's date or the culture."""
    parsed = _parse_iso(text)
    if parsed is None:
        return _NOT_ISO
    assert parsed.year is not None and parsed.month is not None and parsed.day is not None
    return _build(parsed, parsed.year, parsed.month, parsed.day)


# Requests pass the same few timestamps (a day parameter, a trigger time) to every date function: each is read
# once. Keyed by the text alone, so an entry can only ever answer for that same text.
_cached_iso_value = lru_cache(maxsize=4096)(_iso_value)


def _parse_iso(text: str) -> _Parsed | None:
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    result = _Parsed(year=_number(match["year"]), month=_number(match["month"]), day=_number(match["day"]))
    if match["ihour"] is not None:
        result.hour = int(match["ihour"])
        result.minute = int(match["imin"])
        result.second = int(match["isec"] or 0)
        result.fraction = _fraction_ticks(match["ifrac"])
    result.zone = match["zone"]
    return result


def _parse_general(text: str, culture: Culture) -> _Parsed | None:
    """Date, optional time (before or after it) and optional zone, in the usual en-US shapes."""
    result = _Parsed()
    if culture is not EN_US and culture is not INVARIANT:
        # Recorded (ar-SA): the engine reads past the right-to-left marks its own formats write, and the
        # culture's AM/PM designators standing alone ('3:04 م').
        text = _BIDI_MARKS.sub("", text)
        for designator, english in ((culture.am, "AM"), (culture.pm, "PM")):
            if designator and not designator.isascii():
                text = re.sub(rf"(?<=\s){re.escape(designator)}(?=\s|$)", english, text)
    if culture.time_separator not in (":", "") and culture is not INVARIANT:
        # Recorded: a culture's own time separator reads as ':' ('2.1.2024 15.04.05' in fi-FI, da-DK, id-ID).
        text = _culture_time(culture.time_separator).sub(
            lambda m: m.group(0).replace(culture.time_separator, ":"), text
        )
    # Pull out the time of day first: it is the only part containing ':' or an AM/PM designator.
    time_match = None
    for candidate in _TIME.finditer(text):
        start = candidate.start()
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "-/."):
            continue
        end = candidate.end()
        if end < len(text) and text[end].isalnum() and text[end] not in "Zz":
            continue
        time_match = candidate
        break
    rest = text
    if time_match is not None:
        if time_match["bhour"] is not None:
            hour, ampm = int(time_match["bhour"]), time_match["bampm"]
        else:
            hour, ampm = int(time_match["hour"]), time_match["ampm"]
            result.minute = int(time_match["minute"])
            result.second = int(time_match["second"] or 0)
            result.fraction = _fraction_ticks(time_match["frac"])
        if ampm:
            if ampm[0] in "Pp" and hour < 12:
                hour += 12
            elif ampm[0] in "Aa" and hour == 12:
                hour = 0
        result.hour = hour
        rest = text[: time_match.start()] + " " + text[time_match.end() :]
    # A trailing zone: ' GMT', 'Z', or a numeric offset.
    zone_match = re.search(rf"(?<=\s)(?:GMT|[Zz]|[+-]\d{{1,4}}(?::\d{{2}})?){_WS}*$", rest)
    if zone_match is not None:
        result.zone = zone_match.group(0).strip()
        rest = rest[: zone_match.start()]
    if culture is not EN_US and culture is not INVARIANT:
        result.weekday, rest = _leading_day_name(rest.lstrip(" \t\r\n\f\v"), culture)
        if result.weekday is not None and rest.startswith(","):
            rest = rest[1:]
    tokens = _tokens(rest)
    # Everything left must be tokens and whitespace.
    if re.sub(r"[\s]+", "", rest) != "".join(tokens):
        return None
    if not _parse_date_tokens(tokens, result, culture):
        return None
    if time_match is None and result.year is None and result.day is None:
        return None  # recorded: a day and a month alone are in this year ('January 2', '2. Januar' in de-DE)
    if culture.calendar != "gregorian" and result.year is not None and result.month is not None:
        try:
            result.year, result.month, result.day = _gregorian_date(result.year, result.month, result.day or 1, culture)
        except (ValueError, OverflowError):
            return None
    return result


def _parse_date_tokens(tokens: list[str], result: _Parsed, culture: Culture) -> bool:
    if culture is not EN_US and culture is not INVARIANT:
        # Recorded: another culture's names and pattern words are read too ('Dienstag, 2. Januar 2024' in
        # de-DE, '2 de janeiro de 2024' in pt-BR, '2024年1月2日' in ja-JP), its abbreviations with a dot.
        literals = _culture_words(culture)[2]
        tokens = [token for token in tokens if token.casefold() not in literals]
        # Recorded: the day's name may also come last ('2 Ocak 2024 Salı' in tr-TR, '2024. január 2., kedd').
        named = [index for index, token in enumerate(tokens) if index and _day_from_name(token, culture) is not None]
        if named and result.weekday is None:
            result.weekday = _day_from_name(tokens[named[-1]], culture)
            del tokens[named[-1]]
            while tokens and tokens[-1] in ",":
                tokens.pop()
    words = [t for t in tokens if t[:1].isalpha()]
    if tokens and tokens[0][:1].isalpha() and _day_from_name(tokens[0], culture) is not None:
        result.weekday = _day_from_name(tokens[0], culture)
        tokens = tokens[1:]
        if tokens and tokens[0] == ",":
            tokens = tokens[1:]
        words = words[1:]
    if not tokens:
        return result.weekday is None
    numbers = [t for t in tokens if t.isdigit()]
    separators = [t for t in tokens if t in "-/.,"]
    if len(words) > 1 or len(numbers) + len(words) + len(separators) != len(tokens):
        return False
    if words:
        month = _month_from_name(words[0], culture)
        if month is None:
            return False
        position = tokens.index(words[0])
        before = [t for t in tokens[:position] if t.isdigit()]
        after = [t for t in tokens[position:] if t.isdigit()]
        result.month = month
        if len(before) == 1 and len(after) == 1:
            if len(before[0]) >= 3:
                result.year, result.day = _number(before[0]), _number(after[0])
            else:
                result.day, result.year = _number(before[0]), _expand_year(after[0], culture)
        elif not before and len(after) == 2:
            result.day, result.year = _number(after[0]), _expand_year(after[1], culture)
        elif not before and len(after) == 1:
            if len(after[0]) >= 3:
                result.year, result.day = _number(after[0]), 1
            else:
                result.day = _number(after[0])
        elif len(before) == 1 and not after and culture.month_day.find("d") < culture.month_day.find("M"):
            # Recorded: a culture whose month-day pattern puts the day first reads '2 Januar' as 2 January of
            # this year (sv-SE too, though its short date is year first); en-US reads '2 January' as 2002.
            result.day = _number(before[0])
        elif len(before) == 1 and not after:
            # The engine reads '2 January' as January of year 2002.
            result.year, result.day = _expand_year(before[0], culture), 1
        else:
            return False
        return True
    if any(s == "," for s in separators) or len(set(separators)) > 1:
        return False
    if sum(len(n) >= 3 for n in numbers) > 1:
        return False
    if len(numbers) == 3:
        if len(numbers[0]) >= 3:
            result.year, result.month, result.day = _number(numbers[0]), _number(numbers[1]), _number(numbers[2])
        else:
            result.month, result.day = _number(numbers[0]), _number(numbers[1])
            if _day_first(culture):
                result.month, result.day = result.day, result.month
            result.year = _expand_year(numbers[2], culture)
        return True
    if len(numbers) == 2:
        if len(numbers[0]) >= 3:
            result.year, result.month, result.day = _number(numbers[0]), _number(numbers[1]), 1
        elif len(numbers[1]) >= 3:
            result.month, result.year, result.day = _number(numbers[0]), _number(numbers[1]), 1
        else:
            result.month, result.day = _number(numbers[0]), _number(numbers[1])
            if _day_first(culture):
                result.month, result.day = result.day, result.month
        return True
    return False


def _day_first(culture: Culture) -> bool:
    """Whether the culture's short date pattern puts the day before the month (en-GB, de-DE, ...)."""
    return culture.short_date.find("d") < culture.short_date.find("M")


def _finish(parsed: _Parsed, today: DotNetDateTime) -> DotNetDateTime | None:
    if parsed.month is None:
        year, month, day = today.year, today.month, today.day
    else:
        year = parsed.year if parsed.year is not None else today.year
        month, day = parsed.month, parsed.day if parsed.day is not None else 1
    return _build(parsed, year, month, day)


def _build(parsed: _Parsed, year: int, month: int, day: int) -> DotNetDateTime | None:
    try:
        value = DotNetDateTime.from_parts(
            year, month, day, hour=parsed.hour, minute=parsed.minute, second=parsed.second
        )
        value = value.add_ticks(parsed.fraction)
    except ExpressionEvaluationError:
        return None
    if parsed.weekday is not None and parsed.weekday != value.day_of_week:
        return None
    return _apply_zone(value, parsed.zone)


def _apply_zone(value: DotNetDateTime, zone: str | None) -> DotNetDateTime | None:
    if zone is None:
        return value
    if zone in ("Z", "z", "GMT"):
        return value.with_kind(Kind.UTC)
    offset = _offset_ticks(zone)
    if offset is None:
        return None
    ticks = value.ticks - offset
    if ticks < 0:
        # Observed: an instant before 0001-01-01T00:00Z wraps forward by one day instead of failing.
        ticks += TICKS_PER_DAY
    if ticks > MAX_TICKS:
        return None
    return DotNetDateTime(ticks, Kind.LOCAL)


# Exact parsing (DateTime.ParseExact) -----------------------------------------------------------------------


def parse_exact(text: str, fmt: str, today: DotNetDateTime, culture: Culture) -> DotNetDateTime | None:
    """``DateTime.ParseExact(text, fmt, culture, RoundtripKind)``; None when the text does not match."""
    if fmt == "" or text == "":
        # .NET refuses empty text outright, even for a format of optional parts only ('FFFFFFF').
        return None
    if len(fmt) == 1:
        found = _standard_pattern(fmt, culture)
        if found is None:
            return None
        fmt, culture = found
    parser = _ExactParser(text, culture)
    if not parser.run(fmt):
        return None
    return parser.build(today)


class _ExactParser:
    def __init__(self, text: str, culture: Culture) -> None:
        self.text = text
        self.pos = 0
        self.culture = culture
        self.fields: dict[str, int] = {}
        self.fraction = 0
        self.ampm: str | None = None
        self.zone: str | None = None
        self.weekday: int | None = None

    def _digits(self, minimum: int, maximum: int) -> int | None:
        start = self.pos
        # ASCII digits only, as .NET reads them: str.isdigit() also takes '²', which int() then refuses.
        while self.pos < len(self.text) and self.pos - start < maximum and "0" <= self.text[self.pos] <= "9":
            self.pos += 1
        if self.pos - start < minimum:
            return None
        # An optional field ('F') may match no digits at all.
        return _number(self.text[start : self.pos]) if self.pos > start else 0

    def _name(self, names: tuple[str, ...]) -> int | None:
        # Longest match first, case-insensitively, as .NET does.
        best: tuple[int, int] | None = None
        for index, name in enumerate(names):
            if self.text[self.pos : self.pos + len(name)].lower() == name.lower() and (
                best is None or len(name) > best[1]
            ):
                best = (index, len(name))
        if best is None:
            return None
        self.pos += best[1]
        return best[0]

    def _literal(self, ch: str) -> bool:
        if self.pos < len(self.text) and self.text[self.pos] == ch:
            self.pos += 1
            return True
        return False

    def run(self, fmt: str) -> bool:
        i = 0
        while i < len(fmt):
            ch = fmt[i]
            if ch in "dMyhHmsfFtgKz":
                # Unlike the other letters, each K prints on its own.
                n = 1 if ch == "K" else _repeat(fmt, i)
                if not self._field(ch, n):
                    return False
                i += n
            elif ch in "'\"":
                try:
                    literal, i = _quoted(fmt, i, fmt)
                except ExpressionEvaluationError:
                    return False
                if not all(self._literal(c) for c in literal):
                    return False
            elif ch == "%":
                if i + 1 >= len(fmt):
                    return False
                if fmt[i + 1] in "dMyhHmsfFtgKz":
                    if not self._field(fmt[i + 1], 1):
                        return False
                elif not self._literal(fmt[i + 1]):
                    return False
                i += 2
            elif ch == "\\":
                if i + 1 >= len(fmt) or not self._literal(fmt[i + 1]):
                    return False
                i += 2
            elif ch == "Z":
                # An unquoted 'Z' in the format reads a UTC designator.
                if not self._literal("Z"):
                    return False
                self.zone = "Z"
                i += 1
            elif ch.isspace():
                if not self._literal(ch):
                    return False
                i += 1
            elif ch in "/:":
                # Recorded: the culture's separator or the character itself ('31.01.2024' and '31/01/2024' in
                # de-DE with 'dd/MM/yyyy', '20\u200f/6\u200f/1445' in ar-SA).
                separator = self.culture.date_separator if ch == "/" else self.culture.time_separator
                if self.text.startswith(separator, self.pos):
                    self.pos += len(separator)
                elif not self._literal(ch):
                    return False
                i += 1
            elif ch == "." and fmt[i + 1 : i + 2] == "F" and self.text[self.pos : self.pos + 1] != ".":
                # A '.' before 'F' digits is optional, like the digits themselves.
                i += 1 + _repeat(fmt, i + 1)
            else:
                if not self._literal(ch):
                    return False
                i += 1
        return self.pos == len(self.text)

    def _field(self, ch: str, n: int) -> bool:
        value: int | None
        if ch == "d" and n >= 3:
            names = self.culture.day_abbreviations if n == 3 else self.culture.day_names
            self.weekday = self._name(names)
            return self.weekday is not None
        if ch == "M" and n >= 3:
            names = self.culture.month_abbreviations if n == 3 else self.culture.month_names
            genitive = self.culture.month_genitive_abbreviations if n == 3 else self.culture.month_genitive_names
            value = self._name(genitive + names)
            value = None if value is None else value % 12
            if value is None:
                return False
            self.fields["M"] = value + 1
            return True
        if ch in "fF":
            if n > 7:
                return False
            start = self.pos
            digits = self._digits(n if ch == "f" else 0, n)
            if digits is None:
                return False
            text = self.text[start : self.pos]
            self.fraction = int(text.ljust(7, "0")) if text else 0
            return True
        if ch == "t":
            for designator in (self.culture.am, self.culture.pm):
                piece = designator if n >= 2 else designator[:1]
                if self.text[self.pos : self.pos + len(piece)].lower() == piece.lower():
                    self.pos += len(piece)
                    self.ampm = designator
                    return True
            return False
        if ch == "g":
            return self._name((self.culture.era,)) is not None
        if ch in "Kz":
            match = re.compile(r"Z|[+-]\d{1,2}(?::?\d{2})?").match(self.text, self.pos)
            if match is None:
                return ch == "K"
            if match.group(0) == "Z" and ch == "z":
                return False
            self.zone = match.group(0)
            self.pos = match.end()
            return True
        if ch == "y":
            if n <= 2:
                start = self.pos
                value = self._digits(1, 2)
                if value is None:
                    return False
                self.fields["y"] = _expand_year(self.text[start : self.pos], self.culture)
                return True
            value = self._digits(n, max(n, 4)) if n == 3 else self._digits(n, n)
            if value is None:
                return False
            self.fields["y"] = value
            return True
        value = self._digits(1 if n == 1 else 2, 2)
        if value is None:
            return False
        self.fields[ch] = value
        return True

    def build(self, today: DotNetDateTime) -> DotNetDateTime | None:
        f = self.fields
        hour = f.get("H", 0)
        if "h" in f:
            if not 1 <= f["h"] <= 12:
                return None
            hour = f["h"] % 12
        if self.ampm is not None:
            if hour >= 12 and "H" in f and self.ampm == self.culture.am:
                return None
            if self.ampm == self.culture.pm and hour < 12:
                hour += 12
        has_date = "y" in f or "M" in f or "d" in f
        year = f.get("y", today.year)
        month = f.get("M", today.month if not has_date else 1)
        day = f.get("d", today.day if not has_date else 1)
        if self.culture.calendar != "gregorian" and has_date:
            try:
                year, month, day = _gregorian_date(year, month, day, self.culture)
            except (ValueError, OverflowError):
                return None
        try:
            value = DotNetDateTime.from_parts(
                year, month, day, hour=hour, minute=f.get("m", 0), second=f.get("s", 0), fraction_ticks=self.fraction
            )
        except ExpressionEvaluationError:
            return None
        if self.weekday is not None and self.weekday != value.day_of_week:
            return None
        return _apply_zone(value, self.zone)
