"""The classifier: parameters, initialisation, n-gram featurizing, scoring, and a reference
forward/backward for gradient checks.

The model is fastText's supervised model with Keras options: an embedding table
(``num_words + buckets`` rows, row 0 = padding, always zero), a masked pooling of a document's
rows (mean = fastText averaging = Keras ``GlobalAveragePooling1D`` with ``mask_zero``; sum; max;
or flatten of the first ``maxlen`` positions), an optional ``Dense(hidden, relu)``, and a linear
output layer (softmax, one binary logit, or one-vs-all sigmoids).

Token ids given to :func:`predict_proba`, :func:`pooled` and :func:`scores` are *word* ids; the
hashed n-gram rows are added here by :func:`featurize`. No strings: see ``embedcli.vocab``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from embedcli import kernels
from embedcli.errors import DataError
from embedcli.resources import feature_budget, feature_bytes, feature_chunk_docs
from embedcli.spec import (
    OBJECTIVES,
    OPTIMIZERS,
    POOLS,
    ModelParams,
    ModelSpec,
    dense_size,
    pack_dense,
    unpack_dense,
)

__all__ = [
    "OBJECTIVES",
    "OPTIMIZERS",
    "POOLS",
    "ModelParams",
    "ModelSpec",
    "dense_size",
    "pack_dense",
    "unpack_dense",
]


def init_params(spec: ModelSpec, seed: int = 0) -> ModelParams:
    """Fresh parameters.

    Word rows ~ U(-0.05, 0.05) (Keras ``Embedding`` default), pad row 0 all zeros. Hashed n-gram
    rows start at zero: they still learn (their gradient does not depend on their value), an
    n-gram never seen in training adds nothing at prediction time, and the untouched part of a
    large bucket table costs no memory (calloc'd pages) and no init time. Output layer
    zeros, as fastText (the first steps then only move the classifier). With a hidden layer the
    hidden weights are Glorot-uniform (Keras ``Dense`` default) and the biases zero.
    """
    rng = np.random.default_rng(seed)
    emb = np.zeros((spec.num_rows, spec.dim), dtype=np.float32)
    words = emb[: spec.num_words]
    words[...] = rng.random(words.shape, dtype=np.float32)
    words *= np.float32(0.1)
    words -= np.float32(0.05)
    emb[0] = 0.0
    hidden_W = hidden_b = None
    if spec.hidden > 0:
        lim = np.sqrt(6.0 / (spec.pooled_dim + spec.hidden))
        hidden_W = rng.uniform(-lim, lim, (spec.pooled_dim, spec.hidden)).astype(np.float32)
        hidden_b = np.zeros(spec.hidden, dtype=np.float32)
    out_W = np.zeros((spec.out_in, spec.num_classes), dtype=np.float32)
    out_b = np.zeros(spec.num_classes, dtype=np.float32)
    return ModelParams(emb, out_W, out_b, hidden_W, hidden_b)


def featurize(
    tokens: np.ndarray, offsets: np.ndarray, spec: ModelSpec, hashes: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Word ids -> model rows: appends hashed word n-grams when ``spec.word_ngrams > 1``, and,
    like fastText, an end-of-document ``</s>`` feature.

    With subwords (``spec.has_subwords``) every document then gets the rows of its words'
    character n-grams and of its unknown tokens' (fastText's ``Dictionary::addSubwords``; from
    ``hashes.subwords``, a ``sequences.SubwordHashes``), see
    :func:`embedcli.kernels.subword_rows_docs`: each document is its word ids, ``</s>`` and
    word n-gram rows as below, then its subword rows.

    ``spec.ngram_hash == "fasttext-2017"``: the n-grams are fastText's, from ``hashes`` (the
    corpus' ``sequences.TokenHashes``: int32 hashes of every token string, ``</s>`` last), see
    :func:`embedcli.kernels.hash_string_ngrams`; ``</s>`` is a word of the vocabulary
    (``--compat fasttext``) or the bucket row of its hash. Otherwise (models written before) the
    word ids are hashed, see :func:`embedcli.kernels.hash_word_ngrams`.
    """
    tokens, offsets = check_ids(tokens, offsets, spec)
    if spec.has_subwords and spec.buckets > 0:
        lengths = featurized_lengths(tokens, offsets, spec, hashes)
        docs = np.arange(len(offsets) - 1, dtype=np.int64)
        out, out_offsets, _ = featurize_docs(tokens, offsets, docs, spec, lengths, None, hashes)
        return out, out_offsets
    if spec.word_ngrams <= 1 or spec.buckets <= 0:
        return tokens, offsets
    if spec.ngram_hash:
        h, hoff, eos_row = _string_hashes(hashes, offsets, spec)
        return kernels.hash_string_ngrams(
            tokens,
            offsets,
            h,
            hoff,
            int(spec.word_ngrams),
            int(spec.num_words),
            int(spec.buckets),
            eos_row,
        )
    return kernels.hash_word_ngrams(
        tokens, offsets, int(spec.word_ngrams), int(spec.num_words), int(spec.buckets), True
    )


def _string_hashes(hashes: Any, offsets: np.ndarray, spec: ModelSpec) -> tuple:
    """``(values int32, offsets int64, eos_row)`` of a ``TokenHashes`` for this spec."""
    from embedcli.ftcompat import NGRAM_HASH, eos_bucket

    if spec.ngram_hash != NGRAM_HASH:
        raise ValueError(f"unknown n-gram hash {spec.ngram_hash!r}")
    if hashes is None:
        raise ValueError("this model hashes token strings: encode with hashes=True")
    h = np.ascontiguousarray(hashes.values, dtype=np.int32)
    hoff = np.ascontiguousarray(hashes.offsets, dtype=np.int64)
    if len(hoff) != len(offsets) or (len(hoff) and (hoff[0] != 0 or hoff[-1] != len(h))):
        raise ValueError("token hashes do not match the documents")
    eos_row = spec.num_words + eos_bucket(spec.buckets) if hashes.eos_bucket else -1
    return h, hoff, int(eos_row)


def _subword_hashes(hashes: Any, offsets: np.ndarray, spec: ModelSpec) -> tuple:
    """``(word_values, word_offsets, values, offsets)`` of the ``SubwordHashes`` of a corpus,
    checked against this spec."""
    sub = getattr(hashes, "subwords", None)
    if sub is None:
        raise ValueError("this model has subwords: encode with subwords=(minn, maxn)")
    if (sub.minn, sub.maxn) != (spec.minn, spec.maxn):
        raise ValueError(
            f"the corpus has the n-grams of {sub.minn}..{sub.maxn} characters, the model "
            f"{spec.minn}..{spec.maxn}"
        )
    word_offsets = np.ascontiguousarray(sub.word_offsets, dtype=np.int64)
    sub_offsets = np.ascontiguousarray(sub.offsets, dtype=np.int64)
    if len(word_offsets) != spec.num_words + 1 or len(sub_offsets) != len(offsets):
        raise ValueError("the subword tables do not match the vocabulary and the documents")
    return (
        np.ascontiguousarray(sub.word_values, dtype=np.int32),
        word_offsets,
        np.ascontiguousarray(sub.values, dtype=np.int32),
        sub_offsets,
    )


def check_ids(tokens, offsets, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens int32, offsets int64)`` contiguous, checked: ids are word rows of ``spec`` and
    ``offsets`` a valid ragged layout of ``tokens`` (``DataError`` otherwise)."""
    tokens = np.ascontiguousarray(tokens, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if tokens.size and (int(tokens.min()) < 0 or int(tokens.max()) >= spec.num_words):
        raise DataError(f"token ids must be in [0, {spec.num_words}) (the model's word rows)")
    if (
        len(offsets) < 1
        or offsets[0] != 0
        or offsets[-1] != len(tokens)
        or np.any(np.diff(offsets) < 0)
    ):
        raise DataError("offsets must start at 0, be non-decreasing and end at len(tokens)")
    return tokens, offsets


def featurized_lengths(
    tokens: np.ndarray, offsets: np.ndarray, spec: ModelSpec, hashes: Any = None
) -> np.ndarray:
    """Rows per document after :func:`featurize` (int64), computed without featurizing."""
    tokens = np.ascontiguousarray(tokens, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    base = _base_lengths(tokens, offsets, spec, hashes)
    if spec.has_subwords and spec.buckets > 0:
        _wv, word_offsets, _v, sub_offsets = _subword_hashes(hashes, offsets, spec)
        base = base + kernels.subword_lengths(tokens, offsets, word_offsets, sub_offsets)
    return base


def _base_lengths(tokens: np.ndarray, offsets: np.ndarray, spec: ModelSpec, hashes: Any):
    """Rows per document of the words, ``</s>`` and word n-grams (subwords left out)."""
    if spec.word_ngrams <= 1 or spec.buckets <= 0:
        return np.diff(offsets)
    if spec.ngram_hash:
        _h, hoff, eos_row = _string_hashes(hashes, offsets, spec)
        return kernels.string_featurized_lengths(offsets, hoff, int(spec.word_ngrams), eos_row)
    return kernels.featurized_lengths(
        tokens, offsets, int(spec.word_ngrams), int(spec.num_words), int(spec.buckets), True
    )


def featurize_docs(
    tokens: np.ndarray,
    offsets: np.ndarray,
    docs: np.ndarray,
    spec: ModelSpec,
    lengths: np.ndarray,
    buffer: np.ndarray | None = None,
    hashes: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`featurize` of the documents ``docs`` (int64, in that order) only: the chunk's
    ``(tokens, offsets)`` plus the buffer holding the tokens (``buffer`` is reused when it is
    large enough, so a loop over chunks allocates about one chunk). ``lengths`` are the
    :func:`featurized_lengths` of the whole corpus. Same rows as ``featurize`` of the subset.
    ``tokens``/``offsets`` must already be :func:`check_ids`-checked."""
    docs = np.ascontiguousarray(docs, dtype=np.int64)
    out_offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lengths[docs], out=out_offsets[1:])
    need = int(out_offsets[-1])
    if buffer is None or len(buffer) < need:
        buffer = np.empty(max(need, 1), dtype=np.int32)
    out = buffer[:need]
    use_ngrams = spec.word_ngrams > 1 and spec.buckets > 0
    if use_ngrams and spec.ngram_hash:
        h, hoff, eos_row = _string_hashes(hashes, offsets, spec)
        kernels.hash_string_ngrams_docs(
            tokens,
            offsets,
            h,
            hoff,
            docs,
            int(spec.word_ngrams),
            int(spec.num_words),
            int(spec.buckets),
            eos_row,
            out,
            out_offsets,
        )
    else:
        kernels.hash_word_ngrams_docs(
            tokens,
            offsets,
            docs,
            int(spec.word_ngrams) if use_ngrams else 1,
            int(spec.num_words),
            int(spec.buckets),
            use_ngrams,
            out,
            out_offsets,
        )
    if spec.has_subwords and spec.buckets > 0:
        word_values, word_offsets, values, sub_offsets = _subword_hashes(hashes, offsets, spec)
        kernels.subword_rows_docs(
            tokens,
            offsets,
            word_values,
            word_offsets,
            values,
            sub_offsets,
            docs,
            int(spec.num_words),
            int(spec.buckets),
            out,
            out_offsets,
        )
    return out, out_offsets, buffer


def feature_spans(length: int, spec: ModelSpec) -> list[tuple[int, int]]:
    """What each row that :func:`featurize` appends to a pad-free document of ``length`` words
    stands for, in order: ``(i, j)`` = words ``i .. j-1``; ``j == length + 1`` means the span
    ends with ``</s>``, and ``(length, length + 1)`` is ``</s>`` alone. Empty without n-grams.
    Example: length 2, word_ngrams 2 -> [(2, 3), (0, 2), (1, 3)] = ``</s>``, "w0 w1", "w1 </s>".
    """
    if spec.word_ngrams <= 1 or spec.buckets <= 0:
        return []
    spans = [(length, length + 1)]
    for i in range(length):
        for j in range(i + 2, min(length + 1, i + spec.word_ngrams) + 1):
            spans.append((i, j))
    return spans


def run_sharded(fn: Any, n: int, shards: int) -> list[Any]:
    """``[fn(lo, hi) for each of `shards` contiguous shards of range(n)]``, the shards on threads
    when ``shards > 1`` (the kernels release the GIL)."""
    shards = max(1, min(int(shards), n))
    bounds = [(sh * n // shards, (sh + 1) * n // shards) for sh in range(shards)]
    if shards == 1:
        return [fn(*bounds[0])]
    with ThreadPoolExecutor(max_workers=shards) as pool:
        return list(pool.map(lambda b: fn(*b), bounds))


def epoch_kernel(shape: tuple, opt: kernels.KernelOpt) -> Any:
    """The training kernel for this configuration (see ``kernels.py``, training section and
    entry points), for its pool and objective: a ``train_rows`` kernel for mean/sum pooling with
    SGD or Adagrad when the update is fastText's (SGD without L2) or the batch size is 1, else a
    ``train_exact`` one."""
    opt = kernel_opt(opt)
    pool, objective = int(shape[0]), int(shape[4])
    optimizer, l2, bsz = opt.optimizer, opt.l2, opt.batch_size
    if pool <= 1 and optimizer <= 1 and ((optimizer == 0 and l2 == 0.0) or bsz == 1):
        return kernels.TRAIN_ROWS[pool, objective, rows_update(optimizer, l2)]
    return kernels.TRAIN_EXACT[pool, objective]


def rows_update(optimizer: int, l2: float) -> int:
    """The update code of a ``train_rows`` kernel (``kernels.ROWS_UPDATES``): 0 SGD without L2
    (fastText's), 1 Adagrad without L2, 2 SGD or Adagrad with L2."""
    if l2 == 0.0 and optimizer <= 1:
        return int(optimizer)
    return 2


def kernel_opt(opt: tuple) -> kernels.KernelOpt:
    """``opt`` as a ``kernels.KernelOpt`` (a plain tuple of its 15 fields, or of the first 14:
    then ``loss0`` is 0)."""
    if isinstance(opt, kernels.KernelOpt):
        return opt
    return kernels.KernelOpt(*opt) if len(opt) == 15 else kernels.KernelOpt(*opt, 0.0)


def rows_scratch(
    params: tuple, data: kernels.TrainData, shape: tuple, opt: kernels.KernelOpt, order: Any
) -> kernels.RowsScratch:
    """The scratch arrays of one ``train_rows`` call on the examples ``order`` (see
    ``kernels.RowsScratch``): allocated here, so that the kernel compiles no allocation."""
    emb, dense = params
    dim, hidden, n_out, bsz = emb.shape[1], int(shape[2]), int(shape[3]), int(opt.batch_size)
    fast = opt.optimizer == 0 and opt.l2 == 0.0
    cap = 1
    if not fast and len(order):
        cap = max(1, int((data.offsets[order + 1] - data.offsets[order]).max()))
    f32, i64 = np.float32, np.int64
    return kernels.RowsScratch(
        gdense=np.zeros(dim * hidden + hidden + (hidden or dim) * n_out + n_out, dtype=f32),
        pooled=np.zeros((bsz, dim), dtype=f32),
        gpool=np.zeros((bsz, dim), dtype=f32),
        counts=np.zeros(bsz, dtype=i64),
        docs=np.zeros(bsz, dtype=i64),
        mask=np.ones(dim, dtype=f32),
        act=np.zeros(max(hidden, 1), dtype=f32),
        gact=np.zeros(max(hidden, 1), dtype=f32),
        logits=np.zeros(n_out, dtype=f32),
        glog=np.zeros(n_out, dtype=f32),
        slot=np.full(1 if fast else emb.shape[0], -1, dtype=np.int32),
        uniq=np.zeros(cap, dtype=i64),
        mult=np.zeros(cap, dtype=i64),
    )


def train_epoch(
    params: tuple,
    state: tuple,
    data: tuple,
    shape: tuple,
    opt: tuple,
    class_weight: np.ndarray,
    order: np.ndarray,
    nshards: int,
    threads: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch over ``order`` split in ``nshards`` contiguous shards: one after another
    (``threads=False``: the bit-reproducible reference) or concurrently (Hogwild).

    Returns ``(loss sum per shard (float64), correct count per shard (int64))``. The arguments
    are the kernels' (see ``kernels.py``): ``state`` an ``OptState``, ``data`` a ``TrainData``
    (4 arrays without ``doc_ids`` mean the identity), ``opt`` a ``KernelOpt`` (see
    :func:`kernel_opt`); plain tuples in the same order are accepted.
    """
    opt = kernel_opt(opt)
    kernel = epoch_kernel(shape, opt)
    if len(data) == 4:  # the whole corpus featurized: example d is document d
        data = (*data, np.arange(len(data[1]) - 1, dtype=np.int64))
    data = kernels.TrainData(*data)
    state = kernels.OptState(*state)
    n = len(order)
    nshards = max(1, int(nshards))
    rest = opt._replace(loss0=0.0)  # loss0 is added once, by shard 0

    rows = kernel is kernels.TRAIN_ROWS.get(
        (int(shape[0]), int(shape[4]), rows_update(opt.optimizer, opt.l2))
    )

    def shard(sh: int) -> tuple[float, int]:
        lo, hi = sh * n // nshards, (sh + 1) * n // nshards
        o = opt if sh == 0 else rest
        args = (params, state, data, shape, o, class_weight, order, lo, hi, nshards)
        if rows:
            return kernel(*args, rows_scratch(params, data, shape, opt, order[lo:hi]))
        return kernel(*args)

    if threads and nshards > 1:
        with ThreadPoolExecutor(max_workers=nshards) as pool:
            out = list(pool.map(shard, range(nshards)))
    else:
        out = [shard(sh) for sh in range(nshards)]
    return (
        np.array([o[0] for o in out], dtype=np.float64),
        np.array([o[1] for o in out], dtype=np.int64),
    )


def _run_predict(
    params: ModelParams,
    spec: ModelSpec,
    tokens,
    offsets,
    threads: int,
    probs: bool,
    featurized: bool,
    hashes: Any = None,
):
    dense = pack_dense(params, spec)
    shape = spec.kernel_shape()
    if getattr(params.embeddings, "quantized", False):  # rows decoded inside the kernel
        q, qpredict = _quantized(params.embeddings, spec)
        dim, emb = spec.dim, None

        def predict(_emb, dense, tokens, offsets, shape, probs):
            return qpredict(q, dim, dense, tokens, offsets, shape, probs)

    else:
        emb = np.ascontiguousarray(params.embeddings, dtype=np.float32)
        predict = kernels.PREDICT[shape[0], shape[4]]

    def run(tokens, offsets):
        n = len(offsets) - 1
        shards = threads if threads > 1 and n >= 1000 else 1
        parts = run_sharded(
            lambda lo, hi: predict(emb, dense, tokens, offsets[lo : hi + 1], shape, probs),
            n,
            shards,
        )
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    if featurized:
        return run(tokens, offsets)
    return map_featurized(run, tokens, offsets, spec, (spec.num_classes,), np.float32, hashes)


def _quantized(table: Any, spec: ModelSpec) -> tuple[Any, Any]:
    """``(QTable, prediction kernel)`` of a ``quantize.QuantizedTable``."""
    from embedcli import quantize_kernels as qk

    pq = table.pq
    empty8, empty32 = np.zeros(0, np.uint8), np.zeros(0, np.float32)
    q = qk.QTable(
        codes=pq.codes,
        centroids=pq.centroids,
        norm_codes=empty8 if pq.norm_codes is None else pq.norm_codes,
        norm_centroids=empty32 if pq.norm_centroids is None else pq.norm_centroids,
        qnorm=pq.norm_codes is not None,
        kept=np.zeros(0, np.int32) if table.kept is None else table.kept,
        pruned=table.kept is not None,
        num_words=int(table.num_words),
    )
    shape = spec.kernel_shape()
    return q, qk.QPREDICT[shape[0], shape[4]]


def map_featurized(
    fn: Any,
    tokens,
    offsets,
    spec: ModelSpec,
    width: tuple[int, ...],
    dtype: Any,
    hashes: Any = None,
) -> np.ndarray:
    """``fn(*featurize(tokens, offsets, spec))`` (one row per document), featurizing a chunk of
    documents at a time when the featurized corpus would pass :func:`feature_budget`."""
    if not spec.adds_rows:
        return fn(*featurize(tokens, offsets, spec))
    tokens, offsets = check_ids(tokens, offsets, spec)
    lengths = featurized_lengths(tokens, offsets, spec, hashes)
    budget = feature_budget()
    n = len(lengths)
    if feature_bytes(lengths) <= budget:
        return fn(*featurize(tokens, offsets, spec, hashes))
    step = feature_chunk_docs(lengths, budget)
    out = np.empty((n, *width), dtype=dtype)
    buffer = None
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        ftok, foff, buffer = featurize_docs(
            tokens, offsets, np.arange(lo, hi, dtype=np.int64), spec, lengths, buffer, hashes
        )
        out[lo:hi] = fn(ftok, foff)
    return out


def scores(
    params: ModelParams,
    spec: ModelSpec,
    tokens,
    offsets,
    threads: int = 1,
    featurized: bool = False,
    hashes: Any = None,
) -> np.ndarray:
    """Logits ``(n, num_classes)`` (one column for binary). ``hashes``: see :func:`featurize`."""
    return _run_predict(params, spec, tokens, offsets, threads, False, featurized, hashes)


def predict_proba(
    params: ModelParams,
    spec: ModelSpec,
    tokens,
    offsets,
    threads: int = 1,
    featurized: bool = False,
    hashes: Any = None,
) -> np.ndarray:
    """Probabilities float32 ``(n, spec.num_labels)``. ``hashes``: see :func:`featurize`.

    softmax: rows sum to 1; binary: ``[1 - p, p]`` with p = P(label id 1); multilabel: one
    independent sigmoid per label (compare with ``params.thresholds``).
    """
    p = _run_predict(params, spec, tokens, offsets, threads, True, featurized, hashes)
    if spec.objective == "binary":
        p = np.concatenate([1.0 - p, p], axis=1).astype(np.float32)
    return p


def pooled(
    params: ModelParams,
    spec: ModelSpec,
    tokens,
    offsets,
    threads: int = 1,
    featurized: bool = False,
    hashes: Any = None,
) -> np.ndarray:
    """Document vectors ``(n, pooled_dim)``: the pooled rows (fastText print-sentence-vectors for
    mean pooling; n-gram rows included when the model has them)."""
    pool, maxlen = spec.kernel_shape()[:2]
    if getattr(params.embeddings, "quantized", False):  # rows decoded inside the kernel
        from embedcli.quantize_kernels import qpool_batch

        q, _ = _quantized(params.embeddings, spec)

        def pool_rows(tokens, offsets):
            return qpool_batch(q, spec.dim, tokens, offsets, pool == 0)

    else:
        emb = np.ascontiguousarray(params.embeddings, dtype=np.float32)

        def pool_rows(tokens, offsets):
            return kernels.pool_batch(emb, tokens, offsets, pool, maxlen)[0]

    def run(tokens, offsets):
        n = len(offsets) - 1
        parts = run_sharded(
            lambda lo, hi: pool_rows(tokens, offsets[lo : hi + 1]),
            n,
            threads if threads > 1 and n >= 1000 else 1,
        )
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    if featurized:
        return run(tokens, offsets)
    return map_featurized(run, tokens, offsets, spec, (spec.pooled_dim,), np.float32, hashes)


def forward_loss_and_grads(
    params: ModelParams,
    spec: ModelSpec,
    tokens: np.ndarray,
    offsets: np.ndarray,
    label_ids: np.ndarray,
    label_offsets: np.ndarray,
    class_weight: np.ndarray | None = None,
) -> tuple[float, ModelParams]:
    """Mean loss over the documents and its gradient wrt every parameter (no dropout, no L2).

    Works in the dtype of ``params`` (use float64 for finite-difference checks). ``tokens`` are
    model rows (already featurized). The embedding gradient is dense ``(rows, dim)``. This is the
    batch-kernel composition the epoch kernel must agree with (one SGD step with batch size n and
    a constant learning rate equals ``params - lr * grads``).
    """
    dt = params.embeddings.dtype
    tokens = np.ascontiguousarray(tokens, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    pool, maxlen, _, C, objective = spec.kernel_shape()
    n = len(offsets) - 1
    cw = (
        np.ones(C if objective != 1 else 2, dtype=dt)
        if class_weight is None
        else np.asarray(class_weight, dtype=dt)
    )
    x, arg = kernels.pool_batch(params.embeddings, tokens, offsets, pool, maxlen)
    counts = np.array(
        [np.count_nonzero(tokens[offsets[i] : offsets[i + 1]]) for i in range(n)], dtype=np.int64
    )
    if spec.hidden > 0:
        act = kernels.dense_forward(x, params.hidden_W, params.hidden_b, True)
        z = kernels.dense_forward(act, params.out_W, params.out_b, False)
    else:
        act = x
        z = kernels.dense_forward(x, params.out_W, params.out_b, False)
    loss, gz, _ = kernels.objective_batch(
        objective,
        z,
        np.ascontiguousarray(label_ids, dtype=np.int32),
        np.ascontiguousarray(label_offsets, dtype=np.int64),
        cw,
    )
    gz = gz / n
    gact, gW, gb = kernels.dense_backward(act, params.out_W, z, gz, False)
    hW = hb = None
    if spec.hidden > 0:
        gx, hW, hb = kernels.dense_backward(x, params.hidden_W, act, gact, True)
    else:
        gx = gact
    gE = np.zeros_like(params.embeddings)
    kernels.pool_backward(gE, tokens, offsets, pool, maxlen, counts, arg, np.ascontiguousarray(gx))
    return float(loss.sum() / n), ModelParams(gE, gW, gb, hW, hb)
