"""Hyperparameter search for ``embedcli train --autotune-*`` (fastText's ``-autotune-*``).

:func:`search` runs trials until the time budget (or ``trials``) is spent, each a training run
scored on the validation data with the chosen :class:`Metric`. The first trials are seeded
(:func:`seeded_trials`): the run's defaults (trial 0, so the result never scores below them on
validation), then fastText's supervised recipe (plain SGD, no dropout, more epochs); optuna's TPE
sampler proposes the rest, in ranges centred on the defaults (:class:`_Space`). Every tenth of
its epochs a trial reports its validation score; optuna's median pruner stops trials below the
median of earlier trials at the same point of their schedule, and the same hook stops a trial
that would overrun the budget (mid-epoch, between chunks). The search always returns a model:
until a trial has finished, the running one is fitted to the budget instead of stopped (its
learning-rate schedule shortened to the epochs that fit; at worst its parameters when the
budget ends), and one trial starts even when preparing the data used up the budget.

After a ``--val-split`` search the best configuration is trained again on the training and
validation documents (``AutotuneOptions.refit``), within the budget: the search keeps time for it
(the best trial's seconds x the data ratio x 1.15) and the best trial's own model is returned
when the refit cannot finish. When the best trial is the defaults (trial 0), the refit resolves
their automatic epochs and buckets on all the documents, in file order: the model ``train``
without a search gives. fastText does not do this (it retrains its best arguments on the
training data only, after the budget). With ``--autotune-validation`` the best trial's model is
kept as trained (the same training data a retraining would use; with ``--threads 1``, the same
bits). :func:`finish` evaluates it on the test file (never read during the search) and writes it
as any model directory, with the chosen hyperparameters and the trial history in ``config.json``.

With ``model_size`` a candidate whose float model is larger is quantized to fit, as fastText's
autotune does (``embedcli.autotune_size``): ``dsub`` 2/4/8/16 is searched, the cutoff is the
largest that fits, the cut table is retrained, the trial is scored quantized, and the best
trial's quantized model (format version 2) is the one written.

Search space (names of ``TrainConfig``): optimizer, lr (0.1x..5x the optimizer's default, log
scale), dim 16..300, epochs (a third .. 4x the automatic number, at most 100), word_ngrams 1..4,
buckets (10k .. twice the automatic number), dropout 0..0.6, min_count 1..3, subwords (minn 0/2/3
with maxn = minn + 3, as fastText). Options in ``fixed`` keep the plan's value.

Metrics (``embedcli.autotune_metrics``) follow fastText's ``Meter`` with one prediction per
document: ``f1``, ``f1:LABEL``, ``precision-at-recall:R[:LABEL]``, ``recall-at-precision:P[:LABEL]``,
plus ``accuracy``.

Left out: parallel trials. optuna is imported lazily (extra ``embedcli[autotune]``); nothing here
prints.
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
from embedcli.autotune_size import float_model_bytes
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
    #: largest model on disk (bytes); larger candidates are quantized to fit; 0 = any
    model_size: int = 0
    #: ``SEARCHED`` names that keep the plan's value (set explicitly by the user)
    fixed: frozenset[str] = frozenset()
    #: after a ``--val-split`` search, train the best configuration again on training +
    #: validation data, within the budget (time is kept for it); fastText does not
    refit: bool = True


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
    #: the refit on training + validation data (``AutotuneOptions.refit``), or None
    refit: dict[str, Any] | None = None
    #: the best trial's own model when a refit replaced it in ``best`` (for comparison)
    trial_model: Any = None
    #: with ``model_size``: the quantized trials' work directory (``_Sized``)
    sized: Any = None

    @property
    def quantized_dir(self) -> Any:
        """The best trial's quantized model directory, or None (a float model)."""
        if self.sized is None:
            return None
        return self.sized.dirs.get(self.best_trial["trial"])

    def record(self) -> dict[str, Any]:
        """The ``autotune`` entry of config.json and of ``--json``."""
        return {
            "metric": str(self.metric),
            "duration": self.options.duration,
            "max_trials": self.options.trials or None,
            "model_size": self.options.model_size or None,
            "fixed": sorted(self.options.fixed & set(SEARCHED)),
            "strategy": "seeded trials (defaults first), optuna TPE sampler + median pruner",
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
            "compile_seconds": round(self.compile_seconds, 3),
            "best_trial": self.best_trial["trial"],
            "best_score": self.best_trial["score"],
            "best_params": self.best_trial["params"],
            "refit": self.refit,
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
    sampler = optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=STARTUP_TRIALS, multivariate=True
    )
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    max_buckets = bucket_range(first.train.n_docs, int(len(first.train.tokens)))
    defaults = _default_params(base, first, options.fixed, max_buckets)
    sized = _Sized.start(options, label, seed, plan) if options.model_size else None
    if sized is not None:
        defaults["dsub_exp"] = 1  # fastText starts at dsub 2
    space = _Space.around(defaults, max_buckets)
    for params in seeded_trials(defaults, options.fixed, space):
        study.enqueue_trial(params, skip_if_exists=False)
    trials: list[dict[str, Any]] = []
    best: tuple[dict[str, Any], Any, Any] | None = None
    refit = bool(
        options.refit
        and not options.model_size
        and plan.val_split
        and not plan.val_path
        and plan.val_docs is None
    )
    stopped = "budget"
    notes: list[str] = []
    overtime = False
    try:
        while True:
            if options.trials and len(trials) >= options.trials:
                stopped = "trials"
                break
            if clock.left() <= 0:
                # no model yet: one more trial starts, fitted to the budget (``_run_trial``)
                if best is not None or overtime:
                    break
                overtime = True
            trial = study.ask()
            params = _suggest(trial, base.config, options.fixed, space, sized is not None)
            record, result, prepared = _run_trial(
                trial, params, base, options, label, cache, prepare, clock, sized, best is None
            )
            record["trial"] = trial.number
            trials.append(record)
            if record["state"] == "stopped":  # out of time: not told (it would bias the sampler)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break
            if record["state"] == "complete":
                study.tell(trial, record["score"])
                if best is None or record["score"] > best[0]["score"]:
                    if sized is not None:
                        sized.keep(trial.number)
                    best = (record, result, prepared)
                    if refit:
                        clock.reserve = _refit_seconds(record, prepared)
            elif record["state"] == "pruned":
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            if on_trial is not None:
                on_trial(record, best[0] if best else None, max(0.0, clock.left()))
    except KeyboardInterrupt as exc:
        if type(exc) is not KeyboardInterrupt or best is None:
            if sized is not None:
                sized.cleanup()
            raise
        stopped = "interrupted"
    except BaseException:
        if sized is not None:
            sized.cleanup()
        raise
    if best is None and sized is not None:
        sized.cleanup()
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
    model, prepared, refit_record, trial_model = best[1], best[2], None, None
    if refit and stopped != "interrupted":
        try:
            defaults_config = base.config if _is_defaults(best[0]) else None
            refit_record, refitted = _refit(best[1], best[2], clock, defaults_config)
        except KeyboardInterrupt as exc:
            if type(exc) is not KeyboardInterrupt:
                raise
            refit_record, refitted = {"done": False, "reason": "interrupted"}, None
        if refitted is not None:
            trial_model, (model, prepared) = model, refitted
    return AutotuneResult(
        best=model,
        prepared=prepared,
        refit=refit_record,
        trial_model=trial_model,
        sized=sized,
        best_trial=best[0],
        trials=trials,
        stopped=stopped,
        seconds=time.perf_counter() - t0,
        metric=options.metric,
        options=options,
        notes=notes,
        compile_seconds=clock.compile_seconds,
    )


#: searched values that are no ``TrainConfig`` field
NOT_CONFIG = frozenset({"min_count", "dsub"})


def _config_of(config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return {**config, **{k: v for k, v in params.items() if k not in NOT_CONFIG}}


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
        #: seconds kept at the end of the budget for the refit
        self.reserve = 0.0

    def left(self) -> float:
        """Seconds left for trials."""
        return self.deadline - self.reserve - time.perf_counter()

    def total_left(self) -> float:
        """Seconds left in the whole budget (trials and refit)."""
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
    config = _config_of(base.config, params)
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
        "dim": min(max(cfg.dim, DIM_RANGE[0]), DIM_RANGE[1]),
        "epochs": min(max(cfg.epochs, 1), 100),
        "word_ngrams": min(max(cfg.word_ngrams, 1), 4),
        "buckets": min(max(cfg.buckets or 1 << 16, MIN_BUCKETS), max_buckets),
        "dropout": min(cfg.dropout, MAX_DROPOUT),
        "min_count": min(max(base.min_count, 1), 3),
        "minn": cfg.minn if cfg.minn in MINN_CHOICES else 0,
    }
    names = {"lr_factor": "lr"}
    return {k: v for k, v in values.items() if names.get(k, k) not in fixed}


@dataclass(frozen=True)
class _Space:
    """The ranges searched, centred on the run's defaults (``_default_params``): a short budget
    spends its few trials near a configuration known to be good."""

    epochs: tuple[int, int] = (1, 100)
    max_buckets: int = MAX_BUCKETS

    @classmethod
    def around(cls, defaults: dict[str, Any], max_buckets: int) -> _Space:
        e = int(defaults.get("epochs", 10))
        return cls((max(1, e // 3), min(100, max(4 * e, 25))), max_buckets)

    def clamp(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` inside the ranges (enqueued trials must lie in them)."""
        lims: dict[str, tuple[float, float]] = {
            "lr_factor": LR_FACTOR,
            "dim": DIM_RANGE,
            "epochs": self.epochs,
            "word_ngrams": (1, 4),
            "buckets": (MIN_BUCKETS, self.max_buckets),
            "dropout": (0.0, MAX_DROPOUT),
            "min_count": (1, 3),
            "dsub_exp": (1, 4),
        }
        out = dict(params)
        for k, (lo, hi) in lims.items():
            if k in out:
                out[k] = type(out[k])(min(max(out[k], lo), hi))
        return out


#: ranges of the searched factor of the optimizer's default lr, of dim and of dropout
LR_FACTOR = (0.1, 5.0)
DIM_RANGE = (16, 300)
MAX_DROPOUT = 0.6
#: random trials before TPE models the scores (after the seeded ones)
STARTUP_TRIALS = 6


def seeded_trials(
    defaults: dict[str, Any], fixed: frozenset[str], space: _Space
) -> list[dict[str, Any]]:
    """The first trials, before the sampler's: the run's defaults, then configurations known to
    be good on short texts (fastText's supervised recipe: plain SGD without dropout, 2x the
    epochs at the default lr, and 4x at 0.4x the lr, as fastText's autotune ends on trec6:
    lr ~0.1, 100 epochs). Measured on trec6 and sms_spam (val/test accuracy, 2 seeds): the SGD
    recipes score at or above the defaults; subwords and more dropout score below. Fixed options
    keep the plan's value."""
    e = int(defaults.get("epochs", 10))
    variants = [
        {},
        {"optimizer": "sgd", "lr_factor": 1.0, "dropout": 0.0, "epochs": 2 * e},
        {"optimizer": "sgd", "lr_factor": 0.4, "dropout": 0.0, "epochs": 4 * e},
    ]
    out, seen = [], []
    for v in variants:
        if "optimizer" in fixed and "optimizer" in v:
            continue
        params = space.clamp({**defaults, **{k: x for k, x in v.items() if k not in fixed}})
        params = {k: x for k, x in params.items() if k in defaults}
        if params not in seen:
            seen.append(params)
            out.append(params)
    return out


def _suggest(
    trial: Any, config: dict[str, Any], fixed: frozenset[str], space: _Space, sized: bool = False
) -> dict[str, Any]:
    """A candidate: ``TrainConfig`` values (and ``min_count``) for the free options."""
    from embedcli.spec import DEFAULT_LR

    p: dict[str, Any] = {}
    if "optimizer" not in fixed:
        p["optimizer"] = trial.suggest_categorical("optimizer", ["adagrad", "sgd", "adam"])
    optimizer = p.get("optimizer", config.get("optimizer", "adagrad"))
    if "lr" not in fixed:
        p["lr"] = DEFAULT_LR[optimizer] * trial.suggest_float("lr_factor", *LR_FACTOR, log=True)
    if "dim" not in fixed:
        p["dim"] = trial.suggest_int("dim", *DIM_RANGE, log=True)
    if "epochs" not in fixed:
        p["epochs"] = trial.suggest_int("epochs", *space.epochs, log=True)
    if "word_ngrams" not in fixed:
        p["word_ngrams"] = trial.suggest_int("word_ngrams", 1, 4)
    if "buckets" not in fixed:
        p["buckets"] = trial.suggest_int("buckets", MIN_BUCKETS, space.max_buckets, log=True)
    if "dropout" not in fixed:
        p["dropout"] = trial.suggest_float("dropout", 0.0, MAX_DROPOUT)
    if "min_count" not in fixed:
        p["min_count"] = trial.suggest_int("min_count", 1, 3)
    if "minn" not in fixed and "maxn" not in fixed:
        minn = trial.suggest_categorical("minn", list(MINN_CHOICES))
        p["minn"], p["maxn"] = minn, (minn + 3 if minn else 0)
    if config.get("pool") == "flatten":  # no subwords with flatten
        p.pop("minn", None), p.pop("maxn", None)
    if sized:  # fastText: dsub 2^1 .. 2^4
        p["dsub"] = 1 << trial.suggest_int("dsub_exp", 1, 4)
    return p


def _model_bytes(spec: Any) -> int:
    """The float model's parameter bytes (the memory cap's measure; ``--autotune-model-size``
    compares bytes on disk, ``autotune_size``)."""
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
    sized: _Sized | None = None,
    first: bool = False,
) -> tuple[dict[str, Any], Any, Any]:
    """Train one candidate, reporting to the pruner; ``(record, TrainResult or None,
    prepared)``. With ``sized``, a candidate too large as floats is quantized to fit and
    scored quantized.

    ``first`` (no trial has finished yet): the trial must leave a model, so it is fitted to the
    budget instead of stopped (:func:`_fit_to_budget`): after each epoch, when the epochs left
    would overrun the budget, its schedule is shortened to the epochs that fit (the learning rate
    still decays to 0 at the new end); when the budget ends mid-epoch, the parameters as they are
    then are kept. The record's ``cut`` says so."""
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
    config = _config_of(base.config, params)
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
    qplan = None
    if sized is not None:
        from embedcli.autotune_size import float_disk_bytes, plan_quantization

        record["model_bytes"] = float_disk_bytes(spec)
        if record["model_bytes"] > options.model_size:
            qplan = plan_quantization(spec, options.model_size, int(params.get("dsub", 2)))
            if qplan is None:
                return done("too big")
    elif options.model_size and size > options.model_size:
        return done("too big")
    dense = spec.dense_size
    if size + _optimizer_bytes(cfg.optimizer, spec.num_rows, spec.dim, dense) > MEMORY_CAP:
        return done("too big", reason="memory")
    if clock.left() <= 0 and not first:
        return done("stopped")

    def hook(_fraction: float) -> None:
        if clock.left() <= 0:
            raise _OutOfTime

    t_fit = time.perf_counter()
    run = None
    val = EvalSet(prepared.val, spec, feature_budget())

    def scored() -> float:
        probs = val.predict(run.params, cfg.threads)
        return metric_score(options.metric, probs, val.label_ids, val.label_offsets, label)

    planned, epoch, score = cfg.epochs, 0, 0.0
    try:
        run = TrainingRun(corpus, cfg, spec, None, prepared.init_embeddings, None, hook)
        # chunks of ~CHUNK_TOKENS, so the hook can stop a trial mid-epoch (same bits)
        n_batches = -(-corpus.n_docs // cfg.batch_size)
        wanted = int(run.tokens_per_epoch // CHUNK_TOKENS) + 1
        run.n_chunks = int(min(n_batches, max(run.n_chunks, wanted)))
        last_step = 0
        while epoch < cfg.epochs:
            epoch += 1
            rec = run.run_epoch(epoch)
            if rec is None:
                return done("diverged", epochs_run=epoch)
            run.history.append(rec)
            if first and epoch < cfg.epochs:
                cfg = _fit_to_budget(run, epoch, run.train_seconds, clock.left())
            step = REPORT_STEPS * epoch // cfg.epochs
            if step > last_step or epoch == cfg.epochs:
                last_step = step
                score = scored()
                rec["val_score"] = score
                if epoch < cfg.epochs:
                    trial.report(score, step)
                    if trial.should_prune():
                        return done("pruned", score=score, epochs_run=epoch)
            if clock.left() <= 0 and epoch < cfg.epochs:
                return done("stopped", epochs_run=epoch)
    except _OutOfTime:
        if not first or run is None:
            return done("stopped")
        # the budget ended mid-epoch: the parameters as they are (a partly trained model)
        run.cfg = cfg = replace(cfg, epochs=max(1, epoch))
        score = scored()
        record["cut"] = {
            "planned_epochs": planned,
            "epochs": round(run.done_tokens / max(run.tokens_per_epoch, 1.0), 2),
            "reason": "the budget ended mid-epoch",
        }
    if first and cfg.epochs < planned and "cut" not in record:
        record["cut"] = {
            "planned_epochs": planned,
            "epochs": cfg.epochs,
            "reason": "schedule shortened to the budget",
        }
    result = run.finish(t_fit)
    if qplan is not None:
        if clock.left() <= 0:  # quantizing (k-means, retrain) would overrun the budget
            return done("stopped", epochs_run=cfg.epochs)
        fitted = sized.quantize(trial.number, result, prepared, qplan)
        if fitted is None:
            return done("too big", reason="quantized")
        path, written, cutoff = fitted
        record["float_score"] = score
        record["quantized"] = {"dsub": qplan.dsub, "cutoff": cutoff, "qnorm": True,
                               "qout": qplan.qout, "retrain": bool(cutoff)}  # fmt: skip
        record["model_bytes"] = written
        score = sized.score(path, prepared)
    result.metrics["val_score"] = score
    record["params"]["epochs"] = cfg.epochs
    record.update(state="complete", score=score, epochs_run=cfg.epochs)
    record["seconds"] = round(time.perf_counter() - t_trial, 3)
    record["fit_seconds"] = round(time.perf_counter() - t_fit, 3)
    return record, result, prepared


def _fit_to_budget(run: Any, epoch: int, seconds: float, left: float) -> Any:
    """After ``epoch`` epochs that trained ``seconds`` (set-up not counted): when the epochs
    left would not end within ``left`` seconds, shorten the run to the epochs that do (none: it
    ends now) by moving the end of its linear learning-rate schedule; the run's (new) config."""
    per_epoch = seconds / epoch
    fit = epoch + max(0, int(left // per_epoch)) if per_epoch > 0 else run.cfg.epochs
    if fit < run.cfg.epochs:
        run.cfg = replace(run.cfg, epochs=fit)
        run.total_tokens = max(1.0, run.tokens_per_epoch * fit)
    return run.cfg


def _is_defaults(record: dict[str, Any]) -> bool:
    """Trial 0 (the run's defaults, ``seeded_trials``) trained as planned."""
    return record.get("trial") == 0 and "cut" not in record


class _Sized:
    """A search with ``--autotune-model-size``: the quantized trials' work directory, their
    documents, and the directory of the best one (``embedcli.autotune_size``)."""

    def __init__(self, options: AutotuneOptions, label: int, seed: int, threads: int) -> None:
        import tempfile
        from pathlib import Path

        from embedcli.autotune_size import TrialDocuments

        self.options, self.label, self.seed, self.threads = options, label, seed, threads
        self.work = Path(tempfile.mkdtemp(prefix="embedcli-autotune-"))
        self.docs = TrialDocuments()
        self.dirs: dict[int, Any] = {}
        self.kept: int | None = None

    @classmethod
    def start(cls, options: AutotuneOptions, label: int, seed: int, plan: Any) -> _Sized:
        return cls(options, label, seed, max(1, int(plan.config.get("threads") or 1)))

    def quantize(self, number: int, result: Any, prepared: Any, qplan: Any) -> Any:
        from embedcli.autotune_size import quantize_trial

        out = quantize_trial(
            result, prepared, qplan, self.options.model_size, self.work, f"trial{number}",
            self.docs, self.threads, self.seed,
        )  # fmt: skip
        if out is not None:
            self.dirs[number] = out[0]
        return out

    def score(self, path: Any, prepared: Any) -> float:
        from embedcli.autotune_size import score_quantized

        return score_quantized(
            path, prepared, self.docs, self.options.metric, self.label, self.threads
        )

    def keep(self, number: int) -> None:
        """Trial ``number`` is the new best: drop the other quantized directories."""
        import shutil

        for n in [n for n in self.dirs if n != number]:
            shutil.rmtree(self.dirs.pop(n), ignore_errors=True)
        self.kept = number

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.work, ignore_errors=True)


# --------------------------------------------------------------------------- refit

#: the refit's time estimate: the best trial's seconds x (all documents / trained) x this
REFIT_MARGIN = 1.15


def _refit_seconds(record: dict[str, Any], prepared: Any) -> float:
    n_train = prepared.train.n_docs
    n_val = prepared.val.n_docs if prepared.val is not None else 0
    return (
        REFIT_MARGIN
        * float(record.get("fit_seconds", record["seconds"]))
        * (n_train + n_val)
        / n_train
    )


#: the refit's chunks (the budget is checked between them) last about this many seconds
REFIT_CHUNK_SECONDS = 2.0


def refit_chunks(min_chunks: int, reserve: float, epochs: int, n_docs: int, batch_size: int) -> int:
    """Chunks per epoch for the refit: as few as keep each near ``REFIT_CHUNK_SECONDS`` by the
    refit's estimate (``reserve``), and at least ``min_chunks`` (the featurized chunk that fits
    in memory, which is all plain ``train`` cuts an epoch into), not the trials' ~``CHUNK_TOKENS``
    nor a progress bar's 2M tokens: the refit of the defaults is then cut as ``train`` cuts it,
    with the least per-chunk overhead (bit-identical either way with 1 thread; with 2 Hogwild
    threads no effect of the chunks on accuracy was measured over 9 seeds:
    ``benchmarks/results/autotune_refit_chunks.md``)."""
    per_epoch = reserve / REFIT_MARGIN / max(1, epochs)
    wanted = int(per_epoch // REFIT_CHUNK_SECONDS) + 1
    n_batches = -(-n_docs // batch_size)
    return int(min(n_batches, max(min_chunks, wanted)))


def refit_starts(left: float, reserve: float) -> bool:
    """Whether the refit starts with ``left`` seconds of the budget and ``reserve`` kept for it.
    The trials stop once only the reserve is left (a chunk later, at most), so ``left`` is then
    a hair below it: the refit starts unless ``left`` is below its estimate without the margin
    (it would be stopped before the end)."""
    return left >= reserve / REFIT_MARGIN


def _refit(
    best: Any, prepared: Any, clock: _Clock, defaults: dict[str, Any] | None = None
) -> tuple[dict[str, Any], Any]:
    """Train the best configuration again on the training and validation documents (the
    search's split, back in file order) if the rest of the budget allows: ``(record,
    (TrainResult, prepared) or None)``. Same seed, same resolved epochs and buckets; no
    validation score is left to report. When the best trial trained the run's configuration
    ``defaults`` as it resolves on the training part (trial 0, unless the search space clamped
    it), its automatic values (epochs, buckets) are resolved again on all the documents: the
    model is the one ``train`` without a search trains on the file."""
    from embedcli.spec import TrainConfig
    from embedcli.train import Arrays, TrainingRun, resolve_run

    full = file_order(prepared)
    record: dict[str, Any] = {"documents": full.n_docs, "done": False}
    if not refit_starts(clock.total_left(), clock.reserve):
        record["reason"] = f"not enough time left (~{clock.reserve:.0f} s needed)"
        return record, None

    def hook(_fraction: float) -> None:
        if clock.total_left() <= 0:
            raise _OutOfTime

    t0 = time.perf_counter()
    cfg, spec = best.config, best.spec
    corpus = Arrays.of(full)
    if defaults is not None:
        config = TrainConfig.from_dict(defaults)
        sizes = (len(prepared.vocab), len(prepared.vocab.labels), prepared.init_embeddings, None)
        if resolve_run(Arrays.of(prepared.train), config, *sizes)[0] == cfg:
            cfg, spec = resolve_run(corpus, config, *sizes)
            record["config"] = "defaults"
    try:
        run = TrainingRun(corpus, cfg, spec, None, prepared.init_embeddings, None, hook)
        in_memory = -(-corpus.n_docs // run.features.chunk_docs)
        run.n_chunks = refit_chunks(
            in_memory, clock.reserve, cfg.epochs, corpus.n_docs, cfg.batch_size
        )
        for epoch in range(1, cfg.epochs + 1):
            rec = run.run_epoch(epoch)
            if rec is None:
                record.update(reason=f"diverged in epoch {epoch}")
                return record, None
            run.history.append(rec)
    except _OutOfTime:
        record.update(reason="out of time", seconds=round(time.perf_counter() - t0, 3))
        return record, None
    result = run.finish(t0)
    for key, value in best.metrics.items():
        result.metrics.setdefault(key, value)
    record.update(done=True, seconds=round(time.perf_counter() - t0, 3))
    return record, (result, replace(prepared, train=full, val=None))


def file_order(prepared: Any) -> Any:
    """The training and validation documents of a ``--val-split`` preparation as one corpus, in
    the order of the file (``pipeline.val_split_indices``)."""
    import numpy as np

    from embedcli.pipeline import val_split_indices

    plan = prepared.plan
    full = concat_corpora(prepared.train, prepared.val)
    kept, held = val_split_indices(full.n_docs, plan.val_split, int(plan.config.get("seed") or 0))
    return full.subset(np.argsort(np.concatenate([kept, held]), kind="stable"))


def concat_corpora(a: Any, b: Any) -> Any:
    """The documents of encoded corpus ``a`` then ``b`` (same vocabulary) as one corpus."""
    import numpy as np

    from embedcli.sequences import EncodedCorpus

    def ragged(v1: Any, o1: Any, v2: Any, o2: Any) -> tuple[Any, Any]:
        return np.concatenate([v1, v2]), np.concatenate([o1, o2[1:] - o2[0] + o1[-1]])

    tokens, offsets = ragged(a.tokens, a.offsets, b.tokens, b.offsets)
    labels, label_offsets = ragged(a.label_ids, a.label_offsets, b.label_ids, b.label_offsets)
    hashes = None
    if a.hashes is not None:
        ha, hb = a.hashes, b.hashes
        values, hoffsets = ragged(ha.values, ha.offsets, hb.values, hb.offsets)
        sub = None
        if ha.subwords is not None:
            sa, sb = ha.subwords, hb.subwords
            sv, so = ragged(sa.values, sa.offsets, sb.values, sb.offsets)
            sub = replace(sa, values=sv, offsets=so)
        hashes = replace(ha, values=values, offsets=hoffsets, subwords=sub)
    return EncodedCorpus(tokens, offsets, labels, label_offsets, hashes)


# --------------------------------------------------------------------------- output


def finish(
    result: AutotuneResult,
    output: str,
    test_path: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate the best trial's model on ``test_path`` (read only now) and write it to
    ``output`` as any model directory (a quantized one, format version 2, when
    ``--autotune-model-size`` made the best trial quantize); the summary (``train --json``'s
    shape plus ``autotune``)."""
    from embedcli.pipeline import save_run

    def stage(message: str) -> None:
        if on_stage is not None:
            on_stage(message)

    try:
        best, prepared, quantized = result.best, result.prepared, result.quantized_dir
        metrics: dict[str, Any] = dict(best.metrics)
        metric = str(result.metric).split(":")[0].replace("-", "_")
        metrics[f"val_{metric}"] = result.best_trial["score"]
        if test_path:
            stage(f"evaluating on {test_path} …")
            if quantized is not None:
                from embedcli.autotune_size import quantized_test_metrics

                metrics.update(quantized_test_metrics(quantized, test_path, best.config.threads))
            else:
                metrics.update(_test_metrics(result, test_path))
        metrics["tokens_per_s"] = best.tokens_per_s
        stage(f"writing {output} …")
        record = result.record()
        summary: dict[str, Any] = {
            "model": output,
            "train_documents": prepared.train.n_docs,
            "train_tokens": int(len(prepared.train.tokens)),
            "vocab_size": len(prepared.vocab),
            "labels": prepared.vocab.labels,
            "epochs": best.config.epochs,
            **metrics,
            "config": best.config.to_dict(),
            "autotune": record,
        }
        if quantized is not None:
            from embedcli.autotune_size import dir_bytes, write_best

            write_best(quantized, output, {"autotune": record, "history": best.history}, metrics)
            summary["quantized"] = {
                **(result.best_trial.get("quantized") or {}),
                "bytes": dir_bytes(output),
            }
            summary.pop("vocab_size")  # the cut vocabulary is the quantized model's
        else:
            save_run(output, best, prepared, metrics, extra={"autotune": record})
        return summary
    finally:
        if result.sized is not None:
            result.sized.cleanup()


def _test_metrics(result: AutotuneResult, test_path: str) -> dict[str, Any]:
    """Test accuracy and loss of the float model (and of the best trial's own model when a
    refit replaced it)."""
    from embedcli.corpus import CorpusOptions, CorpusReader
    from embedcli.model import predict_proba
    from embedcli.pipeline import subword_lengths
    from embedcli.shards import encode_corpus
    from embedcli.train import evaluate_arrays

    best, plan = result.best, result.prepared.plan
    opts = CorpusOptions(**{**plan.corpus_options.__dict__, "require_labels": False})
    test = encode_corpus(
        CorpusReader([test_path], opts),
        result.prepared.vocab,
        hashes=int(best.config.word_ngrams) > 1,
        subwords=subword_lengths(best.config.to_dict()),
    )

    def evaluate(model: Any) -> dict[str, Any]:
        probs = predict_proba(
            model.params, model.spec, test.tokens, test.offsets,
            threads=model.config.threads, hashes=test.hashes,
        )  # fmt: skip
        return evaluate_arrays(probs, test.label_ids, test.label_offsets)

    ev = evaluate(best)
    out = {"test_accuracy": ev["accuracy"], "test_loss": ev["loss"], "test_documents": test.n_docs}
    if result.trial_model is not None:  # the best trial before the refit, for comparison
        out["test_accuracy_before_refit"] = evaluate(result.trial_model)["accuracy"]
    return out


def best_trials(trials: list[dict[str, Any]], n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` best finished trials, best first (ties: the earlier trial)."""
    done = [t for t in trials if t["state"] == "complete"]
    return sorted(done, key=lambda t: (-t["score"], t["trial"]))[:n]
