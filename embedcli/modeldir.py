"""The model directory: save it atomically, load it with every check, never execute anything.

Layout (``docs/DESIGN.md``): ``config.json`` (format name + version, model spec, training
settings, tokenizer, metrics, sha256 of every other file), ``embeddings.npy`` (float32
``rows x dim``: word rows then hashed n-gram rows), ``classifier.npz`` (``out_W``, ``out_b``,
optional ``hidden_W``/``hidden_b``/``thresholds``), ``vocab.tsv``, ``labels.tsv``.

Loading never imports numba (``lookup``, ``export`` and ``info`` use it): the spec stays a plain
dict until ``LoadedModel.spec`` is asked for. Arrays load with ``allow_pickle=False``; a newer
format version, a missing file, a wrong shape or dtype, a checksum mismatch or non-finite values
are a ``FormatError`` that says which file and what is wrong.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from embedcli import __version__
from embedcli.atomic import atomic_dir
from embedcli.errors import FormatError
from embedcli.vocab import Vocabulary

MODEL_FORMAT = "embedcli-model"
MODEL_VERSION = 1
ARRAY_KEYS = ("out_W", "out_b", "hidden_W", "hidden_b", "thresholds")


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_model(
    path: str | Path,
    *,
    spec: dict[str, Any],
    params: Any,
    vocab: Vocabulary,
    train_config: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the whole directory under a temporary name, then rename it into place."""
    path = Path(path)
    with atomic_dir(path) as tmp:
        np.save(tmp / "embeddings.npy", np.ascontiguousarray(params.embeddings, dtype=np.float32))
        arrays = {k: getattr(params, k, None) for k in ARRAY_KEYS}
        np.savez(
            tmp / "classifier.npz",
            **{k: np.asarray(v, np.float32) for k, v in arrays.items() if v is not None},
        )
        vocab.save(tmp / "vocab.tsv")
        with open(tmp / "labels.tsv", "w", encoding="utf-8") as f:
            for i, (label, count) in enumerate(zip(vocab.labels, vocab.label_counts)):
                f.write(f"{i}\t{label}\t{count}\n")
        files = {
            name: sha256_file(tmp / name)
            for name in ("embeddings.npy", "classifier.npz", "vocab.tsv", "labels.tsv")
        }
        config = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "model": spec,
            "train": train_config,
            "tokenizer": vocab.tokenizer_config.to_dict(),
            "labels": vocab.labels,
            "metrics": metrics or {},
            "files": files,
            "versions": _versions(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            **(extra or {}),
        }
        with open(tmp / "config.json", "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, ensure_ascii=False, default=_json_default)
            f.write("\n")
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
    def spec(self) -> Any:
        from embedcli.model import ModelSpec  # imports numba: only for commands that compute

        return ModelSpec.from_dict(self.spec_dict)

    @property
    def params(self) -> Any:
        from embedcli.model import ModelParams

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
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FormatError(f"{cfg_path} is damaged: {exc}") from None
    if not isinstance(config, dict) or config.get("format") != MODEL_FORMAT:
        raise FormatError(f"{cfg_path} is not an embedcli model config")
    version = config.get("version")
    if not isinstance(version, int):
        raise FormatError(f"{cfg_path}: missing or bad format version")
    if version > MODEL_VERSION:
        raise FormatError(
            f"{path}: model format version {version} is newer than this embedcli supports ({MODEL_VERSION}); upgrade embedcli"
        )
    for key in ("model", "files"):
        if not isinstance(config.get(key), dict):
            raise FormatError(f"{cfg_path}: missing '{key}' section")
    spec = config["model"]
    for key in ("num_words", "buckets", "dim", "num_classes"):
        if not isinstance(spec.get(key), int) or spec[key] < 0:
            raise FormatError(f"{cfg_path}: model.{key} must be a non-negative integer")
    return config


def load_model(
    path: str | Path, *, mmap: bool = False, verify: bool = True, classifier: bool = True
) -> LoadedModel:
    """Load and validate a model directory.

    ``mmap=True`` memory-maps the embedding table (fast start for ``lookup``); ``verify=False``
    skips the sha256 and finiteness checks of the large table (shapes and dtypes are always checked).
    """
    path = Path(path)
    config = read_config(path)
    files = config["files"]
    for name in ("embeddings.npy", "vocab.tsv") + (("classifier.npz",) if classifier else ()):
        if not (path / name).is_file():
            raise FormatError(f"{path}: {name} is missing")
        if verify or name != "embeddings.npy":
            expected = files.get(name)
            if expected and sha256_file(path / name) != expected:
                raise FormatError(
                    f"{path / name} is damaged: its sha256 does not match config.json"
                )
    vocab = Vocabulary.load(path / "vocab.tsv")
    spec = config["model"]
    rows = spec["num_words"] + (spec["buckets"] if spec.get("word_ngrams", 1) > 1 else 0)
    if len(vocab) != spec["num_words"]:
        raise FormatError(
            f"{path}: vocab.tsv has {len(vocab)} entries but the model has {spec['num_words']} word rows"
        )
    emb = _load_npy(path / "embeddings.npy", mmap)
    if emb.dtype != np.float32 or emb.ndim != 2 or emb.shape != (rows, spec["dim"]):
        raise FormatError(
            f"{path / 'embeddings.npy'}: expected float32 {(rows, spec['dim'])}, found {emb.dtype} {emb.shape}"
        )
    if verify and not np.isfinite(emb).all():
        raise FormatError(f"{path / 'embeddings.npy'} contains NaN or Inf values")
    arrays: dict[str, np.ndarray] = {}
    if classifier:
        arrays = _load_classifier(path / "classifier.npz", spec, len(vocab.labels))
    return LoadedModel(path=path, config=config, vocab=vocab, embeddings=emb, classifier=arrays)


def _load_npy(file: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(file, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as exc:  # includes "Object arrays cannot be loaded when allow_pickle=False"
        raise FormatError(f"{file} is damaged or not a plain array: {exc}") from None
    except (OSError, EOFError) as exc:
        raise FormatError(f"{file} is damaged: {exc}") from None


def _load_classifier(file: Path, spec: dict[str, Any], n_labels: int) -> dict[str, np.ndarray]:
    try:
        with np.load(file, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, KeyError) as exc:
        raise FormatError(f"{file} is damaged: {exc}") from None
    hidden = int(spec.get("hidden", 0))
    pooled = spec["dim"] * (spec.get("maxlen", 0) if spec.get("pool") == "flatten" else 1)
    out_in = hidden if hidden > 0 else pooled
    c = spec["num_classes"]
    expected: dict[str, tuple[int, ...]] = {"out_W": (out_in, c), "out_b": (c,)}
    if hidden > 0:
        expected.update(hidden_W=(pooled, hidden), hidden_b=(hidden,))
    if "thresholds" in arrays:
        expected["thresholds"] = (c,)
    for key, shape in expected.items():
        a = arrays.get(key)
        if a is None:
            raise FormatError(f"{file}: array '{key}' is missing")
        if a.dtype != np.float32 or a.shape != shape:
            raise FormatError(
                f"{file}: '{key}' should be float32 {shape}, found {a.dtype} {a.shape}"
            )
        if not np.isfinite(a).all():
            raise FormatError(f"{file}: '{key}' contains NaN or Inf values")
    labels_needed = 2 if spec.get("objective") == "binary" else c
    if n_labels != labels_needed:
        raise FormatError(
            f"{file}: the model has {labels_needed} labels but vocab.tsv lists {n_labels}"
        )
    return {k: np.ascontiguousarray(v) for k, v in arrays.items()}


def _versions() -> dict[str, str]:
    out = {"embedcli": __version__, "python": platform.python_version(), "numpy": np.__version__}
    try:
        import importlib.metadata as md

        out["numba"] = md.version("numba")
    except Exception:  # metadata missing in odd installs; not worth failing a save
        pass
    return out


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
