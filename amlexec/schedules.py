"""Scheduled payloads: which configured schedules are due, and the request identity of each occurrence.

Schedules come from configuration (a JSON file in the app and/or the ``AMLEXEC_SCHEDULES`` setting)::

    [{"name": "nightly-scoring", "schedule": "0 0 2 * * *", "timeZone": "W. Europe Standard Time",
      "payloadFile": "schedules/nightly.json"}]              # or "payload": { ...activity or envelope... }

``schedule`` is an NCRONTAB expression (six fields, seconds first, or five without seconds), read exactly as
Azure Functions timers read it (:mod:`amlexec.factory_triggers.ncrontab`: day-of-month *and* day-of-week
must both match); ``timeZone`` is a Windows or IANA id (default UTC). One timer ticks every minute and
launches every occurrence that fell in the window since the previous tick. The request identity of an
occurrence is ``schedule:<name>:<time>``, so a tick that fires twice (scale-out, restart, ``past_due``)
launches once.

Missed ticks: when the app was down, the tick after it is ``past_due``; for each schedule only the most
recent missed occurrence is launched (late), earlier ones are not backfilled — a nightly job that missed
three nights runs once, not three times. The look-back is capped at ``MAX_CATCH_UP``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from amlexec.errors import ConfigurationError
from amlexec.factory_triggers.ncrontab import NcrontabError, parse_ncrontab
from amlexec.settings import json_documents, refuse_repeated_names

__all__ = [
    "MAX_CATCH_UP",
    "TICK_OVERLAP",
    "Schedule",
    "due_occurrences",
    "load_schedules",
    "look_back_start",
    "request_id_for",
]

MAX_CATCH_UP = timedelta(days=1)
# Consecutive windows overlap a little so a late tick never leaves a gap; duplicates are idempotent.
TICK_OVERLAP = timedelta(seconds=30)


@dataclass(frozen=True)
class Schedule:
    """A named schedule and the payload it launches."""

    name: str
    cron: str
    payload: bytes
    time_zone: str = "UTC"

    def occurrences(self, since: datetime, until: datetime) -> list[datetime]:
        """Occurrences in ``(since, until]`` (UTC), oldest first, as a Functions timer fires them."""
        return list(parse_ncrontab(self.cron).occurrences(since, until, _zone(self.time_zone)))


def _zone(zone_id: str) -> Any:
    if zone_id.upper() == "UTC":
        return None
    from amlexec.expressions.timezones import find_time_zone

    zone = find_time_zone(zone_id)
    if zone is None:
        raise ConfigurationError(f"schedule time zone {zone_id!r} is neither a Windows nor an IANA zone id")
    return zone.rules


def request_id_for(schedule: Schedule, occurrence: datetime) -> str:
    """The request identity of one occurrence: the same for every tick that sees it."""
    return f"schedule:{schedule.name}:{occurrence.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def look_back_start(
    now: datetime, last_tick: datetime | None, tick_period: timedelta = timedelta(minutes=1)
) -> datetime:
    """Where a tick looks back from: the previous tick (a little before it), at most :data:`MAX_CATCH_UP` ago."""
    # Clamp before subtracting: a timer with no stored status reports year 1 as its last tick.
    return max(last_tick if last_tick is not None else now - tick_period, now - MAX_CATCH_UP) - TICK_OVERLAP


def due_occurrences(
    schedules: list[Schedule],
    *,
    now: datetime,
    last_tick: datetime | None,
    tick_period: timedelta = timedelta(minutes=1),
) -> list[tuple[Schedule, datetime]]:
    """Per schedule, the latest occurrence since the previous tick (none if nothing fell due)."""
    since = look_back_start(now, last_tick, tick_period)
    due = []
    for schedule in schedules:
        occurrences = schedule.occurrences(since, now)
        if occurrences:
            due.append((schedule, occurrences[-1]))
    return due


def _parse(entries: Any, source: str, base_dir: Path | None) -> list[Schedule]:
    if not isinstance(entries, list):
        raise ConfigurationError(f"{source}: expected a JSON array of schedules")
    schedules: list[Schedule] = []
    names: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"{source}[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ConfigurationError(f"{where}: a schedule needs a non-empty 'name'")
        name = entry["name"]
        if name in names:
            raise ConfigurationError(f"{where}: schedule name {name!r} is used twice")
        names.add(name)
        cron = entry.get("schedule")
        if not isinstance(cron, str):
            raise ConfigurationError(f"{where}: 'schedule' must be an NCRONTAB string such as '0 0 2 * * *'")
        try:
            parse_ncrontab(cron)
        except NcrontabError as exc:
            raise ConfigurationError(
                f"{where}: {exc} (NCRONTAB: [second] minute hour day month day-of-week, as Functions timers read it)"
            ) from None
        if "payload" in entry:
            payload = json.dumps(entry["payload"]).encode()
        elif isinstance(entry.get("payloadFile"), str):
            file = (base_dir or Path.cwd()) / entry["payloadFile"]
            try:
                payload = file.read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"{where}: cannot read payloadFile {file}: {exc.strerror}") from None
        else:
            raise ConfigurationError(f"{where}: give 'payload' or 'payloadFile'")
        zone = entry.get("timeZone", "UTC")
        if not isinstance(zone, str):
            raise ConfigurationError(f"{where}: 'timeZone' must be a string")
        schedule = Schedule(name, cron, payload, zone)
        _zone(zone)
        schedules.append(schedule)
    return schedules


def load_schedules(file: Path | None, inline: str | None) -> list[Schedule]:
    """Schedules from the file and the setting (both may contribute; names must be unique)."""
    schedules: list[Schedule] = []
    for document, source, base_dir in json_documents(file, inline, "AMLEXEC_SCHEDULES"):
        schedules += _parse(document, source, base_dir)
    refuse_repeated_names((schedule.name for schedule in schedules), "schedule")
    return schedules
