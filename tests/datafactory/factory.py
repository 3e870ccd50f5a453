"""A Data Factory for the example tests: Microsoft's testing framework decides, amlexec's real code answers.

:class:`Engine` is ``adf_worker.py`` running in the oracle interpreter (data-factory-testing-framework and its
.NET expression engine). :class:`DataFactory` runs an example pipeline there and, for each activity the framework
evaluates, does what the Data Factory service does with the *evaluated* properties, against :class:`App`:

- **WebActivity**: sends the request (URL, method, headers, body exactly as the engine evaluated them). With
  ``turnOffAsync`` false, a 202 is followed by GETs on its ``Location`` with no header at all, until an answer
  other than 202; 2xx succeeds with the JSON body as output, anything else fails the activity. A URL on the
  Service Bus namespace goes to the request queue (``BrokerProperties`` gives the message id).
- **WebHook**: POSTs the body with ``callBackUri`` added, then waits for amlexec's callback: with
  ``reportStatusOnCallBack`` a ``StatusCode`` of 400 or more fails the activity; ``Output`` is its output.
- **Wait**: time passes. **SetVariable**, **Fail**: the framework's own result.

"Time passes" (a Wait, a poll of ``Location``, waiting for a callback) calls the test's ``on_wait(n)``, which moves
the fake Azure ML runs along. These are the documented behaviours (reference.md §7); nothing undocumented (poll
interval, replayed headers) is relied on.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from datafactory.amlexec_app import CALLBACK_URI, App, HttpAnswer

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("adf_worker.py")
ANSWER_PREFIX = "@@adf "
EXAMPLES = ROOT / "examples" / "datafactory"
FACTORY = "adf-amlexec-demo"
TRIGGER_TIME = "2026-11-21T02:00:00.1234567Z"
MAX_POLLS = 50


def oracle_python() -> Path | None:
    """The oracle interpreter (``make oracle-env``), or ``AMLEXEC_ORACLE_PYTHON``."""
    configured = os.environ.get("AMLEXEC_ORACLE_PYTHON")
    candidate = Path(configured) if configured else ROOT / ".venv-oracle" / "bin" / "python"
    return candidate if candidate.exists() else None


class Engine:
    """The framework in its own process; :meth:`ask` sends one command and returns its answer."""

    def __init__(self, python: Path) -> None:
        env = dict(os.environ, TZ="UTC", LANG="en_US.UTF-8", LC_ALL="en_US.UTF-8")
        env.pop("PYTHONPATH", None)
        self._proc = subprocess.Popen(
            [str(python), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        while True:
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError("the Data Factory engine process ended")
            if line.startswith(ANSWER_PREFIX):  # the .NET runtime prints banners on stdout
                answer: dict[str, Any] = json.loads(line[len(ANSWER_PREFIX) :])
                return answer

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)


@dataclass
class Step:
    """One activity as the framework evaluated it, and the result it was given."""

    name: str
    type: str
    properties: dict[str, Any]
    fallbacks: list[str]
    status: str | None = None
    output: Any = None


@dataclass
class PipelineRun:
    """What happened: every activity in order and how the run ended (``done``, ``stuck`` or ``error``)."""

    pipeline: str
    run_id: str
    steps: list[Step] = field(default_factory=list)
    end: str = ""
    error: dict[str, Any] | None = None

    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def step(self, name: str) -> Step:
        """The last evaluation of the activity ``name`` (an Until evaluates its activities once per iteration)."""
        found = [s for s in self.steps if s.name == name]
        assert found, f"{name!r} never ran; ran: {self.names()}"
        return found[-1]

    def variables(self) -> dict[str, Any]:
        """Every variable a Set Variable activity set, with its last value."""
        return {s.properties["variableName"]: s.properties["value"] for s in self.steps if s.type == "SetVariable"}

    def failure(self) -> Step | None:
        """The Fail activity the run ended with, if any."""
        return next((s for s in self.steps if s.type == "Fail"), None)


@dataclass(frozen=True)
class TriggerRun:
    """A custom event trigger that fired: which pipeline it starts, with which parameters."""

    pipeline: str
    parameters: dict[str, Any]


class DataFactory:
    """Runs the example pipelines with :class:`Engine` deciding and :class:`App` answering."""

    def __init__(self, engine: Engine, app: App, examples: Path = EXAMPLES) -> None:
        self.engine = engine
        self.app = app
        self.examples = examples
        self.waits = 0
        self._on_wait: Callable[[int], None] = lambda _n: None

    def run(
        self,
        pipeline: str,
        parameters: dict[str, Any],
        *,
        run_id: str,
        on_wait: Callable[[int], None] | None = None,
        trigger: tuple[str, str] = ("Sandbox", "Manual"),
    ) -> PipelineRun:
        self._on_wait = on_wait or (lambda _n: None)
        self.waits = 0
        system = {
            "RunId": run_id,
            "Pipeline": pipeline,
            "DataFactory": FACTORY,
            "TriggerTime": TRIGGER_TIME,
            "TriggerName": trigger[0],
            "TriggerType": trigger[1],
        }
        record = PipelineRun(pipeline, run_id)
        answer = self.engine.ask(
            {
                "op": "start",
                "root": str(self.examples),
                "pipeline": pipeline,
                "parameters": parameters,
                "system": system,
            }
        )
        while answer["event"] == "activity":
            step = Step(answer["name"], answer["type"], answer["typeProperties"], answer["fallbacks"])
            step.status, step.output = self._execute(step)
            record.steps.append(step)
            answer = self.engine.ask({"op": "result", "status": step.status, "output": step.output})
        record.end = answer["event"]
        if answer["event"] == "error":
            record.error = answer
        return record

    def fire(self, trigger: dict[str, Any], event: dict[str, Any]) -> TriggerRun | None:
        """A custom event trigger meeting an Event Grid event: None when its filters leave the event out.

        Filters as documented: ``events`` (any, case-insensitive), ``subjectBeginsWith``/``subjectEndsWith``.
        Each pipeline parameter is evaluated by the engine with ``triggerBody().event`` = the event as Event Grid
        delivers it; an expression that cannot be evaluated (a missing ``data`` key) fails the trigger run.
        """
        properties = trigger["properties"]
        filters = properties["typeProperties"]
        if event["eventType"].lower() not in {e.lower() for e in filters["events"]}:
            return None
        subject = event["subject"]
        if not (
            subject.startswith(filters.get("subjectBeginsWith") or "")
            and subject.endswith(filters.get("subjectEndsWith") or "")
        ):
            return None
        delivered = {**event, "topic": filters["scope"], "metadataVersion": "1"}
        (target,) = properties["pipelines"]
        values = {}
        for name, expression in target["parameters"].items():
            answer = self.engine.ask({"op": "eval", "expression": expression, "trigger_body": {"event": delivered}})
            if not answer["ok"]:
                raise AssertionError(f"the trigger run fails: {name} = {expression}: {answer['message']}")
            values[name] = answer["result"]
        return TriggerRun(target["pipelineReference"]["referenceName"], values)

    # ------------------------------------------------------------------------------------ activities

    def _wait(self) -> None:
        self.waits += 1
        self._on_wait(self.waits)

    def _execute(self, step: Step) -> tuple[str | None, Any]:
        if step.type == "WebActivity":
            return self._web(step.properties)
        if step.type == "WebHook":
            return self._webhook(step.properties)
        if step.type == "Wait":
            self._wait()
            return "Succeeded", {}
        return None, None  # SetVariable, Fail: what the framework decides

    def _web(self, properties: dict[str, Any]) -> tuple[str, Any]:
        url, method = properties["url"], properties["method"]
        headers: dict[str, Any] = properties.get("headers") or {}
        body = properties.get("body")
        if urlsplit(url).netloc.endswith(".servicebus.windows.net"):
            assert isinstance(body, str), "a message needs a body"
            answer = self.app.service_bus_post(url, headers, body, properties.get("authentication"))
        else:
            answer = self.app.http(method, url, headers, body)
            if not properties.get("turnOffAsync", False):
                answer = self._follow(answer)
        return self._outcome(answer)

    def _follow(self, answer: HttpAnswer) -> HttpAnswer:
        """Asynchronous request-reply: GET the 202's Location, with no header, until something else comes."""
        for _ in range(MAX_POLLS):
            if answer.status != 202:
                return answer
            location = answer.headers.get("Location")
            assert location, "a 202 without Location: Data Factory would take it as the final answer"
            self._wait()
            answer = self.app.http("GET", location, {}, None)
        raise AssertionError(f"still 202 after {MAX_POLLS} polls")

    @staticmethod
    def _outcome(answer: HttpAnswer) -> tuple[str, Any]:
        if 200 <= answer.status < 300:
            assert answer.body is None or isinstance(answer.body, dict), "the output must be a JSON object"
            return "Succeeded", answer.body if answer.body is not None else {}
        return "Failed", None

    def _webhook(self, properties: dict[str, Any]) -> tuple[str, Any]:
        assert properties.get("reportStatusOnCallBack") is True, "without it a failed run would look like success"
        body = json.loads(properties["body"])
        assert isinstance(body, dict)
        body["callBackUri"] = CALLBACK_URI
        first = self.app.http(
            properties["method"], properties["url"], properties.get("headers") or {}, json.dumps(body)
        )
        if first.status >= 400:
            return "Failed", None
        for _ in range(MAX_POLLS):
            callbacks = self.app.callbacks()
            if callbacks:
                callback = callbacks[-1]
                failed = int(callback["StatusCode"]) >= 400
                return ("Failed" if failed else "Succeeded"), callback.get("Output")
            self._wait()
        return "Failed", None  # the WebHook's timeout: TimedOut
