"""Read a v2 Azure ML pipeline YAML far enough to check parameters and to bind its command steps locally.

This is not a validator of the Azure ML schema (the worker runs ``azure.ai.ml.load_job`` for that, off the
caller's process); it is the part the launcher needs synchronously and cheaply: the declared pipeline inputs
(to reject unknown or missing parameters before anything runs), the steps with their ``${{...}}`` bindings and
dependency edges, and the binding of all of that to concrete values and folders for one run.

Supported: inline ``type: command`` jobs with ``command``, ``code``, ``inputs``, ``outputs`` and
``environment_variables``; bindings ``${{inputs.X}}`` and ``${{outputs.X}}`` in commands (and optional
``$[[ ... ]]`` blocks), ``${{parent.inputs.X}}``, ``${{parent.jobs.S.outputs.Y}}`` and ``${{parent.outputs.X}}``
in step inputs and outputs. ``environment``, ``compute`` and ``resources`` are ignored: a step runs with the
launching Python on ``PATH``. Components referenced by ``component:`` and non-command steps are rejected.

Standard library only at import time; PyYAML (an azure-ai-ml dependency) is imported when a file is read.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "DATA_TYPES",
    "PipelineInput",
    "PipelineSpec",
    "PipelineSpecError",
    "Step",
    "StepInput",
    "StepOutput",
    "bind_plan",
    "load_spec",
    "render_value",
]

# Input and output types that carry a path rather than a literal value.
DATA_TYPES = frozenset({"uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "triton_model"})

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_WHOLE_BINDING = re.compile(r"^\s*\$\{\{\s*(?P<expr>[^{}]*?)\s*\}\}\s*$")
_PARENT_INPUT = re.compile(rf"^parent\.inputs\.(?P<name>{_NAME}(?:\.{_NAME})*)$")
_PARENT_OUTPUT = re.compile(rf"^parent\.outputs\.(?P<name>{_NAME})$")
_STEP_OUTPUT = re.compile(rf"^parent\.jobs\.(?P<step>[A-Za-z0-9_][A-Za-z0-9_-]*)\.outputs\.(?P<name>{_NAME})$")
_COMMAND_REF = re.compile(rf"\$\{{\{{\s*(?P<kind>inputs|outputs)\.(?P<name>{_NAME}(?:\.{_NAME})*)\s*\}}\}}")
_ANY_REF = re.compile(r"\$\{\{(?P<expr>.*?)\}\}", re.S)
_OPTIONAL_BLOCK = re.compile(r"\$\[\[(?P<body>.*?)\]\]", re.S)


class PipelineSpecError(Exception):
    """The pipeline file cannot be run by the local runner; ``problems`` lists every reason found."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"pipeline {path}: " + "; ".join(problems))


@dataclass(frozen=True)
class PipelineInput:
    """A pipeline-level input: a literal with its YAML value, or a data input with its path (None: required)."""

    name: str
    data_type: str | None
    default: Any

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class StepInput:
    """Where one step input's value comes from."""

    source: Literal["literal", "data", "parent_input", "step_output"]
    value: Any = None
    step: str | None = None
    output: str | None = None


@dataclass(frozen=True)
class StepOutput:
    """A step output: a folder (or file, for ``uri_file``) of the step, or the pipeline output it is bound to."""

    name: str
    data_type: str
    parent_output: str | None = None


@dataclass(frozen=True)
class Step:
    """One inline command job."""

    name: str
    command: str
    cwd: Path
    inputs: dict[str, StepInput]
    outputs: dict[str, StepOutput]
    environment_variables: dict[str, str]
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class PipelineSpec:
    """What the local runner knows of a pipeline file; ``steps`` are in a valid execution order."""

    path: Path
    display_name: str | None
    inputs: dict[str, PipelineInput]
    outputs: dict[str, str]
    continue_on_step_failure: bool
    steps: tuple[Step, ...] = field(default_factory=tuple)


def _binding(value: Any) -> str | None:
    """The expression inside a value that is exactly one ``${{...}}`` binding, else None."""
    if isinstance(value, str):
        match = _WHOLE_BINDING.match(value)
        if match:
            return match["expr"]
    return None


def load_spec(path: Path) -> PipelineSpec:
    """Parse and check a pipeline file; raise PipelineSpecError listing every problem found."""
    # Lazily, and untyped on purpose: PyYAML ships no type information and this is its only use.
    yaml = importlib.import_module("yaml")

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineSpecError(path, [f"cannot be read as YAML: {exc}"]) from exc
    if not isinstance(doc, dict):
        raise PipelineSpecError(path, ["is not a YAML mapping"])
    problems: list[str] = []
    if doc.get("type", "pipeline") != "pipeline":
        problems.append(f"type is {doc.get('type')!r}, expected 'pipeline'")
    base = path.parent

    inputs: dict[str, PipelineInput] = {}
    for name, raw in _mapping(doc.get("inputs"), "inputs", problems).items():
        if isinstance(raw, dict):
            data_type = raw.get("type")
            if data_type in DATA_TYPES:
                inputs[name] = PipelineInput(name, str(data_type), raw.get("path"))
            elif "value" in raw or "default" in raw:
                inputs[name] = PipelineInput(name, None, raw.get("value", raw.get("default")))
            else:
                problems.append(f"inputs.{name}: expected a literal or a data input with a known type")
        elif isinstance(raw, list):
            problems.append(f"inputs.{name}: a list is not a pipeline input value")
        else:
            inputs[name] = PipelineInput(name, None, raw)
    outputs: dict[str, str] = {}
    for name, raw in _mapping(doc.get("outputs"), "outputs", problems).items():
        outputs[name] = str(raw.get("type", "uri_folder")) if isinstance(raw, dict) else "uri_folder"
    settings = _mapping(doc.get("settings"), "settings", problems)
    continue_on_failure = settings.get("continue_on_step_failure", False)
    if not isinstance(continue_on_failure, bool):
        problems.append("settings.continue_on_step_failure: expected true or false")
        continue_on_failure = False

    jobs = _mapping(doc.get("jobs"), "jobs", problems)
    if not jobs and not isinstance(doc.get("jobs"), list | str | int | float):
        problems.append("jobs: the pipeline has no steps")
    steps = [_step(name, raw, base, (inputs, outputs), problems) for name, raw in jobs.items()]
    known = {s.name: s for s in steps if s is not None}
    for step in known.values():
        for inp_name, inp in step.inputs.items():
            if inp.source != "step_output":
                continue
            producer = known.get(str(inp.step))
            if producer is None:
                if str(inp.step) not in jobs:
                    problems.append(f"jobs.{step.name}.inputs.{inp_name}: no step named '{inp.step}'")
            elif inp.output not in producer.outputs:
                problems.append(
                    f"jobs.{step.name}.inputs.{inp_name}: step '{inp.step}' has no output "
                    f"'{inp.output}' (it has {sorted(producer.outputs)})"
                )
    ordered = _execution_order(list(known.values()), problems)
    if problems:
        raise PipelineSpecError(path, problems)
    display = doc.get("display_name")
    return PipelineSpec(
        path=path,
        display_name=str(display) if display is not None else None,
        inputs=inputs,
        outputs=outputs,
        continue_on_step_failure=continue_on_failure,
        steps=tuple(ordered),
    )


def _mapping(raw: Any, where: str, problems: list[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping")
        return {}
    return {str(k): v for k, v in raw.items()}


def _step(
    name: str, raw: Any, base: Path, declared: tuple[dict[str, PipelineInput], dict[str, str]], problems: list[str]
) -> Step | None:
    pipeline_inputs, pipeline_outputs = declared
    where = f"jobs.{name}"
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*", name):
        problems.append(f"{where}: a step name may hold letters, digits, '_' and '-' only")
        return None
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping")
        return None
    if "component" in raw:
        problems.append(
            f"{where}: steps that reference a component are not supported by the local runner; "
            "write the command job inline"
        )
        return None
    if raw.get("type", "command") != "command":
        problems.append(f"{where}: step type {raw.get('type')!r} is not supported by the local runner (only 'command')")
        return None
    command = raw.get("command")
    if not isinstance(command, str) or not command.strip():
        problems.append(f"{where}.command: a command step needs a command")
        return None

    code = raw.get("code")
    if code is None:
        cwd = base
    elif not isinstance(code, str) or code.startswith(("azureml:", "http://", "https://")):
        problems.append(f"{where}.code: only a local folder is supported by the local runner")
        return None
    else:
        cwd = Path(os.path.normpath(base / code))
        if not cwd.is_dir():
            problems.append(f"{where}.code: folder {cwd} does not exist")

    inputs: dict[str, StepInput] = {}
    for inp_name, value in _mapping(raw.get("inputs"), f"{where}.inputs", problems).items():
        bound = _step_input(f"{where}.inputs.{inp_name}", value, base, pipeline_inputs, problems)
        if bound is not None:
            inputs[inp_name] = bound
    outputs: dict[str, StepOutput] = {}
    for out_name, value in _mapping(raw.get("outputs"), f"{where}.outputs", problems).items():
        bound_out = _step_output(f"{where}.outputs.{out_name}", out_name, value, pipeline_outputs, problems)
        if bound_out is not None:
            outputs[out_name] = bound_out

    optional_bodies = [m["body"] for m in _OPTIONAL_BLOCK.finditer(command)]
    required_text = _OPTIONAL_BLOCK.sub(" ", command)
    for match in _ANY_REF.finditer(command):
        if not _COMMAND_REF.fullmatch(match.group(0)):
            problems.append(
                f"{where}.command: unsupported expression {match.group(0)!r} "
                "(a command may use ${{inputs.X}} and ${{outputs.X}})"
            )
    for match in _COMMAND_REF.finditer(required_text):
        names = set(inputs) if match["kind"] == "inputs" else set(outputs)
        if match["name"] not in names:
            problems.append(
                f"{where}.command: {match.group(0)} names no declared {match['kind'][:-1]} (declared: {sorted(names)})"
            )
    for body in optional_bodies:
        for match in _COMMAND_REF.finditer(body):
            if match["kind"] == "outputs" and match["name"] not in outputs:
                problems.append(f"{where}.command: {match.group(0)} names no declared output")

    env_raw = _mapping(raw.get("environment_variables"), f"{where}.environment_variables", problems)
    env = {str(k): render_value(v) for k, v in env_raw.items()}
    depends = tuple(sorted({str(i.step) for i in inputs.values() if i.source == "step_output"}))
    return Step(
        name=name,
        command=command,
        cwd=cwd,
        inputs=inputs,
        outputs=outputs,
        environment_variables=env,
        depends_on=depends,
    )


def _step_input(
    where: str, value: Any, base: Path, pipeline_inputs: dict[str, PipelineInput], problems: list[str]
) -> StepInput | None:
    data_type: str | None = None
    if isinstance(value, dict):
        data_type = value.get("type")
        if "path" in value:
            value = value["path"]
        elif "value" in value:
            value = value["value"]
        else:
            problems.append(f"{where}: expected a value, a path or a ${{{{parent...}}}} binding")
            return None
    expr = _binding(value)
    if expr is not None:
        if (match := _PARENT_INPUT.match(expr)) is not None:
            if match["name"] not in pipeline_inputs:
                problems.append(
                    f"{where}: the pipeline declares no input '{match['name']}' (declared: {sorted(pipeline_inputs)})"
                )
                return None
            return StepInput("parent_input", match["name"])
        if (match := _STEP_OUTPUT.match(expr)) is not None:
            return StepInput("step_output", step=match["step"], output=match["name"])
        problems.append(f"{where}: unsupported binding ${{{{{expr}}}}}")
        return None
    if isinstance(value, list | dict):
        problems.append(f"{where}: a list or mapping is not an input value")
        return None
    if data_type in DATA_TYPES:
        return StepInput("data", resolve_path(str(value), base))
    return StepInput("literal", value)


def _step_output(
    where: str, name: str, value: Any, pipeline_outputs: dict[str, str], problems: list[str]
) -> StepOutput | None:
    data_type = "uri_folder"
    if isinstance(value, dict):
        data_type = str(value.get("type", data_type))
        value = value.get("path")
    expr = _binding(value)
    if expr is None:
        # A remote path (azureml://...) has no local meaning: the output lands in the run folder.
        return StepOutput(name, data_type)
    match = _PARENT_OUTPUT.match(expr)
    if match is None:
        problems.append(f"{where}: unsupported binding ${{{{{expr}}}}} (expected ${{{{parent.outputs.X}}}})")
        return None
    if match["name"] not in pipeline_outputs:
        problems.append(
            f"{where}: the pipeline declares no output '{match['name']}' (declared: {sorted(pipeline_outputs)})"
        )
        return None
    return StepOutput(name, pipeline_outputs[match["name"]], match["name"])


def _execution_order(steps: list[Step], problems: list[str]) -> list[Step]:
    """Steps in dependency order, keeping the file's order among independent steps; reports cycles."""
    names = {s.name for s in steps}
    remaining = {s.name: s for s in steps}
    done: set[str] = set()
    ordered: list[Step] = []
    while remaining:
        # A dependency on a step that failed to parse was reported already: treat it as met here.
        ready = [s for s in remaining.values() if all(d in done or d not in names for d in s.depends_on)]
        if not ready:
            problems.append(f"jobs: dependency cycle between {sorted(remaining)}")
            return ordered
        for step in ready:
            ordered.append(step)
            done.add(step.name)
            del remaining[step.name]
    return ordered


def resolve_path(path: str, base: Path) -> str:
    """A local data path made absolute against the YAML file's folder; URIs are left as they are."""
    if "://" in path or path.startswith("azureml:"):
        return path
    return os.path.normpath(base / path)


def render_value(value: Any) -> str:
    """A literal as Azure ML puts it on a command line.

    The SDK sends every literal input as ``str(value)`` (``LiteralJobInput(value=str(v))``) and the service
    pastes that text into the command, so a boolean renders as ``True``/``False`` and numbers as Python
    prints them (``0.5``, ``0``, ``1e-05``).
    """
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def bind_plan(spec: PipelineSpec, parameters: dict[str, Any], run_folder: Path) -> dict[str, Any]:
    """Bind a pipeline to one run's parameters and folders: the JSON plan the worker executes.

    Parameters override the YAML's values (a None parameter means "not supplied"); data-input paths that
    are relative resolve against the YAML file's folder. Every value is shell-quoted where it is pasted
    into a command: the service pastes raw text, but here values come from messages and must not be able to
    inject shell syntax; for ordinary tokens (numbers, booleans, paths) the command line is identical.
    """
    base = spec.path.parent
    pipeline_values: dict[str, str] = {}
    for name, decl in spec.inputs.items():
        supplied = parameters.get(name)
        value = supplied if supplied is not None else decl.default
        if decl.data_type is not None and value is not None:
            pipeline_values[name] = resolve_path(str(value), base)
        elif value is not None:
            pipeline_values[name] = render_value(value)
    pipeline_outputs: dict[str, str] = {}
    for name, data_type in spec.outputs.items():
        folder = run_folder / "outputs" / name
        pipeline_outputs[name] = str(folder / name) if data_type == "uri_file" else str(folder)

    output_paths: dict[tuple[str, str], str] = {}
    steps: list[dict[str, Any]] = []
    for step in spec.steps:
        out_values: dict[str, str] = {}
        for name, out in step.outputs.items():
            if out.parent_output is not None:
                out_values[name] = pipeline_outputs[out.parent_output]
            else:
                folder = run_folder / "steps" / step.name / "outputs" / name
                out_values[name] = str(folder / name) if out.data_type == "uri_file" else str(folder)
            output_paths[(step.name, name)] = out_values[name]
        in_values: dict[str, str | None] = {}
        for name, inp in step.inputs.items():
            if inp.source == "parent_input":
                in_values[name] = pipeline_values.get(str(inp.value))
            elif inp.source == "step_output":
                in_values[name] = output_paths[(str(inp.step), str(inp.output))]
            else:
                in_values[name] = render_value(inp.value)
        steps.append(
            {
                "name": step.name,
                "command": render_command(step.command, in_values, out_values),
                "cwd": str(step.cwd),
                "env": step.environment_variables,
                "depends_on": list(step.depends_on),
                "outputs": out_values,
                # Output folders to create before the step starts, as the service mounts them.
                "folders": sorted(
                    {
                        p if step.outputs[n].data_type != "uri_file" else str(Path(p).parent)
                        for n, p in out_values.items()
                    }
                ),
            }
        )
    return {"steps": steps, "outputs": pipeline_outputs}


def render_command(command: str, inputs: dict[str, str | None], outputs: dict[str, str]) -> str:
    """Substitute ``${{inputs.X}}``, ``${{outputs.X}}``; keep a ``$[[...]]`` block only if all it names has a value."""

    def substitute(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            source = inputs if match["kind"] == "inputs" else outputs
            value = source.get(match["name"])
            return shlex.quote(value if value is not None else "")

        return _COMMAND_REF.sub(one, text)

    def optional(match: re.Match[str]) -> str:
        body = match["body"]
        for ref in _COMMAND_REF.finditer(body):
            source: dict[str, Any] = inputs if ref["kind"] == "inputs" else outputs
            if source.get(ref["name"]) is None:
                return ""
        return substitute(body)

    return substitute(_OPTIONAL_BLOCK.sub(optional, command))
