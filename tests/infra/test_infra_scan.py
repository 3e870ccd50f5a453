"""infra/scan.py: checkov's JSON report judged against infra/checkov-accepted.yaml.

The judging is tested on synthetic reports (fast, always). The real scan runs only where checkov's own
virtualenv exists (`infra/scan.sh` creates .venv-checkov), on the real templates and on a broken copy.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _load_scan() -> ModuleType:
    spec = importlib.util.spec_from_file_location("amlexec_infra_scan", INFRA / "scan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


scan = _load_scan()


def report(
    failed: list[dict[str, str]] | None = None, parsing_errors: list[str] | None = None, resources: int = 3
) -> dict[str, Any]:
    failed = failed or []
    errors = parsing_errors or []
    return {
        "check_type": "bicep",
        "results": {
            "passed_checks": [{"check_id": "CKV_AZURE_3"}],
            "failed_checks": failed,
            "skipped_checks": [],
            "parsing_errors": errors,
        },
        "summary": {
            "passed": 1,
            "failed": len(failed),
            "skipped": 0,
            "parsing_errors": len(errors),
            "resource_count": resources,
            "checkov_version": "test",
        },
    }


def finding(
    check_id: str = "CKV_AZURE_35",
    file: str = "/core/storage.bicep",
    resource: str = "Microsoft.Storage/storageAccounts.storage",
) -> dict[str, str]:
    return {"check_id": check_id, "check_name": "a check", "file_path": file, "resource": resource}


ACCEPTED = {("CKV_AZURE_35", "/core/storage.bicep", "Microsoft.Storage/storageAccounts.storage"): "because"}


def test_a_clean_report_passes() -> None:
    verdict = scan.judge(report([finding()]), ACCEPTED)
    assert verdict.ok and verdict.passed == 1 and len(verdict.accepted) == 1


def test_an_unaccepted_finding_fails() -> None:
    verdict = scan.judge(report([finding(), finding("CKV_AZURE_190")]), ACCEPTED)
    assert not verdict.ok
    assert [p.split(" ")[0] for p in verdict.problems] == ["CKV_AZURE_190"]


def test_an_acceptance_is_for_one_resource_only() -> None:
    verdict = scan.judge(report([finding(), finding(resource="Microsoft.Storage/storageAccounts.other")]), ACCEPTED)
    assert not verdict.ok and "storageAccounts.other" in verdict.problems[0]


def test_parse_errors_fail_although_checkov_exits_0() -> None:
    verdict = scan.judge(report([finding()], parsing_errors=["/tmp/x/rbac.bicep"]), ACCEPTED)
    assert verdict.problems == ["checkov could not parse 1 file(s): /tmp/x/rbac.bicep"]


def test_nothing_scanned_fails() -> None:
    assert not scan.judge([], ACCEPTED).ok
    assert not scan.judge(report(resources=0), {}).ok


def test_a_stale_acceptance_fails() -> None:
    verdict = scan.judge(report([]), ACCEPTED)
    assert len(verdict.problems) == 1 and verdict.problems[0].startswith("stale acceptance")


def test_every_acceptance_needs_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "accepted.yaml"
    path.write_text(
        "accepted:\n  - id: CKV_AZURE_35\n    file: /core/storage.bicep\n"
        "    resource: Microsoft.Storage/storageAccounts.storage\n"
    )
    accepted, problems = scan.load_accepted(path)
    assert accepted == {} and "no reason given" in problems[0]


def test_the_accepted_list_is_well_formed() -> None:
    accepted, problems = scan.load_accepted()
    assert problems == []
    assert accepted and all(len(reason) > 20 for reason in accepted.values())


needs_checkov = pytest.mark.skipif(
    not CHECKOV.exists(), reason="checkov is installed by infra/scan.sh into .venv-checkov (make lint-infra)"
)


@needs_checkov
def test_checkov_passes_the_templates(capsys: pytest.CaptureFixture[str]) -> None:
    assert scan.main(["--checkov", str(CHECKOV)]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "0 parse errors" in out and out.rstrip().endswith("infra scan: ok")


@needs_checkov
def test_checkov_catches_a_broken_copy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    infra = tmp_path / "infra"
    shutil.copytree(INFRA, infra)
    storage = infra / "core" / "storage.bicep"
    storage.write_text(
        storage.read_text()
        .replace("allowBlobPublicAccess: false", "allowBlobPublicAccess: true")
        .replace("supportsHttpsTrafficOnly: true", "supportsHttpsTrafficOnly: false")
    )
    topic = infra / "app" / "eventgrid-output.bicep"
    topic.write_text(topic.read_text().replace("disableLocalAuth: true", "disableLocalAuth: false"))
    rbac = infra / "rbac.bicep"
    rbac.write_text(rbac.read_text() + "\nresource broken 'Microsoft.Web/sites@2024-04-01' = {\n")
    assert scan.main(["--checkov", str(CHECKOV), "--directory", str(infra)]) == 1
    out = capsys.readouterr().out
    assert "FAIL checkov could not parse 1 file(s)" in out and "rbac.bicep" in out
    assert "FAIL CKV_AZURE_3 " in out  # supportsHttpsTrafficOnly
    assert "FAIL CKV_AZURE_192 " in out and "eventgrid-output.bicep" in out  # the Event Grid topic's keys
    assert out.rstrip().endswith("infra scan: FAILED")
