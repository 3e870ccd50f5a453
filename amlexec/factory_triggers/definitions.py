"""Data Factory trigger definitions exactly as Data Factory exports them, plus what each one launches.

A definition is a trigger's JSON as the Data Factory UI, ARM export or git integration writes it::

    {"name": "HourlyScoring",
     "properties": {"type": "TumblingWindowTrigger", "runtimeState": "Started",
                    "typeProperties": {...},
                    "pipeline": {"pipelineReference": {"referenceName": "Score"}, "parameters": {...}}},
     "amlexec": {"payload": {...activity or envelope...}}}          # or {"payloadFile": "score.json"}

``pipelines`` (``pipeline`` for tumbling windows) name the Data Factory pipelines the trigger starts; amlexec
launches the payload of the ``amlexec`` block in their place. A trigger that starts several pipelines names
one payload per pipeline: ``"amlexec": {"pipelines": {"<referenceName>": {"payload": ...}}}``. Each
pipeline's ``parameters`` are expressions over the trigger (``@trigger().scheduledTime``,
``@trigger().outputs.windowStartTime``, ``@triggerBody().fileName``); their values become the envelope's
``pipeline.parameters``, which the activity reads as ``@pipeline().parameters.x``, as in Data Factory. A
trigger whose ``runtimeState`` is ``Stopped`` is loaded and validated but never fires.

They come from ``AMLEXEC_TRIGGERS_FILE`` (a JSON array of definitions, or one) and/or ``AMLEXEC_TRIGGERS``
(the same JSON inline). Every problem in every definition is reported at once, with its JSON path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amlexec.errors import InvalidDefinition, Issue, describe_value
from amlexec.factory_triggers.event_matching import (
    BlobEventFilter,
    CustomEventFilter,
    blob_filter_from,
    custom_filter_from,
)
from amlexec.factory_triggers.recurrence import Recurrence, parse_recurrence
from amlexec.factory_triggers.windows import TumblingWindow, parse_tumbling_window
from amlexec.settings import json_documents, refuse_repeated_names

__all__ = [
    "TRIGGER_TYPES",
    "PipelineTarget",
    "TriggerDefinition",
    "TriggerDefinitionError",
    "dependency_issues",
    "load_triggers",
    "parse_triggers",
]

TRIGGER_TYPES = ("ScheduleTrigger", "TumblingWindowTrigger", "BlobEventsTrigger", "CustomEventsTrigger")


class TriggerDefinitionError(InvalidDefinition):
    """Trigger definitions that cannot run: every issue in every definition, each with its JSON path."""

    what = "trigger definitions"


@dataclass(frozen=True)
class PipelineTarget:
    """One pipeline a trigger starts: its name, its parameter expressions, and the payload launched for it."""

    reference: str
    parameters: dict[str, Any]
    payload: bytes


@dataclass(frozen=True)
class TriggerDefinition:
    """One trigger: its type, whether it fires, what it launches, and its type's rules."""

    name: str
    type: str
    started: bool
    targets: tuple[PipelineTarget, ...]
    recurrence: Recurrence | None = None
    window: TumblingWindow | None = None
    blob: BlobEventFilter | None = None
    custom: CustomEventFilter | None = None


def _issue(path: str, message: str, expected: str, got: Any, code: str = "invalid") -> Issue:
    return Issue(path, message, expected, describe_value(got), code=code)


def _payload(block: Any, path: str, base_dir: Path | None, issues: list[Issue]) -> bytes | None:
    if not isinstance(block, Mapping):
        issues.append(
            _issue(path, "name the payload this launches", '{"payload": {...}} or {"payloadFile": "…"}', block)
        )
        return None
    if "payload" in block:
        if not isinstance(block["payload"], Mapping):
            issues.append(
                _issue(f"{path}.payload", "expected an activity or an envelope", "an object", block["payload"])
            )
            return None
        return json.dumps(block["payload"]).encode()
    file_name = block.get("payloadFile")
    if isinstance(file_name, str):
        file = (base_dir or Path.cwd()) / file_name
        try:
            content: bytes = file.read_bytes()
            return content
        except OSError as exc:
            issues.append(
                _issue(
                    f"{path}.payloadFile",
                    f"cannot read {file}: {exc.strerror}",
                    "a readable file",
                    block["payloadFile"],
                )
            )
            return None
    issues.append(_issue(path, "name the payload this launches", '"payload" or "payloadFile"', block))
    return None


def _targets(
    document: Mapping[str, Any], properties: Mapping[str, Any], path: str, base_dir: Path | None, issues: list[Issue]
) -> tuple[PipelineTarget, ...]:
    kind = properties.get("type")
    if kind == "TumblingWindowTrigger":
        single = properties.get("pipeline")
        references: list[tuple[str, Any]] = [(f"{path}.properties.pipeline", single)] if single is not None else []
    else:
        pipelines = properties.get("pipelines")
        if pipelines is not None and not isinstance(pipelines, list):
            issues.append(_issue(f"{path}.properties.pipelines", "expected an array", "an array", pipelines))
            pipelines = []
        references = [(f"{path}.properties.pipelines[{i}]", p) for i, p in enumerate(pipelines or [])]
    block = document.get("amlexec")
    found: list[PipelineTarget] = []
    if not references:
        # An exported trigger with no pipeline attached (allowed in Data Factory): the amlexec block alone.
        payload = _payload(block, f"{path}.amlexec", base_dir, issues)
        return (PipelineTarget("", {}, payload),) if payload is not None else ()
    per_pipeline = block.get("pipelines") if isinstance(block, Mapping) else None
    for where, entry in references:
        if not isinstance(entry, Mapping):
            issues.append(
                _issue(where, "expected an object", '{"pipelineReference": {...}, "parameters": {...}}', entry)
            )
            continue
        reference = entry.get("pipelineReference")
        name = reference.get("referenceName") if isinstance(reference, Mapping) else None
        if not isinstance(name, str) or not name:
            issues.append(_issue(f"{where}.pipelineReference.referenceName", "required", "a pipeline name", name))
            continue
        parameters = entry.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            issues.append(_issue(f"{where}.parameters", "expected an object", "an object", parameters))
            parameters = {}
        if isinstance(per_pipeline, Mapping):
            payload = _payload(per_pipeline.get(name), f"{path}.amlexec.pipelines.{name}", base_dir, issues)
        elif len(references) > 1:
            issues.append(
                _issue(
                    f"{path}.amlexec.pipelines",
                    "this trigger starts several pipelines: name one payload for each",
                    '{"pipelines": {"<referenceName>": {"payload": {...}}}}',
                    block,
                )
            )
            return ()
        else:
            payload = _payload(block, f"{path}.amlexec", base_dir, issues)
        if payload is not None:
            found.append(PipelineTarget(name, dict(parameters), payload))
    return tuple(found)


def _definition(document: Any, path: str, base_dir: Path | None, issues: list[Issue]) -> TriggerDefinition | None:
    if not isinstance(document, Mapping):
        issues.append(_issue(path, "expected a trigger definition", '{"name": …, "properties": {…}}', document))
        return None
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        issues.append(_issue(f"{path}.name", "required", "the trigger's name", name))
        return None
    properties = document.get("properties")
    if not isinstance(properties, Mapping):
        issues.append(
            _issue(
                f"{path}.properties", "required", "the trigger's properties as Data Factory exports them", properties
            )
        )
        return None
    kind = properties.get("type")
    if kind not in TRIGGER_TYPES:
        issues.append(
            _issue(
                f"{path}.properties.type",
                "amlexec runs schedule, tumbling window, storage event and custom event triggers",
                ", ".join(TRIGGER_TYPES),
                kind,
                code="unsupported",
            )
        )
        return None
    before = len(issues)
    type_path = f"{path}.properties.typeProperties"
    type_properties = properties.get("typeProperties")
    rules: dict[str, Any] = {}
    try:
        if kind == "ScheduleTrigger":
            recurrence = type_properties.get("recurrence") if isinstance(type_properties, Mapping) else None
            rules["recurrence"] = parse_recurrence(recurrence, f"{type_path}.recurrence")
        elif kind == "TumblingWindowTrigger":
            rules["window"] = parse_tumbling_window(type_properties, type_path)
        elif kind == "BlobEventsTrigger":
            rules["blob"] = blob_filter_from(type_properties, type_path)
        else:
            rules["custom"] = custom_filter_from(type_properties, type_path)
    except InvalidDefinition as exc:
        issues.extend(exc.issues)
    state = properties.get("runtimeState", "Started")
    if state not in ("Started", "Stopped", "Disabled"):
        issues.append(_issue(f"{path}.properties.runtimeState", "unknown state", "Started or Stopped", state))
    targets = _targets(document, properties, path, base_dir, issues)
    if len(issues) > before:
        return None
    return TriggerDefinition(name, str(kind), state == "Started", targets, **rules)


def parse_triggers(document: Any, source: str, base_dir: Path | None = None) -> list[TriggerDefinition]:
    """Definitions from one JSON document (an array of them, or one); raises with every issue of every one."""
    entries = document if isinstance(document, list) else [document]
    issues: list[Issue] = []
    found: list[TriggerDefinition] = []
    names: dict[str, str] = {}
    for index, entry in enumerate(entries):
        path = f"{source}[{index}]" if isinstance(document, list) else source
        definition = _definition(entry, path, base_dir, issues)
        if definition is None:
            continue
        if definition.name in names:
            issues.append(
                _issue(f"{path}.name", f"also the name of {names[definition.name]}", "a unique name", definition.name)
            )
            continue
        names[definition.name] = path
        found.append(definition)
    if issues:
        raise TriggerDefinitionError(issues)
    return found


def load_triggers(file: Path | None, inline: str | None) -> list[TriggerDefinition]:
    """Definitions from ``AMLEXEC_TRIGGERS_FILE`` and ``AMLEXEC_TRIGGERS`` (both may contribute)."""
    found: list[TriggerDefinition] = []
    for document, source, base_dir in json_documents(file, inline, "AMLEXEC_TRIGGERS"):
        found += parse_triggers(document, source, base_dir)
    refuse_repeated_names((definition.name for definition in found), "trigger")
    issues = dependency_issues(found)
    if issues:
        raise TriggerDefinitionError(issues)
    return found


def dependency_issues(definitions: list[TriggerDefinition]) -> list[Issue]:
    """Tumbling window dependencies on triggers that are not tumbling window triggers here, and cycles."""
    windows = {d.name: d.window for d in definitions if d.window is not None}
    issues = []
    for definition in definitions:
        for index, dependency in enumerate(definition.window.depends_on if definition.window else ()):
            if dependency.trigger is not None and dependency.trigger not in windows:
                issues.append(
                    _issue(
                        f"{definition.name}.properties.typeProperties.dependsOn[{index}].referenceTrigger",
                        "amlexec runs no tumbling window trigger of that name",
                        "the name of a TumblingWindowTrigger defined with it",
                        dependency.trigger,
                        code="not_found",
                    )
                )
    edges = {
        name: sorted({d.trigger for d in window.depends_on if d.trigger is not None and d.trigger in windows})
        for name, window in windows.items()
    }
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = " -> ".join([*path[path.index(name) :], name])
            issues.append(
                _issue(f"{path[0]}.properties.typeProperties.dependsOn", "dependencies form a cycle", "no cycle", cycle)
            )
            return
        if name in done:
            return
        for following in edges[name]:
            visit(following, [*path, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])
    return issues
