"""``pretrain`` from an encoded shard directory, and ``pretrain --engine dask`` (which prepares one).

An encoded shard directory (``embedcli.shard_dir``, written by ``encode --engine dask -o DIR``)
holds the corpus as int32 ids of its vocabulary. ``prepare_from_shards`` turns it into the
trainer's ``PretrainCorpus`` without holding the corpus in memory: the shards are
memory-mapped and remapped ``REMAP_BLOCK`` ids at a time (reserved entries and dropped words out, words
renumbered ``0 .. nwords-1``) into an array that moves to a memory-mapped temporary file past
``EMBEDCLI_MEM_LIMIT`` (``sequences.GrowableArray``), as the text path's corpus does. Document
boundaries are the shards' offsets: windows never cross a document, exactly as from the text.

The vocabulary, its counts and its tokenizer are the directory's (its ``vocab.tsv``, checked
against the manifest's sha256: ``FormatError``, exit 1, when they differ). ``--min-count`` and
``--max-size`` are applied as a filter on the ids when that is exact, i.e. when the result is the
vocabulary that reading the text with those options would build:

- the directory's vocabulary must use the same order and tie rule as pretrain's (``--compat``);
  filtering a sorted word list then equals sorting the filtered list;
- ``--min-count`` must be at least the one the directory was encoded with (rarer words are not in
  it);
- when the directory's vocabulary was cut by its own ``--max-size``, words past the cut may be
  missing: accepted only when the requested vocabulary ends inside the directory's (a smaller
  ``--max-size``, or a ``--min-count`` above the last word's count).

Anything else is a ``UsageError`` in one line naming the encode option to change. The
tokenizer options (``--compat``, ``--no-lower``, ``--keep-punctuation``, ``--token-pattern``)
must describe the directory's tokenizer, since the tokens were made with it. With the same
vocabulary, ``--threads 1 --seed S`` trains bit-identical vectors from the directory and from the
text (tests/test_shard_pretrain.py).

``--engine dask``: ``prepare_with_dask`` counts the vocabulary on the cluster
(``dask_engine.build_vocabulary_dask``, pretrain's options), writes the shard directory into a
temporary ``.MODEL.PID.XXXXXXXX.tmp`` beside the output (the name ``outputs.clean_debris``
removes on the next run once PID is dead: a killed run's shards do not stay), prepares the corpus
from it and removes it, on success and on failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedcli import shard_dir
from embedcli.errors import DataError, FormatError, UsageError
from embedcli.sequences import GrowableArray, memory_limit
from embedcli.vocab import PAD_TOKEN, UNK_TOKEN, Vocabulary, vocab_options

#: ids remapped at a time: the temporaries of a step are about 13 bytes per id (13 MB)
REMAP_BLOCK = 1 << 20


def shard_corpus_of(paths: Sequence[str]) -> str | None:
    """The encoded shard directory ``paths`` names, if it names one (``UsageError`` when it is
    mixed with other inputs; ``FormatError`` for one an interrupted encode left incomplete)."""
    for p in paths:
        if os.path.isdir(p) and not shard_dir.is_encoded_dir(p):
            if os.path.isfile(os.path.join(p, shard_dir.JOB)):
                shard_dir.read_manifest(p)  # says "incomplete ... rerun the same encode command"
    if not any(shard_dir.is_encoded_dir(p) for p in paths):
        return None
    if len(paths) != 1:
        raise UsageError("pretrain on one encoded shard directory, or on text files, not both")
    return str(paths[0])


def pretrain_vocabulary(path: str, shards: Vocabulary, plan: Any) -> tuple[Vocabulary, np.ndarray]:
    """``(vocab, table)``: the vocabulary ``plan`` (a ``PretrainPlan``) would build from the text,
    taken from the directory's vocabulary ``shards`` (see the module notes), and the int32 table
    mapping a directory id to its word index in ``0 .. nwords-1`` (-1: not trained on)."""
    from embedcli.text import make_tokenizer_config

    wanted = make_tokenizer_config(
        plan.compat,
        lower=plan.lower,
        keep_punctuation=plan.keep_punctuation,
        token_pattern=plan.token_pattern,
    )
    if wanted != shards.tokenizer_config:
        raise UsageError(
            f"{path} was tokenized with its vocabulary's settings "
            f"({_tokenizer_text(shards.tokenizer_config)}); the tokenizer options given "
            f"({_tokenizer_text(wanted)}) differ: give the directory's --compat/--no-lower/"
            "--keep-punctuation/--token-pattern, or none"
        )
    opts = vocab_options(plan.compat, min_count=plan.min_count, max_size=plan.max_size)
    had = shards.options
    for key in ("order", "ties"):
        if had.get(key, opts[key]) != opts[key]:
            raise UsageError(
                f"{path} has a vocabulary of {key} {had.get(key)!r}; pretrain --compat "
                f"{plan.compat} builds {key} {opts[key]!r}: encode it with the same --compat"
            )
    first = 2 if shards.oov else 1
    words, counts = shards.tokens[first:], np.asarray(shards.counts[first:], dtype=np.int64)
    min_count, max_size = opts["min_count"], opts["max_size"]
    had_min = int(had.get("min_count") or 1)
    if min_count < had_min:
        raise UsageError(
            f"{path} keeps only words seen {had_min} times or more: --min-count must be at "
            f"least {had_min} (or encode it with a vocabulary built with --min-count {min_count})"
        )
    keep = np.flatnonzero(counts >= min_count)
    reserved = (
        [PAD_TOKEN, opts["options"].get("oov_token") or UNK_TOKEN] if opts["oov"] else [PAD_TOKEN]
    )
    if max_size is not None:
        if max_size <= len(reserved):
            raise UsageError(
                f"--max-size must be greater than the {len(reserved)} reserved entries"
            )
        keep = keep[: max_size - len(reserved)]
    had_max = had.get("max_size")
    cut = had_max is not None and len(shards) >= int(had_max)
    complete = not cut or (
        (max_size is not None and len(keep) == max_size - len(reserved))
        or (opts["order"] == "frequency" and len(counts) and min_count > int(counts[-1]))
    )
    if not complete:
        raise UsageError(
            f"{path} has a vocabulary cut at --max-size {had_max}: words past the cut are not in "
            "it; give a smaller --max-size or a higher --min-count, or encode it without "
            "--max-size"
        )
    options = {
        "min_count": min_count,
        "max_size": max_size,
        "order": opts["order"],
        "ties": opts["ties"],
        **opts["options"],
    }
    vocab = Vocabulary(
        reserved + [words[i] for i in keep],
        [0] * len(reserved) + counts[keep].tolist(),
        oov=opts["oov"],
        tokenizer=shards.tokenizer_config,
        options=options,
    )
    table = np.full(len(shards), -1, dtype=np.int32)
    table[first + keep] = np.arange(len(keep), dtype=np.int32)
    return vocab, table


def _tokenizer_text(cfg: Any) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(cfg.to_dict().items()))


def remap_shards(
    path: str, table: np.ndarray, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(ids, offsets, documents, tokens_read)``: every shard's ids through ``table`` (ids
    mapped to -1 dropped), its documents kept whole (offsets), read from the memory-mapped
    shards a block at a time into an int32 array that spills to a file past ``limit``."""
    manifest = shard_dir.read_manifest(path)
    ids = GrowableArray(np.int32, limit=limit)
    ids.reserve(int(manifest.get("tokens") or 0))
    lengths: list[np.ndarray] = []
    tokens_read = 0
    for arrays in shard_dir.iter_shards(path):
        tokens, offsets = arrays["tokens"], np.asarray(arrays["offsets"], dtype=np.int64)
        n = len(tokens)
        new_offsets = np.empty(len(offsets), dtype=np.int64)
        kept = 0
        for s in range(0, n, REMAP_BLOCK):
            e = min(s + REMAP_BLOCK, n)
            chunk = np.asarray(tokens[s:e])  # a view of the map: pages the kernel may drop
            if len(chunk) and (int(chunk.min()) < 0 or int(chunk.max()) >= len(table)):
                raise FormatError(f"{path}: a shard has an id outside its vocabulary")
            mapped = table[chunk]
            mask = mapped >= 0
            before = np.zeros(len(mask) + 1, dtype=np.int32)  # kept before position i
            np.cumsum(mask, out=before[1:])
            lo, hi = np.searchsorted(offsets, [s, e], side="left")
            new_offsets[lo:hi] = kept + before[offsets[lo:hi] - s]
            ids.append(mapped[mask])
            kept += int(before[-1])
        new_offsets[offsets >= n] = kept
        lengths.append(np.diff(new_offsets))
        tokens_read += n
    if not lengths:
        raise DataError(f"{path} holds no shard")
    flat = np.concatenate(lengths)
    out_offsets = np.zeros(len(flat) + 1, dtype=np.int64)
    np.cumsum(flat, out=out_offsets[1:])
    return ids.finish(), out_offsets, len(flat), tokens_read


def prepare_from_shards(plan: Any, path: str) -> dict[str, Any]:
    """``prepare_pretrain`` of an encoded shard directory: the fields of its ``PreparedPretrain``
    (``pretrain_run`` builds it; this module does not import it back), the corpus remapped from
    the memory-mapped shards (see the module notes)."""
    from embedcli.pretrain_spec import PretrainCorpus

    t0 = time.perf_counter()
    manifest = shard_dir.read_manifest(path)
    shard_dir.check_vocab(path, manifest)
    shards = Vocabulary.load(Path(path) / shard_dir.VOCAB)
    vocab, table = pretrain_vocabulary(path, shards, plan)
    if len(vocab.tokens) <= (2 if vocab.oov else 1):
        raise DataError(
            f"the vocabulary is empty: no word of {path} is seen --min-count {plan.min_count} "
            "times; lower --min-count"
        )
    limit = memory_limit()
    ids, offsets, documents, tokens_read = remap_shards(path, table, limit)
    if documents == 0:
        raise DataError("the corpus is empty: no documents were read")
    if not len(ids):
        raise DataError("the corpus has no token of the vocabulary")
    corpus = PretrainCorpus.of_vocabulary(vocab, ids, offsets)
    return dict(
        vocab=vocab,
        corpus=corpus,
        documents=documents,
        tokens_read=tokens_read,
        spilled=ids.nbytes > limit,  # where GrowableArray moved to a file map
        timings={"read_encode": time.perf_counter() - t0},
    )


def shard_temp_dir(output: str | None) -> str:
    """A temporary directory ``.NAME.PID.XXXXXXXX.tmp`` beside ``output`` (marked as
    embedcli's): ``claim_outputs`` on ``output`` removes it after a killed run. Without an
    output (``--dry-run``), a private folder in TMPDIR (``outputs.spill_dir``)."""
    from embedcli.outputs import mark, spill_dir, temp_prefix

    if not output:
        return spill_dir("embedcli-pretrain-shards")
    dest = Path(output.rstrip("/") or output).absolute()
    folder = tempfile.mkdtemp(prefix=temp_prefix(dest), suffix=".tmp", dir=dest.parent)
    mark(folder)
    return folder


@dataclass
class DaskPlan:
    """Where ``pretrain --engine dask`` runs: the output the temporary shards go beside, the
    scheduler (None: ``$DASK_SCHEDULER_ADDRESS``, else a local cluster of ``workers``), the
    partition size, and ``note(text)`` for the engine's notes (a huge ``.gz`` ...)."""

    output: str | None
    scheduler: str | None = None
    workers: int | None = None
    partition_size: int | None = None
    note: Callable[[str], None] | None = None


def prepare_with_dask(plan: Any, dask: DaskPlan) -> dict[str, Any]:
    """``pretrain --engine dask``: the vocabulary counted and the corpus encoded on a Dask
    cluster into a temporary shard directory beside ``output``, then prepared from it as
    ``prepare_from_shards`` does; the directory is removed before returning or raising."""
    from embedcli.text import make_tokenizer_config

    if plan.documents is not None:
        raise UsageError("--engine dask reads files or URLs, not in-memory documents")
    tok_cfg = make_tokenizer_config(
        plan.compat,
        lower=plan.lower,
        keep_punctuation=plan.keep_punctuation,
        token_pattern=plan.token_pattern,
    )
    opts = vocab_options(plan.compat, min_count=plan.min_count, max_size=plan.max_size)
    t0 = time.perf_counter()
    with dask_shards(plan.paths, plan.corpus_options, tok_cfg, opts, dask) as folder:
        prepared = prepare_from_shards(plan, folder)
    prepared["timings"] = {"read_encode": time.perf_counter() - t0}
    return prepared


@contextlib.contextmanager
def dask_shards(
    paths: Sequence[str],
    options: Any,
    tok_cfg: Any,
    opts: dict[str, Any],
    dask: DaskPlan,
    hashes: bool = False,
) -> Iterator[str]:
    """``train``/``pretrain --engine dask``: the vocabulary of ``paths`` counted (``opts``:
    ``vocab.vocab_options``) and the corpus encoded on a Dask cluster into a temporary shard
    directory beside ``dask.output`` (``hashes``: with token hashes, for word n-grams); the
    cluster is closed before the directory is yielded, and the directory is removed after."""
    from embedcli import dask_engine
    from embedcli.inputs import expand_inputs, plan_partitions
    from embedcli.shards import MAX_SHARD_BYTES

    files = expand_inputs(list(paths))
    plan_partitions(files, options, 1)  # refuse what the engine cannot read before starting
    folder = None
    try:
        with dask_engine.dask_client(dask.scheduler, dask.workers) as client:
            parts, notes = dask_engine.plan(
                files, options, client, dask.partition_size or MAX_SHARD_BYTES
            )
            for text in notes:
                if dask.note is not None:
                    dask.note(text)
            vocab, stats, _reading = dask_engine.build_vocabulary_dask(
                client, parts, options, tok_cfg, opts
            )
            if stats.documents == 0:
                raise DataError("the corpus is empty: no documents were read")
            folder = shard_temp_dir(dask.output)
            dask_engine.encode_to_dir(client, parts, options, vocab, folder, hashes=hashes)
        # the cluster is closed: its workers hold no memory while the corpus is prepared
        yield folder
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
