"""From unlabelled files to a word-vector model directory: the library side of ``embedcli pretrain``.

``check_spec`` refuses impossible settings before any reading (``UsageError``).
``prepare_pretrain`` memory-maps an encoded shard directory given as the corpus, and with
``plan.dask`` prepares one on a Dask cluster (``embedcli.shard_corpus``); else it reads the corpus once through the single encoding entry point
(``shards.build_and_encode``: the vocabulary is counted and the documents encoded in the same
pass, over worker processes for large files, spilled to a memory-mapped int32 file beyond
``EMBEDCLI_MEM_LIMIT``), then compacts the ids in place: padding and out-of-vocabulary ids
are dropped and the words renumbered ``0 .. nwords-1`` (the ``PretrainCorpus`` the trainer
sees), so no second copy of the corpus is made. ``plan_summary`` is ``--dry-run``'s report;
``run_pretrain`` trains (``embedcli.pretrain.train_vectors``) and writes the model atomically
(``embedcli.vectors_model.save_vectors_model``). Nothing here prints.

Checkpoints: ``run_pretrain(..., checkpoint_every=N)`` writes one every N epochs
(``embedcli.pretrain_checkpoint``, default ``OUTPUT.ckpt``); ``resume_plan`` turns a loaded
checkpoint into the plan that reads the corpus the same way, and ``run_pretrain(...,
resume=...)`` continues it once the corpus is seen to be the checkpoint's.

Labels in the input (fastText ``__label__`` tokens, label columns) are read and ignored.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedcli.corpus import CorpusOptions, CorpusReader
from embedcli.errors import DataError, FormatError, UsageError
from embedcli.modeldir import VECTOR_METHODS
from embedcli.pretrain_spec import SG_INPUTS, IdFile, PretrainCorpus, PretrainSpec
from embedcli.shards import build_and_encode
from embedcli.subwords import SubwordSpec, ragged_subword_buckets
from embedcli.text import Tokenizer, make_tokenizer_config
from embedcli.vocab import TokenCounter, Vocabulary, vocab_options

#: fastText's default --buckets; more than this many rows could not be addressed by int32 ids
BUCKETS_MAX = 2**31 - 1
#: tokens compacted per step (bounded memory over a memory-mapped corpus)
COMPACT_BLOCK = 1 << 20


@dataclass
class PretrainPlan:
    paths: list[str]
    corpus_options: CorpusOptions
    spec: PretrainSpec
    compat: str = "embedcli"
    lower: bool | None = None
    keep_punctuation: bool = False
    token_pattern: str | None = None
    min_count: int = 5
    max_size: int | None = None
    #: in-memory documents (``corpus.Document``) read instead of ``paths`` (the Python API)
    documents: Any = None
    #: ``--engine dask``: a ``shard_corpus.DaskPlan`` (the corpus is prepared on the cluster)
    dask: Any = None


@dataclass
class PreparedPretrain:
    plan: PretrainPlan
    vocab: Vocabulary
    corpus: PretrainCorpus
    documents: int
    tokens_read: int
    spilled: bool
    readers: list[CorpusReader] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def subwords(self) -> SubwordSpec:
        s = self.plan.spec
        return SubwordSpec(s.minn, s.maxn, s.buckets) if s.minn > 0 else SubwordSpec(0, 0, 0)

    def subword_rows(self) -> int:
        """Rows of the compact n-gram table: the distinct buckets the vocabulary's words use."""
        if not self.subwords.enabled:
            return 0
        words, used = self.corpus.words, np.zeros(0, dtype=np.int64)
        for s in range(0, len(words), 8192):  # the n-gram strings of a block of words at a time
            values, _ = ragged_subword_buckets(words[s : s + 8192], self.subwords)
            used = np.union1d(used, values)
        return len(used)

    def plan_summary(self) -> dict[str, Any]:
        """Sizes and memory of the run (``--dry-run``), computed without training."""
        spec = self.plan.spec
        nwords, dim = len(self.corpus.words), spec.dim
        sub_rows = self.subword_rows()
        tokens = int(len(self.corpus.ids))
        row_bytes = 4 * dim
        memory = {
            "encoded_corpus_bytes": tokens * 4 + int(self.corpus.offsets.nbytes),
            "encoded_corpus": _where(self.corpus.ids, self.spilled),
            "input_word_rows_bytes": nwords * row_bytes,
            "subword_rows_bytes": sub_rows * row_bytes,
            "output_rows_bytes": nwords * row_bytes,
            "composed_vectors_bytes": nwords * row_bytes if sub_rows else 0,
            "saved_table_bytes": len(self.vocab) * row_bytes,
        }
        memory["model_bytes_total"] = sum(v for k, v in memory.items() if k.endswith("rows_bytes"))
        summary: dict[str, Any] = {
            "documents": self.documents,
            "tokens_read": self.tokens_read,
            "tokens": tokens,
            "vocab_size": len(self.vocab),
            "words": nwords,
            "min_count": self.plan.min_count,
            "method": spec.method,
            "dim": dim,
            "epochs": spec.epochs,
            "subwords": self.subwords.to_json() if self.subwords.enabled else None,
            "subword_rows": sub_rows,
            "table_rows": nwords + sub_rows,
            "table_bytes": (nwords + sub_rows) * row_bytes,
            **memory,
        }
        if self.subwords.enabled:
            # fastText allocates every bucket row; only the rows some word uses are kept here
            summary["fasttext_table_bytes"] = (nwords + spec.buckets) * row_bytes
        return summary


def _where(ids: Any, spilled: bool) -> str:
    if isinstance(ids, IdFile):
        return "temporary file, read a chunk at a time"
    return "memory-mapped temporary file" if spilled else "memory"


def check_spec(spec: PretrainSpec) -> None:
    """Refuse settings no run can use, in one line naming the option (``UsageError``)."""
    if spec.method not in VECTOR_METHODS:
        raise UsageError(
            f"--method must be one of {', '.join(VECTOR_METHODS)}, not {spec.method!r}"
        )
    for option, value in (("--dim", spec.dim), ("--epochs", spec.epochs)):
        if value < 1:
            raise UsageError(f"{option} must be at least 1, not {value}")
    if spec.sg_input not in SG_INPUTS:
        raise UsageError(f"--sg-input must be centre or context, not {spec.sg_input!r}")
    if spec.window < 1:
        raise UsageError(
            f"--window must be at least 1, not {spec.window} (the context words on each side)"
        )
    if spec.negative < 1:
        raise UsageError(
            f"--negative must be at least 1, not {spec.negative} (negative sampling is the "
            "only objective)"
        )
    if not 0 <= spec.sample < 1:
        raise UsageError(f"--sample must be in [0, 1), not {spec.sample}")
    if spec.lr is not None and not 0 < spec.lr < float("inf"):
        raise UsageError(f"--lr must be above 0, not {spec.lr}")
    if spec.minn < 0 or spec.maxn < 0:
        raise UsageError("--minn and --maxn must be 0 or more")
    if spec.minn > 0:
        if spec.maxn < spec.minn:
            raise UsageError(
                f"--maxn {spec.maxn} is below --minn {spec.minn}: n-grams take minn..maxn "
                "characters (--minn 0 turns subwords off)"
            )
        if not 1 <= spec.buckets <= BUCKETS_MAX:
            raise UsageError(
                f"--buckets must be in 1..{BUCKETS_MAX:,} with subwords on, not {spec.buckets:,} "
                "(--minn 0 turns subwords off)"
            )


def prepare_pretrain(plan: PretrainPlan) -> PreparedPretrain:
    """Read, count and encode the corpus; the in-vocabulary ids as a ``PretrainCorpus``."""
    check_spec(plan.spec)
    from embedcli import shard_corpus

    # an encoded shard directory (``encode --engine dask -o DIR``) is memory-mapped, not read
    path = shard_corpus.shard_corpus_of(plan.paths) if plan.documents is None else None
    if path is not None:
        if plan.dask is not None:
            raise UsageError(f"{path} is already encoded: drop --engine dask")
        return PreparedPretrain(plan=plan, **shard_corpus.prepare_from_shards(plan, path))
    if plan.dask is not None:
        return PreparedPretrain(plan=plan, **shard_corpus.prepare_with_dask(plan, plan.dask))
    t0 = time.perf_counter()
    reader = plan.documents
    if reader is None:
        reader = CorpusReader(plan.paths, plan.corpus_options)
    tok_cfg = make_tokenizer_config(
        plan.compat,
        lower=plan.lower,
        keep_punctuation=plan.keep_punctuation,
        token_pattern=plan.token_pattern,
    )
    opts = vocab_options(plan.compat, min_count=plan.min_count, max_size=plan.max_size)
    counter = TokenCounter(Tokenizer(tok_cfg))
    id_file = IdFile()  # the encoded corpus: read back a chunk at a time, never held whole
    try:
        vocab, encoded = build_and_encode(reader, counter, opts, tokens_out=id_file)
        # labels are read and ignored: the model has none
        vocab.labels, vocab.label_counts, vocab.label_to_id = [], [], {}
        documents = encoded.n_docs
        if documents == 0:
            raise DataError("the corpus is empty: no documents were read")
        first = 1 if vocab.unk_id is None else vocab.unk_id + 1
        if len(vocab) <= first:
            raise DataError(_empty_vocabulary(counter, plan.min_count))
        del counter  # every distinct token of the corpus (the sequential pass): not needed on
        tokens_read = int(len(encoded.tokens))
        offsets = compact_to_file(encoded.tokens, encoded.offsets, first, id_file)
        del encoded  # an in-memory corpus (the sequential pass) is freed here
        if not len(id_file):
            raise DataError("the corpus has no token of the vocabulary")
    except BaseException:
        id_file.close()
        raise
    corpus = PretrainCorpus.of_vocabulary(vocab, id_file, offsets)
    release_free_memory()
    return PreparedPretrain(
        plan=plan,
        vocab=vocab,
        corpus=corpus,
        documents=documents,
        tokens_read=tokens_read,
        spilled=True,
        readers=[reader] if isinstance(reader, CorpusReader) else [],
        timings={"read_encode": time.perf_counter() - t0},
    )


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``; nothing
    elsewhere). Counting a corpus frees its distinct-token tables but leaves their pages to the
    process (imdb: 12 MB), where they would add to the training's peak."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _empty_vocabulary(counter: TokenCounter, min_count: int) -> str:
    if not counter.tokens:
        return "the vocabulary is empty: the corpus has no tokens"
    counts = counter.counts  # empty when the counting ran in worker processes
    top = int(counts.max()) if len(counts) else 0
    most = f" (the most frequent is seen {'once' if top == 1 else f'{top:,} times'})" if top else ""
    return (
        f"the vocabulary is empty: no word is seen --min-count {min_count} times{most}; "
        "lower --min-count"
    )


def compact_ids(
    tokens: np.ndarray, offsets: np.ndarray, first: int, block: int = COMPACT_BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, offsets)``: the tokens ``>= first`` shifted down by ``first`` (padding and [UNK]
    dropped), with the document offsets they keep. Done in place, a block at a time, when
    ``tokens`` is writable (a memory-mapped corpus is rewritten where it lies: no second copy);
    ``ids`` is then a view of the front of ``tokens``.

        >>> ids, off = compact_ids(np.array([2, 1, 3, 4, 1], np.int32), np.array([0, 2, 5]), 2)
        >>> ids.tolist(), off.tolist()
        ([0, 1, 2], [0, 1, 3])
    """
    if not tokens.flags.writeable:
        tokens = np.array(tokens, dtype=np.int32)
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(tokens)
    new_offsets = np.empty_like(offsets)
    kept = 0
    for s in range(0, n, block):
        e = min(s + block, n)
        chunk = np.asarray(tokens[s:e])
        mask = chunk >= first
        before = np.concatenate(([0], np.cumsum(mask)))  # kept in this block before position i
        lo, hi = np.searchsorted(offsets, [s, e], side="left")
        new_offsets[lo:hi] = kept + before[offsets[lo:hi] - s]
        values = chunk[mask] - np.int32(first)
        tokens[kept : kept + len(values)] = values
        kept += len(values)
    new_offsets[offsets >= n] = kept
    return tokens[:kept], new_offsets


def compact_to_file(
    tokens: np.ndarray | IdFile,
    offsets: np.ndarray,
    first: int,
    out: IdFile,
    block: int = COMPACT_BLOCK,
) -> np.ndarray:
    """:func:`compact_ids` into ``out``, a block at a time: the ids ``>= first`` shifted down by
    ``first``; returns the document offsets they keep. ``tokens`` may be ``out`` itself (rewritten
    in place: a block is read before the ids kept from it are written, never past it).

        >>> f = IdFile()
        >>> compact_to_file(np.array([2, 1, 3, 4, 1], np.int32), np.array([0, 2, 5]), 2, f).tolist()
        [0, 1, 3]
        >>> f.read(0, len(f)).tolist()
        [0, 1, 2]
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(tokens)
    if isinstance(tokens, IdFile):
        blocks = tokens.blocks(block)
    else:
        blocks = ((s, np.asarray(tokens[s : s + block])) for s in range(0, n, block))
    new_offsets = np.empty_like(offsets)
    kept = 0
    for s, chunk in blocks:
        mask = chunk >= first
        before = np.concatenate(([0], np.cumsum(mask)))  # kept in this block before position i
        lo, hi = np.searchsorted(offsets, [s, s + len(chunk)], side="left")
        new_offsets[lo:hi] = kept + before[offsets[lo:hi] - s]
        values = chunk[mask] - np.int32(first)
        out.write(kept, values)
        kept += len(values)
    new_offsets[offsets >= n] = kept
    out.truncate(kept)
    return new_offsets


def checkpoint_plan(plan: PretrainPlan) -> dict[str, Any]:
    """What a checkpoint records of the run besides its state: how to read the corpus again
    (JSON; the spec is saved apart)."""
    return {
        "paths": list(plan.paths),
        "corpus_options": dict(plan.corpus_options.__dict__),
        "compat": plan.compat,
        "lower": plan.lower,
        "keep_punctuation": plan.keep_punctuation,
        "token_pattern": plan.token_pattern,
        "min_count": plan.min_count,
        "max_size": plan.max_size,
    }


def resume_plan(checkpoint: Any, paths: list[str]) -> PretrainPlan:
    """The plan that continues ``checkpoint`` (an ``embedcli.pretrain_checkpoint``
    ``PretrainCheckpoint``) on ``paths``: its spec, corpus options, tokenizer and vocabulary
    limits (``FormatError`` when the recorded plan is damaged)."""
    saved = checkpoint.plan
    try:
        return PretrainPlan(
            paths=list(paths),
            corpus_options=CorpusOptions(**saved["corpus_options"]),
            # the same thread slices: the saved random states are theirs
            spec=dataclasses.replace(checkpoint.spec, threads=len(checkpoint.state.rng)),
            compat=str(saved["compat"]),
            lower=saved["lower"],
            keep_punctuation=bool(saved["keep_punctuation"]),
            token_pattern=saved["token_pattern"],
            min_count=int(saved["min_count"]),
            max_size=saved["max_size"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"{checkpoint.path} is damaged: its plan has {exc!r}") from None


def run_pretrain(
    prepared: PreparedPretrain,
    output: str,
    progress: Any = None,
    *,
    checkpoint_every: int = 0,
    checkpoint_path: str | None = None,
    resume: Any = None,
) -> dict[str, Any]:
    """Train and save; return the summary (what ``pretrain --json`` prints). ``checkpoint_every``
    N > 0 writes a checkpoint directory (``checkpoint_path``, default ``OUTPUT.ckpt``) every N
    epochs; ``resume`` (a ``PretrainCheckpoint``) continues one: the corpus must read as its
    vocabulary and sizes (else ``DataError``)."""
    from embedcli.pretrain import train_vectors
    from embedcli.vectors_model import save_vectors_model

    spec = prepared.plan.spec
    timings = dict(prepared.timings)
    kwargs: dict[str, Any] = {}
    if resume is not None:
        resume.check_corpus(prepared.vocab, prepared.documents, int(len(prepared.corpus.ids)))
        kwargs["resume"] = resume.state
    if checkpoint_every > 0:
        kwargs["checkpoint_every"] = checkpoint_every
        kwargs["on_checkpoint"] = _checkpoint_writer(
            prepared, checkpoint_path or f"{output.rstrip('/')}.ckpt"
        )
    t0 = time.perf_counter()
    trained = train_vectors(prepared.corpus, spec, progress=progress, **kwargs)
    timings["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    extra = vectors_config(prepared, trained)
    stats = {k: v for k, v in extra["metrics"].items() if k not in ("documents", "tokens")}
    lr = float(spec.lr)
    save_vectors_model(output, trained, prepared.vocab, config_extra=extra)
    timings["save"] = time.perf_counter() - t0
    return {
        "model": output,
        "documents": prepared.documents,
        "tokens_read": prepared.tokens_read,
        "tokens": int(len(prepared.corpus.ids)),
        "vocab_size": len(prepared.vocab),
        "words": len(prepared.corpus.words),
        "subword_rows": int(len(trained.subword_buckets)) if trained.subwords.enabled else 0,
        **stats,
        "spec": {**dataclasses.asdict(spec), "lr": lr},
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }


def vectors_config(prepared: PreparedPretrain, trained: Any) -> dict[str, Any]:
    """What config.json records of a run besides the table (``save_vectors_model``'s
    ``config_extra``): the training settings, how the corpus was read, the trainer's figures."""
    spec = prepared.plan.spec
    stats = {k: v for k, v in dict(trained.stats).items() if _plain(v)}
    if "tokens" in stats:  # the trainer counts every token read in every epoch
        stats["tokens_processed"] = stats.pop("tokens")
    lr = float(spec.lr)
    return {
        "model": {
            "method": spec.method,
            "window": spec.window,
            "negative": spec.negative,
            "sample": spec.sample,
            "epochs": spec.epochs,
            "lr": lr,
        },
        "train": {
            **dataclasses.asdict(spec),
            "lr": lr,
            "min_count": prepared.plan.min_count,
            "max_size": prepared.plan.max_size,
        },
        "corpus": prepared.plan.corpus_options.record(),
        "metrics": {
            **stats,
            "documents": prepared.documents,
            "tokens": int(len(prepared.corpus.ids)),
        },
    }


def _checkpoint_writer(prepared: PreparedPretrain, path: str) -> Any:
    """``on_checkpoint(state)``: the state written as a checkpoint directory at ``path``."""
    from embedcli.pretrain_checkpoint import save_pretrain_checkpoint

    plan = checkpoint_plan(prepared.plan)
    tokens = int(len(prepared.corpus.ids))

    def write(state: Any) -> None:
        save_pretrain_checkpoint(
            path, state, prepared.plan.spec, prepared.vocab, plan, prepared.documents, tokens
        )

    return write


def _plain(value: Any) -> bool:
    """A value config.json and --json can hold as it is (stats may carry arrays: left out)."""
    if isinstance(value, bool | int | float | str) or value is None:
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return isinstance(value, np.generic)
