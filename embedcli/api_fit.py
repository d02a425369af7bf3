"""The library steps under the Python API: the commands' option ranges and checks, and fitting
a prepared corpus into a model in memory (``Model``), as the commands' runs write it.

``api_run`` (one run from options) and ``api`` (the public functions) build on this module;
it imports neither.
"""

from __future__ import annotations

from typing import Any

from embedcli.api_model import Model, check_ranges
from embedcli.errors import TrainingDiverged, UsageError

#: ``(low, high, low_open, high_open)`` of every numeric option of ``train``, as its ``--help``
#: declares them (tests/test_api.py checks that the command line's ranges are these)
TRAIN_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "val_split": (0.0, 1.0, False, True),
    "dim": (1, 10_000, False, False),
    "epochs": (0, 10_000, False, False),
    "lr": (0.0, None, True, False),
    "batch_size": (1, 1_000_000, False, False),
    "l2": (0.0, None, False, False),
    "dropout": (0.0, 1.0, False, True),
    "hidden": (0, 10_000, False, False),
    "maxlen": (0, 100_000, False, False),
    "threshold": (0.0, 1.0, False, False),
    "word_ngrams": (1, 10, False, False),
    "buckets": (0, 1 << 24, False, False),
    "minn": (0, 30, False, False),
    "maxn": (0, 30, False, False),
    "threads": (0, 1024, False, False),
    "seed": (0, 2**32 - 1, False, False),
    "early_stopping": (0, 10_000, False, False),
    "min_count": (1, 2**62, False, False),
    "max_size": (2, 2**31 - 1, False, False),
    "checkpoint_every": (0, 10_000, False, False),
    "autotune_duration": (0.0, 1e7, True, False),
    "autotune_trials": (0, 1_000_000, False, False),
}
PRETRAIN_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "dim": (1, 10_000, False, False),
    "window": (1, 1_000, False, False),
    "negative": (1, 1_000, False, False),
    "sample": (0.0, 1.0, False, True),
    "epochs": (1, 10_000, False, False),
    "lr": (0.0, 10.0, True, False),
    "minn": (0, 100, False, False),
    "maxn": (0, 100, False, False),
    "buckets": (0, 2**31 - 1, False, False),
    "threads": (0, 1024, False, False),
    "seed": (0, 2**32 - 1, False, False),
    "min_count": (1, 2**62, False, False),
    "max_size": (2, 2**31 - 1, False, False),
    "checkpoint_every": (0, 10_000, False, False),
}


def check_train_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The checks ``embedcli train`` makes before reading anything (``UsageError``), on the
    options as keywords; returns them with ``multilabel`` folded into ``objective``."""
    from embedcli.spec import check_subwords

    check_ranges(opts, TRAIN_RANGES)
    opts = dict(opts)
    if opts.get("val") is not None and opts.get("val_split"):
        raise UsageError("give --val or --val-split, not both")
    if opts.pop("multilabel", False):
        opts["objective"] = "multilabel"
    if opts["pool"] == "flatten" and opts["maxlen"] < 1:
        raise UsageError("--pool flatten needs --maxlen N")
    check_subwords(opts["minn"], opts["maxn"])
    if opts["pool"] == "flatten" and opts["minn"] and opts["maxn"]:
        raise UsageError("subwords (--minn/--maxn) need a pooling other than flatten")
    return opts


def fit_prepared(prepared: Any, *, callback: Any = None, on_progress: Any = None) -> Model:
    """Fit a ``pipeline.PreparedTraining`` and evaluate its test data: the model in memory
    (what ``pipeline.run_training`` saves), its config.json as ``embedcli train`` writes it."""
    from embedcli.modeldir import LoadedModel, library_versions
    from embedcli.pipeline import evaluate_test
    from embedcli.spec import TrainConfig
    from embedcli.train import fit

    vocab = prepared.vocab
    try:
        result = fit(
            prepared.train,
            TrainConfig.from_dict(prepared.plan.config),
            val=prepared.val,
            init_embeddings=prepared.init_embeddings,
            on_epoch=callback,
            on_progress=on_progress,
            num_words=len(vocab),
            num_classes=len(vocab.labels),
        )
    except TrainingDiverged as exc:
        last = exc.result
        lr = f" (--lr {last.config.lr:g}, --optimizer {last.config.optimizer})" if last else ""
        raise TrainingDiverged(
            f"training diverged in epoch {exc.epoch} (the loss became NaN or infinite); the "
            f"learning rate{lr} is the likely cause: try a lower one",
            epoch=exc.epoch,
            result=last,
        ) from None
    metrics: dict[str, Any] = dict(result.metrics)
    if prepared.test is not None:
        metrics.update(evaluate_test(result, prepared.test))
    metrics["tokens_per_s"] = result.tokens_per_s
    metrics["prep_seconds"] = prepared.prep_seconds
    params = result.params
    config = {
        "model": result.spec.to_dict(),
        "train": result.config.to_dict(),
        "tokenizer": vocab.tokenizer_config.to_dict(),
        "labels": list(vocab.labels),
        "metrics": metrics,
        "versions": library_versions(),
        "history": result.history,
        "init_vectors": prepared.init_coverage,
        "corpus": prepared.plan.corpus_options.record(),
    }
    arrays = {
        k: v
        for k in ("out_W", "out_b", "hidden_W", "hidden_b", "thresholds")
        if (v := getattr(params, k, None)) is not None
    }
    table = LoadedModel(
        path=None,  # type: ignore[arg-type]
        config=config,
        vocab=vocab,
        embeddings=params.embeddings,
        classifier=arrays,
    )
    return Model(table)


def train_prepared_vectors(prepared: Any, *, progress: Any = None) -> Model:
    """Train a ``pretrain_run.PreparedPretrain``: the "vectors" model in memory, its config.json
    as ``embedcli pretrain`` writes it (``progress(record)``: the trainer's reports)."""
    import numpy as np

    from embedcli.pretrain import train_vectors
    from embedcli.pretrain_run import vectors_config
    from embedcli.vectors_model import VectorsModel

    trained = train_vectors(prepared.corpus, prepared.plan.spec, progress=progress)
    vocab = prepared.vocab
    first = 1 if vocab.unk_id is None else vocab.unk_id + 1
    vectors = np.asarray(trained.vectors, dtype=np.float32)
    table = np.zeros((len(vocab), vectors.shape[1]), dtype=np.float32)
    table[first:] = vectors
    extra = vectors_config(prepared, trained)
    sub = trained.subwords if trained.subwords is not None and trained.subwords.enabled else None
    from embedcli.modeldir import library_versions

    config = {
        "kind": "vectors",
        "model": {
            **extra.pop("model"),
            "dim": int(vectors.shape[1]),
            "subwords": sub.to_json() if sub else None,
        },
        "tokenizer": vocab.tokenizer_config.to_dict(),
        "labels": [],
        "versions": library_versions(),
        **extra,
    }
    model = VectorsModel(
        path=None,  # type: ignore[arg-type]
        config=config,
        vocab=vocab,
        embeddings=table,
        subwords=sub,
        subword_buckets=np.asarray(trained.subword_buckets if sub else np.zeros(0), np.int64),
        subword_rows=np.asarray(
            trained.subword_rows if sub else np.zeros((0, table.shape[1])), np.float32
        ),
    )
    return Model(model)
