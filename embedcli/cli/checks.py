"""Checks the commands share: ranges of numeric options, the environment, safe standard streams.

Every numeric option declares its range where it is declared: integers with Typer's ``min``/``max``
(so a value too large for int32/int64 is a usage error, exit 2, before any work), floats with
``min``/``max`` (shown in ``--help``) plus ``callback=finite(...)``, the exact check (Click's float
ranges let NaN through and cannot exclude an end). ``start_command`` runs at the top
of the commands that read corpora: it parses the size variables of ``embedcli.limits`` and makes
stdout/stderr unable to fail on a character their encoding lacks.

Cheap to import: no numpy, never numba.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import typer

from embedcli import limits

#: seeds are unsigned 32-bit integers (NumPy's and scikit-learn's common range)
SEED_MAX = 2**32 - 1
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
#: threads beyond this are a typo, not a machine
THREADS_MAX = 1024
#: documents per batch, k labels/neighbours, rows of a table: one million is already absurd
COUNT_MAX = 1_000_000


def finite(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> Callable[[float | None], float | None]:
    """A Typer callback accepting only finite floats in the range ``low..high`` (None passes)."""

    def describe() -> str:
        left = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
        right = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
        return " and ".join(x for x in (left, right) if x)

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        bad = not math.isfinite(value)
        if low is not None and (value < low or (low_open and value == low)):
            bad = True
        if high is not None and (value > high or (high_open and value == high)):
            bad = True
        if bad:
            want = describe()
            raise typer.BadParameter(
                f"{value:g} is not a finite number" + (f" {want}" if want else "")
            )
        return value

    return check


def start_command() -> None:
    """First step of a command that reads corpora: check the environment before any work."""
    safe_stdio()
    limits.check_environment()


def safe_stdio() -> None:
    """stdout/stderr in an encoding that cannot hold every character (``PYTHONIOENCODING=ascii``,
    a C locale) write what they cannot encode as backslash escapes instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding.replace("_", "").startswith("utf"):
            continue
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError, AttributeError):  # closed or detached stream
            pass
