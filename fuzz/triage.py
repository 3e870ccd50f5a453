"""Replay fuzz findings without atheris and group them by cause.

    .venv/bin/python fuzz/triage.py build/fuzz/payload/crash-* build/fuzz/expressions/crash-*

Each file is run through its harness's check (``payload`` or ``expressions``, guessed from the path, or
forced with ``--target``); files whose failure has the same exception type, message shape and innermost
amlexec frame are grouped, and the smallest input of each group is printed.
"""

from __future__ import annotations

import argparse
import re
import sys
import traceback
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from amlexec.expressions import InternalExpressionError
from fuzz.targets import check_expression, check_payload

CHECKS = {"payload": check_payload, "expressions": check_expression}


def _signature(error: BaseException) -> str:
    if isinstance(error, InternalExpressionError) and error.__cause__ is not None:
        # Strict mode's wrapper is raised in one place for every bug; group by the bug itself.
        error = error.__cause__
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/amlexec/" in f.filename]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].name}" if frames else "?"
    shape = re.sub(r"\d+", "N", str(error).split("\n")[0])[:90]
    return f"{type(error).__name__} at {where}: {shape}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--target", choices=sorted(CHECKS))
    args = parser.parse_args()
    groups: dict[str, list[Path]] = defaultdict(list)
    for file in args.files:
        target = args.target or ("expressions" if "expression" in str(file) else "payload")
        try:
            CHECKS[target](file.read_bytes())
        except Exception as error:
            groups[_signature(error)].append(file)
        else:
            groups["(passes now)"].append(file)
    for signature, files in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        smallest = min(files, key=lambda f: f.stat().st_size)
        print(f"{len(files):4d}  {signature}\n      smallest: {smallest} ({smallest.stat().st_size} bytes)")
    return 1 if set(groups) - {"(passes now)"} else 0


if __name__ == "__main__":
    raise SystemExit(main())
