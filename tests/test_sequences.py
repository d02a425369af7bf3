"""Encoding to ragged ids, and Keras ``pad_sequences`` semantics (against a plain-Python twin)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedcli.corpus import CorpusReader, Document
from embedcli.errors import DataError, UsageError
from embedcli.sequences import (
    EncodedCorpus,
    build_and_encode,
    concat_corpora,
    encode_corpus,
    encode_texts,
    pad_ragged,
    pad_sequences,
    require_documents,
    truncation_rate,
)
from embedcli.text import Tokenizer, make_tokenizer_config
from embedcli.vocab import TokenCounter, Vocabulary, build_vocabulary, vocab_options


def keras_pad_sequences(seqs, maxlen=None, padding="pre", truncating="pre", value=0):
    """Plain-Python twin of ``keras.utils.pad_sequences`` (Keras 3 source, int values)."""
    lengths = [len(s) for s in seqs]
    if maxlen is None:
        maxlen = max(lengths)
    out = [[value] * maxlen for _ in seqs]
    for i, s in enumerate(seqs):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i][: len(trunc)] = trunc
        else:
            out[i][-len(trunc) :] = trunc
    return out


# -- pad_sequences -----------------------------------------------------------------------------
def test_pad_sequences_keras_docstring_example() -> None:
    out = pad_sequences([[1], [2, 3], [4, 5, 6]])
    assert out.dtype == np.int32
    assert out.tolist() == [[0, 0, 1], [0, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
        ({"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
        ({"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
        ({"maxlen": 2, "truncating": "post"}, [[0, 1], [2, 3], [4, 5]]),
        ({"maxlen": 4, "padding": "post"}, [[1, 0, 0, 0], [2, 3, 0, 0], [4, 5, 6, 0]]),
    ],
)
def test_pad_sequences_keras_variants(kwargs, expected) -> None:
    assert pad_sequences([[1], [2, 3], [4, 5, 6]], **kwargs).tolist() == expected


@settings(max_examples=100, deadline=None)
@given(
    seqs=st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=25), min_size=1, max_size=12),
    maxlen=st.one_of(st.none(), st.integers(1, 20)),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
    value=st.integers(-5, 5),
)
def test_pad_sequences_equals_keras(seqs, maxlen, padding, truncating, value) -> None:
    if maxlen is None and max(map(len, seqs)) == 0:
        maxlen = 1  # Keras would make a (n, 0) array here; covered by the test below
    got = pad_sequences(seqs, maxlen, padding=padding, truncating=truncating, value=value)
    want = keras_pad_sequences(seqs, maxlen, padding, truncating, value)
    assert got.tolist() == want
    assert got.shape == (len(seqs), maxlen or max(map(len, seqs)))


def test_pad_sequences_all_empty_and_no_rows() -> None:
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([], maxlen=3).shape == (0, 3)


@pytest.mark.parametrize(
    "kwargs", [{"maxlen": 0}, {"maxlen": -1}, {"padding": "mid"}, {"truncating": "both"}]
)
def test_pad_sequences_bad_arguments(kwargs) -> None:
    with pytest.raises(UsageError):
        pad_sequences([[1, 2]], **kwargs)


def test_pad_ragged_in_blocks_equals_small_path() -> None:
    rng = np.random.default_rng(0)
    lens = rng.integers(0, 50, size=3000)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    tokens = rng.integers(2, 1000, size=int(offsets[-1])).astype(np.int32)
    seqs = [tokens[offsets[i] : offsets[i + 1]].tolist() for i in range(len(lens))]
    # width 2000 -> 2097 rows per block: more than one block
    out = pad_ragged(tokens, offsets, 2000, padding="post", truncating="post")
    assert out.tolist() == keras_pad_sequences(seqs, 2000, "post", "post")
    out = pad_ragged(tokens, offsets, 7, padding="pre", truncating="pre")
    assert out.tolist() == keras_pad_sequences(seqs, 7, "pre", "pre")


def test_truncation_rate() -> None:
    assert truncation_rate(np.array([1, 5, 10]), 5) == (pytest.approx(1 / 3), pytest.approx(5 / 16))
    assert truncation_rate(np.array([], dtype=np.int64), 5) == (0.0, 0.0)


# -- encoding --------------------------------------------------------------------------------------
def _vocab(texts, compat="embedcli", **over) -> Vocabulary:
    counter = TokenCounter(Tokenizer(make_tokenizer_config(compat)))
    counter.add(texts)
    return counter.vocabulary(**vocab_options(compat, **over))


def test_keras_textvectorization_example_through_the_library() -> None:
    v = _vocab(["foo bar", "bar baz", "baz bada boom"], "textvectorization")
    enc = encode_texts(["foo qux bar", "qux baz"], v)
    assert pad_ragged(enc.tokens, enc.offsets, 4, padding="post", truncating="post").tolist() == [
        [4, 1, 3, 0],
        [1, 2, 0, 0],
    ]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["Hope to see you soon", "Nice meeting you"], [[1, 2, 3, 4, 5], [6, 7, 4, 0, 0]]),
        (["Hope to see you soon", "Nice to see you again"], [[1, 2, 3, 4, 5], [6, 2, 3, 4, 7]]),
    ],
)
def test_seed_examples(texts, expected) -> None:
    v = _vocab(texts, order="appearance", oov=False)
    assert len(v) == 8
    enc = encode_texts(texts, v)
    assert pad_ragged(enc.tokens, enc.offsets, 5, padding="post", truncating="post").tolist() == (
        expected
    )


def test_encoded_corpus_layout_and_labels() -> None:
    v = _vocab(["a b c"])
    v.labels, v.label_counts = ["x", "y"], [1, 1]
    v.label_to_id = {"x": 0, "y": 1}
    docs = [Document("a b", ("y",)), Document("", ()), Document("c zz a", ("x", "q"))]
    enc = encode_corpus(docs, v)
    assert enc.tokens.dtype == np.int32 and enc.offsets.dtype == np.int64
    assert enc.label_ids.dtype == np.int32 and enc.label_offsets.dtype == np.int64
    assert enc.n_docs == 3
    assert enc.lengths().tolist() == [2, 0, 3]
    assert enc.doc(2).tolist() == [4, 1, 2]
    assert enc.labels_of(2).tolist() == [0, -1]  # unknown label -> -1
    assert enc.first_labels().tolist() == [1, -1, 0]
    sub = enc.subset(np.array([2, 0]))
    assert sub.doc(0).tolist() == [4, 1, 2] and sub.doc(1).tolist() == [2, 3]
    both = concat_corpora([enc, sub])
    assert both.n_docs == 5 and both.doc(3).tolist() == [4, 1, 2]


def test_no_oov_vocabulary_drops_unknown_words() -> None:
    v = _vocab(["a b"], oov=False)
    enc = encode_texts(["a zz b", "zz", "b"], v)
    assert [enc.doc(i).tolist() for i in range(3)] == [[1, 2], [], [2]]


def test_encode_in_small_batches_equals_one_batch() -> None:
    texts = [f"w{i % 7} w{i % 3} new{i}" for i in range(50)]
    v = _vocab(texts[:20])
    one = encode_corpus((Document(t, ()) for t in texts), v)
    many = encode_corpus((Document(t, ()) for t in texts), v, batch_size=3)
    assert np.array_equal(one.tokens, many.tokens) and np.array_equal(one.offsets, many.offsets)


def test_build_and_encode_equals_build_then_encode(tmp_path: Path) -> None:
    lines = ["__label__b the cat sat", "", "__label__a a dog", "__label__b the Dog, sat!"] * 5
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for compat in ("embedcli", "tokenizer", "fasttext"):
        cfg = make_tokenizer_config(compat)
        opts = vocab_options(compat, min_count=2)
        v1, enc1 = build_and_encode(iter(CorpusReader([path])), TokenCounter(Tokenizer(cfg)), opts)
        v2, _ = build_vocabulary(iter(CorpusReader([path])), cfg, opts)
        enc2 = encode_corpus(iter(CorpusReader([path])), v2)
        assert v1.tokens == v2.tokens and v1.labels == v2.labels
        assert np.array_equal(enc1.tokens, enc2.tokens)
        assert np.array_equal(enc1.offsets, enc2.offsets)
        assert np.array_equal(enc1.label_ids, enc2.label_ids)
        assert np.array_equal(enc1.label_offsets, enc2.label_offsets)


def test_empty_corpus_is_a_data_error() -> None:
    enc = encode_texts([], _vocab(["a"]))
    assert enc.n_docs == 0 and isinstance(enc, EncodedCorpus)
    with pytest.raises(DataError, match="empty"):
        require_documents(enc)
