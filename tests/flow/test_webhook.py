"""Data Factory's WebHook activity: no polling at all. amlexec calls ``callBackUri`` back with the outcome.

The WebHook activity POSTs its body with ``callBackUri`` added and waits until that URI is called (with
``reportStatusOnCallBack``, ``StatusCode`` >= 400 fails it). The URI is a bearer secret: it is kept only in
the request index and must never reach a log line, an event, the rejected queue or a status message.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fakes.http_receiver import Answer, HttpReceiver
from flow.harness import Flow, activity, make_flow

from amlexec.bus.base import Destination
from amlexec.callbacks import CallbackUrlPolicy, HttpCallbackSender, MemoryCallbackSender

SECRET = "sig=Zm9yIHRoZSBjYWxsYmFjayBvbmx5"
CALLBACK = f"https://westeurope.frontend.datafactory.azure.net/pipelines/callback?callbackId=abc&{SECRET}"
PUBLIC = ["20.50.2.10"]


def _resolver(host: str, port: int) -> list[str]:
    return PUBLIC


@pytest.fixture
def flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flow:
    flow = make_flow(monkeypatch, tmp_path, status_url_keys=(b"w" * 40,))
    flow.worker.callback_policy = CallbackUrlPolicy(resolver=_resolver)
    flow.worker.callbacks = MemoryCallbackSender(flow.worker.callback_policy)
    return flow


def _deliveries(flow: Flow) -> list[Any]:
    sender = flow.worker.callbacks
    assert isinstance(sender, MemoryCallbackSender)
    return sender.deliveries


def _webhook(flow: Flow, body: dict[str, Any] | None = None, *, uri: str = CALLBACK, key: str = "adf-wh-1") -> Any:
    sent = {"activity": body or activity(), "callBackUri": uri}
    return flow.http(
        "runs_submit",
        "POST",
        "https://app.example/api/runs",
        body=json.dumps(sent).encode(),
        headers={"Idempotency-Key": key},
    )


def _everything_but_the_index(flow: Flow, logs: str) -> str:
    messages = "".join(
        m.body.decode(errors="replace") + json.dumps(m.application_properties)
        for d in Destination
        for m in flow.bus.sent[d]
    )
    return logs + messages + json.dumps(flow.events())


def test_the_webhook_is_answered_at_once_and_called_back_with_the_outcome(
    flow: Flow, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = _webhook(flow)
    assert answer.status_code == 202, "within Data Factory's one minute"
    run = flow.job()["name"]
    assert _deliveries(flow) == []
    flow.pump(on_check=lambda step: flow.world.fake.finish(run, "Completed") if step == 1 else None)
    (delivery,) = _deliveries(flow)
    assert delivery.uri.get_secret_value() == CALLBACK
    assert delivery.body["StatusCode"] == "200" and "Error" not in delivery.body
    assert delivery.body["Output"]["runId"] == run and delivery.body["Output"]["status"] == "completed"
    assert SECRET not in _everything_but_the_index(flow, caplog.text), "the URI is a bearer secret"


def test_a_failed_run_fails_the_webhook_with_the_service_error(flow: Flow) -> None:
    _webhook(flow)
    run = flow.job()["name"]
    flow.pump(
        on_check=lambda step: (
            flow.world.fake.finish(run, "Failed", error=("UserError", "no income column")) if step == 1 else None
        )
    )
    (delivery,) = _deliveries(flow)
    assert int(delivery.body["StatusCode"]) >= 400
    assert delivery.body["Error"] == {"ErrorCode": "UserError", "Message": "no income column"}


def test_event_grid_calls_back_at_once_and_polling_later_does_not_call_again(flow: Flow) -> None:
    _webhook(flow)
    job = flow.job()
    flow.world.fake.finish(job["name"], "Completed")
    flow.grid_event(
        "Microsoft.MachineLearningServices.RunStatusChanged",
        {
            "runId": job["name"],
            "runStatus": "completed",
            "experimentName": "scoring",
            "runProperties": job["properties"]["properties"],
        },
    )
    for message in flow.bus.due(Destination.STATUS):  # the callback is due now, not at the next check
        flow.deliver(Destination.STATUS, message)
    assert len(_deliveries(flow)) == 1
    flow.pump()  # the status checks see the end too: the same callback message is dropped as a duplicate
    assert len(_deliveries(flow)) == 1


def test_a_callback_that_fails_is_delivered_again_later(flow: Flow) -> None:
    flow.worker.callbacks = MemoryCallbackSender(flow.worker.callback_policy, fail_times=2)
    _webhook(flow)
    run = flow.job()["name"]
    flow.pump(on_check=lambda step: flow.world.fake.finish(run, "Completed") if step == 1 else None)
    assert len(_deliveries(flow)) == 1
    deliveries = [
        m.application_properties["delivery"]
        for m in flow.bus.sent[Destination.STATUS]
        if m.subject == "amlexec.callback"
    ]
    assert deliveries == [1, 2, 3]


def test_a_crash_between_the_end_and_the_callback_still_calls_back(flow: Flow) -> None:
    """The worker dies while calling back: Service Bus redelivers the callback message, and it is sent."""
    _webhook(flow)
    flow.world.fake.finish(flow.job()["name"], "Completed")
    original = flow.worker.callbacks

    class Crashing(MemoryCallbackSender):
        def deliver(self, uri: Any, body: dict[str, Any]) -> None:
            raise RuntimeError("the worker died")

    flow.worker.callbacks = Crashing()
    with pytest.raises(RuntimeError):
        flow.pump()
    assert flow.terminal_events(), "the run's end was published before the crash"
    flow.worker.callbacks = original
    (callback,) = [m for m in flow.bus.sent[Destination.STATUS] if m.subject == "amlexec.callback"]
    flow.deliver(Destination.STATUS, callback, delivery_count=2)  # what Service Bus does after the lock expires
    assert len(_deliveries(flow)) == 1


@pytest.mark.parametrize(
    "uri",
    [
        "http://westeurope.frontend.datafactory.azure.net/callback?sig=x",
        "https://127.0.0.1/callback?sig=x",
        "https://169.254.169.254/metadata?sig=x",
        "",
    ],
    ids=["plain http", "loopback", "the metadata endpoint", "empty"],
)
def test_a_callback_uri_amlexec_must_not_call_is_refused_before_anything_runs(flow: Flow, uri: str) -> None:
    answer = _webhook(flow, uri=uri)
    assert answer.status_code == 400
    body = json.loads(answer.get_body())
    assert body["issues"][0]["code"] == "callback_refused" and "sig=x" not in answer.get_body().decode()
    assert flow.world.fake.jobs == {}


def test_a_webhook_retry_with_a_new_uri_is_the_same_request_and_the_new_uri_is_called(flow: Flow) -> None:
    assert _webhook(flow, uri=CALLBACK).status_code == 202
    retried = CALLBACK.replace("callbackId=abc", "callbackId=def")
    again = _webhook(flow, uri=retried)
    assert again.status_code == 202 and json.loads(again.get_body())["created"] is False, "not a conflict"
    run = flow.job()["name"]
    flow.pump(on_check=lambda step: flow.world.fake.finish(run, "Completed") if step == 1 else None)
    (delivery,) = _deliveries(flow)
    assert delivery.uri.get_secret_value() == retried


def test_a_rejected_webhook_request_on_the_queue_is_called_back_with_the_reasons(flow: Flow) -> None:
    body = {"activity": activity(experimentName=42), "callBackUri": CALLBACK}
    flow.deliver_request(body, message_id="adf-queue-wh")
    (kept,) = flow.bus.sent[Destination.REJECTED]
    assert SECRET not in kept.body.decode(), "the rejected queue keeps the body without the secret"
    for message in flow.bus.due(Destination.STATUS):
        flow.deliver(Destination.STATUS, message)
    (delivery,) = _deliveries(flow)
    assert delivery.body["StatusCode"] == "400"
    assert "experimentName" in json.dumps(delivery.body)


def test_a_real_callback_over_http(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """End to end through a real socket: a 503 first, then the callback arrives as Data Factory expects it."""
    with HttpReceiver([Answer(503, {"Retry-After": "1"}), Answer(200)]) as receiver:
        flow = make_flow(monkeypatch, tmp_path, status_url_keys=(b"w" * 40,))
        policy = CallbackUrlPolicy(allow_insecure_loopback=True)  # tests only: a server on 127.0.0.1
        flow.worker.callback_policy = policy
        flow.worker.callbacks = HttpCallbackSender(policy, timeout=5)
        uri = receiver.url(f"/pipelines/callback?callbackId=abc&{SECRET}")
        sent = {"activity": activity(), "callBackUri": uri}
        flow.http(
            "runs_submit",
            "POST",
            "https://app.example/api/runs",
            body=json.dumps(sent).encode(),
            headers={"Idempotency-Key": "adf-real"},
        )
        run = flow.job()["name"]
        flow.pump(on_check=lambda step: flow.world.fake.finish(run, "Completed") if step == 1 else None)
        assert [r.method for r in receiver.requests] == ["POST", "POST"]
        last = receiver.requests[-1]
        assert last.target == f"/pipelines/callback?callbackId=abc&{SECRET}"
        assert last.headers.get("Content-Type", last.headers.get("content-type")) == "application/json"
        assert json.loads(last.body)["StatusCode"] == "200"
