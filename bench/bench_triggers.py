"""Data Factory triggers at scale: one scheduler tick with 1,000 triggers, and a 30-day tumbling window backfill.

1. One tick of the scheduler with 1,000 configured ``ScheduleTrigger`` definitions (every frequency, time zones,
   schedules), alternating round by round with a tick over 1,000 NCRONTAB schedules (the baseline amlexec
   had): CPU time per tick, and the ratio. Both send to the in-memory bus, so this is amlexec's own work.
2. A 30-day backfill of 5-minute windows (8,640 windows, ``maxConcurrency`` 50): ticks a minute apart until
   every window has run, each run ending right after it is sent: CPU time of the ticks and of recording the
   runs' ends (done by the status checks in the app), peak memory (tracemalloc, a separate pass) on the
   in-memory ledger, then the same on Azure Table storage (Azurite, loopback), where most of it is azure-core
   building and parsing HTTP calls.
"""

from __future__ import annotations

import json
import os
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT), str(ROOT / "bench")]

from measure import interleave, ratios, spread  # noqa: E402

from amlexec.bus.memory import MemoryBus  # noqa: E402
from amlexec.clock import ManualClock  # noqa: E402
from amlexec.factory_triggers.windows import (  # noqa: E402
    MemoryWindowLedger,
    PlannedWindow,
    TumblingWindow,
    WindowLedger,
    run_tick,
)
from amlexec.handlers import Worker, handle_tick  # noqa: E402
from amlexec.linked_services import LinkedServiceRegistry  # noqa: E402
from amlexec.settings import Settings  # noqa: E402

NOW = datetime(2026, 11, 23, 6, 0, 5, tzinfo=UTC)
PAYLOAD = {"name": "Score", "type": "AzureMLExecutePipeline", "typeProperties": {"mlPipelineId": "p"}}
ZONES = ["UTC", "W. Europe Standard Time", "Pacific Standard Time", "Tokyo Standard Time"]


def schedule_trigger(index: int) -> dict[str, Any]:
    frequency = ["Minute", "Hour", "Day", "Week", "Month"][index % 5]
    recurrence: dict[str, Any] = {
        "frequency": frequency,
        "interval": 1 + index % 3,
        "startTime": "2026-01-01T00:00:00" + ("Z" if ZONES[index % 4] == "UTC" else ""),
        "timeZone": ZONES[index % 4],
    }
    if frequency == "Week":
        recurrence["schedule"] = {"weekDays": ["Monday", "Thursday"], "hours": [6], "minutes": [0, 30]}
    elif frequency == "Month":
        recurrence["schedule"] = {"monthDays": [1, 15, -1], "hours": [6], "minutes": [0]}
    elif frequency == "Day":
        recurrence["schedule"] = {"hours": [0, 6, 12, 18], "minutes": [0]}
    return {
        "name": f"trigger-{index}",
        "properties": {
            "type": "ScheduleTrigger",
            "typeProperties": {"recurrence": recurrence},
            "pipelines": [
                {
                    "pipelineReference": {"referenceName": "Score"},
                    "parameters": {"day": "@formatDateTime(trigger().scheduledTime, 'yyyy-MM-dd')"},
                }
            ],
        },
        "amlexec": {"payload": PAYLOAD},
    }


def schedules(count: int) -> str:
    crons = ["0 * * * * *", "0 0 * * * *", "0 0 6 * * *", "0 0,30 6 * * 1,4", "0 0 6 1,15 * *"]
    return json.dumps(
        [
            {"name": f"s-{i}", "schedule": crons[i % 5], "timeZone": ZONES[i % 4], "payload": PAYLOAD}
            for i in range(count)
        ]
    )


def worker(settings: Settings) -> Worker:
    clock = ManualClock(NOW)
    return Worker.create(settings, clock=clock, registry=LinkedServiceRegistry(), bus=MemoryBus(clock))


def one_tick(count: int) -> None:
    with_triggers = worker(Settings(triggers_json=json.dumps([schedule_trigger(i) for i in range(count)])))
    with_schedules = worker(Settings(schedules_json=schedules(count)))
    loaded = time.process_time()
    definitions = with_triggers.triggers
    load_cpu = time.process_time() - loaded
    assert len(definitions) == count and len(with_schedules.schedules) == count
    last = NOW - timedelta(minutes=1)
    fired = {"triggers": 0, "schedules": 0}

    def tick_triggers(_: int) -> None:
        fired["triggers"] = len(handle_tick(with_triggers, last_tick=last))

    def tick_schedules(_: int) -> None:
        fired["schedules"] = len(handle_tick(with_schedules, last_tick=last))

    timings = interleave({"triggers": tick_triggers, "schedules": tick_schedules}, rounds=7, calls=1)
    ours, theirs = timings["triggers"].cpu, timings["schedules"].cpu
    print(
        f"one scheduler tick, {count} ScheduleTrigger definitions: CPU {spread(ours, 1000, 1)} ms, "
        f"{fired['triggers']} fired; {count} NCRONTAB schedules in the same rounds: CPU {spread(theirs, 1000, 1)} ms, "
        f"{fired['schedules']} fired; ratio {spread(ratios(ours, theirs))}x; loading the definitions once: "
        f"{load_cpu * 1000:.0f} ms CPU"
    )


def backfill(ledger: WindowLedger, label: str, *, days: int = 30, trace_memory: bool = False) -> None:
    window = TumblingWindow(
        frequency="Minute", interval=5, start=NOW - timedelta(days=days), max_concurrency=50, delay=timedelta(0)
    )
    total = days * 24 * 12
    sends: list[datetime] = []
    now = NOW
    ticks = 0
    tick_cpu = end_cpu = 0.0

    def send(planned: list[PlannedWindow]) -> None:
        sends.extend(item.start for item in planned)

    if trace_memory:
        tracemalloc.start()
    while len(set(sends)) < total:
        started = time.process_time()
        plan = run_tick("five-minutes", window, ledger, now, send)
        tick_cpu += time.process_time() - started
        started = time.process_time()
        for item in plan.send:  # each run ends before the next tick; its terminal event records the end
            ledger.record_outcome("five-minutes", item.start, item.attempt, "succeeded", now)
        end_cpu += time.process_time() - started
        ticks += 1
        now += timedelta(minutes=1)
    peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
    if trace_memory:
        tracemalloc.stop()
    assert len(sends) == len(set(sends)), "a window was sent twice"
    memory = f", peak traced memory {peak / 1024 / 1024:.1f} MiB (a second pass, under tracemalloc)" if peak else ""
    print(
        f"30-day backfill of 5-minute windows, {label}: {len(sends)} windows (the 8,640 of the 30 days and those "
        f"that fell due during the backfill), each sent once, in {ticks} ticks (maxConcurrency 50); CPU of the ticks "
        f"{tick_cpu:.2f} s ({tick_cpu / ticks * 1000:.1f} ms per tick), of recording the {len(sends)} run ends "
        f"{end_cpu:.2f} s ({end_cpu / len(sends) * 1000:.2f} ms each){memory}"
    )


def main() -> None:
    one_tick(int(os.environ.get("AMLEXEC_BENCH_TRIGGERS", "1000")))
    backfill(MemoryWindowLedger(), "in-memory ledger")
    backfill(MemoryWindowLedger(), "in-memory ledger", trace_memory=True)
    from fakes.azurite import azurite_table, connection_string

    from amlexec.factory_triggers.table_ledger import TableWindowLedger

    with azurite_table() as port:
        backfill(TableWindowLedger(connection_string=connection_string(port)), "Azure Tables ledger (Azurite)")


if __name__ == "__main__":
    main()
