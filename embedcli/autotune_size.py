"""``train --autotune-model-size``: candidates too large as float models are quantized to fit.

fastText (``Autotune::quantize``, ``getCutoffForFileSize``) quantizes every candidate of a
search with a model size: ``qnorm``, ``retrain``, ``qout`` when there are 256 labels or more,
``dsub`` searched (2, 4, 8, 16) and the largest ``cutoff`` whose file fits; a candidate whose
cutoff would fall to 256 rows fails the size. Its trials are scored on the quantized model and
the best arguments are trained and quantized again at the end.

Here the same, with two differences: a candidate whose float model already fits is kept as
floats (quantizing it could only lose accuracy), and the cutoff comes from
``quantize.estimate_quantized_bytes``, checked against the bytes actually written (the cutoff
shrinks until they fit). A trial is quantized with ``quantize_run.quantize_model`` (k-means,
codes, the cut table retrained on the training documents of the search, never the validation
ones) into a work directory, scored on the validation documents; the best trial's directory is
the model written. Nothing here prints.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedcli.errors import DataError

#: fastText's ``kCutoffLimit``: a candidate that would keep fewer rows does not fit
CUTOFF_LIMIT = 256
#: the share of the size the estimate aims at (the written bytes are checked after)
SIZE_MARGIN = 0.97
#: shrink the cutoff at most this many times when the written model is still too big
SHRINK_TRIES = 3
#: disk bytes of a float model besides its parameters: vocab.tsv per word, config and headers
FLOAT_WORD_BYTES = 16
FLOAT_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class QuantPlan:
    """How one candidate is fitted to the size: ``cutoff`` rows kept (0 = all), ``dsub``."""

    dsub: int
    cutoff: int
    qout: bool
    estimate: int


def float_model_bytes(rows: int, dim: int, labels: int, hidden: int = 0) -> int:
    """Bytes of a float32 model's parameters: the embedding table (``rows x dim``) and the
    dense layers (hidden, then the classifier). The vocabulary and config files are left out.
    (A quantized model's size: ``quantized_bytes`` below.)"""
    width = hidden if hidden else dim
    dense = (dim * hidden + hidden if hidden else 0) + width * labels + labels
    return 4 * (rows * dim + dense)


def float_disk_bytes(spec: Any) -> int:
    """Bytes on disk of a float model of ``spec`` (parameters, vocabulary, config; an upper
    estimate)."""
    params = float_model_bytes(spec.num_rows, spec.dim, spec.num_labels, spec.hidden)
    return params + FLOAT_WORD_BYTES * spec.num_words + FLOAT_OVERHEAD


def quantized_bytes(spec: Any, dsub: int, cutoff: int, qout: bool) -> int:
    """``quantize.estimate_quantized_bytes`` of ``spec`` quantized as fastText's autotune does
    (``qnorm`` on)."""
    from embedcli.quantize import estimate_quantized_bytes

    return estimate_quantized_bytes(
        spec.num_rows, spec.dim, dsub, cutoff, True, qout, spec.num_labels,
        words=spec.num_words, hidden=spec.hidden,
    )  # fmt: skip


def plan_quantization(spec: Any, size: int, dsub: int) -> QuantPlan | None:
    """The quantization that fits ``spec``'s model in ``size`` bytes: the largest cutoff (binary
    search on the estimate), or None when even :data:`CUTOFF_LIMIT` rows do not fit."""
    dsub = max(1, min(int(dsub), int(spec.dim)))
    qout = spec.num_labels >= CUTOFF_LIMIT
    target = int(SIZE_MARGIN * size)
    rows = int(spec.num_rows)
    whole = quantized_bytes(spec, dsub, 0, qout)
    if whole <= target:
        return QuantPlan(dsub, 0, qout, whole)
    lo, hi = CUTOFF_LIMIT, rows - 1
    if lo > hi or quantized_bytes(spec, dsub, lo, qout) > target:
        return None
    while lo < hi:  # the largest cutoff whose estimate fits
        mid = (lo + hi + 1) // 2
        if quantized_bytes(spec, dsub, mid, qout) <= target:
            lo = mid
        else:
            hi = mid - 1
    if lo <= CUTOFF_LIMIT:
        return None
    return QuantPlan(dsub, lo, qout, quantized_bytes(spec, dsub, lo, qout))


def dir_bytes(path: str | Path) -> int:
    return sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())


class TrialDocuments:
    """The search's training and validation documents (``corpus.Document`` lists), read once
    on first use: the retrain of a cut table reads the training ones, the quantized model is
    scored on the validation ones (encoded with its cut vocabulary)."""

    def __init__(self) -> None:
        self._docs: tuple[list[Any], list[Any]] | None = None

    def get(self, prepared: Any) -> tuple[list[Any], list[Any]]:
        if self._docs is None:
            self._docs = _read_documents(prepared)
        return self._docs


def _read_documents(prepared: Any) -> tuple[list[Any], list[Any]]:
    import numpy as np

    from embedcli.corpus import CorpusOptions, CorpusReader

    plan = prepared.plan
    if plan.train_docs is not None:
        train = list(plan.train_docs)
    else:
        train = list(CorpusReader(list(plan.train_paths), plan.corpus_options))
    eval_opts = CorpusOptions(**{**plan.corpus_options.__dict__, "require_labels": False})
    if plan.val_docs is not None:
        return train, list(plan.val_docs)
    if plan.val_path:
        return train, list(CorpusReader([plan.val_path], eval_opts))
    # --val-split: the split of pipeline.prepare_training (same seed, same documents)
    n_val, n_train = prepared.val.n_docs, prepared.train.n_docs
    if len(train) != n_val + n_train:
        raise DataError(
            f"--autotune-model-size read {len(train):,} training documents, the search "
            f"encoded {n_val + n_train:,}: give the validation data as a file "
            "(--autotune-validation)"
        )
    perm = np.random.default_rng(int(plan.config.get("seed", 0))).permutation(len(train))
    val_ids = np.sort(perm[:n_val])
    train_ids = np.sort(perm[n_val:])
    return [train[i] for i in train_ids], [train[i] for i in val_ids]


def quantize_trial(
    result: Any,
    prepared: Any,
    qplan: QuantPlan,
    size: int,
    work: Path,
    name: str,
    docs: TrialDocuments,
    threads: int,
    seed: int,
) -> tuple[Path, int, int] | None:
    """Write trial ``result`` as a float model, quantize it by ``qplan`` into ``work/name``
    (shrinking the cutoff while the written bytes exceed ``size``): ``(dir, bytes, cutoff)``,
    or None when it cannot be made to fit."""
    from embedcli.pipeline import save_run
    from embedcli.quantize_run import QuantizeOptions, quantize_model

    train_docs, _ = docs.get(prepared)
    src = work / f"{name}.float"
    save_run(str(src), result, prepared, dict(result.metrics))
    rows = int(result.spec.num_rows)
    cutoff = qplan.cutoff
    try:
        for _ in range(SHRINK_TRIES + 1):
            dst = work / name
            if dst.exists():
                shutil.rmtree(dst)
            opts = QuantizeOptions(
                dsub=qplan.dsub,
                uneven_dsub=True,
                cutoff=cutoff or None,
                retrain=bool(cutoff),
                qnorm=True,
                qout=qplan.qout,
                threads=threads,
                seed=seed,
                docs=train_docs,
            )
            quantize_model(src, dst, opts)
            written = dir_bytes(dst)
            if written <= size:
                return dst, written, cutoff
            shutil.rmtree(dst)
            kept = cutoff or rows
            cutoff = int(kept * SIZE_MARGIN * size / written)
            if cutoff <= CUTOFF_LIMIT:
                return None
        return None
    finally:
        shutil.rmtree(src, ignore_errors=True)


def score_quantized(
    path: Path, prepared: Any, docs: TrialDocuments, metric: Any, label: int, threads: int
) -> float:
    """The metric of the quantized model in ``path`` on the validation documents."""
    from embedcli.api_model import Model
    from embedcli.autotune_metrics import metric_score

    _, val_docs = docs.get(prepared)
    model = Model.load(str(path), command="autotune")
    enc = model.encode(val_docs)
    probs = model._proba(enc, threads)
    return metric_score(metric, probs, enc.label_ids, enc.label_offsets, label)


def write_best(src: Path, output: str, extra: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Copy the best trial's quantized model directory to ``output`` (atomically), with the
    autotune record and the metrics in its config.json."""
    import json

    from embedcli.atomic import atomic_dir
    from embedcli.modeldir import json_default

    with atomic_dir(Path(output)) as tmp:
        for f in Path(src).iterdir():
            if f.is_file() and f.name != "config.json":
                shutil.copyfile(f, tmp / f.name)
        config = json.loads((Path(src) / "config.json").read_text(encoding="utf-8"))
        config["metrics"] = metrics
        config.update(extra)
        with open(tmp / "config.json", "w", encoding="utf-8") as fh:
            json.dump(config, fh, indent=1, ensure_ascii=False, default=json_default)
            fh.write("\n")


def quantized_test_metrics(path: Path, test_path: str, threads: int) -> dict[str, Any]:
    """Accuracy of the quantized model in ``path`` on ``test_path`` (read as training read its
    files)."""
    from embedcli.api_model import Model

    model = Model.load(str(path), command="autotune")
    ev = model.evaluate(test_path, threads=threads)
    return {"test_accuracy": ev["accuracy"], "test_documents": ev.get("n", ev.get("examples"))}
