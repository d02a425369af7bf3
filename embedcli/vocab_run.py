"""``embedcli build-vocab`` as one call: the tokenizer and vocabulary settings of a compat preset
with their overrides, one counting pass over the corpus, the checks that the result is not empty,
and the vocabulary TSV written (``Vocabulary.save``, atomically); numba-free.

The counting pass runs here on a ``corpus.CorpusReader``, or wherever ``count`` runs it (the
command's ``--engine dask`` passes a function that counts on a Dask cluster).

Left out: claiming the output (the command does it before any work), printing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from embedcli.errors import DataError


@dataclass
class VocabRun:
    """What ``build_vocab`` did: the ``vocab.Vocabulary``, its ``VocabStats``, ``reading`` (the
    reader or the engine's reading totals: invalid UTF-8 lines) and the seconds it took."""

    vocab: Any
    stats: Any
    reading: Any
    seconds: float

    def summary(self, output: str) -> dict[str, Any]:
        """``build-vocab --json``'s dict."""
        return {
            **self.stats.to_dict(),
            "vocab_size": len(self.vocab),
            "invalid_utf8_lines": self.reading.invalid_utf8_lines,
            "seconds": round(self.seconds, 3),
            "output": output,
        }


def build_vocab(
    corpus: Sequence[str],
    output: str,
    options: Any,
    *,
    compat: str = "embedcli",
    lower: bool | None = None,
    keep_punctuation: bool = False,
    token_pattern: str | None = None,
    order: str | None = None,
    oov: bool | None = None,
    min_count: int = 1,
    max_size: int | None = None,
    oov_token: str | None = None,
    count: Callable[[Any, Any, dict], tuple[Any, Any, Any]] | None = None,
) -> VocabRun:
    """Count ``corpus`` (paths, read with ``options``, a ``corpus.CorpusOptions``) and write its
    vocabulary to ``output`` ('-' = stdout): id 0 padding, id 1 [UNK], then tokens by frequency.
    ``count(options, tokenizer_config, vocab_options) -> (vocab, stats, reading)`` replaces the
    local counting pass. ``DataError`` when nothing was read or no token is kept."""
    from embedcli.text import make_tokenizer_config
    from embedcli.vocab import build_vocabulary, vocab_options

    tok_cfg = make_tokenizer_config(
        compat, lower=lower, keep_punctuation=keep_punctuation, token_pattern=token_pattern
    )
    opts = vocab_options(
        compat, order=order, oov=oov, min_count=min_count, max_size=max_size, oov_token=oov_token
    )
    t0 = time.perf_counter()
    if count is None:
        from embedcli.corpus import CorpusReader

        reading: Any = CorpusReader(corpus, options)
        vocab, stats = build_vocabulary(reading, tok_cfg, opts)
    else:
        vocab, stats, reading = count(options, tok_cfg, opts)
    if stats.documents == 0:
        raise DataError("the corpus is empty: no documents were read")
    if stats.kept == 0:
        raise DataError(
            f"the vocabulary is empty: no token is seen --min-count {min_count} times"
            if stats.tokens
            else "the vocabulary is empty: the corpus has no tokens"
        )
    vocab.save(output)
    return VocabRun(vocab, stats, reading, time.perf_counter() - t0)
