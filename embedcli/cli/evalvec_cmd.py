"""``embedcli evaluate-vectors``: word vectors on Google analogies and word-pair similarity files.

The work is one call, ``embedcli.vector_eval.evaluate_vectors`` (``wordeval``: numpy only,
gensim's rules); this module reads the options, prints the notes, and renders rich tables for
people or strict JSON (``--json``) for scripts. Never imports numba.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from embedcli.cli.app import app, err_console, handle_errors, print_json
from embedcli.cli.checks import INT32_MAX
from embedcli.cli.model_common import print_note
from embedcli.cli.render import out_console, table_title, text

RestrictOpt = Annotated[
    int,
    typer.Option(
        "--restrict-vocab",
        min=1,
        max=INT32_MAX,
        help="Analogies: only the N most frequent words take part (word2vec's compute-accuracy "
        "and the benchmarks use 30,000; gensim's own default is 300,000).",
    ),
]
PairsRestrictOpt = Annotated[
    int,
    typer.Option(
        "--pairs-restrict-vocab",
        min=1,
        max=INT32_MAX,
        help="Word pairs: only the N most frequent words take part (gensim's default).",
    ),
]


@app.command("evaluate-vectors")
@handle_errors
def evaluate_vectors(
    vectors: Annotated[
        str,
        typer.Argument(
            help="Model directory (any embedcli model) or a word2vec text/binary file.",
            metavar="VECTORS",
        ),
    ],
    *,
    analogies: Annotated[
        list[str] | None,
        typer.Option(
            "--analogies",
            metavar="FILE",
            help="Google analogy file (': section' lines, then 'a b c d'); repeatable.",
        ),
    ] = None,
    similarity: Annotated[
        list[str] | None,
        typer.Option(
            "--similarity",
            metavar="FILE",
            help="Word-pair file (WordSim-353 / SimLex-999: word, word, score; '#' comments); "
            "repeatable.",
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Vectors: auto, model, word2vec or word2vec-binary (auto: a directory is a "
            "model, .bin is binary, else word2vec/GloVe text).",
        ),
    ] = "auto",
    restrict_vocab: RestrictOpt = 30_000,
    pairs_restrict_vocab: PairsRestrictOpt = 300_000,
    case_sensitive: Annotated[
        bool,
        typer.Option(
            "--case-sensitive",
            help="Compare words as written (default: upper-cased, the most frequent variant's "
            "vector, as gensim).",
        ),
    ] = False,
    delimiter: Annotated[
        str,
        typer.Option(
            "--delimiter",
            metavar="TEXT",
            show_default="tab",
            help="Field separator of the word-pair files ('\\t' = tab).",
        ),
    ] = "\t",
    json_out: Annotated[bool, typer.Option("--json", help="Results as JSON on stdout.")] = False,
) -> None:
    """Score word vectors: analogy accuracy per section and in total, Spearman and Pearson
    correlation with human word-pair scores. Same figures as gensim's evaluate_word_analogies and
    evaluate_word_pairs; questions and pairs with a word outside the vocabulary are counted and
    skipped.

    gensim ships the usual files in gensim/test/test_data/ (questions-words.txt, wordsim353.tsv,
    simlex999.txt).

    Example: embedcli evaluate-vectors model --analogies sample_data/stdlib/analogies.txt --similarity sample_data/stdlib/wordpairs.tsv
    """
    from embedcli.vector_eval import evaluate_vectors as evaluate

    result = evaluate(
        vectors,
        analogies=analogies or [],
        similarity=similarity or [],
        fmt=fmt,
        restrict_vocab=restrict_vocab,
        pairs_restrict_vocab=pairs_restrict_vocab,
        case_insensitive=not case_sensitive,
        delimiter=delimiter,
    )
    for note in result.notes:
        print_note(note)
    report = result.report
    if json_out:
        print_json(report)
    else:
        _render(report)


def _percent(x: float) -> str:
    return f"{100.0 * x:.1f} %"


def _corr(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _pvalue(p: float | None) -> str:
    return "-" if p is None else f"{p:.2g}"


def _render(report: dict[str, Any]) -> None:
    from rich.table import Table

    console = out_console()
    v = report["vectors"]
    err_console.print(
        text(f"{v['path']}: {v['words']:,} words x {v['dim']} ({v['format']})"), soft_wrap=True
    )
    for r in report["analogies"]:
        t = Table(
            title=table_title(
                f"Analogies: {r['file']} (top {r['restrict_vocab']:,} words"
                f"{', case-insensitive' if r['case_insensitive'] else ''})"
            ),
            title_justify="left",
        )
        for col in ("section", "accuracy", "correct", "answered", "OOV", "questions"):
            t.add_column(col, justify="left" if col == "section" else "right")
        for s in [*r["sections"], r["total"]]:
            t.add_row(
                text(s["section"], "bold" if s is r["total"] else ""),
                _percent(s["accuracy"]),
                f"{s['correct']:,}",
                f"{s['answered']:,}",
                f"{s['oov']:,}",
                f"{s['questions']:,}",
            )
        t.caption = f"OOV questions: {r['oov_ratio']:.1f} % (skipped, as gensim)"
        t.caption_justify = "left"
        console.print(t)
    if report["similarity"]:
        t = Table(title="Word-pair similarity", title_justify="left")
        for col in ("file", "Spearman", "p", "Pearson", "p", "pairs", "OOV pairs", "OOV %"):
            t.add_column(col, justify="left" if col == "file" else "right")
        for r in report["similarity"]:
            t.add_row(
                text(r["file"]),
                _corr(r["spearman"]),
                _pvalue(r["spearman_pvalue"]),
                _corr(r["pearson"]),
                _pvalue(r["pearson_pvalue"]),
                f"{r['pairs']:,}",
                f"{r['oov']:,}",
                f"{r['oov_ratio']:.1f}",
            )
        console.print(t)
