"""Training: ``fit`` and its named steps. Python owns the epoch loop; the kernels do one epoch.

``fit`` takes integer data (any object with ``tokens``, ``offsets``, ``label_ids``,
``label_offsets`` arrays, e.g. ``embedcli.sequences.EncodedCorpus``), shuffles with an explicit
``np.random.default_rng(seed)``, runs the epoch kernel (Hogwild over ``threads`` shards, or the
serial kernel for ``threads == 1``, which is bit-reproducible for a given seed), evaluates the
validation set after each epoch, stops early (restoring the best epoch) and tunes multi-label
thresholds. It never prints: progress goes to the ``on_epoch``/``on_progress`` callbacks.

The steps, each a name here: :func:`resolve_run` (config and model spec), :class:`TrainingRun`
(parameters, optimizer state, schedule; one :meth:`~TrainingRun.run_epoch` at a time),
:class:`FeatureSource` (the featurized corpus, whole or a chunk at a time, same bits),
:class:`EvalSet` (the validation data), :class:`EarlyStopping`, :meth:`TrainingRun.snapshot`
(a checkpoint's :class:`~embedcli.checkpoint.TrainState`) and :meth:`TrainingRun.finish`.

Left out: subword features, hierarchical softmax / negative sampling, learning-rate search.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from embedcli.checkpoint import STATE_ARRAYS, TrainState
from embedcli.errors import DataError, FormatError, TrainingDiverged, UsageError
from embedcli.kernels import KernelOpt, OptState, TrainData
from embedcli.model import (
    OPTIMIZERS,
    ModelParams,
    ModelSpec,
    check_ids,
    featurize,
    featurize_docs,
    featurized_lengths,
    init_params,
    pack_dense,
    predict_proba,
    train_epoch,
)
from embedcli.resources import feature_budget, feature_bytes, feature_chunk_docs
from embedcli.spec import (
    DEFAULT_DROPOUT,
    DEFAULT_LR,
    InitEmbeddings,
    TrainConfig,
    auto_buckets,
    auto_epochs,
    params_from_dense,
)

__all__ = [
    "DEFAULT_DROPOUT",
    "DEFAULT_LR",
    "STATE_ARRAYS",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "TrainingDiverged",
    "auto_buckets",
    "auto_epochs",
    "evaluate_arrays",
    "feature_bytes",
    "fit",
]

ADAM_BETAS = (0.9, 0.999)
# Epochs with fewer featurized tokens than this train on one thread whatever ``threads`` says.
PARALLEL_MIN_TOKENS = 1_000_000
EPS = 1e-8


class Corpus(Protocol):
    tokens: np.ndarray
    offsets: np.ndarray
    label_ids: np.ndarray
    label_offsets: np.ndarray


@dataclass
class TrainResult:
    params: ModelParams
    spec: ModelSpec
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    seconds: float
    tokens_per_s: float
    config: TrainConfig = field(default_factory=TrainConfig)
    #: wall seconds per stage of :func:`fit` (init, featurize, state, epoch_1.., val_eval)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Arrays:
    """A corpus as contiguous arrays of the kernels' dtypes."""

    tokens: np.ndarray
    offsets: np.ndarray
    label_ids: np.ndarray
    label_offsets: np.ndarray
    #: the corpus' ``sequences.TokenHashes`` (token string hashes), or None
    hashes: Any = None

    @classmethod
    def of(cls, data: Corpus) -> Arrays:
        return cls(
            np.ascontiguousarray(data.tokens, dtype=np.int32),
            np.ascontiguousarray(data.offsets, dtype=np.int64),
            np.ascontiguousarray(data.label_ids, dtype=np.int32),
            np.ascontiguousarray(data.label_offsets, dtype=np.int64),
            getattr(data, "hashes", None),
        )

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1


def fit(
    train: Corpus,
    config: TrainConfig | None = None,
    val: Corpus | None = None,
    init_embeddings: np.ndarray | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
    *,
    num_words: int | None = None,
    num_classes: int | None = None,
    checkpoint_every: int = 0,
    on_checkpoint: Callable[[TrainState], None] | None = None,
    resume: TrainState | None = None,
) -> TrainResult:
    """Train a classifier on ``train`` (word ids, not yet featurized).

    ``num_words`` (rows of the word table, default ``max id + 1`` or the rows of
    ``init_embeddings``) and ``num_classes`` (default ``max label id + 1``) should come from the
    vocabulary. ``init_embeddings`` ``(k, dim)`` overwrites the first k word rows (row 0 is kept
    zero); a ``spec.InitEmbeddings`` sets bucket rows too (pretrained subwords). ``on_epoch(record)`` gets each history record; ``on_progress(fraction)`` is called a few
    times per epoch with the fraction of training done.

    Raises :class:`TrainingDiverged` when the loss is NaN/Inf (checked after every chunk of an
    epoch, so a run stops early); its ``epoch`` is the epoch that diverged and ``result`` holds
    the last good model (that of the previous epoch, rebuilt by :func:`replay`: no snapshot is
    kept during normal training, which would cost a second embedding table; bit-identical for
    ``threads == 1``).

    Memory: the n-gram features are built once when they fit in the feature budget
    (:func:`embedcli.resources.feature_budget`); past it each chunk of an epoch's permutation is
    featurized into one reused buffer, with the same results (:class:`FeatureSource`).

    Checkpoints: every ``checkpoint_every`` epochs ``on_checkpoint(state)`` gets a
    :class:`TrainState` (views of the live arrays: write them out before returning).
    ``resume=state`` continues such a run (its ``config`` and ``spec`` replace ``config`` and the
    sizes; ``train`` must be the same corpus): with ``threads == 1`` the result is bit-identical
    to the uninterrupted run.

    Errors: ``UsageError`` for an impossible configuration, ``DataError`` for unusable data
    (no documents, ids out of range, another corpus than the checkpoint's), ``FormatError`` for
    a checkpoint that does not fit the run.
    """
    t_start = time.perf_counter()
    corpus = Arrays.of(train)
    if resume is not None:
        init_embeddings = None
    cfg, spec = resolve_run(corpus, config, num_words, num_classes, init_embeddings, resume)
    run = TrainingRun(corpus, cfg, spec, val, init_embeddings, resume, on_progress)
    diverged = run.run_epochs(on_epoch, checkpoint_every, on_checkpoint)
    if diverged is None:
        return run.finish(t_start)
    loss = run.diverged_loss
    del run  # free the live parameters and the featurized corpus before the replay
    last = replay(corpus, cfg, spec, init_embeddings, diverged - 1)
    raise TrainingDiverged(
        f"training diverged in epoch {diverged} (loss {loss}); "
        f"try a lower learning rate than {cfg.lr}",
        epoch=diverged,
        result=last,
    )


def resolve_run(
    corpus: Arrays,
    config: TrainConfig | None,
    num_words: int | None,
    num_classes: int | None,
    init_embeddings: np.ndarray | None,
    resume: TrainState | None,
) -> tuple[TrainConfig, ModelSpec]:
    """The resolved config and the model spec of a run (the checkpoint's when resuming)."""
    if resume is not None:
        config = resume.config
        num_words, num_classes = resume.spec.num_words, resume.spec.num_labels
    config = config if config is not None else TrainConfig()
    n_docs, n_tokens = corpus.n_docs, len(corpus.tokens)
    if n_docs < 1:
        raise DataError("no training documents")
    if resume is not None and (resume.n_docs, resume.n_tokens) != (n_docs, n_tokens):
        raise DataError(
            f"the training corpus is not the checkpoint's: {n_docs:,} documents and "
            f"{n_tokens:,} tokens, the checkpoint was trained on {resume.n_docs:,} documents "
            f"and {resume.n_tokens:,} tokens"
        )
    if num_words is None:
        num_words = int(corpus.tokens.max(initial=1)) + 1
        if init_embeddings is not None:
            num_words = max(num_words, init_embeddings.shape[0])
    if num_classes is None:
        num_classes = int(corpus.label_ids.max(initial=0)) + 1
    cfg = config.resolve(n_docs, n_tokens)  # validates, once per run
    # a corpus encoded with its token hashes trains fastText's string-hashed n-grams
    ngram_hash = resume.spec.ngram_hash if resume is not None else _ngram_hash(corpus, cfg)
    spec = cfg.model_spec(num_words, num_classes, ngram_hash)
    if resume is not None and resume.spec != spec:
        raise FormatError(f"checkpoint model {resume.spec} does not match {spec}")
    return cfg, spec


def replay(
    corpus: Arrays,
    cfg: TrainConfig,
    spec: ModelSpec,
    init_embeddings: np.ndarray | None,
    epochs: int,
) -> TrainResult:
    """The result of the same (resolved) run stopped after ``epochs`` epochs, without
    validation: the last good model of a diverged run."""
    t_start = time.perf_counter()
    run = TrainingRun(corpus, cfg, spec, None, init_embeddings, None, None)
    run.run_epochs(None, 0, None, stop_after=epochs)
    return run.finish(t_start)


class FeatureSource:
    """The featurized training corpus: featurized once when it fits ``budget`` bytes (the fast
    path), else each chunk of an epoch's permutation is featurized into one reused buffer.
    Either way a chunk trains on the same rows, so the results are the same bits."""

    def __init__(self, corpus: Arrays, spec: ModelSpec, budget: int) -> None:
        self.corpus = corpus
        self.spec = spec
        check_ids(corpus.tokens, corpus.offsets, spec)
        self.lengths = featurized_lengths(corpus.tokens, corpus.offsets, spec, corpus.hashes)
        self.chunked = spec.adds_rows and feature_bytes(self.lengths) > budget
        self.buffer: np.ndarray | None = None
        self.data: TrainData | None = None
        if self.chunked:
            self.chunk_docs = feature_chunk_docs(self.lengths, budget)
        else:
            ftok, foff = featurize(corpus.tokens, corpus.offsets, spec, corpus.hashes)
            ids = np.arange(corpus.n_docs, dtype=np.int64)
            self.data = TrainData(ftok, foff, corpus.label_ids, corpus.label_offsets, ids)
            self.chunk_docs = corpus.n_docs

    def examples(self, docs: np.ndarray) -> tuple[TrainData, np.ndarray]:
        """``(data, order)`` for training on documents ``docs`` in that order."""
        if self.data is not None:
            return self.data, docs
        c = self.corpus
        ftok, foff, self.buffer = featurize_docs(
            c.tokens, c.offsets, docs, self.spec, self.lengths, self.buffer, c.hashes
        )
        data = TrainData(ftok, foff, c.label_ids, c.label_offsets, docs)
        return data, np.arange(len(docs), dtype=np.int64)


class EvalSet:
    """Validation data, featurized once when it fits ``budget`` (else at each prediction)."""

    def __init__(self, data: Corpus, spec: ModelSpec, budget: int) -> None:
        a = Arrays.of(data)
        self.spec = spec
        self.label_ids, self.label_offsets = a.label_ids, a.label_offsets
        self.hashes = a.hashes
        lengths = featurized_lengths(a.tokens, a.offsets, spec, a.hashes)
        self.featurized = feature_bytes(lengths) <= budget
        self.tokens, self.offsets = a.tokens, a.offsets
        if self.featurized:
            self.tokens, self.offsets = featurize(a.tokens, a.offsets, spec, a.hashes)

    def predict(self, params: ModelParams, threads: int) -> np.ndarray:
        return predict_proba(
            params, self.spec, self.tokens, self.offsets, threads=threads,
            featurized=self.featurized, hashes=self.hashes,
        )  # fmt: skip

    def evaluate(self, params: ModelParams, threads: int) -> tuple[dict[str, float], np.ndarray]:
        probs = self.predict(params, threads)
        return evaluate_arrays(probs, self.label_ids, self.label_offsets), probs


@dataclass
class EarlyStopping:
    """The best validation accuracy so far and, with ``patience > 0``, a copy of its
    parameters; ``stop`` once ``patience`` epochs passed without a gain."""

    patience: int
    active: bool  # there is validation data
    score: float = -np.inf
    epoch: int = 0
    bad_epochs: int = 0
    params: ModelParams | None = None

    def update(self, epoch: int, score: float, params: ModelParams) -> None:
        if score > self.score:
            self.score, self.epoch, self.bad_epochs = score, epoch, 0
            if self.patience > 0 and self.params is None:
                self.params = params.copy()
            elif self.patience > 0:
                _copy_into(self.params, params)
        else:
            self.bad_epochs += 1

    @property
    def stop(self) -> bool:
        return self.active and self.patience > 0 and self.bad_epochs >= self.patience

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "epoch": self.epoch, "bad_epochs": self.bad_epochs}

    def restore(self, state: TrainState, spec: ModelSpec) -> None:
        self.score = float(state.best.get("score", -np.inf))
        self.epoch = int(state.best.get("epoch", 0))
        self.bad_epochs = int(state.best.get("bad_epochs", 0))
        if "best_emb" in state.arrays:
            emb = np.array(state.restored("best_emb", (spec.num_rows, spec.dim)))
            dense = np.array(state.restored("best_dense", (spec.dense_size,)))
            self.params = params_from_dense(emb, dense, spec)


def optimizer_state(code: int, rows: int, dim: int, dense_size: int) -> OptState:
    """``(emb_S, emb_M, emb_V, emb_T, dense_S1, dense_S2)`` for optimizer ``code`` (Adagrad:
    row sums and dense sums; Adam: moments and per-row step counts); unused ones are size-1."""
    adagrad, adam = code == OPTIMIZERS["adagrad"], code == OPTIMIZERS["adam"]
    one = np.zeros(1, dtype=np.float32)
    return OptState(
        emb_S=np.zeros(rows, np.float32) if adagrad else one,
        emb_M=np.zeros((rows, dim) if adam else (1, 1), np.float32),
        emb_V=np.zeros((rows, dim) if adam else (1, 1), np.float32),
        emb_T=np.zeros(rows if adam else 1, np.int32),
        dense_S1=np.zeros(dense_size, np.float32) if adagrad or adam else one,
        dense_S2=np.zeros(dense_size, np.float32) if adam else one,
    )


class TrainingRun:
    """One training run's live state: parameters, optimizer state, features, schedule and
    counters; :meth:`run_epochs` trains, :meth:`snapshot` checkpoints, :meth:`finish` ends."""

    def __init__(
        self,
        corpus: Arrays,
        cfg: TrainConfig,
        spec: ModelSpec,
        val: Corpus | None,
        init_embeddings: np.ndarray | None,
        resume: TrainState | None,
        on_progress: Callable[[float], None] | None,
    ) -> None:
        self.corpus, self.cfg, self.spec, self.on_progress = corpus, cfg, spec, on_progress
        self.timings: dict[str, float] = {}
        with self._timed("init"):
            self.emb, self.dense = initial_parameters(spec, cfg.seed, init_embeddings, resume)
            self.params = params_from_dense(self.emb, self.dense, spec)
        with self._timed("featurize"):
            budget = feature_budget()
            self.features = FeatureSource(corpus, spec, budget)
            self.val = EvalSet(val, spec, budget) if val is not None else None
        with self._timed("state"):
            code = OPTIMIZERS[cfg.optimizer]
            self.state = optimizer_state(code, spec.num_rows, spec.dim, spec.dense_size)
            if resume is not None:
                for name, array in zip(STATE_ARRAYS[2:], self.state):
                    array[...] = resume.restored(name, array.shape)
            self.class_weight = _class_weights(corpus.label_ids, spec.num_labels, cfg.class_weight)
        self._schedule(resume)

    @contextlib.contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        """Adds the wall seconds of the block to ``timings[name]``."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t

    def _schedule(self, resume: TrainState | None) -> None:
        """Shuffling generator, learning-rate progress, chunks and threads; the counters of
        ``resume``."""
        cfg, n_docs = self.cfg, self.corpus.n_docs
        self.rng = np.random.default_rng(cfg.seed)
        self.tokens_per_epoch = float(self.features.lengths.sum())
        self.total_tokens = max(1.0, self.tokens_per_epoch * cfg.epochs)
        # Hogwild only pays off on big epochs: below PARALLEL_MIN_TOKENS the serial kernel is
        # faster (no thread start-up, no cache-line ping-pong on the classifier) and reproducible
        big = self.tokens_per_epoch >= PARALLEL_MIN_TOKENS
        self.nthreads = cfg.threads if cfg.threads > 1 and big else 1
        n_chunks = (
            int(min(20, max(1, self.tokens_per_epoch // 2_000_000))) if self.on_progress else 1
        )
        n_batches = -(-n_docs // cfg.batch_size)
        # the results do not depend on the chunks (they are cut on mini-batch borders)
        self.n_chunks = int(min(n_batches, max(n_chunks, -(-n_docs // self.features.chunk_docs))))
        self.history: list[dict[str, Any]] = []
        self.best = EarlyStopping(cfg.patience, self.val is not None)
        self.step, self.done_tokens, self.train_seconds = 0, 0.0, 0.0
        self.first_epoch = 1
        self.diverged_loss = float("nan")
        if resume is not None:
            self.rng.bit_generator.state = resume.rng_state
            self.history = [dict(r) for r in resume.history]
            self.best.restore(resume, self.spec)
            self.step, self.done_tokens = int(resume.step), float(resume.done_tokens)
            self.train_seconds = float(resume.train_seconds)
            self.first_epoch = int(resume.epoch) + 1
            if self.best.stop:
                self.first_epoch = cfg.epochs + 1  # the checkpointed run had stopped early there

    def run_epochs(
        self,
        on_epoch: Callable[[dict[str, Any]], None] | None,
        checkpoint_every: int,
        on_checkpoint: Callable[[TrainState], None] | None,
        stop_after: int | None = None,
    ) -> int | None:
        """Train the remaining epochs (up to ``stop_after``); the epoch that diverged, if any."""
        last = self.cfg.epochs if stop_after is None else min(self.cfg.epochs, stop_after)
        for epoch in range(self.first_epoch, last + 1):
            record = self.run_epoch(epoch)
            if record is None:
                return epoch
            self.validate(epoch, record)
            self.history.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if on_checkpoint is not None and checkpoint_every > 0 and epoch % checkpoint_every == 0:
                on_checkpoint(self.snapshot(epoch))
            if self.best.stop:
                break
        return None

    def run_epoch(self, epoch: int) -> dict[str, Any] | None:
        """One pass over a fresh permutation, a chunk at a time; its history record, or None
        when the loss or the classifier became NaN/Inf."""
        cfg, n_docs = self.cfg, self.corpus.n_docs
        t_ep = time.perf_counter()
        order = self.rng.permutation(n_docs).astype(np.int64)
        seed_ep = int(self.rng.integers(0, 2**62))
        loss_sum, n_correct = 0.0, 0
        # chunk borders on mini-batch borders, so results do not depend on progress reporting
        bsz = cfg.batch_size
        bounds = np.minimum(
            np.linspace(0, -(-n_docs // bsz), self.n_chunks + 1).astype(np.int64) * bsz, n_docs
        )
        for c in range(self.n_chunks):
            part = order[bounds[c] : bounds[c + 1]]
            if len(part) == 0:
                continue
            loss_sum, correct = self._train_chunk(part, seed_ep, loss_sum)
            n_correct += correct
            if not self._finite(loss_sum):
                break  # diverged: no point in finishing the epoch
            if self.on_progress is not None:
                self.on_progress(min(1.0, self.done_tokens / self.total_tokens))
        seconds = time.perf_counter() - t_ep
        self.train_seconds += seconds
        self.timings[f"epoch_{epoch}"] = seconds
        if not self._finite(loss_sum):
            self.diverged_loss = loss_sum / n_docs
            return None
        lr = float(cfg.lr)
        return {
            "epoch": epoch,
            "loss": loss_sum / n_docs,
            "accuracy": n_correct / n_docs,
            "lr": lr * max(0.0, 1.0 - self.done_tokens / self.total_tokens)
            if cfg.lr_schedule == "linear"
            else lr,
            "seconds": seconds,
            "tokens_per_s": len(self.corpus.tokens) / seconds if seconds > 0 else float("inf"),
        }

    def _finite(self, loss_sum: float) -> bool:
        return bool(np.isfinite(loss_sum) and np.isfinite(self.dense).all())

    def kernel_opt(self, seed: int, loss0: float) -> KernelOpt:
        """The kernels' hyperparameters and counters for the next chunk."""
        cfg = self.cfg
        return KernelOpt(
            optimizer=OPTIMIZERS[cfg.optimizer],
            lr=float(cfg.lr),
            linear_decay=cfg.lr_schedule == "linear",
            l2=float(cfg.l2),
            beta1=ADAM_BETAS[0],
            beta2=ADAM_BETAS[1],
            eps=EPS,
            dropout=float(cfg.dropout),
            frozen_rows=int(self.spec.num_words if cfg.freeze_embeddings else 1),
            batch_size=int(cfg.batch_size),
            seed=seed,
            step0=int(self.step),
            tokens0=float(self.done_tokens),
            total_tokens=float(self.total_tokens),
            loss0=float(loss0),  # the kernel sums on from here: chunking changes no bit
        )

    def _train_chunk(self, part: np.ndarray, seed: int, loss0: float) -> tuple[float, int]:
        """Train on documents ``part`` in that order; ``(loss sum so far, correct count)``."""
        nsh = min(self.nthreads, len(part))
        data, order = self.features.examples(part)
        loss, correct = train_epoch(
            (self.emb, self.dense), self.state, data, self.spec.kernel_shape(),
            self.kernel_opt(seed, loss0), self.class_weight, order, nsh, threads=nsh > 1,
        )  # fmt: skip
        self.step += -(-len(part) // self.cfg.batch_size)
        self.done_tokens += float(self.features.lengths[part].sum())
        return float(loss.sum()), int(correct.sum())

    def validate(self, epoch: int, record: dict[str, Any]) -> None:
        """Validation accuracy and loss into ``record``; early-stopping bookkeeping."""
        if self.val is None:
            return
        with self._timed("val_eval"):
            ev, _ = self.val.evaluate(self.params, self.cfg.threads)
        record["val_accuracy"] = ev["accuracy"]
        record["val_loss"] = ev["loss"]
        self.best.update(epoch, ev["accuracy"], self.params)

    def snapshot(self, epoch: int) -> TrainState:
        """The checkpoint state after ``epoch`` (views of the live arrays)."""
        arrays = dict(zip(STATE_ARRAYS, (self.emb, self.dense, *self.state)))
        if self.best.params is not None:
            arrays["best_emb"] = self.best.params.embeddings
            arrays["best_dense"] = pack_dense(self.best.params, self.spec)
        return TrainState(
            spec=self.spec,
            config=replace(self.cfg),
            epoch=epoch,
            step=self.step,
            done_tokens=self.done_tokens,
            train_seconds=self.train_seconds,
            rng_state=self.rng.bit_generator.state,
            history=[dict(r) for r in self.history],
            best=self.best.to_dict(),
            n_docs=self.corpus.n_docs,
            n_tokens=len(self.corpus.tokens),
            arrays=arrays,
        )

    def finish(self, t_start: float) -> TrainResult:
        """The result: the best epoch's parameters (with early stopping) as own arrays, final
        metrics, tuned multi-label thresholds."""
        cfg, spec, history = self.cfg, self.spec, self.history
        params = self.params
        if self.best.params is not None and self.best.epoch != len(history):
            params = self.best.params
        params = ModelParams(
            params.embeddings,
            params.out_W.copy(),
            params.out_b.copy(),
            None if params.hidden_W is None else params.hidden_W.copy(),
            None if params.hidden_b is None else params.hidden_b.copy(),
        )
        metrics: dict[str, Any] = {
            "train_loss": history[-1]["loss"] if history else float("nan"),
            "train_accuracy": history[-1]["accuracy"] if history else float("nan"),
            "epochs_run": len(history),
            "train_seconds": self.train_seconds,
        }
        if self.val is not None:
            ev, probs = self.val.evaluate(params, cfg.threads)
            metrics.update(
                val_accuracy=ev["accuracy"],
                val_loss=ev["loss"],
                best_epoch=self.best.epoch or len(history),
            )
            if cfg.objective == "multilabel":
                params.thresholds = tune_thresholds(
                    probs, self.val.label_ids, self.val.label_offsets, cfg.threshold
                )
        if cfg.objective == "multilabel" and params.thresholds is None:
            params.thresholds = np.full(spec.num_classes, cfg.threshold, dtype=np.float32)
        seconds = time.perf_counter() - t_start
        tokens_per_s = len(self.corpus.tokens) * len(history) / max(seconds, 1e-9)
        return TrainResult(params, spec, history, metrics, seconds, tokens_per_s, cfg, self.timings)


def initial_parameters(
    spec: ModelSpec,
    seed: int,
    init_embeddings: np.ndarray | None,
    resume: TrainState | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(emb, dense)`` to start from: fresh (:func:`~embedcli.model.init_params`, then the
    pretrained rows of ``init_embeddings``) or the checkpoint's."""
    dense = np.zeros(spec.dense_size, dtype=np.float32)
    if resume is not None:
        emb = resume.restored("emb", (spec.num_rows, spec.dim))
        dense[...] = resume.restored("dense", dense.shape)
        return emb, dense
    params = init_params(spec, seed)
    if isinstance(init_embeddings, InitEmbeddings):
        ids = np.asarray(init_embeddings.bucket_ids, dtype=np.int64)
        rows = np.asarray(init_embeddings.bucket_rows, dtype=np.float32)
        bucket_rows = spec.num_rows - spec.num_words
        if len(ids) and (
            rows.shape != (len(ids), spec.dim) or ids.min() < 0 or ids.max() >= bucket_rows
        ):
            raise UsageError(
                f"init bucket rows must be ({len(ids)}, {spec.dim}) rows of buckets "
                f"0..{bucket_rows - 1}, not {rows.shape} of buckets {ids.min()}..{ids.max()}"
            )
        params.embeddings[spec.num_words + ids] = rows
        init_embeddings = init_embeddings.words
    if init_embeddings is not None:
        init = np.asarray(init_embeddings, dtype=np.float32)
        if init.ndim != 2 or init.shape[1] != spec.dim or init.shape[0] > spec.num_words:
            raise UsageError(
                f"init_embeddings must be (<= {spec.num_words}, {spec.dim}), not {init.shape}"
            )
        params.embeddings[: init.shape[0]] = init
        params.embeddings[0] = 0.0
    dense[...] = pack_dense(params, spec)
    return params.embeddings, dense


def _class_weights(label_ids: np.ndarray, n_labels: int, mode: str | None) -> np.ndarray:
    w = np.ones(n_labels, dtype=np.float32)
    if mode == "balanced":
        counts = np.bincount(
            label_ids[(label_ids >= 0) & (label_ids < n_labels)], minlength=n_labels
        ).astype(np.float64)
        present = counts > 0
        w[present] = (counts[present].sum() / (present.sum() * counts[present])).astype(np.float32)
    return w


def evaluate_arrays(
    probs: np.ndarray, label_ids: np.ndarray, label_offsets: np.ndarray
) -> dict[str, float]:
    """Accuracy (top-1 in the document's labels; = P@1 for multi-label) and mean log-loss of the
    top label, for documents with at least one known label."""
    n = len(label_offsets) - 1
    lens = np.diff(label_offsets)
    doc = np.repeat(np.arange(n), lens)
    top = probs.argmax(axis=1)
    valid = (label_ids >= 0) & (label_ids < probs.shape[1])
    hit = np.zeros(n, dtype=bool)
    hit[doc[valid & (label_ids == top[doc])]] = True
    has = np.zeros(n, dtype=bool)
    has[doc[valid]] = True
    m = int(has.sum())
    # log-loss of the first known label of each doc
    first = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(valid)[::-1]
    first[doc[idx]] = label_ids[idx]
    sel = first >= 0
    p = probs[np.flatnonzero(sel), first[sel]]
    logloss = float(-np.log(np.clip(p, 1e-12, 1.0)).mean()) if m else float("nan")
    return {"accuracy": float(hit[has].mean()) if m else float("nan"), "loss": logloss, "n": m}


def tune_thresholds(
    probs: np.ndarray, label_ids: np.ndarray, label_offsets: np.ndarray, default: float = 0.5
) -> np.ndarray:
    """Per-label threshold maximising F1 on the given (validation) predictions; ``default`` for
    labels without a positive example."""
    n, C = probs.shape
    Y = np.zeros((n, C), dtype=bool)
    doc = np.repeat(np.arange(n), np.diff(label_offsets))
    ok = (label_ids >= 0) & (label_ids < C)
    Y[doc[ok], label_ids[ok]] = True
    th = np.full(C, default, dtype=np.float32)
    for c in range(C):
        pos = int(Y[:, c].sum())
        if pos == 0:
            continue
        order = np.argsort(-probs[:, c], kind="stable")
        tp = np.cumsum(Y[order, c])
        k = np.arange(1, n + 1)
        f1 = 2 * tp / (k + pos)
        best = int(np.argmax(f1))
        hi = probs[order[best], c]
        lo = probs[order[best + 1], c] if best + 1 < n else 0.0
        th[c] = np.float32((hi + lo) / 2)
    return th


def _ngram_hash(train: Any, cfg: TrainConfig) -> str:
    """``ModelSpec.ngram_hash`` of a new model: fastText's string hashing when the corpus
    carries its token hashes (``sequences.encode_corpus(..., hashes=True)``), else the ids'."""
    if cfg.word_ngrams > 1 and getattr(train, "hashes", None) is not None:
        from embedcli.ftcompat import NGRAM_HASH

        return NGRAM_HASH
    return ""


def _copy_into(dst: ModelParams, src: ModelParams) -> None:
    np.copyto(dst.embeddings, src.embeddings)
    np.copyto(dst.out_W, src.out_W)
    np.copyto(dst.out_b, src.out_b)
    if src.hidden_W is not None:
        np.copyto(dst.hidden_W, src.hidden_W)
        np.copyto(dst.hidden_b, src.hidden_b)
