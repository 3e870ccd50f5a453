"""The invariants under a seeded mix of faults (size for CI: AMLEXEC_CHAOS_COUNT, default 150).

The long version runs in ``make bench`` (bench/bench_reliability.py) with thousands of requests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from chaos.scenario import FaultRates, check_invariants, run_scenario, settled_runs

COUNT = int(os.environ.get("AMLEXEC_CHAOS_COUNT", "150"))
SEED = int(os.environ.get("AMLEXEC_CHAOS_SEED", "20261121"))


def test_invariants_hold_without_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_scenario(tmp_path, monkeypatch, count=40, seed=SEED, rates=FaultRates.none())
    check_invariants(report)


def test_redeliveries_and_crashes_never_send_a_create_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rates = FaultRates(
        throttle=0,
        server_error=0,
        drop_before=0,
        drop_after=0,
        duplicate=0.3,
        delay=0.1,
        crash_before_send=0.05,
        crash_after_send=0.05,
    )
    report = run_scenario(tmp_path, monkeypatch, count=60, seed=SEED, rates=rates)
    check_invariants(report)
    assert report.crashes >= 5 and report.flow.bus.dropped_duplicates


def test_invariants_hold_under_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_scenario(tmp_path, monkeypatch, count=COUNT, seed=SEED)
    check_invariants(report)
    # The faults really struck, or the invariants prove nothing.
    assert report.crashes >= 10
    assert report.http_faults["throttle"] and report.http_faults["drop_after"] and report.http_faults["server_error"]
    assert report.flow.bus.dropped_duplicates


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invariants_hold_for_other_seeds(seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = run_scenario(tmp_path, monkeypatch, count=40, seed=seed)
    check_invariants(report)
    assert report.log_records > 100, "the leak scan read the run's real logs"


def test_two_instances_racing_on_every_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two instances share the workspace and the namespace but no lock; a third of first deliveries reach
    the second instance in the middle of the first one's create."""
    report = run_scenario(tmp_path, monkeypatch, count=90, seed=SEED, workers=2, race=0.35)
    check_invariants(report)
    assert set(report.races) == {"component", "published", "batch"}, f"every target raced: {dict(report.races)}"
    _, _, duplicates, _ = settled_runs(report)
    fake = report.flow.world.fake
    assert duplicates and all(name in fake.v1_run_ids for name in duplicates), (
        "only v1 targets can start a second run; amlexec canceled each"
    )
