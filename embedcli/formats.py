"""Array file layouts written by ``encode``: ``.npy``, ``.npz`` and plain text ids.

- ``.npy``: the padded ``(n, maxlen)`` int32 matrix.
- ``.npz``: ``ids`` (as above), ``labels`` (first label id per row, -1 = none), the ragged
  ``label_ids``/``label_offsets`` for multi-label data and ``label_names`` (unicode array).
- text (``-`` or ``.txt``): one row per line, ids separated by single spaces.

Everything is written through ``atomic_write`` and loads with ``allow_pickle=False``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np

from embedcli.atomic import atomic_write
from embedcli.sequences import EncodedCorpus


def write_ids(
    output: str | Path, ids: np.ndarray, corpus: EncodedCorpus, label_names: Sequence[str]
) -> None:
    """Write padded ids in the layout chosen by the file name (see module docstring)."""
    out = str(output)
    if out == "-" or out.lower().endswith(".txt"):
        with atomic_write(out, "w") as f:
            write_ids_text(f, ids)
    elif out.lower().endswith(".npz"):
        with atomic_write(out, "wb") as f:
            np.savez(
                f,
                ids=ids,
                labels=corpus.first_labels(),
                label_ids=corpus.label_ids,
                label_offsets=corpus.label_offsets,
                label_names=np.array(list(label_names), dtype=np.str_),
            )
    else:
        with atomic_write(out, "wb") as f:
            np.save(f, ids, allow_pickle=False)


def write_ids_text(f: IO[str], ids: np.ndarray, block: int = 4096) -> None:
    """Space-separated ids, one row per line, written in blocks."""
    for lo in range(0, len(ids), block):
        rows = ids[lo : lo + block].tolist()
        f.write("".join(" ".join(map(str, r)) + "\n" for r in rows))


def read_ids_text(lines: Sequence[str]) -> list[list[int]]:
    """Inverse of ``write_ids_text`` (for tests and pipelines)."""
    return [[int(x) for x in line.split()] for line in lines if line.strip() != "" or line == ""]
