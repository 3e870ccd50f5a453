"""Cold start of the Function App and per-launch overhead of amlexec over the bare azure-ai-ml calls.

Targets (issue 3): importing ``function_app`` <= 0.5 s and <= 60 MB RSS before the first launch (anchor,
measured in the same run: the four Azure SDKs imported at module level); amlexec's launch <= 1.2x the bare
SDK calls it makes, both against the same in-process fake of Azure ML, from a folder outside any git
checkout (see ``outside_git_checkout``). The two launches run in alternating rounds and are compared round
by round, in wall and in CPU time (see bench/measure.py for why).
Environment: ``BENCH_LAUNCH_ROUNDS`` (60) rounds of ``BENCH_LAUNCH_CALLS`` (4) launches each.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from measure import interleave, outside_git_checkout, ratios, spread  # noqa: E402

from amlexec.request import WorkspaceInfo  # noqa: E402

CHILD = """
import resource, sys, time
t, c = time.perf_counter(), time.process_time()
{imports}
wall, cpu = time.perf_counter() - t, time.process_time() - c
print(wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def cold(imports: dict[str, str], runs: int = 5) -> dict[str, dict[str, float]]:
    """Median import wall time (s), CPU time (s) and peak RSS (MB) of fresh interpreters, the cases alternating."""
    samples: dict[str, list[list[float]]] = {name: [] for name in imports}
    names = list(imports)
    for number in range(runs):
        for name in names if number % 2 == 0 else names[::-1]:
            out = subprocess.run(
                [sys.executable, "-c", CHILD.format(imports=imports[name])],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            samples[name].append([float(v) for v in out])
    return {
        name: {key: statistics.median(run[i] for run in runs_) for i, key in enumerate(("wall", "cpu", "rss"))}
        for name, runs_ in samples.items()
    }


def contenders() -> tuple[Any, Callable[[int], None], Callable[[int], None]]:
    """A fake world, amlexec's launch (validate, resolve, look up, create) and the bare SDK calls it wraps."""
    from datetime import UTC, datetime

    from azure.ai.ml.entities import PipelineJob
    from azure.core.exceptions import ResourceNotFoundError
    from fakes.workspace import make_world, seed_pipeline_component

    from amlexec.handlers import Worker, handle_request
    from amlexec.request import RequestContext
    from amlexec.settings import Settings

    world = make_world()
    seed_pipeline_component(world.fake)
    worker = Worker.create(Settings(), registry=world.registry, clock=world.clock, connector=world.connector)
    ml = world.connector.ml_client_for("AzureMLService", _workspace())

    def payload(i: int) -> bytes:
        return json.dumps(
            {
                "name": "Score",
                "type": "AzureMLExecutePipeline",
                "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
                "typeProperties": {
                    "mlPipelineId": "azureml:score_pipeline:3",
                    "experimentName": "bench",
                    "mlPipelineParameters": {"n": i, "flag": False},
                },
            }
        ).encode()

    def amlexec_launch(i: int) -> None:
        context = RequestContext(request_id=f"bench-{i}", received_at=datetime.now(UTC))
        handle_request(payload(i), context, worker)

    def bare_launch(i: int) -> None:
        # What a hand-written function would do: look the job up, fetch the component, create the job.
        name = f"bare_{i}"
        with contextlib.suppress(ResourceNotFoundError):
            ml.jobs.get(name)
        component = ml.components.get("score_pipeline", version="3")
        ml.jobs.create_or_update(
            PipelineJob(name=name, component=component, inputs={"n": i, "flag": False}, experiment_name="bench")
        )

    return world, amlexec_launch, bare_launch


def launch_overhead(rounds: int, calls: int) -> None:
    _, amlexec_launch, bare_launch = contenders()
    for warm in range(5):
        amlexec_launch(1_000_000 + warm)
        bare_launch(1_000_000 + warm)
    timings = interleave({"amlexec": amlexec_launch, "bare": bare_launch}, rounds=rounds, calls=calls)
    ours, bare = timings["amlexec"], timings["bare"]
    wall_ratio, cpu_ratio = ratios(ours.wall, bare.wall), ratios(ours.cpu, bare.cpu)
    meets = statistics.median(wall_ratio) <= 1.2 and statistics.median(cpu_ratio) <= 1.2
    print(
        f"per launch against the in-process fake, outside a git checkout, {rounds} alternating rounds of "
        f"{calls} launches each (median, IQR over rounds):"
    )
    print(
        f"  amlexec (validate, resolve, look up, create): wall {spread(ours.wall, 1000)} ms, "
        f"CPU {spread(ours.cpu, 1000)} ms"
    )
    print(
        f"  bare azure-ai-ml calls (jobs.get, components.get, jobs.create_or_update): wall {spread(bare.wall, 1000)}"
        f" ms, CPU {spread(bare.cpu, 1000)} ms"
    )
    print(
        f"  ratio amlexec / bare, per round: wall {spread(wall_ratio)}x, CPU {spread(cpu_ratio)}x "
        f"(target <= 1.2x: {'meets' if meets else 'MISSES'})"
    )


def _workspace() -> WorkspaceInfo:
    from fakes.workspace import RG, SUB, WS

    return WorkspaceInfo(subscription_id=SUB, resource_group=RG, name=WS)


def main() -> None:
    imports = cold(
        {"app": "import function_app", "sdks": "import azure.functions, azure.ai.ml, azure.identity, azure.servicebus"}
    )
    app, sdks = imports["app"], imports["sdks"]
    verdict = "meets" if app["wall"] <= 0.5 and app["rss"] <= 60 else "MISSES"
    print(
        f"cold import of function_app (median of 5, alternating with the anchor, warm file cache): "
        f"{app['wall']:.2f} s wall, {app['cpu']:.2f} s CPU, {app['rss']:.0f} MB RSS (target <= 0.5 s, <= 60 MB: "
        f"{verdict}); anchor, four SDKs at module level: {sdks['wall']:.2f} s wall, {sdks['cpu']:.2f} s CPU, "
        f"{sdks['rss']:.0f} MB; ratio {app['wall'] / sdks['wall']:.2f}x wall, {app['cpu'] / sdks['cpu']:.2f}x CPU"
    )
    with outside_git_checkout():
        launch_overhead(
            rounds=int(os.environ.get("BENCH_LAUNCH_ROUNDS", "60")),
            calls=int(os.environ.get("BENCH_LAUNCH_CALLS", "4")),
        )


if __name__ == "__main__":
    main()
