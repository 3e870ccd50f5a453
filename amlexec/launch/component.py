"""Launch a registered v2 pipeline component as a PipelineJob with a deterministic name.

The job is built directly (``PipelineJob(component=..., inputs=...)``) rather than by calling the
component, which would replace falsy inputs (``False``, ``0``) with defaults. Azure ML itself refuses
empty-string input values (the SDK strips them), so an empty string is rejected before submitting instead
of vanishing. The job name is ``run_name(request, attempt)``: looked up first, created only when absent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from amlexec.errors import Issue, PermanentError, RequestRejected
from amlexec.launch.base import RunHandle
from amlexec.launch.failures import TargetNotFound
from amlexec.launch.jobs import WorkspaceLauncher, to_job_inputs, to_job_outputs
from amlexec.launch.signature import DeclaredInput, check_parameters
from amlexec.request import LaunchRequest, PipelineComponentTarget
from amlexec.runs import run_name, run_properties, run_tags

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import Component

__all__ = ["PipelineComponentLauncher"]

logger = logging.getLogger(__name__)


def declared_inputs(component: Component) -> dict[str, DeclaredInput]:
    """The inputs a component declares; required = no default and not optional."""
    declared = {}
    for name, spec in (component.inputs or {}).items():
        default = getattr(spec, "default", None)
        optional = bool(getattr(spec, "optional", False))
        declared[name] = DeclaredInput(name, getattr(spec, "type", None), required=default is None and not optional)
    return declared


class PipelineComponentLauncher(WorkspaceLauncher):
    """Runs ``azureml:name:version`` / ``azureml:name@label`` components as pipeline jobs."""

    kind = "pipeline_component"

    def _component(self, ml: MLClient, request: LaunchRequest, target: PipelineComponentTarget) -> Component:
        workspace = self._connector.workspace_of(request)
        key = (workspace.subscription_id, workspace.resource_group, workspace.name, target.reference)

        def load() -> Component:
            try:
                found: Component = self._retry.run(
                    lambda: (
                        ml.components.get(target.name, version=target.version)
                        if target.version
                        else ml.components.get(target.name, label=target.label or "latest")
                    ),
                    clock=self._clock,
                    operation=f"get component {target.reference}",
                )
                return found
            except TargetNotFound:
                raise RequestRejected(
                    [
                        Issue(
                            "typeProperties.mlPipelineId",
                            f"no pipeline component {target.reference} in workspace {workspace.name}",
                            "a registered pipeline component",
                            target.reference,
                            code="unknown_pipeline",
                        )
                    ]
                ) from None

        return self._signatures.get(key, load)

    def launch(self, request: LaunchRequest, *, attempt: int = 1) -> RunHandle:
        target = request.target
        if not isinstance(target, PipelineComponentTarget):
            raise PermanentError(f"{type(self).__name__} cannot launch a {target.kind} target")
        ml = self._connector.ml_client(request)
        name = run_name(request, attempt)
        existing = self._existing(ml, request, name, kind=self.kind, attempt=attempt)
        if existing is not None:
            return existing
        component = self._component(ml, request, target)
        check_parameters(
            request,
            declared_inputs(component),
            target=f"pipeline component {target.reference}",
            allow_empty_strings=False,
        )
        job = self._build_job(request, component, name)

        def create() -> Any:
            return ml.jobs.create_or_update(job, experiment_name=request.experiment_name)

        handle = self._create_once(ml, request, name, kind=self.kind, attempt=attempt, create=create)
        logger.info("launched pipeline job %s from %s", name, target.reference)
        return handle

    @staticmethod
    def _build_job(request: LaunchRequest, component: Component, name: str) -> Any:
        from azure.ai.ml.entities import PipelineJob, PipelineJobSettings

        settings = PipelineJobSettings()
        if request.continue_on_step_failure is not None:
            settings.continue_on_step_failure = request.continue_on_step_failure
        for key, value in request.job_settings.items():
            setattr(settings, _snake(key), value)
        return PipelineJob(
            name=name,
            component=component,
            inputs=to_job_inputs(request.parameters | request.job_inputs),
            outputs=to_job_outputs(request.job_outputs),
            settings=settings,
            experiment_name=request.experiment_name,
            display_name=request.activity_name,
            description=request.description,
            tags=run_tags(request),
            properties=run_properties(request, name),
        )


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
