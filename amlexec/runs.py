"""A run's identity: its deterministic name, its attempt, and what amlexec stores on it.

One place for what launchers write onto a run and what the handlers and the Event Grid path read back:
the run name format (``amlexec_<activity>_<digest>_<attempt>``) and ``attempt_of``, the tags and
properties every run carries, and the ``EventContext`` packed into a property so a run's end can be
published from its Event Grid notification alone.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, JsonValue

from amlexec.request import LaunchRequest, WorkspaceInfo

__all__ = [
    "CONTEXT_PROPERTY",
    "DIGEST_PROPERTY",
    "RUN_NAME_PROPERTY",
    "TAG_PREFIX",
    "EventContext",
    "ProgressRef",
    "RequestRef",
    "attempt_of",
    "run_name",
    "run_name_for",
    "run_properties",
    "run_tags",
]


class EventContext(BaseModel):
    """What an event needs to know about the request behind a run (kept on the run for Event Grid)."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    correlation_id: str
    activity_name: str
    linked_service: str
    workspace: WorkspaceInfo | None = None
    target: dict[str, JsonValue]
    experiment_name: str
    parameters: dict[str, JsonValue] | None = None
    secure_output: bool = False
    max_attempts: int = 1
    callback: bool = False

    @classmethod
    def of(cls, request: LaunchRequest) -> EventContext:
        return cls(
            request_id=request.request_id,
            correlation_id=request.correlation_id,
            activity_name=request.activity_name,
            linked_service=request.linked_service,
            workspace=request.workspace,
            target=request.target.model_dump(mode="json"),
            experiment_name=request.experiment_name,
            parameters=None if request.policy.secure_input else request.parameters,
            secure_output=request.policy.secure_output,
            max_attempts=request.policy.retry + 1,
            callback=request.callback,
        )

    def pack(self) -> str:
        """A compact text form for a run property (compressed JSON, base64)."""
        raw = self.model_dump_json(exclude_none=True).encode()
        return base64.b64encode(zlib.compress(raw, 9)).decode()

    @classmethod
    def unpack(cls, text: str) -> EventContext:
        """The context packed by :meth:`pack`; ValueError for anything else (the property is untrusted)."""
        try:
            return cls.model_validate_json(zlib.decompress(base64.b64decode(text, validate=True)))
        except (zlib.error, ValueError) as exc:
            raise ValueError(f"not an amlexec event context: {exc}") from None


TAG_PREFIX = "amlexec."
_MAX_TAG = 256


def run_tags(request: LaunchRequest) -> dict[str, str]:
    """Tags on every run: how the Event Grid handler and operators recognise amlexec's runs."""
    tags = {
        f"{TAG_PREFIX}correlationId": request.correlation_id,
        f"{TAG_PREFIX}requestId": request.request_id,
        f"{TAG_PREFIX}activity": request.activity_name,
        f"{TAG_PREFIX}linkedService": request.linked_service,
    }
    if request.parent_run_id:
        tags[f"{TAG_PREFIX}mlParentRunId"] = request.parent_run_id
    if not request.policy.secure_input:
        for key, value in request.user_properties.items():
            tags.setdefault(key, value)
    return {key[:_MAX_TAG]: value[:_MAX_TAG] for key, value in tags.items()}


RUN_NAME_PROPERTY = f"{TAG_PREFIX}runName"
CONTEXT_PROPERTY = f"{TAG_PREFIX}context"
DIGEST_PROPERTY = f"{TAG_PREFIX}payloadDigest"


def run_properties(request: LaunchRequest, name: str) -> dict[str, str]:
    """Properties on every run: its amlexec name (for look-ups), the event context (for Event Grid) and the
    payload's digest (to tell a redelivery from a request id reused for another payload)."""
    properties = {
        RUN_NAME_PROPERTY: name,
        f"{TAG_PREFIX}requestId": request.request_id,
        f"{TAG_PREFIX}correlationId": request.correlation_id,
        CONTEXT_PROPERTY: EventContext.of(request).pack(),
    }
    if request.payload_digest:
        properties[DIGEST_PROPERTY] = request.payload_digest
    return properties


_SLUG = re.compile(r"[^a-z0-9]+")


def run_name(request: LaunchRequest, attempt: int = 1) -> str:
    """The deterministic run (job) name for one attempt of a request (see :func:`run_name_for`)."""
    return run_name_for(request.request_id, request.activity_name, attempt)


def run_name_for(request_id: str, activity_name: str, attempt: int = 1) -> str:
    """The run name for one attempt of a request identity and activity.

    The same message always maps to the same name; lower-case letters, digits and '_' only, starting with a
    letter, which every Azure ML naming rule accepts.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    digest = hashlib.sha256(f"{request_id}\x1f{activity_name}".encode()).hexdigest()[:20]
    slug = _SLUG.sub("_", activity_name.lower()).strip("_")[:40] or "run"
    return f"amlexec_{slug}_{digest}_{attempt}"


_ATTEMPT_SUFFIX = re.compile(r"_(\d+)$")


def attempt_of(name: str) -> int:
    """The attempt number a run name ends with (1 when it carries none)."""
    match = _ATTEMPT_SUFFIX.search(name)
    return int(match.group(1)) if match else 1


@dataclass(frozen=True)
class ProgressRef:
    """What a status URL carries: where a request's runs live and how many attempts it may have."""

    target_kind: str
    linked_service: str
    request_id: str
    activity_name: str
    experiment_name: str
    max_attempts: int
    timeout_seconds: float

    @classmethod
    def of(cls, request: LaunchRequest) -> ProgressRef:
        return cls(
            request.target.kind,
            request.linked_service,
            request.request_id,
            request.activity_name,
            request.experiment_name,
            request.policy.retry + 1,
            request.policy.timeout_seconds,
        )


@dataclass(frozen=True)
class RequestRef:
    """A request known only by its identity (a message id): found through the request index."""

    request_id: str
