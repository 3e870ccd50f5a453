"""Record Data Factory's own answers for triggerBody(), triggerOutputs() and trigger().outputs.

Run from the repository root with the oracle environment present:

    .venv/bin/python tests/oracle/record_trigger_cases.py

The engine behind Microsoft's data-factory-testing-framework evaluates these three over the object it is
given as the run's context: ``triggerBody()`` is that object, ``triggerOutputs()`` and ``trigger().outputs``
are ``{"body": <it>}``. amlexec receives the same object as ``trigger.outputs.body`` (a storage event's
``folderPath``/``fileName``, a custom event's ``event``), so each case runs in amlexec with the context
``{"trigger": {"outputs": {"body": BODY}}}``. Writes ``tests/expressions/cases/triggers.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from recording import record  # noqa: E402

ROOT = HERE.parents[1]
OUTPUT = ROOT / "tests" / "expressions" / "cases" / "triggers.json"

# A storage event's body and a custom event's body in one object, so one context serves every case.
BODY: dict[str, Any] = {
    "folderPath": "landing/applications/2026/11",
    "fileName": "day 21.csv",
    "event": {
        "id": "0be62eb2-5820-5342-8bb8-60aec9fafb39",
        "eventType": "Amlexec.Run.Completed",
        "subject": "/activities/Prepare/experiments/prep/requests/r-1/completed",
        "eventTime": "2026-11-21T02:07:36.081224Z",
        "data": {"runId": "prep_run_1", "attempt": 2, "durationSeconds": 450.377, "outputs": None, "ok": True},
    },
}

EXPRESSIONS = [
    "@triggerBody()",
    "@triggerOutputs()",
    "@trigger().outputs",
    "@triggerBody().fileName",
    "@triggerBody().folderPath",
    "@trigger().outputs.body.fileName",
    "@triggerOutputs().body.folderPath",
    "@concat(triggerBody().folderPath, '/', triggerBody().fileName)",
    "@{triggerBody().folderPath}/@{triggerBody().fileName}",
    "@split(triggerBody().folderPath, '/')[0]",
    "@last(split(triggerBody().folderPath, '/'))",
    "@replace(triggerBody().fileName, '.csv', '')",
    "@endsWith(triggerBody().fileName, '.csv')",
    "@triggerBody().event.eventType",
    "@triggerBody().event.subject",
    "@triggerBody().event.data.runId",
    "@triggerBody().event.data.attempt",
    "@triggerBody().event.data.durationSeconds",
    "@triggerBody().event.data.outputs",
    "@triggerBody().event.data.ok",
    "@triggerBody().event.data",
    "@triggerBody()?.event?.data?.missing",
    "@triggerBody().event.data.missing",
    "@triggerBody().missing",
    "@triggerBody()['fileName']",
    "@triggerBody().event['data']['runId']",
    "@coalesce(triggerBody().event.data.outputs, 'none')",
    "@string(triggerBody().event.data.attempt)",
    "@add(triggerBody().event.data.attempt, 1)",
    "@toUpper(triggerBody().event.data.runId)",
]


def main() -> None:
    count = record(EXPRESSIONS, OUTPUT, pipeline=BODY, context={"trigger": {"outputs": {"body": BODY}}})
    print(f"recorded {count} trigger expressions")


if __name__ == "__main__":
    main()
