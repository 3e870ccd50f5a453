"""The invariants under a seeded mix of faults (size for CI: AMLEXEC_CHAOS_COUNT, default 150).

The long version runs in ``make bench`` (bench/bench_reliability.py) with thousands of requests.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from chaos.scenario import FaultRates, check_invariants, run_scenario

COUNT = int(os.environ.get("AMLEXEC_CHAOS_COUNT", "150"))
SEED = int(os.environ.get("AMLEXEC_CHAOS_SEED", "20261121"))


def test_invariants_hold_without_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    report = run_scenario(tmp_path, monkeypatch, count=40, seed=SEED, rates=FaultRates.none(), caplog=caplog)
    check_invariants(report)


def test_invariants_hold_under_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    report = run_scenario(tmp_path, monkeypatch, count=COUNT, seed=SEED, caplog=caplog)
    check_invariants(report)
    # The faults really struck, or the invariants prove nothing.
    assert report.crashes >= 10
    assert report.http_faults["throttle"] and report.http_faults["drop_after"] and report.http_faults["server_error"]
    assert report.flow.bus.dropped_duplicates


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invariants_hold_for_other_seeds(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_invariants(run_scenario(tmp_path, monkeypatch, count=40, seed=seed))
