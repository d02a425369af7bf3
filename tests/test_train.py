"""fit(): learning, determinism, frozen/pad rows, divergence, callbacks, multi-label thresholds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from embedcli.errors import DataError, TrainingDiverged, UsageError
from embedcli.model import ModelSpec, feature_spans, featurize, init_params, predict_proba
from embedcli.train import TrainConfig, evaluate_arrays, fit

DATA = Path(__file__).parents[1].parent / "shared/data"


@dataclass
class Arrays:
    tokens: np.ndarray
    offsets: np.ndarray
    label_ids: np.ndarray
    label_offsets: np.ndarray


def synthetic(n=600, vocab=300, C=3, seed=0, multi=False):
    """Each class owns 10 keyword ids; a document is noise words plus 1-3 keywords of its
    class(es)."""
    rng = np.random.default_rng(seed)
    toks, offs, labs, loffs = [], [0], [], [0]
    for _ in range(n):
        classes = (
            sorted(set(rng.integers(0, C, 2).tolist())) if multi else [int(rng.integers(0, C))]
        )
        doc = list(rng.integers(2 + 10 * C, vocab, rng.integers(3, 15)))
        for c in classes:
            doc += list(2 + 10 * c + rng.integers(0, 10, rng.integers(1, 4)))
        rng.shuffle(doc)
        toks += doc
        offs.append(len(toks))
        labs += classes
        loffs.append(len(labs))
    return Arrays(
        np.array(toks, np.int32),
        np.array(offs, np.int64),
        np.array(labs, np.int32),
        np.array(loffs, np.int64),
    )


def accuracy(res, data, threads=1):
    p = predict_proba(res.params, res.spec, data.tokens, data.offsets, threads=threads)
    return evaluate_arrays(p, data.label_ids, data.label_offsets)["accuracy"]


SMALL = dict(dim=16, epochs=5, threads=1, seed=1)


def test_learns_synthetic_task_well_above_majority():
    train, test = synthetic(seed=0), synthetic(n=300, seed=1)
    res = fit(train, TrainConfig(**SMALL), num_words=300, num_classes=3)
    majority = np.bincount(test.label_ids).max() / len(test.label_ids)
    assert accuracy(res, test) > max(0.9, majority + 0.4)
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    assert res.spec.num_rows == 300 + res.config.buckets  # bigrams by default
    assert res.tokens_per_s > 0 and res.seconds > 0


@pytest.mark.parametrize(
    "extra",
    [
        dict(optimizer="sgd", lr=0.5, word_ngrams=1),
        dict(optimizer="adam", batch_size=8, pool="max", hidden=8),
        dict(pool="flatten", maxlen=20, objective="softmax", dropout=0.2),
    ],
)
def test_other_configs_learn(extra):
    train, test = synthetic(seed=0), synthetic(n=300, seed=1)
    res = fit(train, TrainConfig(**{**SMALL, "epochs": 8, **extra}), num_words=300, num_classes=3)
    assert accuracy(res, test) > 0.75, res.history


def test_binary_objective_returns_two_columns():
    train = synthetic(C=2, seed=2)
    res = fit(train, TrainConfig(**SMALL, objective="binary"), num_words=300, num_classes=2)
    p = predict_proba(res.params, res.spec, train.tokens, train.offsets)
    assert p.shape == (600, 2) and res.spec.num_classes == 1
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert accuracy(res, train) > 0.9


def test_multilabel_thresholds_tuned_on_validation():
    train, val = synthetic(multi=True, seed=3), synthetic(n=200, multi=True, seed=4)
    res = fit(
        train, TrainConfig(**SMALL, objective="multilabel"), val=val, num_words=300, num_classes=3
    )
    th = res.params.thresholds
    assert th is not None and th.shape == (3,) and np.all((th > 0) & (th < 1))
    assert res.metrics["val_accuracy"] > 0.9


def test_deterministic_with_one_thread():
    train = synthetic(seed=5)
    cfg = TrainConfig(**SMALL)
    a = fit(train, cfg, num_words=300, num_classes=3)
    b = fit(train, cfg, num_words=300, num_classes=3)
    np.testing.assert_array_equal(a.params.embeddings, b.params.embeddings)
    np.testing.assert_array_equal(a.params.out_W, b.params.out_W)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    c = fit(train, TrainConfig(**{**SMALL, "seed": 2}), num_words=300, num_classes=3)
    assert not np.array_equal(a.params.out_W, c.params.out_W)


def test_frozen_embeddings_and_pad_row_unchanged():
    train = synthetic(seed=6)
    rng = np.random.default_rng(0)
    init = rng.normal(size=(300, 16)).astype(np.float32)
    res = fit(
        train,
        TrainConfig(**SMALL, freeze_embeddings=True, word_ngrams=1),
        init_embeddings=init,
        num_words=300,
        num_classes=3,
    )
    expect = init.copy()
    expect[0] = 0.0
    np.testing.assert_array_equal(res.params.embeddings, expect)
    assert (
        accuracy(res, train) > 0.45
    )  # the classifier still learns on frozen vectors (majority ~0.33)
    # with bigrams the word rows stay frozen but the bucket rows train
    res2 = fit(
        train,
        TrainConfig(**SMALL, freeze_embeddings=True),
        init_embeddings=init,
        num_words=300,
        num_classes=3,
    )
    np.testing.assert_array_equal(res2.params.embeddings[:300], expect)
    assert np.abs(res2.params.embeddings[300:]).sum() > 0


@pytest.mark.parametrize("pool", ["mean", "max"])
def test_pad_row_stays_zero(pool):
    train = synthetic(seed=7)
    train.tokens[::5] = 0  # pads inside documents
    res = fit(
        train, TrainConfig(**SMALL, pool=pool, optimizer="adam"), num_words=300, num_classes=3
    )
    assert np.all(res.params.embeddings[0] == 0)


def test_divergence_is_detected_and_last_good_kept():
    train = synthetic(seed=8)
    with pytest.raises(TrainingDiverged) as exc:
        fit(
            train,
            TrainConfig(**SMALL, optimizer="sgd", lr=1e30, hidden=4),
            num_words=300,
            num_classes=3,
        )
    good = exc.value.result
    assert good.history == []  # diverged in epoch 1: the last good weights are the initial ones
    assert np.isfinite(good.params.embeddings).all() and np.all(good.params.out_W == 0)
    np.testing.assert_array_equal(
        good.params.embeddings, init_params(good.spec, SMALL["seed"]).embeddings
    )


def test_callbacks_and_config_round_trip():
    train, val = synthetic(seed=9), synthetic(n=100, seed=10)
    seen, progress = [], []
    cfg = TrainConfig(**{**SMALL, "epochs": 3})
    res = fit(
        train,
        cfg,
        val=val,
        on_epoch=seen.append,
        on_progress=progress.append,
        num_words=300,
        num_classes=3,
    )
    assert [r["epoch"] for r in seen] == [1, 2, 3] and "val_accuracy" in seen[0]
    assert progress and progress[-1] == pytest.approx(1.0) and progress == sorted(progress)
    assert TrainConfig.from_dict(res.config.to_dict()) == res.config
    with pytest.raises(UsageError):
        TrainConfig.from_dict({"no_such_option": 1})


def test_early_stopping_restores_best():
    train, val = synthetic(seed=11), synthetic(n=100, seed=12)
    res = fit(
        train,
        TrainConfig(**{**SMALL, "epochs": 30, "patience": 2}),
        val=val,
        num_words=300,
        num_classes=3,
    )
    assert len(res.history) <= 30
    best = max(h["val_accuracy"] for h in res.history)
    assert res.metrics["val_accuracy"] == pytest.approx(best)


def _load_fasttext(path: Path, word_id: dict, label_id: dict, grow: bool) -> Arrays:
    toks, offs, labs, loffs = [], [0], [], [0]
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("__label__"):
                if grow:
                    label_id.setdefault(p, len(label_id))
                labs.append(label_id.get(p, -1))
        for w in re.findall(
            r"\w+|[^\w\s]", " ".join(p for p in parts if not p.startswith("__label__")).lower()
        ):
            if grow:
                word_id.setdefault(w, len(word_id) + 2)
            if w in word_id:
                toks.append(word_id[w])
        offs.append(len(toks))
        loffs.append(len(labs))
    return Arrays(
        np.array(toks, np.int32),
        np.array(offs, np.int64),
        np.array(labs, np.int32),
        np.array(loffs, np.int64),
    )


@pytest.mark.slow
def test_sms_spam_well_above_majority():
    folder = DATA / "sms_spam"
    if not (folder / "train.txt").exists():
        pytest.skip(f"{folder} not found")
    words, labels = {}, {}
    train = _load_fasttext(folder / "train.txt", words, labels, grow=True)
    test = _load_fasttext(folder / "test.txt", words, labels, grow=False)
    res = fit(
        train, TrainConfig(dim=20, threads=2), num_words=len(words) + 2, num_classes=len(labels)
    )
    majority = np.bincount(test.label_ids).max() / len(test.label_ids)
    acc = accuracy(res, test, threads=2)
    assert acc > 0.97 and acc > majority + 0.08, (acc, majority)


@pytest.mark.parametrize("ngrams", [2, 3])
def test_feature_spans_match_featurize(ngrams):
    """model.feature_spans names every appended row (what `predict --explain` prints)."""
    spec = ModelSpec(100, 1000, 4, 2, word_ngrams=ngrams)
    for length in (0, 1, 2, 5):
        ids = np.arange(2, 2 + length, dtype=np.int32)
        rows, _ = featurize(ids, np.array([0, length]), spec)
        spans = feature_spans(length, spec)
        assert len(rows) == length + len(spans)
        seq = [int(x) for x in ids] + [2**64 - 1]  # </s>
        for k, (i, j) in enumerate(spans):
            h = seq[i]
            for q in range(i + 1, j):
                h = (h * 116049371 + seq[q]) % 2**64
            assert rows[length + k] == 100 + h % 1000


def test_out_of_range_ids_are_refused():
    train = synthetic(seed=13)
    with pytest.raises(DataError, match="token ids"):
        fit(train, TrainConfig(**SMALL), num_words=100, num_classes=3)


def test_divergence_stops_within_the_epoch(monkeypatch):
    """The loss is checked after every chunk: a diverging run does not finish its epoch."""
    import embedcli.train as train_mod

    train = synthetic(seed=8)
    monkeypatch.setattr(train_mod, "feature_budget", lambda: 4000)  # many chunks per epoch
    chunks = []
    real = train_mod.featurize_docs
    monkeypatch.setattr(
        train_mod, "featurize_docs", lambda *a, **k: chunks.append(1) or real(*a, **k)
    )
    fit(train, TrainConfig(**{**SMALL, "epochs": 1}), num_words=300, num_classes=3)
    per_epoch = len(chunks)
    assert per_epoch > 5
    chunks.clear()
    with pytest.raises(TrainingDiverged) as exc:
        fit(
            train,
            TrainConfig(**SMALL, optimizer="sgd", lr=1e30, hidden=4),
            num_words=300,
            num_classes=3,
        )
    assert exc.value.epoch == 1
    assert 1 <= len(chunks) < per_epoch


def test_cli_train_divergence_saves_last_good_model(tmp_path):
    import json

    from typer.testing import CliRunner

    from embedcli.cli import app

    lines = []
    rng = np.random.default_rng(0)
    for i in range(200):
        label = ("a", "b")[i % 2]
        words = rng.choice([f"{label}{k}" for k in range(8)] + ["x", "y"], size=6)
        lines.append(f"__label__{label} " + " ".join(words))
    corpus = tmp_path / "train.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    r = CliRunner().invoke(
        app,
        ["train", str(corpus), "-o", str(out), "--lr", "1e9", "--optimizer", "sgd"]
        + ["--dim", "8", "--epochs", "3", "--threads", "1", "--quiet"],
    )
    assert r.exit_code == 1, r.output
    message = " ".join(r.output.split())
    assert "learning rate" in message and str(out) in message, r.output
    assert "Traceback" not in r.output
    config = json.loads((out / "config.json").read_text())
    assert config["metrics"]["diverged"] is True
    assert config["metrics"]["diverged_epoch"] >= 1
    assert config["metrics"]["epoch"] == config["metrics"]["diverged_epoch"] - 1
    assert not list(tmp_path.glob("model.tmp*"))


def test_threads_zero_uses_the_affinity_cores(monkeypatch):
    monkeypatch.setattr("embedcli.resources.available_cores", lambda: 3)
    res = fit(synthetic(n=60, seed=2), TrainConfig(dim=4, epochs=1, threads=0), num_words=300)
    assert res.config.threads == 3


def test_cli_resume_warns_about_ignored_options(tmp_path):
    from typer.testing import CliRunner

    from embedcli.cli import app

    rng = np.random.default_rng(1)
    lines = [
        f"__label__{'ab'[i % 2]} " + " ".join(rng.choice(["x", "y", "z", "ab"[i % 2]], 5))
        for i in range(60)
    ]
    corpus = tmp_path / "train.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fast = ["--dim", "4", "--epochs", "2", "--threads", "1", "--quiet"]
    out, ckpt = tmp_path / "m", tmp_path / "ckpt"
    runner = CliRunner()
    r = runner.invoke(
        app,
        ["train", str(corpus), "-o", str(out), *fast, "--checkpoint-every", "1"]
        + ["--checkpoint", str(ckpt)],
    )
    assert r.exit_code == 0, r.output
    assert "warning" not in r.output
    r = runner.invoke(
        app,
        ["train", str(corpus), "-o", str(tmp_path / "m2"), "--resume", str(ckpt)]
        + ["--dim", "16", "--lr", "0.1", "--min-count", "2", "--quiet"],
    )
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "ignoring --dim, --lr, --min-count" in text, r.output
    assert "--quiet" not in text
    r = runner.invoke(
        app, ["train", str(corpus), "-o", str(tmp_path / "m3"), "--resume", str(ckpt), "--quiet"]
    )
    assert r.exit_code == 0, r.output
    assert "warning" not in r.output
