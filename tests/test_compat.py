"""The exact conventions behind ``--compat`` without the reference libraries (those are in
``test_compat_real.py``): TensorFlow's ASCII lowercasing and split, the Keras Tokenizer's ``' '``
split and ``--oov-token``, fastText's token hash, word n-gram rows and libstdc++'s ``std::sort``,
models written before the string-hashed n-grams, and collision-free export row names."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from embedcli import ftcompat
from embedcli.cli import app
from embedcli.exporters import export_embeddings, reserved_names, select_rows
from embedcli.model import ModelSpec, featurize
from embedcli.sequences import encode_texts
from embedcli.text import Tokenizer, make_tokenizer_config
from embedcli.vocab import TokenCounter, Vocabulary, vocab_options

runner = CliRunner()
DATA = Path(__file__).parent / "data"


def ok(*args: object, input: str | None = None):
    r = runner.invoke(app, [str(a) for a in args], input=input)
    assert r.exit_code == 0, r.output
    return r


# -- text ------------------------------------------------------------------------------------------
def test_textvectorization_lowercases_ascii_and_splits_on_ascii_whitespace() -> None:
    t = Tokenizer(make_tokenizer_config("textvectorization"))
    assert t.tokenize("ÜBER Über über") == ["Über", "Über", "über"]
    assert t.tokenize("a\xa0b c\u2028d e\u3000f g\x1ch i\tj\x0bk\x0cl\rm") == [
        "a\xa0b",
        "c\u2028d",
        "e\u3000f",
        "g\x1ch",
        "i",
        "j",
        "k",
        "l",
        "m",
    ]


def test_tokenizer_preset_splits_on_space_only() -> None:
    t = Tokenizer(make_tokenizer_config("tokenizer"))
    # \t and \n are Keras filters (turned into spaces); \r, \v, NBSP are not separators
    assert t.tokenize("ÜBER a\tb\nc d\re f\xa0g h\x0bi") == [
        "über",
        "a",
        "b",
        "c",
        "d\re",
        "f\xa0g",
        "h\x0bi",
    ]


def test_default_preset_is_unchanged() -> None:
    cfg = make_tokenizer_config("embedcli")
    assert Tokenizer(cfg).tokenize("ÜBER a\xa0b\x1cc") == ["über", "a", "b", "c"]
    # files of the default tokenizer keep the keys earlier versions read
    assert set(cfg.to_dict()) == {"lower", "punctuation", "punctuation_mode", "token_pattern"}


# -- --oov-token -----------------------------------------------------------------------------------
def test_oov_token_encodes_like_keras(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b\na b\n", encoding="utf-8")
    ok(
        "build-vocab",
        corpus,
        "-o",
        tmp_path / "v.tsv",
        "--compat",
        "tokenizer",
        "--oov-token",
        "<OOV>",
        "-q",
    )
    vocab = Vocabulary.load(tmp_path / "v.tsv")
    assert vocab.tokens == ["", "<OOV>", "a", "b"]
    r = ok("encode", "-", "--vocab", tmp_path / "v.tsv", "-o", "-", "-q", input="a zzz b\n")
    assert r.stdout.split() == ["2", "1", "3"]  # Keras: [2, 1, 3]


def test_oov_token_contradicting_no_oov_is_a_usage_error(tmp_path: Path) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b\n", encoding="utf-8")
    r = runner.invoke(
        app,
        ["build-vocab", str(corpus), "-o", str(tmp_path / "v.tsv"), "--oov-token", "x", "--no-oov"],
    )
    assert r.exit_code == 2, r.output
    assert "--oov-token" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "v.tsv").exists()


# -- fastText: hash, n-grams, dictionary order -----------------------------------------------------
def _fnv1a_reference(data: bytes) -> int:
    """FNV-1a as fastText writes it: the byte is an int8_t cast to uint32_t."""
    h = 2166136261
    for b in data:
        signed = b - 256 if b >= 128 else b
        h ^= signed & 0xFFFFFFFF
        h = (h * 16777619) % 2**32
    return h


def test_token_hash_is_fasttexts_fnv1a() -> None:
    assert ftcompat.token_hash("a") == 0xE40C292C  # plain FNV-1a of an ASCII byte
    for word in ["</s>", "ü", "Über", "😀", "", "x" * 100]:
        assert ftcompat.token_hash(word) == _fnv1a_reference(word.encode())
    words = ["</s>", "ü", "Über", "😀", "", "x" * 100, "a"]
    assert ftcompat.token_hashes(words).view(np.uint32).tolist() == [
        ftcompat.token_hash(w) for w in words
    ]


@settings(max_examples=50, deadline=None)
@given(
    docs=st.lists(
        st.lists(st.sampled_from(["a", "b", "ü", "😀", "zz", "q"]), max_size=9), max_size=6
    ),
    n=st.integers(2, 4),
    buckets=st.sampled_from([1, 7, 1009, 2_000_000]),
)
def test_string_ngram_rows_equal_the_reference(docs, n, buckets) -> None:
    """featurize (numba kernel) = ftcompat.ngram_buckets (plain Python), unknown words included."""
    vocab = Vocabulary.from_counts(["a", "b", "ü"], [3, 2, 1])  # '😀', 'zz', 'q' are unknown
    texts = [" ".join(d) for d in docs]
    enc = encode_texts(texts, vocab, hashes=True)
    spec = ModelSpec(len(vocab), buckets, 4, 2, word_ngrams=n, ngram_hash=ftcompat.NGRAM_HASH)
    rows, offsets = featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    for i, d in enumerate(docs):
        hashes = [ftcompat.token_hash(w) for w in [*d, "</s>"]]
        words = [vocab.id_of(w) for w in d]
        eos = len(vocab) + ftcompat.eos_bucket(buckets)
        expected = (
            words + [eos] + [len(vocab) + b for b in ftcompat.ngram_buckets(hashes, n, buckets)]
        )
        assert rows[offsets[i] : offsets[i + 1]].tolist() == expected


def test_bigram_example_by_hand() -> None:
    """'a b' with 10 buckets: h = sext(H(a)) * 116049371 + sext(H(b)) mod 2^64."""
    ha, hb, he = (ftcompat.token_hash(w) for w in ("a", "b", "</s>"))

    def sext(h: int) -> int:
        return (h - 2**32 if h >= 2**31 else h) % 2**64

    ab = (sext(ha) * 116049371 + sext(hb)) % 2**64 % 10
    be = (sext(hb) * 116049371 + sext(he)) % 2**64 % 10
    assert ftcompat.ngram_buckets([ha, hb, he], 2, 10) == [ab, be]


CPP = r"""
#include <algorithm>
#include <cstdio>
#include <vector>
struct E { long key; int idx; };
int main() {
  int n; std::vector<E> v;
  while (scanf("%d", &n) == 1) {
    v.clear();
    for (int i = 0; i < n; i++) { long k; scanf("%ld", &k); v.push_back({k, i}); }
    std::sort(v.begin(), v.end(), [](const E& a, const E& b) { return a.key < b.key; });
    for (auto& e : v) printf("%d ", e.idx);
    printf("\n");
  }
}
"""


def test_std_sort_order_replays_libstdcxx(tmp_path: Path) -> None:
    """Against GCC's own std::sort (the one fastText's Linux builds run): many equal keys,
    sizes around the insertion-sort threshold and past the heapsort depth limit."""
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is not installed")
    src = tmp_path / "sort.cc"
    src.write_text(CPP)
    exe = tmp_path / "sort"
    subprocess.run([gxx, "-O1", "-std=c++17", "-o", str(exe), str(src)], check=True)
    rng = random.Random(0)
    cases = [
        [rng.randrange(k) for _ in range(n)]
        for n in (0, 1, 2, 15, 16, 17, 33, 100, 1000, 5000)
        for k in (1, 2, 5, 1000)
    ]
    cases.append(list(range(3000, 0, -1)) * 2)  # adversarial for median-of-three
    cases.append([5] * 500 + [1] * 500)
    feed = "".join(f"{len(c)} {' '.join(map(str, c))}\n" for c in cases)
    out = subprocess.run([str(exe)], input=feed, capture_output=True, text=True, check=True)
    for case, line in zip(cases, out.stdout.splitlines()):
        assert ftcompat.std_sort_order(case) == [int(x) for x in line.split()]


def test_fasttext_dictionary_order_counts_eos_and_labels() -> None:
    counter = TokenCounter(Tokenizer(make_tokenizer_config("fasttext")))
    counter.add(["b a", "a c", "c b d"], [("x",), ("y",), ("x",)])
    vocab = counter.vocabulary(**vocab_options("fasttext"))
    assert vocab.tokens[0] == "" and vocab.tokens[1] == "</s>" and vocab.counts[1] == 3
    assert sorted(zip(vocab.tokens[2:], vocab.counts[2:])) == [
        ("a", 2),
        ("b", 2),
        ("c", 2),
        ("d", 1),
    ]
    assert vocab.labels == ["x", "y"]


# -- models written before string-hashed n-grams -------------------------------------------------
def test_model_written_before_keeps_predicting_identically(tmp_path: Path) -> None:
    """tests/data/model_v1_id_ngrams was trained by embedcli 6a37ac6 (word ids hashed); its
    predictions and vectors, recorded by that version, come out unchanged."""
    model = DATA / "model_v1_id_ngrams"
    assert "ngram_hash" not in json.loads((model / "config.json").read_text())["model"]
    text = (DATA / "model_v1_id_ngrams.input.txt").read_text()
    r = ok("predict", model, "-", "--proba", "--k", "2", input=text)
    assert r.stdout == (DATA / "model_v1_id_ngrams.predict.txt").read_text()
    r = ok("embed", model, "-", input=text)
    assert r.stdout == (DATA / "model_v1_id_ngrams.embed.txt").read_text()


def test_new_models_record_the_string_hash(tmp_path: Path) -> None:
    corpus = tmp_path / "t.txt"
    corpus.write_text(
        "".join(f"__label__{'ab'[i % 2]} w{i % 7} x{i % 3} common\n" for i in range(60)),
        encoding="utf-8",
    )
    ok("train", corpus, "-o", tmp_path / "m", "--dim", "4", "--epochs", "2", "--threads", "1", "-q")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model"]["ngram_hash"] == "fasttext-2017"
    r = ok("predict", tmp_path / "m", "-", "--explain", input="w1 x2 unknownword\n")
    # the bigram with the unknown word is a feature of its own (fastText hashes the strings)
    assert "x2 unknownword" in r.stdout


# -- export names -------------------------------------------------------------------------------------
def test_reserved_names_never_take_a_token() -> None:
    assert reserved_names(["", "[UNK]", "a"], 2) == ("<pad>", ["<bucket_0>", "<bucket_1>"])
    pad, buckets = reserved_names(["", "[UNK]", "<pad>", "<bucket_1>", "<<pad>>"], 3)
    assert pad == "<<<pad>>>" and buckets[1] == "<<<bucket_1>>>"
    # a token that is no bucket name of this table does not count
    assert reserved_names(["", "<bucket_9>", "<bucket_01>"], 2)[0] == "<pad>"


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_export_keeps_every_real_token(tmp_path: Path, binary: bool) -> None:
    from gensim.models import KeyedVectors

    tokens = ["", "[UNK]", "<pad>", "<bucket_0>", "word"]
    table = np.arange(7 * 3, dtype=np.float32).reshape(7, 3)
    rows = select_rows(tokens, 7, first_word=2)
    fmt = "word2vec-binary" if binary else "word2vec"
    export_embeddings(table, rows, fmt, tmp_path / "v")
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "v"), binary=binary)
    assert len(kv.index_to_key) == 7 == len(set(kv.index_to_key))
    for i, token in enumerate(tokens[1:], 1):
        np.testing.assert_array_equal(kv[token], table[i])
    assert kv.index_to_key[0] == "<<pad>>" and kv.index_to_key[5:] == [
        "<<bucket_0>>",
        "<<bucket_1>>",
    ]


@pytest.mark.parametrize("compat", ["embedcli", "tokenizer"])
def test_parallel_build_and_encode_hashes_equal_the_sequential_ones(tmp_path: Path, compat) -> None:
    from embedcli import shards
    from embedcli.corpus import CorpusOptions, CorpusReader
    from embedcli.sequences import build_and_encode

    path = tmp_path / "c.txt"
    rng = random.Random(1)
    words = ["a", "b", "ü", "😀", "rare", "x.y", "Z"]
    path.write_text(
        "".join(
            f"__label__{i % 2} " + " ".join(rng.choices(words, k=rng.randrange(0, 9))) + "\n"
            for i in range(400)
        ),
        encoding="utf-8",
    )
    tok = Tokenizer(make_tokenizer_config(compat))
    opts = vocab_options(compat, min_count=30)  # some words dropped or mapped to [UNK]
    reader = CorpusReader([path], CorpusOptions(skip_blank=True))
    plan = shards.plan_shards(reader, workers=3, min_bytes=1)
    _v, par, *_ = shards.build_and_encode_parallel(reader, tok, plan, opts, hashes=True)
    reader = CorpusReader([path], CorpusOptions(skip_blank=True))
    _v, seq = build_and_encode(reader, TokenCounter(tok), opts, hashes=True)
    np.testing.assert_array_equal(par.tokens, seq.tokens)
    np.testing.assert_array_equal(par.hashes.values, seq.hashes.values)
    np.testing.assert_array_equal(par.hashes.offsets, seq.hashes.offsets)
    # and the hashes are those of the token strings, unknown ones included, then </s>
    docs = [line.split(" ", 1)[1] if " " in line else "" for line in path.read_text().splitlines()]
    first = [ftcompat.token_hash(t) for t in tok.tokenize(docs[0])] + [ftcompat.token_hash("</s>")]
    assert seq.hashes.values[: seq.hashes.offsets[1]].view(np.uint32).tolist() == first
