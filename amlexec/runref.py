"""References the HTTP API hands out: they locate a run, or a request's latest run, without a state store.

A *run reference* (``GET /api/runs/{runId}``, behind the function key) names one run attempt. A *progress
reference* is the path of the status URL Data Factory's Web activity follows after a 202: that URL has to
authenticate itself (whether Data Factory replays the POST's headers or its managed identity on the polling
GETs is not documented), so the reference is signed with the app's status-URL key (HMAC-SHA256) and served
anonymously; it reveals only that request's progress. Nothing in either is secret, and the workspace always
comes from configuration, never from a reference.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from amlexec.errors import Issue, RequestRejected
from amlexec.launch.base import RunHandle
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.runs import ProgressRef, RequestRef

__all__ = [
    "InvalidProgressRef",
    "decode_run_ref",
    "encode_run_ref",
    "sign_progress_ref",
    "verify_progress_ref",
]

# 128 bits of HMAC-SHA256: unforgeable without the key, and keeps the URL short.
_SIGNATURE_BYTES = 16
_PROGRESS_VERSION = "p1"
_REQUEST_VERSION = "r1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class InvalidProgressRef(Exception):
    """A status URL this app did not sign (or can no longer serve): answered 404, revealing nothing."""


def _sign(version: str, payload: list[Any], key: bytes) -> str:
    body = f"{version}.{_b64(json.dumps(payload, separators=(',', ':'), ensure_ascii=False).encode())}"
    signature = hmac.new(key, body.encode(), hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return f"{body}.{_b64(signature)}"


def sign_progress_ref(ref: ProgressRef | RequestRef, key: bytes) -> str:
    """``ref`` as a URL path segment: version, payload and signature, base64url, dot-separated.

    A ``ProgressRef`` locates a request's runs directly (``POST /api/runs`` knows where it launched); a
    ``RequestRef`` carries only the request id, looked up in the request index (``GET /api/requests``).
    """
    if isinstance(ref, RequestRef):
        return _sign(_REQUEST_VERSION, [ref.request_id], key)
    return _sign(
        _PROGRESS_VERSION,
        [
            ref.target_kind,
            ref.linked_service,
            ref.request_id,
            ref.activity_name,
            ref.experiment_name,
            ref.max_attempts,
            ref.timeout_seconds,
        ],
        key,
    )


def verify_progress_ref(token: str, keys: tuple[bytes, ...]) -> ProgressRef | RequestRef:
    """The reference behind a status URL signed with any of ``keys`` (the current one and, while it is
    rotated, the previous one); InvalidProgressRef for anything else."""
    version, _, rest = token.partition(".")
    payload_text, _, signature_text = rest.partition(".")
    if version not in (_PROGRESS_VERSION, _REQUEST_VERSION) or not payload_text or not signature_text:
        raise InvalidProgressRef("not a status URL of this app")
    body = f"{version}.{payload_text}".encode()
    try:
        signature = _unb64(signature_text)
    except ValueError:
        raise InvalidProgressRef("not a status URL of this app") from None
    if not any(
        hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES], signature) for key in keys
    ):
        raise InvalidProgressRef("the status URL's signature does not match")
    try:
        payload = json.loads(_unb64(payload_text))
        if version == _REQUEST_VERSION:
            (request_id,) = payload
            return RequestRef(str(request_id))
        kind, linked, request_id, activity, experiment, attempts, timeout = payload
        return ProgressRef(
            str(kind), str(linked), str(request_id), str(activity), str(experiment), int(attempts), float(timeout)
        )
    except (ValueError, TypeError):
        raise InvalidProgressRef("the status URL's payload is unreadable") from None


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
