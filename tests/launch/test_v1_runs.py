"""v1 runs through run history over REST: no azure-ai-ml on the path, one call per look, details never fatal."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fakes.workspace import BASE, World, make_world, request_for

from amlexec.launch.base import RunHandle, RunState
from amlexec.launch.failures import AccessDenied, TargetNotFound
from amlexec.launch.published import PublishedPipelineLauncher

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = "0a77f445-258e-4349-9895-e555060b32d8"
HISTORY = f"https://westeurope.api.azureml.ms/history/v1.0{BASE}"


@pytest.fixture
def world() -> World:
    w = make_world()
    w.fake.publish(PIPELINE, {"threshold": 0.5, "region": "ALL"})
    return w


def launcher(world: World) -> PublishedPipelineLauncher:
    return PublishedPipelineLauncher(world.connector, clock=world.clock)


def launched(world: World, *, secure: bool = False) -> tuple[PublishedPipelineLauncher, RunHandle]:
    policy = {"secureOutput": True} if secure else None
    request = request_for(
        world.registry,
        {"mlPipelineId": PIPELINE, "experimentName": "loan-scoring", "mlPipelineParameters": {"threshold": 0.2}},
        policy=policy,
    )
    adapter = launcher(world)
    return adapter, adapter.launch(request)


def calls_during(world: World, action: object) -> list[str]:
    before = len(world.router.calls)
    action()  # type: ignore[operator]
    return [f"{c.method} {c.url.split('?')[0]}" for c in world.router.calls[before:]]


# ---- the promise that matters for cold start

# Validate -> launch -> status checks (in flight, then ended) -> cancel of another run, through the Function
# App's own trigger functions, in a fresh interpreter; then report which azure.ai.ml modules were loaded.
_V1_REQUEST_IN_A_FRESH_INTERPRETER = textwrap.dedent(
    """
    import json, sys, tempfile, pathlib
    sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
    from fakes.workspace import request_for
    from flow.harness import make_flow
    from amlexec.bus.base import Destination

    class Patch:
        def setattr(self, target, name, value):
            setattr(target, name, value)

    def status_check():
        due = flow.bus.next_due(Destination.STATUS)
        flow.world.clock.advance(max(0.0, (due - flow.world.clock.now()).total_seconds()))
        for message in flow.bus.due(Destination.STATUS):
            flow.deliver(Destination.STATUS, message)

    flow = make_flow(Patch(), pathlib.Path(tempfile.mkdtemp()))
    flow.world.fake.publish(sys.argv[2], {"threshold": 0.5})
    activity = {"mlPipelineId": sys.argv[2], "experimentName": "loan-scoring",
                "mlPipelineParameters": {"threshold": 0.2}}
    flow.deliver_request({"name": "Score", "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
        "typeProperties": activity}, message_id="v1-1")
    (run,) = flow.world.fake.v1_run_ids
    flow.world.fake.set_status(run, "Running")
    status_check()
    flow.world.fake.finish(run, "Completed")
    status_check()
    other = flow.worker.launchers.launch(request_for(flow.world.registry, activity, request_id="v1-2"))
    flow.worker.launchers.cancel(other)
    print(json.dumps({
        "loaded": sorted(m for m in sys.modules if m == "azure.ai.ml" or m.startswith("azure.ai.ml.")),
        "events": [e["type"] for e in flow.events()],
        "canceled": flow.world.fake.jobs[other.run_id]["properties"]["status"],
    }))
    """
)


def test_handling_a_v1_request_never_imports_azure_ai_ml(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _V1_REQUEST_IN_A_FRESH_INTERPRETER, str(ROOT), PIPELINE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["events"][0].endswith(".started") and report["events"][-1].endswith(".completed"), report
    assert report["canceled"] == "CancelRequested"
    assert report["loaded"] == [], "the v1 path imported azure-ai-ml"


# ---- one call per look


def test_a_status_check_of_a_run_in_flight_is_one_call(world: World) -> None:
    adapter, handle = launched(world)
    world.fake.set_status(handle.run_id, "Running")
    world.fake.add_step(handle.run_id, "prepare", "Running")
    status = None

    def look() -> None:
        nonlocal status
        status = adapter.status(handle)

    assert calls_during(world, look) == [f"GET {HISTORY}/runs/{handle.run_id}"]
    assert status is not None and status.state is RunState.RUNNING and status.steps == []


def test_a_cold_worker_pays_discovery_once_then_one_call_per_look(world: World) -> None:
    _, handle = launched(world)
    fresh = make_world()  # another worker: its own connector, nothing cached; the same fake service
    fresh_connector = type(world.connector)(
        world.registry, transport=world.transport, credential_for=lambda _name: world.credential
    )
    adapter = PublishedPipelineLauncher(fresh_connector, clock=fresh.clock)
    first = calls_during(world, lambda: adapter.status(handle))
    assert [c.rsplit("/", 1)[-1] for c in first] == ["ws-ml", "discovery", handle.run_id]
    assert len(calls_during(world, lambda: adapter.status(handle))) == 1


def test_an_ended_run_is_read_in_two_calls_with_its_steps_times_and_error(world: World) -> None:
    adapter, handle = launched(world)
    world.fake.add_step(handle.run_id, "prepare", "Completed")
    world.fake.add_step(handle.run_id, "score", "Failed")
    world.fake.finish(handle.run_id, "Failed", error=("UserError", "Step score failed: KeyError 'income'"))
    status = None

    def look() -> None:
        nonlocal status
        status = adapter.status(handle)

    assert calls_during(world, look) == [
        f"GET {HISTORY}/runs/{handle.run_id}",
        f"GET {HISTORY}/runs/{handle.run_id}/children",
    ]
    assert status is not None and status.state is RunState.FAILED
    assert [(s.name, s.state) for s in status.steps] == [("prepare", RunState.COMPLETED), ("score", RunState.FAILED)]
    assert (status.error_code, status.error_message) == ("UserError", "Step score failed: KeyError 'income'")
    assert status.started_at is not None and status.ended_at is not None
    assert status.studio_url == handle.studio_url


def test_a_failed_step_read_leaves_the_steps_out_and_reports_the_status(world: World) -> None:
    adapter, handle = launched(world)
    world.fake.add_step(handle.run_id, "prepare", "Completed")
    world.fake.finish(handle.run_id, "Completed")
    world.router.fail("GET", r"/children$", status=403, times=1)
    status = adapter.status(handle)
    assert status.state is RunState.COMPLETED and status.steps == []
    assert status.ended_at is not None


def test_secure_output_keeps_the_error_message_out(world: World) -> None:
    adapter, handle = launched(world, secure=True)
    world.fake.finish(handle.run_id, "Failed", error=("UserError", "password=hunter2 in step score"))
    status = adapter.status(handle)
    assert status.error_code == "UserError" and status.error_message is None


# ---- errors keep their meaning


def test_a_throttled_look_waits_retry_after_then_answers(world: World) -> None:
    adapter, handle = launched(world)
    world.router.fail("GET", rf"/runs/{handle.run_id}$", status=429, headers={"Retry-After": "7"})
    assert adapter.status(handle).state is RunState.QUEUED
    assert world.transport.sleeps and world.transport.sleeps[0] >= 7, "azure-core's retry policy honours it"


def test_an_unknown_run_is_not_found_and_a_refusal_names_the_role(world: World) -> None:
    adapter, handle = launched(world)
    with pytest.raises(TargetNotFound):
        adapter.status(handle.model_copy(update={"run_id": "no-such-run"}))
    world.router.fail("GET", rf"/runs/{handle.run_id}$", status=403)
    with pytest.raises(AccessDenied) as info:
        adapter.status(handle)
    assert "AzureML Data Scientist" in str(info.value)


# ---- cancel


def test_cancel_goes_to_run_history_and_leaves_an_ended_run_alone(world: World) -> None:
    adapter, handle = launched(world)
    experiment_id = world.fake.experiment_id("loan-scoring")
    assert calls_during(world, lambda: adapter.cancel(handle)) == [
        f"GET {HISTORY}/runs/{handle.run_id}",
        f"POST {HISTORY}/experimentids/{experiment_id}/runs/{handle.run_id}/cancel",
    ]
    assert world.fake.jobs[handle.run_id]["properties"]["status"] == "CancelRequested"
    world.fake.finish(handle.run_id, "Completed")
    assert calls_during(world, lambda: adapter.cancel(handle)) == [f"GET {HISTORY}/runs/{handle.run_id}"]
    assert world.fake.jobs[handle.run_id]["properties"]["status"] == "Completed"
    with pytest.raises(TargetNotFound):
        adapter.cancel(handle.model_copy(update={"run_id": "no-such-run"}))


def test_the_fake_refuses_a_cancel_under_another_experiment(world: World) -> None:
    """The fake behaves like the service: a run is canceled only under its own experiment."""
    _, handle = launched(world)
    reply = world.router.handle("POST", f"{HISTORY}/experiments/other/runs/{handle.run_id}/cancel", {}, None)
    assert reply.status == 404
    assert world.fake.jobs[handle.run_id]["properties"]["status"] == "NotStarted"
