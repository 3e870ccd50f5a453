"""ServiceBusBus shared by many threads, as the Functions worker's thread pool shares it.

azure-servicebus's clients and senders are not thread-safe; one sender shared by concurrent sends lost
every message (8 threads × 50 sends: 0 of 400 arrived). These tests drive the real SDK over loopback to the
AMQP test broker and count what arrives by message id. Every broker session runs under a hard deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.servicebus
import pytest
from fakes.amqp_broker import CBS_NODE, AmqpTestBroker, run_with_deadline
from fakes.credential import FakeCredential

from amlexec.bus.base import Destination, OutgoingMessage
from amlexec.bus.servicebus import ServiceBusBus
from amlexec.errors import ConfigurationError, TransientError

ENTITIES = {
    Destination.EVENTS: "amlexec-events",
    Destination.STATUS: "amlexec-status",
    Destination.REQUESTS: "amlexec-requests",
    Destination.REJECTED: "amlexec-rejected",
}
THREADS = 8
SENDS = 500  # per thread and destination: the proof, 8 × 500 to a queue and to the topic


@pytest.fixture
def broker() -> Iterator[AmqpTestBroker]:
    with AmqpTestBroker() as running:
        yield running


def bus_for(broker: AmqpTestBroker, **options: Any) -> ServiceBusBus:
    # retry_total=0: a failure must surface at once, not be retried with back-off (nor hide a lost message).
    return ServiceBusBus(ENTITIES, connection_string=broker.connection_string, retry_total=0, **options)


def message(message_id: str, *, scheduled: datetime | None = None) -> OutgoingMessage:
    return OutgoingMessage(body=b'{"n": 1}', message_id=message_id, scheduled_enqueue_time=scheduled)


def in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(n)`` on ``count`` threads released together; return what they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(number: int) -> None:
        try:
            start.wait()
            work(number)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def ids(prefix: str, per_thread: int) -> set[str]:
    return {f"{prefix}-{n}-{i}" for n in range(THREADS) for i in range(per_thread)}


def assert_exactly_once(arrived: list[Any], expected: set[str]) -> None:
    counts = Counter(m.message_id for m in arrived)
    assert set(counts) == expected, f"{len(expected - set(counts))} lost, {len(set(counts) - expected)} unexpected"
    assert [i for i, n in counts.items() if n > 1] == [], "some arrived twice"


def test_eight_threads_sending_to_a_queue_and_the_topic_deliver_every_message_exactly_once(
    broker: AmqpTestBroker,
) -> None:
    bus = bus_for(broker)

    def work(number: int) -> None:
        for index in range(SENDS):
            bus.send(Destination.REQUESTS, [message(f"q-{number}-{index}")])
            bus.send(Destination.EVENTS, [message(f"t-{number}-{index}")])

    def session() -> list[BaseException]:
        try:
            return in_threads(THREADS, work)
        finally:
            bus.close()

    errors = run_with_deadline(session, 60)

    assert errors == []
    assert_exactly_once(broker.messages("amlexec-requests"), ids("q", SENDS))
    assert_exactly_once(broker.messages("amlexec-events"), ids("t", SENDS))
    # Each link authenticates once: at most max_senders (8) connections per destination, however many sends.
    assert len(broker.requests(CBS_NODE)) <= 2 * 8


def test_threads_mixing_scheduled_and_immediate_messages_lose_none(broker: AmqpTestBroker) -> None:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    # Fewer senders than threads: sends also queue for a sender and take over ones other threads returned.
    bus = bus_for(broker, max_senders=3)

    def work(number: int) -> None:
        for index in range(40):
            # One call carrying both kinds, as a status check does when it publishes and re-schedules.
            bus.send(
                Destination.STATUS,
                [message(f"now-{number}-{index}"), message(f"later-{number}-{index}", scheduled=due)],
            )
            bus.send(Destination.EVENTS, [message(f"event-{number}-{index}")])

    def session() -> list[BaseException]:
        try:
            return in_threads(THREADS, work)
        finally:
            bus.close()

    errors = run_with_deadline(session, 60)

    assert errors == []
    assert_exactly_once(broker.messages("amlexec-status"), ids("now", 40))
    assert_exactly_once(broker.scheduled("amlexec-status"), ids("later", 40))
    assert {m.scheduled_enqueue_time for m in broker.scheduled("amlexec-status")} == {due}
    assert_exactly_once(broker.messages("amlexec-events"), ids("event", 40))


def test_identity_based_links_share_one_credential_across_threads(broker: AmqpTestBroker) -> None:
    credential = FakeCredential()
    # use_tls=False keeps the loopback port, as the emulator connection string does.
    bus = ServiceBusBus(
        ENTITIES,
        fully_qualified_namespace=f"127.0.0.1:{broker.port}",
        credential=credential,
        retry_total=0,
        client_kwargs={"use_tls": False},
    )

    def work(number: int) -> None:
        for index in range(10):
            bus.send(Destination.REQUESTS, [message(f"m-{number}-{index}")])

    def session() -> list[BaseException]:
        try:
            return in_threads(THREADS, work)
        finally:
            bus.close()

    assert run_with_deadline(session, 30) == []
    assert_exactly_once(broker.messages("amlexec-requests"), ids("m", 10))
    # One shared credential signed every link's token (the SDK asks for its own spelling of the scope).
    assert credential.scopes and {scope.split("//.")[0] for scope in credential.scopes} == {
        "https://servicebus.azure.net"
    }
    assert len(credential.scopes) <= THREADS, "a token per link (8 at most), not per send"


def test_a_missing_entity_is_a_configuration_error_before_any_connection() -> None:
    bus = ServiceBusBus(
        {Destination.EVENTS: "amlexec-events"},
        connection_string="Endpoint=sb://127.0.0.1:1/;"
        "SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true",
    )
    with pytest.raises(ConfigurationError, match="no Service Bus entity is configured for status"):
        bus.send(Destination.STATUS, [message("m-1")])
    bus.close()


# -- the pool's life cycle, observed on the real SDK objects --------------------------------------------------


@dataclass
class Spy:
    """Records every client ServiceBusBus builds; can hold a send until released."""

    clients: list[Any] = field(default_factory=list)
    closed: list[tuple[str, int, str]] = field(default_factory=list)  # (what, client number, thread name)
    sending: Counter[int] = field(default_factory=Counter)  # sends in progress, by client number
    closed_while_sending: bool = False
    hold: threading.Event | None = None
    held: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = azure.servicebus.ServiceBusClient
        spy = self

        class SpiedClient(real):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                with spy.lock:
                    self.number = len(spy.clients)
                    spy.clients.append(self)

            def get_queue_sender(self, *args: Any, **kwargs: Any) -> Any:
                return spy.wrap(super().get_queue_sender(*args, **kwargs), self.number)

            def get_topic_sender(self, *args: Any, **kwargs: Any) -> Any:
                return spy.wrap(super().get_topic_sender(*args, **kwargs), self.number)

            def close(self) -> None:
                spy.record("client", self.number)
                super().close()

        monkeypatch.setattr(azure.servicebus, "ServiceBusClient", SpiedClient)

    def record(self, what: str, number: int) -> None:
        with self.lock:
            self.closed.append((what, number, threading.current_thread().name))
            self.closed_while_sending |= self.sending[number] > 0

    def wrap(self, sender: Any, number: int) -> Any:
        real_send, real_close = sender.send_messages, sender.close

        def send_messages(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.sending[number] += 1
            try:
                if self.hold is not None:
                    self.held.set()
                    assert self.hold.wait(10)
                return real_send(*args, **kwargs)
            finally:
                with self.lock:
                    self.sending[number] -= 1

        def close() -> None:
            self.record("sender", number)
            real_close()

        sender.send_messages, sender.close = send_messages, close
        return sender

    def closed_senders(self) -> list[int]:
        return [number for what, number, _ in self.closed if what == "sender"]


def test_a_sender_whose_send_failed_is_closed_and_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy()
    spy.install(monkeypatch)
    with AmqpTestBroker() as broker:
        bus = bus_for(broker)
        run_with_deadline(lambda: bus.send(Destination.REQUESTS, [message("m-1")]), 20)
        run_with_deadline(lambda: bus.send(Destination.REQUESTS, [message("m-2")]), 20)
        assert len(spy.clients) == 1, "a healthy sender is reused"
        assert [m.message_id for m in broker.messages("amlexec-requests")] == ["m-1", "m-2"]
        broker.stop()  # drops the connection under the pooled sender

        with pytest.raises(TransientError, match="could not take 1 message"):
            run_with_deadline(lambda: bus.send(Destination.REQUESTS, [message("m-3")]), 20)
        assert spy.closed_senders() == [0], "the broken sender was closed, not put back"
        with pytest.raises(TransientError):
            run_with_deadline(lambda: bus.send(Destination.REQUESTS, [message("m-4")]), 20)
        assert len(spy.clients) == 2, "the next send built a new sender"
        run_with_deadline(bus.close, 20)
    assert sorted(spy.closed_senders()) == [0, 1]


def test_close_lets_a_send_in_flight_finish_then_its_sender_closes_it(
    broker: AmqpTestBroker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spy = Spy()
    spy.install(monkeypatch)
    bus = bus_for(broker)
    run_with_deadline(lambda: bus.send(Destination.EVENTS, [message("idle-1")]), 20)  # leaves an idle link
    spy.hold = threading.Event()
    sender_thread = threading.Thread(
        target=lambda: bus.send(Destination.REQUESTS, [message("in-flight")]), name="sending-thread", daemon=True
    )
    sender_thread.start()
    assert spy.held.wait(20)
    closer = threading.Thread(target=bus.close, name="closing-thread", daemon=True)
    closer.start()
    started = time.monotonic()
    while len(spy.closed) < 2 and time.monotonic() - started < 10:
        time.sleep(0.01)
    time.sleep(0.2)  # room for a wrong close of the busy link to show up

    # close() closed the idle link at once, but not the one mid-send: it waits for it.
    assert closer.is_alive()
    assert [(what, number) for what, number, _ in spy.closed] == [("client", 0), ("sender", 0)]
    spy.hold.set()
    sender_thread.join(20)
    closer.join(20)
    assert not closer.is_alive()

    assert [m.message_id for m in broker.messages("amlexec-requests")] == ["in-flight"]
    assert not spy.closed_while_sending
    # The link that was in flight was closed once, by the thread that used it, after its send.
    assert [(what, thread) for what, number, thread in spy.closed if number == 1] == [
        ("client", "sending-thread"),
        ("sender", "sending-thread"),
    ]
    assert "still sending" not in caplog.text

    # A send after close() opens a new link.
    spy.hold = None
    run_with_deadline(lambda: bus.send(Destination.REQUESTS, [message("after-close")]), 20)
    run_with_deadline(bus.close, 20)
    assert [m.message_id for m in broker.messages("amlexec-requests")] == ["in-flight", "after-close"]
    assert len(spy.clients) == 3


def test_close_gives_up_waiting_after_close_timeout(
    broker: AmqpTestBroker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spy = Spy(hold=threading.Event())
    spy.install(monkeypatch)
    bus = bus_for(broker, close_timeout=0.2)
    sender_thread = threading.Thread(target=lambda: bus.send(Destination.REQUESTS, [message("late")]), daemon=True)
    sender_thread.start()
    assert spy.held.wait(20)
    with caplog.at_level(logging.WARNING, logger="amlexec.bus.servicebus"):
        started = time.monotonic()
        run_with_deadline(bus.close, 5)
    assert 0.2 <= time.monotonic() - started < 2
    assert "1 sender(s) still sending" in caplog.text
    assert spy.closed == []
    assert spy.hold is not None
    spy.hold.set()
    sender_thread.join(20)
    assert [m.message_id for m in broker.messages("amlexec-requests")] == ["late"]
    assert spy.closed_senders() == [0]


def test_when_every_sender_is_busy_a_send_waits_then_gives_up(
    broker: AmqpTestBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(hold=threading.Event())
    spy.install(monkeypatch)
    bus = bus_for(broker, max_senders=1, checkout_timeout=0.3)
    first = threading.Thread(target=lambda: bus.send(Destination.REQUESTS, [message("first")]), daemon=True)
    first.start()
    assert spy.held.wait(20)

    started = time.monotonic()
    with pytest.raises(TransientError, match="all 1 senders for requests stayed busy"):
        bus.send(Destination.REQUESTS, [message("second")])
    assert time.monotonic() - started >= 0.3
    assert len(spy.clients) == 1, "the cap held: no second connection"

    # Once returned, the one sender serves the next send.
    assert spy.hold is not None
    spy.hold.set()
    spy.hold = None
    first.join(20)
    run_with_deadline(lambda: bus.send(Destination.REQUESTS, [message("third")]), 20)
    run_with_deadline(bus.close, 20)
    assert [m.message_id for m in broker.messages("amlexec-requests")] == ["first", "third"]
    assert len(spy.clients) == 1
