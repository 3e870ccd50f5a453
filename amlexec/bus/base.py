"""What amlexec sends, and where: one message model and the small interface every bus implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

__all__ = ["Bus", "Destination", "OutgoingMessage"]


class Destination(StrEnum):
    """The entities amlexec writes to; their names come from settings."""

    EVENTS = "events"  # topic: completion and lifecycle events for downstream consumers
    STATUS = "status"  # queue: scheduled status checks of runs in flight
    REQUESTS = "requests"  # queue: launch requests (amlexec send, resubmitted rejections)
    REJECTED = "rejected"  # queue: original bodies of rejected requests, with the reasons


@dataclass(frozen=True)
class OutgoingMessage:
    """A message as Service Bus carries it; ``message_id`` is deterministic so duplicate detection works."""

    body: bytes
    message_id: str
    content_type: str = "application/json"
    correlation_id: str | None = None
    subject: str | None = None
    application_properties: dict[str, str | int | float | bool] = field(default_factory=dict)
    scheduled_enqueue_time: datetime | None = None


class Bus(Protocol):
    """Sends messages; scheduled ones are delivered at their enqueue time."""

    def send(self, destination: Destination, messages: list[OutgoingMessage]) -> None:
        """Send (or schedule) ``messages``; raise a TransientError when the bus cannot take them now."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
