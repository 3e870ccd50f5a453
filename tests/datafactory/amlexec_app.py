"""amlexec's side of the example tests: the Function App's real functions behind a stand-in Functions host.

Everything that answers here is amlexec's own code, called the way the Functions host calls it
(``tests/flow/harness.py``: the real trigger functions, a fake Azure ML workspace behind the real azure-ai-ml
client, an in-memory Service Bus, a manual clock). What this file adds is only what the host and Azure would do
around it: route a URL to its function, refuse a missing function key (function-level authorisation), and accept
a message on the Service Bus REST endpoint.

``local=True`` sends every launch to the local runner instead (``examples/pipelines/loan_scoring.yml``, real
processes): amlexec reports a pipeline's ``outputs`` only for local runs, so that is where an expression reading
``outputs?.scores`` can be fed a real value.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fakes.workspace import seed_pipeline_component
from flow.harness import Flow, make_flow

from amlexec.bus.base import Destination
from amlexec.callbacks import CallbackUrlPolicy, MemoryCallbackSender
from amlexec.eventgrid_output import to_eventgrid
from amlexec.handlers import request_status

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APP_URL = "https://amlexec-app.azurewebsites.net"
FUNCTION_KEY = "function-key-" + "f" * 40
NAMESPACE = "amlexec-ns"
REQUEST_QUEUE = "amlexec-requests"
SERVICE_BUS_AUDIENCE = "https://servicebus.azure.net"
CALLBACK_URI = "https://westeurope.frontend.datafactory.azure.net/pipelines/callback?callbackId=cb-1&sig=c2VjcmV0"
# The component the examples' activity names (azureml:loan_scoring:1), declared as the local YAML declares it.
LOAN_SCORING_INPUTS = {
    "scoring_date": {"type": "string"},
    "threshold": {"type": "number"},
    "region": {"type": "string"},
    "dry_run": {"type": "boolean"},
    "batch_label": {"type": "string"},
}
LOCAL_SERVICE = {
    "name": "LocalPipelines",
    "properties": {"type": "AmlexecLocal", "typeProperties": {"pipelinesFolder": "pipelines"}},
}
# Routes as function_app.py declares them: (method, first path segment) -> function, route parameter, key needed.
_ROUTES = {
    ("POST", "runs"): ("runs_submit", None, True),
    ("GET", "runs"): ("runs_status", "run_id", True),
    ("GET", "requests"): ("requests_status", "request_id", True),
    ("GET", "progress"): ("progress", "token", False),
}


@dataclass(frozen=True)
class HttpAnswer:
    """What an HTTP call got back: status, headers, JSON body (None when empty)."""

    status: int
    headers: dict[str, str]
    body: Any


def _public_resolver(host: str, port: int) -> list[str]:
    return ["20.50.2.10"]  # Data Factory's callback host resolves to a public address


def _header(headers: dict[str, Any], name: str) -> Any:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


class App:
    """One Function App with its fake workspace, reached only through :meth:`http` and :meth:`service_bus_post`."""

    def __init__(self, flow: Flow, *, local: bool) -> None:
        self.flow = flow
        self.local = local
        self.answers: list[tuple[str, str, HttpAnswer]] = []  # every call: method, path, answer

    @classmethod
    def create(cls, monkeypatch: Any, tmp_path: Path, *, local: bool = False) -> App:
        flow = make_flow(monkeypatch, tmp_path, status_url_keys=(b"s" * 40,))
        seed_pipeline_component(flow.world.fake, name="loan_scoring", version="1", inputs=LOAN_SCORING_INPUTS)
        flow.world.registry.extend([LOCAL_SERVICE], source="examples", base_dir=EXAMPLES, env={})
        flow.worker.callback_policy = CallbackUrlPolicy(resolver=_public_resolver)
        flow.worker.callbacks = MemoryCallbackSender(flow.worker.callback_policy)
        return cls(flow, local=local)

    # ------------------------------------------------------------------------------------ ways in

    def http(self, method: str, url: str, headers: dict[str, Any], body: str | None) -> HttpAnswer:
        """One HTTP call to the app, as the Functions host would hand it to the function."""
        parts = urlsplit(url)
        expected = urlsplit(APP_URL)
        assert (parts.scheme, parts.netloc) == (expected.scheme, expected.netloc), f"not the function app: {url}"
        segments = parts.path.split("/")
        assert len(segments) >= 3 and segments[1] == "api", f"not an /api route: {url}"
        route = _ROUTES.get((method, segments[2]))
        if route is None:
            answer = HttpAnswer(404, {}, None)
        else:
            name, parameter, needs_key = route
            if needs_key and _header(headers, "x-functions-key") != FUNCTION_KEY:
                answer = HttpAnswer(401, {}, None)  # the host refuses before the function runs
            else:
                route_params = {parameter: "/".join(segments[3:])} if parameter else {}
                raw = self._rewrite(body).encode() if body is not None else b""
                response = self.flow.http(
                    name,
                    method,
                    url,
                    body=raw,
                    headers={k: str(v) for k, v in headers.items()},
                    route_params=route_params,
                )
                text = response.get_body()
                answer = HttpAnswer(response.status_code, dict(response.headers), json.loads(text) if text else None)
        self.answers.append((method, parts.path, answer))
        return answer

    def service_bus_post(self, url: str, headers: dict[str, Any], body: str, authentication: Any) -> HttpAnswer:
        """``POST https://<namespace>.servicebus.windows.net/<queue>/messages``: a message on the request queue."""
        parts = urlsplit(url)
        assert parts.netloc == f"{NAMESPACE}.servicebus.windows.net", f"not the namespace: {url}"
        assert parts.path == f"/{REQUEST_QUEUE}/messages", f"not the request queue: {url}"
        if authentication != {"type": "MSI", "resource": SERVICE_BUS_AUDIENCE}:
            return HttpAnswer(401, {}, None)
        broker = json.loads(_header(headers, "BrokerProperties") or "{}")
        assert isinstance(broker, dict)
        self.enqueue(body, message_id=str(broker["MessageId"]), correlation_id=broker.get("CorrelationId"))
        answer = HttpAnswer(201, {}, None)
        self.answers.append(("POST", parts.path, answer))
        return answer

    def enqueue(self, body: str, *, message_id: str, correlation_id: str | None = None) -> None:
        """A message on the request queue, handled at once by the ``requests`` function."""
        self.flow.deliver_request(self._rewrite(body).encode(), message_id=message_id, correlation_id=correlation_id)

    def _rewrite(self, body: str | None) -> str:
        """Local mode: the same envelope, its activity pointed at the local copy of the pipeline."""
        if not self.local or not body:
            return body or ""
        envelope = json.loads(body)
        activity = envelope["activity"]
        activity["linkedServiceName"]["referenceName"] = "LocalPipelines"
        activity["typeProperties"]["mlPipelineId"] = "loan_scoring"
        return json.dumps(envelope)

    # ------------------------------------------------------------------------------------ the runs

    def runs(self) -> list[str]:
        return list(self.flow.world.fake.jobs)

    def latest_run(self) -> str:
        runs = self.runs()
        assert runs, "nothing was launched"
        return runs[-1]

    def start(self) -> None:
        self.flow.world.fake.set_status(self.latest_run(), "Running")

    def finish(self, status: str, error: tuple[str, str] | None = None, **times: str) -> None:
        self.flow.world.fake.finish(self.latest_run(), status, error=error, **times)

    def next_attempt(self, attempt: int) -> None:
        """Deliver status checks (moving the clock) until amlexec has launched attempt ``attempt``."""
        self.run_checks_until(lambda: any(name.endswith(f"_{attempt}") for name in self.runs()))

    def run_checks_until(self, done: Callable[[], bool], limit: int = 100) -> None:
        for _ in range(limit):
            if done():
                return
            due = self.flow.bus.next_due(Destination.STATUS)
            assert due is not None, "no status check is scheduled"
            self.flow.world.clock.advance(max(0.0, (due - self.flow.world.clock.now()).total_seconds()))
            for message in self.flow.bus.due(Destination.STATUS):
                self.flow.deliver(Destination.STATUS, message)
        raise AssertionError("the awaited state never came")

    def ended(self, request_id: str) -> bool:
        """Whether every activity of a request has an outcome (what the progress URL reports)."""
        status = request_status(request_id, self.flow.worker)
        return bool(status.activities) and all(
            progress is None or progress.outcome is not None for _, progress in status.activities
        )

    def wait_until_ended(self, request_id: str, seconds: float = 120.0) -> None:
        """Local runs are real processes: wait (real time) until the request has ended."""
        deadline = time.monotonic() + seconds
        while not self.ended(request_id):
            assert time.monotonic() < deadline, f"request {request_id} did not end within {seconds:.0f} s"
            time.sleep(0.1)

    def settle(self) -> None:
        """Deliver every status check until the bus is idle: terminal events and callbacks go out."""
        self.flow.pump()

    # ------------------------------------------------------------------------------------ ways out

    def callbacks(self) -> list[dict[str, Any]]:
        sender = self.flow.worker.callbacks
        assert isinstance(sender, MemoryCallbackSender)
        return [delivery.body for delivery in sender.deliveries]

    def terminal_events(self) -> list[dict[str, Any]]:
        return self.flow.terminal_events()

    def grid_events(self) -> list[dict[str, Any]]:
        """The terminal events as the Event Grid forwarder publishes them to the custom topic."""
        return [to_eventgrid(event) for event in self.terminal_events()]
