"""Validation + resolution throughput for a realistic payload with five expressions (target: >= 10,000/s).

Run with ``make bench`` (or ``python bench/bench_validation.py``). Single thread, one core. Two references
run in the same alternating rounds: the previous version of amlexec (``BASELINE_COMMIT``, taken from git
into a temporary folder), so the figure says what the current code changed on this machine and under the
same noise; and ``json.loads`` of the same payload, the floor any implementation pays, whose ratio travels
between machines better than the rate does.

Each version runs in a worker process of its own (this script with ``--worker``; ``PYTHONPATH`` names which
``amlexec`` it imports), and reports the wall and CPU time of every batch it is asked for: the parent only
says which batch runs next, so the two versions meet the same noise, round after round.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from measure import Timings, machine, rates, ratios, spread

TARGET_PER_SECOND = 10_000
# The last commit before issue 15 took the big costs out of validation and resolution: the "previous" figure.
BASELINE_COMMIT = "a525c3ee85b7be2644ae502b9236b65c6ab21533"
REPO = Path(__file__).resolve().parent.parent

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

LINKED_SERVICES = json.dumps(
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
)

VALIDATE_CALLS = 200
JSON_CALLS = 4000


def validate_and_resolve() -> Callable[[int], object]:
    """One payload through validate + resolve, with whichever ``amlexec`` this process imports."""
    from amlexec.linked_services import LinkedServiceRegistry
    from amlexec.request import RequestContext
    from amlexec.resolve import resolve
    from amlexec.validation import validate_payload

    registry = LinkedServiceRegistry.from_json(LINKED_SERVICES, env={})
    received = datetime(2026, 11, 21, tzinfo=UTC)

    def one(index: int) -> object:
        context = RequestContext(request_id=f"msg-{index}", received_at=received)
        return resolve(validate_payload(PAYLOAD), context, registry)

    return one


def worker() -> None:
    """Answer ``<contender> <calls>`` lines from stdin with ``<wall> <cpu>`` seconds per call."""
    import amlexec

    contenders: dict[str, Callable[[int], object]] = {
        "validate": validate_and_resolve(),
        "json": lambda _index: json.loads(PAYLOAD),
    }
    for index in range(200):  # warm the parse cache and the interpreter
        contenders["validate"](index)
    print(Path(amlexec.__file__).resolve().parent.parent, flush=True)
    index = 0
    for line in sys.stdin:
        name, count_text = line.split()
        function, count = contenders[name], int(count_text)
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            function(index)
            index += 1
        print(f"{(time.perf_counter() - wall) / count} {(time.process_time() - cpu) / count}", flush=True)


class Worker:
    """A worker process importing amlexec from ``source``."""

    def __init__(self, source: Path) -> None:
        path = os.pathsep.join(p for p in (str(source), os.environ.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": path},
        )
        imported = self._read().strip()
        if Path(imported) != source.resolve():
            self.close()
            raise RuntimeError(f"the worker for {source} imported amlexec from {imported}")

    def _read(self) -> str:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"a bench worker exited (status {self.process.wait()})")
        return line

    def run(self, name: str, calls: int) -> tuple[float, float]:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(f"{name} {calls}\n")
        stdin.flush()
        wall, cpu = self._read().split()
        return float(wall), float(cpu)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def previous_source(folder: Path) -> str | None:
    """Put ``BASELINE_COMMIT``'s amlexec package in ``folder``; None when done, else why it could not be."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", BASELINE_COMMIT, "amlexec"],
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"git is not available ({exc})"
    if archive.returncode != 0:
        reason = archive.stderr.decode(errors="replace").strip().splitlines()
        return (
            f"git archive {BASELINE_COMMIT[:10]} failed ({reason[-1] if reason else archive.returncode}); "
            "a shallow clone lacks that commit: git fetch --unshallow"
        )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        # Our own history, but extracted as untrusted anyway where this Python can (3.11.4 on).
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, filter="data")
        else:
            tar.extractall(folder)
    return None


def measure(workers: dict[str, Worker], rounds: int) -> dict[str, Timings]:
    """Each contender once per round, the order rotating so none always runs first or after another's garbage."""
    contenders = [("validate", "new", VALIDATE_CALLS), ("json", "new", JSON_CALLS)]
    if "previous" in workers:
        contenders.insert(1, ("previous", "previous", VALIDATE_CALLS))
    results = {name: Timings() for name, _, _ in contenders}
    for number in range(rounds):
        shift = number % len(contenders)
        for name, version, calls in contenders[shift:] + contenders[:shift]:
            wall, cpu = workers[version].run("json" if name == "json" else "validate", calls)
            results[name].wall.append(wall)
            results[name].cpu.append(cpu)
    return results


def main() -> None:
    rounds = int(os.environ.get("BENCH_VALIDATION_ROUNDS", "40"))
    print(machine())
    with tempfile.TemporaryDirectory(prefix="amlexec-previous-") as folder:
        workers = {"new": Worker(REPO)}
        missing = previous_source(Path(folder))
        try:
            if missing is None:
                workers["previous"] = Worker(Path(folder))
            timings = measure(workers, rounds)
        finally:
            for running in workers.values():
                running.close()
    ours, floor = timings["validate"], timings["json"]
    cpu_rate = 1 / statistics.median(ours.cpu)
    verdict = "meets" if cpu_rate >= TARGET_PER_SECOND else "MISSES"
    print(
        f"validate + resolve (5 expressions, {len(PAYLOAD)} bytes), {rounds} rounds of {VALIDATE_CALLS} (median, IQR "
        f"over rounds): {rates(ours.cpu)} payloads per CPU-second on one core, {rates(ours.wall)} per wall-second; "
        f"target >= {TARGET_PER_SECOND:,}/s: {verdict}"
    )
    if "previous" in timings:
        before = timings["previous"]
        print(
            f"  previous version (commit {BASELINE_COMMIT[:10]}) in the same rounds: {rates(before.cpu)} payloads per "
            f"CPU-second, {rates(before.wall)} per wall-second"
        )
        now_us, before_us = spread(ours.cpu, scale=1e6, digits=1), spread(before.cpu, scale=1e6, digits=1)
        print(
            f"  new/previous: {spread(ratios(before.cpu, ours.cpu))}x the payloads per CPU-second; CPU time per "
            f"payload {now_us} us, previously {before_us} us"
        )
    else:
        print(f"  previous version (commit {BASELINE_COMMIT[:10]}): not measured, {missing}")
    print(
        f"  reference, json.loads of the same payload in the same rounds: {rates(floor.cpu)} per CPU-second; "
        f"validate + resolve costs {spread(ratios(ours.cpu, floor.cpu), digits=0)}x a json.loads (CPU)"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        worker()
    else:
        main()
