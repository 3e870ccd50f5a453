"""A burst against a rate-limited fake (CI size: AMLEXEC_LOAD_COUNT, default 150; make bench runs 5,000)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chaos.load import TokenBucket, run_load

COUNT = int(os.environ.get("AMLEXEC_LOAD_COUNT", "150"))
# Relative slack for float rounding only: the bound below is exact, a token bucket cannot beat it.
ROUNDING = 1e-9


def test_burst_launches_everything_once_near_the_rate_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_load(tmp_path, monkeypatch, count=COUNT, rate=20.0)
    assert report.launched == COUNT and report.duplicate_runs == 0
    assert report.terminal_events == COUNT
    assert report.throttled > 0, "the limit must have bitten"
    # Within a factor of 1.5 of the rate limit: throttled launches wait what the service asks, no more.
    assert report.throughput >= report.rate_limit / 1.5, report
    assert report.throughput <= report.throughput_bound * (1 + ROUNDING), report
    # Memory flat: what amlexec's code holds after the last slice is close to the first.
    assert report.memory_kib[-1] <= report.memory_kib[0] * 1.5 + 256, report.memory_kib


def test_burst_throughput_cannot_beat_the_rate_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 300 requests in five slices of 60: counting only the seconds spent inside deliveries let each slice
    # start on a bucket refilled while nobody was counting, and the figure came out at 30/s against 20/s.
    rate, burst, count = 20.0, 20, 300
    report = run_load(tmp_path, monkeypatch, count=count, rate=rate, burst=burst, measure_memory=False)
    assert report.launched == count and report.duplicate_runs == 0
    assert report.simulated_seconds > 0
    # Over any stretch of E seconds a bucket of `burst` tokens refilled at `rate` admits at most burst + rate * E.
    bound = (burst + rate * report.simulated_seconds) / report.simulated_seconds
    assert report.throughput <= bound * (1 + ROUNDING), (report.throughput, bound, report)


def test_a_stopped_bucket_buys_no_tokens() -> None:
    # The harness stops the bucket while it settles between slices; a refill then would be uncounted time.
    start = datetime(2026, 11, 21, tzinfo=UTC)
    bucket = TokenBucket(rate=20.0, burst=20, start=start)
    assert all(bucket.take(start) is None for _ in range(20))
    bucket.stop(start)
    bucket.start(start + timedelta(seconds=10))
    assert bucket.take(start + timedelta(seconds=10)) == pytest.approx(1 / 20)
    assert bucket.take(start + timedelta(seconds=11)) is None
