"""A v1 pipeline run's status, steps and cancel through Azure ML run history, over plain REST.

v1 runs (PipelineSubmit) live in run history on the workspace's regional API host. Reading them there
with azure-core alone, instead of through azure-ai-ml's jobs API, keeps the SDK (about a second and
100 MB to import) out of every worker that only runs published pipelines and pipeline endpoints.

The calls, all under ``{api host}/history/v1.0{workspace resource id}`` (run history's documented routes):

- ``GET runs/{runId}``: the run's record (status, start and end times, error, properties);
- ``GET runs/{runId}/children``: its steps, paged by ``continuationToken``;
- ``POST experimentids/{experimentId}/runs/{runId}/cancel`` (or ``experiments/{name}/...`` when the record
  names no experiment id).

One call per look: while a run is in flight a status check reads only its record. The steps are read once,
when the record says the run has ended, and a failed step read is logged and left out, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from amlexec.clock import Clock, parse_instant
from amlexec.errors import AmlexecError
from amlexec.launch.base import FINAL_STATES, RunHandle, RunState, RunStatus, StepStatus, normalise_status
from amlexec.launch.failures import RetryPolicy, classify
from amlexec.launch.workspace import WorkspaceConnector
from amlexec.request import WorkspaceInfo
from amlexec.runs import CONTEXT_PROPERTY, EventContext

__all__ = ["RunHistory", "status_of_record"]

logger = logging.getLogger(__name__)

# Pages of a run's children to follow: a pipeline has tens of steps, a page holds a hundred.
MAX_CHILD_PAGES = 5
ERROR_MESSAGE_LIMIT = 2000


def _service_error(record: Mapping[str, Any]) -> dict[str, Any]:
    """The error of a run-history record (``{"error": {"error": {"code", "message"}}}``), or ``{}``."""
    outer = record.get("error")
    inner = outer.get("error") if isinstance(outer, dict) else None
    return inner if isinstance(inner, dict) else {}


def _secure_output(properties: Mapping[str, Any]) -> bool:
    """Whether the request behind a run asked for ``secureOutput`` (from the context stored on the run)."""
    packed = properties.get(CONTEXT_PROPERTY)
    if not packed:
        return False
    try:
        return EventContext.unpack(str(packed)).secure_output
    except ValueError:
        return True  # unreadable: assume the stricter policy


def _fallback_message(properties: Mapping[str, Any]) -> str | None:
    for key in ("azureml.runError", "error", "errorMessage"):
        if key in properties:
            return str(properties[key])[:1000]
    return None


def failure_of(record: Mapping[str, Any], raw_status: str, properties: Mapping[str, Any]) -> tuple[str, str | None]:
    """Error code and message of a failed run, from its run-history record (v1 runs and v2 jobs alike): the
    message is left out under ``secureOutput`` (read from the context amlexec stored in the run's properties),
    and taken from those properties when the record has none."""
    error = _service_error(record)
    code = str(error.get("code") or raw_status)
    if _secure_output(properties):
        return code, None
    message = error.get("message")
    return code, str(message)[:ERROR_MESSAGE_LIMIT] if message else _fallback_message(properties)


def _step(child: dict[str, Any], secure: bool) -> StepStatus:
    raw = str(child.get("status") or "Unknown")
    error = _service_error(child)
    return StepStatus(
        name=str(child.get("displayName") or child.get("name") or child.get("runId") or "step"),
        state=normalise_status(raw),
        raw_status=raw,
        started_at=parse_instant(child.get("startTimeUtc")),
        ended_at=parse_instant(child.get("endTimeUtc")),
        error_message=None if secure or not error.get("message") else str(error["message"])[:ERROR_MESSAGE_LIMIT],
    )


def status_of_record(record: dict[str, Any], handle: RunHandle, steps: list[dict[str, Any]] | None = None) -> RunStatus:
    """Normalise a run-history record (and, for an ended run, its children) into a RunStatus."""
    raw = str(record.get("status") or "Unknown")
    state = normalise_status(raw)
    stored = record.get("properties")
    properties: dict[str, Any] = stored if isinstance(stored, dict) else {}
    secure = _secure_output(properties)
    error_code, error_message = failure_of(record, raw, properties) if state is RunState.FAILED else (None, None)
    return RunStatus(
        state=state,
        raw_status=raw,
        started_at=parse_instant(record.get("startTimeUtc")) or parse_instant(record.get("createdUtc")),
        ended_at=parse_instant(record.get("endTimeUtc")) if state in FINAL_STATES else None,
        error_code=error_code,
        error_message=error_message,
        steps=[_step(child, secure) for child in steps or []],
        studio_url=handle.studio_url,
    )


class RunHistory:
    """Run history of the workspaces a connector reaches: records, children, cancel (REST, azure-core)."""

    def __init__(self, connector: WorkspaceConnector, *, clock: Clock, retry: RetryPolicy) -> None:
        self._connector = connector
        self._clock = clock
        self._retry = retry

    def base(self, linked_service: str, workspace: WorkspaceInfo) -> str:
        """``{api host}/history/v1.0{workspace}``; the host is discovered once per worker."""
        return self._connector.service_base(
            linked_service, workspace, "history/v1.0", retry=self._retry, clock=self._clock
        )

    def _workspace(self, handle: RunHandle) -> WorkspaceInfo:
        return self._connector.workspace_of(handle)

    def record(self, handle: RunHandle) -> dict[str, Any]:
        """The run's record: one call. An unknown run raises TargetNotFound, as any missing target does."""
        url = f"{self.base(handle.linked_service, self._workspace(handle))}/runs/{quote(handle.run_id, safe='')}"
        record = self._retry.run(
            lambda: self._connector.send_json(handle.linked_service, "GET", url),
            clock=self._clock,
            operation=f"get run {handle.run_id}",
        )
        return record if isinstance(record, dict) else {}

    def children(self, handle: RunHandle) -> list[dict[str, Any]] | None:
        """The run's steps, or None when they could not be read (a detail: logged, never fatal).

        One attempt through azure-core's own retry policy (408, 429 and 5xx already retried there, honouring
        Retry-After): the run has ended, and its terminal event should not wait on a detail.
        """
        base = self.base(handle.linked_service, self._workspace(handle))
        url = f"{base}/runs/{quote(handle.run_id, safe='')}/children"
        found: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        for _ in range(MAX_CHILD_PAGES):
            try:
                page = self._connector.send_json(handle.linked_service, "GET", url, params=dict(params))
            except Exception as exc:  # any failure of a detail read only costs the detail
                error: AmlexecError = classify(exc, operation=f"list steps of {handle.run_id}")
                logger.warning("steps of run %s left out: %s", handle.run_id, error)
                return None
            for child in (page or {}).get("value") or []:
                if isinstance(child, dict):
                    found.append(child)
            token = (page or {}).get("continuationToken")
            if not token or token == params.get("$continuationtoken"):
                break
            params["$continuationtoken"] = str(token)
        return found

    def cancel(self, handle: RunHandle, record: dict[str, Any] | None = None) -> None:
        """Ask run history to cancel the run; a run already final is left alone.

        ``record`` is the run's record when the caller has just read it (a settling look-up did); otherwise
        it is read here first, to learn the experiment id and whether the run has ended.
        """
        workspace = self._workspace(handle)
        if record is None:
            record = self.record(handle)
        if normalise_status(str(record.get("status") or "Unknown")) in FINAL_STATES:
            return
        experiment_id = record.get("experimentId")
        scope = (
            f"experimentids/{quote(str(experiment_id), safe='')}"
            if experiment_id
            else f"experiments/{quote(handle.experiment_name, safe='')}"
        )
        url = f"{self.base(handle.linked_service, workspace)}/{scope}/runs/{quote(handle.run_id, safe='')}/cancel"
        self._retry.run(
            lambda: self._connector.send_json(handle.linked_service, "POST", url),
            clock=self._clock,
            operation=f"cancel run {handle.run_id}",
        )
        logger.info("asked run history to cancel run %s", handle.run_id)
