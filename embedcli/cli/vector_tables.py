"""The word-vector model's side of the table commands (``embedcli pretrain`` models): the vector
of an out-of-vocabulary query from its character n-grams (``nearest``), the rows of ``export
--words`` (fastText's print-word-vectors) and ``info``'s report. Numba-free, as the commands
that use it."""

from __future__ import annotations

from typing import Any

from embedcli.cli.model_common import open_table, print_note, query_tokens, stdin_lines, word_id
from embedcli.errors import DataError, UsageError

#: the id ``lookup`` shows for an out-of-vocabulary word whose vector comes from its n-grams
SUBWORD_ID = -1


def subword_query(table: Any, word: str) -> Any:
    """The unit vector of an out-of-vocabulary query from its character n-grams (with a note),
    or None when the word has no n-gram with a stored row. ``table`` is an ``api_model.Model``."""
    vector = table.subword_query(word)
    if vector is None:
        return None
    found, total = table.ngrams_found(table.tokens_of(word)[0])
    print_note(
        f"{word!r} is not in the vocabulary; querying with the mean of {found} of its {total} "
        "character n-grams (from subwords)"
    )
    return vector


def word_list_rows(table: Any, model: str, words_file: str) -> tuple[Any, Any]:
    """The vectors and row names of ``export --words``: every whitespace-separated word of the
    file in its order (repeats kept), its vector the mean of its standardized tokens' vectors
    (an unknown token's from its character n-grams; zeros when nothing is known), as fastText's
    print-word-vectors."""
    from embedcli.corpus import CorpusOptions, CorpusReader
    from embedcli.exporters import RowSet

    if not hasattr(table, "mean_vectors"):
        raise UsageError(
            f"--words needs a word-vector model (embedcli pretrain); {model} is a classifier "
            "(export its table without --words)"
        )
    if words_file == "-":
        words = [w for line in stdin_lines() for w in line.split()]
    else:
        reader = CorpusReader([words_file], CorpusOptions(fmt="text", skip_blank=True))
        words = [w for doc in reader for w in doc.text.split()]
    if not words:
        raise DataError(f"--words {words_file} holds no word")
    vectors = table.mean_vectors([query_tokens(table.vocab, w) for w in words])
    counts = [
        table.vocab.counts[i] if (i := word_id(table.vocab, w)) is not None else 0 for w in words
    ]
    return vectors, RowSet(0, len(words), words, counts)


def vectors_info(model: str, config: dict, files: list, bad: list) -> tuple[dict, dict]:
    """``info`` on a word-vector model (embedcli pretrain): ``(report, summary)``, the JSON report
    (kind, method, dimension, words, subwords, training, reading, files) and its lines for people."""
    from embedcli.vectors_model import describe_subwords

    table = None if bad else open_table(model, verify=True)
    spec = config["model"]
    report = {
        "path": model,
        "format": config.get("format"),
        "version": config.get("version"),
        "kind": "vectors",
        "created": config.get("created"),
        "model": spec,
        "words": None if table is None else len(table.words),
        "subword_rows": None if table is None else len(table.subword_buckets),
        "total_params": None
        if table is None
        else (len(table.words) + len(table.subword_buckets)) * table.dim,
        "vocab": None
        if table is None
        else {
            "size": len(table.vocab),
            "oov": table.vocab.unk_id is not None,
            "tokenizer": config.get("tokenizer"),
        },
        "train": config.get("train", {}),
        "corpus": config.get("corpus") or {},
        "metrics": config.get("metrics", {}),
        "files": files,
        "versions": config.get("versions", {}),
    }
    summary = {
        "kind": "word vectors (embedcli pretrain; no classifier)",
        "method": spec.get("method"),
        "dimension": spec.get("dim"),
    }
    if table is not None:
        top = ", ".join(f"{w} ({c:,})" for w, c in zip(table.words[:8], table.counts[:8].tolist()))
        summary.update(
            {
                "words": f"{len(table.words):,}",
                "subwords": describe_subwords(table),
                "parameters": f"{report['total_params']:,} "
                f"({report['total_params'] * 4 / 2**20:.2f} MB float32)",
                "most frequent": top,
                "tokenizer": config.get("tokenizer"),
            }
        )
    for key in ("window", "negative", "sample", "epochs", "lr"):
        if key in spec:
            summary[key] = spec[key]
    return report, summary
