"""What the fuzz harnesses call: one function per target, free of atheris so pytest can replay corpora.

``check_payload(data)`` feeds raw bytes through ``validate_payload`` and then ``resolve`` and ``preview``
with a small fixed registry and request context. ``check_expression(data)`` decodes the bytes as text and
runs ``compile`` and ``evaluate`` on it three ways (as given, as an ``@`` expression, inside ``@{...}``).

Both accept only two outcomes: a result, or one of amlexec's documented errors (``AmlexecError``
subclasses). Anything else propagates and is a crash. Beyond that, each input must finish within
``FUZZ_TIME_BOUND`` seconds (default 1), and a few cheap oracles hold on every result:

* a resolved ``LaunchRequest`` runs in a configured workspace and on a target its linked service's
  allow-list permits, and its public view is JSON;
* an expression result is JSON-like, and a deterministic template gives the same value twice.

``FUZZ_IGNORE`` (a regular expression) lets the fuzzer explore past a bug already reported: an exception
whose ``"Type: message"`` matches it counts as an acceptable outcome. ``FUZZ_STRICT_MASKED=1`` also treats
an unexpected Python exception that the evaluator's safety net would mask as an ``ExpressionError`` as a
finding: it switches on the expression language's strict mode (as ``AMLEXEC_EXPRESSIONS_STRICT=1`` does),
so such a bug surfaces as ``InternalExpressionError``, which is no ``AmlexecError``.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from amlexec.errors import AmlexecError
from amlexec.expressions import ExpressionError, compile, evaluate, set_strict
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import LaunchRequest, RequestContext
from amlexec.resolve import preview, resolve
from amlexec.validation import validate_payload

__all__ = [
    "CONTEXT",
    "EXPRESSION_CONTEXT",
    "NOW",
    "REGISTRY",
    "BoundExceeded",
    "OracleFailed",
    "check_expression",
    "check_payload",
]

ROOT = Path(__file__).resolve().parents[1]
TIME_BOUND = float(os.environ.get("FUZZ_TIME_BOUND", "1.0"))
STRICT_MASKED = os.environ.get("FUZZ_STRICT_MASKED", "") not in ("", "0")
if STRICT_MASKED:
    # Only ever switched on here: under pytest the suite's own setting (tests/conftest.py) stays in force.
    set_strict(True)
IGNORE = re.compile(os.environ["FUZZ_IGNORE"]) if os.environ.get("FUZZ_IGNORE") else None
NOW = datetime(2026, 11, 21, 2, 0, 0, 123456, tzinfo=UTC)

_WS = {"subscriptionId": "11111111-2222-3333-4444-555555555555", "resourceGroupName": "rg-ml"}
LINKED_SERVICES: list[dict[str, Any]] = [
    {
        "name": "AzureMLService",
        "properties": {
            "type": "AzureMLService",
            "typeProperties": {**_WS, "mlWorkspaceName": "ws-ml", "authentication": "MSI"},
        },
    },
    {
        "name": "Restricted",
        "properties": {
            "type": "AzureMLService",
            "typeProperties": {**_WS, "mlWorkspaceName": "ws-restricted", "authentication": "MSI"},
        },
        "amlexec": {
            "allowedPipelines": ["0a77f445-258e-4349-9895-e555060b32d8", "azureml:score@prod"],
            "allowedEndpoints": ["9d3c0b55-0000-4000-8000-000000000001"],
            "allowedBatchEndpoints": ["loan-scoring"],
        },
    },
    {
        "name": "Parameterised",
        "properties": {
            "type": "AzureMLService",
            "parameters": {"ws": {"type": "String", "defaultValue": "ws-a"}},
            "typeProperties": {**_WS, "mlWorkspaceName": "@{linkedService().ws}", "authentication": "MSI"},
        },
        "amlexec": {"allowedParameterValues": {"ws": ["ws-a", "ws-b"]}, "allowedPipelines": ["azureml:p:1"]},
    },
    {
        "name": "LocalPipelines",
        "properties": {"type": "AmlexecLocal", "typeProperties": {"pipelinesFolder": "pipelines"}},
    },
]
REGISTRY = LinkedServiceRegistry.from_json(json.dumps(LINKED_SERVICES), env={}, base_dir=ROOT / "examples")
CONTEXT = RequestContext(
    request_id="fuzz-0001",
    received_at=NOW,
    trigger_type="ServiceBus",
    trigger_name="requests",
    correlation_id="fuzz-corr",
)
# The workspaces a request may ever land in: each configured one, plus each allowed parameter value.
ALLOWED_WORKSPACES = {
    ("AzureMLService", "ws-ml"),
    ("Restricted", "ws-restricted"),
    ("Parameterised", "ws-a"),
    ("Parameterised", "ws-b"),
}

EXPRESSION_CONTEXT: dict[str, Any] = {
    "pipeline": {
        "parameters": {
            "a": 1,
            "s": "hello",
            "f": 2.5,
            "b": True,
            "n": None,
            "arr": [1, "two", [3]],
            "obj": {"x": {"y": None, "z": [1, 2]}},
            "big": "x" * 2048,
            "date": "2026-11-21T02:00:00Z",
            "json": '{"k": [1, 2, {"m": "v"}]}',
        },
        "globalParameters": {"g": "global"},
        "RunId": "run-1",
        "Pipeline": "P",
        "DataFactory": "df",
        "TriggerTime": "2026-11-21T02:00:00.1234560Z",
        "TriggerType": "Manual",
        "TriggerName": "t",
    },
    "trigger": {
        "scheduledTime": "2026-11-21T02:00:00Z",
        "startTime": "2026-11-21T02:00:01Z",
        "outputs": {"body": {"x": 1}},
    },
    "variables": {"v": "x", "list": ["a", "b"], "num": 7},
    "activity": {"Copy": {"output": {"rowsCopied": 10, "files": ["a.csv"]}}},
    "item": {"name": "inside a ForEach", "i": 3},
    "linkedService": {"ws": "ws-a"},
}


class BoundExceeded(AssertionError):
    """An input took longer than the time bound."""


class OracleFailed(AssertionError):
    """A result broke an invariant that must hold for every input."""


def _timed(label: str, started: float) -> None:
    elapsed = time.perf_counter() - started
    if elapsed > TIME_BOUND:
        raise BoundExceeded(f"{label} took {elapsed:.2f}s, over the {TIME_BOUND:g}s bound")


def _check_request(request: LaunchRequest, *, lenient: bool) -> None:
    service = REGISTRY.get(request.linked_service)
    if service is None:
        raise OracleFailed(f"resolved to an unconfigured linked service {request.linked_service!r}")
    if service.is_local:
        if request.workspace is not None or request.target.kind != "local_pipeline":
            raise OracleFailed(f"a local linked service resolved to {request.target!r} in {request.workspace!r}")
    else:
        ws = request.workspace
        if ws is None or (service.name, ws.name) not in ALLOWED_WORKSPACES:
            raise OracleFailed(f"{service.name} resolved to a workspace it may not use: {ws!r}")
        if (ws.subscription_id, ws.resource_group) != (_WS["subscriptionId"], _WS["resourceGroupName"]):
            raise OracleFailed(f"{service.name} resolved to a foreign subscription/group: {ws!r}")
        target = request.target
        kind, name = {
            "published_pipeline": ("pipeline", getattr(target, "pipeline_id", "")),
            "pipeline_component": ("pipeline", getattr(target, "reference", "")),
            "pipeline_endpoint": ("endpoint", getattr(target, "endpoint_id", "")),
            "batch_endpoint": ("batch", getattr(target, "endpoint_name", "")),
        }[target.kind]
        # A previewed run-time placeholder is not a target yet; resolve() re-checks it with real values.
        if not (lenient and name.startswith("<run time")) and not _permitted(service.allow, kind, name):
            raise OracleFailed(f"{service.name} may not launch {target!r}")
    json.dumps(request.public_view())


def _permitted(allow: Any, kind: str, name: str) -> bool:
    if allow.permits(kind, name):
        return True
    # azureml:name@latest is how a component without version or label is written back.
    return kind == "pipeline" and name.endswith("@latest") and allow.permits(kind, name.removesuffix("@latest"))


def _known(error: Exception) -> bool:
    return IGNORE is not None and IGNORE.search(f"{type(error).__name__}: {error}") is not None


def check_payload(data: bytes) -> None:
    """Validate, resolve and preview one raw payload; raise on a crash, a slow input or a broken oracle."""
    try:
        _check_payload(data)
    except Exception as error:
        if not _known(error):
            raise


def _check_payload(data: bytes) -> None:
    started = time.perf_counter()
    try:
        validated = validate_payload(data)
    except AmlexecError:
        _timed("validate_payload", started)
        return
    for lenient in (False, True):
        try:
            if lenient:
                _check_request(preview(validated, CONTEXT, REGISTRY).request, lenient=True)
            else:
                _check_request(resolve(validated, CONTEXT, REGISTRY), lenient=False)
        except AmlexecError:
            pass
    _timed("validate + resolve + preview", started)


def _json_like(value: Any) -> str:
    text = json.dumps(value, allow_nan=True, sort_keys=True)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return text


def check_expression(data: bytes) -> None:
    """Compile and evaluate the text three ways; raise on a crash, a slow input or a broken oracle."""
    try:
        _check_expression(data)
    except Exception as error:
        if not _known(error):
            raise


def _check_expression(data: bytes) -> None:
    try:
        text = data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
    started = time.perf_counter()
    for source in (text, "@" + text, "x@{" + text + "}"):
        try:
            template = compile(source)
            first = template.evaluate(EXPRESSION_CONTEXT, now=NOW)
            shown = _json_like(first)
            if template.deterministic:
                again = _json_like(evaluate(source, EXPRESSION_CONTEXT, now=NOW))
                if again != shown:
                    raise OracleFailed(f"{source[:80]!r} evaluated to {shown[:80]} then {again[:80]}")
        except ExpressionError:
            pass
    _timed("compile + evaluate", started)
