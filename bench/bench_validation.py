"""Validation + resolution throughput for a realistic payload with five expressions (target: >= 5,000/s).

Run with ``make bench`` (or ``python bench/bench_validation.py``). Single thread, one core. Reference, in
the same alternating rounds: ``json.loads`` of the same payload, the floor any implementation pays; the
ratio to it travels between machines better than the rate does.
"""

from __future__ import annotations

import json
import os
import statistics
from datetime import UTC, datetime

from measure import interleave, machine, rates, ratios, spread

from amlexec.linked_services import LinkedServiceRegistry
from amlexec.request import RequestContext
from amlexec.resolve import resolve
from amlexec.validation import validate_payload

TARGET_PER_SECOND = 5_000

PAYLOAD = json.dumps(
    {
        "correlationId": "bench",
        "pipeline": {
            "name": "NightlyScoring",
            "parameters": {"region": "emea", "threshold": 0.35, "day": "2026-11-20"},
        },
        "activity": {
            "name": "Score loan applications",
            "type": "AzureMLExecutePipeline",
            "dependsOn": [],
            "policy": {
                "timeout": "0.12:00:00",
                "retry": 0,
                "retryIntervalInSeconds": 30,
                "secureOutput": False,
                "secureInput": False,
            },
            "userProperties": [],
            "typeProperties": {
                "mlExecutionType": "pipeline",
                "mlPipelineId": "0a77f445-258e-4349-9895-e555060b32d8",
                "experimentName": {"value": "@concat('scoring-', pipeline().parameters.region)", "type": "Expression"},
                "mlPipelineParameters": {
                    "run_id": {"value": "@pipeline().RunId", "type": "Expression"},
                    "scoring_date": {
                        "value": "@formatDateTime(pipeline().parameters.day, 'yyyy-MM-dd')",
                        "type": "Expression",
                    },
                    "threshold": {"value": "@pipeline().parameters.threshold", "type": "Expression"},
                    "region": {"value": "@toUpper(pipeline().parameters.region)", "type": "Expression"},
                    "model": "loan-default",
                    "batch_size": 500,
                },
            },
            "linkedServiceName": {"referenceName": "AzureMLService", "type": "LinkedServiceReference"},
        },
    }
).encode()

REGISTRY = LinkedServiceRegistry.from_json(
    json.dumps(
        [
            {
                "name": "AzureMLService",
                "properties": {
                    "type": "AzureMLService",
                    "typeProperties": {
                        "subscriptionId": "s",
                        "resourceGroupName": "r",
                        "mlWorkspaceName": "w",
                        "authentication": "MSI",
                    },
                },
            }
        ]
    ),
    env={},
)


def one(index: int) -> None:
    context = RequestContext(request_id=f"msg-{index}", received_at=datetime(2026, 11, 21, tzinfo=UTC))
    resolve(validate_payload(PAYLOAD), context, REGISTRY)


def main() -> None:
    rounds = int(os.environ.get("BENCH_VALIDATION_ROUNDS", "40"))
    print(machine())
    for i in range(200):  # warm the parse cache and the interpreter
        one(i)
    timings = interleave(
        {"validate": one, "json": lambda _: json.loads(PAYLOAD)}, rounds=rounds, calls={"validate": 200, "json": 4000}
    )
    ours, floor = timings["validate"], timings["json"]
    cpu_rate = 1 / statistics.median(ours.cpu)
    verdict = "meets" if cpu_rate >= TARGET_PER_SECOND else "MISSES"
    print(
        f"validate + resolve (5 expressions, {len(PAYLOAD)} bytes), {rounds} rounds of 200 (median, IQR over "
        f"rounds): {rates(ours.cpu)} payloads per CPU-second on one core, {rates(ours.wall)} per wall-second; "
        f"target >= {TARGET_PER_SECOND:,}/s: {verdict}"
    )
    print(
        f"  reference, json.loads of the same payload in the same rounds: {rates(floor.cpu)} per CPU-second; "
        f"validate + resolve costs {spread(ratios(ours.cpu, floor.cpu), digits=0)}x a json.loads (CPU)"
    )


if __name__ == "__main__":
    main()
