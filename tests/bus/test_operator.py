"""Operator commands: amlexec send (real SDK over loopback) and the rejected-queue list/resubmit round trip."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import SEED_ACTIVITY
from fakes.amqp_broker import AmqpTestBroker, run_with_deadline

from amlexec.cli import main
from amlexec.errors import ConfigurationError, PermanentError
from amlexec.operator import ReplayReport, ServiceBusOperator
from amlexec.settings import Settings


def test_send_puts_the_payload_on_the_request_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = tmp_path / "seed.json"
    payload.write_text(json.dumps(SEED_ACTIVITY))
    with AmqpTestBroker() as broker:
        args = [
            "send",
            str(payload),
            "--connection-string",
            broker.connection_string,
            "--message-id",
            "req-7",
            "--correlation-id",
            "corr-7",
        ]
        assert run_with_deadline(lambda: main(args), 20) == 0
        (message,) = broker.messages("amlexec-requests")
    assert capsys.readouterr().out == "sent req-7\n"
    assert (message.message_id, message.correlation_id) == ("req-7", "corr-7")
    assert json.loads(message.body) == SEED_ACTIVITY


def test_send_refuses_an_invalid_payload_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = tmp_path / "bad.json"
    payload.write_text(json.dumps({"name": "x", "type": "AzureMLExecutePipeline"}))
    assert (
        main(
            [
                "send",
                str(payload),
                "--connection-string",
                "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=x;SharedAccessKey=y",
            ]
        )
        == 2
    )
    assert "not sent" in capsys.readouterr().err


# A hand-written stand-in for the azure-servicebus client's receiver side, which the test broker lacks.
@dataclass
class Received:
    sequence_number: int
    message_id: str
    body: bytes
    application_properties: dict[bytes, Any]
    correlation_id: str | None = "corr-bad"


@dataclass
class FakeServiceBus:
    queue: list[Received]
    sent: list[Any] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)

    def __enter__(self) -> FakeServiceBus:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def get_queue_receiver(self, name: str) -> FakeServiceBus:
        assert name == "amlexec-rejected"
        return self

    def get_queue_sender(self, name: str) -> FakeServiceBus:
        assert name == "amlexec-requests"
        return self

    def peek_messages(self, max_message_count: int) -> list[Received]:
        return self.queue[:max_message_count]

    def receive_messages(self, max_message_count: int, max_wait_time: float) -> list[Received]:
        return [m for m in self.queue if m.sequence_number not in self.completed][:max_message_count]

    def abandon_message(self, message: Received) -> None:
        return None

    def complete_message(self, message: Received) -> None:
        self.completed.append(message.sequence_number)

    def send_messages(self, message: Any) -> None:
        self.sent.append(message)


def rejected_queue() -> FakeServiceBus:
    issues = [{"path": "typeProperties.mlPipelineId", "code": "dynamic_type", "message": "wrong type"}]
    props = {
        b"amlexec.originalMessageId": b"msg-bad",
        b"amlexec.rejectedAt": b"2026-11-21T02:00:00+00:00",
        b"amlexec.reason": b"typeProperties.mlPipelineId: wrong type",
        b"amlexec.issues": json.dumps(issues).encode(),
    }
    return FakeServiceBus(
        [Received(11, "rejected|msg-other", b"{}", {}), Received(12, "rejected|msg-bad", b'{"name": "x"}', props)]
    )


def test_list_and_resubmit_a_rejected_request() -> None:
    bus = rejected_queue()
    operator = ServiceBusOperator(Settings(), client_factory=lambda: bus)
    listed = {m.sequence_number: m for m in operator.list_rejected()}
    assert listed[12].original_message_id == "msg-bad"
    assert listed[12].issues[0]["path"] == "typeProperties.mlPipelineId"
    new_id = operator.resubmit(12, body=b'{"fixed": true}')
    (message,) = bus.sent
    assert str(message.message_id) == new_id != "msg-bad", "a resubmission is a new request identity"
    assert b"".join(message.body) == b'{"fixed": true}'
    assert message.application_properties["amlexec.resubmittedFrom"] == "msg-bad"
    assert bus.completed == [12]
    with pytest.raises(PermanentError, match="no rejected request with sequence number 99"):
        operator.resubmit(99)


@dataclass
class DeadLetters(FakeServiceBus):
    """The forwarder subscription's dead-letter queue: received messages stay until completed."""

    opened: list[tuple[str, str, Any]] = field(default_factory=list)

    def get_subscription_receiver(self, topic: str, subscription: str, sub_queue: Any = None) -> DeadLetters:
        self.opened.append((topic, subscription, sub_queue))
        return self


def dead_letters() -> DeadLetters:
    return DeadLetters([Received(n, f"event-{n}", json.dumps({"n": n}).encode(), {}) for n in (1, 2, 3)])


def test_the_forwarders_dead_letters_are_published_straight_to_event_grid_and_only_then_removed() -> None:
    from azure.servicebus import ServiceBusSubQueue

    queue = dead_letters()
    operator = ServiceBusOperator(Settings(eventgrid_subscription="eventgrid-forwarder"), client_factory=lambda: queue)
    published: list[bytes] = []

    def down_at_two(body: bytes) -> None:
        if json.loads(body)["n"] == 2:
            raise PermanentError("Event Grid topic answered 403")
        published.append(body)

    report = operator.replay_eventgrid_dead_letters(down_at_two)
    assert queue.opened == [("amlexec-events", "eventgrid-forwarder", ServiceBusSubQueue.DEAD_LETTER)]
    assert report.published == ["event-1"] and report.failed is not None and "event-2" in report.failed
    assert queue.completed == [1], "the failed one and those after it stay dead-lettered"
    assert queue.sent == [], "nothing goes back to the events topic"

    report = operator.replay_eventgrid_dead_letters(published.append)
    assert report == ReplayReport(["event-2", "event-3"])
    assert [json.loads(b)["n"] for b in published] == [1, 2, 3] and queue.completed == [1, 2, 3]


def test_a_replay_without_the_subscription_setting_names_it() -> None:
    operator = ServiceBusOperator(Settings(), client_factory=dead_letters)
    with pytest.raises(ConfigurationError, match="AMLEXEC_EVENTGRID_SUBSCRIPTION"):
        operator.replay_eventgrid_dead_letters(lambda body: None)


def test_the_replay_command_needs_the_topic_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eventgrid", "replay"]) == 1  # EXIT_CONFIG
    assert "AMLEXEC_EVENTGRID_TOPIC_ENDPOINT" in capsys.readouterr().err


def test_send_uses_the_apps_service_bus_connection_string_when_no_flag_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "seed.json"
    payload.write_text(json.dumps(SEED_ACTIVITY))
    with AmqpTestBroker() as broker:
        monkeypatch.setenv("ServiceBusConnection", broker.connection_string)
        monkeypatch.delenv("ServiceBusConnection__fullyQualifiedNamespace", raising=False)
        assert run_with_deadline(lambda: main(["send", str(payload), "--message-id", "req-8"]), 20) == 0
        (message,) = broker.messages("amlexec-requests")
    assert capsys.readouterr().out == "sent req-8\n"
    assert message.message_id == "req-8"
