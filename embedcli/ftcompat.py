"""fastText's exact conventions that embedcli reproduces: its token hash, its word n-gram
buckets and the order its dictionary gets from libstdc++'s ``std::sort`` (pure Python, no numba).

**Token hash** (``Dictionary::hash``, fastText >= 2017): FNV-1a over the UTF-8 bytes of the token,
32 bits, where every byte is sign-extended first (``h ^= uint32_t(int8_t(c)); h *= 16777619``,
offset basis 2166136261), so bytes >= 0x80 flip the high bits too.

    >>> token_hash("</s>"), token_hash("ü")
    (3617362777, 804934730)

**Word n-grams** (``Dictionary::addWordNgrams``): the hashes of a line's tokens (every token,
unknown words and the final ``</s>`` included, labels not) as int32; for each start i and each
following j < i + n, ``h = h * 116049371 + hashes[j]`` in uint64 arithmetic, where the int32
hashes are sign-extended to 64 bits, starting from ``h = hashes[i]``; the bucket is
``h % buckets`` and the row ``nwords + bucket``.

**Dictionary order** (``Dictionary::threshold``): entries in first-appearance order (words and
labels interleaved as they first occur) are sorted by ``std::sort`` with "words before labels,
then count descending". ``std::sort`` is introsort and not stable: equal counts come out in an
order fixed by the algorithm. ``std_sort_order`` replays GCC's libstdc++ introsort step by step
(median-of-three pivot, unguarded partition, heapsort past depth ``2 * floor(log2 n)``, insertion
sort of runs of 16), which is what the Linux builds of fastText run; a fastText built against
another C++ library (macOS libc++, MSVC) orders equal counts differently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
NGRAM_MULT = 116049371
#: the value of ``config.json``'s ``model.ngram_hash`` for models that hash token strings
NGRAM_HASH = "fasttext-2017"
EOS = "</s>"


def token_hash(token: str | bytes) -> int:
    """fastText's ``Dictionary::hash`` of a token (uint32)."""
    data = token.encode("utf-8", "surrogatepass") if isinstance(token, str) else token
    h = _FNV_OFFSET
    for c in data:
        h = ((h ^ (c | 0xFFFFFF00 if c >= 0x80 else c)) * _FNV_PRIME) & _MASK32
    return h


def token_hashes(tokens: Sequence[str]) -> np.ndarray:
    """``token_hash`` of every token as int32 (fastText's storage), vectorized over the tokens:
    one numpy step per byte position."""
    data = [t.encode("utf-8", "surrogatepass") for t in tokens]
    n = len(data)
    lengths = np.fromiter(map(len, data), dtype=np.int64, count=n)
    h = np.full(n, _FNV_OFFSET, dtype=np.uint32)
    if n == 0:
        return h.view(np.int32)
    flat = np.frombuffer(b"".join(data), dtype=np.int8)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    order = np.argsort(-lengths, kind="stable")  # longest first: active tokens are a prefix
    sorted_len = lengths[order]
    sorted_start = starts[order]
    prime = np.uint32(_FNV_PRIME)
    hs = h[order]
    for pos in range(int(sorted_len[0]) if n else 0):
        active = int(np.searchsorted(-sorted_len, -pos, side="left"))  # tokens longer than pos
        c = flat[sorted_start[:active] + pos].astype(np.int32).view(np.uint32)
        hs[:active] = (hs[:active] ^ c) * prime
    h[order] = hs
    return h.view(np.int32)


def append_eos(values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ragged hashes with ``</s>``'s hash appended to every document."""
    eos = np.int32(as_int32(token_hash(EOS)))
    out = np.insert(values, offsets[1:], eos).astype(np.int32, copy=False)
    return out, offsets + np.arange(len(offsets), dtype=np.int64)


def eos_bucket(buckets: int) -> int:
    """The bucket of ``</s>`` as a unigram (``hash % buckets`` with fastText's sign extension),
    the row a vocabulary without the word ``</s>`` gives it."""
    return (as_int32(token_hash(EOS)) & _MASK64) % buckets


def as_int32(h: int) -> int:
    """A uint32 hash as fastText stores it in its ``std::vector<int32_t>``."""
    return h - (1 << 32) if h >= 1 << 31 else h


def ngram_buckets(hashes: Sequence[int], n: int, buckets: int) -> list[int]:
    """Bucket numbers (``0 .. buckets-1``) of a line's word n-grams, in fastText's order (start
    major, then length), from the line's token hashes (uint32 or int32)."""
    sext = [(as_int32(h & _MASK32)) & _MASK64 for h in hashes]
    out = []
    for i in range(len(sext)):
        h = sext[i]
        for j in range(i + 1, min(len(sext), i + n)):
            h = (h * NGRAM_MULT + sext[j]) & _MASK64
            out.append(h % buckets)
    return out


# -- libstdc++ std::sort ---------------------------------------------------------------------------
_THRESHOLD = 16


def std_sort_order(keys: Sequence[int]) -> list[int]:
    """The permutation libstdc++'s ``std::sort`` makes of items with these keys, compared by
    ``key[a] < key[b]`` only: ``[keys[i] for i in result]`` is sorted, and items with equal keys
    are in the (deterministic, not first-appearance) order the introsort leaves them in."""
    n = len(keys)
    k = list(keys)
    v = list(range(n))
    if n > 1:
        _introsort_loop(k, v, 0, n, 2 * (n.bit_length() - 1))
        _final_insertion_sort(k, v, 0, n)
    return v


def _introsort_loop(k: list, v: list, first: int, last: int, depth: int) -> None:
    while last - first > _THRESHOLD:
        if depth == 0:
            _heap_sort(k, v, first, last)
            return
        depth -= 1
        cut = _partition_pivot(k, v, first, last)
        _introsort_loop(k, v, cut, last, depth)
        last = cut


def _swap(k: list, v: list, a: int, b: int) -> None:
    k[a], k[b] = k[b], k[a]
    v[a], v[b] = v[b], v[a]


def _partition_pivot(k: list, v: list, first: int, last: int) -> int:
    mid = first + (last - first) // 2
    a, b, c = first + 1, mid, last - 1
    # __move_median_to_first(first, a, b, c)
    if k[a] < k[b]:
        if k[b] < k[c]:
            _swap(k, v, first, b)
        elif k[a] < k[c]:
            _swap(k, v, first, c)
        else:
            _swap(k, v, first, a)
    elif k[a] < k[c]:
        _swap(k, v, first, a)
    elif k[b] < k[c]:
        _swap(k, v, first, c)
    else:
        _swap(k, v, first, b)
    # __unguarded_partition(first + 1, last, pivot = first)
    pivot = k[first]
    lo, hi = first + 1, last
    while True:
        while k[lo] < pivot:
            lo += 1
        hi -= 1
        while pivot < k[hi]:
            hi -= 1
        if not lo < hi:
            return lo
        _swap(k, v, lo, hi)
        lo += 1


def _final_insertion_sort(k: list, v: list, first: int, last: int) -> None:
    if last - first > _THRESHOLD:
        _insertion_sort(k, v, first, first + _THRESHOLD)
        for i in range(first + _THRESHOLD, last):
            _linear_insert(k, v, i)
    else:
        _insertion_sort(k, v, first, last)


def _insertion_sort(k: list, v: list, first: int, last: int) -> None:
    for i in range(first + 1, last):
        if k[i] < k[first]:
            key, val = k[i], v[i]
            k[first + 1 : i + 1] = k[first:i]
            v[first + 1 : i + 1] = v[first:i]
            k[first], v[first] = key, val
        else:
            _linear_insert(k, v, i)


def _linear_insert(k: list, v: list, last: int) -> None:
    key, val = k[last], v[last]
    nxt = last - 1
    while key < k[nxt]:
        k[last], v[last] = k[nxt], v[nxt]
        last = nxt
        nxt -= 1
    k[last], v[last] = key, val


def _heap_sort(k: list, v: list, first: int, last: int) -> None:
    """``std::__partial_sort(first, last, last)``: make_heap, then sort_heap."""
    length = last - first
    if length >= 2:
        parent = (length - 2) // 2
        while True:
            _adjust_heap(k, v, first, parent, length, k[first + parent], v[first + parent])
            if parent == 0:
                break
            parent -= 1
    while last - first > 1:
        last -= 1
        key, val = k[last], v[last]  # __pop_heap(first, last, last)
        k[last], v[last] = k[first], v[first]
        _adjust_heap(k, v, first, 0, last - first, key, val)


def _adjust_heap(k: list, v: list, first: int, hole: int, length: int, key: int, val: int) -> None:
    top = hole
    child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if k[first + child] < k[first + child - 1]:
            child -= 1
        k[first + hole], v[first + hole] = k[first + child], v[first + child]
        hole = child
    if length & 1 == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        k[first + hole], v[first + hole] = k[first + child - 1], v[first + child - 1]
        hole = child - 1
    # __push_heap(first, hole, top, value)
    parent = (hole - 1) // 2
    while hole > top and k[first + parent] < key:
        k[first + hole], v[first + hole] = k[first + parent], v[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    k[first + hole], v[first + hole] = key, val


def dictionary_order(
    counts: Sequence[int], label_counts: Sequence[int], label_positions: Sequence[int]
) -> tuple[list[int], list[int]]:
    """fastText's ``Dictionary::threshold`` order: ``(word order, label order)`` as indices into
    ``counts`` and ``label_counts`` (both in first-appearance order). ``label_positions[i]`` is
    the number of distinct words seen before label i first appeared (labels lead their line)."""
    seq_keys: list[int] = []
    seq_items: list[int] = []  # word i -> i, label i -> -1 - i
    big = (max(counts, default=0) + max(label_counts, default=0) + 1) * 2
    li = 0
    order = sorted(range(len(label_counts)), key=lambda i: label_positions[i])
    for w, c in enumerate(counts):
        while li < len(order) and label_positions[order[li]] <= w:
            seq_keys.append(big - int(label_counts[order[li]]))
            seq_items.append(-1 - order[li])
            li += 1
        seq_keys.append(-int(c))
        seq_items.append(w)
    for i in order[li:]:
        seq_keys.append(big - int(label_counts[i]))
        seq_items.append(-1 - i)
    perm = std_sort_order(seq_keys)
    items = [seq_items[p] for p in perm]
    return [i for i in items if i >= 0], [-1 - i for i in items if i < 0]
