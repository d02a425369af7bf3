"""Checkpoints and resume: a resumed run reaches the uninterrupted run's weights bit for bit
(``--threads 1``), including after a real Ctrl-C, and refuses another corpus or a damaged file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.errors import DataError
from embedcli.train import TrainConfig, TrainState, fit

runner = CliRunner()
WORDS = {
    "sport": "ball goal team match score win player coach league",
    "tech": "code computer software chip data network server cloud bug",
    "food": "bread cheese soup salad pasta pizza sauce spice bake",
}


def make_corpus(path: Path, n: int, seed: int = 0, length: int = 8) -> Path:
    rng = np.random.default_rng(seed)
    labels = list(WORDS)
    common = "the a of and to in is it".split()
    lines = []
    for i in range(n):
        label = labels[i % 3]
        words = rng.choice(WORDS[label].split(), size=length // 2).tolist()
        words += rng.choice(common, size=length - length // 2).tolist()
        rng.shuffle(words)
        lines.append(f"__label__{label} " + " ".join(words))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Arrays:
    def __init__(self, n: int = 300, seed: int = 1, num_words: int = 60) -> None:
        rng = np.random.default_rng(seed)
        lengths = rng.integers(1, 12, n)
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.label_ids = rng.integers(0, 3, n).astype(np.int32)
        self.tokens = rng.integers(2, num_words, int(lengths.sum())).astype(np.int32)
        # make the task learnable: the label leaves a trace in the first token
        self.tokens[self.offsets[:-1]] = 2 + self.label_ids
        self.label_offsets = np.arange(n + 1, dtype=np.int64)


def frozen_copy(state: TrainState) -> TrainState:
    """The callback gets views of the live arrays: keep a copy, as writing it out would."""
    return replace(state, arrays={k: v.copy() for k, v in state.arrays.items()})


@pytest.mark.parametrize(
    "extra",
    [
        {},  # default: row-wise Adagrad, dropout
        {"optimizer": "sgd", "lr": 0.5, "dropout": 0.0},  # fastText's update
        {"optimizer": "adam", "batch_size": 4},  # exact kernel, Adam moments + row steps
        {"pool": "max", "hidden": 8, "l2": 1e-4},
    ],
)
def test_fit_resume_is_bit_identical(extra: dict) -> None:
    train, val = Arrays(300, 1), Arrays(60, 2)
    cfg = TrainConfig(dim=8, epochs=7, threads=1, seed=4, buckets=512, patience=3, **extra)
    kw = {"num_words": 60, "num_classes": 3}
    full = fit(train, cfg, val=val, **kw)
    saved: dict[int, TrainState] = {}
    fit(
        train,
        cfg,
        val=val,
        checkpoint_every=3,
        on_checkpoint=lambda st: saved.setdefault(st.epoch, frozen_copy(st)),
        **kw,
    )
    assert 3 in saved and set(saved) <= {3, 6}  # early stopping may end the run before 6
    for epoch in sorted(saved):
        resumed = fit(train, None, val=val, resume=saved[epoch], **kw)
        np.testing.assert_array_equal(resumed.params.embeddings, full.params.embeddings)
        np.testing.assert_array_equal(resumed.params.out_W, full.params.out_W)
        np.testing.assert_array_equal(resumed.params.out_b, full.params.out_b)
        assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
        assert resumed.metrics["val_accuracy"] == full.metrics["val_accuracy"]


def test_fit_resume_refuses_another_corpus() -> None:
    saved: list[TrainState] = []
    cfg = TrainConfig(dim=4, epochs=2, threads=1)
    fit(Arrays(100), cfg, checkpoint_every=1, on_checkpoint=saved.append, num_words=60)
    with pytest.raises(DataError, match="not the checkpoint's"):
        fit(Arrays(90), None, resume=frozen_copy(saved[0]), num_words=60)


FAST = ["--dim", "8", "--threads", "1", "--seed", "3", "--buckets", "4096", "--quiet"]


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def same_model(a: Path, b: Path) -> None:
    np.testing.assert_array_equal(np.load(a / "embeddings.npy"), np.load(b / "embeddings.npy"))
    with np.load(a / "classifier.npz") as x, np.load(b / "classifier.npz") as y:
        assert sorted(x.files) == sorted(y.files)
        for k in x.files:
            np.testing.assert_array_equal(x[k], y[k])


def test_cli_checkpoint_resume_and_errors(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path / "train.txt", 300)
    full, part, ckpt = tmp_path / "full", tmp_path / "part", tmp_path / "ck"
    r = invoke("train", str(corpus), "-o", str(full), "--epochs", "5", "--val-split", "0.1", *FAST)
    assert r.exit_code == 0, r.output
    r = invoke(
        "train", str(corpus), "-o", str(part), "--epochs", "5", "--val-split", "0.1",
        "--checkpoint-every", "3", "--checkpoint", str(ckpt), *FAST,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    assert meta["epoch"] == 3 and meta["format"] == "embedcli-checkpoint"
    assert meta["train"]["optimizer"] == "adagrad" and meta["n_docs"] == 270
    with np.load(ckpt / "state.npz", allow_pickle=False) as z:
        assert {"emb", "dense", "emb_S", "dense_S1"} <= set(z.files)
    resumed = tmp_path / "resumed"
    r = invoke("train", str(corpus), "--resume", str(ckpt), "-o", str(resumed), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["epochs_run"] == 5
    same_model(full, resumed)
    same_model(part, resumed)

    other = make_corpus(tmp_path / "other.txt", 200, seed=1)
    r = invoke("train", str(other), "--resume", str(ckpt), "-o", str(tmp_path / "x"))
    assert r.exit_code == 1, r.output
    assert "does not match the checkpoint" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x").exists()

    with open(ckpt / "state.npz", "r+b") as f:
        f.seek(200)
        f.write(b"\xff\xfe")
    r = invoke("train", str(corpus), "--resume", str(ckpt), "-o", str(tmp_path / "y"))
    assert r.exit_code == 1, r.output
    assert "sha256" in r.output

    r = invoke("train", str(corpus), "-o", str(tmp_path / "z"), "--checkpoint", str(ckpt))
    assert r.exit_code == 2, r.output


def test_sigint_after_first_checkpoint_then_resume(tmp_path: Path) -> None:
    """A real process is interrupted with SIGINT once its first checkpoint exists; resuming
    from that checkpoint reaches the uninterrupted run's weights bit for bit."""
    corpus = make_corpus(tmp_path / "train.txt", 6000, length=24)
    opts = ["--epochs", "40", "--dim", "32", "--threads", "1", "--seed", "5", "--quiet"]
    opts += ["--buckets", "65536"]
    model, ckpt = tmp_path / "model", tmp_path / "model.ckpt"
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "embedcli", "train", str(corpus)]
    proc = subprocess.Popen(
        [*cmd, "-o", str(model), "--checkpoint-every", "2", *opts],
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
    epoch = json.loads((ckpt / "checkpoint.json").read_text())["epoch"]
    assert 2 <= epoch < 40

    resumed = tmp_path / "resumed"
    r = subprocess.run(
        [*cmd, "--resume", str(ckpt), "-o", str(resumed), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    full = tmp_path / "full"
    r = subprocess.run([*cmd, "-o", str(full), *opts], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    same_model(full, resumed)
