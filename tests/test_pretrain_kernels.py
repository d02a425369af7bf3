"""The kernels of ``embedcli pretrain`` against plain-numpy / pure-Python twins written from
fastText's source (``Model::update``, ``NegativeSamplingLoss``, ``FastText::skipgram``/``cbow``,
``Dictionary::initTableDiscard``), and a central-difference check of the negative-sampling loss.

The twins replay the kernels' random stream (xorshift64*, the alias table) so that results compare
value for value; they update the input rows after every context word as fastText does, where the
skip-gram kernel adds the summed gradient once (same arithmetic, float32 rounding apart).
"""

from __future__ import annotations

import numpy as np
import pytest

from embedcli import pretrain_kernels as pk
from embedcli.pretrain import compose_oov, input_rows, keep_probabilities, noise_table
from embedcli.subwords import SubwordSpec, subword_buckets

M64 = (1 << 64) - 1


# --------------------------------------------------------------------------- the twins


class Rng:
    """xorshift64* in Python integers (the kernels' ``_next``)."""

    def __init__(self, state: int) -> None:
        self.x = int(state)

    def next(self) -> int:
        x = self.x
        x ^= x >> 12
        x ^= (x << 25) & M64
        x ^= x >> 27
        self.x = x
        return (x * 0x2545F4914F6CDD1D) & M64

    def below(self, r: int, n: int) -> int:
        return ((r >> 32) * n) >> 32

    def unit(self, r: int) -> np.float32:
        return np.float32(r & 0xFFFFFF) * np.float32(1.0 / 16777216.0)

    def noise(self, prob: np.ndarray, idx: np.ndarray) -> int:
        r = self.next()
        i = self.below(r, len(prob))
        return i if self.unit(r) < prob[i] else int(idx[i])


def sig_index(s: float) -> int:
    if s <= -pk.MAX_SIGMOID:
        return 0
    if s >= pk.MAX_SIGMOID:
        return pk.SIGMOID_TABLE
    return int((s + pk.MAX_SIGMOID) * (pk.SIGMOID_TABLE / (2 * pk.MAX_SIGMOID)))


def twin_negative(wout, hidden, target, negative, lr, rng, noise):
    """fastText's NegativeSamplingLoss::forward + binaryLogistic, float64 accumulation of the dot
    product; returns (grad, loss), updates ``wout``."""
    prob, idx, sig, logsig = noise
    grad = np.zeros_like(hidden)
    loss = 0.0
    for n in range(negative + 1):
        if n == 0:
            t = target
        else:
            t = rng.noise(prob, idx)
            tries = 1
            while t == target and tries < 8:
                t = rng.noise(prob, idx)
                tries += 1
            if t == target:
                continue
        s = float(np.dot(wout[t].astype(np.float64), hidden.astype(np.float64)))
        i = sig_index(s)
        label = 1.0 if n == 0 else 0.0
        alpha = np.float32(lr * (label - sig[i]))
        loss -= logsig[i] if n == 0 else logsig[pk.SIGMOID_TABLE - i]
        grad += alpha * wout[t]
        wout[t] += alpha * hidden
    return grad, loss


def twin_line(win, wout, rows_of, line, method, window, negative, lr, rng, noise):
    """fastText's skipgram()/cbow() over one line, Model::update with rows updated at once."""
    n = len(line)
    loss, updates = 0.0, 0
    for p in range(n):
        b = 1 + rng.below(rng.next(), window)
        lo, hi = max(0, p - b), min(n, p + b + 1)
        if hi - lo <= 1:
            continue
        if method == "skipgram":
            rows = rows_of[line[p]]
            for c in range(lo, hi):
                if c == p:
                    continue
                hidden = win[rows].mean(0)
                g, lo_ = twin_negative(wout, hidden, line[c], negative, lr, rng, noise)
                np.add.at(win, rows, g)  # unscaled, into every input row
                loss += lo_
                updates += 1
        elif method == "skipgram-context":
            # word2vec.c / gensim fast_sentence_sg_neg: the context word's rows predict the centre
            for c in range(lo, hi):
                if c == p:
                    continue
                rows = rows_of[line[c]]
                hidden = win[rows].mean(0)
                g, lo_ = twin_negative(wout, hidden, line[p], negative, lr, rng, noise)
                np.add.at(win, rows, g)
                loss += lo_
                updates += 1
        else:
            rows = np.concatenate([rows_of[line[c]] for c in range(lo, hi) if c != p])
            hidden = win[rows].mean(0)
            g, lo_ = twin_negative(wout, hidden, line[p], negative, lr, rng, noise)
            np.add.at(win, rows, g)
            loss += lo_
            updates += 1
    return loss, updates


def twin_train_docs(win, wout, ids, offsets, rows_of, keep, opt, rng, noise, done=0):
    """fastText's trainThread loop body: subsample each line, lr from the tokens read before it."""
    loss, updates = 0.0, 0
    for d in range(len(offsets) - 1):
        s, e = int(offsets[d]), int(offsets[d + 1])
        while s < e:
            piece = min(e, s + pk.BLOCK)
            line = []
            for k in range(s, piece):
                w = int(ids[k])
                if keep[w] >= 1.0 or rng.unit(rng.next()) < keep[w]:
                    line.append(w)
            lr = opt.lr * max(0.0, 1.0 - done / opt.total)
            if len(line) > 1:
                method = "cbow" if opt.cbow else "skipgram-context" if opt.context else "skipgram"
                lo_, up = twin_line(
                    win, wout, rows_of, line, method, opt.window, opt.negative, lr, rng, noise
                )
                loss += lo_
                updates += up
            done += piece - s
            s = piece
    return loss, updates, done


# --------------------------------------------------------------------------- fixtures


def make_noise(counts):
    prob, idx = noise_table(np.asarray(counts))
    return pk.Noise(prob, idx, *pk.sigmoid_tables())


def make_state(dim, seed):
    return pk.ThreadState(
        np.array([pk.seed_state(seed)], dtype=np.uint64),
        np.zeros(2, dtype=np.int64),
        np.zeros(1, dtype=np.float64),
        np.zeros(pk.BLOCK, dtype=np.int32),
        np.zeros(dim, dtype=np.float32),
        np.zeros(dim, dtype=np.float32),
        np.zeros(dim, dtype=np.float32),
    )


def read_only(ids):
    """The ids as ``train_vectors`` passes them (read-only: the same compiled kernel)."""
    ids = ids.view()
    ids.flags.writeable = False
    return ids


def rows_list(inputs, input_offsets):
    return [inputs[input_offsets[w] : input_offsets[w + 1]] for w in range(len(input_offsets) - 1)]


# --------------------------------------------------------------------------- randomness and tables


def test_rng_matches_python_twin():
    st = np.array([pk.seed_state(7)], dtype=np.uint64)
    rng = Rng(int(st[0]))
    prob, idx = noise_table(np.array([50, 1, 7, 300, 2]))
    for _ in range(200):
        assert pk.draw_noise(st, prob, idx) == rng.noise(prob, idx)
    assert int(st[0]) == rng.x
    assert pk.seed_state(0) != 0 and pk.seed_state(1) != pk.seed_state(2)


def alias_distribution(prob, idx):
    n = len(prob)
    p = prob.astype(np.float64).copy()
    np.add.at(p, idx, 1.0 - prob.astype(np.float64))
    return p / n


@pytest.mark.parametrize("counts", [[1], [5, 5], [1000, 1, 1, 30, 7, 7, 2], list(range(1, 200))])
def test_alias_table_is_unigram_to_the_075(counts):
    prob, idx = noise_table(np.array(counts))
    want = np.array(counts, dtype=np.float64) ** 0.75
    np.testing.assert_allclose(alias_distribution(prob, idx), want / want.sum(), atol=1e-6)


def test_noise_draws_follow_the_distribution():
    counts = np.array([4000, 900, 100, 10, 1, 250])
    prob, idx = noise_table(counts)
    st = np.array([pk.seed_state(3)], dtype=np.uint64)
    n = 60_000
    draws = np.array([pk.draw_noise(st, prob, idx) for _ in range(n)])
    freq = np.bincount(draws, minlength=len(counts)) / n
    want = counts**0.75 / (counts**0.75).sum()
    # binomial standard error is below 0.002 here
    np.testing.assert_allclose(freq, want, atol=0.01)


def test_keep_probabilities_are_fasttexts_formula():
    counts = np.array([1_000_000, 10_000, 100, 1], dtype=np.int64)
    t = 1e-4
    f = counts / counts.sum()
    want = np.minimum(1.0, np.sqrt(t / f) + t / f)
    np.testing.assert_allclose(keep_probabilities(counts, t), want, rtol=1e-6)
    # hand-worked: f = 0.1, t = 1e-3 -> sqrt(0.01) + 0.01 = 0.11
    np.testing.assert_allclose(keep_probabilities(np.array([1, 9]), 1e-3)[0], 0.11, rtol=1e-6)
    assert np.all(keep_probabilities(counts, 0.0) == 1.0)


def test_subsampling_rate_in_the_kernel():
    # word 0 is 90 % of the tokens (kept with 0.0344 at sample 1e-3), word 1 10 % (0.11)
    counts = np.array([9, 1], dtype=np.int64)
    keep = keep_probabilities(counts, 1e-3)
    ids = np.zeros(40_000, dtype=np.int32)
    ids[::10] = 1
    offsets = np.array([0, len(ids)], dtype=np.int64)
    rows = input_rows(["a", "b"], SubwordSpec(0, 0, 0))[:3]
    data = pk.Corpus(read_only(ids), offsets, *rows, keep, make_noise(counts))
    params = pk.Params(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32))
    # CBOW with window 1: one update per kept token (every piece keeps hundreds)
    st = make_state(4, 1)
    pk.train_docs(params, data, pk.Opt(True, 1, 1, 0.0, len(ids)), st, 0, 1)
    want = 0.9 * (np.sqrt(1e-3 / 0.9) + 1e-3 / 0.9) + 0.1 * 0.11
    assert abs(st.counts[1] / len(ids) - want) < 0.005
    assert st.counts[0] == len(ids)


# --------------------------------------------------------------------------- one update


def test_negative_update_matches_twin():
    rng0 = np.random.default_rng(0)
    nwords, dim = 7, 16
    counts = np.array([30, 20, 10, 5, 5, 3, 1])
    noise = make_noise(counts)
    wout = rng0.normal(0, 0.3, (nwords, dim)).astype(np.float32)
    hidden = rng0.normal(0, 0.3, dim).astype(np.float32)
    w2 = wout.copy()
    grad = np.zeros(dim, np.float32)
    st = np.array([pk.seed_state(11)], dtype=np.uint64)
    rng = Rng(int(st[0]))
    loss = pk.negative_update(wout, hidden, grad, 2, 5, 0.1, st, noise)
    g2, loss2 = twin_negative(w2, hidden, 2, 5, 0.1, rng, noise)
    np.testing.assert_allclose(wout, w2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, g2, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(loss2, rel=1e-5)
    assert int(st[0]) == rng.x


def ns_loss(h, W, target, negs):
    """-log sigmoid(w_t . h) - sum log sigmoid(-w_n . h), float64, exact."""
    s = W[target] @ h
    loss = np.logaddexp(0.0, -s)
    for n in negs:
        loss += np.logaddexp(0.0, W[n] @ h)
    return loss


def test_negative_sampling_gradient_by_central_differences():
    rng0 = np.random.default_rng(1)
    nwords, dim = 6, 8
    counts = np.array([10, 9, 8, 7, 6, 5])
    noise = make_noise(counts)
    W = rng0.normal(0, 0.5, (nwords, dim)).astype(np.float32)
    h = rng0.normal(0, 0.5, dim).astype(np.float32)
    target, negative, lr = 1, 4, 0.01
    # the noise words the kernel will draw (replayed by the twin)
    st = np.array([pk.seed_state(5)], dtype=np.uint64)
    rng = Rng(int(st[0]))
    negs = []
    for _ in range(negative):
        t = rng.noise(noise.alias_prob, noise.alias_idx)
        tries = 1
        while t == target and tries < 8:
            t = rng.noise(noise.alias_prob, noise.alias_idx)
            tries += 1
        if t != target:
            negs.append(t)
    Wd, hd = W.astype(np.float64), h.astype(np.float64)
    eps = 1e-6
    num_h = np.array(
        [
            (ns_loss(hd + eps * e, Wd, target, negs) - ns_loss(hd - eps * e, Wd, target, negs))
            / (2 * eps)
            for e in np.eye(dim)
        ]
    )
    num_W = np.zeros_like(Wd)
    for r in range(nwords):
        for j in range(dim):
            Wp, Wm = Wd.copy(), Wd.copy()
            Wp[r, j] += eps
            Wm[r, j] -= eps
            num_W[r, j] = (ns_loss(hd, Wp, target, negs) - ns_loss(hd, Wm, target, negs)) / (
                2 * eps
            )
    Wk = W.copy()
    grad = np.zeros(dim, np.float32)
    loss = pk.negative_update(Wk, h, grad, target, negative, lr, st, noise)
    # the kernel steps against the gradient: grad = -lr dL/dh, dW = -lr dL/dW (sigmoid table:
    # 1/64 steps of the score, so within lr * 0.004 * |row| per entry)
    tol = lr * 0.005 * (np.abs(Wd).max() + np.abs(hd).max()) * (negative + 1)
    np.testing.assert_allclose(grad, -lr * num_h, atol=tol)
    np.testing.assert_allclose(Wk - W, -lr * num_W, atol=tol)
    assert loss == pytest.approx(ns_loss(hd, Wd, target, negs), abs=0.02 * (negative + 1))


# --------------------------------------------------------------------------- lines and documents


def tiny_problem(subwords: bool, dim=8, seed=0):
    words = ["the", "cat", "sat", "on", "mat", "aaaaaa", "a", "dog"]
    counts = np.array([50, 20, 10, 30, 8, 3, 40, 12], dtype=np.int64)
    spec = SubwordSpec(2, 4, 5) if subwords else SubwordSpec(0, 0, 0)  # 5 buckets: collisions
    inputs, input_offsets, share, buckets = input_rows(words, spec)
    rng0 = np.random.default_rng(seed)
    win = rng0.uniform(-0.5, 0.5, (len(words) + len(buckets), dim)).astype(np.float32)
    wout = rng0.uniform(-0.5, 0.5, (len(words), dim)).astype(np.float32)
    return words, counts, inputs, input_offsets, share, buckets, win, wout


@pytest.mark.parametrize("method", ["skipgram", "cbow", "skipgram-context"])
@pytest.mark.parametrize("subwords", [False, True])
def test_train_docs_matches_fasttext_twin(method, subwords):
    words, counts, inputs, input_offsets, share, buckets, win, wout = tiny_problem(subwords)
    rng0 = np.random.default_rng(2)
    ids = rng0.integers(0, len(words), 300).astype(np.int32)
    offsets = np.array([0, 1, 40, 40, 170, 300], dtype=np.int64)  # a 1-token and an empty doc
    keep = keep_probabilities(counts, 0.05)
    noise = make_noise(counts)
    data = pk.Corpus(read_only(ids), offsets, inputs, input_offsets, share, keep, noise)
    opt = pk.Opt(method == "cbow", 3, 3, 0.05, 2 * len(ids), method == "skipgram-context")
    st = make_state(win.shape[1], 9)
    rng = Rng(int(st.rng[0]))
    params = pk.Params(win.copy(), wout.copy())
    pk.train_docs(params, data, opt, st, 0, len(offsets) - 1)
    w2, o2 = win.copy(), wout.copy()
    loss, updates, done = twin_train_docs(
        w2, o2, ids, offsets, rows_list(inputs, input_offsets), keep, opt, rng, noise
    )
    np.testing.assert_allclose(params.wout, o2, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(params.win, w2, rtol=2e-4, atol=2e-5)
    assert st.counts[0] == done == len(ids)
    assert st.counts[1] == updates > 0
    assert st.loss[0] == pytest.approx(loss, rel=1e-4)
    assert int(st.rng[0]) == rng.x
    # a second call continues the schedule and the random stream
    pk.train_docs(params, data, opt, st, 0, len(offsets) - 1)
    twin_train_docs(
        w2, o2, ids, offsets, rows_list(inputs, input_offsets), keep, opt, rng, noise, done
    )
    np.testing.assert_allclose(params.win, w2, rtol=5e-4, atol=5e-5)


def test_documents_never_share_a_window():
    # two one-word documents: no window has two tokens, so nothing trains
    counts = np.array([5, 5], dtype=np.int64)
    ids = np.array([0, 1, 0, 1], dtype=np.int32)
    offsets = np.array([0, 1, 2, 3, 4], dtype=np.int64)
    data = pk.Corpus(
        read_only(ids),
        offsets,
        *input_rows(["a", "b"], SubwordSpec(0, 0, 0))[:3],
        np.ones(2, np.float32),
        make_noise(counts),
    )
    win = np.ones((2, 4), np.float32)
    params = pk.Params(win.copy(), np.ones((2, 4), np.float32))
    st = make_state(4, 0)
    for cbow in (False, True):
        pk.train_docs(params, data, pk.Opt(cbow, 5, 2, 0.1, 100), st, 0, 4)
    assert st.counts[1] == 0
    np.testing.assert_array_equal(params.win, win)


def test_skipgram_share_with_repeated_rows():
    # "aaaaaa" with 2..4-grams in 5 buckets repeats buckets: share = sum(mult^2) / len(rows)
    words, counts, inputs, input_offsets, share, buckets, *_ = tiny_problem(True)
    for w in range(len(words)):
        rows = inputs[input_offsets[w] : input_offsets[w + 1]]
        _, mult = np.unique(rows, return_counts=True)
        assert share[w] == pytest.approx((mult**2).sum() / len(rows))
    assert share[words.index("aaaaaa")] > 1.0


# --------------------------------------------------------------------------- subword tables


def test_input_rows_compact_table():
    words = ["cat", "cats", "dog", "où"]
    spec = SubwordSpec(3, 6, 2_000_000)
    inputs, input_offsets, share, buckets = input_rows(words, spec)
    per_word = subword_buckets(words, spec)
    assert np.array_equal(buckets, np.unique(np.concatenate(per_word)))
    assert inputs.dtype == np.int32 and input_offsets.dtype == np.int64
    for w, b in enumerate(per_word):
        rows = inputs[input_offsets[w] : input_offsets[w + 1]]
        assert rows[0] == w
        assert np.array_equal(buckets[rows[1:] - len(words)], b)  # fastText's order kept
    off = input_rows(words, SubwordSpec(0, 0, 0))
    assert np.array_equal(off[0], np.arange(4)) and len(off[3]) == 0


def test_compose_rows_is_fasttexts_word_vector():
    words, counts, inputs, input_offsets, share, buckets, win, wout = tiny_problem(True)
    out = np.empty((len(words), win.shape[1]), np.float32)
    pk.compose_rows(win, inputs, input_offsets, out)
    for w in range(len(words)):
        rows = inputs[input_offsets[w] : input_offsets[w + 1]]
        np.testing.assert_allclose(out[w], win[rows].mean(0), rtol=1e-6, atol=1e-7)


def test_compose_oov_uses_only_known_ngrams():
    spec = SubwordSpec(3, 4, 1000)
    train_words = ["cat", "cats"]
    _, _, _, buckets = input_rows(train_words, spec)
    rows = np.arange(len(buckets) * 3, dtype=np.float32).reshape(len(buckets), 3)
    got = compose_oov(["cat", "scat", "zzzzzzzz", "ab"], spec, buckets, rows)
    for i, w in enumerate(["cat", "scat", "zzzzzzzz", "ab"]):
        b = subword_buckets([w], spec)[0]
        known = [int(np.searchsorted(buckets, x)) for x in b if x in set(buckets.tolist())]
        want = rows[known].mean(0) if known else np.zeros(3, np.float32)
        np.testing.assert_allclose(got[i], want, rtol=1e-6)
    assert got.dtype == np.float32
    assert np.all(got[2] == 0.0)  # no n-gram seen in training
    off = compose_oov(["cat"], SubwordSpec(0, 0, 0), buckets, rows)
    assert off.shape == (1, 3) and np.all(off == 0)
