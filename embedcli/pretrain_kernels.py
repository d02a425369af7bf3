"""The Numba kernels of ``embedcli pretrain``: word2vec / fastText skip-gram and CBOW with negative
sampling, with or without subwords, and nothing else.

Conventions (as ``kernels.py``): float32 C-contiguous parameters, int32 ids, int64 offsets,
``@njit(cache=True, nogil=True)``, arguments grouped in named records (namedtuples below).

Layout. ``Params.win`` holds the input rows: word ``w`` is row ``w`` (``0 .. nwords-1``), then one
row per subword bucket that some vocabulary word uses (the compact table). Word ``w``'s input rows
are ``inputs[input_offsets[w]:input_offsets[w + 1]]``: its own row first, then its n-gram rows in
fastText's order (a bucket that occurs twice in a word is listed twice, as fastText does).
``Params.wout`` holds the output rows of the words (negative sampling), zeros at the start.

One update (fastText's ``Model::update`` with its ``NegativeSamplingLoss``): the hidden vector is
the mean of the input rows; for the target and ``negative`` noise words ``t`` (label 1, then 0),
``score = sigmoid(wout[t] . hidden)``, ``alpha = lr * (label - score)``,
``grad += alpha * wout[t]``, ``wout[t] += alpha * hidden``; then ``grad`` is added, unscaled, to
every input row (only fastText's supervised model divides it by the number of rows).
Skip-gram: input = the centre word, target = each context word in turn. The centre's rows would
get one ``grad`` per context word; here they get the sum once, after the last context word, while
``hidden`` follows every step (``hidden += grad * share``, ``share`` = what one ``grad`` added to
every row adds to the mean; 1 without repeated rows), which is fastText's arithmetic without
re-reading the rows for every context word. With ``Opt.context`` (``--sg-input context``) the roles
are word2vec's (word2vec.c, gensim's ``fast_sentence_sg_neg``): each context word's rows are the
input and the centre word the target, the context word's rows updated after every pair.
CBOW: input = the rows of all the context words (the bag), target = the centre word.

Randomness: one xorshift64* state per thread (``ThreadState.rng``), seeded by the caller. Per
position one draw gives the effective window ``b`` in ``1 .. window``; per token one draw decides
subsampling (kept when ``u < keep[w]``, fastText's ``Dictionary::discard``); per noise word one
draw picks from the alias table (Walker/Vose: ``alias_prob``/``alias_idx``, ``count ** 0.75``); a
noise word equal to the target is drawn again (fastText's ``getNegative``; given up after 8 tries).
``sigmoid`` and the loss's ``log sigmoid`` come from tables of 1,025 entries over ``[-8, 8]``
(fastText: 512; measured: exact ``math.exp``/``log1p`` cost about 20 % of the skip-gram time);
scores beyond +-8 use the end entries (fastText clips there too).

Documents: windows never cross a document boundary; a document longer than ``BLOCK`` tokens is
trained in ``BLOCK``-token pieces (gensim cuts sentences at 10,000 words, word2vec.c at 1,000,
fastText at 1,024). The learning rate decays linearly to 0: ``lr * (1 - done / total)``, updated
per piece, from the thread's own count of tokens read (kept or not) over all its epochs.

Threads: the caller (``embedcli.pretrain``) runs one kernel call per chunk of documents, each
thread on its own contiguous slice and its own ``ThreadState``, concurrently and lock-free
(Hogwild, as word2vec and fastText); one thread with a given seed is bit-reproducible.

Left out on purpose: hierarchical softmax, the supervised model, word n-grams.
"""

from collections import namedtuple

import numpy as np
from numba import njit

#: longest piece of a document trained as one window sequence
BLOCK = 10_000

#: the trained matrices: ``win (nwords + nsubword_rows, dim)``, ``wout (nwords, dim)``
Params = namedtuple("Params", "win wout")
#: the corpus and its tables: ``ids`` int32 tokens, ``offsets`` int64 documents,
#: ``inputs``/``input_offsets`` the ragged input rows of each word, ``share`` float32 per word
#: (see the module docstring), ``keep`` float32 subsampling keep probability per word,
#: ``noise`` a :data:`Noise`
Corpus = namedtuple("Corpus", "ids offsets inputs input_offsets share keep noise")
#: the noise distribution (``alias_prob`` float32 / ``alias_idx`` int32, see :func:`build_alias`)
#: and the ``sigmoid`` / ``logsig`` tables of :func:`sigmoid_tables`
Noise = namedtuple("Noise", "alias_prob alias_idx sigmoid logsig")
#: ``cbow`` (bool), ``window``, ``negative``, base ``lr``, ``total`` tokens this thread reads
#: over all its epochs (the learning-rate schedule); ``context`` (bool, skip-gram only): each
#: context word's input rows predict the centre word (word2vec's roles, :func:`_skipgram_context_line`)
#: instead of the centre's rows predicting each context word (fastText's)
Opt = namedtuple("Opt", "cbow window negative lr total context", defaults=(False,))
#: per thread: ``rng`` uint64[1]; ``counts`` int64[2] = tokens read, updates made; ``loss``
#: float64[1] = loss sum; scratch ``line`` int32[BLOCK], ``hidden``/``grad``/``acc`` float32[dim]
ThreadState = namedtuple("ThreadState", "rng counts loss line hidden grad acc")


# --------------------------------------------------------------------------- randomness


@njit(cache=True, nogil=True)
def seed_state(seed):
    """A nonzero xorshift64* state from an integer seed (one splitmix64 step)."""
    z = np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    if z == np.uint64(0):
        z = np.uint64(0x9E3779B97F4A7C15)
    return z


@njit(cache=True, nogil=True)
def _next(rng):
    """Advance the xorshift64* state ``rng[0]``; return 64 random bits."""
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    return x * np.uint64(0x2545F4914F6CDD1D)


@njit(cache=True, nogil=True)
def _below(r, n):
    """``floor(n * u)`` for the high 32 bits of ``r`` as ``u`` in [0, 1): an int in ``0 .. n-1``."""
    return np.int64(((r >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@njit(cache=True, nogil=True)
def _unit(r):
    """The low 24 bits of ``r`` as a float32 in [0, 1)."""
    return np.float32(r & np.uint64(0xFFFFFF)) * np.float32(1.0 / 16777216.0)


@njit(cache=True, nogil=True)
def draw_noise(rng, alias_prob, alias_idx):
    """One word from the alias table: bucket ``i`` uniform, then ``i`` with probability
    ``alias_prob[i]``, else ``alias_idx[i]``."""
    r = _next(rng)
    i = _below(r, alias_prob.shape[0])
    if _unit(r) < alias_prob[i]:
        return i
    return np.int64(alias_idx[i])


@njit(cache=True, nogil=True)
def build_alias(weights):
    """Vose's alias table for ``weights`` (float64, not all zero): ``(prob float32, idx int32)``."""
    n = weights.shape[0]
    total = weights.sum()
    scaled = weights * (n / total)
    prob = np.ones(n, dtype=np.float32)
    idx = np.arange(n).astype(np.int32)
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        g = large[nl - 1]
        prob[s] = scaled[s]
        idx[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    # what is left is 1 up to rounding: keeps itself (prob 1)
    return prob, idx


# --------------------------------------------------------------------------- one update


#: the sigmoid table covers scores in ``[-MAX_SIGMOID, MAX_SIGMOID]`` in ``SIGMOID_TABLE`` steps
MAX_SIGMOID = 8.0
SIGMOID_TABLE = 1024


def sigmoid_tables() -> tuple[np.ndarray, np.ndarray]:
    """``(sigmoid, log-sigmoid)`` float32 tables of ``SIGMOID_TABLE + 1`` entries at
    ``x_i = -MAX_SIGMOID + 2 * MAX_SIGMOID * i / SIGMOID_TABLE`` (fastText's ``t_sigmoid``,
    finer; the loss uses ``log sigmoid(-x) = log(1 - sigmoid(x))``, entry ``SIGMOID_TABLE - i``)."""
    x = np.linspace(-MAX_SIGMOID, MAX_SIGMOID, SIGMOID_TABLE + 1, dtype=np.float64)
    sig = 1.0 / (1.0 + np.exp(-x))
    logsig = -np.logaddexp(0.0, -x)
    return sig.astype(np.float32), logsig.astype(np.float32)


@njit(cache=True, nogil=True)
def sigmoid_index(score):
    """The table entry of ``score`` (nearest below), clipped to ``0 .. SIGMOID_TABLE``."""
    if score <= -MAX_SIGMOID:
        return 0
    if score >= MAX_SIGMOID:
        return SIGMOID_TABLE
    return int((score + MAX_SIGMOID) * (SIGMOID_TABLE / (2 * MAX_SIGMOID)))


@njit(cache=True, nogil=True, fastmath=True)
def negative_update(wout, hidden, grad, target, negative, lr, rng, noise):
    """fastText's ``NegativeSamplingLoss::forward`` with backprop: the target (label 1) and
    ``negative`` noise words (label 0) against ``hidden``. Adds to ``grad`` (not zeroed here) and
    updates ``wout`` in place; returns the loss (float64). ``noise`` is a :data:`Noise`;
    ``fastmath`` lets the dot product use SIMD."""
    alias_prob, alias_idx, sig_t, logsig_t = noise
    dim = hidden.shape[0]
    loss = 0.0
    for n in range(negative + 1):
        if n == 0:
            t = target
        else:
            t = draw_noise(rng, alias_prob, alias_idx)
            tries = 1
            while t == target and tries < 8:
                t = draw_noise(rng, alias_prob, alias_idx)
                tries += 1
            if t == target:
                continue
        row = wout[t]
        s = np.float32(0.0)
        for j in range(dim):
            s += row[j] * hidden[j]
        i = sigmoid_index(s)
        if n == 0:
            alpha = np.float32(lr * (1.0 - sig_t[i]))
            loss -= logsig_t[i]
        else:
            alpha = np.float32(-lr * sig_t[i])
            loss -= logsig_t[SIGMOID_TABLE - i]
        for j in range(dim):
            grad[j] += alpha * row[j]
            row[j] += alpha * hidden[j]
    return loss


@njit(cache=True, nogil=True)
def mean_rows(win, rows, out):
    """``out = win[rows].mean(0)`` (zeros when ``rows`` is empty)."""
    dim = out.shape[0]
    for j in range(dim):
        out[j] = 0.0
    for k in range(rows.shape[0]):
        r = win[rows[k]]
        for j in range(dim):
            out[j] += r[j]
    if rows.shape[0] > 0:
        inv = np.float32(1.0 / rows.shape[0])
        for j in range(dim):
            out[j] *= inv


@njit(cache=True, nogil=True)
def add_to_rows(win, rows, g):
    """``win[rows[k]] += g`` for every k (repeated rows add up, as ``np.add.at``)."""
    dim = g.shape[0]
    for k in range(rows.shape[0]):
        r = win[rows[k]]
        for j in range(dim):
            r[j] += g[j]


# --------------------------------------------------------------------------- one piece of a document


@njit(cache=True, nogil=True)
def _skipgram_line(params, data, opt, st, n, lr):
    """Skip-gram over the kept tokens ``st.line[:n]``."""
    win, wout = params.win, params.wout
    line, hidden, grad, acc = st.line, st.hidden, st.grad, st.acc
    dim = hidden.shape[0]
    loss = 0.0
    updates = 0
    for p in range(n):
        w = line[p]
        b = 1 + _below(_next(st.rng), opt.window)
        lo = max(0, p - b)
        hi = min(n, p + b + 1)
        if hi - lo <= 1:
            continue
        rows = data.inputs[data.input_offsets[w] : data.input_offsets[w + 1]]
        mean_rows(win, rows, hidden)
        share = data.share[w]
        for j in range(dim):
            acc[j] = 0.0
        for c in range(lo, hi):
            if c == p:
                continue
            for j in range(dim):
                grad[j] = 0.0
            loss += negative_update(
                wout, hidden, grad, line[c], opt.negative, lr, st.rng, data.noise
            )
            updates += 1
            for j in range(dim):
                acc[j] += grad[j]
                hidden[j] += grad[j] * share
        add_to_rows(win, rows, acc)
    return loss, updates


@njit(cache=True, nogil=True)
def _skipgram_context_line(params, data, opt, st, n, lr):
    """Skip-gram with word2vec's roles over the kept tokens ``st.line[:n]``: for each centre word
    and each word of its window, the context word's input rows (their mean) predict the centre
    word, and the context word's rows take the gradient at once (word2vec.c and gensim's
    ``fast_sentence_sg_neg``). The same (centre, context) pairs as :func:`_skipgram_line` with the
    roles swapped; with subwords it reads a context word's rows once per pair instead of the
    centre's once per window."""
    win, wout = params.win, params.wout
    line, hidden, grad = st.line, st.hidden, st.grad
    inputs, ioff = data.inputs, data.input_offsets
    dim = hidden.shape[0]
    loss = 0.0
    updates = 0
    for p in range(n):
        b = 1 + _below(_next(st.rng), opt.window)
        lo = max(0, p - b)
        hi = min(n, p + b + 1)
        if hi - lo <= 1:
            continue
        target = line[p]
        for c in range(lo, hi):
            if c == p:
                continue
            w = line[c]
            rows = inputs[ioff[w] : ioff[w + 1]]
            mean_rows(win, rows, hidden)
            for j in range(dim):
                grad[j] = 0.0
            loss += negative_update(
                wout, hidden, grad, target, opt.negative, lr, st.rng, data.noise
            )
            updates += 1
            add_to_rows(win, rows, grad)
    return loss, updates


@njit(cache=True, nogil=True)
def _cbow_line(params, data, opt, st, n, lr):
    """CBOW over the kept tokens ``st.line[:n]``."""
    win, wout = params.win, params.wout
    line, hidden, grad = st.line, st.hidden, st.grad
    inputs, ioff = data.inputs, data.input_offsets
    dim = hidden.shape[0]
    loss = 0.0
    updates = 0
    for p in range(n):
        b = 1 + _below(_next(st.rng), opt.window)
        lo = max(0, p - b)
        hi = min(n, p + b + 1)
        if hi - lo <= 1:
            continue
        for j in range(dim):
            hidden[j] = 0.0
            grad[j] = 0.0
        cnt = 0
        for c in range(lo, hi):
            if c == p:
                continue
            w = line[c]
            for k in range(ioff[w], ioff[w + 1]):
                r = win[inputs[k]]
                for j in range(dim):
                    hidden[j] += r[j]
            cnt += ioff[w + 1] - ioff[w]
        inv = np.float32(1.0 / cnt)
        for j in range(dim):
            hidden[j] *= inv
        loss += negative_update(wout, hidden, grad, line[p], opt.negative, lr, st.rng, data.noise)
        updates += 1
        for c in range(lo, hi):
            if c == p:
                continue
            w = line[c]
            add_to_rows(win, inputs[ioff[w] : ioff[w + 1]], grad)
    return loss, updates


@njit(cache=True, nogil=True)
def train_docs(params, data, opt, st, lo, hi):
    """Train documents ``lo .. hi-1`` (one chunk of this thread's slice, one epoch's pass).
    Counters accumulate in ``st.counts``/``st.loss`` (the caller reads them for progress)."""
    ids, offsets, keep = data.ids, data.offsets, data.keep
    for d in range(lo, hi):
        s = offsets[d]
        e = offsets[d + 1]
        while s < e:
            piece = min(e, s + BLOCK)
            n = 0
            for k in range(s, piece):
                w = ids[k]
                if keep[w] >= 1.0 or _unit(_next(st.rng)) < keep[w]:
                    st.line[n] = w
                    n += 1
            done = st.counts[0]
            lr = opt.lr * max(0.0, 1.0 - done / opt.total)
            if n > 1:
                if opt.cbow:
                    loss, updates = _cbow_line(params, data, opt, st, n, lr)
                elif opt.context:
                    loss, updates = _skipgram_context_line(params, data, opt, st, n, lr)
                else:
                    loss, updates = _skipgram_line(params, data, opt, st, n, lr)
                st.loss[0] += loss
                st.counts[1] += updates
            st.counts[0] = done + (piece - s)
            s = piece


@njit(cache=True, nogil=True)
def compose_rows(win, inputs, input_offsets, out):
    """``out[i] = win[inputs[input_offsets[i]:input_offsets[i + 1]]].mean(0)`` (zeros when the
    list is empty): fastText's ``getWordVector`` over ragged row lists."""
    for i in range(out.shape[0]):
        mean_rows(win, inputs[input_offsets[i] : input_offsets[i + 1]], out[i])
