"""Signals at every phase, killed workers, a full $TMPDIR, closed and full standard streams.

Every test runs the real ``python -m embedcli`` in a subprocess with a timeout, so a hang fails
instead of blocking CI. Signals are sent at a known phase (``EMBEDCLI_TEST_READY_FILE``, see
``embedcli/phases.py``) plus a delay, never after a delay from spawning alone. The rule checked
everywhere: exactly one line on stderr, the documented exit code, no traceback.

Exit codes (README): 130 SIGINT, 143 SIGTERM, 129 SIGHUP; 0 when the reader of stdout went away
(``| head``); 1 for a closed or full stdout that had data to take, a dead worker, a full TMPDIR.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from conftest import tmpfs

REPO = Path(__file__).resolve().parents[1]
IMDB = REPO.parent.parent / "shared" / "data" / "imdb" / "train.txt"
TIMEOUT = 60
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
WORDS = {signal.SIGINT: "Interrupted", signal.SIGTERM: "Terminated", signal.SIGHUP: "Hangup"}
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", **extra}


def cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "embedcli", *map(str, args)]


def run(*args: str | Path, environ: dict[str, str] | None = None, **kw: object) -> Result:
    """Run the CLI in its own process group; on a timeout the whole group is killed (a hung
    worker would otherwise keep the pipes open and hang the test too)."""
    p = subprocess.Popen(
        cli(*args),
        stdout=kw.pop("stdout", subprocess.PIPE),  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        env=environ or env(),
        start_new_session=True,
        **kw,  # type: ignore[arg-type]
    )
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_group(p)
        pytest.fail(f"hung: {args} did not end within {TIMEOUT} s")
    return Result(p.returncode, out or b"", err)


class Result(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes


def kill_group(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait(10)


def one_line(err: bytes | str) -> str:
    text = err.decode("utf-8", "replace") if isinstance(err, bytes) else err
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def words(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(2000)])
    lines = []
    for row in rng.integers(0, 2000, size=(n, 12)):
        label = "pos" if row[0] < 1000 else "neg"
        lines.append(f"__label__{label} " + " ".join(vocab[row]))
    return lines


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small corpus, its vocabulary and a tiny trained model."""
    d = tmp_path_factory.mktemp("faults")
    (d / "small.txt").write_text("\n".join(words(2000)) + "\n", encoding="utf-8")
    r = run("build-vocab", d / "small.txt", "-o", d / "vocab.tsv", "-q")
    assert r.returncode == 0, r.stderr
    r = run(
        "train", d / "small.txt", "-o", d / "model", "--dim", "4", "--epochs", "1", "--threads",
        "1", "-q",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return d


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus large enough for the forked shard workers (the parallel path starts at 8 MB)."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("the shard workers need two cores")
    if IMDB.is_file():
        return IMDB
    path = tmp_path_factory.mktemp("big") / "big.txt"
    block = ("\n".join(words(20000, seed=1)) + "\n").encode()
    with open(path, "wb") as f:
        for _ in range(-(-(24 << 20) // len(block))):
            f.write(block)
    return path


class Spawned:
    """A CLI subprocess with a phase file; stderr collected by a thread (no pipe deadlock)."""

    def __init__(self, args: list[str | Path], tmp: Path, **env_extra: str) -> None:
        self.ready = tmp / f"phases-{time.monotonic_ns()}"
        self.p = subprocess.Popen(
            cli(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env(EMBEDCLI_TEST_READY_FILE=str(self.ready), **env_extra),
            cwd=tmp,
            start_new_session=True,
        )
        self.err = b""
        self.t = threading.Thread(target=self._drain, daemon=True)
        self.t.start()

    def _drain(self) -> None:
        assert self.p.stderr is not None
        self.err = self.p.stderr.read()

    def phases(self) -> list[str]:
        try:
            return self.ready.read_text().split()
        except FileNotFoundError:
            return []

    def wait_until(self, check, what: str, timeout: float = TIMEOUT) -> None:  # noqa: ANN001
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if check():
                return
            if self.p.poll() is not None:
                self.t.join(5)
                pytest.fail(f"ended (exit {self.p.returncode}) before {what}: {self.err!r}")
            time.sleep(0.002)
        kill_group(self.p)
        pytest.fail(f"no {what} within {timeout} s")

    def wait_phase(self, phase: str) -> None:
        if phase == "numpy":
            self.wait_until(self.numpy_mapped, "numpy being imported")
        else:
            self.wait_until(lambda: phase in self.phases(), f"phase {phase!r}")

    def numpy_mapped(self) -> bool:
        try:
            return "_multiarray_umath" in Path(f"/proc/{self.p.pid}/maps").read_text()
        except OSError:
            return False

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.p.pid}/task/{self.p.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def finish(self, timeout: float = 30) -> tuple[int, bytes]:
        try:
            code = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(self.p)
            pytest.fail(f"hung: no exit within {timeout} s")
        self.t.join(10)
        return code, self.err


def gone(pid: int) -> bool:
    """The process no longer exists (or is a zombie nobody reaped, which runs nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


# -- 1. signals at every phase ----------------------------------------------------------------------
#: (phase, delay after it): interpreter imports (typer, rich, numpy), option parsing, the
#: command's own imports (numba), reading the corpus. "numpy" is seen from outside (numpy's
#: C extension is mapped: the CLI's imports are under way), so it needs no marker of ours.
MOMENTS = [
    ("numpy", 0.0),
    ("start", 0.0),
    ("start", 0.05),
    ("start", 0.2),
    ("imported", 0.0),
    ("command", 0.0),
    ("reading", 0.0),
]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_at_any_phase_gives_one_line_and_its_exit_code(
    work: Path, tmp_path: Path, sig: int
) -> None:
    out = tmp_path / "model"
    for phase, delay in MOMENTS:
        p = Spawned(
            ["train", work / "small.txt", "-o", out, "--dim", "4", "--epochs", "50", "-q"],
            tmp_path,
        )
        p.wait_phase(phase)
        time.sleep(delay)
        p.p.send_signal(sig)
        code, err = p.finish()
        line = one_line(err)
        assert code == CODES[sig], (phase, delay, code, err)
        assert line.startswith(WORDS[sig]), (phase, delay, err)
        assert not out.exists(), (phase, delay)
        assert sorted(x.name for x in tmp_path.iterdir() if not x.name.startswith("phases-")) == []


# -- 2. shard workers and the temporary folder --------------------------------------------------------
def test_a_killed_worker_fails_the_command_in_one_line(
    work: Path, big: Path, tmp_path: Path
) -> None:
    """SIGKILL, as the out-of-memory killer sends it: no hang, one line, nothing left behind."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "ids.npy"
    p = Spawned(
        ["encode", big, "--vocab", work / "vocab.tsv", "-o", out], tmp_path, TMPDIR=str(tmpdir)
    )
    p.wait_until(lambda: len(p.children()) >= 2, "two shard workers")
    workers = p.children()
    os.kill(workers[0], signal.SIGKILL)
    code, err = p.finish(timeout=15)
    line = one_line(err)
    assert code == 1, err
    assert "worker" in line and "signal 9" in line and "out of memory" in line, line
    assert all(gone(pid) for pid in workers), "a worker outlived the command"
    assert not out.exists()
    assert list(tmpdir.iterdir()) == [], list(tmpdir.iterdir())


def test_sigterm_while_workers_run_is_answered_at_once(
    work: Path, big: Path, tmp_path: Path
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    p = Spawned(
        ["encode", big, "--vocab", work / "vocab.tsv", "-o", tmp_path / "ids.npy"],
        tmp_path,
        TMPDIR=str(tmpdir),
    )
    p.wait_until(lambda: len(p.children()) >= 2, "two shard workers")
    workers = p.children()
    p.p.send_signal(signal.SIGTERM)  # to the parent only, as `kill PID` does
    code, err = p.finish(timeout=10)
    assert code == 143, err
    assert one_line(err) == "Terminated; no partial output was written."
    assert all(gone(pid) for pid in workers), "a worker outlived the command"
    assert list(tmpdir.iterdir()) == []


@pytest.fixture
def tiny_tmpdir(tmp_path: Path):
    """A 1 MB tmpfs to serve as $TMPDIR (we run as root in CI; skipped where mount fails)."""
    with tmpfs(tmp_path / "tinytmp", "1M") as mnt:
        yield mnt


@pytest.mark.parametrize(
    "case",
    ["spill-in-process", "spill-in-workers", "shard-parts"],
)
def test_a_full_tmpdir_fails_in_one_line_naming_it(
    work: Path, big: Path, tmp_path: Path, tiny_tmpdir: Path, case: str
) -> None:
    """Before: a SIGBUS death (exit 135), a hang that ignored SIGTERM, "N requested and M written"."""
    if case == "spill-in-process":  # under the 8 MB of the parallel path
        corpus = tmp_path / "mid.txt"
        with open(big, "rb") as f:
            corpus.write_bytes(f.read(5 << 20).rsplit(b"\n", 1)[0] + b"\n")
    else:
        corpus = big
    limit = {"EMBEDCLI_MEM_LIMIT": "64K"} if case.startswith("spill") else {}
    out = tmp_path / "ids.npy"
    r = run(
        "encode",
        corpus,
        "--vocab",
        work / "vocab.tsv",
        "-o",
        out,
        environ=env(TMPDIR=str(tiny_tmpdir), **limit),
    )
    line = one_line(r.stderr)
    assert r.returncode == 1, r.stderr
    assert str(tiny_tmpdir) in line and "TMPDIR" in line and "full" in line, line
    assert not out.exists()
    assert list(tiny_tmpdir.iterdir()) == []


# -- 3. standard streams --------------------------------------------------------------------------------
def closed_fd(fd: int):  # noqa: ANN201
    return lambda: os.close(fd)


@pytest.mark.parametrize(
    "args,fd,code,message",
    [
        (["predict", "{model}", "{small}"], 1, 1, "Error: standard output is closed"),
        (["info", "{model}"], 1, 1, "Error: standard output is closed"),
        (["--help"], 1, 1, "Error: standard output is closed"),
        (["predict", "{model}", "-"], 0, 1, "standard input is closed"),
        (["build-vocab", "{small}", "-o", "{tmp}/v.tsv", "-q"], 1, 0, None),  # no stdout needed
    ],
    ids=["predict-stdout", "info-stdout", "help-stdout", "predict-stdin", "build-vocab-stdout"],
)
def test_a_closed_standard_stream(
    work: Path, tmp_path: Path, args: list[str], fd: int, code: int, message: str | None
) -> None:
    """``>&-`` / ``<&-``: before, "internal error: AttributeError"."""
    names = {"model": work / "model", "small": work / "small.txt", "tmp": tmp_path}
    argv = [a.format(**names) for a in args]
    r = run(*argv, preexec_fn=closed_fd(fd))
    assert r.returncode == code, r.stderr
    if message is None:
        assert r.stderr == b""
    else:
        line = one_line(r.stderr)
        assert message in line and "internal error" not in line, line


READER_GONE = [
    ["--help"],
    ["info", "{model}"],
    ["nearest", "{model}", "w1"],
    ["predict", "{model}", "{small}"],
    ["lookup", "{model}", "w1", "w2"],
    ["encode", "{small}", "--vocab", "{vocab}", "-o", "-"],
]


@pytest.mark.parametrize("args", READER_GONE, ids=lambda a: a[0].strip("-"))
def test_a_reader_that_went_away_gives_a_quiet_exit_0(
    work: Path, tmp_path: Path, args: list[str]
) -> None:
    """``| head`` closed the pipe before the output came: exit 0 and nothing on stderr, for every
    command and for --help (before: tables and --help exited 1)."""
    names = {"model": work / "model", "small": work / "small.txt", "vocab": work / "vocab.tsv"}
    argv = [a.format(**names) for a in args]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte
    try:
        r = run(*argv, stdout=write_end)
    finally:
        os.close(write_end)
    assert r.returncode == 0, r.stderr
    assert r.stderr == b"", r.stderr


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["info", "{model}"], ["predict", "{model}", "{small}"]],
    ids=["help", "version", "info", "predict"],
)
def test_a_full_stdout_gives_one_line_and_exit_1(work: Path, args: list[str]) -> None:
    """``> /dev/full``: before, a traceback for --help."""
    argv = [a.format(model=work / "model", small=work / "small.txt") for a in args]
    with open("/dev/full", "wb") as full:
        r = run(*argv, stdout=full)
    assert r.returncode == 1, r.stderr
    line = one_line(r.stderr)
    assert line == "Error: cannot write to standard output: No space left on device", line


# -- 4. an interrupted stream says so -------------------------------------------------------------------
def test_interrupted_predict_on_stdout_says_the_output_is_incomplete(work: Path) -> None:
    """Before: "no partial output was written" after lines had gone out."""
    p = subprocess.Popen(
        cli("predict", work / "model", "-", "--batch-size", "10"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(PYTHONUNBUFFERED="1"),
        start_new_session=True,
    )
    assert p.stdin is not None and p.stdout is not None
    try:
        p.stdin.write(("\n".join(words(50)) + "\n").encode())
        p.stdin.flush()  # stdin stays open: predict waits for more after these 50 lines
        first = p.stdout.readline()
        assert first.startswith(b"__label__"), first
        p.send_signal(signal.SIGINT)
        code = p.wait(TIMEOUT)
    finally:
        if p.poll() is None:
            kill_group(p)
    err = p.stderr.read()  # type: ignore[union-attr]
    assert code == 130, err
    assert one_line(err) == "Interrupted; the output on stdout is incomplete.", err
