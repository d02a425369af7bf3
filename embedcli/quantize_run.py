"""``embedcli quantize`` as named steps: check, cut, retrain, quantize, save (see
``embedcli.quantize`` for what each step means and what fastText does).

:func:`quantize_model` is the library entry point (the CLI command calls it once); it imports the
kernels. A fastText-style retrain (:func:`retrain`) runs the model's own training settings
(optimizer, learning rate and its schedule, epochs, dropout; a tenth of the learning rate with
Adagrad or Adam, :func:`retrain_lr`) over the training corpus on the cut
table, with the epoch kernels of ``embedcli.model`` and the featurized rows mapped to the kept
rows (a cut n-gram is no feature, as in fastText's pruned dictionary).
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.atomic import atomic_dir
from embedcli.errors import DataError, UsageError
from embedcli.modeldir import (
    ARRAY_KEYS,
    MODEL_FORMAT,
    json_default,
    library_versions,
    load_model,
    model_kind,
    read_config,
    sha256_file,
)
from embedcli.quantize import (
    OUT_DSUB,
    PQ,
    QUANTIZED_FILE,
    QUANTIZED_VERSION,
    check_options,
    quant_section,
    save_arrays,
    select_rows,
    train_pq,
)
from embedcli.spec import ModelSpec
from embedcli.text import EOS_TOKEN
from embedcli.vocab import Vocabulary

#: epochs of the classifier's fine-tuning on the decoded quantized rows (``--retrain``)
TUNE_EPOCHS = 2
#: ``--retrain`` holds out every HOLDOUT_EVERY-th document (seeded) from the retrain and the
#: classifier's tuning, to decide whether the tuning is kept; a corpus of fewer than HOLDOUT_MIN
#: documents is not split
HOLDOUT_EVERY = 10
#: ``--retrain`` of an Adagrad or Adam model: this fraction of the model's learning rate (see
#: :func:`retrain_lr`)
ADAPTIVE_RETRAIN_LR = 0.1
HOLDOUT_MIN = 100


@dataclass
class QuantizeOptions:
    dsub: int = 2
    ksub: int = 256
    cutoff: int | None = None
    retrain: bool = False
    qnorm: bool = False
    qout: bool = False
    input: str | None = None
    threads: int = 2
    seed: int = 0
    #: the retrain's training documents (``corpus.Document``s) in place of ``input``
    docs: Any = None
    #: how --cutoff ranks rows: "norm" (fastText) or "usefulness"
    select: str = "norm"
    #: the retrain's epochs and learning rate (fastText's quantize ``-epoch``/``-lr``); None:
    #: the model's own
    epochs: int | None = None
    lr: float | None = None
    #: allow a ``dsub`` that does not divide dim (the last sub-space shorter, as fastText's
    #: quantize does); without it such a ``dsub`` is refused (the autotune's size search sets it)
    uneven_dsub: bool = False


@dataclass
class QuantizeResult:
    path: Path
    rows_before: int
    rows_kept: int
    words_kept: int
    bytes_before: int
    bytes_after: int
    seconds: float
    retrain_epochs: int
    #: ``(epochs, training loss before, after)`` of the classifier tuned on the decoded rows
    tuned: tuple[int, float, float] | None = None


def quantize_model(
    src: str | Path,
    dst: str | Path,
    opts: QuantizeOptions,
    on_note: Callable[[str], None] | None = None,
) -> QuantizeResult:
    """Quantize the classifier in ``src`` into a new model directory ``dst`` (written atomically;
    ``dst`` must already be claimed by the caller)."""
    t0 = time.perf_counter()
    note = on_note or (lambda _m: None)
    config = read_config(src)
    if "quantized" in config:
        raise UsageError(f"{src} is already quantized: quantize its float model instead")
    if model_kind(config) != "classifier":
        raise UsageError(
            f"{src} is a word-vector model (embedcli pretrain): quantize needs a classifier"
        )
    loaded = load_model(src, mmap=True, command="quantize")
    spec, vocab, emb = loaded.spec, loaded.vocab, loaded.embeddings
    if spec.pool not in ("mean", "sum"):
        raise UsageError(
            f"quantize supports mean and sum pooling (fastText's model); {src} pools with {spec.pool}"
        )
    rows, dim = emb.shape
    cutoff = opts.cutoff
    has_input = opts.input is not None or opts.docs is not None
    check_options(dim, rows, opts.dsub, opts.ksub, cutoff, opts.retrain, has_input, opts.select,
                  opts.uneven_dsub)  # fmt: skip
    if not opts.retrain and (opts.epochs is not None or opts.lr is not None):
        raise UsageError("--epochs and --lr are the retrain's: add --retrain (and --input)")
    if dim % opts.dsub:
        note(
            f"--dsub {opts.dsub} does not divide dim {dim}: the last sub-space has "
            f"{dim % opts.dsub} columns (as fastText)"
        )
    if cutoff is not None and cutoff >= rows:
        note(
            f"--cutoff {cutoff:,} keeps all {rows:,} rows: nothing is cut"
            + (", so nothing is retrained (as fastText)" if opts.retrain else "")
        )
        cutoff = None
    dense = _dense(loaded.params, spec)
    data = kept_buckets = None
    if cutoff is not None:
        if spec.word_ngrams > 1 and not spec.ngram_hash:
            raise UsageError(
                f"{src} hashes its n-grams from word ids (a model from before 2026-12): --cutoff "
                "would change them; train it again to cut it"
            )
        usage = None
        if has_input and opts.select == "usefulness":
            usage = row_usage(retrain_data(spec, vocab, None, loaded.config, opts), spec, rows)
        keep = cut_rows(emb, dense, spec, vocab, cutoff, opts.select, usage)
        spec, vocab, kept_buckets = cut_vocabulary(spec, vocab, keep)
        table = np.ascontiguousarray(emb[keep], dtype=np.float32)
        note(
            f"kept {len(keep):,} of {rows:,} rows ({spec.num_words:,} words, "
            f"{len(kept_buckets):,} buckets; by {opts.select})"
        )
    else:
        table = np.array(emb, dtype=np.float32)
    epochs, tuned = 0, None
    if opts.retrain and cutoff is not None:  # fastText retrains only a cut table
        data = retrain_data(spec, vocab, kept_buckets, loaded.config, opts)
        split = holdout_split(len(data.offsets) - 1, opts.seed)
        epochs = retrain(table, dense, spec, data, split[0], loaded.config, opts, note)
    pq = train_pq(table, opts.dsub, opts.ksub, opts.qnorm, seed=opts.seed + 1234)
    if data is not None:
        tuned = tune_classifier(pq, dense, spec, data, split, loaded.config, opts, note)
    out_pq = None
    out_ksub = 1
    if opts.qout:
        out_W = _unpack(dense, spec)["out_W"]
        out_ksub = min(opts.ksub, out_W.shape[1])
        if out_ksub < opts.ksub:
            note(f"--qout: the output layer has {out_W.shape[1]} label rows: {out_ksub} centroids")
        out_pq = train_pq(out_W.T.copy(), OUT_DSUB, out_ksub, opts.qnorm, seed=opts.seed + 4321)
    section = quant_section(
        opts.dsub, opts.ksub, opts.qnorm, opts.qout, 0 if cutoff is None else int(cutoff),
        int(table.shape[0]), out_ksub,
    )  # fmt: skip
    before = sum(f.stat().st_size for f in Path(src).iterdir() if f.is_file())
    section["source"] = {"rows": int(rows), "bytes": before, "retrain_epochs": epochs}
    if tuned is not None:
        section["source"]["tune_epochs"] = tuned[0]
    path = save_quantized(
        dst, loaded.config, spec, vocab, dense, pq, kept_buckets, out_pq, section,
        loaded.params.thresholds,
    )  # fmt: skip
    after = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return QuantizeResult(
        path, rows, int(table.shape[0]), spec.num_words, before, after,
        time.perf_counter() - t0, epochs, tuned,
    )  # fmt: skip


def _dense(params: Any, spec: ModelSpec) -> np.ndarray:
    from embedcli.spec import pack_dense

    return pack_dense(params, spec).copy()


def _unpack(dense: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
    from embedcli.spec import unpack_dense

    return unpack_dense(dense, spec)


def row_usage(data: Any, spec: ModelSpec, rows: int) -> np.ndarray:
    """Per table row: its share of the training documents' pooled vectors, summed over the
    documents (1/length per occurrence with mean pooling, 1 with sum pooling)."""
    lens = np.diff(data.offsets)
    per = 1.0 / np.maximum(lens, 1) if spec.pool == "mean" else np.ones(len(lens))
    return np.bincount(data.tokens, weights=np.repeat(per, lens), minlength=rows)[:rows]


def cut_rows(
    emb: Any,
    dense: np.ndarray,
    spec: ModelSpec,
    vocab: Vocabulary,
    cutoff: int,
    select: str,
    usage: np.ndarray | None,
) -> np.ndarray:
    """The sorted rows ``--cutoff`` keeps (see ``quantize.select_rows``): with ``--select
    usefulness`` a row is scored through the classifier's first layer (the output layer, its
    columns centered for softmax, whose probabilities ignore a shift common to all logits; the
    hidden layer with ``--hidden``)."""
    always = [0] + ([vocab.unk_id] if vocab.unk_id is not None else [])
    if EOS_TOKEN in vocab.token_to_id:
        always.append(vocab.token_to_id[EOS_TOKEN])
    weights = None
    if select == "usefulness":
        parts = _unpack(dense, spec)
        if spec.hidden > 0:
            weights = np.asarray(parts["hidden_W"], dtype=np.float64)
        else:
            weights = np.asarray(parts["out_W"], dtype=np.float64)
            if spec.objective == "softmax" and weights.shape[1] > 1:
                weights = weights - weights.mean(axis=1, keepdims=True)
    return select_rows(emb, cutoff, always, weights, usage)


def cut_vocabulary(
    spec: ModelSpec, vocab: Vocabulary, keep: np.ndarray
) -> tuple[ModelSpec, Vocabulary, np.ndarray]:
    """The spec, vocabulary and kept bucket ids of the table cut to the rows ``keep``."""
    words = keep[keep < spec.num_words]
    kept_buckets = (keep[keep >= spec.num_words] - spec.num_words).astype(np.int32)
    vocab = Vocabulary(
        [vocab.tokens[i] for i in words],
        [vocab.counts[i] for i in words],
        oov=vocab.oov,
        labels=vocab.labels,
        label_counts=vocab.label_counts,
        tokenizer=vocab.tokenizer_config,
        options=vocab.options,
    )
    return replace(spec, num_words=len(words)), vocab, kept_buckets


def save_quantized(
    dst: str | Path,
    src_config: dict[str, Any],
    spec: ModelSpec,
    vocab: Vocabulary,
    dense: np.ndarray,
    pq: PQ,
    kept: np.ndarray | None,
    out_pq: PQ | None,
    section: dict[str, Any],
    thresholds: np.ndarray | None = None,
) -> Path:
    """The model directory of a quantized model (format version ``QUANTIZED_VERSION``)."""
    path = Path(dst)
    arrays = {**_unpack(dense, spec), "thresholds": thresholds}
    with atomic_dir(path) as tmp:
        save_arrays(tmp / QUANTIZED_FILE, pq, kept, out_pq)
        keys = [k for k in ARRAY_KEYS if arrays.get(k) is not None]
        if out_pq is not None:
            keys.remove("out_W")
        np.savez(tmp / "classifier.npz", **{k: np.asarray(arrays[k], np.float32) for k in keys})
        section["vocab_bytes"] = _save_vocab_gz(vocab, tmp)
        with open(tmp / "labels.tsv", "w", encoding="utf-8") as f:
            for i, (label, count) in enumerate(zip(vocab.labels, vocab.label_counts)):
                f.write(f"{i}\t{label}\t{count}\n")
        files = {
            name: sha256_file(tmp / name)
            for name in (QUANTIZED_FILE, "classifier.npz", "vocab.tsv.gz", "labels.tsv")
        }
        config = {
            "format": MODEL_FORMAT,
            "version": QUANTIZED_VERSION,
            "model": spec.to_dict(),
            "quantized": section,
            "train": src_config.get("train", {}),
            "tokenizer": vocab.tokenizer_config.to_dict(),
            "labels": vocab.labels,
            "metrics": {},
            "files": files,
            "versions": library_versions(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        if isinstance(src_config.get("corpus"), dict):
            config["corpus"] = src_config["corpus"]
        with open(tmp / "config.json", "w", encoding="utf-8") as f:
            json.dump(config, f, indent=1, ensure_ascii=False, default=json_default)
            f.write("\n")
    return path


def _save_vocab_gz(vocab: Vocabulary, tmp: Path) -> int:
    """``vocab.tsv.gz`` (the vocabulary file, deflated: about half the bytes; fastText's .ftz
    keeps its dictionary plain); returns the plain size."""
    import gzip
    import os

    vocab.save(tmp / "vocab.tsv")
    data = (tmp / "vocab.tsv").read_bytes()
    with open(tmp / "vocab.tsv.gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
            f.write(data)
    os.unlink(tmp / "vocab.tsv")
    return len(data)


def map_rows(rows: np.ndarray, num_words: int, kept: np.ndarray | None) -> np.ndarray:
    """Featurized model rows -> rows of the cut table (0, the padding row, for a cut bucket)."""
    if kept is None:
        return rows
    out = rows.copy()
    big = rows >= num_words
    b = rows[big] - num_words
    j = np.searchsorted(kept, b)
    jc = np.minimum(j, max(len(kept) - 1, 0))
    hit = (j < len(kept)) & (kept[jc] == b) if len(kept) else np.zeros(len(b), bool)
    out[big] = np.where(hit, num_words + j, 0).astype(rows.dtype)
    return out


def retrain_data(
    spec: ModelSpec,
    vocab: Vocabulary,
    kept: np.ndarray | None,
    config: dict[str, Any],
    opts: QuantizeOptions,
) -> Any:
    """The training corpus (``opts.input`` or ``opts.docs``) featurized for the cut table: a
    ``kernels.TrainData`` whose rows are rows of the cut table."""
    from embedcli.corpus import CorpusOptions, CorpusReader, recorded_options
    from embedcli.kernels import TrainData
    from embedcli.model import featurize
    from embedcli.sequences import encode_corpus

    saved = recorded_options(config.get("corpus"), "config.json")
    reader = (
        opts.docs if opts.docs is not None else CorpusReader([opts.input], CorpusOptions(**saved))
    )
    subwords = (spec.minn, spec.maxn) if spec.has_subwords else None
    enc = encode_corpus(reader, vocab, hashes=bool(spec.ngram_hash), subwords=subwords)
    if len(enc.offsets) < 2:
        raise DataError(f"{opts.input or 'the training data'}: no documents to retrain on")
    tokens, offsets = featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    tokens = np.ascontiguousarray(map_rows(tokens, spec.num_words, kept), dtype=np.int32)
    label_ids = np.ascontiguousarray(enc.label_ids, dtype=np.int32)
    label_offsets = np.ascontiguousarray(enc.label_offsets, dtype=np.int64)
    n = len(offsets) - 1
    return TrainData(tokens, offsets, label_ids, label_offsets, np.arange(n, dtype=np.int64))


def holdout_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, held out)`` document indices of the retraining corpus: every
    ``1 / HOLDOUT_EVERY``-th document of a seeded permutation is held out (none below
    ``HOLDOUT_MIN`` documents: then both are every document)."""
    if n < HOLDOUT_MIN:
        every = np.arange(n, dtype=np.int64)
        return every, every
    perm = np.random.default_rng(seed + 99991).permutation(n).astype(np.int64)
    held = np.zeros(n, dtype=bool)
    held[perm[: n // HOLDOUT_EVERY]] = True
    return np.flatnonzero(~held).astype(np.int64), np.flatnonzero(held).astype(np.int64)


def retrain(
    table: np.ndarray,
    dense: np.ndarray,
    spec: ModelSpec,
    data: Any,
    docs: np.ndarray,
    config: dict[str, Any],
    opts: QuantizeOptions,
    note: Callable[[str], None],
) -> int:
    """fastText's retrain: the model's epochs and learning rate on the cut table and the
    classifier (in place), over the documents ``docs`` of ``data`` (all but the held-out tenth
    that judges the classifier's tuning: a document the retrain fitted would judge nothing).
    Returns the epochs run."""
    cfg = dict(config.get("train") or {})
    cfg["lr"] = retrain_lr(cfg, opts.lr)
    epochs = int(opts.epochs or cfg.get("epochs") or 5)
    train_epochs(table, dense, spec, data, docs, cfg, opts, note, epochs, 1, "retrain")
    return epochs


def retrain_lr(cfg: dict[str, Any], lr: float | None) -> float:
    """The retrain's learning rate: ``lr`` (``--lr``) when given; else the model's own with SGD
    (fastText's retrain) and :data:`ADAPTIVE_RETRAIN_LR` of it with Adagrad or Adam, whose
    accumulated state the model file does not keep: restarted from zero, it makes the first
    steps of every row as large as the learning rate itself, and the retrain then walks away
    from the trained model (measured on imdb at cutoff 100,000: 1.31 points lost at the model's
    lr, 0.33 at a tenth; README "Quantization")."""
    if lr is not None:
        return float(lr)
    own = float(cfg.get("lr") or 0.1)
    if str(cfg.get("optimizer", "sgd")) in ("adagrad", "adam"):
        return own * ADAPTIVE_RETRAIN_LR
    return own


def train_epochs(
    table: np.ndarray,
    dense: np.ndarray,
    spec: ModelSpec,
    data: Any,
    docs: np.ndarray,
    cfg: dict[str, Any],
    opts: QuantizeOptions,
    note: Callable[[str], None],
    epochs: int,
    frozen_rows: int,
    what: str,
) -> None:
    """``epochs`` epochs over the documents ``docs`` of ``data`` with the model's optimizer,
    learning rate (a fresh schedule over these epochs), l2, dropout and batch size; table rows
    below ``frozen_rows`` stay as they are (``table.shape[0]``: only the classifier trains)."""
    from embedcli.kernels import KernelOpt
    from embedcli.model import train_epoch
    from embedcli.spec import OPTIMIZERS
    from embedcli.train import ADAM_BETAS, EPS, optimizer_state

    optimizer = OPTIMIZERS.get(str(cfg.get("optimizer", "sgd")), 0)
    lr = float(cfg.get("lr") or 0.1)
    n = len(docs)
    per_epoch = float(np.diff(data.offsets)[docs].sum())
    total = max(1.0, per_epoch * epochs)
    state = optimizer_state(optimizer, table.shape[0], spec.dim, spec.dense_size)
    cw = np.ones(spec.num_labels, dtype=np.float32)
    rng = np.random.default_rng(opts.seed if what == "retrain" else opts.seed + 7919)
    nsh = max(1, min(int(opts.threads), n))
    step, done = 0, 0.0
    bsz = int(cfg.get("batch_size") or 1)
    for epoch in range(1, epochs + 1):
        order = docs[rng.permutation(n)]
        kopt = KernelOpt(
            optimizer=optimizer, lr=lr, linear_decay=cfg.get("lr_schedule", "linear") == "linear",
            l2=float(cfg.get("l2") or 0.0), beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], eps=EPS,
            dropout=float(cfg.get("dropout") or 0.0), frozen_rows=int(frozen_rows),
            batch_size=bsz, seed=int(rng.integers(0, 2**62)), step0=step, tokens0=done,
            total_tokens=total, loss0=0.0,
        )  # fmt: skip
        loss, _ = train_epoch(
            (table, dense), state, data, spec.kernel_shape(), kopt, cw, order, nsh,
            threads=nsh > 1,
        )  # fmt: skip
        step += -(-n // bsz)
        done += per_epoch
        if not np.isfinite(loss.sum()) or not np.isfinite(dense).all():
            raise DataError(f"retraining diverged in epoch {epoch}; quantize without --retrain")
        note(f"{what} epoch {epoch}/{epochs}: loss {float(loss.sum()) / n:.4f}")


def decoded_loss(
    table: np.ndarray, dense: np.ndarray, spec: ModelSpec, data: Any, docs: np.ndarray, threads: int
) -> float:
    """Mean log-loss of the first label of the documents ``docs`` of ``data`` (featurized rows
    of ``table``) for the model holding ``table`` and the classifier ``dense``."""
    from embedcli.model import predict_proba
    from embedcli.spec import params_from_dense
    from embedcli.train import evaluate_arrays

    lens = np.diff(data.offsets)[docs]
    starts = data.offsets[docs]
    take = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    tokens = np.ascontiguousarray(data.tokens[take + np.arange(int(lens.sum()))])
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    llens = np.diff(data.label_offsets)[docs]
    lstarts = data.label_offsets[docs]
    ltake = np.repeat(lstarts - np.concatenate([[0], np.cumsum(llens)[:-1]]), llens)
    label_ids = data.label_ids[ltake + np.arange(int(llens.sum()))]
    label_offsets = np.concatenate([[0], np.cumsum(llens)]).astype(np.int64)
    params = params_from_dense(table, dense, spec)
    probs = predict_proba(params, spec, tokens, offsets, threads, featurized=True)
    return float(evaluate_arrays(probs, label_ids, label_offsets)["loss"])


def tune_classifier(
    pq: PQ,
    dense: np.ndarray,
    spec: ModelSpec,
    data: Any,
    split: tuple[np.ndarray, np.ndarray],
    config: dict[str, Any],
    opts: QuantizeOptions,
    note: Callable[[str], None],
) -> tuple[int, float, float]:
    """Fine-tune the classifier (``dense``, in place) against the DECODED quantized rows for
    :data:`TUNE_EPOCHS` epochs on the training part of ``split``, so that it learns the features
    the quantized model really computes; the table is frozen. The tuned classifier is kept only
    when it lowers the held-out loss of the quantized model. Returns ``(epochs kept, held-out
    loss before, after)`` (after = before when it was not kept)."""
    decoded = pq.decode(np.arange(pq.codes.shape[0]), spec.dim)
    train_idx, held = split
    before = decoded_loss(decoded, dense, spec, data, held, opts.threads)
    tuned = dense.copy()
    cfg = dict(config.get("train") or {})
    train_epochs(
        decoded, tuned, spec, data, train_idx, cfg, opts, note, TUNE_EPOCHS,
        frozen_rows=decoded.shape[0], what="classifier tuning",
    )  # fmt: skip
    after = decoded_loss(decoded, tuned, spec, data, held, opts.threads)
    if after < before:
        dense[:] = tuned
        note(f"classifier tuned on the quantized rows: held-out loss {before:.4f} -> {after:.4f}")
        return TUNE_EPOCHS, before, after
    note(f"classifier tuning not kept: held-out loss {before:.4f} -> {after:.4f}")
    return 0, before, before
