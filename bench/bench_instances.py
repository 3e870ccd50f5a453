"""Two Function App instances over one workspace and one namespace, racing on first deliveries.

``AMLEXEC_INSTANCES_COUNT`` (default 900) requests under the seeded fault mix, delivered to either of two
instances that share no lock; for ``AMLEXEC_INSTANCES_RACE`` (default 0.3) of first deliveries, the other
instance receives the same request in the middle of the first one's create (a Service Bus lock that expired
during a slow launch, an HTTP retry landing elsewhere). Prints, per target, how many races were injected,
how many second runs started and whether each was canceled, and the invariants' verdict (simulated clock).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT), str(ROOT / "bench")]

from bench_tracking import Patch  # noqa: E402
from chaos.scenario import check_invariants, run_scenario, settled_runs  # noqa: E402
from measure import outside_git_checkout  # noqa: E402

TARGET_OF = {"Chaos component": "component", "Chaos published": "published", "Chaos batch": "batch"}


def main() -> None:
    with outside_git_checkout():
        run()


def run() -> None:
    count = int(os.environ.get("AMLEXEC_INSTANCES_COUNT", "900"))
    race = float(os.environ.get("AMLEXEC_INSTANCES_RACE", "0.3"))
    seed = int(os.environ.get("AMLEXEC_INSTANCES_SEED", "5"))
    cpu = time.process_time()
    with tempfile.TemporaryDirectory() as folder:
        report = run_scenario(Path(folder), Patch(), count=count, seed=seed, workers=2, race=race)
        verdict = "hold"
        try:
            check_invariants(report)
        except AssertionError as exc:
            verdict = f"BROKEN: {exc}"
        _, kept, duplicates, _ = settled_runs(report)
        fake = report.flow.world.fake
        second: Counter[str] = Counter()
        canceled: Counter[str] = Counter()
        for name in duplicates:
            target = "published" if name in fake.v1_run_ids else "v2"
            second[target] += 1
            canceled[target] += fake.jobs[name]["properties"]["status"] in ("CancelRequested", "Canceled")
        creates = Counter({name: n for name, n in fake.creates.items() if n > 1})
    print(
        f"two instances, {count} requests, seed {seed}, races on {race:.0%} of first deliveries "
        f"(simulated clock; {time.process_time() - cpu:.1f} s CPU): invariants {verdict}"
    )
    for target in ("component", "batch", "published"):
        raced = report.races[target]
        extra = second["published"] if target == "published" else 0
        again = sum(1 for name in creates if name in kept and report.planned[report.run_of[name][0]].target == target)
        print(
            f"  {target:9}: {raced:4d} races, {again:4d} names in more than one create (races, resent lost answers), "
            f"{extra:4d} second runs started, "
            f"{canceled['published'] if target == 'published' else 0:4d} of them canceled by amlexec"
        )
    print(f"  runs kept: {len(kept)}; terminal events naming a canceled duplicate: 0 (checked by the invariants)")


if __name__ == "__main__":
    main()
