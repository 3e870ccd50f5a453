"""Error types for amlexec, each saying whether a retry can help, and the one rule that maps them to outcomes.

Operators: a ``retryable`` error is transient (throttling, a timeout, a 5xx); the message is left for a
redelivery. Anything else amlexec raised on purpose is final: the request is rejected with the reasons
attached (a 403 names the role to grant, a configuration error the setting to fix) and never retried.
An exception amlexec did not raise on purpose is a bug: it is redelivered, so nothing is lost, and the
queue dead-letters it after its max delivery count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "AmlexecError",
    "ConfigurationError",
    "IdempotencyConflict",
    "InvalidDefinition",
    "Issue",
    "Outcome",
    "PermanentError",
    "RequestRejected",
    "TransientError",
    "child_path",
    "describe_value",
    "format_path",
    "outcome_of",
    "rejection_for",
]


_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def child_path(path: str, key: int | str) -> str:
    """The path of ``key`` inside the value at ``path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return path + "['" + key.replace("'", "\\'") + "']"


def format_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """Render a location as a JSON path: ``typeProperties.mlPipelineParameters['run date'][0]``."""
    out = ""
    for part in loc:
        out = child_path(out, part)
    return out


def describe_value(value: Any, *, limit: int = 60) -> str:
    """Say what a JSON value is in an error message: its JSON type and a short rendering."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= limit else value[: limit - 1] + "…"
        return f'string "{shown}"'
    if isinstance(value, dict):
        keys = ", ".join(list(map(str, value))[:5])
        more = ", …" if len(value) > 5 else ""
        return f"object with keys [{keys}{more}]" if value else "empty object"
    if isinstance(value, list):
        return f"array of {len(value)} item{'s' if len(value) != 1 else ''}"
    return type(value).__name__


class AmlexecError(Exception):
    """Base of every error amlexec raises on purpose."""

    retryable: bool = False
    # A stable, machine-readable name for events, HTTP bodies and rejection reasons.
    code: str = "failed"


class TransientError(AmlexecError):
    """A failure a later attempt may not meet (throttling, timeouts, 5xx, lost connections)."""

    retryable = True
    code = "transient"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(AmlexecError):
    """A failure that repeats on every attempt; retrying only wastes quota."""

    code = "permanent_failure"


class ConfigurationError(PermanentError):
    """The app's own configuration is missing or wrong; an operator must fix a setting or a file."""

    code = "configuration_error"


@dataclass(frozen=True)
class Issue:
    """One precise problem with a request: where it is, what was expected, what was found."""

    path: str
    message: str
    expected: str | None = None
    got: str | None = None
    code: str = "invalid"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "code": self.code, "message": self.message}
        if self.expected is not None:
            out["expected"] = self.expected
        if self.got is not None:
            out["got"] = self.got
        return out

    def __str__(self) -> str:
        text = f"{self.path or '$'}: {self.message}"
        if self.expected is not None:
            text += f" (expected {self.expected}"
            text += f", got {self.got})" if self.got is not None else ")"
        elif self.got is not None:
            text += f" (got {self.got})"
        return text


class InvalidDefinition(ConfigurationError):
    """Configuration written in Data Factory's terms (a trigger, its recurrence, its filters) that cannot run as
    written; carries every issue found, each with its JSON path. ``what`` names the kind of definition."""

    code = "invalid_definition"
    what = "definition"

    def __init__(self, issues: list[Issue]) -> None:
        if not issues:
            raise ValueError(f"{type(self).__name__} needs at least one issue")
        self.issues = list(issues)
        head = "; ".join(str(i) for i in self.issues[:3])
        more = f" (+{len(self.issues) - 3} more)" if len(self.issues) > 3 else ""
        super().__init__(f"invalid {self.what}: {head}{more}")


class RequestRejected(PermanentError):
    """A request that can never succeed as written; carries every issue found, not just the first."""

    def __init__(self, issues: list[Issue]) -> None:
        if not issues:
            raise ValueError("RequestRejected needs at least one issue")
        self.issues = list(issues)
        head = "; ".join(str(i) for i in self.issues[:3])
        more = f" (+{len(self.issues) - 3} more)" if len(self.issues) > 3 else ""
        super().__init__(f"request rejected: {head}{more}")

    code = "rejected"

    def to_dict(self) -> dict[str, Any]:
        return {"error": "RequestRejected", "issues": [i.to_dict() for i in self.issues]}


class IdempotencyConflict(RequestRejected):
    """The request identity (message id, Idempotency-Key) already launched a different payload.

    The caller's mistake, not the run's: the run started by the first payload carries on untouched.
    """

    code = "idempotency_conflict"

    def __init__(self, request_id: str, run_id: str, payload_digest: str | None = None) -> None:
        super().__init__(
            [
                Issue(
                    "$",
                    f"request id {request_id!r} was already used for a different payload (run {run_id})",
                    "a new request id for a new payload, or the same payload to retry",
                    "a different payload",
                    code=self.code,
                )
            ]
        )
        self.request_id = request_id
        self.run_id = run_id
        self.payload_digest = payload_digest

    def to_dict(self) -> dict[str, Any]:
        return {"error": "IdempotencyConflict", "issues": [i.to_dict() for i in self.issues]}


class Outcome(StrEnum):
    """What becomes of a request whose handling failed."""

    RETRY = "retry"  # leave it for a redelivery (Service Bus) or answer 503 with Retry-After (HTTP)
    REJECT = "reject"  # settle it: the body goes to the rejected queue with every reason; a `rejected` event


def outcome_of(error: BaseException) -> Outcome:
    """The one rule every trigger and the local host follow: ``retryable`` decides.

    Errors amlexec did not raise on purpose are retried: a bug fixed by a deployment can still run the
    request, and Service Bus dead-letters it after the max delivery count, so it is never lost.
    """
    if isinstance(error, AmlexecError) and not error.retryable:
        return Outcome.REJECT
    return Outcome.RETRY


def rejection_for(error: AmlexecError) -> RequestRejected:
    """The reasons of a permanent failure in the form a rejection carries (every issue, or one from the error)."""
    if isinstance(error, RequestRejected):
        return error
    return RequestRejected([Issue("$", str(error), code=error.code)])
