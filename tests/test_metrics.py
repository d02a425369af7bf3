"""Metrics: fastText's Meter definitions worked by hand, its exact output lines, label selection and
the additive contributions behind ``predict --explain``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedcli.errors import UsageError
from embedcli.metrics import evaluate, linear_contributions, select_labels


def test_hand_worked_multilabel_counts():
    # 3 labels; k = 2 predictions per example (after threshold some have fewer)
    preds = [[0, 1], [2], [1, 0], [0]]
    gold = [[0], [2, 1], [0], [-1]]  # last example: only an unknown label -> skipped
    ev = evaluate(preds, gold, num_labels=3, k=2)
    assert (ev.n, ev.skipped) == (3, 1)
    # predicted: 0 twice, 1 twice, 2 once = 5; gold: 0 twice, 1 once, 2 once = 4; correct: 0,2,0 = 3
    assert ev.predicted.tolist() == [2, 2, 1]
    assert ev.gold.tolist() == [2, 1, 1]
    assert ev.predicted_gold.tolist() == [2, 0, 1]
    assert ev.precision_at_k == pytest.approx(3 / 5)
    assert ev.recall_at_k == pytest.approx(3 / 4)
    assert ev.accuracy == pytest.approx(2 / 3)  # top-1 hits: 0 yes, 2 yes, 1 no
    p, r, f = ev.per_label()
    assert p.tolist() == [1.0, 0.0, 1.0]
    assert r.tolist() == [1.0, 0.0, 1.0]
    assert f.tolist() == pytest.approx([1.0, 0.0, 1.0])
    assert ev.confusion.tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 1]]


def test_fasttext_test_lines_match_cpp_stream_format():
    ev = evaluate([[0]] * 2 + [[1]], [[0], [1], [1]], num_labels=2, k=1)
    # std::setprecision(3) without std::fixed: %.3g ("1" for 1.0, "0.667")
    assert ev.format_fasttext_test() == ["N\t3", "P@1\t0.667", "R@1\t0.667"]
    perfect = evaluate([[0], [1]], [[0], [1]], num_labels=2, k=1)
    assert perfect.format_fasttext_test() == ["N\t2", "P@1\t1", "R@1\t1"]


def test_fasttext_test_label_lines():
    ev = evaluate([[0], [0], [1]], [[0], [1], [1]], num_labels=3, k=1)
    lines = ev.format_fasttext_test_label(["__label__a", "__label__b", "__label__c"])
    assert lines == [
        "F1-Score : 0.666667  Precision : 0.500000  Recall : 1.000000   __label__a",
        "F1-Score : 0.666667  Precision : 1.000000  Recall : 0.500000   __label__b",
        # never predicted and never gold: every value undefined
        "F1-Score : --------  Precision : --------  Recall : --------   __label__c",
        "N\t3",
        "P@1\t0.667",  # std::fixed from the per-label lines stays set
        "R@1\t0.667",
    ]


def test_macro_and_micro_and_json():
    ev = evaluate([[0], [0], [1]], [[0], [1], [1]], num_labels=3, k=1)
    mp, mr, mf = ev.macro()  # over labels with support (a, b)
    assert (mp, mr, mf) == pytest.approx((0.75, 0.75, 2 / 3))
    d = ev.to_dict(["a", "b", "c"])
    assert d["labels"][2]["precision"] is None
    assert d["micro"]["f1"] == pytest.approx(2 / 3)
    assert d["confusion"]["matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]


def test_undefined_precision_is_nan_not_an_error():
    ev = evaluate([[]], [[0]], num_labels=1, k=1)
    assert math.isnan(ev.precision_at_k)
    assert ev.format_fasttext_test()[1] == "P@1\tnan"


def test_select_labels_k_threshold_and_ties():
    proba = np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]], np.float32)
    top2 = select_labels(proba, 2)
    assert [ids.tolist() for ids, _ in top2] == [[1, 2], [0, 1]]  # tie -> lower id first
    thr = select_labels(proba, None, 0.3)
    assert [ids.tolist() for ids, _ in thr] == [[1, 2], [0, 1]]
    per_label = select_labels(proba, None, np.array([0.1, 0.9, 0.25], np.float32))
    assert [ids.tolist() for ids, _ in per_label] == [[2, 0], [0]]
    with pytest.raises(UsageError):
        select_labels(proba, 0)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 3), max_size=3, unique=True),
            st.lists(st.integers(-1, 3), min_size=1, max_size=3, unique=True),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_micro_totals_equal_per_label_sums(examples):
    preds, gold = zip(*examples, strict=True)
    ev = evaluate(list(preds), list(gold), num_labels=4, k=3)
    hits = sum(
        len(set(p) & {g for g in gs if g >= 0}) for p, gs in examples if any(g >= 0 for g in gs)
    )
    assert ev.predicted_gold.sum() == hits
    assert ev.n + ev.skipped == len(examples)
    if ev.predicted.sum():
        assert ev.precision_at_k == pytest.approx(hits / ev.predicted.sum())


@pytest.mark.parametrize("pool", ["mean", "sum", "flatten"])
def test_contributions_add_up_to_the_logit(pool):
    rng = np.random.default_rng(0)
    dim, maxlen = 4, 3
    rows = rng.standard_normal((5, dim)).astype(np.float32)
    in_dim = dim * maxlen if pool == "flatten" else dim
    W = rng.standard_normal((in_dim, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    if pool == "mean":
        pooled = rows.mean(axis=0)
    elif pool == "sum":
        pooled = rows.sum(axis=0)
    else:
        pooled = rows[:maxlen].ravel()  # post-truncation to maxlen
    logit = pooled.astype(np.float64) @ W[:, 2] + b[2]
    contrib, bias = linear_contributions(rows, W, b, 2, pool=pool, maxlen=maxlen)
    assert contrib.sum() + bias == pytest.approx(logit, rel=1e-5)
    neg, nbias = linear_contributions(rows, W, b, 2, pool=pool, maxlen=maxlen, sign=-1.0)
    assert neg.sum() + nbias == pytest.approx(-logit, rel=1e-5)
    with pytest.raises(UsageError):
        linear_contributions(rows, W, b, 0, pool="max")
