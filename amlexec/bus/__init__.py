"""Message buses: the ``Bus`` interface, Azure Service Bus, and an in-process bus for local runs and tests."""

from amlexec.bus.base import Bus, Destination, OutgoingMessage

__all__ = ["Bus", "Destination", "OutgoingMessage"]
