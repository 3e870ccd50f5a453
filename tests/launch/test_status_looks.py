"""What one status read of a v2 job costs in Azure ML calls, through the real SDK against the fake workspace.

A status check's look at a run in flight is one call; the details (steps, times, error) are read when the
run has ended, or whenever a caller outside a status check asks (the HTTP answers); a worker does not read a
final status twice; a throttled look is raised at once for the check to be rescheduled.
"""

from __future__ import annotations

import pytest
from fakes.workspace import World, make_world, request_for, seed_pipeline_component

from amlexec.errors import TransientError
from amlexec.launch.base import RunHandle, RunState
from amlexec.launch.component import PipelineComponentLauncher
from amlexec.launch.failures import RetryPolicy
from amlexec.launch.jobs import is_throttled, job_status, state_only_looks


@pytest.fixture
def world() -> World:
    w = make_world()
    seed_pipeline_component(w.fake)
    return w


def _running(world: World) -> tuple[PipelineComponentLauncher, RunHandle]:
    launcher = PipelineComponentLauncher(world.connector, clock=world.clock)
    handle = launcher.launch(
        request_for(world.registry, {"mlPipelineId": "azureml:score_pipeline:3", "mlPipelineParameters": {"n": 1}})
    )
    world.fake.set_status(handle.run_id, "Running")
    world.fake.add_step(handle.run_id, "prepare", "Completed")
    return launcher, handle


def _calls(world: World) -> int:
    return len(world.router.calls)


def test_a_look_at_a_run_in_flight_is_one_call(world: World) -> None:
    launcher, handle = _running(world)
    before = _calls(world)
    with state_only_looks():
        status = launcher.status(handle)
    assert _calls(world) - before == 1
    (call,) = world.router.calls[before:]
    assert (call.method, call.path.rsplit("/", 2)[-2:]) == ("GET", ["jobs", handle.run_id])
    assert status.state is RunState.RUNNING and status.raw_status == "Running"
    assert status.steps == [], "not read while the run is in flight"


def test_outside_a_status_check_a_run_in_flight_is_read_with_its_steps(world: World) -> None:
    launcher, handle = _running(world)
    before = _calls(world)
    status = launcher.status(handle)
    assert [s.name for s in status.steps] == ["prepare"]
    assert _calls(world) - before > 1


def test_a_run_that_has_ended_is_read_with_its_details_once_per_worker(world: World) -> None:
    launcher, handle = _running(world)
    world.fake.finish(handle.run_id, "Failed", error=("UserError", "bad input"))
    before = _calls(world)
    with state_only_looks():
        status = launcher.status(handle)
    assert _calls(world) - before > 1, "steps, times and the error follow the look that saw the end"
    assert status.error_message == "bad input" and status.started_at and status.ended_at
    assert [s.name for s in status.steps] == ["prepare"]
    before = _calls(world)
    with state_only_looks():
        assert launcher.status(handle) == status
    assert _calls(world) == before, "a final status is not read again by the worker that read it"


def test_job_status_keeps_its_signature_for_the_published_pipeline_path(world: World) -> None:
    _, handle = _running(world)
    status = job_status(world.connector, handle, clock=world.clock, retry=RetryPolicy())
    assert [s.name for s in status.steps] == ["prepare"]
    before = _calls(world)
    lean = job_status(world.connector, handle, clock=world.clock, retry=RetryPolicy(), detail=False)
    assert lean.steps == [] and _calls(world) - before == 1


def test_a_throttled_look_is_raised_at_once_for_the_check_to_be_rescheduled(world: World) -> None:
    launcher, handle = _running(world)
    world.router.fail("GET", r"/jobs/", status=429, headers={"Retry-After": "7"}, times=50)
    with pytest.raises(TransientError) as raised, state_only_looks():
        launcher.status(handle)
    assert is_throttled(raised.value) and raised.value.retry_after == 7
    assert world.clock.sleeps == [], "no wait inside the check"


def test_outside_a_status_check_throttling_is_waited_out(world: World) -> None:
    launcher, handle = _running(world)
    world.router.fail("GET", r"/jobs/", status=429, headers={"Retry-After": "7"}, times=6)
    assert launcher.status(handle).state is RunState.RUNNING
    assert world.clock.sleeps and min(world.clock.sleeps) >= 7


def test_a_detail_throttled_after_the_look_saw_the_end_is_left_out_not_waited_for(world: World) -> None:
    """The end is what the terminal event must carry; three reads in a row from an empty bucket may not come."""
    launcher, handle = _running(world)
    world.fake.finish(handle.run_id, "Completed")
    world.router.fail("GET", r"/history/", status=429, headers={"Retry-After": "3"}, times=50)
    with state_only_looks():
        status = launcher.status(handle)
    assert status.state is RunState.COMPLETED
    assert status.ended_at is None, "the run-history record was throttled"
    assert world.clock.sleeps == []
    world.router.faults.clear()
    fresh = PipelineComponentLauncher(world.connector, clock=world.clock)
    assert fresh.status(handle).ended_at is not None, "outside a status check the details are read"
