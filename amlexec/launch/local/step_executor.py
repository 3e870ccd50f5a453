"""The detached process that executes one local pipeline run (``python -m amlexec.launch.local.step_executor DIR``).

It detaches (fork, new session) so the launching process is never its parent, registers itself in
``state.json`` under the run folder's lock (or exits if the run was already settled, e.g. canceled or
declared failed before it started), optionally validates the YAML with ``azure.ai.ml.load_job``, then runs
the plan's command steps as shell subprocesses in dependency order, independent ones in parallel up to a
bound. Each step runs in its own process group so that it can be stopped with everything it spawned.

The worker is single-threaded: one loop reacts to step exits (SIGCHLD) and cancel requests (SIGTERM, or the
``cancel`` file), woken through ``signal.set_wakeup_fd`` rather than polling hard. It writes ``state.json``
atomically after every change. Standard library only, apart from the optional SDK validation.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from amlexec.launch.local.run_folder import (
    CANCEL,
    FINAL_RAW,
    PLAN,
    STATE,
    kill_group,
    locked,
    now_iso,
    process_start_ticks,
    read_json,
    write_json_atomic,
)

__all__ = ["main"]

_LOG_TAIL_LINES = 20
_LOG_TAIL_BYTES = 4096


class _Superseded(Exception):
    """Another process settled this run (e.g. declared the worker dead): stop without writing."""


class _Running:
    """A started step: its process (the leader of its own group) and its open log."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        self.name = name
        self.proc = proc
        self.log = log


class StepExecutor:
    """Executes the plan in one run folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        plan = read_json(folder / PLAN)
        if not isinstance(plan, dict):
            raise SystemExit(f"no plan in {folder}")
        self.plan: dict[str, Any] = plan
        self.steps: dict[str, dict[str, Any]] = {s["name"]: s for s in plan["steps"]}
        self.state: dict[str, Any] = {}
        self.cancel_requested = False
        self.running: dict[str, _Running] = {}
        self._wake_r, self._wake_w = os.pipe()

    # -- signals -------------------------------------------------------------------------------------------

    def _install_signals(self) -> None:
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        # Any signal writes a byte to the pipe, so the select() in the main loop returns at once.
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGTERM, self._on_cancel)
        signal.signal(signal.SIGINT, self._on_cancel)
        signal.signal(signal.SIGHUP, self._on_cancel)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def _on_cancel(self, signum: int, frame: object) -> None:
        self.cancel_requested = True

    def _wait(self, timeout: float) -> None:
        with contextlib.suppress(InterruptedError):
            select.select([self._wake_r], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 512):
                pass

    def _cancel_pending(self) -> bool:
        return self.cancel_requested or (self.folder / CANCEL).exists()

    # -- state ---------------------------------------------------------------------------------------------

    def _save(self) -> None:
        """Write state.json, unless someone else has settled the run meanwhile (then stop)."""
        self.state["updated_at"] = now_iso()
        with locked(self.folder):
            disk = read_json(self.folder / STATE)
            # The worker writes a final status once, as its last write: a final one on disk is someone else's.
            if isinstance(disk, dict) and disk.get("status") in FINAL_RAW:
                raise _Superseded
            write_json_atomic(self.folder / STATE, self.state)

    def _register(self) -> bool:
        """Claim the run under the lock; False when it was settled before this worker got to it."""
        with locked(self.folder):
            state = read_json(self.folder / STATE)
            if not isinstance(state, dict) or state.get("status") in FINAL_RAW or state.get("worker"):
                return False
            state["worker"] = {"pid": os.getpid(), "start_ticks": process_start_ticks(os.getpid())}
            state["status"] = "Preparing" if self.plan.get("validate") else "Running"
            state["started_at"] = now_iso()
            state["updated_at"] = state["started_at"]
            write_json_atomic(self.folder / STATE, state)
            self.state = state
            return True

    def _finish(self, status: str, error_code: str | None = None, error_message: str | None = None) -> None:
        self.state["status"] = status
        self.state["ended_at"] = now_iso()
        self.state["error_code"] = error_code
        self.state["error_message"] = error_message
        self._save()

    def _set_step(self, name: str, **fields: Any) -> None:
        self.state["steps"][name].update(fields)

    # -- run -----------------------------------------------------------------------------------------------

    def run(self) -> int:
        self._install_signals()
        if not self._register():
            return 0
        try:
            if self.plan.get("validate"):
                problem = _validate_with_sdk(self.plan["pipeline_path"])
                if self._cancel_pending():
                    self._cancel_all()
                    return 0
                if problem is not None:
                    for name in self.steps:
                        self._set_step(name, status="Canceled", error_message="not run: the pipeline is invalid")
                    self._finish("Failed", "PipelineValidationFailed", problem)
                    return 0
                self.state["status"] = "Running"
                self._save()
            self._execute()
        except _Superseded:
            self._terminate_running()
        return 0

    def _execute(self) -> None:
        continue_on_failure = bool(self.plan.get("continue_on_step_failure"))
        max_parallel = max(1, int(self.plan.get("max_parallel_steps", 1)))
        pending = list(self.steps)
        first_failure: str | None = None
        while True:
            if self._cancel_pending():
                self._cancel_all()
                return
            changed = False
            for name, running in list(self.running.items()):
                code = running.proc.poll()
                if code is None:
                    continue
                changed = True
                self._step_exited(running, code)
                if code != 0:
                    first_failure = first_failure or name
                    if not continue_on_failure:
                        self._fail_fast(name, pending)
                        return
            # Settle steps downstream of a failure (continue_on_step_failure), then start what is ready.
            for name in list(pending):
                deps = [self.state["steps"][d]["status"] for d in self.steps[name]["depends_on"]]
                if any(d in ("Failed", "Canceled") for d in deps):
                    bad = next(
                        d
                        for d in self.steps[name]["depends_on"]
                        if self.state["steps"][d]["status"] in ("Failed", "Canceled")
                    )
                    self._set_step(
                        name,
                        status="Canceled",
                        ended_at=now_iso(),
                        error_message=f"skipped: upstream step '{bad}' did not complete",
                    )
                    pending.remove(name)
                    changed = True
                elif all(d == "Completed" for d in deps) and len(self.running) < max_parallel:
                    pending.remove(name)
                    changed = True
                    if not self._start(name):
                        first_failure = first_failure or name
                        if not continue_on_failure:
                            self._fail_fast(name, pending)
                            return
            if not self.running and not pending:
                if first_failure is None:
                    self._finish("Completed")
                else:
                    self._finish("Failed", "StepFailed", self.state["steps"][first_failure]["error_message"])
                return
            if changed:
                self._save()
            # The timeout only bounds how late a lost signal or a cancel file is noticed.
            self._wait(0.5)

    def _start(self, name: str) -> bool:
        step = self.steps[name]
        step_dir = self.folder / "steps" / name
        step_dir.mkdir(parents=True, exist_ok=True)
        for folder in step["folders"]:
            Path(folder).mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # "python" in a command means the interpreter amlexec runs on (the step's `environment` is ignored).
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        env["AMLEXEC_RUN_ID"] = str(self.plan["run_id"])
        env["AMLEXEC_STEP"] = name
        env.update(step["env"])
        log = open(step_dir / "std_log.txt", "ab")  # noqa: SIM115 - closed when the step exits
        shell = shutil.which("bash") or "/bin/sh"
        try:
            proc = subprocess.Popen(  # noqa: S603 - the command is the pipeline author's, values are quoted
                [shell, "-c", step["command"]],
                cwd=step["cwd"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            log.write(f"cannot start step: {exc}\n".encode())
            log.close()
            self._set_step(
                name,
                status="Failed",
                started_at=now_iso(),
                ended_at=now_iso(),
                error_message=f"step '{name}' could not start: {exc}",
            )
            return False
        self.running[name] = _Running(name, proc, log)
        self._set_step(
            name, status="Running", started_at=now_iso(), pid=proc.pid, start_ticks=process_start_ticks(proc.pid)
        )
        return True

    def _step_exited(self, running: _Running, code: int) -> None:
        del self.running[running.name]
        running.log.close()
        # Whatever the step left running in its group goes with it, as when the service tears down a node.
        kill_group(running.proc.pid, signal.SIGKILL)
        if code == 0:
            self._set_step(running.name, status="Completed", ended_at=now_iso(), exit_code=0)
            return
        how = f"was killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        tail = _log_tail(self.folder / "steps" / running.name / "std_log.txt")
        message = f"step '{running.name}' {how}" + (f":\n{tail}" if tail else "")
        self._set_step(running.name, status="Failed", ended_at=now_iso(), exit_code=code, error_message=message)

    def _terminate_running(self) -> None:
        """Stop every running step and everything it spawned: SIGTERM, a grace period, then SIGKILL."""
        for running in self.running.values():
            kill_group(running.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + float(self.plan.get("kill_grace_seconds", 5.0))
        for running in self.running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for running in self.running.values():
            kill_group(running.proc.pid, signal.SIGKILL)
            running.proc.wait()  # reaped: no zombie outlives the run
            running.log.close()

    def _fail_fast(self, failed: str, pending: list[str]) -> None:
        stopped = list(self.running)
        self._terminate_running()
        for name in stopped:
            self._set_step(
                name, status="Canceled", ended_at=now_iso(), error_message=f"canceled: step '{failed}' failed"
            )
        self.running.clear()
        for name in pending:
            self._set_step(name, status="Canceled", error_message=f"not run: step '{failed}' failed")
        self._finish("Failed", "StepFailed", self.state["steps"][failed]["error_message"])

    def _cancel_all(self) -> None:
        self.state["status"] = "CancelRequested"
        with contextlib.suppress(_Superseded):
            self._save()
        stopped = list(self.running)
        self._terminate_running()
        self.running.clear()
        for name, step in self.state["steps"].items():
            if step["status"] not in FINAL_RAW:
                self._set_step(
                    name, status="Canceled", ended_at=now_iso() if name in stopped else None, error_message="canceled"
                )
        self._finish("Canceled")


def _log_tail(path: Path) -> str:
    """The last lines of a step's log: what a failure message shows."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, io.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - _LOG_TAIL_BYTES))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-_LOG_TAIL_LINES:])


def _validate_with_sdk(pipeline_path: str) -> str | None:
    """Load the YAML with azure-ai-ml as the service would: None when valid, else why not."""
    try:
        import logging
        import warnings

        logging.getLogger("azure").setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from azure.ai.ml import load_job

            load_job(pipeline_path)
    except ImportError as exc:
        return f"azure-ai-ml is needed to validate the pipeline and could not be imported: {exc}"
    except Exception as exc:  # the SDK raises many types (marshmallow, ValidationException, ...)
        return f"the pipeline YAML is not a valid Azure ML pipeline job: {exc}"[:4000]
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m amlexec.launch.local.step_executor RUN_FOLDER", file=sys.stderr)
        return 2
    folder = Path(args[0])
    # Detach: the launching process waits only for this short-lived parent; the worker itself is adopted by
    # init (or a subreaper), so it never lingers as the caller's zombie and survives the caller exiting.
    if os.fork() > 0:
        os._exit(0)
    os.setsid()  # its own session and process group: pgid == pid, which cancel signals
    return StepExecutor(folder).run()


if __name__ == "__main__":
    sys.exit(main())
