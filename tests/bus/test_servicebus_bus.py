"""amlexec's Service Bus adapter with the real azure-servicebus sender, over loopback to an AMQP test broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fakes.amqp_broker import AmqpTestBroker, run_with_deadline

from amlexec.bus.base import Destination, OutgoingMessage
from amlexec.bus.servicebus import ServiceBusBus
from amlexec.errors import TransientError
from amlexec.events import CloudEvent, event_message

ENTITIES = {
    Destination.EVENTS: "amlexec-events",
    Destination.STATUS: "amlexec-status",
    Destination.REQUESTS: "amlexec-requests",
    Destination.REJECTED: "amlexec-rejected",
}


@pytest.fixture
def broker() -> Iterator[AmqpTestBroker]:
    with AmqpTestBroker() as running:
        yield running


def bus_for(broker: AmqpTestBroker) -> ServiceBusBus:
    # retry_total=0 and short operation timeouts: a broken broker must fail the test, not hang it.
    return ServiceBusBus(ENTITIES, connection_string=broker.connection_string, retry_total=0)


def test_events_and_scheduled_checks_reach_service_bus_intact(broker: AmqpTestBroker) -> None:
    event = CloudEvent(
        id="7d8a1f8e-0000-5000-8000-000000000001",
        source="urn:amlexec:test",
        type="com.amlexec.run.completed",
        subject="amlexec_score_abc_1",
        time=datetime(2026, 11, 21, 2, 7, tzinfo=UTC),
        correlationid="corr-1",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        data={
            "status": "completed",
            "runId": "amlexec_score_abc_1",
            "attempt": 1,
            "activityName": "Score",
            "experimentName": "scoring",
            "target": {"kind": "pipeline_component"},
        },
    )
    check_due = datetime(2026, 11, 21, 2, 0, 15, tzinfo=UTC)
    check = OutgoingMessage(
        body=b'{"action": "check"}',
        message_id="check|msg-1|Score|1|run|0",
        correlation_id="corr-1",
        subject="amlexec.check",
        application_properties={"attempt": 1, "check": 0},
        scheduled_enqueue_time=check_due,
    )
    bus = bus_for(broker)

    def session() -> None:
        try:
            bus.send(Destination.EVENTS, [event_message(event)])
            bus.send(Destination.STATUS, [check])
        finally:
            bus.close()

    run_with_deadline(session, 20)
    (received,) = broker.messages("amlexec-events")
    assert received.message_id == event.id
    assert received.correlation_id == "corr-1"
    assert received.subject == "com.amlexec.run.completed"
    assert received.content_type == "application/cloudevents+json"
    assert received.application_properties["status"] == "completed"
    assert received.application_properties["attempt"] == 1
    assert received.application_properties["targetKind"] == "pipeline_component"
    assert received.application_properties["traceparent"] == event.traceparent
    assert json.loads(received.body)["data"]["runId"] == "amlexec_score_abc_1"
    (scheduled,) = broker.scheduled("amlexec-status")
    assert scheduled.message_id == "check|msg-1|Score|1|run|0"
    assert scheduled.scheduled_enqueue_time is not None
    assert abs(scheduled.scheduled_enqueue_time - check_due) < timedelta(seconds=1)
    assert broker.messages("amlexec-status") == [], "a scheduled check is not delivered before its time"


def test_a_refused_connection_is_a_transient_error_not_a_hang() -> None:
    with AmqpTestBroker(accept_tokens=False) as refusing:
        bus = bus_for(refusing)

        def session() -> None:
            try:
                bus.send(Destination.EVENTS, [OutgoingMessage(body=b"{}", message_id="m-1")])
            finally:
                bus.close()

        with pytest.raises(TransientError, match="could not take 1 message"):
            run_with_deadline(session, 20)
