"""Static security scan of infra/ with checkov, judged against the accepted findings in checkov-accepted.yaml.

Checkov exits 0 when it cannot parse a template (it just scans less), so this script reads checkov's
JSON report instead of its exit code, and fails on:

- any parse error, or a report that scanned no Bicep resource at all;
- any failed check that checkov-accepted.yaml does not accept (matched by check id, file and resource);
- any accepted entry without a reason, or one that no longer matches a finding (a stale acceptance).

Usage: python infra/scan.py [--checkov PATH] [--report FILE]  (infra/scan.sh sets up the environment).
Only the standard library and PyYAML are needed, so the judging functions are importable from tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
ACCEPTED_FILE = INFRA / "checkov-accepted.yaml"


@dataclass(frozen=True)
class Finding:
    check_id: str
    file: str
    resource: str
    name: str = ""

    def key(self) -> tuple[str, str, str]:
        return (self.check_id, self.file, self.resource)


@dataclass
class Verdict:
    summary: dict[str, Any]
    passed: int = 0
    failed: list[Finding] = field(default_factory=list)
    accepted: list[tuple[Finding, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def load_accepted(path: Path = ACCEPTED_FILE) -> tuple[dict[tuple[str, str, str], str], list[str]]:
    """Accepted findings by (check id, file, resource), and the problems of the list itself."""
    import yaml

    document = yaml.safe_load(path.read_text()) or {}
    accepted: dict[tuple[str, str, str], str] = {}
    problems: list[str] = []
    for number, entry in enumerate(document.get("accepted") or [], start=1):
        key = (str(entry.get("id", "")), str(entry.get("file", "")), str(entry.get("resource", "")))
        reason = str(entry.get("reason") or "").strip()
        if not all(key):
            problems.append(f"{path.name} entry {number}: needs id, file and resource")
        elif not reason:
            problems.append(f"{path.name} entry {number} ({key[0]} on {key[2]}): no reason given")
        elif key in accepted:
            problems.append(f"{path.name} entry {number}: {key} is listed twice")
        else:
            accepted[key] = reason
    return accepted, problems


def judge(report: Any, accepted: dict[tuple[str, str, str], str]) -> Verdict:
    """Decide from checkov's JSON report (one framework: an object; several: a list of objects)."""
    reports = report if isinstance(report, list) else [report]
    bicep = [r for r in reports if isinstance(r, dict) and r.get("check_type") == "bicep"]
    if not bicep:
        return Verdict(summary={}, problems=["checkov produced no bicep report (nothing was scanned)"])
    verdict = Verdict(summary=dict(bicep[0].get("summary") or {}))
    for part in bicep:
        summary = part.get("summary") or {}
        results = part.get("results") or {}
        errors = int(summary.get("parsing_errors") or 0)
        if errors:
            files = ", ".join(results.get("parsing_errors") or []) or "see checkov's output"
            verdict.problems.append(f"checkov could not parse {errors} file(s): {files}")
        if not int(summary.get("resource_count") or 0):
            verdict.problems.append("checkov found no resources in the Bicep files")
        verdict.passed += len(results.get("passed_checks") or [])
        for check in results.get("failed_checks") or []:
            finding = Finding(check["check_id"], check["file_path"], check["resource"], check.get("check_name", ""))
            reason = accepted.get(finding.key())
            if reason is None:
                verdict.failed.append(finding)
            else:
                verdict.accepted.append((finding, reason))
    for finding in verdict.failed:
        verdict.problems.append(
            f"{finding.check_id} {finding.name} — {finding.resource} in {finding.file} "
            "(fix it, or accept it with a reason in infra/checkov-accepted.yaml)"
        )
    matched = {finding.key() for finding, _ in verdict.accepted}
    for key in sorted(set(accepted) - matched):
        verdict.problems.append(f"stale acceptance {key}: checkov no longer reports it; remove the entry")
    return verdict


def run_checkov(checkov: str, directory: Path) -> Any:
    command = [
        checkov,
        "--directory",
        str(directory),
        "--framework",
        "bicep",
        "--output",
        "json",
        "--skip-download",
        "--compact",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv, no shell
    if completed.returncode not in (0, 1):  # 1 only means "some check failed"
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"checkov exited {completed.returncode}")
    try:
        return json.loads(completed.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(completed.stdout[-2000:] + completed.stderr[-2000:])
        raise SystemExit("checkov printed no JSON report") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", default=str(Path(sys.executable).with_name("checkov")))
    parser.add_argument("--directory", type=Path, default=INFRA)
    parser.add_argument("--accepted", type=Path, default=ACCEPTED_FILE)
    parser.add_argument("--report", type=Path, help="judge this saved JSON report instead of running checkov")
    args = parser.parse_args(argv)

    accepted, problems = load_accepted(args.accepted)
    report = json.loads(args.report.read_text()) if args.report else run_checkov(args.checkov, args.directory)
    verdict = judge(report, accepted)
    verdict.problems[:0] = problems
    summary = verdict.summary
    print(
        f"checkov {summary.get('checkov_version', '?')}: {summary.get('resource_count', 0)} resources, "
        f"{verdict.passed} passed, {len(verdict.accepted) + len(verdict.failed)} failed "
        f"({len(verdict.accepted)} accepted), {summary.get('skipped', 0)} skipped, "
        f"{summary.get('parsing_errors', 0)} parse errors"
    )
    for finding, reason in verdict.accepted:
        print(f"  accepted {finding.check_id} on {finding.resource}: {reason}")
    for problem in verdict.problems:
        print(f"  FAIL {problem}")
    print("infra scan: " + ("ok" if verdict.ok else "FAILED"))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
