"""Error types for amlexec, each saying whether a retry can help.

Operators: a ``retryable`` error is transient (throttling, a timeout, a 5xx); the message is left for a
redelivery. Anything else is final: the request is rejected with the reasons attached and never retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AmlexecError",
    "ConfigurationError",
    "Issue",
    "PermanentError",
    "RequestRejected",
    "TransientError",
]


class AmlexecError(Exception):
    """Base of every error amlexec raises on purpose."""

    retryable: bool = False


class TransientError(AmlexecError):
    """A failure a later attempt may not meet (throttling, timeouts, 5xx, lost connections)."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(AmlexecError):
    """A failure that repeats on every attempt; retrying only wastes quota."""


class ConfigurationError(PermanentError):
    """The app's own configuration is missing or wrong; an operator must fix a setting or a file."""


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


class RequestRejected(PermanentError):
    """A request that can never succeed as written; carries every issue found, not just the first."""

    def __init__(self, issues: list[Issue]) -> None:
        if not issues:
            raise ValueError("RequestRejected needs at least one issue")
        self.issues = list(issues)
        head = "; ".join(str(i) for i in self.issues[:3])
        more = f" (+{len(self.issues) - 3} more)" if len(self.issues) > 3 else ""
        super().__init__(f"request rejected: {head}{more}")

    def to_dict(self) -> dict[str, Any]:
        return {"error": "RequestRejected", "issues": [i.to_dict() for i in self.issues]}
