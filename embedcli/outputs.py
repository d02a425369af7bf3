"""Output safety: what an output path may replace, checked before any work starts.

Every command that writes calls ``claim_outputs(outputs, inputs, force=...)`` around its work.
For each output it, in order:

1. pre-flight: refuses ``.``, ``..``, ``/``, a symlink loop, a missing or unwritable parent, and
   the wrong kind (a file where a directory goes, a directory or special file where a file goes);
2. ``guard_outputs``: refuses an output that is, contains or lies inside an input (symlinks
   resolved, hard links caught by ``st_dev``/``st_ino``) -- a usage error, exit 2;
3. ownership: an existing output is replaced only when embedcli wrote it: the ``user.embedcli``
   extended attribute (set on every file and directory embedcli writes, where the file system
   keeps it), a model or checkpoint directory's own manifest, the vocabulary header; an empty file
   or an empty directory holds nothing and may be replaced. ``--force`` lets a foreign *file* be
   replaced, never a foreign non-empty directory;
4. a lock (``.NAME.lock`` beside the output, ``flock``) held until the run ends: a second
   writer to the same output refuses at once, naming the pid of the first;
5. under that lock, debris of killed runs is cleaned: temporaries ``.NAME.PID.XXXXXXXX.tmp``
   and a half-swapped ``.NAME.old-PID`` (restored when NAME is missing) whose PID is dead.

A symlink output is followed: its target is replaced (in the target's directory) and the link
kept. Special files -- a character device, a FIFO, ``/dev/stdout``, ``/dev/fd/N`` and
``/proc/self/fd/N`` -- are written through, never replaced. The writers themselves
(``atomic_write``, ``atomic_dir``) are in ``embedcli.atomic``; they look up the claim made here
and, when a library caller made none, apply the ownership rule on their own (without a lock).

Left out: network file systems where ``flock`` is advisory per host; Windows.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from embedcli.errors import DataError, UsageError

#: extended attribute set on every file and directory embedcli writes
XATTR = "user.embedcli"
#: first bytes of the files whose format identifies them as embedcli's
SIGNATURES = (b"#embedcli-vocab\t",)
#: manifests that make a directory recognisably embedcli's: file -> accepted "format" values
DIR_MANIFESTS = {
    "config.json": ("embedcli-model",),
    "checkpoint.json": ("embedcli-checkpoint",),
    "manifest.json": ("embedcli-encoded", "embedcli-parts"),  # shard_dir; dask_predict parts
    "job.json": ("embedcli-encoded-job",),  # ... that its job has not finished yet
}
_FD_PATH = re.compile(r"^/(?:dev/fd|proc/(?:self|thread-self|\d+)/fd)/(\d+)$")
_STD_PATH = {"/dev/stdout": 1, "/dev/stderr": 2}


@dataclass(frozen=True)
class Output:
    """One output of a command: the path as given, ``file`` or ``dir``, the option that named it."""

    path: str
    kind: str = "file"
    option: str = "--output"

    def __post_init__(self) -> None:
        if self.kind not in ("file", "dir"):
            raise ValueError(f"kind must be 'file' or 'dir', not {self.kind!r}")


@dataclass
class Target:
    """Where the bytes of an output really go."""

    given: str
    kind: str
    dest: Path  # the real path (symlinks followed); for a write-through fd, the path as given
    fd: int | None = None  # /dev/stdout, /dev/fd/N, /proc/self/fd/N: write to this descriptor
    special: bool = False  # written through (character device, FIFO, fd path), never replaced


@dataclass
class Claim:
    target: Target
    force: bool
    lock_fd: int | None = None
    lock_path: Path | None = None
    cleaned: list[str] = field(default_factory=list)


#: claims held by this process, by real destination path
_CLAIMS: dict[str, Claim] = {}


def shown(path: str | Path) -> str:
    """A path for a one-line message: as is when printable, else quoted with escapes."""
    text = str(path)
    return text if text.isprintable() else repr(text)


# ------------------------------------------------------------------------------------ pre-flight
def resolve(path: str | Path, kind: str = "file", option: str = "--output") -> Target:
    """The real destination of an output path; pre-flight errors are raised here."""
    given = str(path)
    label = f"{option} {shown(given)}"
    norm = os.path.normpath(given) if given else ""
    if not given or os.path.basename(norm) in ("", ".", "..") or norm == "/":
        raise UsageError(f"{label}: not a usable output path; name a new file or directory")
    absolute = os.path.abspath(given)
    fd = _STD_PATH.get(absolute)
    m = _FD_PATH.match(absolute)
    if m and (m.group(0).split("/")[2] in ("fd", "self", "thread-self", str(os.getpid()))):
        fd = int(m.group(1))
    if fd is not None:
        if kind == "dir":
            raise UsageError(f"{label}: a directory output cannot go to a file descriptor")
        try:
            os.fstat(fd)
        except OSError:
            raise DataError(f"{label}: file descriptor {fd} is not open") from None
        return Target(given, kind, Path(given), fd=fd, special=True)
    try:
        st = os.stat(given)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{label}: a symbolic link loop") from None
        if exc.errno == errno.ENOTDIR:
            raise UsageError(f"{label}: a part of the path is not a directory") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise UsageError(f"{label}: the name is too long") from None
        raise DataError(f"{label}: {exc.strerror}") from None
    dest = Path(os.path.realpath(given))
    parent = dest.parent
    if not parent.is_dir():
        if parent.exists():
            raise DataError(f"output directory is not a directory: {shown(parent)}")
        raise DataError(f"output directory does not exist: {shown(parent)}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"output directory is not writable: {shown(parent)}")
    if dest == Path(dest.anchor) or dest.name in ("", ".", ".."):
        raise UsageError(f"{label}: not a usable output path; name a new file or directory")
    if st is not None:
        mode = st.st_mode
        if kind == "dir" and not stat.S_ISDIR(mode):
            raise UsageError(
                f"{label}: exists and is not a directory; a directory goes there "
                "(remove it or choose another path)"
            )
        if kind == "file":
            if stat.S_ISDIR(mode):
                raise UsageError(f"{label}: is a directory; a file goes there")
            if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
                return Target(given, kind, dest, special=True)
            if not stat.S_ISREG(mode):
                raise UsageError(f"{label}: is a block device or socket; refusing to write it")
    return Target(given, kind, dest)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _inside(inner: str, outer: str) -> bool:
    return inner != outer and inner.startswith(outer.rstrip(os.sep) + os.sep)


def guard_outputs(outputs: Sequence[Output | Target], inputs: Sequence[str | Path | None]) -> None:
    """Refuse (UsageError) an output that is, contains or lies inside one of ``inputs``.

    Inputs are files or directories (a model directory); ``-``, empty and missing ones are
    skipped, and so are special files (a terminal is both stdin and stdout and that is fine).
    """
    targets = [o if isinstance(o, Target) else resolve(o.path, o.kind, o.option) for o in outputs]
    for t in targets:
        out_real = str(t.dest)
        try:
            out_st: os.stat_result | None = (
                os.fstat(t.fd) if t.fd is not None else os.stat(out_real)
            )
        except OSError:
            out_st = None
        if t.fd is not None:  # /dev/stdout & co.: only the file it is opened on can be an input
            out_real = ""
            if out_st is None or not stat.S_ISREG(out_st.st_mode):
                continue
        for inp in inputs:
            if inp is None or str(inp) in ("", "-"):
                continue
            try:
                in_st = os.stat(inp)
            except OSError:
                continue  # the command reports a missing input itself
            if not (stat.S_ISREG(in_st.st_mode) or stat.S_ISDIR(in_st.st_mode)):
                continue
            in_real = os.path.realpath(inp)
            if in_real == out_real or (out_st is not None and _same_file(in_st, out_st)):
                raise UsageError(
                    f"the output {shown(t.given)} is the input {shown(inp)}; choose another path"
                )
            if out_real and _inside(out_real, in_real):
                raise UsageError(
                    f"the output {shown(t.given)} lies inside the input {shown(inp)}; choose another path"
                )
            if out_real and _inside(in_real, out_real):
                raise UsageError(
                    f"the output {shown(t.given)} contains the input {shown(inp)}; choose another path"
                )


# ------------------------------------------------------------------------------------ ownership
def is_marked(path: str | Path) -> bool:
    """True when ``path`` carries embedcli's extended attribute."""
    try:
        return os.getxattr(path, XATTR, follow_symlinks=False) != b""
    except OSError:
        return False


def mark(path: str | Path) -> None:
    """Set embedcli's extended attribute (best effort: file systems without xattrs are fine)."""
    with contextlib.suppress(OSError):
        os.setxattr(path, XATTR, b"1", follow_symlinks=False)


def dir_is_ours(path: str | Path) -> bool:
    """A directory embedcli wrote (marked, or a model/checkpoint manifest) or an empty one."""
    path = Path(path)
    try:
        names = os.listdir(path)
    except OSError:
        return False
    if not names or is_marked(path):
        return True
    for manifest, formats in DIR_MANIFESTS.items():
        if manifest in names:
            try:
                with open(path / manifest, "rb") as f:
                    data = json.loads(f.read(1 << 20) or b"null")
            except (OSError, ValueError, RecursionError):
                continue
            if isinstance(data, dict) and data.get("format") in formats:
                return True
    return False


def file_is_ours(path: str | Path) -> bool:
    """A regular file embedcli wrote (marked or with a known signature) or an empty one."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    if st.st_size == 0 or is_marked(path):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head.startswith(SIGNATURES)


def check_replaceable(target: Target, force: bool) -> None:
    """Refuse (UsageError) to replace an existing output that embedcli did not write."""
    if target.special or not os.path.lexists(target.dest):
        return
    if target.kind == "dir":
        if os.path.isdir(target.dest) and not dir_is_ours(target.dest):
            raise UsageError(
                f"{shown(target.given)} is a directory that embedcli did not write; refusing to replace "
                "it, even with --force (remove it yourself or choose another path)"
            )
        return
    if not force and not file_is_ours(target.dest):
        raise UsageError(
            f"{shown(target.given)} exists and was not written by embedcli; refusing to replace it "
            "(use --force to overwrite it)"
        )


def target_for_write(path: str | Path, kind: str) -> tuple[Target, bool]:
    """The target of a write and its ``force`` flag: the claim's, or an implicit check."""
    target = resolve(path, kind)
    claim = _CLAIMS.get(str(target.dest)) if target.fd is None else None
    if claim is not None:
        return claim.target, claim.force
    check_replaceable(target, force=False)
    return target, False


# ---------------------------------------------------------------------------- naming, debris
def temp_prefix(dest: Path) -> str:
    """Prefix of a temporary beside ``dest``: ``.NAME.PID.`` (``mkstemp`` adds 8 characters)."""
    return f".{dest.name}.{os.getpid()}."


def old_name(dest: Path) -> Path:
    """Where ``dest`` waits during a two-rename swap."""
    return dest.with_name(f".{dest.name}.old-{os.getpid()}")


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def clean_debris(dest: Path) -> list[str]:
    """Restore or remove what killed runs left beside ``dest``; returns what was done.

    Only names of our own pattern whose PID is dead are touched: ``.NAME.PID.XXXXXXXX.tmp``
    is removed; ``.NAME.old-PID`` is renamed back to NAME when NAME is missing, and removed when
    NAME is present and the old copy is embedcli's. Call it while holding the output's lock.
    """
    done: list[str] = []
    name = re.escape(dest.name)
    tmp_re = re.compile(rf"^\.{name}\.(\d+)\.[a-z0-9_]{{8}}\.tmp$")
    old_re = re.compile(rf"^\.{name}\.old-(\d+)$")
    try:
        entries = os.listdir(dest.parent)
    except OSError:
        return done
    for entry in entries:
        m = tmp_re.match(entry) or old_re.match(entry)
        if not m or pid_alive(int(m.group(1))):
            continue
        path = dest.parent / entry
        if m.re is tmp_re:
            _remove(path)
            done.append(f"removed {path}")
        elif not os.path.lexists(dest):
            os.rename(path, dest)
            done.append(f"restored {dest} from {path}")
        elif (path.is_dir() and dir_is_ours(path)) or file_is_ours(path):
            _remove(path)
            done.append(f"removed {path}")
    return done


def spill_dir(prefix: str = "embedcli-shards") -> str:
    """A private temporary folder ``PREFIX-PID-XXXXXXXX`` in TMPDIR; folders of the same prefix
    left by dead processes are removed first."""
    root = tempfile.gettempdir()
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)-[a-z0-9_]{{8}}$")
    with contextlib.suppress(OSError):
        for entry in os.listdir(root):
            m = pattern.match(entry)
            if m and not pid_alive(int(m.group(1))):
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-", dir=root)


# ------------------------------------------------------------------------------------ locking
def _lock(target: Target) -> tuple[int, Path]:
    """``flock`` ``.NAME.lock`` beside the output (lock, then verify the inode is still the
    file's, so the lock file can be unlinked at release without a race)."""
    lock_path = target.dest.with_name(f".{target.dest.name}.lock")
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise DataError(f"cannot create the lock file {lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise DataError(f"another embedcli run{who} is writing {shown(target.given)}") from None
        try:
            same = _same_file(os.fstat(fd), os.stat(lock_path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder unlinked it between our open and flock: take the new one
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd, lock_path


def _unlock(claim: Claim) -> None:
    if claim.lock_fd is None:
        return
    with contextlib.suppress(OSError):
        if claim.lock_path is not None:
            os.unlink(claim.lock_path)
    with contextlib.suppress(OSError):
        os.close(claim.lock_fd)
    claim.lock_fd = None


@contextlib.contextmanager
def claim_outputs(
    outputs: Sequence[Output],
    inputs: Sequence[str | Path | None] = (),
    *,
    force: bool = False,
) -> Iterator[list[Claim]]:
    """Check, lock and clean every output before the work starts; release them at the end.

    ``-`` (standard output) is skipped. Raises UsageError (exit 2) for a bad or foreign output
    and for an output that is, contains or lies inside an input; DataError (exit 1) for a missing
    parent directory or another embedcli run writing the same output.
    """
    outputs = [o for o in outputs if o.path != "-"]
    targets = [resolve(o.path, o.kind, o.option) for o in outputs]
    guard_outputs(targets, inputs)
    seen: set[str] = set()
    for t in targets:
        if t.fd is None and str(t.dest) in seen:
            raise UsageError(f"{shown(t.given)} is named as two outputs; choose different paths")
        seen.add(str(t.dest))
        check_replaceable(t, force)
    claims: list[Claim] = []
    try:
        for t in targets:
            claim = Claim(t, force)
            if not t.special:
                claim.lock_fd, claim.lock_path = _lock(t)
                claim.cleaned = clean_debris(t.dest)
                check_replaceable(t, force)  # a restored .old may now be there
                _CLAIMS[str(t.dest)] = claim
            claims.append(claim)
        yield claims
    finally:
        for claim in reversed(claims):
            if _CLAIMS.get(str(claim.target.dest)) is claim:
                del _CLAIMS[str(claim.target.dest)]
            _unlock(claim)


# --------------------------------------------------------------------------- write errors
def describe_write_error(exc: OSError, path: str, written_at: str | Path | None = None) -> str:
    """One line for a failed write: a full disk or a file-size limit named as such."""
    code = exc.errno
    where = Path(written_at) if written_at is not None else Path(path)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {shown(path)}: the disk is full ({exc.strerror})"
    if code == errno.EFBIG:
        return f"cannot write {shown(path)}: the file-size limit (ulimit -f) is reached"
    if code is None and "requested and" in str(exc):  # numpy's short write, no errno
        if _over_size_limit(where):
            return f"cannot write {shown(path)}: the file-size limit (ulimit -f) is reached"
        if _disk_full(where):
            return f"cannot write {shown(path)}: the disk is full"
        return f"cannot write {shown(path)}: short write ({exc})"
    return f"cannot write {shown(path)}: {exc.strerror or exc}"


def is_space_error(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or (
        exc.errno is None and "requested and" in str(exc)
    )


def _over_size_limit(path: Path) -> bool:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft == resource.RLIM_INFINITY:
        return False
    try:
        sizes = [p.stat().st_size for p in ([path] if path.is_file() else path.rglob("*"))]
    except OSError:
        return False
    return any(s >= soft for s in sizes)


def _disk_full(path: Path) -> bool:
    probe = path if path.exists() else path.parent
    try:
        st = os.statvfs(probe)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (1 << 20)
