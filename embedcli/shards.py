"""Parallel encoding of large line-format files: byte-range shards in worker processes.

Tokenizing and dictionary lookups are Python-bound (~150 ns a token), so a large file is cut
into byte ranges at line boundaries, each range is encoded in a forked worker with the ordinary
single-process code, and the parent merges the results. The merge keeps every guarantee of the
sequential path: shard 0's new tokens come first, then shard 1's, so provisional ids, counts and
first-appearance order are exactly those of one sequential pass (tested).

Used only for regular files (not stdin, not ``.gz``), lenient UTF-8, and when the input is large
enough to pay for the fork; any error makes the caller redo the work sequentially, which reports
the exact file and line. Workers are forked so the vocabulary is shared, never pickled.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from typing import Any

import numpy as np

from embedcli.corpus import CorpusReader, detect_format
from embedcli.errors import EmbedcliError

#: inputs smaller than this are encoded in-process (forking costs ~20 ms a worker)
MIN_PARALLEL_BYTES = 8 << 20

# The parent sets this before forking; children read it (fork shares it copy-on-write).
_JOB: dict[str, Any] = {}


def plan_shards(
    reader: CorpusReader, workers: int | None = None, min_bytes: int | None = None
) -> list[tuple[str, int, int]] | None:
    """Byte ranges for the reader's files, or None when the parallel path does not apply."""
    opts = reader.options
    if (
        opts.strict_utf8
        or opts.fmt not in ("auto", "fasttext", "text")
        or "fork" not in mp.get_all_start_methods()
    ):
        return None
    workers = workers or (os.cpu_count() or 1)
    if workers < 2:
        return None
    sizes = []
    for path in reader.paths:
        if (
            path == "-"
            or path.endswith(".gz")
            or detect_format(path) != "fasttext"
            or not os.path.isfile(path)
        ):
            return None
        sizes.append(os.path.getsize(path))
    total = sum(sizes)
    if total < (MIN_PARALLEL_BYTES if min_bytes is None else min_bytes):
        return None
    shards: list[tuple[str, int, int]] = []
    per = max(1, total // workers)
    for path, size in zip(reader.paths, sizes):
        n = max(1, round(size / per))
        bounds = [size * i // n for i in range(n + 1)]
        shards.extend((path, bounds[i], bounds[i + 1]) for i in range(n))
    return shards


def _worker_init() -> None:
    # The parent owns interruption: Ctrl-C reaches the whole process group, and a worker that
    # raised KeyboardInterrupt would print its own traceback. The parent terminates the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run(shards: list[tuple[str, int, int]], fn: Any, job: dict[str, Any]) -> list[Any]:
    _JOB.clear()
    _JOB.update(job)
    try:
        ctx = mp.get_context("fork")
        workers = min(len(shards), os.cpu_count() or 1)
        # Pool.__exit__ terminates the workers, also when the parent is interrupted.
        with ctx.Pool(workers, initializer=_worker_init) as pool:
            return pool.map(fn, shards, chunksize=1)
    finally:
        _JOB.clear()


def _shard_reader(shard: tuple[str, int, int]) -> tuple[CorpusReader, Any]:
    reader = CorpusReader([shard[0]], _JOB["options"])
    return reader, reader.iter_byte_range(*shard)


def _count_shard(shard: tuple[str, int, int]) -> dict[str, Any]:
    from embedcli.sequences import build_and_encode_raw
    from embedcli.vocab import TokenCounter

    reader, docs = _shard_reader(shard)
    counter, tokens, lengths, label_index, label_ids, label_lens = build_and_encode_raw(
        docs, TokenCounter(_JOB["tokenizer"])
    )
    return {
        "tokens": list(counter.index),
        "counts": counter.counts.copy(),
        "ids": tokens,
        "lengths": lengths,
        "labels": list(label_index),
        "label_ids": label_ids,
        "label_lens": label_lens,
        "n_tokens": counter.tokens,
        "documents": counter.documents,
        "lines": reader.lines_read,
        "invalid": reader.invalid_utf8_lines,
    }


def _encode_shard(shard: tuple[str, int, int]) -> dict[str, Any]:
    from embedcli.sequences import encode_corpus

    reader, docs = _shard_reader(shard)
    enc = encode_corpus(docs, _JOB["vocab"])
    return {
        "enc": enc,
        "lines": reader.lines_read,
        "invalid": reader.invalid_utf8_lines,
        "documents": enc.n_docs,
    }


def count_and_encode_parallel(
    reader: CorpusReader, tokenizer: Any, shards: list[tuple[str, int, int]]
) -> list[dict[str, Any]] | None:
    """Per-shard results of the one-pass count+encode, or None if a shard failed."""
    try:
        parts = _run(shards, _count_shard, {"options": reader.options, "tokenizer": tokenizer})
    except EmbedcliError:
        return None
    _account(reader, parts)
    return parts


def encode_parallel(
    reader: CorpusReader, vocab: Any, shards: list[tuple[str, int, int]]
) -> list[Any] | None:
    """Per-shard EncodedCorpus results with an existing vocabulary, or None if a shard failed."""
    try:
        parts = _run(shards, _encode_shard, {"options": reader.options, "vocab": vocab})
    except EmbedcliError:
        return None
    _account(reader, parts)
    return [p["enc"] for p in parts]


def _account(reader: CorpusReader, parts: list[dict[str, Any]]) -> None:
    for p in parts:
        reader.lines_read += p["lines"]
        reader.documents += p["documents"]
        reader.invalid_utf8_lines += p["invalid"]
    if reader.invalid_utf8_lines and reader.first_invalid_utf8 is None:
        reader.first_invalid_utf8 = "one of the input files (use --strict-utf8 for the line)"


def merge_indices(parts: list[dict[str, Any]], key: str) -> tuple[list[str], list[np.ndarray]]:
    """Global first-appearance order of the shards' token (or label) lists, plus per-shard remap tables."""
    index: dict[str, int] = {}
    tables = []
    for p in parts:
        names = p[key]
        table = np.empty(len(names), dtype=np.int32)
        for i, name in enumerate(names):
            j = index.get(name)
            if j is None:
                j = index[name] = len(index)
            table[i] = j
        tables.append(table)
    return list(index), tables
