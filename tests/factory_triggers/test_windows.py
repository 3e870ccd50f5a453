"""Tumbling windows: the arithmetic, both ledgers (memory and Azure Tables on Azurite), and a simulated week.

The week runs one timer tick a minute through downtime, crashes between every two steps of a tick, runs
that fail and are retried, and a second instance ticking at the same time; every window must run exactly
once (one successful attempt, no attempt launched twice), none skipped, never more than maxConcurrency at a
time, and self-dependent windows strictly in order.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_dir
from fakes.azurite import azurite_table, connection_string

from amlexec.factory_triggers.table_ledger import TableWindowLedger
from amlexec.factory_triggers.windows import (
    MemoryWindowLedger,
    PlannedWindow,
    TumblingWindow,
    WindowError,
    WindowLedger,
    outcome_state,
    parse_tumbling_window,
    parse_window_request_id,
    plan_tick,
    run_tick,
    window_request_id,
)

_SHARED = shared_dir()
# The public trigger corpus beside the checkout (../shared, or AMLEXEC_SHARED_DIR); its tests skip without it.
CORPUS = _SHARED / "corpus" / "triggers" if _SHARED is not None else Path("/nonexistent")
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def azurite_port() -> Iterator[int]:
    with azurite_table() as port:
        yield port


_tables = iter(range(10_000))


@pytest.fixture(params=["memory", "table"])
def ledger(request: pytest.FixtureRequest) -> WindowLedger:
    if request.param == "memory":
        return MemoryWindowLedger()
    port = request.getfixturevalue("azurite_port")
    return TableWindowLedger(connection_string=connection_string(port), table_name=f"windows{next(_tables)}")


def window(**overrides: Any) -> TumblingWindow:
    values: dict[str, Any] = {"frequency": "Minute", "interval": 15, "start": START, "max_concurrency": 3}
    values.update(overrides)
    return TumblingWindow(**values)


# ------------------------------------------------------------------------------------------------ definitions


def _corpus_windows() -> list[Path]:
    found = []
    for path in sorted(CORPUS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8-sig"))
        if document.get("properties", {}).get("type") == "TumblingWindowTrigger":
            found.append(path)
    return found


@pytest.mark.parametrize("path", _corpus_windows(), ids=lambda p: p.name[:40])
def test_every_corpus_tumbling_window_parses(path: Path) -> None:
    properties = json.loads(path.read_text(encoding="utf-8-sig"))["properties"]
    parsed = parse_tumbling_window(properties["typeProperties"])
    assert parsed.window_start(1) > parsed.start and 1 <= parsed.max_concurrency <= 50
    depends = properties["typeProperties"].get("dependsOn") or []
    assert len(parsed.depends_on) == len(depends)
    for raw, dependency in zip(depends, parsed.depends_on, strict=True):
        if raw["type"] == "SelfDependencyTumblingWindowTriggerReference":
            assert dependency.trigger is None and dependency.offset < timedelta(0)
        else:
            assert dependency.trigger == raw["referenceTrigger"]["referenceName"]


def test_every_issue_is_reported_at_once_with_its_path() -> None:
    with pytest.raises(WindowError) as refused:
        parse_tumbling_window(
            {
                "frequency": "Week",
                "interval": 0,
                "startTime": "yesterday",
                "delay": "1 hour",
                "maxConcurrency": 51,
                "retryPolicy": {"count": -1, "intervalInSeconds": 5},
                "dependsOn": [
                    {"type": "SelfDependencyTumblingWindowTriggerReference", "offset": "00:15:00"},
                    {"type": "TumblingWindowTriggerDependencyReference", "referenceTrigger": {}},
                ],
            }
        )
    paths = [i.path for i in refused.value.issues]
    assert paths == [
        "properties.typeProperties.frequency",
        "properties.typeProperties.interval",
        "properties.typeProperties.startTime",
        "properties.typeProperties.delay",
        "properties.typeProperties.maxConcurrency",
        "properties.typeProperties.retryPolicy.count",
        "properties.typeProperties.retryPolicy.intervalInSeconds",
        "properties.typeProperties.dependsOn[0].offset",
        "properties.typeProperties.dependsOn[1].referenceTrigger.referenceName",
    ]
    assert refused.value.issues[4].got == "number 51"


@pytest.mark.parametrize(
    ("frequency", "interval", "start", "index", "expected"),
    [
        ("Minute", 5, "2026-01-01T00:00:00Z", 3, "2026-01-01T00:15:00+00:00"),
        ("Hour", 24, "2026-03-28T06:00:00Z", 2, "2026-03-30T06:00:00+00:00"),  # UTC: no DST shift
        ("Month", 1, "2026-01-31T00:00:00Z", 1, "2026-02-28T00:00:00+00:00"),  # the 31st in February
        ("Month", 1, "2026-01-31T00:00:00Z", 2, "2026-03-31T00:00:00+00:00"),  # and back to the 31st
        ("Month", 3, "2025-11-15T12:00:00Z", 1, "2026-02-15T12:00:00+00:00"),
    ],
)
def test_window_starts(frequency: str, interval: int, start: str, index: int, expected: str) -> None:
    parsed = parse_tumbling_window(
        {"frequency": frequency, "interval": interval, "startTime": start, "maxConcurrency": 1}
    )
    assert parsed.window_start(index).isoformat() == expected
    assert parsed.index_of(parsed.window_start(index)) == index


def test_a_window_runs_once_its_end_and_delay_have_passed() -> None:
    delayed = window(delay=timedelta(minutes=2))
    assert not delayed.due(0, START + timedelta(minutes=16, seconds=59))
    assert delayed.due(0, START + timedelta(minutes=17))


def test_request_ids_round_trip_and_fit_service_bus() -> None:
    request_id = window_request_id("hourly-scoring", START, 2)
    assert request_id == "window:hourly-scoring:2026-11-02T00:00:00Z:2"
    assert parse_window_request_id(request_id) == ("hourly-scoring", START, 2)
    assert len(window_request_id("x" * 300, START, 1)) <= 128
    assert parse_window_request_id("schedule:nightly:2026-11-02T00:00:00Z") is None


# ------------------------------------------------------------------------------------------------ the ledger


def test_backfill_goes_oldest_first_within_max_concurrency(ledger: WindowLedger) -> None:
    sent: list[PlannedWindow] = []
    now = START + timedelta(hours=2)  # eight windows are due
    run_tick("t", window(), ledger, now, sent.extend)
    assert [w.index for w in sent] == [0, 1, 2]
    run_tick("t", window(), ledger, now, sent.extend)
    assert len(sent) == 3, "every slot is taken until a window ends"
    ledger.record_outcome("t", sent[1].start, 1, "succeeded", now)
    run_tick("t", window(), ledger, now, sent.extend)
    assert [w.index for w in sent] == [0, 1, 2, 3]


def test_a_failed_window_is_retried_after_the_interval_then_given_up(ledger: WindowLedger) -> None:
    retrying = window(max_concurrency=1, retry_count=1, retry_interval=timedelta(minutes=5))
    sent: list[PlannedWindow] = []
    now = START + timedelta(minutes=15)
    run_tick("t", retrying, ledger, now, sent.extend)
    ledger.record_outcome("t", START, 1, outcome_state(False, 1, retrying), now)
    run_tick("t", retrying, ledger, now + timedelta(minutes=4), sent.extend)
    assert len(sent) == 1, "not before retryPolicy.intervalInSeconds"
    run_tick("t", retrying, ledger, now + timedelta(minutes=5), sent.extend)
    assert [(w.index, w.attempt) for w in sent] == [(0, 1), (0, 2)]
    ledger.record_outcome("t", START, 2, outcome_state(False, 2, retrying), now + timedelta(minutes=6))
    assert ledger.states("t", [START]) == {START: "exhausted"}
    run_tick("t", retrying, ledger, now + timedelta(minutes=30), sent.extend)
    assert [(w.index, w.attempt) for w in sent] == [(0, 1), (0, 2), (1, 1)], "the next window takes the slot"


def test_an_outcome_of_an_older_attempt_never_replaces_a_newer_one(ledger: WindowLedger) -> None:
    ledger.record_sent("t", [(START, 2)], START)
    ledger.record_outcome("t", START, 1, "failed", START)  # a late duplicate of attempt 1's end
    assert ledger.states("t", [START]) == {START: "sent"}
    ledger.record_sent("t", [(START, 1)], START)  # a late re-send of attempt 1 is not recorded over attempt 2
    assert [r.attempt for r in ledger.unfinished("t")] == [2]


def test_a_run_that_ends_before_its_window_is_recorded_keeps_its_end(ledger: WindowLedger) -> None:
    ledger.record_outcome("t", START, 1, "succeeded", START)
    ledger.record_sent("t", [(START, 1)], START)  # the tick that sent it, recording after a crash
    assert ledger.states("t", [START]) == {START: "succeeded"}


def test_the_cursor_moves_for_one_of_two_racing_instances(ledger: WindowLedger) -> None:
    _, first_token = ledger.cursor("t")
    assert ledger.move_cursor("t", 4, first_token)
    assert not ledger.move_cursor("t", 7, first_token), "the second instance read the cursor before it moved"
    index, token = ledger.cursor("t")
    assert index == 4 and ledger.move_cursor("t", 6, token)


def test_self_dependent_windows_wait_for_the_previous_one(ledger: WindowLedger) -> None:
    chained = window(
        max_concurrency=5,
        depends_on=parse_tumbling_window(
            {
                "frequency": "Minute",
                "interval": 15,
                "startTime": "2026-11-02T00:00:00Z",
                "maxConcurrency": 5,
                "dependsOn": [{"type": "SelfDependencyTumblingWindowTriggerReference", "offset": "-00:15:00"}],
            }
        ).depends_on,
    )
    sent: list[PlannedWindow] = []
    now = START + timedelta(hours=1)
    run_tick("t", chained, ledger, now, sent.extend)
    assert [w.index for w in sent] == [0], "window 0's dependency is before startTime: satisfied"
    run_tick("t", chained, ledger, now, sent.extend)
    assert [w.index for w in sent] == [0]
    ledger.record_outcome("t", sent[0].start, 1, "succeeded", now)
    run_tick("t", chained, ledger, now, sent.extend)
    assert [w.index for w in sent] == [0, 1]


def test_a_window_waits_for_the_overlapping_windows_of_the_trigger_it_depends_on(ledger: WindowLedger) -> None:
    quarter_hours = window(frequency="Minute", interval=15, max_concurrency=10)
    hourly = parse_tumbling_window(
        {
            "frequency": "Hour",
            "interval": 1,
            "startTime": "2026-11-02T00:00:00Z",
            "maxConcurrency": 5,
            "dependsOn": [
                {"type": "TumblingWindowTriggerDependencyReference", "referenceTrigger": {"referenceName": "quarters"}}
            ],
        }
    )
    assert hourly.dependencies(0, {"quarters": quarter_hours}) == [
        ("quarters", START + timedelta(minutes=m)) for m in (0, 15, 30, 45)
    ]
    now = START + timedelta(hours=2)
    sent: list[PlannedWindow] = []
    run_tick("hourly", hourly, ledger, now, sent.extend, others={"quarters": quarter_hours})
    assert sent == [], "no quarter has succeeded yet"
    for minutes in (0, 15, 30):
        ledger.record_outcome("quarters", START + timedelta(minutes=minutes), 1, "succeeded", now)
    run_tick("hourly", hourly, ledger, now, sent.extend, others={"quarters": quarter_hours})
    assert sent == [], "the last quarter of the hour is still missing"
    ledger.record_outcome("quarters", START + timedelta(minutes=45), 1, "succeeded", now)
    run_tick("hourly", hourly, ledger, now, sent.extend, others={"quarters": quarter_hours})
    assert [w.index for w in sent] == [0]


# ------------------------------------------------------------------------------------------------ a simulated week


class Crash(Exception):
    """An instance dying mid-tick."""


@dataclass
class CrashingLedger:
    """Wraps a ledger; every write may kill the tick before or after it happens."""

    inner: WindowLedger
    rng: random.Random
    rate: float
    crashes: int = 0

    def _maybe(self) -> None:
        if self.rng.random() < self.rate:
            self.crashes += 1
            raise Crash

    def cursor(self, trigger: str) -> tuple[int | None, Any]:
        return self.inner.cursor(trigger)

    def move_cursor(self, trigger: str, index: int, token: Any) -> bool:
        self._maybe()
        moved = self.inner.move_cursor(trigger, index, token)
        self._maybe()
        return moved

    def unfinished(self, trigger: str) -> list[Any]:
        return self.inner.unfinished(trigger)

    def states(self, trigger: str, starts: list[datetime]) -> dict[datetime, Any]:
        return self.inner.states(trigger, starts)

    def record_sent(self, trigger: str, sent: list[tuple[datetime, int]], now: datetime) -> None:
        self._maybe()
        self.inner.record_sent(trigger, sent, now)

    def record_outcome(self, trigger: str, start: datetime, attempt: int, state: Any, now: datetime) -> None:
        self.inner.record_outcome(trigger, start, attempt, state, now)


@dataclass
class World:
    """Service Bus (duplicate detection by message id) and Azure ML (runs that end, some failing)."""

    window: TumblingWindow
    ledger: WindowLedger
    rng: random.Random
    launched: dict[str, int] = field(default_factory=dict)
    running: dict[str, tuple[PlannedWindow, datetime, bool]] = field(default_factory=dict)
    succeeded: dict[datetime, int] = field(default_factory=dict)
    peak: int = 0

    def send(self, now: datetime) -> Callable[[list[PlannedWindow]], None]:
        def deliver(planned: list[PlannedWindow]) -> None:
            for item in planned:
                request_id = window_request_id("hourly", item.start, item.attempt)
                self.launched[request_id] = self.launched.get(request_id, 0) + 1
                if self.launched[request_id] == 1:  # a duplicate is dropped, or finds its run
                    ends = now + timedelta(minutes=self.rng.randint(3, 90))
                    self.running[request_id] = (item, ends, self.rng.random() < 0.2)
            self.peak = max(self.peak, len(self.running))

        return deliver

    def finish_runs(self, now: datetime) -> None:
        for request_id, (item, ends, fails) in list(self.running.items()):
            if ends <= now:
                del self.running[request_id]
                if not fails:
                    self.succeeded[item.start] = self.succeeded.get(item.start, 0) + 1
                # The terminal event's publisher records the end (never lost: it raises until it is recorded).
                self.ledger.record_outcome(
                    "hourly", item.start, item.attempt, outcome_state(not fails, item.attempt, self.window), now
                )


@pytest.mark.parametrize("seed", [1, 2])
def test_a_week_with_downtime_and_crashes_runs_every_window_exactly_once(ledger: WindowLedger, seed: int) -> None:
    if seed == 2 and not isinstance(ledger, MemoryWindowLedger):
        pytest.skip("one seed on Azurite is enough to show the table behaves like memory (16 s a week)")
    rng = random.Random(seed)
    hourly = window(
        frequency="Hour",
        interval=1,
        start=START - timedelta(days=2),  # two days of backfill at the first tick
        max_concurrency=4,
        retry_count=3,
        retry_interval=timedelta(minutes=10),
        delay=timedelta(minutes=5),
    )
    world = World(hourly, ledger, rng)
    crashing = CrashingLedger(ledger, rng, rate=0.05)
    down = [(START + timedelta(days=2), START + timedelta(days=2, hours=9))]  # the app is down for 9 hours
    now = START
    end = START + timedelta(days=7)
    while now <= end + timedelta(days=1):  # a day after the week, to let the last windows finish
        world.finish_runs(now)
        if not any(low <= now < high for low, high in down):
            ticks = 2 if rng.random() < 0.1 else 1  # a second instance ticking at the same time
            for _ in range(ticks):
                with contextlib.suppress(Crash):
                    run_tick("hourly", hourly, crashing, min(now, end), world.send(now))
        now += timedelta(minutes=1) if ledger.__class__ is MemoryWindowLedger else timedelta(minutes=5)
    due = [hourly.window_start(i) for i in range(24 * 9) if hourly.due(i, end)]
    exhausted = {s for s, state in ledger.states("hourly", due).items() if state == "exhausted"}
    assert crashing.crashes > 10, "the simulation must really crash"
    assert all(count == 1 for count in world.succeeded.values()), "no window succeeded twice"
    assert set(world.succeeded) | exhausted == set(due), "every due window ran; none was skipped"
    assert not set(world.succeeded) & exhausted
    assert world.peak <= hourly.max_concurrency
    assert len(world.launched) == len({(s, a) for s, a in _attempts(world.launched)}), "one launch per attempt"


def _attempts(launched: dict[str, int]) -> Iterator[tuple[datetime, int]]:
    for request_id in launched:
        parsed = parse_window_request_id(request_id)
        assert parsed is not None
        yield parsed[1], parsed[2]


def test_planning_never_reads_more_than_the_free_slots_of_a_long_backfill() -> None:
    five_minutes = window(frequency="Minute", interval=5, start=START - timedelta(days=30), max_concurrency=50)
    plan = plan_tick("t", five_minutes, MemoryWindowLedger(), START)
    assert len(plan.send) == 50 and plan.cursor == 50
