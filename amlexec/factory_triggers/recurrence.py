"""Data Factory ScheduleTrigger recurrences: read ``typeProperties.recurrence`` and list the times it fires.

The rules, from Data Factory's "Create a trigger that runs a pipeline on a schedule" (C = documented there, I =
inferred from the same engine's Azure Scheduler / Logic Apps documentation, U = undocumented, our choice):

* ``frequency`` Minute, Hour, Day, Week or Month, any case (C). ``interval`` 1..1000, default 1 (C). "Daily" and
  friends are refused with a hint (the UI never writes them; one exported factory has "Daily"), and so is the API
  enum's "Year", which the schedule trigger does not document. Integers may come as digit strings and a single
  value may stand for a one-element array, as Data Factory's JSON.NET reads them (I; the docs allow the latter).
* ``timeZone``: "UTC" or a Windows id ("W. Europe Standard Time"), any case; IANA ids are accepted too, as amlexec's
  zone look-up accepts them (U whether Data Factory does). With "UTC", ``startTime``/``endTime`` must end in
  ``Z`` or Data Factory refuses to start the trigger (C): that is an issue here. Other zones take wall-clock times
  without ``Z`` (C); a time with ``Z`` or an offset is read as that instant (U). No ``timeZone`` at all is the
  pre-2020 form: UTC, ``Z`` optional (C, the time-zone announcement: "existing ones continue to follow UTC").
* Without a schedule the trigger fires at ``startTime + k * interval * frequency``, k >= 0 (C); for Day, Week and
  Month that is the same as a schedule left at its defaults, below.
* With a schedule the trigger fires no sooner than ``startTime`` (C). ``interval`` picks the periods (every
  ``interval`` days, weeks or months counted from ``startTime``'s own day, week or month) and the schedule the times
  inside them (C for the examples, I for the counting). Weeks run Sunday to Saturday, .NET's first day (U).
  ``weekDays`` only with Week, ``monthDays``/``monthlyOccurrences`` only with Month (C); a day listed by either is
  a run day (U: their union). ``monthDays`` -1 is the last day; a day a month lacks (31 in April) is skipped (C).
  Without days, the run day is ``startTime``'s weekday or day of month, the last day when a month is shorter (U).
* Times inside a day: hours x minutes. The docs' examples fix the defaults: no hours and no minutes means
  ``startTime``'s time of day; minutes without hours means every hour ("minutes [0,15,30,45]: run every 15
  minutes"); hours without minutes means ``startTime``'s minute (C). Scheduled times have second 0 (U).
* Minute and Hour frequencies with a schedule (U, the UI offers none): Hour periods are the local clock hours every
  ``interval`` hours from ``startTime``'s, each firing at the listed minutes (default ``startTime``'s minute);
  Minute recurrences fire at ``startTime + k * interval`` minutes whose local hour and minute are listed. A schedule
  that rules out every time for five years is taken to never fire; a Month schedule, for a 400-year calendar cycle.
* ``endTime`` is exclusive: the quickstart's every-15-minutes trigger with ``endTime`` one hour after ``startTime``
  runs "15, 30 and 45 minutes after the start time" (C). ``endTime`` must be later than ``startTime`` (U).
* Daylight saving: Day, Week and Month recurrences keep the wall-clock time (C); Minute and Hour ones step in
  absolute time (C). A skipped wall time fires one gap later (02:30 becomes 03:30) and a repeated one fires once, in
  its first pass: the Logic Apps documentation shows exactly that for the shared engine (I).
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import islice
from typing import Any

from amlexec.errors import InvalidDefinition, Issue, child_path, describe_value
from amlexec.expressions.timezones import find_time_zone

__all__ = [
    "FREQUENCIES",
    "MAX_INTERVAL",
    "WEEK_DAYS",
    "MonthlyOccurrence",
    "Recurrence",
    "RecurrenceError",
    "RecurrenceSchedule",
    "parse_recurrence",
]

FREQUENCIES = ("Minute", "Hour", "Day", "Week", "Month")
WEEK_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MAX_INTERVAL = 1000

_HOUR = timedelta(hours=1)
_STEPS = {"Minute": timedelta(minutes=1), "Hour": _HOUR}
_NEAR_MISSES = {"minutely": "Minute", "hourly": "Hour", "daily": "Day", "weekly": "Week", "monthly": "Month"}
# A Minute/Hour schedule repeats within lcm(interval, one day) <= 1000 days; five years also spans DST seasons.
_GIVE_UP_AFTER = timedelta(days=5 * 366)
# Month patterns repeat with the 400-year Gregorian cycle.
_GIVE_UP_AFTER_MONTHS = 400 * 12
_TIMESTAMP = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[Tt ](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,7}))?)?)?"
    r"(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_INTEGER = re.compile(r"-?[0-9]+")


class RecurrenceError(InvalidDefinition, ValueError):
    """A recurrence Data Factory would refuse, with every issue found (JSON paths under the given prefix)."""

    what = "recurrence"


@dataclass(frozen=True)
class MonthlyOccurrence:
    """``{"day": "Friday", "occurrence": -1}``: the last Friday. ``day`` counts from 0 = Sunday."""

    day: int
    # 1..5 from the start of the month, -1..-5 from its end; None means every such weekday of the month.
    occurrence: int | None = None

    def days_in(self, year: int, month: int) -> list[int]:
        """The days of that month this occurrence names (none when there is no fifth Friday)."""
        first_weekday, length = monthrange(year, month)  # Monday = 0 there
        first = 1 + ((self.day + 6) % 7 - first_weekday) % 7
        days = list(range(first, length + 1, 7))
        if self.occurrence is None:
            return days
        index = self.occurrence - 1 if self.occurrence > 0 else len(days) + self.occurrence
        return [days[index]] if 0 <= index < len(days) else []


@dataclass(frozen=True)
class RecurrenceSchedule:
    """The ``schedule`` object; an empty tuple means the property was absent (or an empty array)."""

    minutes: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    week_days: tuple[int, ...] = ()  # 0 = Sunday
    month_days: tuple[int, ...] = ()  # 1..31 and -31..-1
    monthly_occurrences: tuple[MonthlyOccurrence, ...] = ()

    @property
    def has_times(self) -> bool:
        return bool(self.minutes or self.hours)


@dataclass(frozen=True)
class Recurrence:
    """A validated recurrence: when it starts and ends (aware UTC), how it repeats, and in which zone."""

    frequency: str
    interval: int
    start: datetime
    end: datetime | None
    time_zone_id: str
    schedule: RecurrenceSchedule
    zone: tzinfo | None  # None = UTC
    start_local: datetime  # startTime on the zone's wall clock (naive)

    def occurrences(self, since: datetime, until: datetime) -> Iterator[datetime]:
        """Fire times ``t`` with ``since < t <= until``, oldest first, aware UTC, in ``[start, end)``.

        Starts from ``since`` directly (it does not walk from ``startTime``), so a query years after the start
        costs what the queried window costs.
        """
        _require_aware(since, "since")
        _require_aware(until, "until")
        for moment in self._after(since.astimezone(UTC)):
            if moment > until:
                return
            yield moment

    def next_occurrences(self, after: datetime, count: int) -> list[datetime]:
        """The first ``count`` fire times after ``after`` (fewer when ``endTime`` comes first)."""
        _require_aware(after, "after")
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        return list(islice(self._after(after.astimezone(UTC)), count))

    def _after(self, after: datetime) -> Iterator[datetime]:
        if self.frequency in _STEPS:
            source = self._clock_slots(after) if self.schedule.has_times else self._fixed_steps(after)
        else:
            source = self._calendar_periods(after)
        previous: datetime | None = None
        for moment in source:
            if self.end is not None and moment >= self.end:
                return
            if moment <= after or moment < self.start or (previous is not None and moment <= previous):
                continue
            previous = moment
            yield moment

    def _fixed_steps(self, after: datetime) -> Iterator[datetime]:
        """Minute/Hour without a schedule: ``start + k * step`` in absolute time, jumping straight to ``after``."""
        step = _STEPS[self.frequency] * self.interval
        k = 0 if after < self.start else (after - self.start) // step + 1
        try:
            moment = self.start + k * step
            while True:
                yield moment
                moment += step
        except OverflowError:
            return

    def _clock_slots(self, after: datetime) -> Iterator[datetime]:
        """Minute/Hour with a schedule (module docstring): local clock hours in absolute time."""
        zone = self.zone or UTC
        step = _STEPS[self.frequency] * self.interval
        first_slot = _hour_floor(self.start, zone)
        if self.schedule.minutes:
            offsets = [timedelta(minutes=minute) for minute in self.schedule.minutes]
        else:
            local = self.start_local
            offsets = [timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)]
        try:
            slot = _hour_floor(max(after, self.start), zone)
            give_up = slot + _GIVE_UP_AFTER
            while slot <= give_up:
                if self.end is not None and slot >= self.end:
                    return
                found = self._slot_times(slot, zone, first_slot, offsets, step)
                if found:
                    give_up = slot + _GIVE_UP_AFTER
                    yield from found
                following = _hour_floor(slot + _HOUR, zone)
                slot = following if following > slot else slot + _HOUR
        except OverflowError:
            return

    def _slot_times(
        self, slot: datetime, zone: tzinfo, first_slot: datetime, offsets: list[timedelta], step: timedelta
    ) -> list[datetime]:
        if self.schedule.hours and slot.astimezone(zone).hour not in self.schedule.hours:
            return []
        if self.frequency == "Hour":
            if ((slot - first_slot) // _HOUR) % self.interval:
                return []
            return [slot + offset for offset in offsets]
        behind = slot - self.start
        k = 0 if behind <= timedelta(0) else -(-behind // step)
        moment = self.start + k * step
        found: list[datetime] = []
        while moment < slot + _HOUR:
            if not self.schedule.minutes or moment.astimezone(zone).minute in self.schedule.minutes:
                found.append(moment)
            moment += step
        return found

    def _calendar_periods(self, after: datetime) -> Iterator[datetime]:
        """Day/Week/Month: whole periods from the one holding ``after``, each expanded to its dates and times."""
        zone = self.zone or UTC
        times = self._times_of_day()
        start_day = self.start_local.date()
        try:
            origin = _wall(max(after, self.start), zone).date()
            last = None if self.end is None else _wall(self.end, zone).date() + timedelta(days=1)
            if self.frequency == "Month":
                yield from self._months(origin, last, times, zone)
                return
            if self.frequency == "Week":
                base = start_day - timedelta(days=_sunday_index(start_day))
                offsets = sorted(self.schedule.week_days or (_sunday_index(start_day),))
                span = 7 * self.interval
            else:
                base, offsets, span = start_day, [0], self.interval
            # One period back: a time shifted over midnight by a DST gap may still lie ahead of ``after``.
            k = max(0, (origin - base).days // span - 1)
            while True:
                first = base + timedelta(days=k * span)
                if last is not None and first > last:
                    return
                days = [first + timedelta(days=offset) for offset in offsets]
                yield from self._period_candidates(days, times, zone)
                k += 1
        except OverflowError:
            # Past year 9999: date arithmetic refuses, and so does the schedule.
            return

    def _months(self, origin: date, last: date | None, times: list[time], zone: tzinfo) -> Iterator[datetime]:
        base = self.start_local.year * 12 + self.start_local.month - 1
        k = max(0, (origin.year * 12 + origin.month - 1 - base) // self.interval - 1)
        quiet_since = k
        while (k - quiet_since) * self.interval <= _GIVE_UP_AFTER_MONTHS:
            year, month0 = divmod(base + k * self.interval, 12)
            if year > date.max.year:
                return
            if last is not None and date(year, month0 + 1, 1) > last:
                return
            found = self._period_candidates(self._month_dates(year, month0 + 1), times, zone)
            if found:
                quiet_since = k
                yield from found
            k += 1

    def _month_dates(self, year: int, month: int) -> list[date]:
        length = monthrange(year, month)[1]
        days: set[int] = set()
        for day in self.schedule.month_days:
            actual = day if day > 0 else length + day + 1
            if 1 <= actual <= length:
                days.add(actual)
        for occurrence in self.schedule.monthly_occurrences:
            days.update(occurrence.days_in(year, month))
        if not self.schedule.month_days and not self.schedule.monthly_occurrences:
            days.add(min(self.start_local.day, length))
        return [date(year, month, day) for day in sorted(days)]

    def _times_of_day(self) -> list[time]:
        hours, minutes = self.schedule.hours, self.schedule.minutes
        if not hours and not minutes:
            return [self.start_local.time()]
        hours = hours or tuple(range(24))
        minutes = minutes or (self.start_local.minute,)
        return sorted(time(hour, minute) for hour in hours for minute in minutes)

    def _period_candidates(self, days: list[date], times: list[time], zone: tzinfo) -> list[datetime]:
        """Every instant of one period, sorted and without duplicates (two skipped times can land together)."""
        return sorted({_instant(datetime.combine(day, moment), zone) for day in days for moment in times})


def _sunday_index(day: date) -> int:
    return (day.weekday() + 1) % 7


def _wall(moment: datetime, zone: tzinfo) -> datetime:
    return moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None)


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    """A wall-clock time as an instant; fold 0 reads a skipped time one gap later, a repeated one in its first pass."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _hour_floor(moment: datetime, zone: tzinfo) -> datetime:
    """The instant the local clock hour holding ``moment`` began."""
    local = moment.astimezone(zone)
    return moment - timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {moment.isoformat()}")


# --- reading the JSON ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stamp:
    wall: datetime
    offset: timedelta | None  # None: no Z and no offset


def _as_int(value: Any) -> int | None:
    """A JSON integer as Data Factory's JSON.NET reads one: an integral number or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    return None


def _parse_stamp(text: str) -> _Stamp | None:
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        return None
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    try:
        wall = datetime.combine(
            date.fromisoformat(match["date"]),
            time(int(match["hour"] or 0), int(match["minute"] or 0), int(match["second"] or 0), int(fraction)),
        )
    except ValueError:
        return None
    zone = match["zone"]
    if zone is None:
        return _Stamp(wall, None)
    if zone in "Zz":
        return _Stamp(wall, timedelta(0))
    sign = -1 if zone[0] == "-" else 1
    return _Stamp(wall, sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))


class _Reader:
    """Collects every issue while reading; paths are relative to the prefix the caller gave."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.issues: list[Issue] = []

    def issue(self, path: str, message: str, expected: str, got: str, code: str) -> None:
        self.issues.append(Issue(path, message, expected, got, code=code))

    def frequency(self, document: dict[str, Any]) -> str | None:
        path = child_path(self.path, "frequency")
        expected = "one of " + ", ".join(FREQUENCIES)
        if "frequency" not in document or document["frequency"] is None:
            self.issue(path, "required property is missing", expected, "nothing", "missing")
            return None
        value = document["frequency"]
        if not isinstance(value, str):
            self.issue(path, "frequency must be a string", expected, describe_value(value), "wrong_type")
            return None
        for name in FREQUENCIES:
            if value.lower() == name.lower():
                return name
        hint = _NEAR_MISSES.get(value.lower())
        message = f"Data Factory's frequency is {hint}, not {value}" if hint else "unknown frequency"
        self.issue(path, message, expected, describe_value(value), "invalid_value")
        return None

    def interval(self, document: dict[str, Any]) -> int:
        if document.get("interval") is None:
            return 1
        path = child_path(self.path, "interval")
        value = _as_int(document["interval"])
        if value is None:
            self.issue(
                path,
                "interval must be an integer",
                f"an integer from 1 to {MAX_INTERVAL}",
                describe_value(document["interval"]),
                "wrong_type",
            )
            return 1
        if not 1 <= value <= MAX_INTERVAL:
            self.issue(
                path,
                "interval is out of range",
                f"an integer from 1 to {MAX_INTERVAL}",
                describe_value(value),
                "out_of_range",
            )
            return 1
        return value

    def time_zone(self, document: dict[str, Any]) -> tuple[str, tzinfo | None, bool] | None:
        """(id, rules or None for UTC, whether timeZone was given); None when it names no zone."""
        value = document.get("timeZone")
        if value is None:
            return "UTC", None, False
        path = child_path(self.path, "timeZone")
        if not isinstance(value, str):
            self.issue(
                path,
                "timeZone must be a string",
                'a Windows time-zone id such as "UTC"',
                describe_value(value),
                "wrong_type",
            )
            return None
        found = find_time_zone(value)
        if found is None:
            self.issue(
                path,
                "no such time zone",
                'a Windows time-zone id such as "W. Europe Standard Time"',
                describe_value(value),
                "unknown_time_zone",
            )
            return None
        return value, found.rules, True

    def stamp(self, document: dict[str, Any], key: str, *, required: bool) -> _Stamp | None:
        path = child_path(self.path, key)
        value = document.get(key)
        expected = "an ISO 8601 date-time such as 2024-01-31T06:00:00Z"
        if value is None:
            if required:
                self.issue(path, "required property is missing", expected, "nothing", "missing")
            return None
        if not isinstance(value, str):
            self.issue(path, f"{key} must be a string", expected, describe_value(value), "wrong_type")
            return None
        stamp = _parse_stamp(value)
        if stamp is None:
            self.issue(path, f"{key} is not an ISO 8601 date-time", expected, describe_value(value), "invalid_value")
        return stamp

    def schedule(self, value: Any, frequency: str | None) -> RecurrenceSchedule:
        path = child_path(self.path, "schedule")
        if value is None:
            return RecurrenceSchedule()
        if not isinstance(value, dict):
            self.issue(path, "schedule must be an object", "an object", describe_value(value), "wrong_type")
            return RecurrenceSchedule()
        minutes = self.numbers(value, path, "minutes", 0, 59)
        hours = self.numbers(value, path, "hours", 0, 23)
        month_days = self.numbers(value, path, "monthDays", -31, 31, zero=False)
        week_days = self.week_days(value, path)
        occurrences = self.monthly_occurrences(value, path)
        if frequency is not None:
            for key, given, wanted in (
                ("weekDays", week_days, "Week"),
                ("monthDays", month_days, "Month"),
                ("monthlyOccurrences", occurrences, "Month"),
            ):
                if given and frequency != wanted:
                    self.issue(
                        child_path(path, key),
                        f"{key} can only be used with frequency {wanted}",
                        f"frequency {wanted}",
                        f"frequency {frequency}",
                        "not_allowed",
                    )
        return RecurrenceSchedule(minutes, hours, week_days, month_days, occurrences)

    def _items(self, schedule: dict[str, Any], path: str, key: str) -> list[tuple[str, Any]]:
        value = schedule.get(key)
        if value is None:
            return []
        if isinstance(value, list):
            return [(child_path(child_path(path, key), index), item) for index, item in enumerate(value)]
        # The docs allow a single value where an array is expected ("Integer or Array of integers").
        return [(child_path(path, key), value)]

    def numbers(
        self, schedule: dict[str, Any], path: str, key: str, low: int, high: int, *, zero: bool = True
    ) -> tuple[int, ...]:
        expected = f"integers from {low} to {high}" + ("" if zero else ", not 0")
        found: set[int] = set()
        for item_path, item in self._items(schedule, path, key):
            number = _as_int(item)
            if number is None:
                self.issue(item_path, f"{key} holds integers", expected, describe_value(item), "wrong_type")
            elif not low <= number <= high or (number == 0 and not zero):
                self.issue(item_path, f"{key} value out of range", expected, describe_value(number), "out_of_range")
            else:
                found.add(number)
        return tuple(sorted(found))

    def day_name(self, item_path: str, item: Any, what: str) -> int | None:
        if isinstance(item, str):
            for index, name in enumerate(WEEK_DAYS):
                if item.lower() == name.lower():
                    return index
        self.issue(
            item_path,
            f"{what} must be a day name",
            "Sunday, Monday, …, Saturday (any case)",
            describe_value(item),
            "invalid_value",
        )
        return None

    def week_days(self, schedule: dict[str, Any], path: str) -> tuple[int, ...]:
        found = {
            self.day_name(item_path, item, "weekDays") for item_path, item in self._items(schedule, path, "weekDays")
        }
        return tuple(sorted(day for day in found if day is not None))

    def monthly_occurrences(self, schedule: dict[str, Any], path: str) -> tuple[MonthlyOccurrence, ...]:
        found: list[MonthlyOccurrence] = []
        for item_path, item in self._items(schedule, path, "monthlyOccurrences"):
            if not isinstance(item, dict):
                self.issue(
                    item_path,
                    "a monthly occurrence is an object",
                    '{"day": "Friday", "occurrence": 1}',
                    describe_value(item),
                    "wrong_type",
                )
                continue
            day_path = child_path(item_path, "day")
            day = None
            if item.get("day") is None:
                self.issue(day_path, "required property is missing", "a day name such as Friday", "nothing", "missing")
            else:
                day = self.day_name(day_path, item["day"], "day")
            occurrence = None
            if item.get("occurrence") is not None:
                occurrence = _as_int(item["occurrence"])
                if occurrence is None or not 1 <= abs(occurrence) <= 5:
                    self.issue(
                        child_path(item_path, "occurrence"),
                        "occurrence out of range",
                        "1..5 from the start of the month or -1..-5 from its end",
                        describe_value(item["occurrence"]),
                        "out_of_range" if occurrence is not None else "wrong_type",
                    )
                    continue
            if day is not None:
                found.append(MonthlyOccurrence(day, occurrence))
        return tuple(dict.fromkeys(found))


def _resolve(stamp: _Stamp, zone: tzinfo | None) -> tuple[datetime, datetime]:
    """(instant, wall clock in the zone) for a timestamp; a stamp without offset is on the zone's clock."""
    rules = zone or UTC
    if stamp.offset is None:
        return _instant(stamp.wall, rules), stamp.wall
    instant = (stamp.wall - stamp.offset).replace(tzinfo=UTC)
    return instant, _wall(instant, rules)


def parse_recurrence(document: Any, path: str = "properties.typeProperties.recurrence") -> Recurrence:
    """Validate a ScheduleTrigger ``recurrence`` object; RecurrenceError carries every issue, not just the first."""
    reader = _Reader(path)
    if not isinstance(document, dict):
        reader.issue(path, "the recurrence must be an object", "an object", describe_value(document), "wrong_type")
        raise RecurrenceError(reader.issues)
    frequency = reader.frequency(document)
    interval = reader.interval(document)
    zone_found = reader.time_zone(document)
    start = reader.stamp(document, "startTime", required=True)
    end = reader.stamp(document, "endTime", required=False)
    schedule = reader.schedule(document.get("schedule"), frequency)
    if zone_found is None:
        raise RecurrenceError(reader.issues)
    zone_id, zone, zone_given = zone_found
    if zone is None and zone_given:
        for key, stamp in (("startTime", start), ("endTime", end)):
            if stamp is not None and stamp.offset is None:
                reader.issue(
                    child_path(path, key),
                    f"with timeZone UTC Data Factory requires {key} to end in Z; it refuses to start the trigger",
                    "yyyy-MM-ddTHH:mm:ssZ",
                    describe_value(document[key]),
                    "missing_utc_designator",
                )
    if start is None:
        raise RecurrenceError(reader.issues)
    start_at, start_local = _resolve(start, zone)
    end_at = None if end is None else _resolve(end, zone)[0]
    if end_at is not None and end_at <= start_at:
        reader.issue(
            child_path(path, "endTime"),
            "endTime must be later than startTime",
            "a time after startTime",
            describe_value(document["endTime"]),
            "out_of_range",
        )
    if reader.issues or frequency is None:
        raise RecurrenceError(reader.issues)
    return Recurrence(frequency, interval, start_at, end_at, zone_id, schedule, zone, start_local)
