"""Batch endpoints with pipeline-component deployments: exact invocations through the real SDK."""

from __future__ import annotations

import pytest
from fakes.workspace import BASE, World, make_world, request_for, seed_pipeline_component

from amlexec.errors import RequestRejected, TransientError
from amlexec.launch.base import RunState
from amlexec.launch.batch_endpoint import BatchEndpointLauncher
from amlexec.runs import CONTEXT_PROPERTY, EventContext, run_name, run_properties

COMPONENT = f"{BASE}/components/score_pipeline/versions/3"


@pytest.fixture
def world() -> World:
    w = make_world()
    seed_pipeline_component(w.fake)
    w.fake.add_batch_endpoint(BASE, "loan-scoring", {"blue": COMPONENT, "green": COMPONENT}, default="blue")
    return w


def props(endpoint: str = "loan-scoring", deployment: str | None = None, **params: object) -> dict[str, object]:
    out: dict[str, object] = {
        "mlExecutionType": "batchEndpoint",
        "mlBatchEndpointName": endpoint,
        "experimentName": "batch-scoring",
        "mlPipelineParameters": params,
    }
    if deployment:
        out["mlBatchDeploymentName"] = deployment
    return out


def test_invocation_names_deployment_job_and_typed_inputs(world: World) -> None:
    request = request_for(world.registry, props(deployment="green", n=0, flag=False, rate=0.25))
    handle = BatchEndpointLauncher(world.connector, clock=world.clock).launch(request)
    (call,) = world.fake.batch_invocations
    assert call.url == "https://loan-scoring.westeurope.inference.ml.azure.com/jobs"
    assert call.headers["azureml-model-deployment"] == "green"
    assert call.headers["Authorization"].startswith("Bearer ")
    body = call.body["properties"]
    assert body["name"] == run_name(request) == handle.run_id
    assert body["properties"] == {"experimentName": "batch-scoring"}
    assert body["inputData"] == {
        "n": {"jobInputType": "Literal", "value": 0},
        "flag": {"jobInputType": "Literal", "value": False},
        "rate": {"jobInputType": "Literal", "value": 0.25},
    }


def test_default_deployment_is_named_explicitly_never_a_stale_header(world: World) -> None:
    launcher = BatchEndpointLauncher(world.connector, clock=world.clock)
    launcher.launch(request_for(world.registry, props(deployment="green", n=1), request_id="first"))
    launcher.launch(request_for(world.registry, props(n=1), request_id="second"))
    first, second = world.fake.batch_invocations
    assert first.headers["azureml-model-deployment"] == "green"
    assert second.headers["azureml-model-deployment"] == "blue", "the endpoint's default, not the last one used"


def test_data_inputs_and_outputs(world: World) -> None:
    request = request_for(
        world.registry,
        {
            **props(n=1),
            "jobInputs": {"applications": {"type": "uri_folder", "path": "azureml://datastores/ws/paths/in/"}},
        },
    )
    seed_pipeline_component(world.fake, inputs={"n": {"type": "integer"}, "applications": {"type": "uri_folder"}})
    BatchEndpointLauncher(world.connector, clock=world.clock).launch(request)
    body = world.fake.batch_invocations[0].body["properties"]
    assert body["inputData"]["applications"] == {
        "jobInputType": "UriFolder",
        "uri": "azureml://datastores/ws/paths/in/",
    }


def test_redelivery_does_not_invoke_twice(world: World) -> None:
    request = request_for(world.registry, props(n=1))
    launcher = BatchEndpointLauncher(world.connector, clock=world.clock)
    first = launcher.launch(request)
    second = launcher.launch(request)
    assert (first.created, second.created) == (True, False)
    assert len(world.fake.batch_invocations) == 1


def test_lost_invoke_response_then_redelivery(world: World) -> None:
    request = request_for(world.registry, props(n=1))
    world.router.fail("POST", r"^/jobs$", drop="after")
    handle = BatchEndpointLauncher(world.connector, clock=world.clock).launch(request)
    assert handle.run_id == run_name(request)
    assert len(world.fake.jobs) == 1


@pytest.mark.parametrize(
    ("type_properties", "code"),
    [
        (props(endpoint="nope", n=1), "unknown_pipeline"),
        (props(deployment="red", n=1), "unknown_pipeline"),
        (props(n=1, typo=2), "unknown_parameter"),
        (props(flag=True), "missing_parameter"),
        (props(n=1, label=""), "empty_input"),
    ],
)
def test_rejections_before_invoking(world: World, type_properties: dict[str, object], code: str) -> None:
    with pytest.raises(RequestRejected) as info:
        BatchEndpointLauncher(world.connector, clock=world.clock).launch(request_for(world.registry, type_properties))
    assert code in {i.code for i in info.value.issues}
    assert world.fake.batch_invocations == []


def test_status_of_a_batch_job(world: World) -> None:
    launcher = BatchEndpointLauncher(world.connector, clock=world.clock)
    handle = launcher.launch(request_for(world.registry, props(n=1)))
    world.fake.set_status(handle.run_id, "Completed")
    assert launcher.status(handle).state is RunState.COMPLETED


def test_invokes_never_overlap_because_the_sdk_shares_one_header_dict(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """azure-ai-ml writes each invoke's token and deployment into one process-wide dict before posting; two
    invokes on worker threads at once could swap them. amlexec serialises invokes: measure the overlap."""
    import threading
    import time

    from azure.ai.ml.operations import BatchEndpointOperations

    real_invoke = BatchEndpointOperations.invoke
    inside, most = [0], [0]
    gate = threading.Lock()

    def spy(self: object, *args: object, **kwargs: object) -> object:
        with gate:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)  # long enough for another thread to get in, were it allowed to
        try:
            return real_invoke(self, *args, **kwargs)
        finally:
            with gate:
                inside[0] -= 1

    monkeypatch.setattr(BatchEndpointOperations, "invoke", spy)
    requests = [
        request_for(world.registry, props(deployment=d, n=i), request_id=f"msg-{i}")
        for i, d in enumerate(["blue", "green", "blue", "green"])
    ]
    threads = [
        threading.Thread(target=BatchEndpointLauncher(world.connector, clock=world.clock).launch, args=(r,))
        for r in requests
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(world.fake.batch_invocations) == 4
    assert most[0] == 1, f"{most[0]} invokes ran at once"
    sent = {
        call.body["properties"]["name"]: call.headers.get("azureml-model-deployment")
        for call in world.fake.batch_invocations
    }
    assert sent == {run_name(r): d for r, d in zip(requests, ["blue", "green", "blue", "green"], strict=True)}


def test_the_job_gets_amlexecs_tags_and_properties_after_the_invoke(world: World) -> None:
    """What Event Grid needs to recognise the job and publish its end from the notification alone."""
    request = request_for(world.registry, props(n=1))
    handle = BatchEndpointLauncher(world.connector, clock=world.clock).launch(request)
    (update,) = world.router.calls_to("PATCH", r"/history/")
    assert update.path.endswith(f"/experiments/batch-scoring/runs/{handle.run_id}")
    job = world.fake.jobs[handle.run_id]["properties"]
    assert job["properties"] | run_properties(request, handle.run_id) == job["properties"]
    assert job["properties"]["azureml.batchrun"] == "true", "merged into the service's own"
    assert EventContext.unpack(job["properties"][CONTEXT_PROPERTY]).request_id == request.request_id
    assert job["tags"]["amlexec.requestId"] == request.request_id


def test_a_redelivery_adds_the_properties_only_when_missing(world: World) -> None:
    request = request_for(world.registry, props(n=1))
    launcher = BatchEndpointLauncher(world.connector, clock=world.clock)
    world.router.fail("PATCH", r"/history/", status=503, times=50)
    with pytest.raises(TransientError):
        launcher.launch(request)
    world.router.faults.clear()
    handle = launcher.launch(request)
    assert CONTEXT_PROPERTY in world.fake.jobs[handle.run_id]["properties"]["properties"]
    updates = len(world.router.calls_to("PATCH", r"/history/"))
    launcher.launch(request)
    assert len(world.router.calls_to("PATCH", r"/history/")) == updates, "already there: not sent again"
    assert len(world.fake.batch_invocations) == 1


def test_a_refused_update_leaves_the_job_to_its_status_checks(world: World, caplog: pytest.LogCaptureFixture) -> None:
    request = request_for(world.registry, props(n=1))
    world.router.fail("PATCH", r"/history/", status=403, times=5)
    handle = BatchEndpointLauncher(world.connector, clock=world.clock).launch(request)
    assert handle.created
    assert CONTEXT_PROPERTY not in world.fake.jobs[handle.run_id]["properties"]["properties"]
    assert "tracked by status checks only" in caplog.text
