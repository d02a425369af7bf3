"""``pretrain`` checkpoints and resume: a resumed run reaches the uninterrupted run's vectors bit
for bit (``--threads 1``, a seed), also after a real Ctrl-C; another corpus, a damaged or a
foreign checkpoint gets one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.errors import FormatError
from embedcli.pretrain import (
    PretrainCorpus,
    PretrainSpec,
    PretrainState,
    epoch_segments,
    train_vectors,
)
from embedcli.pretrain_checkpoint import load_pretrain_checkpoint, save_pretrain_checkpoint
from embedcli.vocab import Vocabulary

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
TEXT = ROOT / "sample_data" / "stdlib" / "train.txt"


def corpus(n_words: int = 60, n_tokens: int = 12_000, seed: int = 0) -> PretrainCorpus:
    rng = np.random.default_rng(seed)
    ids = (rng.zipf(1.3, n_tokens) % n_words).astype(np.int32)
    offsets = np.arange(0, n_tokens + 1, 24, dtype=np.int64)
    offsets[-1] = n_tokens
    words = [f"w{i}ord" for i in range(n_words)]
    return PretrainCorpus(ids, offsets, np.bincount(ids, minlength=n_words) + 1, words)


def frozen(state: PretrainState) -> PretrainState:
    """The callback gets views of the live tables: keep a copy, as writing it out would."""
    return PretrainState(
        state.epoch, state.win.copy(), state.wout.copy(), state.rng.copy(),
        state.counts.copy(), state.loss.copy(), state.seconds,
    )  # fmt: skip


def test_epoch_segments_cut_at_checkpoints() -> None:
    assert epoch_segments(0, 5, 0) == [(0, 5)]
    assert epoch_segments(0, 5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert epoch_segments(3, 5, 1) == [(3, 4), (4, 5)]
    assert epoch_segments(5, 5, 1) == []


@pytest.mark.parametrize(
    "change", [{"method": "skipgram", "minn": 0}, {"method": "cbow", "minn": 3, "maxn": 4}]
)
def test_resume_from_every_epoch_is_bit_identical(change: dict, tmp_path: Path) -> None:
    data = corpus()
    spec = PretrainSpec(dim=8, epochs=4, threads=1, seed=7, buckets=997, **change)
    full = train_vectors(data, spec)
    saved: list[PretrainState] = []
    cut = train_vectors(
        data, spec, checkpoint_every=1, on_checkpoint=lambda s: saved.append(frozen(s))
    )
    assert [s.epoch for s in saved] == [1, 2, 3, 4]
    np.testing.assert_array_equal(cut.vectors, full.vectors)  # meeting points change nothing
    vocab = Vocabulary(["", "[UNK]", *data.words], [0, 0, *(int(c) for c in data.counts)])
    for state in saved[:3]:
        path = save_pretrain_checkpoint(
            tmp_path / f"e{state.epoch}", state, spec, vocab, {}, 500, 12_000
        )
        loaded = load_pretrain_checkpoint(path)  # through the files: nothing lost on disk
        assert loaded.state.epoch == state.epoch and loaded.spec == spec
        resumed = train_vectors(data, spec, resume=loaded.state)
        np.testing.assert_array_equal(resumed.vectors, full.vectors)
        np.testing.assert_array_equal(resumed.subword_rows, full.subword_rows)
        assert resumed.stats["loss"] == full.stats["loss"]
        assert resumed.stats["tokens"] == full.stats["tokens"]


def test_resume_refuses_a_state_of_other_tables() -> None:
    data = corpus()
    spec = PretrainSpec(dim=8, epochs=2, threads=1, minn=0)
    saved: list[PretrainState] = []
    train_vectors(data, spec, checkpoint_every=1, on_checkpoint=lambda s: saved.append(frozen(s)))
    with pytest.raises(FormatError, match="shape"):
        train_vectors(data, PretrainSpec(dim=4, epochs=2, threads=1, minn=0), resume=saved[0])


FAST = ["--min-count", "2", "--dim", "8", "--epochs", "3", "--threads", "1", "--seed", "3"]
FAST += ["--buckets", "4096", "--quiet"]


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def same_model(a: Path, b: Path) -> None:
    for name in ("embeddings.npy", "subword_rows.npy"):
        np.testing.assert_array_equal(np.load(a / name), np.load(b / name))


def test_cli_checkpoint_and_its_errors(tmp_path: Path) -> None:
    model, ckpt = tmp_path / "m", tmp_path / "ck"
    r = invoke(
        "pretrain", TEXT, "-o", model, "--checkpoint-every", "2", "--checkpoint", ckpt, *FAST
    )
    assert r.exit_code == 0, r.output
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    assert meta["format"] == "embedcli-pretrain-checkpoint" and meta["epoch"] == 2
    assert meta["spec"]["dim"] == 8 and meta["plan"]["min_count"] == 2
    with np.load(ckpt / "state.npz", allow_pickle=False) as z:
        assert set(z.files) == {"win", "wout", "rng", "counts", "loss"}
    resumed = tmp_path / "resumed"
    r = invoke("pretrain", TEXT, "--resume", ckpt, "-o", resumed, "--dim", "5", "--json")
    assert r.exit_code == 0, r.output
    assert "ignoring --dim" in r.stderr
    assert json.loads(r.stdout)["resumed_from_epoch"] == 2
    same_model(model, resumed)

    other = tmp_path / "other.txt"
    other.write_text("alpha beta gamma alpha beta gamma\n" * 20)
    r = invoke("pretrain", other, "--resume", ckpt, "-o", tmp_path / "x")
    assert r.exit_code == 1 and "does not match the checkpoint" in r.output, r.output
    assert not (tmp_path / "x").exists()

    r = invoke(
        "pretrain", TEXT, "--resume", model, "-o", tmp_path / "y"
    )  # a model, not a checkpoint
    assert r.exit_code == 1 and "not a checkpoint" in r.output, r.output

    r = invoke("pretrain", TEXT, "-o", tmp_path / "z", "--checkpoint", ckpt)
    assert r.exit_code == 2 and "--checkpoint-every" in r.output, r.output

    with open(ckpt / "state.npz", "r+b") as f:
        f.seek(200)
        f.write(b"\xff\xfe")
    r = invoke("pretrain", TEXT, "--resume", ckpt, "-o", tmp_path / "y")
    assert r.exit_code == 1 and "sha256" in r.output and "Traceback" not in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1

    (ckpt / "checkpoint.json").write_text('{"format": "embedcli-checkpoint", "version": 1}')
    r = invoke("pretrain", TEXT, "--resume", ckpt, "-o", tmp_path / "y")
    assert r.exit_code == 1 and "train --resume" in r.output, r.output


def test_sigint_after_a_checkpoint_then_resume(tmp_path: Path) -> None:
    """A real process gets SIGINT once its first checkpoint exists: exit 130, no model; resuming
    from the checkpoint reaches the uninterrupted run's vectors bit for bit."""
    rng = np.random.default_rng(0)
    words = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "po") for b in ("ra", "si", "tu", "ve")]
    text = "\n".join(" ".join(rng.choice(words, 12)) for _ in range(2000))
    src = tmp_path / "text.txt"
    src.write_text(text + "\n")
    opts = ["--epochs", "40", "--dim", "16", "--threads", "1", "--seed", "5", "--quiet"]
    opts += ["--minn", "2", "--maxn", "3", "--buckets", "5000", "--min-count", "1"]
    model, ckpt = tmp_path / "model", tmp_path / "model.ckpt"
    cmd = [sys.executable, "-m", "embedcli", "pretrain", str(src)]
    env = dict(os.environ)
    proc = subprocess.Popen(
        [*cmd, "-o", str(model), "--checkpoint-every", "1", *opts],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (ckpt / "checkpoint.json").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("training finished before the interrupt arrived (machine too fast)")
    assert proc.returncode == 130, err
    assert not model.exists()  # nothing partial
    assert len(err.strip().splitlines()) == 1, err
    epoch = json.loads((ckpt / "checkpoint.json").read_text())["epoch"]
    assert 1 <= epoch < 40

    resumed = tmp_path / "resumed"
    r = subprocess.run([*cmd, "--resume", str(ckpt), "-o", str(resumed), "--quiet"], env=env,
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    full = tmp_path / "full"
    r = subprocess.run([*cmd, "-o", str(full), *opts], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    same_model(full, resumed)
