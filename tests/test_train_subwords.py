"""Supervised subwords (``train --minn/--maxn``): fastText's ``Dictionary::addSubwords`` in the
feature pipeline. Every word of a line adds its own row and the rows ``num_words + bucket`` of
its character n-grams; an unknown word adds its n-gram rows only; the n-grams share the buckets
of the word n-grams. Hand computations here; the real fastText when it is installed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from embedcli import ftcompat
from embedcli.cli import app
from embedcli.corpus import CorpusOptions, CorpusReader, Document
from embedcli.errors import FormatError, UsageError
from embedcli.model import featurize, featurize_docs, featurized_lengths
from embedcli.modeldir import check_spec, load_model
from embedcli.sequences import build_and_encode, encode_texts, word_ngram_hashes
from embedcli.spec import ModelSpec, TrainConfig
from embedcli.subwords import SubwordSpec, char_ngrams, ngram_hashes
from embedcli.text import Tokenizer, make_tokenizer_config
from embedcli.vocab import TokenCounter, Vocabulary, vocab_options

runner = CliRunner()
BUCKETS = 1009


def rows_by_hand(word: str, num_words: int, minn: int = 3, maxn: int = 6) -> list[int]:
    """fastText: the row ``nwords + hash(ngram) % bucket`` of each n-gram of ``<word>``."""
    return [num_words + ftcompat.token_hash(g) % BUCKETS for g in char_ngrams(word, minn, maxn)]


def doc_rows(rows: np.ndarray, offsets: np.ndarray, i: int) -> list[int]:
    return rows[offsets[i] : offsets[i + 1]].tolist()


def test_feature_rows_of_a_line_equal_a_hand_computation() -> None:
    vocab = Vocabulary.from_counts(["cat", "sat"], [2, 1])  # ["", "[UNK]", "cat", "sat"]
    enc = encode_texts(["cat sat", "sat mat cat", ""], vocab, subwords=(3, 6))
    spec = ModelSpec(len(vocab), BUCKETS, 4, 2, minn=3, maxn=6)
    rows, offsets = featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    nw = len(vocab)
    cat, sat = vocab.id_of("cat"), vocab.id_of("sat")
    # own ids first, then per word in order its n-gram rows, then the unknown words' n-grams
    assert doc_rows(rows, offsets, 0) == [
        cat,
        sat,
        *rows_by_hand("cat", nw),
        *rows_by_hand("sat", nw),
    ]
    assert doc_rows(rows, offsets, 1) == [
        sat,
        1,  # "mat" is unknown: the OOV row of this vocabulary ...
        cat,
        *rows_by_hand("sat", nw),
        *rows_by_hand("cat", nw),
        *rows_by_hand("mat", nw),  # ... and its own n-grams
    ]
    assert doc_rows(rows, offsets, 2) == []
    # "<cat>": <ca <cat <cat> cat cat> at> = 6 n-grams of 3..6 characters per word
    assert featurized_lengths(enc.tokens, enc.offsets, spec, enc.hashes).tolist() == [
        2 + 2 * 6,
        3 + 3 * 6,
        0,
    ]


def test_with_word_ngrams_the_subword_rows_come_after_them() -> None:
    vocab = Vocabulary.from_counts(["ab", "cd"], [2, 1], oov=False)
    enc = encode_texts(["ab cd ab"], vocab, hashes=True, subwords=(2, 3))
    words = ModelSpec(len(vocab), BUCKETS, 4, 2, word_ngrams=2, ngram_hash=ftcompat.NGRAM_HASH)
    both = ModelSpec(**{**words.__dict__, "minn": 2, "maxn": 3})
    base = featurize(enc.tokens, enc.offsets, words, enc.hashes)[0].tolist()
    rows = featurize(enc.tokens, enc.offsets, both, enc.hashes)[0].tolist()
    nw = len(vocab)
    sub = [r for w in ("ab", "cd", "ab") for r in rows_by_hand(w, nw, 2, 3)]
    assert rows == base + sub
    assert min(sub) >= nw and both.num_rows == nw + BUCKETS  # the same bucket range


def test_unknown_words_still_produce_features() -> None:
    vocab = Vocabulary.from_counts(["cat"], [1], oov=False)  # unknown words are dropped
    enc = encode_texts(["dogs barked", "cat"], vocab, subwords=(3, 4))
    spec = ModelSpec(len(vocab), BUCKETS, 4, 2, minn=3, maxn=4)
    rows, offsets = featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    assert enc.tokens.tolist() == [vocab.id_of("cat")]  # no word id for line 0 ...
    expected = rows_by_hand("dogs", len(vocab), 3, 4) + rows_by_hand("barked", len(vocab), 3, 4)
    assert doc_rows(rows, offsets, 0) == expected  # ... but its n-grams
    # without subwords the line has no feature at all
    plain = ModelSpec(len(vocab), 0, 4, 2)
    prow, poff = featurize(enc.tokens, enc.offsets, plain)
    assert doc_rows(prow, poff, 0) == []


def test_words_below_min_count_carry_their_ngrams_when_building_the_vocabulary() -> None:
    docs = [Document("rare common", ("a",)), Document("common common", ("b",))]
    counter = TokenCounter(Tokenizer(make_tokenizer_config("embedcli")))
    opts = vocab_options("embedcli", min_count=2)
    vocab, enc = build_and_encode(docs, counter, opts, hashes=False, subwords=(3, 6))
    assert "rare" not in vocab.token_to_id
    spec = ModelSpec(len(vocab), BUCKETS, 4, 2, minn=3, maxn=6)
    rows, offsets = featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    nw, common = len(vocab), vocab.id_of("common")
    assert doc_rows(rows, offsets, 0) == [
        1,
        common,
        *rows_by_hand("common", nw),
        *rows_by_hand("rare", nw),
    ]
    # the same rows as encoding with the finished vocabulary
    again = encode_texts(["rare common", "common common"], vocab, subwords=(3, 6))
    rows2, offsets2 = featurize(again.tokens, again.offsets, spec, again.hashes)
    assert rows.tolist() == rows2.tolist() and offsets.tolist() == offsets2.tolist()


def test_chunks_and_subsets_featurize_to_the_same_rows() -> None:
    vocab = Vocabulary.from_counts(["alpha", "beta", "gamma"], [3, 2, 1])
    texts = ["alpha beta", "delta", "gamma alpha epsilon", "", "beta beta zeta"]
    enc = encode_texts(texts, vocab, hashes=True, subwords=(2, 5))
    spec = ModelSpec(
        len(vocab), BUCKETS, 4, 2, word_ngrams=3, ngram_hash=ftcompat.NGRAM_HASH, minn=2, maxn=5
    )
    rows, offsets = featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    lengths = featurized_lengths(enc.tokens, enc.offsets, spec, enc.hashes)
    docs = np.array([4, 0, 2], dtype=np.int64)
    part, part_off, _ = featurize_docs(
        enc.tokens, enc.offsets, docs, spec, lengths, None, enc.hashes
    )
    for i, d in enumerate(docs):
        assert doc_rows(part, part_off, i) == doc_rows(rows, offsets, int(d))
    sub = enc.subset(docs)
    srows, soff = featurize(sub.tokens, sub.offsets, spec, sub.hashes)
    assert srows.tolist() == part.tolist()


def test_the_spec_records_subwords_and_round_trips(tmp_path: Path) -> None:
    spec = TrainConfig(dim=8, word_ngrams=1, minn=3, maxn=6, buckets=4096).model_spec(10, 2)
    assert spec.num_rows == 10 + 4096 and spec.subwords == SubwordSpec(3, 6, 4096)
    stored = spec.to_dict()
    assert stored["subwords"] == SubwordSpec(3, 6, 4096).to_json()
    assert "minn" not in stored and "maxn" not in stored
    assert ModelSpec.from_dict(json.loads(json.dumps(stored))) == spec
    assert check_spec(stored, tmp_path / "config.json") == spec
    # without subwords the stored spec is the one written before them
    old = TrainConfig(dim=8, word_ngrams=2, buckets=64).model_spec(10, 2)
    assert "subwords" not in old.to_dict() and ModelSpec.from_dict(old.to_dict()) == old
    # damaged records: another hash, other buckets than the model's
    for bad in (
        {**stored, "subwords": {**stored["subwords"], "hash": "murmur"}},
        {**stored, "subwords": {**stored["subwords"], "buckets": 7}},
        {**stored, "subwords": {**stored["subwords"], "minn": "3"}},
    ):
        with pytest.raises(FormatError):
            check_spec(bad, tmp_path / "config.json")


def test_bad_subword_options_are_usage_errors() -> None:
    for minn, maxn in ((3, 0), (0, 6), (6, 3), (3, 31)):
        with pytest.raises(UsageError):
            TrainConfig(minn=minn, maxn=maxn).validate()
    with pytest.raises(UsageError):
        TrainConfig(minn=3, maxn=6, pool="flatten", maxlen=4).validate()
    r = runner.invoke(app, ["train", "x.txt", "-o", "m", "--minn", "5", "--maxn", "2"])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(max_size=12), max_size=8),
    st.integers(1, 4),
    st.integers(0, 3),
)
def test_the_ngram_hash_kernel_equals_the_python_reference(words, minn, extra) -> None:
    """kernels.char_ngram_hashes (UTF-8 bytes, incremental FNV-1a) = subwords.ngram_hashes."""
    words = [w.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for w in words]
    fast = word_ngram_hashes(words, minn, minn + extra)
    slow = ngram_hashes(words, minn, minn + extra)
    assert fast[0].tolist() == slow[0].tolist() and fast[1].tolist() == slow[1].tolist()


# -- learning: unseen morphological variants ------------------------------------------------------
def _stems(rng: np.random.Generator, n: int) -> list[str]:
    cons, vows = "bcdfgklmnprstvz", "aeiou"
    return [
        "".join(rng.choice(list(cons)) + rng.choice(list(vows)) for _ in range(3)) for _ in range(n)
    ]


def _variant_task(tmp_path: Path) -> tuple[Path, Path]:
    """Two classes told apart by their stems; training text has the stems with -ing/-ed, the
    test text the same stems with -er/-s/-ly: every test word is unseen."""
    rng = np.random.default_rng(7)
    stems = {"pos": _stems(rng, 12), "neg": _stems(rng, 12)}
    lines = {"train": [], "test": []}
    for split, suffixes, n in (("train", ["ing", "ed"], 300), ("test", ["er", "s", "ly"], 120)):
        for i in range(n):
            label = "pos" if i % 2 else "neg"
            words = [s + rng.choice(suffixes) for s in rng.choice(stems[label], 3)]
            lines[split].append(f"__label__{label} " + " ".join(words))
    for split in lines:
        (tmp_path / f"{split}.txt").write_text("\n".join(lines[split]) + "\n")
    return tmp_path / "train.txt", tmp_path / "test.txt"


def _test_accuracy(train: Path, test: Path, out: Path, extra: list[str]) -> float:
    args = ["train", str(train), "--test", str(test), "-o", str(out), "--dim", "16"]
    args += ["--epochs", "10", "--threads", "1", "--seed", "0", "--quiet", "--json", *extra]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return float(json.loads(r.stdout)["test_accuracy"])


def test_subwords_give_unseen_variants_signal(tmp_path: Path) -> None:
    train, test = _variant_task(tmp_path)
    plain = _test_accuracy(train, test, tmp_path / "plain", ["--word-ngrams", "1"])
    sub = _test_accuracy(
        train, test, tmp_path / "sub", ["--word-ngrams", "1", "--minn", "3", "--maxn", "6"]
    )
    assert plain <= 0.6  # every test word is unknown: chance
    assert sub >= 0.9 and sub > plain + 0.3
    # the saved model predicts with its subwords: evaluate gives the same accuracy
    model = load_model(tmp_path / "sub")
    assert model.spec.subwords == SubwordSpec(3, 6, model.spec.buckets)
    r = runner.invoke(app, ["evaluate", str(tmp_path / "sub"), str(test), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["accuracy"] == pytest.approx(sub)
    # embed: unseen words get vectors from their n-grams (a word-only model: the same OOV row)
    first, second = (line.split()[1] for line in test.read_text().splitlines()[:2])
    (tmp_path / "q.txt").write_text(f"{first}\n{second}\n")
    for name, differ in (("sub", True), ("plain", False)):
        out = tmp_path / f"{name}.npy"
        r = runner.invoke(
            app, ["embed", str(tmp_path / name), str(tmp_path / "q.txt"), "-o", str(out)]
        )
        assert r.exit_code == 0, r.output
        vectors = np.load(out)
        assert (not np.array_equal(vectors[0], vectors[1])) == differ


# -- the real fastText ------------------------------------------------------------------------------
def test_input_rows_equal_fasttexts_get_subwords(tmp_path: Path) -> None:
    ft = pytest.importorskip("fasttext")
    path = tmp_path / "t.txt"
    lines = [
        "__label__a the cat sat on the mat",
        "__label__b naïve dogs barked at où",
        "__label__a the dog sat",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = ft.train_supervised(
        input=str(path), epoch=0, dim=8, thread=1, wordNgrams=1, bucket=BUCKETS,
        minn=3, maxn=6, verbose=0,
    )  # fmt: skip
    nwords = len(model.words)
    counter = TokenCounter(Tokenizer(make_tokenizer_config("fasttext")))
    reader = CorpusReader([path], CorpusOptions(skip_blank=True))
    vocab, _ = build_and_encode(reader, counter, vocab_options("fasttext"), subwords=(3, 6))
    assert len(vocab) == nwords + 1  # padding, then fastText's words in its order
    queries = ["the cat sat on the mat", "où sont les chats naïve", "dogs dogs"]
    enc = encode_texts(queries, vocab, subwords=(3, 6))
    spec = ModelSpec(len(vocab), BUCKETS, 8, 2, minn=3, maxn=6)
    rows, offsets = featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    for i, line in enumerate(queries):
        expected = []
        for token in [*line.split(), "</s>"]:
            for r in model.get_subwords(token)[1]:
                expected.append(r + 1 if r < nwords else r - nwords + len(vocab))
        assert sorted(doc_rows(rows, offsets, i)) == sorted(expected), line
