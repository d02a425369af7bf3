"""Bit-identical models across refactors of the training core (issue #14).

Every row trains a model with ``--threads 1 --seed 0`` through the CLI and compares the sha256 of
``embeddings.npy`` and ``classifier.npz`` with the value recorded in
``tests/data/bit_identical.json`` *before* the training core was redesigned. A changed checksum
means a change of training behaviour, not only of code layout. The rows with word n-grams (every
row but ``words_only``: the default is ``--word-ngrams 2``) were re-recorded when new models
took fastText's string-hashed n-grams (``ngram_hash`` "fasttext-2017", branch ``compat``); the
new values are those the ``compat`` branch trains before the redesign.

The hashes were recorded on the project's CI machine kind (x86-64 Linux, the numba/LLVM of the
pinned environment). Numba may pick other instructions on another CPU (e.g. FMA or AVX-512), which
can change the last bits of float results: on a different machine kind these tests may fail
without any code change. Re-record with ``EMBEDCLI_RECORD_HASHES=1`` only when a change of the
numbers is intended, and say so in the commit.

The rows cover each pool, objective and optimizer, a hidden layer, word n-grams 1/2/3, class
weights, mini-batches, L2, early stopping on a validation split, featurizing in small chunks
(``EMBEDCLI_MEM_LIMIT``) and a run resumed from a checkpoint. Rows on the shared datasets are
skipped when ``../shared/data`` is absent.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedcli.cli import app

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "sample_data"
SHARED_DATA = REPO.parent / "shared" / "data"  # as in conftest.py
HASHES = Path(__file__).parent / "data" / "bit_identical.json"
RECORD = os.environ.get("EMBEDCLI_RECORD_HASHES") == "1"
runner = CliRunner()

BASE = ["--threads", "1", "--seed", "0", "--quiet", "--dim", "16", "--epochs", "3"]
STDLIB = str(SAMPLE_DATA / "stdlib" / "train.txt")
SMS = str(SHARED_DATA / "sms_spam" / "train.txt")
TREC = str(SHARED_DATA / "trec6" / "train.txt")

#: name -> (corpus, extra options, environment)
ROWS: dict[str, tuple[str, list[str], dict[str, str]]] = {
    "mean_adagrad_softmax": (STDLIB, [], {}),
    "sum": (STDLIB, ["--pool", "sum"], {}),
    "max": (STDLIB, ["--pool", "max"], {}),
    "flatten": (STDLIB, ["--pool", "flatten", "--maxlen", "12"], {}),
    "sgd": (STDLIB, ["--optimizer", "sgd"], {}),
    "adam": (STDLIB, ["--optimizer", "adam", "--batch-size", "8"], {}),
    "sgd_l2_batch": (STDLIB, ["--optimizer", "sgd", "--l2", "1e-4", "--batch-size", "4"], {}),
    "multilabel": (STDLIB, ["--objective", "multilabel", "--val-split", "0.1"], {}),
    "hidden": (STDLIB, ["--hidden", "8"], {}),
    "words_only": (STDLIB, ["--word-ngrams", "1"], {}),
    "bigrams": (STDLIB, ["--word-ngrams", "2", "--buckets", "4096"], {}),
    "trigrams_constant": (
        STDLIB,
        ["--word-ngrams", "3", "--lr-schedule", "constant", "--class-weight", "balanced"],
        {},
    ),
    "early_stopping": (
        STDLIB,
        ["--val-split", "0.2", "--early-stopping", "1", "--epochs", "6", "--lr", "2.0"],
        {},
    ),
    "chunked": (STDLIB, ["--word-ngrams", "2"], {"EMBEDCLI_MEM_LIMIT": "20K"}),
    "chunked_adam_hidden": (
        STDLIB,
        ["--optimizer", "adam", "--hidden", "4", "--word-ngrams", "3"],
        {"EMBEDCLI_MEM_LIMIT": "30K"},
    ),
    "sms_binary": (SMS, ["--objective", "binary", "--epochs", "2"], {}),
    "sms_sgd_sum": (
        SMS,
        ["--optimizer", "sgd", "--pool", "sum", "--lr", "0.05", "--epochs", "2"],
        {},
    ),
    "trec_adam_max_hidden": (
        TREC,
        ["--optimizer", "adam", "--pool", "max", "--hidden", "8", "--epochs", "2"],
        {},
    ),
    "trec_multilabel_val": (TREC, ["--objective", "multilabel", "--val-split", "0.1"], {}),
}


def model_hashes(model: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((model / name).read_bytes()).hexdigest()
        for name in ("embeddings.npy", "classifier.npz")
    }


def train(args: list[str], env: dict[str, str], monkeypatch, exit_code: int = 0) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    r = runner.invoke(app, ["train", *args], catch_exceptions=False)
    assert r.exit_code == exit_code, r.output
    return r.output


def check(name: str, got: dict[str, str]) -> None:
    recorded = json.loads(HASHES.read_text()) if HASHES.exists() else {}
    if RECORD:
        recorded[name] = got
        HASHES.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
        return
    assert name in recorded, f"no recorded hashes for {name!r}"
    assert got == recorded[name], f"{name}: the trained model changed"


@pytest.mark.parametrize("name", sorted(ROWS))
def test_model_checksums_unchanged(name: str, tmp_path: Path, monkeypatch) -> None:
    corpus, extra, env = ROWS[name]
    if corpus.startswith(str(SHARED_DATA)) and not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    model = tmp_path / "model"
    train([corpus, "-o", str(model), *BASE, *extra], env, monkeypatch)
    check(name, model_hashes(model))


@pytest.mark.parametrize("chunked", [False, True])
def test_resumed_run_checksums_unchanged(chunked: bool, tmp_path: Path, monkeypatch) -> None:
    """A 4-epoch run checkpointed after epoch 3, then resumed from that checkpoint: the resumed
    model has the uninterrupted run's bits, and both the recorded ones."""
    env = {"EMBEDCLI_MEM_LIMIT": "20K"} if chunked else {}
    opts = [*BASE, "--epochs", "4", "--val-split", "0.1", "--optimizer", "adam"]
    full, ckpt, resumed = tmp_path / "full", tmp_path / "ckpt", tmp_path / "resumed"
    train([STDLIB, "-o", str(full), *opts, "--checkpoint-every", "3", "--checkpoint", str(ckpt)],
          env, monkeypatch)  # fmt: skip
    assert json.loads((ckpt / "checkpoint.json").read_text())["epoch"] == 3
    train([STDLIB, "--resume", str(ckpt), "-o", str(resumed), "--quiet"], env, monkeypatch)
    assert model_hashes(resumed) == model_hashes(full)
    check(f"resumed{'_chunked' if chunked else ''}", model_hashes(resumed))


def test_diverged_run_keeps_the_last_good_epoch(tmp_path: Path, monkeypatch) -> None:
    """A run that diverges in epoch 6 exits 1 and writes the model of epoch 5, bit for bit (in
    epoch 5 with the tokenizer that deleted punctuation, the default until 2026-12-01)."""
    model = tmp_path / "model"
    opts = ["--optimizer", "sgd", "--lr-schedule", "constant", "--lr", "6", "--epochs", "6"]
    out = train([STDLIB, "-o", str(model), *BASE, *opts], {}, monkeypatch, exit_code=1)
    assert "diverged in epoch 6" in out
    check("diverged_epoch6", model_hashes(model))
