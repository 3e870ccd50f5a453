"""Prove each guarantee is tested: apply its mutation to a scratch copy, run the named tests, expect failure.

Usage: ``python mutants/run.py [--only ID ...] [--keep]`` (``make mutants``). Prints the guarantee table
(guarantee, mutation, tests, outcome) and exits 1 if any mutation survives, if a mutation no longer
matches the code, or if the named tests do not pass on the unmutated copy (a test that never passes
proves nothing when it fails).

Why not mutmut: it mutates operators at random and reports survivors by the thousand; what we want is
the opposite, a short list of deliberate mutations, one per promise, each tied to the test named for it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {
    ".git",
    ".venv",
    ".venv-oracle",
    ".venv-checkov",
    ".amlexec",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "__pycache__",
    "build",
}


@dataclass(frozen=True)
class Mutation:
    id: str
    guarantee: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]


def load(path: Path) -> list[Mutation]:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        Mutation(m["id"], m["guarantee"], m["file"], m["find"], m["replace"], tuple(m["tests"]))
        for m in document["mutation"]
    ]


def scratch_copy(into: Path) -> Path:
    """The working tree (uncommitted changes included) without virtualenvs, caches or run folders."""
    target = into / "tree"
    shutil.copytree(ROOT, target, ignore=lambda _dir, names: [n for n in names if n in SKIP or n.endswith(".egg-info")])
    return target


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    """Run ``tests`` against ``tree``'s own amlexec (not the editable install pointing at the checkout)."""
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'tests'}", "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=1800, check=False)
    output = (done.stdout + done.stderr).strip()
    return done.returncode, output.splitlines()[-1] if output else ""


def check_isolated(tree: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'tests'}"}
    where = subprocess.run(
        [sys.executable, "-c", "import amlexec; print(amlexec.__file__)"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(where).is_relative_to(tree):
        raise SystemExit(f"the scratch copy imports amlexec from {where}, not from itself: mutations would not run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="mutation ids to run (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy")
    args = parser.parse_args(argv)
    mutations = load(ROOT / "mutants" / "mutations.toml")
    if args.only:
        mutations = [m for m in mutations if m.id in set(args.only)]
    scratch = Path(tempfile.mkdtemp(prefix="amlexec-mutants-"))
    rows: list[tuple[Mutation, str]] = []
    failures = 0
    try:
        tree = scratch_copy(scratch)
        check_isolated(tree)
        for mutation in mutations:
            started = time.perf_counter()
            source = tree / mutation.file
            original = source.read_text(encoding="utf-8")
            if original.count(mutation.find) != 1:
                rows.append((mutation, f"STALE: 'find' occurs {original.count(mutation.find)} times"))
                failures += 1
                continue
            code, _ = run_tests(tree, mutation.tests)
            if code != 0:
                rows.append((mutation, f"BROKEN: the tests fail without the mutation (exit {code})"))
                failures += 1
                continue
            source.write_text(original.replace(mutation.find, mutation.replace), encoding="utf-8")
            try:
                code, last = run_tests(tree, mutation.tests)
            finally:
                source.write_text(original, encoding="utf-8")
            seconds = time.perf_counter() - started
            if code == 1:
                rows.append((mutation, f"caught ({last}; {seconds:.0f} s)"))
            else:
                rows.append((mutation, f"SURVIVED (pytest exit {code}: {last})"))
                failures += 1
            print(f"{mutation.id}: {rows[-1][1]}", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print("| guarantee | mutation | test that fails | result |")
    print("|---|---|---|---|")
    for mutation, outcome in rows:
        tests = "<br>".join(f"`{t.split('::')[-1]}`" for t in mutation.tests)
        print(f"| {mutation.guarantee} | `{mutation.id}`: `{mutation.file}` | {tests} | {outcome} |")
    print(f"\n{len(rows) - failures} of {len(rows)} mutations caught")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
