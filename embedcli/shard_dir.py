"""The encoded shard directory: a corpus encoded once, in parts, read back memory-mapped.

Layout of ``ENCODED_DIR`` (format ``embedcli-encoded``, version 1)::

    job.json                      the plan: inputs, partitions, vocabulary checksum (written first)
    vocab.tsv                     the vocabulary the ids refer to
    part-00000.tokens.npy         int32, every token id of the partition's documents, flat
    part-00000.offsets.npy        int64, documents + 1 (document i is tokens[offsets[i]:offsets[i+1]])
    part-00000.label_ids.npy      int32, flat (-1: a label the vocabulary does not know)
    part-00000.label_offsets.npy  int64, documents + 1
    part-00000.hashes.npy         optional (encode --hashes): int32 fastText hash of every token
    part-00000.hash_offsets.npy   string, unknown words included, then </s>; int64 offsets
    part-00000.json               the shard's record: its input range, counts, sha256 of each file
    ...
    manifest.json                 written last: the directory is complete

Every file is written to a temporary name and renamed into place; a shard's record is written
after its arrays, and the manifest after every record. An interrupted job therefore leaves an
incomplete directory (no manifest) whose complete shards are recognised by their records: a
rerun with the same inputs and vocabulary keeps each shard whose record matches and whose files
still have their recorded sizes and sha256, and encodes the others. Shards are plain ``.npy``
(no pickle); their order is the input order, so shard 0's documents come first.

Format version 1.1 (``minor_version`` 1) adds the optional per-token ``hashes`` (the manifest's
``hashes`` names the scheme, ``ftcompat.NGRAM_HASH``, and whether ``</s>`` was appended): what
``train --word-ngrams`` above 1 hashes its n-grams from, since ids lose unknown words. A 1.0
directory (no hashes) still loads; only word n-grams refuse it, in one line.

``load_corpus`` reads a complete directory as one ``EncodedCorpus`` without holding it in
memory twice: shards are memory-mapped and copied block by block into arrays that spill to a
temporary file past the memory limit (``sequences.GrowableArray``), so training reads a corpus
larger than RAM from the page cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.errors import DataError, FormatError

FORMAT = "embedcli-encoded"
JOB_FORMAT = "embedcli-encoded-job"
VERSION = 1
#: 1: optional per-token ``hashes`` (readers of 1.0 ignore them)
MINOR_VERSION = 1
MANIFEST = "manifest.json"
JOB = "job.json"
VOCAB = "vocab.tsv"
#: the arrays of a shard: name -> dtype
ARRAYS = {
    "tokens": np.int32,
    "offsets": np.int64,
    "label_ids": np.int32,
    "label_offsets": np.int64,
}
#: arrays a shard has when its record's ``hashes`` is set
HASH_ARRAYS = {"hashes": np.int32, "hash_offsets": np.int64}
#: elements copied at a time from a memory-mapped shard
BLOCK = 1 << 22


def shard_name(index: int, what: str) -> str:
    return f"part-{index:05d}.{what}"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_bytes(path: Path, write: Any) -> None:
    """``write(file)`` into a temporary beside ``path``, fsync, rename over ``path``."""
    from embedcli.outputs import mark

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        mark(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    body = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")
    _atomic_bytes(path, lambda f: f.write(body + b"\n"))


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(64 << 20))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def write_shard(
    folder: Path, index: int, arrays: dict[str, np.ndarray], record: dict[str, Any]
) -> dict[str, Any]:
    """Write one shard's arrays, then its record (with sizes and sha256); return the record."""
    files = {}
    for what, dtype in _arrays_of(record).items():
        name = shard_name(index, f"{what}.npy")
        value = np.ascontiguousarray(arrays[what], dtype=dtype)
        _atomic_bytes(folder / name, lambda f, v=value: np.save(f, v, allow_pickle=False))
        files[what] = {
            "name": name,
            "bytes": os.path.getsize(folder / name),
            "sha256": sha256_file(folder / name),
        }
    record = {**record, "index": index, "files": files}
    write_json(folder / shard_name(index, "json"), record)
    return record


def kept_shard(folder: Path, index: int, expect: dict[str, Any]) -> dict[str, Any] | None:
    """The record of shard ``index`` if it is complete, was made from ``expect`` (its input
    range and vocabulary checksum) and its files still match their sizes and sha256."""
    record = read_json(folder / shard_name(index, "json"))
    if record is None or any(record.get(k) != v for k, v in expect.items()):
        return None
    files = record.get("files")
    if not isinstance(files, dict) or set(files) != set(_arrays_of(record)):
        return None
    for what in _arrays_of(record):
        entry = files[what]
        path = folder / shard_name(index, f"{what}.npy")
        try:
            if os.path.getsize(path) != entry["bytes"] or sha256_file(path) != entry["sha256"]:
                return None
        except (OSError, KeyError, TypeError):
            return None
    return record


def _arrays_of(record: dict[str, Any]) -> dict[str, Any]:
    """The arrays a shard of this record has: name -> dtype."""
    return {**ARRAYS, **(HASH_ARRAYS if record.get("hashes") else {})}


def remove_stale(folder: Path, keep: int) -> None:
    """Delete temporaries of killed writers and shards numbered ``keep`` or above."""
    for name in os.listdir(folder):
        if name.startswith(".part-") and name.endswith(".tmp"):
            _unlink(folder / name)
        elif name.startswith("part-"):
            try:
                index = int(name[5:].split(".", 1)[0])
            except ValueError:
                continue
            if index >= keep:
                _unlink(folder / name)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def is_encoded_dir(path: str | Path) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MANIFEST))


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a complete encoded directory (FormatError if it is not one)."""
    folder = Path(path)
    manifest = read_json(folder / MANIFEST)
    if manifest is None or manifest.get("format") != FORMAT:
        if (folder / JOB).exists():
            raise FormatError(
                f"{path} is an incomplete encoded directory (the job that wrote it did not "
                "finish); rerun the same encode command to complete it"
            )
        raise FormatError(f"{path}: not an encoded shard directory (no {MANIFEST})")
    version = manifest.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise FormatError(
            f"{path}: encoded directory format version {version} is newer than this embedcli "
            "supports; upgrade embedcli"
        )
    if not isinstance(manifest.get("shards"), list):
        raise FormatError(f"{path}/{MANIFEST}: no shard list")
    return manifest


def check_vocab(path: str | Path, manifest: dict[str, Any]) -> None:
    actual = sha256_file(Path(path) / VOCAB)
    if actual != manifest.get("vocab_sha256"):
        raise FormatError(f"{path}/{VOCAB} does not match the checksum in its manifest")


def _shard_array(folder: Path, record: dict[str, Any], what: str) -> np.ndarray:
    entry = record["files"][what]
    path = folder / entry["name"]
    try:
        if os.path.getsize(path) != entry["bytes"]:
            raise FormatError(f"{path} has {os.path.getsize(path):,} bytes, not {entry['bytes']:,}")
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FormatError(f"cannot read {path}: {exc}") from None
    dtype = {**ARRAYS, **HASH_ARRAYS}[what]
    if array.ndim != 1 or array.dtype != dtype:
        raise FormatError(f"{path}: expected a 1-D {np.dtype(dtype)} array")
    return array


def iter_shards(path: str | Path) -> Iterator[dict[str, np.ndarray]]:
    """The shards of a complete directory in order, each as memory-mapped arrays."""
    folder = Path(path)
    manifest = read_manifest(folder)
    hashed = bool(manifest.get("hashes"))
    for record in manifest["shards"]:
        if hashed and not record.get("hashes"):
            raise FormatError(f"{path}: shard {record.get('index')} has no token hashes")
        arrays = {what: _shard_array(folder, record, what) for what in _arrays_of(record)}
        pairs = [("tokens", "offsets"), ("label_ids", "label_offsets")]
        if "hashes" in arrays:
            pairs.append(("hashes", "hash_offsets"))
        for ragged, offsets in pairs:
            off = arrays[offsets]
            if len(off) < 1 or off[0] != 0 or off[-1] != len(arrays[ragged]):
                raise FormatError(f"{path}: shard {record['index']} has inconsistent {offsets}")
        if "hashes" in arrays and len(arrays["hash_offsets"]) != len(arrays["offsets"]):
            raise FormatError(f"{path}: shard {record['index']} has hashes of other documents")
        yield arrays


def hash_scheme(path: str | Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest's token-hash record ``{"scheme", "eos_bucket"}``, None without hashes;
    ``FormatError`` for a scheme this embedcli does not compute."""
    from embedcli.ftcompat import NGRAM_HASH

    hashes = manifest.get("hashes")
    if not hashes:
        return None
    if not isinstance(hashes, dict) or hashes.get("scheme") != NGRAM_HASH:
        raise FormatError(f"{path}: token hash scheme {hashes!r} is not {NGRAM_HASH!r}")
    return hashes


def load_corpus(path: str | Path, limit: int | None = None, hashes: bool = False) -> Any:
    """A complete encoded directory as one ``EncodedCorpus`` (see the module notes); with
    ``hashes`` it carries the shards' ``TokenHashes`` (``FormatError`` if they have none)."""
    from embedcli.sequences import EncodedCorpus, GrowableArray, TokenHashes, offsets_of

    manifest = read_manifest(path)
    scheme = hash_scheme(path, manifest) if hashes else None
    if hashes and scheme is None:
        raise FormatError(f"{path} was encoded without token hashes (encode --hashes)")
    tokens = GrowableArray(np.int32, limit=limit)
    tokens.reserve(int(manifest.get("tokens") or 0))
    values = GrowableArray(np.int32, limit=limit) if hashes else None
    lengths, label_ids, label_lengths, hash_lengths = [], [], [], []
    for arrays in iter_shards(path):
        _copy_blocks(arrays["tokens"], tokens)
        lengths.append(np.diff(arrays["offsets"]))
        label_ids.append(np.array(arrays["label_ids"]))
        label_lengths.append(np.diff(arrays["label_offsets"]))
        if values is not None:
            _copy_blocks(arrays["hashes"], values)
            hash_lengths.append(np.diff(arrays["hash_offsets"]))
    if not lengths:
        raise DataError(f"{path} holds no shard")
    token_hashes = None
    if values is not None and scheme is not None:
        token_hashes = TokenHashes(
            values.finish(), offsets_of(np.concatenate(hash_lengths)), bool(scheme["eos_bucket"])
        )
    return EncodedCorpus(
        tokens.finish(),
        offsets_of(np.concatenate(lengths)),
        np.concatenate(label_ids).astype(np.int32),
        offsets_of(np.concatenate(label_lengths)),
        token_hashes,
    )


def _copy_blocks(source: np.ndarray, into: Any) -> None:
    for lo in range(0, len(source), BLOCK):
        into.append(np.array(source[lo : lo + BLOCK]))


def load_training_corpus(
    path: str | Path, require_labels: bool, word_ngrams: bool, subwords: bool = False
) -> Any:
    """``(vocabulary, corpus)`` of a complete encoded directory for ``train``: blank documents
    dropped (as the training reader skips blank lines), every other one labelled when
    ``require_labels``. Word n-grams (``word_ngrams``) hash token strings, unknown words
    included: the shards must carry their hashes (``encode --hashes``); subwords need the text."""
    from embedcli.errors import UsageError
    from embedcli.vocab import Vocabulary

    if subwords:
        raise UsageError(
            f"{path} holds token ids only: subwords (--minn/--maxn) need the text; train on "
            "the text files"
        )
    manifest = read_manifest(path)
    if word_ngrams and hash_scheme(path, manifest) is None:
        raise UsageError(
            f"{path} holds token ids only (encoded without --hashes): --word-ngrams above 1 "
            "needs the token hashes; re-encode it with encode --engine dask --hashes"
        )
    check_vocab(path, manifest)
    vocab = Vocabulary.load(Path(path) / VOCAB)
    if word_ngrams and bool(manifest["hashes"].get("eos_bucket")) == bool(
        vocab.tokenizer_config.eos
    ):
        raise FormatError(f"{path}: its token hashes do not match its vocabulary's </s>")
    corpus = load_corpus(path, hashes=word_ngrams)
    lens, label_lens = np.diff(corpus.offsets), np.diff(corpus.label_offsets)
    keep = (lens > 0) | (label_lens > 0)
    if not keep.all():
        corpus = corpus.subset(np.flatnonzero(keep))
        label_lens = np.diff(corpus.label_offsets)
    if require_labels and len(label_lens) and not label_lens.all():
        doc = int(np.flatnonzero(label_lens == 0)[0])
        raise DataError(f"{path}: document {doc:,} has no label (training needs one per document)")
    return vocab, corpus
