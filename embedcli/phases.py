"""Phase markers for tests: signal a process at a known phase, not after a guessed delay.

When ``EMBEDCLI_TEST_READY_FILE`` names a file, ``reached(name)`` appends ``name`` and a newline
to it (each phase once per process): ``start`` (signal handlers installed, heavy imports next),
``imported``, ``command`` (a command body runs), ``reading`` (the first documents are being
read and encoded, in this process or in a shard worker). Otherwise it does nothing.

Stdlib only, no embedcli imports: any module may call it.
"""

from __future__ import annotations

import os

_FILE = os.environ.get("EMBEDCLI_TEST_READY_FILE")
_seen: set[tuple[int, str]] = set()


def reached(name: str) -> None:
    """Record that this process reached phase ``name`` (only when a test asked for it)."""
    if not _FILE:
        return
    key = (os.getpid(), name)  # forked workers record their own phases
    if key in _seen:
        return
    _seen.add(key)
    try:
        fd = os.open(_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{name}\n".encode())
        finally:
            os.close(fd)
    except OSError:
        pass
