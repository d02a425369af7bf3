"""The compiled float formatting of large text exports (``embedcli.float_text``) against its twins:
``str(np.float32(x))`` per value (the reference) and the NumPy path of ``exporters.format_rows``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from embedcli import exporters as ex
from embedcli.float_text import format_rows_compiled


def str_rows(block: np.ndarray, sep: str) -> list[str]:
    return [sep.join(map(str, row)) + "\n" for row in block]


def numpy_rows(block: np.ndarray, sep: str, monkeypatch) -> list[str]:
    monkeypatch.setattr(ex, "KERNEL_MIN_VALUES", 1 << 62)
    try:
        return ex.format_rows(block, sep)
    finally:
        monkeypatch.undo()


def test_any_bit_pattern_is_written_as_str_writes_it():
    rng = np.random.default_rng(5)
    # every finite float32 is equally likely: subnormals, huge, tiny, both signs
    block = rng.integers(0, 2**32, size=(3000, 40), dtype=np.uint64).astype(np.uint32)
    block = block.view(np.float32)
    block[~np.isfinite(block)] = np.float32(0.5)
    assert format_rows_compiled(block, ",") == str_rows(block, ",")


def test_boundaries_of_notation_and_special_values():
    f = np.float32
    edges = [1e-4, 1e6, 1e16, 1e-5, 1e-45, 2.0**-126, 3.3e38, 0.1, 1.0, 1024.0]
    values = [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        np.nan,
        9.999999,
        99999.99,
        1.2345679e11,
        0.5,
        3.4028235e38,
    ]
    for e in edges:
        x = f(e)
        values += [x, np.nextafter(x, f(0)), np.nextafter(x, f(np.inf))]
    block = np.array(values, dtype=np.float32)
    block = np.concatenate([block, -block]).reshape(2, -1)
    got = format_rows_compiled(block, "\t")
    assert got == str_rows(block, "\t")
    assert "999999.94" in got[0] and "1e+06" in got[0] and "1e-04" in got[0]


@pytest.mark.parametrize("sep", [" ", ",", "\t"])
def test_trained_like_table_matches_str_and_the_numpy_path(sep, monkeypatch):
    rng = np.random.default_rng(0)
    block = (rng.standard_normal((2000, 100)) * 0.3).astype(np.float32)
    block[::7] = 0  # untouched bucket rows
    block[1::11, :5] = rng.uniform(-1e-5, 1e-5, (len(block[1::11]), 5))  # scientific notation
    want = str_rows(block, sep)
    assert format_rows_compiled(block, sep) == want
    assert numpy_rows(block, sep, monkeypatch) == want
    assert ex.format_rows(block, sep) == want  # 200,000 values: the kernel's path


def test_format_rows_takes_the_kernel_for_large_blocks_only(monkeypatch):
    calls = []
    import embedcli.float_text as ft

    real = ft.format_rows_compiled
    monkeypatch.setattr(ft, "format_rows_compiled", lambda b, s: calls.append(b.size) or real(b, s))
    ex.format_rows(np.ones((10, 10), np.float32), ",")
    big = np.full((ex.KERNEL_MIN_VALUES // 100 + 1, 100), 0.25, np.float32)
    assert ex.format_rows(big, ",") == str_rows(big, ",")
    assert calls == [big.size]


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 5), st.integers(1, 9)),
        elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
    )
)
def test_kernel_matches_str_on_any_float32(block):
    assert format_rows_compiled(block, " ") == str_rows(block, " ")
