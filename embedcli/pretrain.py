"""Word vectors from unlabelled text: word2vec / fastText skip-gram and CBOW with negative sampling,
optionally with fastText's subwords (the library side of ``embedcli pretrain``).

``train_vectors(corpus, spec)`` takes an encoded corpus (int32 ids of the in-vocabulary tokens,
int64 document offsets, the counts and the words) and returns ``TrainedVectors``. The arithmetic
is fastText's (see ``embedcli.pretrain_kernels``): input rows initialised uniform in
``(-1/dim, 1/dim)``, output rows zero, effective window drawn in ``1 .. window`` per position,
frequent words kept with probability ``sqrt(t/f) + t/f`` (``f = count / total count``), noise words
from the unigram counts to the power 0.75 (word2vec's; fastText uses 0.5), a learning rate that
decays linearly to zero over all epochs, the gradient added unscaled to every input row.
Skip-gram without subwords trains with word2vec's roles by default (``sg_input="context"``: each
context word's rows predict the centre word; :data:`SG_INPUT_DEFAULTS`), with subwords with
fastText's (the centre's rows predict each context word).

Subwords: a word's input rows are its own row and the rows of its character n-grams
(``embedcli.subwords``); its hidden vector and its final vector are their mean. Only the buckets
that some vocabulary word uses get a row (the compact table): memory is bounded by the vocabulary,
not by ``buckets`` (fastText allocates all 2,000,000 rows: 800 MB at dim 100).

Threads: ``spec.threads`` contiguous slices of the documents (balanced by tokens), each trained by
its own thread with its own random state (``seed + thread``), Hogwild; ``threads=1`` with a seed
is bit-reproducible. ``stats["words_per_second"]`` = tokens read (kept or discarded by
subsampling) over all epochs / training seconds, all threads together (fastText prints it per
thread); ``stats["prepare_seconds"]`` (checks, subword hashing, tables, initialisation) and
``stats["compose_seconds"]`` (the final word vectors) are apart.

    >>> import numpy as np
    >>> corpus = PretrainCorpus(ids=np.array([0, 1, 0, 1], dtype=np.int32),
    ...     offsets=np.array([0, 4], dtype=np.int64), counts=np.array([2, 2]), words=["a", "b"])
    >>> tv = train_vectors(corpus, PretrainSpec(dim=4, minn=0, threads=1, sample=0))
    >>> tv.vectors.shape, tv.stats["tokens"]
    ((2, 4), 20)

Memory: the corpus' ids may be an array (used in place, a memmap too) or an
:class:`~embedcli.pretrain_spec.IdFile` (what ``embedcli pretrain`` passes): then each thread reads
the chunk it trains next into its own buffer of about ``CHUNK_TOKENS`` ids, so the resident memory
is the tables, the vocabulary and those buffers, not the corpus; the tokens and their order are the
same, and so is the training, bit for bit.

Checkpoints: every ``checkpoint_every`` epochs the threads meet and the caller gets a
``PretrainState`` to save; ``resume=`` continues one (``embedcli.pretrain_checkpoint`` stores it).

Left out: hierarchical softmax, word n-grams.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import pretrain_kernels as pk
from .errors import DataError, FormatError
from .pretrain_spec import (  # noqa: F401 - re-exported: the trainer's types live there
    MAX_BUCKETS,
    METHOD_DEFAULTS,
    METHODS,
    SG_INPUT_DEFAULTS,
    SG_INPUTS,
    IdFile,
    PretrainCorpus,
    PretrainSpec,
    PretrainState,
)
from .resources import available_cores
from .sequences import word_ngram_hashes
from .subwords import SubwordSpec, ragged_subword_buckets

#: a thread trains its slice in kernel calls of about this many tokens
CHUNK_TOKENS = 1 << 17
#: the noise distribution's power of the unigram counts: word2vec's 0.75, not fastText's 0.5
#: (CBOW on the whole imdb text: 0.5 gave WordSim-353 0.430 against 0.444-0.449; README)
NOISE_POWER = 0.75


@dataclass
class TrainedVectors:
    words: list[str]
    counts: np.ndarray
    vectors: np.ndarray
    word_rows: np.ndarray
    subwords: SubwordSpec
    subword_buckets: np.ndarray
    subword_rows: np.ndarray
    stats: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- tables


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """fastText's ``initTableDiscard``: keep word ``w`` with ``sqrt(t/f) + t/f`` (capped at 1),
    ``f = counts[w] / counts.sum()``; all 1 when ``sample`` is 0. float32."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0.0:
        return np.ones(len(counts), dtype=np.float32)
    f = counts / max(counts.sum(), 1.0)
    with np.errstate(divide="ignore"):
        r = np.where(f > 0, sample / np.maximum(f, 1e-300), np.inf)
    return np.minimum(np.sqrt(r) + r, 1.0).astype(np.float32)


def noise_table(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Alias table ``(prob float32, idx int32)`` of the noise distribution ``counts ** 0.75``."""
    w = np.asarray(counts, dtype=np.float64) ** NOISE_POWER
    return pk.build_alias(np.ascontiguousarray(w))


def input_rows(
    words: list[str], sub: SubwordSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each word's input rows: ``(inputs int32, input_offsets int64, share float32, buckets)``:
    word ``w``'s rows are ``w`` then ``nwords + j`` for each of its n-gram buckets, ``j`` its index
    in ``buckets`` (sorted unique buckets used by some word: the compact table). ``share`` is
    ``sum(multiplicity ** 2) / len(rows)`` per word: 1 unless a bucket repeats in the word."""
    n = len(words)
    if not sub.enabled or n == 0:
        return (
            np.arange(n, dtype=np.int32),
            np.arange(n + 1, dtype=np.int64),
            np.ones(n, dtype=np.float32),
            np.zeros(0, dtype=np.int64),
        )
    # the n-gram hashes by a kernel over the UTF-8 bytes: no n-gram string is built (the
    # strings of a 40k-word vocabulary took 9 s and most of the peak memory)
    hashes, offsets = word_ngram_hashes(words, sub.minn, sub.maxn)
    values = hashes.view(np.uint32).astype(np.int64) % sub.buckets
    buckets, compact = np.unique(values, return_inverse=True)
    lengths = np.diff(offsets) + 1
    input_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=input_offsets[1:])
    inputs = np.empty(int(input_offsets[-1]), dtype=np.int64)
    word_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
    first = input_offsets[:-1]
    inputs[first] = np.arange(n)
    is_sub = np.ones(len(inputs), dtype=bool)
    is_sub[first] = False
    inputs[is_sub] = n + compact.reshape(-1)
    # repeated rows inside one word: sum over rows of multiplicity ** 2
    key = word_of * (n + len(buckets)) + inputs
    _, inv, mult = np.unique(key, return_inverse=True, return_counts=True)
    sq = np.bincount(word_of, weights=mult[inv.reshape(-1)].astype(np.float64), minlength=n)
    share = (sq / lengths).astype(np.float32)
    return inputs.astype(np.int32), input_offsets, share, buckets.astype(np.int64)


def compose_oov(
    words: list[str], spec: SubwordSpec, subword_buckets: np.ndarray, subword_rows: np.ndarray
) -> np.ndarray:
    """float32 ``(len(words), dim)``: the mean of each word's n-gram rows that exist in the compact
    table (``subword_buckets`` sorted, ``subword_rows`` their rows); zeros when it has none."""
    dim = subword_rows.shape[1] if subword_rows.ndim == 2 else 0
    out = np.zeros((len(words), dim), dtype=np.float32)
    if not words or not spec.enabled or len(subword_buckets) == 0:
        return out
    values, offsets = ragged_subword_buckets(words, spec)
    pos = np.searchsorted(subword_buckets, values)
    pos = np.minimum(pos, len(subword_buckets) - 1)
    found = subword_buckets[pos] == values
    word_of = np.repeat(np.arange(len(words)), np.diff(offsets))
    acc = np.zeros((len(words), dim), dtype=np.float64)
    np.add.at(acc, word_of[found], subword_rows[pos[found]].astype(np.float64))
    n = np.bincount(word_of[found], minlength=len(words))
    has = n > 0
    out[has] = (acc[has] / n[has, None]).astype(np.float32)
    return out


def memory_plan(words: list[str], spec: PretrainSpec) -> dict:
    """Rows and bytes ``train_vectors`` allocates for this vocabulary (for ``--dry-run``): the
    input table (word rows + compact subword rows), the output table, the composed vectors (only
    with subwords; else they are the word rows), the per-word row lists and the noise/subsampling
    tables; the corpus ids themselves are the caller's (memory-mapped or not). Hashes the n-grams
    of every word (about a second per 100,000 words)."""
    inputs, _, _, buckets = input_rows(words, spec.subwords)
    n, dim = len(words), spec.dim
    plan = {
        "word_rows": n,
        "subword_rows": len(buckets),
        "input_bytes": (n + len(buckets)) * dim * 4,
        "output_bytes": n * dim * 4,
        "vectors_bytes": n * dim * 4 if spec.subwords.enabled else 0,
        "index_bytes": inputs.nbytes + (n + 1) * 8 + n * 4 * 4 + len(buckets) * 8,
    }
    plan["total_bytes"] = sum(v for k, v in plan.items() if k.endswith("_bytes"))
    return plan


# --------------------------------------------------------------------------- training


def check_corpus(corpus: PretrainCorpus) -> tuple[np.ndarray | IdFile, np.ndarray, np.ndarray]:
    """``(ids, offsets int64, counts int64)`` checked: ``DataError`` in one sentence. ``ids`` is a
    read-only int32 array, or the corpus' ``IdFile`` (scanned a block at a time)."""
    counts = np.asarray(corpus.counts, dtype=np.int64)
    nwords = len(corpus.words)
    if len(counts) != nwords:
        raise DataError(f"the corpus has {len(counts)} counts for {nwords} words.")
    ids = corpus.ids
    if not isinstance(ids, IdFile):
        ids = np.asarray(ids)  # a memmap stays mapped (a plain ndarray view of it)
        if ids.dtype != np.int32 or not ids.flags.c_contiguous:
            ids = np.ascontiguousarray(ids, dtype=np.int32)
        # the kernels read ids only: one compiled signature (read-only) for arrays and maps
        ids = ids.view()
        ids.flags.writeable = False
    offsets = np.ascontiguousarray(corpus.offsets, dtype=np.int64)
    if (
        len(offsets) < 1
        or offsets[0] != 0
        or offsets[-1] != len(ids)
        or np.any(np.diff(offsets) < 0)
    ):
        raise DataError("the corpus offsets do not describe its token ids.")
    if len(ids) == 0 or nwords == 0:
        raise DataError("the corpus has no token in the vocabulary: nothing to train on.")
    blocks = ids.blocks() if isinstance(ids, IdFile) else [(0, ids)]
    lo, hi = nwords, -1
    for _, block in blocks:
        lo, hi = min(lo, int(block.min())), max(hi, int(block.max()))
    if lo < 0 or hi >= nwords:
        raise DataError(
            f"the corpus has a token id {hi if hi >= nwords else lo} outside 0..{nwords - 1}."
        )
    if counts.sum() <= 0:
        raise DataError("the word counts of the corpus are all zero.")
    return ids, offsets, counts


def piece_offsets(offsets: np.ndarray) -> np.ndarray:
    """``offsets`` with every document longer than ``BLOCK`` tokens cut where the kernel cuts it
    anyway (every ``BLOCK`` tokens from its start): the same training, and a corpus of a few huge
    lines (text8 is one) still splits between threads."""
    lengths = np.diff(offsets)
    if len(lengths) == 0 or lengths.max() <= pk.BLOCK:
        return offsets
    pieces = np.maximum(1, -(-lengths // pk.BLOCK))
    first = np.zeros(len(pieces), dtype=np.int64)
    np.cumsum(pieces[:-1], out=first[1:])
    k = np.arange(int(pieces.sum()), dtype=np.int64) - np.repeat(first, pieces)
    starts = np.repeat(offsets[:-1], pieces) + k * pk.BLOCK
    return np.concatenate([starts, offsets[-1:]]).astype(np.int64)


def thread_slices(offsets: np.ndarray, threads: int) -> list[tuple[int, int]]:
    """Contiguous document ranges with about the same number of tokens, one per thread (fewer when
    there are fewer documents); never an empty range."""
    ndocs = len(offsets) - 1
    threads = max(1, min(threads, ndocs))
    total = offsets[-1]
    cuts = [0]
    for t in range(1, threads):
        d = int(np.searchsorted(offsets, total * t / threads))
        cuts.append(min(max(d, cuts[-1] + 1), ndocs - (threads - t)))
    cuts.append(ndocs)
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def _chunks(offsets: np.ndarray, lo: int, hi: int) -> list[tuple[int, int]]:
    """Document ranges of about ``CHUNK_TOKENS`` tokens covering ``lo .. hi-1``."""
    out = []
    d = lo
    while d < hi:
        e = int(np.searchsorted(offsets, offsets[d] + CHUNK_TOKENS, side="left"))
        e = min(max(e, d + 1), hi)
        out.append((d, e))
        d = e
    return out


def init_params(nrows: int, nwords: int, dim: int, seed: int) -> pk.Params:
    """Input rows uniform in ``(-1/dim, 1/dim)``, output rows zero (fastText), float32."""
    rng = np.random.default_rng(seed)
    win = np.empty((nrows, dim), dtype=np.float32)
    rng.random(out=win, dtype=np.float32)  # in place: no float64 copy of the table
    win *= np.float32(2.0 / dim)
    win -= np.float32(1.0 / dim)
    wout = np.zeros((nwords, dim), dtype=np.float32)
    return pk.Params(win, wout)


@dataclass
class _Tables:
    """The corpus and the derived tables a run reads (built by :func:`build_tables`)."""

    words: list[str]
    counts: np.ndarray
    offsets: np.ndarray
    data: pk.Corpus
    inputs: np.ndarray
    input_offsets: np.ndarray
    buckets: np.ndarray
    #: the corpus file when the ids are read a chunk at a time (``data.ids`` is then empty)
    id_file: IdFile | None = None


def build_tables(corpus: PretrainCorpus, spec: PretrainSpec) -> _Tables:
    """Check the corpus; the per-word input rows, subsampling and noise tables."""
    ids, offsets, counts = check_corpus(corpus)
    offsets = piece_offsets(offsets)
    words = list(corpus.words)
    inputs, input_offsets, share, buckets = input_rows(words, spec.subwords)
    keep = keep_probabilities(counts, spec.sample)
    alias_prob, alias_idx = noise_table(counts)
    noise = pk.Noise(alias_prob, alias_idx, *pk.sigmoid_tables())
    id_file = ids if isinstance(ids, IdFile) else None
    if id_file is not None:  # each chunk's ids replace this (the same read-only array type)
        ids = np.zeros(0, dtype=np.int32)
        ids.flags.writeable = False
    data = pk.Corpus(ids, offsets, inputs, input_offsets, share, keep, noise)
    return _Tables(words, counts, offsets, data, inputs, input_offsets, buckets, id_file)


def epoch_segments(first: int, epochs: int, every: int) -> list[tuple[int, int]]:
    """Epoch ranges ``[a, b)`` from ``first`` to ``epochs``, cut after every multiple of
    ``every`` (no cut when it is 0): the threads meet only where a checkpoint is written.

        >>> epoch_segments(1, 5, 2)
        [(1, 2), (2, 4), (4, 5)]
    """
    cuts = [e for e in range(first + 1, epochs) if every > 0 and e % every == 0]
    bounds = [first, *cuts, epochs]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _thread_state(spec: PretrainSpec, t: int, resume: PretrainState | None) -> pk.ThreadState:
    """Thread ``t``'s random state and counters (fresh from ``seed + t``, or the checkpoint's)
    and its scratch buffers."""
    if resume is None:
        rng = np.array([pk.seed_state(spec.seed + t)], dtype=np.uint64)
        counts, loss = np.zeros(2, dtype=np.int64), np.zeros(1, dtype=np.float64)
    else:
        rng = np.array([resume.rng[t]], dtype=np.uint64)
        counts = np.array(resume.counts[t], dtype=np.int64)
        loss = np.array([resume.loss[t]], dtype=np.float64)
    line = np.zeros(pk.BLOCK, dtype=np.int32)
    hidden, grad, acc = (np.zeros(spec.dim, dtype=np.float32) for _ in range(3))
    return pk.ThreadState(rng, counts, loss, line, hidden, grad, acc)


class _Run:
    """The threads of one run over ``tables``: their slices, random states and counters, the
    epochs they train (:meth:`train`), the progress records and the checkpoint state."""

    def __init__(self, tables: _Tables, spec: PretrainSpec, resume: PretrainState | None) -> None:
        self.spec = spec
        self.tables = tables
        nwords, nrows = len(tables.words), len(tables.words) + len(tables.buckets)
        offsets = tables.offsets
        if resume is None:
            self.params = init_params(nrows, nwords, spec.dim, spec.seed)
            slices = thread_slices(offsets, spec.threads or available_cores())
            self.epoch, self.seconds_before = 0, 0.0
        else:
            resume.check(nrows, nwords, spec.dim, spec.epochs)
            self.params = pk.Params(
                np.require(resume.win, np.float32, ["C", "W"]),
                np.require(resume.wout, np.float32, ["C", "W"]),
            )
            slices = thread_slices(offsets, len(resume.rng))
            if len(slices) != len(resume.rng):
                raise FormatError(
                    f"the checkpoint has {len(resume.rng)} threads; this corpus splits into "
                    f"{len(slices)}"
                )
            self.epoch, self.seconds_before = resume.epoch, resume.seconds
        self.slices = slices
        self.states = [_thread_state(spec, t, resume) for t in range(len(slices))]
        cbow = spec.method == "cbow"
        self.opts = [
            pk.Opt(
                cbow,
                spec.window,
                spec.negative,
                float(spec.lr),
                int(offsets[hi] - offsets[lo]) * spec.epochs,
                spec.sg_input == "context",
            )
            for lo, hi in slices
        ]  # the learning rate decays over the tokens each thread reads in all epochs
        self.plans = [_chunks(offsets, lo, hi) for lo, hi in slices]
        self.buffers: list[np.ndarray] = []
        if tables.id_file is not None:  # one chunk of ids per thread in memory, never the corpus
            self.buffers = [
                np.empty(max(int(offsets[b] - offsets[a]) for a, b in plan), dtype=np.int32)
                for plan in self.plans
            ]
        self.total = int(offsets[-1]) * spec.epochs
        self.done_before = self._done()
        self.elapsed = 0.0  # seconds of training in this process

    def _done(self) -> int:
        return sum(int(s.counts[0]) for s in self.states)

    def train(self, epochs: int, progress: Callable[[dict], None] | None) -> None:
        """Train ``epochs`` more epochs on every thread (Hogwild); the calling thread reports
        progress. An exception (a worker's, the callback's, Ctrl-C) stops the workers after
        their current chunk and propagates."""
        stop = threading.Event()
        errors: list[BaseException] = []
        params, data = self.params, self.tables.data

        def work(t: int) -> None:
            try:
                for _ in range(epochs):
                    for lo, hi in self.plans[t]:
                        if stop.is_set():
                            return
                        chunk, a, b = self._chunk(t, data, lo, hi)
                        pk.train_docs(params, chunk, self.opts[t], self.states[t], a, b)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(exc)
                stop.set()

        start = time.perf_counter()
        try:
            if len(self.slices) == 1 and progress is None:
                work(0)
            else:
                self._supervise(work, stop, start, progress)
        finally:
            self.elapsed += time.perf_counter() - start
        if errors:
            raise errors[0]
        self.epoch += epochs

    def _chunk(self, t: int, data: pk.Corpus, lo: int, hi: int) -> tuple[pk.Corpus, int, int]:
        """Thread ``t``'s corpus for documents ``lo .. hi-1`` and their range in it: the whole
        corpus when its ids are in memory, else these documents' ids read from the file into the
        thread's buffer (the same tokens in the same order: the same training)."""
        if not self.buffers:
            return data, lo, hi
        offsets = self.tables.offsets
        start = int(offsets[lo])
        ids = self.tables.id_file.read(start, int(offsets[hi]), self.buffers[t]).view()
        ids.flags.writeable = False
        return data._replace(ids=ids, offsets=offsets[lo : hi + 1] - start), 0, hi - lo

    def _supervise(self, work: Callable[[int], None], stop: threading.Event, start: float,
                   progress: Callable[[dict], None] | None) -> None:  # fmt: skip
        workers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(len(self.slices))]  # fmt: skip
        for w in workers:
            w.start()
        last = start
        try:
            while alive := [w for w in workers if w.is_alive()]:
                alive[0].join(timeout=0.25)
                now = time.perf_counter()
                if progress is not None and not stop.is_set() and now - last >= 0.25:
                    last = now
                    progress(self.snapshot(self.elapsed + now - start))
        except BaseException:
            stop.set()
            for w in workers:
                w.join()
            raise

    def snapshot(self, elapsed: float) -> dict:
        """The progress record after ``elapsed`` seconds of training in this process."""
        done = self._done()
        updates = sum(int(s.counts[1]) for s in self.states)
        loss = sum(float(s.loss[0]) for s in self.states) / max(updates, 1)
        frac = min(1.0, done / max(self.total, 1))
        wps = (done - self.done_before) / elapsed if elapsed > 0 else 0.0
        return {
            "epoch": min(self.spec.epochs, int(frac * self.spec.epochs) + 1),
            "progress": frac,
            "words_per_second": wps,
            "loss": loss,
            "lr": float(self.spec.lr) * (1.0 - frac),
            "eta": (self.total - done) / wps if wps > 0 else float("inf"),
            "tokens": done,
            "updates": updates,
        }

    def state(self) -> PretrainState:
        """The checkpoint state now (views of the live tables: write it before training on)."""
        return PretrainState(
            epoch=self.epoch,
            win=self.params.win,
            wout=self.params.wout,
            rng=np.array([s.rng[0] for s in self.states], dtype=np.uint64),
            counts=np.stack([s.counts for s in self.states]),
            loss=np.array([s.loss[0] for s in self.states], dtype=np.float64),
            seconds=self.seconds_before + self.elapsed,
        )


def compose(tables: _Tables, spec: PretrainSpec, params: pk.Params) -> np.ndarray:
    """The final word vectors: the mean of each word's input rows (with subwords), else the
    word rows themselves (no copy)."""
    nwords = len(tables.words)
    if not spec.subwords.enabled:
        return params.win[:nwords]
    vectors = np.empty((nwords, spec.dim), dtype=np.float32)
    pk.compose_rows(params.win, tables.inputs, tables.input_offsets, vectors)
    return vectors


def train_vectors(
    corpus: PretrainCorpus,
    spec: PretrainSpec,
    *,
    progress: Callable[[dict], None] | None = None,
    checkpoint_every: int = 0,
    on_checkpoint: Callable[[PretrainState], None] | None = None,
    resume: PretrainState | None = None,
) -> TrainedVectors:
    """Train word vectors on ``corpus`` (see the module docstring). ``progress`` is called with
    ``{"epoch", "progress", "words_per_second", "loss", "lr", "eta"}`` about 4 times a second
    at most from the calling thread, and once at the end; an exception it raises stops the
    threads after their current chunk and propagates. Every ``checkpoint_every`` epochs the
    threads meet and ``on_checkpoint(state)`` gets the :class:`PretrainState` (views of the live
    tables); ``resume`` continues such a state (``FormatError`` when it does not fit)."""
    spec.validate()
    t0 = time.perf_counter()
    tables = build_tables(corpus, spec)
    run = _Run(tables, spec, resume)
    prepare_seconds = time.perf_counter() - t0
    for first, last in epoch_segments(run.epoch, spec.epochs, checkpoint_every):
        run.train(last - first, progress)
        if on_checkpoint is not None and checkpoint_every > 0 and last % checkpoint_every == 0:
            on_checkpoint(run.state())
    final = run.snapshot(run.elapsed)
    if progress is not None:
        progress(final)
    t1 = time.perf_counter()
    vectors = compose(tables, spec, run.params)
    nwords, win = len(tables.words), run.params.win
    stats = {
        "seconds": run.seconds_before + run.elapsed,
        "prepare_seconds": prepare_seconds,
        "compose_seconds": time.perf_counter() - t1,
        "words_per_second": final["words_per_second"],
        "tokens": final["tokens"],
        "updates": final["updates"],
        "loss": final["loss"],
        "epochs": spec.epochs,
        "resumed_from_epoch": resume.epoch if resume is not None else 0,
        "threads": len(run.slices),
        "lr": float(spec.lr),
        "input_rows": int(win.shape[0]),
        "subword_rows": len(tables.buckets),
    }
    return TrainedVectors(
        words=tables.words,
        counts=tables.counts,
        vectors=vectors,
        word_rows=win[:nwords],
        subwords=spec.subwords,
        subword_buckets=tables.buckets,
        subword_rows=win[nwords:],
        stats=stats,
    )
