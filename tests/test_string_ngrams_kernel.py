"""``hash_string_ngrams`` against a plain-Python twin of fastText's ``addWordNgrams`` (string
hashes): the same rows and offsets for any document lengths, n and ``eos_row``. Guards the
kernel's lengths pass, which is arithmetic (``string_featurized_lengths``) instead of a counting
copy of the hashing loop (issue #8: one inlined copy fewer to compile on a cold run)."""

from __future__ import annotations

import numpy as np
import pytest

from embedcli import kernels


def twin(tokens, offsets, hashes, hash_offsets, n, num_words, buckets, eos_row):
    out, off = [], [0]
    mask = (1 << 64) - 1
    for d in range(len(offsets) - 1):
        row = [int(t) for t in tokens[offsets[d] : offsets[d + 1]]]
        if eos_row >= 0:
            row.append(eos_row)
        hs = [int(h) & mask for h in hashes[hash_offsets[d] : hash_offsets[d + 1]]]
        for i in range(len(hs)):
            h = hs[i]
            for j in range(i + 1, min(len(hs), i + n)):
                h = (h * 116049371 + hs[j]) & mask
                row.append(num_words + h % buckets)
        out += row
        off.append(len(out))
    return out, off


@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("eos_row", [-1, 7])
def test_rows_and_offsets_equal_the_twin(n: int, eos_row: int) -> None:
    rng = np.random.default_rng(n * 10 + eos_row)
    lengths = rng.integers(0, 9, size=40)
    lengths[:3] = [0, 1, 2]
    hash_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    hashes = rng.integers(-(2**31), 2**31, size=int(hash_offsets[-1])).astype(np.int32)
    keep = rng.integers(0, 2, size=hashes.shape[0]).astype(bool)  # unknown words: no word id
    tokens_list, offsets = [], [0]
    for d in range(40):
        ids = [p + 2 for p in range(hash_offsets[d], hash_offsets[d + 1]) if keep[p]]
        tokens_list += ids
        offsets.append(len(tokens_list))
    tokens = np.array(tokens_list, dtype=np.int32)
    offsets = np.array(offsets, dtype=np.int64)
    num_words, buckets = 1000, 2**20 + 7
    got, got_off = kernels.hash_string_ngrams(
        tokens, offsets, hashes, hash_offsets, n, num_words, buckets, eos_row
    )
    want, want_off = twin(tokens, offsets, hashes, hash_offsets, n, num_words, buckets, eos_row)
    assert got.dtype == np.int32 and got_off.dtype == np.int64
    assert got.tolist() == want and got_off.tolist() == want_off
    lengths2 = kernels.string_featurized_lengths(offsets, hash_offsets, n, eos_row)
    assert lengths2.tolist() == np.diff(want_off).tolist()
