"""Validate a request payload: JSON, structure, types, expression syntax and limits, every issue at once.

Validation needs no run-time values: ``activity('x').output`` or trigger times are checked for syntax
only. :func:`validate_payload` returns a :class:`ValidatedPayload` (with warnings for what Data Factory
tolerates and we ignore) or raises :class:`~amlexec.errors.RequestRejected` listing every problem with
its JSON path, what was expected and what was found.

Operators: the payload limit defaults to 256 KiB, the largest message a Service Bus *standard* namespace
accepts; raise it with ``AMLEXEC_MAX_PAYLOAD_BYTES`` on a premium namespace (at most 100 MiB).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from amlexec.activity import (
    ACTIVITY_TYPE,
    Activity,
    DataPathAssignment,
    Envelope,
    TypeProperties,
    is_envelope,
    is_expression_object,
)
from amlexec.errors import Issue, RequestRejected, describe_value, format_path
from amlexec.request import REDACTED

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "ValidatedPayload",
    "parse_timeout",
    "validate_payload",
]

STANDARD_TIER_MAX_MESSAGE = 256 * 1024
PREMIUM_TIER_MAX_MESSAGE = 100 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask for; each breach is a precise rejection, never a crash."""

    max_payload_bytes: int = STANDARD_TIER_MAX_MESSAGE
    max_json_depth: int = 64
    max_parameters: int = 256
    max_parameter_name_length: int = 256
    max_parameter_value_length: int = 32 * 1024

    def __post_init__(self) -> None:
        if not 1024 <= self.max_payload_bytes <= PREMIUM_TIER_MAX_MESSAGE:
            raise ValueError(
                f"max_payload_bytes must be between 1024 and {PREMIUM_TIER_MAX_MESSAGE}, got {self.max_payload_bytes}"
            )


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class ValidatedPayload:
    """A payload that passed validation: the envelope (a bare activity is wrapped) and any warnings."""

    envelope: Envelope
    bare_activity: bool
    warnings: list[Issue] = field(default_factory=list)
    size_bytes: int = 0

    @property
    def activity(self) -> Activity:
        return self.envelope.activity

    @property
    def path_prefix(self) -> str:
        """Where the activity sits in the payload: '' for a bare activity, 'activity.' in an envelope."""
        return "" if self.bare_activity else "activity."


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TIMEOUT = re.compile(r"^(?:(\d{1,4})\.)?(\d{1,2}):([0-5]?\d):([0-5]?\d)(?:\.(\d{1,7}))?$")


def parse_timeout(text: str) -> float | None:
    """Parse Data Factory's ``d.hh:mm:ss`` (also ``hh:mm:ss``) into seconds; None when malformed."""
    # Validation and resolution both read the same few timeouts; longer text than any timeout is not kept.
    return _cached_timeout(text) if len(text) <= 32 else _parse_timeout(text)


def _parse_timeout(text: str) -> float | None:
    match = _TIMEOUT.match(text.strip())
    if not match:
        return None
    days, hours, minutes, seconds, fraction = match.groups()
    if int(hours) > 23 and days is not None:
        return None
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (int(fraction.ljust(7, "0")) / 1e7 if fraction else 0.0)


_cached_timeout = lru_cache(maxsize=256)(_parse_timeout)


_PYDANTIC_EXPECTED = {
    "missing": "a value (required property)",
    "string_type": "string",
    "string_too_short": "a non-empty string",
    "string_too_long": "a shorter string",
    "bool_type": "boolean",
    "int_type": "integer",
    "int_parsing": "integer",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "list_type": "array",
    "literal_error": None,
}


_UNION_TAG = re.compile(r"^(?:dict|list|function-(?:plain|wrap|before|after))\[.*\]$")


def _issue_from_error(err: Any, loc: tuple[Any, ...]) -> Issue:
    ctx = err.get("ctx") or {}
    kind = err["type"]
    got = ctx.get("got") or (describe_value(err["input"]) if kind != "missing" else "nothing")
    expected = ctx.get("expected") if kind != "literal_error" else f"one of {ctx.get('expected')}"
    if expected is None:
        expected = _PYDANTIC_EXPECTED.get(kind)
    message = err["msg"]
    if kind == "missing":
        message = "required property is missing"
    elif kind == "string_too_long":
        message = f"longer than {ctx.get('max_length')} characters"
        expected = f"at most {ctx.get('max_length')} characters"
        got = f"{len(err['input'])} characters" if isinstance(err["input"], str) else got
    return Issue(format_path(loc), message, expected, got, code=kind)


def _issues_from_pydantic(error: PydanticValidationError) -> list[Issue]:
    """Turn pydantic's errors into issues; a ``map | expression`` union reports its most specific branch."""
    issues: list[Issue] = []
    unions: dict[tuple[Any, ...], list[tuple[str, tuple[Any, ...], Any]]] = {}
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        tag_at = next((i for i, part in enumerate(loc) if isinstance(part, str) and _UNION_TAG.match(part)), None)
        if tag_at is None:
            issues.append(_issue_from_error(err, loc))
        else:
            unions.setdefault(loc[:tag_at], []).append((str(loc[tag_at]), loc[tag_at + 1 :], err))
    for field_loc, branches in unions.items():
        detailed = [
            (rest, err)
            for tag, rest, err in branches
            if tag.startswith("dict") and (rest or err["type"] != "dict_type")
        ]
        if detailed:
            issues.extend(_issue_from_error(err, field_loc + rest) for rest, err in detailed)
        else:
            value = branches[0][2]["input"]
            issues.append(
                Issue(
                    format_path(field_loc),
                    "wrong type",
                    "object or expression",
                    describe_value(value),
                    code="dynamic_type",
                )
            )
    return issues


def _json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests deeper than ``limit`` levels."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def _reject(message: str, expected: str, got: str, code: str) -> RequestRejected:
    return RequestRejected([Issue("$", message, expected, got, code=code)])


def _too_deep(limits: Limits) -> RequestRejected:
    # Built only when raised: an exception with its message costs as much as decoding a small payload.
    return _reject("payload nests too deeply", f"at most {limits.max_json_depth} levels", "deeper", "too_deep")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        # 1e400 parses to infinity, which JSON cannot carry on to Azure ML or to an event.
        raise _reject(
            f"number {text[:40]} is too large", "a finite number", "an overflowing number", "number_out_of_range"
        )
    return value


def _reject_constant(name: str) -> Any:
    raise _reject(f"payload contains {name}, which is not JSON", "a finite number", name, "invalid_json")


# Built once: json.loads with hooks builds a decoder per call.
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_reject_constant)


def _has_lone_surrogate(value: Any) -> bool:
    """True when a string anywhere in ``value`` holds an unpaired UTF-16 surrogate (valid JSON, invalid text)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _decode(payload: bytes | str | dict[str, Any], limits: Limits) -> tuple[Any, int]:
    if isinstance(payload, dict):
        data: Any = payload
        # Walk before serialising: a dict nested thousands deep would exhaust json.dumps' recursion.
        if _json_depth_exceeds(data, limits.max_json_depth):
            raise _too_deep(limits)
        try:
            size = len(json.dumps(payload, separators=(",", ":"), allow_nan=False).encode())
        except ValueError:
            raise _reject(
                "payload contains a non-finite number", "finite numbers", "NaN or Infinity", "invalid_json"
            ) from None
        openers = 0
        suspect_surrogates = True
    else:
        raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        size = len(raw)
        # A document cannot nest deeper than it has brackets: most payloads skip the depth walk entirely.
        openers = raw.count(b"{") + raw.count(b"[")
        if size > limits.max_payload_bytes:
            raise _reject(
                "payload is too large",
                f"at most {limits.max_payload_bytes} bytes",
                f"{size} bytes",
                "payload_too_large",
            )
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _reject(
                f"payload is not UTF-8 text (byte {exc.start})", "UTF-8 JSON", "binary data", "not_utf8"
            ) from None
        try:
            if text.startswith("\ufeff"):
                # json.loads refuses a second BOM with its own message: let it say so.
                data = json.loads(text, parse_float=_finite_float, parse_constant=_reject_constant)
            else:
                data = _DECODER.decode(text)
        except json.JSONDecodeError as exc:
            raise _reject(
                f"payload is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                "a JSON object",
                describe_value(text[:40]),
                "invalid_json",
            ) from None
        except RecursionError:
            raise _too_deep(limits) from None
        except ValueError as exc:
            # Python refuses integers of more than 4,300 digits (a guard against quadratic conversion).
            raise _reject(
                f"payload holds a number JSON cannot carry: {str(exc)[:120]}",
                "a number of at most 4300 digits",
                "a longer number",
                "number_out_of_range",
            ) from None
        # Only a \u escape can produce an unpaired surrogate: skip the walk when the text has none (JSON has
        # no \U escape, and no other character lower-cases to '\\', 'u' or 'd', so two searches cover it).
        suspect_surrogates = "\\ud" in text or "\\uD" in text
    if size > limits.max_payload_bytes:
        raise _reject(
            "payload is too large", f"at most {limits.max_payload_bytes} bytes", f"{size} bytes", "payload_too_large"
        )
    if openers > limits.max_json_depth and _json_depth_exceeds(data, limits.max_json_depth):
        raise _too_deep(limits)
    if suspect_surrogates and _has_lone_surrogate(data):
        raise _reject(
            "payload contains an unpaired UTF-16 surrogate (a \\uD800-\\uDFFF escape on its own)",
            "valid Unicode text",
            "an unpaired surrogate",
            "invalid_text",
        )
    return data, size


def _semantic_issues(
    activity: Activity, raw_type_properties: Mapping[str, Any], prefix: str, limits: Limits
) -> tuple[list[Issue], list[Issue]]:
    errors: list[Issue] = []
    warnings: list[Issue] = []

    if activity.type != ACTIVITY_TYPE:
        errors.append(
            Issue(
                prefix + "type",
                "not a Machine Learning Execute Pipeline activity",
                f'"{ACTIVITY_TYPE}"',
                describe_value(activity.type),
                code="wrong_type",
            )
        )
    for key in activity.model_extra or {}:
        warnings.append(
            Issue(prefix + key, "property is not part of the activity contract; ignored", code="ignored_property")
        )
    if activity.state == "Inactive":
        warnings.append(
            Issue(prefix + "state", "the activity is marked Inactive in Data Factory; amlexec runs it", code="inactive")
        )

    ref = activity.linked_service_name
    if ref is not None and ref.reference_name.startswith("[") and ref.reference_name.endswith("]"):
        warnings.append(
            Issue(
                prefix + "linkedServiceName.referenceName",
                "an ARM template expression; amlexec looks up the linked service it names",
                code="arm_expression",
            )
        )

    props = activity.type_properties
    if props is None:
        errors.append(_draft_issue(prefix))
        return errors, warnings
    tp = prefix + "typeProperties."
    for key in props.model_extra or {}:
        warnings.append(
            Issue(tp + key, "property is not part of the activity contract; ignored", code="ignored_property")
        )

    errors.extend(_target_issues(raw_type_properties, tp))
    errors.extend(_parameter_issues(props, tp, limits))
    warnings.extend(_data_path_warnings(props, tp))

    policy = activity.policy
    if policy.timeout is not None and not policy.timeout.is_expression and isinstance(policy.timeout.raw, str):
        seconds = parse_timeout(policy.timeout.raw)
        if seconds is None or seconds <= 0:
            errors.append(
                Issue(
                    prefix + "policy.timeout",
                    "timeout is not a positive d.hh:mm:ss duration",
                    '"d.hh:mm:ss" such as "0.12:00:00"',
                    describe_value(policy.timeout.raw),
                    code="invalid_timeout",
                )
            )
    for name, number in (("retry", policy.retry), ("retryIntervalInSeconds", policy.retry_interval_in_seconds)):
        if number is None or number.is_expression or not isinstance(number.raw, int | float):
            continue
        low, high = (0, 2**31 - 1) if name == "retry" else (30, 86400)
        if not low <= number.raw <= high:
            errors.append(
                Issue(
                    prefix + "policy." + name,
                    "out of range",
                    f"an integer from {low} to {high}",
                    describe_value(number.raw),
                    code="out_of_range",
                )
            )
    return errors, warnings


def _is_set(raw: Any) -> bool:
    """True unless the UI's 'not set' shapes: absent, empty text, an Expression object with empty value."""
    if is_expression_object(raw):
        raw = raw["value"]
    return raw is not None and not (isinstance(raw, str) and not raw.strip())


def _target_issues(props: Mapping[str, Any], tp: str) -> list[Issue]:
    """Target rules on the raw typeProperties, so they are reported even beside structural errors."""
    issues: list[Issue] = []
    pipeline, endpoint = _is_set(props.get("mlPipelineId")), _is_set(props.get("mlPipelineEndpointId"))
    batch = _is_set(props.get("mlBatchEndpointName"))
    execution = props.get("mlExecutionType")
    exec_kind = None
    if isinstance(execution, str) and not execution.startswith("@"):
        exec_kind = execution.replace("_", "").lower()
        if exec_kind not in ("pipeline", "batchendpoint"):
            issues.append(
                Issue(
                    tp + "mlExecutionType",
                    "unknown execution type",
                    '"pipeline" or "batchEndpoint"',
                    describe_value(execution),
                    code="invalid_value",
                )
            )
    chosen = [
        name
        for name, on in (("mlPipelineId", pipeline), ("mlPipelineEndpointId", endpoint), ("mlBatchEndpointName", batch))
        if on
    ]
    if not chosen:
        issues.append(
            Issue(
                tp.rstrip("."),
                "no pipeline to run (an unfinished draft)",
                "exactly one of mlPipelineId, mlPipelineEndpointId or mlBatchEndpointName",
                "none set",
                code="no_target",
            )
        )
    elif len(chosen) > 1:
        issues.append(
            Issue(
                tp.rstrip("."),
                "more than one pipeline to run",
                "exactly one of mlPipelineId, mlPipelineEndpointId or mlBatchEndpointName",
                " and ".join(chosen),
                code="two_targets",
            )
        )
    if exec_kind == "batchendpoint" and (pipeline or endpoint) and not batch:
        issues.append(
            Issue(
                tp + "mlExecutionType",
                "batch-endpoint execution needs mlBatchEndpointName",
                "mlBatchEndpointName",
                "pipeline properties",
                code="no_target",
            )
        )
    if _is_set(props.get("version")) and not endpoint:
        issues.append(
            Issue(
                tp + "version",
                "version applies only to a pipeline endpoint",
                "mlPipelineEndpointId alongside version",
                "no mlPipelineEndpointId",
                code="orphan_version",
            )
        )
    if _is_set(props.get("mlBatchDeploymentName")) and not batch:
        issues.append(
            Issue(
                tp + "mlBatchDeploymentName",
                "a deployment needs its batch endpoint",
                "mlBatchEndpointName alongside mlBatchDeploymentName",
                "no mlBatchEndpointName",
                code="orphan_deployment",
            )
        )
    return issues


def _raw_rule_issues(data: Mapping[str, Any], bare: bool) -> list[Issue]:
    """Draft and target rules read from the raw payload (used when the structure itself is broken)."""
    activity = data if bare else data.get("activity")
    prefix = "" if bare else "activity."
    if not isinstance(activity, dict):
        return []
    props = activity.get("typeProperties")
    if props is None:
        return [_draft_issue(prefix)]
    return _target_issues(props, prefix + "typeProperties.") if isinstance(props, dict) else []


def _draft_issue(prefix: str) -> Issue:
    return Issue(
        prefix + "typeProperties",
        "the activity has no typeProperties (an unfinished draft)",
        "an object naming the pipeline to run",
        "nothing",
        code="draft",
    )


def _json_size(value: Any) -> int:
    """Characters ``value`` takes as JSON text, without serialising the common shapes."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict) and isinstance(value.get("value"), str) and len(value) == 2:
        return len(value["value"]) + 32  # an Expression object: its text plus the wrapper
    if value is None or isinstance(value, bool | int | float):
        return 8
    return len(json.dumps(value, separators=(",", ":")))


def _parameter_issues(props: TypeProperties, tp: str, limits: Limits) -> list[Issue]:
    issues: list[Issue] = []
    for prop_name, params in (("mlPipelineParameters", props.ml_pipeline_parameters), ("jobInputs", props.job_inputs)):
        if not isinstance(params, dict):
            continue
        if len(params) > limits.max_parameters:
            issues.append(
                Issue(
                    tp + prop_name,
                    "too many parameters",
                    f"at most {limits.max_parameters}",
                    f"{len(params)}",
                    code="too_many_parameters",
                )
            )
        for name, value in params.items():
            # Most parameters have no issue: their path is spelled out only for one that has.
            if not name.strip():
                issues.append(
                    Issue(
                        tp + format_path([prop_name, name]),
                        "parameter name is empty",
                        "a non-empty name",
                        '""',
                        code="empty_name",
                    )
                )
            elif len(name) > limits.max_parameter_name_length:
                issues.append(
                    Issue(
                        tp + format_path([prop_name, name]),
                        "parameter name is too long",
                        f"at most {limits.max_parameter_name_length} characters",
                        f"{len(name)} characters",
                        code="name_too_long",
                    )
                )
            size = _json_size(value.raw)
            if size > limits.max_parameter_value_length:
                issues.append(
                    Issue(
                        tp + format_path([prop_name, name]),
                        "parameter value is too long",
                        f"at most {limits.max_parameter_value_length} characters",
                        f"{size} characters",
                        code="value_too_long",
                    )
                )
    return issues


def _data_path_warnings(props: TypeProperties, tp: str) -> list[Issue]:
    warnings: list[Issue] = []
    if not isinstance(props.data_path_assignments, dict):
        return warnings
    for name, assignment in props.data_path_assignments.items():
        if not name and isinstance(assignment, DataPathAssignment) and assignment.DataStoreName is None:
            warnings.append(
                Issue(
                    tp + "dataPathAssignments['']", "empty assignment left by the UI; ignored", code="ignored_property"
                )
            )
    return warnings


def _redact(issues: list[Issue]) -> list[Issue]:
    """Under ``policy.secureInput`` keep what was expected and where, never what was found."""
    out = []
    for issue in issues:
        if "typeProperties" not in issue.path or issue.got is None:
            out.append(issue)
            continue
        message = issue.message.replace(issue.got, REDACTED)
        if issue.code.startswith("expression"):
            # A parser message quotes the text around the error, which may be a secure literal.
            message = f"{issue.code.replace('_', ' ')} (details hidden: secureInput)"
        out.append(Issue(issue.path, message, issue.expected, REDACTED, issue.code))
    return out


def _secure_input_requested(data: dict[str, Any], bare: bool) -> bool:
    activity = data if bare else data.get("activity")
    policy = activity.get("policy") if isinstance(activity, dict) else None
    return isinstance(policy, dict) and policy.get("secureInput") is True


def validate_payload(payload: bytes | str | dict[str, Any], *, limits: Limits = DEFAULT_LIMITS) -> ValidatedPayload:
    """Validate a request (bare activity or envelope); raise RequestRejected listing every issue."""
    data, size = _decode(payload, limits)
    if not isinstance(data, dict):
        raise RequestRejected(
            [
                Issue(
                    "$",
                    "payload must be a JSON object",
                    "an activity or an envelope object",
                    describe_value(data),
                    code="not_object",
                )
            ]
        )
    bare = not is_envelope(data)
    prefix = "" if bare else "activity."
    secure = _secure_input_requested(data, bare)
    try:
        envelope = Envelope(activity=Activity.model_validate(data)) if bare else Envelope.model_validate(data)
    except PydanticValidationError as exc:
        issues = _issues_from_pydantic(exc)
        known = {(i.path, i.code) for i in issues}
        issues += [i for i in _raw_rule_issues(data, bare) if (i.path, i.code) not in known]
        raise RequestRejected(_redact(issues) if secure else issues) from None

    warnings: list[Issue] = []
    if not bare:
        for key in envelope.model_extra or {}:
            warnings.append(Issue(key, "property is not part of the envelope; ignored", code="ignored_property"))
    raw_activity = data if bare else data["activity"]
    errors, activity_warnings = _semantic_issues(
        envelope.activity, raw_activity.get("typeProperties") or {}, prefix, limits
    )
    warnings.extend(activity_warnings)
    if errors:
        raise RequestRejected(_redact(errors) if secure else errors)
    return ValidatedPayload(envelope, bare, warnings, size)


def is_guid(text: str) -> bool:
    """True for a GUID such as a v1 published pipeline id."""
    return bool(_GUID.match(text))
