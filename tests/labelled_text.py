"""A small labelled corpus in fastText format for the autotune tests: each document carries three
keywords of its label among four noise words, so a search has something to find."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LABELS = ("a", "b", "c")


def write_keyword_corpus(path: Path, *, seed: int, docs: int, keywords: int, noise: int) -> Path:
    """``docs`` lines ``__label__X`` + 3 words ``X<k>`` (k < ``keywords``) and 4 words
    ``x<j>`` (j < ``noise``), shuffled, drawn from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(docs):
        k = int(rng.integers(len(LABELS)))
        words = [f"{LABELS[k]}{int(rng.integers(keywords))}" for _ in range(3)]
        words += [f"x{int(rng.integers(noise))}" for _ in range(4)]
        rng.shuffle(words)
        lines.append(f"__label__{LABELS[k]} " + " ".join(words))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
