"""The model directory of kind "vectors" (``embedcli pretrain``): write it, load it with every
check, and give any word a vector (its row, or the mean of its character n-gram rows).

Layout (``docs/DESIGN.md``): ``config.json`` (``"kind": "vectors"``; ``model`` = dim, method,
window, negative, sample, epochs, lr and ``subwords`` = ``SubwordSpec.to_json()`` or null;
tokenizer, training and corpus records; the sha256 of every other file), ``vocab.tsv`` (the
vocabulary file: padding 0, [UNK] 1, then the words with their corpus counts), ``embeddings.npy``
(float32 ``len(vocab) x dim``: the reserved rows zero, then each word's composed vector), and with
subwords ``subword_buckets.npy`` (int64, sorted unique buckets some vocabulary word uses) and
``subword_rows.npy`` (float32, their trained rows: the "compact table", bounded by the
vocabulary rather than by ``--buckets``).

The loader treats the directory as hostile, as ``embedcli.modeldir`` does for classifiers: every
file it reads has its sha256 in ``config.json`` (the large tables may skip the hash with
``verify=False``: ``lookup``), shapes, dtypes, the reserved rows, finiteness and a magnitude bound
are checked, the bucket list must be sorted, unique and inside ``--buckets``. No numba: ``lookup``
and ``info`` load models through here.

    >>> spec = SubwordSpec(3, 4, 100)
    >>> buckets = np.unique(np.concatenate(subword_buckets(["cat"], spec)))
    >>> rows = np.ones((len(buckets), 2), np.float32)
    >>> compose_subword_vectors(["cat", "x"], spec, buckets, rows).tolist()
    [[1.0, 1.0], [0.0, 0.0]]

Left out: the output (context) vectors, which only training needs; fastText's ``.bin``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.atomic import atomic_dir
from embedcli.errors import DataError, FormatError
from embedcli.modeldir import (
    MODEL_FORMAT,
    MODEL_VERSION,
    SUBWORD_FILES,
    json_default,
    library_versions,
    load_model,
    load_model_consistent,
    model_kind,
    read_config,
    required_files,
    save_npy_sha256,
    sha256_file,
)
from embedcli.subwords import SubwordSpec, ragged_subword_buckets, subword_buckets
from embedcli.vocab import Vocabulary

KIND = "vectors"
#: the largest |value| a stored vector may hold: dim * x^2 must stay finite in float32 (norms)
MAX_ABS = 1e15
#: rows per block of the finiteness pass over a memory-mapped table
BLOCK_ROWS = 1 << 16


@dataclass
class VectorsModel:
    """A validated word-vector model. ``embeddings`` rows are vocabulary ids (the reserved rows
    are zero); ``words``/``counts``/``vectors`` are the words alone (id ``first`` on)."""

    path: Path
    config: dict[str, Any]
    vocab: Vocabulary
    embeddings: np.ndarray
    subwords: SubwordSpec | None
    subword_buckets: np.ndarray
    subword_rows: np.ndarray
    #: no classifier: the table commands share their code with classifier models
    classifier: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def first(self) -> int:
        return 1 if self.vocab.unk_id is None else self.vocab.unk_id + 1

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def words(self) -> list[str]:
        return self.vocab.tokens[self.first :]

    @property
    def counts(self) -> np.ndarray:
        return np.asarray(self.vocab.counts[self.first :], dtype=np.int64)

    @property
    def vectors(self) -> np.ndarray:
        return self.embeddings[self.first :]

    def word_id(self, word: str) -> int | None:
        """The row of a standardized word, or None when it is not a word of the vocabulary."""
        i = self.vocab.token_to_id.get(word)
        return i if i is not None and i >= self.first else None

    def word_vectors(self, words: Sequence[str]) -> np.ndarray:
        """float32 ``(len(words), dim)`` for standardized words: a known word's stored row, an
        unknown one the mean of its n-gram rows (``compose_subword_vectors``), else zeros."""
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        ids = [self.word_id(w) for w in words]
        known = [j for j, i in enumerate(ids) if i is not None]
        if known:
            out[known] = self.embeddings[[ids[j] for j in known]]
        unknown = [j for j, i in enumerate(ids) if i is None]
        if unknown and self.subwords is not None:
            out[unknown] = self.oov_vectors([words[j] for j in unknown])
        return out

    def oov_vectors(self, words: Sequence[str]) -> np.ndarray:
        """The subword vector of each word, known or not (zeros without subwords)."""
        if self.subwords is None:
            return np.zeros((len(words), self.dim), dtype=np.float32)
        return compose_subword_vectors(
            words, self.subwords, self.subword_buckets, self.subword_rows
        )

    def mean_vectors(self, docs: Sequence[Sequence[str]]) -> np.ndarray:
        """float32 ``(len(docs), dim)``: the mean of the word vectors of each document's
        standardized tokens (``word_vectors``); a word with no vector (unknown, and no n-gram
        with a row) is left out, as fastText leaves out zero vectors; zeros for a document
        with no word left."""
        index: dict[str, int] = {}
        flat = [index.setdefault(w, len(index)) for doc in docs for w in doc]
        uniq = list(index)
        vecs = self.word_vectors(uniq)
        usable = np.array([self.word_id(w) is not None for w in uniq], dtype=bool)
        if len(uniq):
            usable |= np.any(vecs != 0, axis=1)
        ids = np.asarray(flat, dtype=np.int64)
        owner = np.repeat(np.arange(len(docs)), [len(doc) for doc in docs])
        keep = usable[ids] if len(ids) else np.zeros(0, dtype=bool)
        ids, owner = ids[keep], owner[keep]
        out = np.zeros((len(docs), self.dim), dtype=np.float32)
        if not len(ids):
            return out
        counts = np.bincount(owner, minlength=len(docs))
        has = np.flatnonzero(counts)
        sums = np.add.reduceat(vecs[ids], np.searchsorted(owner, has), axis=0)
        out[has] = sums / counts[has, None].astype(np.float32)
        return out

    def ngrams_found(self, word: str) -> tuple[int, int]:
        """``(n-grams with a stored row, n-grams)`` of ``word`` (for notes)."""
        if self.subwords is None:
            return 0, 0
        buckets = subword_buckets([word], self.subwords)[0]
        return int(np.isin(buckets, self.subword_buckets).sum()), len(buckets)


def compose_subword_vectors(
    words: Sequence[str], spec: SubwordSpec, buckets: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """float32 ``(len(words), dim)``: the mean of each word's n-gram rows found in the compact
    table (``buckets`` sorted int64, ``rows`` their vectors), n-grams without a row left out of
    the mean; zeros for a word with none. ``embedcli.pretrain.compose_oov`` without numba
    (``lookup`` stays numba-free) and with the same bits: summed in float64 in n-gram order."""
    dim = rows.shape[1] if rows.ndim == 2 else 0
    out = np.zeros((len(words), dim), dtype=np.float32)
    if not len(words) or not spec.enabled or not len(buckets):
        return out
    values, offsets = ragged_subword_buckets(words, spec)
    pos = np.minimum(np.searchsorted(buckets, values), len(buckets) - 1)
    found = buckets[pos] == values
    owner = np.repeat(np.arange(len(words)), np.diff(offsets))[found]
    if not len(owner):
        return out
    counts = np.bincount(owner, minlength=len(words))
    has = np.flatnonzero(counts)
    starts = np.searchsorted(owner, has)
    sums = np.add.reduceat(np.asarray(rows[pos[found]], dtype=np.float64), starts, axis=0)
    out[has] = (sums / counts[has, None]).astype(np.float32)
    return out


# -- writing --------------------------------------------------------------------------------------
def save_vectors_model(
    path: str | Path, trained: Any, vocab: Vocabulary, *, config_extra: dict[str, Any]
) -> Path:
    """Write the directory of ``trained`` (an ``embedcli.pretrain.TrainedVectors`` whose words
    are ``vocab``'s words in id order) under a temporary name, then swap it into place.

    ``config_extra["model"]`` holds the training settings (method, window, negative, sample,
    epochs, lr); ``dim`` and ``subwords`` come from ``trained``. The other keys of
    ``config_extra`` (train, corpus, metrics...) go into config.json as they are.
    """
    path = Path(path)
    first = 1 if vocab.unk_id is None else vocab.unk_id + 1
    vectors = np.asarray(trained.vectors, dtype=np.float32)
    if list(trained.words) != vocab.tokens[first:] or vectors.shape[0] != len(trained.words):
        raise DataError("internal error: the trained words are not the vocabulary's words")
    sub = trained.subwords
    subwords = sub.to_json() if sub is not None and sub.enabled else None
    extra = dict(config_extra)
    model = {**extra.pop("model", {}), "dim": int(vectors.shape[1]), "subwords": subwords}
    with atomic_dir(path) as tmp:
        table = np.zeros((len(vocab), vectors.shape[1]), dtype=np.float32)
        table[first:] = vectors
        files = {"embeddings.npy": save_npy_sha256(tmp / "embeddings.npy", table)}
        del table
        vocab.save(tmp / "vocab.tsv")
        files["vocab.tsv"] = sha256_file(tmp / "vocab.tsv")
        if subwords is not None:
            buckets = np.ascontiguousarray(trained.subword_buckets, dtype=np.int64)
            rows = np.ascontiguousarray(trained.subword_rows, dtype=np.float32)
            files["subword_buckets.npy"] = save_npy_sha256(tmp / "subword_buckets.npy", buckets)
            files["subword_rows.npy"] = save_npy_sha256(tmp / "subword_rows.npy", rows)
        config = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "kind": KIND,
            "model": model,
            "tokenizer": vocab.tokenizer_config.to_dict(),
            "labels": [],
            "files": files,
            "versions": library_versions(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **extra,
        }
        with open(tmp / "config.json", "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, ensure_ascii=False, default=json_default)
            f.write("\n")
    return path


# -- loading --------------------------------------------------------------------------------------
def load_vectors_model(path: str | Path, *, mmap: bool = True, verify: bool = True) -> VectorsModel:
    """Load and validate a word-vector model directory (``FormatError`` naming the file and
    what is wrong). ``verify=False`` skips the sha256 and finiteness passes over the two large
    tables (``embeddings.npy``, ``subword_rows.npy``); shapes, dtypes and every other check stay."""
    path = Path(path)
    config = read_config(path)
    if model_kind(config) != KIND:
        raise FormatError(f"{path} is a classifier model (embedcli train), not word vectors")
    files = config["files"]
    large = ("embeddings.npy", "subword_rows.npy")
    for name in required_files(config):
        if not (path / name).is_file():
            raise FormatError(f"{path}: {name} is missing")
        if (verify or name not in large) and sha256_file(path / name) != files[name]:
            raise FormatError(f"{path / name} is damaged: its sha256 does not match config.json")
    vocab = Vocabulary.load(path / "vocab.tsv")
    if config.get("tokenizer") != vocab.tokenizer_config.to_dict():
        raise FormatError(
            f"{path / 'config.json'}: 'tokenizer' differs from the tokenizer of vocab.tsv "
            "(the one used)"
        )
    if vocab.labels or config.get("labels", []) != []:
        raise FormatError(f"{path}: a word-vector model has no labels, but this one lists some")
    spec = config["model"]
    dim = int(spec["dim"])
    first = 1 if vocab.unk_id is None else vocab.unk_id + 1
    if len(vocab) <= first:
        raise FormatError(f"{path / 'vocab.tsv'}: the vocabulary holds no word")
    emb = _load_array(path / "embeddings.npy", mmap)
    _check_shape(path / "embeddings.npy", emb, np.float32, (len(vocab), dim))
    if verify:
        _check_values(path / "embeddings.npy", emb, dim)
        if np.any(np.asarray(emb[:first])):
            raise FormatError(
                f"{path / 'embeddings.npy'}: the padding/[UNK] rows must be zero in a word-vector model"
            )
    subwords = None
    buckets = np.zeros(0, dtype=np.int64)
    rows = np.zeros((0, dim), dtype=np.float32)
    sub = spec.get("subwords")
    if sub:
        subwords = SubwordSpec(int(sub["minn"]), int(sub["maxn"]), int(sub["buckets"]))
        buckets = np.ascontiguousarray(_load_array(path / SUBWORD_FILES[0], mmap=False))
        _check_shape(path / SUBWORD_FILES[0], buckets, np.int64, (len(buckets),))
        if len(buckets) and (
            int(buckets[0]) < 0
            or int(buckets[-1]) >= subwords.buckets
            or not np.all(buckets[1:] > buckets[:-1])
        ):
            raise FormatError(
                f"{path / SUBWORD_FILES[0]}: buckets must be sorted, unique and in "
                f"0..{subwords.buckets - 1}"
            )
        rows = _load_array(path / SUBWORD_FILES[1], mmap)
        _check_shape(path / SUBWORD_FILES[1], rows, np.float32, (len(buckets), dim))
        if verify:
            _check_values(path / SUBWORD_FILES[1], rows, dim)
    return VectorsModel(
        path=path,
        config=config,
        vocab=vocab,
        embeddings=emb,
        subwords=subwords,
        subword_buckets=buckets,
        subword_rows=rows,
    )


def load_table(
    path: str | Path, *, mmap: bool = True, verify: bool = False, classifier: bool = False
) -> Any:
    """Any model directory's table for the table commands: a ``VectorsModel`` for a word-vector
    model, else ``modeldir.load_model``'s ``LoadedModel``; read again if the directory was
    replaced while it was read."""

    def load(p: str | Path, **kwargs: Any) -> Any:
        if model_kind(read_config(p)) == KIND:
            return load_vectors_model(p, mmap=mmap, verify=verify)
        return load_model(p, mmap=mmap, verify=verify, classifier=classifier)

    return load_model_consistent(path, loader=load)


def is_vectors(table: Any) -> bool:
    return isinstance(table, VectorsModel)


def _load_array(file: Path, mmap: bool) -> np.ndarray:
    try:
        array = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:  # includes "Object arrays cannot be loaded when allow_pickle=False"
        raise FormatError(f"{file} is damaged or not a plain array: {exc}") from None
    except Exception as exc:  # numpy's header parser raises many kinds on damaged bytes
        raise FormatError(f"{file} is damaged: {type(exc).__name__}: {exc}") from None
    if not isinstance(array, np.ndarray):  # an .npz archive under the .npy name
        array.close()
        raise FormatError(f"{file} is not a .npy array (found a .npz archive)")
    return array


def _check_shape(file: Path, array: np.ndarray, dtype: Any, shape: tuple[int, ...]) -> None:
    if array.dtype != dtype or array.shape != shape:
        raise FormatError(
            f"{file}: expected {np.dtype(dtype)} {shape}, found {array.dtype} {array.shape}"
        )


def _check_values(file: Path, table: np.ndarray, dim: int) -> None:
    """Finite, and small enough that a squared norm stays finite in float32; a block of rows at
    a time, so a memory-mapped table is never copied whole."""
    limit = min(MAX_ABS, float(np.sqrt(1e38 / max(dim, 1))))
    for start in range(0, table.shape[0], BLOCK_ROWS):
        block = np.asarray(table[start : start + BLOCK_ROWS])
        if not block.size:
            continue
        high, low = float(block.max()), float(block.min())  # NaN and +-Inf propagate
        if not (np.isfinite(high) and np.isfinite(low)):
            raise FormatError(f"{file} contains NaN or Inf values")
        if max(high, -low) > limit:
            raise FormatError(
                f"{file}: values too large (max |x| {max(high, -low):.3g} > {limit:.3g}): "
                "cosines and means would overflow float32"
            )


def load_vectors_consistent(path: str | Path, **kwargs: Any) -> VectorsModel:
    """``load_vectors_model``, read again if the directory was replaced while it was read."""
    return load_model_consistent(path, loader=load_vectors_model, **kwargs)


def describe_subwords(model: VectorsModel) -> str:
    """One line for ``info``: the n-gram lengths, buckets, hash and stored rows, or "off"."""
    if model.subwords is None:
        return "off (plain word2vec: unknown words have no vector)"
    s = model.subwords
    return (
        f"character {s.minn}-{s.maxn}-grams of <word>, {s.buckets:,} buckets "
        f"({model.config['model']['subwords'].get('hash')}), {len(model.subword_buckets):,} rows stored"
    )
