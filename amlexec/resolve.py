"""Turn a validated payload plus its request context into a fully evaluated, typed LaunchRequest.

Every expression is evaluated against a context built from the envelope (pipeline parameters, variables,
activity outputs, trigger) and from the host (message id, enqueue time). ``utcNow()`` evaluates to the
moment the request was accepted, not the moment it is processed, so a redelivered message resolves to
exactly the same request: that is what makes launches idempotent.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from amlexec.activity import Dynamic, TypeProperties, is_expression_object
from amlexec.errors import Issue, RequestRejected, child_path, describe_value, format_path
from amlexec.expressions import ExpressionError, Template
from amlexec.expressions import compile as compile_expression
from amlexec.linked_services import LinkedService, LinkedServiceRegistry
from amlexec.request import (
    DEFAULT_TIMEOUT_SECONDS,
    REDACTED,
    BatchEndpointTarget,
    DataPath,
    LaunchRequest,
    LocalPipelineTarget,
    PipelineComponentTarget,
    PipelineEndpointTarget,
    PublishedPipelineTarget,
    RequestContext,
    ResolvedPolicy,
    Target,
    WorkspaceInfo,
)
from amlexec.validation import ValidatedPayload, is_guid, parse_timeout

__all__ = [
    "Deferred",
    "Resolution",
    "dotnet_timestamp",
    "preview",
    "resolve",
]

_RUN_ID_NAMESPACE = uuid.UUID("0b7f5c53-3a54-4f1d-9d43-6f1e0c1d2a11")
_EXPERIMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_COMPONENT = re.compile(
    r"^azureml:(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]{0,254})(?::(?P<version>[^:@]+)|@(?P<label>[^:@]+))?$"
)
_LOCAL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_INTEGER_TEXT = re.compile(r"-?\d{1,10}")


def dotnet_timestamp(moment: datetime) -> str:
    """Format an instant the way Data Factory prints system times: seven fractional digits and ``Z``."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    if utc.year >= 1000:
        # isoformat is several times cheaper than strftime and prints the same from year 1000 on; before it
        # the platform's %Y decides the padding, so those keep strftime.
        return utc.isoformat(timespec="microseconds")[:26] + "0Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


# Exact types (a subclass takes the general route): integers, booleans and null are always carried as they are.
_NOTHING_TO_CHECK = frozenset({int, bool, type(None)})


def _carries(value: Any) -> bool:
    """Whether JSON can carry ``value`` (finite numbers, valid Unicode): the quick look before the walk that
    says where it cannot, which would spend most of its time on the paths of values that are fine."""
    if type(value) in _NOTHING_TO_CHECK:
        return True
    if isinstance(value, str):
        if value.isascii():
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(map(_carries, value.values()))
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(map(_carries, value))
    return True


def _at(path: str, key: str | int | None) -> str:
    return path if key is None else child_path(path, key)


class Deferred(str):
    """Stands in, during validation, for a value that exists only at run time (``activity('x').output``)."""

    __slots__ = ()


# Expressions that read these can only be evaluated with a real request's context.
_MISSING_PROPERTY = re.compile(r"property '([^']+)' at position \d+ doesn't exist")
_RUN_TIME_SOURCES = frozenset(
    {
        "activity",
        "item",
        "variables",
        "pipeline",
        "trigger",
        "triggerbody",
        "triggeroutputs",
        "linkedservice",
        "dataset",
    }
)


class _Resolver:
    """One resolution: evaluates dynamic values, collecting every issue instead of stopping at the first.

    With ``lenient`` (validation), an expression that fails because a run-time value is absent yields a
    :class:`Deferred` placeholder and a note instead of an issue.
    """

    def __init__(
        self, context: dict[str, Any], now: datetime, prefix: str, secure: bool, *, lenient: bool = False
    ) -> None:
        self.context = context
        self.now = now
        self.prefix = prefix
        self.secure = secure
        self.lenient = lenient
        self.issues: list[Issue] = []
        self.deferred: list[Issue] = []
        self.warnings: list[Issue] = []

    def warn(self, path: str, message: str, code: str) -> None:
        self.warnings.append(Issue(self.prefix + path, message, code=code))

    def fail(
        self, path: str, message: str, expected: str | None = None, got: Any = None, code: str = "invalid"
    ) -> None:
        shown = None if got is None else (REDACTED if self.secure else describe_value(got))
        self.issues.append(Issue(self.prefix + path, message, expected, shown, code))

    def _runtime_detail(self, raw: str, exc: ExpressionError) -> str:
        """Why a value waits for run time; a pipeline parameter nobody passed says how to pass it."""
        missing = _MISSING_PROPERTY.match(exc.message)
        if missing is not None:
            name = missing.group(1)
            if re.search(rf"parameters\s*(\.\s*{re.escape(name)}\b|\[\s*'{re.escape(name)}'\s*\])", raw, re.I):
                return (
                    f"pipeline parameter '{name}' is not given here (pass it in the envelope's pipeline.parameters, "
                    f"or with --param {name}=VALUE on the command line)"
                )
        return self._detail(exc)

    def value(self, raw: Any, path: str, key: str | int | None = None) -> Any:
        """Evaluate a raw JSON value: Expression objects and ``@`` strings at any depth.

        ``key``, when given, names the value inside the object or array at ``path``: most values evaluate
        without failing, so their own path is only spelled out when an issue needs it.
        """
        if isinstance(raw, Dynamic):
            template = raw.template
            if template is not None and template.is_expression:
                # Validation compiled it already: the same template the cache would return for its text.
                return self._evaluate(template, path, key)
            raw = raw.raw
        if isinstance(raw, str):
            if "@" not in raw:
                return raw
            return self._evaluate(compile_expression(raw), path, key)
        if isinstance(raw, dict):
            if is_expression_object(raw):
                return self.value(str(raw["value"]), path, key) if raw["value"] is not None else None
            where = path if key is None else child_path(path, key)
            return {name: self.value(item, where, name) for name, item in raw.items()}
        if isinstance(raw, list):
            where = path if key is None else child_path(path, key)
            return [self.value(item, where, index) for index, item in enumerate(raw)]
        return raw

    def _evaluate(self, template: Template, path: str, key: str | int | None) -> Any:
        try:
            return template.evaluate(self.context, now=self.now)
        except ExpressionError as exc:
            raw = template.text
            where = self.prefix + (path if key is None else child_path(path, key))
            if self.lenient and template.functions & _RUN_TIME_SOURCES:
                self.deferred.append(
                    Issue(where, f"evaluated at run time: {self._runtime_detail(raw, exc)}", code="deferred")
                )
                return Deferred(f"<run time: {raw.lstrip('@')}>")
            self.issues.append(
                Issue(
                    where,
                    f"expression cannot be evaluated: {self._detail(exc)}",
                    "a value available to this request",
                    None,
                    "evaluation_failed",
                )
            )
            return None

    def _detail(self, exc: ExpressionError) -> str:
        # An evaluation message can quote the values it failed on; under secureInput those stay hidden.
        return f"{type(exc).__name__} (details hidden: secureInput)" if self.secure else exc.message

    def check_values(self, fields: dict[str, Any]) -> None:
        """Reject evaluated values JSON cannot carry: infinite numbers and unpaired UTF-16 surrogates."""
        try:
            if all(map(_carries, fields.values())):
                return
        except RecursionError:
            pass  # nested too deeply for the quick look: the walk below has no depth limit
        # (path of the container, key inside it or None): a leaf's own path is built only for an issue.
        stack: list[tuple[str, str | int | None, Any]] = [(path, None, value) for path, value in fields.items()]
        while stack:
            path, key, value = stack.pop()
            if isinstance(value, float):
                if not math.isfinite(value):
                    self.fail(
                        _at(path, key),
                        "the value is not a finite number",
                        "a finite number",
                        "infinity or NaN",
                        "number_out_of_range",
                    )
            elif isinstance(value, str):
                # ASCII text cannot hold a surrogate; only other text pays for the trial encoding.
                if value.isascii():
                    continue
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    self.fail(
                        _at(path, key),
                        "the value holds an unpaired UTF-16 surrogate",
                        "valid Unicode text",
                        None,
                        "invalid_text",
                    )
            elif isinstance(value, dict):
                where = _at(path, key)
                stack.extend((where, str(k), v) for k, v in value.items())
            elif isinstance(value, list):
                where = _at(path, key)
                stack.extend((where, i, v) for i, v in enumerate(value))

    def text(self, dyn: Dynamic | None, path: str, *, required: bool = False) -> str | None:
        if dyn is None:
            if required:
                self.fail(path, "required property is missing", "string", None, "missing")
            return None
        value = self.value(dyn, path)
        if value is None or value == "":
            return None
        if isinstance(value, Deferred):
            return value
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(path, "expression result has the wrong type", "string", value, "result_type")
            return None
        return value if isinstance(value, str) else str(value)

    def boolean(self, dyn: Dynamic | None, path: str) -> bool | None:
        if dyn is None:
            return None
        value = self.value(dyn, path)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, Deferred):
            return None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.fail(path, "expression result has the wrong type", "boolean", value, "result_type")
        return None

    def integer(self, dyn: Dynamic | None, path: str, default: int, low: int, high: int) -> int:
        if dyn is None:
            return default
        value = self.value(dyn, path)
        if isinstance(value, Deferred):
            return default
        if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, "expression result has the wrong type", "integer", value, "result_type")
            return default
        if not low <= value <= high:
            self.fail(path, "out of range", f"an integer from {low} to {high}", value, "out_of_range")
            return default
        return value

    def mapping(self, raw: Any, path: str) -> dict[str, Any]:
        if raw is None:
            return {}
        value = self.value(raw, path)
        if value is None or isinstance(value, Deferred):
            return {}
        if not isinstance(value, dict):
            self.fail(path, "expression result has the wrong type", "object", value, "result_type")
            return {}
        return value


def _derived_run_id(request_id: str) -> str:
    return str(uuid.uuid5(_RUN_ID_NAMESPACE, request_id))


def _expression_context(payload: ValidatedPayload, rc: RequestContext) -> dict[str, Any]:
    env = payload.envelope
    received = dotnet_timestamp(rc.received_at)
    scheduled = dotnet_timestamp(rc.scheduled_time) if rc.scheduled_time else None
    trigger_time = env.trigger.time or scheduled or received
    pipeline: dict[str, Any] = {
        "parameters": env.pipeline.parameters,
        "globalParameters": env.pipeline.global_parameters,
        "RunId": env.pipeline.run_id or _derived_run_id(rc.request_id),
        "Pipeline": env.pipeline.name or "amlexec",
        "DataFactory": env.pipeline.data_factory or rc.data_factory,
        "TriggerTime": trigger_time,
        "TriggerType": env.trigger.type or rc.trigger_type,
        "TriggerName": env.trigger.name or rc.trigger_name,
        "TriggerId": rc.request_id,
        "GroupId": rc.correlation_id or rc.request_id,
    }
    trigger: dict[str, Any] = {
        "scheduledTime": env.trigger.scheduled_time or scheduled or trigger_time,
        "startTime": env.trigger.start_time or received,
    }
    if env.trigger.outputs is not None:
        trigger["outputs"] = env.trigger.outputs
    context: dict[str, Any] = {
        "pipeline": pipeline,
        "trigger": trigger,
        "variables": env.variables,
        "activity": {name: {"output": output} for name, output in env.activity_outputs.items()},
    }
    if env.item is not None:
        context["item"] = env.item
    return context


def _bind_linked_service(
    service: LinkedService, resolver: _Resolver, ref_params: dict[str, Dynamic], path: str
) -> WorkspaceInfo | None:
    """Evaluate a parameterised workspace (``@{linkedService().x}``) with allowed reference parameters."""
    if service.workspace is None:
        return None
    values: dict[str, Any] = {}
    for name, decl in service.parameters.items():
        if isinstance(decl, dict) and "defaultValue" in decl:
            values[name] = decl["defaultValue"]
    for name, dyn in ref_params.items():
        value = resolver.value(dyn, f"{path}.parameters.{name}")
        declared = {k.lower() for k in service.parameters}
        allowed = {k.lower(): v for k, v in service.allow.parameter_values.items()}.get(name.lower())
        if name.lower() not in declared:
            resolver.fail(
                f"{path}.parameters.{name}",
                f"linked service '{service.name}' declares no such parameter",
                f"one of {sorted(service.parameters) or 'no parameters'}",
                name,
                "unknown_parameter",
            )
        elif value != values.get(name) and (allowed is None or value not in allowed):
            resolver.fail(
                f"{path}.parameters.{name}",
                "value not allowed for this linked service (configure amlexec.allowedParameterValues)",
                f"one of {list(allowed) if allowed else [values.get(name)]}",
                value,
                "not_allowed",
            )
        else:
            values[name] = value
    ws = service.workspace
    if "@" not in ws.subscription_id and "@" not in ws.resource_group and "@" not in ws.name:
        return ws
    link_resolver = _Resolver({"linkedService": values}, resolver.now, "", secure=False)
    parts = [
        link_resolver.value(part, f"linkedService:{service.name}")
        for part in (ws.subscription_id, ws.resource_group, ws.name)
    ]
    if link_resolver.issues or not all(isinstance(p, str) and p for p in parts):
        resolver.fail(
            path,
            f"linked service '{service.name}' has a workspace expression that cannot be evaluated",
            "declared linkedService() parameters with values",
            None,
            "linked_service",
        )
        return None
    return WorkspaceInfo(subscription_id=str(parts[0]), resource_group=str(parts[1]), name=str(parts[2]))


def _select_target(props: TypeProperties, service: LinkedService, r: _Resolver) -> Target | None:
    tp = "typeProperties."
    pipeline_id = r.text(props.ml_pipeline_id, tp + "mlPipelineId")
    endpoint_id = r.text(props.ml_pipeline_endpoint_id, tp + "mlPipelineEndpointId")
    version = r.text(props.version, tp + "version")
    batch = r.text(props.ml_batch_endpoint_name, tp + "mlBatchEndpointName")
    deployment = r.text(props.ml_batch_deployment_name, tp + "mlBatchDeploymentName")
    chosen = [
        (n, v)
        for n, v in (
            ("mlPipelineId", pipeline_id),
            ("mlPipelineEndpointId", endpoint_id),
            ("mlBatchEndpointName", batch),
        )
        if v
    ]
    if len(chosen) != 1:
        if not r.issues:
            r.fail(
                "typeProperties",
                "exactly one pipeline to run is required after evaluation",
                "exactly one of mlPipelineId, mlPipelineEndpointId or mlBatchEndpointName",
                " and ".join(n for n, _ in chosen) or "none",
                "no_target" if not chosen else "two_targets",
            )
        return None
    prop, name = chosen[0]
    path = tp + prop
    if isinstance(name, Deferred):
        if prop == "mlPipelineEndpointId":
            return PipelineEndpointTarget(endpoint_id=name, version=version)
        if prop == "mlBatchEndpointName":
            return BatchEndpointTarget(endpoint_name=name, deployment_name=deployment)
        return PublishedPipelineTarget(pipeline_id=name)

    if service.is_local:
        local_name = name.removeprefix("azureml:").split(":")[0].split("@")[0]
        if not _LOCAL_NAME.match(local_name) or ".." in local_name:
            r.fail(path, "not a pipeline file name", "letters, digits, '_', '-', '.'", name, "invalid_value")
            return None
        folder = service.local_folder
        assert folder is not None
        for candidate in (local_name, f"{local_name}.yml", f"{local_name}.yaml"):
            file = folder / candidate
            if file.is_file() and file.resolve().parent == folder:
                return LocalPipelineTarget(name=local_name, path=str(file))
        available = sorted(p.stem for p in folder.glob("*.y*ml")) if folder.is_dir() else []
        r.fail(
            path,
            f"no pipeline named '{local_name}' in the local linked service '{service.name}'",
            f"one of {available}",
            name,
            "unknown_pipeline",
        )
        return None

    target: Target
    kind: str
    if prop == "mlPipelineId":
        if name.startswith("azureml:"):
            component = _COMPONENT.match(name)
            if not component:
                r.fail(
                    path,
                    "not a pipeline component reference",
                    "azureml:name:version or azureml:name@label",
                    name,
                    "invalid_value",
                )
                return None
            target = PipelineComponentTarget(
                name=component["name"],
                version=component["version"],
                label=component["label"] if not component["version"] else None,
            )
        else:
            guid = is_guid(name)
            if not guid:
                # Data Factory accepts any text here; the service answers an unknown id with 404 before any
                # run starts, so this is a warning, not a rejection.
                r.warn(
                    path,
                    "does not look like a published pipeline id (a GUID); for a registered pipeline "
                    "component write azureml:name:version or azureml:name@label",
                    "not_a_guid",
                )
            target = PublishedPipelineTarget(pipeline_id=name.lower() if guid else name)
        kind = "pipeline"
    elif prop == "mlPipelineEndpointId":
        target = PipelineEndpointTarget(endpoint_id=name, version=version)
        kind = "endpoint"
    else:
        target = BatchEndpointTarget(endpoint_name=name, deployment_name=deployment)
        kind = "batch"
    if not service.allow.permits(kind, name):
        r.fail(
            path,
            f"linked service '{service.name}' is not allowed to launch this target",
            "a target listed in the linked service's amlexec allow-list",
            name,
            "not_allowed",
        )
        return None
    return target


def _experiment_name(props: TypeProperties, fallback: str, r: _Resolver) -> str:
    name = r.text(props.experiment_name, "typeProperties.experimentName")
    if name is None:
        # Azure ML experiment names allow letters, digits, '_' and '-': derive one from the pipeline name.
        derived = re.sub(r"[^A-Za-z0-9_-]+", "_", fallback).strip("_-")[:255]
        return derived if derived and derived[0].isalnum() else f"amlexec_{derived}".strip("_")
    if not isinstance(name, Deferred) and not _EXPERIMENT.match(name):
        r.fail(
            "typeProperties.experimentName",
            "not a valid Azure ML experiment name",
            "1-255 letters, digits, '_' or '-', starting with a letter or digit",
            name,
            "invalid_value",
        )
    return name


@dataclass(frozen=True)
class Resolution:
    """A resolved request, warnings about it and, when resolved for validation, the values left for run time."""

    request: LaunchRequest
    deferred: list[Issue]
    warnings: list[Issue]


def resolve(
    payload: ValidatedPayload,
    rc: RequestContext,
    registry: LinkedServiceRegistry,
    *,
    default_linked_service: str | None = None,
) -> LaunchRequest:
    """Evaluate every expression and select the target; raise RequestRejected listing every issue."""
    return _resolve(payload, rc, registry, default_linked_service, lenient=False).request


def preview(
    payload: ValidatedPayload,
    rc: RequestContext,
    registry: LinkedServiceRegistry,
    *,
    default_linked_service: str | None = None,
) -> Resolution:
    """Resolve for validation: values that exist only at run time become placeholders, not errors."""
    return _resolve(payload, rc, registry, default_linked_service, lenient=True)


def _resolve(
    payload: ValidatedPayload,
    rc: RequestContext,
    registry: LinkedServiceRegistry,
    default_linked_service: str | None,
    *,
    lenient: bool,
) -> Resolution:
    activity = payload.activity
    props = activity.type_properties
    assert props is not None, "validate_payload rejects activities without typeProperties"
    secure = activity.policy.secure_input
    resolver = _Resolver(_expression_context(payload, rc), rc.received_at, payload.path_prefix, secure, lenient=lenient)
    context = resolver.context

    ref = activity.linked_service_name
    reference = (
        ref.reference_name
        if ref
        else (activity.external_references.connection if activity.external_references else default_linked_service)
    )
    ref_path = "linkedServiceName" if ref else "externalReferences.connection"
    service = registry.lookup(reference) if reference else None
    if reference is None:
        resolver.fail(
            "linkedServiceName",
            "no linked service named and no default configured",
            "linkedServiceName.referenceName",
            None,
            "missing",
        )
    elif service is None:
        resolver.fail(
            f"{ref_path}.referenceName" if ref else ref_path,
            f"unknown linked service '{reference}'",
            f"one of {registry.names()}",
            reference,
            "unknown_linked_service",
        )
    if service is None:
        raise RequestRejected(resolver.issues)

    workspace = _bind_linked_service(service, resolver, dict(ref.parameters) if ref else {}, ref_path)
    target = _select_target(props, service, resolver)
    experiment = _experiment_name(
        props, context["pipeline"]["Pipeline"] if payload.envelope.pipeline.name else activity.name, resolver
    )

    params = resolver.mapping(props.ml_pipeline_parameters, "typeProperties.mlPipelineParameters")
    data_paths: dict[str, DataPath] = {}
    assignments = props.data_path_assignments
    raw_paths = resolver.mapping(
        {k: v.model_dump(by_alias=True, exclude_none=True) for k, v in assignments.items()}
        if isinstance(assignments, dict)
        else assignments,
        "typeProperties.dataPathAssignments",
    )
    for name, value in raw_paths.items():
        path = "typeProperties." + format_path(["dataPathAssignments", name])
        if not name and not value:
            continue
        if not isinstance(value, dict) or not isinstance(value.get("DataStoreName"), str):
            resolver.fail(
                path,
                "a data path needs a DataStoreName",
                '{"DataStoreName": ..., "RelativePath": ...}',
                value,
                "invalid_value",
            )
            continue
        relative = value.get("RelativePath")
        data_paths[name] = DataPath(
            datastore_name=value["DataStoreName"], relative_path=relative if isinstance(relative, str) else None
        )

    policy = activity.policy
    timeout_text = resolver.text(policy.timeout, "policy.timeout")
    timeout = (
        parse_timeout(timeout_text)
        if timeout_text and not isinstance(timeout_text, Deferred)
        else float(DEFAULT_TIMEOUT_SECONDS)
    )
    if timeout is None or timeout <= 0:
        resolver.fail(
            "policy.timeout",
            "timeout is not a positive d.hh:mm:ss duration",
            '"d.hh:mm:ss"',
            timeout_text,
            "invalid_timeout",
        )
        timeout = float(DEFAULT_TIMEOUT_SECONDS)
    resolved_policy = ResolvedPolicy(
        timeout_seconds=timeout,
        retry=resolver.integer(policy.retry, "policy.retry", 0, 0, 2**31 - 1),
        retry_interval_seconds=resolver.integer(
            policy.retry_interval_in_seconds, "policy.retryIntervalInSeconds", 30, 30, 86400
        ),
        secure_input=policy.secure_input,
        secure_output=policy.secure_output,
    )
    user_properties = {}
    for index, prop in enumerate(activity.user_properties):
        value = resolver.value(prop.value, f"userProperties[{index}].value")
        user_properties[prop.name] = value if isinstance(value, str) else ("" if value is None else str(value))

    request_fields: dict[str, Any] = {
        "parameters": params,
        "dataset_assignments": resolver.mapping(
            props.data_set_definition_value_assignments, "typeProperties.dataSetDefinitionValueAssignments"
        ),
        "job_inputs": resolver.mapping(props.job_inputs, "typeProperties.jobInputs"),
        "job_outputs": resolver.mapping(props.job_outputs, "typeProperties.jobOutputs"),
        "job_settings": resolver.mapping(props.job_settings, "typeProperties.jobSettings"),
        "parent_run_id": resolver.text(props.ml_parent_run_id, "typeProperties.mlParentRunId"),
        "continue_on_step_failure": resolver.boolean(
            props.continue_on_step_failure, "typeProperties.continueOnStepFailure"
        ),
    }
    resolver.check_values(
        {
            "typeProperties.mlPipelineParameters": request_fields["parameters"],
            "typeProperties.dataSetDefinitionValueAssignments": request_fields["dataset_assignments"],
            "typeProperties.jobInputs": request_fields["job_inputs"],
            "typeProperties.jobOutputs": request_fields["job_outputs"],
            "typeProperties.jobSettings": request_fields["job_settings"],
            "typeProperties.mlParentRunId": request_fields["parent_run_id"],
            "typeProperties.dataPathAssignments": raw_paths,
            "typeProperties.experimentName": experiment,
            "userProperties": user_properties,
        }
    )
    if resolver.issues or target is None:
        raise RequestRejected(resolver.issues)
    try:
        # model_validate rather than the constructor: the same validation without BaseModel.__init__'s keyword
        # plumbing, which costs a third as much again on this path.
        request = LaunchRequest.model_validate(
            {
                "request_id": rc.request_id,
                "correlation_id": payload.envelope.correlation_id or rc.correlation_id or rc.request_id,
                "activity_name": activity.name,
                "linked_service": service.name,
                "workspace": workspace,
                "target": target,
                "experiment_name": experiment,
                "data_path_assignments": data_paths,
                "policy": resolved_policy,
                "description": activity.description,
                "user_properties": user_properties,
                "pipeline_run_id": context["pipeline"]["RunId"],
                "pipeline_name": context["pipeline"]["Pipeline"],
                "trigger_time": rc.scheduled_time or rc.received_at,
                **request_fields,
            }
        )
    except PydanticValidationError as exc:
        # Every value was checked above; this is the last line of defence, never a crash.
        raise RequestRejected(
            [
                Issue(
                    payload.path_prefix + ".".join(str(p) for p in err["loc"]),
                    "the resolved request is not valid: " + err["msg"],
                    code="invalid_request",
                )
                for err in exc.errors(include_url=False, include_input=False)
            ]
        ) from None
    return Resolution(request, resolver.deferred, resolver.warnings)
