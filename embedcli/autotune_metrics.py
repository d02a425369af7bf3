"""The scores ``train --autotune-metric`` maximises, as fastText's ``Meter`` computes them with one
prediction per document (``-autotune-predictions 1``, threshold 0).

``f1``: micro F1 over all labels (with one label per document it equals accuracy); ``f1:LABEL``:
that label's F1; ``precision-at-recall:R[:LABEL]`` / ``recall-at-precision:P[:LABEL]`` (R, P in
percent, as fastText): the best precision (recall) among the score thresholds reaching recall R
(precision P), over the top predictions of all documents or, with LABEL, over the documents whose
top prediction is LABEL (a LABEL document predicted otherwise counts as missed); ``accuracy``:
embedcli's top-1 accuracy. numpy only; ``tests/test_autotune.py`` compares every metric with a
line-by-line port of fastText's ``src/meter.cc``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from embedcli.errors import UsageError


@dataclass(frozen=True)
class Metric:
    """A parsed ``--autotune-metric``: ``kind`` is accuracy, f1, precision-at-recall or
    recall-at-precision; ``value`` the recall/precision as a fraction; ``label`` or None."""

    kind: str
    value: float = 0.0
    label: str | None = None

    def __str__(self) -> str:
        out = self.kind
        if self.kind in ("precision-at-recall", "recall-at-precision"):
            out += f":{100 * self.value:g}"
        return out + (f":{self.label}" if self.label is not None else "")


_ALIASES = {"precisionAtRecall": "precision-at-recall", "recallAtPrecision": "recall-at-precision"}


def parse_metric(text: str) -> Metric:
    """``accuracy``, ``f1``, ``f1:LABEL``, ``precision-at-recall:R[:LABEL]`` or
    ``recall-at-precision:P[:LABEL]`` (R, P in percent, 0..100; fastText's camelCase spellings
    too); ``UsageError`` otherwise."""
    usage = (
        "--autotune-metric must be accuracy, f1, f1:LABEL, precision-at-recall:R[:LABEL] or "
        f"recall-at-precision:P[:LABEL] (R, P in percent), not {text!r}"
    )
    name, _, rest = text.partition(":")
    name = _ALIASES.get(name, name)
    if name == "accuracy" and not rest:
        return Metric("accuracy")
    if name == "f1":
        if text.endswith(":") and not rest:
            raise UsageError(f"{usage}: the label is empty")
        return Metric("f1", label=rest or None)
    if name in ("precision-at-recall", "recall-at-precision"):
        number, colon, label = rest.partition(":")
        try:
            value = float(number)
        except ValueError:
            raise UsageError(usage) from None
        if not 0.0 <= value <= 100.0 or not math.isfinite(value):
            raise UsageError(f"{usage}: {number} is not a percentage in 0..100")
        if colon and not label:
            raise UsageError(f"{usage}: the label is empty")
        return Metric(name, value / 100.0, label or None)
    raise UsageError(usage)


def resolve_metric_label(metric: Metric, labels: list[str], prefix: str) -> int:
    """The label id of ``metric.label`` (given with or without ``prefix``); -1 for all labels.
    ``UsageError`` when the training data has no such label."""
    if metric.label is None:
        return -1
    for name in (metric.label, metric.label.removeprefix(prefix) if prefix else metric.label):
        if name in labels:
            return labels.index(name)
    shown = ", ".join(labels[:10]) + (" ..." if len(labels) > 10 else "")
    raise UsageError(
        f"--autotune-metric: label {metric.label!r} is not a label of the training data ({shown})"
    )


def metric_score(
    metric: Metric,
    probs: np.ndarray,
    label_ids: np.ndarray,
    label_offsets: np.ndarray,
    label: int = -1,
) -> float:
    """The score of predictions ``probs`` (n, labels) against the documents' labels (flat
    ``label_ids`` cut by ``label_offsets``); ``label`` is the metric's label id (-1 = all).
    Undefined F1 (nothing predicted and nothing gold) scores 0, where fastText says NaN."""
    from embedcli.train import evaluate_arrays

    if metric.kind == "accuracy":
        acc = evaluate_arrays(probs, label_ids, label_offsets)["accuracy"]
        return 0.0 if math.isnan(acc) else float(acc)
    n, C = probs.shape
    gold = np.zeros((n, C), dtype=bool)
    doc = np.repeat(np.arange(n), np.diff(label_offsets))
    ok = (label_ids >= 0) & (label_ids < C)
    gold[doc[ok], label_ids[ok]] = True
    top = probs.argmax(axis=1)
    rows = np.arange(n)
    score = probs[rows, top].astype(np.float64)
    hit = gold[rows, top]
    if metric.kind == "f1":
        if label < 0:
            tp, predicted, golds = int(hit.sum()), n, int(gold.sum())
        else:
            mine = top == label
            tp, predicted, golds = (
                int((hit & mine).sum()),
                int(mine.sum()),
                int(gold[:, label].sum()),
            )
        return _f1(tp, predicted, golds)
    if label >= 0:
        mine = top == label
        score, hit, golds = score[mine], hit[mine], int(gold[:, label].sum())
    else:
        golds = int(gold.sum())
    precision, recall = _pr_curve(score, hit, golds)
    if metric.kind == "precision-at-recall":
        ok_points = recall >= metric.value
        return float(precision[ok_points].max(initial=0.0))
    ok_points = precision >= metric.value
    return float(recall[ok_points].max(initial=0.0))


def _f1(tp: int, predicted: int, golds: int) -> float:
    p = tp / predicted if predicted else 0.0
    r = tp / golds if golds else 0.0
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _pr_curve(score: np.ndarray, hit: np.ndarray, golds: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at every distinct score threshold (documents scoring at least it
    are predicted), plus fastText's point (precision 1, recall 0)."""
    order = np.argsort(-score, kind="stable")
    s, h = score[order], hit[order]
    tp = np.cumsum(h)
    fp = np.cumsum(~h)
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # the end of each tie group
    tp, fp = tp[last].astype(np.float64), fp[last].astype(np.float64)
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    recall = tp / golds if golds else np.full_like(tp, np.nan)
    return np.append(precision, 1.0), np.append(recall, 0.0)
