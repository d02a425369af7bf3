"""Array file layouts written by ``encode``: ``.npy``, ``.npz`` and plain text ids.

- ``.npy``: the padded ``(n, maxlen)`` int32 matrix.
- ``.npz``: ``ids`` (as above), ``labels`` (first label id per row, -1 = none), the ragged
  ``label_ids``/``label_offsets`` for multi-label data and ``label_names`` (unicode array).
- text (``-`` or ``.txt``): one row per line, ids separated by single spaces.

Everything is written through ``atomic_write`` and loads with ``allow_pickle=False``.
``write_encoded`` streams the padded matrix in row blocks (the ``.npy`` header first, as
``np.save`` writes it), so the matrix itself is never in memory: the same bytes as ``write_ids``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from embedcli.atomic import atomic_write
from embedcli.sequences import EncodedCorpus, iter_padded

Blocks = Iterable[tuple[int, np.ndarray]]


def write_ids(
    output: str | Path, ids: np.ndarray, corpus: EncodedCorpus, label_names: Sequence[str]
) -> None:
    """Write padded ids in the layout chosen by the file name (see module docstring)."""
    _write(output, ids.shape, ids.dtype, [(0, ids)], corpus, label_names)


def write_encoded(
    output: str | Path,
    corpus: EncodedCorpus,
    width: int,
    label_names: Sequence[str],
    **pad: Any,
) -> tuple[int, int]:
    """Pad ``corpus`` to ``width`` (``pad``: padding, truncating, value) block by block, straight
    into the file; returns the matrix shape."""
    dtype = np.dtype(pad.pop("dtype", "int32"))
    shape = (corpus.n_docs, width)
    blocks = iter_padded(corpus.tokens, corpus.offsets, width, dtype=dtype, **pad)
    _write(output, shape, dtype, blocks, corpus, label_names)
    return shape


def _write(
    output: str | Path,
    shape: tuple[int, ...],
    dtype: np.dtype,
    blocks: Blocks,
    corpus: EncodedCorpus,
    label_names: Sequence[str],
) -> None:
    out = str(output)
    if out == "-" or out.lower().endswith(".txt"):
        with atomic_write(out, "w") as f:
            for _lo, rows in blocks:
                write_ids_text(f, rows)
    elif out.lower().endswith(".npz"):
        with atomic_write(out, "wb") as f:
            # what np.savez does, with the ids entry written in blocks
            with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
                with z.open("ids.npy", "w", force_zip64=True) as entry:
                    _write_npy(entry, shape, dtype, blocks)
                for name, value in (
                    ("labels", corpus.first_labels()),
                    ("label_ids", corpus.label_ids),
                    ("label_offsets", corpus.label_offsets),
                    ("label_names", np.array(list(label_names), dtype=np.str_)),
                ):
                    with z.open(f"{name}.npy", "w", force_zip64=True) as entry:
                        np.lib.format.write_array(entry, np.asarray(value), allow_pickle=False)
    else:
        with atomic_write(out, "wb") as f:
            _write_npy(f, shape, dtype, blocks)


def _write_npy(f: IO[bytes], shape: tuple[int, ...], dtype: np.dtype, blocks: Blocks) -> None:
    """A C-order ``.npy`` file from row blocks (byte for byte what ``np.save`` writes)."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    try:
        np.lib.format.write_array_header_1_0(f, header)
    except ValueError:  # a header over 64 KiB: format 2.0, as np.save falls back to
        np.lib.format.write_array_header_2_0(f, header)
    for _lo, rows in blocks:
        f.write(memoryview(np.ascontiguousarray(rows, dtype=dtype)).cast("B"))


def write_ids_text(f: IO[str], ids: np.ndarray, block: int = 4096) -> None:
    """Space-separated ids, one row per line, written in blocks."""
    for lo in range(0, len(ids), block):
        rows = ids[lo : lo + block].tolist()
        f.write("".join(" ".join(map(str, r)) + "\n" for r in rows))


def read_ids_text(lines: Sequence[str]) -> list[list[int]]:
    """Inverse of ``write_ids_text`` (for tests and pipelines)."""
    return [[int(x) for x in line.split()] for line in lines if line.strip() != "" or line == ""]
