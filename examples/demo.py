"""The demo: a payload through the same handlers the Function App runs, on the local default (no Azure).

Run with ``make demo``. The loan-scoring envelope goes onto the (in-memory) request queue; the request
handler validates it, resolves its expressions as for a Service Bus delivery and launches the v2 pipeline
YAML as local processes; scheduled status checks track the run; the completion event comes out on the
(in-memory) events topic. Outputs land under ``.amlexec/runs/<run name>/`` (``AMLEXEC_LOCAL_RUNS_DIR``).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

HERE = Path(__file__).resolve().parent
os.environ.setdefault("AMLEXEC_LINKED_SERVICES_FILE", str(HERE / "linked_services.json"))
os.environ.setdefault("AMLEXEC_LOCAL_RUNS_DIR", str(HERE.parent / ".amlexec" / "runs"))
# Locally, look at the run every second rather than Azure's 15 s first interval.
os.environ.setdefault("AMLEXEC_POLL_INITIAL_SECONDS", "1")
os.environ.setdefault("AMLEXEC_POLL_MAX_SECONDS", "2")
os.environ["AMLEXEC_BUS"] = "memory"

from amlexec.handlers import Worker  # noqa: E402 - settings must be in the environment first
from amlexec.inprocess import InProcessHost  # noqa: E402
from amlexec.settings import Settings  # noqa: E402


def run_demo(payload_file: Path, *, message_id: str, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Send one payload through the request queue, run until the bus is idle, return the terminal event."""
    body = payload_file.read_bytes()
    worker = Worker.create(Settings.from_env())

    def show(event: dict[str, Any]) -> None:
        data = event["data"]
        if event["type"].endswith(".started"):
            target = data["target"]
            out.write(
                f"started  {data['runId']} ({target['kind']} {target.get('name')}, attempt {data['attempt']},"
                f" experiment {data['experimentName']})\n"
            )
            out.write(f"         parameters {json.dumps(data.get('parameters'))}\n")
            return
        for step in data.get("steps", []):
            out.write(f"  step {step['name']:<8} {step['serviceStatus']}\n")
        out.write(f"{event['type']} ({data.get('durationSeconds', '?')} s), CloudEvents JSON:\n")
        out.write(json.dumps(event, indent=2) + "\n")

    host = InProcessHost(worker, on_event=show)
    out.write(f"request {message_id}: {payload_file.name} ({len(body)} bytes) onto the request queue\n")
    host.send(body, message_id=message_id)
    events = host.run_until_idle()
    terminal = [e for e in events if not e["type"].endswith(".started")]
    if not terminal:
        raise RuntimeError("the run published no terminal event")
    final = terminal[-1]
    for name, path in (final["data"].get("outputs") or {}).items():
        out.write(f"output {name}: {path}\n")
        summary = Path(path) / "summary.json"
        if summary.is_file():
            out.write(f"  summary.json: {json.dumps(json.loads(summary.read_text()))}\n")
    return final


def main() -> int:
    payload = HERE / "payloads" / "loan_scoring.json"
    message_id = os.environ.get("AMLEXEC_DEMO_MESSAGE_ID") or f"demo-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    event = run_demo(payload, message_id=message_id)
    return 0 if event["type"] == "com.amlexec.run.completed" else 1


if __name__ == "__main__":
    sys.exit(main())
