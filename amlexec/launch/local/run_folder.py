"""The files of a local run folder, and the few POSIX primitives the local launcher and its worker share.

A run folder ``<runs_root>/<run name>/`` holds:

``request.json``
    the LaunchRequest as received; written once, before the worker starts.
``plan.json``
    the bound steps the worker executes (commands rendered, folders chosen); written once, before the worker.
``state.json``
    where the run stands; replaced atomically (temp file + ``os.replace``) on every change, so a reader in
    any process sees either the old or the new document, never half of one.
``lock``
    ``flock``-ed by every writer of ``state.json`` (the launcher, the worker, a ``status`` that finds the
    worker dead), so a decision such as "the worker never started: fail the run" cannot race the worker.
``cancel``
    present once a cancel was requested; the worker also polls it, in case its signal was lost.
``worker.log``
    the worker's own stderr: a traceback lands here if the worker itself crashes.
``steps/<step>/std_log.txt``, ``steps/<step>/outputs/<name>/``, ``outputs/<name>/``
    per-step logs and outputs, and the pipeline's outputs.

This module imports only the standard library: the worker must start fast and the launcher runs in a
serverless function. It is POSIX-only (``fcntl``, process groups), like the rest of the local runner.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "CANCEL",
    "FINAL_RAW",
    "LOCK",
    "PLAN",
    "REQUEST",
    "STATE",
    "WORKER_LOG",
    "kill_group",
    "locked",
    "now_iso",
    "process_alive",
    "process_start_ticks",
    "read_json",
    "write_json_atomic",
]

REQUEST = "request.json"
PLAN = "plan.json"
STATE = "state.json"
LOCK = "lock"
CANCEL = "cancel"
WORKER_LOG = "worker.log"

# Azure ML's final job statuses, which are also the local runner's.
FINAL_RAW = frozenset({"Completed", "Failed", "Canceled"})


def now_iso() -> str:
    """The current instant as an ISO 8601 UTC string (what every time in the run folder is written as)."""
    return datetime.now(UTC).isoformat()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a concurrent reader sees the old file or the new one, never a partial write."""
    # A name unique per process and thread: two writers never share a temp file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """The parsed JSON at ``path``, or None when the file does not exist (yet)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold the run folder's exclusive lock (across threads and processes: one open file per holder)."""
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        # Closing the descriptor releases the flock.
        os.close(fd)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process from /proc, None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def process_start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), to tell it from a later process given the same pid."""
    if not Path("/proc").is_dir():
        return None
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def process_alive(pid: int, start_ticks: int | None) -> bool:
    """Whether the process recorded as (pid, start_ticks) still runs; zombies and reused pids count as gone."""
    if Path("/proc").is_dir():
        stat = _proc_stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            return False
        return start_ticks is None or stat[1] == start_ticks
    # Without /proc (macOS), signal 0 is the best test there is.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, sig: signal.Signals) -> None:
    """Signal a whole process group; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
