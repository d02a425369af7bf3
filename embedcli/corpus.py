"""Streaming corpus readers: fastText-labelled lines, plain text, CSV/TSV and JSON Lines.

Every reader yields ``Document(text, labels)`` one at a time from binary lines, so memory does not
grow with the corpus. ``-`` is standard input; a ``.gz`` suffix, or standard input that starts
with the gzip magic bytes, is decompressed on the fly; several paths are read one after the other.
With ``--format auto``, a file read as lines whose first line looks like a CSV/TSV header is
noted in ``CorpusReader.hints`` (the CLI suggests ``--format csv``; nothing else changes). Invalid UTF-8 is replaced (U+FFFD) and counted, or with
``strict_utf8`` raised as a ``DataError`` naming the file and line.

What is not UTF-8 text is refused with a ``DataError`` before it can be misread: a line longer
than ``limits.max_line_bytes()`` (64 MiB; so ``/dev/zero``-like or decompression-bomb inputs
stop early and memory stays bounded), a NUL byte anywhere (binary data, UTF-16/32 without a
byte-order mark), a UTF-16/UTF-32 byte-order mark, CR-only (classic Mac OS) line ends (found in
the first block of the file; CRLF is fine), a damaged gzip stream, and a label holding a control
character (a line break in a CSV or JSON label would break line-per-input output).

fastText format: every whitespace-separated word that starts with the label prefix is a label,
wherever it is in the line (as fastText does); the rest, joined by single spaces, is the text.

    >>> parse_fasttext_line("__label__pos __label__x Nice movie", "__label__")
    Document(text='Nice movie', labels=('pos', 'x'))

Left out: multi-line JSON documents, CSV dialect sniffing, compressed formats other than gzip.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

from embedcli import limits, readcount
from embedcli.errors import DataError, FormatError, UsageError

#: what str.strip() removes from an ASCII line (bytes.strip() misses \x1c-\x1f)
_BLANK_BYTES = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"

FORMATS = ("auto", "fasttext", "text", "csv", "tsv", "jsonl")

#: the first two bytes of a gzip stream (RFC 1952): standard input starting so is decompressed
GZIP_MAGIC = b"\x1f\x8b"

#: what a damaged or truncated (gzip) stream raises while it is read
_READ_ERRORS = (OSError, EOFError, zlib.error)

#: characters a label must not hold: C0/C1 controls, DEL and the Unicode line/paragraph separators
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

#: byte-order marks of encodings embedcli does not read (UTF-32 first: its LE mark starts as UTF-16's)
_FOREIGN_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


class Document(NamedTuple):
    text: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class CorpusOptions:
    """How to read documents and labels out of input files."""

    fmt: str = "auto"
    label_prefix: str = "__label__"
    text_column: str | None = None  # CSV/TSV: header name or 0-based index; default "text"
    label_column: str | None = None  # default "label" when that column exists
    header: bool = True  # CSV/TSV: first row is a header
    text_field: str = "text"  # JSONL
    label_field: str = "label"  # JSONL; value may be a string, a number or a list
    strict_utf8: bool = False
    require_labels: bool = False  # a document without a label is an error
    skip_blank: bool = False  # drop empty documents (training); encode keeps them for alignment
    #: added to an unknown-column error: where a column name came from when the user gave none
    origin: str = ""

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise UsageError(f"unknown --format {self.fmt!r} (choose from {', '.join(FORMATS)})")
        if not self.label_prefix:
            raise UsageError("--label-prefix must not be empty")

    def record(self) -> dict[str, object]:
        """How the files were read, as a model's config.json keeps it ("corpus"): predict and
        evaluate read new files the same way unless told otherwise (``recorded_options``)."""
        return {key: getattr(self, attr) for key, attr in RECORDED.items()}


#: config.json "corpus" key -> CorpusOptions field, with the JSON types each may hold
RECORDED = {
    "format": "fmt",
    "label_prefix": "label_prefix",
    "text_column": "text_column",
    "label_column": "label_column",
    "header": "header",
    "text_field": "text_field",
    "label_field": "label_field",
}
_RECORDED_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "label_prefix": (str,),
    "text_column": (str, type(None)),
    "label_column": (str, type(None)),
    "header": (bool,),
    "text_field": (str,),
    "label_field": (str,),
}


def recorded_options(record: object, where: str) -> dict[str, object]:
    """CorpusOptions keyword arguments from a config.json "corpus" section (``{}`` when the
    model predates it); anything malformed is a FormatError naming ``where``."""
    if record is None:
        return {}
    if not isinstance(record, dict):
        raise FormatError(f"{where}: 'corpus' must be an object")
    out: dict[str, object] = {}
    for key, value in record.items():
        types = _RECORDED_TYPES.get(key)
        if types is None:
            continue  # written by a newer embedcli: ignored
        empty_ok = key in ("text_column", "label_column")  # a header cell may be empty
        if not isinstance(value, types) or (value == "" and not empty_ok):
            raise FormatError(f"{where}: bad corpus.{key} {value!r}")
        out[RECORDED[key]] = value
    if out.get("fmt", "auto") not in FORMATS:
        raise FormatError(f"{where}: bad corpus.format {out['fmt']!r}")
    return out


def detect_format(path: str) -> str:
    """Format from the file name (``.gz`` ignored); anything unknown is fastText/plain lines."""
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix, fmt in (
        (".csv", "csv"),
        (".tsv", "tsv"),
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
    ):
        if name.endswith(suffix):
            return fmt
    return "fasttext"


def parse_fasttext_line(line: str, prefix: str) -> Document:
    """Split a fastText line into text and labels (labels may appear anywhere, as in fastText)."""
    if prefix not in line:
        return Document(line.strip(), ())
    labels: list[str] = []
    rest = line
    # Fast path: peel the leading labels, the usual layout.
    while True:
        parts = rest.split(None, 1)
        if not parts or not parts[0].startswith(prefix):
            break
        labels.append(parts[0][len(prefix) :])
        rest = parts[1] if len(parts) > 1 else ""
    if prefix in rest:
        words = rest.split()
        labels.extend(w[len(prefix) :] for w in words if w.startswith(prefix))
        rest = " ".join(w for w in words if not w.startswith(prefix))
    return Document(rest.strip(), tuple(labels))


class CorpusReader:
    """Iterate documents from one or more paths; counts lines and invalid UTF-8 as it goes."""

    def __init__(self, paths: Iterable[str | Path], options: CorpusOptions | None = None) -> None:
        self.paths = [str(p) for p in paths]
        if not self.paths:
            raise UsageError("no input file given")
        if self.paths.count("-") > 1:
            raise UsageError("'-' (standard input) can be given only once")
        self.options = options or CorpusOptions()
        self.lines_read = 0
        self.documents = 0
        self.invalid_utf8_lines = 0
        self.first_invalid_utf8: str | None = None
        self.max_line = limits.max_line_bytes()
        #: ``(path, format, header cells)`` of files read as lines by ``--format auto`` whose
        #: first line looks like a CSV/TSV header (the caller may suggest ``--format csv``)
        self.hints: list[tuple[str, str, list[str]]] = []
        self._good_labels: set[str] = set()
        for p in self.paths:  # fail before any work if a file is missing
            if p != "-":
                _check_readable(p)

    def __iter__(self) -> Iterator[Document]:
        for path in self.paths:
            fmt = self.options.fmt
            if fmt == "auto":
                fmt = "fasttext" if path == "-" else detect_format(path)
            with self._open(path) as raw:
                lines = self._decoded_lines(raw, path)
                if fmt in ("fasttext", "text"):
                    if self.options.fmt == "auto":
                        lines = self._watch_first_line(lines, path)
                    docs = self._line_docs(lines, path, fmt)
                elif fmt in ("csv", "tsv"):
                    docs = self._csv_docs(lines, path, fmt)
                else:
                    docs = self._jsonl_docs(lines, path)
                for doc in docs:
                    self.documents += 1
                    if not self.documents & 4095:
                        readcount.publish(self.documents)
                    yield doc
        readcount.publish(self.documents)

    def batches(self, size: int = 4096) -> Iterator[list[Document]]:
        """Documents in lists of ``size`` (the unit of chunked tokenizing and encoding)."""
        batch: list[Document] = []
        for doc in self:
            batch.append(doc)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def can_read_raw(self) -> bool:
        """True when ``raw_blocks`` applies: line formats, lenient UTF-8."""
        if self.options.strict_utf8 or self.options.fmt not in ("auto", "fasttext", "text"):
            return False
        return all(p == "-" or detect_format(p) == "fasttext" for p in self.paths)

    def raw_blocks(self, block_bytes: int = 1 << 22) -> Iterator[tuple[list[bytes], list[bytes]]]:
        """Blocks of complete lines as ``(texts, labels)`` bytes lists, for fast counting.

        Labels are peeled at the byte level (leading ``prefix`` words, as ``parse_fasttext_line``;
        a label later in a line stays in the text, which only matters for counting); blank lines are
        dropped. Decoding and standardizing are the caller's job.
        """
        prefix = self.options.label_prefix.encode()
        parse = self.options.fmt != "text"
        limit = self.max_line
        # Reads no larger than the line limit: a line over it must then straddle a read boundary,
        # so checking the line that starts in ``rest`` catches every one.
        block_bytes = max(1, min(block_bytes, limit))
        for path in self.paths:
            with self._open(path) as raw:
                rest = b""
                line0 = 0  # lines of this file before ``data``
                while True:
                    try:
                        data = raw.read(block_bytes)
                    except _READ_ERRORS as exc:
                        raise _read_error(path, line0, exc) from None
                    if not data:
                        break
                    _check_nul(data, path, line0)  # ``rest`` holds no line end
                    data = rest + data
                    head = data.find(b"\n")
                    if head > limit or (head < 0 and len(data) > limit):
                        raise _too_long(path, line0 + 1, limit)
                    cut = data.rfind(b"\n") + 1
                    if cut == 0:
                        rest = data
                        continue
                    rest = data[cut:]
                    if line0 == 0 and self.options.fmt == "auto":
                        first = data[: data.find(b"\n")].rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")
                        self._note_tabular(first.decode("utf-8", "replace"), path)
                    yield self._split_block(data[:cut], prefix, parse, path, line0)
                    line0 += data.count(b"\n", 0, cut)
                if rest:
                    yield self._split_block(rest, prefix, parse, path, line0)

    def _split_block(
        self, block: bytes, prefix: bytes, parse: bool, path: str = "-", line0: int = 0
    ) -> tuple[list[bytes], list[bytes]]:
        lines = block.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        self.lines_read += len(lines)
        if line0 == 0 and lines and lines[0].startswith(b"\xef\xbb\xbf"):
            lines[0] = lines[0][3:]
        texts: list[bytes] = []
        labels: list[bytes] = []
        str_prefix = self.options.label_prefix
        for lineno, line in enumerate(lines, line0 + 1):
            line = line.rstrip(b"\r")
            if line.isascii() and not (parse and prefix in line):
                # The common case, decided on bytes: no labels, nothing to decode.
                blank = not line.translate(None, _BLANK_BYTES) if parse else not line
                if blank:
                    continue
                # stripped as parse_fasttext_line strips (str.strip: \x1c-\x1f too), which
                # splits on ASCII whitespace only (TensorFlow's) can tell
                texts.append(line.strip(_BLANK_BYTES) if parse else line)
            else:
                # Labels or non-ASCII: exactly what the Document path does, then back to bytes.
                text = self._decode_counting(line)
                doc = parse_fasttext_line(text, str_prefix) if parse else Document(text, ())
                if not doc.text and not doc.labels:
                    continue
                self._check_labels(doc.labels, path, lineno)
                labels.extend(label.encode("utf-8", "surrogatepass") for label in doc.labels)
                texts.append(doc.text.encode("utf-8", "surrogatepass"))
            self.documents += 1
        readcount.publish(self.documents)
        return texts, labels

    def _decode_counting(self, line: bytes) -> str:
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            self.invalid_utf8_lines += 1
            if self.first_invalid_utf8 is None:
                self.first_invalid_utf8 = f"line {self.lines_read} or earlier"
            return line.decode("utf-8", errors="replace")

    def iter_byte_range(self, path: str, start: int, end: int) -> Iterator[Document]:
        """Documents of the lines of a line-format file that START in ``[start, end)``.

        Splitting a file at arbitrary byte offsets and reading each range this way visits every
        line exactly once (the shards of the parallel encoder). Line numbers in messages count
        from ``start``; callers re-read sequentially to report an error's exact line.
        """
        fmt = self.options.fmt
        fmt = detect_format(path) if fmt == "auto" else fmt
        with self._open(path) as raw:
            if start > 0:
                raw.seek(start - 1)
                while True:  # finish the line that began before ``start``, in bounded reads
                    rest = raw.readline(self.max_line + 1)
                    if not rest or rest.endswith(b"\n"):
                        break
            pos = raw.tell()

            def lines() -> Iterator[bytes]:
                nonlocal pos
                limit = self.max_line
                while pos < end:
                    try:
                        line = raw.readline(limit + 1)
                    except _READ_ERRORS as exc:
                        raise _read_error(path, 0, exc) from None
                    if not line:
                        return
                    # line numbers here count from ``start``: the caller re-reads for the exact one
                    if len(line) > limit and not line.endswith(b"\n"):
                        raise _too_long(path, 0, limit)
                    _check_nul(line, path, -1)
                    pos += len(line)
                    yield line

            documents = 0
            for doc in self._line_docs(self._decoded_lines(lines(), path), path, fmt):  # type: ignore[arg-type]
                documents += 1
                if not documents & 4095:
                    readcount.publish(documents)
                yield doc
            readcount.publish(documents)

    # -- internals ---------------------------------------------------------------------------
    def _open(self, path: str) -> open_binary:
        """The binary stream of one of ``self.paths`` (a subclass may read it from elsewhere:
        ``embedcli.inputs.PartitionReader`` reads a byte range of an fsspec URL)."""
        return open_binary(path)

    def _watch_first_line(self, lines: Iterator[str], path: str) -> Iterator[str]:
        first = True
        for line in lines:
            if first:
                self._note_tabular(line, path)
                first = False
            yield line

    def _note_tabular(self, line: str, path: str) -> None:
        found = tabular_header(line, self.options.label_prefix)
        if found is not None:
            self.hints.append((path, *found))

    def _tabular_note(self, path: str) -> str:
        """``; it looks like CSV ...`` when ``path`` was noted by ``_note_tabular``, else ''."""
        for hint_path, fmt, cells in self.hints:
            if hint_path == path:
                return f"; {describe_tabular(path, fmt, cells, '--format')}"
        return ""

    def _check_labels(self, labels: Iterable[str], path: str, lineno: int) -> None:
        """Refuse a label with a control character (each distinct label is checked once)."""
        good = self._good_labels
        for label in labels:
            if label in good:
                continue
            bad = _CONTROL.search(label)
            if bad is not None:
                raise DataError(
                    f"{_display(path)}:{lineno}: label {label!r} contains the control character "
                    f"U+{ord(bad.group()):04X}; labels are printed one per line and must not "
                    "hold line breaks or control characters"
                )
            good.add(label)

    def _decoded_lines(self, raw: IO[bytes], path: str) -> Iterator[str]:
        strict = self.options.strict_utf8
        for lineno, data in _guarded_lines(raw, path, self.max_line):
            self.lines_read += 1
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                where = f"{_display(path)}:{lineno}"
                if strict:
                    raise DataError(f"invalid UTF-8 at {where} (byte {exc.start})") from None
                self.invalid_utf8_lines += 1
                if self.first_invalid_utf8 is None:
                    self.first_invalid_utf8 = where
                text = data.decode("utf-8", errors="replace")
            if text.startswith("\ufeff") and lineno == 1:
                text = text[1:]
            yield text.rstrip("\r\n")

    def _line_docs(self, lines: Iterator[str], path: str, fmt: str) -> Iterator[Document]:
        prefix = self.options.label_prefix
        opts = self.options
        for lineno, line in enumerate(lines, 1):
            doc = parse_fasttext_line(line, prefix) if fmt == "fasttext" else Document(line, ())
            if opts.skip_blank and not doc.text and not doc.labels:
                continue
            if doc.labels:
                self._check_labels(doc.labels, path, lineno)
            if opts.require_labels and not doc.labels:
                raise DataError(
                    f"{_display(path)}:{lineno}: line has no label "
                    f"(expected a word starting with {prefix!r})" + self._tabular_note(path)
                )
            yield doc

    def _csv_docs(self, lines: Iterator[str], path: str, fmt: str) -> Iterator[Document]:
        opts = self.options
        # csv needs the line ends back, or a quoted field spanning lines loses its newline
        reader = csv.reader(
            (line + "\n" for line in lines), delimiter="," if fmt == "csv" else "\t"
        )
        header: list[str] | None = None
        if opts.header:
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DataError(
                    f"{_display(path)}:1: malformed {fmt.upper()} header: {exc}"
                ) from None
        text_idx = _column_index(opts.text_column, header, "text", path, opts.origin)
        label_idx = _column_index(opts.label_column, header, "label", path, opts.origin)
        if text_idx is None:  # defaulted name missing: a one-column file is unambiguous
            if header is not None and len(header) == 1:
                text_idx = 0
            else:
                cols = ", ".join(header or [])
                raise UsageError(
                    f"{_display(path)}: no 'text' column; choose one with --text-column (columns: {cols})"
                )
        needed = max(text_idx, label_idx if label_idx is not None else -1)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DataError(
                    f"{_display(path)}:{reader.line_num}: malformed {fmt.upper()}: {exc}"
                ) from None
            if not row:
                if opts.skip_blank:
                    continue
                row = [""]
            if len(row) <= needed:
                raise DataError(
                    f"{_display(path)}:{reader.line_num}: row has {len(row)} column(s), "
                    f"needs column {needed} (0-based)"
                )
            text = row[text_idx]
            labels: tuple[str, ...] = ()
            if label_idx is not None and row[label_idx].strip():
                labels = tuple(row[label_idx].split())
            if opts.skip_blank and not text.strip() and not labels:
                continue
            if opts.require_labels and not labels:
                raise DataError(f"{_display(path)}:{reader.line_num}: row has no label")
            if labels:
                self._check_labels(labels, path, reader.line_num)
            yield Document(text, labels)

    def _jsonl_docs(self, lines: Iterator[str], path: str) -> Iterator[Document]:
        opts = self.options
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                if opts.skip_blank:
                    continue
                yield Document("", ())
                continue
            where = f"{_display(path)}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: invalid JSON: {exc.msg}") from None
            except (ValueError, RecursionError) as exc:  # a 5000-digit number, deep nesting
                raise DataError(f"{where}: invalid JSON: {type(exc).__name__}: {exc}") from None
            if not isinstance(obj, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
            if opts.text_field not in obj:
                raise DataError(f"{where}: no field {opts.text_field!r} (use --text-field)")
            text = obj[opts.text_field]
            if not isinstance(text, str):
                raise DataError(
                    f"{where}: field {opts.text_field!r} is {type(text).__name__}, not a string"
                )
            labels = _json_labels(obj.get(opts.label_field), where, opts.label_field)
            if opts.require_labels and not labels:
                raise DataError(f"{where}: no label in field {opts.label_field!r}")
            if _has_surrogate(text) or any(_has_surrogate(lab) for lab in labels):
                # "\ud800" escapes decode to lone surrogates, which no UTF-8 file can hold:
                # treated like invalid UTF-8 (replaced by U+FFFD and counted, or an error).
                if opts.strict_utf8:
                    raise DataError(f"{where}: lone surrogate escape (invalid UTF-16) in a string")
                self.invalid_utf8_lines += 1
                if self.first_invalid_utf8 is None:
                    self.first_invalid_utf8 = where
                text = _SURROGATES.sub("\ufffd", text)
                labels = tuple(_SURROGATES.sub("\ufffd", lab) for lab in labels)
            if labels:
                self._check_labels(labels, path, lineno)
            yield Document(text, labels)


_SURROGATES = re.compile("[\ud800-\udfff]")
#: a header cell: a name, not prose ("text", "review_body", "Label 2")
_HEADER_CELL = re.compile(r"[A-Za-z_][\w .-]{0,39}")


def tabular_header(line: str, prefix: str) -> tuple[str, list[str]] | None:
    """``("csv"|"tsv", cells)`` when ``line`` looks like a CSV/TSV header row (two or more
    name-like cells, no label prefix), else None. Only a hint: prose rarely has commas without
    a following space, and never tabs between short names."""
    if prefix in line:
        return None
    for fmt, delim in (("tsv", "\t"), ("csv", ",")):
        if delim not in line:
            continue
        try:
            cells = next(csv.reader([line], delimiter=delim))
        except (csv.Error, StopIteration):
            continue
        if len(cells) >= 2 and all(
            c == c.strip() and _HEADER_CELL.fullmatch(c) is not None for c in cells
        ):
            return fmt, cells
    return None


def describe_tabular(path: str, fmt: str, cells: list[str], option: str) -> str:
    """One line suggesting ``option fmt`` for a file read as lines that looks like CSV/TSV."""
    shown = ", ".join(cells[:4]) + (", ..." if len(cells) > 4 else "")
    return (
        f"{_display(path)} looks like {fmt.upper()} with a header ({shown}) but was read as "
        f"fastText/plain lines (format chosen by file name): add {option} {fmt} to read it as {fmt.upper()}"
    )


def _has_surrogate(s: str) -> bool:
    return not s.isascii() and _SURROGATES.search(s) is not None


def iter_documents(
    paths: Iterable[str | Path], options: CorpusOptions | None = None
) -> Iterator[Document]:
    """Convenience generator over ``CorpusReader``."""
    return iter(CorpusReader(paths, options))


def _json_labels(value: object, where: str, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, bool):
        raise DataError(f"{where}: field {field!r} is a boolean, expected a string, number or list")
    if isinstance(value, (str, int, float)):
        return (str(value),) if str(value) != "" else ()
    if isinstance(value, list) and all(
        isinstance(v, (str, int)) and not isinstance(v, bool) for v in value
    ):
        return tuple(str(v) for v in value)
    raise DataError(f"{where}: field {field!r} must be a string, number or list of them")


def _column_index(
    spec: str | None, header: list[str] | None, default: str, path: str, origin: str = ""
) -> int | None:
    if spec is None:
        if header is not None and default in header:
            return header.index(default)
        if header is None and default == "text":
            return 0
        return None
    if header is not None and spec in header:
        return header.index(spec)
    if spec.isdigit():
        return int(spec)
    cols = ", ".join(header or [])
    note = f"; {origin}" if origin else ""
    raise UsageError(f"{_display(path)}: unknown column {spec!r} (columns: {cols}){note}")


def _guarded_lines(
    raw: IO[bytes] | Iterator[bytes], path: str, limit: int
) -> Iterator[tuple[int, bytes]]:
    """Numbered binary lines of at most ``limit`` bytes (line end excluded) without NUL bytes;
    a longer line, a NUL, a damaged gzip stream or an I/O failure becomes a DataError.

    ``raw`` is a binary stream, or an iterator of lines that enforces the bounds itself.
    """
    lineno = 0
    if not hasattr(raw, "readline"):
        for data in raw:
            lineno += 1
            yield lineno, data
        return
    readline = raw.readline
    while True:
        try:
            data = readline(limit + 1)
        except _READ_ERRORS as exc:
            raise _read_error(path, lineno, exc) from None
        if not data:
            return
        lineno += 1
        if len(data) > limit and not data.endswith(b"\n"):
            raise _too_long(path, lineno, limit)
        if b"\0" in data:
            _check_nul(data, path, lineno - 1)
        yield lineno, data


def _read_error(path: str, lines_before: int, exc: BaseException) -> DataError:
    """One line for a failed read: a damaged gzip stream, a truncated file, an I/O error."""
    where = f"after line {lines_before}" if lines_before else "at the start"
    if isinstance(exc, zlib.error) or isinstance(exc, gzip.BadGzipFile):
        fault = f"corrupt gzip data ({exc})"
    elif isinstance(exc, EOFError):
        fault = f"the compressed stream is truncated ({exc})"
    else:
        fault = getattr(exc, "strerror", None) or str(exc)
    return DataError(f"cannot read {_display(path)} {where}: {fault}")


def _too_long(path: str, lineno: int, limit: int) -> DataError:
    where = f"line {lineno} of {_display(path)}" if lineno else f"a line of {_display(path)}"
    return DataError(
        f"{where} is longer than {_size(limit)} (not a text corpus? "
        "EMBEDCLI_MAX_LINE raises the limit)"
    )


def _check_nul(data: bytes, path: str, lines_before: int) -> None:
    """Refuse ``data`` if it holds a NUL byte: binary data or UTF-16/32 text is not a corpus.

    ``lines_before`` is the number of lines of the file before ``data`` (-1: unknown).
    """
    at = data.find(b"\0")
    if at < 0:
        return
    lineno = lines_before + data.count(b"\n", 0, at) + 1
    where = f"line {lineno} of {_display(path)}" if lines_before >= 0 else _display(path)
    raise DataError(
        f"{where} contains a NUL byte: this is a binary file, or UTF-16/UTF-32 text "
        "(embedcli reads UTF-8; convert it, e.g. with iconv -t UTF-8)"
    )


def _sniff(head: bytes, path: str) -> None:
    """Refuse what the start of a file shows is not UTF-8 text with LF or CRLF line ends."""
    for bom, encoding in _FOREIGN_BOMS:
        if head.startswith(bom):
            raise DataError(
                f"{_display(path)} is {encoding} text (byte-order mark); embedcli reads UTF-8: "
                f"convert it, e.g. with iconv -f {encoding} -t UTF-8"
            )
    _check_nul(head, path, 0)
    if head.endswith(b"\r"):  # its LF may be in the next block
        head = head[:-1]
    lone_cr = head.count(b"\r") - head.count(b"\r\n")
    lf = head.count(b"\n")
    if lone_cr > lf:
        raise DataError(
            f"{_display(path)} has CR-only line ends (classic Mac OS): {lone_cr} CR and {lf} LF "
            f"in its first {len(head):,} bytes; convert them, e.g. with tr '\\r' '\\n'"
        )


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def _display(path: str) -> str:
    return "<stdin>" if path == "-" else path


def _check_readable(path: str) -> None:
    p = Path(path)
    if not p.exists():
        raise DataError(f"cannot read {path}: no such file")
    if p.is_dir():
        raise DataError(f"cannot read {path}: is a directory")
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None


class open_binary:
    """Context manager giving a buffered binary stream for a path, stdin or a .gz file; or for
    ``stream`` (an open binary file named ``path`` in messages, decompressed if ``path`` ends in
    ``.gz``; closed on exit). The start of the stream is checked as a file's is (``_sniff``)."""

    def __init__(self, path: str, stream: IO[bytes] | None = None) -> None:
        self.path = path
        self.f: IO[bytes] | None = None
        self.keep: IO[bytes] | None = None
        self.given = stream

    def __enter__(self) -> IO[bytes]:
        if self.given is not None:
            self.keep = self.given
            given: IO[bytes] = self.given
            if self.path.endswith(".gz"):
                given = gzip.GzipFile(fileobj=given, mode="rb")  # type: ignore[assignment]
            self.f = io.BufferedReader(given, buffer_size=1 << 20)  # type: ignore[arg-type]
            stream: IO[bytes] = self.f
        elif self.path == "-":
            stream = sys.stdin.buffer
            if not hasattr(stream, "peek"):  # a test harness's BytesIO: buffer it to look ahead
                stream = io.BufferedReader(stream)  # type: ignore[arg-type]
                self.keep = stream  # never closed: closing it would close stdin
            try:
                magic = stream.peek(2)[:2]  # type: ignore[attr-defined]
            except _READ_ERRORS as exc:
                raise _read_error(self.path, 0, exc) from None
            if magic == GZIP_MAGIC:  # gzipped standard input: decompressed as a .gz file is
                gz = gzip.GzipFile(fileobj=stream, mode="rb")  # closing it leaves stdin open
                self.f = io.BufferedReader(gz, buffer_size=1 << 20)  # type: ignore[arg-type]
                stream = self.f
        else:
            try:
                if self.path.endswith(".gz"):
                    self.f = io.BufferedReader(gzip.open(self.path, "rb"), buffer_size=1 << 20)  # type: ignore[arg-type]
                else:
                    self.f = open(self.path, "rb", buffering=1 << 20)
            except OSError as exc:
                raise DataError(f"cannot read {self.path}: {exc.strerror}") from None
            stream = self.f
        peek = getattr(stream, "peek", None)
        if peek is not None:
            try:
                head = peek(1 << 16)
            except _READ_ERRORS as exc:
                self.__exit__()
                raise _read_error(self.path, 0, exc) from None
            try:
                _sniff(head, self.path)
            except DataError:
                self.__exit__()
                raise
        return stream

    def __exit__(self, *exc: object) -> None:
        if self.f is not None:
            self.f.close()
        if self.given is not None:
            self.given.close()


_open_binary = open_binary  # the name it had
