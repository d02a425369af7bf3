"""Every Numba kernel of embedcli, and nothing else.

Conventions (see docs/DESIGN.md): parameters are float32 C-contiguous arrays, token ids int32,
offsets int64; a ragged batch of documents is ``tokens[offsets[i]:offsets[i + 1]]``. Id 0 is the
padding id: it never contributes to a pooled vector and its row is never updated. Integer codes
instead of strings (the tables live in ``embedcli.spec``):

- pool: 0 mean, 1 sum, 2 max, 3 flatten (first ``maxlen`` positions, post-padded);
- objective: 0 softmax cross-entropy, 1 binary (one logit = score of label id 1),
  2 multilabel (one-vs-all sigmoids);
- optimizer: 0 SGD, 1 Adagrad, 2 Adam.

Dense parameters of the classifier live in one flat float32 vector ``dense`` laid out as
``[hidden_W (in0*H), hidden_b (H), out_W (in1*C), out_b (C)]`` with ``in0`` the pooled width
(``dim``, or ``maxlen*dim`` for flatten), ``in1 = H`` if there is a hidden layer else ``in0``;
matrices are row-major ``(fan_in, fan_out)``.

No kernel is ``parallel=True`` (those compile slowly): every kernel is ``nogil``, and
``embedcli.model`` runs shards of a batch or an epoch on Python threads. Training in parallel is
Hogwild (lock-free updates to shared arrays, like fastText and word2vec); the serial path is
bit-reproducible.

Left out on purpose: hierarchical softmax, negative sampling, subword (char n-gram) features.
"""

from collections import namedtuple

import numpy as np
from numba import njit

#: options of the private kernels, called only from other kernels: no CPython or C-callable
#: wrapper (numba compiles both for every function by default, and every caller links them in
#: and optimizes them again: about half of a cold run's compile time)
_INNER = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}

# --------------------------------------------------------------------------- small helpers


@njit(cache=True, nogil=True, **_INNER)
def _splitmix64(x):
    """One step of splitmix64 on a uint64; a counter-based RNG (stateless, thread-safe)."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, **_INNER)
def _dropout_row(mask, p, seed, key):
    """Fill ``mask`` with inverted-dropout factors (0 or 1/(1-p)) for example ``key``.

    Element j keeps with probability 1-p, decided by ``splitmix64(seed, key, j)``; the mask depends
    only on (seed, key, j), never on thread count or order.
    """
    keep = 1.0 - p
    scale = np.float32(1.0 / keep)
    base = _splitmix64(np.uint64(seed) ^ (np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)))
    for j in range(mask.shape[0]):
        u = _splitmix64(base + np.uint64(j)) >> np.uint64(11)
        if u * (1.0 / 9007199254740992.0) < keep:
            mask[j] = scale
        else:
            mask[j] = 0.0


@njit(cache=True, nogil=True)
def dropout_mask(n, width, p, seed, keys):
    """Inverted-dropout masks ``(n, width)`` float32 for examples ``keys`` (int64, length n)."""
    out = np.empty((n, width), dtype=np.float32)
    for i in range(n):
        _dropout_row(out[i], p, seed, keys[i])
    return out


# --------------------------------------------------------------------------- lookup and pooling


@njit(cache=True, nogil=True)
def gather_rows(W, ids):
    """``W[ids]`` as a new ``(len(ids), dim)`` array (the forward embedding lookup)."""
    dim = W.shape[1]
    out = np.empty((ids.shape[0], dim), dtype=W.dtype)
    for k in range(ids.shape[0]):
        r = ids[k]
        for j in range(dim):
            out[k, j] = W[r, j]
    return out


@njit(cache=True, nogil=True)
def scatter_add_rows(G, ids, rows):
    """``G[ids[k]] += rows[k]`` for every k, in place; repeated ids add up (= ``np.add.at``)."""
    dim = G.shape[1]
    for k in range(ids.shape[0]):
        r = ids[k]
        for j in range(dim):
            G[r, j] += rows[k, j]


@njit(cache=True, nogil=True, inline="always")
def _pool_doc(W, tokens, s, e, pool, maxlen, out, arg, i):
    """Pool document ``tokens[s:e]`` into ``out`` with pooling ``pool``; return the number of
    non-pad tokens (see :func:`_pool_sum`, :func:`_pool_max`, :func:`_pool_flatten`). Max pooling
    keeps its argmax positions in row ``i`` of ``arg`` (None in kernels without max pooling).
    Inlined: in an entry kernel, where ``pool`` is a constant, the other branches are pruned
    before typing and only that pooling compiles (see "entry points")."""
    if pool == 3:
        return _pool_flatten(W, tokens, s, e, maxlen, out)
    if pool == 2:
        return _pool_max(W, tokens, s, e, out, arg[i])
    return _pool_sum(W, tokens, s, e, pool == 0, out)


@njit(cache=True, nogil=True, **_INNER)
def _pool_flatten(W, tokens, s, e, maxlen, out):
    """Flatten: writes ``maxlen*dim`` values, the row of position s+p at ``p*dim``; positions
    past the end (and pad ids, whose row is zero) give zeros. Returns the non-pad count."""
    dim = W.shape[1]
    cnt = 0
    n = min(e - s, maxlen)
    for p in range(n):
        t = tokens[s + p]
        if t != 0:
            cnt += 1
            for j in range(dim):
                out[p * dim + j] = W[t, j]
        else:
            for j in range(dim):
                out[p * dim + j] = 0.0
    for k in range(n * dim, maxlen * dim):
        out[k] = 0.0
    return cnt


@njit(cache=True, nogil=True, **_INNER)
def _pool_max(W, tokens, s, e, out, arg):
    """Max over the non-pad rows (zeros without one), keeping in ``arg[j]`` the position (index
    into ``tokens``) of the maximum of column j, or -1. Returns the non-pad count."""
    dim = W.shape[1]
    cnt = 0
    for j in range(dim):
        out[j] = 0.0
        arg[j] = -1
    for p in range(s, e):
        t = tokens[p]
        if t == 0:
            continue
        if cnt == 0:
            for j in range(dim):
                out[j] = W[t, j]
                arg[j] = p
        else:
            for j in range(dim):
                v = W[t, j]
                if v > out[j]:
                    out[j] = v
                    arg[j] = p
        cnt += 1
    return cnt


@njit(cache=True, nogil=True, **_INNER)
def _pool_sum(W, tokens, s, e, mean, out):
    """Sum (or mean if ``mean``) of the non-pad rows of ``tokens[s:e]`` into ``out[:dim]``;
    returns their count (0 -> zeros, never NaN)."""
    dim = W.shape[1]
    cnt = 0
    for j in range(dim):
        out[j] = 0.0
    for p in range(s, e):
        t = tokens[p]
        if t == 0:
            continue
        cnt += 1
        for j in range(dim):
            out[j] += W[t, j]
    if mean and cnt > 0:
        inv = 1.0 / cnt
        for j in range(dim):
            out[j] *= inv
    return cnt


@njit(cache=True, nogil=True)
def pool_doc(W, tokens, pool, maxlen):
    """Pool one document (all of ``tokens``): returns ``(vector, argmax positions, count)``."""
    dim = W.shape[1]
    width = maxlen * dim if pool == 3 else dim
    out = np.zeros(width, dtype=W.dtype)
    arg = np.full((1, dim), -1, dtype=np.int64)
    cnt = _pool_doc(W, tokens, 0, tokens.shape[0], pool, maxlen, out, arg, 0)
    return out, arg[0], cnt


@njit(cache=True, nogil=True, **_INNER)
def _pool_range(W, tokens, offsets, pool, maxlen, out, arg, lo, hi):
    for i in range(lo, hi):
        _pool_doc(W, tokens, offsets[i], offsets[i + 1], pool, maxlen, out[i], arg, i)


@njit(cache=True, nogil=True)
def pool_batch(W, tokens, offsets, pool, maxlen):
    """Pool a ragged batch: ``(pooled (n, width), argmax positions (n, dim) int64)``.

    ``width`` is ``dim`` (mean/sum/max) or ``maxlen*dim`` (flatten, Keras Flatten after
    post-padding/post-truncating to ``maxlen``).
    """
    n = offsets.shape[0] - 1
    dim = W.shape[1]
    width = maxlen * dim if pool == 3 else dim
    out = np.zeros((n, width), dtype=W.dtype)
    arg = np.full((n, dim), -1, dtype=np.int64)
    _pool_range(W, tokens, offsets, pool, maxlen, out, arg, 0, n)
    return out, arg


@njit(cache=True, nogil=True)
def pool_backward(G, tokens, offsets, pool, maxlen, counts, arg, gpooled):
    """Add to ``G`` (rows x dim) the gradient of the pooled vectors ``gpooled`` (n, width).

    mean: each non-pad token row gets ``g / count``; sum: ``g``; max: column j of the argmax row
    gets ``g[j]``; flatten: the row at position p gets ``g[p*dim:(p+1)*dim]``. Pad rows get nothing.
    """
    n = offsets.shape[0] - 1
    dim = G.shape[1]
    for i in range(n):
        s = offsets[i]
        e = offsets[i + 1]
        if pool == 2:
            for j in range(dim):
                p = arg[i, j]
                if p >= 0:
                    G[tokens[p], j] += gpooled[i, j]
        elif pool == 3:
            for p in range(min(e - s, maxlen)):
                t = tokens[s + p]
                if t != 0:
                    for j in range(dim):
                        G[t, j] += gpooled[i, p * dim + j]
        else:
            if counts[i] == 0:
                continue
            scale = 1.0 / counts[i] if pool == 0 else 1.0
            for p in range(s, e):
                t = tokens[p]
                if t != 0:
                    for j in range(dim):
                        G[t, j] += gpooled[i, j] * scale


# --------------------------------------------------------------------------- dense layers


@njit(cache=True, nogil=True, **_INNER)
def _affine(x, W, b, n_in, n_out, out, relu):
    """``out = x @ W + b`` (W flat row-major (n_in, n_out)); ReLU if ``relu`` (a variable, never
    a literal ``True``/``False``: those would compile twice, see ``tests/test_cold_compile.py``)."""
    for c in range(n_out):
        out[c] = b[c]
    for i in range(n_in):
        xi = x[i]
        if xi == 0.0:
            continue
        base = i * n_out
        for c in range(n_out):
            out[c] += xi * W[base + c]
    if relu:
        for c in range(n_out):
            if out[c] < 0.0:
                out[c] = 0.0


@njit(cache=True, nogil=True, **_INNER)
def _affine_backward(x, W, g, n_in, n_out, gx, gW, gb, scale):
    """Backward of ``x @ W + b`` for output gradient ``g``: ``gx = W @ g`` (overwritten),
    ``gW += scale * outer(x, g)``, ``gb += scale * g``."""
    for i in range(n_in):
        base = i * n_out
        acc = 0.0
        for c in range(n_out):
            acc += W[base + c] * g[c]
        gx[i] = acc
        xi = x[i] * scale
        if xi != 0.0:
            for c in range(n_out):
                gW[base + c] += xi * g[c]
    for c in range(n_out):
        gb[c] += scale * g[c]


@njit(cache=True, nogil=True)
def dense_forward(X, W, b, relu):
    """``X @ W + b`` (ReLU'd if ``relu``) for X (n, n_in), W (n_in, n_out), b (n_out,)."""
    n, n_in = X.shape
    n_out = W.shape[1]
    out = np.empty((n, n_out), dtype=X.dtype)
    Wf = W.reshape(-1)
    for i in range(n):
        _affine(X[i], Wf, b, n_in, n_out, out[i], relu)
    return out


@njit(cache=True, nogil=True)
def dense_backward(X, W, Y, gY, relu):
    """Backward of :func:`dense_forward`: returns ``(gX, gW, gb)`` summed over the batch.

    ``Y`` is the forward output (used for the ReLU mask when ``relu``).
    """
    n, n_in = X.shape
    n_out = W.shape[1]
    gX = np.empty((n, n_in), dtype=X.dtype)
    gW = np.zeros(n_in * n_out, dtype=X.dtype)
    gb = np.zeros(n_out, dtype=X.dtype)
    g = np.empty(n_out, dtype=X.dtype)
    Wf = W.reshape(-1)
    for i in range(n):
        for c in range(n_out):
            g[c] = gY[i, c] if (not relu or Y[i, c] > 0.0) else 0.0
        _affine_backward(X[i], Wf, g, n_in, n_out, gX[i], gW, gb, 1.0)
    return gX, gW.reshape((n_in, n_out)), gb


# --------------------------------------------------------------------------- objectives


@njit(cache=True, nogil=True, **_INNER)
def _softmax_row(z, labels, lo, hi, cw, grad):
    """Softmax cross-entropy of logits ``z`` against labels ``labels[lo:hi]``.

    The target spreads mass 1/k over the k valid labels (ids in ``[0, C)``; -1 and others are
    ignored). The example is weighted by the mean class weight of its labels. Writes
    ``d loss / d z`` to ``grad``; returns ``(loss, correct)``; no valid label -> (0, False), grad 0.
    """
    C = z.shape[0]
    k = 0
    w = 0.0
    for q in range(lo, hi):
        y = labels[q]
        if y >= 0 and y < C:
            k += 1
            w += cw[y]
    if k == 0:
        for c in range(C):
            grad[c] = 0.0
        return 0.0, False
    w /= k
    m = z[0]
    best = 0
    for c in range(1, C):
        if z[c] > m:
            m = z[c]
            best = c
    s = 0.0
    for c in range(C):
        s += np.exp(z[c] - m)
    logs = np.log(s)
    for c in range(C):
        grad[c] = w * np.exp(z[c] - m) / s
    loss = 0.0
    correct = False
    for q in range(lo, hi):
        y = labels[q]
        if y >= 0 and y < C:
            loss -= z[y] - m - logs
            grad[y] -= w / k
            if y == best:
                correct = True
    return w * loss / k, correct


@njit(cache=True, nogil=True, **_INNER)
def _log1pexp(x):
    """log(1 + exp(x)) without overflow."""
    if x > 0.0:
        return x + np.log1p(np.exp(-x))
    return np.log1p(np.exp(x))


@njit(cache=True, nogil=True, **_INNER)
def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + np.exp(-x))
    ex = np.exp(x)
    return ex / (1.0 + ex)


@njit(cache=True, nogil=True, **_INNER)
def _binary_row(z, labels, lo, hi, cw, grad):
    """Binary logistic loss of one logit ``z[0]`` (score of label id 1).

    Target 1 if label id 1 is among ``labels[lo:hi]``, 0 if only id 0; weight ``cw[target]``.
    No valid label (0 or 1) -> (0, False), grad 0.
    """
    y = -1
    for q in range(lo, hi):
        lab = labels[q]
        if lab == 1:
            y = 1
        elif lab == 0 and y < 0:
            y = 0
    if y < 0:
        grad[0] = 0.0
        return 0.0, False
    x = z[0]
    w = cw[y]
    grad[0] = w * (_sigmoid(x) - y)
    loss = w * (_log1pexp(x) - y * x)
    return loss, (x > 0.0) == (y == 1)


@njit(cache=True, nogil=True, **_INNER)
def _ova_row(z, labels, lo, hi, cw, grad):
    """One-vs-all sigmoids: ``sum_c w_c * BCE(z_c, y_c)``; ``w_c = cw[c]`` for positives, 1 else.

    ``correct`` is whether the top-scoring class is one of the labels (precision at 1).
    """
    C = z.shape[0]
    best = 0
    for c in range(C):
        grad[c] = _sigmoid(z[c])
        if z[c] > z[best]:
            best = c
    loss = 0.0
    for c in range(C):
        loss += _log1pexp(z[c])
    correct = False
    for q in range(lo, hi):
        y = labels[q]
        if y < 0 or y >= C:
            continue
        dup = False
        for q2 in range(lo, q):
            if labels[q2] == y:
                dup = True
        if dup:
            continue
        w = cw[y]
        loss += (w - 1.0) * _log1pexp(z[y]) - w * z[y]
        grad[y] = w * (grad[y] - 1.0)
        if y == best:
            correct = True
    return loss, correct


@njit(cache=True, nogil=True, inline="always")
def _objective_row(objective, z, labels, lo, hi, cw, grad):
    """Loss and gradient of example ``z`` under ``objective`` (0 softmax, 1 binary, 2 one-vs-all);
    inlined, so that in an entry kernel (``objective`` a constant) only its loss compiles."""
    if objective == 0:
        return _softmax_row(z, labels, lo, hi, cw, grad)
    if objective == 1:
        return _binary_row(z, labels, lo, hi, cw, grad)
    return _ova_row(z, labels, lo, hi, cw, grad)


@njit(cache=True, nogil=True)
def objective_batch(objective, logits, label_ids, label_offsets, class_weight):
    """Loss per example ``(n,)``, gradient wrt logits ``(n, C)`` and correct flags ``(n,)``.

    objective 0 softmax cross-entropy, 1 binary (C == 1), 2 one-vs-all sigmoids.
    """
    n, C = logits.shape
    loss = np.zeros(n, dtype=np.float64)
    grad = np.zeros((n, C), dtype=logits.dtype)
    correct = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        lo = label_offsets[i]
        hi = label_offsets[i + 1]
        lval, ok = _objective_row(objective, logits[i], label_ids, lo, hi, class_weight, grad[i])
        loss[i] = lval
        correct[i] = ok
    return loss, grad, correct


@njit(cache=True, nogil=True, inline="always")
def _probabilities_row(objective, z, out):
    """Probabilities of logits ``z`` into ``out``: softmax for objective 0, else a sigmoid per
    column; inlined as :func:`_objective_row`."""
    if objective == 0:
        _softmax_probs(z, out)
    else:
        _sigmoid_probs(z, out)


@njit(cache=True, nogil=True, **_INNER)
def _softmax_probs(z, out):
    C = z.shape[0]
    m = z[0]
    for c in range(1, C):
        m = max(m, z[c])
    s = 0.0
    for c in range(C):
        out[c] = np.exp(z[c] - m)
        s += out[c]
    for c in range(C):
        out[c] /= s


@njit(cache=True, nogil=True, **_INNER)
def _sigmoid_probs(z, out):
    for c in range(z.shape[0]):
        out[c] = _sigmoid(z[c])


# --------------------------------------------------------------------------- optimizers


@njit(cache=True, nogil=True, **_INNER)
def _row_update_sa(W, r, g, gscale, optimizer, lr, l2, S, eps):
    """SGD (``optimizer == 0``) or row-wise Adagrad step of row ``r`` with gradient
    ``gscale * g + l2 * W[r]``: see :func:`_row_update`."""
    dim = W.shape[1]
    if optimizer == 0:
        a = -lr * gscale
        if l2 == 0.0:
            for j in range(dim):
                W[r, j] += a * g[j]
        else:
            for j in range(dim):
                W[r, j] += a * g[j] - lr * l2 * W[r, j]
    else:
        acc = 0.0
        for j in range(dim):
            gj = gscale * g[j] + l2 * W[r, j]
            acc += gj * gj
        s = S[r] + acc / dim
        S[r] = s
        a = lr / (np.sqrt(s) + eps)
        for j in range(dim):
            W[r, j] -= a * (gscale * g[j] + l2 * W[r, j])


@njit(cache=True, nogil=True, **_INNER)
def _row_update(W, r, g, gscale, optimizer, lr, l2, S, M, V, T, b1, b2, eps):
    """Update row ``W[r]`` with gradient ``gscale * g + l2 * W[r]``.

    SGD: ``w -= lr * g``. Adagrad is row-wise for embeddings (one accumulator per row,
    ``S[r] += mean over the row of g^2``; DLRM/TorchRec "rowwise adagrad": 4 bytes per row).
    Adam is lazy (only touched rows move) with a per-row step counter ``T[r]`` for the bias
    correction, so a rare row gets a full-size first step like torch SparseAdam's first step.
    """
    if optimizer < 2:
        _row_update_sa(W, r, g, gscale, optimizer, lr, l2, S, eps)
        return
    t = T[r] + 1
    T[r] = t
    c1 = 1.0 - b1**t
    c2 = 1.0 - b2**t
    a = lr * np.sqrt(c2) / c1
    for j in range(W.shape[1]):
        gj = gscale * g[j] + l2 * W[r, j]
        m = b1 * M[r, j] + (1.0 - b1) * gj
        v = b2 * V[r, j] + (1.0 - b2) * gj * gj
        M[r, j] = m
        V[r, j] = v
        W[r, j] -= a * m / (np.sqrt(v) + eps * np.sqrt(c2))


@njit(cache=True, nogil=True, **_INNER)
def _dense_update_sa(P, S1, G, lo, hi, scale, optimizer, lr, l2, eps):
    """SGD or element-wise Adagrad part of :func:`_dense_update`."""
    if optimizer == 0:
        for k in range(lo, hi):
            P[k] -= lr * (scale * G[k] + l2 * P[k])
    else:
        for k in range(lo, hi):
            g = scale * G[k] + l2 * P[k]
            s = S1[k] + g * g
            S1[k] = s
            P[k] -= lr * g / (np.sqrt(s) + eps)


@njit(cache=True, nogil=True, **_INNER)
def _dense_update(P, S1, S2, G, lo, hi, scale, optimizer, lr, l2, b1, b2, eps, t):
    """Element-wise update of ``P[lo:hi]`` with gradient ``scale * G[lo:hi] + l2 * P``.

    SGD, element-wise Adagrad (``S1`` = sum of g^2), or Adam (``S1``/``S2`` = moments, global
    step ``t`` >= 1).
    """
    if optimizer < 2:
        _dense_update_sa(P, S1, G, lo, hi, scale, optimizer, lr, l2, eps)
        return
    c1 = 1.0 - b1**t
    c2 = 1.0 - b2**t
    a = lr * np.sqrt(c2) / c1
    for k in range(lo, hi):
        g = scale * G[k] + l2 * P[k]
        m = b1 * S1[k] + (1.0 - b1) * g
        v = b2 * S2[k] + (1.0 - b2) * g * g
        S1[k] = m
        S2[k] = v
        P[k] -= a * m / (np.sqrt(v) + eps * np.sqrt(c2))


@njit(cache=True, nogil=True)
def sgd_update_rows(W, ids, G, lr, l2):
    """Sparse SGD: ``W[ids[k]] -= lr * (G[k] + l2 * W[ids[k]])``. Ids should be unique (combine
    repeated ids with :func:`scatter_add_rows` first); id 0 (padding) is skipped."""
    dummy_s = np.zeros(1, dtype=np.float32)
    for k in range(ids.shape[0]):
        if ids[k] != 0:
            _row_update_sa(W, ids[k], G[k], 1.0, 0, lr, l2, dummy_s, 0.0)


@njit(cache=True, nogil=True)
def adagrad_update_rows(W, S, ids, G, lr, l2, eps):
    """Sparse row-wise Adagrad (``S`` has one accumulator per row). Unique ids; id 0 skipped."""
    for k in range(ids.shape[0]):
        if ids[k] != 0:
            _row_update_sa(W, ids[k], G[k], 1.0, 1, lr, l2, S, eps)


@njit(cache=True, nogil=True)
def adam_update_rows(W, M, V, T, ids, G, lr, l2, b1, b2, eps):
    """Sparse lazy Adam: only rows ``ids`` (unique; id 0 skipped) move; per-row step ``T``."""
    dummy_s = np.zeros(1, dtype=np.float32)
    for k in range(ids.shape[0]):
        if ids[k] != 0:
            _row_update(W, ids[k], G[k], 1.0, 2, lr, l2, dummy_s, M, V, T, b1, b2, eps)


@njit(cache=True, nogil=True)
def dense_update(P, S1, S2, G, optimizer, lr, l2, b1, b2, eps, t):
    """Update a flat parameter vector ``P`` in place (see :func:`_dense_update`)."""
    _dense_update(P, S1, S2, G, 0, P.shape[0], 1.0, optimizer, lr, l2, b1, b2, eps, t)


# --------------------------------------------------------------------------- n-gram hashing


@njit(cache=True, nogil=True, inline="always")
def _doc_ngrams(tokens, s, e, n, num_words, buckets, eos, out, k, write):
    """Hashed features of document ``tokens[s:e]`` written from ``out[k]`` (when ``write``);
    returns how many. See :func:`hash_word_ngrams`."""
    mult = np.uint64(116049371)
    nb = np.uint64(buckets)
    nw = np.uint64(num_words)
    eos_id = np.uint64(0xFFFFFFFFFFFFFFFF)
    m = 0
    if eos:
        if write:
            out[k] = np.int32(nw + eos_id % nb)
        m += 1
    last = e + 1 if eos else e
    for i in range(s, e):
        if tokens[i] == 0:
            continue
        h = np.uint64(tokens[i])
        for j in range(i + 1, min(last, i + n)):
            if j < e:
                if tokens[j] == 0:
                    break
                v = np.uint64(tokens[j])
            else:
                v = eos_id
            h = h * mult + v
            if write:
                out[k + m] = np.int32(nw + h % nb)
            m += 1
    return m


@njit(cache=True, nogil=True)
def hash_word_ngrams(tokens, offsets, n, num_words, buckets, eos):
    """Append hashed word n-grams (2..n) to every document, as fastText ``addWordNgrams``.

    For each start i and each length 2..n, over the window's ids (as uint64)
    ``h = id_i; h = h * 116049371 + id_j`` for j = i+1 .. i+len-1, and the feature row is
    ``num_words + h % buckets``. Windows containing the pad id 0 are skipped. Deterministic.
    With ``eos`` the document ends with fastText's end-of-line token ``</s>``, here the virtual
    id ``2**64 - 1`` (fastText's int32 hashes are sign-extended the same way): it adds the
    feature row ``num_words + (2**64 - 1) % buckets`` and closes the last windows
    (e.g. ``(last word, </s>)``); with mean pooling its weight 1/length carries the length.
    Returns ``(tokens2 int32, offsets2 int64)``: each document is its original ids, then (eos)
    the ``</s>`` row, then its n-gram rows (start-major, then length).
    Example: ids [5, 7], n=2, no eos -> [5, 7, num_words + (5*116049371 + 7) % buckets].
    """
    ndocs = offsets.shape[0] - 1
    new_off = np.zeros(ndocs + 1, dtype=np.int64)
    out = np.empty(0, dtype=np.int32)
    use = n > 1 and buckets > 0
    for d in range(ndocs):
        s = offsets[d]
        e = offsets[d + 1]
        extra = _doc_ngrams(tokens, s, e, n, num_words, buckets, eos, out, 0, False) if use else 0
        new_off[d + 1] = new_off[d] + (e - s) + extra
    out = np.empty(new_off[ndocs], dtype=np.int32)
    for d in range(ndocs):
        s = offsets[d]
        e = offsets[d + 1]
        k = new_off[d]
        for i in range(s, e):
            out[k] = tokens[i]
            k += 1
        if use:
            _doc_ngrams(tokens, s, e, n, num_words, buckets, eos, out, k, True)
    return out, new_off


@njit(cache=True, nogil=True)
def featurized_lengths(tokens, offsets, n, num_words, buckets, eos):
    """Length of every document after :func:`hash_word_ngrams` (int64), without writing it."""
    ndocs = offsets.shape[0] - 1
    out = np.zeros(ndocs, dtype=np.int64)
    dummy = np.empty(0, dtype=np.int32)
    use = n > 1 and buckets > 0
    for d in range(ndocs):
        s = offsets[d]
        e = offsets[d + 1]
        extra = _doc_ngrams(tokens, s, e, n, num_words, buckets, eos, dummy, 0, False) if use else 0
        out[d] = (e - s) + extra
    return out


@njit(cache=True, nogil=True)
def hash_word_ngrams_docs(tokens, offsets, docs, n, num_words, buckets, eos, out, out_offsets):
    """:func:`hash_word_ngrams` of the documents ``docs`` (in that order) written into ``out``
    at the precomputed ``out_offsets`` (``len(docs) + 1``; document ``docs[i]`` fills
    ``out[out_offsets[i]:out_offsets[i + 1]]``): the same rows, for a chunk of a corpus."""
    use = n > 1 and buckets > 0
    for i in range(docs.shape[0]):
        d = docs[i]
        s = offsets[d]
        e = offsets[d + 1]
        k = out_offsets[i]
        for p in range(s, e):
            out[k] = tokens[p]
            k += 1
        if use:
            _doc_ngrams(tokens, s, e, n, num_words, buckets, eos, out, k, True)


@njit(cache=True, nogil=True, inline="always")
def _doc_string_ngrams(hashes, hs, he, n, num_words, buckets, eos_row, out, k, write):
    """Rows of the word n-grams of one document from its token hashes ``hashes[hs:he]``
    (fastText's ``Dictionary::addWordNgrams``), after the ``eos_row`` (when >= 0), written from
    ``out[k]`` when ``write``; returns how many. See :func:`hash_string_ngrams`."""
    mult = np.uint64(116049371)
    nb = np.uint64(buckets)
    nw = np.uint64(num_words)
    m = 0
    if eos_row >= 0:
        if write:
            out[k] = eos_row
        m += 1
    for i in range(hs, he):
        h = np.uint64(np.int64(hashes[i]))  # int32 -> uint64 sign-extends, as in fastText
        for j in range(i + 1, min(he, i + n)):
            h = h * mult + np.uint64(np.int64(hashes[j]))
            if write:
                out[k + m] = np.int32(nw + h % nb)
            m += 1
    return m


def hash_string_ngrams(tokens, offsets, hashes, hash_offsets, n, num_words, buckets, eos_row):
    """Append the rows of hashed word n-grams (2..n) to every document, as fastText does since
    2017: over the document's token *string* hashes (int32 FNV-1a, unknown words and the final
    ``</s>`` included; ``embedcli.ftcompat``), ``h = hashes[i]`` sign-extended to uint64, then
    ``h = h * 116049371 + hashes[j]`` for j = i+1 .. i+n-1, row ``num_words + h % buckets``.
    ``eos_row`` (>= 0) is a row added first to every document (``</s>`` when the vocabulary has
    no such word). Returns ``(tokens2 int32, offsets2 int64)``: each document's word ids, then the
    ``eos_row``, then its n-gram rows (start-major, then length).

    The lengths are arithmetic and the output is allocated here, in numpy: the one compiled part
    is :func:`hash_string_ngrams_docs`, which allocates nothing (numba's allocation overloads and
    a lengths kernel cost a cold run about 0.4 s of compiling)."""
    ndocs = offsets.shape[0] - 1
    lengths = string_featurized_lengths(offsets, hash_offsets, n, eos_row)
    new_off = np.zeros(ndocs + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_off[1:])
    out = np.empty(int(new_off[ndocs]), dtype=np.int32)
    docs = np.arange(ndocs, dtype=np.int64)
    hash_string_ngrams_docs(
        tokens, offsets, hashes, hash_offsets, docs, n, num_words, buckets, eos_row, out, new_off
    )
    return out, new_off


def string_featurized_lengths(offsets, hash_offsets, n, eos_row):
    """Length of every document after :func:`hash_string_ngrams` (int64), without hashing: a
    document of ``m`` token hashes gains ``sum(min(n - 1, m - 1 - i) for i < m)`` n-gram rows
    (plus the ``eos_row`` when >= 0)."""
    m = np.diff(np.asarray(hash_offsets, dtype=np.int64))
    k = max(int(n) - 1, 0)
    extra = np.where(m <= k, m * (m - 1) // 2, k * (k - 1) // 2 + (m - k) * k)
    extra += 1 if eos_row >= 0 else 0
    return (np.diff(np.asarray(offsets, dtype=np.int64)) + extra).astype(np.int64)


@njit(cache=True, nogil=True)
def hash_string_ngrams_docs(
    tokens, offsets, hashes, hash_offsets, docs, n, num_words, buckets, eos_row, out, out_offsets
):
    """:func:`hash_string_ngrams` of the documents ``docs`` (in that order) written into ``out``
    at the precomputed ``out_offsets``: the same rows, for a chunk of a corpus."""
    for i in range(docs.shape[0]):
        d = docs[i]
        k = out_offsets[i]
        for p in range(offsets[d], offsets[d + 1]):
            out[k] = tokens[p]
            k += 1
        _doc_string_ngrams(
            hashes,
            hash_offsets[d],
            hash_offsets[d + 1],
            n,
            num_words,
            buckets,
            eos_row,
            out,
            k,
            True,
        )


@njit(cache=True, nogil=True)
def _word_ngram_hashes(data, s, e, minn, maxn, out, k, write):
    """fastText's ``Dictionary::computeSubwords`` over the UTF-8 bytes ``data[s:e]`` of
    ``"<" + word + ">"``: from every character start (a byte that is not ``0b10xxxxxx``) the
    n-grams of ``minn .. maxn`` characters, leaving out the one-character ``<`` and ``>``; each
    n-gram's FNV-1a hash (bytes sign-extended, ``ftcompat.token_hash``) grows byte by byte.
    Writes the int32 hashes from ``out[k]`` when ``write``; returns how many."""
    m = 0
    for i in range(s, e):
        if (data[i] & 0xC0) == 0x80:
            continue
        h = np.uint32(2166136261)
        j = i
        n = 1
        while j < e and n <= maxn:
            h = (h ^ np.uint32(np.int32(np.int8(data[j])))) * np.uint32(16777619)
            j += 1
            while j < e and (data[j] & 0xC0) == 0x80:
                h = (h ^ np.uint32(np.int32(np.int8(data[j])))) * np.uint32(16777619)
                j += 1
            if n >= minn and not (n == 1 and (i == s or j == e)):
                if write:
                    v = np.int64(h)
                    if v >= 2147483648:
                        v -= 4294967296
                    out[k + m] = np.int32(v)
                m += 1
            n += 1
    return m


@njit(cache=True, nogil=True)
def char_ngram_hashes(data, offsets, minn, maxn):
    """The int32 token hashes of the character n-grams of every word, ragged: word ``w`` is the
    UTF-8 bytes ``data[offsets[w]:offsets[w + 1]]`` of ``"<" + word + ">"`` (see
    :func:`_word_ngram_hashes`; the plain-Python twin is ``subwords.ngram_hashes``). Returns
    ``(values int32, out_offsets int64)``."""
    nw = offsets.shape[0] - 1
    out_offsets = np.zeros(nw + 1, dtype=np.int64)
    dummy = np.empty(0, dtype=np.int32)
    for w in range(nw):
        m = _word_ngram_hashes(data, offsets[w], offsets[w + 1], minn, maxn, dummy, 0, False)
        out_offsets[w + 1] = out_offsets[w] + m
    values = np.empty(out_offsets[nw], dtype=np.int32)
    for w in range(nw):
        _word_ngram_hashes(
            data, offsets[w], offsets[w + 1], minn, maxn, values, out_offsets[w], True
        )
    return values, out_offsets


@njit(cache=True, nogil=True)
def _bucket_row(h, num_words, buckets):
    """The row of a character n-gram's int32 token hash: ``num_words + uint32(h) % buckets``
    (fastText's ``computeSubwords``: the uint32 hash modulo the buckets, not sign-extended)."""
    return np.int32(num_words + (np.int64(h) & 0xFFFFFFFF) % buckets)


@njit(cache=True, nogil=True)
def subword_lengths(tokens, offsets, word_offsets, oov_offsets):
    """Subword rows of every document (int64): the n-grams of its word ids
    (``word_offsets[t + 1] - word_offsets[t]``) plus those of its unknown tokens."""
    ndocs = offsets.shape[0] - 1
    out = np.zeros(ndocs, dtype=np.int64)
    for d in range(ndocs):
        m = oov_offsets[d + 1] - oov_offsets[d]
        for p in range(offsets[d], offsets[d + 1]):
            t = tokens[p]
            m += word_offsets[t + 1] - word_offsets[t]
        out[d] = m
    return out


@njit(cache=True, nogil=True)
def subword_rows_docs(
    tokens,
    offsets,
    word_values,
    word_offsets,
    oov_values,
    oov_offsets,
    docs,
    num_words,
    buckets,
    out,
    out_offsets,
):
    """Write the subword rows of the documents ``docs`` at the END of their slots of ``out``
    (document ``docs[i]`` ends at ``out_offsets[i + 1]``; what comes before, its words and word
    n-grams, is written by the other featurizers): for each word id ``t`` of the document in
    order, the rows of its n-gram hashes ``word_values[word_offsets[t]:word_offsets[t + 1]]``,
    then the rows of the n-grams of its unknown tokens ``oov_values[oov_offsets[d]:...]``; a
    hash ``h`` goes to row ``num_words + uint32(h) % buckets`` (fastText's
    ``Dictionary::addSubwords``; the order inside a document does not matter to mean, sum and
    max pooling)."""
    for i in range(docs.shape[0]):
        d = docs[i]
        m = oov_offsets[d + 1] - oov_offsets[d]
        for p in range(offsets[d], offsets[d + 1]):
            t = tokens[p]
            m += word_offsets[t + 1] - word_offsets[t]
        k = out_offsets[i + 1] - m
        for p in range(offsets[d], offsets[d + 1]):
            t = tokens[p]
            for q in range(word_offsets[t], word_offsets[t + 1]):
                out[k] = _bucket_row(word_values[q], num_words, buckets)
                k += 1
        for q in range(oov_offsets[d], oov_offsets[d + 1]):
            out[k] = _bucket_row(oov_values[q], num_words, buckets)
            k += 1


# --------------------------------------------------------------------------- training
#
# One shard of one epoch is one kernel call; Python (``embedcli.model.train_epoch``) runs the
# shards one after another (``--threads 1``, bit-reproducible) or concurrently on threads
# (Hogwild: the kernels release the GIL and update the shared arrays without locks).
# Two kernels with the same arguments, so that a run compiles only the code it uses (a cold
# compile of everything took ~11 s):
#   - train_rows (``TRAIN_ROWS``, see "entry points" below): mean/sum pooling, SGD or Adagrad,
#     and either SGD without L2 (any batch size: fastText's update) or batch size 1 -- every
#     default and fastText-like run;
#   - train_exact (``TRAIN_EXACT``): anything (max/flatten pooling, Adam, mini-batches with
#     exact sparse gradients).
# Arguments: params = (emb (R, dim), dense flat); state = an ``OptState``, data = a
# ``TrainData``, opt = a ``KernelOpt`` (the named records below: numba compiles attribute access
# on a namedtuple and caches it like any tuple); shape = (pool, maxlen, hidden, n_out,
# objective); cw class weights. Example d is the featurized rows tokens[offsets[d]:offsets[d + 1]]
# of corpus document doc_ids[d] (its labels and its dropout key; doc_ids is the identity when the
# whole corpus is featurized, a chunk of the permutation when only a chunk is). The shard trains
# on examples ``order[lo:hi]`` in that order and returns ``(loss0 + loss sum, correct count)``
# (the loss is summed from ``loss0`` so that an epoch run in chunks sums it in the same order).
#
# Per mini-batch (batch_size 1 = fastText ``Model::update``): forward every example with the
# parameters of the batch start, accumulate the dense gradient, then apply one dense update with
# the mean gradient and, for every example, add its scaled pooled gradient back into its rows.
# The learning rate decays linearly from ``lr`` to 0 with progress = (tokens0 + tokens seen
# here * nshards) / total_tokens, as fastText's shared token counter. Rows below ``frozen_rows``
# and the pad row 0 never change.


#: optimizer state (unused arrays may be size-1 dummies): Adagrad row sums ``emb_S (R,)``, Adam
#: moments ``emb_M``/``emb_V (R, dim)`` and per-row steps ``emb_T (R,) int32``; the dense
#: vector's Adagrad sums / Adam moments ``dense_S1``/``dense_S2``
OptState = namedtuple("OptState", "emb_S emb_M emb_V emb_T dense_S1 dense_S2")
#: the featurized examples of a shard (see the section comment)
TrainData = namedtuple("TrainData", "tokens offsets label_ids label_offsets doc_ids")
#: hyperparameters and counters of a training call: ``optimizer`` code, base ``lr``,
#: ``linear_decay`` (bool), ``l2``, Adam ``beta1``/``beta2``, ``eps``, ``dropout`` on the pooled
#: vector, ``frozen_rows`` (rows below never change), ``batch_size``, the epoch's dropout
#: ``seed``, ``step0`` (mini-batches done: Adam's bias correction), ``tokens0``/``total_tokens``
#: (learning-rate progress) and ``loss0`` (the loss sum to continue from)
KernelOpt = namedtuple(
    "KernelOpt",
    "optimizer lr linear_decay l2 beta1 beta2 eps dropout frozen_rows batch_size seed step0 "
    "tokens0 total_tokens loss0",
)
#: the scratch arrays of a ``train_rows`` call, allocated by its caller
#: (``embedcli.model.rows_scratch``) so that the kernel compiles no array allocation (numba
#: compiles ``np.zeros``/``np.full``/``np.ones`` once per dtype and rank: about a tenth of a
#: cold run's compile time). ``gdense`` (the size of ``dense``), ``pooled``/``gpool``
#: ``(batch_size, dim)`` float32, ``counts``/``docs`` ``(batch_size,)`` int64, the per-example
#: ``mask`` (dim, ones), ``act``/``gact`` (max(hidden, 1)), ``logits``/``glog`` (n_out) float32,
#: and the sparse step's ``slot`` (int32, all -1: rows, or 1 for fastText's SGD) and
#: ``uniq``/``mult`` (int64, the longest example of the shard, or 1 for fastText's SGD)
RowsScratch = namedtuple(
    "RowsScratch", "gdense pooled gpool counts docs mask act gact logits glog slot uniq mult"
)


@njit(cache=True, nogil=True, **_INNER)
def _buffers(in0, hidden, n_out):
    """Per-example scratch: (dropout mask, hidden activations, their gradient, logits, their
    gradient)."""
    mask = np.ones(in0, dtype=np.float32)
    act = np.zeros(max(hidden, 1), dtype=np.float32)
    gact = np.zeros(max(hidden, 1), dtype=np.float32)
    logits = np.zeros(n_out, dtype=np.float32)
    glog = np.zeros(n_out, dtype=np.float32)
    return mask, act, gact, logits, glog


@njit(cache=True, nogil=True, inline="always")
def _forward_batch(
    emb, dense, gdense, data, shape, cw, order, k, nb, docs, counts, pooled, gpool, arg, bufs,
    dropout, seed, seen, loss_sum, pool, objective,
):  # fmt: skip
    """Forward and backward of the mini-batch ``order[k:k + nb]`` (the part both training
    kernels share): clears and fills ``gdense``, each example's pooled vector and its gradient,
    ``docs``/``counts`` (row b for the example ``order[k + b]``; ``arg`` holds max pooling's
    argmax positions, None in ``train_rows``). Per example d: pools into ``pooled[b]`` (dropout
    applied), adds the classifier gradient into ``gdense`` and writes the gradient wrt the pooled
    vector into ``gpool[b]``. ``pool``/``objective`` are the entry kernel's constants
    (``shape``'s are not read): only their branches compile. The per-example code is written
    out here, not a function of its own: one module fewer for LLVM to optimize and emit, and to
    link into every caller again (issue #8, cold compile).
    Returns ``(seen, loss_sum, correct)`` with the batch's tokens and losses added in example
    order."""
    tokens, offsets, label_ids, label_offsets, doc_ids = data
    _, maxlen, hidden, n_out, _ = shape
    mask, act, gact, logits, glog = bufs
    in0 = pooled.shape[1]
    in1 = hidden if hidden > 0 else in0
    _, o_hb, o_W, o_b, o_end = _dense_bounds(in0, hidden, n_out)
    relu, linear = hidden > 0, hidden < 0  # True, False as variables (see _affine)
    gdense[:] = 0.0
    n_correct = 0
    for b in range(nb):
        d = order[k + b]
        docs[b] = d
        s = offsets[d]
        e = offsets[d + 1]
        seen += e - s
        key = doc_ids[d]
        x = pooled[b]
        gx = gpool[b]
        cnt = _pool_doc(emb, tokens, s, e, pool, maxlen, x, arg, b)
        if dropout > 0.0:
            _dropout_row(mask, dropout, seed, key)
            for j in range(in0):
                x[j] *= mask[j]
        h = x
        gh = gx
        if hidden > 0:
            _affine(x, dense[0:o_hb], dense[o_hb:o_W], in0, hidden, act, relu)
            h = act
            gh = gact
        _affine(h, dense[o_W:o_b], dense[o_b:o_end], in1, n_out, logits, linear)
        lval, ok = _objective_row(
            objective, logits, label_ids, label_offsets[key], label_offsets[key + 1], cw, glog
        )
        _affine_backward(
            h, dense[o_W:o_b], glog, in1, n_out, gh, gdense[o_W:o_b], gdense[o_b:o_end], 1.0
        )
        if hidden > 0:
            for c in range(hidden):
                if act[c] <= 0.0:
                    gact[c] = 0.0
            _affine_backward(
                x, dense[0:o_hb], gact, in0, hidden, gx, gdense[0:o_hb], gdense[o_hb:o_W], 1.0
            )
        if dropout > 0.0:
            for j in range(in0):
                gx[j] *= mask[j]
        counts[b] = cnt
        loss_sum += lval
        if ok:
            n_correct += 1
    return seen, loss_sum, n_correct


@njit(cache=True, nogil=True, **_INNER)
def _dense_bounds(in0, hidden, n_out):
    """Segment starts of ``dense``: (0, hidden_b, out_W, out_b, end)."""
    in1 = hidden if hidden > 0 else in0
    o_hb = in0 * hidden
    o_W = o_hb + hidden
    o_b = o_W + in1 * n_out
    return (0, o_hb, o_W, o_b, o_b + n_out)


@njit(cache=True, nogil=True, **_INNER)
def _step_lr(lr0, decay, tokens0, seen, nshards, total_tokens):
    if decay:
        return lr0 * max(0.0, 1.0 - (tokens0 + seen * nshards) / total_tokens)
    return lr0


@njit(cache=True, nogil=True, **_INNER)
def _max_doc(offsets, order, lo, hi):
    m = 1
    for q in range(lo, hi):
        m = max(m, offsets[order[q] + 1] - offsets[order[q]])
    return m


#: the update a ``train_rows`` kernel compiles (``embedcli.model.epoch_kernel`` picks it):
#: 0 fastText's SGD without L2 (any batch size), 1 row-wise Adagrad without L2 written out (the
#: default), 2 SGD or Adagrad with L2 (batch size 1) through :func:`_row_update_sa`
ROWS_UPDATES = 3


def _train_rows_entry(pool, objective, update):
    """The common training kernel for one (pool, objective, update) code (see the section
    comment and "entry points"): mean/sum pooling, SGD or Adagrad; SGD without L2 at any batch
    size, else batch size 1. Its arguments are the section's, and ``scratch`` a ``RowsScratch``;
    ``shape``'s pool and objective must be the codes'. The body is written in the closure (not
    inlined from a function of its own: numba's IR inlining copies the callee's IR, about 0.3 s
    of a cold run), and its branches on the three codes are pruned before typing."""

    @njit(cache=True, nogil=True)
    def train_rows(params, state, data, shape, opt, cw, order, lo, hi, nshards, scratch):
        emb, dense = params
        emb_S, d_S1 = state.emb_S, state.dense_S1
        tokens, offsets = data.tokens, data.offsets
        _, maxlen, hidden, n_out, _ = shape
        optimizer, lr0, l2, eps, frozen = opt.optimizer, opt.lr, opt.l2, opt.eps, opt.frozen_rows
        bsz = opt.batch_size
        dim = emb.shape[1]
        bounds = _dense_bounds(dim, hidden, n_out)
        gdense, pooled, gpool = scratch.gdense, scratch.pooled, scratch.gpool
        counts, docs = scratch.counts, scratch.docs
        bufs = (scratch.mask, scratch.act, scratch.gact, scratch.logits, scratch.glog)
        slot, uniq, mult = scratch.slot, scratch.uniq, scratch.mult
        loss_sum = opt.loss0
        n_correct = 0
        seen = 0.0
        k = lo
        while k < hi:
            nb = min(bsz, hi - k)
            lr = _step_lr(lr0, opt.linear_decay, opt.tokens0, seen, nshards, opt.total_tokens)
            seen, loss_sum, correct = _forward_batch(
                emb, dense, gdense, data, shape, cw, order, k, nb, docs, counts, pooled, gpool, None,
                bufs, opt.dropout, opt.seed, seen, loss_sum, pool, objective,
            )  # fmt: skip
            n_correct += correct
            inv = 1.0 / nb
            for seg in range(4):
                _dense_update_sa(
                    dense, d_S1, gdense, bounds[seg], bounds[seg + 1], inv, optimizer, lr,
                    l2 if seg % 2 == 0 else 0.0, eps,
                )  # fmt: skip
            for b in range(nb):
                if counts[b] == 0:
                    continue
                d = docs[b]
                g = gpool[b]
                if update == 0:
                    # fastText: SGD is linear, so adding the scaled pooled gradient to every
                    # occurrence equals one step with the summed gradient
                    a = -lr * inv / counts[b] if pool == 0 else -lr * inv
                    for j in range(dim):
                        g[j] *= a
                    for p in range(offsets[d], offsets[d + 1]):
                        r = tokens[p]
                        if r >= frozen and r != 0:
                            for j in range(dim):
                                emb[r, j] += g[j]
                else:
                    scale = inv / counts[b] if pool == 0 else inv
                    nu = _rows_step(
                        emb, emb_S, tokens, offsets[d], offsets[d + 1], g, scale, update == 1,
                        lr, eps, frozen, slot, uniq, mult,
                    )  # fmt: skip
                    if update == 2:  # SGD or Adagrad with L2: one step per distinct row
                        for q in range(nu):
                            r = uniq[q]
                            _row_update_sa(
                                emb, r, g, scale * mult[q], optimizer, lr, l2, emb_S, eps
                            )
                            slot[r] = -1
            k += nb
        return loss_sum, n_correct

    return train_rows


@njit(cache=True, nogil=True, **_INNER)
def _rows_step(emb, S, tokens, s, e, g, scale, adagrad, lr, eps, frozen, slot, uniq, mult):
    """One example's sparse step: lists the ``nu`` distinct rows of ``tokens[s:e]`` (not frozen,
    not pad) in ``uniq[:nu]`` with their multiplicities in ``mult`` and ``slot[r] = index``.
    With ``adagrad`` every row then moves once with gradient ``scale * multiplicity * g``
    (row-wise Adagrad without L2), ``slot`` is reset to -1 and 0 is returned; else ``nu`` is
    returned and the caller steps the rows and resets their slots (``slot`` is all -1 between
    examples)."""
    dim = emb.shape[1]
    nu = 0
    for p in range(s, e):
        r = tokens[p]
        if r >= frozen and r != 0:
            sl = slot[r]
            if sl < 0:
                slot[r] = nu
                uniq[nu] = r
                mult[nu] = 1
                nu += 1
            else:
                mult[sl] += 1
    if adagrad:
        # row-wise Adagrad written out (the hot default path): S += m^2 mean(g^2)
        gsq = 0.0
        for j in range(dim):
            g[j] *= scale
            gsq += g[j] * g[j]
        gsq /= dim
        for q in range(nu):
            r = uniq[q]
            m = mult[q]
            sr = S[r] + m * m * gsq
            S[r] = sr
            a = -lr * m / (np.sqrt(sr) + eps)
            for j in range(dim):
                emb[r, j] += a * g[j]
            slot[r] = -1
        return 0
    return nu


@njit(cache=True, nogil=True, **_INNER)
def _grow(G, uniq, need):
    """``(G, uniq)`` with room for at least ``need`` rows (doubling; contents kept)."""
    cap = uniq.shape[0]
    if need <= cap:
        return G, uniq
    while cap < need:
        cap *= 2
    G2 = np.zeros((cap, G.shape[1]), dtype=G.dtype)
    G2[: G.shape[0]] = G
    u2 = np.zeros(cap, dtype=uniq.dtype)
    u2[: uniq.shape[0]] = uniq
    return G2, u2


@njit(cache=True, nogil=True, **_INNER)
def _slot_of(r, slot, uniq, G, nu):
    """Slot of row ``r`` in the batch accumulator ``G`` (claims and zeroes slot ``nu`` on first
    sight; the caller guarantees room). Returns ``(slot, new nu)``."""
    sl = slot[r]
    if sl >= 0:
        return sl, nu
    slot[r] = nu
    uniq[nu] = r
    for j in range(G.shape[1]):
        G[nu, j] = 0.0
    return nu, nu + 1


@njit(cache=True, nogil=True, inline="always")
def _train_exact(params, state, data, shape, opt, cw, order, lo, hi, nshards, pool, objective):
    """The general training kernel (see the section comment): any pooling, optimizer and batch
    size; per batch, every row's contributions are summed (= ``np.add.at``), then each distinct
    row takes one optimizer step."""
    emb, dense = params
    emb_S, emb_M, emb_V, emb_T = state.emb_S, state.emb_M, state.emb_V, state.emb_T
    d_S1, d_S2 = state.dense_S1, state.dense_S2
    tokens, offsets = data.tokens, data.offsets
    _, maxlen, hidden, n_out, _ = shape
    optimizer, lr0, l2, eps, frozen = opt.optimizer, opt.lr, opt.l2, opt.eps, opt.frozen_rows
    b1, b2, bsz = opt.beta1, opt.beta2, opt.batch_size
    dim = emb.shape[1]
    in0 = maxlen * dim if pool == 3 else dim
    bounds = _dense_bounds(in0, hidden, n_out)
    gdense = np.zeros(bounds[4], dtype=np.float32)
    pooled = np.zeros((bsz, in0), dtype=np.float32)
    gpool = np.zeros((bsz, in0), dtype=np.float32)
    arg = np.zeros((bsz, dim), dtype=np.int64)
    counts = np.zeros(bsz, dtype=np.int64)
    docs = np.zeros(bsz, dtype=np.int64)
    bufs = _buffers(in0, hidden, n_out)
    slot = np.full(emb.shape[0], -1, dtype=np.int32)
    uniq = np.zeros(max(1024, _max_doc(offsets, order, lo, hi)), dtype=np.int64)
    G = np.zeros((uniq.shape[0], dim), dtype=np.float32)
    loss_sum = opt.loss0
    n_correct = 0
    seen = 0.0
    step = 0
    k = lo
    while k < hi:
        nb = min(bsz, hi - k)
        lr = _step_lr(lr0, opt.linear_decay, opt.tokens0, seen, nshards, opt.total_tokens)
        seen, loss_sum, correct = _forward_batch(
            emb, dense, gdense, data, shape, cw, order, k, nb, docs, counts, pooled, gpool, arg,
            bufs, opt.dropout, opt.seed, seen, loss_sum, pool, objective,
        )  # fmt: skip
        n_correct += correct
        step += 1
        t = opt.step0 + (step - 1) * nshards + 1
        inv = 1.0 / nb
        for seg in range(4):
            _dense_update(
                dense, d_S1, d_S2, gdense, bounds[seg], bounds[seg + 1], inv, optimizer, lr,
                l2 if seg % 2 == 0 else 0.0, b1, b2, eps, t,
            )  # fmt: skip
        nu = np.int64(0)  # not a literal 0: _slot_of would compile twice
        for b in range(nb):
            d = docs[b]
            s = offsets[d]
            g = gpool[b]
            G, uniq = _grow(G, uniq, nu + max(dim, offsets[d + 1] - s))
            if pool == 2:
                for j in range(dim):
                    p = arg[b, j]
                    if p >= 0 and tokens[p] >= frozen and tokens[p] != 0:
                        sl, nu = _slot_of(tokens[p], slot, uniq, G, nu)
                        G[sl, j] += inv * g[j]
            elif pool == 3:
                for p in range(min(offsets[d + 1] - s, maxlen)):
                    r = tokens[s + p]
                    if r >= frozen and r != 0:
                        sl, nu = _slot_of(r, slot, uniq, G, nu)
                        for j in range(dim):
                            G[sl, j] += inv * g[p * dim + j]
            elif counts[b] > 0:
                scale = inv / counts[b] if pool == 0 else inv
                for j in range(dim):
                    g[j] *= scale
                for p in range(s, offsets[d + 1]):
                    r = tokens[p]
                    if r >= frozen and r != 0:
                        sl, nu = _slot_of(r, slot, uniq, G, nu)
                        for j in range(dim):
                            G[sl, j] += g[j]
        for q in range(nu):
            r = uniq[q]
            _row_update(
                emb, r, G[q], 1.0, optimizer, lr, l2, emb_S, emb_M, emb_V, emb_T, b1, b2, eps
            )
            slot[r] = -1
        k += nb
    return loss_sum, n_correct


# --------------------------------------------------------------------------- prediction


@njit(cache=True, nogil=True, inline="always")
def _predict_range(emb, dense, tokens, offsets, shape, probs, out, lo, hi, pool, objective):
    _, maxlen, hidden, n_out, _ = shape
    dim = emb.shape[1]
    in0 = maxlen * dim if pool == 3 else dim
    _, o_hb, o_W, o_b, o_end = _dense_bounds(in0, hidden, n_out)
    x = np.zeros(in0, dtype=emb.dtype)
    arg = np.zeros((1, dim), dtype=np.int64)
    act = np.zeros(max(hidden, 1), dtype=emb.dtype)
    z = np.zeros(n_out, dtype=emb.dtype)
    relu, linear = hidden > 0, hidden < 0  # True, False as variables (see _affine)
    for i in range(lo, hi):
        _pool_doc(emb, tokens, offsets[i], offsets[i + 1], pool, maxlen, x, arg, 0)
        if hidden > 0:
            _affine(x, dense[0:o_hb], dense[o_hb:o_W], in0, hidden, act, relu)
            _affine(act, dense[o_W:o_b], dense[o_b:o_end], hidden, n_out, z, linear)
        else:
            _affine(x, dense[o_W:o_b], dense[o_b:o_end], in0, n_out, z, linear)
        if probs:
            _probabilities_row(objective, z, out[i])
        else:
            for c in range(n_out):
                out[i, c] = z[c]


@njit(cache=True, nogil=True)
def predict_batch(emb, dense, tokens, offsets, shape, probs):
    """Scores ``(n, n_out)`` for a ragged batch: probabilities if ``probs`` (softmax for
    objective 0, sigmoid per column otherwise) else logits. Any pool and objective (read from
    ``shape``); a run uses the entry of its own from :data:`PREDICT`."""
    n = offsets.shape[0] - 1
    out = np.zeros((n, shape[3]), dtype=emb.dtype)
    _predict_range(emb, dense, tokens, offsets, shape, probs, out, 0, n, shape[0], shape[4])
    return out


# --------------------------------------------------------------------------- entry points
#
# The kernels a run calls, one per (pool, objective) -- and per update for ``train_rows`` --
# so that a run compiles only the code of its own pool, loss and update (issue #8: a cold
# default run compiled every loss and pooling). Each is a closure over the integer codes, which
# numba sees as constants (``ir.FreeVar``) and prunes the branches on them before typing:
# - ``train_rows`` (:func:`_train_rows_entry`) has its body written in the closure; the bodies
#   of ``train_exact`` and ``predict`` (``_train_exact``, :func:`_predict_range`) and the
#   ``_forward_batch`` they share are ``inline="always"``: inlined into the entry, then pruned;
# - the per-code helpers :func:`_pool_doc`, :func:`_objective_row`, :func:`_probabilities_row`
#   are ``inline="always"`` too, so in an entry only the chosen pooling / loss is typed and
#   compiled (``_binary_row`` never compiles for softmax); called with a run-time code
#   (``pool_batch``, ``objective_batch``, ``predict_batch``), every branch compiles. Not a
#   closure over the chosen dispatcher: numba keys a closure's cache entry by the pickled cell
#   contents, and a pickled dispatcher carries a per-process uuid (never a cache hit). Not
#   numba literal dispatch (``@overload(prefer_literal=True)``): its typing cost ~0.25 s.
# A literal constant argument is a type of its own: a helper called once with ``True`` and once
# with ``False`` compiles twice. Pass flags as variables (see :func:`_affine`) or inline the
# helper (``_doc_ngrams``). Numba caches a closure by the values it closes over: one index file
# per factory, one compiled file per code used. ``embedcli.model`` picks the entry;
# ``tests/test_cold_compile.py`` checks what a cold default run compiles.


def _train_exact_entry(pool, objective):
    @njit(cache=True, nogil=True)
    def train_exact(params, state, data, shape, opt, cw, order, lo, hi, nshards):
        """:func:`_train_exact` for one (pool, objective); ``shape``'s must be the same."""
        return _train_exact(
            params, state, data, shape, opt, cw, order, lo, hi, nshards, pool, objective
        )

    return train_exact


def _predict_entry(pool, objective):
    @njit(cache=True, nogil=True)
    def predict(emb, dense, tokens, offsets, shape, probs):
        """:func:`predict_batch` for one (pool, objective); ``shape``'s must be the same."""
        n = offsets.shape[0] - 1
        out = np.zeros((n, shape[3]), dtype=emb.dtype)
        _predict_range(emb, dense, tokens, offsets, shape, probs, out, 0, n, pool, objective)
        return out

    return predict


_CODES = [(pool, objective) for pool in range(4) for objective in range(3)]
#: ``train_rows`` kernels (mean/sum pooling only) by (pool, objective, update) code
TRAIN_ROWS = {
    (p, o, u): _train_rows_entry(p, o, u) for p, o in _CODES if p <= 1 for u in range(ROWS_UPDATES)
}
#: ``train_exact`` kernels by (pool, objective) code
TRAIN_EXACT = {(p, o): _train_exact_entry(p, o) for p, o in _CODES}
#: prediction kernels by (pool, objective) code
PREDICT = {(p, o): _predict_entry(p, o) for p, o in _CODES}

#: the helpers of :func:`_predict_range` the quantized prediction kernels share
#: (``embedcli.quantize_kernels``: same arithmetic, so the same scores)
affine, dense_segments, probabilities_row = _affine, _dense_bounds, _probabilities_row
