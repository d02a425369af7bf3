"""Hyperparameter search for ``embedcli train --autotune-*`` (fastText's ``-autotune-*``).

:func:`search` runs trials until the time budget (or ``trials``) is spent, each a training run
with hyperparameters proposed by optuna's TPE sampler, scored on the validation data with the
chosen :class:`Metric`. Every few epochs a trial reports its validation score; optuna's median
pruner stops trials whose score is below the median of earlier trials at the same point of their
schedule, and the same hook stops a trial that would overrun the budget (mid-epoch, between
chunks). Trial 0 is the run's defaults, so the result never scores below them on validation.
The best trial's model is kept as trained (fastText retrains its best arguments on the same
training data, which with ``--threads 1`` gives the same bits); :func:`finish` evaluates it on the
test file (never read during the search) and writes it as any model directory, with the chosen
hyperparameters and the trial history in ``config.json``.

Search space (names of ``TrainConfig``): optimizer, lr (a factor of the optimizer's default lr,
log scale), dim, epochs, word_ngrams, buckets (10k .. twice the automatic number), dropout,
min_count, subwords (minn 0/2/3 with maxn = minn + 3, as fastText). Options in ``fixed`` keep the
plan's value.

Metrics (``embedcli.autotune_metrics``) follow fastText's ``Meter`` with one prediction per
document: ``f1``, ``f1:LABEL``, ``precision-at-recall:R[:LABEL]``, ``recall-at-precision:P[:LABEL]``,
plus ``accuracy``.

Left out: quantizing candidates to fit ``model_size`` (they are skipped; the float size of
:func:`float_model_bytes` is compared), parallel trials. optuna is imported lazily (extra
``embedcli[autotune]``); nothing here prints.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from embedcli.autotune_metrics import (
    Metric,
    metric_score,
    parse_metric,
    resolve_metric_label,
)
from embedcli.errors import DataError, UsageError

__all__ = [
    "AutotuneOptions",
    "AutotuneResult",
    "Metric",
    "best_trials",
    "finish",
    "float_model_bytes",
    "metric_score",
    "parse_metric",
    "parse_size",
    "resolve_metric_label",
    "search",
]

#: the hyperparameters searched, by their ``TrainConfig`` names (``min_count`` is the plan's)
SEARCHED = (
    "optimizer",
    "lr",
    "dim",
    "epochs",
    "word_ngrams",
    "buckets",
    "dropout",
    "min_count",
    "minn",
    "maxn",
)
#: fastText's subword choices (``minnChoices_``); maxn = minn + 3
MINN_CHOICES = (0, 2, 3)
#: the range of ``buckets`` searched (fastText: 10k..10M); see ``bucket_range``
MIN_BUCKETS, MAX_BUCKETS = 10_000, 2_000_000
#: parameters plus optimizer state a trial may allocate (bytes) before it is skipped
MEMORY_CAP = 1_000_000_000
#: prepared corpora (one per min_count / n-gram hashing / subwords) kept between trials
PREPARED_CACHE = 4
#: featurized tokens per chunk of a trial's epoch: how often the budget is checked
CHUNK_TOKENS = 500_000
#: pruning points: a trial reports at 10 %, 20 %, ... of its epochs
REPORT_STEPS = 10
INSTALL_HINT = "autotune needs optuna: pip install 'embedcli[autotune]'"


# --------------------------------------------------------------------------- sizes


def parse_size(text: str) -> int:
    """``2M``, ``500k``, ``1G`` or a number of bytes (fastText's units: k/K = 1000, m/M = 10^6,
    g/G = 10^9); ``UsageError`` otherwise."""
    units = {"k": 1000, "m": 1_000_000, "g": 1_000_000_000}
    body, mult = text.strip(), 1
    if body and body[-1].lower() in units:
        body, mult = body[:-1], units[body[-1].lower()]
    try:
        value = float(body)
    except ValueError:
        raise UsageError(
            f"--autotune-model-size must be a size like 2M, 500k or 1G, not {text!r}"
        ) from None
    if not math.isfinite(value) or value * mult < 1:
        raise UsageError(f"--autotune-model-size must be at least 1 byte, not {text!r}")
    return int(value * mult)


def float_model_bytes(rows: int, dim: int, labels: int, hidden: int = 0) -> int:
    """Bytes of a float32 model's parameters: the embedding table (``rows x dim``) and the
    dense layers (hidden, then the classifier). The vocabulary and config files are left out.
    (A quantized model's estimate, ``embedcli.quantize``, plugs in here: see ``_model_bytes``.)"""
    width = hidden if hidden else dim
    dense = (dim * hidden + hidden if hidden else 0) + width * labels + labels
    return 4 * (rows * dim + dense)


def _optimizer_bytes(optimizer: str, rows: int, dim: int, dense: int) -> int:
    return {"sgd": 0, "adagrad": 4 * (rows + dense), "adam": 4 * rows * (2 * dim + 1) + 8 * dense}[
        optimizer
    ]


# --------------------------------------------------------------------------- search


@dataclass
class AutotuneOptions:
    metric: Metric
    duration: float = 300.0
    #: stop after this many trials (0 = only the time budget)
    trials: int = 0
    #: largest model (bytes, ``float_model_bytes``); 0 = any
    model_size: int = 0
    #: ``SEARCHED`` names that keep the plan's value (set explicitly by the user)
    fixed: frozenset[str] = frozenset()


@dataclass
class AutotuneResult:
    best: Any  # TrainResult of the best trial
    prepared: Any  # its PreparedTraining (vocabulary, corpus)
    best_trial: dict[str, Any]
    trials: list[dict[str, Any]]
    stopped: str  # budget, trials or interrupted
    seconds: float
    metric: Metric
    options: AutotuneOptions
    notes: list[str] = field(default_factory=list)
    #: seconds spent compiling kernels (not counted in the budget)
    compile_seconds: float = 0.0

    def record(self) -> dict[str, Any]:
        """The ``autotune`` entry of config.json and of ``--json``."""
        return {
            "metric": str(self.metric),
            "duration": self.options.duration,
            "max_trials": self.options.trials or None,
            "model_size": self.options.model_size or None,
            "fixed": sorted(self.options.fixed & set(SEARCHED)),
            "strategy": "optuna TPE sampler + median pruner",
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
            "compile_seconds": round(self.compile_seconds, 3),
            "best_trial": self.best_trial["trial"],
            "best_score": self.best_trial["score"],
            "best_params": self.best_trial["params"],
            "trials": self.trials,
        }


class _OutOfTime(Exception):
    """Raised by the per-chunk hook when a trial would overrun the budget."""


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def search(
    plan: Any,
    options: AutotuneOptions,
    on_trial: Callable[[dict[str, Any], dict[str, Any] | None, float], None] | None = None,
    prepare: Callable[[Any], Any] | None = None,
) -> AutotuneResult:
    """Search hyperparameters for ``plan`` (a ``pipeline.TrainPlan`` with validation data: its
    ``val_path`` or ``val_split``; its ``test_path`` is not read). ``on_trial(record, best,
    seconds_left)`` hears of each finished trial. Ctrl-C (``KeyboardInterrupt``, not SIGTERM)
    ends the search with the best trial so far; without any finished trial it propagates.
    ``prepare`` (default ``pipeline.prepare_training``) reads and encodes a plan."""
    from embedcli.pipeline import prepare_training

    optuna = _optuna()
    if options.duration <= 0:
        raise UsageError("--autotune-duration must be more than 0 seconds")
    if not plan.val_path and not plan.val_split:
        raise UsageError(
            "autotune needs validation data: --autotune-validation FILE or --val-split"
        )
    prepare = prepare or prepare_training
    t0 = time.perf_counter()
    optimizers = ("adagrad", "sgd", "adam")
    if "optimizer" in options.fixed:
        optimizers = (str(plan.config.get("optimizer") or "adagrad"),)
    clock = _Clock(options.duration, optimizers)
    seed = int(plan.config.get("seed") or 0)
    cache: OrderedDict[tuple, Any] = OrderedDict()
    base = replace(plan, test_path=None, config=dict(plan.config))
    first = _prepared(base, {}, cache, prepare, clock)
    label = resolve_metric_label(
        options.metric, first.vocab.labels, plan.corpus_options.label_prefix
    )
    _check_val_labels(first)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=4, multivariate=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    max_buckets = bucket_range(first.train.n_docs, int(len(first.train.tokens)))
    study.enqueue_trial(
        _default_params(base, first, options.fixed, max_buckets), skip_if_exists=False
    )
    trials: list[dict[str, Any]] = []
    best: tuple[dict[str, Any], Any, Any] | None = None
    stopped = "budget"
    notes: list[str] = []
    try:
        while True:
            if options.trials and len(trials) >= options.trials:
                stopped = "trials"
                break
            if clock.left() <= 0:
                break
            trial = study.ask()
            params = _suggest(trial, base.config, options.fixed, max_buckets)
            record, result, prepared = _run_trial(
                trial, params, base, options, label, cache, prepare, clock
            )
            record["trial"] = trial.number
            trials.append(record)
            if record["state"] == "stopped":  # out of time: not told (it would bias the sampler)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break
            if record["state"] == "complete":
                study.tell(trial, record["score"])
                if best is None or record["score"] > best[0]["score"]:
                    best = (record, result, prepared)
            elif record["state"] == "pruned":
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            if on_trial is not None:
                on_trial(record, best[0] if best else None, max(0.0, clock.left()))
    except KeyboardInterrupt as exc:
        if type(exc) is not KeyboardInterrupt or best is None:
            raise
        stopped = "interrupted"
    if best is None:
        too_big = sum(1 for r in trials if r["state"] == "too big")
        if trials and too_big == len(trials) and options.model_size:
            raise DataError(
                f"no candidate fits --autotune-model-size ({too_big} of {too_big} exceed "
                f"{options.model_size:,} bytes): allow a larger model or fix smaller options "
                "(--dim, --buckets, --word-ngrams 1)"
            )
        raise DataError(
            f"autotune finished no trial in {options.duration:g} s: give it more time "
            "(--autotune-duration) or fix more options"
        )
    skipped = sum(1 for r in trials if r["state"] == "too big")
    if options.model_size and skipped > max(10, len(trials) // 2):
        notes.append(
            f"{skipped} of {len(trials)} candidates exceeded --autotune-model-size: the size is "
            "probably too small"
        )
    return AutotuneResult(
        best=best[1],
        prepared=best[2],
        best_trial=best[0],
        trials=trials,
        stopped=stopped,
        seconds=time.perf_counter() - t0,
        metric=options.metric,
        options=options,
        notes=notes,
        compile_seconds=clock.compile_seconds,
    )


def _data_key(config: dict[str, Any], min_count: int) -> tuple:
    """What the encoded corpora depend on: min_count, n-gram hashes, subword lengths."""
    return (
        min_count,
        int(config.get("word_ngrams") or 1) > 1,
        int(config.get("minn") or 0),
        int(config.get("maxn") or 0),
    )


class _Clock:
    """The search's deadline; compiling kernels (a first run's one-time cost) extends it."""

    def __init__(self, seconds: float, optimizers: tuple[str, ...]) -> None:
        self.deadline = time.perf_counter() + seconds
        self.optimizers = optimizers
        self.warmed: set[tuple] = set()
        self.compile_seconds = 0.0

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def warm(self, key: tuple, prepared: Any) -> None:
        """Compile (or load) the kernels of corpus ``key`` for every optimizer searched."""
        from dataclasses import asdict
        from types import SimpleNamespace

        from embedcli.spec import TrainConfig
        from embedcli.warm import warm_kernels

        if key in self.warmed:
            return
        self.warmed.add(key)
        for optimizer in self.optimizers:
            cfg = {**asdict(TrainConfig()), **prepared.plan.config}
            cfg.update(optimizer=optimizer, lr=None, dropout=None)
            shim = SimpleNamespace(
                train=prepared.train,
                val=prepared.val,
                test=None,
                vocab=prepared.vocab,
                plan=SimpleNamespace(config=cfg),
            )
            warmed = warm_kernels(shim)
            if warmed.compiled:
                self.compile_seconds += warmed.seconds
                self.deadline += warmed.seconds


def _prepared(
    base: Any,
    params: dict[str, Any],
    cache: OrderedDict,
    prepare: Callable,
    clock: _Clock | None = None,
) -> Any:
    """The prepared corpora for a trial (cached by ``_data_key``), kernels warmed."""
    config = {**base.config, **{k: v for k, v in params.items() if k != "min_count"}}
    min_count = int(params.get("min_count", base.min_count))
    key = _data_key(config, min_count)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    prepared = prepare(replace(base, min_count=min_count, config=config))
    cache[key] = prepared
    while len(cache) > PREPARED_CACHE:
        cache.popitem(last=False)
    if clock is not None:
        clock.warm(key[1:], prepared)
    return prepared


def _check_val_labels(prepared: Any) -> None:
    """A validation file whose labels training never saw cannot be scored: DataError."""
    if not prepared.plan.val_path or prepared.val is None:
        return
    if not (prepared.val.label_ids < 0).any():
        return
    from embedcli.corpus import CorpusOptions, CorpusReader

    opts = CorpusOptions(**{**prepared.plan.corpus_options.__dict__, "require_labels": False})
    known = set(prepared.vocab.labels)
    unknown: list[str] = []
    for doc in CorpusReader([prepared.plan.val_path], opts):
        unknown.extend(lab for lab in doc.labels if lab not in known and lab not in unknown)
        if len(unknown) >= 5:
            break
    raise DataError(
        f"the validation file {prepared.plan.val_path} has labels the training data does not: "
        + ", ".join(unknown[:5])
    )


def bucket_range(n_docs: int, n_tokens: int) -> int:
    """The most buckets the search tries: twice what ``auto_buckets`` gives bigrams (2^17 for a
    small corpus, capped at ``MAX_BUCKETS``): more rows than n-gram windows only cost memory and
    initialisation time."""
    from embedcli.spec import auto_buckets

    return max(MIN_BUCKETS, min(MAX_BUCKETS, 2 * auto_buckets(n_docs, n_tokens, 2, False)))


def _default_params(
    base: Any, prepared: Any, fixed: frozenset[str], max_buckets: int
) -> dict[str, Any]:
    """Optuna's values for trial 0: the run's own (resolved) configuration."""
    from embedcli.spec import TrainConfig

    cfg = TrainConfig.from_dict(base.config).resolve(
        prepared.train.n_docs, int(len(prepared.train.tokens)), 1
    )
    values = {
        "optimizer": cfg.optimizer,
        "lr_factor": 1.0,
        "dim": min(max(cfg.dim, 8), 300),
        "epochs": min(max(cfg.epochs, 1), 100),
        "word_ngrams": min(max(cfg.word_ngrams, 1), 4),
        "buckets": min(max(cfg.buckets or 1 << 16, MIN_BUCKETS), max_buckets),
        "dropout": min(cfg.dropout, 0.7),
        "min_count": min(max(base.min_count, 1), 3),
        "minn": cfg.minn if cfg.minn in MINN_CHOICES else 0,
    }
    names = {"lr_factor": "lr"}
    return {k: v for k, v in values.items() if names.get(k, k) not in fixed}


def _suggest(
    trial: Any, config: dict[str, Any], fixed: frozenset[str], max_buckets: int
) -> dict[str, Any]:
    """A candidate: ``TrainConfig`` values (and ``min_count``) for the free options."""
    from embedcli.spec import DEFAULT_LR

    p: dict[str, Any] = {}
    if "optimizer" not in fixed:
        p["optimizer"] = trial.suggest_categorical("optimizer", ["adagrad", "sgd", "adam"])
    optimizer = p.get("optimizer", config.get("optimizer", "adagrad"))
    if "lr" not in fixed:
        p["lr"] = DEFAULT_LR[optimizer] * trial.suggest_float("lr_factor", 0.05, 10.0, log=True)
    if "dim" not in fixed:
        p["dim"] = trial.suggest_int("dim", 8, 300, log=True)
    if "epochs" not in fixed:
        p["epochs"] = trial.suggest_int("epochs", 1, 100, log=True)
    if "word_ngrams" not in fixed:
        p["word_ngrams"] = trial.suggest_int("word_ngrams", 1, 4)
    if "buckets" not in fixed:
        p["buckets"] = trial.suggest_int("buckets", MIN_BUCKETS, max_buckets, log=True)
    if "dropout" not in fixed:
        p["dropout"] = trial.suggest_float("dropout", 0.0, 0.7)
    if "min_count" not in fixed:
        p["min_count"] = trial.suggest_int("min_count", 1, 3)
    if "minn" not in fixed and "maxn" not in fixed:
        minn = trial.suggest_categorical("minn", list(MINN_CHOICES))
        p["minn"], p["maxn"] = minn, (minn + 3 if minn else 0)
    if config.get("pool") == "flatten":  # no subwords with flatten
        p.pop("minn", None), p.pop("maxn", None)
    return p


def _model_bytes(spec: Any) -> int:
    """The size compared with ``--autotune-model-size``: the float model's. (Where a quantized
    size estimate, ``embedcli.quantize``, replaces it once candidates may be quantized.)"""
    return float_model_bytes(spec.num_rows, spec.dim, spec.num_labels, spec.hidden)


def _run_trial(
    trial: Any,
    params: dict[str, Any],
    base: Any,
    options: AutotuneOptions,
    label: int,
    cache: OrderedDict,
    prepare: Callable,
    clock: _Clock,
) -> tuple[dict[str, Any], Any, Any]:
    """Train one candidate, reporting to the pruner; ``(record, TrainResult or None,
    prepared)``."""
    from embedcli.resources import feature_budget
    from embedcli.spec import TrainConfig
    from embedcli.train import Arrays, EvalSet, TrainingRun, resolve_run

    t_trial = time.perf_counter()
    shown = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in params.items()}
    record: dict[str, Any] = {"state": "complete", "score": None, "params": shown}

    def done(state: str, **extra: Any) -> tuple[dict[str, Any], Any, Any]:
        record.update(state=state, seconds=round(time.perf_counter() - t_trial, 3), **extra)
        return record, None, None

    prepared = _prepared(base, params, cache, prepare, clock)
    config = {**base.config, **{k: v for k, v in params.items() if k != "min_count"}}
    corpus = Arrays.of(prepared.train)
    cfg, spec = resolve_run(
        corpus,
        TrainConfig.from_dict(config),
        len(prepared.vocab),
        len(prepared.vocab.labels),
        prepared.init_embeddings,
        None,
    )
    record["params"] = {**shown, "epochs": cfg.epochs, "buckets": cfg.buckets}
    size = _model_bytes(spec)
    record["model_bytes"] = size
    if options.model_size and size > options.model_size:
        return done("too big")
    dense = spec.dense_size
    if size + _optimizer_bytes(cfg.optimizer, spec.num_rows, spec.dim, dense) > MEMORY_CAP:
        return done("too big", reason="memory")
    if clock.left() <= 0:
        return done("stopped")

    def hook(_fraction: float) -> None:
        if clock.left() <= 0:
            raise _OutOfTime

    t_fit = time.perf_counter()
    try:
        run = TrainingRun(corpus, cfg, spec, None, prepared.init_embeddings, None, hook)
        # chunks of ~CHUNK_TOKENS, so the hook can stop a trial mid-epoch (same bits)
        n_batches = -(-corpus.n_docs // cfg.batch_size)
        wanted = int(run.tokens_per_epoch // CHUNK_TOKENS) + 1
        run.n_chunks = int(min(n_batches, max(run.n_chunks, wanted)))
        val = EvalSet(prepared.val, spec, feature_budget())
        last_step, score = 0, 0.0
        for epoch in range(1, cfg.epochs + 1):
            rec = run.run_epoch(epoch)
            if rec is None:
                return done("diverged", epochs_run=epoch)
            run.history.append(rec)
            step = REPORT_STEPS * epoch // cfg.epochs
            if step > last_step or epoch == cfg.epochs:
                last_step = step
                probs = val.predict(run.params, cfg.threads)
                score = metric_score(options.metric, probs, val.label_ids, val.label_offsets, label)
                rec["val_score"] = score
                if epoch < cfg.epochs:
                    trial.report(score, step)
                    if trial.should_prune():
                        return done("pruned", score=score, epochs_run=epoch)
            if clock.left() <= 0 and epoch < cfg.epochs:
                return done("stopped", epochs_run=epoch)
    except _OutOfTime:
        return done("stopped")
    result = run.finish(t_fit)
    result.metrics["val_score"] = score
    record.update(state="complete", score=score, epochs_run=cfg.epochs)
    record["seconds"] = round(time.perf_counter() - t_trial, 3)
    return record, result, prepared


# --------------------------------------------------------------------------- output


def finish(
    result: AutotuneResult,
    output: str,
    test_path: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate the best trial's model on ``test_path`` (read only now) and write it to
    ``output`` as any model directory; the summary (``train --json``'s shape plus
    ``autotune``)."""
    from embedcli.corpus import CorpusOptions, CorpusReader
    from embedcli.model import predict_proba
    from embedcli.modeldir import save_model
    from embedcli.pipeline import subword_lengths
    from embedcli.shards import encode_corpus
    from embedcli.train import evaluate_arrays

    best, prepared = result.best, result.prepared
    vocab, plan = prepared.vocab, prepared.plan
    metrics: dict[str, Any] = dict(best.metrics)
    metrics[f"val_{str(result.metric).split(':')[0].replace('-', '_')}"] = result.best_trial[
        "score"
    ]
    if test_path:
        if on_stage is not None:
            on_stage(f"evaluating on {test_path} …")
        opts = CorpusOptions(**{**plan.corpus_options.__dict__, "require_labels": False})
        test = encode_corpus(
            CorpusReader([test_path], opts),
            vocab,
            hashes=int(best.config.word_ngrams) > 1,
            subwords=subword_lengths(best.config.to_dict()),
        )
        probs = predict_proba(
            best.params, best.spec, test.tokens, test.offsets,
            threads=best.config.threads, hashes=test.hashes,
        )  # fmt: skip
        ev = evaluate_arrays(probs, test.label_ids, test.label_offsets)
        metrics.update(
            test_accuracy=ev["accuracy"], test_loss=ev["loss"], test_documents=test.n_docs
        )
    metrics["tokens_per_s"] = best.tokens_per_s
    if on_stage is not None:
        on_stage(f"writing {output} …")
    record = result.record()
    save_model(
        output,
        spec=best.spec.to_dict(),
        params=best.params,
        vocab=vocab,
        train_config=best.config.to_dict(),
        metrics=metrics,
        extra={
            "history": best.history,
            "init_vectors": prepared.init_coverage,
            "corpus": plan.corpus_options.record(),
            "autotune": record,
        },
    )
    return {
        "model": output,
        "train_documents": prepared.train.n_docs,
        "train_tokens": int(len(prepared.train.tokens)),
        "vocab_size": len(vocab),
        "labels": vocab.labels,
        "epochs": best.config.epochs,
        **metrics,
        "config": best.config.to_dict(),
        "autotune": record,
    }


def best_trials(trials: list[dict[str, Any]], n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` best finished trials, best first (ties: the earlier trial)."""
    done = [t for t in trials if t["state"] == "complete"]
    return sorted(done, key=lambda t: (-t["score"], t["trial"]))[:n]
