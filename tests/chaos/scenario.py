"""Fault-injection scenarios: many requests through the Function App's triggers under a seeded mix of faults.

Faults: the fake Azure ML answers 429 with Retry-After, 500/503, drops connections before the request
reaches it, and accepts a submit then loses the answer; the bus delivers messages twice, out of order and
late; crashes are injected before and after every send (so after a submit before its acknowledgement,
after a publish before its acknowledgement, inside status checks and inside the launch of a retry). A
crashed delivery is redelivered later, as Service Bus does after the lock expires; after ten deliveries a
message is dead-lettered.

``run_scenario`` returns a ``Report``; ``check_invariants`` asserts what must hold whatever the faults:
every valid request ends in exactly one run per attempt and exactly one terminal event of the planned kind;
every invalid request ends as a rejection with its reasons and its original body kept; no event without a
run; no secret in any log line or event; nothing dead-lettered.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fakes.transport import Fault
from fakes.workspace import BASE, seed_pipeline_component
from flow.harness import Flow, make_flow

from amlexec.bus.base import Destination, OutgoingMessage
from amlexec.bus.memory import MemoryBus
from amlexec.runs import RUN_NAME_PROPERTY, run_name_for

PIPELINE = "0a77f445-258e-4349-9895-e555060b32d8"
SECRET = "hunter2-secret-never-logged"
MAX_DELIVERIES = 10

# outcome -> the terminal event type it must end with
EXPECTED = {
    "ok": "completed",
    "fail": "failed",
    "fail_then_ok": "completed",
    "cancel": "canceled",
    "slow": "timedOut",
    "invalid": "rejected",
    "typo": "rejected",
    "secure": "completed",
}
WEIGHTS = {"ok": 40, "fail": 10, "fail_then_ok": 10, "cancel": 5, "slow": 5, "invalid": 10, "typo": 5, "secure": 15}


class LeakScanner(logging.Handler):
    """Formats every log record of a run (exception text included) and keeps only those carrying a secret,
    so thousands of requests can be scanned without holding their logs in memory."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__(logging.DEBUG)
        self.secrets = secrets
        self.records = 0
        self.leaks: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        text = self.format(record)
        if any(secret in text for secret in self.secrets):
            self.leaks.append(text[:300])


@contextmanager
def scanning_logs(secrets: tuple[str, ...]) -> Iterator[LeakScanner]:
    """Capture every amlexec record at DEBUG and everything else at INFO for the duration of a run."""
    scanner = LeakScanner(secrets)
    root, ours = logging.getLogger(), logging.getLogger("amlexec")
    saved = root.level, ours.level
    root.addHandler(scanner)
    root.setLevel(min(root.level or logging.WARNING, logging.INFO))
    ours.setLevel(logging.DEBUG)
    try:
        yield scanner
    finally:
        root.removeHandler(scanner)
        root.setLevel(saved[0])
        ours.setLevel(saved[1])


class InjectedCrash(RuntimeError):
    """The worker died here; the message it was handling is redelivered later."""


@dataclass
class FaultRates:
    """How often each fault strikes (per HTTP request, per delivery, per send)."""

    throttle: float = 0.03
    server_error: float = 0.03
    drop_before: float = 0.02
    drop_after: float = 0.02
    duplicate: float = 0.10
    delay: float = 0.10
    crash_before_send: float = 0.03
    crash_after_send: float = 0.03

    @classmethod
    def none(cls) -> FaultRates:
        return cls(0, 0, 0, 0, 0, 0, 0, 0)


class CrashingBus(MemoryBus):
    """A MemoryBus whose sends sometimes crash the worker, before or after the message is taken."""

    def __init__(self, clock: Any, rng: random.Random, rates: FaultRates) -> None:
        super().__init__(clock, duplicate_window=timedelta(days=7))
        self.rng = rng
        self.rates = rates
        self.crashes = 0

    def send(self, destination: Destination, messages: list[OutgoingMessage]) -> None:
        if self.rng.random() < self.rates.crash_before_send:
            self.crashes += 1
            raise InjectedCrash(f"crash before sending to {destination.value}")
        super().send(destination, messages)
        if self.rng.random() < self.rates.crash_after_send:
            self.crashes += 1
            raise InjectedCrash(f"crash after sending to {destination.value}, before acknowledging")


@dataclass
class Planned:
    """One generated request and what must become of it."""

    request_id: str
    outcome: str
    target: str
    body: bytes
    duration: timedelta


@dataclass
class Report:
    """What a scenario run produced."""

    planned: dict[str, Planned]
    flow: Flow
    dead_letters: list[tuple[Destination, OutgoingMessage]]
    deliveries: int
    crashes: int
    http_faults: Counter[str]
    run_of: dict[str, tuple[str, int]]
    log_records: int = 0
    leaks: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    terminal_at: dict[str, datetime] = field(default_factory=dict)
    workers: int = 1
    races: Counter[str] = field(default_factory=Counter)
    raced: set[str] = field(default_factory=set)
    http_faults_on: bool = True


def _activity(target: str, outcome: str, index: int) -> dict[str, Any]:
    params: dict[str, Any]
    if target == "published":
        props: dict[str, Any] = {"mlPipelineId": PIPELINE}
        params = {"threshold": 0.1 * (index % 9)}
    elif target == "batch":
        props = {"mlExecutionType": "batchEndpoint", "mlBatchEndpointName": "loan-scoring"}
        params = {"n": index}
    else:
        props = {"mlPipelineId": "azureml:score_pipeline:3"}
        params = {"n": index, "flag": index % 2 == 0}
    if outcome == "typo":
        params = {**params, "tresh": 1}
    if outcome == "secure":
        params = {
            **params,
            ("label" if target == "component" else "region" if target == "published" else "label"): SECRET,
        }
    props["experimentName"] = 42 if outcome == "invalid" else f"chaos-{target}"
    props["mlPipelineParameters"] = params
    policy: dict[str, Any] = {"timeout": "0.01:00:00"}
    if outcome == "fail_then_ok":
        policy.update(retry=1, retryIntervalInSeconds=30)
    if outcome == "slow":
        policy["timeout"] = "0.00:10:00"
    if outcome == "secure":
        policy.update(secureInput=True, secureOutput=True)
    return {
        "name": f"Chaos {target}",
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
        "policy": policy,
        "typeProperties": props,
    }


def _plan(count: int, rng: random.Random, targets: tuple[str, ...]) -> dict[str, Planned]:
    outcomes = list(WEIGHTS)
    planned = {}
    for index in range(count):
        outcome = rng.choices(outcomes, weights=[WEIGHTS[o] for o in outcomes])[0]
        target = rng.choice(targets)
        if outcome == "secure" and target == "batch":
            target = "component"
        request_id = f"chaos-{index:05d}"
        duration = timedelta(hours=3) if outcome == "slow" else timedelta(seconds=rng.randint(20, 1800))
        body = json.dumps(_activity(target, outcome, index)).encode()
        planned[request_id] = Planned(request_id, outcome, target, body, duration)
    return planned


def _seed_workspace(flow: Flow) -> None:
    seed_pipeline_component(
        flow.world.fake,
        inputs={
            "n": {"type": "integer"},
            "flag": {"type": "boolean", "default": True},
            "label": {"type": "string", "optional": True},
        },
    )
    flow.world.fake.publish(PIPELINE, {"threshold": 0.5, "region": "ALL"})
    flow.world.fake.add_batch_endpoint(
        BASE, "loan-scoring", {"blue": f"{BASE}/components/score_pipeline/versions/3"}, default="blue"
    )


def _chaos(rng: random.Random, rates: FaultRates, counter: Counter[str]) -> Any:
    def decide(method: str, path: str) -> Fault | None:
        roll = rng.random()
        edges = [
            ("throttle", rates.throttle),
            ("server_error", rates.server_error),
            ("drop_before", rates.drop_before),
            ("drop_after", rates.drop_after),
        ]
        for name, rate in edges:
            if roll < rate:
                counter[name] += 1
                if name == "throttle":
                    return Fault(method, ".", status=429, headers={"Retry-After": str(rng.randint(1, 5))})
                if name == "server_error":
                    return Fault(method, ".", status=rng.choice([500, 503]))
                return Fault(method, ".", drop="before" if name == "drop_before" else "after")
            roll -= rate
        return None

    return decide


class RunSimulator:
    """Moves each job through its planned life in simulated time, as Azure ML would."""

    def __init__(self, flow: Flow, planned: dict[str, Planned], run_of: dict[str, tuple[str, int]]) -> None:
        self.flow = flow
        self.planned = planned
        self.run_of = run_of
        self.first_seen: dict[str, datetime] = {}

    def step(self) -> None:
        fake, now = self.flow.world.fake, self.flow.world.clock.now()
        for name, job in list(fake.jobs.items()):
            if name in fake.steps or job["properties"].get("jobType") == "Command":
                continue
            props = job["properties"]
            key = props.get("properties", {}).get(RUN_NAME_PROPERTY) or name
            if key not in self.run_of:
                continue
            request_id, attempt = self.run_of[key]
            plan = self.planned[request_id]
            seen = self.first_seen.setdefault(name, now)
            status = props["status"]
            if status in ("Completed", "Failed", "Canceled"):
                continue
            if status == "CancelRequested":
                fake.finish(name, "Canceled")
                continue
            if now - seen < timedelta(seconds=10):
                continue
            if status == "NotStarted":
                fake.set_status(name, "Running")
            if now - seen < plan.duration:
                continue
            outcome = plan.outcome
            if outcome == "fail" or (outcome == "fail_then_ok" and attempt == 1):
                fake.finish(name, "Failed", error=("UserError", "planned failure"))
            elif outcome == "cancel":
                fake.finish(name, "Canceled")
            elif outcome != "slow":
                fake.finish(name, "Completed")


class Instances:
    """Several Function App instances over one workspace and one Service Bus namespace.

    Each instance has its own worker (its own launchers, locks, clients and caches), as separate hosts do;
    the trigger functions run as whichever instance ``current`` names, so a delivery can be handed to any.
    """

    def __init__(self, flow: Flow, monkeypatch: Any, count: int) -> None:
        from amlexec import triggers
        from amlexec.handlers import Worker
        from amlexec.launch.workspace import WorkspaceConnector

        world = flow.world
        self.workers = [flow.worker]
        for _ in range(count - 1):
            connector = WorkspaceConnector(
                world.registry, transport=world.transport, credential_for=lambda _name: world.credential
            )
            self.workers.append(
                Worker.create(
                    flow.worker.settings,
                    clock=world.clock,
                    connector=connector,
                    registry=world.registry,
                    bus=flow.bus,
                    index=flow.worker.index,  # one table in one storage account, shared like the workspace
                    callbacks=flow.worker.callbacks,
                )
            )
        self.current = 0
        monkeypatch.setattr(triggers, "_worker", lambda: self.workers[self.current])

    def on(self, index: int) -> Any:
        """Run the next delivery as instance ``index``."""
        self.current = index % len(self.workers)
        return self


def run_scenario(
    tmp_path: Path,
    monkeypatch: Any,
    *,
    count: int,
    seed: int,
    rates: FaultRates | None = None,
    targets: tuple[str, ...] = ("component", "published", "batch"),
    workers: int = 1,
    race: float = 0.0,
    max_steps: int = 1_000_000,
) -> Report:
    """Send ``count`` generated requests at once and deliver everything until the bus is quiet.

    With ``workers`` > 1, each delivery goes to a random instance; ``race`` is the share of first deliveries
    during whose create another instance receives the same request (a Service Bus lock that expired during
    a slow launch, an HTTP retry landing elsewhere): the one interleaving no lock inside an instance stops.
    """
    import time

    rng = random.Random(seed)
    rates = rates or FaultRates()
    flow = make_flow(monkeypatch, tmp_path)
    bus = CrashingBus(flow.world.clock, rng, rates)
    flow.bus = bus
    flow.worker.bus = bus
    flow.world.transport.clock = flow.world.clock
    instances = Instances(flow, monkeypatch, workers)
    _seed_workspace(flow)
    http_faults: Counter[str] = Counter()
    races: Counter[str] = Counter()
    raced: set[str] = set()
    planned = _plan(count, rng, targets)
    run_of: dict[str, tuple[str, int]] = {}
    for request_id, plan in planned.items():
        activity_name = json.loads(plan.body)["name"]
        for attempt in (1, 2, 3):
            run_of[run_name_for(request_id, activity_name, attempt)] = (request_id, attempt)
    flow.world.router.chaos = _chaos(rng, rates, http_faults)
    simulator = RunSimulator(flow, planned, run_of)

    # Every request is on the queue at the start, as after a burst.
    inbox: list[tuple[datetime, int, Destination, OutgoingMessage, int]] = []
    order = 0

    def redeliver_later(at: datetime, destination: Destination, message: OutgoingMessage, count_so_far: int) -> None:
        nonlocal order
        if count_so_far >= MAX_DELIVERIES:
            dead.append((destination, message))
        else:
            inbox.append((at, order, destination, message, count_so_far + 1))
            order += 1

    def deliver(index: int, destination: Destination, message: OutgoingMessage, count_so_far: int) -> None:
        try:
            flow.deliver(destination, message, delivery_count=count_so_far)
        except Exception as exc:  # the worker died or gave up: Service Bus redelivers after the lock expires
            logging.getLogger("chaos").debug("delivery of %s to instance %d failed: %s", message.message_id, index, exc)
            redeliver_later(flow.world.clock.now() + timedelta(seconds=30), destination, message, count_so_far)

    def race_with(index: int, message: OutgoingMessage) -> Any:
        plan = planned[message.message_id]

        def hook(name: str) -> None:
            if run_of.get(name) != (message.message_id, 1):
                return
            races[plan.target] += 1
            raced.add(message.message_id)
            other = (index + 1) % workers
            instances.on(other)
            try:
                deliver(other, Destination.REQUESTS, message, 1)
            finally:
                instances.on(index)

        return hook

    for plan in planned.values():
        inbox.append(
            (
                flow.world.clock.now(),
                order,
                Destination.REQUESTS,
                OutgoingMessage(body=plan.body, message_id=plan.request_id, correlation_id=plan.request_id),
                1,
            )
        )
        order += 1
    dead: list[tuple[Destination, OutgoingMessage]] = []
    deliveries = 0
    start = time.perf_counter()
    terminal_at: dict[str, datetime] = {}
    published_seen = 0
    with scanning_logs((SECRET,)) as logs:
        while deliveries < max_steps:
            for destination in (Destination.REQUESTS, Destination.STATUS):
                for message in bus.due(destination):
                    inbox.append((flow.world.clock.now(), order, destination, message, 1))
                    order += 1
            now = flow.world.clock.now()
            ready = [item for item in inbox if item[0] <= now]
            if not ready:
                upcoming = [item[0] for item in inbox]
                for destination in (Destination.REQUESTS, Destination.STATUS):
                    due = bus.next_due(destination)
                    if due is not None:
                        upcoming.append(due)
                if not upcoming:
                    break
                flow.world.clock.advance(max(1.0, (min(upcoming) - now).total_seconds()))
                simulator.step()
                continue
            item = rng.choice(ready) if rates.delay or rates.duplicate else min(ready)
            inbox.remove(item)
            _, _, destination, message, count_so_far = item
            if rng.random() < rates.delay:
                inbox.append((now + timedelta(seconds=rng.randint(1, 60)), order, destination, message, count_so_far))
                order += 1
                continue
            if rng.random() < rates.duplicate:
                inbox.append((now + timedelta(seconds=rng.randint(0, 30)), order, destination, message, count_so_far))
                order += 1
            simulator.step()
            deliveries += 1
            index = rng.randrange(workers)
            instances.on(index)
            racing = workers > 1 and destination is Destination.REQUESTS and count_so_far == 1 and rng.random() < race
            flow.world.fake.before_create = race_with(index, message) if racing else None
            deliver(index, destination, message, count_so_far)
            flow.world.fake.before_create = None
            for event in bus.published[published_seen:]:
                data = json.loads(event.body)
                if not data["type"].endswith(".started"):
                    terminal_at.setdefault(data["data"]["requestId"], flow.world.clock.now())
            published_seen = len(bus.published)
    return Report(
        planned,
        flow,
        dead,
        deliveries,
        bus.crashes,
        http_faults,
        run_of,
        log_records=logs.records,
        leaks=logs.leaks,
        wall_seconds=time.perf_counter() - start,
        terminal_at=terminal_at,
        workers=workers,
        races=races,
        raced=raced,
        http_faults_on=any((rates.throttle, rates.server_error, rates.drop_before, rates.drop_after)),
    )


def _created(job: dict[str, Any]) -> tuple[str, str]:
    return (job.get("systemData") or {}).get("createdAt") or "", job["name"]


def settled_runs(report: Report) -> tuple[dict[str, Counter[int]], dict[str, str], list[str], list[str]]:
    """Every run in the workspace, by request and attempt: (kept runs per request, the run kept for each
    name, duplicates of a race that amlexec canceled, runs nobody asked for)."""
    fake = report.flow.world.fake
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    unexpected: list[str] = []
    for name, job in fake.jobs.items():
        if job["properties"].get("jobType") == "Command":
            continue  # a pipeline step, a child of a run
        key = job["properties"].get("properties", {}).get(RUN_NAME_PROPERTY) or name
        if key in report.run_of:
            by_name[key].append(job)
        else:
            unexpected.append(name)
    runs: dict[str, Counter[int]] = defaultdict(Counter)
    kept: dict[str, str] = {}
    duplicates: list[str] = []
    for key, jobs in by_name.items():
        request_id, attempt = report.run_of[key]
        first, *others = sorted(jobs, key=_created)
        runs[request_id][attempt] += 1
        kept[key] = first["name"]
        duplicates += [job["name"] for job in others]
    return runs, kept, duplicates, unexpected


def check_invariants(report: Report) -> None:
    """What must hold whatever the faults."""
    fake, bus = report.flow.world.fake, report.flow.bus
    assert report.dead_letters == [], f"{len(report.dead_letters)} message(s) dead-lettered"

    runs, kept, duplicates, unexpected = settled_runs(report)
    assert unexpected == [], f"runs nobody asked for: {unexpected[:5]}"
    for name in duplicates:
        job = fake.jobs[name]
        request_id, _ = report.run_of[job["properties"]["properties"][RUN_NAME_PROPERTY]]
        assert request_id in report.raced, f"{request_id} started a second run {name} without two instances racing"
        assert name in fake.v1_run_ids, f"a second v2 run {name}: job names are final, this cannot happen"
        assert job["properties"]["status"] in ("CancelRequested", "Canceled"), f"duplicate {name} was not canceled"
    if not report.http_faults_on:
        # Every answer arrives, so nothing is ever sent twice, however often messages are redelivered or
        # workers crash: each run was created by exactly one create. (A lost answer lets azure-core resend
        # an idempotent PUT, which the service answers without a second run.)
        extra = {
            name: n
            for name, n in fake.creates.items()
            if n != 1 and report.run_of.get(name, ("", 0))[0] not in report.raced
        }
        assert extra == {}, f"created more than once: {extra}"

    terminal: dict[str, list[dict[str, Any]]] = defaultdict(list)
    kept_runs = set(kept.values())
    for message in bus.published:
        event = json.loads(message.body)
        assert event["id"] == message.message_id
        if not event["type"].endswith(".started"):
            terminal[event["data"]["requestId"]].append(event)
        if event["type"].endswith((".completed", ".failed", ".canceled", ".timedOut")):
            run_id = event["data"]["runId"]
            assert run_id in fake.jobs, f"event for {run_id}, which never ran"
            assert run_id in kept_runs, f"event for {run_id}, a duplicate amlexec canceled"

    rejected_bodies = {
        m.application_properties["amlexec.originalMessageId"]: m.body for m in bus.sent[Destination.REJECTED]
    }
    expected_total = 0
    for request_id, plan in report.planned.items():
        events = terminal[request_id]
        assert len(events) == 1, f"{request_id} ({plan.outcome}): {len(events)} terminal events"
        kind = events[0]["type"].rsplit(".", 1)[1]
        assert kind == EXPECTED[plan.outcome], f"{request_id}: planned {plan.outcome}, ended {kind}"
        if plan.outcome in ("invalid", "typo"):
            assert runs[request_id] == Counter(), f"{request_id} was rejected but ran"
            assert events[0]["data"]["issues"], "a rejection carries its reasons"
            assert rejected_bodies.get(request_id) == plan.body, "the original body is kept"
        else:
            attempts = runs[request_id]
            expected_attempts = 2 if plan.outcome == "fail_then_ok" else 1
            expected_total += expected_attempts
            assert set(attempts) == set(range(1, expected_attempts + 1)), f"{request_id}: attempts {dict(attempts)}"
            assert all(n == 1 for n in attempts.values()), f"{request_id}: duplicate runs {dict(attempts)}"
    launched = sum(sum(c.values()) for c in runs.values())
    assert launched == expected_total, f"{launched} runs kept for {expected_total} attempts launched"

    assert report.log_records > 0, "no log records were scanned: the leak check would prove nothing"
    assert report.leaks == [], f"a secureInput value leaked into a log line: {report.leaks[0]}"
    events_and_kept = "".join(
        m.body.decode() + json.dumps(m.application_properties) for d in (Destination.EVENTS,) for m in bus.sent[d]
    )
    assert SECRET not in events_and_kept, "a secureInput value leaked into an event"
