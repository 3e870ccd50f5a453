"""Interleaved timing shared by the bench scripts.

Noise on a shared machine comes in bursts of seconds. Timing a contender in one block and its baseline in
the next lets a burst land on one side only: bench_launch's ratio swung from 0.87x to 2.07x that way. Here
every contender runs once per round, the order rotating from round to round, so both meet the same noise;
a ratio is taken within each round, where most of the noise cancels; and CPU time (``process_time``) is
reported beside wall time because it leaves out the time the process spent waiting for a core.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Timings:
    """Seconds per call, one entry per round."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def interleave(
    contenders: dict[str, Callable[[int], object]], *, rounds: int, calls: int | dict[str, int]
) -> dict[str, Timings]:
    """Run each contender ``calls`` times per round for ``rounds`` rounds; each call gets a fresh index."""
    names = list(contenders)
    per_round = calls if isinstance(calls, dict) else dict.fromkeys(names, calls)
    results = {name: Timings() for name in names}
    index = 0
    for number in range(rounds):
        # Rotate the order so no contender always runs first (warm caches) or last (after the other's garbage).
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            function, count = contenders[name], per_round[name]
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(count):
                function(index)
                index += 1
            results[name].wall.append((time.perf_counter() - wall) / count)
            results[name].cpu.append((time.process_time() - cpu) / count)
    return results


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """First quartile, median, third quartile."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def spread(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    """``median (IQR q1 - q3)`` of ``values`` times ``scale``."""
    q1, median, q3 = (v * scale for v in quartiles(values))
    return f"{median:,.{digits}f} (IQR {q1:,.{digits}f} - {q3:,.{digits}f})"


def rates(values: list[float], digits: int = 0) -> str:
    """``median (IQR)`` of calls per second, from seconds per call."""
    return spread([1 / v for v in values if v > 0], digits=digits)


def ratios(ours: list[float], theirs: list[float]) -> list[float]:
    """Per-round ratios: both sides of a round met the same noise."""
    return [a / b for a, b in zip(ours, theirs, strict=True) if b > 0]


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return f"machine: {os.cpu_count()} CPUs, {model}, Python {platform.python_version()}; load average {load} at start"


@contextlib.contextmanager
def outside_git_checkout() -> Iterator[Path]:
    """Work in a temporary folder that is not inside a git checkout.

    azure-ai-ml tags every job it submits with git facts about the working directory and runs ``git`` five
    times per submission to find them (rev-parse, ls-remote, symbolic-ref, rev-parse HEAD, status). From
    this checkout that is about 10 ms of a 19 ms launch, and it grows with the files others have modified
    meanwhile. A Functions host runs from a deployed package, not a checkout, where the SDK stops after one
    failed ``git rev-parse``: that is the launch these figures describe.
    """
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="amlexec-bench-") as folder:
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(previous)


def median_of(samples: list[dict[str, float]], key: str) -> float:
    """The median of one figure over samples that each report several (a cold start's import, first, rss...)."""
    return statistics.median(sample[key] for sample in samples)


def sdk_anchor_line(sdk: list[dict[str, float]], first: float, first_cpu: float) -> str:
    """The anchor line of the cold-start benches: ``import azure.ai.ml`` alone, measured in the same rounds,
    and the first handled message as a fraction of it."""
    wall, cpu = median_of(sdk, "first"), median_of(sdk, "first_cpu")
    return (
        f"  anchor, same run: import azure.ai.ml alone {wall:.2f} s wall, {cpu:.2f} s CPU, "
        f"{median_of(sdk, 'rss'):.0f} MB RSS; first message / that import: {first / wall:.2f}x wall, "
        f"{first_cpu / cpu:.2f}x CPU"
    )
