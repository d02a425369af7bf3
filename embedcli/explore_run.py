"""``Model.explore`` and ``embedcli explore``'s one call: build the explorer page of a model and
write it (``claim_outputs``, atomic write).

``explore_model`` reads the optional ``words`` (extra search words, one per line) and ``docs``
(documents, read as the model's training files were) files, projects the mapped words (and the
documents) to 2-D, and hands ``embedcli.explorer`` the ``ExplorerData`` it turns into HTML. Only
``docs`` on a classifier loads the engine (numba): the documents are pooled, predicted and
explained as ``predict --explain`` does. Nothing is printed: what a person should know (a skipped
``--words`` entry, contributions left out) is in ``ExploreResult.warnings``.

Left out: rendering and the stdout bookkeeping (``cli/explore_cmd.py``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedcli.errors import DataError, UsageError

#: the most neighbours a page lists per word
NEIGHBOURS_MAX = 100
#: the most documents and extra query words a page carries
DOCS_MAX = 100_000
#: the ranges of ``explore``'s numeric options (the command's min/max: tests compare them)
#: the largest word counts (``cli.checks.COUNT_MAX``)
COUNT_MAX = 1_000_000
EXPLORE_RANGES: dict[str, tuple[Any, Any, bool, bool]] = {
    "top": (2, COUNT_MAX, False, False),
    "k": (1, NEIGHBOURS_MAX, False, False),
    "max_docs": (1, DOCS_MAX, False, False),
    "search_words": (0, COUNT_MAX, False, False),
    "ngram_words": (0, COUNT_MAX, False, False),
    "seed": (0, 2**32 - 1, False, False),
}


@dataclass
class ExploreResult:
    """What was written: ``path`` ('-': stdout), its ``bytes``, the counts the page holds and
    the ``seconds`` it took; ``warnings`` the lines a person should read."""

    path: str
    bytes: int
    words: int
    extra_words: int
    documents: int
    searchable_words: int
    ngram_rows: int
    subwords: bool
    method: str
    precision: str
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The one line ``embedcli explore`` prints."""
        where = "stdout" if self.path == "-" else self.path
        return (
            f"wrote {where}: {self.bytes:,} bytes ({self.bytes / 1e6:.2f} MB), {self.words} words"
            + (f", {self.extra_words} extra search words" if self.extra_words else "")
            + (f", {self.documents} documents" if self.documents else "")
            + f", {self.searchable_words:,} searchable words"
            + (f", {self.ngram_rows:,} n-gram rows" if self.subwords else "")
            + f"; built in {self.seconds:.2f} s ({self.method}, {self.precision})"
        )


def check_request(method: str, precision: str, values: dict[str, Any]) -> None:
    """``UsageError`` for a bad ``--method``/``--precision`` or a number out of its range."""
    from embedcli.explorer import PRECISIONS
    from embedcli.projection import METHODS

    for value, choices, option in (
        (method, METHODS, "--method"),
        (precision, PRECISIONS, "--precision"),
    ):
        if value not in choices:
            raise UsageError(f"{option} must be one of {', '.join(choices)}, not {value!r}")
    for name, (low, high, _, _) in EXPLORE_RANGES.items():  # all integers, closed ranges
        value = values.get(name)
        option = "--" + name.replace("_", "-")
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{option} must be an integer, not {value!r}")
        if not low <= value <= high:
            raise UsageError(f"{option} must be in {low}..{high}, not {value}")


def explore_model(
    model: Any,
    path: str | os.PathLike,
    *,
    top: int,
    method: str,
    k: int,
    words: str | os.PathLike | None,
    docs: str | os.PathLike | None,
    max_docs: int,
    search_words: int,
    ngram_words: int,
    precision: str,
    title: str | None,
    seed: int,
    force: bool,
) -> ExploreResult:
    """``Model.explore``: the page of ``model`` (an ``api_model.Model``) written to ``path``
    ('-': stdout; an existing file only if embedcli wrote it, or with ``force``). No defaults
    here: ``Model.explore``'s signature is the one place they are set."""
    from embedcli import explorer as ex
    from embedcli.atomic import atomic_write
    from embedcli.outputs import Output, claim_outputs
    from embedcli.projection import project

    values = dict(top=top, k=k, max_docs=max_docs, search_words=search_words)
    check_request(method, precision, dict(values, ngram_words=ngram_words, seed=seed))
    path = os.fspath(path)
    words = None if words is None else os.fspath(words)
    docs = None if docs is None else os.fspath(docs)
    warnings: list[str] = []
    inputs = [p for p in (model.path, words, docs) if p]
    with claim_outputs([Output(path)], inputs, force=force):
        t0 = time.perf_counter()
        table = model.table
        ids, counts = ex.top_word_ids(table, top)
        vocab = table.vocab
        page_words = [vocab.tokens[int(i)] for i in ids]
        unit = ex.unit_rows(ex.word_vectors(table, ids))
        search_ids, _ = ex.top_word_ids(table, max(top, search_words))
        carried = {vocab.tokens[int(i)] for i in search_ids}
        extra, extra_notes, extra_vectors = _extra_words(model, words, carried, warnings)
        search = ex.search_table(
            table,
            search_words=len(search_ids),
            ngram_words=ngram_words,
            precision=precision,
            extra=extra,
            extra_vectors=extra_vectors,
            extra_notes=extra_notes,
        )
        notes = _page_notes(table, counts, search)
        documents: list[Any] = []
        doc_unit = None
        if docs is not None:
            documents, doc_vectors = _documents(model, docs, max_docs, warnings)
            if doc_vectors.shape[1] != unit.shape[1]:
                raise UsageError(
                    f"--docs needs document vectors in the word space ({unit.shape[1]} dims); "
                    f"this model pools documents into {doc_vectors.shape[1]} dims"
                )
            doc_unit = ex.unit_rows(doc_vectors)
        points = project(unit if doc_unit is None else np.vstack([unit, doc_unit]), method, seed)
        dim = int(table.config["model"]["dim"])
        name = model.path or "the model"
        data = ex.ExplorerData(
            title=title
            or f"{len(ids)} most frequent words of {name} ({method.upper()}, dim {dim})",
            kind=model.kind,
            method=method,
            dim=dim,
            words=page_words,
            ids=ids,
            counts=counts,
            xy=points[: len(ids)],
            k=k,
            search=search,
            docs=documents,
            doc_xy=None if doc_unit is None else points[len(ids) :],
            notes=notes,
        )
        page = ex.build_page(data)
        with atomic_write(path, "w") as f:
            f.write(page)
    return ExploreResult(
        path=path,
        bytes=len(page.encode("utf-8")),
        words=len(ids),
        extra_words=len(extra),
        documents=len(documents),
        searchable_words=search.vocab_words,
        ngram_rows=len(search.bucket_ids),
        subwords=search.subwords is not None,
        method=method,
        precision=precision,
        seconds=time.perf_counter() - t0,
        warnings=warnings,
    )


def _page_notes(table: Any, counts: Any, search: Any) -> list[str]:
    from embedcli import explorer as ex

    notes = []
    if counts is None:
        notes.append("This model records no word counts: words are mapped in vocabulary order.")
    if not ex.has_subwords(table):
        notes.append(
            "This model has no subwords: the search box knows only the words on this page."
        )
    elif search.subwords is not None and not search.buckets_complete:
        notes.append(
            f"Unknown words: this page carries the n-gram rows of the {search.ngram_words:,} most"
            " frequent words; a word with other n-grams gets an approximate vector (it says so)."
        )
    tok = search.tokenizer
    if tok.get("token_pattern") is not None and tok.get("js_pattern") is None:
        notes.append(
            "This model's token pattern has parts the page cannot run as Python does: it may"
            " split some typed text differently from embedcli."
        )
    if search.vocab_words < search.vocab_size:
        notes.append(
            f"The search box knows the {search.vocab_words:,} most frequent of the model's"
            f" {search.vocab_size:,} words by their own vector (--search-words)."
        )
    return notes


def _extra_words(
    model: Any, path: str | None, carried: set[str], warnings: list[str]
) -> tuple[list, list, Any]:
    """The ``--words`` entries the page does not carry already: (words, notes, vectors)."""
    from embedcli import explorer as ex

    table = model.table
    dim = table.embeddings.shape[1]
    if path is None:
        return [], [], np.zeros((0, dim))
    words, notes, vectors = [], [], []
    seen: set[str] = set()
    for raw in _lines(path):
        toks = model.tokens_of(raw)
        if len(toks) != 1:
            warnings.append(f"--words: {raw!r} is not one token for this model; skipped")
            continue
        tok = toks[0]
        if tok in carried or tok in seen:
            continue
        i = model.word_id(raw)
        if i is not None:
            vec, note = ex.word_vectors(table, np.array([i]))[0], f"vocabulary word, id {i}"
        else:
            vec = ex.oov_vector(table, tok)
            if vec is None:
                warnings.append(
                    f"--words: {raw!r} is not in the vocabulary"
                    + (" and none of its n-grams has a row" if ex.has_subwords(table) else "")
                    + "; skipped"
                )
                continue
            note = "out of vocabulary, vector from its character n-grams"
        seen.add(tok)
        words.append(tok)
        notes.append(note)
        vectors.append(vec)
        if len(words) > DOCS_MAX:
            raise UsageError(f"--words: more than {DOCS_MAX:,} words")
    return words, notes, np.array(vectors) if vectors else np.zeros((0, dim))


def _lines(path: str) -> list[str]:
    from embedcli.corpus import CorpusOptions, CorpusReader

    reader = CorpusReader([path], CorpusOptions(fmt="text"))
    return [d.text.strip() for batch in reader.batches(4096) for d in batch if d.text.strip()]


def _label_prefix(config: dict) -> str:
    """The label prefix the model was trained with (config.json "corpus", else "train")."""
    corpus = config.get("corpus")
    prefix = corpus.get("label_prefix") if isinstance(corpus, dict) else None
    if not isinstance(prefix, str) or not prefix:
        prefix = (config.get("train") or {}).get("label_prefix")
    return str(prefix or "__label__")


def _documents(model: Any, path: str, limit: int, warnings: list[str]) -> tuple[list, Any]:
    """The first ``limit`` documents of ``path`` (read as the training files were) for the page,
    and their vectors: pooled (classifier) or the mean of their word vectors (word vectors)."""
    from embedcli.corpus import CorpusOptions, CorpusReader, recorded_options
    from embedcli.explorer import ExplorerDoc

    options = recorded_options(
        model.config.get("corpus"), f"{model.path or 'the model'}/config.json"
    )
    batch: list[Any] = []
    reader = CorpusReader([path], CorpusOptions(**options))  # type: ignore[arg-type]
    for part in reader.batches(min(limit, 4096)):
        batch.extend(part[: limit - len(batch)])
        if len(batch) >= limit:
            break
    if not batch:
        raise DataError(f"--docs {path}: no documents")
    vectors = np.asarray(model.embed_batch(batch), dtype=np.float64)
    if model.kind == "vectors":
        return [ExplorerDoc(d.text, ", ".join(d.labels) or None) for d in batch], vectors
    from embedcli.explain import check_explainable

    try:
        check_explainable(model.spec)
    except UsageError as exc:
        warnings.append(f"the documents' contributions are left out: {exc}")
        explain = False
    else:
        explain = True
    predictions = model.predict_batch(batch, 1, 0.0, explain=explain)
    names = model.labels
    prefix = _label_prefix(model.config)
    docs = []
    for d, pred in zip(batch, predictions, strict=True):
        predicted = names[int(pred.ids[0])] if len(pred.ids) else None
        ex = pred.explanation
        if ex is not None:
            ex = dict(ex, label=names[ex["label"]])
        label = ", ".join(lab.removeprefix(prefix) for lab in d.labels) or None
        docs.append(ExplorerDoc(d.text, label, predicted, ex))
    return docs, vectors
