"""Invoke a v2 batch endpoint whose deployment runs a pipeline component.

Two azure-ai-ml traps shape this adapter. The SDK keeps the ``azureml-model-deployment`` header in a
module-level dict, so after one call that names a deployment, later calls without one still send it: the
deployment is therefore always named explicitly (the endpoint's default when the request names none).
And the SDK's repeatability id is a fresh uuid per call, so it cannot make redeliveries idempotent: the job
name is ``run_name(request, attempt)``, looked up before invoking.

A third trap: ``invoke`` writes the bearer token, the repeatability id and the deployment header into one
dict shared by the whole process (``EndpointInvokeFields.DEFAULT_HEADER``) before it posts. Two invokes on
worker threads at once, even on different clients, could send each other's deployment or token, so
invokes are serialised process-wide (``_INVOKE_LOCK``); they are rare next to status checks.

Batch invocations take no tags or properties, so the run is found by its name, and amlexec adds its tags
and properties (the event context among them) right after the invoke, through run history's update of a
run (the call behind azure-ai-ml's ``jobs.update``, made directly: one call instead of its five). From
then on the run's Azure ML notifications carry the context, and Event Grid ends a batch job at once like
any other run. A notification that overtakes the update is ignored (it is not recognisably amlexec's);
the first status check, 15 s after the launch even with Event Grid on, sees that early end. A launch that
fails before the update is redelivered, finds the job, and adds what is missing.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from amlexec.errors import Issue, PermanentError, RequestRejected
from amlexec.launch.base import RunHandle
from amlexec.launch.component import declared_inputs
from amlexec.launch.failures import TargetNotFound
from amlexec.launch.jobs import WorkspaceLauncher, ensure_same_payload, find_job, handle_for
from amlexec.launch.signature import DeclaredInput, check_parameters
from amlexec.request import BatchEndpointTarget, LaunchRequest
from amlexec.runs import CONTEXT_PROPERTY, run_name, run_properties, run_tags

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

__all__ = ["BatchEndpointLauncher"]

logger = logging.getLogger(__name__)

BATCH_API_VERSION = "2024-10-01"
# azure-ai-ml's invoke mutates a module-level header dict; one invoke at a time per process. Re-entrant: the
# fault-injection runner simulates a second instance inside the first one's call, on the same thread.
_INVOKE_LOCK = threading.RLock()
_COMPONENT_ID = re.compile(r"/components/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$")
_LITERAL_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


def _to_batch_inputs(values: dict[str, Any]) -> dict[str, Any]:
    """Literal parameters become typed literal Inputs; ``{"type", "path"}`` objects become data Inputs."""
    from azure.ai.ml import Input

    inputs: dict[str, Any] = {}
    issues: list[Issue] = []
    for name, value in values.items():
        if isinstance(value, dict) and isinstance(value.get("type"), str) and "path" in value:
            inputs[name] = Input(**value)
            continue
        kind = next((k for t, k in _LITERAL_TYPES if isinstance(value, t)), None)
        if kind is None:
            issues.append(
                Issue(
                    f"typeProperties.mlPipelineParameters.{name}",
                    "batch endpoint inputs are numbers, booleans, strings or data inputs",
                    'a literal, or {"type": "uri_folder", "path": ...}',
                    type(value).__name__,
                    code="unsupported_input",
                )
            )
            continue
        inputs[name] = Input(type=kind, default=value)
    if issues:
        raise RequestRejected(issues)
    return inputs


class BatchEndpointLauncher(WorkspaceLauncher):
    """Runs Fabric's batch-endpoint activities (``mlBatchEndpointName`` / ``mlBatchDeploymentName``)."""

    kind = "batch_endpoint"

    def _deployment_and_inputs(
        self, ml: MLClient, request: LaunchRequest, target: BatchEndpointTarget
    ) -> tuple[str, dict[str, DeclaredInput] | None]:
        workspace = self._connector.workspace_of(request)
        key = (
            workspace.subscription_id,
            workspace.resource_group,
            workspace.name,
            target.endpoint_name,
            target.deployment_name or "",
        )

        def load() -> tuple[str, dict[str, DeclaredInput] | None]:
            path = "typeProperties.mlBatchEndpointName"
            try:
                endpoint = self._retry.run(
                    lambda: ml.batch_endpoints.get(target.endpoint_name),
                    clock=self._clock,
                    operation=f"get batch endpoint {target.endpoint_name}",
                )
            except TargetNotFound:
                raise RequestRejected(
                    [
                        Issue(
                            path,
                            f"no batch endpoint '{target.endpoint_name}' in {workspace.name}",
                            "an existing batch endpoint",
                            target.endpoint_name,
                            code="unknown_pipeline",
                        )
                    ]
                ) from None
            deployment_name = target.deployment_name or getattr(
                getattr(endpoint, "defaults", None), "deployment_name", None
            )
            if not deployment_name:
                raise RequestRejected(
                    [
                        Issue(
                            "typeProperties.mlBatchDeploymentName",
                            f"batch endpoint '{target.endpoint_name}' has no default deployment",
                            "mlBatchDeploymentName",
                            "nothing",
                            code="missing",
                        )
                    ]
                )
            url = (
                f"{self._connector.workspace_url(workspace)}/batchEndpoints/{target.endpoint_name}"
                f"/deployments/{deployment_name}"
            )
            try:
                # azure-ai-ml's BatchDeployment entity drops a pipeline deployment's component id: read it raw.
                deployment = self._retry.run(
                    lambda: self._connector.send_json(
                        request.linked_service, "GET", url, params={"api-version": BATCH_API_VERSION}
                    ),
                    clock=self._clock,
                    operation=f"get deployment {deployment_name}",
                )
            except TargetNotFound:
                raise RequestRejected(
                    [
                        Issue(
                            "typeProperties.mlBatchDeploymentName",
                            f"batch endpoint '{target.endpoint_name}' has no deployment '{deployment_name}'",
                            "an existing deployment",
                            deployment_name,
                            code="unknown_pipeline",
                        )
                    ]
                ) from None
            return deployment_name, self._component_inputs(ml, deployment)

        return self._signatures.get(key, load)

    def _component_inputs(self, ml: MLClient, deployment: Any) -> dict[str, DeclaredInput] | None:
        config = ((deployment or {}).get("properties") or {}).get("deploymentConfiguration") or {}
        reference = (config.get("componentId") or {}).get("assetId")
        match = _COMPONENT_ID.search(reference or "")
        if match is None:
            logger.info(
                "deployment %s names no registered component; parameters are not checked",
                (deployment or {}).get("name"),
            )
            return None
        found = self._retry.run(
            lambda: ml.components.get(match["name"], version=match["version"]),
            clock=self._clock,
            operation="get deployment component",
        )
        return declared_inputs(found)

    def launch(self, request: LaunchRequest, *, attempt: int = 1) -> RunHandle:
        target = request.target
        if not isinstance(target, BatchEndpointTarget):
            raise PermanentError(f"{type(self).__name__} cannot launch a {target.kind} target")
        ml = self._connector.ml_client(request)
        name = run_name(request, attempt)
        found = find_job(ml, name, clock=self._clock, retry=self._retry)
        if found is not None:
            ensure_same_payload(request, name, getattr(found, "properties", None))
            logger.info("run %s already exists; not submitting again", name)
            existing = handle_for(request, found, self.kind, attempt, created=False)
            if CONTEXT_PROPERTY not in (getattr(found, "properties", None) or {}):
                self._add_properties(request, existing)  # an earlier delivery stopped between invoke and update
            return existing
        deployment, declared = self._deployment_and_inputs(ml, request, target)
        values = request.parameters | request.job_inputs
        if declared is not None:
            check_parameters(
                request,
                declared,
                target=f"batch deployment {target.endpoint_name}/{deployment}",
                values=values,
                allow_empty_strings=False,
            )
        inputs = _to_batch_inputs(values)

        def invoke() -> Any:
            with _INVOKE_LOCK:
                return ml.batch_endpoints.invoke(
                    endpoint_name=target.endpoint_name,
                    deployment_name=deployment,
                    inputs=inputs or None,
                    outputs=request.job_outputs or None,
                    job_name=name,
                    experiment_name=request.experiment_name,
                )

        handle = self._create_once(ml, request, name, kind=self.kind, attempt=attempt, create=invoke)
        logger.info("invoked batch endpoint %s deployment %s as job %s", target.endpoint_name, deployment, name)
        self._add_properties(request, handle)
        return handle

    def _add_properties(self, request: LaunchRequest, handle: RunHandle) -> None:
        """Put amlexec's tags and properties on the batch job (run history merges them into the run's own).

        A transient failure is raised: the launch is redelivered, finds the job and tries again. One a retry
        cannot fix (a role without the run-history write) is logged and the run is tracked by its status
        checks alone: its notifications cannot be recognised, so with Event Grid on its end is seen at the
        next safety-net look.
        """
        workspace = self._connector.workspace_of(request)
        name = handle.run_id
        body = {"tags": run_tags(request), "properties": run_properties(request, name)}
        try:
            host = self._retry.run(
                lambda: self._connector.api_host(request.linked_service, workspace),
                clock=self._clock,
                operation="discover workspace services",
            )
            url = (
                f"{host}/history/v1.0{self._connector.workspace_path(workspace)}"
                f"/experiments/{quote(handle.experiment_name, safe='')}/runs/{name}"
            )
            self._retry.run(
                lambda: self._connector.send_json(request.linked_service, "PATCH", url, body=body),
                clock=self._clock,
                operation=f"add properties to job {name}",
            )
        except PermanentError as error:
            logger.warning("job %s: amlexec's properties not added, tracked by status checks only: %s", name, error)
