"""Streaming corpus readers: fastText lines, plain text, CSV/TSV, JSONL, gzip, stdin, UTF-8."""

from __future__ import annotations

import gzip
import inspect
import io
import sys
from pathlib import Path

import pytest

from embedcli.corpus import (
    CorpusOptions,
    CorpusReader,
    Document,
    detect_format,
    iter_documents,
    parse_fasttext_line,
)
from embedcli.errors import DataError, UsageError


def read(paths, **opts) -> list[Document]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    return list(CorpusReader(paths, CorpusOptions(**opts)))


# -- fastText lines ---------------------------------------------------------------------------------
def test_fasttext_labels_anywhere_and_multiple() -> None:
    assert parse_fasttext_line("__label__pos Nice movie", "__label__") == Document(
        "Nice movie", ("pos",)
    )
    assert parse_fasttext_line("__label__a __label__b x y", "__label__") == Document(
        "x y", ("a", "b")
    )
    assert parse_fasttext_line("x __label__a y  __label__b", "__label__") == Document(
        "x y", ("a", "b")
    )
    assert parse_fasttext_line("no labels here ", "__label__") == Document("no labels here", ())
    assert parse_fasttext_line("__label__only", "__label__") == Document("", ("only",))


def test_fasttext_file_and_custom_prefix(write_lines) -> None:
    p = write_lines("a.txt", ["__label__x hello world", "plain line", "#c# cat #c#d dog"])
    docs = read(p)
    assert docs[0] == Document("hello world", ("x",))
    assert docs[1] == Document("plain line", ())
    custom = read(p, label_prefix="#c#")
    assert custom[2] == Document("cat dog", ("", "d"))
    assert custom[0] == Document("__label__x hello world", ())


def test_empty_label_prefix_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        CorpusOptions(label_prefix="")


def test_plain_text_format_keeps_label_words(write_lines) -> None:
    p = write_lines("a.txt", ["__label__x hello"])
    assert read(p, fmt="text") == [Document("__label__x hello", ())]


def test_blank_lines_kept_for_alignment_or_skipped(write_lines) -> None:
    p = write_lines("a.txt", ["a", "", "b"])
    assert [d.text for d in read(p)] == ["a", "", "b"]
    assert [d.text for d in read(p, skip_blank=True)] == ["a", "b"]


def test_missing_label_when_required_names_file_and_line(write_lines) -> None:
    p = write_lines("train.txt", ["__label__a x", "__label__b y", "no label"])
    with pytest.raises(DataError, match=r"train\.txt:3"):
        read(p, require_labels=True)


def test_crlf_and_bom(tmp_path: Path) -> None:
    p = tmp_path / "w.txt"
    p.write_bytes(b"\xef\xbb\xbf__label__a one\r\n__label__b two\r\n")
    assert read(p) == [Document("one", ("a",)), Document("two", ("b",))]


# -- several files, gzip, stdin -------------------------------------------------------------------
def test_several_files_in_order_and_gzip(tmp_path: Path, write_lines) -> None:
    a = write_lines("a.txt", ["__label__a one"])
    gz = tmp_path / "b.txt.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.write("__label__b two\n__label__b three\n")
    assert read([a, gz]) == [
        Document("one", ("a",)),
        Document("two", ("b",)),
        Document("three", ("b",)),
    ]


def test_damaged_gzip_is_a_data_error(tmp_path: Path) -> None:
    gz = tmp_path / "bad.txt.gz"
    gz.write_bytes(gzip.compress(b"a line\n" * 1000)[:-30])
    with pytest.raises(DataError, match=r"bad\.txt\.gz"):
        read(gz)


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = io.TextIOWrapper(io.BytesIO(b"__label__a from stdin\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", fake)
    assert read("-") == [Document("from stdin", ("a",))]


def test_stdin_only_once() -> None:
    with pytest.raises(UsageError):
        CorpusReader(["-", "-"])


def test_missing_and_directory_inputs_fail_early(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope.txt"):
        CorpusReader([tmp_path / "nope.txt"])
    with pytest.raises(DataError, match="directory"):
        CorpusReader([tmp_path])
    with pytest.raises(UsageError):
        CorpusReader([])


# -- UTF-8 ------------------------------------------------------------------------------------------
def test_invalid_utf8_replaced_and_counted(tmp_path: Path) -> None:
    p = tmp_path / "bad.txt"
    p.write_bytes(b"ok line\nbad \xff\xfe byte\nfine\nalso \xc3 bad\n")
    reader = CorpusReader([p])
    docs = list(reader)
    assert docs[1].text == "bad \ufffd\ufffd byte"
    assert reader.invalid_utf8_lines == 2
    assert reader.first_invalid_utf8 is not None and reader.first_invalid_utf8.endswith("bad.txt:2")


def test_strict_utf8_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.txt"
    p.write_bytes(b"ok line\nfine\nbad \xff byte\n")
    with pytest.raises(DataError, match=r"bad\.txt:3"):
        read(p, strict_utf8=True)


# -- CSV / TSV ---------------------------------------------------------------------------------------
def test_csv_by_name_quoted_fields(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text(
        'id,label,text\n1,spam,"Hello, world"\n2,ham,"two\nlines"\n3,,no label\n',
        encoding="utf-8",
    )
    assert read(p) == [
        Document("Hello, world", ("spam",)),
        Document("two\nlines", ("ham",)),
        Document("no label", ()),
    ]
    assert read(p, text_column="id", label_column="label")[0] == Document("1", ("spam",))


def test_csv_by_index_without_header(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text('pos,"great, film"\nneg,bad\n', encoding="utf-8")
    docs = read(p, header=False, text_column="1", label_column="0")
    assert docs == [Document("great, film", ("pos",)), Document("bad", ("neg",))]


def test_tsv_and_format_override(tmp_path: Path) -> None:
    p = tmp_path / "d.tsv"
    p.write_text("text\tlabel\na, b\tx\n", encoding="utf-8")
    assert read(p) == [Document("a, b", ("x",))]
    q = tmp_path / "d.dat"
    q.write_text("text\tlabel\nc\ty\n", encoding="utf-8")
    assert read(q, fmt="tsv") == [Document("c", ("y",))]


def test_csv_unknown_column_is_a_usage_error(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("text,label\na,b\n", encoding="utf-8")
    with pytest.raises(UsageError, match="sentence"):
        read(p, text_column="sentence")


def test_csv_short_row_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("label,text\na,one\nb,two\nc\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"d\.csv:4"):
        read(p)


def test_csv_missing_label_when_required(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("label,text\na,one\n,two\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"d\.csv:3"):
        read(p, require_labels=True)


# -- JSON Lines --------------------------------------------------------------------------------------
def test_jsonl_fields_and_label_types(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text(
        '{"text": "a", "label": "x"}\n'
        '{"text": "b", "label": 3}\n'
        '{"text": "c", "label": ["x", "y"]}\n'
        '{"text": "d"}\n',
        encoding="utf-8",
    )
    docs = read(p)
    assert docs == [
        Document("a", ("x",)),
        Document("b", ("3",)),
        Document("c", ("x", "y")),
        Document("d", ()),
    ]


def test_jsonl_custom_fields(tmp_path: Path) -> None:
    p = tmp_path / "d.ndjson"
    p.write_text('{"body": "hello", "tag": "z"}\n', encoding="utf-8")
    assert read(p, text_field="body", label_field="tag") == [Document("hello", ("z",))]


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('{"text": "a"', "invalid JSON"),
        ('["a"]', "JSON object"),
        ('{"text": 5}', "not a string"),
        ('{"txt": "a"}', "no field"),
        ('{"text": "a", "label": true}', "boolean"),
        ('{"text": "a", "label": {"x": 1}}', "string, number or list"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path: Path, line: str, match: str) -> None:
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "ok", "label": "x"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=match) as exc:
        read(p)
    assert "d.jsonl:2" in str(exc.value)


def test_detect_format() -> None:
    assert detect_format("a.CSV") == "csv"
    assert detect_format("a.tsv.gz") == "tsv"
    assert detect_format("a.jsonl") == "jsonl"
    assert detect_format("a.txt") == "fasttext"
    with pytest.raises(UsageError):
        CorpusOptions(fmt="parquet")


# -- streaming -------------------------------------------------------------------------------------
def test_reading_is_lazy(tmp_path: Path) -> None:
    """The reader yields documents one by one: a damaged line far down is met only when reached."""
    p = tmp_path / "big.txt"
    p.write_bytes(b"__label__a ok\n" * 10 + b"bad \xff\n")
    it = iter(CorpusReader([p], CorpusOptions(strict_utf8=True)))
    assert inspect.isgenerator(it)
    assert next(it) == Document("ok", ("a",))  # no error yet: nothing was read ahead
    with pytest.raises(DataError, match="big.txt:11"):
        list(it)
    assert inspect.isgenerator(iter_documents([p]))


def test_batches(write_lines) -> None:
    p = write_lines("a.txt", [f"w{i}" for i in range(10)])
    sizes = [len(b) for b in CorpusReader([p]).batches(4)]
    assert sizes == [4, 4, 2]
