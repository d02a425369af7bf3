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

import errno
import itertools
import mmap
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from embedcli import limits
from embedcli.corpus import Document
from embedcli.errors import DataError, UsageError
from embedcli.phases import reached
from embedcli.vocab import TokenCounter, Vocabulary

BATCH_DOCS = 4096
#: ids remapped at a time (the size of the temporaries of a remap)
REMAP_BLOCK = 1 << 22


@dataclass
class TokenHashes:
    """fastText's hashes (``embedcli.ftcompat.token_hash`` as int32) of every token string of
    every document, unknown words included, ``</s>`` last: what word n-grams are hashed from
    (``model.featurize``). Ragged like the ids, with its own offsets (a vocabulary without an
    OOV entry drops unknown words from the ids but not from here)."""

    values: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, n_docs + 1
    #: True when ``</s>`` is no word of the vocabulary: its unigram then takes a bucket row
    eos_bucket: bool = True
    #: the tokens' character n-grams (``encode_corpus(..., subwords=(minn, maxn))``), else None
    subwords: SubwordHashes | None = None

    def subset(self, index: np.ndarray) -> TokenHashes:
        values, offsets = _take_ragged(self.values, self.offsets, index)
        sub = self.subwords.subset(index) if self.subwords is not None else None
        return TokenHashes(values, offsets, self.eos_bucket, sub)


@dataclass
class SubwordHashes:
    """fastText's subwords of a corpus' tokens (``embedcli.subwords``): the token hashes (int32)
    of their character n-grams of ``minn .. maxn`` characters; the model puts hash ``h`` in the
    row ``num_words + uint32(h) % buckets`` (``model.featurize``), so the hashes do not depend on
    the number of buckets.

    ``word_values``/``word_offsets`` is the vocabulary's table (word id ``i``'s n-grams at
    ``word_values[word_offsets[i]:word_offsets[i + 1]]``; none for the reserved entries and
    ``</s>``); ``values``/``offsets`` hold, per document, the n-grams of its tokens that are not
    words of the vocabulary (each token's n-grams in order, the tokens in text order): an unknown
    word carries signal through them, as in fastText's ``Dictionary::addSubwords``."""

    minn: int
    maxn: int
    word_values: np.ndarray  # int32
    word_offsets: np.ndarray  # int64, len(vocab) + 1
    values: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, n_docs + 1

    def subset(self, index: np.ndarray) -> SubwordHashes:
        values, offsets = _take_ragged(self.values, self.offsets, index)
        return replace(self, values=values, offsets=offsets)


def word_ngram_hashes(words: Sequence[str], minn: int, maxn: int) -> tuple[np.ndarray, np.ndarray]:
    """``subwords.ngram_hashes`` by a kernel over the UTF-8 bytes (``kernels.char_ngram_hashes``:
    no n-gram string is built), the same ``(values int32, offsets int64)``."""
    from embedcli.kernels import char_ngram_hashes

    data = [("<" + w + ">").encode("utf-8", "surrogatepass") for w in words]
    offsets = offsets_of(np.fromiter(map(len, data), dtype=np.int64, count=len(data)))
    flat = np.frombuffer(b"".join(data), dtype=np.uint8) if data else np.zeros(0, np.uint8)
    return char_ngram_hashes(flat, offsets, int(minn), int(maxn))


def vocab_subwords(vocab: Vocabulary, minn: int, maxn: int) -> tuple[np.ndarray, np.ndarray]:
    """``(word_values, word_offsets)`` of :class:`SubwordHashes` for ``vocab`` (computed once
    per vocabulary and n-gram lengths): the reserved entries (padding, OOV) and ``</s>`` have
    no n-grams, as fastText's ``</s>``."""
    from embedcli.ftcompat import EOS

    key = (minn, maxn, len(vocab.tokens))
    cached = getattr(vocab, "_subword_table", None)
    if cached is None or cached[0] != key:
        reserved = 2 if vocab.oov else 1
        words = ["" if i < reserved or t == EOS else t for i, t in enumerate(vocab.tokens)]
        table = word_ngram_hashes(words, minn, maxn)
        lens = np.diff(table[1])
        lens[:reserved] = 0  # "" has n-grams ("<>" when minn <= 2): the reserved rows have none
        eos = np.array([t == EOS for t in vocab.tokens], dtype=bool)
        lens[eos] = 0
        if lens.sum() != len(table[0]):
            keep = np.repeat(lens == np.diff(table[1]), np.diff(table[1]))
            table = (table[0][keep], offsets_of(lens))
        cached = (key, table)
        vocab._subword_table = cached  # type: ignore[attr-defined]
    return cached[1]


class _OovNgrams:
    """Collects, batch by batch, the n-gram hashes of the tokens that are not vocabulary words
    (each distinct string hashed once)."""

    def __init__(self, minn: int, maxn: int) -> None:
        self.minn, self.maxn = minn, maxn
        self.cache: dict[str, np.ndarray] = {}
        self.builder = _RaggedBuilder()

    def add(self, flat: Sequence[str], unknown: np.ndarray, lengths: np.ndarray) -> None:
        """``flat`` the batch's tokens, ``unknown`` the positions of the unknown ones,
        ``lengths`` the documents' token counts."""
        from embedcli.ftcompat import EOS

        strings = [flat[k] for k in unknown]
        new = sorted({s for s in strings if s not in self.cache})
        if new:
            values, offsets = word_ngram_hashes(
                [("" if w == EOS else w) for w in new], self.minn, self.maxn
            )
            for i, w in enumerate(new):
                self.cache[w] = values[offsets[i] : offsets[i + 1]] if w != EOS else values[:0]
        parts = [self.cache[s] for s in strings]
        sizes = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        docs = np.searchsorted(offsets_of(lengths), unknown, side="right") - 1
        per_doc = np.bincount(docs, weights=sizes, minlength=len(lengths)).astype(np.int64)
        values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
        self.builder.add(values.astype(np.int32, copy=False), per_doc)

    def build(self, vocab: Vocabulary) -> SubwordHashes:
        values, offsets = self.builder.build()
        word_values, word_offsets = vocab_subwords(vocab, self.minn, self.maxn)
        return SubwordHashes(self.minn, self.maxn, word_values, word_offsets, values, offsets)


@dataclass
class EncodedCorpus:
    """Ragged int32 token ids and labels of ``n_docs`` documents."""

    tokens: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, n_docs + 1
    label_ids: np.ndarray  # int32, flat; -1 = label not in the vocabulary
    label_offsets: np.ndarray  # int64, n_docs + 1
    #: token-string hashes for word n-grams (``encode_corpus(..., hashes=True)``), else None
    hashes: TokenHashes | None = None

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
        hashes = self.hashes.subset(index) if self.hashes is not None else None
        return EncodedCorpus(tokens, offsets, label_ids, label_offsets, hashes)

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


def memory_limit() -> int:
    """Bytes one growing array may take in RAM before it moves to a memory-mapped temp file.

    ``EMBEDCLI_MEM_LIMIT`` (bytes, or with a K/M/G suffix) sets it; the default is a quarter of
    the physical memory. See ``embedcli.limits``.
    """
    return limits.memory_limit()


#: errno values that mean "the disk (or a quota, or the file-size limit) is full"
FULL_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if code
)


class TempSpaceFull(DataError):
    """The temporary folder (``$TMPDIR``) has no room for spilled arrays or shard parts."""


def temp_space_error(exc: OSError, folder: str | None, what: str) -> DataError:
    """One line for a failed write of temporary data: names the folder, the cause and the cure.

    A short write (numpy's "N requested and M written", no errno) means the disk is full too.
    """
    where = folder or tempfile.gettempdir()
    if exc.errno == errno.EFBIG:
        cause = "the file-size limit (ulimit -f) was reached"
    elif exc.errno in FULL_ERRNOS or (exc.errno is None and "requested and" in str(exc)):
        cause = "the disk is full"
    else:
        cause = exc.strerror or str(exc)
    hint = " (or raise EMBEDCLI_MEM_LIMIT)" if what == "spilled data" else ""
    return TempSpaceFull(
        f"cannot write {what} to the temporary folder {where} (TMPDIR): {cause}; "
        f"set TMPDIR to a folder with more free space{hint}"
    )


def _allocate(file: Any, nbytes: int) -> None:
    """Give ``file`` ``nbytes`` of real disk blocks now: writing through a map into a sparse file
    on a full disk kills the process with SIGBUS, an allocation here fails with ENOSPC instead."""
    file.truncate(nbytes)
    try:
        os.posix_fallocate(file.fileno(), 0, nbytes)
    except OSError as exc:
        if exc.errno in FULL_ERRNOS:
            raise
        # EOPNOTSUPP/EINVAL: the file system cannot preallocate; keep the sparse file


class GrowableArray:
    """A 1-D array appended to in place, about 1x its final size at every moment.

    The elements live in a private anonymous memory map that grows geometrically with ``mremap``
    (no copy, and pages are only committed once written), so the peak is the data itself, not the
    2x of a list of chunks concatenated at the end. Past ``limit`` bytes (``memory_limit()``) it
    moves once to an unlinked temporary file in ``spill_dir`` (default ``$TMPDIR``) and keeps
    growing there as a shared file map, which the kernel can write out under memory pressure.
    ``finish()`` returns a plain ndarray over the map; the memory (and the disk space) is freed
    with its last view.
    """

    def __init__(self, dtype: Any, limit: int | None = None, spill_dir: str | None = None) -> None:
        self.dtype = np.dtype(dtype)
        self.limit = memory_limit() if limit is None else limit
        self.spill_dir = spill_dir
        self.size = 0
        self.capacity = 0
        self._mm: mmap.mmap | None = None
        self._buf = np.empty(0, self.dtype)
        self._file: Any = None

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def reserve(self, n: int) -> None:
        """Make room for ``n`` elements in total (exactly ``n`` when it has to grow)."""
        if n <= self.capacity:
            return
        nbytes = n * self.dtype.itemsize
        if self._file is None and nbytes > self.limit:
            file = self._spill_file(nbytes)
            mm = mmap.mmap(file.fileno(), nbytes)
            new = np.frombuffer(mm, dtype=self.dtype, count=n)
            for lo in range(0, self.size, REMAP_BLOCK):  # copy, then release the RAM map
                hi = min(self.size, lo + REMAP_BLOCK)
                new[lo:hi] = self._buf[lo:hi]
            self._file, self._mm, self._buf = file, mm, new  # the anonymous map is released
        else:
            self._buf = np.empty(0, self.dtype)  # no exported buffer may exist during a resize
            if self._mm is None:
                self._mm = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE)
            else:
                if self._file is not None:
                    try:
                        _allocate(self._file, nbytes)
                    except OSError as exc:
                        raise temp_space_error(exc, self.spill_dir, "spilled data") from None
                self._mm.resize(nbytes)
            self._buf = np.frombuffer(self._mm, dtype=self.dtype, count=n)
        self.capacity = n

    def _spill_file(self, nbytes: int) -> Any:
        """An unlinked temporary file of ``nbytes`` allocated bytes (TempSpaceFull if no room)."""
        file = None
        try:
            file = tempfile.TemporaryFile(prefix="embedcli-", dir=self.spill_dir)
            _allocate(file, nbytes)
        except OSError as exc:
            if file is not None:
                file.close()
            raise temp_space_error(exc, self.spill_dir, "spilled data") from None
        return file

    def append(self, values: np.ndarray) -> None:
        n = len(values)
        if self.size + n > self.capacity:
            self.reserve(max(self.size + n, self.capacity * 3 // 2, 1 << 14))
        self._buf[self.size : self.size + n] = values
        self.size += n

    def finish(self) -> np.ndarray:
        """The ``size`` elements written; the builder must not be used afterwards."""
        mm, self._buf, self._mm = self._mm, np.empty(0, self.dtype), None
        if mm is None or self.size == 0:
            if mm is not None:
                mm.close()
            return np.empty(0, self.dtype)
        if self._file is None:
            mm.resize(self.size * self.dtype.itemsize)  # give back the unused tail
        else:
            self._file.close()  # the map keeps the unlinked file alive
            self._file = None
        return np.frombuffer(mm, dtype=self.dtype, count=self.size)


class _RaggedBuilder:
    """Appends batches of ragged arrays (values + per-document lengths) into growable arrays."""

    def __init__(self, dtype: Any = np.int32) -> None:
        self.values = GrowableArray(dtype)
        self.lengths = GrowableArray(np.int64)

    def add(self, values: np.ndarray, lengths: np.ndarray) -> None:
        self.values.append(values)
        self.lengths.append(lengths)

    def build(self) -> tuple[np.ndarray, np.ndarray]:
        lengths = self.lengths.finish()
        return self.values.finish(), offsets_of(lengths)


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """int64 offsets (``n + 1``, starting at 0) of per-document lengths."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


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
    reached("reading")
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
    hashes: bool = False,
    subwords: tuple[int, int] | None = None,
) -> EncodedCorpus:
    """Encode documents with an existing vocabulary (unknown words -> UNK, or dropped without OOV).

    Labels map through ``vocab.label_to_id`` (unknown -> -1), or through ``label_index`` if given
    (a dict that may grow as labels are seen, to learn labels in the same pass). With ``hashes``
    the corpus carries its ``TokenHashes`` (for models with ``ngram_hash``); with ``subwords``
    ``(minn, maxn)`` they carry the tokens' character n-grams too (``SubwordHashes``).
    Sequential: ``embedcli.shards.encode_corpus`` chooses worker processes for a large input.
    """
    labels_to_ids = vocab.label_to_id if label_index is None else label_index
    if hashes or subwords:
        return _encode_hashed(docs, vocab, batch_size, labels_to_ids, subwords)
    tokenize = vocab.tokenizer.tokenize
    get = vocab.token_to_id.get
    missing = vocab.unk_id if vocab.oov else -1
    tok_builder, lab_builder = _RaggedBuilder(), _RaggedBuilder()
    for batch in _batched(docs, batch_size):
        flat, lengths = _tokenized_batch(batch, tokenize)
        ids = np.fromiter(
            map(get, flat, itertools.repeat(missing, len(flat))), dtype=np.int32, count=len(flat)
        )
        if missing == -1:
            ids, lengths = _drop_negative(ids, lengths)
        tok_builder.add(ids, lengths)
        lab_builder.add(*_label_batch(batch, labels_to_ids))
    tokens, offsets = tok_builder.build()
    label_ids, label_offsets = lab_builder.build()
    return EncodedCorpus(tokens, offsets, label_ids, label_offsets)


def _tokenized_batch(batch: list[Document], tokenize: Any) -> tuple[list[str], np.ndarray]:
    """The tokens of a batch of documents, flat, and each document's count (int64)."""
    flat: list[str] = []
    lengths = np.empty(len(batch), dtype=np.int64)
    for i, d in enumerate(batch):
        toks = tokenize(d.text)
        lengths[i] = len(toks)
        flat.extend(toks)
    return flat, lengths


def _encode_hashed(
    docs: Iterable[Document],
    vocab: Vocabulary,
    batch_size: int,
    labels_to_ids: dict[str, int],
    subwords: tuple[int, int] | None = None,
) -> EncodedCorpus:
    """``encode_corpus`` that also hashes every token string, and with ``subwords`` the
    character n-grams of the unknown ones (sequential)."""
    from embedcli.ftcompat import append_eos, token_hashes

    tokenize = vocab.tokenizer.tokenize
    get = vocab.token_to_id.get
    table = vocab_hashes(vocab)
    unknown: dict[str, int] = {}
    missing = vocab.unk_id if vocab.oov else -1
    tok_builder, lab_builder, hash_builder = _RaggedBuilder(), _RaggedBuilder(), _RaggedBuilder()
    oov_ngrams = _OovNgrams(*subwords) if subwords else None
    for batch in _batched(docs, batch_size):
        flat, lengths = _tokenized_batch(batch, tokenize)
        full = np.fromiter(
            map(get, flat, itertools.repeat(-1, len(flat))), dtype=np.int32, count=len(flat)
        )
        hashed = table[np.maximum(full, 0)]
        new = [flat[k] for k in np.flatnonzero(full < 0) if flat[k] not in unknown]
        if new:
            unknown.update(zip(new, token_hashes(new).tolist()))
        for k in np.flatnonzero(full < 0):
            hashed[k] = unknown[flat[k]]
        hash_builder.add(hashed, lengths)
        if oov_ngrams is not None:
            oov_ngrams.add(flat, np.flatnonzero(full < 0), lengths)
        ids = np.where(full < 0, np.int32(missing), full)
        if missing == -1:
            ids, lengths = _drop_negative(ids, lengths)
        tok_builder.add(ids, lengths)
        lab_builder.add(*_label_batch(batch, labels_to_ids))
    tokens, offsets = tok_builder.build()
    label_ids, label_offsets = lab_builder.build()
    values, hash_offsets = hash_builder.build()
    eos_bucket = not vocab.tokenizer_config.eos
    if eos_bucket:
        values, hash_offsets = append_eos(values, hash_offsets)
    sub = oov_ngrams.build(vocab) if oov_ngrams is not None else None
    return EncodedCorpus(
        tokens,
        offsets,
        label_ids,
        label_offsets,
        TokenHashes(values, hash_offsets, eos_bucket, sub),
    )


def vocab_hashes(vocab: Vocabulary) -> np.ndarray:
    """int32 fastText hash of every vocabulary token (computed once per vocabulary)."""
    cached = getattr(vocab, "_token_hashes", None)
    if cached is None or len(cached) != len(vocab.tokens):
        from embedcli.ftcompat import token_hashes

        cached = token_hashes(vocab.tokens)
        vocab._token_hashes = cached  # type: ignore[attr-defined]
    return cached


def encode_texts(
    texts: Sequence[str],
    vocab: Vocabulary,
    hashes: bool = False,
    subwords: tuple[int, int] | None = None,
) -> EncodedCorpus:
    """Encode raw strings (no labels)."""
    return encode_corpus((Document(t, ()) for t in texts), vocab, hashes=hashes, subwords=subwords)


def build_and_encode_raw(
    docs: Iterable[Document], counter: TokenCounter, batch_size: int = BATCH_DOCS
) -> tuple[TokenCounter, np.ndarray, np.ndarray, dict[str, int], np.ndarray, np.ndarray]:
    """Count and encode with provisional (first-appearance) token and label ids.

    Returns ``(counter, ids, lengths, label_index, label_ids, label_lengths)``.
    """
    tok_builder, lab_builder = _RaggedBuilder(), _RaggedBuilder()
    for batch in _batched(docs, batch_size):
        ids, lengths = counter.add([d.text for d in batch], [d.labels for d in batch])
        tok_builder.add(ids, lengths)
        lab_builder.add(*_label_batch(batch, counter.label_index))
    ids, offsets = tok_builder.build()
    label_ids, label_offsets = lab_builder.build()
    return counter, ids, np.diff(offsets), counter.label_index, label_ids, np.diff(label_offsets)


def remap_blocks(
    blocks: Iterable[np.ndarray],
    table: np.ndarray,
    lengths: np.ndarray,
    sink: Callable[[np.ndarray], None],
    drop: bool,
) -> np.ndarray:
    """Pass ``table[ids]`` to ``sink`` block by block, for id blocks that cover, in order, the
    documents of ``lengths``; with ``drop`` ids mapped below 0 are removed. Returns the documents'
    new lengths. Temporaries are the size of one block, never of the corpus."""
    if not drop:
        for block in blocks:
            sink(table[block])
        return lengths
    new_lengths = np.array(lengths, dtype=np.int64)
    offsets = offsets_of(lengths)
    pos = 0
    for block in blocks:
        mapped = table[block]
        neg = np.flatnonzero(mapped < 0)
        if len(neg):
            docs = np.searchsorted(offsets, pos + neg, side="right") - 1
            new_lengths -= np.bincount(docs, minlength=len(new_lengths))
            mapped = mapped[mapped >= 0]
        sink(mapped)
        pos += len(block)
    return new_lengths


def _remap_in_place(
    ids: np.ndarray, table: np.ndarray, lengths: np.ndarray, drop: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``remap_blocks`` writing back into ``ids`` (the write position never passes the read one)."""
    written = 0

    def sink(values: np.ndarray) -> None:
        nonlocal written
        ids[written : written + len(values)] = values
        written += len(values)

    blocks = (ids[lo : lo + REMAP_BLOCK] for lo in range(0, len(ids), REMAP_BLOCK))
    lengths = remap_blocks(blocks, table, lengths, sink, drop)
    return ids[:written], lengths


def build_and_encode(
    docs: Iterable[Document],
    counter: TokenCounter,
    vocab_options: dict[str, Any],
    batch_size: int = BATCH_DOCS,
    hashes: bool = False,
    subwords: tuple[int, int] | None = None,
) -> tuple[Vocabulary, EncodedCorpus]:
    """One pass: count tokens, keep provisional ids, then remap to the final vocabulary.

    The provisional ids are remapped in place (or straight into the final array), so the peak
    is about one int32 corpus. With ``hashes`` the corpus carries its ``TokenHashes`` (every
    token was counted, so the hash of a provisional id is the hash of its string). This is the
    sequential pass; ``embedcli.shards.build_and_encode`` runs it over worker processes when the
    input is large enough (same result). With ``subwords`` ``(minn, maxn)`` the hashes carry the
    character n-grams of the tokens left out of the vocabulary (``SubwordHashes``).
    """
    counter, ids, lengths, label_index, label_ids, label_lens = build_and_encode_raw(
        docs, counter, batch_size
    )
    names, label_names = list(counter.index), list(label_index)
    vocab = counter.vocabulary(**vocab_options)
    token_hashes = None
    sub = _dropped_ngrams(ids, lengths, names, vocab, subwords) if subwords else None
    if hashes or subwords:
        from embedcli.ftcompat import append_eos
        from embedcli.ftcompat import token_hashes as hash_strings

        table = hash_strings(names)
        values, hash_offsets = table[ids], offsets_of(lengths)
        eos_bucket = not vocab.tokenizer_config.eos
        if eos_bucket:
            values, hash_offsets = append_eos(values, hash_offsets)
        token_hashes = TokenHashes(values, hash_offsets, eos_bucket, sub)
    tokens, lengths = _remap_in_place(ids, vocab.remap_table(names), lengths, not vocab.oov)
    ltable = np.array([vocab.label_to_id[name] for name in label_names], dtype=np.int32)
    label_ids = ltable[label_ids] if len(label_ids) else label_ids.astype(np.int32)
    return vocab, EncodedCorpus(
        tokens, offsets_of(lengths), label_ids, offsets_of(label_lens), token_hashes
    )


def _dropped_ngrams(
    ids: np.ndarray,
    lengths: np.ndarray,
    names: list[str],
    vocab: Vocabulary,
    subwords: tuple[int, int],
) -> SubwordHashes:
    """The ``SubwordHashes`` of a corpus of provisional ids (``names[id]`` is the token): the
    n-grams of the tokens the vocabulary left out (``--min-count``, ``--max-size``)."""
    from embedcli.ftcompat import EOS

    minn, maxn = subwords
    known = vocab.token_to_id
    out_ids = np.fromiter((n not in known for n in names), dtype=bool, count=len(names))
    pids = np.flatnonzero(out_ids)
    values, offsets = word_ngram_hashes(
        ["" if names[i] == EOS else names[i] for i in pids], minn, maxn
    )
    pid_len = np.zeros(len(names), dtype=np.int64)
    pid_len[pids] = np.diff(offsets)
    pid_len[[i for i in pids if names[i] == EOS]] = 0
    keep = np.repeat(pid_len[pids] == np.diff(offsets), np.diff(offsets))
    values, pid_offsets = values[keep], offsets_of(pid_len)
    where = np.flatnonzero(out_ids[ids]) if len(pids) else np.zeros(0, dtype=np.int64)
    oov_values, _ = _take_ragged(values, pid_offsets, ids[where].astype(np.int64))
    docs = np.searchsorted(offsets_of(lengths), where, side="right") - 1
    per_doc = np.bincount(docs, weights=pid_len[ids[where]], minlength=len(lengths))
    word_values, word_offsets = vocab_subwords(vocab, minn, maxn)
    return SubwordHashes(
        minn,
        maxn,
        word_values,
        word_offsets,
        np.ascontiguousarray(oov_values, dtype=np.int32),
        offsets_of(per_doc.astype(np.int64)),
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
    hashes = None
    if parts and all(p.hashes is not None for p in parts):
        values, hash_offsets = cat(
            [p.hashes.values for p in parts], [p.hashes.offsets for p in parts], np.int32
        )
        sub = None
        subs = [p.hashes.subwords for p in parts]
        if all(x is not None for x in subs):
            sv, so = cat([x.values for x in subs], [x.offsets for x in subs], np.int32)
            sub = replace(subs[0], values=sv, offsets=so)
        hashes = TokenHashes(values, hash_offsets, parts[0].hashes.eos_bucket, sub)
    return EncodedCorpus(tokens, offsets, label_ids, label_offsets, hashes)


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

    Works in row blocks so the temporaries stay small next to the output array; ``iter_padded``
    yields the same blocks without building the matrix (``encode`` streams them to the file).
    """
    _check_pad_args(maxlen, padding, truncating)
    width = padded_width(offsets, maxlen)
    out = np.full((len(offsets) - 1, width), value, dtype=dtype)
    for lo, block in iter_padded(
        tokens, offsets, width, padding=padding, truncating=truncating, value=value, dtype=dtype
    ):
        out[lo : lo + len(block)] = block
    return out


def padded_width(offsets: np.ndarray, maxlen: int | None) -> int:
    """Row width of the padded matrix: ``maxlen``, or the longest document without it."""
    if maxlen is not None:
        return maxlen
    return int(np.diff(offsets).max()) if len(offsets) > 1 else 0


def iter_padded(
    tokens: np.ndarray,
    offsets: np.ndarray,
    width: int,
    *,
    padding: str = "pre",
    truncating: str = "pre",
    value: int = 0,
    dtype: Any = "int32",
    block_cells: int = 1 << 20,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first_row, rows)`` blocks of the padded matrix, about ``block_cells`` cells each."""
    _check_pad_args(width or None, padding, truncating)
    n = len(offsets) - 1
    if n == 0 or width == 0:
        if n:
            yield 0, np.full((n, width), value, dtype=dtype)
        return
    block = max(1, block_cells // width)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        out = np.full((hi - lo, width), value, dtype=dtype)
        lens = offsets[lo + 1 : hi + 1] - offsets[lo:hi]
        kept = np.minimum(lens, width)
        # first source index taken from each doc
        src_start = offsets[lo:hi] + (lens - kept if truncating == "pre" else 0)
        dst_start = width - kept if padding == "pre" else np.zeros_like(kept)
        rows = np.repeat(np.arange(hi - lo), kept)
        rank = np.arange(int(kept.sum()), dtype=np.int64) - np.repeat(np.cumsum(kept) - kept, kept)
        out[rows, np.repeat(dst_start, kept) + rank] = tokens[np.repeat(src_start, kept) + rank]
        yield lo, out


def truncation_rate(lengths: np.ndarray, maxlen: int) -> tuple[float, float]:
    """(share of documents cut, share of tokens lost) at ``maxlen``."""
    if len(lengths) == 0:
        return 0.0, 0.0
    total = float(lengths.sum()) or 1.0
    return float((lengths > maxlen).mean()), float(np.maximum(lengths - maxlen, 0).sum() / total)


def require_documents(corpus: EncodedCorpus, what: str = "corpus") -> None:
    if corpus.n_docs == 0:
        raise DataError(f"the {what} is empty: no documents were read")
