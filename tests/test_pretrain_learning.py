"""``embedcli.pretrain.train_vectors`` end to end: it learns (analogies of a generated language,
nearest neighbours on real sentences), it is deterministic with one thread, it runs Hogwild on
several, it reports progress, and bad settings or data fail in one sentence."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from embedcli.errors import DataError, UsageError
from embedcli.pretrain import (
    PretrainCorpus,
    PretrainSpec,
    TrainedVectors,
    compose_oov,
    memory_plan,
    piece_offsets,
    thread_slices,
    train_vectors,
)
from embedcli.subwords import SubwordSpec

SST2 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2" / "train.txt"


def corpus_of(docs: list[list[str]], min_count: int = 1) -> PretrainCorpus:
    c = Counter(t for d in docs for t in d)
    words = sorted((w for w, k in c.items() if k >= min_count), key=lambda w: (-c[w], w))
    index = {w: i for i, w in enumerate(words)}
    kept = [[index[t] for t in d if t in index] for d in docs]
    ids = np.array([i for d in kept for i in d], dtype=np.int32)
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum([len(d) for d in kept], out=offsets[1:])
    return PretrainCorpus(ids, offsets, np.array([c[w] for w in words], np.int64), words)


def gender_language(n_ent: int = 12, ndocs: int = 3000, seed: int = 0):
    """Documents about entity i in its male form ``m<i>`` or female form ``f<i>``: topic words of
    the entity and gendered function words, shuffled. ``f<i> - m<i> + m<j>`` should be ``f<j>``."""
    rng = np.random.default_rng(seed)
    male, female = ("he", "him", "his", "man"), ("she", "her", "hers", "woman")
    docs = []
    for _ in range(ndocs):
        i, g = rng.integers(n_ent), rng.integers(2)
        topic = [f"t{i}x{k}" for k in rng.integers(0, 3, 3)]
        gender = [(male if g == 0 else female)[k] for k in rng.integers(0, 4, 3)]
        toks = [*topic, f"m{i}" if g == 0 else f"f{i}", *gender]
        rng.shuffle(toks)
        docs.append(toks)
    return corpus_of(docs), n_ent


def unit_rows(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


@pytest.mark.parametrize(
    ("method", "sg_input"), [("skipgram", "centre"), ("skipgram", "context"), ("cbow", None)]
)
def test_analogies_of_a_generated_language(method, sg_input):
    corpus, n_ent = gender_language()
    spec = PretrainSpec(
        method=method, dim=32, epochs=10, minn=0, sample=0.0, threads=1, seed=1, sg_input=sg_input
    )
    tv = train_vectors(corpus, spec)
    V = unit_rows(tv.vectors)
    idx = {w: i for i, w in enumerate(tv.words)}
    ok = tot = 0
    for i in range(n_ent):
        for j in range(n_ent):
            if i == j:
                continue
            q = V[idx[f"f{i}"]] - V[idx[f"m{i}"]] + V[idx[f"m{j}"]]
            s = V @ q
            for w in (f"f{i}", f"m{i}", f"m{j}"):
                s[idx[w]] = -np.inf
            ok += tv.words[int(np.argmax(s))] == f"f{j}"
            tot += 1
    # chance is 1 / (vocabulary - 3) ~ 1.7 %
    assert ok / tot > 0.8, (method, ok, tot)
    assert tv.stats["loss"] < 2.5  # log(2) * 6 = 4.2 at the start


CATEGORIES = [
    ["one", "two", "three", "four", "five", "ten"],
    ["he", "she", "they", "we", "you", "i"],
    ["his", "her", "their", "my", "your", "its", "our"],
    ["is", "was", "are", "were", "be", "been"],
    ["movie", "film", "movies", "films"],
    ["a", "an", "the", "this", "that"],
    ["and", "or", "but"],
]


@pytest.mark.skipif(not SST2.exists(), reason="shared sst2 data not present")
def test_nearest_neighbours_on_real_sentences_beat_chance():
    docs = []
    with open(SST2, encoding="utf-8") as f:
        for line in f:
            docs.append([t for t in line.split() if not t.startswith("__label__")])
    corpus = corpus_of(docs, min_count=3)
    spec = PretrainSpec(
        method="cbow", dim=50, epochs=5, lr=0.025, minn=0, sample=1e-3, threads=1, seed=1
    )
    tv = train_vectors(corpus, spec)
    V = unit_rows(tv.vectors)
    idx = {w: i for i, w in enumerate(tv.words)}
    n = len(tv.words)
    ranks = []
    for cat in CATEGORIES:
        cat = [w for w in cat if w in idx]
        for w in cat:
            s = V @ V[idx[w]]
            s[idx[w]] = -np.inf
            pos = np.empty(n, dtype=np.int64)
            pos[np.argsort(-s)] = np.arange(n)
            ranks += [pos[idx[o]] / n for o in cat if o != w]
    # the rank of a word of the same category among all the words, as a fraction: chance is 0.5
    assert len(ranks) > 100
    assert np.median(ranks) < 0.15, np.median(ranks)
    assert np.mean(ranks) < 0.25, np.mean(ranks)


# --------------------------------------------------------------------------- determinism, threads


def small_corpus(seed=0, ndocs=400):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(60)]
    counts = (1000 / np.arange(1, 61)).astype(np.int64) + 1
    p = counts / counts.sum()
    lens = rng.integers(0, 30, ndocs)
    ids = rng.choice(60, size=int(lens.sum()), p=p).astype(np.int32)
    offsets = np.zeros(ndocs + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    return PretrainCorpus(ids, offsets, counts, words)


@pytest.mark.parametrize(
    ("method", "sg_input"), [("skipgram", "centre"), ("skipgram", "context"), ("cbow", None)]
)
def test_one_thread_with_a_seed_is_bit_identical(method, sg_input):
    corpus = small_corpus()
    spec = PretrainSpec(
        method=method, dim=16, epochs=2, minn=2, maxn=3, buckets=500, threads=1, sg_input=sg_input
    )
    a = train_vectors(corpus, spec)
    b = train_vectors(corpus, spec)
    assert np.array_equal(a.vectors, b.vectors)
    assert np.array_equal(a.subword_rows, b.subword_rows)
    assert a.stats["loss"] == b.stats["loss"]
    c = train_vectors(corpus, PretrainSpec(**{**spec.__dict__, "seed": 1}))
    assert not np.array_equal(a.vectors, c.vectors)


def test_threads_train_hogwild_on_contiguous_slices():
    corpus = small_corpus(ndocs=2000)
    spec = PretrainSpec(method="skipgram", dim=16, epochs=2, minn=0, threads=2)
    tv = train_vectors(corpus, spec)
    assert tv.stats["threads"] == 2
    assert tv.stats["tokens"] == 2 * len(corpus.ids)
    assert np.all(np.isfinite(tv.vectors))
    slices = thread_slices(corpus.offsets, 3)
    assert slices[0][0] == 0 and slices[-1][1] == len(corpus.offsets) - 1
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:], strict=False))
    assert thread_slices(np.array([0, 5], np.int64), 4) == [(0, 1)]


def test_long_documents_are_cut_where_the_kernel_cuts_them():
    from embedcli.pretrain_kernels import BLOCK

    off = piece_offsets(np.array([0, 3, 3, 3 + 2 * BLOCK + 5, 3 + 2 * BLOCK + 5 + BLOCK], np.int64))
    assert off.tolist() == [0, 3, 3, 3 + BLOCK, 3 + 2 * BLOCK, 3 + 2 * BLOCK + 5, 8 + 3 * BLOCK]
    short = np.array([0, 5, 9], np.int64)
    assert piece_offsets(short) is short
    # one long line trains on two threads
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, 3 * BLOCK).astype(np.int32)
    corpus = PretrainCorpus(
        ids, np.array([0, len(ids)]), np.bincount(ids), [str(i) for i in range(20)]
    )
    tv = train_vectors(corpus, PretrainSpec(dim=8, epochs=1, minn=0, threads=2))
    assert tv.stats["threads"] == 2


def test_memmapped_ids(tmp_path):
    corpus = small_corpus()
    path = tmp_path / "ids.npy"
    np.save(path, corpus.ids)
    mm = PretrainCorpus(np.load(path, mmap_mode="r"), corpus.offsets, corpus.counts, corpus.words)
    spec = PretrainSpec(dim=8, epochs=1, minn=0, threads=1)
    assert np.array_equal(train_vectors(mm, spec).vectors, train_vectors(corpus, spec).vectors)


# --------------------------------------------------------------------------- outputs


def test_vectors_are_the_composed_rows():
    corpus = small_corpus()
    spec = PretrainSpec(dim=8, epochs=1, minn=2, maxn=3, buckets=50, threads=1)
    tv = train_vectors(corpus, spec)
    assert isinstance(tv, TrainedVectors)
    assert tv.subwords == SubwordSpec(2, 3, 50)
    assert tv.vectors.dtype == tv.word_rows.dtype == tv.subword_rows.dtype == np.float32
    assert tv.subword_buckets.dtype == np.int64
    assert np.all(np.diff(tv.subword_buckets) > 0)
    assert tv.subword_rows.shape == (len(tv.subword_buckets), 8)
    oov = compose_oov(tv.words, tv.subwords, tv.subword_buckets, tv.subword_rows)
    # own row + its k n-gram rows: mean = (row + k * mean of the n-gram rows) / (k + 1)
    from embedcli.subwords import subword_buckets

    ks = np.array([len(b) for b in subword_buckets(tv.words, tv.subwords)])
    want = (tv.word_rows + ks[:, None] * oov) / (ks[:, None] + 1)
    np.testing.assert_allclose(tv.vectors, want, rtol=1e-5, atol=1e-6)


def test_memory_plan_counts_the_tables():
    corpus = small_corpus()
    spec = PretrainSpec(dim=8, epochs=1, minn=2, maxn=3, buckets=50, threads=1)
    plan = memory_plan(corpus.words, spec)
    tv = train_vectors(corpus, spec)
    assert plan["subword_rows"] == len(tv.subword_buckets) > 0
    assert plan["input_bytes"] == tv.word_rows.nbytes + tv.subword_rows.nbytes
    assert plan["total_bytes"] > plan["input_bytes"] + plan["output_bytes"]
    off = memory_plan(corpus.words, PretrainSpec(dim=8, minn=0))
    assert off["subword_rows"] == 0 and off["vectors_bytes"] == 0


def test_no_subwords_is_plain_word2vec():
    corpus = small_corpus()
    tv = train_vectors(corpus, PretrainSpec(dim=8, epochs=1, minn=0, threads=1))
    assert tv.subwords == SubwordSpec(0, 0, 0)
    assert tv.subword_rows.shape == (0, 8) and len(tv.subword_buckets) == 0
    assert np.array_equal(tv.vectors, tv.word_rows)
    assert tv.stats["subword_rows"] == 0


def test_progress_reports_and_can_stop():
    corpus = small_corpus(ndocs=3000)
    seen = []
    spec = PretrainSpec(dim=16, epochs=3, minn=0, threads=1)
    tv = train_vectors(corpus, spec, progress=seen.append)
    assert seen, "no progress report"
    last = seen[-1]
    assert {"epoch", "progress", "words_per_second", "loss", "lr", "eta"} <= set(last)
    assert last["progress"] == 1.0 and last["epoch"] == 3
    assert tv.stats["seconds"] > 0 and tv.stats["words_per_second"] > 0

    class Stop(Exception):
        pass

    def stop(report):
        raise Stop

    with pytest.raises(Stop):
        train_vectors(corpus, PretrainSpec(dim=16, epochs=200, minn=0, threads=2), progress=stop)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "change, words",
    [
        ({"window": 0}, "window"),
        ({"negative": 0}, "negative"),
        ({"dim": 0}, "dim"),
        ({"epochs": 0}, "epochs"),
        ({"method": "glove"}, "method"),
        ({"lr": -1.0}, "lr"),
        ({"sample": -1e-4}, "sample"),
        ({"minn": 4, "maxn": 3}, "maxn"),
        ({"buckets": 10**12}, "buckets"),
        ({"threads": -1}, "threads"),
        ({"sg_input": "middle"}, "sg_input"),
    ],
)
def test_bad_spec_is_a_usage_error(change, words):
    with pytest.raises(UsageError, match=words) as e:
        train_vectors(small_corpus(), PretrainSpec(**change))
    assert "\n" not in str(e.value) and str(e.value).endswith(".")


@pytest.mark.parametrize(
    "corpus, words",
    [
        (PretrainCorpus(np.zeros(0, np.int32), np.zeros(1, np.int64), np.zeros(0), []), "no token"),
        (
            PretrainCorpus(
                np.zeros(0, np.int32), np.array([0, 0], np.int64), np.ones(2), ["a", "b"]
            ),
            "no token",
        ),
        (
            PretrainCorpus(np.array([0, 2], np.int32), np.array([0, 2]), [1, 1], ["a", "b"]),
            "outside",
        ),
        (PretrainCorpus(np.array([0, 1], np.int32), np.array([0, 2]), [1], ["a", "b"]), "counts"),
        (
            PretrainCorpus(np.array([0, 1], np.int32), np.array([0, 3]), [1, 1], ["a", "b"]),
            "offsets",
        ),
    ],
)
def test_bad_corpus_is_a_data_error(corpus, words):
    with pytest.raises(DataError, match=words) as e:
        train_vectors(corpus, PretrainSpec(minn=0, threads=1))
    assert "\n" not in str(e.value)
