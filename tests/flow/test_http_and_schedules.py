"""The HTTP API (launch, status for a Data Factory Until loop, validate, OpenAPI) and the scheduler."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from flow.harness import Flow, activity, make_flow

from amlexec.bus.base import Destination
from amlexec.http_api import openapi_text


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flow:
    return make_flow(monkeypatch, tmp_path)


def test_post_runs_launches_once_per_idempotency_key_and_get_reports_progress(flow: Flow) -> None:
    body = json.dumps(activity()).encode()
    headers = {"Idempotency-Key": "adf-run-42", "x-correlation-id": "adf-42"}
    first = flow.http("runs_submit", "POST", "http://localhost/api/runs", body=body, headers=headers)
    assert first.status_code == 202
    submitted = json.loads(first.get_body())
    assert submitted["created"] is True and submitted["correlationId"] == "adf-42"
    assert first.headers["Location"] == submitted["progressUrl"]
    assert submitted["statusUrl"] == f"http://localhost/api/runs/{submitted['runId']}", "absolute, for an Until loop"
    again = json.loads(
        flow.http("runs_submit", "POST", "http://localhost/api/runs", body=body, headers=headers).get_body()
    )
    assert again["runId"] == submitted["runId"] and again["created"] is False
    assert len(flow.world.fake.jobs) == 1

    def status() -> dict[str, object]:
        response = flow.http(
            "runs_status",
            "GET",
            f"http://localhost/api/runs/{submitted['runId']}",
            route_params={"run_id": submitted["runId"]},
        )
        assert response.status_code == 200
        return dict(json.loads(response.get_body()))

    assert status()["status"] == "Queued" and status()["isTerminal"] is False
    flow.world.fake.set_status(submitted["runName"], "Running")
    assert status()["status"] == "InProgress"
    flow.world.fake.finish(submitted["runName"], "Completed")
    final = status()
    assert final["status"] == "Succeeded" and final["isTerminal"] is True and final["endedAt"]
    flow.pump()
    assert [e["type"] for e in flow.terminal_events()] == ["com.amlexec.run.completed"]


def test_post_runs_rejects_with_every_issue(flow: Flow) -> None:
    response = flow.http(
        "runs_submit",
        "POST",
        "http://localhost/api/runs",
        body=json.dumps(activity(mlPipelineId=7, experimentName=[1])).encode(),
    )
    assert response.status_code == 400
    issues = json.loads(response.get_body())["issues"]
    assert {i["path"] for i in issues} == {"typeProperties.mlPipelineId", "typeProperties.experimentName"}
    assert flow.terminal_events()[0]["type"] == "com.amlexec.run.rejected"


def test_throttled_launch_answers_503_with_retry_after(flow: Flow) -> None:
    flow.world.router.fail("PUT", r"/jobs/", status=429, headers={"Retry-After": "20"}, times=50)
    response = flow.http(
        "runs_submit",
        "POST",
        "http://localhost/api/runs",
        body=json.dumps(activity()).encode(),
        headers={"Idempotency-Key": "k"},
    )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 20


def test_get_runs_refuses_a_forged_id(flow: Flow) -> None:
    response = flow.http("runs_status", "GET", "http://localhost/api/runs/nope", route_params={"run_id": "nope"})
    assert response.status_code == 400


def test_openapi_document_is_served_and_committed(flow: Flow) -> None:
    response = flow.http("openapi", "GET", "http://localhost/api/openapi.json")
    document = json.loads(response.get_body())
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/runs",
        "/runs/{runId}",
        "/progress/{token}",
        "/requests/{requestId}",
        "/validate",
    }
    committed = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
    assert committed.read_text() == openapi_text(), "regenerate docs/openapi.json (make schema)"


def test_scheduled_payload_launches_once_per_occurrence_even_if_the_tick_fires_twice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    label = "@formatDateTime(trigger().scheduledTime, 'yyyy-MM-dd HH:mm')"
    payload = activity(mlPipelineParameters={"n": 1, "label": label})
    schedules = json.dumps([{"name": "nightly", "schedule": "0 0 2 * * *", "payload": payload}])
    flow = make_flow(monkeypatch, tmp_path, schedules_json=schedules)
    flow.world.clock.advance(5)  # the tick runs a few seconds after 02:00:00
    import azure.functions as func

    tick = func.timer.TimerRequest(past_due=False, schedule_status={"Last": "2026-11-21T01:59:00+00:00"})
    flow.functions["scheduler"](tick)
    flow.functions["scheduler"](tick)  # scale-out: a second instance fires the same tick
    assert len(flow.bus.sent[Destination.REQUESTS]) == 2
    assert len(flow.bus.dropped_duplicates) == 1

    def finish_all(_step: int) -> None:
        for name in list(flow.world.fake.jobs):
            flow.world.fake.finish(name, "Completed")

    flow.pump(on_check=finish_all)
    (job,) = flow.world.fake.jobs.values()
    assert job["properties"]["inputs"]["label"]["value"] == "2026-11-21 02:00"
    (completed,) = flow.terminal_events()
    assert completed["data"]["requestId"] == "schedule:nightly:2026-11-21T02:00:00Z"
    # The next minute's tick: windows overlap, so it may see 02:00 again; that repeat is dropped, nothing runs.
    flow.world.clock.advance(60)
    flow.functions["scheduler"](func.timer.TimerRequest(past_due=False))
    flow.pump()
    assert len(flow.world.fake.jobs) == 1
    assert all(m.message_id == "schedule:nightly:2026-11-21T02:00:00Z" for m in flow.bus.sent[Destination.REQUESTS])


def test_missed_ticks_launch_only_the_latest_occurrence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    schedules = json.dumps([{"name": "hourly", "schedule": "0 0 * * * *", "payload": activity()}])
    flow = make_flow(monkeypatch, tmp_path, schedules_json=schedules)
    flow.world.clock.advance(timedelta(hours=5, minutes=30).total_seconds())
    import azure.functions as func

    flow.functions["scheduler"](
        func.timer.TimerRequest(past_due=True, schedule_status={"Last": "2026-11-21T01:59:00+00:00"})
    )
    (message,) = flow.bus.sent[Destination.REQUESTS]
    assert message.message_id == "schedule:hourly:2026-11-21T07:00:00Z"
