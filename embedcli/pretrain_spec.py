"""The plain data of ``embedcli pretrain`` (no numba): what a run trains (``PretrainSpec``), the
corpus it reads (``PretrainCorpus``), the state a checkpoint holds (``PretrainState``), and
``IdFile``, the encoded corpus kept in a temporary file and read back a chunk at a time.

Reading, counting and encoding run before the Numba runtime is loaded (``embedcli.pretrain``
imports it; about 130 MB of resident memory): the two never add up in the peak.

``IdFile`` holds int32 token ids in an unlinked temporary file in TMPDIR (gone with the process,
even a killed one, as ``GrowableArray``'s spill file). It is written with ``pwrite`` and read with
``preadv`` into the caller's buffer, never memory-mapped: the ids live in the page cache, which
the kernel reclaims, and the resident memory of a run is its tables and buffers, not its corpus.

    >>> f = IdFile()
    >>> f.append(np.array([3, 1, 4, 1, 5], dtype=np.int32))
    >>> f.read(1, 4).tolist(), len(f)
    ([1, 4, 1], 5)
    >>> f.close()

Left out: compression of the ids; sharing one file between processes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import DataError, FormatError, UsageError
from .sequences import temp_space_error
from .subwords import SubwordSpec

METHODS = ("skipgram", "cbow")
MAX_BUCKETS = 2**31 - 1
#: skip-gram's roles: the centre word's rows predict each context word (fastText) or each
#: context word's rows predict the centre word (word2vec.c, gensim)
SG_INPUTS = ("centre", "context")
#: ids per block when an ``IdFile`` is scanned or rewritten
ID_BLOCK = 1 << 20


#: each method's defaults of the settings a ``PretrainSpec`` leaves at ``None`` (measured on the
#: whole imdb text, 14.6M tokens: ``benchmarks/results/pretrain_sg_explore.md``); CBOW keeps
#: fastText's ``sample 1e-4, lr 0.05``
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "skipgram": {"sample": 1e-4, "lr": 0.05},
    "cbow": {"sample": 1e-4, "lr": 0.05},
}
#: skip-gram's default roles ``(without subwords, with subwords)``: word2vec's roles raised
#: WordSim-353 by 0.026 and SimLex-999 by 0.024 over fastText's in the same run (plain words);
#: with subwords they would average a context word's n-gram rows once per pair instead of the
#: centre's once per window, so fastText's roles stay there
SG_INPUT_DEFAULTS = ("context", "centre")


@dataclass(frozen=True)
class PretrainSpec:
    """What ``train_vectors`` trains. ``minn=0`` (or ``maxn=0``) turns subwords off;
    ``threads=0`` uses every core. ``sample``, ``lr`` and ``sg_input`` left at ``None`` take the
    method's :data:`METHOD_DEFAULTS` (a built spec always holds the values)."""

    method: str = "skipgram"
    dim: int = 100
    window: int = 5
    negative: int = 5
    sample: float | None = None
    epochs: int = 5
    lr: float | None = None
    minn: int = 3
    maxn: int = 6
    buckets: int = 2_000_000
    threads: int = 0
    seed: int = 0
    sg_input: str | None = None

    def __post_init__(self) -> None:
        defaults = METHOD_DEFAULTS.get(self.method, METHOD_DEFAULTS["skipgram"])
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.sg_input is None:
            plain = self.method == "skipgram" and not (self.minn > 0 and self.maxn > 0)
            object.__setattr__(self, "sg_input", SG_INPUT_DEFAULTS[0 if plain else 1])

    @property
    def subwords(self) -> SubwordSpec:
        if self.minn > 0 and self.maxn > 0:
            return SubwordSpec(self.minn, self.maxn, self.buckets)
        return SubwordSpec(0, 0, 0)

    def validate(self) -> None:
        """Raise ``UsageError`` (one sentence) for an impossible setting."""
        if self.method not in METHODS:
            raise UsageError(f"method must be skipgram or cbow, not {self.method!r}.")
        for name, lo in (("dim", 1), ("window", 1), ("negative", 1), ("epochs", 1)):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < lo:
                raise UsageError(f"{name} must be an integer of at least {lo}, not {v!r}.")
        if not (self.sample >= 0.0 and np.isfinite(self.sample)):
            raise UsageError(f"sample must be 0 (off) or a positive number, not {self.sample!r}.")
        if not (self.lr > 0.0 and np.isfinite(self.lr)):
            raise UsageError(f"lr must be a positive number, not {self.lr!r}.")
        if self.minn < 0 or self.maxn < 0:
            raise UsageError("minn and maxn must be 0 (no subwords) or positive.")
        if self.minn > 0 and self.maxn > 0:
            if self.maxn < self.minn:
                raise UsageError(f"maxn ({self.maxn}) must be at least minn ({self.minn}).")
            if not 1 <= self.buckets <= MAX_BUCKETS:
                raise UsageError(
                    f"buckets must be between 1 and {MAX_BUCKETS}, not {self.buckets}."
                )
        if self.sg_input not in SG_INPUTS:
            raise UsageError(f"sg_input must be centre or context, not {self.sg_input!r}.")
        if self.threads < 0:
            raise UsageError(f"threads must be 0 (all cores) or positive, not {self.threads}.")


@dataclass
class PretrainCorpus:
    """The trainer's input: in-vocabulary token ids of every document (an array, a memmap, or an
    :class:`IdFile` read a chunk at a time)."""

    ids: np.ndarray | IdFile
    offsets: np.ndarray
    counts: np.ndarray
    words: list[str]

    @classmethod
    def of_vocabulary(
        cls, vocab: Any, ids: np.ndarray | IdFile, offsets: np.ndarray
    ) -> PretrainCorpus:
        """The corpus of ``ids`` numbered after ``vocab``'s reserved rows (padding, ``[UNK]``):
        its words and counts are the vocabulary's from its first word on."""
        first = 1 if vocab.unk_id is None else vocab.unk_id + 1  # after padding and [UNK]
        counts = np.asarray(vocab.counts[first:], dtype=np.int64)
        return cls(ids=ids, offsets=offsets, counts=counts, words=list(vocab.tokens[first:]))


@dataclass
class PretrainState:
    """What a run needs to continue after ``epoch`` epochs exactly where it was (a checkpoint):
    the tables ``win``/``wout`` and, per thread (one row each), its xorshift state ``rng``
    (uint64), its counters ``counts`` (int64: tokens read, updates made) and its loss sum
    ``loss`` (float64); ``seconds`` of training so far. A resumed run with ``threads=1`` reaches
    the uninterrupted run's tables bit for bit."""

    epoch: int
    win: np.ndarray
    wout: np.ndarray
    rng: np.ndarray
    counts: np.ndarray
    loss: np.ndarray
    seconds: float = 0.0

    def check(self, nrows: int, nwords: int, dim: int, epochs: int) -> None:
        """``FormatError`` unless the state fits a run of these tables and epochs."""
        want = {"win": (nrows, dim), "wout": (nwords, dim)}
        threads = len(self.rng)
        want.update(rng=(threads,), counts=(threads, 2), loss=(threads,))
        for name, shape in want.items():
            found = tuple(getattr(self, name).shape)
            if found != shape:
                raise FormatError(f"checkpoint array {name!r} has shape {found}, not {shape}")
        if not 0 <= self.epoch <= epochs or threads < 1:
            raise FormatError(f"checkpoint epoch {self.epoch} is outside 0..{epochs}")


class IdFile:
    """int32 ids in an unlinked temporary file (see the module docstring): ``append`` writes at
    the end, ``write(pos, values)`` anywhere, ``read(lo, hi, out)`` ids ``lo .. hi-1`` into
    ``out`` (or a new array); ``truncate``, ``close``. Safe to read from several threads at once
    (positional reads; the GIL is released meanwhile). A full disk is ``TempSpaceFull``."""

    dtype = np.dtype(np.int32)

    def __init__(self, spill_dir: str | None = None) -> None:
        self.spill_dir = spill_dir
        self.size = 0
        try:
            self._file = tempfile.TemporaryFile(prefix="embedcli-ids-", dir=spill_dir)
        except OSError as exc:
            raise temp_space_error(exc, spill_dir, "the encoded corpus") from None

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __getitem__(self, key: slice) -> np.ndarray:
        """``ids[a:b]``: those ids read into a new array (steps other than 1 are refused)."""
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("an IdFile is read by contiguous slices: ids[a:b]")
        lo, hi, _ = key.indices(self.size)
        return self.read(lo, max(lo, hi))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """All the ids in a new array (the whole corpus in memory: for tests and small data)."""
        out = self.read(0, self.size)
        return out if dtype is None else out.astype(dtype)

    def reserve(self, n: int) -> None:
        """Nothing to do: the file grows as it is written (``GrowableArray``'s interface)."""

    def finish(self) -> IdFile:
        """The file itself (``GrowableArray``'s interface: the builder's result)."""
        return self

    def append(self, values: np.ndarray) -> None:
        self.write(self.size, values)

    def write(self, pos: int, values: np.ndarray) -> None:
        """Write ``values`` as ids ``pos ..`` (``pos`` at most the current length)."""
        data = np.ascontiguousarray(values, dtype=self.dtype)
        view = memoryview(data).cast("B")
        offset = pos * self.dtype.itemsize
        try:
            while len(view):
                n = os.pwrite(self._file.fileno(), view, offset)
                view, offset = view[n:], offset + n
        except OSError as exc:
            raise temp_space_error(exc, self.spill_dir, "the encoded corpus") from None
        self.size = max(self.size, pos + len(data))

    def read(self, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
        """Ids ``lo .. hi-1``: a view of the front of ``out`` when given, else a new array."""
        if not 0 <= lo <= hi <= self.size:
            raise IndexError(f"ids {lo}..{hi} outside 0..{self.size}")
        buf = np.empty(hi - lo, dtype=self.dtype) if out is None else out[: hi - lo]
        view = memoryview(buf).cast("B")
        offset, got = lo * self.dtype.itemsize, 0
        while got < len(view):
            n = os.preadv(self._file.fileno(), [view[got:]], offset + got)
            if n <= 0:
                raise DataError("the temporary file of the encoded corpus was cut short")
            got += n
        return buf

    def blocks(self, block: int = ID_BLOCK) -> Iterator[tuple[int, np.ndarray]]:
        """``(start, ids)`` over the whole file, ``block`` ids at a time (one buffer reused)."""
        buf = np.empty(min(block, max(self.size, 1)), dtype=self.dtype)
        for lo in range(0, self.size, block):
            yield lo, self.read(lo, min(lo + block, self.size), buf)

    def truncate(self, n: int) -> None:
        self._file.truncate(n * self.dtype.itemsize)
        self.size = n

    def close(self) -> None:
        self._file.close()
