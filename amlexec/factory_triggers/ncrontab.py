"""NCRONTAB schedules evaluated the way Azure Functions timers evaluate them, in any time zone.

Functions timers parse their schedule with the NCrontab library and evaluate it in the app's local time
(``WEBSITE_TIME_ZONE``). This module is a clean-room evaluator of the same language, so a schedule that amlexec
runs from its own timer fires exactly when a Functions timer with that expression would. croniter is not used: it
fires when the day-of-month *or* the day-of-week matches (Vixie cron), NCrontab only when *both* do, so
``0 0 9 13 * 5`` (9:00 on Friday the 13th) fires twice in Q1 2026 here and fourteen times under croniter.

The language, as NCrontab parses it (its ``CrontabSchedule`` and ``CrontabField``):

* Six fields ``second minute hour day month day-of-week``, or five ``minute hour day month day-of-week`` with the
  second 0. Functions picks the form by counting: exactly five fields is the short form, anything else must be
  six (``CronSchedule.HasSeconds`` in azure-webjobs-sdk-extensions). Fields are separated by ASCII spaces only.
* A field is a comma list of ``*``, ``n``, ``a-b``, ``*/s``, ``a-b/s`` or ``n/s`` (``n`` to the field's maximum,
  every ``s``). A reversed range is swapped (``5-1`` is ``1-5``) and a step below 1 counts as 1 (``*/0`` is
  ``*``): NCrontab accepts both, so refusing them here would refuse schedules Functions runs.
* Months and days of the week also take English names, case-insensitive, as any prefix of the full name; the first
  name in calendar order that starts with the text wins (``Jan``, ``JANUARY``, ``j`` = January; ``T`` = Tuesday).
* Day of week 0-6 with 0 = Sunday. 7 is refused: NCrontab's range is 0..6 ("7 is higher than the maximum").
* Day-of-month and day-of-week must both match; a day past the month's end never matches (31 skips April).

Daylight saving time, as Functions' ``CronSchedule.GetNextOccurrence`` handles it (the expression sees wall-clock
time; each occurrence is sought after the previous one's local time):

* A local time that does not exist (clocks spring forward) is read with the offset in force before the gap, the
  way .NET reads invalid times, so a 02:30 schedule fires at 03:30 summer time; the search then resumes after
  03:30, so later times inside the gap do not fire again.
* A local time that occurs twice (clocks fall back): a *point-in-time* expression fires once, in the first pass;
  an *interval* expression keeps firing through both passes (every 30 minutes stays every 30 minutes). Functions
  calls an expression an interval when its second, minute or hour field, written out by NCrontab, contains ``*``
  or a range: every value, or two consecutive values. So ``0 0 */2 * * *`` is a point in time, ``0 */5 * * * *``
  an interval. A search that starts inside the second pass skips the repeated hour (Functions assumes the first
  pass already fired).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise

__all__ = ["Ncrontab", "NcrontabError", "parse_ncrontab"]


class NcrontabError(ValueError):
    """An expression NCrontab refuses; the message names the field and the offending value."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY = _Field("day-of-month", 1, 31)
_MONTH = _Field(
    "month",
    1,
    12,
    (
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
    ),
)
_DAY_OF_WEEK = _Field(
    "day-of-week", 0, 6, ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
)
_SIX_FIELDS = (_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _DAY_OF_WEEK)

_DIGITS = re.compile(r"[0-9]+")
# NCrontab reads the step with .NET's int.Parse, which takes a sign.
_STEP = re.compile(r"[+-]?[0-9]+")
_LATEST = datetime(9999, 12, 31, 23, 59, 58)


def _fail(expression: str, field: _Field, text: str, problem: str) -> NcrontabError:
    return NcrontabError(f"NCRONTAB {expression!r}: {field.name} field {text!r}: {problem}")


def _parse_value(expression: str, field: _Field, field_text: str, text: str) -> int:
    if text and text[0] in "0123456789":
        if not _DIGITS.fullmatch(text):
            raise _fail(expression, field, field_text, f"{text!r} is not a number")
        return int(text)
    if field.names and text:
        folded = text.lower()
        for index, name in enumerate(field.names):
            if name.lower().startswith(folded):
                return field.low + index
        known = ", ".join(name[:3] for name in field.names)
        raise _fail(expression, field, field_text, f"{text!r} is neither a number nor a {field.name} name ({known})")
    shown = repr(text) if text else "an empty value"
    raise _fail(expression, field, field_text, f"{shown} is not a number between {field.low} and {field.high}")


def _check_bounds(expression: str, field: _Field, field_text: str, value: int) -> None:
    if value < field.low:
        raise _fail(expression, field, field_text, f"{value} is below the minimum {field.low}")
    if value > field.high:
        extra = " (0 = Sunday; NCrontab does not accept 7)" if field is _DAY_OF_WEEK else ""
        raise _fail(expression, field, field_text, f"{value} is above the maximum {field.high}{extra}")


def _parse_field(expression: str, field: _Field, text: str) -> tuple[int, ...]:
    chosen: set[int] = set()
    for element in text.split(","):
        if not element:
            raise _fail(expression, field, text, "a list element is empty")
        base, slash, step_text = element.partition("/")
        step = 1
        if slash:
            if not _STEP.fullmatch(step_text):
                raise _fail(expression, field, text, f"step {step_text!r} is not a number")
            step = max(int(step_text), 1)
        dash = base.find("-")
        if base == "*":
            first, last = field.low, field.high
        elif dash > 0:
            first = _parse_value(expression, field, text, base[:dash])
            last = _parse_value(expression, field, text, base[dash + 1 :])
            first, last = min(first, last), max(first, last)
        else:
            first = _parse_value(expression, field, text, base)
            last = field.high if slash and first <= field.high else first
        _check_bounds(expression, field, text, first)
        _check_bounds(expression, field, text, last)
        chosen.update(range(first, last + 1, step))
    return tuple(sorted(chosen))


def parse_ncrontab(expression: str) -> Ncrontab:
    """Parse a 6-field (seconds first) or 5-field NCRONTAB expression; NcrontabError names what is wrong."""
    if not isinstance(expression, str):
        raise NcrontabError(f"an NCRONTAB expression is a string, not {type(expression).__name__}")
    tokens = [token for token in expression.split(" ") if token]
    fields: tuple[_Field, ...]
    if len(tokens) == 5:
        fields, has_seconds = _SIX_FIELDS[1:], False
    elif len(tokens) == 6:
        fields, has_seconds = _SIX_FIELDS, True
    else:
        raise NcrontabError(
            f"NCRONTAB {expression!r} has {len(tokens)} field{'s' if len(tokens) != 1 else ''}; expected 6 "
            "(second minute hour day month day-of-week) or 5 (minute hour day month day-of-week)"
        )
    values = [_parse_field(expression, field, token) for field, token in zip(fields, tokens, strict=True)]
    if not has_seconds:
        values.insert(0, (0,))
    seconds, minutes, hours, days, months, days_of_week = values
    return Ncrontab(expression, seconds, minutes, hours, days, months, days_of_week, has_seconds)


def _dense(values: tuple[int, ...], field: _Field) -> bool:
    """Whether NCrontab writes this field with ``*`` or a range: every value, or two consecutive ones."""
    return len(values) == field.high - field.low + 1 or any(b - a == 1 for a, b in pairwise(values))


def _wall(moment: datetime, zone: tzinfo) -> datetime:
    # Through UTC: astimezone() returns a datetime already in ``zone`` unchanged, even a skipped wall time.
    return moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None)


def _offset(moment: datetime) -> timedelta:
    return moment.utcoffset() or timedelta(0)


def _is_repeated(wall: datetime, zone: tzinfo) -> bool:
    """Whether this wall-clock time occurs twice in ``zone`` (the hour clocks fall back over)."""
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if _offset(first) == _offset(second):
        return False
    return _wall(first, zone) == wall and _wall(second, zone) == wall


def _dotnet_offset(wall: datetime, zone: tzinfo) -> timedelta:
    """The offset .NET's ``TimeZoneInfo.GetUtcOffset`` gives a wall-clock time.

    Both special cases are read as standard time: a skipped time gets the offset in force before the gap, a
    repeated time the standard (usually the later) of its two offsets.
    """
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if _offset(first) == _offset(second) or _wall(first, zone) != wall:
        return _offset(first)
    if first.dst() and not second.dst():
        return _offset(second)
    if second.dst() and not first.dst():
        return _offset(first)
    return _offset(second)


@dataclass(frozen=True)
class Ncrontab:
    """A parsed NCRONTAB expression: the set of values each field allows (0 = Sunday for days of the week)."""

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]
    has_seconds: bool = True

    @property
    def is_interval(self) -> bool:
        """Functions' "interval" schedules keep firing through a repeated hour; see the module docstring."""
        checked = [(self.minutes, _MINUTE), (self.hours, _HOUR)]
        if self.has_seconds:
            checked.append((self.seconds, _SECOND))
        return any(_dense(values, field) for values, field in checked)

    def matches(self, wall: datetime) -> bool:
        """Whether a wall-clock time (its date and whole seconds) is on the schedule."""
        return (
            wall.second in self.seconds
            and wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.day in self.days
            and wall.month in self.months
            and (wall.weekday() + 1) % 7 in self.days_of_week
        )

    def occurrences(self, since: datetime, until: datetime, zone: tzinfo | None = None) -> Iterator[datetime]:
        """Fire times ``t`` with ``since < t <= until``, oldest first, as aware UTC datetimes.

        The expression is evaluated in ``zone``'s wall-clock time (None = UTC), daylight saving handled as
        Functions handles it (module docstring).
        """
        _require_aware(since, "since")
        _require_aware(until, "until")
        rules = zone or UTC
        last = _last_date(until, rules)
        moment = since
        while True:
            found = self._next_instant(moment, rules, last)
            if found is None or found > until:
                return
            if found <= moment:
                # Only a zone with exotic transitions could answer backwards; step on rather than loop forever.
                moment += timedelta(seconds=1)
                continue
            yield found
            moment = found

    def next_occurrence(self, after: datetime, zone: tzinfo | None = None) -> datetime | None:
        """The first fire time after ``after`` (aware UTC), or None when the schedule never fires again."""
        _require_aware(after, "after")
        return next(self.occurrences(after, datetime.max.replace(tzinfo=UTC), zone), None)

    def _next_instant(self, now: datetime, zone: tzinfo, last: date) -> datetime | None:
        """What ``CronSchedule.GetNextOccurrence(now)`` answers, as an aware UTC datetime."""
        now_wall, now_offset = _wall(now, zone), _offset(now.astimezone(zone))
        wall = self._next_wall(now_wall, last)
        if wall is None:
            return None
        offset = _dotnet_offset(wall, zone)
        found = (wall - offset).replace(tzinfo=UTC)
        now_repeated, next_repeated = _is_repeated(now_wall, zone), _is_repeated(wall, zone)
        if not (now_repeated or next_repeated):
            return found
        if self.is_interval:
            # Carry on through both passes: an hour read as standard time moves back to the pass we are in.
            return found + (offset - now_offset) if offset != now_offset else found
        if not next_repeated:
            return found
        if offset != now_offset:
            # Still in summer time: the repeated time fires in its first pass.
            return found + (offset - now_offset)
        # Already in the second pass: the first one fired (or would have), so skip the repeated hour.
        following: datetime | None = wall
        while following is not None and _is_repeated(following, zone):
            following = self._next_wall(following, last)
        if following is None:
            return None
        return (following - _dotnet_offset(following, zone)).replace(tzinfo=UTC)

    def _next_wall(self, after: datetime, last: date) -> datetime | None:
        """The first whole-second wall-clock time after ``after`` on the schedule, None past ``last``."""
        if after >= _LATEST:
            return None
        start = after.replace(microsecond=0) + timedelta(seconds=1)
        for day in self._candidate_dates(start.date(), last):
            if (day.weekday() + 1) % 7 not in self.days_of_week:
                continue
            floor = (start.hour, start.minute, start.second) if day == start.date() else (0, 0, 0)
            moment = self._first_time(floor)
            if moment is not None:
                return datetime.combine(day, moment)
        return None

    def _candidate_dates(self, first: date, last: date) -> Iterator[date]:
        """Dates from ``first`` to ``last`` whose month and day of month are on the schedule.

        Jumps over months the schedule excludes, so a yearly schedule costs a few steps a year, not 365.
        """
        year, month, day_floor = first.year, first.month, first.day
        while True:
            index = bisect_left(self.months, month)
            if index == len(self.months):
                year, month, day_floor = year + 1, self.months[0], 1
            elif self.months[index] != month:
                month, day_floor = self.months[index], 1
            if (year, month) > (last.year, last.month):
                return
            length = monthrange(year, month)[1]
            for day in self.days[bisect_left(self.days, day_floor) :]:
                if day > length:
                    break
                candidate = date(year, month, day)
                if candidate > last:
                    return
                yield candidate
            year, month, day_floor = (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)

    def _first_time(self, floor: tuple[int, int, int]) -> time | None:
        """The earliest time of day on the schedule at or after ``floor`` (hour, minute, second)."""
        hour_floor, minute_floor, second_floor = floor
        for hour in self.hours[bisect_left(self.hours, hour_floor) :]:
            same_hour = hour == hour_floor
            for minute in self.minutes[bisect_left(self.minutes, minute_floor if same_hour else 0) :]:
                lowest = second_floor if same_hour and minute == minute_floor else 0
                index = bisect_left(self.seconds, lowest)
                if index < len(self.seconds):
                    return time(hour, minute, self.seconds[index])
        return None


def _last_date(until: datetime, zone: tzinfo) -> date:
    """The last local date worth searching: a day past ``until``, as DST shifts move occurrences by hours."""
    try:
        return _wall(until, zone).date() + timedelta(days=1)
    except OverflowError:
        return date.max


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {moment.isoformat()}")
