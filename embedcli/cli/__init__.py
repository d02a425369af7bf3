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

import time

from embedcli.cli import interrupts, stdio
from embedcli.phases import reached

#: when the command line started (``train`` reports ``seconds total`` from here, imports included)
STARTED = time.perf_counter()

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
