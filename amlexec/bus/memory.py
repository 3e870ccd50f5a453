"""An in-process bus with the Service Bus semantics amlexec relies on, for local runs and tests.

Scheduled messages become visible at their enqueue time (by the injected clock); every entity drops a
message whose id it has already seen within its duplicate-detection window, as amlexec's Service Bus
queues and topic are configured to do.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from datetime import datetime, timedelta

from amlexec.bus.base import Destination, OutgoingMessage
from amlexec.clock import Clock

__all__ = ["MemoryBus"]


class MemoryBus:
    """Queues and a topic in memory; ``due`` hands out messages whose time has come."""

    def __init__(self, clock: Clock, *, duplicate_window: timedelta = timedelta(minutes=10)) -> None:
        self._clock = clock
        self._window = duplicate_window
        self._lock = threading.Lock()
        self._order = itertools.count()
        self._pending: dict[Destination, list[tuple[datetime, int, OutgoingMessage]]] = {d: [] for d in Destination}
        self._seen: dict[Destination, dict[str, datetime]] = {d: {} for d in Destination}
        self.published: list[OutgoingMessage] = []
        self.sent: dict[Destination, list[OutgoingMessage]] = {d: [] for d in Destination}
        self.dropped_duplicates: list[OutgoingMessage] = []

    def send(self, destination: Destination, messages: list[OutgoingMessage]) -> None:
        now = self._clock.now()
        with self._lock:
            for message in messages:
                self.sent[destination].append(message)
                first_seen = self._seen[destination].get(message.message_id)
                if first_seen is not None and now - first_seen < self._window:
                    self.dropped_duplicates.append(message)
                    continue
                self._seen[destination][message.message_id] = now
                if destination is Destination.EVENTS:
                    self.published.append(message)
                    continue
                due = message.scheduled_enqueue_time or now
                heapq.heappush(self._pending[destination], (due, next(self._order), message))

    def due(self, destination: Destination) -> list[OutgoingMessage]:
        """Remove and return the messages of ``destination`` whose enqueue time has come."""
        now = self._clock.now()
        out: list[OutgoingMessage] = []
        with self._lock:
            queue = self._pending[destination]
            while queue and queue[0][0] <= now:
                out.append(heapq.heappop(queue)[2])
        return out

    def next_due(self, destination: Destination) -> datetime | None:
        with self._lock:
            queue = self._pending[destination]
            return queue[0][0] if queue else None

    def pending(self, destination: Destination) -> int:
        with self._lock:
            return len(self._pending[destination])

    def close(self) -> None:
        return None
