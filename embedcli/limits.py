"""Size limits a user may set in the environment, parsed once and checked.

``EMBEDCLI_MEM_LIMIT``: bytes one growing array may hold in RAM (see ``sequences.memory_limit``).
``EMBEDCLI_MAX_LINE``: the longest line (one document) a corpus reader accepts, default 64 MiB.

Both take a byte count with an optional K/M/G suffix (powers of 1024), e.g. ``512M`` or ``1.5G``.
A value that is not a finite size (positive; ``EMBEDCLI_MEM_LIMIT`` may be 0) names the variable in a ``UsageError`` (exit 2).

Left out: per-command limits; the limits are process-wide.
"""

from __future__ import annotations

import math
import os

from embedcli.errors import UsageError

#: default for ``EMBEDCLI_MAX_LINE``: a line (document) longer than this is refused
DEFAULT_MAX_LINE = 64 << 20

#: no size setting above this makes sense (1 PiB); larger values are typos
_MAX_SIZE = 1 << 50

_SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(name: str, text: str, minimum: int = 1) -> int:
    """Bytes from ``text`` ("2G", "512M", "1048576"); a ``UsageError`` naming ``name`` otherwise."""
    value = text.strip()
    for unit in ("iB", "B"):  # "2GB", "2GiB" and "100B" are common spellings
        if value.upper().endswith(unit.upper()):
            value = value[: -len(unit)]
            break
    scale = _SUFFIXES.get(value[-1:].upper(), 1)
    number = value[:-1] if scale > 1 else value
    try:
        size = float(number) * scale
    except ValueError:
        size = math.nan
    if not math.isfinite(size) or size < minimum or size > _MAX_SIZE:
        raise UsageError(
            f"{name} must be a size in bytes between {minimum} and 1P, optionally with a K, M or G "
            f"suffix (e.g. 2G), not {text!r}"
        )
    return int(size)


def env_size(name: str, default: int, minimum: int = 1) -> int:
    """The size in environment variable ``name``, or ``default`` when it is unset or empty."""
    text = os.environ.get(name, "").strip()
    return parse_size(name, text, minimum) if text else default


def max_line_bytes() -> int:
    """The longest corpus line accepted (``EMBEDCLI_MAX_LINE``, default 64 MiB)."""
    return env_size("EMBEDCLI_MAX_LINE", DEFAULT_MAX_LINE)


def memory_limit() -> int:
    """``EMBEDCLI_MEM_LIMIT``, else a quarter of the physical memory (4 GiB if unknown)."""
    try:
        default = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        default = 4 << 30
    # 0 is meaningful: every growing array spills to disk at once (tests and tiny machines use it)
    return env_size("EMBEDCLI_MEM_LIMIT", default, minimum=0)


def check_environment() -> None:
    """Parse every size variable now, so a bad value fails before any work starts."""
    memory_limit()
    max_line_bytes()
