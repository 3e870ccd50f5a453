"""The long versions of the fault-injection and load runs (CI runs small ones in make test).

``AMLEXEC_CHAOS_COUNT`` (default 2,000) requests under the seeded fault mix, for each seed in
``AMLEXEC_CHAOS_SEEDS`` (default 1,2,3); then a burst of ``AMLEXEC_LOAD_COUNT`` (default 5,000) requests
against a 20/s rate limit. Prints the invariants' verdict and the figures docs/reliability.md records;
the burst's throughput is read off the simulated clock and printed beside the most its bucket allows.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT), str(ROOT / "bench")]

from bench_tracking import Patch  # noqa: E402
from chaos.load import run_load  # noqa: E402
from chaos.scenario import check_invariants, run_scenario  # noqa: E402
from measure import outside_git_checkout  # noqa: E402


def main() -> None:
    with outside_git_checkout():
        run()


def run() -> None:
    count = int(os.environ.get("AMLEXEC_CHAOS_COUNT", "2000"))
    seeds = [int(s) for s in os.environ.get("AMLEXEC_CHAOS_SEEDS", "1,2,3").split(",") if s.strip()]
    for seed in seeds:
        patch = Patch()
        cpu = time.process_time()
        with tempfile.TemporaryDirectory() as folder:
            report = run_scenario(Path(folder), patch, count=count, seed=seed)
            check_invariants(report)
        cpu = time.process_time() - cpu
        patch.close()
        outcomes: dict[str, int] = {}
        for plan in report.planned.values():
            outcomes[plan.outcome] = outcomes.get(plan.outcome, 0) + 1
        faults = ", ".join(f"{k} {v}" for k, v in sorted(report.http_faults.items()))
        print(
            f"faults, seed {seed}: {count} requests ({', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))})"
            f" -> invariants hold; {report.deliveries} deliveries, {report.crashes} injected crashes, HTTP "
            f"faults: {faults}, {len(report.flow.bus.dropped_duplicates)} duplicates dropped, "
            f"{report.wall_seconds:.0f} s wall, {cpu:.0f} s CPU"
        )
    load = int(os.environ.get("AMLEXEC_LOAD_COUNT", "5000"))
    rate = 20.0
    patch = Patch()
    with tempfile.TemporaryDirectory() as folder:
        result = run_load(Path(folder), patch, count=load, rate=rate)
    patch.close()
    ok = result.launched == load and result.duplicate_runs == 0 and result.terminal_events == load
    memory = ", ".join(f"{m:.0f}" for m in result.memory_kib)
    within = result.throughput <= result.throughput_bound * (1 + 1e-9)
    print(
        f"burst of {load}: {'every request launched once' if ok else 'LAUNCH MISMATCH'} ({result.launched} runs, "
        f"{result.duplicate_runs} duplicates, {result.terminal_events} terminal events); {result.throttled} "
        f"throttled submits; {result.wall_seconds:.0f} s wall"
    )
    print(
        f"  throughput (simulated clock): {result.throughput:.2f} launches/s against a {rate:.0f}/s limit (target >= "
        f"{rate / 1.5:.1f}/s): {result.launched} launches in {result.simulated_seconds:.0f} s, first delivery to "
        f"last launch with Retry-After waits and refills, less {result.paused_seconds:.0f} s of settling between "
        f"slices during which the fake's bucket was stopped; the most a {result.burst}-token bucket admits in "
        f"{result.simulated_seconds:.0f} s: {result.throughput_bound:.2f}/s "
        f"({'within it' if within else 'EXCEEDED: the figure is wrong'})"
    )
    print(f"  worker memory after each fifth: {memory} KiB")


if __name__ == "__main__":
    main()
