"""What importing a module drags in: launchers know requests, not how requests are made.

The layering itself is declared in pyproject.toml (import-linter, run by ``make test``); this checks what
the interpreter really loads, lazy imports excluded, the way ``python -X importtime`` reports it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

LAUNCHERS = [
    "amlexec.launch.base",
    "amlexec.launch.jobs",
    "amlexec.launch.component",
    "amlexec.launch.published",
    "amlexec.launch.batch_endpoint",
    "amlexec.launch.router",
    "amlexec.launch.local.launcher",
    "amlexec.runs",
    "amlexec.events",
    "amlexec.tracking",
]
REQUEST_MAKING = ("amlexec.expressions", "amlexec.validation", "amlexec.resolve", "amlexec.activity")


def _loaded(module: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # importtime writes "import time: self | cumulative | name" lines on stderr, the name indented by depth.
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("module", LAUNCHERS)
def test_a_launcher_imports_neither_the_expression_engine_nor_validation(module: str) -> None:
    dragged = sorted(m for m in _loaded(module) if m.startswith(REQUEST_MAKING))
    assert dragged == [], f"{module} imports {dragged}"


def test_the_check_can_see_what_it_looks_for() -> None:
    assert any(m.startswith("amlexec.expressions") for m in _loaded("amlexec.resolve"))
