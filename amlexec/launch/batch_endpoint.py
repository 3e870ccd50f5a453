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

Batch invocations take no tags; the run is recognised by its name and its experiment.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from amlexec.errors import Issue, PermanentError, RequestRejected
from amlexec.launch.base import RunHandle
from amlexec.launch.component import declared_inputs
from amlexec.launch.failures import TargetNotFound
from amlexec.launch.jobs import WorkspaceLauncher
from amlexec.launch.signature import DeclaredInput, check_parameters
from amlexec.request import BatchEndpointTarget, LaunchRequest
from amlexec.runs import run_name

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
        existing = self._existing(ml, request, name, kind=self.kind, attempt=attempt)
        if existing is not None:
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
        return handle
