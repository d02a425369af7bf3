"""Atomic outputs: write to a temporary file beside the target, then ``os.replace`` it into place.

A crash, an error or Ctrl-C therefore never leaves a half-written file: either the old file (or
nothing) is there, or the complete new one. ``-`` means standard output and is written directly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from embedcli.errors import DataError


def check_writable_dir(path: str | Path) -> None:
    """Raise DataError early if the directory that will hold ``path`` is missing or not writable."""
    if str(path) == "-":
        return
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise DataError(f"output directory does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise DataError(f"output directory is not writable: {parent}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str = "utf-8") -> Iterator[IO[Any]]:
    """Open ``path`` for writing through a temporary file that replaces it on success only."""
    if str(path) == "-":
        if "b" in mode:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        else:
            yield sys.stdout
            sys.stdout.flush()
        return
    path = Path(path)
    check_writable_dir(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.resolve().parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it to ``path`` on success.

    An existing ``path`` is replaced only after the new directory is complete; it is moved aside
    first and removed after the rename, so at every moment one complete directory exists.
    """
    path = Path(path)
    check_writable_dir(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.resolve().parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        if path.exists():
            if not path.is_dir():
                raise DataError(f"output exists and is not a directory: {path}")
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
