"""Pydantic models of the Data Factory ``AzureMLExecutePipeline`` activity and of amlexec's envelope.

The models accept the activity exactly as Data Factory, Synapse and Fabric write it. Every property that
Data Factory lets an author bind to an expression is a :class:`Dynamic` value: a literal, an ``@`` string
or an Expression object ``{"value": "@...", "type": "Expression"}``. Expression syntax is checked here;
evaluation waits for :mod:`amlexec.resolve`, when the run-time context exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from amlexec.errors import describe_value
from amlexec.expressions import ExpressionError, ExpressionLimitError, Template
from amlexec.expressions import compile as compile_expression

__all__ = [
    "ACTIVITY_TYPE",
    "MAX_EXPRESSION_LENGTH",
    "Activity",
    "ActivityDependency",
    "ActivityPolicy",
    "DataPathAssignment",
    "Dynamic",
    "DynamicKind",
    "Envelope",
    "ExternalReferences",
    "LinkedServiceReference",
    "PipelineInfo",
    "TriggerInfo",
    "TypeProperties",
    "is_envelope",
    "is_expression_object",
]

ACTIVITY_TYPE = "AzureMLExecutePipeline"

DynamicKind = Literal["string", "boolean", "integer", "object", "any", "expression"]

_JSON_TYPE_NAMES = {str: "string", bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}


def is_envelope(data: Any) -> bool:
    """Whether a payload is an envelope (``{"activity": {...}, "pipeline": ...}``) rather than a bare activity."""
    return (
        isinstance(data, dict)
        and "activity" in data
        and "typeProperties" not in data
        and data.get("type") != ACTIVITY_TYPE
    )


def is_expression_object(value: Any) -> bool:
    """True for Data Factory's ``{"value": ..., "type": "Expression"}`` wrapper."""
    if not isinstance(value, dict) or len(value) != 2 or "value" not in value:
        return False
    # Two keys, one of them "value": the keys are exactly {"value", "type"} when "type" holds a string.
    kind = value.get("type")
    return isinstance(kind, str) and kind.lower() == "expression"


@dataclass(frozen=True, slots=True)
class Dynamic:
    """A value as the author wrote it: literal JSON, or an expression to evaluate at run time.

    ``raw`` is the JSON exactly as received (kept for echoing back and for the v1 body); ``template`` is
    the compiled expression when there is one. Nested objects and arrays may hold expressions at any
    depth (Data Factory evaluates them wherever they stand); ``nested`` lists the compiled ones.
    """

    raw: Any
    kind: DynamicKind
    template: Template | None = None

    @property
    def is_expression(self) -> bool:
        return self.template is not None and self.template.is_expression

    @classmethod
    def parse(cls, value: Any, kind: DynamicKind) -> Dynamic:
        """Check ``value`` against ``kind``; raise PydanticCustomError with expected/got on mismatch."""
        if isinstance(value, str):
            # Most values are text: what is said below for them, without the checks that only objects need.
            if "@" in value:
                template = _compile(value)
                if template.is_expression:
                    return cls(value, kind, template)
            if kind not in {"string", "any"}:
                _check_literal(value, kind)
            return cls(value, kind, None)
        if is_expression_object(value):
            text = value["value"]
            if not isinstance(text, str):
                raise PydanticCustomError(
                    "expression_value",
                    "an Expression object's value must be a string",
                    {"expected": "string", "got": describe_value(text)},
                )
            # A value that does not start with '@' is a literal string: compile() treats it so.
            return cls(value, kind, _compile(text))
        _check_literal(value, kind)
        if isinstance(value, dict | list):
            _compile_nested(value)
        return cls(value, kind, None)


# Data Factory's documented limit on characters per expression.
MAX_EXPRESSION_LENGTH = 8192


def _compile(text: str) -> Template:
    try:
        template = compile_expression(text)
    except ExpressionLimitError as exc:
        # The length limit has its own expected/got; any other limit (nesting, size) says which in its reason.
        too_long = len(text) > MAX_EXPRESSION_LENGTH
        sizes = {"expected": f"at most {MAX_EXPRESSION_LENGTH} characters", "got": f"{len(text)} characters"}
        raise PydanticCustomError(
            "expression_too_long" if too_long else "expression_limit",
            "expression exceeds a limit: {reason}",
            {"reason": exc.message, **(sizes if too_long else {})},
        ) from None
    except ExpressionError as exc:
        where = f" at position {exc.position}" if exc.position is not None else ""
        raise PydanticCustomError(
            "expression_syntax",
            "invalid expression{where}: {reason}",
            {"where": where, "reason": exc.message, "expected": "a valid expression", "got": describe_value(text)},
        ) from None
    if template.is_expression and len(text) > MAX_EXPRESSION_LENGTH:
        raise PydanticCustomError(
            "expression_too_long",
            "expression is too long",
            {"expected": f"at most {MAX_EXPRESSION_LENGTH} characters", "got": f"{len(text)} characters"},
        )
    return template


def _compile_nested(value: Any, depth: int = 0) -> None:
    """Syntax-check expressions nested inside a literal object or array (Data Factory evaluates them)."""
    if depth > 32:
        raise PydanticCustomError(
            "too_deep", "value nests deeper than {limit} levels", {"limit": 32, "expected": "at most 32 levels"}
        )
    items = value.values() if isinstance(value, dict) else value
    for item in items:
        if is_expression_object(item):
            Dynamic.parse(item, "any")
        elif isinstance(item, str) and "@" in item:
            _compile(item)
        elif isinstance(item, dict | list):
            _compile_nested(item, depth + 1)


def _check_literal(value: Any, kind: DynamicKind) -> None:
    ok: bool
    if kind == "string":
        ok = isinstance(value, str)
        expected = "string or expression"
    elif kind == "boolean":
        ok = isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))
        expected = "boolean or expression"
    elif kind == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
        expected = "integer or expression"
    elif kind == "object":
        ok = isinstance(value, dict)
        expected = "object or expression"
    elif kind == "expression":
        ok = False
        expected = "object or expression"
    else:
        ok = True
        expected = "any JSON value"
    if not ok:
        raise PydanticCustomError(
            "dynamic_type",
            "wrong type",
            {"expected": expected, "got": describe_value(value)},
        )


# Plain text (no '@') longer than this is checked every time rather than kept.
_MAX_KEPT_LITERAL = 256


@lru_cache(maxsize=1024)
def _literal(value: str | int, kind: DynamicKind) -> Dynamic:
    """A plain-text or integer value as a Dynamic, made once per value and kind: every payload repeats the same
    pipeline ids, execution types, timeouts and retry counts. Safe to share: text without '@' holds no
    expression, and a Dynamic of it is immutable and depends on the value and kind alone (a rejected value
    raises and is not kept). Callers pass exact ``str`` and ``int`` only: ``True == 1`` would share a key."""
    return Dynamic.parse(value, kind)


_EXPRESSION_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Expression",
    "description": "A Data Factory expression object; value starting with '@' is evaluated at run time.",
    "properties": {"value": {"type": "string"}, "type": {"const": "Expression"}},
    "required": ["value", "type"],
    "additionalProperties": False,
}


class _DynamicAnnotation:
    """Pydantic glue: validate a field into :class:`Dynamic` of one kind and describe it in JSON Schema."""

    _LITERAL_SCHEMAS: dict[str, dict[str, Any]] = {  # noqa: RUF012 - read-only table
        "string": {"type": "string"},
        "boolean": {"type": "boolean"},
        "integer": {"type": "integer"},
        "object": {"type": "object"},
        "any": {},
        "expression": {"type": "string", "pattern": "^@"},
    }

    def __init__(self, kind: DynamicKind) -> None:
        self.kind: DynamicKind = kind

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        kind = self.kind

        def validate(value: Any) -> Dynamic:
            if (type(value) is str and "@" not in value and len(value) <= _MAX_KEPT_LITERAL) or type(value) is int:
                return _literal(value, kind)
            if isinstance(value, Dynamic):
                return value
            return Dynamic.parse(value, kind)

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(lambda d: d.raw)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        literal = dict(self._LITERAL_SCHEMAS[self.kind])
        if self.kind == "any":
            return {"description": "Any JSON value; strings starting with '@' and Expression objects are evaluated."}
        return {"anyOf": [literal, _EXPRESSION_OBJECT_SCHEMA]}


DynStr = Annotated[Dynamic, _DynamicAnnotation("string")]
DynBool = Annotated[Dynamic, _DynamicAnnotation("boolean")]
DynInt = Annotated[Dynamic, _DynamicAnnotation("integer")]
DynAny = Annotated[Dynamic, _DynamicAnnotation("any")]
# A whole map (parameters, inputs) given as one expression; a literal map is validated entry by entry.
DynMapExpr = Annotated[Dynamic, _DynamicAnnotation("expression")]


class _Model(BaseModel):
    """Data Factory spells properties in camelCase; Python code reads them in snake_case."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=True,
        arbitrary_types_allowed=True,
    )


class LinkedServiceReference(_Model):
    """``linkedServiceName``: which configured workspace connection the activity runs against."""

    reference_name: str = Field(min_length=1, max_length=260)
    type: Literal["LinkedServiceReference"] = "LinkedServiceReference"
    parameters: dict[str, DynAny] = Field(default_factory=dict)


class ExternalReferences(_Model):
    """Fabric's replacement for ``linkedServiceName``: a connection id."""

    connection: str = Field(min_length=1, max_length=260)


class ActivityDependency(_Model):
    """An entry of ``dependsOn``; kept for fidelity, meaningless outside a Data Factory pipeline."""

    activity: str
    dependency_conditions: list[str] = Field(default_factory=list)


class UserProperty(_Model):
    """An entry of ``userProperties`` (shown in Data Factory monitoring; we tag runs with them)."""

    name: str
    value: DynAny


class ActivityPolicy(_Model):
    """``policy``: timeout, retries and whether inputs/outputs must stay out of logs."""

    timeout: DynStr | None = None
    retry: DynInt | None = None
    retry_interval_in_seconds: DynInt | None = None
    secure_input: bool = False
    secure_output: bool = False


class DataPathAssignment(_Model):
    """A v1 ``DataPath`` pipeline parameter: a datastore and a path inside it (PascalCase, as the UI writes)."""

    model_config = ConfigDict(alias_generator=None, populate_by_name=True, extra="allow", frozen=True)

    DataStoreName: DynStr | None = None
    RelativePath: DynStr | None = None


class TypeProperties(_Model):
    """``typeProperties`` of the activity: the target pipeline and what to run it with."""

    ml_pipeline_id: DynStr | None = None
    ml_pipeline_endpoint_id: DynStr | None = None
    version: DynStr | None = None
    experiment_name: DynStr | None = None
    ml_pipeline_parameters: dict[str, DynAny] | DynMapExpr | None = None
    data_path_assignments: dict[str, DataPathAssignment] | DynMapExpr | None = None
    ml_parent_run_id: DynStr | None = None
    continue_on_step_failure: DynBool | None = None
    # Undocumented but written by the Data Factory UI for v1 dataset parameters; passed through to v1.
    data_set_definition_value_assignments: dict[str, DynAny] | DynMapExpr | None = None
    # Microsoft Fabric's additions.
    ml_execution_type: DynStr | None = None
    ml_batch_endpoint_name: DynStr | None = None
    ml_batch_deployment_name: DynStr | None = None
    job_settings: dict[str, DynAny] | DynMapExpr | None = None
    job_inputs: dict[str, DynAny] | DynMapExpr | None = None
    job_outputs: dict[str, DynAny] | DynMapExpr | None = None


class Activity(_Model):
    """The ``AzureMLExecutePipeline`` activity exactly as a Data Factory pipeline holds it."""

    name: str = Field(min_length=1, max_length=55)
    type: str
    description: str | None = None
    depends_on: list[ActivityDependency] = Field(default_factory=list)
    user_properties: list[UserProperty] = Field(default_factory=list)
    linked_service_name: LinkedServiceReference | None = None
    external_references: ExternalReferences | None = None
    policy: ActivityPolicy = Field(default_factory=ActivityPolicy)
    state: Literal["Active", "Inactive"] | None = None
    on_inactive_mark_as: Literal["Succeeded", "Failed", "Skipped"] | None = None
    type_properties: TypeProperties | None = None


class PipelineInfo(_Model):
    """What ``pipeline()`` returns inside expressions: the calling pipeline's identity and parameters."""

    name: str | None = Field(default=None, max_length=260, description="pipeline().Pipeline")
    run_id: str | None = Field(default=None, max_length=260, description="pipeline().RunId")
    data_factory: str | None = Field(default=None, max_length=260, description="pipeline().DataFactory")
    parameters: dict[str, Any] = Field(default_factory=dict, description="pipeline().parameters")
    global_parameters: dict[str, Any] = Field(default_factory=dict, description="pipeline().globalParameters")


class TriggerInfo(_Model):
    """What ``trigger()`` and ``pipeline().Trigger*`` return: who started the request and when."""

    name: str | None = Field(default=None, max_length=260, description="pipeline().TriggerName")
    type: str | None = Field(default=None, max_length=100, description="pipeline().TriggerType")
    time: str | None = Field(default=None, description="pipeline().TriggerTime (ISO 8601)")
    scheduled_time: str | None = Field(default=None, description="trigger().scheduledTime (ISO 8601)")
    start_time: str | None = Field(default=None, description="trigger().startTime (ISO 8601)")
    outputs: dict[str, Any] | None = Field(default=None, description="trigger().outputs (event triggers)")


def _no_trigger() -> TriggerInfo:
    # Envelopes without a trigger share one: every field of it is None, and the model is frozen.
    return _NO_TRIGGER


_NO_TRIGGER = TriggerInfo()


class Envelope(_Model):
    """A request: the activity plus what its expressions need. A bare activity is an envelope with nothing else."""

    activity: Activity
    pipeline: PipelineInfo = Field(default_factory=PipelineInfo)
    trigger: TriggerInfo = Field(default_factory=_no_trigger)
    variables: dict[str, Any] = Field(default_factory=dict, description="variables('name')")
    activity_outputs: dict[str, Any] = Field(
        default_factory=dict, description="activity('name').output, keyed by activity name"
    )
    item: Any = Field(default=None, description="item() inside a ForEach")
    correlation_id: str | None = Field(default=None, max_length=128)
