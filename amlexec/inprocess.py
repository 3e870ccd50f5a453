"""Run the Function App's flow in one process: the in-memory bus delivers what Service Bus would.

The same handlers the triggers call, with the same error rule (``amlexec.errors.outcome_of``: a failure a
retry cannot cure is settled with its reasons; anything else is delivered again after a pause, as Service
Bus redelivers), driven by a loop that hands each due message over. Used by ``make demo`` and
``amlexec run``; nothing here is used when the app runs in Azure.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from amlexec.bus.base import Destination, OutgoingMessage
from amlexec.bus.memory import MemoryBus
from amlexec.errors import Outcome, outcome_of
from amlexec.handlers import Worker, handle_status_message, process_request
from amlexec.request import RequestContext

__all__ = ["InProcessHost"]

logger = logging.getLogger(__name__)


# As Service Bus does: a failed delivery comes back after the lock expires, up to the max delivery count.
REDELIVERY_DELAY = timedelta(seconds=5)
MAX_DELIVERIES = 10


@dataclass
class _Redelivery:
    due: datetime
    destination: Destination
    message: OutgoingMessage
    deliveries: int


@dataclass
class InProcessHost:
    """A worker whose bus is in memory, plus the loop that delivers its messages."""

    worker: Worker
    on_event: Callable[[dict[str, Any]], None] | None = None
    # Progress for a person waiting: what each status check saw ("run Running"), and a call about once a second
    # while nothing is due (to redraw an elapsed time).
    on_status: Callable[[str], None] | None = None
    on_wait: Callable[[], None] | None = None
    max_deliveries: int = MAX_DELIVERIES
    dead_letters: list[OutgoingMessage] = field(default_factory=list)
    last_error: BaseException | None = None
    _retries: list[_Redelivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.worker.bus, MemoryBus):
            raise TypeError("InProcessHost needs a worker with a MemoryBus")
        self.bus: MemoryBus = self.worker.bus
        self._seen_events = 0

    def send(self, body: bytes, *, message_id: str | None = None, correlation_id: str | None = None) -> str:
        """Put a request on the request queue, as ``amlexec send`` does for Service Bus."""
        message_id = message_id or f"local-{uuid.uuid4()}"
        self.bus.send(
            Destination.REQUESTS, [OutgoingMessage(body=body, message_id=message_id, correlation_id=correlation_id)]
        )
        return message_id

    def _deliver_request(self, message: OutgoingMessage) -> None:
        context = RequestContext(
            request_id=message.message_id,
            received_at=self.worker.clock.now(),
            trigger_type="ServiceBus",
            trigger_name=self.worker.settings.request_queue,
            correlation_id=message.correlation_id,
            data_factory=self.worker.settings.data_factory_name,
        )
        process_request(message.body, context, self.worker)

    def _flush_events(self) -> None:
        while self._seen_events < len(self.bus.published):
            event = json.loads(self.bus.published[self._seen_events].body)
            self._seen_events += 1
            if self.on_event is not None:
                self.on_event(event)

    def _deliver(self, destination: Destination, message: OutgoingMessage, deliveries: int = 1) -> None:
        try:
            if destination is Destination.REQUESTS:
                self._deliver_request(message)
            else:
                decision = handle_status_message(message.body, self.worker)
                if decision is not None and decision.reason and self.on_status is not None:
                    self.on_status(decision.reason)
        except Exception as error:
            if outcome_of(error) is not Outcome.RETRY:
                raise  # the handlers settle every permanent failure themselves; this is a bug
            self.last_error = error
            if deliveries >= self.max_deliveries:
                logger.error("message %s failed %d times; dead-lettered: %s", message.message_id, deliveries, error)
                self.dead_letters.append(message)
                return
            logger.warning(
                "message %s failed (delivery %d), delivering again in %s: %s",
                message.message_id,
                deliveries,
                REDELIVERY_DELAY,
                error,
            )
            self._retries.append(
                _Redelivery(self.worker.clock.now() + REDELIVERY_DELAY, destination, message, deliveries + 1)
            )

    def run_until_idle(self, *, max_wait: timedelta | None = None) -> list[dict[str, Any]]:
        """Deliver messages until none is left (or ``max_wait`` passes); return the events published."""
        clock = self.worker.clock
        deadline = clock.now() + max_wait if max_wait is not None else None
        while True:
            for message in self.bus.due(Destination.REQUESTS):
                self._deliver(Destination.REQUESTS, message)
            for message in self.bus.due(Destination.STATUS):
                self._deliver(Destination.STATUS, message)
            now = clock.now()
            for retry in [r for r in self._retries if r.due <= now]:
                self._retries.remove(retry)
                self._deliver(retry.destination, retry.message, retry.deliveries)
            self._flush_events()
            upcoming = [
                t
                for t in (self.bus.next_due(Destination.REQUESTS), self.bus.next_due(Destination.STATUS))
                if t is not None
            ] + [r.due for r in self._retries]
            if not upcoming:
                return [json.loads(m.body) for m in self.bus.published]
            wait = (min(upcoming) - clock.now()).total_seconds()
            if deadline is not None and clock.now() + timedelta(seconds=max(wait, 0)) > deadline:
                logger.warning("stopped waiting: messages are still scheduled")
                return [json.loads(m.body) for m in self.bus.published]
            self._wait(max(0.0, wait))

    def _wait(self, seconds: float) -> None:
        if self.on_wait is None:
            self.worker.clock.sleep(seconds)
            return
        while seconds > 0:  # a second at a time, so a live line can show the time passing
            step = min(1.0, seconds)
            self.worker.clock.sleep(step)
            seconds -= step
            self.on_wait()
