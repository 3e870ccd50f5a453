"""The date and time functions of the expression language (utcNow, addDays, formatDateTime, ...).

Each function takes already-evaluated arguments and behaves like Data Factory's engine, measured
with the engine itself (see ``tests/oracle/record_date_cases.py``): timestamps are parsed and
printed as .NET ``DateTime`` values (:mod:`amlexec.expressions.dotnet_datetime`), time zones are
Windows ids (:mod:`amlexec.expressions.timezones`), and the default output is the round-trip
format with seven fractional digits. Every failure is an ``ExpressionEvaluationError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from amlexec.expressions.dotnet_datetime import (
    EN_US,
    TICKS_PER_DAY,
    TICKS_PER_HOUR,
    TICKS_PER_MINUTE,
    TICKS_PER_SECOND,
    DotNetDateTime,
    Kind,
    format_datetime,
    parse_exact,
    parse_timestamp,
    resolve_culture,
)
from amlexec.expressions.errors import ExpressionEvaluationError
from amlexec.expressions.registry import CallContext, FunctionSpec
from amlexec.expressions.timezones import TimeZone, find_time_zone, local_to_utc, utc_to_local

__all__ = ["DATE_FUNCTIONS"]

_ROUND_TRIP = "o"
_ORDINALS = ("first", "second", "third", "fourth")
_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "Boolean"),
    (int, "Integer"),
    (float, "Float"),
    (str, "String"),
    (list, "Array"),
    (dict, "Object"),
)


def _type_name(value: Any) -> str:
    if value is None:
        return "Null"
    for python_type, name in _TYPE_NAMES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def _fail(function: str, message: str) -> ExpressionEvaluationError:
    return ExpressionEvaluationError(f"The template language function '{function}' {message}")


def _string_arg(function: str, args: Sequence[Any], index: int) -> str:
    value = args[index]
    if not isinstance(value, str):
        raise _fail(
            function,
            f"expects its {_ORDINALS[index]} parameter to be of type string. "
            f"The provided value is of type '{_type_name(value)}'.",
        )
    return value


def _int_arg(function: str, args: Sequence[Any], index: int) -> int:
    value = args[index]
    # JSON booleans are not integers to the engine, and neither is 1.0.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(
            function,
            f"expects its {_ORDINALS[index]} parameter to be an integer. "
            f"The provided value is of type '{_type_name(value)}'.",
        )
    return value


def _today(ctx: CallContext) -> DotNetDateTime:
    return _from_python(ctx.now(), Kind.UTC)


def _from_python(moment: datetime, kind: Kind) -> DotNetDateTime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    # A Python datetime's fields are always valid: its ordinal gives the ticks without checking them again.
    ticks = (
        (moment.toordinal() - 1) * TICKS_PER_DAY
        + moment.hour * TICKS_PER_HOUR
        + moment.minute * TICKS_PER_MINUTE
        + moment.second * TICKS_PER_SECOND
        + moment.microsecond * 10
    )
    return DotNetDateTime(ticks, kind)


def _timestamp_arg(function: str, args: Sequence[Any], index: int, ctx: CallContext) -> DotNetDateTime:
    text = _string_arg(function, args, index)
    value = parse_timestamp(text, lambda: _today(ctx))
    if value is None:
        raise ExpressionEvaluationError(
            f"In function '{function}', the value provided for date time string '{text}' was not valid. "
            "The datetime string must match ISO 8601 format."
        )
    return value


def _render(function: str, value: DotNetDateTime, args: Sequence[Any], index: int) -> str:
    """Format ``value`` with the optional format argument at ``index`` (round-trip when absent)."""
    fmt = _ROUND_TRIP if len(args) <= index else _string_arg(function, args, index)
    return format_datetime(value, fmt, EN_US)


def _shifted(
    function: str, value: DotNetDateTime, step: Callable[[DotNetDateTime], DotNetDateTime], description: str
) -> DotNetDateTime:
    try:
        return step(value)
    except ExpressionEvaluationError as exc:
        raise _fail(
            function, f"could not create time value with {description}. It results in an out of range date time value."
        ) from exc


# Units of addToTime & co. are the engine's recurrence-frequency enum; like any .NET enum parse the
# names are case-insensitive, trimmed, may be given by number, and a comma list ORs the values.
_UNITS = {"second": 1, "minute": 2, "hour": 3, "day": 4, "week": 5, "month": 6, "year": 7}
# ASCII digits only: str.isdigit() also accepts '²' or '١', which .NET's enum parse does not read as numbers.
_ENUM_NUMBER = re.compile(r"[+-]?[0-9]+")
_FIXED_UNIT_TICKS = {
    1: TICKS_PER_SECOND,
    2: TICKS_PER_MINUTE,
    3: TICKS_PER_HOUR,
    4: TICKS_PER_DAY,
    5: 7 * TICKS_PER_DAY,
}


def _unit_arg(function: str, args: Sequence[Any], index: int) -> int:
    value = args[index]
    if not isinstance(value, str):
        raise _fail(
            function,
            f"expects its {_ORDINALS[index]} parameter to be a string that contains the "
            f"time unit. The provided value is of type '{_type_name(value)}'.",
        )
    combined = 0
    for part in value.split(","):
        name = part.strip()
        if name.lower() in _UNITS:
            combined |= _UNITS[name.lower()]
        elif _ENUM_NUMBER.fullmatch(name):
            # Beyond 32 bits .NET's enum parse overflows; int() would also refuse thousands of digits.
            number = int(name) if len(name.lstrip("+-").lstrip("0")) <= 10 else -1
            combined |= number if 0 <= number <= 2**31 - 1 else -1
        else:
            combined = -1
            break
        if combined < 0:
            break
    if not 1 <= combined <= 7:
        raise _fail(
            function,
            f"expects its second parameter to be a string that represents a valid time "
            f"unit. The provided value '{value}' is not a valid time unit.",
        )
    return combined


def _add_interval(function: str, value: DotNetDateTime, interval: int, unit: int) -> DotNetDateTime:
    description = f"time interval '{interval}' and time unit '{unit}'"
    # Recorded: the engine keeps the interval in a 32-bit integer, wrapping (addToTime(t, 9223372036854775807,
    # 'Day') is a day earlier, subtractFromTime(t, -2147483648, 'Minute') adds -2**31 minutes and fails).
    interval = ((interval + 2**31) % 2**32) - 2**31
    if unit == 6:
        return _shifted(function, value, lambda v: v.add_months(interval), description)
    if unit == 7:
        return _shifted(function, value, lambda v: v.add_months(12 * interval), description)
    return _shifted(function, value, lambda v: v.add_ticks(interval * _FIXED_UNIT_TICKS[unit]), description)


# Functions -------------------------------------------------------------------------------------------------


def _utc_now(args: Sequence[Any], ctx: CallContext) -> Any:
    return _render("utcNow", _today(ctx), args, 0)


def _make_add(function: str, unit_ticks: int) -> FunctionSpec:
    def impl(args: Sequence[Any], ctx: CallContext) -> Any:
        value = _timestamp_arg(function, args, 0, ctx)
        amount = _int_arg(function, args, 1)
        try:
            result = value.add_ticks(amount * unit_ticks)
        except ExpressionEvaluationError as exc:
            raise _fail(
                function,
                f"second parameter '{amount}' is not valid. The added or subtracted value "
                "results in an unrepresentable date.",
            ) from exc
        return _render(function, result, args, 2)

    return FunctionSpec(name=function, min_args=2, max_args=3, impl=impl)


def _add_to_time(args: Sequence[Any], ctx: CallContext) -> Any:
    value = _timestamp_arg("addToTime", args, 0, ctx)
    interval = _int_arg("addToTime", args, 1)
    unit = _unit_arg("addToTime", args, 2)
    return _render("addToTime", _add_interval("addToTime", value, interval, unit), args, 3)


def _subtract_from_time(args: Sequence[Any], ctx: CallContext) -> Any:
    value = _timestamp_arg("subtractFromTime", args, 0, ctx)
    interval = _int_arg("subtractFromTime", args, 1)
    unit = _unit_arg("subtractFromTime", args, 2)
    return _render("subtractFromTime", _add_interval("subtractFromTime", value, -interval, unit), args, 3)


def _make_relative(function: str, sign: int) -> FunctionSpec:
    def impl(args: Sequence[Any], ctx: CallContext) -> Any:
        interval = _int_arg(function, args, 0)
        unit = _unit_arg(function, args, 1)
        return _render(function, _add_interval(function, _today(ctx), sign * interval, unit), args, 2)

    return FunctionSpec(name=function, min_args=2, max_args=3, impl=impl)


def _format_date_time(args: Sequence[Any], ctx: CallContext) -> Any:
    value = _timestamp_arg("formatDateTime", args, 0, ctx)
    fmt = _ROUND_TRIP if len(args) < 2 else _string_arg("formatDateTime", args, 1)
    culture = EN_US if len(args) < 3 else resolve_culture(_string_arg("formatDateTime", args, 2))
    return format_datetime(value, fmt, culture)


def _parse_date_time(args: Sequence[Any], ctx: CallContext) -> Any:
    text = _string_arg("parseDateTime", args, 0)
    culture = EN_US if len(args) < 2 else resolve_culture(_string_arg("parseDateTime", args, 1))
    if len(args) < 3:
        value = parse_timestamp(text, _today(ctx), culture)
    else:
        value = parse_exact(text, _string_arg("parseDateTime", args, 2), _today(ctx), culture)
    if value is None:
        raise ExpressionEvaluationError(
            f"In function 'parseDateTime', the value provided for date time string '{text}' was not valid."
        )
    return format_datetime(value, _ROUND_TRIP)


def _make_start_of(function: str, truncate: Callable[[DotNetDateTime], DotNetDateTime]) -> FunctionSpec:
    def impl(args: Sequence[Any], ctx: CallContext) -> Any:
        return _render(function, truncate(_timestamp_arg(function, args, 0, ctx)), args, 1)

    return FunctionSpec(name=function, min_args=1, max_args=2, impl=impl)


def _make_part(function: str, part: Callable[[DotNetDateTime], int]) -> FunctionSpec:
    def impl(args: Sequence[Any], ctx: CallContext) -> Any:
        return part(_timestamp_arg(function, args, 0, ctx))

    return FunctionSpec(name=function, min_args=1, max_args=1, impl=impl)


def _zone_arg(function: str, args: Sequence[Any], index: int) -> TimeZone:
    value = args[index]
    if not isinstance(value, str):
        raise _fail(
            function,
            f"expects its {_ORDINALS[index]} parameter to be a string that contains a time "
            f"zone. The provided value is of type '{_type_name(value)}'.",
        )
    zone = find_time_zone(value)
    if zone is None:
        raise ExpressionEvaluationError(
            f"In the template language function '{function}', the value provided for the time zone id "
            f"'{value}' was not valid."
        )
    return zone


def _wall_clock_to_utc(function: str, value: DotNetDateTime, zone: TimeZone) -> int:
    utc = local_to_utc(value.ticks, zone)
    if utc is None:
        shown = format_datetime(value, _ROUND_TRIP)
        raise _fail(
            function,
            f"was given a timestamp '{shown}' that was invalid or ambiguous in the source time zone '{zone.id}'.",
        )
    return utc


def _in_zone(utc_ticks: int, zone: TimeZone) -> DotNetDateTime:
    if zone.is_utc:
        return DotNetDateTime(utc_ticks, Kind.UTC)
    return DotNetDateTime(utc_to_local(utc_ticks, zone), Kind.UNSPECIFIED)


def _convert_from_utc(args: Sequence[Any], ctx: CallContext) -> Any:
    value = _timestamp_arg("convertFromUtc", args, 0, ctx)
    zone = _zone_arg("convertFromUtc", args, 1)
    if value.kind is not Kind.UTC:
        raise _fail(
            "convertFromUtc",
            "expects its first parameter to be a string that contains a UTC date "
            f"time. The value was '{format_datetime(value, _ROUND_TRIP)}'.",
        )
    return _render("convertFromUtc", _in_zone(value.ticks, zone), args, 2)


def _convert_to_utc(args: Sequence[Any], ctx: CallContext) -> Any:
    value = _timestamp_arg("convertToUtc", args, 0, ctx)
    zone = _zone_arg("convertToUtc", args, 1)
    if value.kind is Kind.LOCAL or (value.kind is Kind.UTC and not zone.is_utc):
        raise _fail(
            "convertToUtc",
            "expects its second parameter to be a time zone matching the time zone "
            f"indicated by the timestamp. The provided value '{zone.id}' does not "
            "match.",
        )
    utc = value.ticks if value.kind is Kind.UTC else _wall_clock_to_utc("convertToUtc", value, zone)
    return _render("convertToUtc", DotNetDateTime(utc, Kind.UTC), args, 2)


def _convert_time_zone(args: Sequence[Any], ctx: CallContext) -> Any:
    value = _timestamp_arg("convertTimeZone", args, 0, ctx)
    source = _zone_arg("convertTimeZone", args, 1)
    target = _zone_arg("convertTimeZone", args, 2)
    # A timestamp that already names its instant (Z or an offset) keeps it, but (recorded) is still refused
    # when its wall-clock time in the source zone is ambiguous there ('2024-11-03T05:30:00Z' in Eastern time).
    if value.kind is Kind.UNSPECIFIED:
        utc = _wall_clock_to_utc("convertTimeZone", value, source)
    else:
        _wall_clock_to_utc(
            "convertTimeZone", DotNetDateTime(utc_to_local(value.ticks, source), Kind.UNSPECIFIED), source
        )
        utc = value.ticks
    return _render("convertTimeZone", _in_zone(utc, target), args, 3)


def _time_span(ticks: int) -> str:
    """.NET ``TimeSpan.ToString()`` (the ``c`` format): ``[-][d.]hh:mm:ss[.fffffff]``."""
    sign = "-" if ticks < 0 else ""
    days, hours, minutes, seconds, fraction = _time_span_parts(ticks)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{fraction:07d}" if fraction else text


def _date_difference(args: Sequence[Any], ctx: CallContext) -> Any:
    start = _timestamp_arg("dateDifference", args, 0, ctx)
    end = _timestamp_arg("dateDifference", args, 1, ctx)
    return _time_span(end.ticks - start.ticks)


# formatTimeSpan ---------------------------------------------------------------------------------------------

# TimeSpan.Parse with the invariant culture (recorded: the culture argument does not change what is read):
# a number of days, or [d.]h:m[:s[.fraction]] with hours below 24, minutes and seconds below 60.
# Recorded quirks: 'd:h:m:s' reads too ('1:02:03:04' is a day and more), and 'h:m:s' with 24 hours or more is
# read as 'd:h:m' ('25:00:00' is 25 days).
_TIME_SPAN = re.compile(
    r"[ \t\r\n\f\v]*(?P<sign>-)?(?:(?P<days_only>[0-9]+)|(?:(?P<days>[0-9]+)(?:\.|:(?=[0-9]+:[0-9]+:)))?"
    r"(?P<hours>[0-9]+):(?P<minutes>[0-9]+)(?::(?P<seconds>[0-9]+)(?:\.(?P<fraction>[0-9]{1,7}))?)?)[ \t\r\n\f\v]*"
)


def _parse_time_span(text: str) -> int | None:
    match = _TIME_SPAN.fullmatch(text)
    if match is None:
        return None
    if match["days_only"] is not None:
        ticks = int(match["days_only"]) * TICKS_PER_DAY
    else:
        days, hours, minutes = int(match["days"] or 0), int(match["hours"]), int(match["minutes"])
        seconds = int(match["seconds"] or 0)
        if hours > 23 and match["days"] is None and match["seconds"] is not None and match["fraction"] is None:
            days, hours, minutes, seconds = hours, minutes, seconds, 0
        if hours > 23 or minutes > 59 or seconds > 59:
            return None
        fraction = int((match["fraction"] or "").ljust(7, "0"))
        ticks = (
            days * TICKS_PER_DAY
            + hours * TICKS_PER_HOUR
            + minutes * TICKS_PER_MINUTE
            + seconds * TICKS_PER_SECOND
            + fraction
        )
    if ticks > (2**63 if match["sign"] else 2**63 - 1):  # TimeSpan's range: Int64 ticks
        return None
    return -ticks if match["sign"] else ticks


def _time_span_parts(ticks: int) -> tuple[int, int, int, int, int]:
    days, rest = divmod(abs(ticks), TICKS_PER_DAY)
    hours, rest = divmod(rest, TICKS_PER_HOUR)
    minutes, rest = divmod(rest, TICKS_PER_MINUTE)
    seconds, fraction = divmod(rest, TICKS_PER_SECOND)
    return days, hours, minutes, seconds, fraction


def _time_span_custom(ticks: int, fmt: str, original: str) -> str:
    """A custom TimeSpan format: d..dddddddd, h/hh, m/mm, s/ss, f../F.. up to 7, '\\x' and quoted literals;
    any other character is refused, and the sign is never written (recorded: 'hh\\:mm' of -1.02:03:04.5 is
    02:03)."""
    days, hours, minutes, seconds, fraction = _time_span_parts(ticks)
    out: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        n = 1
        while i + n < len(fmt) and fmt[i + n] == ch and ch in "dhmsfF":
            n += 1
        if ch == "d" and n <= 8:
            out.append(str(days).rjust(n, "0"))
        elif ch in "hms" and n <= 2:
            out.append(str({"h": hours, "m": minutes, "s": seconds}[ch]).rjust(n, "0"))
        elif ch == "f" and n <= 7:
            out.append(f"{fraction:07d}"[:n])
        elif ch == "F" and n <= 7:
            out.append(f"{fraction:07d}"[:n].rstrip("0"))
        elif ch == "\\" and i + 1 < len(fmt):
            out.append(fmt[i + 1])
            n = 2
        elif ch in "'\"":
            end = fmt.find(ch, i + 1)
            if end < 0:
                raise _time_span_format_error(original)
            out.append(fmt[i + 1 : end])
            n = end - i + 1
        elif ch == "%" and i + 1 < len(fmt) and fmt[i + 1] != "%":
            n = 1
        else:
            raise _time_span_format_error(original)
        i += n
    return "".join(out)


def _time_span_format_error(fmt: str) -> ExpressionEvaluationError:
    return _fail(
        "formatTimeSpan",
        f"format parameter '{fmt}' is not supported. The format must be a valid TimeSpan standard format "
        "('c', 'g' or 'G') or custom format.",
    )


def _format_time_span(args: Sequence[Any], ctx: CallContext) -> Any:
    """formatTimeSpan(span, format[, locale]): TimeSpan.Parse, then TimeSpan.ToString(format, culture)."""
    if len(args) < 2:
        raise _fail(
            "formatTimeSpan",
            "expects a timespan as the first parameter, an optional format string as the second parameter and an "
            f"optional locale as the third parameter. The function was invoked with '{len(args)}' parameter(s).",
        )
    text = _string_arg("formatTimeSpan", args, 0)
    fmt = _string_arg("formatTimeSpan", args, 1)
    # Recorded: any text is taken as the locale (even 'xx'); only its decimal separator is used, by 'g'/'G'.
    locale = _string_arg("formatTimeSpan", args, 2) if len(args) > 2 else "en-US"
    ticks = _parse_time_span(text)
    if ticks is None:
        raise _fail(
            "formatTimeSpan",
            f"the value provided for date time string '{text}' was not valid. The timespan string must match the "
            "format [-][d.]hh:mm[:ss[.fffffff]].",
        )
    sign = "-" if ticks < 0 else ""
    days, hours, minutes, seconds, fraction = _time_span_parts(ticks)
    if fmt in ("", "c", "t", "T"):
        return _time_span(ticks)
    if fmt in ("g", "G"):
        decimal = _decimal_separator(locale)
        if fmt == "G":
            return f"{sign}{days}:{hours:02d}:{minutes:02d}:{seconds:02d}{decimal}{fraction:07d}"
        head = f"{sign}{f'{days}:' if days else ''}{hours}:{minutes:02d}:{seconds:02d}"
        digits = f"{fraction:07d}".rstrip("0")
        return f"{head}{decimal}{digits}" if digits else head
    if len(fmt) == 1:
        raise _time_span_format_error(fmt)  # any other single letter is a standard format that does not exist
    return _time_span_custom(ticks, fmt, fmt)


def _decimal_separator(locale: str) -> str:
    if locale.lower() in ("en-us", ""):
        return "."
    from amlexec.expressions.cultures import number_culture

    try:
        return number_culture(locale).decimal
    except ExpressionEvaluationError:
        return "."  # recorded: a name that is no culture is not refused here


def _start_of_day(value: DotNetDateTime) -> DotNetDateTime:
    return value.add_ticks(-value.time_of_day)


def _start_of_hour(value: DotNetDateTime) -> DotNetDateTime:
    return value.add_ticks(-(value.ticks % TICKS_PER_HOUR))


def _start_of_month(value: DotNetDateTime) -> DotNetDateTime:
    return value.add_ticks(-value.time_of_day - (value.day - 1) * TICKS_PER_DAY)


_SPECS = [
    FunctionSpec(name="utcNow", min_args=0, max_args=1, impl=_utc_now),
    _make_add("addDays", TICKS_PER_DAY),
    _make_add("addHours", TICKS_PER_HOUR),
    _make_add("addMinutes", TICKS_PER_MINUTE),
    _make_add("addSeconds", TICKS_PER_SECOND),
    FunctionSpec(name="addToTime", min_args=3, max_args=4, impl=_add_to_time),
    FunctionSpec(name="subtractFromTime", min_args=3, max_args=4, impl=_subtract_from_time),
    _make_relative("getFutureTime", 1),
    _make_relative("getPastTime", -1),
    FunctionSpec(name="formatDateTime", min_args=1, max_args=3, impl=_format_date_time),
    FunctionSpec(name="parseDateTime", min_args=1, max_args=3, impl=_parse_date_time),
    _make_start_of("startOfDay", _start_of_day),
    _make_start_of("startOfHour", _start_of_hour),
    _make_start_of("startOfMonth", _start_of_month),
    _make_part("dayOfWeek", lambda v: v.day_of_week),
    _make_part("dayOfMonth", lambda v: v.day),
    _make_part("dayOfYear", lambda v: v.day_of_year),
    _make_part("ticks", lambda v: v.ticks),
    FunctionSpec(name="convertFromUtc", min_args=2, max_args=3, impl=_convert_from_utc),
    FunctionSpec(name="convertToUtc", min_args=2, max_args=3, impl=_convert_to_utc),
    FunctionSpec(name="convertTimeZone", min_args=3, max_args=4, impl=_convert_time_zone),
    FunctionSpec(name="dateDifference", min_args=2, max_args=2, impl=_date_difference),
    FunctionSpec(name="formatTimeSpan", min_args=1, max_args=3, impl=_format_time_span),
]

DATE_FUNCTIONS: dict[str, FunctionSpec] = {spec.name.lower(): spec for spec in _SPECS}
