"""A tiny AMQP 1.0 broker on loopback, so tests can drive the real ``azure-servicebus`` sender with no Azure.

It speaks just enough of Service Bus for a *sender*: it accepts any link, answers the claims-based-security
``$cbs`` put-token request (the SDK will not send before that succeeds), answers the entity management
operations ``com.microsoft:schedule-message`` and ``com.microsoft:cancel-scheduled-message``, and records
every message it is given, decoded with ``python-qpid-proton``, for tests to inspect::

    with AmqpTestBroker() as broker:
        client = ServiceBusClient.from_connection_string(broker.connection_string, retry_total=0)
        ...
        [message] = broker.messages("orders")

The connection string sets ``UseDevelopmentEmulator=true``, which makes the SDK talk plain AMQP over TCP to
the given port (no TLS), authenticating with SASL ANONYMOUS followed by the ``$cbs`` token.

Any other management operation is answered 501 (not implemented), so the SDK fails instead of waiting.
The SDK can still wait a long time for answers that never come, so every test that talks to this broker must
run its SDK calls under a hard timeout: ``run_with_deadline(lambda: sender.send_messages(m), 8)``.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from proton import (
    UNDESCRIBED,
    Array,
    Condition,
    Data,
    DataException,
    Described,
    Endpoint,
    Message,
    symbol,
    timestamp,
)
from proton.handlers import IncomingMessageHandler, MessagingHandler
from proton.reactor import ApplicationEvent, Container, EventInjector

CBS_NODE = "$cbs"
MANAGEMENT_SUFFIX = "/$management"
SCHEDULE_OPERATION = "com.microsoft:schedule-message"
CANCEL_SCHEDULED_OPERATION = "com.microsoft:cancel-scheduled-message"
SCHEDULED_ENQUEUE_TIME = "x-opt-scheduled-enqueue-time"

# Descriptor codes of the sections of an AMQP 1.0 message (spec part 3.2).
_MESSAGE_SECTIONS = range(0x70, 0x79)
_ANNOTATIONS_SECTION, _PROPERTIES_SECTION, _APPLICATION_PROPERTIES_SECTION = 0x72, 0x73, 0x74
_DATA_SECTION, _SEQUENCE_SECTION, _VALUE_SECTION = 0x75, 0x76, 0x77

_POLL_SECONDS = 0.1  # longest the loop sleeps in select(); bounds how late a shutdown deadline is noticed
_CLOSE_GRACE_SECONDS = 1.0  # how long shutdown waits for close frames to be written before closing sockets

# Service Bus's standard tier limit; the SDK sizes batches from the link's max-message-size.
MAX_MESSAGE_SIZE = 256 * 1024

T = TypeVar("T")


def run_with_deadline(function: Callable[[], T], seconds: float) -> T:
    """Call ``function`` on a daemon thread; return its result, re-raise its exception, or raise TimeoutError.

    The hard guard for tests that talk to the broker: some SDK waits have no limit of their own, and
    ``signal.alarm`` only works on the main thread. A call that overruns is abandoned; stopping the broker
    then closes its connection, which ends it.
    """
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed back to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=call, name="servicebus-call", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"Service Bus call still running after {seconds}s: the SDK is waiting on the broker")
    if "error" in outcome:
        raise outcome["error"]
    return cast(T, outcome["value"])


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the broker decoded it. Properties are plain Python values (proton's subclasses removed)."""

    entity: str
    body: Any  # bytes for data sections (what ServiceBusMessage sends); the value for amqp-value/sequence bodies
    message_id: Any
    correlation_id: Any
    subject: str | None
    content_type: str | None
    application_properties: dict[str, Any]
    annotations: dict[str, Any]
    sequence_number: int
    in_batch: bool = False  # True when it arrived inside a ServiceBusMessageBatch transfer
    scheduled_enqueue_time: datetime | None = None  # set for messages given to schedule_messages

    @property
    def text(self) -> str:
        return bytes(self.body).decode("utf-8")


@dataclass(frozen=True)
class ManagementRequest:
    """A request seen on a management node ($cbs or <entity>/$management), kept so tests can assert on it."""

    node: str
    operation: str | None
    application_properties: dict[str, Any]
    status_code: int


@dataclass
class _Recorded:
    messages: dict[str, list[ReceivedMessage]] = field(default_factory=dict)
    scheduled: dict[str, list[ReceivedMessage]] = field(default_factory=dict)
    cancelled: dict[str, list[int]] = field(default_factory=dict)
    requests: list[ManagementRequest] = field(default_factory=list)


class AmqpTestBroker:
    """Context manager running the broker on 127.0.0.1 at an ephemeral port in a background thread.

    ``accept_tokens=False`` answers every put-token with 401, to prove the SDK then fails rather than hangs.
    Accessors return snapshots and may be called from any thread.
    """

    def __init__(self, *, accept_tokens: bool = True, shutdown_timeout: float = 5.0) -> None:
        self.accept_tokens = accept_tokens
        self._shutdown_timeout = shutdown_timeout
        self._lock = threading.Lock()
        self._recorded = _Recorded()
        self._next_sequence_number = 1
        self._thread: threading.Thread | None = None
        self._injector: EventInjector | None = None
        self._errors: list[BaseException] = []
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> AmqpTestBroker:
        handler = _BrokerHandler(self)
        container = Container(handler)
        # listen() binds immediately, so the port is known before the loop thread starts; port 0 asks the OS.
        handler.container = container
        handler.acceptor = container.listen("127.0.0.1:0")
        # Proton exposes no public accessor for the bound address; the selectable wraps the listening socket.
        self.port = handler.acceptor._selectable._delegate.getsockname()[1]
        # Proton containers are single-threaded: the injector is the one thread-safe way to reach the loop.
        self._injector = EventInjector()
        container.selectable(self._injector)
        self._thread = threading.Thread(
            target=self._run, args=(container, handler), name="amqp-test-broker", daemon=True
        )
        self._thread.start()
        return self

    def _run(self, container: Container, handler: _BrokerHandler) -> None:
        # The loop is driven by hand rather than container.run(), so shutdown can stop waiting for peers that
        # never answer the close (an SDK client only reads its socket while inside one of its own calls).
        try:
            container.timeout = _POLL_SECONDS
            container.start()
            while container.process():
                if handler.closing_since is not None and (
                    handler.all_closed() or time.monotonic() - handler.closing_since > _CLOSE_GRACE_SECONDS
                ):
                    break
            container.stop()
            container.process()
        except BaseException as exc:  # surfaced by stop(): a dead loop would otherwise look like a hanging SDK
            self._errors.append(exc)
        finally:
            handler.close_sockets()

    def stop(self) -> None:
        if self._thread is None or self._injector is None:
            return
        self._injector.trigger(ApplicationEvent("broker_shutdown"))
        self._thread.join(self._shutdown_timeout)
        alive = self._thread.is_alive()
        self._thread = None
        if alive:
            raise RuntimeError(f"AMQP test broker did not stop within {self._shutdown_timeout}s")
        self._injector.close()
        if self._errors:
            raise RuntimeError("AMQP test broker loop failed") from self._errors[0]

    def __enter__(self) -> AmqpTestBroker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests read ---------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"sb://127.0.0.1:{self.port}/"

    @property
    def connection_string(self) -> str:
        # The key is never checked: the broker accepts (or refuses) whatever token the SDK signs with it.
        return f"Endpoint={self.endpoint};SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true"

    def messages(self, entity: str) -> list[ReceivedMessage]:
        """Messages sent (not scheduled) to a queue or topic, in arrival order."""
        with self._lock:
            return list(self._recorded.messages.get(entity, []))

    def scheduled(self, entity: str) -> list[ReceivedMessage]:
        """Messages given to schedule_messages for an entity and not cancelled since."""
        with self._lock:
            cancelled = set(self._recorded.cancelled.get(entity, []))
            return [m for m in self._recorded.scheduled.get(entity, []) if m.sequence_number not in cancelled]

    def cancelled(self, entity: str) -> list[int]:
        """Sequence numbers passed to cancel_scheduled_messages for an entity."""
        with self._lock:
            return list(self._recorded.cancelled.get(entity, []))

    def entities(self) -> set[str]:
        with self._lock:
            return set(self._recorded.messages) | set(self._recorded.scheduled)

    def requests(self, node: str | None = None) -> list[ManagementRequest]:
        """Management requests in arrival order, optionally only those to one node ("$cbs", "q/$management")."""
        with self._lock:
            return [r for r in self._recorded.requests if node is None or r.node == node]

    # -- called on the loop thread -------------------------------------------------------------------------------

    def _sequence_number(self) -> int:
        # Caller holds the lock.
        number = self._next_sequence_number
        self._next_sequence_number += 1
        return number

    def _record_transfer(self, entity: str, raw: bytes) -> None:
        with self._lock:
            decoded = [
                _decode_message(entity, payload, self._sequence_number(), in_batch=batched)
                for payload, batched in _unbatch(raw)
            ]
            self._recorded.messages.setdefault(entity, []).extend(decoded)

    def _schedule(self, entity: str, body: Any) -> list[int]:
        numbers: list[int] = []
        with self._lock:
            for item in body["messages"]:
                message = _decode_message(entity, item["message"], self._sequence_number())
                self._recorded.scheduled.setdefault(entity, []).append(message)
                numbers.append(message.sequence_number)
        return numbers

    def _cancel(self, entity: str, body: Any) -> None:
        with self._lock:
            self._recorded.cancelled.setdefault(entity, []).extend(int(n) for n in body["sequence-numbers"])

    def _record_request(self, request: ManagementRequest) -> None:
        with self._lock:
            self._recorded.requests.append(request)


class _BrokerHandler(MessagingHandler):
    """Proton callbacks. Runs only on the broker thread."""

    def __init__(self, broker: AmqpTestBroker) -> None:
        super().__init__(prefetch=100)
        # Incoming transfers are handled by on_delivery below; proton's stock handler would consume them first.
        self.handlers = [h for h in cast(list[Any], self.handlers) if not isinstance(h, IncomingMessageHandler)]
        self.broker = broker
        self.acceptor: Any = None
        self.container: Any = None
        self.transports: list[Any] = []
        self.closing_since: float | None = None

    # Peer-initiated endpoints are opened here explicitly: proton's Container installs no handshaker by default.
    def on_connection_opening(self, event: Any) -> None:
        event.connection.open()

    def on_session_opening(self, event: Any) -> None:
        event.session.open()

    def on_link_opening(self, event: Any) -> None:
        link = event.link
        # Echo the peer's terminus: the management node pair is matched up by these addresses.
        link.source.copy(link.remote_source)
        link.target.copy(link.remote_target)
        if link.is_receiver:
            link.max_message_size = MAX_MESSAGE_SIZE
        link.open()

    # Answer the peer's detach/end/close at once; the SDK otherwise waits for the reply before giving up.
    def on_link_closing(self, event: Any) -> None:
        event.link.close()

    def on_session_closing(self, event: Any) -> None:
        event.session.close()

    def on_connection_closing(self, event: Any) -> None:
        event.connection.close()

    def on_connection_bound(self, event: Any) -> None:
        self.transports.append(event.transport)

    def on_broker_shutdown(self, event: Any) -> None:
        self.closing_since = time.monotonic()
        self.acceptor.close()
        for transport in self.transports:
            connection = transport.connection
            if connection is not None and not connection.state & Endpoint.LOCAL_CLOSED:
                # What Service Bus says when it drops a connection. The info map must be present: the SDK
                # indexes all three fields of the error and crashes on a close that omits the trailing one.
                connection.condition = Condition("amqp:connection:forced", "test broker stopped", {"by": "broker"})
                connection.close()  # sends the AMQP close, so a connected SDK fails fast instead of timing out
        if self.all_closed():
            # Nothing left to flush: stop now rather than after the loop's next select() timeout.
            self.container.stop()

    def all_closed(self) -> bool:
        """Called between loop iterations while shutting down; True once every connection is fully closed."""
        for transport in self.transports:
            # Once our close frame is written, treat the input as finished rather than wait for the peer's
            # reply, which an idle SDK client would never read. (Doing it earlier replaces our close with a
            # "connection aborted" framing error, whose error list the SDK fails to parse.)
            if not transport.closed and transport.pending() <= 0:
                transport.close_tail()
        return all(transport.closed for transport in self.transports)

    def close_sockets(self) -> None:
        # Sockets proton has not closed itself by the end of the grace period (peers that stopped reading).
        # Proton keeps each socket on the transport's (or acceptor's) selectable; it has no public accessor.
        for owner in [self.acceptor, *self.transports]:
            selectable = getattr(owner, "_selectable", None)
            delegate = getattr(selectable, "_delegate", None)
            if isinstance(delegate, socket.socket):
                delegate.close()

    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        if not delivery.link.is_receiver or delivery.partial:
            return
        if delivery.aborted:
            delivery.settle()
            return
        # Read the raw transfer rather than a proton Message: a Message keeps only one body section, and a
        # batch carries one data section per message.
        raw = bytes(delivery.link.recv(delivery.pending) or b"")
        address = delivery.link.remote_target.address or ""
        try:
            if address == CBS_NODE or address.endswith(MANAGEMENT_SUFFIX):
                self._answer(delivery.link, address, raw)
            else:
                self.broker._record_transfer(_entity_of(address), raw)
        except Exception as exc:
            # Reject rather than let the loop die (the SDK would then just wait); stop() re-raises it.
            self.broker._errors.append(exc)
            delivery.local.condition = Condition("amqp:internal-error", f"test broker: {exc!r}"[:200])
            delivery.update(delivery.REJECTED)
        else:
            # Accept only after recording, so a returned send_messages() means the test can already see it.
            delivery.update(delivery.ACCEPTED)
        delivery.settle()

    def _answer(self, request_link: Any, node: str, raw: bytes) -> None:
        request = Message()
        request.decode(raw)
        properties = _plain(request.properties or {})
        operation = properties.get("operation")
        if node == CBS_NODE:
            # $cbs answers with hyphenated status fields; entity management nodes use camelCase ones.
            status = 200 if self.broker.accept_tokens else 401
            reply = {"status-code": status, "status-description": "OK" if status == 200 else "Unauthorized"}
            body: Any = None
        else:
            entity = node.removesuffix(MANAGEMENT_SUFFIX)
            status, body = self._entity_operation(entity, operation, _plain(request.body))
            reply = {"statusCode": status, "statusDescription": "OK" if status == 200 else "Not supported"}
            if status != 200:
                reply["errorCondition"] = symbol("amqp:not-implemented")
        self.broker._record_request(ManagementRequest(node, operation, properties, status))
        response = Message(correlation_id=request.id, properties=reply, body=body)
        sender = self._reply_link(request_link, node)
        if sender is None:
            raise LookupError(f"no response link attached for {node}")
        sender.send(response)

    def _entity_operation(self, entity: str, operation: str | None, body: Any) -> tuple[int, Any]:
        if operation == SCHEDULE_OPERATION:
            numbers = self.broker._schedule(entity, body)
            # The SDK returns body["sequence-numbers"] as is, so it must be an AMQP array of longs.
            return 200, {"sequence-numbers": Array(UNDESCRIBED, Data.LONG, *numbers)}  # type: ignore[arg-type]
        if operation == CANCEL_SCHEDULED_OPERATION:
            self.broker._cancel(entity, body)
            return 200, {}
        return 501, None

    @staticmethod
    def _reply_link(request_link: Any, node: str) -> Any:
        # The SDK attaches its response receiver with source = node, on the same session as the request link.
        link = request_link.session.connection.link_head(Endpoint.LOCAL_ACTIVE)
        while link is not None:
            if link.is_sender and link.remote_source.address == node:
                return link
            link = link.next(Endpoint.LOCAL_ACTIVE)
        return None


def _entity_of(address: str) -> str:
    """The SDK targets ``amqps://host:port/<entity>``; other clients may send the bare entity name."""
    if "://" in address:
        address = address.split("://", 1)[1].partition("/")[2]
    return address.strip("/")


def _sections(raw: bytes) -> list[tuple[int, Any]]:
    """Split an encoded message into (descriptor code, value) sections; ValueError/DataException if it isn't one."""
    sections: list[tuple[int, Any]] = []
    offset = 0
    while offset < len(raw):
        data = Data()
        consumed = data.decode(raw[offset:])
        if consumed <= 0:
            raise ValueError("undecodable AMQP section")
        data.rewind()
        data.next()
        value = data.get_object()
        if not isinstance(value, Described) or value.descriptor not in _MESSAGE_SECTIONS:
            raise ValueError("not an AMQP message section")
        # Convert now: proton hands out binaries as memoryviews into the Data, which is freed with it.
        sections.append((int(cast(int, value.descriptor)), _plain(value.value)))
        offset += consumed
    return sections


def _unbatch(raw: bytes) -> list[tuple[bytes, bool]]:
    """The messages in one transfer, flagged True when they came out of a batch.

    A ServiceBusMessageBatch travels as message-format 0x80013700 whose data sections each hold a whole encoded
    message. Proton's Python API does not expose the message format, so a transfer counts as a batch when every
    one of its data sections decodes, completely, as an AMQP message that has a body.
    """
    payloads = [value for code, value in _sections(raw) if code == _DATA_SECTION]
    if not payloads:
        return [(raw, False)]
    try:
        inner = [_sections(payload) for payload in payloads]
    except (ValueError, DataException):  # a plain binary body: the ordinary case
        return [(raw, False)]
    has_body = all(any(code in (_DATA_SECTION, _SEQUENCE_SECTION, _VALUE_SECTION) for code, _ in s) for s in inner)
    return [(payload, True) for payload in payloads] if has_body else [(raw, False)]


def _decode_message(entity: str, raw: bytes, sequence_number: int, *, in_batch: bool = False) -> ReceivedMessage:
    # Decoded from the sections directly, not via proton's Message: that keeps one body section only and
    # reports absent symbols such as content-type as the string "None".
    sections = _sections(raw)
    by_code = dict(sections)
    properties = list(by_code.get(_PROPERTIES_SECTION) or [])
    properties += [None] * (7 - len(properties))
    annotations = by_code.get(_ANNOTATIONS_SECTION) or {}
    scheduled = annotations.get(SCHEDULED_ENQUEUE_TIME)
    data = [value for code, value in sections if code == _DATA_SECTION]
    if data:
        body: Any = b"".join(data)
    else:
        body = next((value for code, value in sections if code in (_SEQUENCE_SECTION, _VALUE_SECTION)), None)
    return ReceivedMessage(
        entity=entity,
        body=body,
        message_id=properties[0],
        correlation_id=properties[5],
        subject=properties[3],
        content_type=properties[6],
        application_properties=by_code.get(_APPLICATION_PROPERTIES_SECTION) or {},
        annotations=annotations,
        sequence_number=sequence_number,
        in_batch=in_batch,
        scheduled_enqueue_time=scheduled if isinstance(scheduled, datetime) else None,
    )


def _plain(value: Any) -> Any:
    """Strip proton's AMQP type wrappers (symbol, ulong, int32, timestamp, ...) so tests compare plain values."""
    if isinstance(value, timestamp):  # before int: proton's timestamp is milliseconds since the epoch
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    if isinstance(value, bool | uuid.UUID | None):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Array):
        return [_plain(v) for v in value.elements]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
