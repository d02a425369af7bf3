"""The Numba kernels of product quantization (``embedcli quantize``), and nothing else.

fastText's ``ProductQuantizer`` (``src/productquantizer.cc``): a table of ``dim`` columns is cut
into ``nsub`` sub-spaces of ``dsub`` columns (the last one shorter when ``dsub`` does not divide
``dim``); each sub-space has ``ksub`` centroids found by k-means, and a row is stored as one
byte per sub-space, the index of its nearest centroid. Layout: ``centroids (nsub, ksub, dsub)``
float32 (the last sub-space's unused columns are zero), ``codes (rows, nsub)`` uint8.

- :func:`kmeans`: Lloyd's iterations from given starting points (the caller draws them, as
  fastText draws its permutation), float64 distances and sums; an empty cluster takes half of
  the largest cluster (its centroid copied and nudged by ``1 +- eps``: fastText picks the
  cluster to split at random, weighted by size; the largest is the most likely pick and keeps
  the kernel deterministic).
- :func:`assign_codes`: the nearest centroid of every row of one sub-space.
- :data:`QPREDICT`: the prediction kernels of a quantized model, one per (pool, objective) as
  ``kernels.PREDICT``: each row is decoded from its codes while it is pooled (codes -> centroids,
  times the row's norm with ``--qnorm``); the float table is never built.

Left out on purpose: max and flatten pooling (fastText quantizes its averaging model only).
The dense layers and probabilities are ``embedcli.kernels``' own helpers, so a quantized model
and a float model holding the decoded rows compute bit-identical scores.
"""

from collections import namedtuple

import numpy as np
from numba import njit

from embedcli.kernels import affine, dense_segments, probabilities_row

#: a quantized table as the prediction kernels see it: ``codes (R, nsub) uint8``, ``centroids
#: (nsub, ksub, dsub) float32``, ``norm_codes (R,) uint8`` and ``norm_centroids (k,) float32``
#: (size 0 without ``--qnorm``), ``kept`` sorted int32 bucket ids whose rows follow the word rows
#: (``pruned`` False: every bucket is stored, ``kept`` is empty), ``num_words`` the word rows
QTable = namedtuple(
    "QTable", "codes centroids norm_codes norm_centroids qnorm kept pruned num_words"
)

_INNER = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


@njit(cache=True, nogil=True, **_INNER)
def _nearest(x, i, centroids, d):
    """Index of the centroid (rows of ``centroids``, first ``d`` columns) nearest to ``x[i]``
    (squared L2 in float64; the first on ties)."""
    best, best_k = np.inf, 0
    for k in range(centroids.shape[0]):
        s = 0.0
        for j in range(d):
            t = np.float64(x[i, j]) - np.float64(centroids[k, j])
            s += t * t
        if s < best:
            best, best_k = s, k
    return best_k


@njit(cache=True, nogil=True)
def assign_codes(x, centroids, out):
    """``out[i]`` = the nearest of ``centroids (k, >= d)`` to row ``x[i]`` (``x (n, d)``);
    ``out`` int32 or uint8 ``(n,)``."""
    d = x.shape[1]
    for i in range(x.shape[0]):
        out[i] = _nearest(x, i, centroids, d)


@njit(cache=True, nogil=True)
def kmeans(x, init, niter, eps):
    """k-means of the rows of ``x (n, d)`` float32 from the starting rows ``x[init]``
    (``init`` int64, k distinct ids): ``niter`` E/M steps; returns float32 ``(k, d)``."""
    n, d = x.shape
    k = init.shape[0]
    c = np.empty((k, d), dtype=np.float32)
    for q in range(k):
        for j in range(d):
            c[q, j] = x[init[q], j]
    assign = np.zeros(n, dtype=np.int32)
    sums = np.zeros((k, d), dtype=np.float64)
    counts = np.zeros(k, dtype=np.int64)
    for _ in range(niter):
        assign_codes(x, c, assign)
        sums[:] = 0.0
        counts[:] = 0
        for i in range(n):
            q = assign[i]
            counts[q] += 1
            for j in range(d):
                sums[q, j] += x[i, j]
        for q in range(k):
            if counts[q] > 0:
                for j in range(d):
                    c[q, j] = np.float32(sums[q, j] / counts[q])
        for q in range(k):
            if counts[q] > 0:
                continue
            m = 0
            for r in range(1, k):
                if counts[r] > counts[m]:
                    m = r
            for j in range(d):
                if j % 2 == 0:
                    c[q, j] = np.float32(c[m, j] * (1.0 + eps))
                    c[m, j] = np.float32(c[m, j] * (1.0 - eps))
                else:
                    c[q, j] = np.float32(c[m, j] * (1.0 - eps))
                    c[m, j] = np.float32(c[m, j] * (1.0 + eps))
            counts[q] = counts[m] // 2
            counts[m] -= counts[q]
    return c


@njit(cache=True, nogil=True, **_INNER)
def _stored_row(q, t):
    """The stored row of model row ``t``, or -1 when its bucket was cut (``--cutoff``)."""
    if t < q.num_words or not q.pruned:
        return t
    b = t - q.num_words
    j = np.searchsorted(q.kept, b)
    if j < q.kept.shape[0] and q.kept[j] == b:
        return q.num_words + j
    return -1


@njit(cache=True, nogil=True, **_INNER)
def _add_row(q, r, dim, dsub, out):
    """``out += row r`` decoded: centroid of each sub-space, times the row norm with qnorm."""
    scale = np.float32(1.0)
    if q.qnorm:
        scale = q.norm_centroids[q.norm_codes[r]]
    nsub = q.codes.shape[1]
    for m in range(nsub):
        code = q.codes[r, m]
        base = m * dsub
        d = min(dsub, dim - base)
        for j in range(d):
            out[base + j] += scale * q.centroids[m, code, j]


@njit(cache=True, nogil=True, **_INNER)
def _qpool_sum(q, dim, tokens, s, e, mean, out):
    """Sum (mean if ``mean``) of the decoded rows of ``tokens[s:e]``; pad and cut rows are
    skipped (a cut n-gram is not a feature, as in fastText's pruned dictionary)."""
    dsub = q.centroids.shape[2]
    for j in range(dim):
        out[j] = 0.0
    cnt = 0
    for p in range(s, e):
        t = tokens[p]
        if t == 0:
            continue
        r = _stored_row(q, t)
        if r < 0:
            continue
        cnt += 1
        _add_row(q, r, dim, dsub, out)
    if mean and cnt > 0:
        inv = 1.0 / cnt
        for j in range(dim):
            out[j] *= inv
    return cnt


@njit(cache=True, nogil=True)
def qpool_batch(q, dim, tokens, offsets, mean):
    """Pooled decoded rows ``(n, dim)`` of a ragged batch (``embed`` of a quantized model)."""
    n = offsets.shape[0] - 1
    out = np.zeros((n, dim), dtype=np.float32)
    for i in range(n):
        _qpool_sum(q, dim, tokens, offsets[i], offsets[i + 1], mean, out[i])
    return out


@njit(cache=True, nogil=True)
def map_rows(q, tokens):
    """The stored row of every model row id in ``tokens`` (0 for a cut bucket): the ids a float
    model holding the stored rows would see."""
    out = np.empty_like(tokens)
    for p in range(tokens.shape[0]):
        r = _stored_row(q, tokens[p])
        out[p] = r if r >= 0 else 0
    return out


def _qpredict_entry(pool, objective):
    mean = pool == 0

    @njit(cache=True, nogil=True)
    def qpredict(q, dim, dense, tokens, offsets, shape, probs):
        """Scores ``(n, n_out)`` of a ragged batch with rows decoded on the fly (the same
        computation as ``kernels.PREDICT``'s over a float table)."""
        _, _, hidden, n_out, _ = shape
        n = offsets.shape[0] - 1
        out = np.zeros((n, n_out), dtype=np.float32)
        _, o_hb, o_W, o_b, o_end = dense_segments(dim, hidden, n_out)
        x = np.zeros(dim, dtype=np.float32)
        act = np.zeros(max(hidden, 1), dtype=np.float32)
        z = np.zeros(n_out, dtype=np.float32)
        relu, linear = hidden > 0, hidden < 0
        for i in range(n):
            _qpool_sum(q, dim, tokens, offsets[i], offsets[i + 1], mean, x)
            if hidden > 0:
                affine(x, dense[0:o_hb], dense[o_hb:o_W], dim, hidden, act, relu)
                affine(act, dense[o_W:o_b], dense[o_b:o_end], hidden, n_out, z, linear)
            else:
                affine(x, dense[o_W:o_b], dense[o_b:o_end], dim, n_out, z, linear)
            if probs:
                probabilities_row(objective, z, out[i])
            else:
                for c in range(n_out):
                    out[i, c] = z[c]
        return out

    return qpredict


#: quantized prediction kernels by (pool, objective) code (mean and sum pooling)
QPREDICT = {(p, o): _qpredict_entry(p, o) for p in range(2) for o in range(3)}
