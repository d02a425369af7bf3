"""embedcli.subwords: fastText's character n-grams and their buckets (the real fastText is
compared in tests/test_compat_real.py; here the rules themselves, spelt out by hand)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from embedcli.ftcompat import token_hash
from embedcli.subwords import (
    SubwordSpec,
    char_ngrams,
    ragged_subword_buckets,
    subword_buckets,
)


def test_ngrams_of_a_short_word_in_fasttext_order() -> None:
    assert char_ngrams("cat", 3, 4) == ["<ca", "<cat", "cat", "cat>", "at>"]
    # one-character n-grams never are the markers themselves
    assert char_ngrams("a", 1, 2) == ["<a", "a", "a>"]
    assert char_ngrams("ab", 1, 1) == ["a", "b"]


def test_ngrams_count_characters_not_bytes() -> None:
    assert char_ngrams("日本", 2, 2) == ["<日", "日本", "本>"]
    assert char_ngrams("👍🏽", 3, 3) == ["<👍🏽", "👍🏽>"]


def test_no_ngrams_when_off_or_the_word_is_too_short() -> None:
    assert char_ngrams("word", 0, 6) == []
    assert char_ngrams("word", 3, 0) == []
    assert char_ngrams("a", 4, 6) == []  # "<a>" has 3 characters
    assert not SubwordSpec(0, 6, 100).enabled and SubwordSpec(3, 6, 100).enabled
    assert subword_buckets(["word"], SubwordSpec(0, 0, 100))[0].size == 0


def test_buckets_are_the_token_hash_modulo_buckets() -> None:
    spec = SubwordSpec(3, 6, 2_000_000)
    for word in ("où", "naïveté", "😀x", "x" * 30):
        expected = [token_hash(g) % spec.buckets for g in char_ngrams(word, 3, 6)]
        assert [int(b) for b in subword_buckets([word], spec)[0]] == expected


@given(st.lists(st.text(min_size=0, max_size=12), max_size=8), st.integers(1, 4))
def test_ragged_buckets_match_the_per_word_lists(words: list[str], minn: int) -> None:
    spec = SubwordSpec(minn, minn + 2, 997)
    values, offsets = ragged_subword_buckets(words, spec)
    per_word = subword_buckets(words, spec)
    assert offsets.shape == (len(words) + 1,) and offsets[0] == 0
    for i, ids in enumerate(per_word):
        assert np.array_equal(values[offsets[i] : offsets[i + 1]], ids)
        assert ids.dtype == np.int64 and ((ids >= 0) & (ids < 997)).all()
