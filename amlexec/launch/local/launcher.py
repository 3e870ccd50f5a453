"""The local pipeline runner: runs a v2 Azure ML pipeline YAML on this machine, no Azure account needed.

``LocalLauncher`` implements the ``Launcher`` protocol for ``LocalPipelineTarget`` requests (the
``AmlexecLocal`` linked service, the embedded default). It is the same contract as the Azure adapters:

* **Parameters are checked first.** ``check_parameters`` rejects unknown names and missing required inputs
  (``RequestRejected`` with one Issue per problem, at ``typeProperties.mlPipelineParameters.<name>``) before
  any folder is created, so nothing runs on a typo.
* **Exactly once.** The run folder ``<runs_root>/<run_name(request, attempt)>/`` is created with a plain
  ``mkdir``; whoever creates it launches, every other caller (thread or process) gets the same handle with
  ``created=False``. ``request.json``, ``plan.json`` and the initial ``state.json`` are written under the
  folder's lock before the worker is spawned.
* **At most once, even after a crash.** A run whose worker never registered within ``start_grace_seconds``
  (the launcher crashed between ``mkdir`` and spawn), or whose registered worker is gone (pid no longer alive
  with the recorded start time) without having written a final state, is settled as ``Failed``
  (``WorkerNotStarted`` / ``WorkerDied``) by the next ``status``/``cancel``, and any step processes it left
  are killed. It is never restarted: steps may have had side effects, and a retry is a new attempt with its
  own run name, which is the tracker's decision.
* **Execution** happens in a detached worker process (``amlexec.launch.local.step_executor``); ``status`` and
  ``cancel`` work from any process because everything lives in the run folder.

Module-level imports are the standard library, pydantic (through ``amlexec.launch.base``) and amlexec: the
launcher runs inside a serverless function. ``azure.ai.ml`` is imported only by the worker, to validate the
YAML with ``load_job`` off the caller's process. POSIX only (process groups, ``flock``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import amlexec
from amlexec.errors import ConfigurationError, Issue, PermanentError, RequestRejected, describe_value, format_path
from amlexec.launch.base import RunHandle, RunState, RunStatus, StepStatus
from amlexec.launch.local.pipeline_spec import PipelineSpec, PipelineSpecError, bind_plan, load_spec
from amlexec.launch.local.run_folder import (
    CANCEL,
    FINAL_RAW,
    PLAN,
    REQUEST,
    STATE,
    WORKER_LOG,
    kill_group,
    locked,
    now_iso,
    process_alive,
    process_start_ticks,
    read_json,
    write_json_atomic,
)
from amlexec.launch.signature import DeclaredInput, check_parameters
from amlexec.request import REDACTED, LaunchRequest, LocalPipelineTarget
from amlexec.runs import run_name

__all__ = ["LocalLauncher"]

TARGET_KIND = "local_pipeline"

# Azure ML's status words (which the worker writes) mapped to the normalised state.
_STATE_OF_RAW = {
    "NotStarted": RunState.QUEUED,
    "Queued": RunState.QUEUED,
    "Preparing": RunState.QUEUED,
    "Running": RunState.RUNNING,
    "CancelRequested": RunState.RUNNING,
    "Completed": RunState.COMPLETED,
    "Failed": RunState.FAILED,
    "Canceled": RunState.CANCELED,
}
_RUN_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
# What a duplicate launch must agree on with the run already in the folder.
_IDENTITY_FIELDS = ("target", "parameters", "continue_on_step_failure")


class LocalLauncher:
    """Launches, observes and cancels local pipeline runs kept under ``runs_root``.

    ``max_parallel_steps`` bounds how many independent steps run at once (default: the CPU count, at least
    2). ``validate_with_sdk`` has the worker load the YAML with ``azure.ai.ml.load_job`` before running
    anything (about 2 s per run; tests may turn it off). ``start_grace_seconds`` is how long a run may wait
    for its worker to register before it is declared failed; ``kill_grace_seconds`` is how long a stopped
    step gets between SIGTERM and SIGKILL.
    """

    target_kind = TARGET_KIND

    def __init__(
        self,
        runs_root: Path,
        *,
        max_parallel_steps: int | None = None,
        validate_with_sdk: bool = True,
        start_grace_seconds: float = 30.0,
        kill_grace_seconds: float = 5.0,
    ) -> None:
        # Absolute, because the worker runs elsewhere and studio_url is a file:// URL.
        self.runs_root = Path(runs_root).resolve()
        self.max_parallel_steps = max_parallel_steps or max(2, os.cpu_count() or 1)
        self.validate_with_sdk = validate_with_sdk
        self.start_grace_seconds = start_grace_seconds
        self.kill_grace_seconds = kill_grace_seconds

    # -- checks --------------------------------------------------------------------------------------------

    def check_parameters(self, request: LaunchRequest) -> None:
        """Reject the request unless its parameters fit the pipeline's declared inputs (raises RequestRejected).

        Unknown names, required inputs (data inputs declared without a path) left unsupplied, values that are
        not a string, number or boolean, and v1 data-path / Fabric job input assignments (which the local
        runner cannot honour) are each reported with their JSON path.
        """
        self._check(request)

    def _check(self, request: LaunchRequest) -> PipelineSpec:
        target = request.target
        if not isinstance(target, LocalPipelineTarget):
            raise PermanentError(
                f"the local launcher runs local pipeline YAML files only, not a {target.kind} "
                "target; use the launcher for that target kind"
            )
        try:
            spec = load_spec(Path(target.path))
        except PipelineSpecError as exc:
            raise ConfigurationError(str(exc)) from exc

        def shown(value: Any) -> str:
            return REDACTED if request.policy.secure_input else describe_value(value)

        def where(name: str) -> str:
            return "typeProperties." + format_path(["mlPipelineParameters", name])

        declared = {name: DeclaredInput(name, decl.data_type, decl.required) for name, decl in spec.inputs.items()}
        issues: list[Issue] = []
        try:
            check_parameters(request, declared, target=f"pipeline '{target.name}'")
        except RequestRejected as rejected:
            issues += rejected.issues
        # What only a local run cares about: one value per input, a path for a data input.
        for name, value in request.parameters.items():
            decl = spec.inputs.get(name)
            if decl is None:
                continue
            if isinstance(value, list | dict):
                issues.append(
                    Issue(
                        where(name),
                        "a pipeline input takes a single value",
                        "a string, number or boolean",
                        shown(value),
                        "invalid_value",
                    )
                )
            elif decl.required and value is None:
                issues.append(
                    Issue(
                        where(name),
                        f"required pipeline input '{name}' is null",
                        f"a {decl.data_type or 'value'} for '{name}'",
                        "null",
                        "missing_parameter",
                    )
                )
            elif decl.data_type is not None and value is not None and not isinstance(value, str):
                issues.append(
                    Issue(
                        where(name),
                        f"input '{name}' is a {decl.data_type} input",
                        "a path string",
                        shown(value),
                        "invalid_value",
                    )
                )
        for attr, prop in (
            ("data_path_assignments", "dataPathAssignments"),
            ("dataset_assignments", "dataSetDefinitionValueAssignments"),
            ("job_inputs", "jobInputs"),
            ("job_outputs", "jobOutputs"),
        ):
            if getattr(request, attr):
                issues.append(
                    Issue(
                        f"typeProperties.{prop}",
                        "not supported by the local pipeline runner",
                        "pipeline inputs passed as mlPipelineParameters",
                        None,
                        "unsupported",
                    )
                )
        if issues:
            raise RequestRejected(issues)
        return spec

    # -- launch --------------------------------------------------------------------------------------------

    def launch(self, request: LaunchRequest, *, attempt: int = 1) -> RunHandle:
        """Start the run for this request and attempt, or return the one already started (``created=False``)."""
        spec = self._check(request)
        name = run_name(request, attempt)
        folder = self.runs_root / name
        self.runs_root.mkdir(parents=True, exist_ok=True)
        try:
            # The one atomic decision of who launches: mkdir fails for everyone but the first caller.
            folder.mkdir()
        except FileExistsError:
            self._check_same_request(folder, request)
            return self._handle(request, name, attempt, created=False)

        continue_on_failure = (
            request.continue_on_step_failure
            if request.continue_on_step_failure is not None
            else spec.continue_on_step_failure
        )
        plan = bind_plan(spec, dict(request.parameters), folder)
        created_at = now_iso()
        plan.update(
            run_id=name,
            attempt=attempt,
            pipeline_path=str(spec.path),
            created_at=created_at,
            continue_on_step_failure=continue_on_failure,
            max_parallel_steps=self.max_parallel_steps,
            validate=self.validate_with_sdk,
            kill_grace_seconds=self.kill_grace_seconds,
        )
        state: dict[str, Any] = {
            "run_id": name,
            "status": "NotStarted",
            "created_at": created_at,
            "started_at": None,
            "ended_at": None,
            "error_code": None,
            "error_message": None,
            "worker": None,
            "outputs": plan["outputs"],
            "steps": {
                s["name"]: {"status": "NotStarted", "started_at": None, "ended_at": None, "error_message": None}
                for s in plan["steps"]
            },
        }
        with locked(folder):
            write_json_atomic(folder / REQUEST, {"attempt": attempt, "request": request.model_dump(mode="json")})
            write_json_atomic(folder / PLAN, plan)
            write_json_atomic(folder / STATE, state)
        self._spawn_worker(folder)
        return self._handle(request, name, attempt, created=True)

    def _spawn_worker(self, folder: Path) -> None:
        env = dict(os.environ)
        # The worker must import this very amlexec, installed or not.
        package_root = str(Path(amlexec.__file__).resolve().parents[1])  # the folder that holds amlexec/
        env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            with open(folder / WORKER_LOG, "ab") as log:
                proc = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter and our own module
                    [sys.executable, "-m", "amlexec.launch.local.step_executor", str(folder)],
                    cwd=folder,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            with locked(folder):
                self._settle(
                    folder,
                    read_json(folder / STATE),
                    "WorkerNotStarted",
                    f"the run's worker could not be started: {exc}",
                )
            return
        # The direct child forks the real worker and exits at once; reap it so it leaves no zombie here.
        threading.Thread(target=proc.wait, name=f"amlexec-local-reap-{proc.pid}", daemon=True).start()

    def _check_same_request(self, folder: Path, request: LaunchRequest) -> None:
        recorded = read_json(folder / REQUEST)
        if not isinstance(recorded, dict):
            return  # the launching caller has not written it yet (or crashed before): nothing to compare
        before = recorded.get("request", {})
        now = request.model_dump(mode="json")
        differing = [f for f in _IDENTITY_FIELDS if before.get(f) != now.get(f)]
        if differing:
            raise PermanentError(
                f"run {folder.name} already exists for a different request ({', '.join(differing)} "
                "differ); a run name stands for one request"
            )

    def _handle(self, request: LaunchRequest, name: str, attempt: int, *, created: bool) -> RunHandle:
        folder = self.runs_root / name
        return RunHandle(
            target_kind=TARGET_KIND,
            run_id=name,
            experiment_name=request.experiment_name,
            linked_service=request.linked_service,
            workspace=None,
            attempt=attempt,
            created=created,
            studio_url=folder.as_uri(),
            location=str(folder),
        )

    # -- observe and cancel --------------------------------------------------------------------------------

    def run_folder(self, handle: RunHandle) -> Path:
        """The folder of a run of this launcher (PermanentError for a foreign or unknown handle)."""
        if handle.target_kind != TARGET_KIND or not _RUN_ID.match(handle.run_id) or ".." in handle.run_id:
            raise PermanentError(f"not a local pipeline run handle: {handle.target_kind} {handle.run_id!r}")
        folder = self.runs_root / handle.run_id
        if not folder.is_dir():
            raise PermanentError(f"no local run named {handle.run_id} under {self.runs_root}")
        return folder

    def find(self, where: RunHandle, name: str) -> RunHandle | None:
        """The local run called ``name``: its folder, if it was ever created."""
        folder = self.runs_root / name
        if not folder.is_dir():
            return None
        return where.model_copy(
            update={
                "run_id": name,
                "created": False,
                "run_name": name,
                "workspace": None,
                "studio_url": folder.as_uri(),
                "location": str(folder),
            }
        )

    def status(self, handle: RunHandle) -> RunStatus:
        """Where the run stands, read from its folder (works from any process)."""
        folder = self.run_folder(handle)
        state = self._reconcile(folder)
        plan = read_json(folder / PLAN)
        order = [s["name"] for s in plan["steps"]] if isinstance(plan, dict) else []
        raw_steps: dict[str, Any] = state.get("steps") or {}
        steps = [
            StepStatus(
                name=name,
                state=_STATE_OF_RAW.get(s.get("status", ""), RunState.QUEUED),
                raw_status=s.get("status", "NotStarted"),
                started_at=_time(s.get("started_at")),
                ended_at=_time(s.get("ended_at")),
                error_message=s.get("error_message"),
            )
            for name, s in sorted(raw_steps.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 0)
        ]
        raw = str(state.get("status", "NotStarted"))
        recorded = read_json(folder / REQUEST)
        policy = (recorded.get("request") or {}).get("policy") or {} if isinstance(recorded, dict) else {}
        secure_output = bool(policy.get("secure_output", True)) if isinstance(policy, dict) else True
        if secure_output:
            # secureOutput: the service's (here: the step's) error text stays out of everything amlexec reports.
            steps = [s.model_copy(update={"error_message": None}) for s in steps]
        return RunStatus(
            state=_STATE_OF_RAW.get(raw, RunState.QUEUED),
            raw_status=raw,
            started_at=_time(state.get("started_at")),
            ended_at=_time(state.get("ended_at")),
            error_code=state.get("error_code"),
            error_message=None if secure_output else state.get("error_message"),
            steps=steps,
            studio_url=folder.as_uri(),
            outputs=dict(state.get("outputs") or {}),
        )

    def cancel(self, handle: RunHandle) -> None:
        """Ask the run to stop: the worker terminates its steps and ends the run ``Canceled``.

        Returns at once; ``status`` shows ``CancelRequested`` until the steps are gone. A final run is left as
        it is. A run with no live worker is settled ``Canceled`` here, its leftover step processes killed.
        """
        folder = self.run_folder(handle)
        state = self._reconcile(folder)
        if state.get("status") in FINAL_RAW:
            return
        # The file outlives a lost signal: the worker polls for it, and settling a dead run reads it.
        (folder / CANCEL).write_text(now_iso(), encoding="utf-8")
        with locked(folder):
            current = read_json(folder / STATE)
            if isinstance(current, dict) and current.get("status") in FINAL_RAW:
                return
            worker = current.get("worker") if isinstance(current, dict) else None
            if worker and process_alive(int(worker["pid"]), worker.get("start_ticks")):
                # The worker is its own process group's leader (pgid == pid).
                kill_group(int(worker["pid"]), signal.SIGTERM)
                return
            # No live worker: either it has not registered yet (it will find the run final and exit) or it died.
            self._settle(folder, current, None, None)

    # -- crash recovery ------------------------------------------------------------------------------------

    def _reconcile(self, folder: Path) -> dict[str, Any]:
        """The run's state, first settling it as failed if its worker never started or died."""
        state = read_json(folder / STATE)
        if self._verdict(folder, state) is None:
            return state if isinstance(state, dict) else {}
        with locked(folder):
            # Decide again under the lock: the worker may have registered or finished meanwhile.
            state = read_json(folder / STATE)
            verdict = self._verdict(folder, state)
            if verdict is None:
                return state if isinstance(state, dict) else {}
            return self._settle(folder, state, *verdict)

    def _verdict(self, folder: Path, state: Any) -> tuple[str, str] | None:
        if isinstance(state, dict) and state.get("status") in FINAL_RAW:
            return None
        worker = state.get("worker") if isinstance(state, dict) else None
        if not worker:
            created = _time(state.get("created_at")) if isinstance(state, dict) else None
            created_ts = created.timestamp() if created else folder.stat().st_mtime
            age = datetime.now(UTC).timestamp() - created_ts
            if age > self.start_grace_seconds:
                return (
                    "WorkerNotStarted",
                    f"the run's worker did not start within {self.start_grace_seconds:g} s "
                    "(the launching process may have crashed); the run was not started",
                )
            return None
        if not process_alive(int(worker["pid"]), worker.get("start_ticks")):
            return (
                "WorkerDied",
                f"the run's worker (pid {worker['pid']}) ended without finishing the run; see {folder / WORKER_LOG}",
            )
        return None

    def _settle(self, folder: Path, state: Any, code: str | None, message: str | None) -> dict[str, Any]:
        """Write a final state for a run that has no live worker (caller holds the lock).

        Canceled when a cancel was requested, else Failed with ``code``/``message``. Step processes the dead
        worker left behind are killed, group and all.
        """
        settled: dict[str, Any] = dict(state) if isinstance(state, dict) else {"run_id": folder.name, "steps": {}}
        canceled = (folder / CANCEL).exists()
        now = now_iso()
        for step in (settled.get("steps") or {}).values():
            if step.get("status") in FINAL_RAW:
                continue
            pid = step.get("pid")
            if step.get("status") == "Running" and isinstance(pid, int):
                ticks = process_start_ticks(pid)
                # Skip only a pid now worn by a different process; a gone leader may still have a live group.
                if ticks is None or step.get("start_ticks") in (None, ticks):
                    kill_group(pid, signal.SIGKILL)
                step["ended_at"] = now
            step["status"] = "Canceled"
            step["error_message"] = "canceled" if canceled else f"not finished: {code}"
        settled.update(
            status="Canceled" if canceled else "Failed",
            ended_at=now,
            error_code=None if canceled else code,
            error_message=None if canceled else message,
            updated_at=now,
        )
        write_json_atomic(folder / STATE, settled)
        return settled


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None
