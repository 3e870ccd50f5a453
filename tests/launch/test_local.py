"""The local pipeline runner end to end: real worker processes, real step subprocesses, real files, no network.

Every wait is a poll with a deadline. Most tests use small purpose-built pipelines written into tmp_path and
turn off the (slower) azure-ai-ml validation; the example pipeline and the invalid-YAML test keep it on.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from amlexec.errors import ConfigurationError, PermanentError, RequestRejected
from amlexec.launch.base import RunHandle, RunState, RunStatus
from amlexec.launch.local.launcher import LocalLauncher
from amlexec.request import LaunchRequest, LocalPipelineTarget, PipelineComponentTarget
from amlexec.runs import run_name

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "pipelines" / "loan_scoring.yml"
DEADLINE = 15.0

ARGS_SCRIPT = """\
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
(out / "args.json").write_text(json.dumps(sys.argv[2:]))
"""


def make_request(
    path: Path,
    parameters: dict[str, Any] | None = None,
    *,
    request_id: str = "msg-1",
    continue_on_step_failure: bool | None = None,
    **extra: Any,
) -> LaunchRequest:
    return LaunchRequest(
        request_id=request_id,
        correlation_id="corr",
        activity_name="Run local pipeline",
        linked_service="LocalPipelines",
        workspace=None,
        target=LocalPipelineTarget(name=path.stem, path=str(path)),
        experiment_name="local-tests",
        parameters=parameters or {},
        continue_on_step_failure=continue_on_step_failure,
        pipeline_run_id="run",
        pipeline_name="Tests",
        trigger_time=datetime(2026, 11, 21, tzinfo=UTC),
        **extra,
    )


def write_pipeline(folder: Path, body: str, name: str = "pipeline.yml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "src").mkdir(exist_ok=True)
    (folder / "src" / "args.py").write_text(ARGS_SCRIPT)
    path = folder / name
    path.write_text("type: pipeline\n" + textwrap.dedent(body))
    return path


def wait_for(check: Callable[[], Any], timeout: float = DEADLINE, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def wait_final(launcher: LocalLauncher, handle: RunHandle, timeout: float = DEADLINE) -> RunStatus:
    status: RunStatus = wait_for(lambda: (s := launcher.status(handle)).is_final and s, timeout, "a final state")
    return status


def state_file(launcher: LocalLauncher, handle: RunHandle) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((launcher.run_folder(handle) / "state.json").read_text())
    return data


def live_group_members(pgid: int) -> list[int]:
    """Processes (zombies excluded) still in a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def pid_alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2 :].split()[0] not in ("Z", "X")


@pytest.fixture
def launcher(tmp_path: Path) -> LocalLauncher:
    return LocalLauncher(tmp_path / "runs", validate_with_sdk=False, max_parallel_steps=4, kill_grace_seconds=2.0)


# -- the example pipeline ---------------------------------------------------------------------------------


def test_example_pipeline_runs_end_to_end(tmp_path: Path) -> None:
    launcher = LocalLauncher(tmp_path / "runs")  # with azure-ai-ml validation, as in production
    params = {
        "threshold": 0.35,
        "region": "EMEA",
        "dry_run": False,
        "scoring_date": "2026-11-21",
        "batch_label": "NightlyLoanScoring/run 42",
    }
    handle = launcher.launch(make_request(EXAMPLE, params))
    assert handle.created and handle.target_kind == "local_pipeline"
    assert handle.run_id == run_name(make_request(EXAMPLE, params))
    status = wait_final(launcher, handle)

    assert status.state is RunState.COMPLETED and status.raw_status == "Completed", status.error_message
    assert [(s.name, s.raw_status) for s in status.steps] == [("prepare", "Completed"), ("score", "Completed")]
    assert status.steps[0].ended_at and status.steps[1].started_at
    assert status.steps[0].ended_at <= status.steps[1].started_at
    folder = launcher.run_folder(handle)
    assert status.studio_url == folder.as_uri() and status.studio_url.startswith("file://")
    scores_dir = Path(status.outputs["scores"])
    assert scores_dir == folder / "outputs" / "scores"

    with open(REPO / "examples" / "data" / "loan_applications.csv", newline="") as fh:
        emea = [r["application_id"] for r in csv.DictReader(fh) if r["region"] == "EMEA"]
    with open(scores_dir / "scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["application_id"] for r in rows] == emea
    for row in rows:
        expected = "review" if float(row["default_probability"]) >= 0.35 else "approve"
        assert row["decision"] == expected and row["scoring_date"] == "2026-11-21"
    summary = json.loads((scores_dir / "summary.json").read_text())
    assert summary["threshold"] == 0.35 and summary["scored"] == len(emea)
    assert summary["dry_run"] is False  # the boolean reached the script as "False", not "false" or ""
    assert summary["batch_label"] == "NightlyLoanScoring/run 42"  # a value with a space stays one argument
    assert summary["flagged_for_review"] == sum(r["decision"] == "review" for r in rows)
    assert "scored" in (folder / "steps" / "score" / "std_log.txt").read_text()

    # Cancel of a final run does nothing.
    launcher.cancel(handle)
    assert launcher.status(handle).raw_status == "Completed"


def test_example_pipeline_defaults_and_true_boolean(launcher: LocalLauncher) -> None:
    handle = launcher.launch(make_request(EXAMPLE, {"dry_run": True}, request_id="msg-true"))
    status = wait_final(launcher, handle)
    assert status.raw_status == "Completed", status.error_message
    summary = json.loads((Path(status.outputs["scores"]) / "summary.json").read_text())
    assert summary["dry_run"] is True
    assert summary["threshold"] == 0.5 and summary["scoring_date"] == "2026-01-01"  # the YAML's defaults
    with open(REPO / "examples" / "data" / "loan_applications.csv", newline="") as fh:
        assert summary["batch_label"] == "manual" and summary["scored"] == len(list(csv.DictReader(fh)))


# -- parameter binding ------------------------------------------------------------------------------------

BINDING_PIPELINE = """\
inputs:
  flag: true
  count: 5
  text: hello
  ratio: 0.25
  data:
    type: uri_folder
    path: ./data
outputs:
  result:
    type: uri_folder
jobs:
  echo:
    type: command
    code: src
    command: >-
      python args.py ${{outputs.result}} --flag ${{inputs.flag}} --count ${{inputs.count}}
      --text ${{inputs.text}} --ratio ${{inputs.ratio}} --data ${{inputs.data}} --literal ${{inputs.literal}}
      $[[--absent ${{inputs.absent}}]] $[[--present ${{inputs.count}}]]
    environment: azureml:local-python@latest
    inputs:
      flag: ${{parent.inputs.flag}}
      count: ${{parent.inputs.count}}
      text: ${{parent.inputs.text}}
      ratio: ${{parent.inputs.ratio}}
      data: ${{parent.inputs.data}}
      literal: 7
    outputs:
      result: ${{parent.outputs.result}}
"""


def _args_of(status: RunStatus) -> list[str]:
    args: list[str] = json.loads((Path(status.outputs["result"]) / "args.json").read_text())
    return args


def test_falsy_parameters_reach_the_command_line(launcher: LocalLauncher, tmp_path: Path) -> None:
    path = write_pipeline(tmp_path / "p", BINDING_PIPELINE)
    params = {"flag": False, "count": 0, "text": "", "ratio": 1e-05}
    status = wait_final(launcher, launcher.launch(make_request(path, params)))
    assert status.raw_status == "Completed", status.error_message
    assert _args_of(status) == [
        "--flag",
        "False",
        "--count",
        "0",
        "--text",
        "",
        "--ratio",
        "1e-05",
        "--data",
        str(tmp_path / "p" / "data"),
        "--literal",
        "7",
        "--present",
        "0",
    ]


def test_yaml_defaults_and_hostile_values(launcher: LocalLauncher, tmp_path: Path) -> None:
    path = write_pipeline(tmp_path / "p", BINDING_PIPELINE)
    status = wait_final(launcher, launcher.launch(make_request(path, {}, request_id="defaults")))
    assert _args_of(status)[:8] == ["--flag", "True", "--count", "5", "--text", "hello", "--ratio", "0.25"]

    marker = tmp_path / "injected"
    hostile = {"text": f"x; touch {marker} $(touch {marker})", "data": "/abs/data dir", "flag": "true"}
    status = wait_final(launcher, launcher.launch(make_request(path, hostile, request_id="hostile")))
    args = _args_of(status)
    assert args[5] == hostile["text"] and args[9] == "/abs/data dir" and args[1] == "true"
    assert not marker.exists()


# -- scheduling -------------------------------------------------------------------------------------------


def test_dependency_order_and_parallel_independent_steps(launcher: LocalLauncher, tmp_path: Path) -> None:
    path = write_pipeline(
        tmp_path / "p",
        """\
        jobs:
          left:
            type: command
            command: sleep 1 && echo left > ${{outputs.out}}/done
            outputs: {out: {type: uri_folder}}
          right:
            type: command
            command: sleep 1 && echo right > ${{outputs.out}}/done
            outputs: {out: {type: uri_folder}}
          join:
            type: command
            command: cat ${{inputs.a}}/done ${{inputs.b}}/done
            inputs:
              a: ${{parent.jobs.left.outputs.out}}
              b: ${{parent.jobs.right.outputs.out}}
        """,
    )
    start = time.monotonic()
    handle = launcher.launch(make_request(path))
    status = wait_final(launcher, handle)
    assert status.raw_status == "Completed", status.error_message
    steps = {s.name: s for s in status.steps}
    assert [s.name for s in status.steps] == ["left", "right", "join"]
    left, right, join = steps["left"], steps["right"], steps["join"]
    assert left.started_at and left.ended_at and right.started_at and right.ended_at and join.started_at
    # Both sleeps overlapped: together they took well under the 2 s they would take in sequence.
    assert (max(left.ended_at, right.ended_at) - min(left.started_at, right.started_at)).total_seconds() < 1.8
    assert join.started_at >= max(left.ended_at, right.ended_at)
    assert time.monotonic() - start < 5
    log = (launcher.run_folder(handle) / "steps" / "join" / "std_log.txt").read_text()
    assert log.split() == ["left", "right"]


FAILING_PIPELINE = """\
jobs:
  bad:
    type: command
    command: echo first line; echo boom >&2; exit 3
  slow:
    type: command
    command: sleep {slow}; echo slow-done > ${{{{outputs.out}}}}/done
    outputs: {{out: {{type: uri_folder}}}}
  downstream:
    type: command
    command: echo should not run
    inputs:
      x: ${{{{parent.jobs.bad_late.outputs.out}}}}
  bad_late:
    type: command
    command: sleep 0.2; exit 1
    outputs: {{out: {{type: uri_folder}}}}
"""


def test_step_failure_stops_the_run(launcher: LocalLauncher, tmp_path: Path) -> None:
    path = write_pipeline(tmp_path / "p", FAILING_PIPELINE.format(slow=30))
    handle = launcher.launch(make_request(path))
    started = time.monotonic()
    status = wait_final(launcher, handle)
    assert time.monotonic() - started < 8  # the 30 s step was terminated, not waited for
    assert status.state is RunState.FAILED and status.error_code == "StepFailed"
    assert status.error_message and "step 'bad' exited with code 3" in status.error_message
    assert "boom" in status.error_message and "first line" in status.error_message
    steps = {s.name: s for s in status.steps}
    assert steps["bad"].raw_status == "Failed"
    assert steps["slow"].raw_status == "Canceled" and steps["slow"].state is RunState.CANCELED
    assert steps["downstream"].raw_status == "Canceled" and steps["bad_late"].raw_status == "Canceled"
    slow_pid = state_file(launcher, handle)["steps"]["slow"]["pid"]
    assert live_group_members(slow_pid) == []


@pytest.mark.parametrize("source", ["request", "yaml"])
def test_continue_on_step_failure_runs_independent_branches(
    launcher: LocalLauncher, tmp_path: Path, source: str
) -> None:
    body = FAILING_PIPELINE.format(slow=0.5)
    if source == "yaml":
        body = "settings:\n  continue_on_step_failure: true\n" + body
    path = write_pipeline(tmp_path / "p", body)
    request = make_request(path, continue_on_step_failure=True if source == "request" else None)
    status = wait_final(launcher, launcher.launch(request))
    steps = {s.name: s for s in status.steps}
    assert status.raw_status == "Failed" and status.error_code == "StepFailed"
    assert steps["bad"].raw_status == "Failed" and steps["bad_late"].raw_status == "Failed"
    assert steps["slow"].raw_status == "Completed"
    assert steps["downstream"].raw_status == "Canceled"
    assert steps["downstream"].error_message and "skipped" in steps["downstream"].error_message
    assert status.error_message and "step 'bad' exited with code 3" in status.error_message
    assert not (launcher.run_folder(launcher.launch(request)) / "steps" / "downstream").exists()


def test_request_setting_overrides_yaml_continue_on_step_failure(launcher: LocalLauncher, tmp_path: Path) -> None:
    body = "settings:\n  continue_on_step_failure: true\n" + FAILING_PIPELINE.format(slow=30)
    path = write_pipeline(tmp_path / "p", body)
    status = wait_final(launcher, launcher.launch(make_request(path, continue_on_step_failure=False)))
    assert {s.name: s.raw_status for s in status.steps}["slow"] == "Canceled"


# -- cancel and crashes -----------------------------------------------------------------------------------

SLEEPER = """\
jobs:
  sleeper:
    type: command
    command: sleep 30 & sleep 30; wait
    outputs: {out: {type: uri_folder}}
  later:
    type: command
    command: echo never
    inputs:
      x: ${{parent.jobs.sleeper.outputs.out}}
"""


def _sleeper_pipeline(tmp_path: Path) -> Path:
    return write_pipeline(tmp_path / "p", SLEEPER)


def _wait_running(launcher: LocalLauncher, handle: RunHandle) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        state = state_file(launcher, handle)
        return state if state["steps"]["sleeper"]["status"] == "Running" else None

    state: dict[str, Any] = wait_for(running, what="the step to run")
    return state


def test_cancel_stops_a_running_pipeline(launcher: LocalLauncher, tmp_path: Path) -> None:
    handle = launcher.launch(make_request(_sleeper_pipeline(tmp_path)))
    state = _wait_running(launcher, handle)
    step_pgid, worker_pid = state["steps"]["sleeper"]["pid"], state["worker"]["pid"]
    wait_for(lambda: len(live_group_members(step_pgid)) >= 2, what="the step's background child")
    assert launcher.status(handle).state is RunState.RUNNING

    launcher.cancel(handle)
    status = wait_final(launcher, handle, timeout=10)
    assert status.state is RunState.CANCELED and status.raw_status == "Canceled"
    assert {s.name: s.raw_status for s in status.steps} == {"sleeper": "Canceled", "later": "Canceled"}
    assert live_group_members(step_pgid) == []  # the shell and the sleeps it spawned are all gone
    wait_for(lambda: not pid_alive(worker_pid), timeout=5, what="the worker to exit")
    launcher.cancel(handle)  # cancelling a final run is a no-op
    assert launcher.status(handle).raw_status == "Canceled"


def test_dead_worker_is_detected_and_its_steps_killed(launcher: LocalLauncher, tmp_path: Path) -> None:
    handle = launcher.launch(make_request(_sleeper_pipeline(tmp_path)))
    state = _wait_running(launcher, handle)
    step_pgid = state["steps"]["sleeper"]["pid"]
    os.kill(state["worker"]["pid"], signal.SIGKILL)
    status = wait_for(lambda: (s := launcher.status(handle)).is_final and s, timeout=5, what="failure")
    assert status.state is RunState.FAILED and status.error_code == "WorkerDied"
    wait_for(lambda: live_group_members(step_pgid) == [], timeout=5, what="the orphaned step to be killed")
    # A later launch of the same request does not restart it.
    again = launcher.launch(make_request(_sleeper_pipeline(tmp_path)))
    assert not again.created and launcher.status(again).error_code == "WorkerDied"


def test_worker_that_never_started_is_reported_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launcher = LocalLauncher(tmp_path / "runs", validate_with_sdk=False, start_grace_seconds=0.5)
    # As if the launching process crashed right after creating the run folder.
    monkeypatch.setattr(LocalLauncher, "_spawn_worker", lambda self, folder: None)
    path = write_pipeline(tmp_path / "p", "jobs:\n  a:\n    type: command\n    command: echo hi\n")
    handle = launcher.launch(make_request(path))
    first = launcher.status(handle)
    assert first.state is RunState.QUEUED and first.raw_status == "NotStarted"
    status = wait_for(lambda: (s := launcher.status(handle)).is_final and s, timeout=5, what="failure")
    assert status.raw_status == "Failed" and status.error_code == "WorkerNotStarted"
    assert not launcher.launch(make_request(path)).created


def test_cancel_before_the_worker_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    launcher = LocalLauncher(tmp_path / "runs", validate_with_sdk=False)
    monkeypatch.setattr(LocalLauncher, "_spawn_worker", lambda self, folder: None)
    path = write_pipeline(tmp_path / "p", "jobs:\n  a:\n    type: command\n    command: echo hi\n")
    handle = launcher.launch(make_request(path))
    launcher.cancel(handle)
    assert launcher.status(handle).raw_status == "Canceled"
    # A worker that starts late finds the run settled and runs nothing.
    monkeypatch.undo()
    launcher._spawn_worker(launcher.run_folder(handle))
    time.sleep(0.5)
    assert launcher.status(handle).raw_status == "Canceled"
    assert not (launcher.run_folder(handle) / "steps").exists()


# -- exactly once -----------------------------------------------------------------------------------------

COUNTER = """\
jobs:
  count:
    type: command
    command: echo ran >> {marker}
"""


def test_duplicate_launch_sequential(launcher: LocalLauncher, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = write_pipeline(tmp_path / "p", COUNTER.format(marker=marker))
    first = launcher.launch(make_request(path))
    second = launcher.launch(make_request(path))
    assert first.created and not second.created
    assert first.model_copy(update={"created": False}) == second
    wait_final(launcher, second)
    assert marker.read_text() == "ran\n"
    # A new attempt is a new run.
    third = launcher.launch(make_request(path), attempt=2)
    assert third.created and third.run_id.endswith("_2")
    wait_final(launcher, third)
    assert marker.read_text() == "ran\nran\n"
    # The same run name for different parameters is refused, not silently merged.
    (tmp_path / "p" / "pipeline.yml").write_text(
        "type: pipeline\ninputs:\n  x: 1\n" + textwrap.dedent(COUNTER.format(marker=marker))
    )
    with pytest.raises(PermanentError, match="different request"):
        launcher.launch(make_request(path, {"x": 2}))


def test_duplicate_launch_concurrent_threads(launcher: LocalLauncher, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = write_pipeline(tmp_path / "p", COUNTER.format(marker=marker))
    barrier = threading.Barrier(8)
    handles: list[RunHandle] = []

    def launch() -> None:
        barrier.wait(timeout=10)
        handles.append(launcher.launch(make_request(path)))

    threads = [threading.Thread(target=launch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(handles) == 8 and sum(h.created for h in handles) == 1
    assert len({h.run_id for h in handles}) == 1
    wait_final(launcher, handles[0])
    assert marker.read_text() == "ran\n"


def test_duplicate_launch_concurrent_processes_and_status_elsewhere(launcher: LocalLauncher, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = write_pipeline(tmp_path / "p", COUNTER.format(marker=marker))
    request_file = tmp_path / "request.json"
    request_file.write_text(make_request(path).model_dump_json())
    go = tmp_path / "go"
    script = textwrap.dedent(f"""
        import pathlib, time
        from amlexec.launch.local.launcher import LocalLauncher
        from amlexec.request import LaunchRequest
        request = LaunchRequest.model_validate_json(pathlib.Path({str(request_file)!r}).read_text())
        launcher = LocalLauncher(pathlib.Path({str(launcher.runs_root)!r}), validate_with_sdk=False)
        deadline = time.monotonic() + 10
        while not pathlib.Path({str(go)!r}).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        print(launcher.launch(request).model_dump_json())
        """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    time.sleep(0.5)  # let every interpreter start, so they race on the mkdir
    go.touch()
    handles = [RunHandle.model_validate_json(p.communicate(timeout=20)[0]) for p in procs]
    assert sum(h.created for h in handles) == 1 and len({h.run_id for h in handles}) == 1

    # Status read by yet another process.
    probe = textwrap.dedent(f"""
        import pathlib, time
        from amlexec.launch.base import RunHandle
        from amlexec.launch.local.launcher import LocalLauncher
        launcher = LocalLauncher(pathlib.Path({str(launcher.runs_root)!r}))
        handle = RunHandle.model_validate_json({handles[0].model_dump_json()!r})
        deadline = time.monotonic() + 10
        while not (status := launcher.status(handle)).is_final and time.monotonic() < deadline:
            time.sleep(0.05)
        print(status.model_dump_json())
        """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=20, check=True)
    remote = RunStatus.model_validate_json(done.stdout)
    assert remote.raw_status == "Completed" and [s.raw_status for s in remote.steps] == ["Completed"]
    assert remote == launcher.status(handles[0])
    assert marker.read_text() == "ran\n"


# -- rejected before anything runs ------------------------------------------------------------------------


def test_unknown_and_missing_parameters_are_rejected_before_any_folder(launcher: LocalLauncher, tmp_path: Path) -> None:
    path = write_pipeline(
        tmp_path / "p",
        """\
        inputs:
          threshold: 0.5
          applications:
            type: uri_file
        jobs:
          a:
            type: command
            command: echo ${{inputs.t}} ${{inputs.apps}}
            inputs:
              t: ${{parent.inputs.threshold}}
              apps: ${{parent.inputs.applications}}
        """,
    )
    with pytest.raises(RequestRejected) as caught:
        launcher.launch(make_request(path, {"Threshold": 0.3, "regoin": "EMEA"}))
    issues = {i.path: i for i in caught.value.issues}
    assert set(issues) == {
        "typeProperties.mlPipelineParameters.Threshold",
        "typeProperties.mlPipelineParameters.regoin",
        "typeProperties.mlPipelineParameters.applications",
    }
    unknown = issues["typeProperties.mlPipelineParameters.regoin"]
    assert unknown.code == "unknown_parameter" and unknown.expected == "one of: applications, threshold"
    assert "did you mean 'threshold'" in issues["typeProperties.mlPipelineParameters.Threshold"].message
    assert issues["typeProperties.mlPipelineParameters.applications"].code == "missing_parameter"
    assert not launcher.runs_root.exists()

    with pytest.raises(RequestRejected) as caught:
        launcher.check_parameters(make_request(path, {"applications": 5, "threshold": [1]}))
    assert {i.code for i in caught.value.issues} == {"invalid_value"}
    launcher.check_parameters(make_request(path, {"applications": "x.csv"}))  # valid: no error


def test_wrong_target_and_unrunnable_pipelines_are_refused(launcher: LocalLauncher, tmp_path: Path) -> None:
    remote = make_request(EXAMPLE).model_copy(update={"target": PipelineComponentTarget(name="score", version="1")})
    with pytest.raises(PermanentError, match="local pipeline YAML files only"):
        launcher.launch(remote)
    path = write_pipeline(
        tmp_path / "p",
        """\
        jobs:
          a:
            type: command
            command: echo ${{inputs.nope}}
            inputs:
              x: ${{parent.jobs.b.outputs.out}}
          b:
            type: command
            command: echo ${{inputs.y}}
            inputs:
              y: ${{parent.jobs.a.outputs.missing}}
            outputs: {out: {type: uri_folder}}
          c:
            type: sweep
        """,
    )
    with pytest.raises(ConfigurationError) as caught:
        launcher.launch(make_request(path))
    message = str(caught.value)
    assert "names no declared input" in message and "has no output 'missing'" in message
    assert "'sweep' is not supported" in message
    assert not launcher.runs_root.exists()


def test_invalid_azure_ml_yaml_fails_the_run_without_running_steps(tmp_path: Path) -> None:
    launcher = LocalLauncher(tmp_path / "runs")
    path = write_pipeline(
        tmp_path / "p",
        """\
        settings:
          default_compute: my-laptop
        jobs:
          a:
            type: command
            command: echo ran > ${{outputs.o}}/x
            outputs: {o: {type: uri_folder}}
        """,
    )
    status = wait_final(launcher, launcher.launch(make_request(path)), timeout=30)
    assert status.raw_status == "Failed" and status.error_code == "PipelineValidationFailed"
    assert status.error_message and "default_compute" in status.error_message
    assert [s.raw_status for s in status.steps] == ["Canceled"]


def test_importing_the_launcher_stays_light() -> None:
    code = (
        "import sys, amlexec.launch.local.launcher; "
        "print(sorted(m for m in ('azure.ai.ml', 'yaml', 'azure.core') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout.strip() == "[]"
