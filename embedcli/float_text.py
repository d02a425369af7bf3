"""Float32 rows as text, compiled: the large-table path of ``exporters.format_rows``.

Every value is written as ``str(np.float32(x))`` writes it (NumPy's Dragon4: the shortest decimal
that reads back as the same float32; positional for ``1e-4 <= |x| < 1e6`` and zero, else
scientific as ``1.5e-05``). The digits are found as ``exporters._shortest`` finds them, one value
at a time in float64: the fewest digits p (9 always suffice for a float32) whose nearest p-digit
decimal lies strictly inside the value's rounding interval. A value float64 cannot decide
(a decimal within ``MARGIN`` of an interval bound, a tie, a power of two with its lopsided
interval, a subnormal, inf or nan) marks its row, and the caller writes that row with ``str``.
So the text is byte for byte the one ``str`` gives (tests/test_float_text.py checks the kernel
against ``str`` and against the NumPy path on random bit patterns and trained tables).

Imported only for large blocks (``exporters.KERNEL_MIN_VALUES``): small exports, like the other
fast commands, never import numba.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: how close (in units of the last digit) to a rounding boundary float64 is not trusted
MARGIN = 1e-5
#: POW10[k + 64] == 10.0**k, correctly rounded
POW10 = np.array([float(f"1e{k}") for k in range(-64, 65)], dtype=np.float64)
#: bytes a value and its separator can take ("-1.2345679e-05," is 15)
SLOT = 20
_SMALLEST_NORMAL = 1.1754943508222875e-38


@njit(cache=True, nogil=True)
def _digits(x: float, pow10: np.ndarray) -> tuple[int, int, int, bool]:
    """``(digits, ndigits, exp10, ok)`` of the positive normal float32 value ``x`` (as float64):
    x's shortest decimal is ``d1.d2..dn * 10**exp10``; ``ok`` is False where float64 cannot
    decide."""
    m, e2 = math.frexp(x)
    if m == 0.5:  # a power of two: the interval below is half as wide
        return 0, 0, 0, False
    e10 = int(math.floor(math.log10(x)))
    scale = pow10[64 + 8 - e10]
    y = x * scale  # nine significant digits before the point
    if y >= 1e9 or y < 1e8:  # log10 was one off next to a power of ten
        e10 += 1 if y >= 1e9 else -1
        scale = pow10[64 + 8 - e10]
        y = x * scale
    half = math.ldexp(0.5, e2 - 24) * scale  # half the float32 spacing, same units
    digits = 0
    ndigits = 0
    for p in range(9, 0, -1):
        unit = pow10[64 + 9 - p]
        t = y / unit
        c = math.floor(t + 0.5)
        gap = abs(c - t) * unit
        if abs(gap - half) < MARGIN * unit:  # too close to the interval's bound to tell
            return 0, 0, 0, False
        if gap >= half:
            if p == 9:  # nine digits always fit: float64 was wrong
                return 0, 0, 0, False
            break
        if abs(t - math.floor(t) - 0.5) < MARGIN:  # a tie between two candidates inside
            return 0, 0, 0, False
        digits = int(c)
        ndigits = p
    if digits >= int(pow10[64 + ndigits]):  # 9.99.. rounded up to 10
        digits //= 10
        e10 += 1
    while ndigits > 1 and digits % 10 == 0:
        digits //= 10
        ndigits -= 1
    return digits, ndigits, e10, True


@njit(cache=True, nogil=True)
def _put_digits(out: np.ndarray, pos: int, dbuf: np.ndarray, ndigits: int, a: int, b: int) -> int:
    """Write digits ``a .. b-1`` (0 = the first) of the ``ndigits`` digits in ``dbuf``, zeros
    past its end; return the new position."""
    for i in range(a, b):
        out[pos] = 48 + (dbuf[i] if i < ndigits else 0)
        pos += 1
    return pos


@njit(cache=True, nogil=True)
def format_block(
    block: np.ndarray, sep: int, out: np.ndarray, row_ends: np.ndarray, pow10: np.ndarray
) -> np.ndarray:
    """Write the rows of the C-contiguous float32 ``block`` into ``out`` (uint8, at least
    ``block.size * SLOT`` bytes): values joined by the byte ``sep``, each row ending in a
    newline; ``row_ends[i]`` = the end of row i. Returns the flat indices (int64, ``i * dim +
    j``) of the values this kernel could not decide: their fields are left empty."""
    n, dim = block.shape
    bad = np.zeros(n * dim, dtype=np.int64)
    nbad = 0
    dbuf = np.zeros(10, dtype=np.int64)
    pos = 0
    for i in range(n):
        for j in range(dim):
            v = block[i, j]
            if j > 0:
                out[pos] = sep
                pos += 1
            neg = math.copysign(1.0, v) < 0
            if v == 0:
                if neg:
                    out[pos] = 45
                    pos += 1
                out[pos] = 48
                out[pos + 1] = 46
                out[pos + 2] = 48
                pos += 3
                continue
            x = abs(float(v))
            digits, nd, e10, ok = 0, 0, 0, False
            if x < np.inf and x >= _SMALLEST_NORMAL:
                digits, nd, e10, ok = _digits(x, pow10)
            if not ok:
                bad[nbad] = i * dim + j
                nbad += 1
                continue
            for k in range(nd - 1, -1, -1):
                dbuf[k] = digits % 10
                digits //= 10
            if neg:
                out[pos] = 45
                pos += 1
            if 1e-4 <= x < 1e6:  # positional (NumPy's float32 rule)
                if e10 >= 0:
                    pos = _put_digits(out, pos, dbuf, nd, 0, e10 + 1)
                    out[pos] = 46
                    pos += 1
                    pos = _put_digits(out, pos, dbuf, nd, e10 + 1, max(nd, e10 + 2))
                else:
                    out[pos] = 48
                    out[pos + 1] = 46
                    pos += 2
                    for _ in range(-e10 - 1):
                        out[pos] = 48
                        pos += 1
                    pos = _put_digits(out, pos, dbuf, nd, 0, nd)
            else:  # scientific: 1e-05, -2.5e-08, 3.4028235e+38
                pos = _put_digits(out, pos, dbuf, nd, 0, 1)
                if nd > 1:
                    out[pos] = 46
                    pos += 1
                    pos = _put_digits(out, pos, dbuf, nd, 1, nd)
                out[pos] = 101
                out[pos + 1] = 45 if e10 < 0 else 43
                pos += 2
                e = abs(e10)
                if e >= 100:
                    out[pos] = 48 + e // 100
                    pos += 1
                out[pos] = 48 + (e // 10) % 10
                out[pos + 1] = 48 + e % 10
                pos += 2
        out[pos] = 10
        pos += 1
        row_ends[i] = pos
    return bad[:nbad]


def format_rows_compiled(block: np.ndarray, sep: str) -> list[str]:
    """``exporters.format_rows`` by the kernel: the same lines, byte for byte."""
    block = np.ascontiguousarray(block, dtype=np.float32)
    n, dim = block.shape
    out = np.empty(max(block.size * SLOT + n, 1), dtype=np.uint8)
    row_ends = np.zeros(n, dtype=np.int64)
    bad = format_block(block, ord(sep), out, row_ends, POW10)
    text = out[: int(row_ends[-1])].tobytes().decode("ascii")
    starts = np.concatenate(([0], row_ends[:-1])).tolist()
    lines = [text[a:b] for a, b in zip(starts, row_ends.tolist(), strict=True)]
    if len(bad):
        rows, cols = np.divmod(bad, dim)
        for i in np.unique(rows).tolist():
            fields = lines[i][:-1].split(sep)
            for j in cols[rows == i].tolist():
                fields[j] = str(block[i, j])
            lines[i] = sep.join(fields) + "\n"
    return lines
