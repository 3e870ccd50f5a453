"""A burst of queued requests against a fake Azure ML that rate-limits job submissions.

The fake admits ``rate`` submissions per simulated second (a token bucket holding ``burst``) and answers
the rest 429 with ``Retry-After``; azure-core's retry waits that long on the manual clock. The burst is
queued in ``slices``; each slice is launched, then the bus is left to settle (status checks, terminal
events) so that the memory amlexec's own code holds (tracemalloc, filtered to ``amlexec/`` outside the
in-memory bus) can be measured with only the worker's own state alive.

Throughput is launches divided by the simulated time the launches took: from each slice's first delivery
to its last launch, Retry-After waits and token refills included. Settling between slices is the harness's
doing, not the load's, so the fake's bucket is stopped while it happens: otherwise every slice would start
with a refilled bucket that no counted second paid for, and a burst could beat its own rate limit (300
requests used to report 30 launches/s against 20/s). The bucket therefore never grants more than
``burst + rate * simulated_seconds`` submissions, which is the bound the tests hold the figure to.
"""

from __future__ import annotations

import gc
import json
import math
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fakes.transport import Fault
from fakes.workspace import seed_pipeline_component
from flow.harness import make_flow

from amlexec.bus.base import Destination, OutgoingMessage


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` stored, on a simulated clock that can be stopped."""

    def __init__(self, rate: float, burst: int, start: datetime) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.at = start
        self.stopped = False

    def _refill(self, now: datetime) -> None:
        if not self.stopped:
            self.tokens = min(self.burst, self.tokens + (now - self.at).total_seconds() * self.rate)
        self.at = now

    def stop(self, now: datetime) -> None:
        """Stop refilling: time from here to ``start`` is not the load's and must not buy tokens."""
        self._refill(now)
        self.stopped = True

    def start(self, now: datetime) -> None:
        self._refill(now)
        self.stopped = False

    def take(self, now: datetime) -> float | None:
        """Take a token; None on success, else the seconds until one is available."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return (1 - self.tokens) / self.rate


@dataclass
class LoadReport:
    requests: int
    launched: int
    duplicate_runs: int
    throttled: int
    simulated_seconds: float  # first delivery to last launch on the manual clock, pauses between slices excluded
    paused_seconds: float  # simulated time spent settling between slices, with the fake's bucket stopped
    rate_limit: float
    burst: int
    wall_seconds: float
    memory_kib: list[float]
    terminal_events: int

    @property
    def throughput(self) -> float:
        return self.launched / self.simulated_seconds if self.simulated_seconds else float("inf")

    @property
    def throughput_bound(self) -> float:
        """The most a token bucket can admit per second over ``simulated_seconds``, its initial burst included."""
        if not self.simulated_seconds:
            return float("inf")
        return (self.burst + self.rate_limit * self.simulated_seconds) / self.simulated_seconds


def _amlexec_memory(snapshot: tracemalloc.Snapshot) -> float:
    stats = snapshot.filter_traces(
        [tracemalloc.Filter(True, "*/amlexec/*"), tracemalloc.Filter(False, "*/amlexec/bus/memory.py")]
    ).statistics("filename")
    return sum(s.size for s in stats) / 1024


def run_load(
    tmp_path: Path,
    monkeypatch: Any,
    *,
    count: int,
    rate: float = 20.0,
    burst: int = 20,
    slices: int = 5,
    measure_memory: bool = True,
) -> LoadReport:
    flow = make_flow(monkeypatch, tmp_path)
    flow.world.transport.clock = flow.world.clock
    seed_pipeline_component(flow.world.fake)
    bucket = TokenBucket(rate, burst, flow.world.clock.now())
    throttled = Counter[str]()
    last_launch: datetime | None = None

    def limit(method: str, path: str) -> Fault | None:
        nonlocal last_launch
        if method == "PUT" and "/jobs/" in path:
            wait = bucket.take(flow.world.clock.now())
            if wait is None:
                last_launch = flow.world.clock.now()
            else:
                throttled["429"] += 1
                # Whole seconds in Retry-After, the exact wait in retry-after-ms, as Azure sends them. The
                # azure-core installed here reads Retry-After first, so a throttled submit waits a whole second
                # and launches arrive a bucketful at a time.
                return Fault(
                    method,
                    ".",
                    status=429,
                    headers={
                        "Retry-After": str(max(1, math.ceil(wait))),
                        "retry-after-ms": str(math.ceil(wait * 1000)),
                    },
                )
        return None

    flow.world.router.chaos = limit
    body = {
        "name": "Load",
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
        "typeProperties": {
            "mlPipelineId": "azureml:score_pipeline:3",
            "experimentName": "load",
            "mlPipelineParameters": {"n": 0},
        },
    }
    encoded = json.dumps(body).encode()
    start_wall = time.perf_counter()
    finished: set[str] = set()
    memory: list[float] = []

    def drain_events() -> None:
        # Count terminal events as they come, then let the bus forget what it sent: the harness keeps every
        # message for inspection, which is not amlexec's memory (Service Bus holds messages in Azure).
        for message in flow.bus.published:
            event = json.loads(message.body)
            if not event["type"].endswith(".started"):
                finished.add(event["data"]["requestId"])
        flow.bus.published.clear()
        for sent in flow.bus.sent.values():
            sent.clear()
        flow.world.router.calls.clear()  # the fake's request log, kept for assertions elsewhere

    def settle() -> None:
        """Run every job to completion and deliver status checks until the bus is idle."""
        while True:
            for name, job in flow.world.fake.jobs.items():
                if job["properties"]["status"] == "NotStarted":
                    flow.world.fake.finish(name, "Completed")
            for message in flow.bus.due(Destination.STATUS):
                flow.deliver(Destination.STATUS, message)
            drain_events()
            if (due := flow.bus.next_due(Destination.STATUS)) is None:
                return
            flow.world.clock.advance(max(0.0, (due - flow.world.clock.now()).total_seconds()))

    # Warm up first: the lazy azure-ai-ml import and the per-worker clients are paid once and are not the
    # per-request memory this measures (tracing them would also make every snapshot slow to filter).
    flow.bus.send(Destination.REQUESTS, [OutgoingMessage(body=encoded, message_id="load-warm-up")])
    for message in flow.bus.due(Destination.REQUESTS):
        flow.deliver(Destination.REQUESTS, message)
    settle()
    finished.clear()
    # The warm-up's settling refilled the bucket: the burst meets a service whose bucket is full, which is
    # the initial ``burst`` the bound allows for.
    launch_seconds = paused_seconds = 0.0
    if measure_memory:
        tracemalloc.start(5)
    try:
        per_slice = max(1, count // slices)
        for first in range(0, count, per_slice):
            ids = range(first, min(count, first + per_slice))
            flow.bus.send(
                Destination.REQUESTS, [OutgoingMessage(body=encoded, message_id=f"load-{i:06d}") for i in ids]
            )
            window_start = flow.world.clock.now()
            bucket.start(window_start)
            while requests := flow.bus.due(Destination.REQUESTS):
                for message in requests:
                    flow.deliver(Destination.REQUESTS, message)
            # Nothing advances the clock after a slice's last launch before this point, so the window ends
            # at that launch; the check keeps the accounting honest if the harness ever changes.
            window_end = flow.world.clock.now()
            assert last_launch == window_end, (last_launch, window_end)
            bucket.stop(window_end)
            launch_seconds += (window_end - window_start).total_seconds()
            settle()
            paused_seconds += (flow.world.clock.now() - window_end).total_seconds()
            # The slice is done and the bus idle: duplicate-detection ids of finished requests live in
            # Service Bus in Azure, not in the worker; forget them before measuring the worker.
            flow.bus._seen = {d: {} for d in Destination}
            if measure_memory:
                # Collect first: azure-ai-ml's job entities form reference cycles, freed only when the cyclic
                # collector next runs; what the worker *holds* is what survives a collection.
                gc.collect()
                memory.append(_amlexec_memory(tracemalloc.take_snapshot()))
    finally:
        if measure_memory:
            tracemalloc.stop()
    return LoadReport(
        requests=count,
        launched=len(flow.world.fake.jobs) - 1,
        duplicate_runs=len(flow.world.fake.jobs)
        - len({job["properties"]["tags"]["amlexec.requestId"] for job in flow.world.fake.jobs.values()}),
        throttled=throttled["429"],
        simulated_seconds=launch_seconds,
        paused_seconds=paused_seconds,
        rate_limit=rate,
        burst=burst,
        wall_seconds=time.perf_counter() - start_wall,
        memory_kib=memory,
        terminal_events=len(finished),
    )
