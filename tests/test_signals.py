"""Interruption: SIGINT / SIGTERM / SIGHUP in the middle of ``train`` and ``encode`` lose nothing.

A real ``python -m embedcli`` subprocess works on a large corpus (the IMDB training set when
``../shared/data`` is present, else ~20 MB of generated labelled text); the signal arrives once
training has finished its first epoch, or once reading has begun (the ``reading`` phase that
``EMBEDCLI_TEST_READY_FILE`` reports, see embedcli/phases.py: never a guessed delay, which fails on
a loaded machine). The process must exit non-zero (130 for SIGINT, 143 for SIGTERM, 129 for
SIGHUP: 128 + the signal, as shells report) with one message and no traceback, write no
partial output, leave an earlier model at the same path byte-identical and leave no temp files.
Every wait has a timeout, so a hang fails instead of blocking CI.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from strategies import list_temp_files

pytestmark = pytest.mark.slow

SHARED_IMDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb" / "train.txt"
TIMEOUT = 120


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if SHARED_IMDB.is_file():
        return SHARED_IMDB
    path = tmp_path_factory.mktemp("big") / "train.txt"
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(5000)])
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(40):  # ~20 MB
            ids = rng.integers(0, 5000, size=(2500, 40))
            labels = np.where(ids[:, 0] < 2500, "pos", "neg")
            f.write(
                "".join(
                    f"__label__{lab} " + " ".join(words[r]) + "\n" for lab, r in zip(labels, ids)
                )
            )
    return path


def tree_digest(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


class Proc:
    """A CLI subprocess whose stderr is collected by a thread (no pipe deadlock)."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.phases = cwd / f".phases-{time.monotonic_ns()}"  # embedcli/phases.py writes here
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "200",
            "EMBEDCLI_TEST_READY_FILE": str(self.phases),
        }
        self.p = subprocess.Popen(
            [sys.executable, "-m", "embedcli", *args],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # killpg reaches the forked encoding workers, as Ctrl-C does
        )
        self.lines: list[str] = []
        self.t = threading.Thread(target=self._drain, daemon=True)
        self.t.start()

    def _drain(self) -> None:
        assert self.p.stderr is not None
        for raw in self.p.stderr:
            self.lines.append(raw.decode("utf-8", "replace"))

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in line for line in self.lines):
                return
            if self.p.poll() is not None:
                pytest.fail(f"process ended before {text!r}: {''.join(self.lines)}")
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"no {text!r} within {timeout} s: {''.join(self.lines)}")

    def wait_phase(self, phase: str, timeout: float = TIMEOUT) -> None:
        """Wait until the process (or one of its workers) reached ``phase``, then remove the
        phase file (it is no output of the command)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.phases.is_file() and phase in self.phases.read_text().split():
                return
            if self.p.poll() is not None:
                pytest.fail(f"process ended before phase {phase!r}: {''.join(self.lines)}")
            time.sleep(0.01)
        self.kill()
        pytest.fail(f"no phase {phase!r} within {timeout} s: {''.join(self.lines)}")

    def signal(self, sig: int, group: bool) -> None:
        if group:
            os.killpg(self.p.pid, sig)
        else:
            self.p.send_signal(sig)

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        try:
            code = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"hung after the signal: {''.join(self.lines)}")
        self.t.join(10)
        self.phases.unlink(missing_ok=True)
        return code, "".join(self.lines)

    def kill(self) -> None:
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def assert_interrupted(code: int, err: str, sig: int) -> None:
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    assert code == {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}[sig], (code, err)
    words = ("Interrupted", "Terminated", "Hangup", "Error")
    messages = [line for line in err.splitlines() if any(w in line for w in words)]
    assert len(messages) == 1, err


@pytest.mark.parametrize(
    "sig,group",
    [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGHUP, False)],
    ids=["sigint", "sigterm", "sighup"],  # SIGHUP: the terminal was closed; cleaned up as SIGTERM
)
def test_train_interrupted_keeps_the_earlier_model(
    big_corpus: Path, tmp_path: Path, sig: int, group: bool
) -> None:
    small = tmp_path / "small.txt"
    small.write_text("__label__a x y\n__label__b z w\n" * 10, encoding="utf-8")
    out = tmp_path / "model"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "embedcli",
            "train",
            small,
            "-o",
            out,
            "--dim",
            "4",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--buckets",
            "64",
            "--quiet",
        ],
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert r.returncode == 0, r.stderr
    before = tree_digest(out)

    p = Proc(
        [
            "train",
            str(big_corpus),
            "-o",
            str(out),
            "--dim",
            "16",
            "--epochs",
            "40",
            "--threads",
            "1",
            "--buckets",
            "4096",
        ],
        tmp_path,
    )
    p.wait_for("epoch   1")  # mid-training: the first epoch is done, 39 to go
    p.signal(sig, group)
    code, err = p.finish()
    assert_interrupted(code, err, sig)
    assert tree_digest(out) == before, "the earlier model changed"
    assert not list_temp_files(tmp_path), list_temp_files(tmp_path)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["model", "small.txt"]


@pytest.mark.parametrize(
    "sig,group",
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["sigint-group", "sigterm"],  # Ctrl-C at a terminal reaches the forked workers too
)
def test_train_interrupted_while_reading(
    big_corpus: Path, tmp_path: Path, sig: int, group: bool
) -> None:
    """The signal arrives while the corpus is read and encoded (in forked workers for big files)."""
    out = tmp_path / "model"
    p = Proc(
        [
            "train",
            str(big_corpus),
            str(big_corpus),
            "-o",
            str(out),
            "--dim",
            "8",
            "--epochs",
            "1",
            "--threads",
            "1",
        ],
        tmp_path,
    )
    p.wait_phase("reading")  # the first documents are being read (not a guessed delay)
    p.signal(sig, group)
    code, err = p.finish()
    assert_interrupted(code, err, sig)
    assert not out.exists()
    assert not list_temp_files(tmp_path)


@pytest.mark.parametrize(
    "sig,group",
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["sigint-group", "sigterm"],  # Ctrl-C at a terminal reaches the forked workers too
)
def test_encode_interrupted_writes_no_partial_npy(
    big_corpus: Path, tmp_path: Path, sig: int, group: bool
) -> None:
    vocab = tmp_path / "vocab.tsv"
    head = tmp_path / "head.txt"
    with open(big_corpus, "rb") as f:
        head.write_bytes(b"".join(f.readline() for _ in range(200)))
    r = subprocess.run(
        [sys.executable, "-m", "embedcli", "build-vocab", head, "-o", vocab, "-q"],
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert r.returncode == 0, r.stderr
    ids = tmp_path / "ids.npy"
    ids.write_bytes(b"an earlier output")
    os.setxattr(ids, "user.embedcli", b"1")  # written by embedcli: only such a file is replaced
    p = Proc(
        ["encode", str(big_corpus), str(big_corpus), "--vocab", str(vocab), "-o", str(ids)],
        tmp_path,
    )
    p.wait_phase("reading")
    p.signal(sig, group)
    code, err = p.finish()
    assert_interrupted(code, err, sig)
    assert ids.read_bytes() == b"an earlier output"
    assert not list_temp_files(tmp_path), list_temp_files(tmp_path)
