"""Host-agnostic request handling: the one path every request walks, whatever trigger delivered it.

decode (the trigger's job) -> validate -> resolve -> launch (idempotent) -> "started" event. Triggers map
the errors: RequestRejected is final (reject with reasons), TransientError is retried by redelivery,
ConfigurationError needs an operator.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from amlexec.clock import Clock, SystemClock
from amlexec.errors import Issue
from amlexec.events import CloudEvent, EventKind, run_event
from amlexec.launch.base import RunHandle, RunState, RunStatus
from amlexec.launch.router import Launchers
from amlexec.launch.workspace import WorkspaceConnector
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.resolve import LaunchRequest, RequestContext, preview, resolve
from amlexec.settings import Settings, load_linked_services
from amlexec.validation import validate_payload

__all__ = [
    "Launched",
    "ValidationReport",
    "Worker",
    "final_event",
    "follow_run",
    "handle_request",
    "linked_services_for",
    "validate_request",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationReport:
    """A payload that validated: warnings, run-time-only values, and the previewed launch request."""

    warnings: list[Issue] = field(default_factory=list)
    deferred: list[Issue] = field(default_factory=list)
    request: dict[str, Any] | None = None


@functools.cache
def linked_services_for(settings: Settings) -> LinkedServiceRegistry:
    """The registry for these settings, loaded once per worker."""
    return load_linked_services(settings)


@dataclass
class Worker:
    """What one worker builds once and reuses: settings, linked services, launchers, clock."""

    settings: Settings
    registry: LinkedServiceRegistry
    launchers: Launchers
    clock: Clock

    @classmethod
    def create(cls, settings: Settings, *, clock: Clock | None = None, connector: WorkspaceConnector | None = None,
               registry: LinkedServiceRegistry | None = None,
               local_options: dict[str, Any] | None = None) -> Worker:
        registry = registry if registry is not None else linked_services_for(settings)
        clock = clock or SystemClock()
        launchers = Launchers(registry, local_runs_root=settings.local_runs_dir, clock=clock, connector=connector,
                              local_options=local_options)
        return cls(settings, registry, launchers, clock)


@functools.cache
def default_worker(settings: Settings) -> Worker:
    """The worker for the app's settings, built on first use."""
    return Worker.create(settings)


def validate_request(body: bytes | str, settings: Settings) -> ValidationReport:
    """Validate a payload and preview its resolution; raise RequestRejected with every issue."""
    payload = validate_payload(body, limits=settings.limits)
    registry = linked_services_for(settings)
    context = RequestContext(request_id=f"validate-{uuid.uuid4()}", received_at=datetime.now(UTC),
                             trigger_name="validate", data_factory=settings.data_factory_name)
    resolution = preview(payload, context, registry, default_linked_service=settings.default_linked_service)
    return ValidationReport([*payload.warnings, *resolution.warnings], resolution.deferred,
                            resolution.request.public_view())


@dataclass(frozen=True)
class Launched:
    """A request that reached Azure ML (or the local runner): its resolved form, run handle and event."""

    request: LaunchRequest
    handle: RunHandle
    event: CloudEvent


def handle_request(body: bytes | str, context: RequestContext, worker: Worker, *, attempt: int = 1) -> Launched:
    """Validate, resolve and launch one request, exactly once for its identity."""
    payload = validate_payload(body, limits=worker.settings.limits)
    for warning in payload.warnings:
        logger.info("request %s: %s", context.request_id, warning)
    request = resolve(payload, context, worker.registry,
                      default_linked_service=worker.settings.default_linked_service)
    handle = worker.launchers.launch(request, attempt=attempt)
    logger.info("request %s (correlation %s): %s run %s %s", request.request_id, request.correlation_id,
                request.target.kind, handle.run_id, "launched" if handle.created else "already running")
    return Launched(request, handle, run_event(EventKind.STARTED, request, handle, None, time=worker.clock.now()))


_FINAL_KINDS = {RunState.COMPLETED: EventKind.COMPLETED, RunState.FAILED: EventKind.FAILED,
                RunState.CANCELED: EventKind.CANCELED}


def final_event(request: LaunchRequest, handle: RunHandle, status: RunStatus, worker: Worker) -> CloudEvent:
    """The completion event for a run that reached a final state."""
    return run_event(_FINAL_KINDS[status.state], request, handle, status, time=worker.clock.now())


def follow_run(launched: Launched, worker: Worker, *, poll_seconds: float = 1.0, timeout: timedelta | None = None,
               on_status: Callable[[RunStatus], None] | None = None) -> CloudEvent:
    """Poll a run until it ends (or its policy timeout passes, then cancel it) and return the final event.

    This is the in-process tracker used by the CLI and the demo; the Function App tracks runs with
    scheduled status-check messages instead, so no worker waits on a run.
    """
    limit = timeout or timedelta(seconds=launched.request.policy.timeout_seconds)
    deadline = worker.clock.now() + limit
    while True:
        status = worker.launchers.status(launched.handle)
        if on_status is not None:
            on_status(status)
        if status.is_final:
            return final_event(launched.request, launched.handle, status, worker)
        if worker.clock.now() >= deadline:
            worker.launchers.cancel(launched.handle)
            status = worker.launchers.status(launched.handle)
            return run_event(EventKind.TIMED_OUT, launched.request, launched.handle, status, time=worker.clock.now())
        worker.clock.sleep(poll_seconds)
