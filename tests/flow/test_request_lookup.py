"""A pipeline that put its request on the queue waits for it by message id: GET /api/requests/{requestId}.

Requests are recorded by identity when handled (launched or rejected); the answer is the same as a progress
URL's (202 until the request ends, then 200 or 424), and a 202's Location is the request's signed progress
URL, which Data Factory's Web activity follows with no key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
import pytest
from flow.harness import Flow, activity, make_flow

from amlexec.request_index import TableRequestIndex


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flow:
    return make_flow(monkeypatch, tmp_path, status_url_keys=(b"r" * 40,))


def _lookup(flow: Flow, request_id: str) -> func.HttpResponse:
    return flow.http(
        "requests_status",
        "GET",
        f"https://app.example/api/requests/{request_id}",
        headers={"x-functions-key": "k"},
        route_params={"request_id": request_id},
    )


def _follow(flow: Flow, location: str) -> func.HttpResponse:
    token = urlsplit(location).path.rsplit("/", 1)[1]
    return flow.http("progress", "GET", location, route_params={"token": token})


def _body(response: func.HttpResponse) -> dict[str, Any]:
    return dict(json.loads(response.get_body()))


def test_a_queued_request_is_followed_by_its_message_id_to_its_end(flow: Flow) -> None:
    waiting = _lookup(flow, "adf-run-7")
    assert waiting.status_code == 202 and _body(waiting)["status"] == "Pending", "not handled yet"
    location = waiting.headers["Location"]
    assert urlsplit(location).path.startswith("/api/progress/r1.")
    assert _follow(flow, location).status_code == 202
    flow.deliver_request(activity(), message_id="adf-run-7")
    running = _follow(flow, location)
    assert running.status_code == 202 and _body(running)["status"] == "Queued"
    run = flow.job()["name"]
    flow.world.fake.finish(run, "Completed")
    done = _follow(flow, location)
    assert done.status_code == 200
    assert (_body(done)["runId"], _body(done)["activityName"]) == (run, "Score")
    assert _lookup(flow, "adf-run-7").status_code == 200


def test_a_failed_run_fails_the_waiting_activity(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="adf-run-8")
    flow.world.fake.finish(flow.job()["name"], "Failed", error=("UserError", "bad input"))
    answer = _lookup(flow, "adf-run-8")
    assert answer.status_code == 424 and _body(answer)["error"] == {"code": "UserError", "message": "bad input"}


def test_a_rejected_request_fails_it_with_every_reason(flow: Flow) -> None:
    flow.deliver_request(activity(mlPipelineId=5, experimentName=[1]), message_id="adf-run-9")
    answer = _lookup(flow, "adf-run-9")
    assert answer.status_code == 424
    body = _body(answer)
    assert body["status"] == "Rejected"
    assert {i["path"] for i in body["issues"]} == {"typeProperties.mlPipelineId", "typeProperties.experimentName"}


def test_two_activities_sharing_a_request_id_are_both_waited_for(flow: Flow) -> None:
    first = activity()
    second = activity()
    second["name"] = "Retrain"
    flow.deliver_request(first, message_id="adf-run-10")
    flow.deliver_request(second, message_id="adf-run-10")
    runs = list(flow.world.fake.jobs)
    assert len(runs) == 2
    flow.world.fake.finish(runs[0], "Completed")
    assert _lookup(flow, "adf-run-10").status_code == 202, "one is still running"
    flow.world.fake.finish(runs[1], "Completed")
    done = _lookup(flow, "adf-run-10")
    assert done.status_code == 200 and len(_body(done)["activities"]) == 2


def test_a_conflicting_duplicate_does_not_overwrite_the_record(flow: Flow) -> None:
    flow.deliver_request(activity(), message_id="adf-run-11")
    flow.deliver_request(activity(mlPipelineParameters={"n": 3}), message_id="adf-run-11")  # rejected: conflict
    flow.world.fake.finish(flow.job()["name"], "Completed")
    assert _lookup(flow, "adf-run-11").status_code == 200


def test_http_requests_are_found_by_their_request_id_too(flow: Flow) -> None:
    flow.http(
        "runs_submit",
        "POST",
        "https://app.example/api/runs",
        body=json.dumps(activity()).encode(),
        headers={"Idempotency-Key": "k-1"},
    )
    assert _body(_lookup(flow, "http:k-1"))["status"] == "Queued"


def test_without_an_index_the_answer_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    flow = make_flow(monkeypatch, tmp_path, status_url_keys=(b"r" * 40,))
    flow.worker.index = None
    answer = _lookup(flow, "adf-run-12")
    assert answer.status_code == 500 and "AzureWebJobsStorage__accountName" in _body(answer)["message"]


def test_the_flow_works_on_azure_table_storage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fakes.azurite import azurite_table, connection_string

    with azurite_table() as port:
        flow = make_flow(monkeypatch, tmp_path, status_url_keys=(b"r" * 40,))
        flow.worker.index = TableRequestIndex(connection_string=connection_string(port))
        flow.deliver_request(activity(), message_id="adf-run-13")
        flow.world.fake.finish(flow.job()["name"], "Completed")
        assert _lookup(flow, "adf-run-13").status_code == 200
