"""The demo: a payload through the same handler code the Function App runs, executed on the local default.

Run with ``make demo``. The loan-scoring envelope is validated, its expressions resolved as for a Service
Bus delivery, the v2 pipeline YAML runs as local processes (prepare, then score), and the completion
event comes out. Outputs land under ``.amlexec/runs/<run name>/`` (``AMLEXEC_LOCAL_RUNS_DIR`` moves them).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("AMLEXEC_LINKED_SERVICES_FILE", str(HERE / "linked_services.json"))
os.environ.setdefault("AMLEXEC_LOCAL_RUNS_DIR", str(HERE.parent / ".amlexec" / "runs"))

from amlexec.errors import RequestRejected  # noqa: E402 - settings must be in the environment first
from amlexec.handlers import Worker, follow_run, handle_request  # noqa: E402
from amlexec.launch.base import RunStatus  # noqa: E402
from amlexec.resolve import RequestContext  # noqa: E402
from amlexec.settings import Settings  # noqa: E402


def run_demo(payload_file: Path, *, message_id: str, out: object = sys.stdout) -> dict[str, object]:
    """Send one payload through the handler path, wait for the run, return the completion event."""
    write = out.write  # type: ignore[attr-defined]
    settings = Settings.from_env()
    worker = Worker.create(settings)
    body = payload_file.read_bytes()
    # What the Service Bus trigger hands the core: the message id is the request's identity.
    context = RequestContext(request_id=message_id, received_at=datetime.now(UTC), trigger_type="ServiceBus",
                             trigger_name="amlexec-requests", data_factory=settings.data_factory_name)
    write(f"request {message_id}: {payload_file.name} ({len(body)} bytes)\n")
    launched = handle_request(body, context, worker)
    request, handle = launched.request, launched.handle
    write(f"resolved: {request.target.kind} '{request.target.model_dump().get('name')}', experiment "
          f"{request.experiment_name}, parameters {json.dumps(request.parameters)}\n")
    write(f"{'launched' if handle.created else 'already launched'} run {handle.run_id}\n")
    write(f"event: {launched.event.type} id={launched.event.id}\n")

    seen: dict[str, str] = {}

    def progress(status: RunStatus) -> None:
        for step in status.steps:
            if seen.get(step.name) != step.raw_status:
                seen[step.name] = step.raw_status
                write(f"  step {step.name:<8} {step.raw_status}\n")

    event = follow_run(launched, worker, poll_seconds=0.5, on_status=progress)
    write("completion event (application/cloudevents+json):\n")
    write(json.dumps(event.model_dump(mode="json", exclude_none=True), indent=2) + "\n")
    outputs = event.data.get("outputs") or {}
    for name, path in outputs.items():
        write(f"output {name}: {path}\n")
        summary = Path(path) / "summary.json"
        if summary.is_file():
            write(f"  {summary.read_text().strip()}\n")
    return event.model_dump(mode="json")


def main() -> int:
    payload = HERE / "payloads" / "loan_scoring.json"
    message_id = os.environ.get("AMLEXEC_DEMO_MESSAGE_ID") or f"demo-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    try:
        event = run_demo(payload, message_id=message_id)
    except RequestRejected as rejected:
        for issue in rejected.issues:
            print(f"rejected: {issue}")
        return 2
    return 0 if event["type"] == "com.amlexec.run.completed" else 1


if __name__ == "__main__":
    sys.exit(main())
