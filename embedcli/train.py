"""Training: ``TrainConfig`` + ``fit``. Python owns the epoch loop; the kernels do one epoch.

``fit`` takes integer data (any object with ``tokens``, ``offsets``, ``label_ids``,
``label_offsets`` arrays, e.g. ``embedcli.sequences.EncodedCorpus``), shuffles with an explicit
``np.random.default_rng(seed)``, runs the epoch kernel (Hogwild over ``threads`` shards, or the
serial kernel for ``threads == 1``, which is bit-reproducible for a given seed), evaluates the
validation set after each epoch, stops early (restoring the best epoch) and tunes multi-label
thresholds. It never prints: progress goes to the ``on_epoch``/``on_progress`` callbacks.

Left out: subword features, hierarchical softmax / negative sampling, learning-rate search.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

import numpy as np

from embedcli.errors import TrainingDiverged
from embedcli.model import (
    OBJECTIVES,
    OPTIMIZERS,
    POOLS,
    ModelParams,
    ModelSpec,
    check_ids,
    dense_size,
    feature_budget,
    feature_chunk_docs,
    featurize,
    featurize_docs,
    featurized_lengths,
    init_params,
    pack_dense,
    predict_proba,
    train_epoch,
    unpack_dense,
)

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "TrainingDiverged",
    "fit",
    "evaluate_arrays",
]

# Default learning rate per optimizer when ``TrainConfig.lr`` is None.
DEFAULT_LR = {"sgd": 0.5, "adagrad": 0.3, "adam": 0.01}
# Dropout on the pooled vector when ``TrainConfig.dropout`` is None (adaptive optimizers only).
DEFAULT_DROPOUT = 0.3
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
class TrainConfig:
    """Every hyperparameter of :func:`fit` (stored in the model's ``config.json``).

    ``epochs=0`` and ``lr=None`` mean "choose": epochs from the dataset size (see
    :func:`auto_epochs`), lr from ``DEFAULT_LR[optimizer]``. ``threads=0`` means all cores.
    ``dropout=None`` means 0.3 for the adaptive optimizers and 0 for SGD (so SGD with
    ``lr=0.5, word_ngrams=2, epochs=5`` is fastText's supervised model). ``buckets=0`` means "choose" (:func:`auto_buckets`). ``freeze_embeddings`` freezes the word
    rows (the hashed n-gram rows still train).
    """

    dim: int = 100
    epochs: int = 0
    lr: float | None = None
    optimizer: str = "adagrad"
    lr_schedule: str = "linear"
    batch_size: int = 1
    l2: float = 0.0
    dropout: float | None = None
    pool: str = "mean"
    hidden: int = 0
    objective: str = "softmax"
    threshold: float = 0.5
    class_weight: str | None = None
    word_ngrams: int = 2
    buckets: int = 0
    maxlen: int = 0
    threads: int = 0
    seed: int = 0
    patience: int = 0
    freeze_embeddings: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**data)

    def validate(self) -> None:
        """Raise ValueError on an impossible combination."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}")
        if self.pool not in POOLS:
            raise ValueError(f"pool must be one of {sorted(POOLS)}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}")
        if self.lr_schedule not in ("linear", "constant"):
            raise ValueError("lr_schedule must be 'linear' or 'constant'")
        if self.class_weight not in (None, "balanced"):
            raise ValueError("class_weight must be None or 'balanced'")
        if self.dim < 1 or self.batch_size < 1 or self.epochs < 0 or self.threads < 0:
            raise ValueError("dim and batch_size must be >= 1, epochs and threads >= 0")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if self.lr is not None and not self.lr > 0:
            raise ValueError("lr must be > 0")
        if self.pool == "flatten" and self.maxlen < 1:
            raise ValueError("pool 'flatten' needs maxlen >= 1")
        if self.word_ngrams < 1 or self.buckets < 0:
            raise ValueError("word_ngrams must be >= 1 and buckets >= 0")


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


#: arrays of a :class:`TrainState` (optimizer ones are size-1 dummies when unused)
STATE_ARRAYS = ("emb", "dense", "emb_S", "emb_M", "emb_V", "emb_T", "dense_S1", "dense_S2")


@dataclass
class TrainState:
    """Everything :func:`fit` needs to continue after epoch ``epoch`` exactly where it was.

    ``arrays``: the parameters (``emb``, ``dense`` in the kernels' flat layout), the optimizer
    state (see ``STATE_ARRAYS``) and, with early stopping, ``best_emb``/``best_dense``.
    ``rng_state`` is the shuffling generator's ``bit_generator.state`` (a JSON-able dict);
    ``step``/``done_tokens`` are the mini-batch and the learning-rate progress counters.
    ``n_docs``/``n_tokens`` describe the training corpus, which must be the same on resume.
    """

    spec: ModelSpec
    config: TrainConfig
    epoch: int
    step: int
    done_tokens: float
    train_seconds: float
    rng_state: dict[str, Any]
    history: list[dict[str, Any]]
    best: dict[str, Any]
    n_docs: int
    n_tokens: int
    arrays: dict[str, np.ndarray]


def auto_epochs(n_docs: int, n_tokens: int) -> int:
    """Epochs when ``TrainConfig.epochs == 0``: about 200k example updates and at most about
    60M token visits, clamped to 5..25. Small sets need many passes (fastText's 25-epoch rows win
    on trec6); long-document sets (20newsgroups, imdb) have converged after ~8-10."""
    if n_docs <= 0:
        return 5
    by_docs = 200_000 / n_docs
    by_tokens = 60_000_000 / max(1, n_tokens)
    return int(min(25, max(5, round(min(by_docs, by_tokens)))))


def auto_buckets(n_docs: int, n_tokens: int, word_ngrams: int) -> int:
    """Buckets when ``TrainConfig.buckets == 0``: the power of two >= 2x the training n-gram
    windows, between 2**16 and 2**20 (1M x dim 50 = 200 MB; fastText's 2M is 400 MB)."""
    windows = max(1, (n_tokens - n_docs) * max(0, word_ngrams - 1))
    return int(min(1 << 20, max(1 << 16, 1 << int(np.ceil(np.log2(2 * windows))))))


def _as_arrays(data: Corpus) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.ascontiguousarray(data.tokens, dtype=np.int32),
        np.ascontiguousarray(data.offsets, dtype=np.int64),
        np.ascontiguousarray(data.label_ids, dtype=np.int32),
        np.ascontiguousarray(data.label_offsets, dtype=np.int64),
    )


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
    _stop_after: int | None = None,
) -> TrainResult:
    """Train a classifier on ``train`` (word ids, not yet featurized).

    ``num_words`` (rows of the word table, default ``max id + 1`` or the rows of
    ``init_embeddings``) and ``num_classes`` (default ``max label id + 1``) should come from the
    vocabulary. ``init_embeddings`` ``(k, dim)`` overwrites the first k word rows (row 0 is kept
    zero). ``on_epoch(record)`` gets each history record; ``on_progress(fraction)`` is called a few
    times per epoch with the fraction of training done. Raises :class:`TrainingDiverged` when the
    loss is NaN/Inf (checked after every chunk of an epoch, so a run stops early); its ``epoch``
    attribute is the epoch that diverged and ``result`` holds the last good parameters (those of
    the previous epoch, rebuilt by re-running the same training up to it: no snapshot is kept
    during normal training, which would cost a second embedding table; bit-identical for
    ``threads == 1``).

    Memory: the n-gram features (word bigrams and ``</s>`` make about a second corpus twice the
    size of the word ids) are built once when they fit in ``EMBEDCLI_MEM_LIMIT`` (see
    :func:`embedcli.sequences.memory_limit`); past it each chunk of an epoch's permutation is
    featurized into one reused buffer (about ``min(limit / 4, 64 MiB)``), with the same results.

    Checkpoints: every ``checkpoint_every`` epochs ``on_checkpoint(state)`` gets a
    :class:`TrainState` (views of the live arrays: write them out before returning).
    ``resume=state`` continues such a run (its ``config`` and ``spec`` replace ``config`` and the
    sizes; ``train`` must be the same corpus): with ``threads == 1`` the result is bit-identical
    to the uninterrupted run.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    if resume is not None:
        config = resume.config
        num_words, num_classes = resume.spec.num_words, None
        init_embeddings = None
    cfg = TrainConfig(**asdict(config)) if config is not None else TrainConfig()
    cfg.validate()
    tokens, offsets, label_ids, label_offsets = _as_arrays(train)
    n_docs = len(offsets) - 1
    if n_docs < 1:
        raise ValueError("no training documents")
    if resume is not None and (resume.n_docs, resume.n_tokens) != (n_docs, len(tokens)):
        raise ValueError(
            f"the training corpus is not the checkpoint's: {n_docs:,} documents and "
            f"{len(tokens):,} tokens, the checkpoint was trained on {resume.n_docs:,} documents "
            f"and {resume.n_tokens:,} tokens"
        )
    if num_words is None:
        num_words = int(tokens.max(initial=1)) + 1
        if init_embeddings is not None:
            num_words = max(num_words, init_embeddings.shape[0])
    if num_classes is None:
        num_classes = int(label_ids.max(initial=0)) + 1
    if resume is not None:
        num_classes = 2 if resume.spec.objective == "binary" else resume.spec.num_classes
    if cfg.objective == "binary" and num_classes != 2:
        raise ValueError(f"objective 'binary' needs exactly 2 labels, not {num_classes}")
    cfg.epochs = cfg.epochs or auto_epochs(n_docs, len(tokens))
    if cfg.word_ngrams > 1:
        cfg.buckets = cfg.buckets or auto_buckets(n_docs, len(tokens), cfg.word_ngrams)
    lr = float(cfg.lr if cfg.lr is not None else DEFAULT_LR[cfg.optimizer])
    cfg.lr = lr
    if cfg.dropout is None:
        cfg.dropout = 0.0 if cfg.optimizer == "sgd" else DEFAULT_DROPOUT
    if not cfg.threads:
        from embedcli.shards import available_cores

        threads = available_cores()
    else:
        threads = cfg.threads
    cfg.threads = threads
    spec = ModelSpec(
        num_words=int(num_words),
        buckets=int(cfg.buckets) if cfg.word_ngrams > 1 else 0,
        dim=cfg.dim,
        num_classes=1 if cfg.objective == "binary" else int(num_classes),
        pool=cfg.pool,
        hidden=cfg.hidden,
        objective=cfg.objective,
        word_ngrams=cfg.word_ngrams,
        maxlen=cfg.maxlen if cfg.pool == "flatten" else 0,
        # a corpus encoded with its token hashes trains fastText's string-hashed n-grams
        ngram_hash=_ngram_hash(train, cfg),
    )
    hashes = getattr(train, "hashes", None)

    if resume is not None and resume.spec != spec:
        raise ValueError(f"checkpoint model {resume.spec} does not match {spec}")
    t_stage = time.perf_counter()
    params = (
        init_params(spec, cfg.seed)
        if resume is None
        else ModelParams(_restored(resume, "emb", (spec.num_rows, spec.dim)), None, None)
    )
    if init_embeddings is not None:
        init = np.asarray(init_embeddings, dtype=np.float32)
        if init.ndim != 2 or init.shape[1] != spec.dim or init.shape[0] > spec.num_words:
            raise ValueError(
                f"init_embeddings must be (<= {spec.num_words}, {spec.dim}), not {init.shape}"
            )
        params.embeddings[: init.shape[0]] = init
        params.embeddings[0] = 0.0
    emb = params.embeddings
    dense = np.zeros(dense_size(spec), dtype=np.float32)
    views = unpack_dense(dense, spec)
    if resume is not None:
        dense[...] = _restored(resume, "dense", dense.shape)
    else:
        for name, view in views.items():
            if view is not None:
                view[...] = getattr(params, name)
    params = ModelParams(emb, views["out_W"], views["out_b"], views["hidden_W"], views["hidden_b"])

    timings["init"] = time.perf_counter() - t_stage
    t_stage = time.perf_counter()
    # Featurizing once is the fast path; past the memory budget (the n-gram rows are about twice
    # the word corpus) each chunk of an epoch's permutation is featurized into a reused buffer.
    budget = feature_budget()
    check_ids(tokens, offsets, spec)
    lengths = featurized_lengths(tokens, offsets, spec, hashes)
    chunked = spec.word_ngrams > 1 and feature_bytes(lengths) > budget
    if chunked:
        data = None
        chunk_docs = feature_chunk_docs(lengths, budget)
    else:
        ftok, foff = featurize(tokens, offsets, spec, hashes)
        data = (ftok, foff, label_ids, label_offsets, np.arange(n_docs, dtype=np.int64))
        chunk_docs = n_docs
    feat_buffer: np.ndarray | None = None
    if val is not None:
        vt, vo, vl, vlo = _as_arrays(val)
        vh = getattr(val, "hashes", None)
        val_featurized = feature_bytes(featurized_lengths(vt, vo, spec, vh)) <= budget
        if val_featurized:
            vt, vo = featurize(vt, vo, spec, vh)
    timings["featurize"] = time.perf_counter() - t_stage
    t_stage = time.perf_counter()

    opt_code = OPTIMIZERS[cfg.optimizer]
    rows, dim = emb.shape
    one = np.zeros(1, dtype=np.float32)
    emb_S = np.zeros(rows, np.float32) if opt_code == 1 else one
    emb_M = np.zeros((rows, dim), np.float32) if opt_code == 2 else np.zeros((1, 1), np.float32)
    emb_V = np.zeros((rows, dim), np.float32) if opt_code == 2 else np.zeros((1, 1), np.float32)
    emb_T = np.zeros(rows, np.int32) if opt_code == 2 else np.zeros(1, np.int32)
    d_S1 = np.zeros_like(dense) if opt_code >= 1 else one
    d_S2 = np.zeros_like(dense) if opt_code == 2 else one
    state = (emb_S, emb_M, emb_V, emb_T, d_S1, d_S2)
    if resume is not None:
        for name, array in zip(STATE_ARRAYS[2:], state):
            array[...] = _restored(resume, name, array.shape)
    shape = spec.kernel_shape()
    cw = _class_weights(
        label_ids, 2 if cfg.objective == "binary" else spec.num_classes, cfg.class_weight
    )
    frozen = spec.num_words if cfg.freeze_embeddings else 1
    timings["state"] = time.perf_counter() - t_stage

    rng = np.random.default_rng(cfg.seed)
    tokens_per_epoch = float(lengths.sum())
    total_tokens = max(1.0, tokens_per_epoch * cfg.epochs)
    # Hogwild only pays off on big epochs: below PARALLEL_MIN_TOKENS the serial kernel is faster
    # (no thread start-up, no cache-line ping-pong on the classifier) and reproducible.
    big = tokens_per_epoch >= PARALLEL_MIN_TOKENS
    nthreads = threads if threads > 1 and big else 1
    n_chunks = int(min(20, max(1, tokens_per_epoch // 2_000_000))) if on_progress else 1
    n_batches = -(-n_docs // cfg.batch_size)
    # the results do not depend on the chunks (they are cut on mini-batch borders)
    n_chunks = int(min(n_batches, max(n_chunks, -(-n_docs // chunk_docs))))
    word_tokens = float(len(tokens))

    history: list[dict[str, Any]] = []
    best_score = -np.inf
    best_params: ModelParams | None = None
    best_epoch = 0
    bad_epochs = 0
    step = 0
    train_seconds = 0.0
    done_tokens = 0.0
    first_epoch = 1
    if resume is not None:
        rng.bit_generator.state = resume.rng_state
        history = [dict(r) for r in resume.history]
        best_score = float(resume.best.get("score", -np.inf))
        best_epoch = int(resume.best.get("epoch", 0))
        bad_epochs = int(resume.best.get("bad_epochs", 0))
        if "best_emb" in resume.arrays:
            best_dense = np.array(_restored(resume, "best_dense", dense.shape))
            bv = unpack_dense(best_dense, spec)
            best_params = ModelParams(
                np.array(_restored(resume, "best_emb", emb.shape)),
                bv["out_W"],
                bv["out_b"],
                bv["hidden_W"],
                bv["hidden_b"],
            )
        step, done_tokens = int(resume.step), float(resume.done_tokens)
        train_seconds = float(resume.train_seconds)
        first_epoch = int(resume.epoch) + 1
        if val is not None and cfg.patience > 0 and bad_epochs >= cfg.patience:
            first_epoch = cfg.epochs + 1  # the checkpointed run had stopped early there
    for epoch in range(first_epoch, cfg.epochs + 1):
        if _stop_after is not None and epoch > _stop_after:
            break
        t_ep = time.perf_counter()
        order = rng.permutation(n_docs).astype(np.int64)
        seed_ep = int(rng.integers(0, 2**62))
        loss_sum = 0.0
        n_correct = 0
        # chunk borders on mini-batch borders, so results do not depend on progress reporting
        bsz = cfg.batch_size
        bounds = np.minimum(
            np.linspace(0, -(-n_docs // bsz), n_chunks + 1).astype(np.int64) * bsz, n_docs
        )
        for c in range(n_chunks):
            part = order[bounds[c] : bounds[c + 1]]
            if len(part) == 0:
                continue
            nsh = min(nthreads, len(part))
            opt = (
                opt_code,
                lr,
                cfg.lr_schedule == "linear",
                float(cfg.l2),
                ADAM_BETAS[0],
                ADAM_BETAS[1],
                EPS,
                float(cfg.dropout),
                int(frozen),
                int(cfg.batch_size),
                seed_ep,
                int(step),
                float(done_tokens),
                float(total_tokens),
                float(loss_sum),  # the kernel sums on from here: chunking changes no bit
            )
            if chunked:
                ftok, foff, feat_buffer = featurize_docs(
                    tokens, offsets, part, spec, lengths, feat_buffer, hashes
                )
                chunk = (ftok, foff, label_ids, label_offsets, part)
                local = np.arange(len(part), dtype=np.int64)
                loss, correct = train_epoch(
                    (emb, dense), state, chunk, shape, opt, cw, local, nsh, threads=nsh > 1
                )
            else:
                loss, correct = train_epoch(
                    (emb, dense), state, data, shape, opt, cw, part, nsh, threads=nsh > 1
                )
            loss_sum = float(loss.sum())
            n_correct += int(correct.sum())
            step += -(-len(part) // cfg.batch_size)
            done_tokens += float(lengths[part].sum())
            if not np.isfinite(loss_sum) or not np.isfinite(dense).all():
                break  # diverged: no point in finishing the epoch
            if on_progress is not None:
                on_progress(min(1.0, done_tokens / total_tokens))
        seconds = time.perf_counter() - t_ep
        train_seconds += seconds
        timings[f"epoch_{epoch}"] = seconds
        record: dict[str, Any] = {
            "epoch": epoch,
            "loss": loss_sum / n_docs,
            "accuracy": n_correct / n_docs,
            "lr": lr * max(0.0, 1.0 - done_tokens / total_tokens)
            if cfg.lr_schedule == "linear"
            else lr,
            "seconds": seconds,
            "tokens_per_s": word_tokens / seconds if seconds > 0 else float("inf"),
        }
        if not np.isfinite(loss_sum) or not np.isfinite(dense).all():
            err = TrainingDiverged(
                f"training diverged in epoch {epoch} (loss {loss_sum / n_docs}); "
                f"try a lower learning rate than {lr}"
            )
            err.epoch = epoch
            # free the featurized corpus and the live parameters before the re-run
            del emb, dense, state, params
            ftok = foff = data = feat_buffer = None  # noqa: F841
            err.result = fit(
                train,
                cfg,
                None,
                init_embeddings,
                num_words=num_words,
                num_classes=num_classes,
                _stop_after=epoch - 1,
            )
            raise err
        if val is not None:
            t_stage = time.perf_counter()
            probs = predict_proba(
                params, spec, vt, vo, threads=threads, featurized=val_featurized, hashes=vh
            )
            ev = evaluate_arrays(probs, vl, vlo)
            timings["val_eval"] = timings.get("val_eval", 0.0) + time.perf_counter() - t_stage
            record["val_accuracy"] = ev["accuracy"]
            record["val_loss"] = ev["loss"]
            if ev["accuracy"] > best_score:
                best_score = ev["accuracy"]
                best_epoch = epoch
                bad_epochs = 0
                if cfg.patience > 0 and best_params is None:
                    best_params = params.copy()
                elif cfg.patience > 0:
                    _copy_into(best_params, params)
            else:
                bad_epochs += 1
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        stop = val is not None and cfg.patience > 0 and bad_epochs >= cfg.patience
        if on_checkpoint is not None and checkpoint_every > 0 and epoch % checkpoint_every == 0:
            arrays = dict(zip(STATE_ARRAYS, (emb, dense, *state)))
            if best_params is not None:
                arrays["best_emb"] = best_params.embeddings
                arrays["best_dense"] = pack_dense(best_params, spec)
            on_checkpoint(
                TrainState(
                    spec=spec,
                    config=TrainConfig(**asdict(cfg)),
                    epoch=epoch,
                    step=step,
                    done_tokens=done_tokens,
                    train_seconds=train_seconds,
                    rng_state=rng.bit_generator.state,
                    history=[dict(r) for r in history],
                    best={"score": best_score, "epoch": best_epoch, "bad_epochs": bad_epochs},
                    n_docs=n_docs,
                    n_tokens=len(tokens),
                    arrays=arrays,
                )
            )
        if stop:
            break

    if best_params is not None and best_epoch != len(history):
        params = best_params
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
        "train_seconds": train_seconds,
    }
    if val is not None:
        probs = predict_proba(
            params, spec, vt, vo, threads=threads, featurized=val_featurized, hashes=vh
        )
        ev = evaluate_arrays(probs, vl, vlo)
        metrics.update(
            val_accuracy=ev["accuracy"], val_loss=ev["loss"], best_epoch=best_epoch or len(history)
        )
        if cfg.objective == "multilabel":
            params.thresholds = tune_thresholds(probs, vl, vlo, cfg.threshold)
    if cfg.objective == "multilabel" and params.thresholds is None:
        params.thresholds = np.full(spec.num_classes, cfg.threshold, dtype=np.float32)
    seconds = time.perf_counter() - t_start
    epochs_run = len(history)
    return TrainResult(
        params,
        spec,
        history,
        metrics,
        seconds,
        word_tokens * epochs_run / max(seconds, 1e-9),
        cfg,
        timings,
    )


def feature_bytes(lengths: np.ndarray) -> int:
    """Bytes of a featurized corpus with these per-document lengths (int32 rows, int64 offsets)."""
    return int(lengths.sum()) * 4 + 8 * (len(lengths) + 1)


def _restored(state: TrainState, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``state.arrays[name]`` checked against the shape this run allocates (float32 for the
    parameters; optimizer arrays are copied into this run's arrays, which fixes their dtype)."""
    array = state.arrays.get(name)
    if array is None or tuple(array.shape) != tuple(shape):
        found = None if array is None else tuple(array.shape)
        raise ValueError(f"checkpoint array {name!r} should have shape {tuple(shape)}, not {found}")
    if name in ("emb", "dense", "best_emb", "best_dense"):
        return np.require(array, dtype=np.float32, requirements=["C", "W"])
    return array


def _copy_into(dst: ModelParams, src: ModelParams) -> None:
    np.copyto(dst.embeddings, src.embeddings)
    np.copyto(dst.out_W, src.out_W)
    np.copyto(dst.out_b, src.out_b)
    if src.hidden_W is not None:
        np.copyto(dst.hidden_W, src.hidden_W)
        np.copyto(dst.hidden_b, src.hidden_b)
