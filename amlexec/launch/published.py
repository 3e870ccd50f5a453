"""Submit v1 published pipelines and pipeline endpoints (what Data Factory's activity calls).

The v1 pipelines API has no SDK in our dependencies (azureml-sdk v1 reached end of support on
2026-06-30 and is not installable alongside azure-ai-ml), so its few calls are made through an azure-core
PipelineClient with the linked service's credential and azure-core's retry policy:

- the regional host comes from the workspace's ``discoveryUrl`` (``api`` key), cached per worker;
- the signature is read from ``Pipelines/{id}`` and ``Graphs/{GraphId}/Interface`` (cached briefly);
- ``PipelineRuns/PipelineSubmit/{id}`` or ``PipelineRuns/PipelineEndpointSubmit/Id/{id}[/{version}]``.

A v1 run id is chosen by the service, not by us. Exactly-once therefore rests on a property: every run is
submitted with ``Properties["amlexec.runName"] = run_name(request, attempt)`` and, before submitting (and
after any submit whose answer was lost), the run is looked up by that property in run history, where v1
pipeline runs live: ``POST /history/v1.0/.../experiments/{experiment}/runs:query`` with the filter
``Properties/amlexec.runName eq "<name>"`` (the documented run-history query; what azureml-core's
``Experiment.get_runs(properties=...)`` calls). Only if run history finds nothing are the workspace's jobs
listed with ``properties=amlexec.runName=<name>`` as well, because whether submit properties reach either
index is not documented: either answer is enough.

Two instances can still submit the same name at once (an HTTP retry landing elsewhere, a Service Bus lock
that expired during a slow launch): there is no lock across instances and the v1 API cannot refuse a
duplicate. So after every submit, and whenever a tracked run turns out canceled, the runs carrying the
name are listed again and amlexec settles on the earliest (creation time, then run id): the others are
canceled and every instance, whatever it saw first, tracks and reports the same run.

Status, steps and cancel read and write run history over REST too (``amlexec.launch.v1_runs``): nothing on
this path imports azure-ai-ml, so a worker that only runs v1 pipelines never pays its second of import time.
A status check of a run in flight is one call (the run's record); the steps are read once, when it has ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from amlexec.clock import Clock
from amlexec.errors import Issue, PermanentError, RequestRejected
from amlexec.launch.base import FINAL_STATES, RunHandle, RunState, RunStatus, normalise_status
from amlexec.launch.failures import RetryPolicy, TargetNotFound
from amlexec.launch.jobs import WorkspaceLauncher, ensure_same_payload
from amlexec.launch.signature import DeclaredInput, check_parameters
from amlexec.launch.v1_runs import RunHistory, status_of_record
from amlexec.launch.workspace import WorkspaceConnector
from amlexec.request import LaunchRequest, PipelineEndpointTarget, PublishedPipelineTarget, WorkspaceInfo
from amlexec.runs import RUN_NAME_PROPERTY, run_name, run_properties, run_tags

__all__ = ["PublishedPipelineLauncher"]

logger = logging.getLogger(__name__)

JOBS_API_VERSION = "2024-10-01"
RUN_SOURCE = "amlexec"
# Pages of a run-history query to follow: a name is carried by one run, a few after a race.
_MAX_QUERY_PAGES = 5
_EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, order=True)
class _V1Run:
    """A run found by its amlexec name; ordered oldest first, run id breaking ties, so every instance that
    sees the same runs picks the same one."""

    created: datetime
    run_id: str
    status: str = field(compare=False)
    properties: dict[str, Any] = field(compare=False)
    experiment_id: str | None = field(default=None, compare=False)


def _created(value: Any) -> datetime:
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return _EPOCH
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return _EPOCH


class _Signature:
    """What a published pipeline declares, and whether it may run."""

    def __init__(
        self, pipeline_id: str, status: str, parameters: dict[str, DeclaredInput], data_paths: set[str]
    ) -> None:
        self.pipeline_id = pipeline_id
        self.status = status
        self.parameters = parameters
        self.data_paths = data_paths


class PublishedPipelineLauncher(WorkspaceLauncher):
    """Runs v1 published pipelines (``mlPipelineId``) and pipeline endpoints (``mlPipelineEndpointId``)."""

    kinds = ("published_pipeline", "pipeline_endpoint")

    def __init__(
        self,
        connector: WorkspaceConnector,
        *,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        signature_ttl: float = 300.0,
    ) -> None:
        super().__init__(connector, clock=clock, retry=retry, signature_ttl=signature_ttl)
        self._history = RunHistory(connector, clock=self._clock, retry=self._retry)

    # ---- the v1 API's address
    def _pipelines_base(self, linked_service: str, workspace: WorkspaceInfo) -> str:
        return self._connector.service_base(
            linked_service, workspace, "pipelines/v1.0", retry=self._retry, clock=self._clock
        )

    def _get(self, linked_service: str, url: str, params: dict[str, str] | None, operation: str) -> Any:
        return self._retry.run(
            lambda: self._connector.send_json(linked_service, "GET", url, params=params),
            clock=self._clock,
            operation=operation,
        )

    # ---- signatures
    def _pipeline_signature(self, request: LaunchRequest, base: str, pipeline_id: str, path: str) -> _Signature:
        def load() -> _Signature:
            try:
                entity = self._get(
                    request.linked_service,
                    f"{base}/Pipelines/{pipeline_id}",
                    None,
                    f"get published pipeline {pipeline_id}",
                )
            except TargetNotFound:
                raise RequestRejected(
                    [
                        Issue(
                            path,
                            f"no published pipeline {pipeline_id} in this workspace",
                            "the id of a published pipeline",
                            pipeline_id,
                            code="unknown_pipeline",
                        )
                    ]
                ) from None
            parameters: dict[str, DeclaredInput] = {}
            data_paths: set[str] = set()
            graph_id = entity.get("GraphId")
            if graph_id:
                interface = self._get(
                    request.linked_service,
                    f"{base}/Graphs/{graph_id}/Interface",
                    None,
                    f"get interface of pipeline {pipeline_id}",
                )
                for param in interface.get("Parameters") or []:
                    required = not param.get("IsOptional", True) and param.get("DefaultValue") is None
                    parameters[param["Name"]] = DeclaredInput(param["Name"], None, required)
                for param in (interface.get("DataPathParameters") or []) + (
                    interface.get("DataPathParameterList") or []
                ):
                    data_paths.add(param["Name"])
            else:
                for name in entity.get("ParameterAssignments") or {}:
                    parameters[name] = DeclaredInput(name)
            return _Signature(pipeline_id, str(entity.get("EntityStatus") or "Active"), parameters, data_paths)

        workspace = self._connector.workspace_of(request)
        return self._signatures.get(
            (workspace.subscription_id, workspace.resource_group, workspace.name, "pipeline", pipeline_id), load
        )

    def _endpoint_pipeline(self, request: LaunchRequest, base: str, target: PipelineEndpointTarget) -> str:
        path = "typeProperties.mlPipelineEndpointId"

        def load() -> dict[str, Any]:
            try:
                entity: dict[str, Any] = self._get(
                    request.linked_service,
                    f"{base}/PipelineEndpoints/Id/{target.endpoint_id}",
                    None,
                    f"get pipeline endpoint {target.endpoint_id}",
                )
                return entity
            except TargetNotFound:
                raise RequestRejected(
                    [
                        Issue(
                            path,
                            f"no pipeline endpoint {target.endpoint_id} in this workspace",
                            "the id of a pipeline endpoint",
                            target.endpoint_id,
                            code="unknown_pipeline",
                        )
                    ]
                ) from None

        workspace = self._connector.workspace_of(request)
        endpoint = self._signatures.get(
            (workspace.subscription_id, workspace.resource_group, workspace.name, "endpoint", target.endpoint_id), load
        )
        if str(endpoint.get("EntityStatus") or "Active") != "Active":
            raise RequestRejected(
                [
                    Issue(
                        path,
                        f"pipeline endpoint {target.endpoint_id} is {endpoint.get('EntityStatus')}",
                        "an Active endpoint",
                        str(endpoint.get("EntityStatus")),
                        code="target_disabled",
                    )
                ]
            )
        version = target.version or str(endpoint.get("DefaultVersion") or "")
        versions = {str(v.get("Version")): str(v.get("PipelineId")) for v in endpoint.get("PipelineVersionList") or []}
        if version not in versions:
            raise RequestRejected(
                [
                    Issue(
                        "typeProperties.version",
                        f"pipeline endpoint {target.endpoint_id} has no version {version!r}",
                        f"one of {sorted(versions)}",
                        version,
                        code="unknown_version",
                    )
                ]
            )
        return versions[version]

    # ---- exactly once
    def _runs_named(self, where: RunHandle, name: str) -> list[_V1Run]:
        """Every run carrying ``amlexec.runName = name`` in the experiment and workspace of ``where``, oldest
        first (run history; the jobs list only if run history has none)."""
        runs = self._history_runs(where, name) or self._listed_jobs(where, name)
        return sorted(runs)

    def _history_runs(self, where: RunHandle, name: str) -> list[_V1Run]:
        workspace = where.workspace
        if workspace is None:
            return []
        host = self._retry.run(
            lambda: self._connector.api_host(where.linked_service, workspace),
            clock=self._clock,
            operation=f"discover the services of workspace {workspace.name}",
        )
        url = (
            f"{host}/history/v1.0{self._connector.workspace_path(workspace)}/experiments/"
            f"{quote(where.experiment_name, safe='')}/runs:query"
        )
        # Run names are [a-z0-9_]: nothing in them needs quoting inside the filter's string literal.
        query: dict[str, Any] = {"filter": f'(Properties/{RUN_NAME_PROPERTY} eq "{name}")', "top": 50}
        found: list[_V1Run] = []

        def query_page() -> Any:
            return self._connector.send_json(where.linked_service, "POST", url, body=dict(query))

        for _ in range(_MAX_QUERY_PAGES):
            try:
                page = self._retry.run(query_page, clock=self._clock, operation=f"look up run {name}")
            except TargetNotFound:
                return found  # the experiment does not exist yet: nothing was submitted to it
            for run in (page or {}).get("value") or []:
                properties = run.get("properties") or {}
                if properties.get(RUN_NAME_PROPERTY) == name and run.get("runId"):
                    found.append(
                        _V1Run(
                            _created(run.get("createdUtc") or run.get("startTimeUtc")),
                            str(run["runId"]),
                            str(run.get("status") or "Unknown"),
                            properties,
                            str(run["experimentId"]) if run.get("experimentId") else None,
                        )
                    )
            token = (page or {}).get("continuationToken")
            if not token or token == query.get("continuationToken"):
                break
            query["continuationToken"] = token
        return found

    def _listed_jobs(self, where: RunHandle, name: str) -> list[_V1Run]:
        if where.workspace is None:
            return []
        url = f"{self._connector.workspace_url(where.workspace)}/jobs"
        listing = self._get(
            where.linked_service,
            url,
            {"api-version": JOBS_API_VERSION, "properties": f"{RUN_NAME_PROPERTY}={name}", "listViewType": "All"},
            f"look up run {name}",
        )
        found = []
        for job in (listing or {}).get("value") or []:
            props = (job.get("properties") or {}).get("properties") or {}
            if props.get(RUN_NAME_PROPERTY) == name and job.get("name"):
                created = (job.get("systemData") or {}).get("createdAt")
                found.append(
                    _V1Run(
                        _created(created),
                        str(job["name"]),
                        str((job.get("properties") or {}).get("status") or "Unknown"),
                        props,
                    )
                )
        return found

    def _settle(self, where: RunHandle, name: str, runs: list[_V1Run]) -> _V1Run:
        """Keep the earliest of the runs named ``name``; cancel the others (duplicates of a race)."""
        keep = runs[0]
        for extra in runs[1:]:
            logger.warning("run %s is a duplicate of %s (both named %s): canceling it", extra.run_id, keep.run_id, name)
            if normalise_status(extra.status) not in FINAL_STATES:
                # The look-up just read its status (and, from run history, its experiment id): no second read.
                known = {"status": extra.status, "experimentId": extra.experiment_id} if extra.experiment_id else None
                self._history.cancel(where.model_copy(update={"run_id": extra.run_id}), known)
        return keep

    def _find_run(self, request: LaunchRequest, name: str, attempt: int) -> str | None:
        where = self._handle(request, name, attempt, created=False)
        runs = self._runs_named(where, name)
        if not runs:
            return None
        keep = self._settle(where, name, runs)
        ensure_same_payload(request, keep.run_id, keep.properties)
        return keep.run_id

    def launch(self, request: LaunchRequest, *, attempt: int = 1) -> RunHandle:
        target = request.target
        if not isinstance(target, PublishedPipelineTarget | PipelineEndpointTarget):
            raise PermanentError(f"{type(self).__name__} cannot launch a {target.kind} target")
        workspace = self._connector.workspace_of(request)
        name = run_name(request, attempt)
        existing = self._find_run(request, name, attempt)
        if existing is not None:
            logger.info("run %s already submitted as %s; not submitting again", name, existing)
            return self._handle(request, existing, attempt, created=False)
        base = self._pipelines_base(request.linked_service, workspace)
        if isinstance(target, PublishedPipelineTarget):
            pipeline_id = target.pipeline_id
            url = f"{base}/PipelineRuns/PipelineSubmit/{pipeline_id}"
            params: dict[str, str] = {}
            signature = self._pipeline_signature(request, base, pipeline_id, "typeProperties.mlPipelineId")
        else:
            pipeline_id = self._endpoint_pipeline(request, base, target)
            url = f"{base}/PipelineRuns/PipelineEndpointSubmit/Id/{target.endpoint_id}"
            params = {}
            if target.version:
                url += f"/{target.version}"
                params["pipelineVersion"] = target.version
            signature = self._pipeline_signature(request, base, pipeline_id, "typeProperties.mlPipelineEndpointId")
        if signature.status != "Active":
            raise RequestRejected(
                [
                    Issue(
                        "typeProperties.mlPipelineId",
                        f"published pipeline {pipeline_id} is {signature.status}",
                        "an Active pipeline",
                        signature.status,
                        code="target_disabled",
                    )
                ]
            )
        check_parameters(request, signature.parameters, target=f"published pipeline {pipeline_id}")
        self._check_data_paths(request, signature)
        if request.parent_run_id:
            params["parentRunId"] = request.parent_run_id
        body = self._body(request, name)

        def submit() -> Any:
            return self._connector.send_json(
                request.linked_service, "POST", url, body=body, params=params, retry_on_server_errors=False
            )

        answer = self._retry.run(
            submit,
            clock=self._clock,
            operation=f"submit {name}",
            on_unknown=lambda: self._found(request, name, attempt),
        )
        run_id = answer["Id"] if isinstance(answer, dict) and "Id" in answer else answer
        if not isinstance(run_id, str):
            raise PermanentError(f"submit {name}: the service answered without a run id")
        logger.info("submitted v1 pipeline %s as run %s (%s)", pipeline_id, run_id, name)
        handle = self._handle(request, run_id, attempt, created=True)
        # Another instance may have submitted the same name meanwhile: settle on one run now.
        runs = self._runs_named(handle, name)
        if len(runs) > 1:
            keep = self._settle(handle, name, runs)
            if keep.run_id != run_id:
                return self._handle(request, keep.run_id, attempt, created=False)
        return handle

    def _found(self, request: LaunchRequest, name: str, attempt: int) -> dict[str, str] | None:
        found = self._find_run(request, name, attempt)
        return {"Id": found} if found else None

    def find(self, where: RunHandle, name: str) -> RunHandle | None:
        """The v1 run named ``name``: the earliest of those carrying the name (see :meth:`_settle`)."""
        runs = self._runs_named(where, name)
        if not runs:
            return None
        kept = where.model_copy(update={"run_id": runs[0].run_id, "created": False, "run_name": name})
        return kept.model_copy(update={"studio_url": self._studio(kept, runs[0].run_id)})

    def _status(self, handle: RunHandle) -> RunStatus:
        """One call while the run is in flight (its record); its steps are read only once it has ended."""
        record = self._history.record(handle)
        if normalise_status(str(record.get("status") or "Unknown")) not in FINAL_STATES:
            return status_of_record(record, handle)
        return status_of_record(record, handle, self._history.children(handle))

    def cancel(self, handle: RunHandle) -> None:
        """Ask run history to cancel the run; a run already final is left alone."""
        self._history.cancel(handle)

    def status(self, handle: RunHandle) -> RunStatus:
        """The run's status; a run found canceled may have lost a race to a duplicate: follow the one kept."""
        status = self._status(handle)
        if status.state is not RunState.CANCELED or not handle.run_name:
            return status
        runs = self._runs_named(handle, handle.run_name)
        if not runs or runs[0].run_id == handle.run_id:
            return status
        kept = handle.model_copy(update={"run_id": runs[0].run_id, "studio_url": self._studio(handle, runs[0].run_id)})
        logger.warning(
            "run %s was canceled as a duplicate of %s (%s); following %s",
            handle.run_id,
            kept.run_id,
            handle.run_name,
            kept.run_id,
        )
        followed = self._status(kept)
        return followed.model_copy(update={"run_id": kept.run_id, "studio_url": followed.studio_url or kept.studio_url})

    def _check_data_paths(self, request: LaunchRequest, signature: _Signature) -> None:
        if not signature.data_paths:
            return
        unknown = [n for n in request.data_path_assignments if n not in signature.data_paths]
        if unknown:
            raise RequestRejected(
                [
                    Issue(
                        f"typeProperties.dataPathAssignments.{n}",
                        f"published pipeline declares no data path '{n}'",
                        f"one of: {', '.join(sorted(signature.data_paths))}",
                        n,
                        code="unknown_parameter",
                    )
                    for n in unknown
                ]
            )

    @staticmethod
    def _body(request: LaunchRequest, name: str) -> dict[str, Any]:
        # Parameters are written as the expression language writes values as text (True, 1E-05); that
        # rendering lives with the engine, which the request path has loaded already: import it here so the
        # launcher module itself stays free of the engine.
        from amlexec.expressions import to_text

        body: dict[str, Any] = {
            "ExperimentName": request.experiment_name,
            "Description": request.description or request.activity_name,
            "RunSource": RUN_SOURCE,
            # v1 parameter assignments are strings; values are written the way Data Factory writes them.
            "ParameterAssignments": {k: to_text(v) for k, v in request.parameters.items()},
            "DataPathAssignments": {
                k: {"DataStoreName": v.datastore_name, "RelativePath": v.relative_path or ""}
                for k, v in request.data_path_assignments.items()
            },
            "tags": run_tags(request),
            "Properties": run_properties(request, name),
        }
        if request.dataset_assignments:
            body["DataSetDefinitionValueAssignments"] = request.dataset_assignments
        if request.continue_on_step_failure is not None:
            body["ContinueRunOnStepFailure"] = request.continue_on_step_failure
        return body

    @staticmethod
    def _studio(handle: RunHandle, run_id: str) -> str | None:
        workspace = handle.workspace
        if workspace is None:
            return None
        return (
            f"https://ml.azure.com/runs/{run_id}?wsid=/subscriptions/{workspace.subscription_id}"
            f"/resourcegroups/{workspace.resource_group}/workspaces/{workspace.name}"
        )

    def _handle(self, request: LaunchRequest, run_id: str, attempt: int, *, created: bool) -> RunHandle:
        workspace = self._connector.workspace_of(request)
        handle = RunHandle(
            target_kind=request.target.kind,
            run_id=run_id,
            experiment_name=request.experiment_name,
            linked_service=request.linked_service,
            workspace=workspace,
            attempt=attempt,
            created=created,
            run_name=run_name(request, attempt),
        )
        return handle.model_copy(update={"studio_url": self._studio(handle, run_id)})
