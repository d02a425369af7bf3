"""Checkpoints of ``embedcli pretrain``: a :class:`~embedcli.pretrain.PretrainState` on disk, the
run's plan beside it, and its checked load.

A checkpoint directory holds ``checkpoint.json`` (format ``embedcli-pretrain-checkpoint``,
version, epoch, the training spec, how the corpus was read, the corpus' document and token
counts, seconds so far, sha256 of the other files), ``state.npz`` (``win``, ``wout`` float32, per
thread ``rng`` uint64, ``counts`` int64, ``loss`` float64; ``np.savez``, no pickle) and
``vocab.tsv``. Loading treats it as hostile input: any damage is one ``FormatError`` line (exit
1), array sizes are checked from the zip directory before anything is inflated.

The classifier's checkpoints (``embedcli.checkpoint``) have the same layout and guarantees; the
two formats refuse each other by name.
"""

from __future__ import annotations

import datetime as _dt
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.atomic import atomic_dir
from embedcli.errors import DataError, FormatError
from embedcli.modeldir import (
    NPY_HEADER_MAX,
    json_default,
    library_versions,
    peek_kind,
    sha256_file,
    zip_directory,
)
from embedcli.pretrain_spec import PretrainSpec, PretrainState
from embedcli.vocab import Vocabulary

FORMAT = "embedcli-pretrain-checkpoint"
VERSION = 1
FILES = ("state.npz", "vocab.tsv")
#: the arrays of ``state.npz`` and their dtypes
ARRAYS = {"win": np.float32, "wout": np.float32, "rng": np.uint64, "counts": np.int64,
          "loss": np.float64}  # fmt: skip
#: a checkpoint's table may not declare more elements than this (2^31 rows of dim 10,000 would)
MAX_ELEMENTS = 1 << 36


@dataclass
class PretrainCheckpoint:
    """A loaded checkpoint: the state, the spec it trains, the run's plan (``plan``: corpus
    options, tokenizer, vocabulary limits as ``embedcli.pretrain_run.checkpoint_plan`` wrote
    them), the vocabulary, and the corpus size it was trained on."""

    path: Path
    state: PretrainState
    spec: PretrainSpec
    plan: dict[str, Any]
    vocab: Vocabulary
    documents: int
    tokens: int

    def check_corpus(self, vocab: Vocabulary, documents: int, tokens: int) -> None:
        """``DataError`` unless the corpus read again gives this checkpoint's vocabulary and
        sizes (the resumed run must see the same token ids)."""
        same_vocab = vocab.tokens == self.vocab.tokens and list(vocab.counts) == list(
            self.vocab.counts
        )
        if not same_vocab or (documents, tokens) != (self.documents, self.tokens):
            raise DataError(
                f"the corpus does not match the checkpoint {self.path}: it reads as {documents:,} "
                f"documents, {tokens:,} tokens and {len(vocab):,} vocabulary entries; the "
                f"checkpoint was trained on {self.documents:,}, {self.tokens:,} and "
                f"{len(self.vocab):,}"
            )


def save_pretrain_checkpoint(
    path: str | Path,
    state: PretrainState,
    spec: PretrainSpec,
    vocab: Vocabulary,
    plan: dict[str, Any],
    documents: int,
    tokens: int,
) -> Path:
    """Write ``state`` atomically as a checkpoint directory (see the module docstring)."""
    path = Path(path)
    with atomic_dir(path) as tmp:
        np.savez(
            tmp / "state.npz",
            win=state.win,
            wout=state.wout,
            rng=np.asarray(state.rng, np.uint64),
            counts=np.asarray(state.counts, np.int64),
            loss=np.asarray(state.loss, np.float64),
        )
        vocab.save(tmp / "vocab.tsv")
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "epoch": state.epoch,
            "seconds": state.seconds,
            "spec": asdict(spec),
            "plan": plan,
            "documents": documents,
            "tokens": tokens,
            "files": {name: sha256_file(tmp / name) for name in FILES},
            "versions": library_versions(),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        with open(tmp / "checkpoint.json", "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1, ensure_ascii=False, default=json_default)
            f.write("\n")
    return path


def load_pretrain_checkpoint(path: str | Path) -> PretrainCheckpoint:
    """Read and verify a checkpoint directory (``FormatError`` on any damage)."""
    path = Path(path)
    meta = _read_meta(path)
    try:
        # a checkpoint written before --sg-input trained skip-gram with the centre's rows
        spec = PretrainSpec(**{"sg_input": "centre", **meta["spec"]})
        spec.validate()
        vocab = Vocabulary.load(path / "vocab.tsv")
        arrays = _read_arrays(path / "state.npz", _max_rows(vocab, spec) * spec.dim)
        state = PretrainState(
            epoch=int(meta["epoch"]),
            seconds=float(meta["seconds"]),
            **arrays,
        )
        checkpoint = PretrainCheckpoint(
            path=path,
            state=state,
            spec=spec,
            plan=dict(meta["plan"]),
            vocab=vocab,
            documents=int(meta["documents"]),
            tokens=int(meta["tokens"]),
        )
    except FormatError:
        raise
    except Exception as exc:  # wrong types or keys in a hand-edited or damaged file
        raise FormatError(f"{path} is damaged: {type(exc).__name__}: {exc}") from None
    if not 0 <= state.epoch <= spec.epochs:
        raise FormatError(f"{path} is damaged: epoch {state.epoch} outside 0..{spec.epochs}")
    return checkpoint


def _max_rows(vocab: Vocabulary, spec: PretrainSpec) -> int:
    """At most this many input rows: the words, and with subwords at most one compact row per
    n-gram of ``<word>`` (bounds what ``state.npz`` may declare)."""
    rows = len(vocab)
    if spec.subwords.enabled:
        per_word = spec.maxn - spec.minn + 1
        ngrams = sum((len(w) + 2) * per_word for w in vocab.tokens)
        rows += min(spec.buckets, ngrams)
    return rows


def _read_meta(path: Path) -> dict[str, Any]:
    """``checkpoint.json`` checked for format, version and the sha256 of the other files."""
    meta_path = path / "checkpoint.json"
    if not meta_path.is_file():
        if peek_kind(path) is not None:
            raise FormatError(
                f"{path} is a model directory, not a checkpoint; pretrain --resume needs the "
                "directory --checkpoint-every writes (MODEL_DIR.ckpt by default)"
            )
        raise FormatError(f"{path} is not an embedcli checkpoint: checkpoint.json is missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise FormatError(f"{meta_path} is damaged: {type(exc).__name__}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        if isinstance(meta, dict) and meta.get("format") == "embedcli-checkpoint":
            raise FormatError(
                f"{path} is a checkpoint of embedcli train; continue it with train --resume"
            )
        raise FormatError(f"{meta_path} is not an embedcli pretrain checkpoint")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise FormatError(
            f"{path}: checkpoint version {version!r} is newer than this embedcli supports "
            f"(up to {VERSION}); upgrade embedcli"
        )
    files = meta.get("files")
    if not isinstance(files, dict):
        raise FormatError(f"{meta_path}: missing 'files' section")
    for name in FILES:
        if not (path / name).is_file():
            raise FormatError(f"{path}: {name} is missing")
        if not isinstance(files.get(name), str):
            raise FormatError(f"{meta_path}: no sha256 for {name} in 'files'")
        if sha256_file(path / name) != files[name]:
            raise FormatError(
                f"{path / name} is damaged: its sha256 does not match checkpoint.json"
            )
    return meta


def _read_arrays(file: Path, elements: int) -> dict[str, np.ndarray]:
    """The arrays of ``state.npz`` with their dtypes, each at most ``elements`` x 8 bytes as
    declared in the zip directory (checked before anything inflates)."""
    limit = NPY_HEADER_MAX + 8 * min(elements, MAX_ELEMENTS)
    with zipfile.ZipFile(file) as zf:
        zip_directory(zf, file, dict.fromkeys(ARRAYS, limit), "in a pretrain checkpoint")
    with np.load(file, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for name, dtype in ARRAYS.items():
        if name not in arrays:
            raise FormatError(f"{file}: missing array {name!r}")
        if arrays[name].dtype != dtype:
            raise FormatError(
                f"{file}: array {name!r} is {arrays[name].dtype}, not {np.dtype(dtype)}"
            )
    return arrays
