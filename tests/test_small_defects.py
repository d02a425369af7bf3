"""Issue #8 section 5: reader options of predict/evaluate, gzip on stdin, the CSV hint, info's
number formatting, a quiet build-vocab --json, and vectorised text exports (byte-identical)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import embedcli.exporters as ex


# -- text exports: vectorised, byte for byte what the per-value formatting wrote --------------------
def _old_rows(block: np.ndarray, sep: str) -> list[str]:
    """Today's per-value formatting (``str(np.float32(x))``), the reference."""
    return [sep.join(map(str, np.asarray(r, np.float32))) + "\n" for r in block]


def _hostile_table() -> np.ndarray:
    rng = np.random.default_rng(7)
    specials = np.array(
        [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            0.1,
            1 / 3,
            1.00390625,
            1e-4,
            9.999999e-05,
            0.00010000001,
            1023.99994,
            1024.0,
            999.99994,
            9.9999995,
            1e-5,
            -2.5e-08,
            1e-38,
            1e-40,
            1e-45,
            -1e-45,
            3.4028235e38,
            -3.4028235e38,
            1e30,
            1e-30,
            16777217.0,
            8388607.5,
            123456.7,
            1e16,
            1e15,
        ],
        np.float32,
    )
    pts = np.concatenate([10.0 ** np.arange(-6, 5), 2.0 ** np.arange(-16, 12)]).astype(np.float32)
    around = np.concatenate(
        [np.nextafter(pts, np.float32(0)), pts, np.nextafter(pts, np.float32(np.inf))]
    )
    bits = rng.integers(0, 2**32, size=3000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    bits = bits[np.isfinite(bits)]
    k = rng.integers(-20, 12, size=3000).astype(float)
    few_bits = rng.integers(1, 2**10, size=3000) * np.exp2(k) * rng.choice([-1, 1], size=3000)
    normal = rng.standard_normal(30000) * 0.3
    tiny = rng.uniform(-0.01, 0.01, 3000)
    values = np.concatenate(
        [specials, -specials, around, -around, bits, few_bits, normal, tiny]
    ).astype(np.float32)
    values = values[: len(values) // 20 * 20]
    return rng.permutation(values).reshape(-1, 20)


@pytest.mark.parametrize("sep", [" ", ",", "\t"])
def test_format_rows_is_byte_identical_to_per_value_str(sep):
    table = _hostile_table()
    assert ex.format_rows(table, sep) == _old_rows(table, sep)
    assert ex.format_rows(table[:0], sep) == []
    assert ex.format_rows(table[:1, :1], sep) == _old_rows(table[:1, :1], sep)


NAMES = ["", "[UNK]", "the", "café", 'q"uote', "com,ma", "ta\tb", "new\nline", "cr\rx", " sp"]


def _old_export(fmt: str, E: np.ndarray, rows: ex.RowSet) -> dict[str, str]:
    """The exporters as they were before vectorising (csv.writer and str per value)."""
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["token"] + [f"d{j}" for j in range(E.shape[1])])
        w.writerows([rows.names[i], *map(str, E[i])] for i in range(len(rows)))
        return {"e.out": out.getvalue()}
    if fmt == "word2vec":
        names = [ex._printable(n) for n in rows.names]
        head = f"{len(rows)} {E.shape[1]}\n"
        return {
            "e.out": head
            + "".join(f"{names[i]} {' '.join(map(str, E[i]))}\n" for i in range(len(rows)))
        }
    names = [ex.PAD_NAME if n == "" else n for n in rows.names]
    return {
        "vectors.tsv": "".join("\t".join(map(str, r)) + "\n" for r in E),
        "metadata.tsv": "word\tcount\n"
        + "".join(f"{n}\t{c}\n" for n, c in zip(names, rows.counts)),
    }


@pytest.mark.parametrize("fmt", ["csv", "word2vec", "projector"])
def test_text_exports_are_byte_identical_to_before(tmp_path, fmt):
    E = _hostile_table()[:5000]
    names = NAMES if fmt == "csv" else [n for n in NAMES if not any(c.isspace() for c in n)]
    tokens = names + [f"w{i}" for i in range(len(E) - len(names) - 7)]
    rows = ex.select_rows(tokens, len(E), first_word=2, counts=list(range(len(tokens))))
    old_chunk = ex.CHUNK_ROWS
    ex.CHUNK_ROWS = 1000  # several blocks
    try:
        target = tmp_path / ("out/" if fmt == "projector" else "e.out")
        ex.export_embeddings(E, rows, fmt, target)
    finally:
        ex.CHUNK_ROWS = old_chunk
    want = _old_export(fmt, E, rows)
    for name, text in want.items():
        path = tmp_path / "out" / name if fmt == "projector" else tmp_path / name
        assert path.read_bytes() == text.encode("utf-8"), name


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 6), st.integers(1, 8)),
        elements=st.floats(width=32, allow_nan=False),
    )
)
def test_format_rows_matches_str_on_any_float32(block):
    assert ex.format_rows(block, " ") == _old_rows(block, " ")
