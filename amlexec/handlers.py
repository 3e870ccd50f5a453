"""Host-agnostic request handling: the one path every request walks, whatever trigger delivered it.

request  -> validate -> resolve -> launch (idempotent) -> "started" event + first status check (scheduled)
check    -> status -> tracking.decide -> reschedule | cancel | relaunch (next attempt) | terminal event
Event Grid (a run we launched ended) -> the terminal event at once (the polling path's copy is dropped by
the topic's duplicate detection: both carry the request's one terminal event id)
tick     -> one request message per due schedule occurrence (the queue path then launches it)

Triggers map the errors: RequestRejected is final (the body goes to the rejected queue with its reasons
and a ``rejected`` event is published); TransientError and ConfigurationError propagate so the message is
redelivered and, after the queue's max delivery count, dead-lettered — never lost.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr

from amlexec.activity import is_envelope
from amlexec.bus.base import Bus, Destination, OutgoingMessage
from amlexec.callbacks import (
    CallbackSender,
    CallbackUrlPolicy,
    HttpCallbackSender,
    callback_body,
    parse_allowed_hosts,
    split_callback_uri,
)
from amlexec.clock import Clock, SystemClock, parse_instant
from amlexec.errors import (
    AmlexecError,
    ConfigurationError,
    IdempotencyConflict,
    Issue,
    Outcome,
    RequestRejected,
    TransientError,
    outcome_of,
    rejection_for,
)
from amlexec.eventgrid_output import EventGridForwarder
from amlexec.events import CloudEvent, EventKind, conflict_event_id, event_message, rejected_event, run_event
from amlexec.factory_triggers.definitions import TriggerDefinition, load_triggers
from amlexec.factory_triggers.envelopes import fit_message_id, target_request_id, trigger_envelope
from amlexec.factory_triggers.event_matching import (
    Match,
    NotAnEvent,
    match_blob_event,
    match_custom_event,
    parse_events,
)
from amlexec.factory_triggers.table_ledger import TableWindowLedger
from amlexec.factory_triggers.windows import (
    MemoryWindowLedger,
    PlannedWindow,
    TumblingWindow,
    WindowLedger,
    outcome_state,
    parse_window_request_id,
    run_tick,
    window_request_id,
)
from amlexec.launch.base import RunHandle, RunState, RunStatus, normalise_status
from amlexec.launch.jobs import is_throttled, state_only_looks
from amlexec.launch.router import LaunchRouter
from amlexec.launch.workspace import WorkspaceConnector
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import LaunchRequest, RequestContext
from amlexec.request_index import IndexEntry, MemoryRequestIndex, RequestIndex, TableRequestIndex
from amlexec.resolve import dotnet_timestamp, preview, resolve
from amlexec.runs import CONTEXT_PROPERTY, RUN_NAME_PROPERTY, EventContext, ProgressRef, attempt_of, run_name
from amlexec.schedules import Schedule, due_occurrences, load_schedules, look_back_start, request_id_for
from amlexec.settings import Settings, load_linked_services
from amlexec.telemetry import bind, log_context, span
from amlexec.tracking import (
    CheckMessage,
    Decision,
    TrackingPolicy,
    decide,
    decide_after_failure,
    decide_after_throttle,
    outcome_seen_from_outside,
)
from amlexec.validation import validate_payload

__all__ = [
    "CallbackMessage",
    "Launched",
    "Progress",
    "Rejected",
    "RequestStatus",
    "ValidationReport",
    "Worker",
    "deliver_callback",
    "final_event",
    "forward_event",
    "handle_check",
    "handle_request",
    "handle_run_notification",
    "handle_status_message",
    "handle_tick",
    "handle_trigger_events",
    "is_event_delivery",
    "linked_services_for",
    "payload_digest",
    "process_request",
    "record_window_end",
    "reject_request",
    "request_progress",
    "request_status",
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


def _default_bus(settings: Settings, clock: Clock) -> Bus:
    """Service Bus through the connection the triggers use (identity-based, or ServiceBusConnection's connection
    string: the local emulator's), or the in-memory bus."""
    if settings.bus == "servicebus":
        from amlexec.bus.servicebus import ServiceBusBus

        entities = {
            Destination.EVENTS: settings.events_topic,
            Destination.STATUS: settings.status_queue,
            Destination.REQUESTS: settings.request_queue,
            Destination.REJECTED: settings.rejected_queue,
        }
        if settings.service_bus_emulator:
            # The emulator allows 10 connections per namespace, the host's listeners included: two links (one
            # connection each) per destination keep amlexec's four destinations at eight at most.
            return ServiceBusBus(entities, connection_string=settings.service_bus_connection_string, max_senders=2)
        if settings.service_bus_connection_string:
            return ServiceBusBus(entities, connection_string=settings.service_bus_connection_string)
        credential = None
        if settings.managed_identity_client_id:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential(managed_identity_client_id=settings.managed_identity_client_id)
        return ServiceBusBus(entities, fully_qualified_namespace=settings.service_bus_namespace, credential=credential)
    from amlexec.bus.memory import MemoryBus

    return MemoryBus(clock)


@dataclass
class Worker:
    """What one worker builds once and reuses: settings, linked services, launchers, bus, clock."""

    settings: Settings
    registry: LinkedServiceRegistry
    launchers: LaunchRouter
    clock: Clock
    bus: Bus
    tracking: TrackingPolicy
    index: RequestIndex | None = None
    callback_policy: CallbackUrlPolicy = field(default_factory=CallbackUrlPolicy)
    callbacks: CallbackSender | None = None
    eventgrid: EventGridForwarder | None = None
    windows: WindowLedger | None = None
    _triggers: list[TriggerDefinition] | None = None
    _schedules: list[Schedule] | None = None

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        connector: WorkspaceConnector | None = None,
        registry: LinkedServiceRegistry | None = None,
        local_options: dict[str, Any] | None = None,
        bus: Bus | None = None,
        index: RequestIndex | None = None,
        callbacks: CallbackSender | None = None,
        callback_policy: CallbackUrlPolicy | None = None,
        eventgrid: EventGridForwarder | None = None,
        windows: WindowLedger | None = None,
    ) -> Worker:
        registry = registry if registry is not None else linked_services_for(settings)
        clock = clock or SystemClock()
        launchers = LaunchRouter(
            registry,
            local_runs_root=settings.local_runs_dir,
            clock=clock,
            connector=connector,
            local_options=local_options,
        )
        tracking = TrackingPolicy(
            initial_delay=settings.poll_initial,
            max_delay=settings.poll_max,
            not_responding_grace=settings.not_responding_grace,
            cancel_grace=settings.cancel_grace,
            eventgrid=settings.eventgrid_tracking,
        )
        if callback_policy is None:
            try:
                callback_policy = CallbackUrlPolicy(allowed_hosts=parse_allowed_hosts(settings.callback_allowed_hosts))
            except ConfigurationError as exc:
                raise ConfigurationError(f"AMLEXEC_CALLBACK_ALLOWED_HOSTS: {exc}") from None
        return cls(
            settings,
            registry,
            launchers,
            clock,
            bus or _default_bus(settings, clock),
            tracking,
            index if index is not None else _default_index(settings),
            callback_policy,
            callbacks or HttpCallbackSender(callback_policy, clock=clock),
            eventgrid if eventgrid is not None else _default_eventgrid(settings),
            windows if windows is not None else _default_window_ledger(settings),
        )

    @property
    def triggers(self) -> list[TriggerDefinition]:
        """The Data Factory trigger definitions of AMLEXEC_TRIGGERS_FILE and AMLEXEC_TRIGGERS, loaded once."""
        if self._triggers is None:
            self._triggers = load_triggers(self.settings.triggers_file, self.settings.triggers_json)
        return self._triggers

    @property
    def schedules(self) -> list[Schedule]:
        if self._schedules is None:
            self._schedules = load_schedules(self.settings.schedules_file, self.settings.schedules_json)
        return self._schedules


def _table_location(settings: Settings) -> dict[str, Any]:
    """Where amlexec's tables live (the request index and the tumbling window ledger share the account)."""
    credential = None
    if settings.request_index_endpoint and settings.managed_identity_client_id:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential(managed_identity_client_id=settings.managed_identity_client_id)
    return {
        "endpoint": settings.request_index_endpoint,
        "connection_string": settings.request_index_connection_string,
        "credential": credential,
    }


def _default_index(settings: Settings) -> RequestIndex | None:
    if settings.request_index == "table":
        return TableRequestIndex(**_table_location(settings))
    if settings.request_index == "memory":
        return MemoryRequestIndex()
    return None


def _default_window_ledger(settings: Settings) -> WindowLedger | None:
    """Tumbling window progress lives beside the request index: the app's storage account, or memory."""
    if settings.request_index == "table":
        return TableWindowLedger(**_table_location(settings))
    if settings.request_index == "memory":
        return MemoryWindowLedger()
    return None


def _default_eventgrid(settings: Settings) -> EventGridForwarder | None:
    if not settings.eventgrid_topic_endpoint:
        return None
    return EventGridForwarder(
        settings.eventgrid_topic_endpoint,
        publish_started=settings.eventgrid_publish_started,
        managed_identity_client_id=settings.managed_identity_client_id,
    )


@functools.cache
def default_worker(settings: Settings) -> Worker:
    """The worker for the app's settings, built on first use."""
    return Worker.create(settings)


def validate_request(body: bytes | str, settings: Settings) -> ValidationReport:
    """Validate a payload and preview its resolution; raise RequestRejected with every issue."""
    payload = validate_payload(body, limits=settings.limits)
    registry = linked_services_for(settings)
    context = RequestContext(
        request_id=f"validate-{uuid.uuid4()}",
        received_at=datetime.now(UTC),
        trigger_name="validate",
        data_factory=settings.data_factory_name,
    )
    resolution = preview(payload, context, registry, default_linked_service=settings.default_linked_service)
    return ValidationReport(
        [*payload.warnings, *resolution.warnings], resolution.deferred, resolution.request.public_view()
    )


# ------------------------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class Launched:
    """A request that reached Azure ML (or the local runner): its resolved form, run handle and event."""

    request: LaunchRequest
    handle: RunHandle
    event: CloudEvent


def _check_message(check: CheckMessage, due: datetime) -> OutgoingMessage:
    return OutgoingMessage(
        body=check.model_dump_json().encode(),
        message_id=check.message_id,
        correlation_id=check.request.correlation_id,
        subject=f"amlexec.{check.action}",
        application_properties={"attempt": check.attempt, "check": check.check_number},
        scheduled_enqueue_time=due,
    )


def _start_tracking(
    request: LaunchRequest, handle: RunHandle, worker: Worker, *, attempt: int, traceparent: str | None
) -> CloudEvent:
    """Publish the attempt's started event and schedule its first status check."""
    now = worker.clock.now()
    started = run_event(EventKind.STARTED, request, handle, None, time=now, traceparent=traceparent)
    check = CheckMessage(
        request=request, handle=handle, attempt=attempt, attempt_started_at=now, traceparent=traceparent
    )
    worker.bus.send(Destination.EVENTS, [event_message(started)])
    worker.bus.send(Destination.STATUS, [_check_message(check, now + worker.tracking.initial_delay)])
    return started


def payload_digest(body: bytes | str) -> str:
    """A fingerprint of a payload that ignores how its JSON was spaced or its keys ordered.

    Stored on every run, so a request id reused for another payload is told apart from a redelivery.
    """
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        raw = canonical.encode("utf-8", "surrogatepass")
    except (ValueError, TypeError, RecursionError):
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return hashlib.sha256(raw).hexdigest()[:32]


@log_context()
def handle_request(
    body: bytes | str,
    context: RequestContext,
    worker: Worker,
    *,
    attempt: int = 1,
    traceparent: str | None = None,
    callback: bool = False,
) -> Launched:
    """Validate, resolve and launch one request exactly once for its identity, then start tracking it."""
    bind(request_id=context.request_id, correlation_id=context.correlation_id, attempt=attempt)
    with span("amlexec.request", traceparent, {"amlexec.request_id": context.request_id}) as trace:
        payload = validate_payload(body, limits=worker.settings.limits)
        bind(activity_name=payload.activity.name)
        for warning in payload.warnings:
            logger.info("request %s: %s", context.request_id, warning)
        request = resolve(
            payload, context, worker.registry, default_linked_service=worker.settings.default_linked_service
        )
        request = request.model_copy(update={"payload_digest": payload_digest(body), "callback": callback})
        handle = worker.launchers.launch(request, attempt=attempt)
        bind(run_id=handle.run_id)
        logger.info(
            "request %s (correlation %s): %s run %s %s",
            request.request_id,
            request.correlation_id,
            request.target.kind,
            handle.run_id,
            "launched" if handle.created else "already launched",
        )
        started = _start_tracking(request, handle, worker, attempt=attempt, traceparent=trace)
        return Launched(request, handle, started)


@dataclass(frozen=True)
class Rejected:
    """A request that failed for good: the error, the reasons it was kept with, and the event sent."""

    error: AmlexecError
    rejection: RequestRejected
    event: CloudEvent


@log_context()
def process_request(
    body: bytes, context: RequestContext, worker: Worker, *, traceparent: str | None = None
) -> Launched | Rejected:
    """Handle a request and settle its failures by the one rule (:func:`amlexec.errors.outcome_of`).

    Launched, or rejected for good (the body kept on the rejected queue with every reason and a
    ``rejected`` event sent); a failure a retry may cure is raised for the host to redeliver. A WebHook's
    ``callBackUri`` is taken out of the body first: it is a secret, kept only in the request index, and a
    WebHook retry's new URI must not make the same request look like another payload.
    """
    bind(request_id=context.request_id, correlation_id=context.correlation_id, attempt=1)
    callback: SecretStr | None = None
    try:
        body, callback = _take_callback(body, worker)
        launched = handle_request(body, context, worker, traceparent=traceparent, callback=callback is not None)
    except Exception as error:
        if outcome_of(error) is Outcome.RETRY or not isinstance(error, AmlexecError):
            raise
        rejection = rejection_for(error)
        conflict = isinstance(rejection, IdempotencyConflict)
        if not conflict:  # the id of a conflict belongs to the payload that launched: its record stays
            _record(
                worker,
                IndexEntry(
                    context.request_id,
                    _activity_name_of(body),
                    "rejected",
                    issues=[i.to_dict() for i in rejection.issues],
                    callback_uri=_reveal(callback),
                ),
            )
        event = reject_request(
            body,
            context,
            rejection,
            worker,
            traceparent=traceparent,
            activity_name=_activity_name_of(body) or None,
            callback=callback is not None and not conflict,
        )
        return Rejected(error, rejection, event)
    _record(
        worker,
        IndexEntry(
            launched.request.request_id,
            launched.request.activity_name,
            "launched",
            ProgressRef.of(launched.request),
            callback_uri=_reveal(callback),
        ),
    )
    return launched


def _take_callback(body: bytes, worker: Worker) -> tuple[bytes, SecretStr | None]:
    rest, callback = split_callback_uri(body)
    if callback is None:
        return body, None
    if worker.index is None:
        raise ConfigurationError(
            "WebHook callbacks need the request index: set AzureWebJobsStorage__accountName "
            "(or AMLEXEC_REQUEST_INDEX_ENDPOINT)"
        )
    worker.callback_policy.check(callback)
    return rest if isinstance(rest, bytes) else rest.encode(), callback


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def _record(worker: Worker, entry: IndexEntry) -> None:
    """Note a handled request by identity (GET /api/requests); a failure is transient: the redelivery, which
    finds the run it launched, writes the record again."""
    if worker.index is not None:
        worker.index.record(entry)


def _activity_name_of(body: bytes) -> str:
    """The activity's name, if a rejected body has a readable one (rows of one request are keyed by it)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    activity = data["activity"] if is_envelope(data) else data
    name = activity.get("name") if isinstance(activity, dict) else None
    return name if isinstance(name, str) else ""


def _summary(issues: list[Issue]) -> str:
    text = "; ".join(str(i) for i in issues[:5])
    return text if len(issues) <= 5 else f"{text}; (+{len(issues) - 5} more)"


@log_context()
def reject_request(
    body: bytes,
    context: RequestContext,
    rejected: RequestRejected,
    worker: Worker,
    *,
    traceparent: str | None = None,
    activity_name: str | None = None,
    callback: bool = False,
) -> CloudEvent:
    """Keep the original body on the rejected queue with every reason, and tell the sender why (and a waiting
    WebHook, when ``callback``: the request index holds its URI)."""
    bind(request_id=context.request_id, correlation_id=context.correlation_id, activity_name=activity_name)
    issues_json = json.dumps([i.to_dict() for i in rejected.issues])
    event_id = message_id = None
    if isinstance(rejected, IdempotencyConflict):
        # The request id belongs to the payload that launched: this rejection must not use its terminal id.
        digest = payload_digest(body)
        event_id = conflict_event_id(context.request_id, digest)
        message_id = f"rejected|{digest}|{context.request_id}"[:128]
    original = OutgoingMessage(
        body=body,
        message_id=message_id or f"rejected|{context.request_id}"[:128],
        content_type="application/json",
        correlation_id=context.correlation_id,
        subject="amlexec.rejected",
        application_properties={
            "amlexec.originalMessageId": context.request_id[:256],
            "amlexec.rejectedAt": worker.clock.now().isoformat(),
            "amlexec.reason": _summary(rejected.issues)[:1024],
            "amlexec.issueCount": len(rejected.issues),
            # Service Bus caps all application properties at 64 KB; the full list is in the rejected event.
            "amlexec.issues": issues_json if len(issues_json) <= 16_384 else issues_json[:16_000] + "…",
        },
    )
    event = rejected_event(
        context.request_id,
        context.correlation_id,
        rejected.issues,
        time=worker.clock.now(),
        activity_name=activity_name,
        traceparent=traceparent,
        event_id=event_id,
    )
    worker.bus.send(Destination.REJECTED, [original])
    worker.bus.send(Destination.EVENTS, [event_message(event)])
    if not isinstance(rejected, IdempotencyConflict):  # the id belongs to the payload that launched
        record_window_end(context.request_id, EventKind.REJECTED, worker)
    if callback:
        _schedule_callback(event, worker)
    logger.warning("request %s rejected: %s", context.request_id, _summary(rejected.issues))
    return event


# -------------------------------------------------------------------------------------------------- checks


def final_event(
    request: LaunchRequest | EventContext,
    handle: RunHandle,
    status: RunStatus,
    worker: Worker,
    kind: EventKind | None = None,
    *,
    traceparent: str | None = None,
) -> CloudEvent:
    """The terminal event for a run (``kind`` defaults to the run's own final state)."""
    kinds = {
        RunState.COMPLETED: EventKind.COMPLETED,
        RunState.FAILED: EventKind.FAILED,
        RunState.CANCELED: EventKind.CANCELED,
    }
    return run_event(
        kind or kinds[status.state], request, handle, status, time=worker.clock.now(), traceparent=traceparent
    )


@log_context()
def handle_check(body: bytes | str, worker: Worker) -> Decision:
    """Look at one run in flight and do what tracking decides (idempotent: a redelivery decides again).

    A failure a retry may cure is raised, so the host redelivers the check. One it cannot cure (a revoked
    role, a removed linked service, a retry whose pipeline was deleted) is tried again at the longest poll
    interval and, if it persists, ends the request with a ``failed`` event naming the cause.
    """
    check = CheckMessage.model_validate_json(body)
    bind(
        request_id=check.request.request_id,
        correlation_id=check.request.correlation_id,
        activity_name=check.request.activity_name,
        attempt=check.attempt,
        run_id=check.handle.run_id if check.handle else None,
    )
    now = worker.clock.now()
    with span("amlexec.check", check.traceparent, {"amlexec.request_id": check.request.request_id}) as trace:
        try:
            if check.action == "launch":
                return _launch_retry(check, worker)
            assert check.handle is not None, "a status check always carries its run"
            with state_only_looks():  # one call for a run in flight; details once it has ended
                status = worker.launchers.status(check.handle)
        except Exception as error:
            if check.action == "check" and is_throttled(error):
                # Raising would have the host redeliver at once, into the same throttling, and dead-letter
                # the check after its last delivery: the run would never end. Look again after the wait.
                decision = decide_after_throttle(check, error.retry_after, worker.tracking)
                logger.warning("request %s: %s", check.request.request_id, decision.reason)
                assert decision.next_check is not None and decision.check_after is not None
                worker.bus.send(Destination.STATUS, [_check_message(decision.next_check, now + decision.check_after)])
                return decision
            if outcome_of(error) is Outcome.RETRY or not isinstance(error, AmlexecError):
                raise
            return _after_check_failure(check, error, worker, now, trace)
        if status.run_id and status.run_id != check.handle.run_id:
            # The run was a duplicate of a race between instances; from now on follow the one kept.
            followed = check.handle.model_copy(update={"run_id": status.run_id, "studio_url": status.studio_url})
            check = check.model_copy(update={"handle": followed})
            bind(run_id=followed.run_id)
        assert check.handle is not None
        decision = decide(check.model_copy(update={"failures": 0}), status, now, worker.tracking)
        logger.info("request %s run %s: %s", check.request.request_id, check.handle.run_id, decision.reason)
        _act(check, check.handle, status, decision, worker, now=now, trace=trace)
        return decision


def _launch_retry(check: CheckMessage, worker: Worker) -> Decision:
    handle = worker.launchers.launch(check.request, attempt=check.attempt)
    bind(run_id=handle.run_id)
    logger.info("request %s: attempt %d launched as %s", check.request.request_id, check.attempt, handle.run_id)
    _start_tracking(check.request, handle, worker, attempt=check.attempt, traceparent=check.traceparent)
    return Decision(reason=f"attempt {check.attempt} launched")


def _after_check_failure(
    check: CheckMessage, error: AmlexecError, worker: Worker, now: datetime, trace: str | None
) -> Decision:
    decision = decide_after_failure(check, f"{error.code}: {error}", worker.tracking)
    logger.error("request %s attempt %d: %s", check.request.request_id, check.attempt, decision.reason)
    handle = check.handle or RunHandle(
        target_kind=check.request.target.kind,
        run_id=run_name(check.request, check.attempt),
        experiment_name=check.request.experiment_name,
        linked_service=check.request.linked_service,
        workspace=check.request.workspace,
        attempt=check.attempt,
    )
    status = RunStatus(
        state=RunState.FAILED, raw_status="Unknown", error_code=error.code, error_message=str(error)[:2000]
    )
    _act(check, handle, status, decision, worker, now=now, trace=trace)
    return decision


def _act(
    check: CheckMessage,
    handle: RunHandle,
    status: RunStatus,
    decision: Decision,
    worker: Worker,
    *,
    now: datetime,
    trace: str | None,
) -> None:
    # Record the intent before acting on it: if the worker dies after scheduling the next check, the
    # redelivered check decides the same again (the repeat is dropped by id); acting first could lose
    # the fact that amlexec itself canceled the run.
    if decision.next_check is not None and decision.check_after is not None:
        worker.bus.send(Destination.STATUS, [_check_message(decision.next_check, now + decision.check_after)])
    if decision.relaunch_after is not None:
        relaunch = CheckMessage(
            action="launch",
            request=check.request,
            attempt=check.attempt + 1,
            attempt_started_at=now + decision.relaunch_after,
            traceparent=check.traceparent,
        )
        worker.bus.send(Destination.STATUS, [_check_message(relaunch, now + decision.relaunch_after)])
    if decision.cancel:
        worker.launchers.cancel(handle)
    if decision.finish is not None:
        event = final_event(check.request, handle, status, worker, decision.finish, traceparent=trace)
        worker.bus.send(Destination.EVENTS, [event_message(event)])
        record_window_end(check.request.request_id, decision.finish, worker)
        if check.request.callback:
            _schedule_callback(event, worker)


# ----------------------------------------------------------------------------------------------- callbacks

# Deliveries of one callback before giving up (the outcome stays on the events topic): about 7.5 hours.
MAX_CALLBACK_DELIVERIES = 20
_CALLBACK_BACKOFF_MAX = timedelta(minutes=30)


class CallbackMessage(BaseModel):
    """A WebHook callback to deliver, on the status queue: the terminal event, not the URI (the request
    index holds that secret). Its id is the event's, so the Event Grid and polling paths schedule it once."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["callback"] = "callback"
    request_id: str
    activity_name: str | None = None
    event: dict[str, Any]
    delivery: int = 1

    @property
    def message_id(self) -> str:
        return f"callback|{self.event.get('id')}|{self.delivery}"[:128]


def _schedule_callback(event: CloudEvent, worker: Worker, *, delivery: int = 1, delay: timedelta | None = None) -> None:
    message = CallbackMessage(
        request_id=str(event.data.get("requestId")),
        activity_name=event.data.get("activityName"),
        event=event.model_dump(mode="json", exclude_none=True),
        delivery=delivery,
    )
    _send_callback_message(message, worker, delay or timedelta(0))


def _send_callback_message(message: CallbackMessage, worker: Worker, delay: timedelta) -> None:
    worker.bus.send(
        Destination.STATUS,
        [
            OutgoingMessage(
                body=message.model_dump_json().encode(),
                message_id=message.message_id,
                correlation_id=message.event.get("correlationid"),
                subject="amlexec.callback",
                application_properties={"delivery": message.delivery},
                scheduled_enqueue_time=worker.clock.now() + delay,
            )
        ],
    )


@log_context()
def deliver_callback(message: CallbackMessage, worker: Worker) -> None:
    """POST a request's outcome to the WebHook waiting for it (at least once: retried with backoff)."""
    data = message.event.get("data") or {}
    bind(
        request_id=message.request_id,
        correlation_id=data.get("correlationId"),
        activity_name=message.activity_name,
        run_id=data.get("runId"),
        attempt=data.get("attempt"),
    )
    kind = str(message.event.get("type", "")).rsplit(".", 1)[-1]
    if worker.index is None or worker.callbacks is None:
        logger.error("request %s: a callback is due but the request index is not configured", message.request_id)
        return
    entries = [
        e
        for e in worker.index.find(message.request_id)
        if e.callback_uri
        and (not message.activity_name or not e.activity_name or e.activity_name == message.activity_name)
    ]
    if not entries:
        logger.warning("request %s: a callback is due but no callBackUri is recorded for it", message.request_id)
        return
    body = callback_body(kind, None, data)
    for entry in entries:
        assert entry.callback_uri is not None
        try:
            worker.callbacks.deliver(SecretStr(entry.callback_uri), body)
        except RequestRejected as refused:  # the host now resolves somewhere amlexec will not call
            logger.warning("request %s: callback not sent: %s", message.request_id, refused.issues[0].message)
        except TransientError as error:
            if message.delivery >= MAX_CALLBACK_DELIVERIES:
                logger.error(
                    "request %s: callback given up after %d deliveries: %s", message.request_id, message.delivery, error
                )
                return
            delay = min(_CALLBACK_BACKOFF_MAX, timedelta(seconds=30 * 2 ** min(message.delivery - 1, 10)))
            if error.retry_after:
                delay = max(delay, timedelta(seconds=error.retry_after))
            logger.warning(
                "request %s: callback delivery %d failed, again in %s: %s",
                message.request_id,
                message.delivery,
                delay,
                error,
            )
            _send_callback_message(message.model_copy(update={"delivery": message.delivery + 1}), worker, delay)
            return
    logger.info("request %s: callback delivered (%s)", message.request_id, kind)


def handle_status_message(body: bytes | str, worker: Worker) -> Decision | None:
    """A message on the status queue: a status check (or a retry's launch), or a callback to deliver."""
    try:
        kind = json.loads(body).get("kind")
    except (ValueError, AttributeError):
        kind = None
    if kind == "callback":
        deliver_callback(CallbackMessage.model_validate_json(body), worker)
        return None
    return handle_check(body, worker)


# ------------------------------------------------------------------------------------------------ progress


@dataclass(frozen=True)
class Progress:
    """Where a request stands, judged from its latest run: ``outcome`` is None while it is in progress."""

    outcome: EventKind | None
    handle: RunHandle | None = None
    status: RunStatus | None = None


def request_progress(ref: ProgressRef, worker: Worker) -> Progress:
    """The latest attempt of a request and its outcome so far (a retry that follows a failure is progress)."""
    service = worker.registry.get(ref.linked_service)
    if service is None:
        raise ConfigurationError(f"linked service '{ref.linked_service}' is no longer configured")
    where = RunHandle(
        target_kind=ref.target_kind,
        run_id="",
        experiment_name=ref.experiment_name,
        linked_service=service.name,
        workspace=service.workspace,
    )
    handle = worker.launchers.latest(where, ref.request_id, ref.activity_name, ref.max_attempts)
    if handle is None:
        return Progress(None)  # not launched yet (a request still on the queue)
    status = worker.launchers.status(handle)
    if status.run_id and status.run_id != handle.run_id:
        handle = handle.model_copy(update={"run_id": status.run_id, "studio_url": status.studio_url})
    outcome = outcome_seen_from_outside(
        status,
        attempt=handle.attempt,
        max_attempts=ref.max_attempts,
        timeout_seconds=ref.timeout_seconds,
        now=worker.clock.now(),
        cancel_grace=worker.tracking.cancel_grace,
    )
    return Progress(outcome, handle, status)


@dataclass(frozen=True)
class RequestStatus:
    """Every activity recorded for a request id: a launched one with its progress, a rejected one bare."""

    request_id: str
    activities: list[tuple[IndexEntry, Progress | None]]


def request_status(request_id: str, worker: Worker) -> RequestStatus:
    """Where a request known only by its identity stands (empty: not handled yet, or never sent)."""
    if worker.index is None:
        raise ConfigurationError(
            "requests cannot be looked up by id: set AzureWebJobsStorage__accountName (or "
            "AMLEXEC_REQUEST_INDEX_ENDPOINT) and grant the app's identity 'Storage Table Data "
            "Contributor' on that account"
        )
    found: list[tuple[IndexEntry, Progress | None]] = []
    for entry in worker.index.find(request_id):
        progress = request_progress(entry.progress, worker) if entry.progress is not None else None
        found.append((entry, progress))
    return RequestStatus(request_id, found)


# -------------------------------------------------------------------------------------------- Event Grid


def _field(data: dict[str, Any], name: str) -> Any:
    """A field of an Event Grid payload, whatever its casing.

    Microsoft's documentation shows both ``runStatus`` (today's schema) and ``RunStatus`` (older examples);
    the Event Grid SDK models use camelCase. Reading keys case-insensitively accepts either.
    """
    if name in data:
        return data[name]
    wanted = name.lower()
    return next((value for key, value in data.items() if isinstance(key, str) and key.lower() == wanted), None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@log_context()
def handle_run_notification(event_type: str, data: Any, worker: Worker) -> CloudEvent | None:
    """An Azure ML run event: publish the terminal event at once if it is a run we launched that has ended.

    Only outcomes that are certainly final are taken here: a completed run, and a failed run on its last
    attempt. Cancellations and retryable failures are left to the status checks, which know whether
    amlexec itself canceled the run (a timeout) and whether another attempt follows.

    Events that are not ours (other runs, pipeline steps, malformed data) are ignored: raising would make
    Event Grid retry and then dead-letter them, and the status checks end every run anyway.
    """
    if not isinstance(event_type, str) or not event_type.endswith(("RunStatusChanged", "RunCompleted")):
        return None
    if not isinstance(data, dict):
        logger.warning("Azure ML %s event without a JSON object as data; ignored", event_type)
        return None
    properties = _field(data, "runProperties")
    if not isinstance(properties, dict):
        return None  # no properties (or not an object): not a run amlexec launched
    packed, run_name = _text(_field(properties, CONTEXT_PROPERTY)), _text(_field(properties, RUN_NAME_PROPERTY))
    run_id = _text(_field(data, "runId"))
    if not packed or not run_name:
        return None  # not launched by amlexec (or a pipeline step, which carries no amlexec properties)
    if run_id is None:
        logger.warning("Azure ML %s event for %s carries no runId; ignored", event_type, run_name)
        return None
    status_word = _text(_field(data, "runStatus")) or ("Completed" if event_type.endswith("RunCompleted") else "")
    try:
        context = EventContext.unpack(packed)
    except ValueError:
        logger.warning("run %s carries an unreadable %s property; ignored", run_id, CONTEXT_PROPERTY)
        return None
    attempt = attempt_of(run_name)
    bind(
        request_id=context.request_id,
        correlation_id=context.correlation_id,
        activity_name=context.activity_name,
        run_id=run_id,
        attempt=attempt,
    )
    # The documented example says "failed"; the service's own status words are capitalised.
    state = normalise_status(status_word)
    if state is RunState.COMPLETED:
        kind = EventKind.COMPLETED
    elif state is RunState.FAILED and attempt >= context.max_attempts:
        kind = EventKind.FAILED
    else:
        return None
    handle = RunHandle(
        target_kind=str(context.target.get("kind")),
        run_id=run_id,
        experiment_name=_text(_field(data, "experimentName")) or context.experiment_name,
        linked_service=context.linked_service,
        workspace=context.workspace,
        attempt=attempt,
    )
    status = worker.launchers.status(handle)
    if not status.is_final:
        return None  # the notification overtook the service's own record; the status checks will see it
    event = final_event(context, handle, status, worker, kind)
    worker.bus.send(Destination.EVENTS, [event_message(event)])
    record_window_end(context.request_id, kind, worker)
    if context.callback:
        _schedule_callback(event, worker)
    logger.info("request %s run %s: %s (from Event Grid)", context.request_id, handle.run_id, kind.value)
    return event


# --------------------------------------------------------------------------------------------- schedules


def scheduled_envelope(schedule: Schedule, occurrence: datetime, now: datetime) -> bytes:
    """The request a schedule occurrence sends: its payload with the trigger's times filled in."""
    payload = json.loads(schedule.payload)
    envelope = payload if is_envelope(payload) else {"activity": payload}
    trigger = dict(envelope.get("trigger") or {})
    trigger.update(
        {
            "name": schedule.name,
            "type": "ScheduleTrigger",
            "time": dotnet_timestamp(occurrence),
            "scheduledTime": dotnet_timestamp(occurrence),
            "startTime": dotnet_timestamp(now),
        }
    )
    envelope["trigger"] = trigger
    envelope.setdefault("correlationId", request_id_for(schedule, occurrence))
    return json.dumps(envelope).encode()


def handle_tick(worker: Worker, *, last_tick: datetime | None = None) -> list[str]:
    """Enqueue a request for every schedule occurrence due since the last tick; return their ids."""
    now = worker.clock.now()
    messages = []
    for schedule, occurrence in due_occurrences(worker.schedules, now=now, last_tick=last_tick):
        request_id = request_id_for(schedule, occurrence)
        messages.append(
            OutgoingMessage(
                body=scheduled_envelope(schedule, occurrence, now),
                message_id=request_id,
                correlation_id=request_id,
                subject="amlexec.schedule",
                application_properties={"amlexec.schedule": schedule.name},
            )
        )
    if messages:
        worker.bus.send(Destination.REQUESTS, messages)
        for message in messages:
            with log_context(request_id=message.message_id, correlation_id=message.correlation_id):
                logger.info("schedule due: request %s sent", message.message_id)
    fired = [m.message_id for m in messages]
    failures: list[Exception] = []
    windows = {d.name: d.window for d in worker.triggers if d.window is not None}
    for definition in worker.triggers:
        if not definition.started:
            continue
        # One trigger's trouble (a ledger that cannot be reached) must not hold the others back.
        try:
            if definition.recurrence is not None:
                fired += _fire_schedule_trigger(definition, worker, now=now, last_tick=last_tick)
            elif definition.window is not None:
                fired += _fire_windows(definition, definition.window, windows, worker, now=now)
        except Exception as exc:
            logger.exception("trigger %s: this tick failed; the next one tries again", definition.name)
            failures.append(exc)
    if failures:
        raise failures[0]
    return fired


# ------------------------------------------------------------------------------------------- Data Factory triggers


def _trigger_message(request_id: str, body: bytes, definition: TriggerDefinition) -> OutgoingMessage:
    return OutgoingMessage(
        body=body,
        message_id=request_id,
        correlation_id=request_id,
        content_type="application/json",
        subject=f"amlexec.{definition.type}",
        application_properties={"amlexec.trigger": definition.name},
    )


def _fire(
    definition: TriggerDefinition,
    base_id: str,
    worker: Worker,
    *,
    scheduled_time: datetime,
    outputs: dict[str, Any] | None = None,
) -> list[str]:
    """Send one request per pipeline of one firing; a firing whose parameters cannot be evaluated is rejected."""
    now = worker.clock.now()
    messages = []
    for target in definition.targets:
        request_id = target_request_id(base_id, definition, target)
        try:
            body = trigger_envelope(
                definition,
                target,
                scheduled_time=scheduled_time,
                start_time=now,
                outputs=outputs,
                request_id=request_id,
            )
        except RequestRejected as rejected:
            context = RequestContext(
                request_id=request_id,
                received_at=now,
                trigger_type=definition.type,
                trigger_name=definition.name,
                scheduled_time=scheduled_time,
                correlation_id=request_id,
                data_factory=worker.settings.data_factory_name,
            )
            reject_request(target.payload, context, rejected, worker, activity_name=_activity_name_of(target.payload))
            continue
        messages.append(_trigger_message(request_id, body, definition))
    if messages:
        worker.bus.send(Destination.REQUESTS, messages)
        for message in messages:
            with log_context(request_id=message.message_id, correlation_id=message.correlation_id):
                logger.info("trigger %s: request %s sent", definition.name, message.message_id)
    return [m.message_id for m in messages]


def _fire_schedule_trigger(
    definition: TriggerDefinition, worker: Worker, *, now: datetime, last_tick: datetime | None
) -> list[str]:
    """The latest occurrence since the previous tick, as for schedules (a missed one runs late, once)."""
    assert definition.recurrence is not None
    since = look_back_start(now, last_tick)
    occurrences = list(definition.recurrence.occurrences(since, now))  # at most a day's worth: MAX_CATCH_UP
    if not occurrences:
        return []
    latest = occurrences[-1]
    stamp = latest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fired = _fire(definition, f"schedule:{definition.name}:{stamp}", worker, scheduled_time=latest)
    logger.info("trigger %s: occurrence %s", definition.name, stamp)
    return fired


def _fire_windows(
    definition: TriggerDefinition,
    window: TumblingWindow,
    windows: dict[str, TumblingWindow],
    worker: Worker,
    *,
    now: datetime,
) -> list[str]:
    """Send the windows a tumbling window trigger may run now (see amlexec.factory_triggers.windows)."""
    if worker.windows is None:
        raise ConfigurationError(
            f"trigger {definition.name}: tumbling windows need the request index's table "
            "(AMLEXEC_REQUEST_INDEX_ENDPOINT, AMLEXEC_REQUEST_INDEX_CONNECTION_STRING or AzureWebJobsStorage)"
        )
    fired: list[str] = []

    def send(planned: list[PlannedWindow]) -> None:
        for item in planned:
            outputs = {
                "windowStartTime": dotnet_timestamp(item.start),
                "windowEndTime": dotnet_timestamp(item.end),
            }
            base = window_request_id(definition.name, item.start, item.attempt)
            # Data Factory documents no scheduled time for a window; the moment it became due is the closest.
            fired.extend(_fire(definition, base, worker, scheduled_time=item.end + window.delay, outputs=outputs))

    plan = run_tick(definition.name, window, worker.windows, now, send, others=windows)
    if plan.send or plan.waiting_on_dependency:
        logger.info(
            "trigger %s: sent %d window(s), %d in flight, %d waiting on dependencies",
            definition.name,
            len(plan.send),
            plan.in_flight,
            plan.waiting_on_dependency,
        )
    return fired


def record_window_end(request_id: str, kind: EventKind, worker: Worker) -> None:
    """Tell the tumbling window ledger how a window's request ended (nothing for any other request).

    Called wherever a terminal event is published, before the message is settled: a failure raises, the
    message is redelivered, the event (deduplicated) and this record are made again. A request id that has
    ``|<pipeline>`` belongs to a trigger with several pipelines: the window is recorded from its first.
    """
    if worker.windows is None:
        return
    base, _, pipeline = request_id.partition("|")
    parsed = parse_window_request_id(base)
    if parsed is None:
        return
    name, start, attempt = parsed
    definition = next(
        (d for d in worker.triggers if d.window is not None and window_request_id(d.name, start, attempt) == base),
        None,
    )
    if definition is None or definition.window is None:
        logger.warning("request %s: no tumbling window trigger %s is configured any more", request_id, name)
        return
    if pipeline and definition.targets and pipeline != definition.targets[0].reference:
        return
    succeeded = kind is EventKind.COMPLETED
    state = outcome_state(succeeded, attempt, definition.window)
    if kind is EventKind.REJECTED:
        state = "exhausted"  # the same payload is rejected again on every retry
    worker.windows.record_outcome(definition.name, start, attempt, state, worker.clock.now())


def _is_event(document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    if "specversion" in document:
        return True
    return all(key in document for key in ("eventType", "subject", "data"))


def is_event_delivery(body: bytes) -> bool:
    """Whether a request-queue message is an Event Grid delivery (one event, or an array) rather than a payload.

    An activity or an envelope has neither ``specversion`` (CloudEvents) nor ``eventType`` with ``subject``
    and ``data`` (the Event Grid schema), so the two never mix up.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    if isinstance(document, list):
        return bool(document) and all(_is_event(item) for item in document)
    return _is_event(document)


def handle_trigger_events(body: bytes, worker: Worker, context: RequestContext) -> list[str]:
    """Events from Event Grid (storage or custom topic, via the request queue): start every trigger they match.

    Each match sends one request per pipeline, identified by the trigger and the event id, so Event Grid
    redelivering an event (or delivering it twice) launches once. An event no trigger matches is logged and
    dropped, as Data Factory ignores it.
    """
    fired: list[str] = []
    try:
        events = parse_events(body)
    except NotAnEvent as exc:
        reject_request(body, context, RequestRejected([Issue("$", exc.reason, code=exc.code)]), worker)
        return []
    for event in events:
        matched = False
        for definition in worker.triggers:
            if not definition.started:
                continue
            result: Any = None
            if definition.blob is not None:
                result = match_blob_event(event, definition.blob)
            elif definition.custom is not None:
                result = match_custom_event(event, definition.custom)
            if isinstance(result, Match):
                matched = True
                base = fit_message_id(f"event:{definition.name}:{result.request_suffix}")
                fired += _fire(
                    definition,
                    base,
                    worker,
                    scheduled_time=parse_instant(event.event_time) or worker.clock.now(),
                    outputs=result.trigger_outputs,
                )
            elif result is not None:
                logger.debug("event %s and trigger %s: %s", event.id, definition.name, result.reason)
        if not matched:
            logger.info("event %s (%s, %s) matches no started trigger", event.id, event.event_type, event.subject)
    return fired


# ------------------------------------------------------------------------------------------------ Event Grid


def forward_event(body: bytes, worker: Worker) -> None:
    """Publish one message of the events topic to the Event Grid custom topic (Data Factory custom event triggers).

    Transient failures raise, so Service Bus redelivers the message and dead-letters it, event id intact, after
    the subscription's max delivery count; so do a missing role or topic, which an operator fixes before
    replaying the dead letters.
    """
    if worker.eventgrid is None:
        raise ConfigurationError("set AMLEXEC_EVENTGRID_TOPIC_ENDPOINT to forward events to Event Grid")
    worker.eventgrid.forward(body)
