"""Talk to Data Factory's own expression engine in a separate interpreter (the test oracle).

The engine needs .NET (pythonnet + a bundled runtime, ~200 MB), so it lives in its own virtual
environment made by ``make oracle-env`` (``.venv-oracle``) and is reached through a subprocess.
``AMLEXEC_ORACLE_PYTHON`` overrides the interpreter path.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("oracle_worker.py")
ANSWER_PREFIX = "@@oracle "


def oracle_python() -> Path | None:
    configured = os.environ.get("AMLEXEC_ORACLE_PYTHON")
    candidate = Path(configured) if configured else ROOT / ".venv-oracle" / "bin" / "python"
    return candidate if candidate.exists() else None


class Oracle:
    """A running engine process; ``ask`` returns the engine's answer dict for one expression."""

    def __init__(self, python: Path) -> None:
        env = dict(os.environ, TZ="UTC", LANG="en_US.UTF-8", LC_ALL="en_US.UTF-8")
        env.pop("PYTHONPATH", None)
        self._proc = subprocess.Popen(
            [str(python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def ask(
        self, expression: str, pipeline: dict[str, Any] | None = None, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        query = {"expression": expression, "pipeline": pipeline or {}, "variables": variables or {}}
        self._proc.stdin.write(json.dumps(query) + "\n")
        self._proc.stdin.flush()
        while True:
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError("oracle process ended")
            if line.startswith(ANSWER_PREFIX):
                answer: dict[str, Any] = json.loads(line[len(ANSWER_PREFIX) :])
                return answer

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)
