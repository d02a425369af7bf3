"""``embedcli quantize`` as named steps: check, cut, retrain, quantize, save (see
``embedcli.quantize`` for what each step means and what fastText does).

:func:`quantize_model` is the library entry point (the CLI command calls it once); it imports the
kernels. A fastText-style retrain (:func:`retrain`) runs the model's own training settings
(optimizer, learning rate and its schedule, epochs, dropout) over the training corpus on the cut
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
    check_options(dim, rows, opts.dsub, opts.ksub, cutoff, opts.retrain, has_input)
    if dim % opts.dsub:
        note(
            f"--dsub {opts.dsub} does not divide dim {dim}: the last sub-space has "
            f"{dim % opts.dsub} columns (as fastText)"
        )
    if cutoff is not None and cutoff >= rows:
        note(f"--cutoff {cutoff:,} keeps all {rows:,} rows: nothing is cut")
        cutoff = None
    params = loaded.params
    dense = _dense(params, spec)
    kept_buckets = None
    if cutoff is not None:
        if spec.word_ngrams > 1 and not spec.ngram_hash:
            raise UsageError(
                f"{src} hashes its n-grams from word ids (a model from before 2026-12): --cutoff "
                "would change them; train it again to cut it"
            )
        always = [0] + ([vocab.unk_id] if vocab.unk_id is not None else [])
        if EOS_TOKEN in vocab.token_to_id:
            always.append(vocab.token_to_id[EOS_TOKEN])
        keep = select_rows(emb, cutoff, always)
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
        spec = replace(spec, num_words=len(words))
        table = np.ascontiguousarray(emb[keep], dtype=np.float32)
        note(
            f"kept {len(keep):,} of {rows:,} rows ({len(words):,} words, {len(kept_buckets):,} buckets)"
        )
    else:
        table = np.array(emb, dtype=np.float32)
    epochs = 0
    if opts.retrain:
        epochs = retrain(table, dense, spec, vocab, kept_buckets, loaded.config, opts, note)
    pq = train_pq(table, opts.dsub, opts.ksub, opts.qnorm, seed=opts.seed + 1234)
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
    path = save_quantized(
        dst, loaded.config, spec, vocab, dense, pq, kept_buckets, out_pq, section,
        params.thresholds,
    )  # fmt: skip
    after = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return QuantizeResult(
        path, rows, int(table.shape[0]), spec.num_words, before, after,
        time.perf_counter() - t0, epochs,
    )  # fmt: skip


def _dense(params: Any, spec: ModelSpec) -> np.ndarray:
    from embedcli.spec import pack_dense

    return pack_dense(params, spec).copy()


def _unpack(dense: np.ndarray, spec: ModelSpec) -> dict[str, Any]:
    from embedcli.spec import unpack_dense

    return unpack_dense(dense, spec)


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


def retrain(
    table: np.ndarray,
    dense: np.ndarray,
    spec: ModelSpec,
    vocab: Vocabulary,
    kept: np.ndarray | None,
    config: dict[str, Any],
    opts: QuantizeOptions,
    note: Callable[[str], None],
) -> int:
    """Train ``table`` (the cut rows) and ``dense`` in place on ``opts.input`` with the model's
    recorded settings; returns the epochs run."""
    from embedcli.corpus import CorpusOptions, CorpusReader, recorded_options
    from embedcli.kernels import KernelOpt, TrainData
    from embedcli.model import featurize, train_epoch
    from embedcli.sequences import encode_corpus
    from embedcli.spec import OPTIMIZERS
    from embedcli.train import ADAM_BETAS, EPS, optimizer_state

    cfg = config.get("train") or {}
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
    data = TrainData(tokens, offsets, label_ids, label_offsets, np.arange(n, dtype=np.int64))
    optimizer = OPTIMIZERS.get(str(cfg.get("optimizer", "sgd")), 0)
    epochs = int(cfg.get("epochs") or 5)
    lr = float(cfg.get("lr") or 0.1)
    per_epoch = float(len(tokens))
    total = max(1.0, per_epoch * epochs)
    state = optimizer_state(optimizer, table.shape[0], spec.dim, spec.dense_size)
    cw = np.ones(spec.num_labels, dtype=np.float32)
    rng = np.random.default_rng(opts.seed)
    nsh = max(1, min(int(opts.threads), n))
    step, done = 0, 0.0
    bsz = int(cfg.get("batch_size") or 1)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n).astype(np.int64)
        kopt = KernelOpt(
            optimizer=optimizer, lr=lr, linear_decay=cfg.get("lr_schedule", "linear") == "linear",
            l2=float(cfg.get("l2") or 0.0), beta1=ADAM_BETAS[0], beta2=ADAM_BETAS[1], eps=EPS,
            dropout=float(cfg.get("dropout") or 0.0), frozen_rows=1, batch_size=bsz,
            seed=int(rng.integers(0, 2**62)), step0=step, tokens0=done, total_tokens=total,
            loss0=0.0,
        )  # fmt: skip
        loss, _ = train_epoch(
            (table, dense), state, data, spec.kernel_shape(), kopt, cw, order, nsh,
            threads=nsh > 1,
        )  # fmt: skip
        step += -(-n // bsz)
        done += per_epoch
        if not np.isfinite(loss.sum()) or not np.isfinite(dense).all():
            raise DataError(f"retraining diverged in epoch {epoch}; quantize without --retrain")
        note(f"retrain epoch {epoch}/{epochs}: loss {float(loss.sum()) / n:.4f}")
    return epochs
