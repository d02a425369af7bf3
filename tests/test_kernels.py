"""Every kernel against its plain-numpy twin in tests/reference.py."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref

from embedcli import kernels
from embedcli.model import epoch_kernel, train_epoch

R, DIM = 40, 5


def ragged(rng, n=12, maxlen=9, rows=R, pad_rate=0.2):
    lengths = rng.integers(0, maxlen + 1, n)
    lengths[0] = 0  # an empty document
    tokens = rng.integers(1, rows, lengths.sum()).astype(np.int32)
    tokens[rng.random(len(tokens)) < pad_rate] = 0
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    if n > 1 and lengths[1] > 0:
        tokens[offsets[1] : offsets[2]] = 0  # an all-pad document
    return tokens, offsets


def labels(rng, n, C, multi=False):
    lab, off = [], [0]
    for i in range(n):
        k = rng.integers(0, 3) if multi else 1
        ls = list(rng.integers(0, C, k))
        if i == 2:
            ls = [-1]  # unknown label
        lab += ls
        off.append(len(lab))
    return np.array(lab, dtype=np.int32), np.array(off, dtype=np.int64)


def table(rng, rows=R, dim=DIM, dtype=np.float32):
    W = rng.normal(size=(rows, dim)).astype(dtype)
    W[0] = 0
    return W


def test_gather_equals_index_and_one_hot():
    rng = np.random.default_rng(0)
    W = table(rng)
    ids = rng.integers(0, R, 50).astype(np.int32)
    out = kernels.gather_rows(W, ids)
    np.testing.assert_array_equal(out, ref.gather_rows(W, ids))
    one_hot = np.eye(R, dtype=np.float32)[ids]
    np.testing.assert_allclose(out, one_hot @ W, rtol=1e-6)


def test_scatter_add_equals_add_at_with_repeats():
    rng = np.random.default_rng(1)
    ids = np.array([3, 3, 3, 7, 1, 7, 3], dtype=np.int32)
    rows = rng.normal(size=(len(ids), DIM)).astype(np.float32)
    G = np.zeros((R, DIM), np.float32)
    kernels.scatter_add_rows(G, ids, rows)
    expect = np.zeros((R, DIM), np.float32)
    np.add.at(expect, ids, rows)
    np.testing.assert_allclose(G, expect, rtol=1e-6)
    # the naive fancy-index update is *not* what we want (it drops repeats)
    wrong = np.zeros((R, DIM), np.float32)
    wrong[ids] += rows
    assert not np.allclose(G, wrong)


@pytest.mark.parametrize("pool", [0, 1, 2, 3])
def test_pool_batch_matches_reference(pool):
    rng = np.random.default_rng(2 + pool)
    W = table(rng)
    tokens, offsets = ragged(rng)
    maxlen = 6 if pool == 3 else 0
    out, arg = kernels.pool_batch(W, tokens, offsets, pool, maxlen)
    e_out, e_arg = ref.pool_batch(W, tokens, offsets, pool, maxlen)
    np.testing.assert_allclose(out, e_out, rtol=1e-5, atol=1e-6)
    if pool == 2:
        np.testing.assert_array_equal(arg, e_arg)
    halves = [
        kernels.pool_batch(W, tokens, offsets[a : b + 1], pool, maxlen)
        for a, b in ((0, 5), (5, 12))
    ]
    np.testing.assert_array_equal(np.concatenate([h[0] for h in halves]), out)
    np.testing.assert_array_equal(np.concatenate([h[1] for h in halves]), arg)
    single, _, cnt = kernels.pool_doc(W, tokens[offsets[3] : offsets[4]], pool, maxlen)
    np.testing.assert_allclose(single, out[3], rtol=1e-6)
    assert cnt == np.count_nonzero(tokens[offsets[3] : offsets[4]][: maxlen or None])


def test_mean_of_all_pad_doc_is_zero_not_nan():
    W = table(np.random.default_rng(3))
    tokens = np.array([0, 0, 0], dtype=np.int32)
    for pool in (0, 1, 2):
        out, _ = kernels.pool_batch(W, tokens, np.array([0, 3, 3], dtype=np.int64), pool, 0)
        assert np.all(out == 0.0) and np.isfinite(out).all()


@pytest.mark.parametrize("pool", [0, 1, 2, 3])
def test_pool_backward_matches_reference(pool):
    rng = np.random.default_rng(4 + pool)
    W = table(rng)
    tokens, offsets = ragged(rng)
    maxlen = 6 if pool == 3 else 0
    out, arg = kernels.pool_batch(W, tokens, offsets, pool, maxlen)
    g = rng.normal(size=out.shape).astype(np.float32)
    counts = np.array(
        [np.count_nonzero(tokens[a:b]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    )
    G = np.zeros_like(W)
    kernels.pool_backward(G, tokens, offsets, pool, maxlen, counts, arg, g)
    E = np.zeros_like(W, dtype=np.float64)
    ref.pool_backward(E, tokens, offsets, pool, maxlen, arg, g)
    np.testing.assert_allclose(G, E, rtol=1e-5, atol=1e-6)
    assert np.all(G[0] == 0)


@pytest.mark.parametrize("relu", [False, True])
def test_dense_forward_backward(relu):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(7, 4))
    W = rng.normal(size=(4, 3))
    b = rng.normal(size=3)
    Y = kernels.dense_forward(X, W, b, relu)
    np.testing.assert_allclose(Y, ref.dense_forward(X, W, b, relu), rtol=1e-12)
    gY = rng.normal(size=Y.shape)
    for got, want in zip(
        kernels.dense_backward(X, W, Y, gY, relu),
        ref.dense_backward(X, W, Y, gY, relu),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("objective", [0, 1, 2])
def test_objectives_match_reference(objective):
    rng = np.random.default_rng(6 + objective)
    n = 10
    C = 1 if objective == 1 else 4
    lab, off = labels(rng, n, 2 if objective == 1 else C, multi=objective == 2)
    if objective == 2:
        lab = np.concatenate([lab, [1, 1]]).astype(np.int32)  # a duplicated label counts once
        off = np.concatenate([off, [off[-1] + 2]]).astype(np.int64)
        n += 1
    z = (3 * rng.normal(size=(n, C))).astype(np.float32)
    cw = rng.uniform(0.5, 2.0, 2 if objective == 1 else C).astype(np.float32)
    loss, grad, ok = kernels.objective_batch(objective, z, lab, off, cw)
    e_loss, e_grad, e_ok = ref.objective_batch(objective, z, lab, off, cw)
    np.testing.assert_allclose(loss, e_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, e_grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ok, e_ok)
    assert loss[2] == 0 or objective == 2  # unknown label: no loss for softmax/binary


def test_sparse_and_dense_updates():
    rng = np.random.default_rng(7)
    ids = np.array([4, 9, 0, 2], dtype=np.int32)  # id 0 (padding) must be skipped
    G = rng.normal(size=(4, DIM)).astype(np.float32)
    for optimizer in (0, 1, 2):
        W = table(rng)
        S = rng.uniform(0, 1, R).astype(np.float32)
        M = rng.normal(size=(R, DIM)).astype(np.float32) * 0.1
        V = rng.uniform(0, 1, (R, DIM)).astype(np.float32)
        T = rng.integers(0, 5, R).astype(np.int32)
        E, ES, EM, EV, ET = (
            a.astype(np.float64) if a.dtype != np.int32 else a.copy() for a in (W, S, M, V, T)
        )
        if optimizer == 0:
            kernels.sgd_update_rows(W, ids, G, 0.1, 0.01)
        elif optimizer == 1:
            kernels.adagrad_update_rows(W, S, ids, G, 0.1, 0.01, 1e-8)
        else:
            kernels.adam_update_rows(W, M, V, T, ids, G, 0.1, 0.01, 0.9, 0.999, 1e-8)
        for k, r in enumerate(ids):
            if r != 0:
                ref.row_update(E, r, G[k], optimizer, 0.1, 0.01, ES, EM, EV, ET, 0.9, 0.999, 1e-8)
        np.testing.assert_allclose(W, E, rtol=1e-5, atol=1e-6)
        assert np.all(W[0] == 0)
        # dense
        P = rng.normal(size=30).astype(np.float32)
        S1 = rng.uniform(0, 1, 30).astype(np.float32)
        S2 = rng.uniform(0, 1, 30).astype(np.float32)
        g = rng.normal(size=30).astype(np.float32)
        EP, E1, E2 = P.astype(np.float64), S1.astype(np.float64), S2.astype(np.float64)
        kernels.dense_update(P, S1, S2, g, optimizer, 0.05, 0.01, 0.9, 0.999, 1e-8, 3)
        ref.dense_update(EP, E1, E2, g, optimizer, 0.05, 0.01, 0.9, 0.999, 1e-8, 3)
        np.testing.assert_allclose(P, EP, rtol=1e-5, atol=1e-6)


def test_hash_word_ngrams_golden_and_reference():
    tok = np.array([5, 7], dtype=np.int32)
    t2, o2 = kernels.hash_word_ngrams(tok, np.array([0, 2], dtype=np.int64), 2, 10, 1000, False)
    # 5 * 116049371 + 7 = 580246862 -> bucket 862 -> row 10 + 862
    assert t2.tolist() == [5, 7, 872] and o2.tolist() == [0, 3]
    # with </s> (2**64 - 1): its own row, then (5, 7) and (7, </s>)
    t3, _ = kernels.hash_word_ngrams(tok, np.array([0, 2], dtype=np.int64), 2, 10, 1000, True)
    eos_row = 10 + (2**64 - 1) % 1000
    last = 10 + ((7 * 116049371 + 2**64 - 1) % 2**64) % 1000
    assert t3.tolist() == [5, 7, eos_row, 872, last]
    rng = np.random.default_rng(8)
    tokens, offsets = ragged(rng, n=20, maxlen=12, rows=10**6)
    for n in (1, 2, 3):
        for eos in (False, True):
            got = kernels.hash_word_ngrams(tokens, offsets, n, 10**6, 2**20 + 7, eos)
            want = ref.hash_word_ngrams(tokens, offsets, n, 10**6, 2**20 + 7, eos)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
    # uint64 wrap-around with large ids matches Python's modular arithmetic
    big = np.array([2**31 - 1, 2**31 - 2, 2**31 - 3], dtype=np.int32)
    got = kernels.hash_word_ngrams(big, np.array([0, 3], dtype=np.int64), 3, 5, 999_983, True)
    want = ref.hash_word_ngrams(big, np.array([0, 3]), 3, 5, 999_983, True)
    np.testing.assert_array_equal(got[0], want[0])


def test_dropout_mask_matches_reference():
    keys = np.array([0, 5, 123456789], dtype=np.int64)
    m = kernels.dropout_mask(3, 16, 0.3, 42, keys)
    np.testing.assert_array_equal(m, ref.dropout_mask(3, 16, 0.3, 42, keys))
    big = kernels.dropout_mask(200, 50, 0.3, 7, np.arange(200, dtype=np.int64))
    assert abs((big > 0).mean() - 0.7) < 0.02
    np.testing.assert_allclose(big[big > 0], 1 / 0.7, rtol=1e-6)


# --------------------------------------------------------------------------- epoch + predict


def make_problem(rng, pool, hidden, objective, optimizer, n=14, C=3):
    maxlen = 5 if pool == 3 else 0
    tokens, offsets = ragged(rng, n=n)
    n_out = 1 if objective == 1 else C
    lab, loff = labels(rng, n, 2 if objective == 1 else C, multi=objective == 2)
    emb = table(rng) * np.float32(0.3)
    in0 = maxlen * DIM if pool == 3 else DIM
    in1 = hidden if hidden else in0
    dense = (0.3 * rng.normal(size=in0 * hidden + hidden + in1 * n_out + n_out)).astype(np.float32)
    one = np.zeros(1, np.float32)
    state = (
        np.zeros(R, np.float32) if optimizer == 1 else one,
        np.zeros((R, DIM), np.float32) if optimizer == 2 else np.zeros((1, 1), np.float32),
        np.zeros((R, DIM), np.float32) if optimizer == 2 else np.zeros((1, 1), np.float32),
        np.zeros(R if optimizer == 2 else 1, np.int32),
        np.zeros_like(dense) if optimizer else one,
        np.zeros_like(dense) if optimizer == 2 else one,
    )
    shape = (pool, maxlen, hidden, n_out, objective)
    cw = rng.uniform(0.5, 1.5, 2 if objective == 1 else C).astype(np.float32)
    return emb, dense, state, (tokens, offsets, lab, loff), shape, cw


def make_opt(
    optimizer,
    lr,
    decay=True,
    l2=0.0,
    dropout=0.0,
    frozen=1,
    bsz=1,
    seed=3,
    tokens0=0.0,
    total=100.0,
):
    return (
        optimizer,
        lr,
        decay,
        l2,
        0.9,
        0.999,
        1e-8,
        dropout,
        frozen,
        bsz,
        seed,
        0,
        tokens0,
        total,
    )


CASES = [
    # pool, hidden, objective, optimizer, bsz, l2, dropout, frozen
    (0, 0, 0, 0, 1, 0.0, 0.0, 1),  # fastText fast path
    (0, 0, 0, 1, 1, 0.0, 0.0, 1),  # default: row-wise adagrad
    (1, 0, 1, 2, 3, 0.0, 0.0, 1),
    (2, 4, 0, 1, 2, 0.01, 0.0, 1),
    (3, 0, 2, 0, 2, 0.01, 0.0, 1),
    (0, 3, 2, 2, 1, 0.0, 0.25, 1),
    (0, 0, 0, 1, 4, 0.0, 0.0, 20),  # rows < 20 frozen
    (0, 3, 0, 1, 1, 0.01, 0.25, 1),  # rows kernel: adagrad + L2, hidden, dropout
    (1, 0, 1, 0, 1, 0.01, 0.0, 1),  # rows kernel: SGD + L2, sum, binary
    (0, 0, 2, 0, 3, 0.0, 0.1, 1),  # rows kernel: fastText update on mini-batches, dropout
]


def test_epoch_kernel_choice():
    """train_rows kernels by (pool, objective, update): 0 SGD without L2, 1 Adagrad without L2,
    2 either with L2; train_exact by (pool, objective)."""
    rows, exact = kernels.TRAIN_ROWS, kernels.TRAIN_EXACT
    for pool, optimizer, bsz, l2, update in [
        (0, 0, 1, 0.0, 0),
        (1, 0, 8, 0.0, 0),
        (0, 1, 1, 0.0, 1),
        (0, 1, 1, 0.01, 2),
        (1, 0, 1, 0.01, 2),
        (0, 1, 4, 0.0, None),
        (0, 2, 1, 0.0, None),
        (2, 0, 1, 0.0, None),
        (3, 1, 1, 0.0, None),
    ]:
        for objective in range(3):
            opt = make_opt(optimizer, 0.1, l2=l2, bsz=bsz)
            got = epoch_kernel((pool, 0, 0, 2, objective), opt)
            want = exact[pool, objective] if update is None else rows[pool, objective, update]
            assert got is want


@pytest.mark.parametrize("case", CASES)
def test_train_epoch_matches_reference(case):
    pool, hidden, objective, optimizer, bsz, l2, dropout, frozen = case
    rng = np.random.default_rng(sum(case[:5]) + 10 * bsz)
    emb, dense, state, data, shape, cw = make_problem(rng, pool, hidden, objective, optimizer)
    order = rng.permutation(len(data[1]) - 1).astype(np.int64)
    opt = make_opt(
        optimizer,
        0.3 if optimizer < 2 else 0.05,
        l2=l2,
        dropout=dropout,
        frozen=frozen,
        bsz=bsz,
        total=float(2 * len(data[0])),
    )
    e_emb, e_dense = emb.copy(), dense.copy()
    e_state = tuple(a.copy() for a in state)
    loss, correct = train_epoch((emb, dense), state, data, shape, opt, cw, order, 1)
    e_loss, e_correct = ref.train_epoch((e_emb, e_dense), e_state, data, shape, opt, cw, order)
    np.testing.assert_allclose(emb, e_emb, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(dense, e_dense, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(loss.sum(), e_loss, rtol=1e-4)
    assert correct.sum() == e_correct
    assert np.all(emb[0] == 0)
    assert not np.array_equal(emb, table(np.random.default_rng(0)))  # something moved
    if frozen > 1:
        np.testing.assert_array_equal(emb[:frozen], e_emb[:frozen])


def test_parallel_epoch_twin():
    rng = np.random.default_rng(11)
    emb, dense, state, data, shape, cw = make_problem(rng, 0, 0, 0, 1, n=40)
    order = rng.permutation(40).astype(np.int64)
    opt = make_opt(1, 0.2, total=float(len(data[0])))
    a = (emb.copy(), dense.copy(), tuple(s.copy() for s in state))
    b = (emb.copy(), dense.copy(), tuple(s.copy() for s in state))
    la, _ = train_epoch((a[0], a[1]), a[2], data, shape, opt, cw, order, 2)
    lb, _ = train_epoch((b[0], b[1]), b[2], data, shape, opt, cw, order, 1)
    lb2, _ = train_epoch((b[0], b[1]), b[2], data, shape, opt, cw, order, 1, threads=True)
    assert lb2.shape == (1,)  # one shard: threads change nothing
    c = (emb.copy(), dense.copy(), tuple(s.copy() for s in state))
    lc, cc = train_epoch((c[0], c[1]), c[2], data, shape, opt, cw, order, 2, threads=True)
    assert lc.shape == (2,) and np.isfinite(lc).all() and np.all(c[0][0] == 0)
    np.testing.assert_allclose(lc.sum(), la.sum(), rtol=0.2)
    # the serial twin with 2 shards runs them one after the other: reproducible
    d = (emb.copy(), dense.copy(), tuple(s.copy() for s in state))
    ld, _ = train_epoch((d[0], d[1]), d[2], data, shape, opt, cw, order, 2)
    np.testing.assert_array_equal(ld, la)
    np.testing.assert_array_equal(d[0], a[0])


@pytest.mark.parametrize("shape_case", [(0, 0, 0), (2, 4, 1), (3, 0, 2)])
def test_predict_batch_matches_reference(shape_case):
    pool, hidden, objective = shape_case
    rng = np.random.default_rng(12)
    emb, dense, _, data, shape, _ = make_problem(rng, pool, hidden, objective, 0)
    for probs in (False, True):
        got = kernels.predict_batch(emb, dense, data[0], data[1], shape, probs)
        want = ref.predict_batch(emb, dense, data[0], data[1], shape, probs)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
        halves = [
            kernels.predict_batch(emb, dense, data[0], data[1][a : b + 1], shape, probs)
            for a, b in ((0, 5), (5, len(data[1]) - 1))
        ]
        np.testing.assert_array_equal(np.concatenate(halves), got)
