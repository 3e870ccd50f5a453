"""CloudEvents 1.0 for every outcome of a request, and the Service Bus messages that carry them.

Ids are deterministic: every terminal event of a request (completed, failed, canceled, timedOut, rejected)
shares one id, ``started`` events have one per attempt. The events topic's duplicate detection therefore
lets exactly one terminal event through per request, whichever path (a status check, an Event Grid
notification, a redelivery) publishes first. ``secureInput`` keeps parameters out of events;
``secureOutput`` keeps outputs and the service's error messages out.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from amlexec.bus.base import OutgoingMessage
from amlexec.errors import Issue
from amlexec.launch.base import RunHandle, RunStatus
from amlexec.request import LaunchRequest
from amlexec.runs import EventContext

__all__ = [
    "CONTENT_TYPE",
    "EVENT_SOURCE",
    "CloudEvent",
    "EventKind",
    "conflict_event_id",
    "event_message",
    "rejected_event",
    "run_event",
    "terminal_event_id",
]

EVENT_SOURCE = "urn:amlexec"
CONTENT_TYPE = "application/cloudevents+json"
_EVENT_NAMESPACE = uuid.UUID("5f0c3d0e-8d7b-4c8a-9a51-3f0f5b8e2c77")


class EventKind(StrEnum):
    """What happened; the CloudEvents ``type`` is ``com.amlexec.run.<kind>``."""

    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    TIMED_OUT = "timedOut"
    REJECTED = "rejected"

    @property
    def type(self) -> str:
        return f"com.amlexec.run.{self.value}"

    @property
    def terminal(self) -> bool:
        return self is not EventKind.STARTED


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event in structured JSON mode (``application/cloudevents+json``)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    specversion: str = "1.0"
    id: str
    source: str
    type: str
    subject: str | None = None
    time: datetime
    datacontenttype: str = "application/json"
    correlationid: str | None = Field(default=None, description="extension: the request's correlation id")
    traceparent: str | None = Field(default=None, description="extension: W3C trace context of the request")
    data: dict[str, Any]

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


def terminal_event_id(request_id: str) -> str:
    """The one id every terminal event of a request carries."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"terminal|{request_id}"))


def conflict_event_id(request_id: str, payload_digest: str) -> str:
    """The id of the rejection of a payload that reused a request id: never the request's terminal id, so
    the first payload's own terminal event still goes through the topic's duplicate detection."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"conflict|{request_id}|{payload_digest}"))


def _event_id(kind: EventKind, context: EventContext, attempt: int) -> str:
    if kind.terminal:
        return terminal_event_id(context.request_id)
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{kind.value}|{context.request_id}|{attempt}"))


def _source(context: EventContext) -> str:
    if context.workspace is None:
        return f"{EVENT_SOURCE}:local:{context.linked_service}"
    return context.workspace.resource_id


def run_event(
    kind: EventKind,
    request: LaunchRequest | EventContext,
    handle: RunHandle,
    status: RunStatus | None,
    *,
    time: datetime,
    traceparent: str | None = None,
) -> CloudEvent:
    """The event for a run attempt reaching ``kind``."""
    context = request if isinstance(request, EventContext) else EventContext.of(request)
    data: dict[str, Any] = {
        "status": kind.value,
        "runId": handle.run_id,
        "attempt": handle.attempt,
        "maxAttempts": context.max_attempts,
        "target": context.target,
        "experimentName": handle.experiment_name,
        "activityName": context.activity_name,
        "linkedService": context.linked_service,
        "correlationId": context.correlation_id,
        "requestId": context.request_id,
        "studioUrl": (status.studio_url if status and status.studio_url else handle.studio_url),
    }
    if context.parameters is not None:
        data["parameters"] = context.parameters
    if status is not None:
        data["serviceStatus"] = status.raw_status
        if status.started_at:
            data["startedAt"] = status.started_at.isoformat()
        if status.ended_at:
            data["endedAt"] = status.ended_at.isoformat()
        if status.started_at and status.ended_at:
            data["durationSeconds"] = round((status.ended_at - status.started_at).total_seconds(), 3)
        data["steps"] = [{"name": s.name, "status": s.state.value, "serviceStatus": s.raw_status} for s in status.steps]
        if status.error_code:
            data["errorCode"] = status.error_code
        if not context.secure_output:
            if status.error_message:
                data["errorMessage"] = status.error_message
            if status.outputs:
                data["outputs"] = status.outputs
    return CloudEvent(
        id=_event_id(kind, context, handle.attempt),
        source=_source(context),
        type=kind.type,
        subject=handle.run_id,
        time=time,
        correlationid=context.correlation_id,
        traceparent=traceparent,
        data=data,
    )


def rejected_event(
    request_id: str,
    correlation_id: str | None,
    issues: list[Issue],
    *,
    time: datetime,
    activity_name: str | None = None,
    traceparent: str | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """The event telling a sender why its request will never run, with every issue found.

    ``event_id`` defaults to the request's terminal event id; a rejection that must not take that id (a
    conflicting duplicate of a request that did launch) passes its own.
    """
    return CloudEvent(
        id=event_id or terminal_event_id(request_id),
        source=f"{EVENT_SOURCE}:requests",
        type=EventKind.REJECTED.type,
        subject=request_id,
        time=time,
        correlationid=correlation_id,
        traceparent=traceparent,
        data={
            "status": EventKind.REJECTED.value,
            "requestId": request_id,
            "correlationId": correlation_id,
            "activityName": activity_name,
            "issues": [i.to_dict() for i in issues],
        },
    )


def event_message(event: CloudEvent) -> OutgoingMessage:
    """The Service Bus message for an event: its id as message id, filterable application properties."""
    data = event.data
    properties: dict[str, str | int | float | bool] = {
        "cloudEvents:specversion": event.specversion,
        "cloudEvents:type": event.type,
        "cloudEvents:source": event.source,
        "cloudEvents:id": event.id,
        "status": str(data.get("status")),
    }
    for key in ("activityName", "experimentName", "linkedService", "requestId", "runId", "correlationId"):
        if data.get(key) is not None:
            properties[key] = str(data[key])[:256]
    if isinstance(data.get("target"), dict):
        properties["targetKind"] = str(data["target"].get("kind"))
    if isinstance(data.get("attempt"), int):
        properties["attempt"] = data["attempt"]
    if data.get("errorCode"):
        properties["errorCode"] = str(data["errorCode"])[:256]
    if event.traceparent:
        properties["traceparent"] = event.traceparent
        properties["Diagnostic-Id"] = event.traceparent
    return OutgoingMessage(
        body=json.dumps(event.model_dump(mode="json", exclude_none=True)).encode(),
        message_id=event.id,
        content_type=CONTENT_TYPE,
        correlation_id=event.correlationid,
        subject=event.type,
        application_properties=properties,
    )
