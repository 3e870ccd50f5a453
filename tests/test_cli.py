"""The amlexec command line, driven through main() as a user would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import AZURE_ML_SERVICE, EXAMPLES, SEED_ACTIVITY

from amlexec.cli import main


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(SEED_ACTIVITY))
    services = tmp_path / "ls.json"
    services.write_text(json.dumps([AZURE_ML_SERVICE]))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "type": "AzureMLExecutePipeline",
                               "typeProperties": {"mlPipelineId": 1, "experimentName": "@concat("}}))
    return {"seed": seed, "services": services, "bad": bad}


def test_seed_example_validates_structurally(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(files["seed"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("valid")
    assert "linked services not checked" in out


def test_seed_example_validates_with_a_configured_linked_service(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(files["seed"]), "--linked-services", str(files["services"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("valid")
    assert "published pipeline machine learning pipeline ID via AzureMLService" in out
    assert "warning typeProperties.mlPipelineId: does not look like a published pipeline id" in out
    seed = json.loads(files["seed"].read_text())
    seed["typeProperties"]["mlPipelineId"] = "0a77f445-258e-4349-9895-e555060b32d8"
    files["seed"].write_text(json.dumps(seed))
    assert main(["validate", str(files["seed"]), "--linked-services", str(files["services"])]) == 0
    assert "published pipeline 0a77f445" in capsys.readouterr().out


def test_invalid_file_lists_every_error(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(files["bad"]), str(files["seed"])]) == 2
    report = json.loads(capsys.readouterr().out)
    bad, seed = report["files"]
    assert not bad["valid"] and seed["valid"]
    assert {e["path"] for e in bad["errors"]} == {"typeProperties.mlPipelineId", "typeProperties.experimentName"}


def test_missing_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.json")]) == 2
    assert "cannot read file" in capsys.readouterr().out


def test_bad_linked_services_file_is_a_configuration_error(files: dict[str, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    assert main(["validate", str(files["seed"]), "--linked-services", str(broken)]) == 1
    assert "configuration error" in capsys.readouterr().err


def test_resolve_prints_the_launch_request(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["resolve", str(EXAMPLES / "payloads" / "loan_scoring.json"),
                 "--linked-services", str(EXAMPLES / "linked_services.json"),
                 "--param", "region=apac", "--param", "threshold=0.5",
                 "--trigger-time", "2026-11-21T02:00:00Z", "--request-id", "r-1"])
    assert code == 0
    request = json.loads(capsys.readouterr().out)
    assert request["target"]["kind"] == "local_pipeline"
    assert request["experiment_name"] == "loan-scoring-apac"
    assert request["parameters"]["threshold"] == 0.5
    assert request["parameters"]["region"] == "APAC"
    assert request["parameters"]["dry_run"] is False
    assert request["parameters"]["scoring_date"] == "2026-11-21"
    assert request["correlation_id"] == "demo-loan-scoring-2026-11-21"


def test_resolve_without_linked_services_is_a_usage_error(files: dict[str, Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", str(files["seed"])]) == 1


def test_expr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["expr", "@add(1, 2)"]) == 0
    assert capsys.readouterr().out == "3\n"
    context = tmp_path / "ctx.json"
    context.write_text(json.dumps({"pipeline": {"parameters": {"name": "world"}}}))
    assert main(["expr", "concat('hello ', pipeline().parameters.name)", "--context", str(context)]) == 0
    assert capsys.readouterr().out == '"hello world"\n'
    assert main(["expr", "@utcNow()", "--now", "2026-01-02T03:04:05Z"]) == 0
    assert capsys.readouterr().out == '"2026-01-02T03:04:05.0000000Z"\n'
    assert main(["expr", "@add(1"]) == 2
    assert "position" in capsys.readouterr().err


def test_schema_matches_committed_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    committed = (Path(__file__).resolve().parents[1] / "schemas" / "activity-payload.schema.json").read_text()
    assert capsys.readouterr().out == committed, "run `make schema` and commit schemas/"


def test_run_launches_locally_and_follows_to_completion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AMLEXEC_LOCAL_RUNS_DIR", str(tmp_path / "runs"))
    args = ["run", str(EXAMPLES / "payloads" / "loan_scoring.json"), "--linked-services",
            str(EXAMPLES / "linked_services.json"), "--request-id", "cli-run-1", "--param", "region=apac"]
    monkeypatch.setenv("AMLEXEC_POLL_INITIAL_SECONDS", "0.2")
    monkeypatch.setenv("AMLEXEC_POLL_MAX_SECONDS", "1")
    assert main(args) == 0
    started, finished = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert started["type"] == "com.amlexec.run.started"
    assert finished["type"] == "com.amlexec.run.completed"
    assert finished["data"]["parameters"]["region"] == "APAC"
    assert main([*args, "--no-wait"]) == 0
    (again,) = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert again["subject"] == started["subject"], "the same request id finds the same run"
