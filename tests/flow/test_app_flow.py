"""End to end through the Function App's trigger functions: request -> launch -> checks -> one terminal event.

The real azure-ai-ml client talks to the fake workspace; Service Bus is the in-memory bus; time is manual.
"""

from __future__ import annotations

import itertools
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flow.harness import START, Flow, activity, make_flow

from amlexec.bus.base import Destination
from amlexec.events import terminal_event_id


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flow:
    return make_flow(monkeypatch, tmp_path)


def script(flow: Flow, steps: dict[int, tuple[str, Any]]) -> Any:
    """Move the only job through states at given status-check numbers."""

    def on_check(step: int) -> None:
        if step in steps and flow.world.fake.jobs:
            status, error = steps[step]
            name = list(flow.world.fake.jobs)[-1]
            if status in ("Completed", "Failed", "Canceled"):
                flow.world.fake.finish(name, status, error=error)
            else:
                flow.world.fake.set_status(name, status)

    return on_check


def test_success_publishes_started_then_one_completed_event(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="msg-ok")
    assert len(flow.world.fake.jobs) == 1
    flow.pump(on_check=script(flow, {0: ("Running", None), 2: ("Completed", None)}))
    started, completed = flow.events()
    assert started["type"] == "com.amlexec.run.started"
    assert completed["type"] == "com.amlexec.run.completed"
    assert completed["id"] == terminal_event_id("msg-ok")
    data = completed["data"]
    assert data["runId"] == flow.job()["name"] and data["attempt"] == 1
    assert data["experimentName"] == "scoring" and data["activityName"] == "Score"
    assert data["correlationId"] == "corr-1" and data["requestId"] == "msg-ok"
    assert data["parameters"] == {"n": 1}
    assert data["durationSeconds"] == pytest.approx(450.377)
    assert data["studioUrl"].startswith("https://ml.azure.com/runs/")
    message = flow.bus.published[-1]
    assert message.message_id == completed["id"]
    assert message.content_type == "application/cloudevents+json"
    assert message.correlation_id == "corr-1"
    assert message.subject == "com.amlexec.run.completed"
    assert message.application_properties["status"] == "completed"
    assert message.application_properties["activityName"] == "Score"
    assert message.application_properties["experimentName"] == "scoring"
    assert message.application_properties["targetKind"] == "pipeline_component"
    assert flow.bus.pending(Destination.STATUS) == 0, "tracking stops at the terminal event"


def test_checks_back_off_between_looks(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="msg-backoff")
    flow.pump(on_check=script(flow, {0: ("Running", None), 6: ("Completed", None)}))
    checks = [m.scheduled_enqueue_time for m in flow.bus.sent[Destination.STATUS]]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(checks) if a and b]
    assert gaps == sorted(gaps) and gaps[0] >= 15 and max(gaps) <= 300


def test_failure_publishes_failed_with_the_service_error(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="msg-fail")
    flow.pump(on_check=script(flow, {1: ("Failed", ("UserError", "score step: KeyError 'income'"))}))
    (failed,) = flow.terminal_events()
    assert failed["type"] == "com.amlexec.run.failed"
    assert failed["data"]["errorCode"] == "UserError"
    assert failed["data"]["errorMessage"] == "score step: KeyError 'income'"
    assert flow.bus.published[-1].application_properties["status"] == "failed"


def test_secure_output_keeps_the_error_message_out(flow: Flow) -> None:
    body = activity()
    body["policy"] = {"secureOutput": True, "secureInput": True}
    flow.deliver_request(body, message_id="msg-secure")
    flow.pump(on_check=script(flow, {1: ("Failed", ("UserError", "row 7: ssn=123-45-6789"))}))
    (failed,) = flow.terminal_events()
    assert "errorMessage" not in failed["data"] and "parameters" not in failed["data"]
    assert "123-45-6789" not in json.dumps(flow.events())


def test_failed_attempt_is_retried_as_data_factory_does(flow: Flow) -> None:
    body = activity()
    body["policy"] = {"retry": 1, "retryIntervalInSeconds": 60}
    flow.deliver_request(body, message_id="msg-retry")
    fake = flow.world.fake

    def on_check(step: int) -> None:
        jobs = list(fake.jobs)
        if len(jobs) == 1 and step == 1:
            fake.finish(jobs[0], "Failed", error=("SystemError", "node preempted"))
        if len(jobs) == 2:
            fake.finish(jobs[1], "Completed")

    flow.pump(on_check=on_check)
    first, second = fake.jobs
    assert first.endswith("_1") and second.endswith("_2")
    relaunch = next(m for m in flow.bus.sent[Destination.STATUS] if json.loads(m.body)["action"] == "launch")
    scheduled = [m for m in flow.bus.sent[Destination.STATUS] if m.scheduled_enqueue_time]
    assert relaunch.scheduled_enqueue_time is not None
    assert any(m is relaunch for m in scheduled)
    (completed,) = flow.terminal_events()
    assert completed["type"] == "com.amlexec.run.completed"
    assert completed["data"]["attempt"] == 2 and completed["data"]["maxAttempts"] == 2
    assert [e["data"]["attempt"] for e in flow.events() if e["type"].endswith("started")] == [1, 2]


def test_retries_exhausted_publishes_one_failed(flow: Flow) -> None:
    body = activity()
    body["policy"] = {"retry": 1, "retryIntervalInSeconds": 30}
    flow.deliver_request(body, message_id="msg-exhaust")
    fake = flow.world.fake

    def on_check(step: int) -> None:
        for name in fake.jobs:
            if fake.jobs[name]["properties"]["status"] not in ("Failed",):
                fake.finish(name, "Failed", error=("UserError", "bad data"))

    flow.pump(on_check=on_check)
    assert len(fake.jobs) == 2
    (failed,) = flow.terminal_events()
    assert failed["type"] == "com.amlexec.run.failed" and failed["data"]["attempt"] == 2


def test_run_canceled_in_studio_publishes_canceled(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="msg-cancel")
    flow.pump(on_check=script(flow, {1: ("Canceled", None)}))
    (canceled,) = flow.terminal_events()
    assert canceled["type"] == "com.amlexec.run.canceled"


def test_timeout_cancels_the_run_and_publishes_timed_out(flow: Flow) -> None:
    body = activity()
    body["policy"] = {"timeout": "0.00:05:00"}
    flow.deliver_request(body, message_id="msg-timeout")
    fake = flow.world.fake

    def on_check(step: int) -> None:
        name = next(iter(fake.jobs))
        if fake.jobs[name]["properties"]["status"] == "NotStarted":
            fake.set_status(name, "Running")
        elif fake.jobs[name]["properties"]["status"] == "CancelRequested":
            fake.finish(name, "Canceled")

    flow.pump(on_check=on_check)
    assert len(flow.world.router.calls_to("POST", r"/cancel$")) == 1
    (timed_out,) = flow.terminal_events()
    assert timed_out["type"] == "com.amlexec.run.timedOut"
    assert flow.world.clock.now() - START >= timedelta(minutes=5)


def test_run_stuck_in_cancel_requested_still_times_out(flow: Flow) -> None:
    body = activity()
    body["policy"] = {"timeout": "0.00:02:00"}
    flow.deliver_request(body, message_id="msg-stuck")
    flow.pump(on_check=script(flow, {0: ("Running", None)}))
    (timed_out,) = flow.terminal_events()
    assert timed_out["type"] == "com.amlexec.run.timedOut"
    assert timed_out["data"]["serviceStatus"] == "CancelRequested"


def test_rejected_request_keeps_its_body_and_tells_why(flow: Flow) -> None:
    body = activity(mlPipelineId=5, experimentName={"value": "@concat(", "type": "Expression"})
    # As a sender might write it: indented, keys in its own order, a non-ASCII character left unescaped.
    raw = json.dumps({**body, "description": "Prüfung"}, indent=3, ensure_ascii=False).encode() + b"\r\n"
    flow.deliver_request(raw, message_id="msg-bad", correlation_id="corr-bad")
    assert flow.world.fake.jobs == {}
    (kept,) = flow.bus.sent[Destination.REJECTED]
    assert kept.body == raw, "the original body is preserved byte for byte"
    assert kept.correlation_id == "corr-bad"
    assert kept.application_properties["amlexec.originalMessageId"] == "msg-bad"
    assert kept.application_properties["amlexec.issueCount"] == 2
    (rejected,) = flow.events()
    assert rejected["type"] == "com.amlexec.run.rejected"
    assert rejected["id"] == terminal_event_id("msg-bad")
    assert {i["path"] for i in rejected["data"]["issues"]} == {
        "typeProperties.mlPipelineId",
        "typeProperties.experimentName",
    }


def test_unknown_parameter_is_rejected_before_any_run(flow: Flow) -> None:
    flow.deliver_request(activity(mlPipelineParameters={"n": 1, "tresh": 2}), message_id="msg-typo")
    assert flow.world.fake.jobs == {}
    (rejected,) = flow.events()
    assert rejected["data"]["issues"][0]["code"] == "unknown_parameter"


def test_duplicate_deliveries_start_one_run_and_publish_one_terminal_event(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="msg-dup")
    flow.deliver_request(activity(), message_id="msg-dup", delivery_count=2)
    flow.pump(on_check=script(flow, {1: ("Running", None), 3: ("Completed", None)}), redeliver=True)
    assert len(flow.world.fake.jobs) == 1
    assert len(flow.terminal_events()) == 1
    assert flow.bus.dropped_duplicates, "repeats reached the bus and were dropped by duplicate detection"


def test_event_grid_publishes_the_end_at_once_and_late_copies_change_nothing(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="msg-eg")
    job = flow.job()
    flow.world.fake.finish(job["name"], "Completed")
    data = {
        "runId": job["name"],
        "experimentName": "scoring",
        "runStatus": "Completed",
        "runType": "azureml.PipelineRun",
        "runTags": job["properties"]["tags"],
        "runProperties": job["properties"]["properties"],
    }
    flow.grid_event("Microsoft.MachineLearningServices.RunStatusChanged", data)
    (completed,) = flow.terminal_events()
    assert completed["type"] == "com.amlexec.run.completed"
    assert flow.world.clock.now() == START, "published without waiting for a status check"
    flow.grid_event("Microsoft.MachineLearningServices.RunCompleted", data, event_id="eg-dup")
    flow.pump()  # the polling path sees the same end later
    flow.grid_event("Microsoft.MachineLearningServices.RunStatusChanged", data, event_id="eg-late")
    assert len(flow.terminal_events()) == 1
    assert len(flow.world.fake.jobs) == 1


def test_event_grid_ignores_runs_it_did_not_launch_and_retryable_failures(flow: Flow) -> None:
    flow.grid_event(
        "Microsoft.MachineLearningServices.RunStatusChanged",
        {"runId": "someone-else", "runStatus": "Completed", "runProperties": {}, "runTags": {}},
    )
    body = activity()
    body["policy"] = {"retry": 2}
    flow.deliver_request(body, message_id="msg-eg-retry")
    job = flow.job()
    flow.world.fake.finish(job["name"], "Failed")
    flow.grid_event(
        "Microsoft.MachineLearningServices.RunStatusChanged",
        {"runId": job["name"], "runStatus": "Failed", "runProperties": job["properties"]["properties"]},
    )
    assert flow.terminal_events() == []


def test_trace_context_travels_from_request_to_completion(flow: Flow) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    flow.deliver_request(activity(), message_id="msg-trace", properties={"traceparent": traceparent})
    flow.pump(on_check=script(flow, {1: ("Completed", None)}))
    completion = flow.bus.published[-1]
    assert json.loads(completion.body)["traceparent"].split("-")[1] == traceparent.split("-")[1]
    assert str(completion.application_properties["traceparent"]).split("-")[1] == traceparent.split("-")[1]


def test_secrets_never_reach_logs_or_events(flow: Flow, caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-token-value"
    body = activity(mlPipelineParameters={"n": 1})
    body["policy"] = {"secureInput": True}
    envelope = {"activity": body, "pipeline": {"parameters": {"token": secret}}}
    expression = "@concat('x', string(length(pipeline().parameters.token)))"
    envelope["activity"]["typeProperties"]["experimentName"] = expression
    with caplog.at_level(logging.DEBUG):
        flow.deliver_request(envelope, message_id="msg-secret")
        flow.pump(on_check=script(flow, {1: ("Completed", None)}))
    assert secret not in caplog.text
    assert secret not in json.dumps(flow.events())


def test_a_run_tracked_for_the_whole_default_timeout_is_checked_to_the_end(flow: Flow) -> None:
    """Seven days of checks at the longest spacing: check numbers in the thousands must not overflow."""
    flow.deliver_request(activity(), message_id="msg-week")
    flow.world.fake.set_status(flow.job()["name"], "Running")
    flow.pump(on_check=lambda step: None, max_steps=5_000)
    (timed_out,) = flow.terminal_events()
    assert timed_out["type"] == "com.amlexec.run.timedOut"
    assert flow.world.clock.now() - START >= timedelta(days=7)


def test_long_request_ids_and_activity_names_keep_every_check_distinct(flow: Flow) -> None:
    """A GUID message id plus a long activity name exceed Service Bus's 128-character message id: cutting
    the id would drop the check number and duplicate detection would swallow every later check."""
    body = activity()
    body["name"] = "Score the loan applications of every region, nightly"
    flow.deliver_request(body, message_id="7c2f9d4e-5b1a-4c3d-9e8f-0a1b2c3d4e5f")
    flow.pump(on_check=script(flow, {4: ("Completed", None)}))
    (completed,) = flow.terminal_events()
    assert completed["type"] == "com.amlexec.run.completed"
    assert all(len(m.message_id) <= 128 for m in flow.bus.sent[Destination.STATUS])
    assert len({m.message_id for m in flow.bus.sent[Destination.STATUS]}) >= 5
