"""Product quantization of a classifier (``embedcli quantize``): fastText's ``quantize``/``.ftz``.

What it does (fastText ``FastText::quantize``, ``ProductQuantizer``, ``QuantMatrix``):

- ``--cutoff N`` keeps the N most useful rows of the embedding table (words and hashed n-gram
  buckets together); the padding row, ``[UNK]`` and ``</s>`` are always kept (fastText keeps
  ``</s>``). Useful: the largest L2 norm (``--select norm``, the default, fastText) or
  (``--select usefulness``) the norm of what the row adds to the classifier's input (the centered
  logits; the hidden layer's input with ``--hidden``), times, with ``--input``, its share of the
  training documents' pooled vectors (on imdb at cutoff 100,000, without retraining, the norm cut
  costs 1.2 points, the usefulness cut 0.2; after the retrain neither wins on the shared datasets). The vocabulary is cut to the kept words (a cut word is then unknown) and the
  kept buckets are listed (``kept``, sorted): a cut n-gram is no feature any more.
- ``--retrain`` trains the cut float table and the classifier again on nine tenths of the
  training corpus with the model's own settings (a tenth of the learning rate with Adagrad or
  Adam: ``quantize_run.retrain_lr``; ``--epochs``/``--lr`` set them), before quantizing,
  then tunes the classifier for two epochs on the decoded quantized rows, kept only when it
  lowers the loss of the held-out tenth.
- The rows are cut into sub-vectors of ``dsub`` columns (the last sub-space is shorter when
  ``dsub`` does not divide ``dim``, as fastText), each stored as one byte: its nearest of
  ``ksub`` k-means centroids of that sub-space (25 iterations on a sample of at most
  ``256 * ksub`` rows, fastText's ``max_points_per_cluster``).
- ``--qnorm``: the rows are normalized first and their norms kept as one byte each against a
  1-D k-means of the norms. ``--qout``: the output layer's label rows too (``dsub`` 2).

The quantized model is an ordinary model directory (``modeldir``) of format version
:data:`QUANTIZED_VERSION`: ``quantized.npz`` replaces ``embeddings.npy``. Loading gives a
:class:`QuantizedTable` in place of the float table: indexing it decodes only the rows asked for;
prediction (``model.scores``/``predict_proba``/``pooled``) decodes the rows inside the kernel
(``embedcli.quantize_kernels``). This module imports no numba: ``lookup``, ``info``, ``export``
read quantized models through it. :func:`estimate_quantized_bytes` sizes a quantized model
before training it (``train --autotune-model-size``).

Left out: word-vector models (``pretrain``), max and flatten pooling.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.errors import FormatError, UsageError

#: fastText's ProductQuantizer constants
KSUB = 256
NITER = 25
MAX_POINTS_PER_CLUSTER = 256
KMEANS_EPS = 1e-7
QUANT_SEED = 1234
#: how --cutoff ranks the rows: by L2 norm (fastText, the default), by what they add to the classifier
SELECT = ("norm", "usefulness")
#: the output layer's sub-vector width with --qout (fastText: 2)
OUT_DSUB = 2
#: format version of a quantized model directory (float models stay at version 1)
QUANTIZED_VERSION = 2
QUANTIZED_FILE = "quantized.npz"
#: the largest vocabulary a quantized model's vocab.tsv.gz may inflate to (1 GiB)
MAX_VOCAB_BYTES = 1 << 30
#: members of quantized.npz
QUANT_KEYS = (
    "codes",
    "centroids",
    "norm_codes",
    "norm_centroids",
    "kept",
    "out_codes",
    "out_centroids",
    "out_norm_codes",
    "out_norm_centroids",
)


def subspaces(dim: int, dsub: int) -> tuple[int, int]:
    """``(nsub, last)``: number of sub-spaces and the width of the last one (fastText)."""
    nsub, last = divmod(dim, dsub)
    if last == 0:
        return nsub, dsub
    return nsub + 1, last


def estimate_quantized_bytes(
    rows: int,
    dim: int,
    dsub: int = 2,
    cutoff: int = 0,
    qnorm: bool = False,
    qout: bool = False,
    labels: int = 2,
    *,
    words: int | None = None,
    ksub: int = KSUB,
    hidden: int = 0,
    bytes_per_word: int = 14,
) -> int:
    """Bytes on disk of ``embedcli quantize`` of a model with ``rows`` embedding rows (words +
    buckets), ``dim`` columns, ``labels`` output classes, given the quantize options. An estimate
    within a few percent for typical vocabularies (``bytes_per_word``: a vocab.tsv line);
    ``words`` (default: all rows are words) sizes the vocabulary. Pure arithmetic."""
    kept = rows if cutoff <= 0 else min(rows, cutoff)
    words = kept if words is None else min(int(words), kept)
    nsub, _ = subspaces(dim, dsub)
    k = min(ksub, kept)
    total = kept * nsub + nsub * k * dsub * 4  # codes, centroids
    if qnorm:
        total += kept + k * 4
    if cutoff > 0:
        total += 4 * max(0, kept - words)  # kept bucket ids
    out_in = hidden if hidden > 0 else dim
    if qout:
        onsub, _ = subspaces(out_in, OUT_DSUB)
        total += labels * onsub + onsub * min(ksub, labels) * OUT_DSUB * 4
        total += (labels + min(ksub, labels) * 4) if qnorm else 0
    else:
        total += out_in * labels * 4
    total += labels * 4 + (dim * hidden + hidden) * 4  # biases, hidden layer
    total += words * bytes_per_word + labels * 24  # vocab.tsv, labels
    return int(total + 8192)  # config.json, labels.tsv, zip and npy headers


@dataclass
class PQ:
    """One product-quantized matrix: ``codes (rows, nsub) uint8``, ``centroids (nsub, k, dsub)``
    float32, with ``qnorm`` the ``norm_codes (rows,) uint8`` and ``norm_centroids (k,)``."""

    codes: np.ndarray
    centroids: np.ndarray
    norm_codes: np.ndarray | None = None
    norm_centroids: np.ndarray | None = None

    @property
    def dsub(self) -> int:
        return int(self.centroids.shape[2])

    def decode(self, rows: np.ndarray, dim: int) -> np.ndarray:
        """The float32 rows ``rows`` (stored row indices) decoded: ``(len(rows), dim)``."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), dim), dtype=np.float32)
        dsub = self.dsub
        for m in range(self.codes.shape[1]):
            lo = m * dsub
            hi = min(dim, lo + dsub)
            out[:, lo:hi] = self.centroids[m, self.codes[rows, m], : hi - lo]
        if self.norm_codes is not None:
            out *= self.norm_centroids[self.norm_codes[rows]][:, None]
        return out


def train_pq(
    x: np.ndarray, dsub: int, ksub: int, qnorm: bool, seed: int = QUANT_SEED, niter: int = NITER
) -> PQ:
    """Product-quantize the rows of ``x (n, dim)`` (fastText ``ProductQuantizer::train`` and
    ``compute_codes``; ``QuantMatrix`` for ``qnorm``). Imports the kernels."""
    from embedcli import quantize_kernels as qk

    x = np.ascontiguousarray(x, dtype=np.float32)
    n, dim = x.shape
    rng = np.random.default_rng(seed)
    norm_codes = norm_centroids = None
    if qnorm:
        norms = np.linalg.norm(x, axis=1).astype(np.float32)
        x = x / np.where(norms > 0, norms, 1)[:, None].astype(np.float32)
        nk = min(ksub, n)
        norm_centroids = _kmeans(norms[:, None].copy(), nk, rng, niter)[:, 0].copy()
        norm_codes = np.empty(n, dtype=np.uint8)
        qk.assign_codes(norms[:, None].copy(), norm_centroids[:, None].copy(), norm_codes)
    nsub, _ = subspaces(dim, dsub)
    sample = min(n, MAX_POINTS_PER_CLUSTER * ksub)
    perm = rng.permutation(n)[:sample]
    centroids = np.zeros((nsub, ksub, dsub), dtype=np.float32)
    codes = np.empty((n, nsub), dtype=np.uint8)
    column = np.empty(n, dtype=np.uint8)
    for m in range(nsub):
        lo, hi = m * dsub, min(dim, (m + 1) * dsub)
        part = np.ascontiguousarray(x[perm, lo:hi])
        c = _kmeans(part, ksub, rng, niter)
        centroids[m, :, : hi - lo] = c
        qk.assign_codes(np.ascontiguousarray(x[:, lo:hi]), c, column)
        codes[:, m] = column
    return PQ(codes, centroids, norm_codes, norm_centroids)


def _kmeans(x: np.ndarray, k: int, rng: np.random.Generator, niter: int) -> np.ndarray:
    from embedcli.quantize_kernels import kmeans

    init = np.sort(rng.permutation(len(x))[:k]).astype(np.int64)
    return kmeans(x, init, niter, KMEANS_EPS)


def select_rows(
    emb: np.ndarray,
    cutoff: int,
    always: list[int],
    weights: np.ndarray | None = None,
    usage: np.ndarray | None = None,
) -> np.ndarray:
    """The sorted row ids kept by ``--cutoff``: ``always`` (pad, UNK, ``</s>``), then the rows
    of largest score (ties: the lower id) up to ``cutoff`` rows in all.

    The score of a row is its L2 norm (fastText ``selectEmbeddings``; ``--select norm``) or, with
    ``weights`` ``(dim, K)``, the L2 norm of what the row adds to the classifier's input,
    ``row @ weights`` (``--select usefulness``: a large row the classifier ignores is cut first),
    times ``usage`` (per row: how much of the training documents' pooled vectors it makes up)
    when given."""
    scores = np.empty(emb.shape[0], dtype=np.float64)
    block = 1 << 16
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    for s in range(0, emb.shape[0], block):
        part = np.asarray(emb[s : s + block], dtype=np.float32)
        if w is not None:
            part = part @ w
        scores[s : s + len(part)] = np.sqrt(np.einsum("ij,ij->i", part, part, dtype=np.float64))
    if usage is not None:
        scores *= usage
    scores[always] = np.inf
    keep = np.argsort(-scores, kind="stable")[: max(cutoff, len(always))]
    return np.sort(keep).astype(np.int64)


class QuantizedTable:
    """The embedding table of a quantized model, as a read-only array-like of the model's shape
    ``(num_words + buckets, dim)``: ``table[ids]`` decodes only those rows (a cut bucket reads
    as zeros); ``np.asarray(table)`` decodes everything (``export``). Prediction never does:
    ``model`` hands :meth:`kernel_args` to the quantized kernels."""

    quantized = True
    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(
        self, pq: PQ, num_words: int, num_rows: int, dim: int, kept: np.ndarray | None
    ) -> None:
        self.pq = pq
        self.num_words = int(num_words)
        self.shape = (int(num_rows), int(dim))
        self.kept = kept
        self.stored = int(pq.codes.shape[0])

    def __len__(self) -> int:
        return self.shape[0]

    def stored_rows(self, ids: np.ndarray) -> np.ndarray:
        """Stored row of every model row id (-1 for a cut bucket)."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.kept is None:
            return ids
        out = ids.copy()
        b = ids - self.num_words
        big = b >= 0
        j = np.searchsorted(self.kept, b[big])
        jc = np.minimum(j, max(len(self.kept) - 1, 0))
        hit = (j < len(self.kept)) & (self.kept[jc] == b[big]) if len(self.kept) else j < 0
        out[big] = np.where(hit, self.num_words + j, -1)
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            rows = self[key[0]]
            return rows[(slice(None), *key[1:])] if len(key) > 1 else rows
        scalar = isinstance(key, int | np.integer)
        if isinstance(key, slice):
            ids = np.arange(self.shape[0])[key]
        else:
            ids = np.asarray(key, dtype=np.int64).reshape(-1)
            if ids.size and (ids.min() < -self.shape[0] or ids.max() >= self.shape[0]):
                raise IndexError(f"row index out of range for {self.shape[0]} rows")
            ids = np.where(ids < 0, ids + self.shape[0], ids)
        stored = self.stored_rows(ids)
        out = np.zeros((len(ids), self.shape[1]), dtype=np.float32)
        ok = stored >= 0
        if ok.any():
            out[ok] = self.pq.decode(stored[ok], self.shape[1])
        return out[0] if scalar else out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.float32)
        block = 1 << 16
        for s in range(0, self.shape[0], block):
            out[s : s + block] = self[s : s + block]
        return out if dtype is None else out.astype(dtype)

    def decoded_stored(self) -> np.ndarray:
        """The stored rows decoded, ``(stored, dim)``: the float table the kernels compute with
        (tests compare against it)."""
        return self.pq.decode(np.arange(self.stored), self.shape[1])

    def absmax(self) -> float:
        """An upper bound of |decoded value| (the loader's overflow check)."""
        c = float(np.abs(self.pq.centroids).max()) if self.pq.centroids.size else 0.0
        if self.pq.norm_centroids is not None and self.pq.norm_centroids.size:
            c *= float(np.abs(self.pq.norm_centroids).max())
        return c

    def nbytes_float(self) -> int:
        return 4 * self.shape[0] * self.shape[1]


def save_arrays(path: Path, pq: PQ, kept: np.ndarray | None, out_pq: PQ | None) -> None:
    """Write ``quantized.npz`` (deflated: the bucket ids and norms compress)."""
    arrays: dict[str, np.ndarray] = {"codes": pq.codes, "centroids": pq.centroids}
    if pq.norm_codes is not None:
        arrays.update(norm_codes=pq.norm_codes, norm_centroids=pq.norm_centroids)
    if kept is not None:
        arrays["kept"] = np.ascontiguousarray(kept, dtype=np.int32)
    if out_pq is not None:
        arrays.update(out_codes=out_pq.codes, out_centroids=out_pq.centroids)
        if out_pq.norm_codes is not None:
            arrays.update(
                out_norm_codes=out_pq.norm_codes, out_norm_centroids=out_pq.norm_centroids
            )
    np.savez_compressed(path, **arrays)


def quant_section(
    dsub: int, ksub: int, qnorm: bool, qout: bool, cutoff: int, stored: int, out_ksub: int
) -> dict[str, Any]:
    """The ``"quantized"`` section of a quantized model's config.json."""
    return {
        "dsub": dsub,
        "ksub": ksub,
        "qnorm": qnorm,
        "qout": qout,
        "cutoff": cutoff,
        "stored_rows": stored,
        "out_ksub": out_ksub,
    }


def check_section(q: Any, spec: dict[str, Any], cfg_path: Path) -> dict[str, Any]:
    """The ``"quantized"`` section's types and ranges (``FormatError`` naming ``cfg_path``)."""
    if not isinstance(q, dict):
        raise FormatError(
            f"{cfg_path}: a version {QUANTIZED_VERSION} model needs a 'quantized' section"
        )
    for key in ("dsub", "ksub", "stored_rows", "out_ksub", "cutoff"):
        v = q.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < (0 if key == "cutoff" else 1):
            raise FormatError(f"{cfg_path}: quantized.{key} must be a positive integer, not {v!r}")
    for key in ("qnorm", "qout"):
        if not isinstance(q.get(key), bool):
            raise FormatError(f"{cfg_path}: quantized.{key} must be true or false")
    if q["ksub"] > KSUB or q["out_ksub"] > KSUB:
        raise FormatError(f"{cfg_path}: quantized.ksub must be at most {KSUB} (one byte per code)")
    if q["dsub"] > int(spec.get("dim", 1)):
        raise FormatError(f"{cfg_path}: quantized.dsub is larger than model.dim")
    vb = q.get("vocab_bytes", 1)
    if not isinstance(vb, int) or isinstance(vb, bool) or not 1 <= vb <= MAX_VOCAB_BYTES:
        raise FormatError(f"{cfg_path}: quantized.vocab_bytes must be 1..{MAX_VOCAB_BYTES}")
    source = q.get("source", {})
    if not isinstance(source, dict) or any(
        not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in source.values()
    ):
        raise FormatError(f"{cfg_path}: quantized.source must map names to counts")
    if spec.get("pool", "mean") not in ("mean", "sum"):
        raise FormatError(f"{cfg_path}: a quantized model pools with mean or sum")
    return q


def load_arrays(
    file: Path, section: dict[str, Any], num_words: int, buckets: int, dim: int, out_shape: tuple
) -> tuple[PQ, np.ndarray | None, PQ | None]:
    """Read and check ``quantized.npz`` against the config (sizes declared in the zip directory
    first, then dtypes, shapes, code ranges, finiteness, kept bucket ids)."""
    stored, ksub, dsub = section["stored_rows"], section["ksub"], section["dsub"]
    nsub, _ = subspaces(dim, dsub)
    out_rows, out_in = out_shape
    onsub, _ = subspaces(out_in, OUT_DSUB)
    ok = section["out_ksub"]
    shapes: dict[str, tuple[tuple[int, ...], Any]] = {
        "codes": ((stored, nsub), np.uint8),
        "centroids": ((nsub, ksub, dsub), np.float32),
    }
    if section["qnorm"]:
        shapes.update(norm_codes=((stored,), np.uint8), norm_centroids=((ksub,), np.float32))
    if section["cutoff"] > 0 and stored > num_words:
        shapes["kept"] = ((stored - num_words,), np.int32)
    if section["qout"]:
        shapes.update(
            out_codes=((out_rows, onsub), np.uint8),
            out_centroids=((onsub, ok, OUT_DSUB), np.float32),
        )
        if section["qnorm"]:
            shapes.update(
                out_norm_codes=((out_rows,), np.uint8), out_norm_centroids=((ok,), np.float32)
            )
    if section["cutoff"] <= 0 and stored != num_words + buckets:
        raise FormatError(f"{file}: {stored} stored rows, the model has {num_words + buckets}")
    try:
        if not zipfile.is_zipfile(file):
            raise FormatError(f"{file} is not a .npz archive")
        with zipfile.ZipFile(file) as zf:
            limits = {
                k: NPY_HEADER_MAX + np.dtype(t).itemsize * math.prod(s)
                for k, (s, t) in shapes.items()
            }
            members = _members(zf, file, limits)
        missing = [k for k in shapes if k not in members]
        if missing:
            raise FormatError(f"{file}: array '{missing[0]}' is missing")
        with np.load(file, allow_pickle=False) as z:
            arrays = {k: z[k] for k in shapes}
    except FormatError:
        raise
    except Exception as exc:  # zip and .npy parsers raise many kinds on damaged bytes
        raise FormatError(f"{file} is damaged: {type(exc).__name__}: {exc}") from None
    for k, (shape, dtype) in shapes.items():
        a = arrays[k]
        if a.dtype != dtype or a.shape != shape:
            raise FormatError(
                f"{file}: '{k}' should be {np.dtype(dtype)} {shape}, found {a.dtype} {a.shape}"
            )
        if dtype == np.float32 and not np.isfinite(a).all():
            raise FormatError(f"{file}: '{k}' contains NaN or Inf values")
    for k, limit in (("codes", ksub), ("norm_codes", ksub), ("out_codes", ok)):
        a = arrays.get(k)
        if a is not None and a.size and int(a.max()) >= limit:
            raise FormatError(f"{file}: '{k}' holds code {int(a.max())}, beyond {limit} centroids")
    if arrays.get("out_norm_codes") is not None and arrays["out_norm_codes"].size:
        if int(arrays["out_norm_codes"].max()) >= ok:
            raise FormatError(f"{file}: 'out_norm_codes' holds a code beyond {ok} centroids")
    kept = arrays.get("kept")
    if (
        kept is not None
        and len(kept)
        and (int(kept[0]) < 0 or int(kept[-1]) >= buckets or not np.all(kept[1:] > kept[:-1]))
    ):
        raise FormatError(f"{file}: 'kept' bucket ids must be sorted, unique, in 0..{buckets - 1}")
    if kept is None and section["cutoff"] > 0:
        kept = np.zeros(0, dtype=np.int32)
    pq = PQ(
        np.ascontiguousarray(arrays["codes"]),
        np.ascontiguousarray(arrays["centroids"]),
        arrays.get("norm_codes"),
        arrays.get("norm_centroids"),
    )
    out_pq = None
    if section["qout"]:
        out_pq = PQ(
            arrays["out_codes"],
            arrays["out_centroids"],
            arrays.get("out_norm_codes"),
            arrays.get("out_norm_centroids"),
        )
    return pq, kept, out_pq


#: the largest .npy header accepted in quantized.npz (numpy's own limit is 10000 bytes)
NPY_HEADER_MAX = 10_000 + 16


def _members(zf: zipfile.ZipFile, file: Path, limits: dict[str, int]) -> set[str]:
    """The array names of an .npz from its zip directory alone (nothing inflated): each member
    ``NAME.npy`` with NAME in ``limits``, once, declaring at most ``limits[NAME]`` bytes."""
    seen: set[str] = set()
    for info in zf.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else ""
        if key not in limits or key in seen:
            raise FormatError(
                f"{file}: unexpected member {info.filename!r} for this quantized model"
            )
        if info.file_size > limits[key]:
            raise FormatError(
                f"{file}: member {info.filename!r} declares {info.file_size:,} bytes, more than "
                f"its array can take ({limits[key]:,} at most)"
            )
        seen.add(key)
    return seen


def check_options(
    dim: int,
    rows: int,
    dsub: int,
    ksub: int,
    cutoff: int | None,
    retrain: bool,
    has_input: bool,
    select: str = "norm",
    uneven_dsub: bool = True,
) -> None:
    """The quantize options against the model (``UsageError``, one line). Without
    ``uneven_dsub``, ``dsub`` must divide ``dim`` (with it, the last sub-space is shorter, as
    fastText's)."""
    if select not in SELECT:
        raise UsageError(f"--select must be one of {', '.join(SELECT)}, not {select!r}")
    if cutoff is not None and cutoff < 1:
        raise UsageError(f"--cutoff must be 1 or more, not {cutoff}")
    if not 1 <= dsub <= dim:
        raise UsageError(f"--dsub must be between 1 and the model's dim ({dim}), not {dsub}")
    if dim % dsub and not uneven_dsub:
        divisors = ", ".join(str(d) for d in range(1, dim + 1) if dim % d == 0)
        raise UsageError(
            f"--dsub {dsub} does not divide the model's dim {dim}: use one of {divisors}, "
            "or add --uneven-dsub for fastText's shorter last sub-space"
        )
    if not 1 <= ksub <= KSUB:
        raise UsageError(
            f"--centroids must be between 1 and {KSUB} (one byte per code), not {ksub}"
        )
    kept = rows if cutoff is None else min(rows, cutoff)
    if ksub > kept:
        raise UsageError(
            f"--centroids {ksub} is more than the {kept:,} rows to quantize: use at most {kept}"
        )
    if retrain and cutoff is None:
        raise UsageError("--retrain needs --cutoff (only a cut table is retrained, as fastText)")
    if retrain and not has_input:
        raise UsageError("--retrain needs the training corpus: --input TRAIN")
