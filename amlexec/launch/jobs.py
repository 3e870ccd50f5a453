"""What every v2 launcher shares: finding a job by name, reading its status, cancelling, tagging, inputs.

Reading a status is priced in Azure ML calls, because at scale the calls are the limit (Azure Resource
Manager refills about 25 reads a second per identity and subscription). A status check of a run in flight
makes one call, ``jobs.get``: tracking decides on the state alone. Steps, times and the error cost two more
calls and are read once, when the run has ended, or whenever a caller wants them (the HTTP status
answers). Each worker keeps the last few thousand final statuses it read: a run's end does not change, so
the status check that follows an Event Grid notification costs nothing on the worker that published it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from amlexec.clock import Clock, parse_instant
from amlexec.errors import AmlexecError, IdempotencyConflict, Issue, PermanentError, RequestRejected, TransientError
from amlexec.launch.base import FINAL_STATES, RunHandle, RunState, RunStatus, StepStatus, normalise_status
from amlexec.launch.failures import RetryPolicy, TargetNotFound, classify
from amlexec.launch.v1_runs import failure_of
from amlexec.launch.workspace import WorkspaceConnector
from amlexec.request import LaunchRequest
from amlexec.runs import DIGEST_PROPERTY

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

__all__ = [
    "WorkspaceLauncher",
    "cancel_job",
    "ensure_same_payload",
    "find_job",
    "handle_for",
    "is_throttled",
    "job_status",
    "state_only_looks",
    "to_job_inputs",
    "to_job_outputs",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Whether a status read also reads the details of a run in flight (steps, times, error). A context variable
# rather than a parameter: the status checks reach the launcher through the router's one ``status`` call,
# which every target kind implements, and only the v2 jobs API prices a detail in extra calls.
_DETAIL: ContextVar[bool] = ContextVar("amlexec_status_detail", default=True)
# Final statuses each launcher remembers (a run's end does not change); bounded, oldest dropped first.
FINAL_CACHE_SIZE = 4096


@contextlib.contextmanager
def state_only_looks() -> Iterator[None]:
    """Within this block, a status read of a v2 job in flight is one call: its state, no details.

    What a status check uses: tracking decides on the state alone, and a run's details are read once, when
    it has ended. A throttled read inside the block is raised at once, for the check to be rescheduled.
    """
    token = _DETAIL.set(False)
    try:
        yield
    finally:
        _DETAIL.reset(token)


def ensure_same_payload(request: LaunchRequest, run_id: str, properties: Mapping[str, Any] | None) -> None:
    """Refuse to adopt a run that an earlier, different payload started under the same request id.

    Runs without the digest (started before amlexec recorded it, or by a target that takes no properties)
    are adopted as before.
    """
    recorded = (properties or {}).get(DIGEST_PROPERTY)
    if recorded and request.payload_digest and recorded != request.payload_digest:
        raise IdempotencyConflict(request.request_id, run_id, request.payload_digest)


def to_job_inputs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn evaluated parameters into v2 job inputs: literals stay literals, ``{"type", "path"}`` become Inputs."""
    from azure.ai.ml import Input

    inputs: dict[str, Any] = {}
    issues: list[Issue] = []
    for name, value in values.items():
        if isinstance(value, dict) and isinstance(value.get("type"), str) and ("path" in value or "default" in value):
            inputs[name] = Input(**value)
        elif isinstance(value, dict | list):
            issues.append(
                Issue(
                    f"typeProperties.mlPipelineParameters.{name}",
                    "Azure ML v2 inputs are numbers, booleans, strings or data inputs",
                    'a literal, or {"type": "uri_folder", "path": ...}',
                    json.dumps(value)[:60],
                    code="unsupported_input",
                )
            )
        else:
            inputs[name] = value
    if issues:
        raise RequestRejected(issues)
    return inputs


class WorkspaceLauncher:
    """What every Azure ML adapter shares: connector, clock, retry policy, a short-lived signature cache,
    and status and cancel through the jobs API (v1 runs appear there as jobs too)."""

    def __init__(
        self,
        connector: WorkspaceConnector,
        *,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        signature_ttl: float = 300.0,
    ) -> None:
        from amlexec.clock import SystemClock
        from amlexec.launch.signature import SignatureCache

        self._connector = connector
        self._clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self._signatures = SignatureCache(self._clock, signature_ttl)
        self._final: OrderedDict[tuple[str, str], RunStatus] = OrderedDict()
        self._final_lock = threading.Lock()

    def status(self, handle: RunHandle) -> RunStatus:
        """The run's status (see :func:`job_status`); a final one read before by this worker costs no call."""
        key = (handle.workspace.resource_id if handle.workspace else handle.linked_service, handle.run_id)
        with self._final_lock:
            known = self._final.get(key)
        if known is not None:
            return known
        status = job_status(self._connector, handle, clock=self._clock, retry=self._retry)
        if status.is_final:
            with self._final_lock:
                self._final[key] = status
                while len(self._final) > FINAL_CACHE_SIZE:
                    self._final.popitem(last=False)
        return status

    def cancel(self, handle: RunHandle) -> None:
        cancel_job(self._connector, handle, clock=self._clock, retry=self._retry)

    def find(self, where: RunHandle, name: str) -> RunHandle | None:
        """The v2 job called ``name``: job names are the run's identity."""
        ml = self._connector.ml_client_for(where.linked_service, where.workspace)
        job = find_job(ml, name, clock=self._clock, retry=self._retry)
        if job is None:
            return None
        return where.model_copy(
            update={
                "run_id": job.name,
                "created": False,
                "run_name": name,
                "studio_url": getattr(job, "studio_url", None),
            }
        )

    def _existing(
        self, ml: MLClient, request: LaunchRequest, name: str, *, kind: str, attempt: int
    ) -> RunHandle | None:
        """The handle of the job called ``name`` if an earlier delivery already created it."""
        job = find_job(ml, name, clock=self._clock, retry=self._retry)
        if job is None:
            return None
        ensure_same_payload(request, name, getattr(job, "properties", None))
        logger.info("run %s already exists; not submitting again", name)
        return handle_for(request, job, kind, attempt, created=False)

    def _create_once(
        self, ml: MLClient, request: LaunchRequest, name: str, *, kind: str, attempt: int, create: Callable[[], Any]
    ) -> RunHandle:
        """Create the job called ``name``; if it turns out to exist (our lost submit, a concurrent
        delivery), return that one instead of failing or creating another."""

        def find() -> Any | None:
            return find_job(ml, name, clock=self._clock, retry=self._retry)

        try:
            job = self._retry.run(create, clock=self._clock, operation=f"create job {name}", on_unknown=find)
        except PermanentError:
            existing = find()
            if existing is None:
                raise
            ensure_same_payload(request, name, getattr(existing, "properties", None))
            return handle_for(request, existing, kind, attempt, created=False)
        return handle_for(request, job, kind, attempt, created=True)


def to_job_outputs(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """Fabric's ``jobOutputs``: ``{"name": {"type": "uri_folder", "path": ...}}`` become Outputs."""
    from azure.ai.ml import Output

    outputs = {name: Output(**value) if isinstance(value, dict) else value for name, value in values.items()}
    return outputs or None


def find_job(ml: MLClient, name: str, *, clock: Clock, retry: RetryPolicy) -> Any | None:
    """The job called ``name``, or None when the workspace has none."""
    try:
        return retry.run(lambda: ml.jobs.get(name), clock=clock, operation=f"get job {name}")
    except TargetNotFound:
        return None


def handle_for(request: LaunchRequest, job: Any, kind: str, attempt: int, *, created: bool) -> RunHandle:
    return RunHandle(
        target_kind=kind,
        run_id=job.name,
        experiment_name=getattr(job, "experiment_name", None) or request.experiment_name,
        linked_service=request.linked_service,
        workspace=request.workspace,
        attempt=attempt,
        created=created,
        studio_url=getattr(job, "studio_url", None),
    )


def status_text(value: Any) -> str:
    """The service's status word; azure-ai-ml hands some back as enum members."""
    if value is None:
        return "Unknown"
    return str(getattr(value, "value", value))


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _run_history(
    connector: WorkspaceConnector, handle: RunHandle, *, clock: Clock, retry: RetryPolicy
) -> dict[str, Any]:
    """The run-history record of a run: start and end times and the service's error, which jobs lack."""
    workspace = handle.workspace
    if workspace is None:
        return {}
    try:
        host = _read(
            lambda: connector.api_host(handle.linked_service, workspace),
            clock=clock,
            retry=retry,
            operation="discover workspace services",
        )
        url = f"{host}/history/v1.0{connector.workspace_path(workspace)}/runs/{handle.run_id}"
        record = _read(
            lambda: connector.send_json(handle.linked_service, "GET", url),
            clock=clock,
            retry=retry,
            operation=f"get run {handle.run_id}",
        )
    except TargetNotFound:
        return {}
    return record if isinstance(record, dict) else {}


def job_status(
    connector: WorkspaceConnector,
    handle: RunHandle,
    *,
    clock: Clock,
    retry: RetryPolicy,
    detail: bool | None = None,
) -> RunStatus:
    """Read a job and normalise its status; a run that has ended (or ``detail``) also gets its details.

    One look at a run in flight is one call (``jobs.get``): its state and status word are all tracking
    decides on. Steps (child jobs), start and end times and the service's error take two more calls (the
    child list and the run-history record), so they are read when the run has ended, when ``detail`` is
    True, or (``detail`` None) unless the caller is inside :func:`state_only_looks`. A detail that cannot
    be read is left out, never fatal: the run's state is what matters.
    """
    ml = connector.ml_client_for(handle.linked_service, handle.workspace)
    job = _read(lambda: ml.jobs.get(handle.run_id), clock=clock, retry=retry, operation=f"get job {handle.run_id}")
    raw = status_text(job.status)
    state = normalise_status(raw)
    context = getattr(job, "creation_context", None)
    created = _time(getattr(context, "created_at", None))
    studio_url = getattr(job, "studio_url", None) or handle.studio_url
    wanted = _DETAIL.get() if detail is None else detail
    if state not in FINAL_STATES and not wanted:
        return RunStatus(state=state, raw_status=raw, started_at=created, studio_url=studio_url)
    no_steps: list[StepStatus] = []
    no_record: dict[str, Any] = {}
    steps = _detail(lambda: _steps(ml, handle, clock=clock, retry=retry), no_steps, "steps", handle)
    record = _detail(
        lambda: _run_history(connector, handle, clock=clock, retry=retry), no_record, "run history", handle
    )
    properties = getattr(job, "properties", None) or {}
    error_code, error_message = failure_of(record, raw, properties) if state is RunState.FAILED else (None, None)
    return RunStatus(
        state=state,
        raw_status=raw,
        started_at=parse_instant(record.get("startTimeUtc")) or created,
        ended_at=parse_instant(record.get("endTimeUtc")) if state in FINAL_STATES else None,
        error_code=error_code,
        error_message=error_message,
        steps=steps,
        studio_url=studio_url,
    )


def _detail(read: Callable[[], T], missing: T, what: str, handle: RunHandle) -> T:
    """A run's detail; inside a status check, one that cannot be read (throttled, unavailable) is left out.

    The look has already seen the run's end, which is what the terminal event must carry; holding the event
    back for a detail would, under throttling, take three reads in a row from a bucket that refills one at
    a time, and a run could wait long for its event. Outside a status check (an HTTP answer, an Event Grid
    notification) the failure is raised as before: the caller retries.
    """
    if _DETAIL.get():
        return read()
    try:
        return read()
    except AmlexecError as error:
        logger.warning("run %s: %s not read, published without it: %s", handle.run_id, what, error)
        return missing


def _read(call: Callable[[], T], *, clock: Clock, retry: RetryPolicy, operation: str) -> T:
    """One read, transient failures retried as usual, except throttling during a state-only look.

    A throttled look is not retried on the spot: waiting out ``Retry-After`` inside the check holds a
    worker, and retrying at once spends the very budget that throttled it. The check is rescheduled after
    the wait instead (:func:`amlexec.tracking.decide_after_throttle`), so the error goes straight up.
    """
    if _DETAIL.get():
        return retry.run(call, clock=clock, operation=operation)
    try:
        return call()
    except Exception as exc:  # classified: throttling is raised as it is, anything else retried as usual
        error = classify(exc, operation=operation)
        if is_throttled(error) or not error.retryable:
            raise error from None
    return retry.run(call, clock=clock, operation=operation)


def is_throttled(error: BaseException) -> TypeGuard[TransientError]:
    """Whether a service asked amlexec to slow down (a transient error with a ``Retry-After``)."""
    return isinstance(error, TransientError) and error.retry_after is not None


def _steps(ml: MLClient, handle: RunHandle, *, clock: Clock, retry: RetryPolicy) -> list[StepStatus]:
    """The pipeline's steps (child jobs); none when the service has none to list."""
    try:
        children = _read(
            lambda: list(ml.jobs.list(parent_job_name=handle.run_id)),
            clock=clock,
            retry=retry,
            operation=f"list steps of {handle.run_id}",
        )
    except TargetNotFound:
        return []
    steps = []
    for child in children:
        child_raw = status_text(child.status)
        steps.append(
            StepStatus(
                name=str(child.display_name or child.name), state=normalise_status(child_raw), raw_status=child_raw
            )
        )
    return steps


def cancel_job(connector: WorkspaceConnector, handle: RunHandle, *, clock: Clock, retry: RetryPolicy) -> None:
    """Ask Azure ML to cancel; a job already final is left alone."""
    ml = connector.ml_client_for(handle.linked_service, handle.workspace)
    job = retry.run(lambda: ml.jobs.get(handle.run_id), clock=clock, operation=f"get job {handle.run_id}")
    if normalise_status(status_text(job.status)) in FINAL_STATES:
        return
    retry.run(lambda: ml.jobs.begin_cancel(handle.run_id), clock=clock, operation=f"cancel job {handle.run_id}")
