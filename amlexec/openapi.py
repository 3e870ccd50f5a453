"""The OpenAPI 3.1 document of the HTTP API (served at /api/openapi.json, committed under docs/)."""

from __future__ import annotations

import json
from typing import Any

from amlexec.schema import payload_schema

__all__ = ["openapi_document", "openapi_text"]


def _rebase(node: Any) -> Any:
    """Point JSON Schema ``#/$defs/X`` references at ``#/components/schemas/X``."""
    if isinstance(node, dict):
        return {k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" and isinstance(v, str)
                    else _rebase(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


_ISSUE = {
    "type": "object",
    "required": ["path", "code", "message"],
    "properties": {"path": {"type": "string", "description": "JSON path in the payload"},
                   "code": {"type": "string"}, "message": {"type": "string"},
                   "expected": {"type": "string"}, "got": {"type": "string"}},
}
_REJECTION = {"type": "object", "properties": {
    "valid": {"const": False}, "error": {"type": "string"},
    "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}}}}
_CONFLICT = {"type": "object", "required": ["error", "issues"], "properties": {
    "error": {"const": "IdempotencyConflict"},
    "issues": {"type": "array", "items": {"$ref": "#/components/schemas/Issue"}}}}
_ERROR = {"type": "object", "required": ["error", "message"], "properties": {
    "error": {"type": "string", "description": "ServiceUnavailable, access_denied, configuration_error, InternalError"},
    "message": {"type": "string", "description": "what failed and, for the app's own setup, what to grant or set"}}}
_RUN_STATUS = {
    "type": "object",
    "required": ["runId", "status", "isTerminal"],
    "properties": {
        "runId": {"type": "string"}, "runName": {"type": "string"},
        "status": {"enum": ["Queued", "InProgress", "Succeeded", "Failed", "Cancelled"]},
        "isTerminal": {"type": "boolean", "description": "stop an Until loop when true"},
        "serviceStatus": {"type": "string"}, "startedAt": {"type": ["string", "null"], "format": "date-time"},
        "endedAt": {"type": ["string", "null"], "format": "date-time"},
        "error": {"type": ["object", "null"], "properties": {"code": {"type": "string"},
                                                             "message": {"type": ["string", "null"]}}},
        "studioUrl": {"type": ["string", "null"]},
        "steps": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "status": {"type": "string"}, "serviceStatus": {"type": "string"}}}},
    },
}
_SUBMITTED = {
    "type": "object",
    "required": ["runId", "runName", "status", "statusUrl"],
    "properties": {"runId": {"type": "string"}, "runName": {"type": "string"}, "status": {"const": "Queued"},
                   "created": {"type": "boolean", "description": "false when the Idempotency-Key found a run"},
                   "statusUrl": {"type": "string"}, "studioUrl": {"type": ["string", "null"]},
                   "correlationId": {"type": "string"}, "request": {"type": "object"}},
}


def openapi_document() -> dict[str, Any]:
    """The API: launch a payload, read a run's status, validate a payload."""
    payload = payload_schema()
    schemas = _rebase(payload.pop("$defs"))
    schemas["Payload"] = _rebase({"anyOf": payload["anyOf"], "description": payload["description"]})
    schemas.update({"Issue": _ISSUE, "Rejection": _REJECTION, "Conflict": _CONFLICT, "Error": _ERROR,
                    "RunStatus": _RUN_STATUS, "Submitted": _SUBMITTED})

    def json_body(ref: str) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}

    return {
        "openapi": "3.1.0",
        "info": {"title": "amlexec", "version": "1",
                 "description": "Run Azure Machine Learning pipelines from Data Factory AzureMLExecutePipeline "
                                "payloads."},
        "servers": [{"url": "/api"}],
        "security": [{"functionKey": []}],
        "paths": {
            "/runs": {"post": {
                "operationId": "submitRun", "summary": "Launch a payload (exactly once per Idempotency-Key)",
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                "schema": {"type": "string"},
                                "description": "the request identity; repeats find the first run"},
                               {"name": "x-correlation-id", "in": "header", "required": False,
                                "schema": {"type": "string"}}],
                "requestBody": {"required": True, **json_body("Payload")},
                "responses": {"202": {"description": "launched (or found)", **json_body("Submitted")},
                              "400": {"description": "rejected, with every issue", **json_body("Rejection")},
                              "409": {"description": "the Idempotency-Key already launched a different payload; "
                                                     "the first run is untouched", **json_body("Conflict")},
                              "500": {"description": "the app cannot launch (a missing role or setting, named in "
                                                     "the message)", **json_body("Error")},
                              "503": {"description": "Azure ML is throttling or unavailable; retry after",
                                      "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                                      **json_body("Error")}},
            }},
            "/runs/{runId}": {"get": {
                "operationId": "getRun", "summary": "Where a run stands",
                "parameters": [{"name": "runId", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the run's status", **json_body("RunStatus")},
                              "400": {"description": "not a run id", **json_body("Rejection")}},
            }},
            "/validate": {"post": {
                "operationId": "validatePayload", "summary": "Validate a payload and preview its launch request",
                "requestBody": {"required": True, **json_body("Payload")},
                "responses": {"200": {"description": "valid"},
                              "422": {"description": "invalid, with every issue", **json_body("Rejection")}},
            }},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}},
        },
    }


def openapi_text() -> str:
    """The document as committed at docs/openapi.json."""
    return json.dumps(openapi_document(), indent=2) + "\n"
