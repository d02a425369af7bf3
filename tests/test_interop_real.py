"""The exports in the real PyTorch, Keras and TensorBoard (``make test-interop`` installs them in
a venv of their own; each test is skipped where its library is absent).

Models are trained with a seed on the shared datasets (``../shared/data``, skipped when absent);
every document of each test file goes through the CLI as a user would run it:

- ``encode TEXT --model M`` gives the rows the model pools for each document (its words, then
  ``</s>``, the hashed word n-gram rows and, with --minn/--maxn, the subword rows), padded with 0;
  ``export --format npz`` gives the table and the classifier's Dense layers.
- ``torch.nn.EmbeddingBag.from_pretrained(table, mode=POOL, padding_idx=0)`` on those ids gives
  the vectors ``embed`` prints (mean, sum and max pooling).
- Keras ``Embedding(mask_zero=True) + GlobalAveragePooling1D + [Dense(relu)] + Dense`` built
  from the npz gives the probabilities ``predict --proba`` prints, to 1e-5 (softmax with word
  bigrams; one sigmoid unit with a hidden layer and subwords); flatten is ``Embedding + Flatten
  + Dense``. Sum and max pooling have no masked plain-Keras layer: the README says so, and the
  test shows ``GlobalMaxPooling1D`` letting padding's zeros win.
- ``export --format projector`` parses with TensorBoard's own projector plugin functions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embedcli.vocab import Vocabulary

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

#: name -> (dataset, train options); a seed and one thread: the same model on every run
MODELS = {
    # the defaults: softmax over 2 labels, mean pooling, word bigrams hashed into buckets
    "sst2": ("sst2", ["--dim", "24", "--buckets", "40000", "--epochs", "3"]),
    # one sigmoid unit, a hidden ReLU layer, subwords (unseen words count through n-grams)
    "sms_binary": (
        "sms_spam",
        ["--dim", "16", "--buckets", "30000", "--epochs", "3", "--objective", "binary"]
        + ["--hidden", "8", "--minn", "3", "--maxn", "5"],
    ),
    # six labels, sum and max pooling (EmbeddingBag's other modes)
    "trec_sum": ("trec6", ["--dim", "16", "--buckets", "20000", "--epochs", "3", "--pool", "sum"]),
    "trec_max": ("trec6", ["--dim", "16", "--buckets", "20000", "--epochs", "3", "--pool", "max"]),
    # flatten: the first maxlen rows side by side (Keras Embedding + Flatten + Dense)
    "trec_flatten": (
        "trec6",
        ["--dim", "8", "--epochs", "3", "--pool", "flatten", "--maxlen", "12"]
        + ["--word-ngrams", "1"],
    ),
}


def cli(*args: str | Path) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [sys.executable, "-m", "embedcli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    if not (DATA / "sst2" / "train.txt").is_file():
        pytest.skip(f"shared datasets not found at {DATA}")
    return tmp_path_factory.mktemp("interop")


_built: dict[str, dict] = {}


def built(work: Path, name: str) -> dict:
    """Train model ``name`` once per session; its test texts, ``embed`` vectors, ``encode
    --model`` ids and ``export --format npz`` arrays."""
    if name in _built:
        return _built[name]
    dataset, options = MODELS[name]
    model = work / name
    cli("train", DATA / dataset / "train.txt", "-o", model, "--seed", "3", "--threads", "1",
        "--quiet", *options)  # fmt: skip
    texts = work / f"{name}.txt"
    lines = [
        " ".join(w for w in line.split() if not w.startswith("__label__"))
        for line in (DATA / dataset / "test.txt").read_text(encoding="utf-8").splitlines()
    ]
    texts.write_text("".join(t + "\n" for t in lines if t.strip()), encoding="utf-8")
    cli("embed", model, texts, "-o", work / f"{name}.embed.npy")
    cli("encode", texts, "--model", model, "-f", "text", "-o", work / f"{name}.ids.npy", "-q")
    cli("export", model, "--format", "npz", "-o", work / f"{name}.npz", "-q")
    with np.load(work / f"{name}.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    _built[name] = {
        "model": model,
        "texts": texts,
        "vectors": np.load(work / f"{name}.embed.npy"),
        "ids": np.load(work / f"{name}.ids.npy"),
        **arrays,
    }
    return _built[name]


def predicted_proba(b: dict) -> np.ndarray:
    """``predict --proba`` of every text, one column per label in the model's label order."""
    labels = [str(x) for x in b["labels"]]
    out = cli("predict", b["model"], b["texts"], "--proba", "-k", len(labels), "-f", "json")
    proba = np.full((len(b["ids"]), len(labels)), np.nan)
    for i, line in enumerate(out.stdout.splitlines()):
        row = json.loads(line)
        for label, p in zip(row["labels"], row["probabilities"], strict=True):
            proba[i, labels.index(label)] = p
    assert i + 1 == len(proba)
    return proba


# -- PyTorch ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,mode", [("sst2", "mean"), ("sms_binary", "mean"),
                                       ("trec_sum", "sum"), ("trec_max", "max")])  # fmt: skip
def test_embeddingbag_gives_embed_vectors(work, name, mode):
    torch = pytest.importorskip("torch")
    b = built(work, name)
    assert str(b["pool"]) == mode
    ids = b["ids"]
    assert ids.shape[0] == len(b["vectors"]) > 400
    bag = torch.nn.EmbeddingBag.from_pretrained(
        torch.from_numpy(b["embeddings"]), mode=mode, padding_idx=0
    )
    with torch.no_grad():
        got = bag(torch.from_numpy(ids.astype(np.int64))).numpy()
    np.testing.assert_allclose(got, b["vectors"], rtol=1e-5, atol=1e-6)
    if name in ("sst2", "sms_binary"):  # the ids hold n-gram/subword rows past the words
        assert ids.max() >= _num_words(b)


def _num_words(b: dict) -> int:
    config = json.loads((b["model"] / "config.json").read_text())
    return int(config["model"]["num_words"])


def test_encode_model_rows_differ_from_word_ids(work):
    """``encode --vocab`` gives the word ids only; a bigram model pools more rows than that, so
    ``encode --model`` is what EmbeddingBag needs."""
    torch = pytest.importorskip("torch")
    b = built(work, "sst2")
    words = work / "sst2.words.npy"
    cli("encode", b["texts"], "--vocab", b["model"] / "vocab.tsv", "-f", "text", "-o", words, "-q")
    word_ids = np.load(words)
    assert word_ids.max() < _num_words(b) <= b["ids"].max()
    bag = torch.nn.EmbeddingBag.from_pretrained(
        torch.from_numpy(b["embeddings"]), mode="mean", padding_idx=0
    )
    with torch.no_grad():
        got = bag(torch.from_numpy(word_ids.astype(np.int64))).numpy()
    assert not np.allclose(got, b["vectors"], atol=1e-4)


# -- Keras -------------------------------------------------------------------------------------------
def keras_model(b: dict):
    """The classifier in plain Keras layers, weights from ``export --format npz``."""
    keras = pytest.importorskip("keras")
    emb = b["embeddings"]
    pool, objective = str(b["pool"]), str(b["objective"])
    width = b["ids"].shape[1] if pool != "flatten" else int(b["maxlen"])
    inp = keras.Input(shape=(width,), dtype="int32")
    embedding = keras.layers.Embedding(emb.shape[0], emb.shape[1], mask_zero=pool != "flatten")
    x = embedding(inp)
    if pool == "mean":
        x = keras.layers.GlobalAveragePooling1D()(x)
    elif pool == "flatten":
        x = keras.layers.Flatten()(x)
    else:
        raise AssertionError(f"{pool} pooling has no plain Keras layer")
    hidden = None
    if "hidden_W" in b:
        hidden = keras.layers.Dense(b["hidden_W"].shape[1], activation="relu")
        x = hidden(x)
    out = keras.layers.Dense(
        b["out_W"].shape[1], activation="softmax" if objective == "softmax" else "sigmoid"
    )
    model = keras.Model(inp, out(x))
    embedding.set_weights([emb])
    if hidden is not None:
        hidden.set_weights([b["hidden_W"], b["hidden_b"]])
    out.set_weights([b["out_W"], b["out_b"]])
    return model


@pytest.mark.parametrize("name", ["sst2", "sms_binary", "trec_flatten"])
def test_keras_gives_predict_proba(work, name):
    pytest.importorskip("keras")  # before training the model, not after
    b = built(work, name)
    model = keras_model(b)
    ids = b["ids"]
    if str(b["pool"]) == "flatten":  # the first maxlen rows, zeros after a short document
        maxlen = int(b["maxlen"])
        ids = np.pad(ids, ((0, 0), (0, max(0, maxlen - ids.shape[1]))))[:, :maxlen]
    p = np.asarray(model.predict(ids, batch_size=512, verbose=0), dtype=np.float64)
    if str(b["objective"]) == "binary":  # one sigmoid unit: P(the second label)
        p = np.concatenate([1.0 - p, p], axis=1)
    expected = predicted_proba(b)
    has_rows = (b["ids"] != 0).any(axis=1)  # predict prints nothing for a line of no tokens
    assert has_rows.sum() > 400
    assert not np.isnan(expected[has_rows]).any()
    np.testing.assert_allclose(p[has_rows], expected[has_rows], atol=1e-5, rtol=0)
    # a real classifier, not a constant: the probabilities vary across documents
    assert np.ptp(expected[has_rows], axis=0).max() > 0.5


def test_max_pooling_is_not_plain_keras(work):
    """Keras's GlobalMaxPooling1D ignores the mask (padding's zero rows take part), so a max
    pooling model is not expressible in plain Keras layers; the README says so and names the
    EmbeddingBag mode that is (test_embeddingbag_gives_embed_vectors[trec_max])."""
    keras = pytest.importorskip("keras")
    b = built(work, "trec_max")
    emb = keras.layers.Embedding(*b["embeddings"].shape, mask_zero=True)
    inp = keras.Input(shape=(b["ids"].shape[1],), dtype="int32")
    model = keras.Model(inp, keras.layers.GlobalMaxPooling1D()(emb(inp)))
    emb.set_weights([b["embeddings"]])
    got = model.predict(b["ids"], batch_size=512, verbose=0)
    negative = (b["vectors"] < 0) & (b["ids"] == 0).any(axis=1, keepdims=True)
    assert negative.sum() > 20
    np.testing.assert_array_equal(got[negative], 0.0)  # padding's 0 beat every true maximum
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = " ".join(readme.split("### Interop", 1)[1].split("\n## ", 1)[0].split())
    assert "Sum and max pooling have no masked Keras layer" in section
    assert 'EmbeddingBag(mode="sum"|"max", padding_idx=0)` reproduces them' in section


# -- TensorBoard projector ------------------------------------------------------------------------
def test_projector_export_parses_as_tensorboard_does(work):
    pytest.importorskip("tensorboard")
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2, projector_plugin

    b = built(work, "sst2")
    out = work / "projector"
    cli("export", b["model"], "--format", "projector", "-o", out, "-q")
    config = projector_config_pb2.ProjectorConfig()
    text_format.Merge((out / "projector_config.pbtxt").read_text(), config)
    assert len(config.embeddings) == 1
    info = config.embeddings[0]
    # the plugin resolves relative paths against the log directory
    tensor = projector_plugin._read_tensor_tsv_file(str(out / info.tensor_path))
    np.testing.assert_array_equal(tensor, b["embeddings"])
    assert tensor.dtype == np.float32
    # metadata: with two columns the first line names them; then one line per tensor row
    lines = (out / info.metadata_path).read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:-1]]
    assert header == ["word", "count"]
    assert len(rows) == len(tensor) and all(len(r) == 2 for r in rows)
    tokens = Vocabulary.load(b["model"] / "vocab.tsv").tokens
    assert rows[0][0] == "<pad>" and [r[0] for r in rows[1 : len(tokens)]] == tokens[1:]
    assert rows[len(tokens)][0] == "<bucket_0>"


def test_the_readme_interop_block_runs_and_gives_embed_and_predict(work, monkeypatch):
    """The README's PyTorch/Keras block, executed as written on sst2's files."""
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    import re
    import shutil

    b = built(work, "sst2")
    run = work / "readme-block"
    run.mkdir(exist_ok=True)
    shutil.copy(work / "sst2.npz", run / "model.npz")
    shutil.copy(work / "sst2.ids.npy", run / "ids.npy")
    monkeypatch.chdir(run)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Interop", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    lines = block.splitlines()
    # the two result lines become assertions on what they compute
    bag_line = next(i for i, line in enumerate(lines) if line.startswith("bag(torch"))
    lines[bag_line] = "bag_vectors = " + lines[bag_line].split("#")[0]
    keras_line = next(i for i, line in enumerate(lines) if line.startswith("model.predict(ids)"))
    lines[keras_line] = "keras_proba = model.predict(ids, verbose=0)"
    namespace = {"np": np, "torch": torch, "keras": keras}
    exec(compile("\n".join(lines), "README.md", "exec"), namespace)  # noqa: S102
    np.testing.assert_allclose(namespace["bag_vectors"].detach().numpy(), b["vectors"], atol=1e-5)
    np.testing.assert_allclose(namespace["keras_proba"], predicted_proba(b), atol=1e-5)
