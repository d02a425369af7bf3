"""Hostile input through the real commands: succeed as documented, or one ``Error:`` line.

Each property writes a generated file (bytes: invalid UTF-8, NUL, control characters, bidi marks,
emoji, long lines, broken CSV quoting, JSON of the wrong types) and runs ``build-vocab``,
``encode``, ``train``, ``predict``, ``evaluate``, ``lookup`` and ``nearest`` in-process through
Typer's ``CliRunner``. Every run must end in exit 0, or exit 1/2 with exactly one ``Error:`` line on
stderr; never a traceback or an "internal error" (an unexpected exception), never a half-written
output or a leftover temp file.

Cases per run (hypothesis ``max_examples``; the database is off so CI runs the same budget;
``make test`` runs a fifth of each, ``make test-fuzz`` with EMBEDCLI_FUZZ=full all of them):

| test | cases | commands per case |
|---|---|---|
| ``test_text_build_vocab_encode`` | 60 | build-vocab, encode |
| ``test_stdin_build_vocab`` | 20 | build-vocab - |
| ``test_fasttext_train_predict`` | 25 | train, predict |
| ``test_csv_tsv`` | 40 | build-vocab, encode, train |
| ``test_jsonl`` | 40 | build-vocab, encode, train |
| ``test_model_queries`` | 50 | lookup, lookup --sentence, nearest |
| ``test_predict_evaluate_hostile`` | 30 | predict, evaluate |
| ``test_ten_megabyte_line`` | 1 (fixed) | build-vocab, encode, predict |
| total | 265 hypothesis cases + 1 | |

Then fixed extremes (dim 1 and 1024, one class, 10,000 classes, a one-word vocabulary, OOV and
empty lines at predict, ``--maxlen 1``, an empty vocabulary) and safety checks (no pickle/eval/
exec/shell in the package, paths with spaces, unicode and a leading ``-``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    assert_clean,
    delimited_corpus,
    fasttext_corpus,
    fuzz_budget,
    jsonl_corpus,
    line_bytes,
    line_text,
    only_punctuation,
    text_corpus,
)
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.vocab import Vocabulary

runner = CliRunner()
TRAIN = ["--dim", "4", "--epochs", "1", "--threads", "1", "--buckets", "64", "--quiet"]
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def run(*args: object, input: bytes | str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


#: what a reader refuses as not UTF-8 text (see embedcli.corpus): its messages contain one of these
NOT_TEXT = (
    "contains a NUL byte",
    "CR-only line ends",
    "contains the control character",
    "(byte-order mark)",  # a file starting with FF FE is UTF-16, not (invalid) UTF-8
)


def refused_as_not_text(r) -> bool:  # noqa: ANN001
    return r.exit_code == 1 and any(m in r.stderr for m in NOT_TEXT)


def plainly_text(data: bytes) -> bool:
    """No NUL, no CR, no label word, no UTF-16 mark: no reader may refuse this as not text."""
    return (
        b"\0" not in data
        and b"\r" not in data
        and b"__label__" not in data
        and not data.startswith((b"\xff\xfe", b"\xfe\xff"))
    )


def assert_usage_error(result, output: Path, option: str) -> None:  # noqa: ANN001
    """A value outside an option's range: Typer's usage message (exit 2), nothing written."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and option in result.output, result.output
    assert not output.exists()


def count_lines(data: bytes) -> int:
    """Lines as the readers see them: split on LF; a last line without LF still counts."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzzmodel")
    lines = [
        "__label__pos good great fine nice 😀 naïve",
        "__label__neg bad awful poor grim ÉCOLE",
        "__label__pos good lovely fine",
        "__label__neg bad poor dire",
    ] * 6
    (root / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = run("train", root / "train.txt", "-o", root / "model", *TRAIN)
    assert r.exit_code == 0, r.output
    return root / "model"


@settings(FUZZ, max_examples=fuzz_budget(60))
@given(data=text_corpus(), compat=st.sampled_from(["embedcli", "tokenizer", "fasttext"]))
def test_text_build_vocab_encode(data: bytes, compat: str) -> None:
    """build-vocab then encode on hostile text: complete files, one row per line, no [UNK].

    Every token of a corpus is in the vocabulary built from it (min-count 1, no size limit), so
    the fast byte-level counter and the encoder must agree on every token.
    """
    with tempfile.TemporaryDirectory() as d:
        corpus, vocab, ids = Path(d) / "c.txt", Path(d) / "v.tsv", Path(d) / "ids.npy"
        corpus.write_bytes(data)
        r = run("build-vocab", corpus, "-o", vocab, "--compat", compat, "--quiet")
        assert_clean(r, vocab, what="build-vocab")
        if r.exit_code != 0:
            # a hostile line may start with a label holding a control character (refused)
            assert (
                "empty" in r.stderr or "control character" in r.stderr or refused_as_not_text(r)
            ), r.stderr
            return
        v = Vocabulary.load(vocab)
        r = run("encode", corpus, "--vocab", vocab, "-o", ids, "--quiet")
        assert_clean(r, ids, ok=True, what="encode")
        arr = np.load(ids, allow_pickle=False)
        assert arr.dtype == np.int32 and arr.ndim == 2
        assert arr.shape[0] == count_lines(data)
        assert arr.size == 0 or (0 <= arr.min() and arr.max() < len(v))
        if v.oov:
            assert not (arr == 1).any(), "a token of the corpus is missing from its vocabulary"


@settings(FUZZ, max_examples=fuzz_budget(20))
@given(data=text_corpus(labelled=True))
def test_stdin_build_vocab(data: bytes) -> None:
    """'-' reads standard input: the vocabulary goes to stdout, complete and loadable."""
    with tempfile.TemporaryDirectory() as d:
        r = run("build-vocab", "-", "-o", "-", "--quiet", input=data)
        assert_clean(r, what="build-vocab -")
        if r.exit_code == 0:
            (Path(d) / "v.tsv").write_text(r.stdout, encoding="utf-8")
            Vocabulary.load(Path(d) / "v.tsv")


@settings(FUZZ, max_examples=fuzz_budget(25))
@given(data=fasttext_corpus(), multilabel=st.booleans())
def test_fasttext_train_predict(data: bytes, multilabel: bool) -> None:
    """train on malformed fastText lines: a complete model or a clear refusal; then predict."""
    with tempfile.TemporaryDirectory() as d:
        corpus, out = Path(d) / "c.txt", Path(d) / "model"
        corpus.write_bytes(data)
        extra = ["--multilabel"] if multilabel else []
        r = run("train", corpus, "-o", out, *TRAIN, *extra)
        assert_clean(r, out, what="train")
        if r.exit_code == 0:
            assert sorted(p.name for p in out.iterdir()) == [
                "classifier.npz",
                "config.json",
                "embeddings.npy",
                "labels.tsv",
                "vocab.tsv",
            ]
            r = run("predict", out, corpus, "--proba", "--k", "2")
            assert_clean(r, ok=True, what="predict")
            assert r.stdout.count("\n") == count_lines(data)


@settings(FUZZ, max_examples=fuzz_budget(40))
@given(sep=st.sampled_from([",", "\t"]), data=st.data(), no_header=st.booleans())
def test_csv_tsv(sep: str, data: st.DataObject, no_header: bool) -> None:
    """CSV/TSV with broken quoting and missing columns: build-vocab, encode and train."""
    raw = data.draw(delimited_corpus(sep))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        corpus = d / ("c.csv" if sep == "," else "c.tsv")
        corpus.write_bytes(raw)
        opts = ["--no-header", "--text-column", "0", "--label-column", "1"] if no_header else []
        r = run("build-vocab", corpus, "-o", d / "v.tsv", "--quiet", *opts)
        assert_clean(r, d / "v.tsv", what="build-vocab")
        if r.exit_code == 0:
            r = run("encode", corpus, "--vocab", d / "v.tsv", "-o", d / "ids.npz", "-q", *opts)
            assert_clean(r, d / "ids.npz", what="encode")
        r = run("train", corpus, "-o", d / "model", *TRAIN, *opts)
        assert_clean(r, d / "model", what="train")


@settings(FUZZ, max_examples=fuzz_budget(40))
@given(data=jsonl_corpus())
def test_jsonl(data: bytes) -> None:
    """JSON Lines with wrong types, escaped lone surrogates and broken syntax."""
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        corpus = d / "c.jsonl"
        corpus.write_bytes(data)
        r = run("build-vocab", corpus, "-o", d / "v.tsv", "--quiet")
        assert_clean(r, d / "v.tsv", what="build-vocab")
        if r.exit_code == 0:
            Vocabulary.load(d / "v.tsv")
            r = run("encode", corpus, "--vocab", d / "v.tsv", "-o", d / "ids.npy", "-q")
            assert_clean(r, d / "ids.npy", what="encode")
        r = run("train", corpus, "-o", d / "model", *TRAIN)
        assert_clean(r, d / "model", what="train")


query_word = st.one_of(line_text, only_punctuation, st.just(""), st.just("-x")).map(
    lambda s: s.replace("\x00", "")  # argv cannot hold NUL
)


@settings(FUZZ, max_examples=fuzz_budget(50))
@given(
    words=st.lists(query_word, min_size=1, max_size=4),
    fmt=st.sampled_from(["tsv", "json", "csv", "table"]),
    k=st.integers(-1, 50),
)
def test_model_queries(model: Path, words: list[str], fmt: str, k: int) -> None:
    """lookup / nearest with hostile words (empty, punctuation only, RTL, emoji, '-x')."""
    r = run("lookup", model, "--format", fmt, "--", *words)
    assert_clean(r, what="lookup")
    r = run("lookup", model, "--format", fmt, "--sentence", " ".join(words), "--maxlen", "3")
    assert_clean(r, ok=True, what="lookup --sentence")
    nfmt = "tsv" if fmt == "csv" else fmt
    r = run("nearest", model, "-k", k, "--format", nfmt, "--", *words)
    if k < 1:  # refused by the option's range: Typer's usage message, exit 2
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        return
    assert_clean(r, what="nearest")


@settings(FUZZ, max_examples=fuzz_budget(30))
@given(
    lines=st.lists(st.one_of(line_bytes(), st.just(b""), st.just(b"__label__pos")), max_size=20),
    fmt=st.sampled_from(["text", "tsv", "json"]),
)
def test_predict_evaluate_hostile(model: Path, lines: list[bytes], fmt: str) -> None:
    """predict writes one line per input line (empty prediction for a line without tokens)."""
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "q.txt"
        data = b"\n".join(lines) + (b"\n" if lines else b"")
        f.write_bytes(data)
        r = run("predict", model, f, "--format", fmt, "--proba")
        assert_clean(r, ok=True if plainly_text(data) else None, what="predict")
        if r.exit_code != 0:  # NUL bytes, CR-only line ends, a control character in a label
            assert refused_as_not_text(r), r.stderr
            return
        assert r.stdout.count("\n") == count_lines(data)
        r = run("evaluate", model, f, "--json")
        assert_clean(r, what="evaluate")


@pytest.mark.slow
def test_ten_megabyte_line(model: Path, tmp_path: Path) -> None:
    """One 10 MB line (no newline inside): counted, encoded and predicted like any other."""
    words = b" ".join([b"good", b"bad", "\U0001f600".encode(), b"\xff", b"x,y"] * 400_000)[
        : 10 << 20
    ]
    corpus = tmp_path / "big.txt"
    corpus.write_bytes(b"__label__pos short line\n" + words + b"\n__label__neg end\n")
    r = run("build-vocab", corpus, "-o", tmp_path / "v.tsv", "--quiet")
    assert_clean(r, tmp_path / "v.tsv", ok=True, what="build-vocab")
    r = run("encode", corpus, "--vocab", tmp_path / "v.tsv", "-o", tmp_path / "ids.npz", "-q")
    assert_clean(r, tmp_path / "ids.npz", ok=True, what="encode")
    with np.load(tmp_path / "ids.npz", allow_pickle=False) as z:
        assert z["ids"].shape[0] == 3
    r = run("predict", model, corpus)
    assert_clean(r, ok=True, what="predict")
    assert r.stdout.count("\n") == 3


# -- extremes -------------------------------------------------------------------------------------
TWO = ["__label__a red apple sweet", "__label__b blue sky wide"] * 5


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("dim", [1, 1024])
def test_extreme_dims(tmp_path: Path, dim: int) -> None:
    corpus = write_lines(tmp_path / "c.txt", TWO)
    out = tmp_path / "m"
    r = run("train", corpus, "-o", out, *TRAIN, "--dim", dim)
    assert_clean(r, out, ok=True, what=f"train --dim {dim}")
    r = run("predict", out, corpus)
    assert_clean(r, ok=True, what="predict")
    assert r.stdout.count("\n") == len(TWO)
    r = run("train", corpus, "-o", tmp_path / "m0", *TRAIN, "--dim", 0)
    assert_usage_error(r, tmp_path / "m0", "--dim")


def test_one_class_is_refused_up_front(tmp_path: Path) -> None:
    corpus = write_lines(tmp_path / "c.txt", ["__label__only some words here"] * 5)
    out = tmp_path / "m"
    r = run("train", corpus, "-o", out, *TRAIN)
    assert_clean(r, out, ok=False, what="train one class")
    assert "at least 2 distinct labels" in r.stderr
    r = run("train", corpus, "-o", out, *TRAIN, "--multilabel")
    assert_clean(r, out, what="train one class --multilabel")


def test_ten_thousand_classes(tmp_path: Path) -> None:
    lines = [f"__label__c{i} w{i % 97} v{i % 13}" for i in range(10_000)]
    corpus = write_lines(tmp_path / "c.txt", lines)
    out = tmp_path / "m"
    r = run("train", corpus, "-o", out, *TRAIN)
    assert_clean(r, out, what="train 10,000 classes")
    if r.exit_code == 0:
        r = run("predict", out, corpus, "--k", "3")
        assert_clean(r, ok=True, what="predict")
        r = run("info", out, "--json")
        assert_clean(r, ok=True, what="info")


def test_one_token_vocabulary(tmp_path: Path) -> None:
    corpus = write_lines(tmp_path / "c.txt", ["__label__a x", "__label__b x x"] * 4)
    out = tmp_path / "m"
    r = run("train", corpus, "-o", out, *TRAIN)
    assert_clean(r, out, ok=True, what="train")
    r = run("nearest", out, "x", "--format", "tsv")
    assert_clean(r, ok=True, what="nearest with one word")  # no other word: no neighbours
    assert r.stdout == ""


def test_oov_and_empty_lines_at_predict(tmp_path: Path) -> None:
    """OOV words map to [UNK] (a prediction) and a line with no token gets an empty line;
    under --compat fasttext every line holds fastText's `</s>` token, so every line gets a
    label, as `fasttext predict` prints one for an empty line."""
    corpus = write_lines(tmp_path / "c.txt", TWO)
    for compat in ("embedcli", "fasttext"):
        out = tmp_path / compat
        r = run("train", corpus, "-o", out, *TRAIN, "--compat", compat)
        assert_clean(r, out, ok=True, what="train")
        query = write_lines(tmp_path / "q.txt", ["zzz qqq", "", "!!!", "unknown words only"])
        r = run("predict", out, query)
        assert_clean(r, ok=True, what="predict OOV")
        got = r.stdout.split("\n")[:-1]
        assert len(got) == 4
        assert got[0].startswith("__label__") and got[3].startswith("__label__")
        if compat == "fasttext":
            assert got[1].startswith("__label__")
        else:
            assert got[1] == ""


def test_maxlen_one(tmp_path: Path) -> None:
    corpus = write_lines(tmp_path / "c.txt", TWO)
    r = run("build-vocab", corpus, "-o", tmp_path / "v.tsv", "-q")
    assert_clean(r, ok=True)
    r = run(
        "encode", corpus, "--vocab", tmp_path / "v.tsv", "--maxlen", 1, "-o", tmp_path / "i.npy"
    )
    assert_clean(r, tmp_path / "i.npy", ok=True, what="encode --maxlen 1")
    assert np.load(tmp_path / "i.npy").shape == (len(TWO), 1)
    out = tmp_path / "m"
    r = run("train", corpus, "-o", out, *TRAIN, "--pool", "flatten", "--maxlen", 1)
    assert_clean(r, out, ok=True, what="train --pool flatten --maxlen 1")
    r = run(
        "encode", corpus, "--vocab", tmp_path / "v.tsv", "--maxlen", 0, "-o", tmp_path / "j.npy"
    )
    assert_usage_error(r, tmp_path / "j.npy", "--maxlen")


def test_min_count_above_every_count(tmp_path: Path) -> None:
    """An empty vocabulary is refused with the reason, by build-vocab and by train."""
    corpus = write_lines(tmp_path / "c.txt", TWO)
    r = run("build-vocab", corpus, "-o", tmp_path / "v.tsv", "--min-count", 1000)
    assert_clean(r, tmp_path / "v.tsv", ok=False, what="build-vocab")
    assert "--min-count 1000" in r.stderr
    r = run("train", corpus, "-o", tmp_path / "m", *TRAIN, "--min-count", 1000)
    assert_clean(r, tmp_path / "m", ok=False, what="train")
    assert "vocabulary is empty" in r.stderr


def test_vocabulary_with_zero_words(tmp_path: Path) -> None:
    """Only the reserved entries: encode maps every word to [UNK]; train refuses."""
    corpus = write_lines(tmp_path / "c.txt", TWO)
    v = tmp_path / "v.tsv"
    Vocabulary.from_counts([], []).save(v)
    r = run("encode", corpus, "--vocab", v, "-o", tmp_path / "i.npy", "-q")
    assert_clean(r, tmp_path / "i.npy", ok=True, what="encode")
    assert set(np.unique(np.load(tmp_path / "i.npy")).tolist()) <= {0, 1}
    r = run("train", corpus, "--vocab", v, "-o", tmp_path / "m", *TRAIN)
    assert_clean(r, tmp_path / "m", ok=False, what="train")
    assert "vocabulary is empty" in r.stderr


# -- safety ---------------------------------------------------------------------------------------
def test_no_code_execution_in_the_package() -> None:
    """Files are data: no pickle, eval, exec, os.system or shell anywhere in embedcli/."""
    import re

    root = Path(__file__).resolve().parents[1] / "embedcli"
    banned = re.compile(
        r"\bimport\s+pickle\b|\bpickle\.|allow_pickle\s*=\s*True|(?<![\w.])eval\(|"
        r"(?<![\w.])exec\(|os\.system\(|os\.popen\(|shell\s*=\s*True|\bmarshal\.|\bshelve\b"
    )
    hits = [
        f"{p.relative_to(root.parent)}:{i}: {line.strip()}"
        for p in sorted(root.rglob("*.py"))
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if banned.search(line)
    ]
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize("name", ["with space.txt", "ünïcode ☃.txt", "-x.txt"])
def test_awkward_paths(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spaces, unicode and a leading '-' (given as ./-x.txt) work for build-vocab/encode/train."""
    monkeypatch.chdir(tmp_path)
    write_lines(tmp_path / name, TWO)
    arg = f"./{name}"
    stem = Path(name).stem
    r = run("build-vocab", arg, "-o", f"./{stem}.tsv", "-q")
    assert_clean(r, ok=True, what="build-vocab")
    r = run("encode", arg, "--vocab", f"./{stem}.tsv", "-o", f"./{stem}.npy", "-q")
    assert_clean(r, ok=True, what="encode")
    r = run("train", arg, "-o", f"./{stem} model", *TRAIN)
    assert_clean(r, ok=True, what="train")
    assert (tmp_path / f"{stem} model" / "config.json").is_file()
    assert (tmp_path / f"{stem}.npy").is_file()
