"""Gradients of the whole model: central finite differences in float64, and the epoch kernel's
SGD step against the checked gradient."""

from __future__ import annotations

import numpy as np
import pytest

from embedcli.model import (
    ModelParams,
    ModelSpec,
    forward_loss_and_grads,
    init_params,
    pack_dense,
    train_epoch,
)

ROWS, DIM, C, H, MAXLEN = 12, 3, 3, 4, 4


def problem(pool, hidden, objective, seed=0):
    rng = np.random.default_rng(seed)
    n_out = 1 if objective == "binary" else C
    spec = ModelSpec(
        ROWS, 0, DIM, n_out, pool, hidden, objective, 1, MAXLEN if pool == "flatten" else 0
    )
    p = init_params(spec, seed)
    p64 = ModelParams(
        rng.normal(size=p.embeddings.shape),
        rng.normal(size=p.out_W.shape),
        rng.normal(size=p.out_b.shape),
        None if p.hidden_W is None else rng.normal(size=p.hidden_W.shape),
        None if p.hidden_b is None else rng.normal(size=p.hidden_b.shape),
    )
    p64.embeddings[0] = 0.0
    lengths = np.array([3, 5, 0, 2, 6, 1])
    tokens = rng.integers(1, ROWS, lengths.sum()).astype(np.int32)
    tokens[[1, 7]] = 0  # pads inside documents
    tokens[4] = tokens[3]  # a repeated id
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    if objective == "multilabel":
        lab = [[0, 2], [1], [], [2], [0, 1, 2], [1]]
    else:
        k = 2 if objective == "binary" else C
        lab = [[int(rng.integers(0, k))] for _ in lengths]
    label_ids = np.array([x for ls in lab for x in ls], dtype=np.int32)
    label_offsets = np.concatenate([[0], np.cumsum([len(ls) for ls in lab])]).astype(np.int64)
    return spec, p64, (tokens, offsets, label_ids, label_offsets)


def arrays(p: ModelParams):
    return [a for a in (p.embeddings, p.out_W, p.out_b, p.hidden_W, p.hidden_b) if a is not None]


CASES = [
    (pool, hidden, obj)
    for pool in ("mean", "sum", "max", "flatten")
    for hidden in (0, H)
    for obj in ("softmax", "binary", "multilabel")
]


@pytest.mark.parametrize("pool,hidden,objective", CASES)
def test_finite_differences(pool, hidden, objective):
    spec, p, data = problem(pool, hidden, objective, seed=len(pool) + hidden)
    cw = np.array([1.0, 2.0] if objective == "binary" else [1.0, 0.5, 2.0])
    loss, grads = forward_loss_and_grads(p, spec, *data, class_weight=cw)
    assert np.isfinite(loss)
    eps = 1e-6
    for a, g in zip(arrays(p), arrays(grads), strict=True):
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            lp, _ = forward_loss_and_grads(p, spec, *data, class_weight=cw)
            a[idx] = old - eps
            lm, _ = forward_loss_and_grads(p, spec, *data, class_weight=cw)
            a[idx] = old
            num[idx] = (lp - lm) / (2 * eps)
        if a is p.embeddings:
            num[0] = 0.0  # the pad row never receives a gradient (it is masked, not zero-weighted)
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7)
    assert np.all(grads.embeddings[0] == 0)


@pytest.mark.parametrize(
    "pool,hidden,objective",
    [
        ("mean", 0, "softmax"),
        ("sum", H, "binary"),
        ("max", 0, "multilabel"),
        ("flatten", H, "softmax"),
    ],
)
def test_epoch_kernel_sgd_step_is_minus_lr_gradient(pool, hidden, objective):
    """One SGD mini-batch over every document with a constant lr moves each parameter by
    exactly -lr * (mean gradient) -- the kernel's backward agrees with the checked one."""
    spec, p64, (tokens, offsets, label_ids, label_offsets) = problem(
        pool, hidden, objective, seed=3
    )
    p = ModelParams(
        *(
            None if a is None else a.astype(np.float32)
            for a in (p64.embeddings, p64.out_W, p64.out_b, p64.hidden_W, p64.hidden_b)
        )
    )
    n = len(offsets) - 1
    lr = 0.1
    _, g = forward_loss_and_grads(
        ModelParams(*(None if a is None else a.astype(np.float64) for a in arrays_full(p))),
        spec,
        tokens,
        offsets,
        label_ids,
        label_offsets,
    )
    emb = p.embeddings.copy()
    dense = pack_dense(p, spec)
    one = np.zeros(1, np.float32)
    state = (
        one,
        np.zeros((1, 1), np.float32),
        np.zeros((1, 1), np.float32),
        np.zeros(1, np.int32),
        one,
        one,
    )
    opt = (0, lr, False, 0.0, 0.9, 0.999, 1e-8, 0.0, 1, n, 0, 0, 0.0, 1.0)
    cw = np.ones(2 if objective == "binary" else C, np.float32)
    train_epoch(
        (emb, dense),
        state,
        (tokens, offsets, label_ids, label_offsets),
        spec.kernel_shape(),
        opt,
        cw,
        np.arange(n, dtype=np.int64),
        1,
    )
    np.testing.assert_allclose(emb, p.embeddings - lr * g.embeddings, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        dense, pack_dense(p, spec) - lr * pack_dense(g, spec, np.float64), rtol=1e-4, atol=1e-6
    )


def arrays_full(p: ModelParams):
    return (p.embeddings, p.out_W, p.out_b, p.hidden_W, p.hidden_b)
