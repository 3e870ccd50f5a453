"""Tracking at scale (issue 15), through the Function App's real handlers against the fake workspace.

What a look costs (one Azure ML call while a run is in flight, its details once at its end, and still on
demand for the HTTP status answer), the schedule with Event Grid on (a safety net that ends every run even
when no notification ever comes), batch-endpoint jobs ended by Event Grid (including the notification that
overtakes amlexec's properties), and throttling: under 429s no check is lost and each run ends with one event.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes.throttle import ReadThrottle
from fakes.workspace import BASE
from flow.harness import START, Flow, activity, make_flow

from amlexec.bus.base import Destination
from amlexec.runs import CONTEXT_PROPERTY

RUN_STATUS_CHANGED = "Microsoft.MachineLearningServices.RunStatusChanged"


def _seed_batch(flow: Flow) -> None:
    flow.world.fake.add_batch_endpoint(
        BASE, "loan-scoring", {"blue": f"{BASE}/components/score_pipeline/versions/3"}, default="blue"
    )


def _batch_activity() -> dict[str, Any]:
    body = activity(mlExecutionType="batchEndpoint", mlBatchEndpointName="loan-scoring", experimentName="batch-scoring")
    del body["typeProperties"]["mlPipelineId"]
    return body


def _look(flow: Flow) -> list[int]:
    """Move to the next due status check and deliver what is due; the Azure ML calls each delivery made."""
    due = flow.bus.next_due(Destination.STATUS)
    assert due is not None, "tracking stopped: no status check is scheduled"
    flow.world.clock.advance(max(0.0, (due - flow.world.clock.now()).total_seconds()))
    calls = []
    for message in flow.bus.due(Destination.STATUS):
        before = len(flow.world.router.calls)
        flow.deliver(Destination.STATUS, message)
        calls.append(len(flow.world.router.calls) - before)
    return calls


def _notify(flow: Flow, job: dict[str, Any], status: str, *, properties: dict[str, Any] | None = None) -> None:
    flow.grid_event(
        RUN_STATUS_CHANGED,
        {
            "runId": job["name"],
            "experimentName": job["properties"]["experimentName"],
            "runStatus": status,
            "runProperties": dict(job["properties"]["properties"]) if properties is None else properties,
        },
        event_id=f"eg-{job['name']}-{status}",
    )


def test_a_look_at_a_run_in_flight_is_one_call_and_its_details_are_read_at_its_end(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = make_flow(monkeypatch, tmp_path)
    flow.deliver_request(activity(), message_id="msg-look")
    job = flow.job()
    flow.world.fake.set_status(job["name"], "Running")
    flow.world.fake.add_step(job["name"], "prepare", "Completed")
    in_flight = [n for _ in range(12) for n in _look(flow)]
    assert in_flight == [1] * 12, "a status check of a run in flight reads the job and nothing else"
    assert all(c.method == "GET" and c.path.endswith(f"/jobs/{job['name']}") for c in flow.world.router.calls[-12:])

    flow.world.fake.finish(job["name"], "Failed", error=("UserError", "the scorer crashed"))
    (terminal_look,) = _look(flow)
    assert terminal_look > 1, "the run has ended: its steps, times and error are read"
    (failed,) = flow.terminal_events()
    assert failed["data"]["errorMessage"] == "the scorer crashed"
    assert failed["data"]["startedAt"] and failed["data"]["endedAt"]
    assert [s["name"] for s in failed["data"]["steps"]] == ["prepare"]


def test_the_http_status_of_a_run_in_flight_still_reads_its_steps(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = make_flow(monkeypatch, tmp_path)
    answer = flow.http(
        "runs_submit", "POST", "http://localhost/api/runs", body=json.dumps(activity()).encode(),
        headers={"Idempotency-Key": "k-steps"},
    )  # fmt: skip
    run_ref = str(json.loads(answer.get_body())["runId"])
    job = flow.job()
    flow.world.fake.set_status(job["name"], "Running")
    flow.world.fake.add_step(job["name"], "prepare", "Running")
    _look(flow)  # a status check in between changes nothing for the HTTP answer
    status = flow.http("runs_status", "GET", f"http://localhost/api/runs/{run_ref}", route_params={"run_id": run_ref})
    body = json.loads(status.get_body())
    assert [s["name"] for s in body["steps"]] == ["prepare"]


def test_with_event_grid_the_checks_are_a_safety_net_and_a_notification_ends_the_run_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = make_flow(monkeypatch, tmp_path, eventgrid_tracking=True)
    flow.deliver_request(activity(), message_id="msg-grid")
    job = flow.job()
    flow.world.fake.set_status(job["name"], "Running")
    times = []
    for _ in range(4):
        _look(flow)
        times.append(flow.world.clock.now() - START)
    assert times == [timedelta(seconds=15), *(timedelta(seconds=15) + timedelta(minutes=30) * n for n in (1, 2, 3))]

    flow.world.fake.finish(job["name"], "Completed")
    _notify(flow, job, "Completed")
    (completed,) = flow.terminal_events()
    assert completed["type"] == "com.amlexec.run.completed"
    assert flow.world.clock.now() - START == times[-1], "published from the notification, not at a check"
    before = len(flow.world.router.calls)
    _look(flow)  # the safety-net check that was already scheduled
    assert len(flow.world.router.calls) == before, "the end this worker published is not read again"
    assert len(flow.terminal_events()) == 1
    assert flow.bus.next_due(Destination.STATUS) is None


def test_with_event_grid_misconfigured_the_safety_net_still_ends_every_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """AMLEXEC_EVENTGRID_TRACKING on, but no notification ever arrives (no subscription, a wrong filter)."""
    flow = make_flow(monkeypatch, tmp_path, eventgrid_tracking=True)
    flow.deliver_request(activity(), message_id="msg-silent")
    job = flow.job()
    flow.world.fake.set_status(job["name"], "Running")
    _look(flow)
    flow.world.clock.advance(60)
    flow.world.fake.finish(job["name"], "Completed")
    ended = flow.world.clock.now()
    while not flow.terminal_events():
        _look(flow)
    assert flow.world.clock.now() - ended <= timedelta(minutes=30)


def test_with_event_grid_an_attempt_followed_by_a_retry_keeps_polling(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Only a status check can launch the retry: waiting for the safety net would delay it half an hour."""
    flow = make_flow(monkeypatch, tmp_path, eventgrid_tracking=True)
    body = activity()
    body["policy"] = {"retry": 1, "retryIntervalInSeconds": 30}
    flow.deliver_request(body, message_id="msg-retry")
    first = flow.job()
    flow.world.fake.set_status(first["name"], "Running")
    for _ in range(3):
        _look(flow)
    assert flow.world.clock.now() - START < timedelta(minutes=2)
    flow.world.fake.finish(first["name"], "Failed")
    while len(flow.world.fake.jobs) == 1:
        _look(flow)
    assert flow.world.clock.now() - START < timedelta(minutes=5), "the retry started minutes after the failure"
    second = flow.job(1)
    flow.world.fake.set_status(second["name"], "Running")
    _look(flow)  # the retry's first check; this attempt is the last, so from here on the safety net
    before = flow.world.clock.now()
    _look(flow)
    assert flow.world.clock.now() - before == timedelta(minutes=30)


def test_a_batch_endpoint_job_carries_amlexecs_context_and_event_grid_ends_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = make_flow(monkeypatch, tmp_path, eventgrid_tracking=True)
    _seed_batch(flow)
    flow.deliver_request(_batch_activity(), message_id="msg-batch")
    job = flow.job()
    assert CONTEXT_PROPERTY in job["properties"]["properties"], "added after the invoke"
    assert job["properties"]["tags"]["amlexec.requestId"] == "msg-batch"
    flow.world.fake.set_status(job["name"], "Running")
    _look(flow)
    flow.world.clock.advance(600)
    flow.world.fake.finish(job["name"], "Completed")
    _notify(flow, job, "Completed")
    (completed,) = flow.terminal_events()
    assert completed["type"] == "com.amlexec.run.completed"
    assert completed["data"]["runId"] == job["name"]


def test_a_batch_notification_that_overtakes_the_properties_is_left_to_the_first_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The job failed at once, and its notification was sent before amlexec's properties were on it."""
    flow = make_flow(monkeypatch, tmp_path, eventgrid_tracking=True)
    _seed_batch(flow)
    flow.deliver_request(_batch_activity(), message_id="msg-early")
    job = flow.job()
    flow.world.fake.finish(job["name"], "Failed", error=("UserError", "no such input"))
    _notify(flow, job, "Failed", properties={"azureml.batchrun": "true"})
    assert flow.terminal_events() == []
    _look(flow)
    assert flow.world.clock.now() - START == timedelta(seconds=15)
    (failed,) = flow.terminal_events()
    assert failed["type"] == "com.amlexec.run.failed"


def test_a_batch_launch_that_stopped_before_adding_its_properties_adds_them_when_redelivered(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = make_flow(monkeypatch, tmp_path, eventgrid_tracking=True)
    _seed_batch(flow)
    flow.world.router.fail("PATCH", r"/history/", status=503, times=50)
    with pytest.raises(Exception, match="503"):
        flow.deliver_request(_batch_activity(), message_id="msg-patch")
    job = flow.job()
    assert CONTEXT_PROPERTY not in job["properties"]["properties"]
    flow.world.router.faults.clear()
    flow.deliver_request(_batch_activity(), message_id="msg-patch", delivery_count=2)
    assert CONTEXT_PROPERTY in job["properties"]["properties"]
    assert len(flow.world.fake.batch_invocations) == 1, "found, not invoked again"


def test_under_throttling_no_check_is_lost_and_each_run_ends_with_one_event(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """200 runs, ending at random times, tracked against a read budget far below what they ask for."""
    flow = make_flow(monkeypatch, tmp_path)
    runs = 200
    for index in range(runs):
        flow.deliver_request(activity(mlPipelineParameters={"n": index}), message_id=f"msg-{index}")
    rng = random.Random(15)
    ends = sorted((START + timedelta(seconds=rng.uniform(20, 1200)), name) for name in flow.world.fake.jobs)
    for _end, name in ends:
        flow.world.fake.set_status(name, "Running")
    throttle = ReadThrottle(flow.world.clock, per_second=1.0, capacity=20)
    flow.world.router.chaos = throttle
    while flow.bus.next_due(Destination.STATUS) is not None:
        while ends and ends[0][0] <= flow.world.clock.now():
            flow.world.fake.finish(ends.pop(0)[1], "Completed")
        _look(flow)  # a check that raised would fail the test here: Service Bus would redeliver, then dead-letter
    assert throttle.throttled > runs, "the budget really was exceeded"
    ended = Counter(e["data"]["requestId"] for e in flow.terminal_events())
    assert len(ended) == runs and set(ended.values()) == {1}
    sent = [json.loads(m.body) for m in flow.bus.sent[Destination.EVENTS]]
    assert sum(not e["type"].endswith(".started") for e in sent) == runs, "not even a duplicate was sent"
    assert {e["type"] for e in flow.terminal_events()} == {"com.amlexec.run.completed"}
    assert flow.bus.next_due(Destination.STATUS) is None
