"""Export an embedding table to files other tools read: npy, csv, word2vec (text/binary), projector.

Rows are in table order (index i = token id i). A full export has every row of ``embeddings.npy``:
padding (id 0), ``[UNK]``, the words, then the hashed n-gram bucket rows, named ``<bucket_0>``,
``<bucket_1>``, ...; ``words_only`` keeps the word rows alone (no padding, no ``[UNK]``, no buckets).
Names: csv shows the padding token as the empty string; word2vec and the projector metadata need a
printable name, so padding is written ``<pad>`` there. These names never take a real token's name
(gensim would drop one of two equal keys): when the vocabulary holds ``<pad>`` or a
``<bucket_N>``, both get one more pair of angle brackets (``<<pad>>``, ``<<bucket_0>>``), and so on,
until no name of a padding or bucket row is a token (``reserved_names``). Floats are written as the shortest string
that reads back to the same float32 (``str(np.float32(x))``), so text exports lose nothing.

- ``npy``: the float32 matrix (``.npy`` 1.0, written block by block; ``np.load`` reads it).
- ``csv``: header ``token,d0,d1,...``, one row per token.
- ``word2vec`` / ``word2vec-binary``: the formats of the original word2vec tool, read by gensim
  ``KeyedVectors.load_word2vec_format(path, binary=...)``.
- ``projector``: ``vectors.tsv`` + ``metadata.tsv`` for the TensorBoard Embedding Projector
  (projector.tensorflow.org "Load"). PATH is a directory (created if missing) unless its name ends
  with ``_``, ``-`` or ``.``, in which case it is a prefix: ``out/words_`` -> ``out/words_vectors.tsv``.

Every file goes through ``atomic_write``: an error leaves no partial file behind.

    >>> float_strings(np.array([0.1, 1.0, -2.5e-08], np.float32))
    ['0.1', '1.0', '-2.5e-08']

Left out: GloVe's header-less text, fastText ``.bin``, HDF5, quantized exports.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedcli.atomic import atomic_dir, atomic_write
from embedcli.errors import DataError, UsageError
from embedcli.outputs import Output

EXPORT_FORMATS = ("npy", "csv", "word2vec", "word2vec-binary", "projector")
PAD_NAME = "<pad>"
#: rows formatted per write call: bounds memory on a million-row table
CHUNK_ROWS = 4096


def float_strings(values: np.ndarray) -> list[str]:
    """Shortest round-trip decimal strings of float32 values."""
    return list(map(str, np.asarray(values, dtype=np.float32).ravel()))


def bucket_name(i: int, depth: int = 1) -> str:
    return "<" * depth + f"bucket_{i}" + ">" * depth


def _name_depth(tokens: Sequence[str], buckets: int) -> int:
    """Fewest angle-bracket pairs for which neither the padding name nor a bucket name is a
    token (padding ``<pad>``, ``<<pad>>``...; bucket i ``<bucket_i>``, ``<<bucket_i>>``...)."""
    taken: set[int] = set()
    for t in tokens:
        if len(t) < 5 or not t.startswith("<") or not t.endswith(">"):
            continue
        depth = len(t) - len(t.lstrip("<"))
        if len(t) - len(t.rstrip(">")) < depth:
            continue
        core = t[depth : len(t) - depth]
        if core == "pad":
            taken.add(depth)
        elif core.startswith("bucket_") and core[7:].isdigit() and core[7:] == str(int(core[7:])):
            if int(core[7:]) < buckets:
                taken.add(depth)
    depth = 1
    while depth in taken:
        depth += 1
    return depth


def reserved_names(tokens: Sequence[str], buckets: int) -> tuple[str, list[str]]:
    """``(padding name, bucket row names)`` that no token of ``tokens`` equals."""
    depth = _name_depth(tokens, buckets)
    return "<" * depth + "pad" + ">" * depth, [bucket_name(i, depth) for i in range(buckets)]


@dataclass(frozen=True)
class RowSet:
    """Which table rows to export (a contiguous range) and the name and count of each."""

    start: int
    stop: int
    names: list[str]
    counts: list[int]
    #: the printable name of the padding row (``""`` in ``names``), never a token
    pad_name: str = PAD_NAME

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.start, self.stop, dtype=np.int64)

    def __len__(self) -> int:
        return self.stop - self.start


def select_rows(
    tokens: Sequence[str],
    num_rows: int,
    *,
    first_word: int,
    counts: Sequence[int] | None = None,
    words_only: bool = False,
) -> RowSet:
    """Rows and names of an export. ``tokens`` are the vocabulary (ids 0 .. num_words-1)."""
    num_words = len(tokens)
    if num_rows < num_words:
        raise DataError(f"the table has {num_rows} rows but the vocabulary {num_words} tokens")
    counts = list(counts) if counts is not None else [0] * num_words
    if words_only:
        return RowSet(
            first_word, num_words, list(tokens[first_word:]), counts[first_word:num_words]
        )
    pad_name, buckets = reserved_names(tokens, num_rows - num_words)
    names = list(tokens) + buckets
    return RowSet(0, num_rows, names, counts[:num_words] + [0] * (num_rows - num_words), pad_name)


def export_embeddings(
    embeddings: np.ndarray, rows: RowSet, fmt: str, path: str | Path
) -> list[str]:
    """Write rows ``rows.start .. rows.stop-1`` of ``embeddings`` in format ``fmt`` to ``path``; returns the paths written."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    if embeddings.ndim != 2:
        raise DataError("the embedding table must be 2-D")
    path = str(path)
    if fmt == "npy":
        with atomic_write(path, "wb") as f:
            _write_npy(f, embeddings, rows)
        return [path]
    if fmt == "csv":
        with atomic_write(path, "w") as f:
            _write_csv(f, embeddings, rows)
        return [path]
    if fmt in ("word2vec", "word2vec-binary"):
        names = [_printable(n, rows.pad_name) for n in rows.names]
        binary = fmt == "word2vec-binary"
        with atomic_write(path, "wb" if binary else "w") as f:
            (_write_w2v_binary if binary else _write_w2v_text)(f, embeddings, rows, names)
        return [path]
    return _write_projector(embeddings, rows, path)


def _chunks(embeddings: np.ndarray, rows: RowSet):
    """``(offset, float32 block)`` over the rows: a memory-mapped table is read a block at a time."""
    for s in range(rows.start, rows.stop, CHUNK_ROWS):
        e = min(s + CHUNK_ROWS, rows.stop)
        yield s - rows.start, np.asarray(embeddings[s:e], dtype=np.float32)


def _write_npy(f, embeddings: np.ndarray, rows: RowSet) -> None:
    # The .npy 1.0 header, then the rows block by block (C order, little-endian float32).
    header = {"descr": "<f4", "fortran_order": False, "shape": (len(rows), embeddings.shape[1])}
    np.lib.format.write_array_header_1_0(f, header)
    for _, block in _chunks(embeddings, rows):
        f.write(block.astype("<f4", copy=False).tobytes())


def _write_csv(f, embeddings: np.ndarray, rows: RowSet) -> None:
    dim = embeddings.shape[1]
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(["token"] + [f"d{j}" for j in range(dim)])
    for s, block in _chunks(embeddings, rows):
        writer.writerows([rows.names[s + i], *float_strings(r)] for i, r in enumerate(block))


def _printable(name: str, pad_name: str = PAD_NAME) -> str:
    if name == "":
        return pad_name
    if any(c.isspace() for c in name):
        raise DataError(
            f"token {name!r} contains whitespace, which word2vec files cannot hold "
            "(export as csv or npy instead)"
        )
    return name


def _write_w2v_text(f, embeddings: np.ndarray, rows: RowSet, names: list[str]) -> None:
    f.write(f"{len(rows)} {embeddings.shape[1]}\n")
    for s, block in _chunks(embeddings, rows):
        f.write(
            "".join(f"{names[s + i]} {' '.join(float_strings(r))}\n" for i, r in enumerate(block))
        )


def _write_w2v_binary(f, embeddings: np.ndarray, rows: RowSet, names: list[str]) -> None:
    # word2vec.c layout: "<n> <dim>\n", then per word "<word> " + dim little-endian float32 + "\n".
    f.write(f"{len(rows)} {embeddings.shape[1]}\n".encode())
    for s, block in _chunks(embeddings, rows):
        block = block.astype("<f4", copy=False)
        f.write(
            b"".join(
                names[s + i].encode("utf-8") + b" " + r.tobytes() + b"\n"
                for i, r in enumerate(block)
            )
        )


def projector_paths(path: str) -> tuple[Path, Path, bool]:
    """``(vectors.tsv, metadata.tsv, is_directory)`` for a projector export PATH."""
    if path.endswith(("_", "-", ".")):
        return Path(path + "vectors.tsv"), Path(path + "metadata.tsv"), False
    p = Path(path)
    return p / "vectors.tsv", p / "metadata.tsv", True


def export_outputs(fmt: str, path: str) -> list[Output]:
    """The outputs an export writes (for ``embedcli.outputs.claim_outputs``): one file, or for
    the projector a new directory, or the two files in an existing directory or after a prefix."""
    if fmt != "projector" or path == "-":
        return [Output(path)]
    vec, meta, is_dir = projector_paths(path)
    if is_dir and not os.path.isdir(path):
        return [Output(path, "dir")]
    return [Output(str(vec)), Output(str(meta))]


def _write_projector(embeddings: np.ndarray, rows: RowSet, path: str) -> list[str]:
    if path == "-":
        raise UsageError(
            "the projector export writes two files: give a directory or prefix, not '-'"
        )
    vec_path, meta_path, is_dir = projector_paths(path)
    names = [rows.pad_name if n == "" else n for n in rows.names]
    for n in names:
        if "\t" in n or "\n" in n:
            raise DataError(
                f"token {n!r} contains a tab or newline, which metadata.tsv cannot hold"
            )

    def write(vec: Path, meta: Path) -> None:
        with atomic_write(vec, "w") as fv, atomic_write(meta, "w") as fm:
            for _, block in _chunks(embeddings, rows):
                fv.write("".join("\t".join(float_strings(r)) + "\n" for r in block))
            # Two columns, so the projector reads the first line as column names.
            fm.write("word\tcount\n")
            fm.write("".join(f"{n}\t{c}\n" for n, c in zip(names, rows.counts, strict=True)))

    if is_dir and not os.path.isdir(path):
        # A new directory appears complete or not at all.
        with atomic_dir(path) as tmp:
            write(tmp / vec_path.name, tmp / meta_path.name)
    else:
        write(vec_path, meta_path)
    return [str(vec_path), str(meta_path)]
