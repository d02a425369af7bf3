"""Training checkpoints: the state a run needs to continue exactly where it was, its snapshot
from the live arrays, its checked restore, and the checkpoint directory on disk.

A checkpoint directory holds ``checkpoint.json`` (format, version, counters, RNG state, history,
model spec, training config, the run's plan, sha256 of the other files), ``state.npz``
(parameters and optimizer state, ``np.savez``: no pickle) and ``vocab.tsv``. Loading checks it
as hostile input (``FormatError``: a damaged checkpoint exits 1). Numba-free: ``fit`` builds and
consumes :class:`TrainState`, ``pipeline`` saves and loads it.
"""

from __future__ import annotations

import datetime as _dt
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.atomic import atomic_dir
from embedcli.errors import FormatError
from embedcli.modeldir import (
    NPY_HEADER_MAX,
    check_spec,
    json_default,
    library_versions,
    peek_kind,
    sha256_file,
    zip_directory,
)
from embedcli.spec import ModelSpec, TrainConfig
from embedcli.vocab import Vocabulary

CHECKPOINT_FORMAT = "embedcli-checkpoint"
CHECKPOINT_VERSION = 1

#: arrays of a :class:`TrainState` (optimizer ones are size-1 dummies when unused)
STATE_ARRAYS = ("emb", "dense", "emb_S", "emb_M", "emb_V", "emb_T", "dense_S1", "dense_S2")
#: the parameter arrays among them (float32), plus the best epoch's copies with early stopping
PARAM_ARRAYS = ("emb", "dense", "best_emb", "best_dense")


@dataclass
class TrainState:
    """Everything ``fit`` needs to continue after epoch ``epoch`` exactly where it was.

    ``arrays``: the parameters (``emb``, ``dense`` in the kernels' flat layout), the optimizer
    state (see ``STATE_ARRAYS``) and, with early stopping, ``best_emb``/``best_dense``.
    ``rng_state`` is the shuffling generator's ``bit_generator.state`` (a JSON-able dict);
    ``step``/``done_tokens`` are the mini-batch and the learning-rate progress counters.
    ``n_docs``/``n_tokens`` describe the training corpus, which must be the same on resume.
    """

    spec: ModelSpec
    config: TrainConfig
    epoch: int
    step: int
    done_tokens: float
    train_seconds: float
    rng_state: dict[str, Any]
    history: list[dict[str, Any]]
    best: dict[str, Any]
    n_docs: int
    n_tokens: int
    arrays: dict[str, np.ndarray]

    def restored(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """``arrays[name]`` checked against the shape the resuming run allocates (float32 for
        the parameters; optimizer arrays are copied into the run's arrays, which fixes their
        dtype). ``FormatError`` when it is missing or of another shape."""
        array = self.arrays.get(name)
        if array is None or tuple(array.shape) != tuple(shape):
            found = None if array is None else tuple(array.shape)
            raise FormatError(
                f"checkpoint array {name!r} should have shape {tuple(shape)}, not {found}"
            )
        if name in PARAM_ARRAYS:
            return np.require(array, dtype=np.float32, requirements=["C", "W"])
        return array


@dataclass
class Checkpoint:
    """A loaded checkpoint directory: the training state, its vocabulary file and the run's
    plan (corpus options, validation settings) as saved by ``embedcli train``."""

    path: Path
    state: TrainState
    vocab_path: Path
    plan: dict[str, Any]


def save_checkpoint(
    path: str | Path, state: TrainState, vocab: Vocabulary, plan: dict[str, Any] | None = None
) -> Path:
    """Write ``state`` atomically as a checkpoint directory (see the module docstring)."""
    path = Path(path)
    with atomic_dir(path) as tmp:
        np.savez(tmp / "state.npz", **state.arrays)
        vocab.save(tmp / "vocab.tsv")
        best = dict(state.best)
        if not np.isfinite(best.get("score", 0.0)):
            best["score"] = None
        meta = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "epoch": state.epoch,
            "step": state.step,
            "done_tokens": state.done_tokens,
            "train_seconds": state.train_seconds,
            "rng_state": state.rng_state,
            "history": state.history,
            "best": best,
            "n_docs": state.n_docs,
            "n_tokens": state.n_tokens,
            "model": state.spec.to_dict(),
            "train": state.config.to_dict(),
            "plan": plan or {},
            "files": {name: sha256_file(tmp / name) for name in ("state.npz", "vocab.tsv")},
            "versions": library_versions(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        with open(tmp / "checkpoint.json", "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1, ensure_ascii=False, default=json_default)
            f.write("\n")
    return path


def _read_meta(path: Path) -> dict[str, Any]:
    """``checkpoint.json`` checked for format, version and the sha256 of the other files."""
    meta_path = path / "checkpoint.json"
    if not meta_path.is_file():
        if peek_kind(path) == "vectors":
            raise FormatError(
                f"{path} is a word-vector model (embedcli pretrain); train --resume needs a "
                "checkpoint of embedcli train"
            )
        raise FormatError(f"{path} is not an embedcli checkpoint: checkpoint.json is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        raise FormatError(f"{meta_path} is damaged: {type(exc).__name__}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise FormatError(f"{meta_path} is not an embedcli checkpoint")
    version = meta.get("version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise FormatError(
            f"{path}: checkpoint version {version!r} is not supported (this embedcli reads up to "
            f"{CHECKPOINT_VERSION})"
        )
    files = meta.get("files")
    if not isinstance(files, dict):
        raise FormatError(f"{meta_path}: missing 'files' section")
    for name in ("state.npz", "vocab.tsv"):
        if not (path / name).is_file():
            raise FormatError(f"{path}: {name} is missing")
        if not isinstance(files.get(name), str):
            raise FormatError(f"{meta_path}: no sha256 for {name} in 'files'")
        if sha256_file(path / name) != files.get(name):
            raise FormatError(
                f"{path / name} is damaged: its sha256 does not match checkpoint.json"
            )
    return meta


def _read_arrays(file: Path, spec: ModelSpec) -> dict[str, np.ndarray]:
    """The arrays of ``state.npz``; the largest has num_rows x dim (or the dense layers')
    elements, at most 8 bytes each: checked from the zip directory before anything inflates."""
    elements = max(spec.num_rows * spec.dim, spec.dense_size + spec.num_classes)
    limit = NPY_HEADER_MAX + 8 * elements
    with zipfile.ZipFile(file) as zf:
        zip_directory(zf, file, dict.fromkeys((*STATE_ARRAYS, "best_emb", "best_dense"), limit),
                      "in a checkpoint")  # fmt: skip
    with np.load(file, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    missing = [k for k in STATE_ARRAYS if k not in arrays]
    if missing:
        raise FormatError(f"{file}: missing array(s) {', '.join(missing)}")
    return arrays


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and verify a checkpoint directory (``FormatError`` on any damage)."""
    path = Path(path)
    meta = _read_meta(path)
    try:
        spec = check_spec(meta["model"], path / "checkpoint.json")
        config = TrainConfig.from_dict(meta["train"])
        arrays = _read_arrays(path / "state.npz", spec)
        best = dict(meta["best"])
        if best.get("score") is None:
            best["score"] = float("-inf")
        state = TrainState(
            spec=spec,
            config=config,
            epoch=int(meta["epoch"]),
            step=int(meta["step"]),
            done_tokens=float(meta["done_tokens"]),
            train_seconds=float(meta["train_seconds"]),
            rng_state=meta["rng_state"],
            history=list(meta["history"]),
            best=best,
            n_docs=int(meta["n_docs"]),
            n_tokens=int(meta["n_tokens"]),
            arrays=arrays,
        )
    except FormatError:
        raise
    except Exception as exc:  # wrong types / keys in a hand-edited or damaged file
        raise FormatError(f"{path} is damaged: {type(exc).__name__}: {exc}") from None
    return Checkpoint(path=path, state=state, vocab_path=path / "vocab.tsv", plan=meta["plan"])
