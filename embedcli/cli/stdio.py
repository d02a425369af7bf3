"""Standard streams that are closed, full or whose reader went away: one line, never a traceback.

- A closed stdin/stdout/stderr (``<&-``, ``>&-``, ``2>&-``): ``/dev/null`` takes the descriptor,
  so no file opened later can land on fd 0/1/2, and ``sys.stdin``/``sys.stdout`` become streams
  whose use fails with ``OSError`` "standard input/output is closed" (one ``Error:`` line, exit
  1, from ``handle_errors``). A command that writes nothing to stdout still succeeds.
- A reader that closes the pipe early (``| head -1``): exit 0, quietly, for every command and for
  ``--help``, as Unix filters do.
- Any other failed write to stdout (``> /dev/full``): one ``Error:`` line naming standard
  output, exit 1.

Stdlib only.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from typing import Any


class ClosedStream(io.TextIOBase):
    """Stands for a standard stream whose descriptor was closed when the process started."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def _fail(self, *args: Any) -> Any:
        raise OSError(f"{self._name} is closed")  # no errno: the message reads as one phrase

    write = read = readline = readlines = writelines = fileno = _fail

    @property
    def buffer(self) -> ClosedStream:  # binary users (``sys.stdout.buffer``) fail the same way
        return self

    def readinto(self, b: Any) -> Any:
        return self._fail()

    def isatty(self) -> bool:
        return False

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass


#: the ``filename`` of an OSError from a write to stdout (see ``NamedStdout``)
STDOUT = "standard output"


class NamedStdout:
    """``sys.stdout`` whose write errors name it (``exc.filename``), so a full disk or a closed
    pipe behind stdout is reported as "cannot write to standard output", not as a bare errno."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._stream, method)(*args)
        except OSError as exc:
            if exc.filename is None:
                exc.filename = STDOUT
            raise

    def write(self, s: Any) -> Any:
        return self._call("write", s)

    def writelines(self, lines: Any) -> Any:
        return self._call("writelines", lines)

    def flush(self) -> None:
        self._call("flush")

    @property
    def buffer(self) -> NamedStdout:
        return NamedStdout(self._stream.buffer)


def guard_closed_streams() -> None:
    """Give closed descriptors 0/1/2 to ``/dev/null`` and closed ``sys`` streams a stand-in."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                new = os.open(os.devnull, os.O_RDWR)
            except OSError:
                continue
            if new != fd:
                os.dup2(new, fd)
                os.close(new)
    if sys.stdin is None:
        sys.stdin = ClosedStream("standard input")
    if sys.stdout is None:
        sys.stdout = ClosedStream(STDOUT)
    else:
        sys.stdout = NamedStdout(sys.stdout)  # type: ignore[assignment]
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


def silence_stdout() -> None:
    """Point stdout's descriptor at /dev/null, so the flush at exit cannot fail (or print) again.
    (A stdout without a descriptor, as in tests that capture it, is left alone.)"""
    try:
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except (OSError, ValueError):
        pass


def stdout_failed(exc: OSError) -> int:
    """The exit code for a write to stdout that failed outside a command (help, version)."""
    if exc.errno == errno.EPIPE:
        silence_stdout()
        return 0
    reason = exc.strerror or str(exc)
    message = reason if reason.endswith("is closed") else f"cannot write to {STDOUT}: {reason}"
    with contextlib.suppress(Exception):
        sys.stderr.write(f"Error: {message}\n")
        sys.stderr.flush()
    silence_stdout()
    return 1


def finish_stdout(code: int) -> int:
    """Flush stdout before the interpreter does, and turn a failure into the exit code.

    Typer maps a broken pipe to exit 1 after wrapping the streams: here it is exit 0, as for
    the commands. A failed flush after an error keeps the first error's code (one line only).
    """
    if type(sys.stdout).__name__ == "PacifyFlushWrapper":  # typer saw EPIPE on stdout
        silence_stdout()
        return 0 if code == 1 else code
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    except OSError as exc:
        if code == 0:
            return stdout_failed(exc)
        silence_stdout()
    except ValueError:  # closed by the command
        pass
    return code
