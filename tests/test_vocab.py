"""Vocabulary: ordering, filtering, the file format, and the byte-level counting fast path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedcli.corpus import CorpusOptions, CorpusReader
from embedcli.errors import DataError, FormatError, UsageError
from embedcli.text import (
    COMPAT_PRESETS,
    Tokenizer,
    TokenizerConfig,
    control_character,
    make_tokenizer_config,
)
from embedcli.vocab import (
    PAD_ID,
    UNK_ID,
    TokenCounter,
    Vocabulary,
    build_vocabulary,
    vocab_options,
)

KERAS_CORPUS = ["foo bar", "bar baz", "baz bada boom"]


def build(texts: list[str], compat: str = "embedcli", **over) -> Vocabulary:
    counter = TokenCounter(Tokenizer(make_tokenizer_config(compat)))
    counter.add(texts)
    return counter.vocabulary(**vocab_options(compat, **over))


# -- ordering ---------------------------------------------------------------------------------
def test_textvectorization_vocabulary_matches_keras() -> None:
    v = build(KERAS_CORPUS, "textvectorization")
    assert v.tokens == ["", "[UNK]", "baz", "bar", "foo", "boom", "bada"]
    assert v.encode_text("foo qux bar") == [4, 1, 3]
    assert v.encode_text("qux baz") == [1, 2]


def test_frequency_ties_by_first_appearance_by_default() -> None:
    v = build(KERAS_CORPUS)
    assert v.tokens == ["", "[UNK]", "bar", "baz", "foo", "bada", "boom"]
    assert v.counts == [0, 0, 2, 2, 1, 1, 1]


def test_appearance_order_no_oov_seed_example() -> None:
    v = build(["Hope to see you soon", "Nice meeting you"], order="appearance", oov=False)
    assert v.tokens == ["", "hope", "to", "see", "you", "soon", "nice", "meeting"]
    assert len(v) == 8 and v.unk_id is None
    assert v.encode_text("Nice meeting you, stranger") == [6, 7, 4]  # unknown word dropped


def test_tokenizer_preset_words_start_at_one_and_drop_unknown() -> None:
    v = build(["The cat, the dog.", "don't panic"], "tokenizer")
    assert v.tokens[:3] == ["", "the", "cat"]
    assert v.token_to_id["don't"] > 0
    assert v.encode_text("the unicorn cat") == [1, 2]


def test_min_count_and_max_size_counts_reserved() -> None:
    texts = ["a a a b b c", "a b d"]
    v = build(texts, min_count=2)
    assert v.tokens == ["", "[UNK]", "a", "b"]
    v = build(texts, max_size=3)
    assert v.tokens == ["", "[UNK]", "a"]
    v = build(texts, max_size=3, oov=False)
    assert v.tokens == ["", "a", "b"]
    with pytest.raises(UsageError):
        build(texts, max_size=2)
    with pytest.raises(UsageError):
        build(texts, min_count=0)
    with pytest.raises(UsageError):
        build(texts, order="random")


def test_literal_unk_maps_to_oov_row() -> None:
    v = Vocabulary.from_counts(["[UNK]", "x", ""], [5, 1, 3])
    assert v.tokens == ["", "[UNK]", "x"]
    assert v.id_of("[UNK]") == UNK_ID and v.id_of("zzz") == UNK_ID and v.id_of("") == PAD_ID


def test_labels_ordered_by_count_then_appearance() -> None:
    counter = TokenCounter(Tokenizer())
    counter.add(["a", "b", "c", "d"], [("x",), ("y",), ("y", "z"), ("z",)])
    v = counter.vocabulary()
    assert v.labels == ["y", "z", "x"]
    assert v.label_counts == [2, 2, 1]
    assert v.label_to_id == {"y": 0, "z": 1, "x": 2}


def test_encode_and_decode() -> None:
    v = build(["hello world"])
    ids = v.encode_text("Hello, unseen WORLD")
    assert ids == [2, 1, 1, 3]  # "," is a token of the default tokenizer, unseen here
    assert v.decode(ids) == ["hello", "[UNK]", "[UNK]", "world"]


# -- file format ----------------------------------------------------------------------------------
TOKEN = st.lists(
    st.one_of(
        st.sampled_from(["\t", "\n", "\r", "\\", "\\t", "#", " ", "é", "日", "[UNK]"]),
        st.characters(exclude_categories=("Cs",)),
    ),
    min_size=1,
    max_size=8,
).map("".join)


@settings(
    max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tokens=st.lists(TOKEN, unique=True, max_size=20),
    counts=st.lists(st.integers(0, 10**12), min_size=20, max_size=20),
    # labels with control characters are refused (tests/test_hostile_models.py)
    labels=st.lists(TOKEN.filter(lambda s: control_character(s) is None), unique=True, max_size=5),
    oov=st.booleans(),
    compat=st.sampled_from(sorted(COMPAT_PRESETS)),
)
def test_vocabulary_file_round_trip(
    tmp_path: Path, tokens, counts, labels, oov: bool, compat: str
) -> None:
    reserved = ["", "[UNK]"] if oov else [""]
    tokens = [t for t in tokens if t not in reserved]
    v = Vocabulary(
        reserved + tokens,
        [0] * len(reserved) + counts[: len(tokens)],
        oov=oov,
        labels=labels,
        label_counts=counts[: len(labels)],
        tokenizer=make_tokenizer_config(compat),
        options={"compat": compat, "padding": "pre"},
    )
    path = tmp_path / "v.tsv"
    v.save(path)
    w = Vocabulary.load(path)
    assert w.tokens == v.tokens
    assert w.counts == v.counts
    assert w.labels == v.labels and w.label_counts == v.label_counts
    assert w.oov == v.oov
    assert w.tokenizer_config == v.tokenizer_config
    assert w.options == v.options


def test_file_layout_is_readable(tmp_path: Path) -> None:
    v = build(["b a b"])
    v.save(tmp_path / "v.tsv")
    lines = (tmp_path / "v.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#embedcli-vocab\t1"
    assert json.loads(lines[1].split("\t", 1)[1])["lower"] is True
    assert [ln for ln in lines if not ln.startswith("#")] == [
        "0\t\t0",
        "1\t[UNK]\t0",
        "2\tb\t2",
        "3\ta\t1",
    ]


def _good(tmp_path: Path) -> list[str]:
    counter = TokenCounter(Tokenizer())
    counter.add(["b a b"], [("pos",)])
    counter.vocabulary().save(tmp_path / "good.tsv")
    return (tmp_path / "good.tsv").read_text(encoding="utf-8").splitlines()


def _damage(lines: list[str], kind: str) -> list[str]:
    lines = list(lines)
    body = next(i for i, ln in enumerate(lines) if ln.startswith("2\t"))
    if kind == "header":
        lines[0] = "#other-format\t1"
    elif kind == "version":
        lines[0] = "#embedcli-vocab\t99"
    elif kind == "bad-version":
        lines[0] = "#embedcli-vocab\tone"
    elif kind == "order":
        lines[body] = lines[body].replace("2\t", "5\t", 1)
    elif kind == "count":
        lines[body] = lines[body].rsplit("\t", 1)[0] + "\tmany"
    elif kind == "columns":
        lines[body] = lines[body] + "\textra"
    elif kind == "escape":
        lines[body] = "2\tbad\\q\t1"
    elif kind == "tokenizer":
        lines = [ln for ln in lines if not ln.startswith("#tokenizer")]
    elif kind == "tokenizer-json":
        lines[1] = "#tokenizer\t{not json"
    elif kind == "tokenizer-key":
        lines[1] = '#tokenizer\t{"lower": true, "stem": 1}'
    elif kind == "reserved":
        lines = [ln for ln in lines if not ln.startswith(("0\t", "1\t", "2\t", "3\t"))]
        lines.append("0\tb\t2")
    elif kind == "label-count":
        lines = [ln + "x" if ln.startswith("#label") else ln for ln in lines]
    elif kind == "duplicate":
        lines.append(f"{len([ln for ln in lines if not ln.startswith('#')])}\tb\t1")
    elif kind == "empty":
        lines = []
    return lines


@pytest.mark.parametrize(
    "kind",
    [
        "header",
        "version",
        "bad-version",
        "order",
        "count",
        "columns",
        "escape",
        "tokenizer",
        "tokenizer-json",
        "tokenizer-key",
        "reserved",
        "label-count",
        "duplicate",
        "empty",
    ],
)
def test_damaged_vocabulary_is_a_format_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    bad = tmp_path / f"damaged-{kind}.tsv"
    bad.write_text("".join(ln + "\n" for ln in _damage(_good(tmp_path), kind)), encoding="utf-8")
    with pytest.raises(FormatError) as exc:
        Vocabulary.load(bad)
    assert bad.name in str(exc.value)
    if kind == "version":
        assert "newer" in str(exc.value)


def test_not_utf8_missing_and_directory(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.tsv"
    bad.write_bytes(b"#embedcli-vocab\t1\n0\t\xe9t\xe9\t0\n")
    for path in (bad, tmp_path / "missing.tsv", tmp_path):
        with pytest.raises(FormatError) as exc:
            Vocabulary.load(path)
        assert str(path.name) in str(exc.value)


def test_a_model_or_npy_file_is_not_a_vocabulary(tmp_path: Path) -> None:
    p = tmp_path / "ids.npy"
    np.save(p, np.arange(5))
    with pytest.raises(FormatError, match="ids.npy"):
        Vocabulary.load(p)


# -- the byte-level counting fast path must equal the Document path -----------------------------
LINE_CHARS = st.one_of(
    st.sampled_from(
        list("abcXYZ  .,'-!?")
        + ["\x1c", "\x1d", "\x1e", "\x1f", "\xa0", "\u3000", "\t", "\x0b", "\x0c", "\r"]
        + ["é", "É", "ß", "Σ", "ς", "Я", "日", "🙂", "İ", "K", "«", "—", "[UNK]"]
    ),
    st.characters(exclude_categories=("Cs",), exclude_characters="\n"),
)
WORD = st.lists(LINE_CHARS, min_size=1, max_size=6).map("".join)
LABEL = st.builds(lambda w: "__label__" + w, st.text(st.sampled_from("abcé日"), max_size=3))
LINE = st.one_of(
    st.just(""),
    st.lists(st.one_of(WORD, LABEL), max_size=8).map(" ".join),
    st.tuples(st.lists(LABEL, min_size=1, max_size=2), st.lists(WORD, max_size=6)).map(
        lambda t: " ".join(t[0] + t[1])
    ),
)


def _both_paths(path: Path, compat: str, order: str | None):
    cfg = make_tokenizer_config(compat)
    opts = vocab_options(compat, order=order)
    options = CorpusOptions(skip_blank=True)
    reader = CorpusReader([path], options)
    assert reader.can_read_raw()  # the fast path really is taken
    fast, fast_stats = build_vocabulary(reader, cfg, opts)
    slow, slow_stats = build_vocabulary(iter(CorpusReader([path], options)), cfg, opts)
    return fast, fast_stats, slow, slow_stats


def _both_refuse_alike(path: Path, compat: str, order: str | None) -> bool:
    """True if both counting paths refuse the file (NUL bytes, CR-only line ends) with the same
    message; False if neither refuses it."""
    cfg, opts = make_tokenizer_config(compat), vocab_options(compat, order=order)
    errors = []
    for raw_path in (True, False):
        reader = CorpusReader([path], CorpusOptions(skip_blank=True))
        try:
            build_vocabulary(reader if raw_path else iter(reader), cfg, opts)
            errors.append(None)
        except DataError as exc:
            errors.append(str(exc))
    assert errors[0] == errors[1]
    return errors[0] is not None


def _assert_same(fast: Vocabulary, slow: Vocabulary) -> None:
    assert fast.tokens == slow.tokens
    assert fast.counts == slow.counts
    assert fast.labels == slow.labels
    assert fast.label_counts == slow.label_counts


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(LINE, max_size=12),
    compat=st.sampled_from(sorted(COMPAT_PRESETS)),
    order=st.sampled_from([None, "appearance"]),
)
def test_raw_counting_path_equals_document_path(tmp_path: Path, lines, compat, order) -> None:
    """Same tokens, counts, order and labels whichever way build_vocabulary counts."""
    path = tmp_path / "corpus.txt"
    path.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
    if _both_refuse_alike(path, compat, order):
        return
    fast, fast_stats, slow, slow_stats = _both_paths(path, compat, order)
    _assert_same(fast, slow)
    assert fast_stats.tokens == slow_stats.tokens
    assert fast_stats.documents == slow_stats.documents


LEADING_LABELS_LINE = st.tuples(
    st.lists(LABEL, max_size=2), st.lists(WORD, max_size=8).map(" ".join)
).map(lambda t: " ".join([*t[0], t[1]]) if t[0] else t[1])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(LEADING_LABELS_LINE, max_size=12),
    compat=st.sampled_from(sorted(COMPAT_PRESETS)),
    order=st.sampled_from([None, "appearance"]),
)
def test_raw_counting_path_equals_document_path_leading_labels(
    tmp_path: Path, lines, compat, order
) -> None:
    """The standardization trick alone: labels only at the start, separated by ASCII spaces."""
    path = tmp_path / "corpus.txt"
    path.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
    if _both_refuse_alike(path, compat, order):
        return
    fast, fast_stats, slow, slow_stats = _both_paths(path, compat, order)
    _assert_same(fast, slow)
    assert fast_stats.tokens == slow_stats.tokens


@pytest.mark.parametrize(
    "line",
    [
        "__label__a x __label__b y",  # a label after the text
        " __label__a x",  # leading space before the label
        "__label__a\xa0x",  # NBSP separates label and text (str.split does, bytes.split not)
        "__label__a\x1cx",  # FS separates label and text
        "\xa0",  # a line of Unicode whitespace only: no document
        "\x1c",  # a line of FS only: no document
    ],
)
def test_raw_counting_path_label_edge_cases(tmp_path: Path, line: str) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text(f"__label__c first doc\n{line}\n", encoding="utf-8")
    fast, fast_stats, slow, slow_stats = _both_paths(path, "embedcli", None)
    _assert_same(fast, slow)
    assert fast_stats.documents == slow_stats.documents


def test_raw_counting_path_invalid_utf8_counted_like_reader(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"__label__a caf\xe9 ok\n__label__b fine \xff\xfe\nok\n")
    fast, _, slow, _ = _both_paths(path, "embedcli", None)
    _assert_same(fast, slow)
    reader = CorpusReader([path])
    build_vocabulary(reader, TokenizerConfig(), vocab_options())
    assert reader.invalid_utf8_lines == 2


def test_raw_path_large_blocks_spanning_lines(tmp_path: Path) -> None:
    """Lines cut across the reader's 4 MiB blocks are counted once and whole."""
    rng = np.random.default_rng(1)
    words = np.array(["alpha", "Beta", "gämma", "delta,", "日本", "x'y"])
    lines = [
        f"__label__{i % 3} " + " ".join(rng.choice(words, size=int(rng.integers(1, 40))))
        for i in range(40_000)
    ]
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines), encoding="utf-8")  # no final newline
    assert path.stat().st_size > (1 << 22)
    fast, fast_stats, slow, slow_stats = _both_paths(path, "embedcli", None)
    _assert_same(fast, slow)
    assert fast_stats.documents == slow_stats.documents == 40_000
