"""What tracking costs and how fast ends are reported, against the in-process fakes (simulated time).

Figures: Azure ML API calls per launch (first and steady state, per target) and per tracked run-hour;
time from a run's end to its terminal event on the polling path and on the Event Grid path; messages
handled per second end to end; cold start of the first handled message. Each is printed beside its target
or anchor.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from chaos.scenario import PIPELINE, FaultRates, _seed_workspace, check_invariants, run_scenario  # noqa: E402
from flow.harness import make_flow  # noqa: E402

from amlexec.bus.base import Destination  # noqa: E402


class Patch:
    """Enough of pytest's monkeypatch for the harness."""

    def __init__(self) -> None:
        self.undo: list[tuple[Any, str, Any]] = []

    def setattr(self, target: Any, name: str, value: Any) -> None:
        self.undo.append((target, name, getattr(target, name)))
        setattr(target, name, value)

    def close(self) -> None:
        for target, name, value in reversed(self.undo):
            setattr(target, name, value)


def _activity(target: str, index: int) -> dict[str, Any]:
    props: dict[str, Any] = {"experimentName": "bench"}
    if target == "published":
        props.update(mlPipelineId=PIPELINE, mlPipelineParameters={"threshold": 0.5})
    elif target == "batch":
        props.update(mlExecutionType="batchEndpoint", mlBatchEndpointName="loan-scoring",
                     mlPipelineParameters={"n": index})
    else:
        props.update(mlPipelineId="azureml:score_pipeline:3", mlPipelineParameters={"n": index})
    return {"name": "Bench", "type": "AzureMLExecutePipeline",
            "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
            "typeProperties": props}


def calls_per_launch() -> None:
    print("Azure ML API calls per launch (first launch / steady state; anchor: the bare SDK sequence)")
    bare = {"component": "3 (jobs.get, components.get, jobs PUT)", "published": "5+ (workspace, discovery, "
            "pipeline, interface, submit)", "batch": "4 (jobs.get, endpoint, deployment, invoke)"}
    for target in ("component", "published", "batch"):
        patch = Patch()
        with tempfile.TemporaryDirectory() as folder:
            flow = make_flow(patch, Path(folder))
            _seed_workspace(flow)
            counts = []
            for index in range(3):
                before = len(flow.world.router.calls)
                flow.deliver_request(_activity(target, index), message_id=f"{target}-{index}")
                counts.append(len(flow.world.router.calls) - before)
        patch.close()
        print(f"  {target:<10} first {counts[0]:>2}, then {counts[1]:>2}   (bare: {bare[target]})")


def calls_per_run_hour() -> None:
    patch = Patch()
    with tempfile.TemporaryDirectory() as folder:
        flow = make_flow(patch, Path(folder))
        _seed_workspace(flow)
        flow.deliver_request(_activity("component", 1), message_id="hour-1")
        name = next(iter(flow.world.fake.jobs))
        flow.world.fake.set_status(name, "Running")
        start_calls, start = len(flow.world.router.calls), flow.world.clock.now()
        checks = 0
        while flow.world.clock.now() - start < timedelta(hours=2):
            due = flow.bus.next_due(Destination.STATUS)
            assert due is not None
            flow.world.clock.advance(max(0.0, (due - flow.world.clock.now()).total_seconds()))
            for message in flow.bus.due(Destination.STATUS):
                flow.deliver(Destination.STATUS, message)
                checks += 1
        hours = (flow.world.clock.now() - start).total_seconds() / 3600
        calls = len(flow.world.router.calls) - start_calls
    patch.close()
    print(f"tracking a 2-hour run: {checks / hours:.1f} checks and {calls / hours:.0f} API calls per run-hour "
          f"(anchor: a fixed 15 s poll would make 240 checks/hour; amlexec backs off to one check per 5 min)")


def time_to_event(samples: int = 60) -> None:
    rng = random.Random(7)
    polling, grid = [], []
    for index in range(samples):
        patch = Patch()
        with tempfile.TemporaryDirectory() as folder:
            flow = make_flow(patch, Path(folder))
            _seed_workspace(flow)
            flow.deliver_request(_activity("component", index), message_id=f"end-{index}")
            job = next(iter(flow.world.fake.jobs.values()))
            ends_after = timedelta(seconds=rng.uniform(30, 3 * 3600))
            ended_at = flow.world.clock.now() + ends_after
            use_grid = index % 2 == 1
            while True:
                due = flow.bus.next_due(Destination.STATUS)
                assert due is not None
                if due >= ended_at and job["properties"]["status"] != "Completed":
                    flow.world.clock.advance(max(0.0, (ended_at - flow.world.clock.now()).total_seconds()))
                    flow.world.fake.finish(job["name"], "Completed")
                    if use_grid:
                        flow.grid_event("Microsoft.MachineLearningServices.RunStatusChanged", {
                            "runId": job["name"], "experimentName": "bench", "runStatus": "Completed",
                            "runProperties": job["properties"]["properties"]})
                if flow.terminal_events():
                    break
                flow.world.clock.advance(max(0.0, (due - flow.world.clock.now()).total_seconds()))
                for message in flow.bus.due(Destination.STATUS):
                    flow.deliver(Destination.STATUS, message)
                if flow.terminal_events():
                    break
            delay = (flow.world.clock.now() - ended_at).total_seconds()
            (grid if use_grid else polling).append(delay)
        patch.close()
    for label, values, anchor in (("polling", polling, "at most the 5 min maximum interval"),
                                  ("Event Grid", grid, "within seconds")):
        print(f"run end -> terminal event, {label:<10}: median {statistics.median(values):6.1f} s, "
              f"max {max(values):6.1f} s over {len(values)} runs (target: {anchor})")


def throughput() -> None:
    patch = Patch()
    with tempfile.TemporaryDirectory() as folder:
        report = run_scenario(Path(folder), patch, count=400, seed=11, rates=FaultRates.none())
        check_invariants(report)
    patch.close()
    print(f"end to end against the fakes, no faults: {report.deliveries / report.wall_seconds:.0f} messages/s "
          f"({report.deliveries} deliveries for 400 requests in {report.wall_seconds:.1f} s wall, one core; "
          "anchor: the bare azure-ai-ml launch costs ~13 ms, i.e. ~75 launches/s)")


FIRST_MESSAGE = """
import json, resource, sys, time
t0 = time.perf_counter()
import function_app
t1 = time.perf_counter()
sys.path[:0] = ["tests"]
import pytest
from flow.harness import make_flow
from chaos.scenario import _seed_workspace
import tempfile, pathlib
class P:
    def setattr(self, o, n, v): setattr(o, n, v)
flow = make_flow(P(), pathlib.Path(tempfile.mkdtemp()))
_seed_workspace(flow)
t2 = time.perf_counter()
flow.deliver_request({"name": "Cold", "type": "AzureMLExecutePipeline",
    "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
    "typeProperties": {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 1}}},
    message_id="cold-1")
t3 = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"import": t1 - t0, "first": t3 - t2, "rss": rss}))
"""


def cold_start() -> None:
    runs = [json.loads(subprocess.run([sys.executable, "-c", FIRST_MESSAGE], cwd=ROOT, capture_output=True,
                                      text=True, check=True).stdout.strip().splitlines()[-1]) for _ in range(3)]
    first = statistics.median(r["first"] for r in runs)
    rss = statistics.median(r["rss"] for r in runs)
    print(f"cold start: import function_app {statistics.median(r['import'] for r in runs):.2f} s (target <= 0.5 s); "
          f"first handled message {first:.2f} s including the lazy azure-ai-ml import, {rss:.0f} MB RSS after it "
          "(anchor: azure.ai.ml alone costs ~2.0 s and 108 MB to import)")


def main() -> None:
    start = time.perf_counter()
    cold_start()
    calls_per_launch()
    calls_per_run_hour()
    time_to_event()
    throughput()
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
