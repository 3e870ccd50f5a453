"""Coverage-guided fuzzing (atheris) of payload parsing and resolution.

Each input is a raw request body: ``validate_payload`` then ``resolve`` and ``preview`` against a small
fixed registry (see ``fuzz/targets.py``). Only a result or an ``AmlexecError`` is acceptable; any other
exception, an input slower than ``FUZZ_TIME_BOUND`` seconds, or a resolved request outside the configured
allow-lists is reported by libFuzzer as a crash, with the input saved as ``crash-<sha1>``.

    .venv/bin/python fuzz/fuzz_payload.py fuzz/corpus/payload -max_total_time=60

(``fuzz/run.sh`` does this for every harness.)
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["amlexec", "fuzz"]):
    from fuzz.targets import check_payload


def test_one_input(data: bytes) -> None:
    check_payload(data)


def _argv() -> list[str]:
    # libFuzzer's -fork mode re-runs argv[0] through a shell: name the interpreter too, so the workers
    # use this virtualenv's Python whatever the script's permissions.
    return [f"{shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))}", *sys.argv[1:]]


def main() -> None:
    check_payload(b"{}")  # warm caches (time zones, pydantic) so the time bound measures the input
    atheris.Setup(_argv(), test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
