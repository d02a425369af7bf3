"""SIGINT, SIGTERM and SIGHUP at any moment: one line on stderr and a documented exit code.

==========  =============  =========
signal      message        exit code
==========  =============  =========
SIGINT      Interrupted    130
SIGTERM     Terminated     143
SIGHUP      Hangup         129
==========  =============  =========

(128 + the signal number, as shells report a process killed by that signal.)

``install()`` runs before anything heavy is imported (typer, rich, numpy, numba). Outside a
command (imports, option parsing, ``--help``) nothing is being written, so the handler prints its
one line and ends the process at once. Inside a command (``command()``, entered by
``app.handle_errors``) it raises instead: ``KeyboardInterrupt`` for SIGINT, ``Terminated`` /
``Hangup`` (subclasses of it) for the others, so temporary outputs are removed on the way out
exactly as for Ctrl-C, and ``handle_errors`` prints the line.

Stdlib only: importing this module must stay cheap.

Left out: the first milliseconds of interpreter start-up, before any embedcli code runs, are
Python's own (a SIGTERM there ends the process as the default action does).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
MESSAGES = {signal.SIGINT: "Interrupted", signal.SIGTERM: "Terminated", signal.SIGHUP: "Hangup"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so outputs are cleaned up as for Ctrl-C."""

    signum = signal.SIGTERM


class Hangup(Terminated):
    """SIGHUP (the terminal was closed): cleaned up like SIGTERM."""

    signum = signal.SIGHUP


_EXCEPTIONS: dict[int, type[KeyboardInterrupt]] = {
    signal.SIGINT: KeyboardInterrupt,
    signal.SIGTERM: Terminated,
    signal.SIGHUP: Hangup,
}

#: how many commands are running (``command()`` contexts); 0 = exit at once on a signal
_depth = 0


def exit_code(signum: int) -> int:
    return 128 + int(signum)


def signal_of(exc: BaseException) -> int:
    """The signal a KeyboardInterrupt (or Terminated/Hangup) stands for."""
    return getattr(exc, "signum", signal.SIGINT)


def handler(signum: int, frame: Any) -> None:
    """Raise inside a command (cleanup on the way out); outside one, one line and exit now."""
    if _depth > 0:
        raise _EXCEPTIONS.get(signum, KeyboardInterrupt)()
    exit_now(signum)


def exit_now(signum: int, detail: str = "") -> None:
    """Write ``Interrupted`` (or ``Terminated``...) on fd 2 and end the process: no cleanup runs,
    no buffer is flushed (a flush from a signal handler can re-enter the writer)."""
    with contextlib.suppress(OSError):
        os.write(2, f"{MESSAGES.get(signum, 'Interrupted')}{detail}.\n".encode())
    os._exit(exit_code(signum))


def install() -> dict[int, Any]:
    """Install ``handler`` for SIGINT, SIGTERM and SIGHUP; return the previous handlers.

    Does nothing off the main thread (Python only runs handlers there), and leaves a signal that
    is ignored (``nohup``, a shell's background job) ignored.
    """
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for sig in HANDLED:
        old = signal.getsignal(sig)
        if old == signal.SIG_IGN:
            continue
        previous[sig] = signal.signal(sig, handler)
    return previous


def restore(previous: dict[int, Any]) -> None:
    """Put back handlers returned by ``install`` (where ours is still the one installed)."""
    for sig, old in previous.items():
        if signal.getsignal(sig) is handler and old is not None:
            signal.signal(sig, old)


@contextlib.contextmanager
def command() -> Iterator[None]:
    """While a command runs, SIGINT/SIGTERM/SIGHUP raise (see the module docstring)."""
    global _depth
    previous = install()
    _depth += 1
    try:
        yield
    finally:
        _depth = max(0, _depth - 1)
        if _depth == 0:
            restore(previous)


def leave_command() -> None:
    """From here on a further signal exits at once (the command is already unwinding)."""
    global _depth
    _depth = 0
