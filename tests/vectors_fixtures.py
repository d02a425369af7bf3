"""Helpers of the word-vector model tests: a stand-in trainer with the contract's signature
(random rows, composed as the contract says) and a model built from it, so the model format and
the table commands are tested without the real trainer (``embedcli.pretrain.train_vectors``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from embedcli.pretrain import PretrainCorpus, PretrainSpec, TrainedVectors
from embedcli.subwords import SubwordSpec, subword_buckets


def standin_train_vectors(
    corpus: PretrainCorpus, spec: PretrainSpec, *, progress: Any = None
) -> TrainedVectors:
    """Random word and n-gram rows; a word's vector is the mean of its row and its n-gram rows."""
    rng = np.random.default_rng(spec.seed)
    nwords = len(corpus.words)
    sub = SubwordSpec(spec.minn, spec.maxn, spec.buckets) if spec.minn > 0 else SubwordSpec(0, 0, 0)
    word_rows = rng.standard_normal((nwords, spec.dim)).astype(np.float32)
    per_word = subword_buckets(corpus.words, sub)
    used = np.unique(np.concatenate(per_word)) if sub.enabled else np.zeros(0, np.int64)
    rows = rng.standard_normal((len(used), spec.dim)).astype(np.float32)
    vectors = word_rows.copy()
    if sub.enabled:
        for i, b in enumerate(per_word):
            pos = np.searchsorted(used, b)
            vectors[i] = (word_rows[i] + rows[pos].sum(axis=0)) / (1 + len(b))
    for epoch in range(1, spec.epochs + 1):
        if progress is not None:
            progress(
                {
                    "epoch": epoch,
                    "progress": epoch / spec.epochs,
                    "words_per_second": 1e6,
                    "loss": 1.0 / epoch,
                    "lr": spec.lr * (1 - epoch / spec.epochs),
                    "eta": 0.0,
                }
            )
    return TrainedVectors(
        words=list(corpus.words),
        counts=np.asarray(corpus.counts, np.int64),
        vectors=vectors,
        word_rows=word_rows,
        subwords=sub,
        subword_buckets=used.astype(np.int64),
        subword_rows=rows,
        stats={
            "seconds": 0.01,
            "words_per_second": 1e6,
            "tokens": int(len(corpus.ids)),
            "loss": 0.5,
            "epochs": spec.epochs,
        },
    )
