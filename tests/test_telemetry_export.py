"""No span and no log record is exported twice: checked in a fresh process that sets up telemetry the way
the Functions Python worker does.

With ``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`` the worker calls
``configure_azure_monitor(connection_string=..., logger_name="")`` before it imports ``function_app.py``
(azure-functions-python-worker, ``initialize_azure_monitor``). The child process below makes the same call,
and every OpenTelemetry provider in it also sends to one in-memory backend. It then imports the app, reloads
it as a worker re-import would, calls ``amlexec.telemetry.configure`` several times, sends one request end to
end through the trigger functions and counts what was exported. A second phase adds what amlexec used to do
(a ``configure_azure_monitor`` of its own, on the ``amlexec`` logger): every amlexec record then goes out
twice. That phase shows why amlexec leaves export to the worker, and that the count does catch a duplicate.

It runs in a child process because OpenTelemetry's providers can be set only once per process, and
instrumenting libraries is global.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("requestId", "runId", "correlationId", "activityName", "attempt")


def _send_request(message_id: str, tmp: Path) -> None:
    """One request through the trigger functions: launched, checked twice, completed."""
    import pytest
    from flow.harness import activity, make_flow

    monkeypatch = pytest.MonkeyPatch()
    try:
        flow = make_flow(monkeypatch, tmp / message_id)
        flow.deliver_request(activity(), message_id=message_id, correlation_id=f"corr-{message_id}")

        def finish(step: int) -> None:
            if step == 1:
                flow.world.fake.finish(flow.job()["name"], "Completed")

        flow.pump(on_check=finish)
    finally:
        monkeypatch.undo()


def _count(message_id: str, exported_logs: list[Any], exported_spans: list[Any], made: list[Any]) -> dict[str, Any]:
    """What was exported for one request, against the log records its code made."""
    from azure.monitor.opentelemetry.exporter.export.logs._exporter import _convert_log_to_envelope

    ours = [e for e in exported_logs if dict(e.log_record.attributes or {}).get("requestId") == message_id]
    copies = Counter((e.instrumentation_scope.name, e.log_record.body, e.log_record.timestamp) for e in ours)
    made_here = [r for r in made if getattr(r, "requestId", None) == message_id]
    launch = next(
        e
        for e in ours
        if "launched" in str(e.log_record.body) and "amlexec.handlers" in str(e.instrumentation_scope.name)
    )
    dimensions = _convert_log_to_envelope(launch).data.base_data.properties  # type: ignore[union-attr]
    spans = [s for s in exported_spans if (s.attributes or {}).get("amlexec.request_id") == message_id]
    return {
        "records_made": len(made_here),
        "records_exported": len(ours),
        "most_copies_of_a_record": max(copies.values()),
        "amlexec_records_exported_twice": sorted(
            str(body) for (scope, body, _), n in copies.items() if n > 1 and str(scope).startswith("amlexec")
        ),
        "custom_dimensions": {k: dimensions.get(k) for k in FIELDS},
        "span_names": sorted(s.name for s in spans),
        "span_ids_unique": len({s.context.span_id for s in exported_spans}) == len(exported_spans),
    }


def worker_process(tmp: Path) -> dict[str, Any]:
    """Runs in the child: the worker's set-up, the app, one request per phase; returns the counts."""
    import importlib
    import logging

    from azure.monitor.opentelemetry import configure_azure_monitor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    # Every provider any set-up makes in this process also sends to one in-memory backend, as every Azure
    # Monitor exporter sends to the same Application Insights.
    logs = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    spans = InMemorySpanExporter()
    make_logger_provider, make_tracer_provider = LoggerProvider.__init__, TracerProvider.__init__

    def logger_provider(self: LoggerProvider, *args: Any, **kwargs: Any) -> None:
        make_logger_provider(self, *args, **kwargs)
        self.add_log_record_processor(SimpleLogRecordProcessor(logs))

    def tracer_provider(self: TracerProvider, *args: Any, **kwargs: Any) -> None:
        make_tracer_provider(self, *args, **kwargs)
        self.add_span_processor(SimpleSpanProcessor(spans))

    LoggerProvider.__init__ = logger_provider  # type: ignore[method-assign]
    TracerProvider.__init__ = tracer_provider  # type: ignore[method-assign]
    connection = os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    offline = {"enable_live_metrics": False, "disable_offline_storage": True}  # nothing leaves the machine
    configure_azure_monitor(connection_string=connection, logger_name="", **offline)  # the worker's own call
    logging.getLogger().setLevel(logging.INFO)  # the worker's root logger passes INFO

    made: list[logging.LogRecord] = []

    class Made(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            made.append(record)

    logging.getLogger().addHandler(Made())

    import function_app
    from amlexec import telemetry, triggers

    telemetry.configure()
    importlib.reload(triggers)  # the worker importing the app again
    importlib.reload(function_app)
    importlib.reload(telemetry)
    telemetry.configure()
    telemetry.configure()

    _send_request("msg-once", tmp)
    once = _count("msg-once", list(logs.get_finished_logs()), list(spans.get_finished_spans()), made)

    # What amlexec.telemetry did before: a configure_azure_monitor of its own, on the "amlexec" logger.
    configure_azure_monitor(connection_string=connection, logger_name="amlexec", **offline)
    _send_request("msg-twice", tmp)
    twice = _count("msg-twice", list(logs.get_finished_logs()), list(spans.get_finished_spans()), made)
    return {"once": once, "twice": twice}


def test_each_span_and_log_record_is_exported_once_under_the_workers_set_up(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true",
        # A connection string whose endpoints refuse at once: nothing may reach a real Application Insights.
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/"
        ),
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
        "OTEL_TRACES_SAMPLER": "always_on",  # count every span (the distro's default samples by rate)
        "AMLEXEC_EXPRESSIONS_STRICT": "1",
    }
    env.pop("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", None)
    out = tmp_path / "counts.json"
    subprocess.run([sys.executable, __file__, str(tmp_path), str(out)], cwd=ROOT, env=env, check=True, timeout=300)
    counts = json.loads(out.read_text())
    once, twice = counts["once"], counts["twice"]

    assert once["records_made"] >= 4
    assert once["records_exported"] == once["records_made"], "every record of the request, exported"
    assert once["most_copies_of_a_record"] == 1, "and exported once"
    assert once["span_ids_unique"] and once["span_names"] == ["amlexec.check", "amlexec.check", "amlexec.request"]
    run = once["custom_dimensions"]["runId"]
    assert run and once["custom_dimensions"] == {
        "requestId": "msg-once",
        "runId": run,
        "correlationId": "corr-msg-once",
        "activityName": "Score",
        "attempt": "1",  # Application Insights properties are strings
    }

    # A second Azure Monitor set-up on the "amlexec" logger (the old amlexec.telemetry): every amlexec record
    # is exported twice, while spans stay single (the second tracer provider is refused).
    assert twice["amlexec_records_exported_twice"], "the check above would have caught a duplicate"
    assert twice["most_copies_of_a_record"] == 2
    assert twice["span_ids_unique"]


if __name__ == "__main__":
    result = worker_process(Path(sys.argv[1]))
    Path(sys.argv[2]).write_text(json.dumps(result))
