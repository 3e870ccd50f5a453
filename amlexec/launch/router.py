"""Dispatch launch/status/cancel to the adapter for each target kind; one set of adapters per worker.

Launches of the same run name in one worker are serialised, so two concurrent deliveries of one message
cannot both pass the look-up-before-submit step (the v1 API cannot refuse a duplicate by itself).
"""

from __future__ import annotations

import threading
import zlib
from pathlib import Path
from typing import Any

from amlexec.clock import Clock, SystemClock
from amlexec.errors import ConfigurationError
from amlexec.launch.base import Launcher, RunHandle, RunStatus
from amlexec.launch.failures import RetryPolicy
from amlexec.launch.workspace import WorkspaceConnector
from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import LaunchRequest
from amlexec.runs import run_name, run_name_for

__all__ = ["LaunchRouter"]


class LaunchRouter:
    """The worker's launchers, created on first use of each target kind."""

    def __init__(
        self,
        registry: LinkedServiceRegistry,
        *,
        local_runs_root: Path,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        connector: WorkspaceConnector | None = None,
        local_options: dict[str, Any] | None = None,
    ) -> None:
        self._registry = registry
        self._runs_root = local_runs_root
        self._clock = clock or SystemClock()
        self._retry = retry or RetryPolicy()
        self._connector = connector or WorkspaceConnector(registry)
        self._local_options = local_options or {}
        self._adapters: dict[str, Launcher] = {}
        self._locals: dict[Path, Launcher] = {}
        self._lock = threading.Lock()
        # Striped locks: the same run name always maps to the same lock, memory stays bounded.
        self._stripes = [threading.Lock() for _ in range(64)]

    def _local(self, linked_service: str) -> Launcher:
        from amlexec.launch.local.launcher import LocalLauncher

        service = self._registry.get(linked_service)
        root = (service.runs_folder if service is not None and service.runs_folder else self._runs_root).resolve()
        with self._lock:
            launcher = self._locals.get(root)
            if launcher is None:
                launcher = LocalLauncher(root, **self._local_options)
                self._locals[root] = launcher
            return launcher

    def _azure(self, kind: str) -> Launcher:
        with self._lock:
            launcher = self._adapters.get(kind)
            if launcher is not None:
                return launcher
            options: dict[str, Any] = {"clock": self._clock, "retry": self._retry}
            if kind in ("published_pipeline", "pipeline_endpoint"):
                from amlexec.launch.published import PublishedPipelineLauncher

                launcher = PublishedPipelineLauncher(self._connector, **options)
                self._adapters["published_pipeline"] = self._adapters["pipeline_endpoint"] = launcher
            elif kind == "pipeline_component":
                from amlexec.launch.component import PipelineComponentLauncher

                launcher = self._adapters[kind] = PipelineComponentLauncher(self._connector, **options)
            elif kind == "batch_endpoint":
                from amlexec.launch.batch_endpoint import BatchEndpointLauncher

                launcher = self._adapters[kind] = BatchEndpointLauncher(self._connector, **options)
            else:
                raise ConfigurationError(f"no launcher for target kind {kind!r}")
            return launcher

    def launcher_for(self, kind: str, linked_service: str) -> Launcher:
        return self._local(linked_service) if kind == "local_pipeline" else self._azure(kind)

    def launch(self, request: LaunchRequest, *, attempt: int = 1) -> RunHandle:
        """Launch (or find) the run for one attempt of a request."""
        service = self._registry.get(request.linked_service)
        if service is not None:
            service.require_usable()
        gate = self._stripes[zlib.crc32(run_name(request, attempt).encode()) % len(self._stripes)]
        with gate:
            return self.launcher_for(request.target.kind, request.linked_service).launch(request, attempt=attempt)

    def status(self, handle: RunHandle) -> RunStatus:
        return self.launcher_for(handle.target_kind, handle.linked_service).status(handle)

    def cancel(self, handle: RunHandle) -> None:
        self.launcher_for(handle.target_kind, handle.linked_service).cancel(handle)

    def latest(self, where: RunHandle, request_id: str, activity_name: str, max_attempts: int) -> RunHandle | None:
        """The latest attempt launched for a request (its run handle), or None if none has been launched.

        Attempts are looked for from the last one down: a retry's run exists only once it was launched.
        """
        launcher = self.launcher_for(where.target_kind, where.linked_service)
        for attempt in range(max(1, max_attempts), 0, -1):
            found = launcher.find(
                where.model_copy(update={"attempt": attempt}), run_name_for(request_id, activity_name, attempt)
            )
            if found is not None:
                return found
        return None
