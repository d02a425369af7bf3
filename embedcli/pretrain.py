"""Word vectors from unlabelled text (skip-gram / CBOW with negative sampling, fastText subwords).

The plain data types the trainer shares with ``embedcli pretrain`` and the vectors model
(``docs/DESIGN.md``, PRETRAIN_CONTRACT): ``PretrainSpec`` (the settings), ``PretrainCorpus`` (int
ids only) and ``TrainedVectors`` (what the trainer returns). The trainer itself,
``train_vectors``, lives here too (owner: the trainer's branch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedcli.subwords import SubwordSpec


@dataclass(frozen=True)
class PretrainSpec:
    method: str = "skipgram"  # or "cbow"
    dim: int = 100
    window: int = 5  # effective window drawn in 1..window per position
    negative: int = 5
    sample: float = 1e-4
    epochs: int = 5
    lr: float = 0.05
    minn: int = 3  # 0 = no subwords
    maxn: int = 6
    buckets: int = 2_000_000
    threads: int = 0  # 0 = all cores
    seed: int = 0


@dataclass
class PretrainCorpus:
    """What the trainer sees: int ids only, no strings but ``words``."""

    ids: np.ndarray  # int32, in-vocabulary tokens of every document in order (may be a memmap)
    offsets: np.ndarray  # int64, ndocs + 1; windows never cross a document boundary
    counts: np.ndarray  # int64, corpus count of each word id 0..nwords-1
    words: list[str]  # the word of each id (needed for its subwords)


@dataclass
class TrainedVectors:
    words: list[str]
    counts: np.ndarray  # int64
    vectors: np.ndarray  # float32 (nwords, dim): composed (word row + n-gram rows, mean)
    word_rows: np.ndarray  # float32 (nwords, dim): the raw input rows of the words
    subwords: SubwordSpec  # SubwordSpec(0, 0, 0) when off
    subword_buckets: np.ndarray  # int64, sorted unique buckets used by some vocabulary word
    subword_rows: np.ndarray  # float32 (len(subword_buckets), dim)
    stats: dict  # "seconds", "words_per_second", "tokens", "loss", "epochs", ...
