"""``embedcli explore``: a self-contained HTML page to look at a model's embedding.

Parse the options, make ONE library call (``Model.explore``, in ``embedcli.explore_run``: it
reads ``--words`` and ``--docs``, builds the page with ``embedcli.explorer`` and writes it through
``claim_outputs`` and an atomic write), render its summary line and warnings.
"""

from __future__ import annotations

from typing import Annotated

import typer

from embedcli.cli.app import app, err_console, handle_errors, streaming_to_stdout
from embedcli.cli.checks import COUNT_MAX, SEED_MAX
from embedcli.cli.model_common import print_note
from embedcli.cli.options import ForceOpt, ModelArg
from embedcli.cli.render import text

#: the most neighbours a page lists per word (``explore_run.NEIGHBOURS_MAX``)
NEIGHBOURS_MAX = 100
#: the most documents and extra query words a page carries (``explore_run.DOCS_MAX``)
DOCS_MAX = 100_000


@app.command("explore")
@handle_errors
def explore(
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
            help="File of extra search words, one per line, carried with embedcli's exact "
            "vectors (out-of-vocabulary ones use subwords).",
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
    search_words: Annotated[
        int,
        typer.Option(
            "--search-words",
            min=0,
            max=COUNT_MAX,
            help="Most frequent words the search box knows by their own vector (at least --top).",
        ),
    ] = 20_000,
    ngram_words: Annotated[
        int,
        typer.Option(
            "--ngram-words",
            min=0,
            max=COUNT_MAX,
            help="Carry the n-gram rows of this many most frequent words, for unknown words "
            "(larger: exact for more words, bigger page).",
        ),
    ] = 2000,
    precision: Annotated[
        str,
        typer.Option("--precision", help="int8 or float16: how the page packs the vectors."),
    ] = "int8",
    title: Annotated[str | None, typer.Option("--title", help="Page title.")] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, max=SEED_MAX, help="Random seed (t-SNE, UMAP), 0..2^32-1."),
    ] = 0,
    force: ForceOpt = False,
) -> None:
    """Write one self-contained HTML page to explore the embedding: a zoomable 2-D map of the
    most frequent words, hover for word, frequency and id, and a search box for any word listing
    its nearest mapped words by cosine in the full space (the page carries the vectors, packed,
    and on a model with subwords the n-gram rows for unknown words). --docs adds documents
    coloured by label; click one for its per-token contributions (predict --explain). No
    network: scripts, styles and data are inline.

    Example: embedcli explore model -o explorer.html --top 500 --docs sample_data/stdlib/test.txt
    """
    from embedcli.api_model import Model
    from embedcli.explore_run import check_request

    values = dict(top=top, k=k, max_docs=max_docs, search_words=search_words,
                  ngram_words=ngram_words, seed=seed)  # fmt: skip
    check_request(method, precision, values)
    if output == "-":
        streaming_to_stdout()
    result = Model.load(model, verify=False, command="explore").explore(
        output, method=method, words=words, docs=docs, precision=precision, title=title,
        force=force, **values,
    )  # fmt: skip
    for warning in result.warnings:
        print_note(warning)
    err_console.print(text(result.summary()))
