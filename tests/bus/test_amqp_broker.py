"""The real azure-servicebus sender publishing to the loopback AMQP test broker (fakes.amqp_broker).

These prove the broker is a faithful enough Service Bus for the SDK's sender — single messages, batches,
scheduled messages and their cancellation, to queues and topics, with every property arriving intact — so
other tests can rely on it. Each SDK call runs under a hard deadline: an SDK waiting on a broker that never
answers would otherwise hang the suite (it did against RabbitMQ's AMQP 1.0 plugin, which has no $cbs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSender
from azure.servicebus.exceptions import ServiceBusAuthenticationError, ServiceBusError
from fakes.amqp_broker import CBS_NODE, AmqpTestBroker, run_with_deadline

# Hard limit per SDK session, enforced by run_with_deadline; a healthy one takes about a second.
HARD_TIMEOUT = 8.0
# The SDK's own limit per operation, shorter than the hard one so the SDK's error is what a test reports.
OPERATION_TIMEOUT = 4.0

PROPERTIES: dict[str | bytes, Any] = {"pipeline": "nightly-train", "attempt": 3, "dry_run": False, "forced": True}


@pytest.fixture
def broker() -> Iterator[AmqpTestBroker]:
    with AmqpTestBroker() as running:
        yield running


def client_for(broker: AmqpTestBroker) -> ServiceBusClient:
    # retry_total=0: a failure must surface at once instead of being retried with back-off.
    return ServiceBusClient.from_connection_string(broker.connection_string, retry_total=0)


def open_sender(client: ServiceBusClient, kind: str, entity: str) -> ServiceBusSender:
    return client.get_queue_sender(entity) if kind == "queue" else client.get_topic_sender(entity)


def with_sender(broker: AmqpTestBroker, kind: str, entity: str, action: Callable[[ServiceBusSender], Any]) -> Any:
    """Open a client and sender, run ``action``, close both — all under the hard deadline."""

    def session() -> Any:
        with client_for(broker) as client, open_sender(client, kind, entity) as sender:
            return action(sender)

    return run_with_deadline(session, HARD_TIMEOUT)


def rich_message(number: int) -> ServiceBusMessage:
    return ServiceBusMessage(
        f'{{"run": {number}}}',
        message_id=f"msg-{number}",
        correlation_id=f"corr-{number}",
        subject="aml.pipeline.requested",
        content_type="application/json",
        application_properties={**PROPERTIES, "number": number},
    )


def assert_intact(received: Any, number: int) -> None:
    assert received.text == f'{{"run": {number}}}'
    assert received.message_id == f"msg-{number}"
    assert received.correlation_id == f"corr-{number}"
    assert received.subject == "aml.pipeline.requested"
    assert received.content_type == "application/json"
    assert received.application_properties == {**PROPERTIES, "number": number}
    # bool must stay bool (not 0/1), and int stay int.
    assert [type(received.application_properties[k]) for k in ("attempt", "dry_run", "forced")] == [int, bool, bool]


ENTITIES = pytest.mark.parametrize(("kind", "entity"), [("queue", "aml-requests"), ("topic", "aml-events")])


@ENTITIES
def test_single_message_batch_and_list_arrive_intact(broker: AmqpTestBroker, kind: str, entity: str) -> None:
    # One sender session for all three shapes: each SDK session costs about a second of its own polling.
    def send(sender: ServiceBusSender) -> None:
        sender.send_messages(rich_message(1), timeout=OPERATION_TIMEOUT)
        batch = sender.create_message_batch()
        for number in (2, 3, 4):
            batch.add_message(rich_message(number))
        sender.send_messages(batch, timeout=OPERATION_TIMEOUT)
        sender.send_messages([rich_message(5), rich_message(6)], timeout=OPERATION_TIMEOUT)  # sent as a batch

    with_sender(broker, kind, entity, send)

    received = broker.messages(entity)
    assert [m.message_id for m in received] == [f"msg-{n}" for n in range(1, 7)]
    for number, message in enumerate(received, start=1):
        assert_intact(message, number)
        assert message.entity == entity
        assert message.in_batch == (number > 1)
        assert message.scheduled_enqueue_time is None
    assert len({m.sequence_number for m in received}) == 6
    assert broker.entities() == {entity}
    # The SDK authenticated for this entity before sending, with the token the broker accepted.
    [put_token] = broker.requests(CBS_NODE)
    assert put_token.operation == "put-token"
    assert put_token.status_code == 200
    assert put_token.application_properties["name"] == f"{broker.endpoint}{entity}"


@ENTITIES
def test_scheduled_messages_are_recorded_and_can_be_cancelled(broker: AmqpTestBroker, kind: str, entity: str) -> None:
    # Whole milliseconds: the wire format (an AMQP timestamp) carries no finer resolution.
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)

    def schedule(sender: ServiceBusSender) -> tuple[list[int], list[int]]:
        single = sender.schedule_messages(rich_message(1), when, timeout=OPERATION_TIMEOUT)
        several = sender.schedule_messages([rich_message(2), rich_message(3)], when, timeout=OPERATION_TIMEOUT)
        sender.cancel_scheduled_messages(several[0], timeout=OPERATION_TIMEOUT)
        return single, several

    single, several = with_sender(broker, kind, entity, schedule)

    assert len(single) == 1
    assert len(several) == 2
    assert all(isinstance(n, int) for n in single + several)
    assert broker.cancelled(entity) == [several[0]]
    remaining = broker.scheduled(entity)
    assert [m.sequence_number for m in remaining] == [single[0], several[1]]
    for number, message in zip((1, 3), remaining, strict=True):
        assert_intact(message, number)
        assert message.entity == entity
        assert message.scheduled_enqueue_time == when
    # Scheduled messages are not delivered now.
    assert broker.messages(entity) == []
    operations = [r.operation for r in broker.requests(f"{entity}/$management")]
    assert operations == ["com.microsoft:schedule-message"] * 2 + ["com.microsoft:cancel-scheduled-message"]


def test_refused_token_fails_fast() -> None:
    with AmqpTestBroker(accept_tokens=False) as broker:
        started = time.monotonic()
        with pytest.raises(ServiceBusAuthenticationError):
            with_sender(
                broker,
                "queue",
                "aml-requests",
                lambda sender: sender.send_messages(rich_message(1), timeout=OPERATION_TIMEOUT),
            )
        elapsed = time.monotonic() - started

        assert elapsed < OPERATION_TIMEOUT  # the refusal itself ended the call, not a timeout
        assert [r.status_code for r in broker.requests(CBS_NODE)] == [401]
        assert broker.messages("aml-requests") == []


def test_stopping_the_broker_ends_a_connected_sender() -> None:
    # Shutdown must close live connections: an SDK left talking to a dead broker would wait out its timeouts.
    with AmqpTestBroker() as broker, client_for(broker) as client:
        sender = open_sender(client, "queue", "aml-requests")
        run_with_deadline(lambda: sender.send_messages(rich_message(1), timeout=OPERATION_TIMEOUT), HARD_TIMEOUT)
        broker.stop()

        started = time.monotonic()
        with pytest.raises(ServiceBusError):
            run_with_deadline(lambda: sender.send_messages(rich_message(2), timeout=OPERATION_TIMEOUT), HARD_TIMEOUT)
        assert time.monotonic() - started < OPERATION_TIMEOUT
        run_with_deadline(sender.close, HARD_TIMEOUT)
        assert [m.message_id for m in broker.messages("aml-requests")] == ["msg-1"]


def test_run_with_deadline_abandons_a_hung_call() -> None:
    release = threading.Event()
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            run_with_deadline(lambda: release.wait(5), 0.2)
    finally:
        release.set()
    assert time.monotonic() - started < 1
