"""Models for the explorer tests, written without training (no numba): a word-vector model from
the stand-in trainer of ``vectors_fixtures`` and a classifier table written by hand, plus the
helpers that read a page's data back and compute the expected neighbours in plain numpy."""

from __future__ import annotations

import base64
import json
import re
import sys
import types
from pathlib import Path

import numpy as np

from embedcli.explorer import decode_search, unpack_rows
from embedcli.modeldir import save_model
from embedcli.pretrain import PretrainCorpus, PretrainSpec
from embedcli.text import TokenizerConfig
from embedcli.vectors_model import save_vectors_model
from embedcli.vocab import Vocabulary

sys.path.insert(0, str(Path(__file__).parent))
from vectors_fixtures import standin_train_vectors  # noqa: E402

#: hostile words: script end, an HTML element with a handler, quotes, right-to-left text, NUL
HOSTILE = [
    "</script>",
    '<img src=x onerror="window.pwned=1">',
    "\"quoted'",
    "שלום\u202eevil",
    "nul\x00byte",
    "&amp;",
    "<!--",
]


def word_list(n: int) -> list[str]:
    """``n`` distinct lower-case words."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    i = 0
    while len(out) < n:
        w, j = "", i
        while True:
            w = letters[j % 26] + w
            j = j // 26 - 1
            if j < 0:
                break
        out.append("w" + w)
        i += 1
    return out


def vectors_model(
    path: Path,
    words: list[str],
    *,
    dim: int = 12,
    minn: int = 3,
    maxn: int = 5,
    seed: int = 3,
    tokenizer: TokenizerConfig | None = None,
) -> Path:
    """A word-vector model (kind "vectors") with counts n, n-1, ... and random vectors."""
    counts = list(range(len(words) + 10, 10, -1))
    vocab = Vocabulary.from_counts(words, counts, tokenizer=tokenizer)
    first = vocab.unk_id + 1
    spec = PretrainSpec(dim=dim, minn=minn, maxn=maxn, buckets=1000, epochs=1, seed=seed)
    corpus = PretrainCorpus(
        ids=np.arange(len(words), dtype=np.int32),
        offsets=np.array([0, len(words)], np.int64),
        counts=np.asarray(vocab.counts[first:], np.int64),
        words=vocab.tokens[first:],
    )
    trained = standin_train_vectors(corpus, spec)
    extra = {
        "model": {
            "method": "skipgram",
            "window": 5,
            "negative": 5,
            "sample": 1e-4,
            "epochs": 1,
            "lr": 0.05,
        },
        "train": {"seed": seed},
    }
    save_vectors_model(path, trained, vocab, config_extra=extra)
    return path


def classifier_model(
    path: Path,
    words: list[str],
    *,
    dim: int = 8,
    labels: tuple[str, ...] = ("pos", "neg"),
    minn: int = 0,
    maxn: int = 0,
    buckets: int = 0,
    seed: int = 0,
    counts: list[int] | None = None,
) -> Path:
    """A classifier written by hand: random table (words + ``buckets`` rows), linear output."""
    rng = np.random.default_rng(seed)
    counts = counts if counts is not None else list(range(len(words) + 5, 5, -1))
    if any(counts):
        vocab = Vocabulary.from_counts(words, counts, labels=labels, label_counts=[1] * len(labels))
    else:  # a vocabulary that records no counts
        vocab = Vocabulary(["", "[UNK]", *words], [0] * (len(words) + 2), labels=labels)
    params = types.SimpleNamespace(
        embeddings=rng.standard_normal((len(vocab) + buckets, dim)).astype(np.float32),
        out_W=rng.standard_normal((dim, len(labels))).astype(np.float32),
        out_b=np.zeros(len(labels), np.float32),
    )
    params.embeddings[0] = 0
    spec = dict(
        num_words=len(vocab),
        buckets=buckets,
        dim=dim,
        num_classes=len(labels),
        pool="mean",
        hidden=0,
        objective="softmax",
        word_ngrams=1,
        maxlen=0,
    )
    if minn:
        spec["subwords"] = {
            "minn": minn,
            "maxn": maxn,
            "buckets": buckets,
            "hash": "fasttext-fnv1a",
        }
    save_model(path, spec=spec, params=params, vocab=vocab, train_config={"epochs": 1})
    return path


def page_data(html: str) -> dict:
    """The JSON data of a page, with its packed arrays decoded."""
    m = re.search(r'<script id="explorer-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, "no data element"
    data = json.loads(m.group(1))
    n = data["n"]

    def arr(key: str, dtype: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(data[key]), dtype=dtype)

    data["ids_"] = arr("ids", "<u4")
    data["xy_"] = arr("xy", "<f4").reshape(n, 2)
    data["counts_"] = None if data["counts"] is None else arr("counts", "<f8")
    packed = decode_search(data)
    #: the carried words' vectors as the page decodes them (int8: the values, scale left out)
    data["rows_"] = packed["rows"].astype(np.float64)
    if "ids" in packed:
        data["bucket_ids_"] = packed["ids"]
        data["bucket_rows_"] = unpack_rows(packed["brows"], packed["bscale"])
    return data


def expected_neighbours(vectors: np.ndarray, query: np.ndarray, k: int, skip: int | None):
    """Plain numpy: the ``k`` rows of ``vectors`` nearest ``query`` by cosine (float64), best
    first, ties by the lower index, row ``skip`` left out."""
    v = np.asarray(vectors, np.float64)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    q = np.asarray(query, np.float64)
    q = q / np.linalg.norm(q)
    scores = v @ q
    order = [int(i) for i in np.lexsort((np.arange(len(v)), -scores)) if i != skip]
    return order[:k]
