"""``embedcli build-vocab`` and ``embedcli encode`` through the CLI (Typer CliRunner)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.vocab import Vocabulary

runner = CliRunner()

SEED = ["Hope to see you soon", "Nice meeting you"]
KERAS = ["foo bar", "bar baz", "baz bada boom"]
LABELLED = [
    "__label__pos a great great film",
    "__label__neg a dull film",
    "__label__pos great fun, really GREAT",
    "__label__neg dull; dull and long",
]


def run(*args: str, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def ok(*args: str, input: str | None = None):
    r = run(*args, input=input)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    return r


def assert_error(r, code: int, *needles: str) -> None:
    """Exit code, one 'Error:' line on stderr, no traceback, nothing on stdout."""
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    if code == 1:
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert r.stdout == ""
    for n in needles:
        assert n in r.stderr, r.stderr


def ids_of(r) -> list[list[int]]:
    return [[int(x) for x in line.split()] for line in r.stdout.splitlines()]


@pytest.fixture
def labelled(write_lines) -> Path:
    return write_lines("train.txt", LABELLED)


# -- seed and Keras examples --------------------------------------------------------------------
def test_seed_example_text_output(write_lines, tmp_path: Path) -> None:
    corpus = write_lines("s.txt", SEED)
    vocab = tmp_path / "v.tsv"
    ok("build-vocab", corpus, "-o", vocab, "--order", "appearance", "--no-oov", "-q")
    assert len(Vocabulary.load(vocab)) == 8
    r = ok("encode", corpus, "--vocab", vocab, "--maxlen", "5", "-o", "-", "-q")
    assert ids_of(r) == [[1, 2, 3, 4, 5], [6, 7, 4, 0, 0]]


def test_seed_example_npy(write_lines, tmp_path: Path) -> None:
    corpus = write_lines("s.txt", SEED)
    vocab = tmp_path / "v.tsv"
    ok("build-vocab", corpus, "-o", vocab, "--order", "appearance", "--no-oov", "-q")
    ok("encode", corpus, "--vocab", vocab, "--maxlen", "5", "-o", tmp_path / "ids.npy", "-q")
    ids = np.load(tmp_path / "ids.npy", allow_pickle=False)
    assert ids.dtype == np.int32
    assert ids.tolist() == [[1, 2, 3, 4, 5], [6, 7, 4, 0, 0]]
    assert int(ids.max()) + 1 == 8  # Embedding(8, ...) in the seed


def test_second_seed_example(write_lines, tmp_path: Path) -> None:
    corpus = write_lines("s.txt", ["Hope to see you soon", "Nice to see you again"])
    ok("build-vocab", corpus, "-o", tmp_path / "v.tsv", "--order", "appearance", "--no-oov", "-q")
    r = ok("encode", corpus, "--vocab", tmp_path / "v.tsv", "-q")
    assert ids_of(r) == [[1, 2, 3, 4, 5], [6, 2, 3, 4, 7]]


def test_keras_textvectorization_example(write_lines, tmp_path: Path) -> None:
    corpus = write_lines("k.txt", KERAS)
    vocab = tmp_path / "v.tsv"
    ok("build-vocab", corpus, "-o", vocab, "--compat", "textvectorization", "-q")
    assert Vocabulary.load(vocab).tokens == ["", "[UNK]", "baz", "bar", "foo", "boom", "bada"]
    r = ok("encode", "-", "--vocab", vocab, "--maxlen", "4", "-q", input="foo qux bar\nqux baz\n")
    assert ids_of(r) == [[4, 1, 3, 0], [1, 2, 0, 0]]


def test_keras_tokenizer_preset(write_lines, tmp_path: Path) -> None:
    corpus = write_lines("t.txt", ["the cat don't foo-bar", "the dog"])
    vocab = tmp_path / "v.tsv"
    ok("build-vocab", corpus, "-o", vocab, "--compat", "tokenizer", "-q")
    v = Vocabulary.load(vocab)
    assert v.tokens == ["", "the", "cat", "don't", "foo", "bar", "dog"]
    # unknown words dropped, pad and truncate 'pre' (pad_sequences defaults)
    r = ok(
        "encode",
        "-",
        "--vocab",
        vocab,
        "--maxlen",
        "3",
        "-q",
        input="the unicorn\nthe cat don't foo\n",
    )
    assert ids_of(r) == [[0, 0, 1], [2, 3, 4]]


def test_fasttext_preset_keeps_case_and_punctuation(write_lines, tmp_path: Path) -> None:
    corpus = write_lines("f.txt", ["Hello, World", "hello world"])
    ok("build-vocab", corpus, "-o", tmp_path / "v.tsv", "--compat", "fasttext", "-q")
    # fastText's </s> ends every line and is a word (count 2, first after line 1's words)
    assert Vocabulary.load(tmp_path / "v.tsv").tokens[1:] == [
        "</s>",
        "Hello,",
        "World",
        "hello",
        "world",
    ]


# -- build-vocab options -------------------------------------------------------------------------
def test_build_vocab_json_summary_and_labels(labelled: Path, tmp_path: Path) -> None:
    r = ok("build-vocab", labelled, "-o", tmp_path / "v.tsv", "--json")
    s = json.loads(r.stdout)
    assert s["documents"] == 4
    assert s["tokens"] == 17  # 15 words, and "," and ";" (the default keeps punctuation)
    assert s["coverage"] == 1.0
    assert s["vocab_size"] == len(Vocabulary.load(tmp_path / "v.tsv"))
    assert s["labels"] == [["pos", 2], ["neg", 2]]
    assert s["top"][0] == ["great", 4]
    v = Vocabulary.load(tmp_path / "v.tsv")
    assert v.labels == ["pos", "neg"] and v.label_counts == [2, 2]


def test_build_vocab_stdout_clean_quiet_silent(labelled: Path, tmp_path: Path) -> None:
    r = ok("build-vocab", labelled, "-o", tmp_path / "v.tsv")
    assert r.stdout == ""
    assert "coverage" in r.stderr
    r = ok("build-vocab", labelled, "-o", tmp_path / "v2.tsv", "--quiet")
    assert r.stdout == "" and r.stderr == ""


def test_build_vocab_to_stdout(labelled: Path) -> None:
    r = ok("build-vocab", labelled, "-o", "-", "-q")
    assert r.stdout.startswith("#embedcli-vocab\t1\n")
    assert "\tgreat\t4\n" in r.stdout


def test_json_and_stdout_vocab_conflict(labelled: Path) -> None:
    assert_error(run("build-vocab", labelled, "-o", "-", "--json"), 2)


def test_min_count_max_size_order(labelled: Path, tmp_path: Path) -> None:
    v = tmp_path / "v.tsv"
    ok("build-vocab", labelled, "-o", v, "--min-count", "2", "-q")
    assert Vocabulary.load(v).tokens == ["", "[UNK]", "great", "dull", "a", "film"]
    ok("build-vocab", labelled, "-o", v, "--max-size", "4", "-q")
    assert Vocabulary.load(v).tokens == ["", "[UNK]", "great", "dull"]
    ok("build-vocab", labelled, "-o", v, "--max-size", "4", "--no-oov", "-q")
    assert Vocabulary.load(v).tokens == ["", "great", "dull", "a"]
    ok("build-vocab", labelled, "-o", v, "--order", "appearance", "-q")
    assert Vocabulary.load(v).tokens[2:6] == ["a", "great", "film", "dull"]
    assert_error(run("build-vocab", labelled, "-o", v, "--max-size", "2"), 2, "max-size")
    assert_error(run("build-vocab", labelled, "-o", v, "--order", "random"), 2, "order")
    assert_error(run("build-vocab", labelled, "-o", v, "--compat", "spacy"), 2, "compat")
    assert run("build-vocab", labelled, "-o", v, "--min-count", "0").exit_code == 2


def test_no_lower_keep_punctuation_token_pattern(labelled: Path, tmp_path: Path) -> None:
    v = tmp_path / "v.tsv"
    ok("build-vocab", labelled, "-o", v, "--no-lower", "-q")
    assert "GREAT" in Vocabulary.load(v).token_to_id
    ok("build-vocab", labelled, "-o", v, "-q")
    assert {",", ";"} <= set(Vocabulary.load(v).tokens)  # the default: tokens of their own
    ok("build-vocab", labelled, "-o", v, "--compat", "textvectorization", "-q")
    assert not {",", ";", "fun,", "dull;"} & set(Vocabulary.load(v).tokens)
    ok(
        "build-vocab",
        labelled,
        "-o",
        v,
        "--compat",
        "textvectorization",
        "--keep-punctuation",
        "-q",
    )
    assert {"fun,", "dull;"} <= set(Vocabulary.load(v).tokens)
    ok("build-vocab", labelled, "-o", v, "--token-pattern", "[a-z]{4,}", "-q")
    assert set(Vocabulary.load(v).tokens[2:]) == {"great", "film", "dull", "really", "long"}
    assert_error(run("build-vocab", labelled, "-o", v, "--token-pattern", "("), 2, "token-pattern")


def test_custom_label_prefix_and_formats(tmp_path: Path) -> None:
    p = tmp_path / "d.txt"
    p.write_text("@@x hello world\n##y bye\n", encoding="utf-8")
    r = ok("build-vocab", p, "-o", tmp_path / "v.tsv", "--label-prefix", "@@", "--json", "-q")
    assert json.loads(r.stdout)["labels"] == [["x", 1]]
    c = tmp_path / "d.csv"
    c.write_text('tag,body\nspam,"Win, now"\nham,hi\n', encoding="utf-8")
    r = ok(
        "build-vocab",
        c,
        "-o",
        tmp_path / "v.tsv",
        "--text-column",
        "body",
        "--label-column",
        "0",
        "--json",
        "-q",
    )
    s = json.loads(r.stdout)
    assert s["labels"] == [["spam", 1], ["ham", 1]] and s["tokens"] == 4  # win , now hi
    j = tmp_path / "d.jsonl"
    j.write_text('{"t": "a b", "l": ["x", "y"]}\n{"t": "c", "l": 1}\n', encoding="utf-8")
    r = ok(
        "build-vocab",
        j,
        "-o",
        tmp_path / "v.tsv",
        "--text-field",
        "t",
        "--label-field",
        "l",
        "--json",
        "-q",
    )
    assert json.loads(r.stdout)["labels"] == [["x", 1], ["y", 1], ["1", 1]]


def test_gzip_several_files_and_stdin(labelled: Path, tmp_path: Path) -> None:
    gz = tmp_path / "more.txt.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.write("__label__neg boring\n")
    r = ok(
        "build-vocab",
        labelled,
        gz,
        "-",
        "-o",
        tmp_path / "v.tsv",
        "--json",
        "-q",
        input="__label__pos stdin words\n",
    )
    s = json.loads(r.stdout)
    assert s["documents"] == 6
    assert s["labels"] == [["pos", 3], ["neg", 3]]
    assert {"boring", "stdin"} <= set(Vocabulary.load(tmp_path / "v.tsv").tokens)


def test_invalid_utf8_warned_or_strict(tmp_path: Path) -> None:
    p = tmp_path / "bad.txt"
    p.write_bytes(b"good words\nbad \xff word\n")
    r = ok("build-vocab", p, "-o", tmp_path / "v.tsv", "--json")
    assert json.loads(r.stdout)["invalid_utf8_lines"] == 1
    assert "invalid UTF-8" in r.stderr
    assert_error(run("build-vocab", p, "-o", tmp_path / "v2.tsv", "--strict-utf8"), 1, "bad.txt:2")
    assert not (tmp_path / "v2.tsv").exists()


# -- encode options --------------------------------------------------------------------------------
@pytest.fixture
def vocab(labelled: Path, tmp_path: Path) -> Path:
    ok("build-vocab", labelled, "-o", tmp_path / "v.tsv", "-q")
    return tmp_path / "v.tsv"


def test_encode_default_width_is_longest_post_post(vocab: Path) -> None:
    v = Vocabulary.load(vocab)
    r = ok("encode", "-", "--vocab", vocab, "-q", input="great film\nzzz\n\ngreat dull film a\n")
    rows = ids_of(r)
    g, f, d, a = (v.token_to_id[w] for w in ("great", "film", "dull", "a"))
    assert rows == [[g, f, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [g, d, f, a]]


def test_encode_padding_truncating_value(vocab: Path) -> None:
    text = "great dull film\ngreat\n"
    v = Vocabulary.load(vocab)
    g, d, f = (v.token_to_id[w] for w in ("great", "dull", "film"))
    args = ("encode", "-", "--vocab", vocab, "--maxlen", "2", "-q")
    assert ids_of(ok(*args, input=text)) == [[g, d], [g, 0]]
    r = ok(*args, "--padding", "pre", "--truncating", "pre", "--value", "-7", input=text)
    assert ids_of(r) == [[d, f], [-7, g]]
    assert_error(run(*args, "--padding", "middle", input=text), 2, "padding")


def test_encode_npz_with_labels(vocab: Path, labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "ids.npz"
    r = ok("encode", labelled, "--vocab", vocab, "--maxlen", "6", "-o", out)
    assert r.stdout == ""
    with np.load(out, allow_pickle=False) as z:
        assert z["ids"].shape == (4, 6) and z["ids"].dtype == np.int32
        names = z["label_names"].tolist()
        assert [names[i] for i in z["labels"]] == ["pos", "neg", "pos", "neg"]


def test_encode_bad_output_suffix(vocab: Path, labelled: Path, tmp_path: Path) -> None:
    assert_error(run("encode", labelled, "--vocab", vocab, "-o", tmp_path / "ids.csv"), 2)


# -- bad input ------------------------------------------------------------------------------------
def test_missing_corpus(tmp_path: Path) -> None:
    assert_error(run("build-vocab", tmp_path / "nope.txt", "-o", tmp_path / "v.tsv"), 1, "nope.txt")


def test_missing_vocabulary(labelled: Path, tmp_path: Path) -> None:
    assert_error(run("encode", labelled, "--vocab", tmp_path / "nov.tsv"), 1, "nov.tsv")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_unreadable_corpus(labelled: Path, tmp_path: Path) -> None:
    labelled.chmod(0)
    try:
        assert_error(run("build-vocab", labelled, "-o", tmp_path / "v.tsv"), 1, "train.txt")
    finally:
        labelled.chmod(0o644)


def test_empty_corpus(write_lines, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_error(run("build-vocab", empty, "-o", tmp_path / "v.tsv"), 1, "empty")
    blank = write_lines("blank.txt", ["", "   ", ""])
    assert_error(run("build-vocab", blank, "-o", tmp_path / "v.tsv"), 1, "empty")
    assert not (tmp_path / "v.tsv").exists()


def test_encode_empty_corpus(vocab: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert_error(run("encode", empty, "--vocab", vocab, "-o", tmp_path / "o.npy"), 1, "empty")
    assert not (tmp_path / "o.npy").exists()


@pytest.mark.parametrize("kind", ["other-format", "newer-version", "npy"])
def test_encode_with_a_foreign_vocabulary(labelled: Path, tmp_path: Path, kind: str) -> None:
    bad = tmp_path / f"{kind}.tsv"
    if kind == "other-format":
        bad.write_text("the\t10\ncat\t3\n", encoding="utf-8")
    elif kind == "newer-version":
        bad.write_text("#embedcli-vocab\t7\n", encoding="utf-8")
    else:
        np.save(tmp_path / "x.npy", np.arange(3))
        (tmp_path / "x.npy").rename(bad)
    r = run("encode", labelled, "--vocab", bad, "-o", tmp_path / "out.npy")
    assert_error(r, 1, bad.name)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["train.txt", bad.name])


def test_maxlen_zero(vocab: Path, labelled: Path) -> None:
    assert_error(run("encode", labelled, "--vocab", vocab, "--maxlen", "0"), 2, "maxlen")


def test_unknown_column_is_a_usage_error(tmp_path: Path) -> None:
    c = tmp_path / "d.csv"
    c.write_text("text,label\nhi,x\n", encoding="utf-8")
    assert_error(
        run("build-vocab", c, "-o", tmp_path / "v.tsv", "--text-column", "body"), 2, "body"
    )


def test_short_csv_row_names_the_line(tmp_path: Path) -> None:
    c = tmp_path / "d.csv"
    c.write_text("label,text\nx,hi\ny\n", encoding="utf-8")
    assert_error(run("build-vocab", c, "-o", tmp_path / "v.tsv"), 1, "d.csv:3")


def test_invalid_jsonl_names_the_line(tmp_path: Path) -> None:
    j = tmp_path / "d.jsonl"
    j.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")
    assert_error(run("build-vocab", j, "-o", tmp_path / "v.tsv"), 1, "d.jsonl:2")


def test_output_into_missing_directory(labelled: Path, vocab: Path, tmp_path: Path) -> None:
    assert_error(run("build-vocab", labelled, "-o", tmp_path / "no" / "v.tsv"), 1, "does not exist")
    assert_error(run("encode", labelled, "--vocab", vocab, "-o", tmp_path / "no" / "o.npy"), 1)
    assert not (tmp_path / "no").exists()


def test_failing_encode_leaves_no_partial_output(vocab: Path, tmp_path: Path) -> None:
    d = tmp_path / "work"
    d.mkdir()
    bad = d / "bad.txt"
    bad.write_bytes(b"great film\n" * 5000 + b"bad \xff\n")
    before = sorted(p.name for p in d.iterdir())
    for out in ("out.npy", "out.npz", "out.txt"):
        r = run("encode", bad, "--vocab", vocab, "--strict-utf8", "-o", d / out)
        assert_error(r, 1, "bad.txt:5001")
    assert sorted(p.name for p in d.iterdir()) == before  # no out.* and no temp files


def test_failing_encode_keeps_previous_output(vocab: Path, labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.npy"
    ok("encode", labelled, "--vocab", vocab, "-o", out, "-q")
    before = out.read_bytes()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"x \xff\n")
    assert_error(run("encode", bad, "--vocab", vocab, "--strict-utf8", "-o", out), 1)
    assert out.read_bytes() == before


def test_train_on_unlabelled_file_names_the_line(write_lines, tmp_path: Path) -> None:
    cmd = Path(__file__).resolve().parents[1] / "embedcli" / "cli" / "train_cmd.py"
    if not cmd.exists():
        pytest.skip("embedcli train is not there yet")
    corpus = write_lines("unl.txt", ["__label__a one two", "__label__b three", "no label here"])
    r = run("train", corpus, "-o", tmp_path / "model", "--epochs", "1", "--quiet")
    assert_error(r, 1, "unl.txt:3")
    assert not (tmp_path / "model").exists()


def test_every_command_has_help() -> None:
    for cmd in ("build-vocab", "encode"):
        r = ok(cmd, "--help")
        assert "Example:" in r.stdout


def test_labels_after_the_text_are_counted_as_labels(write_lines, tmp_path: Path) -> None:
    """fastText labels may be anywhere in a line; build-vocab must count them like encode/train do."""
    corpus = write_lines("late.txt", ["good film __label__pos", "__label__neg bad film"])
    r = ok("build-vocab", corpus, "-o", tmp_path / "v.tsv", "--json", "-q")
    s = json.loads(r.stdout)
    assert s["labels"] == [["pos", 1], ["neg", 1]]
    assert "labelpos" not in Vocabulary.load(tmp_path / "v.tsv").token_to_id
