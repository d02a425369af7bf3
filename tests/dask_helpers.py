"""Helpers shared by the ``--engine dask`` tests (test_dask_engine.py, test_dask_predict.py):
datasets split into files, partition plans, the environment of CLI subprocesses, a worker killed
mid-job, and the process tree read from /proc (no worker may outlive Ctrl-C)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def split(src: Path, folder: Path, n: int, limit: int | None = None) -> list[Path]:
    """``src``'s lines dealt into ``n`` files in order (the last without a final newline)."""
    lines = src.read_bytes().splitlines(keepends=True)[:limit]
    folder.mkdir(parents=True, exist_ok=True)
    per = -(-len(lines) // n)
    paths = []
    for i in range(n):
        p = folder / f"part{i:02d}.txt"
        chunk = b"".join(lines[i * per : (i + 1) * per])
        p.write_bytes(chunk.rstrip(b"\n") if i == n - 1 else chunk)
        paths.append(p)
    return paths


def plan(client, paths, options, size: int = 20_000):
    """The partitions ``dask_engine.plan`` makes of ``paths`` (its notes dropped)."""
    from embedcli import dask_engine
    from embedcli.inputs import expand_inputs

    parts, _notes = dask_engine.plan(expand_inputs([str(p) for p in paths]), options, client, size)
    return parts


def env() -> dict[str, str]:
    """The environment of a CLI subprocess that imports this checkout's embedcli."""
    return {**os.environ, "PYTHONPATH": str(REPO)}


def worker_killer(client) -> tuple[Callable[[int, int], None], list[int]]:
    """A progress callback that SIGKILLs one worker process after the first finished task, and
    the list it appends the killed pid to."""
    pids = list(client.run(os.getpid).values())
    killed: list[int] = []

    def kill_one(done, total):
        if done == 1 and not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    return kill_one, killed


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` in the process tree (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
