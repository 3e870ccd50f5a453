"""Where the host hands data over: each case calls the Function App's functions the way the host does."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import azure.functions as func
import jsonschema
import pytest
from fakes.workspace import make_world
from flow.harness import START, Flow, activity, make_flow

from amlexec.bus.base import Destination
from amlexec.events import terminal_event_id
from amlexec.handlers import Worker
from amlexec.http_api import openapi_document
from amlexec.inprocess import InProcessHost

RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"
ROLE = "AzureML Data Scientist"


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flow:
    return make_flow(monkeypatch, tmp_path)


# ------------------------------------------------------------------------------------------------ timer


def test_first_tick_after_deploy_launches_the_occurrence_due_on_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The timer extension reports year 1 as the last tick when it has none stored."""
    schedules = json.dumps([{"name": "nightly", "schedule": "0 0 2 * * *", "payload": activity()}])
    flow = make_flow(monkeypatch, tmp_path, schedules_json=schedules)
    flow.world.clock.advance(3)  # the tick runs a few seconds after 02:00:00
    first = func.timer.TimerRequest(
        past_due=False,
        schedule_status={
            "Last": "0001-01-01T00:00:00",
            "Next": "2026-11-21T02:00:00",
            "LastUpdated": "0001-01-01T00:00:00",
        },
    )
    flow.functions["scheduler"](first)
    (message,) = flow.bus.sent[Destination.REQUESTS]
    assert message.message_id == "schedule:nightly:2026-11-21T02:00:00Z"


def test_first_tick_does_not_backfill_the_day_before_the_deploy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    schedules = json.dumps([{"name": "nightly", "schedule": "0 0 2 * * *", "payload": activity()}])
    flow = make_flow(monkeypatch, tmp_path, schedules_json=schedules)
    flow.world.clock.advance(5 * 3600)  # deployed at 07:00; 02:00 passed before the app existed
    flow.functions["scheduler"](
        func.timer.TimerRequest(past_due=False, schedule_status={"Last": "0001-01-01T00:00:00"})
    )
    assert flow.bus.sent[Destination.REQUESTS] == []


# ------------------------------------------------------------------------------------------------- HTTP


def _post(flow: Flow, body: dict[str, Any], key: str) -> func.HttpResponse:
    return flow.http(
        "runs_submit",
        "POST",
        "http://localhost/api/runs",
        body=json.dumps(body).encode(),
        headers={"Idempotency-Key": key},
    )


def _response_schema(status: int) -> dict[str, Any]:
    document = openapi_document()
    response = document["paths"]["/runs"]["post"]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return {**schema, "components": document["components"]}


@pytest.mark.parametrize("target", ["component", "published"])
def test_idempotency_key_reused_for_another_payload_is_a_409_and_the_first_run_carries_on(
    flow: Flow, target: str
) -> None:
    if target == "published":
        pipeline = "0a77f445-258e-4349-9895-e555060b32d8"
        flow.world.fake.publish(pipeline, {"n": 1})
        first_body, second_body = (activity(mlPipelineId=pipeline, mlPipelineParameters={"n": n}) for n in (1, 2))
    else:
        first_body, second_body = activity(), activity(mlPipelineParameters={"n": 2})
    first = _post(flow, first_body, "adf-run-7")
    assert first.status_code == 202
    conflict = _post(flow, second_body, "adf-run-7")
    assert conflict.status_code == 409
    answer = json.loads(conflict.get_body())
    jsonschema.validate(answer, _response_schema(409))
    assert answer["issues"][0]["code"] == "idempotency_conflict"
    assert "already used for a different payload" in answer["issues"][0]["message"]
    assert len(flow.world.fake.jobs) == 1, "the second payload launched nothing"
    again = _post(flow, first_body, "adf-run-7")
    assert again.status_code == 202 and json.loads(again.get_body())["created"] is False
    # The first request's own terminal event is not taken by the conflict's rejection.
    flow.world.fake.finish(next(iter(flow.world.fake.jobs)), "Completed")
    flow.pump()
    kinds = {e["type"]: e["id"] for e in flow.terminal_events()}
    assert kinds["com.amlexec.run.completed"] == terminal_event_id("http:adf-run-7")
    assert kinds["com.amlexec.run.rejected"] != terminal_event_id("http:adf-run-7")


def test_a_queue_message_id_reused_for_another_payload_is_rejected_without_touching_the_run(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="msg-reused")
    flow.deliver_request(activity(mlPipelineParameters={"n": 5}), message_id="msg-reused")
    (kept,) = flow.bus.sent[Destination.REJECTED]
    assert json.loads(kept.body)["typeProperties"]["mlPipelineParameters"] == {"n": 5}, "kept byte for byte"
    assert len(flow.world.fake.jobs) == 1


# ------------------------------------------------------------------------------------------- Event Grid


def _documented_event(job: dict[str, Any], status: str, *, pascal: bool) -> dict[str, Any]:
    """The shape of Microsoft's documented RunStatusChanged example: lower-case status; today's docs use
    camelCase keys, older revisions PascalCase."""
    data = {
        "experimentId": "0fa9dfaa-cba3-4fa7-b590-23e48548f5c1",
        "experimentName": "scoring",
        "runId": job["name"],
        "runType": None,
        "runTags": {},
        "runProperties": job["properties"]["properties"],
        "runStatus": status,
    }
    return {key[0].upper() + key[1:]: value for key, value in data.items()} if pascal else data


@pytest.mark.parametrize("pascal", [False, True], ids=["camelCase", "PascalCase"])
@pytest.mark.parametrize(
    ("service_status", "event_status", "kind"),
    [("Completed", "completed", "completed"), ("Failed", "failed", "failed")],
)
def test_the_documented_run_status_changed_event_publishes_at_once(
    flow: Flow, pascal: bool, service_status: str, event_status: str, kind: str
) -> None:
    flow.deliver_request(activity(), message_id="msg-doc")
    job = flow.job()
    flow.world.fake.finish(job["name"], service_status, error=("UserError", "boom") if kind == "failed" else None)
    flow.grid_event(RUN_STATUS_CHANGED, _documented_event(job, event_status, pascal=pascal))
    (terminal,) = flow.terminal_events()
    assert terminal["type"] == f"com.amlexec.run.{kind}"
    assert flow.world.clock.now() == START, "published at once, not by a later status check"


@pytest.mark.parametrize(
    "data",
    [
        {"runId": "x", "runStatus": "completed", "runProperties": "amlexec.context=abc"},
        {"runId": "x", "runStatus": "completed", "runProperties": ["amlexec.runName"]},
        {"runId": "x", "runStatus": "completed", "runProperties": {"amlexec.runName": 7, "amlexec.context": {}}},
        {"runStatus": "completed", "runProperties": {"amlexec.runName": "amlexec_a_1", "amlexec.context": "zz"}},
        {"runId": 12, "runStatus": ["completed"], "runProperties": {"amlexec.runName": "r_1", "amlexec.context": "!"}},
        {"runId": "x", "runStatus": None, "runProperties": None},
        {},
        [],
        "not an object",
        None,
    ],
    ids=[
        "properties-a-string",
        "properties-a-list",
        "wrong-types",
        "no-run-id",
        "garbage",
        "nulls",
        "empty",
        "a-list",
        "a-string",
        "null",
    ],
)
def test_malformed_run_events_are_ignored_never_raised(flow: Flow, data: Any, caplog: pytest.LogCaptureFixture) -> None:
    event = func.EventGridEvent(
        id="eg-bad",
        data=data,
        topic="/subscriptions/x",
        subject="experiments/e/runs/x",
        event_type=RUN_STATUS_CHANGED,
        event_time=START,
        data_version="2",
    )
    with caplog.at_level(logging.WARNING):
        flow.functions["run_events"](event)  # raising would make Event Grid retry, then dead-letter it
    assert flow.bus.published == []
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 1


# ------------------------------------------------------------------------------- one rule for failures


def test_forbidden_launch_is_settled_with_the_role_to_grant_not_redelivered(flow: Flow) -> None:
    flow.world.router.fail("GET", r"/jobs/", status=403, times=50)
    flow.deliver_request(activity(), message_id="msg-403")  # returns: the host completes the message
    (kept,) = flow.bus.sent[Destination.REJECTED]
    assert ROLE in str(kept.application_properties["amlexec.reason"])
    (rejected,) = flow.terminal_events()
    assert rejected["type"] == "com.amlexec.run.rejected"
    assert rejected["data"]["issues"][0]["code"] == "access_denied"
    assert ROLE in rejected["data"]["issues"][0]["message"]


def test_a_configuration_error_is_settled_with_what_to_fix(flow: Flow) -> None:
    """A linked service exported with an encryptedCredential only Data Factory can decrypt."""
    flow.worker.registry.extend(
        [
            {
                "name": "Encrypted",
                "properties": {
                    "type": "AzureMLService",
                    "typeProperties": {
                        "subscriptionId": "11111111-2222-3333-4444-555555555555",
                        "resourceGroupName": "rg-ml",
                        "mlWorkspaceName": "ws-ml",
                        "servicePrincipalId": "app-id",
                        "tenant": "t",
                        "encryptedCredential": "ew0KICAiVmVyc2lvbiI6ICIyMDE3LTExLTMwIiwNCn0=",
                    },
                },
            }
        ],
        source="test",
        env={},
    )
    body = activity()
    body["linkedServiceName"]["referenceName"] = "Encrypted"
    flow.deliver_request(body, message_id="msg-config")  # returns: settled, not left for redelivery
    (rejected,) = flow.terminal_events()
    assert rejected["data"]["issues"][0]["code"] == "configuration_error"
    assert "AMLEXEC_SP_SECRET__ENCRYPTED" in rejected["data"]["issues"][0]["message"]


def test_a_transient_failure_is_raised_for_redelivery(flow: Flow) -> None:
    flow.world.router.fail("GET", r"/jobs/", status=503, times=500)
    with pytest.raises(Exception) as info:
        flow.deliver_request(activity(), message_id="msg-503")
    assert getattr(info.value, "retryable", False)
    assert flow.bus.sent[Destination.REJECTED] == [] and flow.bus.published == []


def test_http_answers_the_same_rule(flow: Flow) -> None:
    flow.world.router.fail("GET", r"/jobs/", status=403, times=50)
    response = flow.http(
        "runs_submit",
        "POST",
        "http://localhost/api/runs",
        body=json.dumps(activity()).encode(),
        headers={"Idempotency-Key": "k-403"},
    )
    assert response.status_code == 500
    answer = json.loads(response.get_body())
    jsonschema.validate(answer, _response_schema(500))
    assert answer["error"] == "access_denied" and ROLE in answer["message"]


def test_a_status_check_that_loses_access_waits_then_ends_failed_with_the_reason(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="msg-revoked")
    flow.world.router.fail("GET", r"/jobs/", status=403, times=10_000)
    flow.pump(max_steps=100)  # no exception escapes: the check is parked, not redelivered hot
    (failed,) = flow.terminal_events()
    assert failed["type"] == "com.amlexec.run.failed"
    assert failed["data"]["errorCode"] == "access_denied" and ROLE in failed["data"]["errorMessage"]
    policy = flow.worker.tracking
    assert flow.world.clock.now() - START >= policy.max_delay * (policy.max_check_failures - 1)


def test_a_status_check_that_recovers_access_carries_on(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="msg-recovers")
    flow.world.router.fail("GET", r"/jobs/", status=403, times=3)
    steps = {"n": 0}

    def finish_later(_step: int) -> None:
        steps["n"] += 1
        if steps["n"] == 6:
            flow.world.fake.finish(flow.job()["name"], "Completed")

    flow.pump(on_check=finish_later)
    (completed,) = flow.terminal_events()
    assert completed["type"] == "com.amlexec.run.completed"


def test_the_local_host_follows_the_same_rule(tmp_path: Path) -> None:
    world = make_world()
    from fakes.workspace import seed_pipeline_component

    from amlexec.bus.memory import MemoryBus
    from amlexec.settings import Settings

    seed_pipeline_component(world.fake)
    worker = Worker.create(
        Settings(local_runs_dir=tmp_path),
        clock=world.clock,
        connector=world.connector,
        registry=world.registry,
        bus=MemoryBus(world.clock),
    )
    host = InProcessHost(worker)
    world.router.fail("GET", r"/jobs/", status=403, times=50)
    host.send(json.dumps(activity()).encode(), message_id="local-403")
    events = host.run_until_idle()
    assert [e["type"] for e in events] == ["com.amlexec.run.rejected"]
    world.router.faults.clear()
    world.router.fail("GET", r"/jobs/", status=503, times=20)  # transient: delivered again, then it works
    host.send(json.dumps(activity()).encode(), message_id="local-503")
    host.on_event = lambda event: world.fake.finish(event["data"]["runId"], "Completed")
    events = host.run_until_idle()
    assert host.dead_letters == []
    assert [e["type"] for e in events][1:] == ["com.amlexec.run.started", "com.amlexec.run.completed"]
