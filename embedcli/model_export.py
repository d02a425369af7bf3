"""``Model.export`` (and ``embedcli export``): a model's table, or the vectors of a word list,
written in one of ``exporters.EXPORT_FORMATS``; numpy only.

``check_request`` is the options' rules alone (the command runs it before opening the model);
``export_model`` claims the outputs (``outputs.claim_outputs``: never the model itself or the
word list), picks the rows and writes them. An ``npz`` export carries a classifier's Dense
layers (Keras kernel layout) with its pool and objective.

Left out: writing only some words of the table by id (``lookup --index`` prints rows).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from embedcli.errors import DataError, UsageError


class Exported(list):
    """The paths an export wrote (a list of str), with ``rows`` and ``dim`` of the table written."""

    rows: int = 0
    dim: int = 0


def check_request(fmt: str, *, words_only: bool = False, words: bool = False) -> None:
    """``UsageError`` for a format embedcli does not write or options that do not go together."""
    from embedcli.exporters import EXPORT_FORMATS

    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    if words:
        if words_only:
            raise UsageError("--words exports the words of a file: drop --words-only")
        if fmt in ("npy", "npz"):
            raise UsageError(
                "--words writes each word with its vector: use --format word2vec, "
                "word2vec-binary, csv or projector (an npy matrix holds no words)"
            )
    if fmt == "npz" and words_only:
        raise UsageError("npz holds the whole model (row i = id i): drop --words-only")


def export_model(
    model: Any,
    path: str | os.PathLike,
    fmt: str,
    *,
    words_only: bool = False,
    words: str | os.PathLike | Iterable[str] | None = None,
    force: bool = False,
) -> Exported:
    """Write ``model``'s (an ``api_model.Model``) table, or with ``words`` (a text file of
    words, or the words) their vectors, to ``path`` in format ``fmt``; the paths written."""
    from embedcli.exporters import export_embeddings, export_outputs, select_rows
    from embedcli.outputs import claim_outputs

    check_request(fmt, words_only=words_only, words=words is not None)
    path = os.fspath(path)
    words_path = os.fspath(words) if isinstance(words, str | os.PathLike) else None
    inputs = [model.path] + ([words_path] if words_path not in (None, "-") else [])
    with claim_outputs(export_outputs(fmt, path), inputs, force=force):
        layers = classifier_layers(model) if fmt == "npz" else None
        if words is not None:
            embeddings, rows = word_list_rows(model, words)
        else:
            vocab = model.vocab
            embeddings = model.embeddings
            rows = select_rows(
                vocab.tokens,
                embeddings.shape[0],
                first_word=model.first_word,
                counts=vocab.counts,
                words_only=words_only,
            )
        out = Exported(export_embeddings(embeddings, rows, fmt, path, layers))
    out.rows, out.dim = len(rows), model.dim
    return out


def classifier_layers(model: Any) -> dict[str, Any]:
    """A classifier's arrays after the pooling for an ``npz`` export (none for word vectors):
    Dense kernels (inputs x outputs) and biases, and what a copy needs to know."""
    import numpy as np

    arrays = model.output_layers
    if not arrays:
        return {}
    spec = model.spec
    keys = ("out_W", "out_b", "hidden_W", "hidden_b")
    layers = {k: np.asarray(arrays[k]) for k in keys if k in arrays}
    layers["pool"] = np.array(spec.pool)
    layers["objective"] = np.array(spec.objective)
    layers["maxlen"] = np.array(int(spec.maxlen))
    layers["labels"] = np.array(model.labels, dtype=np.str_)
    return layers


def word_list_rows(model: Any, words: str | os.PathLike | Iterable[str]) -> tuple[Any, Any]:
    """The vectors and row names of an export of ``words`` (a text file's whitespace-separated
    words, or the words): each in its order (repeats kept), its vector the mean of its
    standardized tokens' vectors (an unknown token's from its character n-grams; zeros when
    nothing is known), as fastText's print-word-vectors. Word-vector models only."""
    from embedcli.exporters import RowSet

    if model.kind != "vectors":
        raise UsageError(
            f"--words needs a word-vector model (embedcli pretrain); {model.path or 'this model'}"
            " is a classifier (export its table without --words)"
        )
    if isinstance(words, str | os.PathLike):
        from embedcli.corpus import CorpusOptions, CorpusReader

        name = os.fspath(words)
        reader = CorpusReader([name], CorpusOptions(fmt="text", skip_blank=True))
        found = [w for doc in reader for w in doc.text.split()]
    else:
        name = "-"
        found = [w for item in words for w in str(item).split()]
    if not found:
        raise DataError(f"--words {name} holds no word")
    vectors = model.mean_vectors([model.tokens_of(w) for w in found])
    counts = [model.vocab.counts[i] if (i := model.word_id(w)) is not None else 0 for w in found]
    return vectors, RowSet(0, len(found), found, counts)
