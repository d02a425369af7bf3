"""``--engine dask``: counting and encoding a corpus on a Dask cluster, same results as one process.

The work is data-parallel over partitions (``embedcli.inputs``: byte ranges of files or fsspec
URLs cut at line boundaries, one per ``.gz``). Each partition task reads its range with a
``PartitionReader`` -- the local reader, tokenizer and encoder, so documents, tokens, labels and
one-line errors are the local engine's -- and returns plain data (no embedcli object but the
vocabulary, which is scattered to every worker once).

Exactness of ``build-vocab``: a partition's counts keep its tokens and labels in first-appearance
order (``vocab.CorpusCounts``). Merging two adjacent parts, left then right, is exactly the counts
of their concatenation: the left part's order, then the right part's new tokens in their order.
That merge is associative, so the partitions are reduced as a binary tree of adjacent pairs on
the workers (``_tree_reduce``): the client receives one table, and no machine holds more than two
partial tables at once; the vocabulary built from it is the local one, ties included.

Exactness of ``encode``: every id comes from the same vocabulary lookup; the client concatenates
the partitions in order (or, with an output directory, each partition is one shard). For one
padded ``.npy``/``.npz``/text file the workers write each partition's ids to a file in a
temporary folder beside the output (``spill``), so that the ids do not travel through Dask.

Faults: a task only reads its inputs and returns a value, or writes its shard under temporary
names renamed into place, so Dask may run it again when a worker dies (the scheduler retries on
other workers; the result is the same). An error in the data is raised in the task and reaches
the client as the local engine's ``DataError`` naming the file (and the byte where the
partition's lines start). The client cancels everything and closes its local cluster on Ctrl-C.

Dask is optional: ``require_dask`` says how to install it. Nothing here is imported by
``--help`` or by the local engine.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.corpus import CorpusOptions
from embedcli.errors import DataError, UsageError
from embedcli.inputs import Partition, PartitionReader, plan_partitions
from embedcli.resources import available_cores
from embedcli.shards import MAX_SHARD_BYTES, merge_into
from embedcli.vocab import CorpusCounts

INSTALL = "pip install 'embedcli[dask]'"
#: environment variable naming the scheduler when --scheduler is not given (Dask's own)
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"

Progress = Callable[[int, int], None]


def require_dask() -> None:
    """UsageError (exit 2) in one line when dask.distributed is not installed."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(f"--engine dask needs Dask (dask.distributed): {INSTALL}") from None


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A client of the scheduler at ``scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``), else of a
    local cluster of ``workers`` single-threaded processes that ends with the block (also on
    Ctrl-C: no worker process outlives the command)."""
    require_dask()
    from distributed import Client, LocalCluster

    for name in ("distributed", "distributed.nanny", "distributed.worker", "distributed.scheduler"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # a restarted worker is not news
    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        try:
            client = Client(address, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise DataError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=workers or available_cores(),
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",  # a local cluster listens on loopback only
        dashboard_address=":0",  # no dashboard; its HTTP routes on a free port, not 8787
        worker_dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def worker_threads(client: Any) -> int:
    """Task slots of the cluster (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def plan(
    files: list[tuple[str, int]],
    options: CorpusOptions,
    client: Any,
    partition_bytes: int = MAX_SHARD_BYTES,
) -> tuple[list[Partition], list[str]]:
    """The partitions of ``files`` (``inputs.expand_inputs``) for this cluster: about two per
    task slot, at most ``partition_bytes`` each; and notes for the user."""
    return plan_partitions(files, options, 2 * worker_threads(client), partition_bytes)


# ---------------------------------------------------------------------------- build-vocab
def _count_partition(part: Partition, options: CorpusOptions, tokenizer: Any) -> dict[str, Any]:
    from embedcli.vocab import count_corpus

    reader = PartitionReader(part, options)
    counted = count_corpus(reader, tokenizer)
    return {"counts": counted, **_reading(reader)}


def _reading(reader: PartitionReader) -> dict[str, Any]:
    return {
        "lines": reader.lines_read,
        "invalid": reader.invalid_utf8_lines,
        "first_invalid": reader.first_invalid_utf8,
    }


def merge_counts(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """The counts of ``left`` followed by ``right`` (exact first-appearance order)."""
    a: CorpusCounts = left["counts"]
    b: CorpusCounts = right["counts"]
    index = dict(zip(a.tokens, range(len(a.tokens))))
    table = merge_into(index, b.tokens)
    counts = np.zeros(len(index), dtype=np.int64)
    counts[: len(a.counts)] = a.counts
    counts[table] += b.counts  # a part's tokens are distinct: no repeated index
    label_index = dict(zip(a.labels, range(len(a.labels))))
    ltable = merge_into(label_index, b.labels)
    label_counts = list(a.label_counts) + [0] * (len(label_index) - len(a.labels))
    for j, c in zip(ltable.tolist(), b.label_counts):
        label_counts[j] += c
    merged = CorpusCounts(
        tokens=list(index),
        counts=counts,
        labels=list(label_index),
        label_counts=label_counts,
        n_tokens=a.n_tokens + b.n_tokens,
        documents=a.documents + b.documents,
    )
    return {
        "counts": merged,
        "lines": left["lines"] + right["lines"],
        "invalid": left["invalid"] + right["invalid"],
        "first_invalid": left["first_invalid"] or right["first_invalid"],
    }


def _tree_reduce(client: Any, futures: list[Any], fn: Callable[[Any, Any], Any]) -> Any:
    """``fn`` over adjacent pairs, level by level, on the workers (order kept): one future."""
    level = list(futures)
    while len(level) > 1:
        paired = [client.submit(fn, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def count_dask(
    client: Any,
    parts: list[Partition],
    options: CorpusOptions,
    tokenizer: Any,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The merged counts of every partition (``CorpusCounts`` under "counts", and the reading
    totals "lines", "invalid", "first_invalid")."""
    from distributed import as_completed

    futures = client.map(_count_partition, parts, options=options, tokenizer=tokenizer, pure=False)
    root = _tree_reduce(client, futures, merge_counts)
    _watch(futures, progress, as_completed)
    return root.result()


def _watch(futures: list[Any], progress: Progress | None, as_completed: Any) -> None:
    """Wait for ``futures`` (raising the first error), reporting ``(done, total)``."""
    done = 0
    for future in as_completed(futures):
        if future.status == "error":
            future.result()  # raises the task's exception here
        done += 1
        if progress is not None:
            progress(done, len(futures))


def build_vocabulary_dask(
    client: Any,
    parts: list[Partition],
    options: CorpusOptions,
    tokenizer: Any,
    vocab_options: dict[str, Any],
    progress: Progress | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """``vocab.build_vocabulary`` over partitions on the cluster: ``(vocab, stats, reading)``,
    the vocabulary and statistics identical to the local engine's."""
    from embedcli.vocab import vocabulary_from_counts

    if vocab_options.get("ties") == "std-sort":
        raise UsageError(
            "--engine dask does not build fastText's dictionary order (--compat fasttext); "
            "use --engine local"
        )
    merged = count_dask(client, parts, options, tokenizer, progress)
    vocab, stats = vocabulary_from_counts(merged.pop("counts"), tokenizer, vocab_options)
    return vocab, stats, merged


# ---------------------------------------------------------------------------------- encode
def _encode_partition(
    part: Partition, options: CorpusOptions, vocab: Any, hashes: bool = False
) -> dict[str, Any]:
    from embedcli.sequences import encode_corpus

    reader = PartitionReader(part, options)
    enc = encode_corpus(reader, vocab, hashes=hashes)
    out = {
        "tokens": enc.tokens,
        "offsets": enc.offsets,
        "label_ids": enc.label_ids,
        "label_offsets": enc.label_offsets,
        "documents": enc.n_docs,
        **_reading(reader),
    }
    if hashes and enc.hashes is not None:  # every token string's hash, then </s>
        out["hashes"], out["hash_offsets"] = enc.hashes.values, enc.hashes.offsets
    return out


def _encode_partition_to(
    part: Partition, options: CorpusOptions, vocab: Any, folder: str
) -> dict[str, Any]:
    """``_encode_partition`` with the ids written to ``folder/part-NNNNN.npy`` (a temporary
    name renamed into place: a retried task rewrites it whole); the result carries its path."""
    r = _encode_partition(part, options, vocab)
    path = os.path.join(folder, f"part-{part.index:05d}.npy")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        np.lib.format.write_array(f, np.ascontiguousarray(r.pop("tokens")), allow_pickle=False)
    os.replace(tmp, path)
    return {**r, "tokens_file": path}


def encode_dask(
    client: Any,
    parts: list[Partition],
    options: CorpusOptions,
    vocab: Any,
    progress: Progress | None = None,
    spill: str | Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """``encode_corpus`` over partitions on the cluster: ``(EncodedCorpus, reading)``, every id
    identical to the local engine's. The partitions are fetched in order, one at a time.

    With ``spill`` (an existing folder every worker reaches under the same path: the output's
    folder on a shared file system) the workers write their ids there and the client reads the
    files in order (deleting them), so the ids, the bulk of the result, never travel through
    Dask's comms nor wait in the workers' memory; only lengths and labels do."""
    from embedcli.sequences import EncodedCorpus, GrowableArray, offsets_of

    shipped = client.scatter(vocab, broadcast=True, hash=False)  # once, not per task
    if spill is None:
        futures = client.map(_encode_partition, parts, options=options, vocab=shipped, pure=False)
    else:
        futures = client.map(
            _encode_partition_to,
            parts,
            options=options,
            vocab=shipped,
            folder=str(spill),
            pure=False,
        )
    tokens = GrowableArray(np.int32)
    lengths, label_ids, label_lengths = [], [], []
    reading = {"lines": 0, "invalid": 0, "first_invalid": None}
    for done, future in enumerate(futures, 1):
        r = future.result()
        future.release()
        if spill is None:
            tokens.append(r["tokens"])
        else:
            _append_file(tokens, r["tokens_file"])
        lengths.append(np.diff(r["offsets"]))
        label_ids.append(r["label_ids"])
        label_lengths.append(np.diff(r["label_offsets"]))
        _add_reading(reading, r)
        if progress is not None:
            progress(done, len(futures))
    corpus = EncodedCorpus(
        tokens.finish(),
        offsets_of(np.concatenate(lengths)),
        np.concatenate(label_ids).astype(np.int32),
        offsets_of(np.concatenate(label_lengths)),
    )
    return corpus, reading


def _append_file(out: Any, path: str, block: int = 1 << 22) -> None:
    """Append the ids of a task's ``.npy`` file to ``out`` in blocks; the file is deleted."""
    try:
        ids = np.load(path, mmap_mode="r", allow_pickle=False)
        for lo in range(0, len(ids), block):
            out.append(ids[lo : lo + block])
        del ids
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _add_reading(total: dict[str, Any], part: dict[str, Any]) -> None:
    total["lines"] += part["lines"]
    total["invalid"] += part["invalid"]
    total["first_invalid"] = total["first_invalid"] or part["first_invalid"]


# ------------------------------------------------------------------- encoded shard directory
def _write_partition(
    part: Partition, expect: dict[str, Any], options: CorpusOptions, vocab: Any, folder: str
) -> dict[str, Any]:
    """Encode one partition into shard ``part.index`` of ``folder`` (kept if already there)."""
    from embedcli import shard_dir

    kept = shard_dir.kept_shard(Path(folder), part.index, expect)
    if kept is not None:
        return {**kept, "kept": True}
    r = _encode_partition(part, options, vocab, hashes=bool(expect.get("hashes")))
    record = {
        **expect,
        "documents": r["documents"],
        "tokens": len(r["tokens"]),
        "labels": len(r["label_ids"]),
        "lines": r["lines"],
        "invalid_utf8_lines": r["invalid"],
        "first_invalid_utf8": r["first_invalid"],
    }
    return {**shard_dir.write_shard(Path(folder), part.index, r, record), "kept": False}


def encode_to_dir(
    client: Any,
    parts: list[Partition],
    options: CorpusOptions,
    vocab: Any,
    folder: str | Path,
    progress: Progress | None = None,
    hashes: bool = False,
) -> dict[str, Any]:
    """Write the encoded shard directory ``folder`` (``embedcli.shard_dir``) and return its
    manifest; shards of an earlier, interrupted run of the same job are kept. ``folder`` must
    exist, and be reachable under the same path by every worker (a shared file system).
    ``hashes``: every shard also stores fastText's hash of each token string (for word
    n-grams; format 1.1)."""
    from distributed import as_completed

    from embedcli import shard_dir
    from embedcli.outputs import mark

    folder = Path(folder)
    mark(folder)
    vocab.save(folder / shard_dir.VOCAB)
    vocab_sum = shard_dir.sha256_file(folder / shard_dir.VOCAB)
    corpus = {k: v for k, v in options.__dict__.items() if k != "origin"}
    scheme = _hash_scheme(vocab) if hashes else None
    job = {
        "format": shard_dir.JOB_FORMAT,
        "version": shard_dir.VERSION,
        "vocab_sha256": vocab_sum,
        "corpus": corpus,
        "partitions": [p.spec() for p in parts],
        **({"hashes": scheme} if scheme else {}),
    }
    old_job = shard_dir.read_json(folder / shard_dir.JOB)
    if old_job != job:  # another job's shards: none of them may be kept
        shard_dir.remove_stale(folder, keep=0)
    else:
        shard_dir.remove_stale(folder, keep=len(parts))
    (folder / shard_dir.MANIFEST).unlink(missing_ok=True)
    shard_dir.write_json(folder / shard_dir.JOB, job)
    shipped = client.scatter(vocab, broadcast=True, hash=False)
    expects = [
        {"vocab_sha256": vocab_sum, "input": p.spec(), "corpus": corpus, "hashes": scheme}
        for p in parts
    ]
    futures = client.map(
        _write_partition,
        parts,
        expects,
        options=options,
        vocab=shipped,
        folder=str(folder),
        pure=False,
    )
    _watch(futures, progress, as_completed)
    records = [f.result() for f in futures]
    kept = sum(1 for r in records if r.pop("kept"))
    manifest = {
        "format": shard_dir.FORMAT,
        "version": shard_dir.VERSION,
        "minor_version": shard_dir.MINOR_VERSION,
        "hashes": scheme,
        "vocab": shard_dir.VOCAB,
        "vocab_sha256": vocab_sum,
        "corpus": corpus,
        "inputs": _inputs(parts),
        "documents": sum(r["documents"] for r in records),
        "tokens": sum(r["tokens"] for r in records),
        "shards": records,
    }
    shard_dir.write_json(folder / shard_dir.MANIFEST, manifest)  # the commit
    return {**manifest, "kept": kept}


def _hash_scheme(vocab: Any) -> dict[str, Any]:
    """The manifest's record of the token hashes: the scheme and whether ``</s>`` is appended
    (it is when ``</s>`` is no vocabulary word: its unigram then takes a bucket row)."""
    from embedcli.ftcompat import NGRAM_HASH

    return {"scheme": NGRAM_HASH, "eos_bucket": not vocab.tokenizer_config.eos}


def _inputs(parts: list[Partition]) -> list[dict[str, Any]]:
    seen: dict[str, int] = {}
    for p in parts:
        seen.setdefault(p.url, p.size)
    return [{"url": url, "size": size} for url, size in seen.items()]
