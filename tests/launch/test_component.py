"""Registered pipeline components: the real azure-ai-ml client against the fake workspace."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes.workspace import BASE, World, make_world, request_for, seed_pipeline_component

from amlexec.errors import RequestRejected, TransientError
from amlexec.launch.base import RunHandle, RunState
from amlexec.launch.component import PipelineComponentLauncher
from amlexec.launch.failures import RetryPolicy
from amlexec.launch.router import LaunchRouter
from amlexec.runs import run_name


@pytest.fixture(params=["update", "refuse"])
def world(request: pytest.FixtureRequest) -> World:
    """Every test runs against both readings of what Azure ML answers to a PUT on a taken job name."""
    w = make_world(existing_job_put=request.param)
    seed_pipeline_component(w.fake)
    return w


def launcher(world: World, **kwargs: object) -> PipelineComponentLauncher:
    return PipelineComponentLauncher(world.connector, clock=world.clock, **kwargs)  # type: ignore[arg-type]


def test_falsy_inputs_reach_the_request_body(world: World) -> None:
    request = request_for(
        world.registry,
        {
            "mlPipelineId": "azureml:score_pipeline:3",
            "experimentName": "scoring",
            "continueOnStepFailure": True,
            "mlPipelineParameters": {"n": 0, "flag": False, "rate": 0.0},
        },
    )
    handle = launcher(world).launch(request)
    (put,) = world.router.calls_to("PUT", r"/jobs/")
    name = run_name(request)
    assert put.path == f"{BASE}/jobs/{name}"
    props = put.body["properties"]
    assert props["componentId"] == f"{BASE}/components/score_pipeline/versions/3"
    assert props["inputs"] == {
        "n": {"value": "0", "jobInputType": "literal"},
        "flag": {"value": "False", "jobInputType": "literal"},
        "rate": {"value": "0.0", "jobInputType": "literal"},
    }
    assert props["experimentName"] == "scoring"
    assert props["displayName"] == "Score"
    assert props["settings"]["continue_on_step_failure"] is True
    assert props["tags"]["amlexec.correlationId"] == "corr-1"
    assert props["tags"]["amlexec.requestId"] == "msg-1"
    assert handle.run_id == name and handle.created
    assert handle.studio_url is not None and name in handle.studio_url
    assert put.headers["Authorization"].startswith("Bearer ")


def test_empty_string_input_is_rejected_not_dropped(world: World) -> None:
    request = request_for(
        world.registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 1, "label": ""}}
    )
    with pytest.raises(RequestRejected) as info:
        launcher(world).launch(request)
    (issue,) = info.value.issues
    assert issue.code == "empty_input" and issue.path == "typeProperties.mlPipelineParameters.label"
    assert world.router.calls_to("PUT", r"/jobs/") == []


def test_unknown_and_missing_parameters_are_rejected_before_submit(world: World) -> None:
    request = request_for(
        world.registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"N": 1, "thresold": 0.3}}
    )
    with pytest.raises(RequestRejected) as info:
        launcher(world).launch(request)
    codes = {(i.path, i.code) for i in info.value.issues}
    assert codes == {
        ("typeProperties.mlPipelineParameters.N", "unknown_parameter"),
        ("typeProperties.mlPipelineParameters.thresold", "unknown_parameter"),
        ("typeProperties.mlPipelineParameters.n", "missing_parameter"),
    }
    assert "did you mean 'n'" in next(i.message for i in info.value.issues if i.path.endswith(".N"))
    assert world.router.calls_to("PUT", r"/jobs/") == []


def test_unknown_component_is_a_precise_rejection(world: World) -> None:
    request = request_for(world.registry, {"mlPipelineId": "azureml:nope:1"})
    with pytest.raises(RequestRejected) as info:
        launcher(world).launch(request)
    assert info.value.issues[0].code == "unknown_pipeline"


def test_duplicate_delivery_starts_one_run(world: World) -> None:
    request = request_for(
        world.registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 1}}
    )
    first = launcher(world).launch(request)
    again = launcher(world).launch(request)
    assert first.run_id == again.run_id
    assert (first.created, again.created) == (True, False)
    assert world.fake.creates == {run_name(request): 1}, "the redelivery found the run instead of creating it again"


def _race(launch: Callable[[], RunHandle], threads: int) -> tuple[list[RunHandle], list[BaseException]]:
    """Call ``launch`` from ``threads`` threads released at the same moment."""
    handles: list[RunHandle] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def deliver() -> None:
        barrier.wait()
        try:
            handles.append(launch())
        except BaseException as exc:  # collected for the assertions
            errors.append(exc)

    workers = [threading.Thread(target=deliver) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=30)
    return handles, errors


def test_concurrent_duplicates_in_one_worker_create_once(world: World, tmp_path: Path) -> None:
    """What the worker's thread pool does with two deliveries of one message: one create, one run."""
    request = request_for(
        world.registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 1}}
    )
    router = LaunchRouter(world.registry, local_runs_root=tmp_path, clock=world.clock, connector=world.connector)
    handles, errors = _race(lambda: router.launch(request), 6)
    assert errors == []
    assert world.fake.creates == {run_name(request): 1}
    assert {h.run_id for h in handles} == {run_name(request)}
    assert sum(h.created for h in handles) == 1


def test_concurrent_duplicates_in_separate_workers_start_one_run(world: World) -> None:
    """Two instances share no lock: each may send its create, but the job name lets only one run exist."""
    request = request_for(
        world.registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 1}}
    )
    handles, errors = _race(lambda: launcher(world).launch(request), 6)
    assert errors == []
    assert list(world.fake.jobs) == [run_name(request)]
    assert len(handles) == 6 and {h.run_id for h in handles} == {run_name(request)}
    assert any(h.created for h in handles)


def test_crash_after_submit_then_redelivery_starts_no_second_run(world: World) -> None:
    request = request_for(
        world.registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 1}}
    )
    world.router.fail("PUT", r"/jobs/", drop="after")  # the job is created, the answer is lost
    handle = launcher(world).launch(request)
    assert handle.run_id == run_name(request)
    assert len(world.fake.jobs) == 1
    assert launcher(world).launch(request).created is False


def test_throttling_is_retried_honouring_retry_after(world: World) -> None:
    request = request_for(
        world.registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 1}}
    )
    world.router.fail("PUT", r"/jobs/", status=429, headers={"Retry-After": "7"})
    handle = launcher(world, retry=RetryPolicy(attempts=4, base_delay=0.01)).launch(request)
    assert handle.created
    assert 7 in world.transport.sleeps, "azure-core's retry honours Retry-After"
    assert len(world.router.calls_to("PUT", r"/jobs/")) == 2
    assert len(world.fake.jobs) == 1


def test_bad_request_is_not_retried(world: World) -> None:
    request = request_for(
        world.registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 1}}
    )
    world.router.fail("PUT", r"/jobs/", status=400, times=5)
    with pytest.raises(Exception) as info:
        launcher(world).launch(request)
    assert not getattr(info.value, "retryable", True)
    assert len(world.router.calls_to("PUT", r"/jobs/")) == 1


def test_persistent_outage_surfaces_as_transient(world: World) -> None:
    request = request_for(
        world.registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 1}}
    )
    world.router.fail("PUT", r"/jobs/", status=503, times=100)
    with pytest.raises(TransientError):
        launcher(world, retry=RetryPolicy(attempts=3, base_delay=0.01)).launch(request)


def test_status_steps_and_cancel(world: World) -> None:
    request = request_for(
        world.registry, {"mlPipelineId": "azureml:score_pipeline@latest", "mlPipelineParameters": {"n": 1}}
    )
    seed_pipeline_component(world.fake, version="latest")
    handle = launcher(world).launch(request)
    status = launcher(world).status(handle)
    assert status.state is RunState.QUEUED and status.raw_status == "NotStarted"
    world.fake.set_status(handle.run_id, "Running")
    world.fake.add_step(handle.run_id, "prepare", "Completed")
    world.fake.add_step(handle.run_id, "score", "Running")
    status = launcher(world).status(handle)
    assert status.state is RunState.RUNNING
    assert [(s.name, s.state) for s in status.steps] == [("prepare", RunState.COMPLETED), ("score", RunState.RUNNING)]
    launcher(world).cancel(handle)
    assert world.fake.jobs[handle.run_id]["properties"]["status"] == "CancelRequested"
    assert launcher(world).status(handle).state is RunState.RUNNING, "CancelRequested is not final"
    world.fake.set_status(handle.run_id, "Canceled")
    assert launcher(world).status(handle).is_final
    launcher(world).cancel(handle)  # cancelling a final run does nothing
    assert len(world.router.calls_to("POST", r"/cancel$")) == 1
