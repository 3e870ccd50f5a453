"""The public corpus: every complete activity people committed validates; every unfinished draft is rejected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from amlexec.cli import main


def corpus_entries(corpus_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (corpus_dir / "index.jsonl").read_text().splitlines() if line.strip()]


def is_complete(activity: dict[str, Any]) -> bool:
    props = activity.get("typeProperties")
    if not isinstance(props, dict):
        return False
    targets = [k for k in ("mlPipelineId", "mlPipelineEndpointId") if props.get(k) not in (None, "")]
    return len(targets) == 1


def linked_services_file(entry: dict[str, Any], corpus_dir: Path, tmp_path: Path) -> Path:
    """The entry's own linked service when the corpus has it, else an MSI one named by its reference."""
    reference = entry["linked_service_ref"] or "AzureMLService"
    if entry.get("linked_service_file"):
        service = json.loads((corpus_dir / entry["linked_service_file"]).read_text())
        service["name"] = reference
    else:
        service = {
            "name": reference,
            "properties": {
                "type": "AzureMLService",
                "typeProperties": {
                    "subscriptionId": "s",
                    "resourceGroupName": "rg",
                    "mlWorkspaceName": "ws",
                    "authentication": "MSI",
                },
            },
        }
    path = tmp_path / "linked_services.json"
    path.write_text(json.dumps([service]))
    return path


def validate_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["validate", "--json", *args])
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return code, report


def test_corpus_has_every_shape(corpus_dir: Path) -> None:
    entries = corpus_entries(corpus_dir)
    assert len(entries) == 55
    complete = [e for e in entries if is_complete(json.loads((corpus_dir / e["file"]).read_text()))]
    assert 45 <= len(complete) < 55


def test_every_corpus_activity_validates_or_is_a_rejected_draft(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = []
    for entry in corpus_entries(corpus_dir):
        activity_file = corpus_dir / entry["file"]
        activity = json.loads(activity_file.read_text())
        services = linked_services_file(entry, corpus_dir, tmp_path)
        code, report = validate_json([str(activity_file), "--linked-services", str(services)], capsys)
        (result,) = report["files"]
        if is_complete(activity):
            assert code == 0, (entry["file"], result["errors"])
            assert result["request"]["target"]["kind"] in ("published_pipeline", "pipeline_endpoint")
        else:
            assert code == 2, entry["file"]
            codes = {e["code"] for e in result["errors"]}
            assert codes & {"draft", "no_target", "two_targets"}, (entry["file"], result["errors"])
            assert all(e["message"] and e["path"] for e in result["errors"])
        outcomes.append(code)
    assert outcomes.count(2) == 8  # 5 without typeProperties, 2 without a target, 1 with two


def test_whole_corpus_in_one_call_with_all_linked_services(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One validate call over all files, linked services named by the references the activities use."""
    services: dict[str, Any] = {}
    for entry in corpus_entries(corpus_dir):
        reference = entry["linked_service_ref"]
        if reference and reference.lower() not in services:
            services[reference.lower()] = json.loads(linked_services_file(entry, corpus_dir, tmp_path).read_text())[0]
    (tmp_path / "all.json").write_text(json.dumps(list(services.values())))
    files = sorted(str(p) for p in (corpus_dir / "activities").glob("*.json"))
    code, report = validate_json([*files, "--linked-services", str(tmp_path / "all.json")], capsys)
    assert code == 2
    assert sum(1 for f in report["files"] if f["valid"]) == 47
