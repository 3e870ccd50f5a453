"""Reading and binding pipeline YAML for the local runner, without running anything."""

from __future__ import annotations

import shlex
import textwrap
from pathlib import Path

import pytest

from amlexec.launch.local.pipeline_spec import PipelineSpecError, bind_plan, load_spec, render_command, render_value

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "True"),
        (False, "False"),
        (0, "0"),
        (0.5, "0.5"),
        (1e-05, "1e-05"),
        (10, "10"),
        ("", ""),
        ("EMEA", "EMEA"),
        (None, ""),
    ],
)
def test_literals_render_as_the_sdk_sends_them(value: object, text: str) -> None:
    assert render_value(value) == text


def test_commands_quote_values_and_drop_optional_blocks_without_values() -> None:
    command = "run --a ${{inputs.a}} $[[--b ${{inputs.b}}]] $[[--c ${{ inputs.c }}]] --o ${{outputs.o}}"
    rendered = render_command(command, {"a": "x y; rm -rf /", "c": ""}, {"o": "/tmp/out"})
    assert shlex.split(rendered) == ["run", "--a", "x y; rm -rf /", "--c", "", "--o", "/tmp/out"]


def test_example_pipeline_binds_to_a_run_folder(tmp_path: Path) -> None:
    spec = load_spec(REPO / "examples" / "pipelines" / "loan_scoring.yml")
    assert [s.name for s in spec.steps] == ["prepare", "score"]
    assert spec.steps[1].depends_on == ("prepare",)
    assert not spec.continue_on_step_failure and not any(i.required for i in spec.inputs.values())
    plan = bind_plan(spec, {"dry_run": False, "threshold": 0}, tmp_path)
    prepare, score = plan["steps"]
    assert prepare["cwd"] == str(REPO / "examples" / "pipelines" / "src")
    assert f"--applications {REPO / 'examples' / 'data' / 'loan_applications.csv'}" in prepare["command"]
    assert f"--prepared {tmp_path / 'steps' / 'prepare' / 'outputs' / 'prepared'} " in score["command"] + " "
    assert "--threshold 0 " in score["command"] and "--dry-run False " in score["command"]
    assert plan["outputs"] == {"scores": str(tmp_path / "outputs" / "scores")}


def test_independent_steps_keep_file_order_and_dependencies_come_first(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(
        textwrap.dedent("""\
        type: pipeline
        jobs:
          last:
            type: command
            command: echo ${{inputs.x}}
            inputs: {x: "${{parent.jobs.first.outputs.o}}"}
          first:
            type: command
            command: echo
            outputs: {o: {type: uri_file}}
          other:
            type: command
            command: echo
        """)
    )
    spec = load_spec(path)
    assert [s.name for s in spec.steps] == ["first", "other", "last"]
    plan = bind_plan(spec, {}, tmp_path / "run")
    # A uri_file output is a file path inside a folder the worker creates.
    assert plan["steps"][2]["command"] == f"echo {tmp_path / 'run' / 'steps' / 'first' / 'outputs' / 'o' / 'o'}"
    assert plan["steps"][0]["folders"] == [str(tmp_path / "run" / "steps" / "first" / "outputs" / "o")]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("jobs: {}", "no steps"),
        ("jobs:\n  a:\n    component: ./c.yml", "reference a component"),
        ("jobs:\n  a:\n    type: command\n    command: echo ${{parent.inputs.x}}", "unsupported expression"),
        ("jobs:\n  a:\n    type: command\n    command: echo\n    code: missing", "does not exist"),
        (
            "jobs:\n  a:\n    type: command\n    command: echo\n    inputs: {x: '${{parent.inputs.nope}}'}",
            "declares no input 'nope'",
        ),
        (
            "jobs:\n  a:\n    type: command\n    command: echo\n    outputs: {x: '${{parent.outputs.nope}}'}",
            "declares no output 'nope'",
        ),
        (
            "jobs:\n  a:\n    type: command\n    command: echo\n    inputs: {x: '${{parent.jobs.a.outputs.o}}'}\n"
            "    outputs: {o: {type: uri_folder}}",
            "dependency cycle",
        ),
        (
            "settings: {continue_on_step_failure: 'yes'}\njobs:\n  a:\n    type: command\n    command: echo",
            "continue_on_step_failure",
        ),
        ("type: command\ncommand: echo", "expected 'pipeline'"),
    ],
)
def test_unrunnable_pipelines_are_explained(tmp_path: Path, body: str, problem: str) -> None:
    path = tmp_path / "p.yml"
    path.write_text("type: pipeline\n" + body if not body.startswith("type:") else body)
    with pytest.raises(PipelineSpecError) as caught:
        load_spec(path)
    assert problem in str(caught.value)
