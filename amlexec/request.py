"""What a request is once resolved, and what the host knows about it: the models every layer above shares.

``LaunchRequest`` (with its target, policy and workspace) is what a launcher receives; ``RequestContext``
is what a trigger knows when a request arrives. Nothing here evaluates or validates anything: a launcher
imports this module, never the expression engine or the validation that produce a ``LaunchRequest``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "REDACTED",
    "BatchEndpointTarget",
    "DataPath",
    "Frozen",
    "LaunchRequest",
    "LocalPipelineTarget",
    "PipelineComponentTarget",
    "PipelineEndpointTarget",
    "PublishedPipelineTarget",
    "RequestContext",
    "ResolvedPolicy",
    "Target",
    "WorkspaceInfo",
]

# Data Factory's default activity timeout: seven days.
DEFAULT_TIMEOUT_SECONDS = 7 * 86400
# What a secureInput value shows wherever a value would be shown (issues, previews, public views).
REDACTED = "<redacted: secureInput>"


@dataclass(frozen=True)
class RequestContext:
    """What the host knows about a request: its identity and when and how it arrived."""

    request_id: str
    received_at: datetime
    trigger_type: str = "Manual"
    trigger_name: str = "amlexec"
    scheduled_time: datetime | None = None
    correlation_id: str | None = None
    data_factory: str = "amlexec"


class Frozen(BaseModel):
    """Base of the immutable models: unknown fields are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class PublishedPipelineTarget(Frozen):
    """A v1 published pipeline, by id."""

    kind: Literal["published_pipeline"] = "published_pipeline"
    pipeline_id: str


class PipelineEndpointTarget(Frozen):
    """A v1 pipeline endpoint, by id, at a version (None: the endpoint's default)."""

    kind: Literal["pipeline_endpoint"] = "pipeline_endpoint"
    endpoint_id: str
    version: str | None = None


class BatchEndpointTarget(Frozen):
    """A v2 batch endpoint with a pipeline-component deployment (None: the endpoint's default)."""

    kind: Literal["batch_endpoint"] = "batch_endpoint"
    endpoint_name: str
    deployment_name: str | None = None


class PipelineComponentTarget(Frozen):
    """A registered v2 pipeline component, by name and version or label."""

    kind: Literal["pipeline_component"] = "pipeline_component"
    name: str
    version: str | None = None
    label: str | None = None

    @property
    def reference(self) -> str:
        if self.version:
            return f"azureml:{self.name}:{self.version}"
        return f"azureml:{self.name}@{self.label or 'latest'}"


class LocalPipelineTarget(Frozen):
    """A v2 pipeline YAML in a local linked service's folder, run on this machine."""

    kind: Literal["local_pipeline"] = "local_pipeline"
    name: str
    path: str


Target = Annotated[
    PublishedPipelineTarget
    | PipelineEndpointTarget
    | BatchEndpointTarget
    | PipelineComponentTarget
    | LocalPipelineTarget,
    Field(discriminator="kind"),
]


class DataPath(Frozen):
    """A v1 DataPath assignment: a datastore and a path inside it."""

    datastore_name: str
    relative_path: str | None = None


class ResolvedPolicy(Frozen):
    """The activity policy with defaults applied and the timeout in seconds."""

    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    retry: int = 0
    retry_interval_seconds: int = 30
    secure_input: bool = False
    secure_output: bool = False


class WorkspaceInfo(Frozen):
    """An Azure ML workspace: where a linked service points and a request runs (None for local pipelines)."""

    subscription_id: str
    resource_group: str
    name: str

    @property
    def resource_id(self) -> str:
        """The workspace's ARM path (``/subscriptions/.../workspaces/<name>``), written here and nowhere else."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.name}"
        )


class LaunchRequest(Frozen):
    """Everything a launcher needs, fully evaluated. Parameter values keep their evaluated JSON types."""

    request_id: str
    correlation_id: str
    activity_name: str
    linked_service: str
    workspace: WorkspaceInfo | None
    target: Target
    experiment_name: str
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    data_path_assignments: dict[str, DataPath] = Field(default_factory=dict)
    dataset_assignments: dict[str, JsonValue] = Field(default_factory=dict)
    job_inputs: dict[str, JsonValue] = Field(default_factory=dict)
    job_outputs: dict[str, JsonValue] = Field(default_factory=dict)
    job_settings: dict[str, JsonValue] = Field(default_factory=dict)
    parent_run_id: str | None = None
    continue_on_step_failure: bool | None = None
    policy: ResolvedPolicy = Field(default_factory=ResolvedPolicy)
    description: str | None = None
    user_properties: dict[str, str] = Field(default_factory=dict)
    pipeline_run_id: str
    pipeline_name: str
    trigger_time: datetime
    callback: bool = Field(default=False, description="a WebHook waits: its callBackUri is in the request index")
    payload_digest: str | None = Field(
        default=None, description="hash of the payload as sent: a request id reused for another payload is a conflict"
    )

    def public_view(self) -> dict[str, Any]:
        """A JSON-ready dict safe to log or print: inputs are redacted when ``policy.secureInput`` is set."""
        data = self.model_dump(mode="json")
        if self.policy.secure_input:
            for key in ("parameters", "data_path_assignments", "dataset_assignments", "job_inputs", "job_outputs"):
                data[key] = dict.fromkeys(data[key], REDACTED)
            data["user_properties"] = dict.fromkeys(data["user_properties"], REDACTED)
        return data
