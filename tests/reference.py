"""Plain-numpy (and plain-Python) twins of the kernels in ``embedcli.kernels``.

Slow and obvious on purpose: the tests compare every kernel against its twin here. Semantics are
documented in the kernels' docstrings; this file restates them without loops where numpy can.
"""

from __future__ import annotations

import numpy as np

M64 = (1 << 64) - 1


def splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def dropout_mask(n: int, width: int, p: float, seed: int, keys) -> np.ndarray:
    out = np.zeros((n, width), dtype=np.float32)
    for i in range(n):
        base = splitmix64((seed ^ ((int(keys[i]) * 0x9E3779B97F4A7C15) & M64)) & M64)
        for j in range(width):
            u = splitmix64((base + j) & M64) >> 11
            out[i, j] = np.float32(1.0 / (1.0 - p)) if u / 2.0**53 < 1.0 - p else 0.0
    return out


def gather_rows(W, ids):
    return W[ids]


def scatter_add_rows(G, ids, rows):
    np.add.at(G, ids, rows)


def docs(tokens, offsets):
    return [tokens[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def pool_batch(W, tokens, offsets, pool, maxlen):
    """(pooled, argmax positions into ``tokens``) like kernels.pool_batch."""
    dim = W.shape[1]
    n = len(offsets) - 1
    width = maxlen * dim if pool == 3 else dim
    out = np.zeros((n, width), dtype=W.dtype)
    arg = np.full((n, dim), -1, dtype=np.int64)
    for i, d in enumerate(docs(tokens, offsets)):
        if pool == 3:
            d = d[:maxlen]
            rows = W[d] * (d != 0)[:, None]
            out[i, : len(d) * dim] = rows.ravel()
            continue
        keep = np.flatnonzero(d != 0)
        if len(keep) == 0:
            continue
        rows = W[d[keep]]
        if pool == 0:
            out[i] = rows.astype(np.float64).mean(axis=0)
        elif pool == 1:
            out[i] = rows.astype(np.float64).sum(axis=0)
        else:
            out[i] = rows.max(axis=0)
            arg[i] = offsets[i] + keep[rows.argmax(axis=0)]
    return out, arg


def pool_backward(G, tokens, offsets, pool, maxlen, arg, gpooled):
    """Add the gradient of the pooled vectors to the rows (pad rows get nothing)."""
    dim = G.shape[1]
    for i, d in enumerate(docs(tokens, offsets)):
        if pool == 3:
            for p, t in enumerate(d[:maxlen]):
                if t != 0:
                    G[t] += gpooled[i, p * dim : (p + 1) * dim]
        elif pool == 2:
            for j in range(dim):
                if arg[i, j] >= 0:
                    G[tokens[arg[i, j]], j] += gpooled[i, j]
        else:
            nz = d[d != 0]
            if len(nz):
                np.add.at(G, nz, gpooled[i] / (len(nz) if pool == 0 else 1.0))


def dense_forward(X, W, b, relu):
    Y = X.astype(np.float64) @ W + b
    return np.maximum(Y, 0.0) if relu else Y


def dense_backward(X, W, Y, gY, relu):
    g = gY * (Y > 0) if relu else gY
    return g @ W.T, X.T @ g, g.sum(axis=0)


def _log1pexp(x):
    return np.logaddexp(0.0, x)


def objective_batch(objective, logits, label_ids, label_offsets, cw):
    """(loss per example, grad wrt logits, correct) like kernels.objective_batch."""
    z = logits.astype(np.float64)
    n, C = z.shape
    loss = np.zeros(n)
    grad = np.zeros((n, C))
    correct = np.zeros(n, dtype=bool)
    for i in range(n):
        labs = [int(y) for y in label_ids[label_offsets[i] : label_offsets[i + 1]]]
        if objective == 0:
            valid = [y for y in labs if 0 <= y < C]
            if not valid:
                continue
            w = np.mean([cw[y] for y in valid])
            logp = z[i] - z[i].max() - np.log(np.exp(z[i] - z[i].max()).sum())
            target = np.zeros(C)
            for y in valid:
                target[y] += 1.0 / len(valid)
            loss[i] = -w * (target * logp).sum()
            grad[i] = w * (np.exp(logp) - target)
            correct[i] = int(np.argmax(z[i])) in valid
        elif objective == 1:
            if 1 in labs:
                y = 1
            elif 0 in labs:
                y = 0
            else:
                continue
            x = z[i, 0]
            loss[i] = cw[y] * (_log1pexp(x) - y * x)
            grad[i, 0] = cw[y] * (1.0 / (1.0 + np.exp(-x)) - y)
            correct[i] = (x > 0) == (y == 1)
        else:
            Y = np.zeros(C)
            for y in labs:
                if 0 <= y < C:
                    Y[y] = 1.0
            w = np.where(Y > 0, cw, 1.0)
            loss[i] = (w * (_log1pexp(z[i]) - Y * z[i])).sum()
            grad[i] = w * (1.0 / (1.0 + np.exp(-z[i])) - Y)
            correct[i] = Y[int(np.argmax(z[i]))] > 0
    return loss, grad, correct


def probabilities(objective, z):
    z = z.astype(np.float64)
    if objective == 0:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-z))


# --------------------------------------------------------------------------- optimizers


def row_update(W, r, g, optimizer, lr, l2, S, M, V, T, b1, b2, eps):
    """One sparse step on row r with gradient g (full row)."""
    g = g.astype(np.float64) + l2 * W[r]
    if optimizer == 0:
        W[r] -= lr * g
    elif optimizer == 1:
        S[r] += (g * g).mean()
        W[r] -= lr * g / (np.sqrt(S[r]) + eps)
    else:
        T[r] += 1
        t = int(T[r])
        M[r] = b1 * M[r] + (1 - b1) * g
        V[r] = b2 * V[r] + (1 - b2) * g * g
        mhat = M[r] / (1 - b1**t)
        vhat = V[r] / (1 - b2**t)
        W[r] -= lr * mhat / (np.sqrt(vhat) + eps)


def dense_update(P, S1, S2, G, optimizer, lr, l2, b1, b2, eps, t):
    g = G.astype(np.float64) + l2 * P
    if optimizer == 0:
        P -= lr * g
    elif optimizer == 1:
        S1 += g * g
        P -= lr * g / (np.sqrt(S1) + eps)
    else:
        S1[:] = b1 * S1 + (1 - b1) * g
        S2[:] = b2 * S2 + (1 - b2) * g * g
        P -= lr * (S1 / (1 - b1**t)) / (np.sqrt(S2 / (1 - b2**t)) + eps)


# --------------------------------------------------------------------------- n-grams


def hash_word_ngrams(tokens, offsets, n, num_words, buckets, eos=False):
    """Pure-Python fastText addWordNgrams over ids (pad windows skipped; ``</s>`` = 2**64-1)."""
    EOS = M64
    out, offs = [], [0]
    for d in docs(tokens, offsets):
        ids = [int(t) for t in d]
        feats = list(ids)
        if n > 1 and buckets > 0:
            seq = ids + [EOS] if eos else ids
            if eos:
                feats.append(num_words + EOS % buckets)
            for i in range(len(ids)):
                if ids[i] == 0:
                    continue
                h = ids[i]
                for j in range(i + 1, min(len(seq), i + n)):
                    if seq[j] == 0:
                        break
                    h = (h * 116049371 + seq[j]) & M64
                    feats.append(num_words + h % buckets)
        out.extend(feats)
        offs.append(len(out))
    return np.array(out, dtype=np.int32), np.array(offs, dtype=np.int64)


# --------------------------------------------------------------------------- model + epoch


def split_dense(dense, in0, H, C):
    in1 = H if H > 0 else in0
    o_hb = in0 * H
    o_W = o_hb + H
    o_b = o_W + in1 * C
    return (
        dense[:o_hb].reshape(in0, H),
        dense[o_hb:o_W],
        dense[o_W:o_b].reshape(in1, C),
        dense[o_b : o_b + C],
        (o_hb, o_W, o_b, o_b + C),
    )


def forward_doc(emb, dense, doc_tokens, pool, maxlen, H, C, mask=None):
    """Pooled x, hidden activation (or x), logits for one document."""
    dim = emb.shape[1]
    in0 = maxlen * dim if pool == 3 else dim
    x, arg = pool_batch(emb, doc_tokens, np.array([0, len(doc_tokens)]), pool, maxlen)
    x = x[0].astype(np.float64)
    if mask is not None:
        x = x * mask
    hW, hb, oW, ob, _ = split_dense(dense, in0, H, C)
    act = np.maximum(x @ hW + hb, 0.0) if H > 0 else x
    return x, arg[0], act, act @ oW + ob


def predict_batch(emb, dense, tokens, offsets, shape, probs):
    pool, maxlen, H, C, objective = shape
    z = np.array(
        [forward_doc(emb, dense, d, pool, maxlen, H, C)[3] for d in docs(tokens, offsets)]
    ).reshape(-1, C)
    return probabilities(objective, z) if probs else z


def train_epoch(params, state, data, shape, opt, cw, order):
    """Serial epoch like kernels.train_epoch with nshards == 1 (float64 arithmetic)."""
    emb, dense = params
    S, M, V, T, dS1, dS2 = state
    tokens, offsets, label_ids, label_offsets = data
    pool, maxlen, H, C, objective = shape
    (optimizer, lr0, decay, l2, b1, b2, eps, dropout, frozen, bsz, seed, step0, tokens0, total) = (
        opt
    )
    dim = emb.shape[1]
    in0 = maxlen * dim if pool == 3 else dim
    _, _, _, _, (o_hb, o_W, o_b, o_end) = split_dense(dense, in0, H, C)
    seen = 0.0
    loss_sum = 0.0
    n_correct = 0
    step = 0
    for k in range(0, len(order), bsz):
        batch = order[k : k + bsz]
        nb = len(batch)
        lr = lr0 * max(0.0, 1.0 - (tokens0 + seen) / total) if decay else lr0
        gdense = np.zeros(o_end)
        gpools = []
        for d in batch:
            doc = tokens[offsets[d] : offsets[d + 1]]
            seen += len(doc)
            mask = dropout_mask(1, in0, dropout, seed, [d])[0] if dropout > 0 else None
            x, arg, act, z = forward_doc(emb, dense, doc, pool, maxlen, H, C, mask)
            lab = label_ids[label_offsets[d] : label_offsets[d + 1]]
            loss, gz, ok = objective_batch(objective, z[None], lab, np.array([0, len(lab)]), cw)
            loss_sum += loss[0]
            n_correct += int(ok[0])
            gz = gz[0]
            hW, hb, oW, ob, _ = split_dense(dense.astype(np.float64), in0, H, C)
            gdense[o_W:o_b] += np.outer(act, gz).ravel()
            gdense[o_b:o_end] += gz
            gact = oW @ gz
            if H > 0:
                gpre = gact * (act > 0)
                gdense[:o_hb] += np.outer(x, gpre).ravel()
                gdense[o_hb:o_W] += gpre
                gx = hW @ gpre
            else:
                gx = gact
            if mask is not None:
                gx = gx * mask
            gpools.append((doc, arg, gx))
        step += 1
        t = step0 + step
        for lo, hi, reg in ((0, o_hb, l2), (o_hb, o_W, 0.0), (o_W, o_b, l2), (o_b, o_end, 0.0)):
            P = dense[lo:hi].astype(np.float64)
            s1 = dS1[lo:hi].astype(np.float64) if dS1.shape[0] > 1 else None
            s2 = dS2[lo:hi].astype(np.float64) if dS2.shape[0] > 1 else None
            dense_update(P, s1, s2, gdense[lo:hi] / nb, optimizer, lr, reg, b1, b2, eps, t)
            dense[lo:hi] = P
            if s1 is not None:
                dS1[lo:hi] = s1
            if s2 is not None:
                dS2[lo:hi] = s2
        # summed sparse gradient over the batch
        G = {}
        order_rows = []
        for doc, arg, gx in gpools:
            contrib = []
            if pool == 2:
                for j in range(dim):
                    if arg[j] >= 0:
                        g = np.zeros(dim)
                        g[j] = gx[j]
                        contrib.append((int(doc[arg[j]]), g))
            elif pool == 3:
                for p, r in enumerate(doc[:maxlen]):
                    contrib.append((int(r), gx[p * dim : (p + 1) * dim]))
            else:
                nz = doc[doc != 0]
                for r in nz:
                    contrib.append((int(r), gx / (len(nz) if pool == 0 else 1.0)))
            for r, g in contrib:
                if r == 0 or r < frozen:
                    continue
                if r not in G:
                    G[r] = np.zeros(dim)
                    order_rows.append(r)
                G[r] = G[r] + g / nb
        for r in order_rows:
            row = emb[r].astype(np.float64)
            Wr = row[None]
            Sr = S[r : r + 1].astype(np.float64) if S.shape[0] > 1 else np.zeros(1)
            Mr = M[r : r + 1].astype(np.float64) if M.shape[0] > 1 else np.zeros((1, dim))
            Vr = V[r : r + 1].astype(np.float64) if V.shape[0] > 1 else np.zeros((1, dim))
            Tr = T[r : r + 1].copy() if T.shape[0] > 1 else np.zeros(1, dtype=np.int64)
            row_update(Wr, 0, G[r], optimizer, lr, l2, Sr, Mr, Vr, Tr, b1, b2, eps)
            emb[r] = Wr[0]
            if S.shape[0] > 1:
                S[r] = Sr[0]
            if M.shape[0] > 1:
                M[r], V[r], T[r] = Mr[0], Vr[0], Tr[0]
    return loss_sum, n_correct
