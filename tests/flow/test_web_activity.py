"""Data Factory's Web activity waits on amlexec: 202 + Location, then 202 until the request ends.

The Web activity follows a 202's ``Location`` itself (``turnOffAsync`` false, its default) and stops at
the first non-202 answer: 200 becomes the activity's output; any answer >= 400 fails it, with the body in
its error. Each test calls the trigger functions as the host does; the progress URL is called with no
header at all, since Data Factory may not replay the POST's key on the GETs that follow.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
import pytest
from flow.harness import Flow, activity, make_flow

from amlexec.bus.base import Destination
from amlexec.runref import sign_progress_ref
from amlexec.runs import ProgressRef

KEY = "k" * 40


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flow:
    return make_flow(monkeypatch, tmp_path, status_url_keys=(KEY.encode(),))


def _submit(flow: Flow, body: dict[str, Any], *, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return flow.http(
        "runs_submit",
        "POST",
        "https://amlexec-app.azurewebsites.net/api/runs",
        body=json.dumps(body).encode(),
        headers={"Idempotency-Key": "adf-1", **(headers or {})},
    )


def _follow(flow: Flow, location: str) -> func.HttpResponse:
    """GET the Location as Data Factory would: the URL alone, no key, no other header."""
    token = urlsplit(location).path.rsplit("/", 1)[1]
    return flow.http("progress", "GET", location, route_params={"token": token})


def _second_attempt(flow: Flow) -> str:
    """Deliver status checks (moving the clock) until the retry's run exists; return its name."""
    for _ in range(20):
        second = next((name for name in flow.world.fake.jobs if name.endswith("_2")), None)
        if second is not None:
            return second
        due = flow.bus.next_due(Destination.STATUS)
        assert due is not None, "a status check is always scheduled while the request is in progress"
        flow.world.clock.advance(max(0.0, (due - flow.world.clock.now()).total_seconds()))
        for message in flow.bus.due(Destination.STATUS):
            flow.deliver(Destination.STATUS, message)
    raise AssertionError("attempt 2 was never launched")


def _launched(flow: Flow, body: dict[str, Any] | None = None) -> tuple[str, str]:
    answer = _submit(flow, body or activity())
    assert answer.status_code == 202
    return answer.headers["Location"], str(json.loads(answer.get_body())["runName"])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Host": "amlexec-app.azurewebsites.net"}, "https://amlexec-app.azurewebsites.net/api/progress/"),
        (
            {"Host": "10.0.0.4:8080", "X-Forwarded-Host": "scoring.contoso.com", "X-Forwarded-Proto": "https"},
            "https://scoring.contoso.com/api/progress/",
        ),
        ({}, "https://amlexec-app.azurewebsites.net/api/progress/"),
    ],
    ids=["the host it was called on", "behind the front end", "no host header: the request URL"],
)
def test_the_202_carries_an_absolute_location_and_retry_after(
    flow: Flow, headers: dict[str, str], expected: str
) -> None:
    answer = _submit(flow, activity(), headers=headers)
    assert answer.status_code == 202
    assert answer.headers["Location"].startswith(expected)
    assert int(answer.headers["Retry-After"]) > 0
    assert json.loads(answer.get_body())["progressUrl"] == answer.headers["Location"]


def test_a_configured_public_url_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    flow = make_flow(
        monkeypatch, tmp_path, status_url_keys=(KEY.encode(),), public_base_url="https://ml-gateway.contoso.com/amlexec"
    )
    location, _ = _launched(flow)
    assert location.startswith("https://ml-gateway.contoso.com/amlexec/api/progress/p1.")


def test_202_while_queued_and_running_then_200_with_the_outcome(flow: Flow) -> None:
    location, run = _launched(flow)
    queued = _follow(flow, location)
    assert queued.status_code == 202 and json.loads(queued.get_body())["status"] == "Queued"
    assert queued.headers["Location"] == location and int(queued.headers["Retry-After"]) > 0
    flow.world.fake.set_status(run, "Running")
    assert json.loads(_follow(flow, location).get_body())["status"] == "InProgress"
    flow.world.fake.finish(run, "Completed")
    done = _follow(flow, location)
    assert done.status_code == 200
    output = json.loads(done.get_body())
    assert isinstance(output, dict) and len(done.get_body()) < 4 * 1024 * 1024, "becomes the activity's output"
    assert output["status"] == "Succeeded" and output["runId"] == run and output["requestId"] == "http:adf-1"
    assert output["durationSeconds"] == pytest.approx(450.377) and output["studioUrl"].startswith("https://ml.azure")


@pytest.mark.parametrize(
    ("final", "error", "status", "code"),
    [
        ("Failed", ("UserError", "Step score failed: KeyError 'income'"), "Failed", "UserError"),
        ("Canceled", None, "Cancelled", "Canceled"),
    ],
    ids=["failed", "canceled in Studio"],
)
def test_a_run_that_did_not_complete_fails_the_web_activity_with_its_error(
    flow: Flow, final: str, error: tuple[str, str] | None, status: str, code: str
) -> None:
    location, run = _launched(flow)
    flow.world.fake.finish(run, final, error=error)
    answer = _follow(flow, location)
    assert answer.status_code == 424, "any answer >= 400 fails the Web activity (error 2108)"
    body = json.loads(answer.get_body())
    assert body["status"] == status and body["error"]["code"] == code and body["error"]["message"]
    if error:
        assert body["error"]["message"] == error[1]


def test_a_timed_out_run_fails_it_as_timed_out(flow: Flow) -> None:
    body = activity()
    body["policy"] = {"timeout": "0.00:10:00"}
    location, run = _launched(flow, body)
    flow.world.fake.finish(run, "Canceled", start="2026-11-21T02:00:00Z", end="2026-11-21T02:10:30Z")
    flow.world.clock.advance(timedelta(minutes=11).total_seconds())
    answer = _follow(flow, location)
    assert answer.status_code == 424 and json.loads(answer.get_body())["status"] == "TimedOut"


def test_secure_output_keeps_the_service_error_out_of_the_answer(flow: Flow) -> None:
    body = activity()
    body["policy"] = {"secureOutput": True}
    location, run = _launched(flow, body)
    flow.world.fake.finish(run, "Failed", error=("UserError", "password=hunter2 in the step's log"))
    answer = _follow(flow, location)
    assert answer.status_code == 424 and b"hunter2" not in answer.get_body()


def test_with_retries_the_answer_follows_the_latest_attempt(flow: Flow) -> None:
    body = activity()
    body["policy"] = {"retry": 1, "retryIntervalInSeconds": 30}
    location, first = _launched(flow, body)
    flow.world.fake.finish(first, "Failed", error=("UserError", "flaky"))
    pending = _follow(flow, location)
    assert pending.status_code == 202, "a retry follows: the request has not ended"
    second = _second_attempt(flow)
    flow.world.fake.set_status(second, "Running")
    running = json.loads(_follow(flow, location).get_body())
    assert (running["status"], running["attempt"], running["runId"]) == ("InProgress", 2, second)
    flow.world.fake.finish(second, "Completed")
    done = _follow(flow, location)
    assert done.status_code == 200 and json.loads(done.get_body())["attempt"] == 2


def test_the_last_attempt_failing_ends_it(flow: Flow) -> None:
    body = activity()
    body["policy"] = {"retry": 1, "retryIntervalInSeconds": 30}
    location, first = _launched(flow, body)
    flow.world.fake.finish(first, "Failed")
    second = _second_attempt(flow)
    flow.world.fake.finish(second, "Failed", error=("UserError", "again"))
    answer = _follow(flow, location)
    assert answer.status_code == 424 and json.loads(answer.get_body())["attempt"] == 2


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: token.replace("p1.", "p2.", 1),
        lambda token: "p1." + token.split(".")[1],
        lambda _token: "nope",
    ],
    ids=["signature changed", "unknown version", "no signature", "garbage"],
)
def test_a_forged_progress_url_reveals_nothing(flow: Flow, tamper: Any) -> None:
    location, _ = _launched(flow)
    token = urlsplit(location).path.rsplit("/", 1)[1]
    forged = tamper(token)
    answer = flow.http("progress", "GET", f"https://x/api/progress/{forged}", route_params={"token": forged})
    assert answer.status_code == 404 and json.loads(answer.get_body()) == {
        "error": "NotFound",
        "message": "no such request",
    }


def test_a_payload_changed_under_a_valid_signature_is_refused(flow: Flow) -> None:
    ref = ProgressRef("pipeline_component", "AzureMLService", "http:adf-1", "Score", "scoring", 1, 3600.0)
    token = sign_progress_ref(ref, b"another key of at least thirty-two characters")
    answer = flow.http("progress", "GET", f"https://x/api/progress/{token}", route_params={"token": token})
    assert answer.status_code == 404


def test_urls_signed_before_a_key_rotation_still_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    old = make_flow(monkeypatch, tmp_path, status_url_keys=(KEY.encode(),))
    location, run = _launched(old)
    rotated = make_flow(monkeypatch, tmp_path / "rotated", status_url_keys=(b"n" * 40, KEY.encode()))
    rotated.world.fake.jobs[run] = old.world.fake.jobs[run]
    assert _follow(rotated, location).status_code == 202


def test_without_a_signing_key_in_azure_post_names_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    flow = make_flow(monkeypatch, tmp_path, bus="servicebus", service_bus_namespace="ns.servicebus.windows.net")
    answer = _submit(flow, activity())
    assert answer.status_code == 500
    assert "AMLEXEC_STATUS_URL_KEY" in json.loads(answer.get_body())["message"]


def test_a_run_stuck_cancelling_past_its_deadline_is_timed_out_as_the_checks_say(flow: Flow) -> None:
    body = activity()
    body["policy"] = {"timeout": "0.00:10:00"}
    location, run = _launched(flow, body)
    flow.world.fake.set_status(run, "CancelRequested")
    flow.world.fake.run_records[run] = {"startTimeUtc": "2026-11-21T02:00:00Z"}
    flow.world.clock.advance(timedelta(minutes=15).total_seconds())
    assert _follow(flow, location).status_code == 202, "within the cancel grace, it may still end canceled"
    flow.world.clock.advance(timedelta(minutes=10).total_seconds())
    answer = _follow(flow, location)
    assert answer.status_code == 424 and json.loads(answer.get_body())["status"] == "TimedOut"
