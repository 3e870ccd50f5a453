"""The demo: an example payload through the same handler code the Function App runs, on the local default.

Run with ``make demo``. It validates the loan-scoring envelope, resolves every expression against a
simulated Service Bus delivery, and prints the launch request amlexec would submit.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("AMLEXEC_LINKED_SERVICES_FILE", str(HERE / "linked_services.json"))

from amlexec.errors import RequestRejected  # noqa: E402 - settings must be in the environment first
from amlexec.handlers import linked_services_for, validate_request  # noqa: E402
from amlexec.resolve import RequestContext, resolve  # noqa: E402
from amlexec.settings import get_settings  # noqa: E402
from amlexec.validation import validate_payload  # noqa: E402


def main() -> int:
    payload_file = HERE / "payloads" / "loan_scoring.json"
    body = payload_file.read_bytes()
    settings = get_settings()
    print(f"payload: {payload_file.relative_to(HERE.parent)} ({len(body)} bytes)")

    report = validate_request(body, settings)
    print(f"valid: {len(report.warnings)} warning(s), {len(report.deferred)} value(s) left for run time")

    # What the Service Bus trigger does with a delivered message: the message id is the request identity.
    context = RequestContext(request_id="demo-message-0001", received_at=datetime(2026, 11, 21, 2, 0, 5, tzinfo=UTC),
                             trigger_type="ServiceBus", trigger_name="amlexec-requests",
                             data_factory=settings.data_factory_name)
    request = resolve(validate_payload(body, limits=settings.limits), context, linked_services_for(settings))
    print("resolved launch request:")
    print(json.dumps(request.public_view(), indent=2))

    broken = json.loads(body)
    props = broken["activity"]["typeProperties"]
    props["mlPipelineParameters"]["threshold"] = {"value": "@div(1,", "type": "Expression"}
    props["experimentName"] = 42
    props["mlPipelineEndpointId"] = "b91ecfe6-f614-4c1a-a7f8-7df5aa9e41ad"
    try:
        resolve(validate_payload(json.dumps(broken)), context, linked_services_for(settings))
    except RequestRejected as rejected:
        print("a broken copy is rejected with every reason:")
        for issue in rejected.issues:
            print(f"  - {issue}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
