"""The parallel (sharded) encoder gives exactly the sequential result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedcli import shards
from embedcli.corpus import CorpusOptions, CorpusReader
from embedcli.shards import build_and_encode, encode_corpus
from embedcli.text import Tokenizer
from embedcli.vocab import TokenCounter, vocab_options

FIELDS = ("tokens", "offsets", "label_ids", "label_offsets")


def _corpus(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(3)
    words = ["alpha", "Beta", "gamma!", "délta", "ε", "zeta-eta", "the", "a", "ÇA", "x" * 30]
    paths = []
    for k in range(2):
        lines = []
        for i in range(700):
            n = int(rng.integers(0, 12))
            text = " ".join(rng.choice(words, size=n))
            labels = " ".join(
                f"__label__{c}" for c in rng.choice(["p", "q", "r"], size=1 + (i % 7 == 0))
            )
            lines.append(f"{labels} {text}" if i % 50 else "")  # a few blank lines
        p = tmp_path / f"part{k}.txt"
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(str(p))
    return paths


@pytest.fixture
def force_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shards, "MIN_PARALLEL_BYTES", 1)
    monkeypatch.setattr(shards, "available_cores", lambda: 3)  # 3 shards over 2 files


@pytest.mark.parametrize("oov", [True, False])
def test_parallel_build_and_encode_equals_sequential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, oov: bool
) -> None:
    paths = _corpus(tmp_path)
    opts = CorpusOptions(skip_blank=True, require_labels=True)
    monkeypatch.setattr(shards, "MIN_PARALLEL_BYTES", 1 << 40)
    v_seq, e_seq = build_and_encode(
        CorpusReader(paths, opts), TokenCounter(Tokenizer()), vocab_options(oov=oov)
    )
    monkeypatch.setattr(shards, "MIN_PARALLEL_BYTES", 1)
    monkeypatch.setattr(shards, "available_cores", lambda: 3)
    assert shards.plan_shards(CorpusReader(paths, opts)) is not None
    reader = CorpusReader(paths, opts)
    v_par, e_par = build_and_encode(reader, TokenCounter(Tokenizer()), vocab_options(oov=oov))
    assert v_par.tokens == v_seq.tokens
    assert v_par.counts == v_seq.counts
    assert v_par.labels == v_seq.labels and v_par.label_counts == v_seq.label_counts
    for f in FIELDS:
        assert np.array_equal(getattr(e_par, f), getattr(e_seq, f)), f
    assert reader.documents == e_seq.n_docs


def test_parallel_encode_equals_sequential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force_parallel: None
) -> None:
    paths = _corpus(tmp_path)
    opts = CorpusOptions()
    vocab, _ = build_and_encode(
        CorpusReader(paths[:1], CorpusOptions(skip_blank=True)),
        TokenCounter(Tokenizer()),
        vocab_options(),
    )
    par = encode_corpus(CorpusReader(paths, opts), vocab)
    monkeypatch.setattr(shards, "MIN_PARALLEL_BYTES", 1 << 40)
    seq = encode_corpus(CorpusReader(paths, opts), vocab)
    for f in FIELDS:
        assert np.array_equal(getattr(par, f), getattr(seq, f)), f
    assert par.n_docs == 1400  # blank lines kept: one row per input line


def test_shard_error_falls_back_to_sequential_message(tmp_path: Path, force_parallel: None) -> None:
    from embedcli.errors import DataError

    p = tmp_path / "x.txt"
    p.write_text("__label__a fine\n" * 500 + "no label here\n" + "__label__b ok\n" * 500)
    with pytest.raises(DataError, match=r"x.txt:501: line has no label"):
        build_and_encode(
            CorpusReader([str(p)], CorpusOptions(require_labels=True)),
            TokenCounter(Tokenizer()),
            vocab_options(),
        )
