"""Validation + resolution throughput for a realistic payload with five expressions (target: >= 5,000/s).

Run with ``make bench`` (or ``python bench/bench_validation.py``). Single thread, one core.
"""

from __future__ import annotations

import json
import platform
import time
from datetime import UTC, datetime

from amlexec.linked_services import LinkedServiceRegistry
from amlexec.resolve import RequestContext, resolve
from amlexec.validation import validate_payload

TARGET_PER_SECOND = 5_000

PAYLOAD = json.dumps({
    "correlationId": "bench",
    "pipeline": {"name": "NightlyScoring", "parameters": {"region": "emea", "threshold": 0.35, "day": "2026-11-20"}},
    "activity": {
        "name": "Score loan applications",
        "type": "AzureMLExecutePipeline",
        "dependsOn": [],
        "policy": {"timeout": "0.12:00:00", "retry": 0, "retryIntervalInSeconds": 30,
                   "secureOutput": False, "secureInput": False},
        "userProperties": [],
        "typeProperties": {
            "mlExecutionType": "pipeline",
            "mlPipelineId": "0a77f445-258e-4349-9895-e555060b32d8",
            "experimentName": {"value": "@concat('scoring-', pipeline().parameters.region)", "type": "Expression"},
            "mlPipelineParameters": {
                "run_id": {"value": "@pipeline().RunId", "type": "Expression"},
                "scoring_date": {"value": "@formatDateTime(pipeline().parameters.day, 'yyyy-MM-dd')",
                                 "type": "Expression"},
                "threshold": {"value": "@pipeline().parameters.threshold", "type": "Expression"},
                "region": {"value": "@toUpper(pipeline().parameters.region)", "type": "Expression"},
                "model": "loan-default",
                "batch_size": 500,
            },
        },
        "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
    },
}).encode()

REGISTRY = LinkedServiceRegistry.from_json(json.dumps([{"name": "AzureMLService", "properties": {
    "type": "AzureMLService", "typeProperties": {"subscriptionId": "s", "resourceGroupName": "r",
                                                 "mlWorkspaceName": "w", "authentication": "MSI"}}}]), env={})


def one(index: int) -> None:
    context = RequestContext(request_id=f"msg-{index}", received_at=datetime(2026, 11, 21, tzinfo=UTC))
    resolve(validate_payload(PAYLOAD), context, REGISTRY)


def measure(seconds: float = 3.0) -> float:
    for i in range(200):  # warm the parse cache and the interpreter
        one(i)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            one(count)
            count += 1
    return count / elapsed


def main() -> None:
    rate = measure()
    verdict = "meets" if rate >= TARGET_PER_SECOND else "MISSES"
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"validate + resolve (5 expressions, {len(PAYLOAD)} bytes): {rate:,.0f} payloads/s "
          f"on one core; target >= {TARGET_PER_SECOND:,}/s: {verdict}")


if __name__ == "__main__":
    main()
