"""Shared test setup: numba cache location, paths to the real datasets, a CLI helper."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Compiled kernels go where embedcli itself caches them (embedcli/__init__.py), so a test run warms
# the cache a direct `embedcli` run uses. A NUMBA_CACHE_DIR set by the caller wins; a relative one
# would follow each subprocess's cwd, so make it absolute.
if os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = str(Path(os.environ["NUMBA_CACHE_DIR"]).resolve())

#: ../shared/data next to the repository: real benchmark corpora, absent on some machines
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE_DATA = REPO / "sample_data"


@pytest.fixture
def shared_data() -> Path:
    """The shared datasets folder; the test is skipped when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def write_lines(tmp_path: Path):
    """Write lines (UTF-8, trailing newline) to ``tmp_path / name`` and return the path."""

    def write(name: str, lines: list[str]) -> Path:
        path = tmp_path / name
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    return write


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at the new directory ``where`` (a full disk on demand: we run
    as root in CI); the test is skipped where mounting is not allowed."""
    where.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)
