"""Documents read so far, for the live "reading … N documents" line while a corpus is read.

The reading process and each forked shard worker publish their reader's count into their own
slot of one anonymous shared mapping (created at import, so workers forked later share it); one
writer per slot, so no lock is needed, and the total is the sum of the slots. Counts are
published every few thousand documents, never per document.
"""

from __future__ import annotations

import mmap
import struct

_SLOTS = 256
_MAP = mmap.mmap(-1, 8 * _SLOTS)  # MAP_SHARED | MAP_ANONYMOUS: inherited by forked workers
_slot = 0  # this process's slot: 0 for the reading process, 1.. for shard workers


def reset() -> None:
    """Start a new count (the caller is about to read a corpus)."""
    _MAP[:] = bytes(8 * _SLOTS)


def use_worker_slot(index: int) -> None:
    """Called in a forked shard worker: count into the slot of shard ``index`` from zero."""
    global _slot
    _slot = 1 + index % (_SLOTS - 1)
    struct.pack_into("q", _MAP, 8 * _slot, 0)


def publish(documents: int) -> None:
    """This process's current reader has read ``documents`` documents."""
    struct.pack_into("q", _MAP, 8 * _slot, documents)


def total() -> int:
    """Documents read by this process and its shard workers since the last ``reset``."""
    return sum(struct.unpack_from(f"{_SLOTS}q", _MAP))
