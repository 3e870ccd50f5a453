"""Azure Service Bus through azure-servicebus: one client per worker, identity-based, with retries.

Messages keep their deterministic ``message_id``, so the events topic's duplicate detection drops a repeat
publish (a redelivered status check, the Event Grid and polling paths both seeing a run end). Scheduled
status checks use Service Bus scheduled messages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from amlexec.bus.base import Destination, OutgoingMessage
from amlexec.errors import ConfigurationError, TransientError

__all__ = ["ServiceBusBus"]

logger = logging.getLogger(__name__)


class ServiceBusBus:
    """Sends to the entities named in ``entities`` (destination -> queue or topic name)."""

    def __init__(self, entities: Mapping[Destination, str], *, fully_qualified_namespace: str | None = None,
                 connection_string: str | None = None, credential: Any = None, retry_total: int = 3,
                 client_kwargs: Mapping[str, Any] | None = None) -> None:
        if not fully_qualified_namespace and not connection_string:
            raise ConfigurationError("Service Bus needs ServiceBusConnection__fullyQualifiedNamespace "
                                     "(identity-based) or a connection string")
        self._entities = dict(entities)
        self._namespace = fully_qualified_namespace
        self._connection_string = connection_string
        self._credential = credential
        self._retry_total = retry_total
        self._client_kwargs = dict(client_kwargs or {})
        self._client: Any = None
        self._senders: dict[Destination, Any] = {}
        self._lock = threading.Lock()

    def _sender(self, destination: Destination) -> Any:
        with self._lock:
            sender = self._senders.get(destination)
            if sender is not None:
                return sender
            if self._client is None:
                from azure.servicebus import ServiceBusClient

                options = {"retry_total": self._retry_total, "retry_backoff_factor": 0.8,
                           "retry_backoff_max": 30, **self._client_kwargs}
                if self._connection_string:
                    self._client = ServiceBusClient.from_connection_string(self._connection_string, **options)
                else:
                    credential = self._credential
                    if credential is None:
                        from azure.identity import DefaultAzureCredential

                        credential = DefaultAzureCredential()
                    self._client = ServiceBusClient(str(self._namespace), credential, **options)
            name = self._entities.get(destination)
            if not name:
                raise ConfigurationError(f"no Service Bus entity is configured for {destination.value}")
            # The events destination is a topic; the others are queues.
            sender = (self._client.get_topic_sender(name) if destination is Destination.EVENTS
                      else self._client.get_queue_sender(name))
            self._senders[destination] = sender
            return sender

    def send(self, destination: Destination, messages: list[OutgoingMessage]) -> None:
        if not messages:
            return
        from azure.servicebus import ServiceBusMessage
        from azure.servicebus.exceptions import ServiceBusError

        sender = self._sender(destination)
        now_messages: list[tuple[Any, OutgoingMessage]] = []
        scheduled: list[tuple[Any, OutgoingMessage]] = []
        for message in messages:
            # Widen the key type to what the SDK declares (str | bytes); a plain dict() keeps str keys for mypy.
            properties: dict[str | bytes, Any] = {k: v for k, v in message.application_properties.items()}  # noqa: C416
            sb = ServiceBusMessage(message.body, message_id=message.message_id, content_type=message.content_type,
                                   correlation_id=message.correlation_id, subject=message.subject,
                                   application_properties=properties)
            (scheduled if message.scheduled_enqueue_time else now_messages).append((sb, message))
        try:
            if now_messages:
                sender.send_messages([sb for sb, _ in now_messages])
            for sb, message in scheduled:
                sender.schedule_messages(sb, message.scheduled_enqueue_time)
        except ServiceBusError as exc:
            raise TransientError(f"Service Bus could not take {len(messages)} message(s) for "
                                 f"{destination.value}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            for sender in self._senders.values():
                sender.close()
            self._senders.clear()
            if self._client is not None:
                self._client.close()
                self._client = None
