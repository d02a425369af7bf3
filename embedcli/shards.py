"""Parallel encoding of large line-format files: byte-range shards in worker processes.

Tokenizing and dictionary lookups are Python-bound (~150 ns a token), so a large file is cut
into byte ranges at line boundaries (at most ``MAX_SHARD_BYTES`` each), each range is encoded in
a forked worker with the ordinary single-process code, and the parent merges the results. The
merge keeps every guarantee of the sequential path: shard 0's new tokens come first, then shard
1's, so provisional ids, counts and first-appearance order are exactly those of one sequential
pass (tested).

Memory: a worker writes its arrays (and its token list) to files in a private temporary folder
instead of pickling them back, and the parent reads each part in blocks straight into the final
array (a ``GrowableArray``), deleting the part's files as it goes, so the parent's peak is about
one encoded corpus plus one block, never a second copy of the corpus.

Used only for regular files (not stdin, not ``.gz``), lenient UTF-8, and when the input is large
enough to pay for the fork; any error makes the caller redo the work sequentially, which reports
the exact file and line. Workers are forked so the vocabulary is shared, never pickled.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import shutil
import signal
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from embedcli import readcount, sequences
from embedcli.corpus import CorpusReader, detect_format
from embedcli.errors import DataError, EmbedcliError
from embedcli.ftcompat import append_eos, token_hashes
from embedcli.resources import available_cores
from embedcli.sequences import (
    BATCH_DOCS,
    EncodedCorpus,
    GrowableArray,
    TempSpaceFull,
    TokenHashes,
    offsets_of,
    remap_blocks,
    temp_space_error,
)
from embedcli.vocab import Vocabulary

#: inputs smaller than this are encoded in-process (forking costs ~20 ms a worker)
MIN_PARALLEL_BYTES = 8 << 20
#: larger inputs are cut into more shards than workers, so one part stays small in every process
MAX_SHARD_BYTES = 64 << 20
#: elements read from a part file at a time while merging
BLOCK = 1 << 22

# The parent sets this before forking; children read it (fork shares it copy-on-write).
_JOB: dict[str, Any] = {}

Shard = tuple[str, int, int]


def encode_corpus(
    docs: Any,
    vocab: Vocabulary,
    batch_size: int = BATCH_DOCS,
    label_index: dict[str, int] | None = None,
    hashes: bool = False,
    subwords: tuple[int, int] | None = None,
) -> EncodedCorpus:
    """:func:`embedcli.sequences.encode_corpus`, over worker processes when ``docs`` is a
    :class:`CorpusReader` large enough (:func:`plan_shards`); the same result either way. The
    one entry point that chooses parallel or sequential encoding. With ``hashes`` (the corpus
    carries its ``TokenHashes``) or ``subwords`` the pass is sequential."""
    if isinstance(docs, CorpusReader) and label_index is None and not hashes and not subwords:
        plan = plan_shards(docs)
        merged = encode_parallel(docs, vocab, plan) if plan else None
        if merged is not None:
            return merged
    return sequences.encode_corpus(docs, vocab, batch_size, label_index, hashes, subwords)


def build_and_encode(
    docs: Any,
    counter: Any,
    vocab_options: dict[str, Any],
    batch_size: int = BATCH_DOCS,
    hashes: bool = False,
    subwords: tuple[int, int] | None = None,
    tokens_out: Any = None,
) -> tuple[Vocabulary, EncodedCorpus]:
    """:func:`embedcli.sequences.build_and_encode`, over worker processes when ``docs`` is a
    :class:`CorpusReader` large enough; the same vocabulary and ids (and ``TokenHashes`` with
    ``hashes``) either way. With ``subwords`` (the n-grams of the tokens the vocabulary leaves
    out need their strings) the pass is sequential. ``tokens_out`` (``reserve``/``append``/
    ``finish``, e.g. ``pretrain_spec.IdFile``) receives the merged ids of the parallel pass
    instead of an in-memory array; the sequential pass returns an array."""
    # fastText's dictionary order needs where labels first appear among the tokens: one pass
    parallel = vocab_options.get("ties") != "std-sort" and not subwords
    if isinstance(docs, CorpusReader) and parallel:
        plan = plan_shards(docs)
        merged = (
            build_and_encode_parallel(
                docs, counter.tokenizer, plan, vocab_options, hashes=hashes, tokens_out=tokens_out
            )
            if plan
            else None
        )
        if merged is not None:
            vocab, corpus, counter.documents, counter.tokens = merged
            return vocab, corpus
    return sequences.build_and_encode(docs, counter, vocab_options, batch_size, hashes, subwords)


def plan_shards(
    reader: CorpusReader, workers: int | None = None, min_bytes: int | None = None
) -> list[Shard] | None:
    """Byte ranges for the reader's files, or None when the parallel path does not apply."""
    opts = reader.options
    if (
        opts.strict_utf8
        or opts.fmt not in ("auto", "fasttext", "text")
        or "fork" not in mp.get_all_start_methods()
    ):
        return None
    workers = workers or available_cores()
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
    return cut_ranges(list(zip(reader.paths, sizes)), workers)


def cut_ranges(
    files: list[tuple[str, int]], workers: int, max_bytes: int | None = None
) -> list[Shard]:
    """Byte ranges ``(path, start, end)`` covering ``(path, size)`` files: about ``workers`` equal
    parts over all files, none larger than ``max_bytes``. Ranges end anywhere; a range's lines are
    those that START in it (``CorpusReader.iter_byte_range``), so each line is read once. The
    distributed engine cuts its partitions with this too (``embedcli.inputs``)."""
    total = sum(size for _path, size in files)
    if max_bytes is None:  # read at call time: the module's setting, not the one at import
        max_bytes = MAX_SHARD_BYTES
    shards: list[Shard] = []
    per = max(1, total // max(1, workers))
    for path, size in files:
        n = max(1, round(size / per), -(-size // max_bytes))
        bounds = [size * i // n for i in range(n + 1)]
        shards.extend((path, bounds[i], bounds[i + 1]) for i in range(n))
    return shards


def _worker_init() -> None:
    # The parent owns interruption: Ctrl-C and a closed terminal reach the whole process group,
    # and a worker that raised KeyboardInterrupt would print its own traceback. The parent
    # terminates its workers (SIGTERM), and a worker dies with the parent (even a SIGKILLed one).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def _stash_dir() -> Iterator[str]:
    from embedcli.outputs import spill_dir

    path = spill_dir("embedcli-shards")  # named with our pid: a killed run's is removed later
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_PARENT_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
#: seconds between checks of the workers while none reports (signals are handled meanwhile too)
POLL_SECONDS = 0.5
#: seconds a terminated worker gets before it is killed
GRACE_SECONDS = 2.0


def _run(shards: list[Shard], fn: Any, job: dict[str, Any]) -> list[dict[str, Any]] | None:
    """``fn((index, shard))`` for every shard in forked workers, results in shard order.

    At most ``available_cores()`` workers run at once, one shard each. Returns None when a worker
    reported an ``EmbedcliError`` (the caller redoes the work sequentially for the exact
    message). A worker that dies without a result (the out-of-memory killer's SIGKILL, a crash)
    fails the command at once with ``DataError``; a full temporary folder with
    ``TempSpaceFull``. The parent never blocks without a timeout, so it answers signals at any
    time, and every worker is gone when this returns or raises.
    """
    _JOB.clear()
    _JOB.update(job)
    ctx = mp.get_context("fork")
    todo = list(enumerate(shards))[::-1]
    workers = min(len(shards), available_cores())
    running: dict[Any, tuple[Any, Any, int]] = {}  # reader end -> (process, reader end, index)
    results: list[dict[str, Any] | None] = [None] * len(shards)
    try:
        while todo or running:
            while todo and len(running) < workers:
                index, shard = todo.pop()
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker_main, args=(fn, index, shard, writer))
                with _signals_blocked():  # a worker is either in ``running`` or not started
                    proc.start()
                    running[reader] = (proc, reader, index)
                writer.close()
            # a result arrives on the pipe; a worker that died closes its end (EOF) without one
            for conn in mpc.wait(list(running), timeout=POLL_SECONDS):
                proc, reader, index = running.pop(conn)
                reply = _receive(reader, proc)
                if "error" in reply:
                    _raise_for(reply)  # unless it is about the data: then redo it sequentially
                    return None
                results[index] = reply["result"]
    finally:
        for proc, reader, _index in running.values():
            _stop(proc)
            reader.close()
        _JOB.clear()
    return results  # type: ignore[return-value]


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP back (they are delivered, in order, at the end)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _PARENT_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _worker_main(fn: Any, index: int, shard: Shard, conn: Any) -> None:
    """A worker's whole life: one shard, one JSON reply (no pickle), then exit."""
    _worker_init()
    readcount.use_worker_slot(index)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _PARENT_SIGNALS)  # blocked by the fork's caller
    try:
        reply: dict[str, Any] = {"result": fn((index, shard))}
    except TempSpaceFull as exc:
        reply = {"error": "fatal", "message": str(exc)}
    except EmbedcliError as exc:
        reply = {"error": "data", "message": str(exc)}
    except MemoryError:
        reply = {"error": "memory"}
    except OSError as exc:
        reply = {
            "error": "os",
            "errno": exc.errno,
            "strerror": exc.strerror or str(exc),
            "filename": exc.filename,
        }
    except BaseException as exc:  # a bug: the parent reports it in one line
        reply = {"error": "bug", "message": f"{type(exc).__name__}: {exc}"}
    message = json.dumps(reply, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    with contextlib.suppress(OSError):  # the parent stopped listening: it is unwinding
        conn.send_bytes(message.encode("utf-8"))
        conn.close()


def _receive(reader: Any, proc: Any) -> dict[str, Any]:
    """The worker's reply, or a description of how it died without one."""
    try:
        reply = json.loads(reader.recv_bytes().decode("utf-8"))
    except (EOFError, OSError):
        reply = None
    finally:
        reader.close()
    proc.join(GRACE_SECONDS)  # a worker that replied exits at once; a dead one is reaped
    return reply if reply is not None else {"error": "died", "exitcode": proc.exitcode}


def _raise_for(reply: dict[str, Any]) -> None:
    """Raise the parent's error for a worker's failure reply; return for an error in the data
    (the caller redoes the work sequentially, which names the file and line)."""
    kind = reply["error"]
    if kind == "data":
        return
    if kind == "fatal":
        raise DataError(reply["message"])
    if kind == "memory":
        raise MemoryError
    if kind == "os":
        raise OSError(reply["errno"], reply["strerror"], reply["filename"])
    if kind == "died":
        code = reply["exitcode"]
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = "an unknown signal"
            likely = "; likely out of memory" if -code == signal.SIGKILL else ""
            raise DataError(
                f"an encoding worker process died (killed by signal {-code}, {name}){likely}"
            )
        raise DataError(f"an encoding worker process died without a result (exit code {code})")
    raise DataError(f"an encoding worker process failed: {reply.get('message')}")


def _stop(proc: Any) -> None:
    """Terminate a worker and reap it (SIGKILL if it does not end within the grace period)."""
    if proc.is_alive():
        proc.terminate()
        proc.join(GRACE_SECONDS)
        if proc.is_alive():
            proc.kill()
    proc.join(GRACE_SECONDS)


def _stash(index: int, name: str, value: np.ndarray | list[str]) -> str:
    """Write a worker's result to a file of the job's folder; the parent gets the path.

    Arrays are ``.npy``; a list of strings is an ``.npz`` of its UTF-8 bytes and their lengths
    (no pickle: files are data).
    """
    path = os.path.join(_JOB["dir"], f"{index}.{name}")
    try:
        if isinstance(value, np.ndarray):
            np.save(path + ".npy", value, allow_pickle=False)
            return path + ".npy"
        encoded = [s.encode("utf-8", "surrogatepass") for s in value]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        np.savez(path + ".npz", data=data, lengths=lengths)
        return path + ".npz"
    except OSError as exc:
        raise temp_space_error(exc, os.path.dirname(_JOB["dir"]), "encoded shards") from None


def _load(path: str) -> Any:
    """A stashed value, read whole; the file is deleted."""
    try:
        if path.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as z:
            data, lengths = z["data"].tobytes(), z["lengths"]
        ends = np.cumsum(lengths).tolist()
        starts = [0, *ends[:-1]]
        return [data[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends)]
    finally:
        os.unlink(path)


def _blocks(path: str, block: int = BLOCK) -> Iterator[np.ndarray]:
    """A stashed 1-D array in blocks of ``block`` elements; the file is deleted at the end."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            (n,), _fortran, dtype = read_header(f)
            for lo in range(0, n, block):
                out = np.empty(min(block, n - lo), dtype)
                if f.readinto(memoryview(out).cast("B")) != out.nbytes:
                    raise OSError(f"{path}: file is shorter than its header says")
                yield out
    finally:
        os.unlink(path)


def _shard_reader(shard: Shard) -> tuple[CorpusReader, Any]:
    reader = CorpusReader([shard[0]], _JOB["options"])
    return reader, reader.iter_byte_range(*shard)


def _count_shard(item: tuple[int, Shard]) -> dict[str, Any]:
    from embedcli.vocab import TokenCounter

    index, shard = item
    reader, docs = _shard_reader(shard)
    counter, tokens, lengths, label_index, label_ids, label_lens = sequences.build_and_encode_raw(
        docs, TokenCounter(_JOB["tokenizer"])
    )
    return {
        "tokens": _stash(index, "tokens", list(counter.index)),
        "counts": _stash(index, "counts", counter.counts.copy()),
        "ids": _stash(index, "ids", tokens),
        "lengths": _stash(index, "lengths", lengths),
        "labels": list(label_index),
        "label_ids": _stash(index, "label_ids", label_ids),
        "label_lens": _stash(index, "label_lens", label_lens),
        "n_tokens": counter.tokens,
        "n_ids": len(tokens),
        "documents": counter.documents,
        "lines": reader.lines_read,
        "invalid": reader.invalid_utf8_lines,
    }


def _encode_shard(item: tuple[int, Shard]) -> dict[str, Any]:
    index, shard = item
    reader, docs = _shard_reader(shard)
    enc = sequences.encode_corpus(docs, _JOB["vocab"])
    return {
        "ids": _stash(index, "ids", enc.tokens),
        "n_ids": len(enc.tokens),
        "lengths": _stash(index, "lengths", enc.lengths()),
        "label_ids": _stash(index, "label_ids", enc.label_ids),
        "label_lens": _stash(index, "label_lens", np.diff(enc.label_offsets)),
        "lines": reader.lines_read,
        "invalid": reader.invalid_utf8_lines,
        "documents": enc.n_docs,
    }


def build_and_encode_parallel(
    reader: CorpusReader,
    tokenizer: Any,
    shards: list[Shard],
    vocab_options: dict[str, Any],
    hashes: bool = False,
    tokens_out: Any = None,
) -> tuple[Vocabulary, EncodedCorpus, int, int] | None:
    """``sequences.build_and_encode`` over shards: ``(vocab, corpus, documents, tokens)``; with
    ``hashes`` the corpus carries its ``TokenHashes`` (from the merged token strings);
    ``tokens_out`` receives the ids instead of an in-memory ``GrowableArray``.

    None if a shard failed (the caller redoes the work sequentially for the exact message).
    """
    with _stash_dir() as tmp:
        parts = _run(
            shards,
            _count_shard,
            {"options": reader.options, "tokenizer": tokenizer, "dir": tmp},
        )
        if parts is None:
            return None
        _account(reader, parts)
        counts = np.zeros(0, dtype=np.int64)
        index: dict[str, int] = {}
        tables = []
        for p in parts:  # one token list in memory at a time
            table = merge_into(index, _load(p["tokens"]))
            if len(index) > len(counts):
                counts = np.concatenate([counts, np.zeros(len(index) - len(counts), np.int64)])
            counts[table] += _load(p["counts"])
            tables.append(table)
        names = list(index)
        del index
        label_index: dict[str, int] = {}
        ltables = [merge_into(label_index, p["labels"]) for p in parts]
        label_names = list(label_index)
        label_ids = np.concatenate(
            [t[_load(p["label_ids"])] for p, t in zip(parts, ltables)]
        ).astype(np.int32)
        label_counts = np.bincount(label_ids, minlength=len(label_names))
        vocab = Vocabulary.from_counts(
            names,
            counts,
            labels=label_names,
            label_counts=label_counts.tolist(),
            tokenizer=tokenizer.config,
            **vocab_options,
        )
        final = vocab.remap_table(names)
        out = GrowableArray(np.int32) if tokens_out is None else tokens_out
        out.reserve(sum(p["n_ids"] for p in parts))
        name_hashes = token_hashes(names) if hashes else None
        hash_out = GrowableArray(np.int32) if hashes else None
        lengths = []
        hash_lengths = []
        for p, table in zip(parts, tables):
            blocks = _blocks(p["ids"])
            part_lengths = _load(p["lengths"])
            if hash_out is not None:
                blocks = _hashing(blocks, name_hashes[table], hash_out)
                hash_lengths.append(part_lengths)
            lengths.append(
                remap_blocks(blocks, final[table], part_lengths, out.append, drop=not vocab.oov)
            )
        ltable = np.array([vocab.label_to_id[name] for name in label_names], dtype=np.int32)
        label_ids = ltable[label_ids] if len(label_ids) else label_ids
        label_offsets = offsets_of(np.concatenate([_load(p["label_lens"]) for p in parts]))
        token_hash_arrays = None
        if hash_out is not None:
            values, hash_offsets = hash_out.finish(), offsets_of(np.concatenate(hash_lengths))
            eos_bucket = not tokenizer.config.eos
            if eos_bucket:
                values, hash_offsets = append_eos(values, hash_offsets)
            token_hash_arrays = TokenHashes(values, hash_offsets, eos_bucket)
        corpus = EncodedCorpus(
            out.finish(),
            offsets_of(np.concatenate(lengths)),
            label_ids,
            label_offsets,
            token_hash_arrays,
        )
    documents = sum(p["documents"] for p in parts)
    return vocab, corpus, documents, sum(p["n_tokens"] for p in parts)


def _hashing(
    blocks: Iterator[np.ndarray], table: np.ndarray, out: GrowableArray
) -> Iterator[np.ndarray]:
    """The blocks of provisional ids unchanged, appending their tokens' hashes to ``out``."""
    for block in blocks:
        out.append(table[block])
        yield block


def encode_parallel(reader: CorpusReader, vocab: Any, shards: list[Shard]) -> EncodedCorpus | None:
    """``encode_corpus`` over shards with an existing vocabulary, or None if a shard failed."""
    with _stash_dir() as tmp:
        parts = _run(shards, _encode_shard, {"options": reader.options, "vocab": vocab, "dir": tmp})
        if parts is None:
            return None
        _account(reader, parts)
        out = GrowableArray(np.int32)
        out.reserve(sum(p["n_ids"] for p in parts))
        for p in parts:
            for block in _blocks(p["ids"]):
                out.append(block)
        lengths = np.concatenate([_load(p["lengths"]) for p in parts])
        label_ids = np.concatenate([_load(p["label_ids"]) for p in parts]).astype(np.int32)
        label_lens = np.concatenate([_load(p["label_lens"]) for p in parts])
        return EncodedCorpus(out.finish(), offsets_of(lengths), label_ids, offsets_of(label_lens))


def _account(reader: CorpusReader, parts: list[dict[str, Any]]) -> None:
    for p in parts:
        reader.lines_read += p["lines"]
        reader.documents += p["documents"]
        reader.invalid_utf8_lines += p["invalid"]
    if reader.invalid_utf8_lines and reader.first_invalid_utf8 is None:
        reader.first_invalid_utf8 = "one of the input files (use --strict-utf8 for the line)"


def merge_into(index: dict[str, int], names: Iterable[str]) -> np.ndarray:
    """Add a shard's names (in its first-appearance order) to the global ``index``; return the
    shard's remap table (shard id -> global id). Shards merged in order give the global
    first-appearance order."""
    names = list(names)
    table = np.empty(len(names), dtype=np.int32)
    for i, name in enumerate(names):
        j = index.get(name)
        if j is None:
            j = index[name] = len(index)
        table[i] = j
    return table
