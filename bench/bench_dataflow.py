"""From a run's end to the WebHook callback (and to the Event Grid publish), in the local flow.

``AMLEXEC_DATAFLOW_RUNS`` (default 40) WebHook requests through the Function App's trigger functions, each
run ending at a random time. Two ways the end is noticed, interleaved run by run: Azure ML's Event Grid
notification (delivered when the run ends) and polling alone. For each, the time from the run's end to
the callback arriving is read off the simulated clock (it measures amlexec's scheduling, not this
machine), and the CPU time amlexec spent between the notification and the callback is measured for real.
Target: within 5 s of the run's end when Event Grid reports it.

Then the Event Grid output: ``AMLEXEC_DATAFLOW_EVENTS`` (default 200) terminal events forwarded by the real
forwarder with azure-eventgrid to an HTTPS fake of the custom topic on loopback, alternating with the same
events sent by a bare ``EventGridPublisherClient`` (the SDK alone, no reshaping or classification): CPU and
wall time per event, and their ratio.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT), str(ROOT / "bench")]

from bench_tracking import Patch  # noqa: E402
from flow.harness import Flow, activity, make_flow  # noqa: E402
from measure import outside_git_checkout  # noqa: E402

from amlexec.bus.base import Destination  # noqa: E402
from amlexec.callbacks import CallbackUrlPolicy, MemoryCallbackSender  # noqa: E402

CALLBACK = "https://westeurope.frontend.datafactory.azure.net/pipelines/callback?callbackId={n}&sig=bench"


class TimedSender(MemoryCallbackSender):
    """Records when (simulated clock) each callback arrived."""

    def __init__(self, flow: Flow, policy: CallbackUrlPolicy) -> None:
        super().__init__(policy)
        self.flow = flow
        self.arrived: dict[str, datetime] = {}

    def deliver(self, uri: Any, body: dict[str, Any]) -> None:
        super().deliver(uri, body)
        self.arrived[str(body["Output"].get("runId"))] = self.flow.world.clock.now()


def _deliver_due(flow: Flow) -> None:
    for destination in (Destination.REQUESTS, Destination.STATUS):
        for message in flow.bus.due(destination):
            flow.deliver(destination, message)


def one_run(
    flow: Flow, sender: TimedSender, index: int, ends_after: float, *, event_grid: bool
) -> tuple[float, float, float]:
    """(simulated seconds from the run's end to its callback, CPU seconds amlexec spent noticing the end, simulated
    seconds from the run's end to its terminal event on the events topic)."""
    body = {"activity": activity(mlPipelineParameters={"n": index}), "callBackUri": CALLBACK.format(n=index)}
    answer = flow.http(
        "runs_submit",
        "POST",
        "https://app.example/api/runs",
        body=json.dumps(body).encode(),
        headers={"Idempotency-Key": f"bench-{index}"},
    )
    run = str(json.loads(answer.get_body())["runName"])
    end = flow.world.clock.now() + timedelta(seconds=ends_after)
    cpu = 0.0
    while run not in sender.arrived:
        due = flow.bus.next_due(Destination.STATUS)
        if due is None or (due > end and flow.world.fake.jobs[run]["properties"]["status"] != "Completed"):
            # Nothing due before the run ends: let it end now.
            flow.world.clock.advance(max(0.0, (end - flow.world.clock.now()).total_seconds()))
            flow.world.fake.finish(run, "Completed")
            if event_grid:
                job = flow.world.fake.jobs[run]
                started = time.process_time()
                flow.grid_event(
                    "Microsoft.MachineLearningServices.RunStatusChanged",
                    {
                        "runId": run,
                        "runStatus": "completed",
                        "experimentName": "scoring",
                        "runProperties": job["properties"]["properties"],
                    },
                )
                _deliver_due(flow)
                cpu += time.process_time() - started
            continue
        flow.world.clock.advance(max(0.0, (due - flow.world.clock.now()).total_seconds()))
        started = time.process_time()
        _deliver_due(flow)
        if flow.world.fake.jobs[run]["properties"]["status"] == "Completed":
            cpu += time.process_time() - started
    terminal = next(
        json.loads(m.body)
        for m in reversed(flow.bus.published)
        if json.loads(m.body)["data"].get("runId") == run and not json.loads(m.body)["type"].endswith(".started")
    )
    # The terminal event is what the Event Grid forwarder publishes, as soon as its subscription delivers it.
    to_event = (datetime.fromisoformat(terminal["time"]) - end).total_seconds()
    return (sender.arrived[run] - end).total_seconds(), cpu, to_event


def main() -> None:
    with outside_git_checkout():
        run()
        eventgrid_publish()


def eventgrid_publish() -> None:
    from azure.eventgrid import EventGridEvent, EventGridPublisherClient
    from fakes.credential import FakeCredential
    from fakes.https_server import HttpsFake
    from fakes.transport import Reply, Router

    from amlexec.eventgrid_output import EventGridForwarder, to_eventgrid

    count = int(os.environ.get("AMLEXEC_DATAFLOW_EVENTS", "200"))
    router = Router()
    router.add("POST", "/api/events", lambda call: Reply(200, None))
    bodies = [_terminal_event_body(n) for n in range(count)]
    with tempfile.TemporaryDirectory() as folder, HttpsFake(router, Path(folder)) as server:
        os.environ["REQUESTS_CA_BUNDLE"] = str(server.cert)
        endpoint = server.base_url + "/api/events"
        credential = FakeCredential()
        forwarder = EventGridForwarder(endpoint, credential=credential, retry_total=0)
        bare = EventGridPublisherClient(endpoint, credential)
        samples: dict[str, list[tuple[float, float]]] = {"amlexec": [], "bare": []}
        for index, body in enumerate(bodies):
            event = to_eventgrid(json.loads(body))
            grid_event = EventGridEvent(
                subject=event["subject"],
                event_type=event["eventType"],
                data=event["data"],
                data_version="1",
                id=event["id"],
            )
            order = ("amlexec", "bare") if index % 2 == 0 else ("bare", "amlexec")
            for who in order:
                cpu, wall = time.process_time(), time.perf_counter()
                if who == "amlexec":
                    forwarder.forward(body)
                else:
                    bare.send([grid_event])
                samples[who].append((time.process_time() - cpu, time.perf_counter() - wall))
        forwarder.close()
        bare.close()
    assert len(router.calls_to("POST", "/api/events")) == 2 * count, "every event reached the topic"
    ours = [c for c, _ in samples["amlexec"][10:]]  # the first ones pay TLS and token set-up
    theirs = [c for c, _ in samples["bare"][10:]]
    ratios = sorted(a / b for a, b in zip(ours, theirs, strict=True) if b > 0)
    bare_ms = statistics.median(theirs) * 1000
    print(
        f"Event Grid publish, {count} terminal events over loopback TLS: median CPU "
        f"{statistics.median(ours) * 1000:.2f} ms (bare SDK send, same rounds: {bare_ms:.2f} ms; "
        f"ratio median {statistics.median(ratios):.2f}x), wall median "
        f"{statistics.median(w for _, w in samples['amlexec'][10:]) * 1000:.2f} ms"
    )


def _terminal_event_body(n: int) -> bytes:
    from amlexec.events import EventKind, event_message, run_event
    from amlexec.launch.base import RunHandle, RunState, RunStatus
    from amlexec.runs import EventContext

    context = EventContext(
        request_id=f"adf-run-{n}",
        correlation_id=f"corr-{n}",
        activity_name="Score loan applications",
        linked_service="AzureMLService",
        target={"kind": "pipeline_component", "name": "loan_scoring", "version": "3", "label": None},
        experiment_name="loan-scoring",
        parameters={"threshold": 0.35, "region": "EMEA", "batch": n},
        max_attempts=1,
    )
    handle = RunHandle(
        target_kind="pipeline_component",
        run_id=f"amlexec_score_{n:020d}_1",
        experiment_name="loan-scoring",
        linked_service="AzureMLService",
        attempt=1,
        studio_url=f"https://ml.azure.com/runs/amlexec_score_{n:020d}_1",
    )
    ended = datetime(2026, 11, 21, 2, 0) + timedelta(minutes=n)
    status = RunStatus(
        state=RunState.COMPLETED, raw_status="Completed", started_at=ended - timedelta(minutes=7), ended_at=ended
    )
    return event_message(run_event(EventKind.COMPLETED, context, handle, status, time=ended)).body


def run() -> None:
    runs = int(os.environ.get("AMLEXEC_DATAFLOW_RUNS", "40"))
    rng = random.Random(11)
    figures: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as folder:
        flow = make_flow(Patch(), Path(folder), status_url_keys=(b"b" * 40,))
        # A public address for the example host: the policy is checked as in production.
        policy = CallbackUrlPolicy(resolver=lambda _host, _port: ["20.50.2.10"])
        sender = TimedSender(flow, policy)
        flow.worker.callback_policy = policy
        flow.worker.callbacks = sender
        for index in range(runs):
            # Interleaved: the two ways alternate, so both meet the same machine.
            for event_grid in (index % 2 == 0, index % 2 == 1):
                figures[event_grid].append(
                    one_run(flow, sender, index * 2 + event_grid, rng.uniform(20, 1800), event_grid=event_grid)
                )
    for event_grid, label in ((True, "Event Grid on "), (False, "polling only ")):
        delays = [d for d, _, _ in figures[event_grid]]
        cpu = [c * 1000 for _, c, _ in figures[event_grid]]
        to_event = [e for _, _, e in figures[event_grid]]
        print(
            f"run end -> WebHook callback, {label} (simulated clock): median {statistics.median(delays):6.1f} s, "
            f"max {max(delays):6.1f} s over {len(delays)} runs; CPU from the end's notice to the callback: "
            f"median {statistics.median(cpu):.1f} ms (target with Event Grid: <= 5 s)"
        )
        print(
            f"run end -> terminal event for the Event Grid forwarder, {label} (simulated clock): "
            f"median {statistics.median(to_event):6.1f} s, max {max(to_event):6.1f} s"
        )


if __name__ == "__main__":
    main()
