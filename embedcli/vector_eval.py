"""``embedcli evaluate-vectors`` as one call: load word vectors (a model directory or a word2vec
file), score them on Google analogy files and word-pair similarity files (``wordeval``, gensim's
rules), and return the report; numpy only.

Left out: printing (the command renders the report and prints the notes).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from embedcli.errors import UsageError


@dataclass
class VectorsEvaluation:
    """``report`` the ``evaluate-vectors --json`` dict; ``notes`` what was skipped and why."""

    report: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def evaluate_vectors(
    vectors: str,
    *,
    analogies: Sequence[str] = (),
    similarity: Sequence[str] = (),
    fmt: str = "auto",
    restrict_vocab: int = 30_000,
    pairs_restrict_vocab: int = 300_000,
    case_insensitive: bool = True,
    delimiter: str = "\t",
) -> VectorsEvaluation:
    """Analogy accuracy per section and in total for each file of ``analogies``, Spearman and
    Pearson correlations for each of ``similarity``, of the vectors at ``vectors`` (``fmt``
    auto, model, word2vec or word2vec-binary); questions and pairs with an unknown word are
    counted and skipped."""
    from embedcli import wordeval, wordvectors

    if fmt not in wordvectors.VECTOR_FORMATS:
        choices = ", ".join(wordvectors.VECTOR_FORMATS)
        raise UsageError(f"--format must be one of {choices}, not {fmt!r}")
    if not analogies and not similarity:
        raise UsageError("nothing to evaluate: give --analogies FILE and/or --similarity FILE")
    if delimiter == "\\t":
        delimiter = "\t"
    if not delimiter:
        raise UsageError("--delimiter must not be empty")
    started = time.perf_counter()
    limit = max(restrict_vocab if analogies else 0, pairs_restrict_vocab if similarity else 0)
    words = wordvectors.load_word_vectors(vectors, fmt, limit=limit)
    loaded = time.perf_counter() - started
    analogy_results = [
        wordeval.evaluate_analogies(
            words, path, restrict_vocab=restrict_vocab, case_insensitive=case_insensitive
        )
        for path in analogies
    ]
    pair_results = [
        wordeval.evaluate_pairs(
            words,
            path,
            restrict_vocab=pairs_restrict_vocab,
            case_insensitive=case_insensitive,
            delimiter=delimiter,
        )
        for path in similarity
    ]
    notes = [note for r in [*analogy_results, *pair_results] for note in r.notes]
    report = {
        "vectors": {
            "path": vectors,
            "format": words.kind,
            "words": len(words.words),
            "dim": words.dim,
            "load_seconds": loaded,
        },
        "analogies": [r.to_dict() for r in analogy_results],
        "similarity": [r.to_dict() for r in pair_results],
        "seconds": time.perf_counter() - started,
    }
    return VectorsEvaluation(report, notes)
