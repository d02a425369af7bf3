"""Classification metrics with fastText's definitions: P@k, R@k, per-label precision/recall/F1.

Counting follows fastText's ``Meter``: every example adds its gold labels to ``gold`` and its (at most
k, thresholded) predicted labels to ``predicted``; a predicted label that is gold adds to
``predicted_gold``. Then P@k = predicted_gold / predicted, R@k = predicted_gold / gold, per label and
summed (micro). Examples without a known gold label are skipped, as ``fasttext test`` skips them.
Accuracy is the fraction of examples whose top-1 prediction is one of its gold labels (= P@1 for
single-label data). Macro averages are the unweighted mean over labels with support, an undefined
precision counting as 0 (scikit-learn's ``zero_division=0``).

    >>> ev = evaluate([[0], [1], [1]], [[0], [0], [1]], num_labels=2, k=1)
    >>> (ev.n, round(ev.precision_at_k, 3), ev.format_fasttext_test())
    (3, 0.667, ['N\\t3', 'P@1\\t0.667', 'R@1\\t0.667'])

Left out: ranking metrics (MAP, NDCG), calibration, ROC curves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from embedcli.errors import UsageError


def select_labels(
    proba: np.ndarray, k: int | None, threshold: float | np.ndarray = 0.0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row, the label ids with the k highest probabilities (best first) that reach ``threshold``.

    ``k=None`` keeps every label; ``threshold`` is a scalar or one value per label (probability
    ``>=`` threshold is kept, as in fastText). Returns ``(ids int32, probabilities float32)`` pairs.
    """
    proba = np.asarray(proba, dtype=np.float32)
    n, num_labels = proba.shape
    if k is not None and k <= 0:
        raise UsageError(f"k must be 1 or more, not {k}")
    kk = num_labels if k is None else min(k, num_labels)
    if kk < num_labels:
        part = np.argpartition(-proba, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(num_labels), (n, num_labels))
    part_p = np.take_along_axis(proba, part, axis=1)
    # Sort the k winners by probability, ties by label id (stable across platforms).
    order = np.lexsort((part, -part_p), axis=1)
    ids = np.take_along_axis(part, order, axis=1).astype(np.int32)
    probs = np.take_along_axis(part_p, order, axis=1)
    thr = np.asarray(threshold, dtype=np.float32)
    keep = probs >= (thr[ids] if thr.ndim else thr)
    if keep.all():
        return list(zip(ids, probs, strict=True))
    return [(ids[i][keep[i]], probs[i][keep[i]]) for i in range(n)]


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


@dataclass
class Evaluation:
    """Counts from one pass over a test set; every metric is derived from them."""

    k: int | None
    n: int
    skipped: int
    top1_correct: int
    gold: np.ndarray  # (L,) gold occurrences per label (= support)
    predicted: np.ndarray  # (L,) predictions per label
    predicted_gold: np.ndarray  # (L,) correct predictions per label
    confusion: np.ndarray  # (L, L) gold label x top-1 predicted label

    @property
    def num_labels(self) -> int:
        return len(self.gold)

    @property
    def accuracy(self) -> float:
        return _ratio(self.top1_correct, self.n)

    @property
    def precision_at_k(self) -> float:
        return _ratio(float(self.predicted_gold.sum()), float(self.predicted.sum()))

    @property
    def recall_at_k(self) -> float:
        return _ratio(float(self.predicted_gold.sum()), float(self.gold.sum()))

    @property
    def micro_f1(self) -> float:
        total = float(self.predicted.sum() + self.gold.sum())
        return _ratio(2.0 * float(self.predicted_gold.sum()), total)

    def per_label(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Precision, recall and F1 per label (NaN where undefined, as fastText prints ``--------``)."""
        pg = self.predicted_gold.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(self.predicted > 0, pg / self.predicted, np.nan)
            recall = np.where(self.gold > 0, pg / self.gold, np.nan)
            denom = self.predicted + self.gold
            f1 = np.where(denom > 0, 2.0 * pg / denom, np.nan)
        return precision, recall, f1

    def macro(self) -> tuple[float, float, float]:
        """Unweighted mean P, R, F1 over labels with support (undefined counts as 0)."""
        p, r, f = (np.nan_to_num(a) for a in self.per_label())
        mask = self.gold > 0
        if not mask.any():
            return math.nan, math.nan, math.nan
        return float(p[mask].mean()), float(r[mask].mean()), float(f[mask].mean())

    def to_dict(self, labels: Sequence[str]) -> dict:
        """A JSON-ready report (NaN becomes None)."""

        def num(x: float) -> float | None:
            return None if math.isnan(x) else float(x)

        p, r, f = self.per_label()
        mp, mr, mf = self.macro()
        return {
            "n": self.n,
            "skipped": self.skipped,
            "k": self.k,
            "accuracy": num(self.accuracy),
            "precision_at_k": num(self.precision_at_k),
            "recall_at_k": num(self.recall_at_k),
            "labels": [
                {
                    "label": labels[i],
                    "precision": num(p[i]),
                    "recall": num(r[i]),
                    "f1": num(f[i]),
                    "support": int(self.gold[i]),
                    "predicted": int(self.predicted[i]),
                }
                for i in range(self.num_labels)
            ],
            "macro": {"precision": num(mp), "recall": num(mr), "f1": num(mf)},
            "micro": {
                "precision": num(self.precision_at_k),
                "recall": num(self.recall_at_k),
                "f1": num(self.micro_f1),
            },
            "confusion": {"labels": list(labels), "matrix": self.confusion.tolist()},
        }

    def format_fasttext_test(self) -> list[str]:
        """The lines ``fasttext test`` prints (C++ default stream format, precision 3 = ``%.3g``)."""
        k = -1 if self.k is None else self.k  # fastText's -k -1: every label
        return [
            f"N\t{self.n}",
            f"P@{k}\t{self.precision_at_k:.3g}",
            f"R@{k}\t{self.recall_at_k:.3g}",
        ]

    def format_fasttext_test_label(self, label_names: Sequence[str]) -> list[str]:
        """The lines ``fasttext test-label`` prints: one per label, then N/P@k/R@k in fixed format."""

        def metric(name: str, value: float) -> str:
            shown = f"{value:.6f}" if math.isfinite(value) else "--------"
            return f"{name} : {shown}  "

        p, r, f = self.per_label()
        lines = [
            metric("F1-Score", f[i])
            + metric("Precision", p[i])
            + metric("Recall", r[i])
            + " "
            + label_names[i]
            for i in range(self.num_labels)
        ]
        # fastText leaves std::fixed set, so the general metrics come out with 3 decimals here.
        k = -1 if self.k is None else self.k  # fastText's -k -1: every label
        lines += [
            f"N\t{self.n}",
            f"P@{k}\t{self.precision_at_k:.3f}",
            f"R@{k}\t{self.recall_at_k:.3f}",
        ]
        return lines


def evaluate(
    predictions: Sequence[Sequence[int]],
    gold: Sequence[Sequence[int]],
    num_labels: int,
    k: int | None,
) -> Evaluation:
    """Count predictions (label ids, best first) against gold label ids, fastText's way.

    Gold ids outside ``0 .. num_labels-1`` (unknown labels) are ignored; an example with no known
    gold label is skipped and counted in ``skipped``.
    """
    if len(predictions) != len(gold):
        raise UsageError(f"{len(predictions)} predictions for {len(gold)} examples")
    gold_n = np.zeros(num_labels, dtype=np.int64)
    pred_n = np.zeros(num_labels, dtype=np.int64)
    pg_n = np.zeros(num_labels, dtype=np.int64)
    confusion = np.zeros((num_labels, num_labels), dtype=np.int64)
    n = skipped = top1 = 0
    for pred, g in zip(predictions, gold, strict=True):
        gset = {int(x) for x in g if 0 <= int(x) < num_labels}
        if not gset:
            skipped += 1
            continue
        n += 1
        for label in gset:
            gold_n[label] += 1
        pred = [int(x) for x in pred]
        for label in pred:
            pred_n[label] += 1
            if label in gset:
                pg_n[label] += 1
        if pred:
            top1 += pred[0] in gset
            for label in gset:
                confusion[label, pred[0]] += 1
    return Evaluation(k, n, skipped, top1, gold_n, pred_n, pg_n, confusion)


def linear_contributions(
    rows: np.ndarray,
    out_w: np.ndarray,
    out_b: np.ndarray,
    column: int,
    *,
    pool: str,
    maxlen: int = 0,
    sign: float = 1.0,
) -> tuple[np.ndarray, float]:
    """Each feature row's additive share of one output logit, and the bias share.

    Exact for a linear output over mean, sum or flatten pooling (no hidden layer): with mean
    pooling the logit is ``sum_i rows[i] @ W[:, column] / len + b[column]``, so row i contributes
    ``rows[i] @ W[:, column] / len``; flatten gives position p the slice ``W[p*dim:(p+1)*dim]``
    (positions past ``maxlen`` contribute 0). ``sign=-1`` explains the negative logit (label 0 of a
    binary model). The contributions plus the bias add up to the logit.
    """
    rows = np.asarray(rows, dtype=np.float64)
    w = np.asarray(out_w, dtype=np.float64)[:, column]
    m, dim = rows.shape
    if pool in ("mean", "sum"):
        contrib = rows @ w
        if pool == "mean" and m:
            contrib /= m
    elif pool == "flatten":
        contrib = np.zeros(m)
        p = min(m, maxlen)
        contrib[:p] = np.einsum("pd,pd->p", rows[:p], w[: p * dim].reshape(p, dim))
    else:
        raise UsageError(
            f"contributions are exact only for mean, sum or flatten pooling, not {pool!r}"
        )
    return sign * contrib, sign * float(out_b[column])
