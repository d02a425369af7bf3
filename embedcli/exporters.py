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
- ``npz``: ``embeddings`` (the rows, as npy) and, for a classifier, the layers after the pooling
  as Keras ``Dense`` holds them: ``out_W`` (inputs x outputs), ``out_b``, with ``--hidden``
  ``hidden_W``, ``hidden_b`` (ReLU), and the strings ``pool``, ``objective`` (softmax: a softmax
  Dense; binary: one sigmoid unit = P(second label); multilabel: sigmoids) and ``labels``;
  ``maxlen`` (flatten pooling). ``np.load(path)`` reads it with allow_pickle left False.
- ``csv``: header ``token,d0,d1,...``, one row per token.
- ``word2vec`` / ``word2vec-binary``: the formats of the original word2vec tool, read by gensim
  ``KeyedVectors.load_word2vec_format(path, binary=...)``.
- ``projector``: ``vectors.tsv`` + ``metadata.tsv`` for the TensorBoard Embedding Projector
  (projector.tensorflow.org "Load"). PATH is a directory (created if missing) unless its name ends
  with ``_``, ``-`` or ``.``, in which case it is a prefix: ``out/words_`` -> ``out/words_vectors.tsv``.
  A directory also gets ``projector_config.pbtxt`` naming the two files, so ``tensorboard
  --logdir PATH`` shows the embedding in its Projector tab.

Every file goes through ``atomic_write``: an error leaves no partial file behind.

    >>> float_strings(np.array([0.1, 1.0, -2.5e-08], np.float32))
    ['0.1', '1.0', '-2.5e-08']

Left out: GloVe's header-less text, fastText ``.bin``, HDF5, quantized exports.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedcli.atomic import atomic_dir, atomic_write
from embedcli.errors import DataError, UsageError
from embedcli.outputs import Output

EXPORT_FORMATS = ("npy", "npz", "csv", "word2vec", "word2vec-binary", "projector")
PAD_NAME = "<pad>"
#: rows formatted per write call: bounds memory on a million-row table
CHUNK_ROWS = 4096
#: blocks of at least this many values are formatted by the compiled kernel
#: (``embedcli.float_text``, 3-4x faster); smaller ones here, without importing numba
KERNEL_MIN_VALUES = 50_000


def float_strings(values: np.ndarray) -> list[str]:
    """Shortest round-trip decimal strings of float32 values."""
    return list(map(str, np.asarray(values, dtype=np.float32).ravel()))


#: values whose magnitude is in this range take the vectorised path of ``format_rows`` (zeros
#: are special-cased); the others, and the rare value too close to a rounding boundary for
#: float64 arithmetic to decide, are formatted one by one with ``str(np.float32(x))``
_FAST_MIN, _FAST_MAX = 1e-4, 1024.0
#: bytes per formatted value and its separator ('-0.00012345679' is 14 characters)
_SLOT = 16
#: how close (in units of the last digit) to a rounding boundary float64 is not trusted
_MARGIN = 1e-5
_E10_MIN, _E10_MAX = -4, 3  # decimal exponents of the fast range
_POW10F = 10.0 ** np.arange(-12, 13)  # _POW10F[12 + k] == 10**k, correctly rounded


def _shortest(x32: np.ndarray) -> tuple[np.ndarray, ...]:
    """Shortest decimal that reads back as each float32 in ``[_FAST_MIN, _FAST_MAX)``, as
    NumPy's Dragon4 prints it: the fewest digits whose nearest decimal lies inside the value's
    rounding interval. Returns ``(digits, ndigits, exp10, ok)`` with value =
    d1.d2..dn * 10**exp10; ``ok`` is False where float64 cannot decide (a decimal within
    ``_MARGIN`` of a rounding boundary, a tie, a power of two with its lopsided interval).

    A value with a p-digit decimal inside its interval has a (p + 1)-digit one too, so the
    search starts at 8 digits (most float32 values need 7 to 9) and moves down or up."""
    x = x32.astype(np.float64)
    f, e2 = np.frexp(x)
    e10 = np.floor(np.log10(x)).astype(np.int64)
    scale = _POW10F[12 + 8 - e10]
    y = x * scale  # nine significant digits before the point
    off = (y >= 1e9).astype(np.int64) - (y < 1e8).astype(np.int64)
    if off.any():  # log10 was one off next to a power of ten
        e10 += off
        scale = _POW10F[12 + 8 - e10]
        y = x * scale
    half = np.ldexp(0.5, e2 - 24) * scale  # half the float32 spacing, in the same units
    ok = f != 0.5  # a power of two: the interval below is half as wide
    n = len(x)
    digits = np.zeros(n, np.int64)
    ndigits = np.full(n, 9, np.int64)

    def fit(p: int, yy: np.ndarray, hh: np.ndarray) -> tuple[np.ndarray, ...]:
        unit = 10.0 ** (9 - p)
        t = yy / unit
        c = np.rint(t)
        gap = np.abs(c - t) * unit
        inside = gap < hh
        frac = np.abs(t - np.floor(t) - 0.5)
        unsure = (np.abs(gap - hh) < _MARGIN * unit) | (frac < _MARGIN)
        return inside, c, unsure

    inside, c, unsure = fit(8, y, half)
    ok &= ~unsure
    up = np.flatnonzero(~inside)
    down = np.flatnonzero(inside)
    digits[down] = c[down]
    ndigits[down] = 8
    if len(up):
        inside9, c9, unsure9 = fit(9, y[up], half[up])
        digits[up] = c9
        ok[up[unsure9 | ~inside9]] = False
    for p in range(7, 0, -1):
        if not len(down):
            break
        inside, c, unsure = fit(p, y[down], half[down])
        ok[down[unsure]] = False
        better = down[inside]
        digits[better] = c[inside]
        ndigits[better] = p
        down = better
    carry = digits >= 10.0**ndigits  # 9.99.. rounded up to 10.0
    digits = np.where(carry, digits // 10, digits)
    e10 = e10 + carry
    return digits, ndigits, e10, ok


#: source columns of ``_positional_bytes``: nine zero-padded digits, then '0', '.', '-', padding
_SRC_ZERO, _SRC_DOT, _SRC_MINUS, _SRC_PAD = 9, 10, 11, 12


def _layout(neg: bool, e: int, p: int) -> list[int]:
    """Source columns of one positional string: sign, integer part, '.', fraction."""

    def digit(i: int) -> int:
        return 9 - p + i if 0 <= i < p else _SRC_ZERO

    cols = [_SRC_MINUS] if neg else []
    cols += [digit(i) for i in range(e + 1)] if e >= 0 else [_SRC_ZERO]
    cols.append(_SRC_DOT)
    cols += [digit(e + 1 + k) for k in range(max(p - e - 1, 1))]
    return cols + [_SRC_PAD] * (_SLOT - len(cols))


#: layout of every (sign, exponent, digit count), indexed as in ``_positional_bytes``
_LAYOUTS = [
    np.array(_layout(neg, e, p), dtype=np.intp)
    for neg in (False, True)
    for e in range(_E10_MIN, _E10_MAX + 1)
    for p in range(1, 10)
]
#: zero-padded 4-digit strings of 0..9999
_DIGITS4 = np.frombuffer("".join(f"{i:04d}" for i in range(10000)).encode(), np.uint8).reshape(
    10000, 4
)


def _positional_bytes(
    neg: np.ndarray, digits: np.ndarray, ndigits: np.ndarray, e10: np.ndarray
) -> np.ndarray:
    """``(n, _SLOT)`` uint8: NumPy's positional float strings ('-0.0123', '12.5', '3.0'),
    zero-padded on the right (exponents in ``_E10_MIN.._E10_MAX``)."""
    n = len(digits)
    out = np.empty((n, _SLOT), np.uint8)
    if not n:
        return out
    src = np.empty((n, 13), np.uint8)
    src[:, 0] = digits // 100_000_000 + 48
    src[:, 1:5] = _DIGITS4[(digits // 10000) % 10000]
    src[:, 5:9] = _DIGITS4[digits % 10000]
    src[:, 9:] = np.frombuffer(b"0.-\0", np.uint8)
    layout = ((neg * (_E10_MAX - _E10_MIN + 1) + (e10 - _E10_MIN)) * 9 + (ndigits - 1)).astype(
        np.int16
    )
    order = np.argsort(layout, kind="stable")
    sorted_layout = layout[order]
    bounds = np.flatnonzero(np.diff(sorted_layout)) + 1
    for a, b in zip(np.r_[0, bounds].tolist(), np.r_[bounds, n].tolist(), strict=True):
        rows = order[a:b]
        out[rows] = src[rows][:, _LAYOUTS[int(sorted_layout[a])]]
    return out


def format_rows(block: np.ndarray, sep: str) -> list[str]:
    """The float32 rows of ``block`` as text lines: every value as ``str(np.float32(x))``
    writes it (the shortest string that reads back to the same float32), joined by ``sep``,
    each line ending in a newline. A block of ``KERNEL_MIN_VALUES`` or more goes to the compiled
    kernel of ``embedcli.float_text``; a smaller one is vectorised here: values between 1e-4 and
    1024 in magnitude are formatted by whole-array arithmetic, the rest one by one. The text is
    the same byte for byte (tests/test_small_defects.py and tests/test_float_text.py check
    every path against ``str``)."""
    block = np.asarray(block, dtype=np.float32)
    n, dim = block.shape
    if n == 0:
        return []
    if dim == 0:
        return ["\n"] * n
    if block.size >= KERNEL_MIN_VALUES:
        from embedcli.float_text import format_rows_compiled

        return format_rows_compiled(block, sep)
    flat = block.ravel()
    slots = np.zeros((flat.size, _SLOT + 1), np.uint8)
    mag = np.abs(flat)
    mag64 = mag.astype(np.float64)  # numpy's own test for positional notation is in float64
    fast = (mag64 >= _FAST_MIN) & (mag64 < _FAST_MAX)
    idx = np.flatnonzero(fast)
    if len(idx):
        digits, ndigits, e10, ok = _shortest(mag[idx])
        good = idx[ok]
        slots[good, :_SLOT] = _positional_bytes(
            np.signbit(flat[good]), digits[ok], ndigits[ok], e10[ok]
        )
        fast[idx[~ok]] = False
    zero = flat == 0
    slots[zero & ~np.signbit(flat), :3] = np.frombuffer(b"0.0", np.uint8)
    slots[zero & np.signbit(flat), :4] = np.frombuffer(b"-0.0", np.uint8)
    for j in np.flatnonzero(~fast & ~zero).tolist():
        text = str(flat[j]).encode("ascii")
        slots[j, : len(text)] = np.frombuffer(text, np.uint8)
    length = np.count_nonzero(slots, axis=1)
    slots[np.arange(flat.size), length] = ord(sep)
    last = np.arange(1, n + 1) * dim - 1
    slots[last, length[last]] = 10  # each row ends in a newline
    ends = np.cumsum((length + 1).reshape(n, dim).sum(axis=1))
    text = slots[slots != 0].tobytes().decode("ascii")
    starts = np.concatenate(([0], ends[:-1]))
    return [text[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


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
    embeddings: np.ndarray,
    rows: RowSet,
    fmt: str,
    path: str | Path,
    layers: dict[str, np.ndarray] | None = None,
) -> list[str]:
    """Write rows ``rows.start .. rows.stop-1`` of ``embeddings`` in format ``fmt`` to ``path``;
    returns the paths written. ``layers``: the extra arrays of an ``npz`` export."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    if embeddings.ndim != 2:
        raise DataError("the embedding table must be 2-D")
    path = str(path)
    if fmt == "npy":
        with atomic_write(path, "wb") as f:
            _write_npy(f, embeddings, rows)
        return [path]
    if fmt == "npz":
        with atomic_write(path, "wb") as f:
            table = np.empty((len(rows), embeddings.shape[1]), np.float32)
            for s, block in _chunks(embeddings, rows):
                table[s : s + len(block)] = block
            np.savez(f, embeddings=table, **(layers or {}))
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
        names = rows.names[s : s + len(block)]
        if not dim:
            writer.writerows([name] for name in names)
            continue
        lines = format_rows(block, ",")
        f.write("".join(f"{_csv_field(name)},{line}" for name, line in zip(names, lines)))


#: characters that make csv.writer quote a field
_CSV_SPECIAL = re.compile('[,"\r\n]')


def _csv_field(name: str) -> str:
    """``name`` as csv.writer writes it as the first field of a longer row."""
    if not _CSV_SPECIAL.search(name):
        return name
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([name, ""])
    return out.getvalue()[:-2]  # drop the empty second field's "," and the line end


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
        lines = format_rows(block, " ")
        f.write("".join(f"{names[s + i]} {line}" for i, line in enumerate(lines)))


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


#: TensorBoard's projector plugin reads this file in a log directory (a ProjectorConfig message)
PROJECTOR_CONFIG = "projector_config.pbtxt"


def projector_config(vectors: str, metadata: str) -> str:
    """The ``projector_config.pbtxt`` text (protobuf text format) naming the two TSV files."""
    return (
        "embeddings {\n"
        '  tensor_name: "embedcli"\n'
        f'  tensor_path: "{vectors}"\n'
        f'  metadata_path: "{metadata}"\n'
        "}\n"
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
    config = [Output(str(Path(path) / PROJECTOR_CONFIG))] if is_dir else []
    return [Output(str(vec)), Output(str(meta)), *config]


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

    def write(vec: Path, meta: Path, config: Path | None) -> None:
        with atomic_write(vec, "w") as fv, atomic_write(meta, "w") as fm:
            for _, block in _chunks(embeddings, rows):
                fv.write("".join(format_rows(block, "\t")))
            # Two columns, so the projector reads the first line as column names.
            fm.write("word\tcount\n")
            fm.write("".join(f"{n}\t{c}\n" for n, c in zip(names, rows.counts, strict=True)))
        if config is not None:
            with atomic_write(config, "w") as fc:
                fc.write(projector_config(vec.name, meta.name))

    if is_dir and not os.path.isdir(path):
        # A new directory appears complete or not at all.
        with atomic_dir(path) as tmp:
            write(tmp / vec_path.name, tmp / meta_path.name, tmp / PROJECTOR_CONFIG)
    else:
        write(vec_path, meta_path, Path(path) / PROJECTOR_CONFIG if is_dir else None)
    written = [str(vec_path), str(meta_path)]
    return written + ([str(Path(path) / PROJECTOR_CONFIG)] if is_dir else [])
