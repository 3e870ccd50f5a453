"""Tracking at scale: many runs in flight against one workspace, on the simulated clock, with the project's fakes.

Every status check and every Event Grid notification goes through the Function App's real handlers and the
real azure-ai-ml client, against the fake workspace; only the launches are skipped (runs are put in flight
directly, their check schedule as if they had been tracked since their start), because a launch's calls are
counted per launch by bench_tracking.py and are not part of tracking's budget. Runs end at random times;
each run that ends is replaced by a new one, so the number in flight stays the same.

Printed: Azure ML calls per second and per run-hour, Service Bus messages per second, and the number of
runs in flight one identity can track within Azure Resource Manager's read budget (25 reads a second per
principal and subscription, refilled into a bucket of 250), for polling only and with Event Grid on. Then
the same polling-only load against that budget, the fake answering 429 with ``Retry-After`` when the bucket
is empty: no check may be lost (every run in flight keeps exactly one scheduled check) and every run that
ended is published exactly once.

    python bench/bench_scale.py [--runs 10000] [--minutes 20]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from bench_tracking import Patch  # noqa: E402
from chaos.scenario import _seed_workspace  # noqa: E402
from fakes.throttle import ARM_READS_PER_SECOND, ReadThrottle  # noqa: E402
from flow.harness import Flow, activity, make_flow  # noqa: E402
from measure import outside_git_checkout  # noqa: E402

from amlexec.bus.base import Destination, OutgoingMessage  # noqa: E402
from amlexec.handlers import _check_message  # noqa: E402
from amlexec.runs import run_name, run_properties  # noqa: E402
from amlexec.tracking import CheckMessage, TrackingPolicy, next_delay  # noqa: E402

RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
# Runs in flight at the start have been running up to MAX_AGE; each run, and each replacement, ends a uniformly
# random time up to MAX_REMAINING later (a new run lasts two hours on average).
MAX_AGE = timedelta(hours=2)
MAX_REMAINING = timedelta(hours=4)


@dataclass
class Sim:
    """Runs in flight in one Function App instance, and what came of them."""

    flow: Flow
    template: CheckMessage
    template_job: dict[str, Any]
    notify: bool
    rng: random.Random
    ends: list[tuple[datetime, str]] = field(default_factory=list)
    ended_at: dict[str, datetime] = field(default_factory=dict)  # request id -> when its run ended
    run_of: dict[str, str] = field(default_factory=dict)  # run name -> request id
    serial: int = 0
    raised: int = 0
    delivered: set[str] = field(default_factory=set)

    def first_due(self, started: datetime, policy: TrackingPolicy) -> tuple[datetime, int]:
        """When a run started at ``started`` is next checked, and that check's number, had it been tracked."""
        due, number = started + policy.initial_delay, 0
        while due < self.flow.world.clock.now():
            due += next_delay(number, policy)
            number += 1
        return due, number

    def add_run(self, age: timedelta) -> None:
        now = self.flow.world.clock.now()
        self.serial += 1
        request = self.template.request.model_copy(update={"request_id": f"scale-{self.serial}"})
        name = run_name(request)
        job = copy.deepcopy(self.template_job)
        job["name"] = name
        job["id"] = job["id"].rsplit("/", 1)[0] + "/" + name
        job["properties"]["status"] = "Running"
        job["properties"]["properties"] = run_properties(request, name)
        self.flow.world.fake.jobs[name] = job
        self.run_of[name] = request.request_id
        started = now - age
        due, number = self.first_due(started, self.flow.worker.tracking)
        assert self.template.handle is not None
        check = self.template.model_copy(
            update={
                "request": request,
                "handle": self.template.handle.model_copy(update={"run_id": name}),
                "attempt_started_at": started,
                "check_number": number,
            }
        )
        self.flow.bus.send(Destination.STATUS, [_check_message(check, due)])
        remaining = timedelta(seconds=self.rng.uniform(30, MAX_REMAINING.total_seconds()))
        self.ends.append((now + remaining, name))

    def end_due_runs(self) -> None:
        now = self.flow.world.clock.now()
        due = [(end, name) for end, name in self.ends if end <= now]
        if not due:
            return
        self.ends = [(end, name) for end, name in self.ends if end > now]
        for _end, name in due:
            job = self.flow.world.fake.jobs[name]
            self.flow.world.fake.finish(name, "Completed")
            self.ended_at[self.run_of[name]] = now
            if self.notify:
                self.flow.grid_event(
                    RUN_STATUS_CHANGED,
                    {
                        "runId": name,
                        "experimentName": job["properties"]["experimentName"],
                        "runStatus": "Completed",
                        "runProperties": job["properties"]["properties"],
                    },
                    event_id=f"eg-{name}",
                )
            self.add_run(timedelta(0))  # the same number stays in flight

    def step(self) -> bool:
        """Advance to the next check or run end and handle it; False when nothing is scheduled."""
        due = self.flow.bus.next_due(Destination.STATUS)
        if due is None:
            return False
        next_end = min((end for end, _ in self.ends), default=due)
        clock = self.flow.world.clock
        clock.advance(max(0.0, (min(due, next_end) - clock.now()).total_seconds()))
        self.end_due_runs()
        for message in self.flow.bus.due(Destination.STATUS):
            self.delivered.add(message.message_id)
            try:
                self.flow.deliver(Destination.STATUS, message)
            except Exception:  # counted: a raised check would be redelivered, then dead-lettered
                self.raised += 1
        return True

    def pending_checks(self) -> Counter[str]:
        """Scheduled checks not yet delivered, per request id."""
        bus = self.flow.bus
        dropped = {id(m) for m in bus.dropped_duplicates}
        pending: Counter[str] = Counter()
        for message in bus.sent[Destination.STATUS]:
            if id(message) in dropped or message.message_id in self.delivered:
                continue
            pending[json.loads(message.body)["request"]["request_id"]] += 1
        return pending


def _sim(runs: int, *, notify: bool, folder: Path, patch: Patch, seed: int) -> Sim:
    flow = make_flow(patch, folder, eventgrid_tracking=notify)
    _seed_workspace(flow)
    flow.deliver_request(activity(), message_id="template")
    first = _pending_first(flow)
    template = CheckMessage.model_validate_json(first.body)
    template_job = copy.deepcopy(flow.job())
    flow.world.fake.jobs.clear()
    flow.bus.published.clear()
    sim = Sim(flow, template, template_job, notify, random.Random(seed))
    for _ in range(runs):
        sim.add_run(timedelta(seconds=sim.rng.uniform(0, MAX_AGE.total_seconds())))
    return sim


def _pending_first(flow: Flow) -> OutgoingMessage:
    due = flow.bus.next_due(Destination.STATUS)
    assert due is not None
    flow.world.clock.advance((due - flow.world.clock.now()).total_seconds())
    (message,) = flow.bus.due(Destination.STATUS)
    return message


@dataclass
class Window:
    """What one simulated window cost and produced."""

    seconds: float
    runs: int
    calls: int
    throttled: int
    status_messages: int
    events: int
    latencies: list[float]
    wall: float

    @property
    def calls_per_run_hour(self) -> float:
        return (self.calls - self.throttled) / self.runs / (self.seconds / 3600)


def _window(sim: Sim, minutes: float, throttle: ReadThrottle | None = None) -> Window:
    flow = sim.flow
    if throttle is not None:
        flow.world.router.chaos = throttle
    start, wall = flow.world.clock.now(), time.perf_counter()
    calls = len(flow.world.router.calls)
    status = len(flow.bus.sent[Destination.STATUS])
    events = len(flow.bus.published)
    throttled = throttle.throttled if throttle else 0
    while flow.world.clock.now() - start < timedelta(minutes=minutes) and sim.step():
        pass
    latencies = []
    for message in flow.bus.published[events:]:
        event = json.loads(message.body)
        if event["type"].endswith(".started"):
            continue
        ended = sim.ended_at[event["data"]["requestId"]]
        latencies.append((datetime.fromisoformat(event["time"]) - ended).total_seconds())
    return Window(
        seconds=(flow.world.clock.now() - start).total_seconds(),
        runs=len(sim.ends),
        calls=len(flow.world.router.calls) - calls,
        throttled=(throttle.throttled if throttle else 0) - throttled,
        status_messages=len(flow.bus.sent[Destination.STATUS]) - status,
        events=len(flow.bus.published) - events,
        latencies=latencies,
        wall=time.perf_counter() - wall,
    )


def _report(label: str, window: Window) -> float:
    per_run_hour = window.calls_per_run_hour
    ceiling = ARM_READS_PER_SECOND * 3600 / per_run_hour
    print(
        f"{label} (simulated clock, {window.runs:,} runs in flight, {window.seconds / 60:.0f} min): "
        f"{window.calls / window.seconds:.1f} Azure ML calls/s, {per_run_hour:.1f} per run-hour; "
        f"{(window.status_messages + window.events) / window.seconds:.1f} Service Bus messages/s "
        f"({window.status_messages / window.seconds:.1f} status checks scheduled, {window.events / window.seconds:.2f} "
        f"events); {len(window.latencies)} runs ended, run end -> event median "
        f"{statistics.median(window.latencies):.0f} s, max {max(window.latencies):.0f} s; {window.wall:.0f} s wall"
    )
    print(
        f"  runs in flight one identity can track within {ARM_READS_PER_SECOND:.0f} reads/s: {ceiling:,.0f} "
        f"(ARM read budget / {per_run_hour:.1f} calls per run-hour)"
    )
    return ceiling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=20.0)
    args = parser.parse_args()
    started = time.perf_counter()
    with outside_git_checkout(), tempfile.TemporaryDirectory() as folder:
        ceilings = {}
        for notify, label in ((False, "polling only"), (True, "Event Grid on")):
            patch = Patch()
            sim = _sim(args.runs, notify=notify, folder=Path(folder) / label.replace(" ", "-"), patch=patch, seed=15)
            ceilings[label] = _report(f"{label:<13}", _window(sim, args.minutes))
            patch.close()
        print(
            f"runs-in-flight ceiling, one identity (simulated clock): polling only {ceilings['polling only']:,.0f}, "
            f"Event Grid on {ceilings['Event Grid on']:,.0f} (before issue 15, 63 calls per run-hour: "
            f"{ARM_READS_PER_SECOND * 3600 / 63:,.0f})"
        )

        patch = Patch()
        sim = _sim(args.runs, notify=False, folder=Path(folder) / "throttled", patch=patch, seed=16)
        throttle = ReadThrottle(sim.flow.world.clock, per_second=ARM_READS_PER_SECOND, capacity=250)
        window = _window(sim, args.minutes, throttle)
        pending = sim.pending_checks()
        in_flight = {sim.run_of[name] for _, name in sim.ends}
        published = Counter(
            json.loads(m.body)["data"]["requestId"]
            for m in sim.flow.bus.published
            if not json.loads(m.body)["type"].endswith(".started")
        )
        unpublished_ended = [r for r in sim.ended_at if r not in published and pending[r] != 1]
        lost = [r for r in in_flight if pending[r] != 1]
        served, refused = (window.calls - window.throttled) / window.seconds, window.throttled / window.seconds
        twice = sum(n > 1 for n in published.values())
        bare = sum(
            "endedAt" not in json.loads(m.body)["data"]
            for m in sim.flow.bus.published
            if not json.loads(m.body)["type"].endswith(".started")
        )
        print(
            f"under throttling at {ARM_READS_PER_SECOND:.0f} reads/s, polling only (simulated clock, "
            f"{args.runs:,} runs in flight, {window.seconds / 60:.0f} min): {served:.1f} reads/s served, "
            f"{refused:.1f}/s answered 429; {len(sim.ended_at):,} runs ended, {len(published):,} published ({bare} "
            f"without the throttled run-history details), {twice} more than once, the rest each awaiting its one "
            f"scheduled check; "
            f"checks lost: {len(lost) + len(unpublished_ended)}, checks raised: {sim.raised}; run end -> event median "
            f"{statistics.median(window.latencies):.0f} s, max {max(window.latencies):.0f} s; {window.wall:.0f} s wall"
        )
        patch.close()
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
