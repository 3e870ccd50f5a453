"""Tumbling window triggers: every window runs exactly once, oldest first, at most ``maxConcurrency`` at a time.

A Data Factory ``TumblingWindowTrigger`` cuts time into back-to-back windows ``[startTime + k*interval,
startTime + (k+1)*interval)`` (Minute, Hour or Month), runs each window once its end plus ``delay`` has
passed, backfills from ``startTime``, and retries a failed window ``retryPolicy.count`` times
``retryPolicy.intervalInSeconds`` apart. Unlike a schedule, a window missed while the app was down is not
skipped: it runs later.

That needs durable progress, kept in a :class:`WindowLedger` (Azure Table storage in the app's own
account; in memory locally): per trigger, a cursor (the next window never sent) and one row per window sent
(its attempt and state). One tick plans from the ledger alone (:func:`plan_tick`), and the caller applies the
plan in an order that survives a crash anywhere:

1. send each window's request (message id ``window:<trigger>:<start>:<attempt>``: Service Bus duplicate
   detection, then amlexec's launch idempotency, make a second send of one attempt harmless);
2. record the windows as sent (create only: a row that exists, even finished, is never set back);
3. move the cursor (optimistic concurrency: an instance that lost the race sent only duplicates).

A crash before 2 or 3 makes the next tick send the same messages again, which launch nothing new; a
crash before 1 sends them then. The end of a window's run is recorded by whoever publishes its terminal
event (:meth:`WindowLedger.record_outcome`, an upsert), so a failed window is retried and a finished one
frees a slot.

``dependsOn`` (up to 5): a self-dependency (``SelfDependencyTumblingWindowTriggerReference``, negative
``offset``, optional ``size``) or a dependency on another tumbling window trigger amlexec runs
(``TumblingWindowTriggerDependencyReference``, optional ``offset`` and ``size``). A window ``[s, e)`` waits
until every window of the named trigger overlapping ``[s + offset, s + offset + size)`` has succeeded;
``size`` defaults to the dependent window's length. Windows that do not exist (before the trigger's
``startTime`` or after its ``endTime``) count as succeeded: Data Factory documents that a self-dependency
is satisfied for the first windows, and amlexec reads the same rule for the ends of other triggers.
"""

from __future__ import annotations

import calendar
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from amlexec.clock import parse_instant
from amlexec.errors import InvalidDefinition, Issue, describe_value

__all__ = [
    "MAX_WINDOWS_PER_TICK",
    "MemoryWindowLedger",
    "PlannedWindow",
    "TickPlan",
    "TumblingWindow",
    "WindowDependency",
    "WindowError",
    "WindowLedger",
    "WindowRecord",
    "outcome_state",
    "parse_tumbling_window",
    "parse_window_request_id",
    "plan_tick",
    "run_tick",
    "window_request_id",
]

# Windows one tick may send per trigger: bounds one tick's work however far behind a trigger is (a 30-day
# backfill of 5-minute windows is 8,640); maxConcurrency (at most 50) normally bounds it first.
MAX_WINDOWS_PER_TICK = 500

WindowState = Literal["sent", "succeeded", "failed", "exhausted"]

_FREQUENCIES = {"minute": "Minute", "hour": "Hour", "month": "Month"}
_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")


class WindowError(InvalidDefinition, ValueError):
    """A tumbling window trigger that cannot run: every issue found, each with its JSON path."""

    what = "tumbling window"


@dataclass(frozen=True)
class WindowDependency:
    """Window ``[s, e)`` waits for ``trigger``'s windows (None: its own) overlapping ``[s + offset, s + offset +
    size)``."""

    offset: timedelta
    size: timedelta
    trigger: str | None = None


@dataclass(frozen=True)
class TumblingWindow:
    """One tumbling window trigger's timing (``typeProperties``)."""

    frequency: str
    interval: int
    start: datetime
    end: datetime | None = None
    delay: timedelta = timedelta(0)
    max_concurrency: int = 1
    retry_count: int = 0
    retry_interval: timedelta = timedelta(seconds=30)
    depends_on: tuple[WindowDependency, ...] = ()

    def window_start(self, index: int) -> datetime:
        """Start of window ``index`` (0 = the first, at ``startTime``)."""
        if self.frequency == "Month":
            return _add_months(self.start, index * self.interval)
        step = timedelta(minutes=self.interval) if self.frequency == "Minute" else timedelta(hours=self.interval)
        return self.start + step * index

    def window(self, index: int) -> tuple[datetime, datetime]:
        return self.window_start(index), self.window_start(index + 1)

    def index_of(self, start: datetime) -> int:
        """The index of the window starting at ``start`` (which must be a window start)."""
        index = self._index_at_or_before(start)
        if self.window_start(index) != start:
            raise ValueError(f"{start.isoformat()} is not the start of a window")
        return index

    def _index_at_or_before(self, moment: datetime) -> int:
        """The window containing ``moment`` (-1 and below before ``startTime``)."""
        if self.frequency == "Month":
            months = (moment.year - self.start.year) * 12 + moment.month - self.start.month
            index = months // self.interval
            while self.window_start(index) > moment:
                index -= 1
            while self.window_start(index + 1) <= moment:
                index += 1
            return index
        step = timedelta(minutes=self.interval) if self.frequency == "Minute" else timedelta(hours=self.interval)
        return (moment - self.start) // step

    def in_range(self, index: int) -> bool:
        """Whether window ``index`` exists: at or after ``startTime`` and ending by ``endTime``."""
        if index < 0:
            return False
        return self.end is None or self.window_start(index + 1) <= self.end

    def due(self, index: int, now: datetime) -> bool:
        """Whether window ``index`` may run at ``now``: its end plus ``delay`` has passed."""
        return self.window_start(index + 1) + self.delay <= now

    def overlapping(self, low: datetime, high: datetime) -> list[int]:
        """Indexes of the existing windows that overlap ``[low, high)``."""
        if high <= low:
            return []
        first = self._index_at_or_before(low)
        last = self._index_at_or_before(high - timedelta(microseconds=1))
        return [i for i in range(max(first, 0), last + 1) if self.in_range(i)]

    def dependencies(
        self, index: int, others: Mapping[str, TumblingWindow] | None = None
    ) -> list[tuple[str | None, datetime]]:
        """(trigger, window start) of every window window ``index`` waits for; None is this trigger."""
        start = self.window_start(index)
        needed: set[tuple[str | None, datetime]] = set()
        for dependency in self.depends_on:
            target = self if dependency.trigger is None else (others or {}).get(dependency.trigger)
            if target is None:
                raise ValueError(f"tumbling window trigger {dependency.trigger!r} is not defined")
            low = start + dependency.offset
            for other in target.overlapping(low, low + dependency.size):
                if dependency.trigger is not None or other != index:
                    needed.add((dependency.trigger, target.window_start(other)))
        return sorted(needed, key=lambda item: (item[0] or "", item[1]))

    def next_windows(self, after: datetime, count: int) -> list[tuple[datetime, datetime]]:
        """The first ``count`` windows that become due after ``after`` (``end + delay > after``), oldest first."""
        index = max(0, self._index_at_or_before(after - self.delay) - 1)
        found: list[tuple[datetime, datetime]] = []
        while len(found) < count and self.in_range(index):
            start, end = self.window(index)
            if end + self.delay > after:
                found.append((start, end))
            index += 1
        return found

    def windows_between(self, first: int, now: datetime) -> Iterator[int]:
        """Indexes from ``first`` of the windows that exist and are due at ``now``, oldest first."""
        index = first
        while self.in_range(index) and self.due(index, now):
            yield index
            index += 1


def _add_months(moment: datetime, months: int) -> datetime:
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    # A window starting on the 31st lands on the last day of shorter months.
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# ------------------------------------------------------------------------------------------------- parsing


def _issue(path: str, message: str, expected: str, got: Any, code: str = "invalid") -> Issue:
    return Issue(path, message, expected, describe_value(got), code=code)


def _timespan(value: Any) -> timedelta | None:
    """A .NET TimeSpan string (``[-][d.]hh:mm:ss[.fffffff]``), as Data Factory writes delay, size and offset."""
    if not isinstance(value, str):
        return None
    match = _TIMESPAN.match(value.strip())
    if match is None:
        return None
    sign, days, hours, minutes, seconds, fraction = match.groups()
    if int(hours) > 23 or int(minutes) > 59 or int(seconds) > 59:
        return None
    span = timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int((fraction or "0").ljust(7, "0")[:6]),
    )
    return -span if sign else span


def _utc(value: Any) -> datetime | None:
    # Tumbling windows are UTC only (Data Factory documents startTime and endTime in UTC).
    moment = parse_instant(value.strip() if isinstance(value, str) else None)
    return None if moment is None else moment.astimezone(UTC)


def parse_tumbling_window(type_properties: Any, path: str = "properties.typeProperties") -> TumblingWindow:
    """The timing of one ``TumblingWindowTrigger`` from its exported ``typeProperties``; every issue at once."""
    issues: list[Issue] = []
    if not isinstance(type_properties, Mapping):
        raise WindowError([_issue(path, "expected an object", "an object", type_properties)])
    raw_frequency = type_properties.get("frequency")
    frequency = _FREQUENCIES.get(str(raw_frequency).lower()) if isinstance(raw_frequency, str) else None
    if frequency is None:
        issues.append(
            _issue(f"{path}.frequency", "unsupported frequency", "Minute, Hour or Month", raw_frequency, code="enum")
        )
    interval = type_properties.get("interval")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        issues.append(_issue(f"{path}.interval", "expected a positive whole number", "an integer >= 1", interval))
        interval = 1
    start = _utc(type_properties.get("startTime"))
    if start is None:
        issues.append(
            _issue(
                f"{path}.startTime",
                "expected an ISO 8601 UTC time",
                "2026-01-01T00:00:00Z",
                type_properties.get("startTime"),
            )
        )
    end = None
    if type_properties.get("endTime") is not None:
        end = _utc(type_properties.get("endTime"))
        if end is None:
            issues.append(
                _issue(
                    f"{path}.endTime",
                    "expected an ISO 8601 UTC time",
                    "2026-12-31T00:00:00Z",
                    type_properties.get("endTime"),
                )
            )
        elif start is not None and end <= start:
            issues.append(
                _issue(
                    f"{path}.endTime",
                    "ends before it starts",
                    f"after {start.isoformat()}",
                    type_properties.get("endTime"),
                )
            )
    delay = timedelta(0)
    if type_properties.get("delay") is not None:
        parsed = _timespan(type_properties.get("delay"))
        if parsed is None or parsed < timedelta(0):
            issues.append(
                _issue(f"{path}.delay", "expected a time span", "hh:mm:ss or d.hh:mm:ss", type_properties.get("delay"))
            )
        else:
            delay = parsed
    concurrency = type_properties.get("maxConcurrency")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 50:
        issues.append(
            _issue(
                f"{path}.maxConcurrency",
                "required, from 1 to 50",
                "an integer from 1 to 50",
                concurrency,
                code="out_of_range",
            )
        )
        concurrency = 1
    retry = type_properties.get("retryPolicy") or {}
    retry_count, retry_interval = 0, 30
    if not isinstance(retry, Mapping):
        issues.append(_issue(f"{path}.retryPolicy", "expected an object", "an object", retry))
    else:
        raw_count = retry.get("count", 0)
        if isinstance(raw_count, bool) or not isinstance(raw_count, int) or raw_count < 0:
            issues.append(
                _issue(f"{path}.retryPolicy.count", "expected a whole number >= 0", "an integer >= 0", raw_count)
            )
        else:
            retry_count = raw_count
        raw_interval = retry.get("intervalInSeconds", 30)
        if isinstance(raw_interval, bool) or not isinstance(raw_interval, int) or not 30 <= raw_interval <= 86_400:
            issues.append(
                _issue(
                    f"{path}.retryPolicy.intervalInSeconds",
                    "out of range",
                    "an integer from 30 to 86400",
                    raw_interval,
                    code="out_of_range",
                )
            )
        else:
            retry_interval = raw_interval
    window_length = _nominal_length(frequency or "Minute", interval)
    dependencies = _dependencies(type_properties.get("dependsOn"), f"{path}.dependsOn", window_length, issues)
    if issues or frequency is None or start is None:
        raise WindowError(issues)
    return TumblingWindow(
        frequency=frequency,
        interval=interval,
        start=start,
        end=end,
        delay=delay,
        max_concurrency=concurrency,
        retry_count=retry_count,
        retry_interval=timedelta(seconds=retry_interval),
        depends_on=dependencies,
    )


def _nominal_length(frequency: str, interval: int) -> timedelta:
    if frequency == "Month":
        return timedelta(days=30 * interval)
    return timedelta(minutes=interval) if frequency == "Minute" else timedelta(hours=interval)


_SELF = "SelfDependencyTumblingWindowTriggerReference"
_OTHER = "TumblingWindowTriggerDependencyReference"


def _dependencies(raw: Any, path: str, window_length: timedelta, issues: list[Issue]) -> tuple[WindowDependency, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > 5:
        issues.append(_issue(path, "expected an array of at most 5 dependencies", "an array", raw))
        return ()
    found = []
    for index, entry in enumerate(raw):
        where = f"{path}[{index}]"
        kind = entry.get("type") if isinstance(entry, Mapping) else None
        if kind not in (_SELF, _OTHER):
            issues.append(_issue(where, "unknown dependency type", f"{_SELF} or {_OTHER}", kind, code="enum"))
            continue
        assert isinstance(entry, Mapping)
        trigger = None
        if kind == _OTHER:
            reference = entry.get("referenceTrigger")
            trigger = reference.get("referenceName") if isinstance(reference, Mapping) else None
            if not isinstance(trigger, str) or not trigger:
                issues.append(_issue(f"{where}.referenceTrigger.referenceName", "required", "a trigger name", trigger))
                continue
        offset = _timespan(entry.get("offset")) if entry.get("offset") is not None else timedelta(0)
        if offset is None or (kind == _SELF and offset >= timedelta(0)):
            issues.append(
                _issue(
                    f"{where}.offset",
                    "a self-dependency needs a negative offset" if kind == _SELF else "expected a time span",
                    "-hh:mm:ss" if kind == _SELF else "[-]d.hh:mm:ss",
                    entry.get("offset"),
                )
            )
            continue
        size = _timespan(entry.get("size")) if entry.get("size") is not None else None
        if entry.get("size") is not None and (size is None or size < timedelta(0)):
            issues.append(_issue(f"{where}.size", "expected a time span", "hh:mm:ss", entry.get("size")))
            continue
        # No size (or zero, as some exports write it): the dependency is as long as the dependent window.
        found.append(WindowDependency(offset, size if size else window_length, trigger))
    return tuple(found)


# ------------------------------------------------------------------------------------------------- identity


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_request_id(trigger: str, start: datetime, attempt: int) -> str:
    """The request identity of one attempt of one window (a Service Bus message id: at most 128 characters)."""
    suffix = f":{_stamp(start)}:{attempt}"
    head = f"window:{trigger}"
    if len(head) + len(suffix) > 128:
        import hashlib

        head = f"window:{trigger[:60]}~{hashlib.sha256(trigger.encode()).hexdigest()[:16]}"
    return head + suffix


_REQUEST_ID = re.compile(r"^window:(?P<trigger>.+):(?P<start>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z):(?P<attempt>\d+)$")


def parse_window_request_id(request_id: str) -> tuple[str, datetime, int] | None:
    """(trigger, window start, attempt) of a window's request id; None for any other request.

    The trigger part of a very long name is a digest (see :func:`window_request_id`): the caller matches it
    against the configured triggers with :func:`window_request_id` itself.
    """
    match = _REQUEST_ID.match(request_id)
    if match is None:
        return None
    start = datetime.strptime(match["start"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return match["trigger"], start, int(match["attempt"])


# ------------------------------------------------------------------------------------------------- the ledger


@dataclass(frozen=True)
class WindowRecord:
    """One window sent: its latest attempt and what became of it."""

    start: datetime
    attempt: int
    state: WindowState
    updated: datetime


class WindowLedger(Protocol):
    """Durable progress of tumbling window triggers. Every method may raise TransientError."""

    def cursor(self, trigger: str) -> tuple[int | None, Any]:
        """(index of the next window never sent, or None before the first tick; a concurrency token)."""
        ...

    def move_cursor(self, trigger: str, index: int, token: Any) -> bool:
        """Set the cursor if it is still at ``token``; False when another instance moved it first."""
        ...

    def unfinished(self, trigger: str) -> list[WindowRecord]:
        """Windows sent whose run has not succeeded and that may still be retried (states sent, failed)."""
        ...

    def states(self, trigger: str, starts: list[datetime]) -> dict[datetime, WindowState]:
        """The recorded state of each of these windows (absent: never sent)."""
        ...

    def record_sent(self, trigger: str, sent: list[tuple[datetime, int]], now: datetime) -> None:
        """Record attempts ``(window start, attempt)`` as sent, each unless a row for that attempt or a later one
        exists (a row is never set back)."""
        ...

    def record_outcome(self, trigger: str, start: datetime, attempt: int, state: WindowState, now: datetime) -> None:
        """Record how an attempt ended (an upsert; an outcome of an older attempt never replaces a newer one)."""
        ...


@dataclass
class MemoryWindowLedger:
    """The ledger in memory: local mode and tests. Thread-safe."""

    rows: dict[tuple[str, datetime], WindowRecord] = field(default_factory=dict)
    cursors: dict[str, int] = field(default_factory=dict)
    _versions: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cursor(self, trigger: str) -> tuple[int | None, Any]:
        with self._lock:
            return self.cursors.get(trigger), self._versions.get(trigger, 0)

    def move_cursor(self, trigger: str, index: int, token: Any) -> bool:
        with self._lock:
            if self._versions.get(trigger, 0) != token:
                return False
            self.cursors[trigger] = index
            self._versions[trigger] = self._versions.get(trigger, 0) + 1
            return True

    def unfinished(self, trigger: str) -> list[WindowRecord]:
        with self._lock:
            rows = [r for (t, _), r in self.rows.items() if t == trigger and r.state in ("sent", "failed")]
        return sorted(rows, key=lambda r: r.start)

    def states(self, trigger: str, starts: list[datetime]) -> dict[datetime, WindowState]:
        with self._lock:
            return {s: self.rows[(trigger, s)].state for s in starts if (trigger, s) in self.rows}

    def record_sent(self, trigger: str, sent: list[tuple[datetime, int]], now: datetime) -> None:
        with self._lock:
            for start, attempt in sent:
                existing = self.rows.get((trigger, start))
                if existing is None or existing.attempt < attempt:
                    self.rows[(trigger, start)] = WindowRecord(start, attempt, "sent", now)

    def record_outcome(self, trigger: str, start: datetime, attempt: int, state: WindowState, now: datetime) -> None:
        with self._lock:
            existing = self.rows.get((trigger, start))
            if existing is not None and existing.attempt > attempt:
                return
            self.rows[(trigger, start)] = WindowRecord(start, attempt, state, now)


# ------------------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class PlannedWindow:
    """A window attempt to send now."""

    index: int
    start: datetime
    end: datetime
    attempt: int


@dataclass(frozen=True)
class TickPlan:
    """What one tick does for one trigger: send these, record them, then move the cursor to ``cursor``."""

    send: list[PlannedWindow]
    cursor: int
    cursor_token: Any
    previous_cursor: int | None
    in_flight: int
    waiting_on_dependency: int = 0


def plan_tick(
    trigger: str,
    window: TumblingWindow,
    ledger: WindowLedger,
    now: datetime,
    others: Mapping[str, TumblingWindow] | None = None,
) -> TickPlan:
    """Which window attempts to send at ``now``: retries first (oldest first), then new windows, within the free
    slots of ``maxConcurrency`` and :data:`MAX_WINDOWS_PER_TICK`."""
    cursor, token = ledger.cursor(trigger)
    next_index = 0 if cursor is None else cursor
    unfinished = ledger.unfinished(trigger)
    in_flight = sum(1 for r in unfinished if r.state == "sent")
    # A failed window waiting for its retry keeps its slot (it is still being worked on), so retries come first
    # and a window never overtakes an earlier one that will run again.
    free = min(window.max_concurrency - len(unfinished), MAX_WINDOWS_PER_TICK)
    send: list[PlannedWindow] = []
    for record in unfinished:
        if record.state != "failed" or now < record.updated + window.retry_interval:
            continue
        index = window.index_of(record.start)
        send.append(PlannedWindow(index, *window.window(index), record.attempt + 1))
    waiting = 0
    candidates: list[int] = []
    for index in window.windows_between(next_index, now):
        if len(candidates) >= free:
            break
        candidates.append(index)
    if window.depends_on and candidates:
        candidates, waiting = _dependencies_met(trigger, window, ledger, candidates, others)
    for index in candidates:
        send.append(PlannedWindow(index, *window.window(index), 1))
    return TickPlan(send, next_index + len(candidates), token, cursor, in_flight, waiting)


def _dependencies_met(
    trigger: str,
    window: TumblingWindow,
    ledger: WindowLedger,
    candidates: list[int],
    others: Mapping[str, TumblingWindow] | None,
) -> tuple[list[int], int]:
    """The leading candidates whose dependencies have succeeded (in order: a window that must wait holds back
    every later one, so the cursor never passes a window not yet sent)."""
    wanted: dict[str | None, set[datetime]] = {}
    for index in candidates:
        for name, start in window.dependencies(index, others):
            wanted.setdefault(name, set()).add(start)
    states: dict[tuple[str | None, datetime], str] = {}
    for name, starts in wanted.items():
        for start, state in ledger.states(name or trigger, sorted(starts)).items():
            states[(name, start)] = state
    ready: list[int] = []
    for index in candidates:
        if any(states.get(needed) != "succeeded" for needed in window.dependencies(index, others)):
            return ready, len(candidates) - len(ready)
        # Sent in this same tick, not succeeded yet: a later candidate that needs it waits for it.
        states[(None, window.window_start(index))] = "sent"
        ready.append(index)
    return ready, 0


def outcome_state(succeeded: bool, attempt: int, window: TumblingWindow) -> WindowState:
    """The state to record for an attempt that ended: failed (to retry) or exhausted (no retry left)."""
    if succeeded:
        return "succeeded"
    return "failed" if attempt <= window.retry_count else "exhausted"


def run_tick(
    trigger: str,
    window: TumblingWindow,
    ledger: WindowLedger,
    now: datetime,
    send: Callable[[list[PlannedWindow]], None],
    *,
    others: Mapping[str, TumblingWindow] | None = None,
) -> TickPlan:
    """Plan one tick and apply it in the crash-safe order: send, record as sent, move the cursor.

    ``send`` must be idempotent per request id (:func:`window_request_id`): Service Bus duplicate detection
    and amlexec's launch idempotency make it so. A failure anywhere raises; the next tick repeats what was
    not recorded.
    """
    plan = plan_tick(trigger, window, ledger, now, others)
    if plan.send:
        send(plan.send)
        ledger.record_sent(trigger, [(planned.start, planned.attempt) for planned in plan.send], now)
    if plan.cursor != plan.previous_cursor:
        ledger.move_cursor(trigger, plan.cursor, plan.cursor_token)
    return plan
