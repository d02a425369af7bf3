"""``--compat`` against the real libraries: TensorFlow/Keras ``TextVectorization``, the legacy
Keras ``Tokenizer`` + ``pad_sequences`` and fastText (``make test-interop`` installs them in a
separate venv; each part is skipped where its library is absent).

Data: every shared dataset's ``train.txt`` (``../shared/data/*/train.txt``, skipped when absent)
plus a fixed corpus of hostile Unicode text and generated text. Documents are what embedcli's
reader yields (labels peeled, ends stripped); the libraries get the same strings, except fastText,
which reads the file itself. Vocabularies are compared on whole files; encoded ids on the first
``ENCODE_LINES`` documents of each file (all of sms_spam, sst2 and trec6); fastText's word n-gram
rows on every line of every file.

fastText's n-gram rows are read back through its own API: a model trained for 0 epochs gets an
input matrix whose word rows are 0 and whose bucket rows are random, so ``get_sentence_vector``
of a line is the sum of the random rows of exactly the buckets fastText used, divided by its
number of features; embedcli's featurized rows must give the same vector (a different bucket
changes it by about 1/length, thousands of times the float32 rounding).
"""

from __future__ import annotations

import importlib.util
import os
import string
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedcli.corpus import CorpusOptions, CorpusReader, Document
from embedcli.ftcompat import NGRAM_HASH
from embedcli.model import ModelSpec, featurize
from embedcli.sequences import encode_corpus, pad_ragged
from embedcli.text import Tokenizer, make_tokenizer_config
from embedcli.vocab import TokenCounter, build_vocabulary, vocab_options

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATASETS = sorted(p.parent.name for p in DATA.glob("*/train.txt"))
#: documents whose encoded ids are compared, per file
ENCODE_LINES = 3000
#: buckets of the fastText n-gram comparison (fastText's default)
BUCKETS = 2_000_000

HOSTILE = [
    "Über ÜBER über uber Ü ü",
    "a\xa0b c\u2028d e\u3000f g\u2029h",
    "fs\x1cgs\x1drs\x1eus\x1fend \x1c\x1d",
    "cafe\u0301 café CAFÉ e\u0301",
    "emoji 😀 😀x x😀 👍🏽 🇫🇷",
    "İSTANBUL ǅ ǈ ß ẞ ΣΑΣ σας",
    "tab\there vt\x0bhere ff\x0chere cr\rhere nel\x85here",
    "Don't stop! ¿Qué? «quoted» — dash … (x) [y] {z}",
    "x" * 300,
    "repeat repeat repeat REPEAT Repeat",
    "zero width\u200bjoiner\u200d non\u200cjoiner",
    "a zzz b",
]

TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(
            list("abcAB Üü .,!'-\t\x0b\x0c")
            + ["\xa0", "\u2028", "\u3000", "\x1c", "\x1f", "\x85", "\u0301", "😀", "İ", "ǅ"]
        ),
        st.characters(exclude_categories=("Cs", "Cc")),
    ),
    max_size=40,
)


def dataset_docs(name: str) -> list[Document]:
    reader = CorpusReader([DATA / name / "train.txt"], CorpusOptions(skip_blank=True))
    return list(reader)


@pytest.fixture(scope="module", params=DATASETS)
def dataset(request: pytest.FixtureRequest) -> tuple[str, list[str]]:
    # its users compare with Keras: without it, skip before reading a whole corpus (`make test`
    # in the test extra's venv skips this file's reference checks; `make test-interop` runs them)
    if not any(importlib.util.find_spec(m) for m in ("keras", "keras_preprocessing", "tf_keras")):
        pytest.skip("neither keras, keras-preprocessing nor tf_keras is installed")
    return request.param, [d.text for d in dataset_docs(request.param)]


def embedcli_vocab(texts: list[str], compat: str, **options):
    counter = TokenCounter(Tokenizer(make_tokenizer_config(compat)))
    counter.add(texts, [() for _ in texts])
    return counter.vocabulary(**vocab_options(compat, **options))


def ragged(texts: list[str], vocab) -> tuple[np.ndarray, np.ndarray]:
    enc = encode_corpus([Document(t, ()) for t in texts], vocab)
    return enc.tokens, enc.offsets


def rows_of(tokens: np.ndarray, offsets: np.ndarray) -> list[list[int]]:
    return [tokens[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1)]


# -- TextVectorization -----------------------------------------------------------------------------
def _tv(texts: list[str], **kwargs):
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    layer = keras.layers.TextVectorization(**kwargs)
    layer.adapt(texts, batch_size=4096)
    return layer


def _tv_ids(layer, texts: list[str]) -> list[list[int]]:
    import tensorflow as tf

    out = layer(tf.constant(texts))
    if isinstance(out, tf.RaggedTensor):
        return [list(row) for row in out.to_list()]
    return out.numpy().tolist()


def check_textvectorization(texts: list[str], max_tokens: int | None, length: int) -> None:
    pytest.importorskip("keras")  # skipped before embedcli's side of the work, not after
    pytest.importorskip("tensorflow")
    vocab = embedcli_vocab(texts, "textvectorization", max_size=max_tokens)
    layer = _tv(texts, max_tokens=max_tokens, ragged=True)
    assert [str(t) for t in layer.get_vocabulary()] == vocab.tokens
    sample = texts[:ENCODE_LINES]
    tokens, offsets = ragged(sample, vocab)
    assert _tv_ids(layer, sample) == rows_of(tokens, offsets)
    keras = pytest.importorskip("keras")
    fixed = keras.layers.TextVectorization(
        vocabulary=layer.get_vocabulary(), output_sequence_length=length
    )
    padded = pad_ragged(tokens, offsets, length, padding="post", truncating="post")
    assert _tv_ids(fixed, sample) == padded.tolist()


@pytest.mark.parametrize("max_tokens", [None, 1000])
def test_textvectorization_on_shared_data(dataset, max_tokens) -> None:
    _name, texts = dataset
    check_textvectorization(texts, max_tokens, 50)


def test_textvectorization_on_hostile_text() -> None:
    check_textvectorization(HOSTILE, None, 5)
    check_textvectorization(HOSTILE, 12, 8)


# -- legacy Keras Tokenizer --------------------------------------------------------------------
def _tokenizer_modules() -> list:
    mods = []
    for name in ("keras_preprocessing.text", "tf_keras.preprocessing.text"):
        try:
            mods.append(__import__(name, fromlist=["Tokenizer"]))
        except Exception:  # absent, or installed without what it needs
            continue
    if not mods:
        pytest.skip("neither keras-preprocessing nor tf_keras is installed")
    return mods


def _pad_module():
    """Keras' ``pad_sequences`` (keras_preprocessing's uses ``np.unicode_``, gone in numpy 2)."""
    try:
        from tf_keras.preprocessing.sequence import pad_sequences
    except Exception:  # absent, or installed without what it needs
        pad_sequences = pytest.importorskip("keras").utils.pad_sequences
    return pad_sequences


_FITTED: dict = {}


def check_tokenizer(
    texts: list[str], num_words: int | None, oov_token: str | None, both: bool = True
) -> None:
    """``both``: with keras_preprocessing's and tf_keras's Tokenizer (the same code); else the
    first installed, fitted once per corpus (the shared datasets)."""
    modules = _tokenizer_modules()  # skipped before embedcli's side of the work, not after
    pad_sequences = _pad_module()
    vocab = embedcli_vocab(texts, "tokenizer", max_size=num_words, oov_token=oov_token)
    sample = texts[:ENCODE_LINES]
    tokens, offsets = ragged(sample, vocab)
    for mod in modules[: None if both else 1]:
        key = (mod.__name__, id(texts), len(texts), oov_token)
        keras_tok = _FITTED.get(key) if not both else None
        if keras_tok is None:
            keras_tok = mod.Tokenizer(oov_token=oov_token)
            keras_tok.fit_on_texts(texts)
            if not both:
                _FITTED.clear()  # one corpus at a time
                _FITTED[key] = keras_tok
        keras_tok.num_words = num_words
        words = sorted(keras_tok.word_index, key=keras_tok.word_index.get)
        kept = words[: num_words - 1] if num_words else words
        assert [""] + kept == vocab.tokens
        seqs = keras_tok.texts_to_sequences(sample)
        assert seqs == rows_of(tokens, offsets)
        for padding, truncating in (("pre", "pre"), ("post", "post"), ("pre", "post")):
            expected = pad_sequences(seqs, maxlen=7, padding=padding, truncating=truncating)
            got = pad_ragged(tokens, offsets, 7, padding=padding, truncating=truncating)
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("num_words", "oov_token"), [(None, None), (1000, None), (None, "<OOV>"), (1000, "<OOV>")]
)
def test_tokenizer_on_shared_data(dataset, num_words, oov_token) -> None:
    _name, texts = dataset
    check_tokenizer(texts, num_words, oov_token, both=False)


def test_tokenizer_on_hostile_text() -> None:
    for num_words in (None, 10):
        for oov in (None, "<OOV>"):
            check_tokenizer(HOSTILE, num_words, oov)


def test_tokenizer_oov_token_example() -> None:
    """The issue's example: Keras encodes "a zzz b" as [2, 1, 3] with oov_token."""
    vocab = embedcli_vocab(["a b", "a b"], "tokenizer", oov_token="<OOV>")
    assert vocab.encode_text("a zzz b") == [2, 1, 3]
    check_tokenizer(["a b", "a b", "a zzz b"], None, "<OOV>")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(TEXT, min_size=1, max_size=6))
def test_tokenizer_on_generated_text(texts: list[str]) -> None:
    check_tokenizer(texts, None, "<OOV>")
    check_tokenizer(texts, 4, None)


# -- fastText --------------------------------------------------------------------------------------
def _fasttext():
    return pytest.importorskip("fasttext")


def _ft_model(path: Path, word_ngrams: int = 1, bucket: int = BUCKETS):
    ft = _fasttext()
    return ft.train_supervised(
        input=str(path), epoch=0, dim=16, thread=1, wordNgrams=word_ngrams, bucket=bucket,
        minn=0, maxn=0, verbose=0,
    )  # fmt: skip


def _embedcli_ft_vocab(path: Path):
    reader = CorpusReader([path], CorpusOptions(skip_blank=True))
    vocab, _stats = build_vocabulary(
        reader, make_tokenizer_config("fasttext"), vocab_options("fasttext")
    )
    return vocab


def check_fasttext_dictionary(path: Path) -> None:
    model = _ft_model(path)
    words, freqs = model.get_words(include_freq=True)
    labels, label_freqs = model.get_labels(include_freq=True)
    vocab = _embedcli_ft_vocab(path)
    assert vocab.tokens[0] == ""  # padding, then fastText's words in fastText's order
    assert vocab.tokens[1:] == list(words)
    assert vocab.counts[1:] == [int(c) for c in freqs]
    assert ["__label__" + lab for lab in vocab.labels] == list(labels)
    assert vocab.label_counts == [int(c) for c in label_freqs]


def check_fasttext_ngrams(
    path: Path, lines: list[str] | None = None, buckets: int = BUCKETS
) -> int:
    """Every line's bucket rows equal fastText's; returns the number of lines checked."""
    model = _ft_model(path, word_ngrams=2, bucket=buckets)
    vocab = _embedcli_ft_vocab(path)
    nwords = len(model.words)
    assert len(vocab) == nwords + 1
    rng = np.random.default_rng(0)
    dim = 16
    # small integers: fastText's float32 sums are then exact, and so is the comparison
    matrix = np.zeros((nwords + buckets, dim), dtype=np.float32)
    matrix[nwords:] = rng.integers(-100, 101, (buckets, dim))
    model.set_matrices(matrix, model.get_output_matrix())
    reader = CorpusReader([path], CorpusOptions(skip_blank=True))
    docs = list(reader)
    raw = lines if lines is not None else path.read_text(encoding="utf-8").split("\n")
    raw = [r for r in raw if r.strip()]
    assert len(raw) == len(docs)
    enc = encode_corpus(docs, vocab, hashes=True)
    spec = ModelSpec(len(vocab), buckets, dim, 2, word_ngrams=2, ngram_hash=NGRAM_HASH)
    rows, offsets = featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    bucket_table = matrix[nwords:].astype(np.int64)
    bad = []
    for i, line in enumerate(raw):
        doc_rows = rows[offsets[i] : offsets[i + 1]]
        ids = doc_rows[doc_rows >= len(vocab)] - len(vocab)
        # fastText: float32 sum of the rows, times float32(1.0 / number of features)
        total = bucket_table[ids].sum(axis=0).astype(np.float32)
        expected = total * np.float32(1.0 / len(doc_rows)) if len(doc_rows) else total
        if not np.array_equal(model.get_sentence_vector(line), expected):
            bad.append(i)
    assert not bad, f"{len(bad)} of {len(raw)} lines differ, first: {raw[bad[0]]!r}"
    return len(raw)


@pytest.mark.parametrize("name", DATASETS)
def test_fasttext_dictionary_on_shared_data(name: str) -> None:
    check_fasttext_dictionary(DATA / name / "train.txt")


@pytest.mark.parametrize("name", DATASETS)
def test_fasttext_ngram_rows_on_every_line(name: str) -> None:
    assert check_fasttext_ngrams(DATA / name / "train.txt") > 0


def _hostile_ft_lines() -> list[str]:
    # labels separated by spaces; no whitespace at the ends of a line (see the test of the
    # documented differences below)
    return [
        f"__label__{i % 3} <{text.replace(chr(13), ' ')}>"
        for i, text in enumerate(HOSTILE * 3)
        if text.strip()
    ]


def test_fasttext_on_hostile_text(tmp_path: Path) -> None:
    path = tmp_path / "hostile.txt"
    lines = _hostile_ft_lines()
    path.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
    check_fasttext_dictionary(path)
    check_fasttext_ngrams(path, lines, buckets=100_003)


_FT_SAFE_EDGE = st.sampled_from(list(string.ascii_letters + "Üü😀.,!'-"))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    texts=st.lists(
        st.tuples(_FT_SAFE_EDGE, TEXT, _FT_SAFE_EDGE).map("".join), min_size=1, max_size=8
    ),
    labels=st.lists(st.sampled_from(["a", "b", "c"]), min_size=8, max_size=8),
)
def test_fasttext_on_generated_text(tmp_path: Path, texts: list[str], labels: list[str]) -> None:
    path = tmp_path / "gen.txt"
    lines = [
        f"__label__{lab} {t.replace(chr(13), ' ').replace(chr(10), ' ')}"
        for t, lab in zip(texts, labels)
    ]
    path.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
    check_fasttext_dictionary(path)
    check_fasttext_ngrams(path, lines, buckets=1009)


def test_fasttext_differences_are_exactly_the_documented_ones(tmp_path: Path) -> None:
    """README, 'Tokenizing and --compat': embedcli's reader skips blank lines (fastText counts a
    </s> for each) and strips Unicode whitespace at both ends of a line (fastText keeps \\x1c or
    NBSP there as part of the first/last word). Nothing else differs."""
    path = tmp_path / "edges.txt"
    path.write_text("__label__a x y\n\n__label__b \x1cx y\xa0\n", encoding="utf-8")
    words, freqs = _ft_model(path).get_words(include_freq=True)
    ft = dict(zip(words, (int(f) for f in freqs)))
    assert ft == {"</s>": 3, "x": 1, "y": 1, "\x1cx": 1, "y\xa0": 1}
    vocab = _embedcli_ft_vocab(path)
    assert dict(zip(vocab.tokens[1:], vocab.counts[1:])) == {"</s>": 2, "x": 2, "y": 2}


SUBWORD_WORDS = [
    "où", "über", "Über", "日本語", "😀x", "👍🏽", "café", "cafe\u0301", "a", "ab", "x" * 40,
    "naïveté", "İstanbul", "σας", "<", ">", "don't", "ß", "\u200bzw",
]  # fmt: skip


@pytest.mark.parametrize("minn,maxn", [(3, 6), (1, 2), (2, 4), (5, 5)])
def test_subword_ngrams_and_buckets_equal_fasttext(tmp_path: Path, minn: int, maxn: int) -> None:
    """embedcli.subwords gives every word fastText's own n-grams and bucket rows."""
    from embedcli.subwords import SubwordSpec, char_ngrams, subword_buckets

    ft = _fasttext()
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\n" * 3, encoding="utf-8")
    buckets = 100_003
    model = ft.train_unsupervised(
        input=str(corpus), model="skipgram", epoch=1, dim=8, thread=1, minCount=1,
        minn=minn, maxn=maxn, bucket=buckets, verbose=0,
    )  # fmt: skip
    nwords = len(model.words)
    spec = SubwordSpec(minn, maxn, buckets)
    got = subword_buckets(SUBWORD_WORDS, spec)
    for word, ids in zip(SUBWORD_WORDS, got, strict=True):
        grams, ft_ids = model.get_subwords(word)
        # an out-of-vocabulary word: fastText's list is exactly its n-grams
        assert list(grams) == char_ngrams(word, minn, maxn), word
        assert [int(i) - nwords for i in ft_ids] == [int(b) for b in ids], word
