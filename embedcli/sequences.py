"""Integer-encode a corpus into a ragged layout, and pad/truncate like Keras ``pad_sequences``.

``EncodedCorpus`` keeps every document's ids in one flat int32 array with int64 offsets (no padding
waste); pooling models train on it directly. ``pad_sequences`` reproduces Keras exactly, including
its defaults (``padding="pre"``, ``truncating="pre"``):

    >>> pad_sequences([[1], [2, 3], [4, 5, 6]]).tolist()
    [[0, 0, 1], [0, 2, 3], [4, 5, 6]]

``build_and_encode`` does vocabulary building and encoding in ONE streaming pass (so it works on
standard input): tokens get provisional first-appearance ids while counting, and one numpy lookup
remaps them to the final vocabulary at the end.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedcli.corpus import CorpusReader, Document
from embedcli.errors import DataError, UsageError
from embedcli.vocab import TokenCounter, Vocabulary

BATCH_DOCS = 4096


@dataclass
class EncodedCorpus:
    """Ragged int32 token ids and labels of ``n_docs`` documents."""

    tokens: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, n_docs + 1
    label_ids: np.ndarray  # int32, flat; -1 = label not in the vocabulary
    label_offsets: np.ndarray  # int64, n_docs + 1

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def doc(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def labels_of(self, i: int) -> np.ndarray:
        return self.label_ids[self.label_offsets[i] : self.label_offsets[i + 1]]

    def first_labels(self) -> np.ndarray:
        """One label id per document (the first; -1 when it has none)."""
        lens = np.diff(self.label_offsets)
        out = np.full(self.n_docs, -1, dtype=np.int32)
        has = lens > 0
        out[has] = self.label_ids[self.label_offsets[:-1][has]]
        return out

    def subset(self, index: np.ndarray) -> EncodedCorpus:
        """The documents at ``index`` (in that order), as a new compact corpus."""
        index = np.asarray(index, dtype=np.int64)
        tokens, offsets = _take_ragged(self.tokens, self.offsets, index)
        label_ids, label_offsets = _take_ragged(self.label_ids, self.label_offsets, index)
        return EncodedCorpus(tokens, offsets, label_ids, label_offsets)

    @property
    def nbytes(self) -> int:
        return sum(
            a.nbytes for a in (self.tokens, self.offsets, self.label_ids, self.label_offsets)
        )


def _take_ragged(
    values: np.ndarray, offsets: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    starts = offsets[:-1][index]
    lens = (offsets[1:] - offsets[:-1])[index]
    new_offsets = np.zeros(len(index) + 1, dtype=np.int64)
    np.cumsum(lens, out=new_offsets[1:])
    total = int(new_offsets[-1])
    # position of every output element in the input: start of its doc + rank inside the doc
    pos = np.repeat(starts - new_offsets[:-1], lens) + np.arange(total, dtype=np.int64)
    return values[pos], new_offsets


class _RaggedBuilder:
    """Appends batches of ragged arrays; concatenates once at the end."""

    def __init__(self) -> None:
        self.values: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []

    def add(self, values: np.ndarray, lengths: np.ndarray) -> None:
        self.values.append(values)
        self.lengths.append(lengths)

    def build(self, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
        values = (
            np.concatenate(self.values).astype(dtype, copy=False)
            if self.values
            else np.zeros(0, dtype)
        )
        self.values.clear()
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return values, offsets


def _label_batch(
    docs: Sequence[Document], label_to_id: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(type(label_to_id), "__missing__"):  # a growing index: every label gets an id
        flat = [label_to_id[label] for d in docs for label in d.labels]
    else:
        get = label_to_id.get
        flat = [get(label, -1) for d in docs for label in d.labels]
    lens = np.fromiter((len(d.labels) for d in docs), dtype=np.int64, count=len(docs))
    return np.asarray(flat, dtype=np.int32), lens


def _drop_negative(ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove ids < 0 (OOV without an OOV entry) and shorten the documents accordingly."""
    keep = ids >= 0
    if keep.all():
        return ids, lengths
    doc_of = np.repeat(np.arange(len(lengths)), lengths)
    return ids[keep], np.bincount(doc_of[keep], minlength=len(lengths)).astype(np.int64)


def _batched(docs: Iterable[Document], size: int) -> Iterable[list[Document]]:
    batch: list[Document] = []
    for d in docs:
        batch.append(d)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def encode_corpus(
    docs: Iterable[Document],
    vocab: Vocabulary,
    batch_size: int = BATCH_DOCS,
    label_index: dict[str, int] | None = None,
) -> EncodedCorpus:
    """Encode documents with an existing vocabulary (unknown words -> UNK, or dropped without OOV).

    Labels map through ``vocab.label_to_id`` (unknown -> -1), or through ``label_index`` if given
    (a dict that may grow as labels are seen, to learn labels in the same pass).
    """
    labels_to_ids = vocab.label_to_id if label_index is None else label_index
    if isinstance(docs, CorpusReader) and label_index is None:
        from embedcli import shards

        plan = shards.plan_shards(docs)
        parts = shards.encode_parallel(docs, vocab, plan) if plan else None
        if parts is not None:
            return concat_corpora(parts)
    tokenize = vocab.tokenizer.tokenize
    get = vocab.token_to_id.get
    missing = vocab.unk_id if vocab.oov else -1
    tok_builder, lab_builder = _RaggedBuilder(), _RaggedBuilder()
    for batch in _batched(docs, batch_size):
        flat: list[str] = []
        lengths = np.empty(len(batch), dtype=np.int64)
        for i, d in enumerate(batch):
            toks = tokenize(d.text)
            lengths[i] = len(toks)
            flat.extend(toks)
        ids = np.fromiter(
            map(get, flat, itertools.repeat(missing, len(flat))), dtype=np.int32, count=len(flat)
        )
        if missing == -1:
            ids, lengths = _drop_negative(ids, lengths)
        tok_builder.add(ids, lengths)
        lab_builder.add(*_label_batch(batch, labels_to_ids))
    tokens, offsets = tok_builder.build(np.int32)
    label_ids, label_offsets = lab_builder.build(np.int32)
    return EncodedCorpus(tokens, offsets, label_ids, label_offsets)


def encode_texts(texts: Sequence[str], vocab: Vocabulary) -> EncodedCorpus:
    """Encode raw strings (no labels)."""
    return encode_corpus((Document(t, ()) for t in texts), vocab)


def build_and_encode_raw(
    docs: Iterable[Document], counter: TokenCounter, batch_size: int = BATCH_DOCS
) -> tuple[TokenCounter, np.ndarray, np.ndarray, dict[str, int], np.ndarray, np.ndarray]:
    """Count and encode with provisional (first-appearance) token and label ids.

    Returns ``(counter, ids, lengths, label_index, label_ids, label_lengths)``.
    """
    tok_builder, lab_builder = _RaggedBuilder(), _RaggedBuilder()
    for batch in _batched(docs, batch_size):
        ids, lengths = counter.add([d.text for d in batch], [d.labels for d in batch])
        tok_builder.add(ids.astype(np.int32), lengths)
        lab_builder.add(*_label_batch(batch, counter.label_index))
    ids, offsets = tok_builder.build(np.int32)
    label_ids, label_offsets = lab_builder.build(np.int32)
    return counter, ids, np.diff(offsets), counter.label_index, label_ids, np.diff(label_offsets)


def build_and_encode(
    docs: Iterable[Document],
    counter: TokenCounter,
    vocab_options: dict[str, Any],
    batch_size: int = BATCH_DOCS,
) -> tuple[Vocabulary, EncodedCorpus]:
    """One pass: count tokens, keep provisional ids, then remap to the final vocabulary.

    A large line-format file is split into shards encoded in worker processes (``shards.py``);
    the result is identical to the sequential pass.
    """
    parts = None
    if isinstance(docs, CorpusReader):
        from embedcli import shards

        plan = shards.plan_shards(docs)
        if plan:
            parts = shards.count_and_encode_parallel(docs, counter.tokenizer, plan)
    if parts is not None:
        names, tables = shards.merge_indices(parts, "tokens")
        counts = np.zeros(len(names), dtype=np.int64)
        for part, table in zip(parts, tables):
            counts[table] += part["counts"]
        ids = np.concatenate([t[p["ids"]] for p, t in zip(parts, tables)])
        lengths = np.concatenate([p["lengths"] for p in parts])
        label_names, ltables = shards.merge_indices(parts, "labels")
        label_ids = np.concatenate([t[p["label_ids"]] for p, t in zip(parts, ltables)]).astype(
            np.int32
        )
        label_lens = np.concatenate([p["label_lens"] for p in parts])
        label_counts = (
            np.bincount(label_ids, minlength=len(label_names))
            if len(label_ids)
            else np.zeros(len(label_names), np.int64)
        )
        vocab = Vocabulary.from_counts(
            names,
            counts,
            labels=label_names,
            label_counts=label_counts.tolist(),
            tokenizer=counter.tokenizer.config,
            **vocab_options,
        )
        counter.documents = sum(p["documents"] for p in parts)
        counter.tokens = sum(p["n_tokens"] for p in parts)
    else:
        counter, ids, lengths, label_index, label_ids, label_lens = build_and_encode_raw(
            docs, counter, batch_size
        )
        names, label_names = list(counter.index), list(label_index)
        vocab = counter.vocabulary(**vocab_options)
    table = vocab.remap_table(names)
    tokens = table[ids] if len(ids) else ids.astype(np.int32)
    if not vocab.oov:
        tokens, lengths = _drop_negative(tokens, lengths)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ltable = np.array([vocab.label_to_id[name] for name in label_names], dtype=np.int32)
    label_ids = ltable[label_ids] if len(label_ids) else label_ids.astype(np.int32)
    label_offsets = np.zeros(len(label_lens) + 1, dtype=np.int64)
    np.cumsum(label_lens, out=label_offsets[1:])
    return vocab, EncodedCorpus(
        tokens.astype(np.int32, copy=False), offsets, label_ids, label_offsets
    )


def concat_corpora(parts: Sequence[EncodedCorpus]) -> EncodedCorpus:
    """Documents of several encoded corpora, one after the other."""

    def cat(
        values: list[np.ndarray], offsets: list[np.ndarray], dtype: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        lengths = (
            np.concatenate([np.diff(o) for o in offsets]) if offsets else np.zeros(0, np.int64)
        )
        out = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=out[1:])
        return (
            np.concatenate(values).astype(dtype, copy=False) if values else np.zeros(0, dtype)
        ), out

    tokens, offsets = cat([p.tokens for p in parts], [p.offsets for p in parts], np.int32)
    label_ids, label_offsets = cat(
        [p.label_ids for p in parts], [p.label_offsets for p in parts], np.int32
    )
    return EncodedCorpus(tokens, offsets, label_ids, label_offsets)


# -- padding ------------------------------------------------------------------------------------
def _check_pad_args(maxlen: int | None, padding: str, truncating: str) -> None:
    if padding not in ("pre", "post"):
        raise UsageError(f"padding must be 'pre' or 'post', not {padding!r}")
    if truncating not in ("pre", "post"):
        raise UsageError(f"truncating must be 'pre' or 'post', not {truncating!r}")
    if maxlen is not None and maxlen < 1:
        raise UsageError(f"maxlen must be at least 1, not {maxlen}")


def pad_sequences(
    sequences: Sequence[Sequence[int]],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: int = 0,
) -> np.ndarray:
    """Keras ``pad_sequences``: a ``(n, maxlen)`` array; without ``maxlen`` the longest row sets it."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    flat = np.fromiter((x for s in sequences for x in s), dtype=np.int64, count=int(lengths.sum()))
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pad_ragged(
        flat, offsets, maxlen, padding=padding, truncating=truncating, value=value, dtype=dtype
    )


def pad_ragged(
    tokens: np.ndarray,
    offsets: np.ndarray,
    maxlen: int | None = None,
    *,
    padding: str = "pre",
    truncating: str = "pre",
    value: int = 0,
    dtype: Any = "int32",
) -> np.ndarray:
    """Pad/truncate a ragged (tokens, offsets) corpus into a dense matrix, Keras semantics.

    Works in row blocks so the temporaries stay small next to the output array.
    """
    _check_pad_args(maxlen, padding, truncating)
    lengths = np.diff(offsets)
    n = len(lengths)
    width = int(lengths.max()) if maxlen is None and n else (maxlen or 0)
    out = np.full((n, width), value, dtype=dtype)
    if n == 0 or width == 0:
        return out
    block = max(1, (1 << 22) // width)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        lens = lengths[lo:hi]
        kept = np.minimum(lens, width)
        # first source index taken from each doc
        src_start = offsets[lo:hi] + (lens - kept if truncating == "pre" else 0)
        dst_start = width - kept if padding == "pre" else np.zeros_like(kept)
        rows = np.repeat(np.arange(lo, hi), kept)
        rank = np.arange(int(kept.sum()), dtype=np.int64) - np.repeat(np.cumsum(kept) - kept, kept)
        out[rows, np.repeat(dst_start, kept) + rank] = tokens[np.repeat(src_start, kept) + rank]
    return out


def truncation_rate(lengths: np.ndarray, maxlen: int) -> tuple[float, float]:
    """(share of documents cut, share of tokens lost) at ``maxlen``."""
    if len(lengths) == 0:
        return 0.0, 0.0
    total = float(lengths.sum()) or 1.0
    return float((lengths > maxlen).mean()), float(np.maximum(lengths - maxlen, 0).sum() / total)


def require_documents(corpus: EncodedCorpus, what: str = "corpus") -> None:
    if corpus.n_docs == 0:
        raise DataError(f"the {what} is empty: no documents were read")
