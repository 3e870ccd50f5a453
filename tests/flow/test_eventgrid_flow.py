"""Completion events reach a Data Factory custom event trigger: events topic -> forwarder function -> Event Grid.

The app is indexed with the Event Grid output configured, so the host registers ``events_to_eventgrid`` on the
events topic's forwarder subscription; every message the flow publishes is handed to that function as the host
would, and the real azure-eventgrid client publishes to an HTTPS fake of the topic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import app_indexed_with
from fakes.credential import FakeCredential
from fakes.https_server import HttpsFake
from fakes.transport import Reply, Router
from flow.harness import Flow, activity, make_flow

from amlexec.errors import TransientError
from amlexec.eventgrid_output import EventGridForwarder
from amlexec.events import terminal_event_id

pytest.importorskip("azure.eventgrid", reason="azure-eventgrid publishes the events")

EVENTS_PATH = "/api/events"


@pytest.fixture
def indexed_with_eventgrid(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    forwarder = {
        "AMLEXEC_EVENTGRID_TOPIC_ENDPOINT": "https://evgt.westeurope-1.eventgrid.azure.net/api/events",
        "AMLEXEC_EVENTGRID_SUBSCRIPTION": "eventgrid-forwarder",
    }
    with app_indexed_with(monkeypatch, forwarder):
        yield


@pytest.fixture
def topic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HttpsFake, Router]]:
    router = Router()
    router.add("POST", EVENTS_PATH, lambda call: Reply(200, None))
    with HttpsFake(router, tmp_path) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert))
        yield server, router


def _flow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: HttpsFake) -> Flow:
    flow = make_flow(monkeypatch, tmp_path)
    forwarder = EventGridForwarder(server.base_url + EVENTS_PATH, credential=FakeCredential(), retry_total=0)
    monkeypatch.setattr(flow.worker, "eventgrid", forwarder)
    return flow


def _forward_everything(flow: Flow) -> None:
    """The forwarder subscription gets every message of the events topic (its default rule)."""
    for message in flow.bus.published:
        flow.functions["events_to_eventgrid"](flow._sb_message(message.body, message.message_id, None, 1, None))


@pytest.mark.usefixtures("indexed_with_eventgrid")
def test_a_completed_request_reaches_event_grid_once_in_its_schema(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, topic: tuple[HttpsFake, Router]
) -> None:
    server, router = topic
    flow = _flow(monkeypatch, tmp_path, server)
    flow.deliver_request(activity(), message_id="adf-run-1")
    name = flow.job()["name"]
    flow.world.fake.finish(name, "Completed")
    flow.pump()
    _forward_everything(flow)

    (call,) = router.calls_to("POST", EVENTS_PATH)  # started is not forwarded unless asked
    (event,) = call.body
    assert event["id"] == terminal_event_id("adf-run-1")
    assert event["eventType"] == "Amlexec.Run.Completed"
    assert event["subject"] == "/activities/Score/experiments/scoring/requests/adf-run-1/completed"
    assert event["data"]["runId"] == name and event["data"]["parameters"] == {"n": 1}


@pytest.mark.usefixtures("indexed_with_eventgrid")
def test_a_rejected_request_reaches_event_grid_with_its_reasons(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, topic: tuple[HttpsFake, Router]
) -> None:
    server, router = topic
    flow = _flow(monkeypatch, tmp_path, server)
    body: dict[str, Any] = activity()
    del body["typeProperties"]["mlPipelineId"]
    flow.deliver_request(body, message_id="adf-run-2")
    _forward_everything(flow)

    (call,) = router.calls_to("POST", EVENTS_PATH)
    (event,) = call.body
    assert event["eventType"] == "Amlexec.Run.Rejected"
    assert event["subject"].startswith("/activities/Score/")
    assert event["data"]["errorCode"] and "mlPipelineId" in json.dumps(event["data"]["issues"])


@pytest.mark.usefixtures("indexed_with_eventgrid")
def test_an_unreachable_topic_leaves_the_message_for_redelivery(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, topic: tuple[HttpsFake, Router]
) -> None:
    server, router = topic
    router.routes.clear()
    router.add("POST", EVENTS_PATH, lambda call: Reply(503, {"error": {"message": "busy"}}))
    flow = _flow(monkeypatch, tmp_path, server)
    flow.deliver_request(activity(), message_id="adf-run-3")
    flow.world.fake.finish(flow.job()["name"], "Completed")
    flow.pump()
    with pytest.raises(TransientError, match="503"):
        _forward_everything(flow)  # raised, so the host abandons the message and Service Bus redelivers it
    assert router.calls_to("POST", EVENTS_PATH), "the publish was tried"
