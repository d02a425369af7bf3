"""The ``embedcli`` command line: a thin Typer layer over the library.

Each command module registers its commands on the shared ``app``; ``app.COMMANDS`` names the
module of every command, which is imported only when that command runs or shows its help
(``embedcli --help`` imports none of them, nor numpy). Commands that need numba (train, predict,
evaluate, embed) import the engine inside their function body, so ``--help``, ``lookup``,
``export`` and ``info`` never import it.

SIGINT/SIGTERM/SIGHUP handlers (``interrupts``) are in place before typer, rich and numpy are
imported, so a signal at any moment gives one line and the documented exit code.
"""

from __future__ import annotations

import os
import time

from embedcli.cli import interrupts, stdio
from embedcli.phases import reached


def _process_age() -> float:
    """Seconds since this process started (the interpreter's own start-up included); 0 where
    /proc is not available."""
    try:
        with open("/proc/self/stat", "rb") as f:
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


#: when the process started, on the ``time.perf_counter`` clock: ``train`` reports
#: ``seconds total`` from here, so it is the whole wait (interpreter and imports included)
STARTED = time.perf_counter() - _process_age()

# A signal while the heavy modules below are imported: one line and exit (nothing is written yet).
_previous = interrupts.install()
try:
    reached("start")
    from embedcli.cli.app import app
finally:
    interrupts.restore(_previous)  # an importing program keeps its own handlers

__all__ = ["STARTED", "app", "main"]


def main() -> None:
    """Console-script entry point (also ``python -m embedcli``).

    Exit codes: 0 success (also when the reader of stdout went away early, as in ``| head``),
    1 data or library error, 2 usage error, 130/143/129 after SIGINT/SIGTERM/SIGHUP.
    """
    interrupts.install()
    stdio.guard_closed_streams()
    reached("imported")
    try:
        app()
        code: int = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.__context__, BrokenPipeError):  # rich's exit 1 when `| head` closed
            code = stdio.stdout_failed(exc.__context__)
    except OSError as exc:  # a write to stdout outside a command (``--help > /dev/full``)
        code = stdio.stdout_failed(exc)
    raise SystemExit(stdio.finish_stdout(code))
