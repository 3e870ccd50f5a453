"""Drive the Function App's real trigger functions with azure.functions objects, a fake Azure ML workspace
(the real azure-ai-ml client underneath), an in-memory Service Bus and a manual clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessage
from fakes.workspace import World, make_world, seed_pipeline_component

import function_app
from amlexec import telemetry, triggers
from amlexec.bus.base import Destination, OutgoingMessage
from amlexec.bus.memory import MemoryBus
from amlexec.callbacks import MemoryCallbackSender
from amlexec.handlers import Worker
from amlexec.settings import Settings

START = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def activity(**type_properties: Any) -> dict[str, Any]:
    return {
        "name": "Score",
        "type": "AzureMLExecutePipeline",
        "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
        "typeProperties": {
            "mlPipelineId": "azureml:score_pipeline:3",
            "experimentName": "scoring",
            "mlPipelineParameters": {"n": 1},
            **type_properties,
        },
    }


@dataclass
class Flow:
    """One app instance under test."""

    world: World
    bus: MemoryBus
    worker: Worker
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    monkeypatch: Any = None

    # ---- deliveries
    def deliver_request(
        self,
        body: bytes | dict[str, Any],
        *,
        message_id: str = "msg-1",
        correlation_id: str | None = "corr-1",
        delivery_count: int = 1,
        properties: dict[str, Any] | None = None,
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.functions["requests"](self._sb_message(raw, message_id, correlation_id, delivery_count, properties))

    def _sb_message(
        self,
        body: bytes,
        message_id: str,
        correlation_id: str | None,
        delivery_count: int,
        properties: dict[str, Any] | None,
    ) -> ServiceBusMessage:
        return ServiceBusMessage(
            body=body,
            message_id=message_id,
            correlation_id=correlation_id,
            delivery_count=delivery_count,
            enqueued_time_utc=self.worker.clock.now(),
            application_properties=properties or {},
            user_properties=properties or {},
        )

    def deliver(self, destination: Destination, message: OutgoingMessage, *, delivery_count: int = 1) -> None:
        name = {Destination.STATUS: "status_checks", Destination.REQUESTS: "requests"}[destination]
        self.functions[name](
            self._sb_message(
                message.body,
                message.message_id,
                message.correlation_id,
                delivery_count,
                dict(message.application_properties),
            )
        )

    def pump(
        self, *, on_check: Callable[[int], None] | None = None, max_steps: int = 200, redeliver: bool = False
    ) -> int:
        """Deliver due messages, moving the clock to the next due one, until the bus is idle."""
        steps = 0
        while steps < max_steps:
            progressed = False
            for destination in (Destination.REQUESTS, Destination.STATUS):
                for message in self.bus.due(destination):
                    if on_check is not None and destination is Destination.STATUS:
                        on_check(steps)
                    self.deliver(destination, message)
                    if redeliver:  # Service Bus delivers at least once: hand every message over twice
                        self.deliver(destination, message, delivery_count=2)
                    steps += 1
                    progressed = True
            if progressed:
                continue
            upcoming = [
                d
                for d in (self.bus.next_due(Destination.STATUS), self.bus.next_due(Destination.REQUESTS))
                if d is not None
            ]
            if not upcoming:
                return steps
            self.world.clock.advance(max(0.0, (min(upcoming) - self.world.clock.now()).total_seconds()))
        raise AssertionError(f"the flow did not settle within {max_steps} deliveries")

    def http(
        self,
        name: str,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        route_params: dict[str, str] | None = None,
    ) -> func.HttpResponse:
        request = func.HttpRequest(method, url, body=body, headers=headers or {}, route_params=route_params or {})
        response = self.functions[name](request)
        assert isinstance(response, func.HttpResponse)
        return response

    def grid_event(self, event_type: str, data: dict[str, Any], event_id: str = "eg-1") -> None:
        event = func.EventGridEvent(
            id=event_id,
            data=data,
            topic="/subscriptions/x/workspaces/ws",
            subject=f"experiments/e/runs/{data.get('runId')}",
            event_type=event_type,
            event_time=self.worker.clock.now(),
            data_version="2",
        )
        self.functions["run_events"](event)

    # ---- what came out
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in self.bus.published]

    def terminal_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events() if not e["type"].endswith(".started")]

    def job(self, index: int = 0) -> dict[str, Any]:
        return list(self.world.fake.jobs.values())[index]


def make_flow(monkeypatch: Any, tmp_path: Path, **settings: Any) -> Flow:
    world = make_world()
    world.clock.advance((START - world.clock.now()).total_seconds())
    seed_pipeline_component(world.fake)
    bus = MemoryBus(world.clock, duplicate_window=timedelta(days=7))
    config = Settings(
        local_runs_dir=tmp_path / "runs", poll_initial=timedelta(seconds=15), poll_max=timedelta(minutes=5), **settings
    )
    worker = Worker.create(
        config,
        clock=world.clock,
        connector=world.connector,
        registry=world.registry,
        bus=bus,
        callbacks=MemoryCallbackSender(),
    )

    def configured_worker() -> Worker:
        telemetry.configure()  # as the real _worker does: the log-field copier and SDK log levels
        return worker

    monkeypatch.setattr(triggers, "_worker", configured_worker)
    function_app.app.functions_bindings = {}
    functions = {str(f.get_function_name()): f.get_user_function() for f in function_app.app.get_functions()}
    function_app.app.functions_bindings = {}
    return Flow(world, bus, worker, functions, monkeypatch)
