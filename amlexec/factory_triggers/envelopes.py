"""The request a trigger firing sends: its payload, the trigger's values, and the pipeline parameters they feed.

Data Factory evaluates a trigger's ``pipelines[].parameters`` when it fires, over the trigger's own values
(``@trigger().scheduledTime``, ``@trigger().outputs.windowStartTime``, ``@triggerBody().fileName``), and the
pipeline reads the results as ``@pipeline().parameters.x``. amlexec does the same here, then writes the
results into the payload's envelope (``pipeline.parameters``, over any the payload sets itself) together with
the trigger (``trigger.name``, ``type``, ``scheduledTime``, ``startTime``, ``outputs``), which is what the
activity's own expressions read when the request is resolved. A parameter that cannot be evaluated, such as
one reading a key a custom event does not carry, rejects that firing with the reason, as Data Factory fails
the trigger run.

Request identities, one per firing and pipeline: ``schedule:<trigger>:<time>`` for schedules,
``window:<trigger>:<start>:<attempt>`` for tumbling windows, ``event:<trigger>:<event id>`` for events;
``|<pipeline>`` is added when a trigger starts more than one pipeline. Each fits Service Bus's 128
characters (a digest replaces the middle of a longer one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from amlexec.activity import is_envelope
from amlexec.errors import Issue, RequestRejected
from amlexec.expressions import ExpressionError, evaluate
from amlexec.factory_triggers.definitions import PipelineTarget, TriggerDefinition
from amlexec.resolve import dotnet_timestamp

__all__ = ["MAX_MESSAGE_ID", "fit_message_id", "target_request_id", "trigger_envelope"]

MAX_MESSAGE_ID = 128


def fit_message_id(request_id: str) -> str:
    """``request_id`` if Service Bus accepts it as a message id, else a stable shortened form."""
    if len(request_id) <= MAX_MESSAGE_ID:
        return request_id
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:24]
    return f"{request_id[:60]}~{digest}~{request_id[-40:]}"


def target_request_id(base: str, definition: TriggerDefinition, target: PipelineTarget) -> str:
    """The request identity of one pipeline of one firing (``base`` names the firing)."""
    suffix = f"|{target.reference}" if len(definition.targets) > 1 else ""
    return fit_message_id(base + suffix)


def _evaluate(value: Any, context: dict[str, Any], path: str, now: datetime, issues: list[Issue]) -> Any:
    if isinstance(value, Mapping) and value.get("type") == "Expression" and "value" in value:
        return _evaluate(value["value"], context, path, now, issues)
    if isinstance(value, str):
        try:
            return evaluate(value, context, now=now)
        except ExpressionError as exc:
            issues.append(Issue(path, str(exc), code=f"expression_{exc.kind}"))
            return None
    if isinstance(value, Mapping):
        return {k: _evaluate(v, context, f"{path}.{k}", now, issues) for k, v in value.items()}
    if isinstance(value, list):
        return [_evaluate(v, context, f"{path}[{i}]", now, issues) for i, v in enumerate(value)]
    return value


def trigger_envelope(
    definition: TriggerDefinition,
    target: PipelineTarget,
    *,
    scheduled_time: datetime,
    start_time: datetime,
    outputs: dict[str, Any] | None = None,
    request_id: str,
) -> bytes:
    """The envelope for one firing; raises RequestRejected with every parameter that cannot be evaluated."""
    trigger: dict[str, Any] = {
        "name": definition.name,
        "type": definition.type,
        "time": dotnet_timestamp(scheduled_time),
        "scheduledTime": dotnet_timestamp(scheduled_time),
        "startTime": dotnet_timestamp(start_time),
    }
    if outputs is not None:
        trigger["outputs"] = outputs
    context: dict[str, Any] = {
        "trigger": {k: v for k, v in trigger.items() if k != "time"},
        "pipeline": {
            "TriggerName": definition.name,
            "TriggerType": definition.type,
            "TriggerTime": trigger["time"],
            "TriggerId": request_id,
            "Pipeline": target.reference,
        },
    }
    issues: list[Issue] = []
    path = f"triggers.{definition.name}.pipelines.{target.reference or '-'}.parameters"
    parameters = {
        name: _evaluate(value, context, f"{path}.{name}", start_time, issues)
        for name, value in target.parameters.items()
    }
    if issues:
        raise RequestRejected(issues)
    payload = json.loads(target.payload)
    envelope = payload if is_envelope(payload) else {"activity": payload}
    pipeline = dict(envelope.get("pipeline") or {})
    pipeline["parameters"] = {**dict(pipeline.get("parameters") or {}), **parameters}
    if target.reference:
        pipeline.setdefault("name", target.reference)
    envelope["pipeline"] = pipeline
    envelope["trigger"] = {**dict(envelope.get("trigger") or {}), **trigger}
    envelope.setdefault("correlationId", request_id)
    return json.dumps(envelope).encode()
