"""Cold start of the Function App and per-launch overhead of amlexec over the bare azure-ai-ml calls.

Targets (issue 3): importing ``function_app`` <= 0.5 s and <= 60 MB RSS before the first launch (anchor:
about 2.4 s / 117 MB when the four Azure SDKs load at module level); amlexec's launch <= 1.2x the bare SDK
calls it makes, both against the same in-process fake of Azure ML.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

CHILD = """
import resource, sys, time
t = time.perf_counter()
{imports}
elapsed = time.perf_counter() - t
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def cold(imports: str, runs: int = 5) -> tuple[float, float]:
    """Median import time (s) and peak RSS (MB) of a fresh interpreter importing ``imports``."""
    times, rss = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", CHILD.format(imports=imports)], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
        times.append(float(out[0]))
        rss.append(float(out[1]))
    return statistics.median(times), statistics.median(rss)


def launch_overhead(launches: int = 150) -> tuple[float, float]:
    """Mean seconds per launch: amlexec (validate, resolve, launch) and the bare SDK calls it wraps."""
    from datetime import UTC, datetime

    from azure.ai.ml.entities import PipelineJob
    from azure.core.exceptions import ResourceNotFoundError
    from fakes.workspace import make_world, seed_pipeline_component

    from amlexec.handlers import Worker, handle_request
    from amlexec.resolve import RequestContext
    from amlexec.settings import Settings

    world = make_world()
    seed_pipeline_component(world.fake)
    worker = Worker.create(Settings(), registry=world.registry, clock=world.clock, connector=world.connector)
    ml = world.connector.ml_client_for("AzureMLService", _workspace())

    def payload(i: int) -> bytes:
        return json.dumps({"name": "Score", "type": "AzureMLExecutePipeline",
                           "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
                           "typeProperties": {"mlPipelineId": "azureml:score_pipeline:3", "experimentName": "bench",
                                              "mlPipelineParameters": {"n": i, "flag": False}}}).encode()

    def amlexec_launch(i: int) -> None:
        context = RequestContext(request_id=f"bench-{i}", received_at=datetime.now(UTC))
        handle_request(payload(i), context, worker)

    def bare_launch(i: int) -> None:
        # What a hand-written function would do: look the job up, fetch the component, create the job.
        name = f"bare_{i}"
        with contextlib.suppress(ResourceNotFoundError):
            ml.jobs.get(name)
        component = ml.components.get("score_pipeline", version="3")
        ml.jobs.create_or_update(PipelineJob(name=name, component=component, inputs={"n": i, "flag": False},
                                             experiment_name="bench"))

    for warm in range(5):
        amlexec_launch(10_000 + warm)
        bare_launch(10_000 + warm)
    results = {}
    for label, fn in (("amlexec", amlexec_launch), ("bare", bare_launch)):
        start = time.perf_counter()
        for i in range(launches):
            fn(i)
        results[label] = (time.perf_counter() - start) / launches
    return results["amlexec"], results["bare"]


def _workspace() -> object:
    from fakes.workspace import RG, SUB, WS

    from amlexec.resolve import WorkspaceInfo

    return WorkspaceInfo(subscription_id=SUB, resource_group=RG, name=WS)


def main() -> None:
    app_time, app_rss = cold("import function_app")
    sdk_time, sdk_rss = cold("import azure.functions, azure.ai.ml, azure.identity, azure.servicebus")
    verdict = "meets" if app_time <= 0.5 and app_rss <= 60 else "MISSES"
    print(f"cold import of function_app: {app_time:.2f} s, {app_rss:.0f} MB RSS (target <= 0.5 s, <= 60 MB: "
          f"{verdict}); anchor, four SDKs at module level: {sdk_time:.2f} s, {sdk_rss:.0f} MB")
    ours, bare = launch_overhead()
    ratio = ours / bare
    print(f"per launch against the in-process fake: amlexec {ours * 1000:.1f} ms, bare azure-ai-ml calls "
          f"{bare * 1000:.1f} ms, ratio {ratio:.2f}x (target <= 1.2x: {'meets' if ratio <= 1.2 else 'MISSES'})")


if __name__ == "__main__":
    main()
