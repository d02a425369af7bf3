"""The model directory: save it atomically, load it with every check, never execute anything.

Layout (``docs/DESIGN.md``): ``config.json`` (format name + version, model spec, training
settings, tokenizer, metrics, sha256 of every other file), ``embeddings.npy`` (float32
``rows x dim``: word rows then hashed n-gram rows), ``classifier.npz`` (``out_W``, ``out_b``,
optional ``hidden_W``/``hidden_b``/``thresholds``), ``vocab.tsv``, ``labels.tsv``.

Loading never imports numba (``lookup``, ``export`` and ``info`` use it): the spec stays a plain
dict until ``LoadedModel.spec`` is asked for. Arrays load with ``allow_pickle=False``; a newer
format version, a missing file, a wrong shape or dtype, a checksum mismatch or non-finite values
are a ``FormatError`` that says which file and what is wrong.

A model directory is often downloaded from someone else, so loading treats it as hostile:

- every file the loader reads has its sha256 in ``config.json`` (a missing entry is an error, not
  a skipped check);
- ``labels.tsv`` must list exactly the labels (and counts) of ``vocab.tsv``, which are also those of
  ``config.json``; labels, the label prefix and the strings ``info`` shows may hold no control
  characters (no terminal escapes, no newline that would add a line to ``predict``'s output);
- ``classifier.npz`` is opened as a zip and its member names and declared sizes are checked
  against the model's geometry before a single member is inflated;
- weights must be small enough that the forward pass cannot overflow float32 (``_check_magnitudes``);
- the stored token pattern must run in linear time (``embedcli.text.check_token_pattern``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedcli import __version__
from embedcli.atomic import atomic_dir
from embedcli.errors import FormatError
from embedcli.spec import OBJECTIVES, POOLS, ModelParams, ModelSpec
from embedcli.text import control_character
from embedcli.vocab import Vocabulary

MODEL_FORMAT = "embedcli-model"
MODEL_VERSION = 1
#: the format version of a quantized model (``embedcli.quantize``); float models stay at 1
QUANTIZED_VERSION = 2
MAX_VERSION = QUANTIZED_VERSION
ARRAY_KEYS = ("out_W", "out_b", "hidden_W", "hidden_b", "thresholds")


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


PAGE = 4096


def save_npy_sha256(path: str | Path, array: np.ndarray, chunk: int = 1 << 23) -> str:
    """``np.save(path, array)`` for a C-contiguous array, returning ``sha256_file(path)``.

    Faster than saving and re-reading for a big, mostly-zero embedding table: the bytes are
    hashed from memory in a second thread while the file is written, and 4 KiB file pages that
    are all zero are skipped with a seek (a sparse file: the holes read back as zeros, so the
    file's content and hash are exactly those of ``np.save``).
    """
    import io
    import queue
    import threading

    array = np.ascontiguousarray(array)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    head = header.getvalue()
    h = hashlib.sha256(head)
    q: queue.Queue = queue.Queue(maxsize=4)

    def hash_blocks() -> None:
        while (block := q.get()) is not None:
            h.update(block)

    worker = threading.Thread(target=hash_blocks, daemon=True)
    worker.start()
    body = memoryview(array.reshape(-1).view(np.uint8)) if array.size else memoryview(b"")
    n = len(body)
    try:
        with open(path, "wb") as f:
            f.write(head)
            base = len(head)
            for o in range(0, n, chunk):
                block = body[o : o + chunk]
                q.put(block)
                _write_sparse(f, block, base + o)
            f.truncate(base + n)
    finally:
        q.put(None)
        worker.join()
    return h.hexdigest()


def _write_sparse(f: Any, block: memoryview, file_offset: int) -> None:
    """Write ``block`` at the file's current position (= ``file_offset``), seeking over the
    page-aligned 4 KiB pages that are all zero."""
    first = min(len(block), -file_offset % PAGE)
    npages = (len(block) - first) // PAGE
    if npages < 2:
        f.write(block)
        return
    f.write(block[:first])
    arr = np.frombuffer(block, dtype=np.uint8, count=npages * PAGE, offset=first)
    nonzero = arr.view(np.uint64).reshape(npages, PAGE // 8).any(axis=1)
    edges = np.flatnonzero(nonzero[1:] != nonzero[:-1]) + 1
    starts = [0, *edges.tolist()]
    ends = [*edges.tolist(), npages]
    for s, e in zip(starts, ends):
        if nonzero[s]:
            f.write(block[first + s * PAGE : first + e * PAGE])
        else:
            f.seek((e - s) * PAGE, 1)
    f.write(block[first + npages * PAGE :])


def save_model(
    path: str | Path,
    *,
    spec: dict[str, Any],
    params: Any,
    vocab: Vocabulary,
    train_config: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
) -> Path:
    """Write the whole directory under a temporary name, then rename it into place.

    ``timings`` (if given) receives the wall seconds of the stages (embeddings, other files,
    hashing, rename).
    """
    path = Path(path)
    timings = {} if timings is None else timings
    t_stage = time.perf_counter()
    with atomic_dir(path) as tmp:
        emb_digest = save_npy_sha256(
            tmp / "embeddings.npy", np.ascontiguousarray(params.embeddings, dtype=np.float32)
        )
        timings["embeddings"] = time.perf_counter() - t_stage
        t_stage = time.perf_counter()
        arrays = {k: getattr(params, k, None) for k in ARRAY_KEYS}
        np.savez(
            tmp / "classifier.npz",
            **{k: np.asarray(v, np.float32) for k, v in arrays.items() if v is not None},
        )
        vocab.save(tmp / "vocab.tsv")
        with open(tmp / "labels.tsv", "w", encoding="utf-8") as f:
            for i, (label, count) in enumerate(zip(vocab.labels, vocab.label_counts)):
                f.write(f"{i}\t{label}\t{count}\n")
        timings["other_files"] = time.perf_counter() - t_stage
        t_stage = time.perf_counter()
        files = {"embeddings.npy": emb_digest}
        files.update(
            {
                name: sha256_file(tmp / name)
                for name in ("classifier.npz", "vocab.tsv", "labels.tsv")
            }
        )
        timings["hash"] = time.perf_counter() - t_stage
        config = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "model": spec,
            "train": train_config,
            "tokenizer": vocab.tokenizer_config.to_dict(),
            "labels": vocab.labels,
            "metrics": metrics or {},
            "files": files,
            "versions": library_versions(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **(extra or {}),
        }
        with open(tmp / "config.json", "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, ensure_ascii=False, default=json_default)
            f.write("\n")
        t_stage = time.perf_counter()
    timings["rename"] = time.perf_counter() - t_stage
    return path


@dataclass
class LoadedModel:
    """A validated model directory. ``spec``/``params`` import the engine lazily."""

    path: Path
    config: dict[str, Any]
    vocab: Vocabulary
    embeddings: np.ndarray
    classifier: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def spec_dict(self) -> dict[str, Any]:
        return self.config["model"]

    @property
    def labels(self) -> list[str]:
        return self.vocab.labels

    @property
    def num_words(self) -> int:
        return int(self.spec_dict["num_words"])

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.from_dict(self.spec_dict)

    @property
    def params(self) -> ModelParams:
        return ModelParams(
            embeddings=self.embeddings,
            out_W=self.classifier["out_W"],
            out_b=self.classifier["out_b"],
            hidden_W=self.classifier.get("hidden_W"),
            hidden_b=self.classifier.get("hidden_b"),
            thresholds=self.classifier.get("thresholds"),
        )


def read_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FormatError(f"model directory not found: {path}")
    if not path.is_dir():
        raise FormatError(
            f"{path} is not a model directory (expected a directory written by 'embedcli train')"
        )
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise FormatError(f"{path} is not an embedcli model: config.json is missing")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, nesting
        raise FormatError(f"{cfg_path} is damaged: {type(exc).__name__}: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise FormatError(f"{cfg_path} is not an embedcli model config")
    version = config.get("version")
    if not isinstance(version, int):
        raise FormatError(f"{cfg_path}: missing or bad format version")
    if version > MAX_VERSION:
        raise FormatError(
            f"{path}: model format version {version} is newer than this embedcli supports ({MAX_VERSION}); upgrade embedcli"
        )
    kind = config.get("kind", "classifier")
    if kind not in MODEL_KINDS:
        raise FormatError(
            f"{path}: unknown model kind {kind!r} (this embedcli reads "
            f"{' and '.join(MODEL_KINDS)} models); upgrade embedcli"
        )
    for key in ("model", "files"):
        if not isinstance(config.get(key), dict):
            raise FormatError(f"{cfg_path}: missing '{key}' section")
    if not isinstance(config.get("train", {}), dict):
        raise FormatError(f"{cfg_path}: 'train' must be an object")
    if kind == "vectors":
        check_vectors_spec(config["model"], cfg_path)
    else:
        check_spec(config["model"], cfg_path)
    if version >= QUANTIZED_VERSION or "quantized" in config:
        _check_quantized(config, version, kind, cfg_path)
    for name, digest in config["files"].items():
        if (
            not isinstance(name, str)
            or name in ("", ".", "..")
            or any(c in name for c in "/\\\0")
            or not isinstance(digest, str)
        ):
            raise FormatError(f"{cfg_path}: bad entry in 'files': {name!r}: {digest!r}")
    for name in required_files(config):
        digest = config["files"].get(name)
        if digest is None:
            raise FormatError(
                f"{cfg_path}: no sha256 for {name} in 'files' (every file of a model must be listed)"
            )
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise FormatError(f"{cfg_path}: bad sha256 for {name} in 'files': {digest!r}")
    _check_config_text(config, cfg_path)
    return config


#: the files a model directory holds besides config.json (each with its sha256 in config.json)
MODEL_FILES = ("embeddings.npy", "classifier.npz", "vocab.tsv", "labels.tsv")
#: the files of a quantized classifier (``embedcli.quantize``)
QUANTIZED_FILES = ("quantized.npz", "classifier.npz", "vocab.tsv", "labels.tsv")
#: config.json "kind": a classifier (``embedcli train``; no key in models written before) or word
#: vectors (``embedcli pretrain``: no classifier, see ``embedcli.vectors_model``)
MODEL_KINDS = ("classifier", "vectors")
#: the files of a "vectors" model; the subword files only when its subwords are on
VECTORS_FILES = ("embeddings.npy", "vocab.tsv")
SUBWORD_FILES = ("subword_buckets.npy", "subword_rows.npy")
#: the methods and the subword hash a "vectors" model may record
VECTOR_METHODS = ("skipgram", "cbow")
SUBWORD_HASHES = ("fasttext-fnv1a",)


def _check_quantized(config: dict[str, Any], version: int, kind: str, cfg_path: Path) -> None:
    """A quantized model (``embedcli quantize``) is a classifier of format version 2 with a
    valid "quantized" section; a float model has neither."""
    from embedcli.quantize import check_section

    if version < QUANTIZED_VERSION or kind != "classifier":
        raise FormatError(
            f"{cfg_path}: a 'quantized' section belongs to a version {QUANTIZED_VERSION} classifier"
        )
    check_section(config.get("quantized"), config["model"], cfg_path)


def vocab_file(config: dict[str, Any]) -> str:
    """``vocab.tsv``, or ``vocab.tsv.gz`` for a quantized model that lists it."""
    files = config.get("files")
    gz = "quantized" in config and isinstance(files, dict) and "vocab.tsv.gz" in files
    return "vocab.tsv.gz" if gz else "vocab.tsv"


def is_quantized(config: dict[str, Any]) -> bool:
    """Whether a config read by ``read_config`` is that of a quantized model."""
    return "quantized" in config


def model_kind(config: dict[str, Any]) -> str:
    """``"classifier"`` or ``"vectors"`` (a config read by ``read_config``)."""
    return str(config.get("kind", "classifier"))


def required_files(config: dict[str, Any]) -> tuple[str, ...]:
    """The files besides config.json a model of this config must have (with their sha256)."""
    if "quantized" in config:
        return QUANTIZED_FILES[:2] + (vocab_file(config), "labels.tsv")
    if model_kind(config) != "vectors":
        return MODEL_FILES
    subwords = config["model"].get("subwords") if isinstance(config.get("model"), dict) else None
    return VECTORS_FILES + (SUBWORD_FILES if subwords else ())


def not_a_classifier(path: str | Path, command: str) -> str:
    """The one line a command that needs a classifier says about a word-vector model."""
    return (
        f"{path} is a word-vector model (embedcli pretrain); {command} needs a classifier "
        "from embedcli train"
    )


def peek_kind(path: str | Path) -> str | None:
    """The "kind" of the embedcli model in directory ``path`` from its config.json alone (no
    other check), or None when there is no readable embedcli model config there."""
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        return None
    kind = config.get("kind", "classifier")
    return kind if isinstance(kind, str) else None


def check_vectors_spec(spec: dict[str, Any], cfg_path: Path) -> None:
    """The "model" section of a word-vector model: types and ranges of every field, the subword
    scheme one this embedcli computes (``FormatError`` naming ``cfg_path``)."""

    def integer(key: str, low: int, value: Any = None, where: str = "model") -> int:
        value = spec.get(key) if value is None else value
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise FormatError(
                f"{cfg_path}: {where}.{key} must be an integer >= {low}, not {value!r}"
            )
        return value

    integer("dim", 1)
    for key in ("window", "negative", "epochs"):
        integer(key, 0)
    for key in ("sample", "lr"):
        value = spec.get(key)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not 0 <= value < float("inf")
        ):
            raise FormatError(f"{cfg_path}: model.{key} must be a number >= 0, not {value!r}")
    if spec.get("method") not in VECTOR_METHODS:
        raise FormatError(
            f"{cfg_path}: model.method must be one of {', '.join(VECTOR_METHODS)}, "
            f"not {spec.get('method')!r}"
        )
    sub = spec.get("subwords")
    if sub is None:
        return
    if not isinstance(sub, dict):
        raise FormatError(f"{cfg_path}: model.subwords must be an object or null")
    minn = integer("minn", 1, sub.get("minn"), "model.subwords")
    integer("maxn", minn, sub.get("maxn"), "model.subwords")
    buckets = integer("buckets", 1, sub.get("buckets"), "model.subwords")
    if buckets > 2**31 - 1:
        raise FormatError(f"{cfg_path}: model.subwords.buckets must be < 2^31, not {buckets}")
    if sub.get("hash") not in SUBWORD_HASHES:
        raise FormatError(
            f"{cfg_path}: model.subwords.hash {sub.get('hash')!r} is not a scheme this embedcli "
            f"computes ({', '.join(SUBWORD_HASHES)}); upgrade embedcli"
        )


def _check_config_text(config: dict[str, Any], cfg_path: Path) -> None:
    """No control characters in the strings of config.json that commands print (labels, label
    prefix, training settings, metrics, versions, date, tokenizer). The tokenizer's punctuation
    may hold whitespace controls (Keras' filters include tab and newline)."""

    def walk(value: Any, where: str, allowed: str = "") -> None:
        if isinstance(value, str):
            c = control_character(value.translate({ord(a): None for a in allowed}))
            if c is not None:
                raise FormatError(
                    f"{cfg_path}: {where} contains the control character {c!r}: refused "
                    "(a model's strings are printed to terminals)"
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key, where)
                walk(item, f"{where}.{key}", allowed)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]", allowed)

    for section in ("train", "corpus", "metrics", "versions", "created", "labels"):
        walk(config.get(section), section)
    tokenizer = config.get("tokenizer")
    if isinstance(tokenizer, dict):
        for key, value in tokenizer.items():
            walk(key, "tokenizer")
            walk(value, f"tokenizer.{key}", "\t\n\r\x0b\x0c" if key == "punctuation" else "")
    else:
        walk(tokenizer, "tokenizer")


#: allowed values of the spec fields: (minimum, or the set of names)
_SPEC_INTS = {
    "num_words": 1,
    "buckets": 0,
    "dim": 1,
    "num_classes": 1,
    "hidden": 0,
    "word_ngrams": 1,
    "maxlen": 0,
}
_SPEC_NAMES = {
    "pool": tuple(POOLS),
    "objective": tuple(OBJECTIVES),
    # "" (no key: models written before 2026-12) hashes word ids; see embedcli.ftcompat
    "ngram_hash": ("", "fasttext-2017"),
}
_SPEC_DEFAULTS = {
    "ngram_hash": "",
    "hidden": 0,
    "word_ngrams": 1,
    "maxlen": 0,
    "pool": "mean",
    "objective": "softmax",
}


def check_spec(spec: dict[str, Any], cfg_path: Path) -> ModelSpec:
    """The ``ModelSpec`` of a stored spec: every field has the right type and range and the
    combination is valid (``FormatError`` naming ``cfg_path``; a damaged file never reaches
    numba)."""
    for key, low in _SPEC_INTS.items():
        value = spec.get(key, _SPEC_DEFAULTS.get(key))
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise FormatError(f"{cfg_path}: model.{key} must be an integer >= {low}, not {value!r}")
    for key, names in _SPEC_NAMES.items():
        value = spec.get(key, _SPEC_DEFAULTS[key])
        if value not in names:
            raise FormatError(
                f"{cfg_path}: model.{key} must be one of {', '.join(names)}, not {value!r}"
            )
    sub = spec.get("subwords")
    if sub is not None:
        keys = {"minn": 1, "maxn": 1, "buckets": 1}
        if not isinstance(sub, dict) or sub.get("hash") != "fasttext-fnv1a":
            raise FormatError(f"{cfg_path}: model.subwords must be hashed with fasttext-fnv1a")
        for key, low in keys.items():
            value = sub.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise FormatError(
                    f"{cfg_path}: model.subwords.{key} must be an integer >= {low}, not {value!r}"
                )
    try:
        return ModelSpec.from_dict(spec)
    except FormatError as exc:
        raise FormatError(f"{cfg_path}: {exc}") from None


def load_model(
    path: str | Path,
    *,
    mmap: bool = False,
    verify: bool = True,
    classifier: bool = True,
    command: str = "this command",
) -> LoadedModel:
    """Load and validate a classifier model directory (a word-vector model is refused in one
    line naming ``command``; ``embedcli.vectors_model`` loads those).

    ``mmap=True`` memory-maps the embedding table (fast start for ``lookup``); ``verify=False``
    skips the sha256 and finiteness checks of the large table (shapes and dtypes are always checked).
    """
    path = Path(path)
    config = read_config(path)
    if model_kind(config) != "classifier":
        raise FormatError(not_a_classifier(path, command))
    files = config["files"]
    quantized = is_quantized(config)
    table_file = "quantized.npz" if quantized else "embeddings.npy"
    names = (table_file, vocab_file(config), "labels.tsv")
    for name in names + (("classifier.npz",) if classifier else ()):
        if not (path / name).is_file():
            raise FormatError(f"{path}: {name} is missing")
        if verify or name != "embeddings.npy":
            if sha256_file(path / name) != files[name]:  # read_config: every entry is there
                raise FormatError(
                    f"{path / name} is damaged: its sha256 does not match config.json"
                )
    if vocab_file(config) == "vocab.tsv":
        vocab = Vocabulary.load(path / "vocab.tsv")
    else:
        vocab = Vocabulary.load(path / "vocab.tsv.gz", config["quantized"]["vocab_bytes"])
    _check_labels(path, config, vocab)
    spec = config["model"]
    geometry = ModelSpec.from_dict(spec)
    rows = geometry.num_rows
    if len(vocab) != spec["num_words"]:
        raise FormatError(
            f"{path}: vocab.tsv has {len(vocab)} entries but the model has {spec['num_words']} word rows"
        )
    if quantized:
        return _load_quantized(path, config, vocab, geometry, classifier, verify)
    emb = _load_npy(path / "embeddings.npy", mmap)
    if emb.dtype != np.float32 or emb.ndim != 2 or emb.shape != (rows, spec["dim"]):
        raise FormatError(
            f"{path / 'embeddings.npy'}: expected float32 {(rows, spec['dim'])}, found {emb.dtype} {emb.shape}"
        )
    emb_absmax = None
    if verify:
        finite, emb_absmax = _table_stats(emb)
        if not finite:
            raise FormatError(f"{path / 'embeddings.npy'} contains NaN or Inf values")
    labels_needed = geometry.num_labels
    if len(vocab.labels) != labels_needed:
        raise FormatError(
            f"{path}: the model has {labels_needed} labels but vocab.tsv lists {len(vocab.labels)}"
        )
    arrays: dict[str, np.ndarray] = {}
    if classifier:
        arrays = _load_classifier(path / "classifier.npz", geometry)
    if emb_absmax is not None:
        _check_magnitudes(path, spec, emb_absmax, arrays)
    return LoadedModel(path=path, config=config, vocab=vocab, embeddings=emb, classifier=arrays)


def _load_quantized(
    path: Path,
    config: dict[str, Any],
    vocab: Vocabulary,
    geometry: ModelSpec,
    classifier: bool,
    verify: bool,
) -> LoadedModel:
    """The rest of :func:`load_model` for a quantized model: its table is a
    ``quantize.QuantizedTable`` (decoded row by row, never whole); with ``qout`` the output
    layer is decoded from its codes."""
    from embedcli.quantize import QuantizedTable, load_arrays

    section = config["quantized"]
    if len(vocab.labels) != geometry.num_labels:
        raise FormatError(
            f"{path}: the model has {geometry.num_labels} labels but vocab.tsv lists {len(vocab.labels)}"
        )
    buckets = geometry.num_rows - geometry.num_words
    out_shape = (geometry.num_classes, geometry.out_in)
    pq, kept, out_pq = load_arrays(
        path / "quantized.npz", section, geometry.num_words, buckets, geometry.dim, out_shape
    )
    table = QuantizedTable(pq, geometry.num_words, geometry.num_rows, geometry.dim, kept)
    arrays: dict[str, np.ndarray] = {}
    if classifier:
        arrays = _load_classifier(
            path / "classifier.npz", geometry, without=("out_W",) if out_pq else ()
        )
        if out_pq is not None:
            out_W = out_pq.decode(np.arange(geometry.num_classes), geometry.out_in)
            arrays["out_W"] = np.ascontiguousarray(out_W.T)
    if verify:
        _check_magnitudes(path, config["model"], table.absmax(), arrays)
    return LoadedModel(path=path, config=config, vocab=vocab, embeddings=table, classifier=arrays)


def load_model_consistent(path: str | Path, *, loader: Any = None, **kwargs: Any) -> Any:
    """``load_model`` (or ``loader``), read again when the directory was replaced while it was read.

    A concurrent ``embedcli train`` swaps a new model in under the same name: a reader that
    read ``config.json`` from the old directory and ``embeddings.npy`` from the new one would
    report damage that is not there. The directory's inode is compared before and after the read.
    """
    for attempt in range(5):
        before = _dir_identity(path)
        try:
            loaded = (loader or load_model)(path, **kwargs)
        except FormatError:
            if attempt == 4 or not _replaced(path, before):
                raise
        else:
            if not _replaced(path, before):
                return loaded
        time.sleep(0.05 * (attempt + 1))
    return (loader or load_model)(path, **kwargs)


def _dir_identity(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _replaced(path: str | Path, before: tuple[int, int] | None) -> bool:
    """The directory at ``path`` changed since ``before``, or is missing mid-swap."""
    now = _dir_identity(path)
    if now != before:
        return True
    if now is None:  # a two-rename swap in progress leaves .NAME.old-PID beside it
        p = Path(path)
        with contextlib.suppress(OSError):
            return any(n.startswith(f".{p.name}.old-") for n in os.listdir(p.parent or "."))
    return False


def _check_labels(path: Path, config: dict[str, Any], vocab: Vocabulary) -> None:
    """labels.tsv and config.json list exactly the labels of vocab.tsv (the ones predict prints),
    in the same order, and config.json shows the tokenizer vocab.tsv holds (the one used); a
    truncated or edited copy is an error, not a silent disagreement."""
    if config.get("tokenizer") != vocab.tokenizer_config.to_dict():
        raise FormatError(
            f"{path / 'config.json'}: 'tokenizer' differs from the tokenizer of vocab.tsv "
            "(the one used)"
        )
    if config.get("labels") != vocab.labels:
        raise FormatError(
            f"{path / 'config.json'}: 'labels' differs from the labels of vocab.tsv "
            f"({len(vocab.labels)} labels)"
        )
    file = path / "labels.tsv"
    expected = "".join(
        f"{i}\t{label}\t{count}\n"
        for i, (label, count) in enumerate(zip(vocab.labels, vocab.label_counts))
    )
    try:
        with open(file, "rb") as f:  # never more than the expected text (and one byte)
            text = f.read(len(expected.encode("utf-8")) + 1).decode("utf-8", "replace")
    except OSError as exc:
        raise FormatError(f"{file} cannot be read: {exc.strerror}") from None
    if text != expected:
        lines = text.split("\n")
        n = len(vocab.labels)
        for i, (got, want) in enumerate(zip(lines, expected.split("\n"))):
            if got != want:
                what = f"label {i} of vocab.tsv" if i < n else f"vocab.tsv has {n} labels"
                raise FormatError(f"{file}:{i + 1}: expected {want!r} ({what}), found {got!r}")
        raise FormatError(
            f"{file}: lists {max(0, len(lines) - 1)} labels, vocab.tsv {len(vocab.labels)}"
        )


def _table_stats(emb: np.ndarray, rows: int = 1 << 16) -> tuple[bool, float]:
    """(all finite, largest absolute value) of a 2-D table, a block of rows at a time so a
    memory-mapped table is never copied whole."""
    absmax = 0.0
    for start in range(0, emb.shape[0], rows):
        block = np.asarray(emb[start : start + rows])
        if not block.size:
            continue
        high, low = float(block.max()), float(block.min())  # NaN and +-Inf propagate
        if not (np.isfinite(high) and np.isfinite(low)):
            return False, float("inf")
        absmax = max(absmax, high, -low)
    return True, absmax


#: documents are assumed to pool at most this many rows (tokens + n-grams) for the bound below
MAX_DOC_ROWS = 1 << 32
#: the largest logit the bound admits: float32 overflows at 3.4e38; 1e30 leaves room for rounding
MAX_LOGIT = 1e30


def _check_magnitudes(
    path: Path, spec: dict[str, Any], emb_absmax: float, arrays: dict[str, np.ndarray]
) -> None:
    """Refuse weights so large that the forward pass could overflow float32 to inf/NaN (which
    gives empty predictions), with a bound that holds for every input.

    Let E = max|embeddings|, R = rows pooled (``MAX_DOC_ROWS`` x word_ngrams for sum and mean,
    whose kernel sums before dividing; 1 for max and flatten). Then |pooled| <= R E; with a hidden
    layer |h| <= pooled_dim |pooled| max|hidden_W| + max|hidden_b|; and |logit| <= in |h|
    max|out_W| + max|out_b|. Each bound must stay under ``MAX_LOGIT`` (1e30). Trained models sit
    at E ~ 1-10 and pass by more than 15 orders of magnitude.
    """

    def absmax(key: str) -> float:
        a = arrays.get(key)
        return float(np.abs(a).max()) if a is not None and a.size else 0.0

    pool = spec.get("pool", "mean")
    rows = MAX_DOC_ROWS * int(spec.get("word_ngrams", 1)) if pool in ("mean", "sum") else 1
    pooled_dim = ModelSpec.from_dict(spec).pooled_dim
    bound = rows * emb_absmax
    stage = "pooled embeddings"
    if arrays and bound <= MAX_LOGIT:
        hidden = int(spec.get("hidden", 0))
        if hidden > 0:
            bound = pooled_dim * bound * absmax("hidden_W") + absmax("hidden_b")
            stage = "hidden layer"
        if bound <= MAX_LOGIT:
            bound = (hidden or pooled_dim) * bound * absmax("out_W") + absmax("out_b")
            stage = "logits"
    if not bound <= MAX_LOGIT:  # also catches an overflow of the bound itself
        raise FormatError(
            f"{path}: weights too large (max |embedding| {emb_absmax:.3g}, max |out_W| "
            f"{absmax('out_W'):.3g}): the {stage} could overflow float32 (bound {bound:.3g} > "
            f"{MAX_LOGIT:.0e})"
        )


def _load_npy(file: Path, mmap: bool) -> np.ndarray:
    try:
        array = np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:  # includes "Object arrays cannot be loaded when allow_pickle=False"
        raise FormatError(f"{file} is damaged or not a plain array: {exc}") from None
    except Exception as exc:  # numpy's header parser can raise almost anything on damaged bytes
        raise FormatError(f"{file} is damaged: {type(exc).__name__}: {exc}") from None
    if not isinstance(array, np.ndarray):  # an .npz archive under the .npy name
        array.close()
        raise FormatError(f"{file} is not a .npy array (found a .npz archive)")
    return array


#: the largest .npy header accepted in classifier.npz (numpy's own limit is 10000 bytes)
NPY_HEADER_MAX = 10_000 + 16


def _load_classifier(
    file: Path, spec: ModelSpec, without: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """The dense layers, read member by member from the zip after checking its directory: the
    member names must be the arrays of this geometry and each declared size must fit a float32
    array of the expected shape, so a hostile archive (an extra member, a 2 GiB bomb, a header
    announcing a huge shape) is refused before anything is inflated."""
    expected = {k: v for k, v in spec.classifier_shapes().items() if k not in without}
    optional = {"thresholds": (spec.num_classes,)}
    arrays: dict[str, np.ndarray] = {}
    try:
        if not zipfile.is_zipfile(file):
            raise FormatError(f"{file} is not a .npz archive")
        with zipfile.ZipFile(file) as zf:
            limits = {
                key: NPY_HEADER_MAX + 4 * int(np.prod(shape))
                for key, shape in {**expected, **optional}.items()
            }
            infos = zip_directory(zf, file, limits, "for this model")
            shapes = {key: (info, {**expected, **optional}[key]) for key, info in infos.items()}
            for key in expected:
                if key not in shapes:
                    raise FormatError(f"{file}: array '{key}' is missing")
            for key, (info, shape) in shapes.items():
                arrays[key] = _read_member(zf, info, shape, file, key)
    except FormatError:
        raise
    except Exception as exc:  # zip and .npy header parsers raise many kinds on damaged bytes
        raise FormatError(f"{file} is damaged: {type(exc).__name__}: {exc}") from None
    for key, a in arrays.items():
        if not np.isfinite(a).all():
            raise FormatError(f"{file}: '{key}' contains NaN or Inf values")
    return arrays


def zip_directory(
    zf: zipfile.ZipFile, file: Path, limits: dict[str, int], context: str
) -> dict[str, zipfile.ZipInfo]:
    """The members of an .npz archive by array name, checked from the zip directory alone
    (nothing inflated): each must be ``NAME.npy`` with NAME in ``limits``, stored once, declaring
    at most ``limits[NAME]`` bytes. Reading a member later stops at its declared size, so these
    limits bound the memory and time of loading the archive."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else ""
        if key not in limits:
            raise FormatError(f"{file}: unexpected member {info.filename!r} {context}")
        if key in members:
            raise FormatError(f"{file}: member {info.filename!r} is stored twice")
        if info.file_size > limits[key]:
            raise FormatError(
                f"{file}: member {info.filename!r} declares {info.file_size:,} bytes, more than "
                f"its array can take ({limits[key]:,} at most)"
            )
        members[key] = info
    return members


def _read_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple[int, ...], file: Path, key: str
) -> np.ndarray:
    """One float32 array from an .npy member whose header must announce exactly ``shape``
    (read with numpy's header parser; never unpickled)."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            head = np.lib.format.read_array_header_1_0(f, max_header_size=NPY_HEADER_MAX)
        elif version == (2, 0):
            head = np.lib.format.read_array_header_2_0(f, max_header_size=NPY_HEADER_MAX)
        else:
            raise FormatError(f"{file}: '{key}' has an unsupported .npy version {version}")
        got_shape, fortran, dtype = head
        if dtype != np.float32 or tuple(got_shape) != shape:
            raise FormatError(
                f"{file}: '{key}' should be float32 {shape}, found {dtype} {got_shape}"
            )
        nbytes = 4 * int(np.prod(shape))
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):
            raise FormatError(f"{file}: '{key}' holds {len(data)} data bytes, expected {nbytes}")
    a = np.frombuffer(data, dtype=np.float32).reshape(shape, order="F" if fortran else "C")
    return np.ascontiguousarray(a)


POOL_LAYERS = {
    "mean": "GlobalAveragePooling1D",
    "sum": "GlobalSumPooling1D",
    "max": "GlobalMaxPooling1D",
    "flatten": "Flatten",
}


def layer_summary(spec: dict) -> list[dict]:
    """Keras-style layer rows (name, type, output shape, parameter count) from the spec dict."""
    geometry = ModelSpec.from_dict(spec)
    dim, pool = geometry.dim, geometry.pool
    hidden, classes = geometry.hidden, geometry.num_classes
    maxlen = geometry.maxlen if pool == "flatten" else None
    rows = geometry.num_rows
    pooled = geometry.pooled_dim
    layers = [
        {
            "name": "embedding",
            "type": "Embedding",
            "output_shape": [None, maxlen, dim],
            "params": rows * dim,
        },
        {
            "name": "pooling",
            "type": POOL_LAYERS.get(pool, pool),
            "output_shape": [None, pooled],
            "params": 0,
        },
    ]
    if hidden > 0:
        layers.append(
            {
                "name": "hidden",
                "type": "Dense (relu)",
                "output_shape": [None, hidden],
                "params": pooled * hidden + hidden,
            }
        )
    act = "softmax" if geometry.objective == "softmax" else "sigmoid"
    out_in = geometry.out_in
    layers.append(
        {
            "name": "output",
            "type": f"Dense ({act})",
            "output_shape": [None, classes],
            "params": out_in * classes + classes,
        }
    )
    return layers


def file_report(path: str, config: dict) -> list[dict]:
    """Size, sha256 and status (ok / missing / MISMATCH) of every file of a model directory."""
    root = Path(path)
    expected = config.get("files", {})
    report = []
    for name in ["config.json", *sorted(expected)]:
        f = root / name
        entry: dict[str, Any] = {"file": name, "bytes": f.stat().st_size if f.is_file() else None}
        if name == "config.json":
            entry["status"] = "ok"
        elif entry["bytes"] is None:
            entry["status"] = "missing"
        else:
            entry["sha256"] = sha256_file(f)
            entry["status"] = "ok" if entry["sha256"] == expected[name] else "MISMATCH"
        report.append(entry)
    return report


def library_versions() -> dict[str, str]:
    out = {"embedcli": __version__, "python": platform.python_version(), "numpy": np.__version__}
    try:
        import importlib.metadata as md

        out["numba"] = md.version("numba")
    except Exception:  # metadata missing in odd installs; not worth failing a save
        pass
    return out


def json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
