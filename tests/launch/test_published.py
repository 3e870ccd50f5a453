"""v1 published pipelines and pipeline endpoints: exact PipelineSubmit calls, exactly once, failures."""

from __future__ import annotations

import pytest
from fakes.workspace import BASE, World, make_world, request_for

from amlexec.errors import PermanentError, RequestRejected
from amlexec.launch.base import RunState
from amlexec.launch.failures import AccessDenied, RetryPolicy
from amlexec.launch.published import PublishedPipelineLauncher
from amlexec.runs import RUN_NAME_PROPERTY, run_name

PIPELINE = "0a77f445-258e-4349-9895-e555060b32d8"
PIPELINE_V2 = "1b49f0a2-08db-46dc-90e0-8a1fee21b5a6"
ENDPOINT = "b91ecfe6-f614-4c1a-a7f8-7df5aa9e41ad"
V1 = f"https://westeurope.api.azureml.ms/pipelines/v1.0{BASE}"


@pytest.fixture
def world() -> World:
    w = make_world()
    w.fake.publish(
        PIPELINE,
        {"threshold": 0.5, "region": "ALL", "dry_run": "false", "batch_size": 100},
        data_paths=("input_datapath",),
    )
    w.fake.publish(PIPELINE_V2, {"threshold": 0.5})
    w.fake.publish_endpoint(ENDPOINT, {"0": PIPELINE, "1": PIPELINE_V2}, default="0")
    return w


def launcher(world: World, **kwargs: object) -> PublishedPipelineLauncher:
    return PublishedPipelineLauncher(world.connector, clock=world.clock, **kwargs)  # type: ignore[arg-type]


def published(**extra: object) -> dict[str, object]:
    return {
        "mlPipelineId": PIPELINE,
        "experimentName": "loan-scoring",
        "mlPipelineParameters": {"threshold": 0.35, "dry_run": False, "batch_size": 0, "region": "EMEA"},
        **extra,
    }


def test_submit_request_is_exactly_what_data_factory_sends(world: World) -> None:
    request = request_for(
        world.registry,
        published(
            mlParentRunId="parent-run-1",
            continueOnStepFailure=True,
            dataPathAssignments={"input_datapath": {"DataStoreName": "workspaceblobstore", "RelativePath": "loans/"}},
        ),
    )
    handle = launcher(world).launch(request)
    (submit,) = world.fake.v1_submits
    assert submit.url.split("?")[0] == f"{V1}/PipelineRuns/PipelineSubmit/{PIPELINE}"
    assert submit.query == {"parentRunId": ["parent-run-1"]}
    assert submit.headers["Authorization"].startswith("Bearer ")
    body = submit.body
    assert set(body) == {
        "ExperimentName",
        "Description",
        "RunSource",
        "ParameterAssignments",
        "DataPathAssignments",
        "tags",
        "Properties",
        "ContinueRunOnStepFailure",
    }
    assert body["ExperimentName"] == "loan-scoring"
    assert body["ParameterAssignments"] == {
        "threshold": "0.35",
        "dry_run": "False",
        "batch_size": "0",
        "region": "EMEA",
    }
    assert body["DataPathAssignments"] == {
        "input_datapath": {"DataStoreName": "workspaceblobstore", "RelativePath": "loans/"}
    }
    assert body["ContinueRunOnStepFailure"] is True
    assert body["Properties"][RUN_NAME_PROPERTY] == run_name(request)
    assert body["tags"]["amlexec.mlParentRunId"] == "parent-run-1"
    assert handle.run_id in world.fake.jobs and handle.created
    discovery = world.router.calls_to("GET", r"^/discovery$")
    assert len(discovery) == 1


def test_pipeline_endpoint_with_and_without_version(world: World) -> None:
    launcher(world).launch(
        request_for(
            world.registry,
            {"mlPipelineEndpointId": ENDPOINT, "version": "1", "mlPipelineParameters": {"threshold": 0.1}},
        )
    )
    launcher(world).launch(
        request_for(
            world.registry,
            {"mlPipelineEndpointId": ENDPOINT, "mlPipelineParameters": {"region": "APAC"}},
            request_id="msg-2",
        )
    )
    versioned, default = world.fake.v1_submits
    assert versioned.url.split("?")[0] == f"{V1}/PipelineRuns/PipelineEndpointSubmit/Id/{ENDPOINT}/1"
    assert versioned.query["pipelineVersion"] == ["1"]
    assert default.url.split("?")[0] == f"{V1}/PipelineRuns/PipelineEndpointSubmit/Id/{ENDPOINT}"
    assert "pipelineVersion" not in default.query


def test_endpoint_version_signature_is_checked(world: World) -> None:
    # Version 1 runs PIPELINE_V2, which has no 'region' parameter.
    with pytest.raises(RequestRejected) as info:
        launcher(world).launch(
            request_for(
                world.registry,
                {"mlPipelineEndpointId": ENDPOINT, "version": "1", "mlPipelineParameters": {"region": "x"}},
            )
        )
    assert info.value.issues[0].code == "unknown_parameter"
    with pytest.raises(RequestRejected) as info:
        launcher(world).launch(request_for(world.registry, {"mlPipelineEndpointId": ENDPOINT, "version": "9"}))
    assert info.value.issues[0].code == "unknown_version"
    assert world.fake.v1_submits == []


def test_unknown_parameter_names_are_rejected_before_any_submit(world: World) -> None:
    request = request_for(
        world.registry,
        published(
            mlPipelineParameters={"treshold": 0.3, "Region": "x"}, dataPathAssignments={"other": {"DataStoreName": "s"}}
        ),
    )
    with pytest.raises(RequestRejected) as info:
        launcher(world).launch(request)
    assert {i.path for i in info.value.issues} == {
        "typeProperties.mlPipelineParameters.treshold",
        "typeProperties.mlPipelineParameters.Region",
    }
    assert world.fake.v1_submits == []


def test_unknown_and_disabled_pipelines(world: World) -> None:
    with pytest.raises(RequestRejected) as info:
        launcher(world).launch(request_for(world.registry, {"mlPipelineId": "11111111-1111-1111-1111-111111111111"}))
    assert info.value.issues[0].code == "unknown_pipeline"
    world.fake.publish("22222222-2222-2222-2222-222222222222", {}, status="Disabled")
    with pytest.raises(RequestRejected) as info:
        launcher(world).launch(request_for(world.registry, {"mlPipelineId": "22222222-2222-2222-2222-222222222222"}))
    assert info.value.issues[0].code == "target_disabled"


def test_duplicate_delivery_submits_once(world: World) -> None:
    request = request_for(world.registry, published())
    first = launcher(world).launch(request)
    second = launcher(world).launch(request)
    assert first.run_id == second.run_id and second.created is False
    assert len(world.fake.v1_submits) == 1


def test_crash_between_submit_and_acknowledgement(world: World) -> None:
    request = request_for(world.registry, published())
    world.router.fail("POST", r"/PipelineSubmit/", drop="after")
    handle = launcher(world).launch(request)
    assert len(world.fake.v1_submits) == 1, "the lost submit had landed: it is found, not resent"
    assert handle.run_id in world.fake.jobs
    assert launcher(world).launch(request).run_id == handle.run_id


def test_server_error_on_submit_looks_up_before_resending(world: World) -> None:
    request = request_for(world.registry, published())
    world.router.fail("POST", r"/PipelineSubmit/", status=503, headers={"Retry-After": "2"})
    handle = launcher(world, retry=RetryPolicy(attempts=3, base_delay=0.01)).launch(request)
    assert len(world.fake.v1_submits) == 1
    assert world.clock.sleeps[0] >= 2, "Retry-After is honoured"
    sequence = [
        (c.method, c.path.rsplit("/", 1)[-1])
        for c in world.router.calls
        if c.method == "POST" or c.path.endswith("/jobs")
    ]
    first_post = sequence.index(("POST", PIPELINE))
    assert ("POST", "runs:query") in sequence[first_post:], "looked the run up in run history before resending"
    assert handle.created


def test_throttled_submit_waits_retry_after_then_succeeds(world: World) -> None:
    request = request_for(world.registry, published())
    world.router.fail("POST", r"/PipelineSubmit/", status=429, headers={"Retry-After": "11"})
    launcher(world).launch(request)
    assert world.clock.sleeps[0] >= 11
    assert len(world.router.calls_to("POST", r"/PipelineSubmit/")) == 2
    assert len(world.fake.v1_submits) == 1


def test_bad_request_is_permanent_and_not_retried(world: World) -> None:
    world.router.fail(
        "POST",
        r"/PipelineSubmit/",
        status=400,
        times=5,
        body={"Error": {"Code": "BadRequest", "Message": "ExperimentName is invalid"}},
    )
    with pytest.raises(PermanentError) as info:
        launcher(world).launch(request_for(world.registry, published()))
    assert "400" in str(info.value)
    assert len(world.router.calls_to("POST", r"/PipelineSubmit/")) == 1


def test_forbidden_names_the_role_to_grant(world: World) -> None:
    world.router.fail("GET", r"/jobs$", status=403, times=5)
    with pytest.raises(AccessDenied) as info:
        launcher(world).launch(request_for(world.registry, published()))
    assert "AzureML Data Scientist" in str(info.value)


def test_status_through_run_history(world: World) -> None:
    handle = launcher(world).launch(request_for(world.registry, published()))
    world.fake.finish(handle.run_id, "Failed", error=("UserError", "Step score failed: KeyError 'income'"))
    status = launcher(world).status(handle)
    assert status.state is RunState.FAILED and status.raw_status == "Failed"
    assert (status.error_code, status.error_message) == ("UserError", "Step score failed: KeyError 'income'")
    assert status.started_at is not None and status.ended_at is not None
    assert (status.ended_at - status.started_at).total_seconds() == pytest.approx(450.377)
    assert handle.studio_url is not None and handle.run_id in handle.studio_url


def test_concurrent_duplicates_through_the_router_submit_once(world: World, tmp_path: object) -> None:
    import threading
    from pathlib import Path

    from amlexec.launch.router import LaunchRouter

    router = LaunchRouter(
        world.registry, local_runs_root=Path(str(tmp_path)), clock=world.clock, connector=world.connector
    )
    request = request_for(world.registry, published())
    handles = []
    threads = [threading.Thread(target=lambda: handles.append(router.launch(request))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(handles) == 8
    assert len(world.fake.v1_submits) == 1
    assert len({h.run_id for h in handles}) == 1
    assert sum(h.created for h in handles) == 1


@pytest.mark.parametrize(
    ("in_jobs_list", "in_run_history"),
    [(True, True), (False, True), (True, False)],
    ids=["both", "run-history-only", "jobs-list-only"],
)
def test_redelivery_finds_the_run_whichever_index_has_it(in_jobs_list: bool, in_run_history: bool) -> None:
    """Whether PipelineSubmit runs appear in the jobs list or answer run-history queries is undocumented:
    either one is enough to find the run."""
    world = make_world()
    world.fake.publish(PIPELINE, {"threshold": 0.5, "region": "ALL", "dry_run": "false", "batch_size": 100})
    world.fake.v1_runs_in_jobs_list, world.fake.run_history_query = in_jobs_list, in_run_history
    request = request_for(world.registry, published())
    first = launcher(world).launch(request)
    again = launcher(world).launch(request)
    assert again.run_id == first.run_id and again.created is False
    assert world.fake.creates == {run_name(request): 1}


def test_run_history_query_is_the_documented_property_filter(world: World) -> None:
    request = request_for(world.registry, published())
    launcher(world).launch(request)
    query = world.router.calls_to("POST", r"/runs:query$")[0]
    assert query.url.startswith("https://westeurope.api.azureml.ms/history/v1.0" + BASE + "/experiments/loan-scoring/")
    assert query.body["filter"] == f'(Properties/{RUN_NAME_PROPERTY} eq "{run_name(request)}")'


def _second_instance_submits_first(world: World, request: object) -> list[object]:
    """Make another instance (its own launcher, no shared lock) deliver the same request in the gap between
    this instance's look-up and its submit: the one interleaving a lock inside one worker cannot prevent."""
    other: list[object] = []
    world.fake.before_create = lambda _name: other.append(launcher(world).launch(request))  # type: ignore[arg-type]
    return other


def test_two_instances_racing_settle_on_the_earliest_run_and_cancel_the_other(world: World) -> None:
    request = request_for(world.registry, published())
    world.fake.history_page_size = 1  # the duplicates come back on separate pages
    other = _second_instance_submits_first(world, request)
    mine = launcher(world).launch(request)
    (theirs,) = other
    assert len(world.fake.v1_submits) == 2, "without a shared lock both instances submitted"
    runs = sorted(world.fake.jobs)
    earliest = theirs.run_id  # type: ignore[attr-defined]
    assert mine.run_id == earliest and mine.created is False, "this instance adopted the earlier run"
    (duplicate,) = [r for r in runs if r != earliest]
    assert world.fake.jobs[duplicate]["properties"]["status"] == "CancelRequested"
    assert world.fake.jobs[earliest]["properties"]["status"] == "NotStarted"


def test_a_tracked_run_canceled_as_a_duplicate_is_followed_to_the_one_kept(world: World) -> None:
    """The remaining window: an instance that did not see the other's earlier run keeps tracking its own,
    until the other instance cancels it; its next status check then follows the kept run."""
    request = request_for(world.registry, published())
    mine = launcher(world).launch(request)
    # Another instance's run of the same name, created earlier (its listing said so) and kept by it:
    world.fake.publish_duplicate_of(mine.run_id, created_before=True)
    kept = sorted(world.fake.jobs, key=lambda r: world.fake.jobs[r]["systemData"]["createdAt"])[0]
    world.fake.set_status(mine.run_id, "Canceled")
    world.fake.finish(kept, "Completed")
    status = launcher(world).status(mine)
    assert status.run_id == kept and status.state is RunState.COMPLETED
