"""The launcher interface every target implements, and the one status model they all report in.

``launch`` is idempotent: the run name is derived from the request identity and the attempt number, and
each adapter looks the run up before it submits, so a redelivered message never starts a second run.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import Field

from amlexec.request import Frozen, LaunchRequest, WorkspaceInfo

__all__ = [
    "FINAL_STATES",
    "Launcher",
    "RunHandle",
    "RunState",
    "RunStatus",
    "StepStatus",
    "normalise_status",
]


class RunState(StrEnum):
    """A run's state, normalised across Azure ML v1, v2 and the local runner."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


FINAL_STATES = frozenset({RunState.COMPLETED, RunState.FAILED, RunState.CANCELED})


class StepStatus(Frozen):
    """One step (child job) of a pipeline run."""

    name: str
    state: RunState
    raw_status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error_message: str | None = None


class RunStatus(Frozen):
    """Where a run stands: normalised state plus the service's own words."""

    state: RunState
    raw_status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None
    steps: list[StepStatus] = Field(default_factory=list)
    studio_url: str | None = None
    outputs: dict[str, str] = Field(default_factory=dict)
    run_id: str | None = Field(
        default=None,
        description="set when this status is of another run than the handle's: "
        "the one amlexec settled on after finding duplicates",
    )

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


class RunHandle(Frozen):
    """How to find a launched run again, in this process or another."""

    target_kind: str
    run_id: str
    experiment_name: str
    linked_service: str
    workspace: WorkspaceInfo | None = None
    attempt: int = 1
    created: bool = Field(default=True, description="False when launch found the run already submitted")
    studio_url: str | None = None
    location: str | None = Field(default=None, description="adapter-specific locator (e.g. a local run folder)")
    run_name: str | None = Field(
        default=None,
        description="amlexec's deterministic name for the attempt, where the service chose the run id (v1)",
    )


class Launcher(Protocol):
    """Starts, observes and cancels runs of one kind of target."""

    def launch(self, request: LaunchRequest, *, attempt: int = 1) -> RunHandle:
        """Start the run for ``request`` (or find the one already started for it) and return its handle."""
        ...

    def status(self, handle: RunHandle) -> RunStatus:
        """Report where the run stands now."""
        ...

    def cancel(self, handle: RunHandle) -> None:
        """Ask the run to stop; a run already final is left as it is."""
        ...

    def find(self, where: RunHandle, name: str) -> RunHandle | None:
        """The run amlexec named ``name`` in the workspace and experiment of ``where``, if it exists.

        ``where`` is a handle whose run id is not yet known: its target kind, linked service, workspace,
        experiment and attempt say where to look.
        """
        ...


_AZURE_ML_STATES = {
    "notstarted": RunState.QUEUED,
    "starting": RunState.QUEUED,
    "provisioning": RunState.QUEUED,
    "preparing": RunState.QUEUED,
    "queued": RunState.QUEUED,
    "running": RunState.RUNNING,
    "finalizing": RunState.RUNNING,
    # Not final: runs have been seen to sit in CancelRequested for days; the tracker decides when to give up.
    "cancelrequested": RunState.RUNNING,
    # Not final: NotResponding can return to earlier states; the tracker applies a grace period.
    "notresponding": RunState.RUNNING,
    "paused": RunState.RUNNING,
    "unknown": RunState.RUNNING,
    "completed": RunState.COMPLETED,
    "finished": RunState.COMPLETED,
    "failed": RunState.FAILED,
    "canceled": RunState.CANCELED,
    "cancelled": RunState.CANCELED,
}


def normalise_status(raw: str | None) -> RunState:
    """Map an Azure ML status word (v1 run, v2 job) to a RunState; anything unknown counts as running."""
    return _AZURE_ML_STATES.get((raw or "unknown").replace(" ", "").lower(), RunState.RUNNING)
