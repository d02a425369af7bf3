"""Inputs of the distributed engine: files, globs, directories and fsspec URLs, in partitions.

``expand_inputs`` turns what the user gave into a list of files with their sizes, in a fixed
order: each argument in turn; a glob's matches and a directory's files (recursively, hidden
names skipped) sorted by name. Plain local paths stay as given, so messages name them as the
local engine does; URLs (``s3://``, ``gs://``, ``abfs://``, ``https://``, ``file://``, ...) are
read through fsspec, whose credentials come from the usual environment (``AWS_*`` variables,
``~/.aws``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``FSSPEC_<PROTOCOL>_<OPTION>`` such as
``FSSPEC_S3_ENDPOINT_URL``): embedcli takes no credential option and writes none anywhere.

``plan_partitions`` cuts the files into byte ranges with the local engine's own rule
(``embedcli.shards.cut_ranges``); a partition's documents are the lines that START in its range
(``read_range``, the rule of ``CorpusReader.iter_byte_range``), so the partitions of a file read
in order give exactly its lines. A ``.gz`` file is one partition (gzip cannot be split); a note
says so when one such file holds much of the input.

``PartitionReader`` is a ``CorpusReader`` over one partition: the same documents, labels, token
fast paths and one-line errors as the local reader. Messages name the file, and for a partition
that does not start the file, the byte offset of its first line with lines counted from there
(``line 3 of big.txt from byte 67108864``).

Left out: CSV/TSV/JSONL inputs (a CSV header is in the first partition only, a quoted field may
hold a line break), standard input, compression other than gzip.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from embedcli.corpus import CorpusOptions, CorpusReader, detect_format, open_binary
from embedcli.errors import DataError, UsageError
from embedcli.shards import MAX_SHARD_BYTES, cut_ranges

#: a single .gz over this share of the input (and over one partition's size) gets a note
GZIP_NOTE_SHARE = 0.25
#: bytes read at a time while finding a line's end
_STEP = 1 << 16


@dataclass(frozen=True)
class Partition:
    """Lines of ``url`` starting in ``[start, end)``; a gzip file is one partition."""

    index: int
    url: str
    start: int
    end: int
    size: int
    gzip: bool = False

    def spec(self) -> dict[str, Any]:
        return {"url": self.url, "start": self.start, "end": self.end, "size": self.size}


def is_url(spec: str) -> bool:
    return "://" in spec


def _filesystem(spec: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    try:
        return url_to_fs(spec)
    except (ImportError, ValueError) as exc:
        raise UsageError(f"cannot open {spec}: {exc}") from None


def _has_magic(spec: str) -> bool:
    return any(c in spec for c in "*?[")


def expand_inputs(specs: Iterable[str]) -> list[tuple[str, int]]:
    """``(path or URL, size in bytes)`` of every input file, in order (see the module notes)."""
    files: list[tuple[str, int]] = []
    for spec in specs:
        if spec == "-":
            raise UsageError("--engine dask cannot read standard input ('-'); give files or URLs")
        if not is_url(spec) and not _has_magic(spec):
            if os.path.isfile(spec):
                files.append((spec, os.path.getsize(spec)))
                continue
            if not os.path.isdir(spec):
                raise DataError(f"cannot read {spec}: no such file")
        fs, path = _filesystem(spec)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        try:
            if _has_magic(path):
                found = sorted(fs.glob(path, detail=True).items())
                if not found:
                    raise DataError(f"{spec} matches no file")
            elif fs.isdir(path):
                found = sorted(fs.find(path, detail=True).items())
            else:
                found = [(path, fs.info(path))]
        except FileNotFoundError:
            raise DataError(f"cannot read {spec}: no such file") from None
        except OSError as exc:
            raise DataError(f"cannot read {spec}: {exc.strerror or exc}") from None
        kept = 0
        for name, info in found:
            if info.get("type") == "directory" or os.path.basename(name).startswith("."):
                continue
            kept += 1
            files.append((_unstrip(fs, protocol, spec, name), int(info.get("size") or 0)))
        if not kept:
            raise DataError(f"{spec} holds no file")
    return files


def _unstrip(fs: Any, protocol: str, spec: str, name: str) -> str:
    """A name fsspec listed, as a path or URL to read it by."""
    if not is_url(spec):
        return name
    return fs.unstrip_protocol(name) if hasattr(fs, "unstrip_protocol") else f"{protocol}://{name}"


def plan_partitions(
    files: list[tuple[str, int]],
    options: CorpusOptions,
    workers: int,
    partition_bytes: int = MAX_SHARD_BYTES,
) -> tuple[list[Partition], list[str]]:
    """The partitions of ``files`` (about ``workers`` per input, none over ``partition_bytes``)
    and notes for the user (a large gzip file limits parallelism)."""
    if options.fmt not in ("auto", "fasttext", "text"):
        raise UsageError(
            f"--engine dask reads line formats (fasttext, text), not --format {options.fmt}"
        )
    for url, _size in files:
        if options.fmt == "auto" and detect_format(url) != "fasttext":
            raise UsageError(
                f"--engine dask reads line formats (fasttext, text); {url} looks like "
                f"{detect_format(url).upper()} (use --engine local)"
            )
    total = sum(size for _url, size in files) or 1
    notes: list[str] = []
    parts: list[Partition] = []
    plain = [(url, size) for url, size in files if not url.endswith(".gz")]
    ranges = iter(cut_ranges(plain, workers, partition_bytes))
    for url, size in files:
        if url.endswith(".gz"):
            parts.append(Partition(len(parts), url, 0, size, size, gzip=True))
            if size > partition_bytes and size > GZIP_NOTE_SHARE * total:
                notes.append(
                    f"{url} is {size / 1e6:,.0f} MB of gzip ({100 * size / total:.0f} % of the "
                    "input), read by one worker: gzip cannot be split (recompress it as several "
                    "files for more parallelism)"
                )
            continue
        while True:
            path, start, end = next(ranges)
            parts.append(Partition(len(parts), url, start, end, size))
            if end == size:
                break
    return parts, notes


def open_input(url: str) -> IO[bytes]:
    """A binary file object for a path or URL (fsspec for URLs)."""
    if not is_url(url):
        try:
            return open(url, "rb")
        except OSError as exc:
            raise DataError(f"cannot read {url}: {exc.strerror}") from None
    fs, path = _filesystem(url)
    try:
        # fsspec's files read ahead in blocks but their readline takes no size: buffer them
        return io.BufferedReader(fs.open(path, "rb"), buffer_size=1 << 20)
    except FileNotFoundError:
        raise DataError(f"cannot read {url}: no such file") from None
    except OSError as exc:
        raise DataError(f"cannot read {url}: {exc.strerror or exc}") from None


def read_range(f: IO[bytes], start: int, end: int, max_line: int, name: str) -> tuple[int, bytes]:
    """``(offset, data)``: the complete lines of ``f`` that start in ``[start, end)``, and where
    the first of them starts (``CorpusReader.iter_byte_range``'s rule)."""
    pos = 0
    if start > 0:
        f.seek(start - 1)
        pos = start - 1
        while True:  # finish the line that began before ``start``, in bounded reads
            chunk = f.readline(_STEP)
            pos += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                break
            if pos - start > max_line:
                raise _too_long(name, start, max_line)
    if pos >= end:
        return pos, b""
    data = f.read(end - pos)
    if data and not data.endswith(b"\n") and len(data) == end - pos:
        tail = [data]
        read = 0
        while True:  # the last line runs past ``end``: read it to its end
            chunk = f.readline(_STEP)
            read += len(chunk)
            tail.append(chunk)
            if not chunk or chunk.endswith(b"\n"):
                break
            if read > max_line:
                raise _too_long(name, end, max_line)
        data = b"".join(tail)
    return pos, data


def _too_long(name: str, offset: int, limit: int) -> DataError:
    return DataError(
        f"a line of {name} near byte {offset} is longer than {limit:,} bytes (not a text "
        "corpus? EMBEDCLI_MAX_LINE raises the limit)"
    )


class PartitionReader(CorpusReader):
    """A ``CorpusReader`` over one partition (read whole into memory, or streamed for gzip)."""

    def __init__(self, part: Partition, options: CorpusOptions) -> None:
        super().__init__(["-"], options)  # no local file to check: the partition is opened later
        self.part = part
        self.first_byte = part.start
        self._data = b""
        if not part.gzip:
            with open_input(part.url) as f:
                self.first_byte, self._data = read_range(
                    f, part.start, part.end, self.max_line, part.url
                )
        self.paths = [
            part.url if self.first_byte == 0 else f"{part.url} from byte {self.first_byte}"
        ]

    def _open(self, path: str) -> open_binary:
        if self.part.gzip:
            return open_binary(self.part.url, stream=open_input(self.part.url))
        data, self._data = self._data, b""  # one pass over a partition
        return open_binary(path, stream=io.BytesIO(data))
