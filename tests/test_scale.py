"""Bounded-memory encoding: growable/spilled arrays, sharded merges from files, streamed writes.

Every path is forced on a small corpus (a zero memory limit spills every array to a memory-mapped
temporary file; a 1-byte shard threshold forks workers) and compared with the plain in-memory
result, which must be bit-identical.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from embedcli import formats, sequences, shards
from embedcli.cli import app
from embedcli.corpus import CorpusOptions, CorpusReader
from embedcli.formats import write_ids
from embedcli.sequences import (
    GrowableArray,
    memory_limit,
    pad_ragged,
    remap_blocks,
)
from embedcli.shards import build_and_encode, encode_corpus
from embedcli.text import Tokenizer
from embedcli.vocab import TokenCounter, Vocabulary, vocab_options

FIELDS = ("tokens", "offsets", "label_ids", "label_offsets")
calls: list[int] = []


@pytest.fixture
def corpus(tmp_path: Path) -> str:
    rng = np.random.default_rng(5)
    words = [f"w{i}" for i in range(300)] + ["Ünï", "the", "a"]
    lines = []
    for i in range(3000):
        text = " ".join(rng.choice(words, size=int(rng.integers(0, 30))))
        lines.append(f"__label__{'pqr'[i % 3]} {text}" if i % 97 else "")
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def isolated_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files go to a fresh folder, so a test can check that none is left behind."""
    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill))
    return spill


def _equal(a, b) -> None:
    for f in FIELDS:
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
        assert getattr(a, f).dtype == getattr(b, f).dtype, f


@pytest.mark.parametrize("limit", [0, 40_000, 1 << 40])
def test_growable_array_equals_concatenate(limit: int, isolated_tmp: Path) -> None:
    rng = np.random.default_rng(0)
    chunks = [rng.integers(-5, 1000, size=int(rng.integers(0, 5000))) for _ in range(40)]
    g = GrowableArray(np.int32, limit=limit)
    for c in chunks:
        g.append(c)
    assert g.spilled == (limit < 1 << 40)
    out = g.finish()
    assert type(out) is np.ndarray and out.dtype == np.int32
    assert np.array_equal(out, np.concatenate(chunks).astype(np.int32))
    out[:3] = 7  # writable
    assert os.listdir(isolated_tmp) == []  # the spill file is unlinked from the start


def test_growable_array_empty_and_memory_limit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert GrowableArray(np.int64).finish().shape == (0,)
    monkeypatch.setenv("EMBEDCLI_MEM_LIMIT", "3M")
    assert memory_limit() == 3 << 20
    monkeypatch.setenv("EMBEDCLI_MEM_LIMIT", "12345")
    assert memory_limit() == 12345
    monkeypatch.setenv("EMBEDCLI_MEM_LIMIT", "lots")
    with pytest.raises(Exception, match="EMBEDCLI_MEM_LIMIT"):
        memory_limit()


def test_remap_blocks_equals_whole_array() -> None:
    rng = np.random.default_rng(1)
    lengths = rng.integers(0, 9, size=500)
    ids = rng.integers(0, 50, size=int(lengths.sum())).astype(np.int32)
    table = np.where(rng.random(50) < 0.3, -1, np.arange(50)).astype(np.int32)
    mapped = table[ids]
    doc = np.repeat(np.arange(len(lengths)), lengths)
    want_lengths = np.bincount(doc[mapped >= 0], minlength=len(lengths))
    for drop in (False, True):
        got: list[np.ndarray] = []
        blocks = (ids[lo : lo + 37] for lo in range(0, len(ids), 37))
        new_lengths = remap_blocks(blocks, table, lengths, got.append, drop)
        flat = np.concatenate(got)
        assert np.array_equal(flat, mapped[mapped >= 0] if drop else mapped)
        assert np.array_equal(new_lengths, want_lengths if drop else lengths)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("oov", [True, False])
def test_spilled_build_and_encode_is_identical(
    corpus: str,
    monkeypatch: pytest.MonkeyPatch,
    isolated_tmp: Path,
    parallel: bool,
    oov: bool,
) -> None:
    opts = CorpusOptions(skip_blank=True, require_labels=True)
    monkeypatch.setattr(shards, "MIN_PARALLEL_BYTES", 1 << 40)
    v_ref, e_ref = build_and_encode(
        CorpusReader([corpus], opts), TokenCounter(Tokenizer()), vocab_options(oov=oov)
    )
    monkeypatch.setenv("EMBEDCLI_MEM_LIMIT", "0")  # every growable array spills
    monkeypatch.setattr(sequences, "REMAP_BLOCK", 1000)
    if parallel:
        monkeypatch.setattr(shards, "MIN_PARALLEL_BYTES", 1)
        monkeypatch.setattr(shards, "MAX_SHARD_BYTES", 9000)  # many more shards than workers
        monkeypatch.setattr(shards, "BLOCK", 777)
        monkeypatch.setattr(shards, "available_cores", lambda: 2)
        assert len(shards.plan_shards(CorpusReader([corpus], opts))) > 5
    counter = TokenCounter(Tokenizer())
    v, e = build_and_encode(CorpusReader([corpus], opts), counter, vocab_options(oov=oov))
    assert v.tokens == v_ref.tokens and v.counts == v_ref.counts and v.labels == v_ref.labels
    _equal(e, e_ref)
    assert counter.documents == e_ref.n_docs
    assert os.listdir(isolated_tmp) == []  # shard files and folders are gone


@pytest.mark.parametrize("parallel", [False, True])
def test_spilled_encode_is_identical(
    corpus: str, monkeypatch: pytest.MonkeyPatch, isolated_tmp: Path, parallel: bool
) -> None:
    vocab, _ = build_and_encode(
        CorpusReader([corpus], CorpusOptions(skip_blank=True)),
        TokenCounter(Tokenizer()),
        vocab_options(min_count=40),
    )
    monkeypatch.setattr(shards, "MIN_PARALLEL_BYTES", 1 << 40)
    ref = encode_corpus(CorpusReader([corpus]), vocab)
    monkeypatch.setenv("EMBEDCLI_MEM_LIMIT", "0")
    if parallel:
        monkeypatch.setattr(shards, "MIN_PARALLEL_BYTES", 1)
        monkeypatch.setattr(shards, "MAX_SHARD_BYTES", 9000)
        monkeypatch.setattr(shards, "BLOCK", 777)
        monkeypatch.setattr(shards, "available_cores", lambda: 2)
    reader = CorpusReader([corpus])
    _equal(encode_corpus(reader, vocab), ref)
    assert reader.documents == ref.n_docs == 3000
    assert os.listdir(isolated_tmp) == []


@pytest.mark.parametrize("suffix", ["npy", "npz", "txt"])
def test_encode_command_streams_the_same_bytes(
    corpus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    from typer.testing import CliRunner

    runner = CliRunner()
    calls.clear()
    vocab_path = tmp_path / "v.tsv"
    r = runner.invoke(app, ["build-vocab", corpus, "-o", str(vocab_path), "--quiet"])
    assert r.exit_code == 0, r.output
    vocab = Vocabulary.load(vocab_path)
    monkeypatch.setattr(shards, "MIN_PARALLEL_BYTES", 1 << 40)
    enc = encode_corpus(CorpusReader([corpus]), vocab)
    ids = pad_ragged(enc.tokens, enc.offsets, 12, padding="pre", truncating="post", value=-3)
    want = tmp_path / f"want.{suffix}"
    write_ids(want, ids, enc, vocab.labels)
    monkeypatch.setenv("EMBEDCLI_MEM_LIMIT", "0")
    monkeypatch.setattr(formats, "iter_padded", _small_blocks(sequences.iter_padded))
    got = tmp_path / f"got.{suffix}"
    args = ["encode", corpus, "--vocab", str(vocab_path), "-o", str(got), "--maxlen", "12"]
    r = runner.invoke(app, [*args, "--padding", "pre", "--truncating", "post", "--value", "-3"])
    assert r.exit_code == 0, r.output
    assert calls, "the command did not stream through formats.iter_padded"
    if suffix == "npz":
        with np.load(want) as a, np.load(got) as b:
            assert sorted(a.files) == sorted(b.files)
            for k in a.files:
                assert np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype, k
    else:
        assert got.read_bytes() == want.read_bytes()
    if suffix == "npy":
        assert np.array_equal(np.load(got), ids)
        buf = io.BytesIO()
        np.save(buf, ids)
        assert got.read_bytes() == buf.getvalue()


def _small_blocks(fn):
    def wrapped(*args, **kwargs):
        kwargs["block_cells"] = 100  # many blocks
        calls.append(1)
        return fn(*args, **kwargs)

    return wrapped
