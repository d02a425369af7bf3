"""``embedcli explore``: a self-contained HTML page to look at a model's embedding.

The page itself is built by ``embedcli.explorer`` (numpy only); this command reads the model,
the optional ``--words`` and ``--docs`` files, and writes the page through ``claim_outputs`` and
an atomic write. Only ``--docs`` on a classifier loads the engine (numba), to pool, predict and
explain the documents as ``predict --explain`` does.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from embedcli.cli.app import app, err_console, handle_errors, streaming_to_stdout
from embedcli.cli.checks import COUNT_MAX, SEED_MAX
from embedcli.cli.model_common import (
    check_choice,
    model_label_prefix,
    open_table,
    print_note,
    query_tokens,
    word_id,
)
from embedcli.cli.options import ForceOpt, ModelArg
from embedcli.cli.render import text
from embedcli.errors import DataError, UsageError

#: the most neighbours a page lists per word
NEIGHBOURS_MAX = 100
#: the most documents and extra query words a page carries
DOCS_MAX = 100_000


@app.command("explore")
@handle_errors
def explore(
    ctx: typer.Context,
    model: ModelArg,
    *,
    output: Annotated[
        str, typer.Option("--output", "-o", help="The HTML page to write ('-': stdout).")
    ],
    top: Annotated[
        int,
        typer.Option(
            "--top", "-n", min=2, max=COUNT_MAX, help="Number of most frequent words to map."
        ),
    ] = 2000,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="pca (numpy), tsne (openTSNE) or umap (umap-learn); "
            "tsne/umap: pip install 'embedcli[explore]'.",
        ),
    ] = "pca",
    k: Annotated[
        int,
        typer.Option(
            "--k",
            "-k",
            min=1,
            max=NEIGHBOURS_MAX,
            help="Nearest neighbours listed per word (cosine, full space).",
        ),
    ] = 10,
    words: Annotated[
        str | None,
        typer.Option(
            "--words",
            help="File of extra search words, one per line (out-of-vocabulary ones use subwords).",
        ),
    ] = None,
    docs: Annotated[
        str | None,
        typer.Option("--docs", help="Documents to map (fastText format: labels colour them)."),
    ] = None,
    max_docs: Annotated[
        int,
        typer.Option(
            "--max-docs", min=1, max=DOCS_MAX, help="Read at most this many documents of --docs."
        ),
    ] = 1000,
    title: Annotated[str | None, typer.Option("--title", help="Page title.")] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, max=SEED_MAX, help="Random seed (t-SNE, UMAP), 0..2^32-1."),
    ] = 0,
    force: ForceOpt = False,
) -> None:
    """Write one self-contained HTML page to explore the embedding: a zoomable 2-D map of the
    most frequent words, hover for word, frequency and id, and a search box listing a word's
    nearest neighbours by cosine in the full space (precomputed for the mapped words and the
    --words list). --docs adds documents coloured by label; click one for its per-token
    contributions (predict --explain). No network: scripts, styles and data are inline.

    Example: embedcli explore model -o explorer.html --top 500 --docs sample_data/stdlib/test.txt
    """
    import numpy as np

    from embedcli import explorer as ex
    from embedcli.atomic import atomic_write
    from embedcli.outputs import Output, claim_outputs
    from embedcli.projection import METHODS, project

    check_choice(method, METHODS, "--method")
    ctx.with_resource(
        claim_outputs([Output(output)], [p for p in (model, words, docs) if p], force=force)
    )
    t0 = time.perf_counter()
    table = open_table(model, classifier=True)
    kind = "vectors" if table.config.get("kind") == "vectors" else "classifier"
    ids, counts = ex.top_word_ids(table, top)
    vocab = table.vocab
    page_words = [vocab.tokens[int(i)] for i in ids]
    unit = ex.unit_rows(ex.word_vectors(table, ids))
    extra, extra_notes, extra_unit = _extra_words(table, words, set(page_words))
    notes = []
    if counts is None:
        notes.append("This model records no word counts: words are mapped in vocabulary order.")
    if not ex.has_subwords(table):
        notes.append("This model has no subwords: --words can add only vocabulary words.")
    documents: list[Any] = []
    doc_unit = None
    if docs is not None:
        documents, doc_vectors = _documents(model, table, docs, max_docs)
        if doc_vectors.shape[1] != unit.shape[1]:
            raise UsageError(
                f"--docs needs document vectors in the word space ({unit.shape[1]} dims); this "
                f"model pools documents into {doc_vectors.shape[1]} dims"
            )
        doc_unit = ex.unit_rows(doc_vectors)
    points = project(unit if doc_unit is None else np.vstack([unit, doc_unit]), method, seed)
    nbr, sims = ex.cosine_neighbours(unit, None, k)
    if len(extra):
        xn, xs = ex.cosine_neighbours(unit, extra_unit, k)
        nbr, sims = np.vstack([nbr, xn]), np.vstack([sims, xs])
    spec = table.config["model"]
    data = ex.ExplorerData(
        title=title
        or f"{len(ids)} most frequent words of {model} ({method.upper()}, dim {spec['dim']})",
        kind=kind,
        method=method,
        dim=int(spec["dim"]),
        words=page_words,
        ids=ids,
        counts=counts,
        xy=points[: len(ids)],
        neighbours=nbr,
        scores=sims,
        extra=extra,
        extra_notes=extra_notes,
        docs=documents,
        doc_xy=None if doc_unit is None else points[len(ids) :],
        notes=notes,
    )
    page = ex.build_page(data)
    size = len(page.encode("utf-8"))
    if output == "-":
        streaming_to_stdout()
    with atomic_write(output, "w") as f:
        f.write(page)
    secs = time.perf_counter() - t0
    where = "stdout" if output == "-" else output
    err_console.print(
        text(
            f"wrote {where}: {size:,} bytes ({size / 1e6:.2f} MB), {len(ids)} words"
            + (f", {len(extra)} extra search words" if extra else "")
            + (f", {len(documents)} documents" if documents else "")
            + f"; built in {secs:.2f} s ({method})"
        )
    )


def _extra_words(table: Any, path: str | None, mapped: set[str]) -> tuple[list, list, Any]:
    """The ``--words`` entries not already mapped: (words, notes, unit vectors)."""
    import numpy as np

    from embedcli import explorer as ex

    if path is None:
        return [], [], np.zeros((0, table.embeddings.shape[1]))
    words, notes, vectors = [], [], []
    seen: set[str] = set()
    for raw in _lines(path):
        toks = query_tokens(table.vocab, raw)
        if len(toks) != 1:
            print_note(f"--words: {raw!r} is not one token for this model; skipped")
            continue
        tok = toks[0]
        if tok in mapped or tok in seen:
            continue
        i = word_id(table.vocab, raw)
        if i is not None:
            vec, note = ex.word_vectors(table, np.array([i]))[0], f"vocabulary word, id {i}"
        else:
            vec = ex.oov_vector(table, tok)
            if vec is None:
                print_note(
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
    unit = ex.unit_rows(np.array(vectors)) if vectors else np.zeros((0, table.embeddings.shape[1]))
    return words, notes, unit


def _lines(path: str) -> list[str]:
    from embedcli.corpus import CorpusOptions, CorpusReader

    reader = CorpusReader([path], CorpusOptions(fmt="text"))
    return [d.text.strip() for batch in reader.batches(4096) for d in batch if d.text.strip()]


def _documents(model: str, table: Any, path: str, limit: int) -> tuple[list, Any]:
    """The first ``limit`` documents of ``path`` for the page, and their pooled vectors."""
    import numpy as np

    from embedcli.cli.predict_cmds import reading_options
    from embedcli.corpus import CorpusReader
    from embedcli.explorer import ExplorerDoc

    options = reading_options(
        table.config,
        model,
        fmt=None,
        label_prefix=None,
        text_column=None,
        label_column=None,
        no_header=False,
        text_field=None,
        label_field=None,
        strict_utf8=False,
        labelled=True,
    )
    batch: list[Any] = []
    for part in CorpusReader([path], options).batches(min(limit, 4096)):
        batch.extend(part[: limit - len(batch)])
        if len(batch) >= limit:
            break
    if not batch:
        raise DataError(f"--docs {path}: no documents")
    if table.config.get("kind") == "vectors":
        tokenize = table.vocab.tokenizer.tokenize
        vectors = table.mean_vectors([tokenize(d.text) for d in batch])
        docs = [ExplorerDoc(d.text, ", ".join(d.labels) or None) for d in batch]
        return docs, np.asarray(vectors, dtype=np.float64)
    return _classified_documents(model, batch)


def _classified_documents(model: str, batch: list[Any]) -> tuple[list, Any]:
    """Pooled vectors, predicted labels and ``predict --explain`` contributions (the engine)."""
    import numpy as np

    from embedcli import model as engine
    from embedcli.cli.model_common import LoadedModel, encode_for_model
    from embedcli.explain import check_explainable, explain_batch
    from embedcli.explorer import ExplorerDoc
    from embedcli.metrics import select_labels
    from embedcli.sequences import encode_corpus

    m = LoadedModel(model, command="explore")
    enc = encode_for_model(encode_corpus, batch, m)
    vectors = engine.pooled(m.params, m.spec, enc.tokens, enc.offsets, hashes=enc.hashes)
    probs = engine.predict_proba(m.params, m.spec, enc.tokens, enc.offsets, hashes=enc.hashes)
    chosen = select_labels(probs, 1, 0.0)
    names = list(m.vocab.labels)
    try:
        check_explainable(m.spec)
    except UsageError as exc:
        print_note(f"the documents' contributions are left out: {exc}")
        explanations: list[Any] = [None] * len(batch)
    else:
        explanations = explain_batch(m, enc, batch, chosen)
    empty = np.diff(enc.offsets) == 0
    prefix = model_label_prefix(m.config)
    docs = []
    for j, d in enumerate(batch):
        ids = chosen[j][0]
        predicted = names[int(ids[0])] if len(ids) and not empty[j] else None
        ex = explanations[j]
        if ex is not None:
            ex = dict(ex, label=names[ex["label"]])
        label = ", ".join(lab.removeprefix(prefix) for lab in d.labels) or None
        docs.append(ExplorerDoc(d.text, label, predicted, ex))
    return docs, np.asarray(vectors, dtype=np.float64)
