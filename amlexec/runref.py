"""Run references for the HTTP API: an opaque, URL-safe id that locates a run without a state store."""

from __future__ import annotations

import base64
import json

from amlexec.errors import Issue, RequestRejected
from amlexec.launch.base import RunHandle
from amlexec.linked_services import LinkedServiceRegistry

__all__ = ["decode_run_ref", "encode_run_ref"]


def encode_run_ref(handle: RunHandle) -> str:
    """``handle`` as a URL-safe token (kind, linked service, run id, experiment, attempt)."""
    compact: dict[str, str | int] = {
        "k": handle.target_kind,
        "l": handle.linked_service,
        "r": handle.run_id,
        "e": handle.experiment_name,
        "a": handle.attempt,
    }
    if handle.run_name and handle.run_name != handle.run_id:
        compact["n"] = handle.run_name
    return base64.urlsafe_b64encode(json.dumps(compact, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_run_ref(token: str, registry: LinkedServiceRegistry) -> RunHandle:
    """The handle behind a token. The workspace always comes from configuration, never from the token."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        kind, linked, run_id, experiment, attempt = raw["k"], raw["l"], raw["r"], raw["e"], int(raw["a"])
        name = raw.get("n")
        if not all(isinstance(v, str) and v for v in (kind, linked, run_id, experiment)):
            raise ValueError("empty field")
        if name is not None and not (isinstance(name, str) and name):
            raise ValueError("empty run name")
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise RequestRejected(
            [
                Issue(
                    "runId",
                    "not a run id issued by this service",
                    "an id from POST /api/runs",
                    token[:40],
                    code="invalid_run_id",
                )
            ]
        ) from None
    service = registry.get(linked)
    if service is None:
        raise RequestRejected(
            [
                Issue(
                    "runId",
                    f"linked service '{linked}' is not configured",
                    "a configured linked service",
                    linked,
                    code="unknown_linked_service",
                )
            ]
        )
    return RunHandle(
        target_kind=kind,
        run_id=run_id,
        experiment_name=experiment,
        linked_service=service.name,
        workspace=service.workspace,
        attempt=attempt,
        run_name=name,
    )
