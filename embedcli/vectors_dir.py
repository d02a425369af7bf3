"""An embedcli model directory as pretrained vectors for ``train --init-vectors DIR``.

Two kinds of directory are read:

- ``"kind": "vectors"`` (written by ``embedcli pretrain``): ``vocab.tsv``, ``embeddings.npy``
  (float32 ``(len(vocab), dim)``, the COMPOSED word vectors: the mean of a word's own row and its
  n-gram rows, rows of the reserved entries zero) and, with subwords (``model.subwords`` =
  ``SubwordSpec.to_json()``), the compact table ``subword_buckets.npy`` (int64, sorted unique
  buckets) + ``subword_rows.npy`` (float32 ``(len(buckets), dim)``);
- a classifier (``embedcli train``, no ``kind``): its word rows ``embeddings.npy[:num_words]``.

Every file's sha256 must match ``config.json`` (as ``modeldir`` checks); shapes, dtypes and
finiteness are checked before a row is used (``FormatError`` naming the file).

:func:`init_rows` maps the rows onto a new vocabulary: a word of the pretrained vocabulary gets
its vector; a word it lacks gets the mean of the pretrained rows of its character n-grams that
exist (fastText's vector of an out-of-vocabulary word), else stays missing. When the new run
has the pretrained model's subword spec (minn, maxn, buckets, hash), the pretrained n-gram rows
are copied into the same bucket rows, and a known word's own row becomes its raw pretrained row
(``(1 + n) * composed - sum of its n rows``), so that the word's features average to exactly
its pretrained vector. Left out: the word n-gram buckets of a classifier, label rows.

This reader is independent of ``vectors_model.load_vectors_model`` (written in parallel); the
two read the same layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.errors import FormatError, UsageError
from embedcli.spec import InitEmbeddings
from embedcli.subwords import SubwordSpec, subword_buckets
from embedcli.vocab import Vocabulary

KINDS = ("vectors", "classifier")


@dataclass
class PretrainedModel:
    """The rows of a model directory, as :func:`read_pretrained_model` found them."""

    path: Path
    kind: str
    vocab: Vocabulary
    vectors: np.ndarray  # float32 (len(vocab), dim): composed vectors, or a classifier's word rows
    subwords: SubwordSpec | None = None
    subword_buckets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    subword_rows: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def first_word(self) -> int:
        """Id of the first word (after padding and the OOV entry)."""
        return 2 if self.vocab.oov else 1


def is_model_dir(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / "config.json").is_file()


def read_pretrained_model(path: str | Path) -> PretrainedModel:
    """Read a model directory of kind "vectors" or a classifier's (``FormatError`` if damaged)."""
    from embedcli.modeldir import MODEL_FORMAT, MODEL_VERSION, load_model, sha256_file

    path = Path(path)
    cfg_path = path / "config.json"
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise FormatError(f"{cfg_path} is damaged: {type(exc).__name__}: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise FormatError(f"{cfg_path} is not an embedcli model config")
    version = config.get("version")
    if not isinstance(version, int) or version > MODEL_VERSION:
        raise FormatError(
            f"{path}: model format version {version!r} is not one this embedcli reads "
            f"(<= {MODEL_VERSION}); upgrade embedcli"
        )
    kind = config.get("kind", "classifier")
    if kind not in KINDS:
        raise FormatError(f"{path}: unknown model kind {kind!r} (this embedcli reads {KINDS})")
    if kind == "classifier":
        m = load_model(path, mmap=True, classifier=False)
        return PretrainedModel(path, kind, m.vocab, m.embeddings[: m.num_words])
    model, files = config.get("model"), config.get("files")
    if not isinstance(model, dict) or not isinstance(files, dict):
        raise FormatError(f"{cfg_path}: missing 'model' or 'files' section")
    sub = None
    if model.get("subwords") is not None:
        try:
            sub = SubwordSpec.from_json(model["subwords"])
        except ValueError as exc:
            raise FormatError(f"{cfg_path}: model.subwords: {exc}") from None
    names = ["embeddings.npy", "vocab.tsv"]
    if sub is not None and sub.enabled:
        names += ["subword_buckets.npy", "subword_rows.npy"]
    for name in names:
        digest = files.get(name)
        if not (path / name).is_file():
            raise FormatError(f"{path}: {name} is missing")
        if not isinstance(digest, str) or sha256_file(path / name) != digest:
            raise FormatError(f"{path / name} is damaged: its sha256 does not match config.json")
    vocab = Vocabulary.load(path / "vocab.tsv")
    dim = model.get("dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise FormatError(f"{cfg_path}: model.dim must be an integer >= 1, not {dim!r}")
    vectors = _array(path / "embeddings.npy", np.float32, (len(vocab), dim))
    out = PretrainedModel(path, kind, vocab, vectors)
    if len(names) > 2:
        ids = _array(path / "subword_buckets.npy", np.int64, None)
        if ids.ndim != 1 or (len(ids) and (ids[0] < 0 or ids[-1] >= sub.buckets)):
            raise FormatError(f"{path / 'subword_buckets.npy'}: not buckets 0..{sub.buckets - 1}")
        if np.any(np.diff(ids) <= 0):
            raise FormatError(f"{path / 'subword_buckets.npy'}: buckets not sorted and unique")
        rows = _array(path / "subword_rows.npy", np.float32, (len(ids), dim))
        out.subwords, out.subword_buckets, out.subword_rows = sub, np.asarray(ids), rows
    return out


def _array(file: Path, dtype: Any, shape: tuple[int, ...] | None) -> np.ndarray:
    try:
        array = np.load(file, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy's header parser raises many kinds on damaged bytes
        raise FormatError(f"{file} is damaged or not a plain array: {exc}") from None
    if not isinstance(array, np.ndarray) or array.dtype != dtype:
        raise FormatError(f"{file}: expected a {np.dtype(dtype)} array")
    if shape is not None and array.shape != shape:
        raise FormatError(f"{file}: expected shape {shape}, found {array.shape}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise FormatError(f"{file} contains NaN or Inf values")
    return array


@dataclass
class ModelInit:
    """What :func:`init_rows` found for a vocabulary."""

    init: InitEmbeddings
    found: np.ndarray  # bool (len(vocab),): the word's row comes from the pretrained model
    words_hit: int
    words_composed: int
    subword_rows: int  # bucket rows copied (0 when the subword specs differ)
    note: str = ""  # why subword rows were not copied, when the pretrained model has them


def init_rows(
    pm: PretrainedModel, vocab: Vocabulary, dim: int, subwords: SubwordSpec | None
) -> ModelInit:
    """The starting rows of a run over ``vocab`` with ``dim`` and ``subwords`` (None = off)."""
    if pm.dim != dim:
        raise UsageError(
            f"--init-vectors {pm.path} has dimension {pm.dim} but --dim is {dim}; set --dim {pm.dim}"
        )
    out = np.zeros((len(vocab), dim), dtype=np.float32)
    first = 2 if vocab.oov else 1
    src = pm.vocab.token_to_id
    pairs = [(i, src.get(t, -1)) for i, t in enumerate(vocab.tokens) if i >= first]
    hit = np.array([i for i, j in pairs if j >= pm.first_word], dtype=np.int64)
    hit_src = np.array([j for _, j in pairs if j >= pm.first_word], dtype=np.int64)
    found = np.zeros(len(vocab), dtype=bool)
    if len(hit):
        out[hit] = pm.vectors[hit_src]
        found[hit] = True
    copy = (
        pm.subwords is not None
        and subwords is not None
        and subwords.enabled
        and pm.subwords == subwords
    )
    composed = 0
    note = ""
    if pm.subwords is not None:
        missing = np.array([i for i, j in pairs if j < pm.first_word], dtype=np.int64)
        rows, has = compose(
            [vocab.tokens[i] for i in missing], pm.subwords, pm.subword_buckets, pm.subword_rows
        )
        out[missing[has]] = rows[has]
        found[missing[has]] = True
        composed = int(has.sum())
        if copy and len(hit):
            out[hit] = raw_rows(
                [vocab.tokens[i] for i in hit],
                out[hit],
                pm.subwords,
                pm.subword_buckets,
                pm.subword_rows,
            )
        if not copy:
            mine = (
                f"{subwords.minn}-{subwords.maxn} in {subwords.buckets:,} buckets"
                if subwords is not None and subwords.enabled
                else "off"
            )
            note = (
                f"its subword rows ({pm.subwords.minn}-{pm.subwords.maxn} in "
                f"{pm.subwords.buckets:,} buckets) were not copied: this run's subwords are {mine}"
            )
    init = InitEmbeddings(
        out,
        pm.subword_buckets if copy else np.zeros(0, np.int64),
        pm.subword_rows if copy else np.zeros((0, dim), np.float32),
    )
    return ModelInit(init, found, int(len(hit)), composed, len(init.bucket_ids), note)


def _ngram_rows(
    words: list[str], spec: SubwordSpec, buckets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows of the compact table (int64, -1 = no row), owner word (int64), n-grams per word)``
    for every n-gram of every word, in order."""
    per_word = subword_buckets(words, spec)
    counts = np.array([len(b) for b in per_word], dtype=np.int64)
    flat = np.concatenate(per_word) if per_word else np.zeros(0, np.int64)
    pos = np.searchsorted(buckets, flat)
    pos = np.minimum(pos, max(len(buckets) - 1, 0))
    ok = (len(buckets) > 0) & (buckets[pos] == flat) if len(buckets) else np.zeros(len(flat), bool)
    where = np.where(ok, pos, -1)
    owner = np.repeat(np.arange(len(words), dtype=np.int64), counts)
    return where, owner, counts


def compose(
    words: list[str], spec: SubwordSpec, buckets: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(vectors (len(words), dim) float32, has)``: the mean of each word's n-gram rows present
    in the compact table (``buckets`` sorted, ``rows`` theirs); ``has`` False (zeros) when none."""
    dim = rows.shape[1] if rows.ndim == 2 else 0
    where, owner, _ = _ngram_rows(words, spec, np.asarray(buckets))
    ok = where >= 0
    total = np.zeros((len(words), dim), dtype=np.float64)
    np.add.at(total, owner[ok], np.asarray(rows)[where[ok]])
    n = np.bincount(owner[ok], minlength=len(words))
    has = n > 0
    total[has] /= n[has, None]
    return total.astype(np.float32), has


def raw_rows(
    words: list[str],
    composed: np.ndarray,
    spec: SubwordSpec,
    buckets: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """Each word's own input row from its composed vector: ``composed = (own + sum of its n-gram
    rows present) / (1 + their number)``, solved for ``own``."""
    where, owner, _ = _ngram_rows(words, spec, np.asarray(buckets))
    ok = where >= 0
    total = np.zeros(composed.shape, dtype=np.float64)
    np.add.at(total, owner[ok], np.asarray(rows)[where[ok]])
    n = np.bincount(owner[ok], minlength=len(words))
    return ((1 + n)[:, None] * composed.astype(np.float64) - total).astype(np.float32)
