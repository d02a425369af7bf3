"""Bounded training memory: past ``EMBEDCLI_MEM_LIMIT`` fit() featurizes one chunk of each epoch's
permutation at a time (and prediction a chunk of documents at a time); the results are
bit-identical to featurizing the whole corpus once (``threads=1``)."""

from __future__ import annotations

import numpy as np
import pytest
from test_train import synthetic

from embedcli import model as model_mod
from embedcli.model import featurize, featurize_docs, featurized_lengths, pooled, predict_proba
from embedcli.train import TrainConfig, fit

BASE = dict(dim=12, epochs=3, threads=1, seed=4, buckets=512)
CONFIGS = [
    dict(),  # adagrad + dropout 0.3 (dropout keys must stay the corpus document ids)
    dict(optimizer="sgd", lr=0.3),
    dict(optimizer="adam", batch_size=3, pool="max", hidden=5, word_ngrams=3),
    dict(objective="multilabel", batch_size=2, l2=1e-4),
]


def budget_calls(monkeypatch, limit):
    """Force the budget, counting how often fit/predict ask for it."""
    calls = []

    def fake():
        calls.append(limit)
        return limit

    monkeypatch.setattr(model_mod, "feature_budget", fake)
    monkeypatch.setattr("embedcli.train.feature_budget", fake)
    return calls


def same_result(a, b):
    assert a.spec == b.spec
    np.testing.assert_array_equal(a.params.embeddings, b.params.embeddings)
    np.testing.assert_array_equal(a.params.out_W, b.params.out_W)
    np.testing.assert_array_equal(a.params.out_b, b.params.out_b)
    if a.params.hidden_W is not None:
        np.testing.assert_array_equal(a.params.hidden_W, b.params.hidden_W)
    if a.params.thresholds is not None:
        np.testing.assert_array_equal(a.params.thresholds, b.params.thresholds)
    strip = [
        {k: v for k, v in r.items() if k not in ("seconds", "tokens_per_s")} for r in a.history
    ]
    assert strip == [
        {k: v for k, v in r.items() if k not in ("seconds", "tokens_per_s")} for r in b.history
    ]
    assert {k: v for k, v in a.metrics.items() if k != "train_seconds"} == {
        k: v for k, v in b.metrics.items() if k != "train_seconds"
    }


@pytest.mark.parametrize("extra", CONFIGS)
def test_chunked_featurizing_is_bit_identical(monkeypatch, extra):
    multi = extra.get("objective") == "multilabel"
    train, val = synthetic(400, seed=1, multi=multi), synthetic(150, seed=2, multi=multi)
    cfg = TrainConfig(**{**BASE, **extra})
    fast = fit(train, cfg, val=val, num_words=300)
    budget_calls(monkeypatch, 2000)  # a few hundred rows: dozens of chunks per epoch
    chunked = fit(train, cfg, val=val, num_words=300)
    same_result(fast, chunked)


def test_chunked_path_is_taken_and_memory_is_per_chunk(monkeypatch):
    train = synthetic(300, seed=3)
    sizes = []
    real = featurize_docs

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        sizes.append(len(out[0]))
        return out

    monkeypatch.setattr("embedcli.train.featurize_docs", spy)

    def no_full_featurize(tokens, offsets, spec):
        assert len(offsets) - 1 < 300, "the whole corpus was featurized"
        return featurize(tokens, offsets, spec)

    monkeypatch.setattr("embedcli.train.featurize", no_full_featurize)
    budget_calls(monkeypatch, 4000)
    res = fit(train, TrainConfig(**BASE), num_words=300)
    assert len(res.history) == 3
    total = int(featurized_lengths(train.tokens, train.offsets, res.spec).sum())
    assert len(sizes) > 3 * 5
    assert max(sizes) <= 1000 < total  # each chunk <= budget / 4 rows of 4 bytes


def test_featurize_docs_matches_featurize_of_the_subset():
    data = synthetic(50, seed=5)
    spec = model_mod.ModelSpec(num_words=300, buckets=97, dim=4, num_classes=3, word_ngrams=3)
    docs = np.array([7, 3, 3, 49, 0], dtype=np.int64)
    lengths = featurized_lengths(data.tokens, data.offsets, spec)
    full_t, full_o = featurize(data.tokens, data.offsets, spec)
    np.testing.assert_array_equal(lengths, np.diff(full_o))
    t, o, buf = featurize_docs(data.tokens, data.offsets, docs, spec, lengths)
    want = np.concatenate([full_t[full_o[d] : full_o[d + 1]] for d in docs])
    np.testing.assert_array_equal(t, want)
    t2, _, buf2 = featurize_docs(data.tokens, data.offsets, docs[:2], spec, lengths, buf)
    assert buf2 is buf  # reused
    np.testing.assert_array_equal(t2, want[: len(t2)])


def test_chunked_prediction_is_identical(monkeypatch):
    train, test = synthetic(300, seed=6), synthetic(200, seed=7)
    res = fit(train, TrainConfig(**BASE), num_words=300)
    p = predict_proba(res.params, res.spec, test.tokens, test.offsets)
    v = pooled(res.params, res.spec, test.tokens, test.offsets)
    calls = budget_calls(monkeypatch, 1000)
    np.testing.assert_array_equal(
        predict_proba(res.params, res.spec, test.tokens, test.offsets, threads=2), p
    )
    np.testing.assert_array_equal(pooled(res.params, res.spec, test.tokens, test.offsets), v)
    assert calls


def test_mem_limit_env_var_forces_chunks(monkeypatch):
    train = synthetic(300, seed=8)
    cfg = TrainConfig(**BASE)
    fast = fit(train, cfg, num_words=300)
    monkeypatch.setenv("EMBEDCLI_MEM_LIMIT", "3K")
    seen = []
    real = featurize_docs
    monkeypatch.setattr(
        "embedcli.train.featurize_docs", lambda *a, **k: seen.append(1) or real(*a, **k)
    )
    same_result(fast, fit(train, cfg, num_words=300))
    assert seen
