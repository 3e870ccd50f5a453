"""A burst against a rate-limited fake (CI size: AMLEXEC_LOAD_COUNT, default 150; make bench runs 5,000)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from chaos.load import run_load

COUNT = int(os.environ.get("AMLEXEC_LOAD_COUNT", "150"))


def test_burst_launches_everything_once_near_the_rate_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_load(tmp_path, monkeypatch, count=COUNT, rate=20.0)
    assert report.launched == COUNT and report.duplicate_runs == 0
    assert report.terminal_events == COUNT
    assert report.throttled > 0, "the limit must have bitten"
    # Within a factor of 1.5 of the rate limit: throttled launches wait what the service asks, no more.
    assert report.throughput >= report.rate_limit / 1.5, report
    # Memory flat: what amlexec's code holds after the last slice is close to the first.
    assert report.memory_kib[-1] <= report.memory_kib[0] * 1.5 + 256, report.memory_kib
