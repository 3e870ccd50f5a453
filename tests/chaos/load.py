"""A burst of queued requests against a fake Azure ML that rate-limits job submissions.

The fake admits ``rate`` submissions per simulated second (a token bucket with a small burst) and answers
the rest 429 with ``Retry-After``; azure-core's retry waits that long on the manual clock. Everything is on
the request queue at the start; the run ends when every request has its terminal event. Reports launches,
duplicate runs, simulated throughput of the launches against the rate limit, and the memory amlexec's own
code holds (tracemalloc, filtered to ``amlexec/`` outside the in-memory bus) after each slice of the burst,
measured when the bus is idle so that only the worker's own state counts.
"""

from __future__ import annotations

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
    """``rate`` tokens per second, at most ``burst`` stored, on a simulated clock."""

    def __init__(self, rate: float, burst: int, start: datetime) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.at = start

    def take(self, now: datetime) -> float | None:
        """Take a token; None on success, else the seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.at).total_seconds() * self.rate)
        self.at = now
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
    simulated_seconds: float
    rate_limit: float
    wall_seconds: float
    memory_kib: list[float]
    terminal_events: int

    @property
    def throughput(self) -> float:
        return self.launched / self.simulated_seconds if self.simulated_seconds else float("inf")


def _amlexec_memory(snapshot: tracemalloc.Snapshot) -> float:
    stats = snapshot.filter_traces([tracemalloc.Filter(True, "*/amlexec/*"),
                                    tracemalloc.Filter(False, "*/amlexec/bus/memory.py")]).statistics("filename")
    return sum(s.size for s in stats) / 1024


def run_load(tmp_path: Path, monkeypatch: Any, *, count: int, rate: float = 20.0, burst: int = 20,
             slices: int = 5) -> LoadReport:
    flow = make_flow(monkeypatch, tmp_path)
    flow.world.transport.clock = flow.world.clock
    seed_pipeline_component(flow.world.fake)
    bucket = TokenBucket(rate, burst, flow.world.clock.now())
    throttled = Counter[str]()

    def limit(method: str, path: str) -> Fault | None:
        if method == "PUT" and "/jobs/" in path:
            wait = bucket.take(flow.world.clock.now())
            if wait is not None:
                throttled["429"] += 1
                # Whole seconds in Retry-After, the exact wait in retry-after-ms (azure-core prefers it).
                return Fault(method, ".", status=429, headers={"Retry-After": str(max(1, math.ceil(wait))),
                                                               "retry-after-ms": str(math.ceil(wait * 1000))})
        return None

    flow.world.router.chaos = limit
    body = {"name": "Load", "type": "AzureMLExecutePipeline",
            "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
            "typeProperties": {"mlPipelineId": "azureml:score_pipeline:3", "experimentName": "load",
                               "mlPipelineParameters": {"n": 0}}}
    encoded = json.dumps(body).encode()
    start_wall = time.perf_counter()
    launch_seconds = 0.0
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

    # Warm up first: the lazy azure-ai-ml import and the per-worker clients are paid once and are not the
    # per-request memory this measures (tracing them would also make every snapshot slow to filter).
    flow.bus.send(Destination.REQUESTS, [OutgoingMessage(body=encoded, message_id="load-warm-up")])
    for message in flow.bus.due(Destination.REQUESTS):
        flow.deliver(Destination.REQUESTS, message)
    (warm_up,) = flow.world.fake.jobs
    flow.world.fake.finish(warm_up, "Completed")
    while (due := flow.bus.next_due(Destination.STATUS)) is not None:
        flow.world.clock.advance(max(0.0, (due - flow.world.clock.now()).total_seconds()))
        for message in flow.bus.due(Destination.STATUS):
            flow.deliver(Destination.STATUS, message)
    drain_events()
    finished.clear()
    tracemalloc.start(5)
    try:
        per_slice = max(1, count // slices)
        for first in range(0, count, per_slice):
            ids = range(first, min(count, first + per_slice))
            flow.bus.send(Destination.REQUESTS, [OutgoingMessage(body=encoded, message_id=f"load-{i:06d}")
                                                 for i in ids])
            while True:
                requests = flow.bus.due(Destination.REQUESTS)
                for message in requests:
                    before = flow.world.clock.now()
                    flow.deliver(Destination.REQUESTS, message)
                    launch_seconds += (flow.world.clock.now() - before).total_seconds()
                for name, job in flow.world.fake.jobs.items():
                    if job["properties"]["status"] == "NotStarted":
                        flow.world.fake.finish(name, "Completed")
                for message in flow.bus.due(Destination.STATUS):
                    flow.deliver(Destination.STATUS, message)
                drain_events()
                due = flow.bus.next_due(Destination.STATUS)
                if not requests and due is None:
                    break
                if not requests and due is not None:
                    flow.world.clock.advance(max(0.0, (due - flow.world.clock.now()).total_seconds()))
            # The slice is done and the bus idle: duplicate-detection ids of finished requests live in
            # Service Bus in Azure, not in the worker; forget them before measuring the worker.
            flow.bus._seen = {d: {} for d in Destination}
            memory.append(_amlexec_memory(tracemalloc.take_snapshot()))
    finally:
        tracemalloc.stop()
    return LoadReport(
        requests=count, launched=len(flow.world.fake.jobs) - 1, duplicate_runs=len(flow.world.fake.jobs) - len({
            job["properties"]["tags"]["amlexec.requestId"] for job in flow.world.fake.jobs.values()}),
        throttled=throttled["429"], simulated_seconds=launch_seconds or 1.0,
        rate_limit=rate, wall_seconds=time.perf_counter() - start_wall, memory_kib=memory,
        terminal_events=len(finished))
