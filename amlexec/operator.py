"""Operator tools for Service Bus: send a request, inspect and resubmit rejected requests, replay the Event Grid
forwarder's dead letters.

A rejected request's original body waits on the rejected queue with the reasons in its application
properties (``amlexec.reason``, ``amlexec.issues``, ``amlexec.originalMessageId``). ``list_rejected`` peeks
without removing anything; ``resubmit`` moves one back to the request queue under a NEW message id (the
old id's terminal event — the rejection — already went out, and the events topic would drop a second
terminal event with the same id), recording where it came from in ``amlexec.resubmittedFrom``.

``replay_eventgrid_dead_letters`` publishes what the Event Grid forwarder dead-lettered (Event Grid down for
long, a missing role) straight to the Event Grid topic, with the event's own id: resending it to the events
topic would not work, because the topic's duplicate detection drops a second message with the same id, and
would reach every other subscriber again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amlexec.errors import ConfigurationError, PermanentError
from amlexec.settings import Settings

__all__ = ["RejectedMessage", "ReplayReport", "ServiceBusOperator"]


@dataclass(frozen=True)
class RejectedMessage:
    """One request waiting on the rejected queue."""

    sequence_number: int
    message_id: str
    original_message_id: str
    rejected_at: str
    reason: str
    issues: list[dict[str, Any]]
    body: bytes


@dataclass(frozen=True)
class ReplayReport:
    """What a replay of dead-lettered events did: published (and removed) message ids, and the first failure."""

    published: list[str]
    failed: str | None = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value) if value is not None else ""


def _rejected(message: Any) -> RejectedMessage:
    props = {_text(k): v for k, v in (message.application_properties or {}).items()}
    try:
        issues = json.loads(_text(props.get("amlexec.issues")) or "[]")
    except json.JSONDecodeError:
        issues = []
    return RejectedMessage(
        int(message.sequence_number or 0),
        _text(message.message_id),
        _text(props.get("amlexec.originalMessageId")),
        _text(props.get("amlexec.rejectedAt")),
        _text(props.get("amlexec.reason")),
        issues if isinstance(issues, list) else [],
        b"".join(message.body) if not isinstance(message.body, bytes) else message.body,
    )


class ServiceBusOperator:
    """Talks to the app's Service Bus namespace with the operator's own identity (or a connection string)."""

    def __init__(
        self,
        settings: Settings,
        *,
        connection_string: str | None = None,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._settings = settings
        self._connection_string = connection_string
        self._factory = client_factory

    def _client(self) -> Any:
        if self._factory is not None:
            return self._factory()
        from azure.servicebus import ServiceBusClient

        connection_string = self._connection_string or self._settings.service_bus_connection_string
        if connection_string:
            return ServiceBusClient.from_connection_string(connection_string)
        if not self._settings.service_bus_namespace:
            raise ConfigurationError("set ServiceBusConnection__fullyQualifiedNamespace (or pass a connection string)")
        from azure.identity import DefaultAzureCredential

        return ServiceBusClient(self._settings.service_bus_namespace, DefaultAzureCredential())

    def send(
        self, body: bytes, *, message_id: str | None = None, correlation_id: str | None = None, queue: str | None = None
    ) -> str:
        """Put a request on the request queue; returns its message id (the request identity)."""
        from azure.servicebus import ServiceBusMessage

        message_id = message_id or str(uuid.uuid4())
        with self._client() as client, client.get_queue_sender(queue or self._settings.request_queue) as sender:
            sender.send_messages(
                ServiceBusMessage(
                    body, message_id=message_id, correlation_id=correlation_id, content_type="application/json"
                )
            )
        return message_id

    def list_rejected(self, *, max_count: int = 50) -> list[RejectedMessage]:
        """Peek at rejected requests without taking them off the queue."""
        with self._client() as client, client.get_queue_receiver(self._settings.rejected_queue) as receiver:
            return [_rejected(m) for m in receiver.peek_messages(max_message_count=max_count)]

    def resubmit(self, sequence_number: int, *, body: bytes | None = None, max_scan: int = 100) -> str:
        """Move one rejected request (optionally corrected) back to the request queue; returns its new id."""
        from azure.servicebus import ServiceBusMessage

        with self._client() as client, client.get_queue_receiver(self._settings.rejected_queue) as receiver:
            scanned = 0
            while scanned < max_scan:
                batch = receiver.receive_messages(max_message_count=10, max_wait_time=5)
                if not batch:
                    break
                for message in batch:
                    scanned += 1
                    if int(message.sequence_number or 0) != sequence_number:
                        receiver.abandon_message(message)
                        continue
                    rejected = _rejected(message)
                    new_id = str(uuid.uuid4())
                    with client.get_queue_sender(self._settings.request_queue) as sender:
                        sender.send_messages(
                            ServiceBusMessage(
                                body if body is not None else rejected.body,
                                message_id=new_id,
                                correlation_id=_text(message.correlation_id) or None,
                                content_type="application/json",
                                application_properties={"amlexec.resubmittedFrom": rejected.original_message_id},
                            )
                        )
                    receiver.complete_message(message)
                    for other in batch[batch.index(message) + 1 :]:
                        receiver.abandon_message(other)
                    return new_id
        raise PermanentError(
            f"no rejected request with sequence number {sequence_number} (scanned {scanned} message(s))"
        )

    def replay_eventgrid_dead_letters(self, forward: Callable[[bytes], None], *, max_count: int = 100) -> ReplayReport:
        """Publish the forwarder subscription's dead letters with ``forward``, oldest first; stop at the first failure.

        A message leaves the dead-letter queue only once it is published; the one that fails, and every one after
        it, stays there for the next replay (Event Grid subscribers dedupe on the event id, so a repeat is safe).
        """
        from azure.servicebus import ServiceBusSubQueue

        subscription = self._settings.eventgrid_subscription
        if not subscription:
            raise ConfigurationError("set AMLEXEC_EVENTGRID_SUBSCRIPTION (the Event Grid forwarder's subscription)")
        published: list[str] = []
        with (
            self._client() as client,
            client.get_subscription_receiver(
                self._settings.events_topic, subscription, sub_queue=ServiceBusSubQueue.DEAD_LETTER
            ) as receiver,
        ):
            while len(published) < max_count:
                batch = receiver.receive_messages(
                    max_message_count=min(10, max_count - len(published)), max_wait_time=5
                )
                if not batch:
                    break
                for index, message in enumerate(batch):
                    body = b"".join(message.body) if not isinstance(message.body, bytes) else message.body
                    try:
                        forward(body)
                    except Exception as exc:
                        for left in batch[index:]:
                            receiver.abandon_message(left)
                        return ReplayReport(published, f"{_text(message.message_id)}: {exc}")
                    receiver.complete_message(message)
                    published.append(_text(message.message_id))
        return ReplayReport(published)
