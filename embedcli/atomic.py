"""Atomic outputs: build beside the target, then rename into place; special files written through.

A crash, an error or Ctrl-C never leaves a half-written output and never damages the old one:
``atomic_write`` writes ``.NAME.PID.XXXXXXXX.tmp`` beside the file and ``os.replace``-s it;
``atomic_dir`` builds a directory the same way and swaps it in with one
``renameat2(RENAME_EXCHANGE)`` (Linux), or else with two renames while SIGINT, SIGTERM and SIGHUP
are held back, so no signal can fall between them. What may be replaced, and the lock that
serialises writers, are decided by ``embedcli.outputs`` (``claim_outputs``); a write with no
claim still refuses to replace what embedcli did not write. A full disk or a reached file-size
limit is one ``DataError`` naming the output. ``-`` is standard output, written directly, and
so are character devices, FIFOs and ``/dev/stdout``-like paths.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from embedcli.errors import DataError
from embedcli.outputs import (
    Target,
    check_replaceable,
    describe_write_error,
    is_space_error,
    mark,
    old_name,
    target_for_write,
    temp_prefix,
)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_DEFERRED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def check_writable_dir(path: str | Path) -> None:
    """Raise DataError early if the directory that will hold ``path`` is missing or not writable."""
    if str(path) == "-":
        return
    parent = Path(os.path.realpath(path)).parent  # a symlink loop is reported by outputs.resolve
    if not parent.is_dir():
        if parent.exists():
            raise DataError(f"output directory is not a directory: {parent}")
        raise DataError(f"output directory does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise DataError(f"output directory is not writable: {parent}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _space_error(exc: OSError, target: Target, tmp: str | Path | None = None) -> DataError:
    return DataError(describe_write_error(exc, target.given, tmp))


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
    target, _force = target_for_write(path, "file")
    kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
    if target.special:
        with _write_through(target, mode, kwargs) as f:
            yield f
        return
    dest = target.dest
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(dest), suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        if is_space_error(exc):
            raise _space_error(exc, target) from None
        raise
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        mark(tmp)
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        error = _space_error(exc, target, tmp) if is_space_error(exc) else None
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if error is not None:
            raise error from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _write_through(target: Target, mode: str, kwargs: dict[str, Any]) -> Iterator[IO[Any]]:
    """A special file (device, FIFO, an inherited descriptor) is written in place, not replaced."""
    if target.fd is not None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        fd = os.dup(target.fd)
    else:
        fd = os.open(target.dest, os.O_WRONLY | os.O_CLOEXEC)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
    except OSError as exc:
        if is_space_error(exc):
            raise _space_error(exc, target) from None
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a directory under a temporary name and swap it into ``path`` on success.

    At every moment one complete directory is at ``path`` (the old one or the new one); the old
    one is removed after the swap. ``path`` may be replaced only if embedcli wrote it (or it is
    empty): checked again just before the swap.
    """
    target, _force = target_for_write(path, "dir")
    dest = target.dest
    try:
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(dest), suffix=".tmp", dir=dest.parent))
    except OSError as exc:
        if is_space_error(exc):
            raise _space_error(exc, target) from None
        raise
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        mark(tmp)
        yield tmp
        check_replaceable(target, force=False)
        install_dir(tmp, dest)
    except OSError as exc:
        error = _space_error(exc, target, tmp) if is_space_error(exc) else None
        shutil.rmtree(tmp, ignore_errors=True)
        if error is not None:
            raise error from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def install_dir(new: Path, dest: Path) -> None:
    """Put the complete directory ``new`` at ``dest``, replacing what is there, uninterruptibly."""
    if not os.path.lexists(dest):
        os.rename(new, dest)
        return
    if exchange(new, dest):
        shutil.rmtree(new, ignore_errors=True)  # ``new`` now holds the old directory
        return
    swap_by_renames(new, dest)


def _renameat2() -> Any:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError, ImportError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: str | Path, b: str | Path) -> bool:
    """Atomically swap the names ``a`` and ``b`` (renameat2 RENAME_EXCHANGE); False when the
    system or the file system cannot."""
    fn = _renameat2()
    if fn is None:
        return False
    import ctypes

    if fn(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_by_renames(new: Path, dest: Path) -> None:
    """``dest`` -> ``.NAME.old-PID``, ``new`` -> ``dest``, with SIGINT/SIGTERM/SIGHUP held back
    between the two renames; the old copy is removed afterwards (a kill in between leaves it for
    the next writer to restore, see ``embedcli.outputs.clean_debris``)."""
    old = old_name(dest)
    try:
        with signals_deferred():
            os.rename(dest, old)
            try:
                os.rename(new, dest)
            except BaseException:
                os.rename(old, dest)
                raise
    finally:
        if os.path.lexists(dest) and os.path.lexists(old):
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def signals_deferred(signums: tuple[int, ...] = _DEFERRED) -> Iterator[None]:
    """Hold back ``signums`` (blocked, and recorded by a deferring handler in case another
    thread receives them); they are delivered, in order, when the block ends."""
    main = threading.current_thread() is threading.main_thread()
    pending: list[int] = []
    handlers: dict[int, Any] = {}
    if main:
        for s in signums:
            handlers[s] = signal.signal(s, lambda n, _f: pending.append(n))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        for s, h in handlers.items():
            signal.signal(s, signal.SIG_DFL if h is None else h)
        errors: list[BaseException] = []
        try:  # signals that arrived while blocked reach their own handlers now
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        except BaseException as exc:  # KeyboardInterrupt from the restored SIGINT handler
            errors.append(exc)
        for s in dict.fromkeys(pending):  # those another thread took while we were blocked
            try:
                signal.raise_signal(s)
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
