"""Time-zone ids as the engine accepts them (Windows ids, also IANA ids) and wall-clock conversions.

Data Factory's ``convertTimeZone`` family takes Windows time-zone ids ("Pacific Standard Time").
The Windows→IANA mapping comes from ``tzlocal.windows_tz`` (generated from CLDR's
windowsZones.xml) and the rules from ``zoneinfo`` (system database or the ``tzdata`` package), both
imported lazily because most expressions never touch a time zone. Like the engine on a Linux host,
an IANA id is accepted too, and ``UTC`` (any case) is the special UTC zone whose conversions yield
UTC-kind values.

Conversions work on .NET tick counts so that 100 ns precision and the 0001..9999 range survive;
results past either end are clamped to the range, as the engine does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from amlexec.expressions.dotnet_datetime import MAX_TICKS, TICKS_PER_DAY, TICKS_PER_SECOND

__all__ = ["TimeZone", "find_time_zone", "local_to_utc", "utc_to_local"]

_TICKS_PER_MICROSECOND = 10
# Python datetimes near the ends of the range cannot be shifted by an offset; look offsets up a
# couple of days inside instead (no zone changes rules there).
_SAFE_MIN = datetime(1, 1, 3)
_SAFE_MAX = datetime(9999, 12, 29)


@dataclass(frozen=True)
class TimeZone:
    """A resolved zone: the id as given, and the ``tzinfo`` holding its rules (None for UTC)."""

    id: str
    rules: tzinfo | None

    @property
    def is_utc(self) -> bool:
        return self.rules is None


@lru_cache(maxsize=1)
def _windows_ids() -> dict[str, str]:
    from tzlocal.windows_tz import win_tz  # lazy: most expressions never need a zone

    table: dict[str, str] = win_tz
    return {name.lower(): iana for name, iana in table.items()}


@lru_cache(maxsize=1)
def _iana_ids_folded() -> dict[str, str]:
    import zoneinfo  # lazy, see module docstring

    return {name.lower(): name for name in zoneinfo.available_timezones()}


def _load(key: str) -> tzinfo | None:
    import zoneinfo  # lazy, see module docstring

    try:
        return zoneinfo.ZoneInfo(key)
    except Exception:  # any failure (bad key, missing file, corrupt data) means "unknown id"
        return None


@lru_cache(maxsize=256)
def find_time_zone(zone_id: str) -> TimeZone | None:
    """Resolve an id the way the engine does; None when it names no zone."""
    if zone_id.lower() == "utc":
        return TimeZone(zone_id, None)
    if not zone_id or zone_id != zone_id.strip() or "\x00" in zone_id:
        return None
    # IANA ids first (as .NET on Linux reads the zone database before trying Windows names).
    rules = None if " " in zone_id else _load(zone_id)
    if rules is None:
        iana = _windows_ids().get(zone_id.lower())
        if iana is None:
            iana = _iana_ids_folded().get(zone_id.lower())
        if iana is None:
            return None
        rules = _load(iana)
        if rules is None:
            return None
    return TimeZone(zone_id, rules)


def _to_datetime(ticks: int) -> datetime:
    days, rest = divmod(ticks, TICKS_PER_DAY)
    moment = datetime(1, 1, 1) + timedelta(days=days, microseconds=rest // _TICKS_PER_MICROSECOND)
    return min(max(moment, _SAFE_MIN), _SAFE_MAX)


def _seconds(delta: timedelta | None) -> int:
    return 0 if delta is None else delta.days * 86_400 + delta.seconds


@lru_cache(maxsize=256)
def _base_offset(rules: tzinfo) -> int:
    """The zone's present-day standard offset in seconds (.NET's ``BaseUtcOffset``)."""
    offsets = []
    year = datetime.now(UTC).year
    for month in (1, 7):
        moment = datetime(year, month, 15, 12)
        offsets.append(
            (abs(_seconds(rules.dst(moment))), _seconds(rules.utcoffset(moment)) - _seconds(rules.dst(moment)))
        )
    return min(offsets)[1]


def _offset_ticks(rules: tzinfo, delta: timedelta | None) -> int:
    """An offset as the engine's .NET sees it, in ticks.

    .NET keeps offsets to whole minutes: an offset with seconds (local mean time before time zones
    were standardised) is stored relative to the base offset with only its hours and minutes
    components kept, measured as truncating toward zero and dropping whole days.
    """
    seconds = _seconds(delta)
    if seconds % 60:
        base = _base_offset(rules)
        difference = seconds - base
        kept = abs(difference) % 86_400 // 60 * 60
        seconds = base + (kept if difference >= 0 else -kept)
    return seconds * TICKS_PER_SECOND


def _clamp(ticks: int) -> int:
    return min(max(ticks, 0), MAX_TICKS)


def utc_to_local(utc_ticks: int, zone: TimeZone) -> int:
    """Wall-clock ticks in ``zone`` for a UTC instant."""
    if zone.rules is None:
        return utc_ticks
    moment = _to_datetime(utc_ticks).replace(tzinfo=zone.rules)
    local: Any = zone.rules.fromutc(moment)
    offset = _offset_ticks(zone.rules, local.replace(tzinfo=None) - moment.replace(tzinfo=None))
    return _clamp(utc_ticks + offset)


def local_to_utc(local_ticks: int, zone: TimeZone) -> int | None:
    """UTC ticks for a wall-clock time in ``zone``; None when the time is skipped or repeated there.

    The engine refuses both. Its "repeated" window starts one tick before the fall-back hour and ends
    one tick before its end (measured), so the check is made on the following tick.
    """
    if zone.rules is None:
        return local_ticks
    wall = _to_datetime(local_ticks)
    rules = zone.rules
    first = _offset_ticks(rules, rules.utcoffset(wall.replace(fold=0)))
    second = _offset_ticks(rules, rules.utcoffset(wall.replace(fold=1)))
    if first < second:
        # A gap: this wall-clock time never happens (clocks jumped over it).
        return None
    after = _to_datetime(min(local_ticks + 1, MAX_TICKS))
    if _offset_ticks(rules, rules.utcoffset(after.replace(fold=0))) > _offset_ticks(
        rules, rules.utcoffset(after.replace(fold=1))
    ):
        return None
    # Outside the engine's ambiguous window the later (standard-time) offset applies.
    return _clamp(local_ticks - second)
