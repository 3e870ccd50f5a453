"""make demo's job, checked: the example payload runs the loan-scoring pipeline and its outputs are right."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT


@pytest.fixture
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    runs = tmp_path / "runs"
    monkeypatch.setenv("AMLEXEC_LINKED_SERVICES_FILE", str(EXAMPLES / "linked_services.json"))
    monkeypatch.setenv("AMLEXEC_LOCAL_RUNS_DIR", str(runs))
    return runs


def expected_scores(threshold: float, region: str) -> dict[str, str]:
    sys.path.insert(0, str(EXAMPLES / "pipelines" / "src"))
    try:
        from score import default_probability  # the example's own model, used as the oracle
    finally:
        sys.path.pop(0)
    decisions = {}
    with (EXAMPLES / "data" / "loan_applications.csv").open(newline="") as src:
        for row in csv.DictReader(src):
            if row["region"] != region:
                continue
            income, amount = float(row["income"]), float(row["loan_amount"])
            features = {
                "debt_to_income": round(amount / income, 4),
                "monthly_burden": round(amount / float(row["term_months"]) / (income / 12), 4),
                "credit_score": float(row["credit_score"]),
                "years_employed": float(row["years_employed"]),
                "prior_defaults": float(row["prior_defaults"]),
            }
            decisions[row["application_id"]] = "review" if default_probability(features) >= threshold else "approve"
    return decisions


def test_demo_runs_the_pipeline_and_its_outputs_are_right(demo_env: Path) -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        from demo import run_demo
    finally:
        sys.path.pop(0)
    out = io.StringIO()
    event = run_demo(EXAMPLES / "payloads" / "loan_scoring.json", message_id="test-demo-1", out=out)
    assert event["type"] == "com.amlexec.run.completed"
    data = event["data"]
    assert data["correlationId"] == "demo-loan-scoring-2026-11-21"
    assert [s["status"] for s in data["steps"]] == ["completed", "completed"]
    scores_dir = Path(data["outputs"]["scores"])
    assert scores_dir.is_relative_to(demo_env)
    with (scores_dir / "scores.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["application_id"]: r["decision"] for r in rows} == expected_scores(0.35, "EMEA")
    summary = json.loads((scores_dir / "summary.json").read_text())
    assert summary["threshold"] == 0.35 and summary["dry_run"] is False
    assert summary["scored"] == len(rows) > 0
    assert "com.amlexec.run.completed" in out.getvalue()

    # The same message again (a redelivery) finds the run: nothing runs twice.
    again = run_demo(EXAMPLES / "payloads" / "loan_scoring.json", message_id="test-demo-1", out=io.StringIO())
    assert again["id"] == event["id"]
    assert len(list(demo_env.iterdir())) == 1


def test_make_demo_script_exits_zero(demo_env: Path) -> None:
    env = dict(os.environ, AMLEXEC_DEMO_MESSAGE_ID="test-demo-script")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "com.amlexec.run.completed" in result.stdout
