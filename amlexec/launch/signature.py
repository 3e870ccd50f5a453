"""Check a request's parameters against the target's declared inputs before anything is submitted.

Data Factory cannot do this: a typo in a parameter name there starts a run that ignores the value. Here it
is a precise rejection naming the unknown parameter and the names the target declares. Signatures are
cached briefly (``SignatureCache``) so a burst of requests costs one lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from amlexec.clock import Clock
from amlexec.errors import Issue, RequestRejected, child_path
from amlexec.request import LaunchRequest

__all__ = ["DeclaredInput", "SignatureCache", "check_parameters"]

T = TypeVar("T")


@dataclass(frozen=True)
class DeclaredInput:
    """One input a pipeline declares: its type (when known) and whether a value must be supplied."""

    name: str
    type: str | None = None
    required: bool = False


def check_parameters(
    request: LaunchRequest,
    declared: Mapping[str, DeclaredInput],
    *,
    target: str,
    property_name: str = "mlPipelineParameters",
    values: Mapping[str, Any] | None = None,
    allow_empty_strings: bool = True,
) -> None:
    """Raise RequestRejected listing every unknown, missing or unsendable parameter."""
    given = request.parameters if values is None else values
    base = f"typeProperties.{property_name}"
    expected = ", ".join(sorted(declared)) or "no parameters"
    issues: list[Issue] = []
    for name in given:
        if name not in declared:
            near = [d for d in declared if d.lower() == name.lower()]
            hint = f" (did you mean '{near[0]}'? names are case-sensitive)" if near else ""
            issues.append(
                Issue(
                    child_path(base, name),
                    f"{target} declares no parameter '{name}'{hint}",
                    f"one of: {expected}",
                    name,
                    code="unknown_parameter",
                )
            )
        elif not allow_empty_strings and given[name] == "":
            issues.append(
                Issue(
                    child_path(base, name),
                    "Azure ML does not accept an empty string as an input value; omit the parameter to "
                    "use the pipeline's default",
                    "a non-empty value",
                    '""',
                    code="empty_input",
                )
            )
    for name, spec in declared.items():
        if spec.required and name not in given:
            issues.append(
                Issue(
                    child_path(base, name),
                    f"{target} requires parameter '{name}'",
                    f"a value for '{name}'" + (f" ({spec.type})" if spec.type else ""),
                    "nothing",
                    code="missing_parameter",
                )
            )
    if issues:
        raise RequestRejected(issues)


class SignatureCache:
    """Remembers each target's declared inputs for ``ttl`` seconds (a short-lived, per-worker cache)."""

    def __init__(self, clock: Clock, ttl: float = 300.0) -> None:
        self._clock = clock
        self._ttl = ttl
        self._entries: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...], load: Callable[[], T]) -> T:
        now = self._clock.now().timestamp()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]  # type: ignore[no-any-return]
        value = load()
        with self._lock:
            self._entries[key] = (now, value)
        return value
