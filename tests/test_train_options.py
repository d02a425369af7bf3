"""Every `embedcli train` model option end to end, and every --init-vectors format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.modeldir import load_model
from embedcli.vocab import Vocabulary

runner = CliRunner()
FAST = ["--dim", "8", "--threads", "1", "--buckets", "256", "--quiet", "--json"]
TOPICS = {
    "sport": "ball goal team match score win player coach league",
    "tech": "code computer software chip data network server cloud bug",
    "food": "bread cheese soup salad pasta pizza sauce spice bake",
}


def write_corpus(
    path: Path, n: int = 150, multilabel: bool = False, labels: list[str] | None = None
) -> Path:
    rng = np.random.default_rng(7)
    names = labels or list(TOPICS)
    lines = []
    for i in range(n):
        label = names[i % len(names)]
        words = rng.choice(TOPICS[label].split(), size=5).tolist()
        tags = f"__label__{label}"
        if multilabel and i % 3 == 0:
            other = names[(i + 1) % len(names)]
            words += rng.choice(TOPICS[other].split(), size=5).tolist()
            tags += f" __label__{other}"
        lines.append(f"{tags} {' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("opts") / "train.txt")


def train(*args: str) -> dict:
    r = runner.invoke(app, ["train", *args, *FAST])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.parametrize(
    "extra",
    [
        ["--pool", "sum"],
        ["--pool", "max"],
        ["--pool", "flatten", "--maxlen", "6"],
        ["--hidden", "16"],
        ["--optimizer", "sgd", "--lr", "0.5"],
        ["--optimizer", "adam", "--lr", "0.01"],
        ["--batch-size", "8"],
        ["--class-weight", "balanced"],
        ["--l2", "1e-5", "--dropout", "0.2"],
        ["--word-ngrams", "1"],
        ["--word-ngrams", "3", "--lr-schedule", "constant"],
    ],
    ids=lambda a: " ".join(a),
)
def test_each_model_option_learns(corpus: Path, tmp_path: Path, extra: list[str]) -> None:
    out = tmp_path / "m"
    s = train(str(corpus), "-o", str(out), "--test", str(corpus), "--epochs", "8", *extra)
    assert s["test_accuracy"] > 0.8, (extra, s["test_accuracy"])
    m = load_model(out)
    assert m.config["train"]["pool"] == (extra[1] if extra[0] == "--pool" else "mean")
    r = runner.invoke(app, ["predict", str(out), str(corpus)])
    assert r.exit_code == 0, r.output
    assert len(r.stdout.splitlines()) == 150


def test_binary_objective_has_one_logit(tmp_path: Path) -> None:
    data = write_corpus(tmp_path / "bin.txt", labels=["sport", "tech"])
    out = tmp_path / "m"
    s = train(
        str(data), "-o", str(out), "--objective", "binary", "--test", str(data), "--epochs", "8"
    )
    assert s["test_accuracy"] > 0.9
    m = load_model(out)
    assert m.classifier["out_W"].shape == (8, 1)
    r = runner.invoke(
        app, ["predict", str(out), "-", "--proba", "--k", "2"], input="ball goal team\n"
    )
    assert r.exit_code == 0 and r.stdout.startswith("__label__sport"), r.output


def test_multilabel_stores_thresholds(tmp_path: Path) -> None:
    data = write_corpus(tmp_path / "ml.txt", multilabel=True)
    out = tmp_path / "m"
    train(str(data), "-o", str(out), "--multilabel", "--val-split", "0.2", "--epochs", "10")
    m = load_model(out)
    assert m.classifier["thresholds"].shape == (3,)
    r = runner.invoke(app, ["predict", str(out), "-"], input="ball goal bread cheese soup team\n")
    assert r.exit_code == 0, r.output


def test_early_stopping_restores_best(corpus: Path, tmp_path: Path) -> None:
    s = train(
        str(corpus),
        "-o",
        str(tmp_path / "m"),
        "--val-split",
        "0.3",
        "--epochs",
        "30",
        "--early-stopping",
        "2",
    )
    assert s["epochs_run"] <= 30
    assert s["best_epoch"] <= s["epochs_run"]
    assert s["val_accuracy"] > 0.8


def _vocab_words(corpus: Path, tmp_path: Path) -> tuple[Path, Vocabulary]:
    vocab = tmp_path / "v.tsv"
    assert runner.invoke(app, ["build-vocab", str(corpus), "-o", str(vocab), "-q"]).exit_code == 0
    return vocab, Vocabulary.load(vocab)


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove", "npy"])
def test_init_vectors_formats(corpus: Path, tmp_path: Path, fmt: str) -> None:
    gensim = pytest.importorskip("gensim") if fmt.startswith("word2vec") else None
    vocab_path, vocab = _vocab_words(corpus, tmp_path)
    rng = np.random.default_rng(0)
    words = ["ball", "code", "soup", "notinvocab"]
    vecs = rng.normal(size=(len(words), 8)).astype(np.float32)
    if fmt.startswith("word2vec"):
        kv = gensim.models.KeyedVectors(8)
        kv.add_vectors(words, vecs)
        path = tmp_path / ("vec.bin" if fmt == "word2vec-binary" else "vec.txt")
        kv.save_word2vec_format(str(path), binary=fmt == "word2vec-binary")
    elif fmt == "glove":
        path = tmp_path / "glove.txt"
        path.write_text(
            "".join(
                w + " " + " ".join(repr(float(x)) for x in v) + "\n" for w, v in zip(words, vecs)
            )
        )
    else:
        path = tmp_path / "table.npy"
        table = np.zeros((len(vocab), 8), dtype=np.float32)
        for w, v in zip(words[:3], vecs[:3]):
            table[vocab.token_to_id[w]] = v
        np.save(path, table)
        (tmp_path / "table.tsv").write_bytes(vocab_path.read_bytes())
    out = tmp_path / "m"
    s = train(
        str(corpus),
        "-o",
        str(out),
        "--init-vectors",
        str(path),
        "--freeze-embeddings",
        "--epochs",
        "2",
    )
    m = load_model(out)
    for w, v in zip(words[:3], vecs[:3]):
        assert np.allclose(m.embeddings[m.vocab.token_to_id[w]], v, atol=1e-6), (fmt, w)
    if fmt != "npy":
        assert m.config["init_vectors"]["words_hit"] == 3
    assert s["train_documents"] == 150


def test_frozen_embeddings_do_not_move(corpus: Path, tmp_path: Path) -> None:
    vocab_path, vocab = _vocab_words(corpus, tmp_path)
    table = np.random.default_rng(1).normal(size=(len(vocab), 8)).astype(np.float32)
    table[0] = 0
    np.save(tmp_path / "t.npy", table)
    (tmp_path / "t.tsv").write_bytes(vocab_path.read_bytes())
    out = tmp_path / "m"
    train(
        str(corpus),
        "-o",
        str(out),
        "--vocab",
        str(vocab_path),
        "--init-vectors",
        str(tmp_path / "t.npy"),
        "--freeze-embeddings",
        "--word-ngrams",
        "1",
        "--epochs",
        "3",
    )
    m = load_model(out)
    assert np.array_equal(m.embeddings[2:], table[2:])  # every word row exactly as given
    assert np.all(m.embeddings[0] == 0)


def test_numba_cache_dir_for_read_only_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import embedcli

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/tmp/xdg-test")
    monkeypatch.setattr(embedcli._os, "access", lambda path, mode: False)
    embedcli._numba_cache_dir()
    import os

    assert os.environ["NUMBA_CACHE_DIR"] == "/tmp/xdg-test/embedcli/numba"
