"""The HTTP API in one place: the OpenAPI 3.1 document and the answers it documents.

``triggers.py`` decodes HTTP requests and wires functions; every body it answers with is built here, next to
the schema that describes it, so the document (served at /api/openapi.json, committed under docs/) and
the responses cannot drift apart unseen: a test checks every response against the document.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amlexec.errors import AmlexecError, IdempotencyConflict, Outcome, RequestRejected, TransientError, outcome_of
from amlexec.events import EventKind
from amlexec.launch.base import RunHandle, RunState, RunStatus
from amlexec.schema import payload_schema

if TYPE_CHECKING:
    from amlexec.handlers import Launched, Progress, RequestStatus, ValidationReport

__all__ = [
    "Answer",
    "failure",
    "invalid_payload",
    "openapi_document",
    "openapi_text",
    "progress",
    "request_progress_answer",
    "run_status",
    "submitted",
    "unknown_progress",
    "validated",
]

logger = logging.getLogger(__name__)


def _rebase(node: Any) -> Any:
    """Point JSON Schema ``#/$defs/X`` references at ``#/components/schemas/X``."""
    if isinstance(node, dict):
        return {
            k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" and isinstance(v, str) else _rebase(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


_ISSUE = {
    "type": "object",
    "required": ["path", "code", "message"],
    "properties": {
        "path": {"type": "string", "description": "JSON path in the payload"},
        "code": {"type": "string"},
        "message": {"type": "string"},
        "expected": {"type": "string"},
        "got": {"type": "string"},
    },
}
_REJECTION = {
    "type": "object",
    "properties": {
        "valid": {"const": False},
        "error": {"type": "string"},
        "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}},
    },
}
_CONFLICT = {
    "type": "object",
    "required": ["error", "issues"],
    "properties": {
        "error": {"const": "IdempotencyConflict"},
        "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}},
    },
}
_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {
            "type": "string",
            "description": "ServiceUnavailable, access_denied, configuration_error, InternalError",
        },
        "message": {"type": "string", "description": "what failed and, for the app's own setup, what to grant or set"},
    },
}
_RUN_STATUS = {
    "type": "object",
    "required": ["runId", "status", "isTerminal"],
    "properties": {
        "runId": {"type": "string"},
        "runName": {"type": "string"},
        "status": {"enum": ["Queued", "InProgress", "Succeeded", "Failed", "Cancelled"]},
        "isTerminal": {"type": "boolean", "description": "stop an Until loop when true"},
        "serviceStatus": {"type": "string"},
        "startedAt": {"type": ["string", "null"], "format": "date-time"},
        "endedAt": {"type": ["string", "null"], "format": "date-time"},
        "error": {
            "type": ["object", "null"],
            "properties": {"code": {"type": "string"}, "message": {"type": ["string", "null"]}},
        },
        "studioUrl": {"type": ["string", "null"]},
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "status": {"type": "string"},
                    "serviceStatus": {"type": "string"},
                },
            },
        },
    },
}
_VALIDATED = {
    "type": "object",
    "required": ["valid", "warnings", "deferred", "request"],
    "properties": {
        "valid": {"const": True},
        "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}},
        "deferred": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/Issue"},
            "description": "values known only at run time (activity outputs, item(), ...)",
        },
        "request": {"type": "object", "description": "the previewed launch request"},
    },
}
_PROGRESS = {
    "type": "object",
    "required": ["requestId", "status"],
    "properties": {
        "requestId": {"type": "string"},
        "status": {
            "enum": ["Pending", "Queued", "InProgress", "Succeeded", "Failed", "TimedOut", "Cancelled", "Rejected"]
        },
        "activityName": {"type": "string"},
        "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}},
        "activities": {"type": "array", "items": {"type": "object"}},
        "runId": {"type": "string", "description": "the latest attempt's run"},
        "attempt": {"type": "integer"},
        "serviceStatus": {"type": "string"},
        "startedAt": {"type": ["string", "null"], "format": "date-time"},
        "endedAt": {"type": ["string", "null"], "format": "date-time"},
        "durationSeconds": {"type": "number"},
        "studioUrl": {"type": ["string", "null"]},
        "outputs": {"type": "object", "additionalProperties": {"type": "string"}},
        "steps": {"type": "array", "items": {"type": "object"}},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}
_SUBMITTED = {
    "type": "object",
    "required": ["runId", "runName", "requestId", "status", "progressUrl", "statusUrl"],
    "properties": {
        "runId": {"type": "string"},
        "runName": {"type": "string"},
        "requestId": {"type": "string"},
        "status": {"const": "Queued"},
        "created": {"type": "boolean", "description": "false when the Idempotency-Key found a run"},
        "progressUrl": {
            "type": "string",
            "format": "uri",
            "description": "absolute; also the Location header: answers 202 until the request ends",
        },
        "statusUrl": {"type": "string", "format": "uri", "description": "absolute; for an Until loop"},
        "studioUrl": {"type": ["string", "null"]},
        "correlationId": {"type": "string"},
        "request": {"type": "object"},
    },
}


def openapi_document() -> dict[str, Any]:
    """The API: launch a payload, read a run's status, validate a payload."""
    payload = payload_schema()
    schemas = _rebase(payload.pop("$defs"))
    schemas["Payload"] = _rebase({"anyOf": payload["anyOf"], "description": payload["description"]})
    schemas.update(
        {
            "Issue": _ISSUE,
            "Rejection": _REJECTION,
            "Conflict": _CONFLICT,
            "Error": _ERROR,
            "RunStatus": _RUN_STATUS,
            "Submitted": _SUBMITTED,
            "Progress": _PROGRESS,
            "Validated": _VALIDATED,
        }
    )

    def json_body(ref: str) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "amlexec",
            "version": "1",
            "description": "Run Azure Machine Learning pipelines from Data Factory AzureMLExecutePipeline payloads.",
        },
        "servers": [{"url": "/api"}],
        "security": [{"functionKey": []}],
        "paths": {
            "/runs": {
                "post": {
                    "operationId": "submitRun",
                    "summary": "Launch a payload (exactly once per Idempotency-Key)",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": "the request identity; repeats find the first run",
                        },
                        {"name": "x-correlation-id", "in": "header", "required": False, "schema": {"type": "string"}},
                    ],
                    "requestBody": {"required": True, **json_body("Payload")},
                    "responses": {
                        "202": {"description": "launched (or found)", **json_body("Submitted")},
                        "400": {"description": "rejected, with every issue", **json_body("Rejection")},
                        "409": {
                            "description": "the Idempotency-Key already launched a different payload; "
                            "the first run is untouched",
                            **json_body("Conflict"),
                        },
                        "500": {
                            "description": "the app cannot launch (a missing role or setting, named in the message)",
                            **json_body("Error"),
                        },
                        "503": {
                            "description": "Azure ML is throttling or unavailable; retry after",
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                            **json_body("Error"),
                        },
                    },
                }
            },
            "/runs/{runId}": {
                "get": {
                    "operationId": "getRun",
                    "summary": "Where a run stands",
                    "parameters": [{"name": "runId", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "the run's status", **json_body("RunStatus")},
                        "400": {"description": "not a run id", **json_body("Rejection")},
                        "500": {
                            "description": "the app cannot read the run (a missing role, named in the message)",
                            **json_body("Error"),
                        },
                        "503": {
                            "description": "Azure ML is throttling or unavailable; retry after",
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                            **json_body("Error"),
                        },
                    },
                }
            },
            "/progress/{token}": {
                "get": {
                    "operationId": "getProgress",
                    "summary": "Where a request stands, for Data Factory's Web activity (no key: the URL is signed)",
                    "security": [],
                    "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {
                            "description": "completed; the body becomes the activity's output",
                            **json_body("Progress"),
                        },
                        "202": {
                            "description": "queued or running (or about to retry): look again",
                            "headers": {
                                "Location": {"schema": {"type": "string"}},
                                "Retry-After": {"schema": {"type": "integer"}},
                            },
                            **json_body("Progress"),
                        },
                        "404": {"description": "not a progress URL of this app", **json_body("Error")},
                        "424": {
                            "description": "the run failed, timed out or was canceled: fails the Web activity, "
                            "with the Azure ML error code and message in the body",
                            **json_body("Progress"),
                        },
                        "500": {
                            "description": "the app cannot read the run (named in the message)",
                            **json_body("Error"),
                        },
                        "503": {
                            "description": "Azure ML is throttling or unavailable; retry after",
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                            **json_body("Error"),
                        },
                    },
                }
            },
            "/requests/{requestId}": {
                "get": {
                    "operationId": "getRequest",
                    "summary": "Where a request sent through the queue stands, by its message id",
                    "parameters": [{"name": "requestId", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "completed", **json_body("Progress")},
                        "202": {
                            "description": "not handled yet, queued, running or about to retry; Location is a "
                            "signed progress URL that needs no key",
                            "headers": {
                                "Location": {"schema": {"type": "string"}},
                                "Retry-After": {"schema": {"type": "integer"}},
                            },
                            **json_body("Progress"),
                        },
                        "424": {
                            "description": "rejected (with every reason), failed, timed out or canceled",
                            **json_body("Progress"),
                        },
                        "500": {
                            "description": "the request index is not configured (named in the message)",
                            **json_body("Error"),
                        },
                        "503": {
                            "description": "Azure ML or the request index is unavailable; retry after",
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                            **json_body("Error"),
                        },
                    },
                }
            },
            "/validate": {
                "post": {
                    "operationId": "validatePayload",
                    "summary": "Validate a payload and preview its launch request",
                    "requestBody": {"required": True, **json_body("Payload")},
                    "responses": {
                        "200": {"description": "valid", **json_body("Validated")},
                        "422": {"description": "invalid, with every issue", **json_body("Rejection")},
                        "500": {
                            "description": "the app's configuration is broken (named in the message)",
                            **json_body("Error"),
                        },
                    },
                }
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}},
        },
    }


def openapi_text() -> str:
    """The document as committed at docs/openapi.json."""
    return json.dumps(openapi_document(), indent=2) + "\n"


# ------------------------------------------------------------------------------------------------ answers

# Data Factory's words for where a run stands, as its Until-loop recipes test them.
_ADF_STATUS = {
    RunState.QUEUED: "Queued",
    RunState.RUNNING: "InProgress",
    RunState.COMPLETED: "Succeeded",
    RunState.FAILED: "Failed",
    RunState.CANCELED: "Cancelled",
}
# How soon a caller should look again at a run just launched: the first status check's spacing.
FIRST_LOOK_SECONDS = 15


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status code, JSON body, headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return json.dumps(self.body)


def submitted(launched: Launched, run_ref: str, progress_url: str, base_url: str) -> Answer:
    """202 for a launched (or found) run.

    ``Location`` is the absolute, self-authenticating progress URL that Data Factory's Web activity follows
    on its own (202 until the request ends); ``statusUrl`` is the function-key URL an Until loop polls
    (always 200, ``isTerminal``) for those who set ``turnOffAsync``.
    """
    status_url = f"{base_url}/api/runs/{run_ref}"
    return Answer(
        202,
        {
            "runId": run_ref,
            "runName": launched.handle.run_id,
            "requestId": launched.request.request_id,
            "status": "Queued",
            "created": launched.handle.created,
            "progressUrl": progress_url,
            "statusUrl": status_url,
            "studioUrl": launched.handle.studio_url,
            "correlationId": launched.request.correlation_id,
            "request": launched.request.public_view(),
        },
        {"Location": progress_url, "Retry-After": str(FIRST_LOOK_SECONDS)},
    )


# How soon Data Factory should look again at a request in progress (whether it honours this is undocumented).
PROGRESS_RETRY_SECONDS = 30
_OUTCOME_STATUS = {
    EventKind.COMPLETED: "Succeeded",
    EventKind.FAILED: "Failed",
    EventKind.TIMED_OUT: "TimedOut",
    EventKind.CANCELED: "Cancelled",
}
# A run that did not complete fails the Web activity: Data Factory fails it on any answer >= 400 (error
# 2108, with the body in the activity's error). 424 Failed Dependency says what happened (the operation the
# caller waits on failed), and as a 4xx it is not mistaken for a fault of amlexec's that a retry could fix.
FAILED_DEPENDENCY = 424


def progress(request_id: str, progress_url: str, seen: Progress) -> Answer:
    """The answer at a progress URL: 202 while in progress, 200 with the outcome, 424 when it did not complete."""
    handle, status = seen.handle, seen.status
    body: dict[str, Any] = {"requestId": request_id}
    if handle is not None and status is not None:
        body.update(
            {
                "runId": handle.run_id,
                "attempt": handle.attempt,
                "serviceStatus": status.raw_status,
                "startedAt": status.started_at.isoformat() if status.started_at else None,
                "endedAt": status.ended_at.isoformat() if status.ended_at else None,
                "studioUrl": status.studio_url or handle.studio_url,
            }
        )
    if seen.outcome is None:
        body["status"] = "Queued" if status is None or status.state is RunState.QUEUED else "InProgress"
        return Answer(202, body, {"Location": progress_url, "Retry-After": str(PROGRESS_RETRY_SECONDS)})
    assert status is not None
    body["status"] = _OUTCOME_STATUS.get(seen.outcome, "Failed")
    if status.started_at and status.ended_at:
        body["durationSeconds"] = round((status.ended_at - status.started_at).total_seconds(), 3)
    body["steps"] = [
        {"name": s.name, "status": _ADF_STATUS[s.state], "serviceStatus": s.raw_status} for s in status.steps
    ]
    if seen.outcome is EventKind.COMPLETED:
        body["outputs"] = dict(status.outputs)
        return Answer(200, body)
    code = status.error_code or {EventKind.TIMED_OUT: "TimedOut", EventKind.CANCELED: "Canceled"}.get(
        seen.outcome, "Failed"
    )
    message = status.error_message or {
        EventKind.TIMED_OUT: "the run did not finish within the activity's policy.timeout; amlexec canceled it",
        EventKind.CANCELED: "the run was canceled outside amlexec",
    }.get(seen.outcome, "the run failed")
    body["error"] = {"code": code, "message": message}
    return Answer(FAILED_DEPENDENCY, body)


def request_progress_answer(status: RequestStatus, progress_url: str) -> Answer:
    """The answer for a request known by its id: as :func:`progress`, over every activity recorded for it.

    Nothing recorded yet (still on the queue, or never sent) is 202: the caller waits, bounded by its own
    timeout. A rejection is final (424 with every reason). Otherwise 202 until every activity has ended,
    then 200 if all completed, else 424 with the first that did not.
    """
    if not status.activities:
        body = {"requestId": status.request_id, "status": "Pending"}
        return Answer(202, body, {"Location": progress_url, "Retry-After": str(PROGRESS_RETRY_SECONDS)})
    answers: list[Answer] = []
    for entry, seen in status.activities:
        if seen is None:
            answers.append(
                Answer(
                    FAILED_DEPENDENCY,
                    {
                        "requestId": status.request_id,
                        "activityName": entry.activity_name,
                        "status": "Rejected",
                        "issues": entry.issues,
                    },
                )
            )
        else:
            answer = progress(status.request_id, progress_url, seen)
            answers.append(Answer(answer.status, {**answer.body, "activityName": entry.activity_name}, answer.headers))
    rejected = next((a for a in answers if a.body.get("status") == "Rejected"), None)
    if rejected is not None:
        return rejected
    pending = next((a for a in answers if a.status == 202), None)
    if pending is not None:
        return pending
    failed = next((a for a in answers if a.status != 200), None)
    chosen = failed or answers[0]
    if len(answers) == 1:
        return chosen
    return Answer(chosen.status, {**chosen.body, "activities": [a.body for a in answers]}, chosen.headers)


def unknown_progress() -> Answer:
    """404 for a progress URL this app did not sign: reveals nothing about why."""
    return Answer(404, {"error": "NotFound", "message": "no such request"})


def run_status(run_ref: str, handle: RunHandle, status: RunStatus) -> Answer:
    """200 with where a run stands, shaped for an Until loop (``isTerminal``)."""
    return Answer(
        200,
        {
            "runId": run_ref,
            "runName": status.run_id or handle.run_id,
            "status": _ADF_STATUS[status.state],
            "isTerminal": status.is_final,
            "serviceStatus": status.raw_status,
            "startedAt": status.started_at.isoformat() if status.started_at else None,
            "endedAt": status.ended_at.isoformat() if status.ended_at else None,
            "error": {"code": status.error_code, "message": status.error_message} if status.error_code else None,
            "studioUrl": status.studio_url,
            "steps": [
                {"name": s.name, "status": _ADF_STATUS[s.state], "serviceStatus": s.raw_status} for s in status.steps
            ],
        },
    )


def validated(report: ValidationReport) -> Answer:
    """200 for a payload that validates: its warnings, run-time-only values and previewed launch request."""
    return Answer(
        200,
        {
            "valid": True,
            "warnings": [w.to_dict() for w in report.warnings],
            "deferred": [d.to_dict() for d in report.deferred],
            "request": report.request,
        },
    )


def invalid_payload(rejected: RequestRejected) -> Answer:
    """422 for ``POST /validate``: the payload was read and is not valid (every issue)."""
    return Answer(422, {"valid": False, **rejected.to_dict()})


def failure(error: BaseException) -> Answer:
    """The answer for a failure, by the one rule (``outcome_of``): 4xx for the caller's faults, 503 when a retry
    may help, 500 for the app's own setup (naming what to grant or set) and for bugs."""
    if isinstance(error, IdempotencyConflict):
        return Answer(409, error.to_dict())
    if isinstance(error, RequestRejected):
        return Answer(400, {"valid": False, **error.to_dict()})
    if isinstance(error, TransientError) and outcome_of(error) is Outcome.RETRY:
        retry_after = str(max(1, int(error.retry_after or 30)))
        return Answer(503, {"error": "ServiceUnavailable", "message": str(error)}, {"Retry-After": retry_after})
    if isinstance(error, AmlexecError):
        logger.error("request failed: %s", error)
        return Answer(500, {"error": error.code, "message": str(error)})
    logger.error("request failed unexpectedly", exc_info=error)
    return Answer(500, {"error": "InternalError", "message": "unexpected error; see the app's logs"})
