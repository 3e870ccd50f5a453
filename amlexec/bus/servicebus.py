"""Azure Service Bus through azure-servicebus: pooled senders, identity-based by default, with retries.

Identity-based (a namespace and an Entra credential) is how the app runs in Azure. A connection string is the
other way in: the local Service Bus emulator's (``UseDevelopmentEmulator=true``: plain AMQP, no TLS; needs
azure-servicebus 7.14.0 or later), or a SAS key. It is a secret: nothing here logs it or puts it in an error.

Messages keep their deterministic ``message_id``, so the events topic's duplicate detection drops a repeat
publish (a redelivered status check, the Event Grid and polling paths both seeing a run end). Scheduled
status checks use Service Bus scheduled messages.

The Functions worker runs sync invocations on a thread pool, and azure-servicebus documents
``ServiceBusClient`` and ``ServiceBusSender`` as not thread-safe (its README, "Thread safety"; its
troubleshooting guide recommends a client per thread or a pool of clients). One sender shared by concurrent
invocations lost messages: its handler was torn down under another thread's send. So no SDK object here is
ever used by two threads at once. Each destination keeps a small pool of links — a client with its one
sender, i.e. one AMQP connection. A send checks a link out, uses it with no lock held (sends to one
destination run in parallel, up to ``max_senders``), and checks it back in; a link whose send failed is
closed and replaced rather than trusted again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from amlexec.bus.base import Destination, OutgoingMessage
from amlexec.errors import ConfigurationError, TransientError

__all__ = ["ServiceBusBus"]

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class _Pool:
    """The links of one destination. Guarded by ServiceBusBus._condition."""

    idle: list[_Link] = field(default_factory=list)
    live: int = 0  # links created and not yet closed: idle ones plus checked-out ones


@dataclass(eq=False)
class _Link:
    """A client and its only sender, used by one thread at a time."""

    client: Any
    sender: Any
    destination: Destination
    pool: _Pool  # the pool it came from; a pool replaced by close() takes no links back


class ServiceBusBus:
    """Sends to the entities named in ``entities`` (destination -> queue or topic name). Thread-safe.

    Reaches ``fully_qualified_namespace`` with ``credential`` (one DefaultAzureCredential when None), or else
    the namespace of ``connection_string``; exactly one of the two is given.

    ``max_senders`` bounds the connections per destination, and so the sends to it in flight; a send that
    finds them all busy waits up to ``checkout_timeout`` seconds, then raises TransientError. ``close()``
    closes every link; a send after it opens new ones.
    """

    def __init__(
        self,
        entities: Mapping[Destination, str],
        *,
        fully_qualified_namespace: str | None = None,
        connection_string: str | None = None,
        credential: Any = None,
        retry_total: int = 3,
        client_kwargs: Mapping[str, Any] | None = None,
        max_senders: int = 8,
        checkout_timeout: float = 30.0,
        close_timeout: float = 10.0,
    ) -> None:
        if not fully_qualified_namespace and not connection_string:
            raise ConfigurationError(
                "Service Bus needs ServiceBusConnection__fullyQualifiedNamespace "
                "(identity-based) or ServiceBusConnection (a connection string)"
            )
        if fully_qualified_namespace and connection_string:
            raise ValueError("give ServiceBusBus a namespace or a connection string, not both")
        if max_senders < 1:
            raise ValueError("max_senders must be at least 1")
        self._entities = dict(entities)
        self._namespace = fully_qualified_namespace
        self._connection_string = connection_string
        self._credential = credential
        self._options: dict[str, Any] = {
            "retry_total": retry_total,
            "retry_backoff_factor": 0.8,
            "retry_backoff_max": 30,
            **(client_kwargs or {}),
        }
        self._max_senders = max_senders
        self._checkout_timeout = checkout_timeout
        self._close_timeout = close_timeout
        self._pools: dict[Destination, _Pool] = {}
        # One condition for all pools: it is held only to move links between lists, never across network I/O.
        self._condition = threading.Condition()

    def send(self, destination: Destination, messages: list[OutgoingMessage]) -> None:
        if not messages:
            return
        from azure.servicebus import ServiceBusMessage
        from azure.servicebus.exceptions import ServiceBusError

        name = self._entities.get(destination)
        if not name:
            raise ConfigurationError(f"no Service Bus entity is configured for {destination.value}")
        now_messages: list[Any] = []
        scheduled: list[tuple[Any, OutgoingMessage]] = []
        for message in messages:
            # Widen the key type to what the SDK declares (str | bytes); a plain dict() keeps str keys for mypy.
            properties: dict[str | bytes, Any] = {k: v for k, v in message.application_properties.items()}  # noqa: C416
            sb = ServiceBusMessage(
                message.body,
                message_id=message.message_id,
                content_type=message.content_type,
                correlation_id=message.correlation_id,
                subject=message.subject,
                application_properties=properties,
            )
            if message.scheduled_enqueue_time:
                scheduled.append((sb, message))
            else:
                now_messages.append(sb)
        link = self._checkout(destination, name)
        healthy = False
        try:
            if now_messages:
                link.sender.send_messages(now_messages)
            for sb, message in scheduled:
                link.sender.schedule_messages(sb, message.scheduled_enqueue_time)
            healthy = True
        except ServiceBusError as exc:
            raise TransientError(
                f"Service Bus could not take {len(messages)} message(s) for {destination.value}: {exc}"
            ) from exc
        finally:
            self._checkin(link, healthy=healthy)

    def close(self) -> None:
        """Close every link: idle ones now, checked-out ones as their sends return (waiting up to close_timeout).

        A link in use is never closed from here: closing it under the sending thread is the very concurrent use
        the SDK forbids. Its sender closes it on check-in, because its pool is no longer the current one.
        """
        with self._condition:
            retired = list(self._pools.values())
            self._pools = {}
            idle = [link for pool in retired for link in pool.idle]
            for pool in retired:
                pool.live -= len(pool.idle)
                pool.idle.clear()
            self._condition.notify_all()  # sends waiting on a retired pool look again, at the new one
        deadline = time.monotonic() + self._close_timeout
        # In parallel, one thread per link (each link still used by one thread only): the SDK takes about half a
        # second to close a connection, and a worker shutting down has dozens at most but little time.
        closers = [
            threading.Thread(target=self._close_link, args=(link,), name="servicebus-close", daemon=True)
            for link in idle
        ]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join(max(0.0, deadline - time.monotonic()))
        with self._condition:
            while (busy := sum(pool.live for pool in retired)) and (remaining := deadline - time.monotonic()) > 0:
                self._condition.wait(remaining)
        if busy:
            logger.warning(
                "Service Bus: %d sender(s) still sending after %.0fs; each closes when its send returns",
                busy,
                self._close_timeout,
            )
        if stuck := sum(closer.is_alive() for closer in closers):
            logger.warning("Service Bus: %d idle sender(s) still closing after %.0fs", stuck, self._close_timeout)

    # -- the pool ---------------------------------------------------------------------------------------------

    def _checkout(self, destination: Destination, name: str) -> _Link:
        deadline = time.monotonic() + self._checkout_timeout
        with self._condition:
            while True:
                # Looked up on every pass: close() may have replaced the pool while this thread waited.
                pool = self._pools.setdefault(destination, _Pool())
                if pool.idle:
                    return pool.idle.pop()  # the most recently used link: its connection is the likeliest alive
                if pool.live < self._max_senders:
                    pool.live += 1  # reserve the slot; the link is built outside the lock
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TransientError(
                        f"Service Bus: all {self._max_senders} senders for {destination.value} "
                        f"stayed busy for {self._checkout_timeout:.0f}s"
                    )
                self._condition.wait(remaining)
        try:
            return self._open_link(destination, name, pool)
        except BaseException:
            with self._condition:
                pool.live -= 1
                self._condition.notify_all()
            raise

    def _checkin(self, link: _Link, *, healthy: bool) -> None:
        with self._condition:
            if healthy and link.pool is self._pools.get(link.destination):
                link.pool.idle.append(link)
                # All: the condition is shared by every destination, so one notify could wake the wrong waiter.
                self._condition.notify_all()
                return
        # Broken (its connection or link may be half torn down), or retired by close(): close it, on this
        # thread, the only one using it.
        self._close_link(link)
        with self._condition:
            link.pool.live -= 1
            self._condition.notify_all()

    def _open_link(self, destination: Destination, name: str, pool: _Pool) -> _Link:
        # Building a client and sender does no network I/O; the connection opens on the first send.
        from azure.servicebus import ServiceBusClient

        if self._connection_string:
            try:
                client = ServiceBusClient.from_connection_string(self._connection_string, **self._options)
            except ValueError as exc:
                # The SDK's parse errors name the part at fault, never a value; the string itself stays out.
                raise ConfigurationError(f"ServiceBusConnection is not a usable connection string: {exc}") from None
        else:
            client = ServiceBusClient(str(self._namespace), self._shared_credential(), **self._options)
        # The events destination is a topic; the others are queues.
        sender = client.get_topic_sender(name) if destination is Destination.EVENTS else client.get_queue_sender(name)
        return _Link(client, sender, destination, pool)

    def _shared_credential(self) -> Any:
        # One credential for every link: azure-identity's in-memory token cache may be used by several threads
        # at once (its TOKEN_CACHING.md), and a credential per link would fetch a token per connection.
        with self._condition:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
            return self._credential

    @staticmethod
    def _close_link(link: _Link) -> None:
        # ServiceBusClient.close() closes the senders it spawned, then the client. Errors are logged, not
        # raised: a broken link may not close cleanly, and close() must go on to close the rest.
        try:
            link.client.close()
        except Exception:
            logger.warning("Service Bus: closing a sender failed", exc_info=True)
