"""Throughput of ServiceBusBus from many threads: its sender pool against one sender per destination.

``max_senders=1`` is the per-destination-lock design (one sender, sends to a destination serialised);
the default pool lets up to ``max_senders`` sends to one destination run at once, no lock held across the
network. Both run the real azure-servicebus SDK against the loopback AMQP test broker (tests/fakes), which
runs in its own process so it does not share the senders' GIL. A relay between them can add a fixed delay
per direction, since loopback has none and a real namespace is a round trip away.

Each round runs every configuration once, in alternating order, and checks that every message arrived
exactly once. Environment: ``BENCH_SB_THREADS`` (8), ``BENCH_SB_MESSAGES`` (200 per thread),
``BENCH_SB_ROUNDS`` (3), ``BENCH_SB_LATENCIES_MS`` (one-way delays, default ``0,1,5``),
``BENCH_SB_MAX_SENDERS`` (the configurations, default ``1,8``; 1 is the per-destination lock).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from amlexec.bus.base import Destination, OutgoingMessage  # noqa: E402
from amlexec.bus.servicebus import ServiceBusBus  # noqa: E402

QUEUE = "bench-requests"
ENTITIES = {Destination.REQUESTS: QUEUE}


def _broker_process(pipe: Connection) -> None:
    """Runs the test broker; answers ("count", entity) with (arrived, distinct ids) until ("stop",)."""
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]
    from fakes.amqp_broker import AmqpTestBroker

    with AmqpTestBroker() as broker:
        pipe.send(broker.port)
        while True:
            command = pipe.recv()
            if command[0] == "stop":
                break
            ids = [m.message_id for m in broker.messages(command[1])]
            pipe.send((len(ids), len(set(ids))))


def _relay_process(pipe: Connection, target_port: int, delay: float) -> None:
    """A TCP relay to the broker that delivers every chunk ``delay`` seconds after it was read, in order."""

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    writer.close()
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(chunk)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + delay, chunk))
        finally:
            queue.put_nowait((0.0, b""))
            await delivering

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(
            pump(client_reader, broker_writer), pump(broker_reader, client_writer), return_exceptions=True
        )

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        pipe.send(server.sockets[0].getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # any message: stop
        server.close()

    asyncio.run(serve())


def _connection_string(port: int) -> str:
    return f"Endpoint=sb://127.0.0.1:{port}/;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true"


def _run(port: int, broker: Connection, *, max_senders: int, threads: int, messages: int, tag: str) -> float:
    """Send threads × messages through one ServiceBusBus; return messages/s. Raises if any is lost or doubled."""
    bus = ServiceBusBus(ENTITIES, connection_string=_connection_string(port), retry_total=0, max_senders=max_senders)
    broker.send(("count", QUEUE))
    before, _ = broker.recv()
    errors: list[BaseException] = []
    # Warm-up outside the timing: every thread opens its connection (one AMQP handshake and $cbs token each).
    ready = threading.Barrier(threads + 1)
    go = threading.Event()

    def worker(number: int) -> None:
        try:
            bus.send(Destination.REQUESTS, [OutgoingMessage(body=b"{}", message_id=f"{tag}-{number}-warm")])
            ready.wait()
            go.wait()
            for index in range(messages):
                bus.send(Destination.REQUESTS, [OutgoingMessage(body=b"{}", message_id=f"{tag}-{number}-{index}")])
        except BaseException as exc:
            errors.append(exc)
            ready.abort()

    pool = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for thread in pool:
        thread.start()
    ready.wait(60)
    started = time.perf_counter()
    go.set()
    for thread in pool:
        thread.join(300)
    elapsed = time.perf_counter() - started
    bus.close()
    if errors:
        raise RuntimeError(f"{tag}: {len(errors)} thread(s) failed") from errors[0]
    broker.send(("count", QUEUE))
    after, distinct = broker.recv()
    expected = threads * (messages + 1)
    if after - before != expected or distinct != after:
        raise RuntimeError(f"{tag}: {after - before} of {expected} messages arrived, {after - distinct} repeated")
    return threads * messages / elapsed


def main() -> None:
    threads = int(os.environ.get("BENCH_SB_THREADS", "8"))
    messages = int(os.environ.get("BENCH_SB_MESSAGES", "200"))
    rounds = int(os.environ.get("BENCH_SB_ROUNDS", "3"))
    latencies = [float(v) for v in os.environ.get("BENCH_SB_LATENCIES_MS", "0,1,5").split(",") if v.strip()]
    sizes = [int(v) for v in os.environ.get("BENCH_SB_MAX_SENDERS", "1,8").split(",") if v.strip()]
    configurations = [
        (f"per-destination lock (max_senders={n})" if n == 1 else f"pool (max_senders={n})", n) for n in sizes
    ]
    context = multiprocessing.get_context("spawn")
    broker_pipe, child_pipe = context.Pipe()
    broker = context.Process(target=_broker_process, args=(child_pipe,), daemon=True)
    broker.start()
    broker_port = broker_pipe.recv()
    print(
        f"{threads} threads x {messages} single-message sends per run, {rounds} rounds, interleaved; "
        f"one queue; messages/s (higher is better)"
    )
    try:
        for latency in latencies:
            relay_pipe: Connection | None = None
            relay: Any = None
            port = broker_port
            if latency:
                relay_pipe, relay_child = context.Pipe()
                relay = context.Process(
                    target=_relay_process, args=(relay_child, broker_port, latency / 1000), daemon=True
                )
                relay.start()
                port = relay_pipe.recv()
            figures: dict[str, list[float]] = {name: [] for name, _ in configurations}
            for round_number in range(rounds):
                # Alternate the order so neither configuration always runs on a warmer process.
                order = configurations if round_number % 2 == 0 else configurations[::-1]
                for name, max_senders in order:
                    tag = f"{latency}-{round_number}-{max_senders}"
                    figures[name].append(
                        _run(port, broker_pipe, max_senders=max_senders, threads=threads, messages=messages, tag=tag)
                    )
            for name, values in figures.items():
                rates = ", ".join(f"{v:,.0f}" for v in values)
                print(
                    f"  one-way delay {latency:g} ms, {name}: median {statistics.median(values):,.0f} msg/s "
                    f"(rounds: {rates}); every message arrived exactly once"
                )
            if relay_pipe is not None:
                relay_pipe.send("stop")
                relay.join(10)
    finally:
        broker_pipe.send(("stop",))
        broker.join(15)


if __name__ == "__main__":
    main()
