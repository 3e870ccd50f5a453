"""CloudEvents 1.0 for every outcome of a request: started, completed, failed, canceled, timed out, rejected.

Event ids are deterministic (one per run attempt and outcome), so a re-published event carries the same id
and the topic's duplicate detection drops it. ``secureInput`` keeps parameters out of events;
``secureOutput`` keeps outputs and service error messages out.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from amlexec.errors import Issue
from amlexec.launch.base import RunHandle, RunStatus
from amlexec.resolve import LaunchRequest

__all__ = ["EVENT_SOURCE", "CloudEvent", "EventKind", "rejected_event", "run_event"]

EVENT_SOURCE = "urn:amlexec"
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
    data: dict[str, Any]

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


def _event_id(kind: EventKind, key: str) -> str:
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{kind.type}|{key}"))


def _source(request: LaunchRequest) -> str:
    if request.workspace is None:
        return f"{EVENT_SOURCE}:local:{request.linked_service}"
    ws = request.workspace
    return (f"/subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{ws.name}")


def run_event(kind: EventKind, request: LaunchRequest, handle: RunHandle, status: RunStatus | None, *,
              time: datetime) -> CloudEvent:
    """The event for one run attempt reaching ``kind``."""
    target = request.target.model_dump(mode="json")
    data: dict[str, Any] = {
        "status": kind.value,
        "runId": handle.run_id,
        "attempt": handle.attempt,
        "target": target,
        "experimentName": handle.experiment_name,
        "activityName": request.activity_name,
        "linkedService": request.linked_service,
        "correlationId": request.correlation_id,
        "requestId": request.request_id,
        "studioUrl": (status.studio_url if status and status.studio_url else handle.studio_url),
    }
    if not request.policy.secure_input:
        data["parameters"] = request.parameters
    if status is not None:
        data["serviceStatus"] = status.raw_status
        if status.started_at:
            data["startedAt"] = status.started_at.isoformat()
        if status.ended_at:
            data["endedAt"] = status.ended_at.isoformat()
        if status.started_at and status.ended_at:
            data["durationSeconds"] = round((status.ended_at - status.started_at).total_seconds(), 3)
        data["steps"] = [{"name": s.name, "status": s.state.value, "serviceStatus": s.raw_status}
                         for s in status.steps]
        if status.error_code:
            data["errorCode"] = status.error_code
        if not request.policy.secure_output:
            if status.error_message:
                data["errorMessage"] = status.error_message
            if status.outputs:
                data["outputs"] = status.outputs
    return CloudEvent(id=_event_id(kind, f"{handle.run_id}|{handle.attempt}"), source=_source(request),
                      type=kind.type, subject=handle.run_id, time=time, correlationid=request.correlation_id,
                      data=data)


def rejected_event(request_id: str, correlation_id: str | None, issues: list[Issue], *, time: datetime,
                   activity_name: str | None = None) -> CloudEvent:
    """The event telling a sender why its request will never run, with every issue found."""
    return CloudEvent(id=_event_id(EventKind.REJECTED, request_id), source=f"{EVENT_SOURCE}:requests",
                      type=EventKind.REJECTED.type, subject=request_id, time=time, correlationid=correlation_id,
                      data={"status": EventKind.REJECTED.value, "requestId": request_id,
                            "correlationId": correlation_id, "activityName": activity_name,
                            "issues": [i.to_dict() for i in issues]})
