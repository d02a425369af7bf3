"""fastText's subwords: the character n-grams of ``<word>`` and the hash buckets they share.

``Dictionary::computeSubwords`` walks ``"<" + word + ">"`` one UTF-8 character at a time (a byte
that is not a continuation byte starts a character); from each start it takes the n-grams of
``minn .. maxn`` characters, in start-major then length order, leaving out the one-character
n-grams ``<`` and ``>`` themselves. Each n-gram goes to the bucket ``hash(ngram) % buckets``
with the token hash of ``ftcompat`` (FNV-1a over sign-extended UTF-8 bytes), the row
``nwords + bucket`` of fastText's input matrix. A word's vector is the mean of its own row and
its n-gram rows; a word outside the vocabulary gets the mean of its n-gram rows alone, and a word
with no n-gram (``minn`` larger than the word) gets zeros. Python strings iterate by code point,
which is what the continuation-byte walk yields on valid UTF-8.

    >>> char_ngrams("où", 3, 4)
    ['<où', '<où>', 'où>']
    >>> [int(b) for b in subword_buckets(["où"], SubwordSpec(3, 4, 2_000_000))[0]]
    [1867388, 845926, 1745676]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .ftcompat import token_hashes

BOW = "<"
EOW = ">"
#: the value of ``config.json``'s subword ``hash`` for fastText's scheme
SUBWORD_HASH = "fasttext-fnv1a"


@dataclass(frozen=True)
class SubwordSpec:
    """Character n-grams of ``minn .. maxn`` characters hashed into ``buckets`` rows; off when
    ``minn`` or ``maxn`` is 0 (plain word2vec)."""

    minn: int
    maxn: int
    buckets: int

    @property
    def enabled(self) -> bool:
        return self.minn > 0 and self.maxn > 0 and self.buckets > 0

    def to_json(self) -> dict:
        return {"minn": self.minn, "maxn": self.maxn, "buckets": self.buckets, "hash": SUBWORD_HASH}

    @classmethod
    def from_json(cls, data: dict) -> SubwordSpec:
        """The spec of a ``to_json`` record (``ValueError`` for another hash or bad values)."""
        if not isinstance(data, dict) or data.get("hash") != SUBWORD_HASH:
            raise ValueError(f"subwords must be hashed with {SUBWORD_HASH!r}")
        values = [data.get(k) for k in ("minn", "maxn", "buckets")]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            raise ValueError("subwords minn, maxn and buckets must be integers >= 0")
        return cls(*values)


def char_ngrams(word: str, minn: int, maxn: int) -> list[str]:
    """The character n-grams fastText gives ``word``, in its order."""
    if minn <= 0 or maxn <= 0:
        return []
    w = BOW + word + EOW
    size = len(w)
    out = []
    for i in range(size):
        for n in range(max(minn, 1), min(maxn, size - i) + 1):
            if n == 1 and (i == 0 or i + 1 == size):
                continue
            out.append(w[i : i + n])
    return out


def subword_buckets(words: Sequence[str], spec: SubwordSpec) -> list[np.ndarray]:
    """For each word, the buckets (``0 .. buckets-1``, int64) of its n-grams in fastText's
    order; one vectorized hash over all the n-grams of all the words."""
    if not spec.enabled:
        return [np.zeros(0, dtype=np.int64) for _ in words]
    grams = [char_ngrams(w, spec.minn, spec.maxn) for w in words]
    flat = [g for gs in grams for g in gs]
    hashes = token_hashes(flat).view(np.uint32).astype(np.int64) % spec.buckets
    out = []
    start = 0
    for gs in grams:
        out.append(hashes[start : start + len(gs)])
        start += len(gs)
    return out


def ragged_subword_buckets(
    words: Sequence[str], spec: SubwordSpec
) -> tuple[np.ndarray, np.ndarray]:
    """``subword_buckets`` as one ragged pair: ``values`` (int64) and ``offsets`` (int64,
    ``len(words) + 1``), word ``i``'s buckets being ``values[offsets[i]:offsets[i + 1]]``."""
    per_word = subword_buckets(words, spec)
    offsets = np.zeros(len(per_word) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in per_word], out=offsets[1:])
    values = np.concatenate(per_word) if per_word else np.zeros(0, dtype=np.int64)
    return values.astype(np.int64, copy=False), offsets


def ngram_hashes(words: Sequence[str], minn: int, maxn: int) -> tuple[np.ndarray, np.ndarray]:
    """The token hashes (int32, fastText's storage) of every word's character n-grams, ragged:
    ``(values int32, offsets int64)``, word ``i``'s at ``values[offsets[i]:offsets[i + 1]]``.
    The bucket of a hash ``h`` is ``uint32(h) % buckets`` (what :func:`subword_buckets`
    gives); keeping the hashes leaves the number of buckets open until the model is built."""
    grams = [char_ngrams(w, minn, maxn) for w in words]
    offsets = np.zeros(len(grams) + 1, dtype=np.int64)
    np.cumsum([len(g) for g in grams], out=offsets[1:])
    values = token_hashes([g for gs in grams for g in gs])
    return np.ascontiguousarray(values, dtype=np.int32), offsets
