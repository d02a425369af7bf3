"""Commands that run the engine: predict, evaluate, embed (numba is imported inside them)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from embedcli.cli.app import (
    app,
    err_console,
    handle_errors,
    print_json,
    streaming_to_stdout,
)
from embedcli.cli.checks import COUNT_MAX, finite, start_command
from embedcli.cli.engine import (
    EngineOpt,
    PartitionSizeOpt,
    SchedulerOpt,
    WorkersOpt,
    cluster,
    local_inputs,
    reading_summary,
    use_dask,
)
from embedcli.cli.model_common import (
    BATCH_LINES,
    check_choice,
    check_k,
    model_label_prefix,
    print_note,
)
from embedcli.cli.options import (
    ForceOpt,
    LabelColumnOpt,
    LabelFieldOpt,
    LabelPrefixOpt,
    ModelArg,
    NoHeaderOpt,
    StrictUtf8Opt,
    TextColumnOpt,
    TextFieldOpt,
    ThreadsOpt,
    report_invalid_utf8,
)
from embedcli.cli.render import data_field, out_console, table_title, text
from embedcli.errors import DataError, UsageError

#: predict's and embed's inputs: files (with --engine dask also globs, directories, URLs)
InputsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Input file(s), one document per line; '-' = stdin (default). With --engine "
        "dask also globs, directories and fsspec URLs.",
        show_default=False,
    ),
]

# -- reading options: as the model's training files were read, unless given -----------------------
#: predict's and evaluate's --format is their OUTPUT format, so the input's has its own name
InputFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--input-format",
        help="Input format: auto|fasttext|text|csv|tsv|jsonl (default: the training --format; "
        "auto: by extension).",
    ),
]


def reading_options(
    config: dict,
    model: str,
    *,
    fmt: str | None,
    label_prefix: str | None,
    text_column: str | None,
    label_column: str | None,
    no_header: bool,
    text_field: str | None,
    label_field: str | None,
    strict_utf8: bool,
    labelled: bool,
) -> Any:
    """How to read new files for the model in ``model`` (its ``config``): each option given on the command line, else as
    the training files were read (config.json "corpus"; models written before it was recorded:
    today's defaults). ``labelled`` (evaluate) also inherits the label column; predict ignores
    labels, so an unlabelled file without the training label column is fine."""
    from embedcli.corpus import CorpusOptions, recorded_options

    saved = recorded_options(config.get("corpus"), f"{model}/config.json")
    given = {
        "fmt": fmt,
        "label_prefix": label_prefix,
        "text_column": text_column,
        "label_column": label_column,
        "text_field": text_field,
        "label_field": label_field,
    }
    if not labelled:
        saved.pop("label_column", None)
    opts = {k: v for k, v in saved.items()}
    opts.update({k: v for k, v in given.items() if v is not None})
    if no_header:
        opts["header"] = False
    inherited = [
        f"--{k.replace('_', '-')} {saved[k]}"
        for k in ("text_column", "label_column")
        if given[k] is None and saved.get(k) is not None
    ]
    origin = (
        f"the model was trained reading {' '.join(inherited)}: choose the column of this file "
        "with --text-column/--label-column"
        if inherited
        else ""
    )
    return CorpusOptions(**opts, strict_utf8=strict_utf8, origin=origin)  # type: ignore[arg-type]


# -- predict ----------------------------------------------------------------------------------------
@app.command("predict")
@handle_errors
def predict(
    ctx: typer.Context,
    model: ModelArg,
    inputs: InputsArg = None,
    *,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="'-' (stdout) or a file; with --engine dask, a directory of one part per "
            "input partition (a name without .txt/.tsv/.json/.jsonl).",
        ),
    ] = "-",
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            "-k",
            min=1,
            max=COUNT_MAX,
            help="Labels per line (default 1; multi-label: all over threshold).",
        ),
    ] = None,
    proba: Annotated[bool, typer.Option("--proba", "-p", help="Print probabilities.")] = False,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Keep labels with probability >= this (multi-label default: stored per-label thresholds).",
            min=0.0,
            max=1.0,
            callback=finite(0.0, 1.0),
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="Output: text, tsv or json.")] = "text",
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Show each token's and n-gram's share of the chosen label's score."
        ),
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=COUNT_MAX, help="Lines per batch.")
    ] = BATCH_LINES,
    threads: ThreadsOpt = 2,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Throughput on stderr.")] = False,
    input_format: InputFormatOpt = None,
    label_prefix: LabelPrefixOpt = None,  # type: ignore[assignment]
    text_column: TextColumnOpt = None,
    label_column: LabelColumnOpt = None,
    no_header: NoHeaderOpt = False,
    text_field: TextFieldOpt = None,  # type: ignore[assignment]
    label_field: LabelFieldOpt = None,  # type: ignore[assignment]
    strict_utf8: StrictUtf8Opt = False,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    partition_size: PartitionSizeOpt = None,
    force: ForceOpt = False,
) -> None:
    """Predict label(s) for every input line, streaming in batches.

    text is fastText predict / predict-prob output ('__label__x 0.93', k labels on one line);
    tsv is label[<TAB>probability] per label; json is one object per line. A line with no tokens
    gets an empty prediction, as in fastText. CSV/TSV/JSON Lines input is read with the
    training's columns/fields and format unless --input-format/--text-column/... say otherwise.

    With --engine dask the input partitions are predicted on a Dask cluster; -o DIR then
    writes one part per partition (part-00000.txt, ... and manifest.json listing them in input
    order), and their concatenation is the local engine's output byte for byte.

    Example: embedcli predict model sample_data/stdlib/test.txt --k 2 --proba
    """
    fmt = check_choice(fmt, ("text", "tsv", "json"), "--format")
    check_k(k)
    if batch_size < 1:
        raise UsageError("--batch-size must be 1 or more")
    from embedcli.api_model import Model
    from embedcli.corpus import CorpusReader
    from embedcli.predict_output import PredictFormat, label_names, prediction_text

    inputs = inputs or ["-"]
    dask = use_dask(engine, scheduler, workers, partition_size)
    kind = _output_kind(output, dask, PREDICT_SUFFIXES)
    start_command()
    _claim(ctx, output, kind, [model, *(local_inputs(inputs) if dask else inputs)], force)
    m = Model.load(model, command="predict", kind="classifier")
    options = reading_options(
        m.config,
        model,
        fmt=input_format,
        label_prefix=label_prefix,
        text_column=text_column,
        label_column=label_column,
        no_header=no_header,
        text_field=text_field,
        label_field=label_field,
        strict_utf8=strict_utf8,
        labelled=False,
    )
    if explain:
        from embedcli.explain import check_explainable

        check_explainable(m.spec)
    how = PredictFormat(
        fmt,
        label_names(m.vocab.labels, model_label_prefix(m.config), fmt),
        k,
        threshold,
        proba,
        explain,
    )
    t0 = time.perf_counter()
    if dask:
        reading = _predict_dask(
            m, model, inputs, options, how, batch_size, output, kind, cluster_args(ctx)
        )
        reader = reading_summary(reading)
        n_lines, n_tokens = reading["documents"], reading["tokens"]
    else:
        n_lines = 0
        reader = CorpusReader(inputs, options)
        with _text_output(output) as out:
            for batch in reader.batches(batch_size):
                out.write(prediction_text(m, batch, how, threads))
                n_lines += len(batch)
        n_tokens = m.tokens_seen
    report_invalid_utf8(reader, quiet=False, option="--input-format")
    if verbose:
        secs = time.perf_counter() - t0
        err_console.print(
            f"predicted {n_lines:,} lines ({n_tokens:,} tokens) in {secs:.3f} s: "
            f"{n_lines / max(secs, 1e-9):,.0f} lines/s, {n_tokens / max(secs, 1e-9):,.0f} tokens/s"
        )


#: ``predict -o`` suffixes that name one file (with --engine dask, others name a directory)
PREDICT_SUFFIXES = ("txt", "tsv", "json", "jsonl")


def _output_kind(output: str, dask: bool, file_suffixes: tuple[str, ...]) -> str:
    """``stdout``, ``file`` or ``dir`` (a directory of parts: --engine dask only)."""
    from embedcli.outputs import resolve

    if output == "-":
        return "stdout"
    name = output.rstrip("/").rsplit("/", 1)[-1]
    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    if suffix in file_suffixes or (not os.path.isdir(output) and resolve(output).special):
        return "file"
    if dask:
        return "dir"
    raise UsageError(
        f"--output {output}: a file name ends in {', '.join('.' + x for x in file_suffixes)}; "
        "a directory of parts needs --engine dask"
    )


def _claim(ctx: typer.Context, output: str, kind: str, inputs: list[str], force: bool) -> None:
    from embedcli.outputs import Output, claim_outputs

    if kind != "stdout":
        out = Output(output, kind="dir" if kind == "dir" else "file")
        ctx.with_resource(claim_outputs([out], inputs, force=force))


@contextlib.contextmanager
def _text_output(output: str) -> Iterator[Any]:
    """stdout (streamed as it goes) or a file written atomically."""
    from embedcli.atomic import atomic_write

    if output == "-":
        streaming_to_stdout()
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_write(output, "w") as f:
        yield f


def cluster_args(ctx: typer.Context) -> tuple[Any, ...]:
    """``(scheduler, workers, partition_size, quiet)`` of the command being run."""
    p = ctx.params
    return p["scheduler"], p["workers"], p["partition_size"], p.get("quiet", False)


def _predict_dask(m, model, inputs, options, how, batch_size, output, kind, args) -> dict:
    """``predict --engine dask``: stream the partitions' lines in order, or write the parts
    directory; the reading totals."""
    from embedcli import dask_predict as dp

    ref = dp.model_ref(model, "classifier", "predict")
    if kind == "dir":
        from embedcli.atomic import atomic_dir

        header = {"command": "predict", "model": ref.path, "model_sha256": ref.sha256}
        with atomic_dir(output) as folder, cluster(inputs, options, *args) as (client, parts):
            futures = dp.predict_futures(client, parts, options, ref, how, batch_size, str(folder))
            _manifest, reading = dp.write_parts(futures, parts, folder, header)
        return reading
    with cluster(inputs, options, *args) as (client, parts):
        futures = dp.predict_futures(client, parts, options, ref, how, batch_size)
        with _text_output(output) as out:
            return dp.stream(futures, lambda data: out.write(data.decode("utf-8")))


# -- evaluate ---------------------------------------------------------------------------------------
@app.command("evaluate")
@handle_errors
def evaluate(
    ctx: typer.Context,
    model: ModelArg,
    test: Annotated[
        list[str],
        typer.Argument(help="Labelled test file(s) (fastText format, csv, ...); '-' = stdin."),
    ],
    *,
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            "-k",
            min=1,
            max=COUNT_MAX,
            help="Predicted labels per example (default 1; multi-label: all over threshold).",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Probability threshold (default: as predict).",
            min=0.0,
            max=1.0,
            callback=finite(0.0, 1.0),
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="table | fasttext (the lines of 'fasttext test') | fasttext-label ('fasttext test-label').",
        ),
    ] = "table",
    json_out: Annotated[
        bool, typer.Option("--json", help="The full report as JSON on stdout.")
    ] = False,
    threads: ThreadsOpt = 2,
    input_format: InputFormatOpt = None,
    label_prefix: LabelPrefixOpt = None,  # type: ignore[assignment]
    text_column: TextColumnOpt = None,
    label_column: LabelColumnOpt = None,
    no_header: NoHeaderOpt = False,
    text_field: TextFieldOpt = None,  # type: ignore[assignment]
    label_field: LabelFieldOpt = None,  # type: ignore[assignment]
    strict_utf8: StrictUtf8Opt = False,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    partition_size: PartitionSizeOpt = None,
) -> None:
    """Accuracy, P@k and R@k, per-label precision/recall/F1, macro/micro averages, confusion matrix.

    Counting follows fastText: examples without a known label or without any token are skipped.
    Test files are read with the training's format, columns and fields unless told otherwise.
    With --engine dask each input partition is counted on a Dask cluster and the counts are
    added up: the same report.

    Example: embedcli evaluate model sample_data/stdlib/test.txt --format fasttext
    """
    fmt = check_choice(fmt, ("table", "fasttext", "fasttext-label"), "--format")
    check_k(k)
    from embedcli.api_model import Model
    from embedcli.corpus import CorpusReader

    dask = use_dask(engine, scheduler, workers, partition_size)
    start_command()
    m = Model.load(model, command="evaluate", kind="classifier")
    options = reading_options(
        m.config,
        model,
        fmt=input_format,
        label_prefix=label_prefix,
        text_column=text_column,
        label_column=label_column,
        no_header=no_header,
        text_field=text_field,
        label_field=label_field,
        strict_utf8=strict_utf8,
        labelled=True,
    )
    if dask:
        from embedcli import dask_predict as dp

        ref = dp.model_ref(model, "classifier", "evaluate")
        with cluster(test, options, *cluster_args(ctx)) as (client, parts):
            ev, reading = dp.evaluate_dask(client, parts, options, ref, k, threshold)
        reader = reading_summary(reading)
    else:
        reader = CorpusReader(test, options)
        ev = m.evaluation(reader.batches(BATCH_LINES), k, threshold, threads=threads)
    report_invalid_utf8(reader, quiet=False, option="--input-format")
    if ev.n == 0:
        raise DataError("no test example had both a known label and a token")
    if ev.skipped:
        print_note(
            f"{ev.skipped} example(s) skipped (no known label, or no token), as fastText does"
        )
    labels = m.vocab.labels
    if json_out:
        print_json(ev.to_dict(labels))
    elif fmt == "fasttext":
        sys.stdout.write("\n".join(ev.format_fasttext_test()) + "\n")
    elif fmt == "fasttext-label":
        prefix = model_label_prefix(m.config)
        sys.stdout.write(
            "\n".join(ev.format_fasttext_test_label([data_field(prefix + x) for x in labels]))
            + "\n"
        )
    else:
        _render_evaluation(ev, labels)


def _render_evaluation(ev: Any, labels: list[str]) -> None:
    import math

    from rich.table import Table

    def pct(x: float) -> str:
        return "--" if math.isnan(x) else f"{x:.4f}"

    console = out_console()
    summary = Table(title="Evaluation", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_row("examples", f"{ev.n:,}")
    summary.add_row("accuracy", pct(ev.accuracy))
    at = "all" if ev.k is None else ev.k
    summary.add_row(f"P@{at}", pct(ev.precision_at_k))
    summary.add_row(f"R@{at}", pct(ev.recall_at_k))
    mp, mr, mf = ev.macro()
    summary.add_row("macro P / R / F1", f"{pct(mp)} / {pct(mr)} / {pct(mf)}")
    summary.add_row(
        "micro P / R / F1", f"{pct(ev.precision_at_k)} / {pct(ev.recall_at_k)} / {pct(ev.micro_f1)}"
    )
    console.print(summary)
    per = Table(title="Per label", title_justify="left")
    for col in ("label", "precision", "recall", "F1", "support", "predicted"):
        per.add_column(col, justify="left" if col == "label" else "right")
    p, r, f = ev.per_label()
    for i, name in enumerate(labels):
        per.add_row(
            text(name), pct(p[i]), pct(r[i]), pct(f[i]), f"{ev.gold[i]:,}", f"{ev.predicted[i]:,}"
        )
    console.print(per)
    if len(labels) <= 25:
        cm = Table(
            title=table_title("Confusion (rows: true label, columns: top-1 prediction)"),
            title_justify="left",
        )
        cm.add_column("true \\ pred", style="bold")
        for name in labels:
            cm.add_column(text(name), justify="right")
        for i, name in enumerate(labels):
            cells = [
                f"[bold green]{v:,}[/]" if i == j and v else (f"{v:,}" if v else "[dim]0[/]")
                for j, v in enumerate(ev.confusion[i].tolist())
            ]
            cm.add_row(text(name), *cells)
        console.print(cm)
    else:
        print_note(f"{len(labels)} labels: confusion matrix not drawn (see --json)")


# -- embed ------------------------------------------------------------------------------------------
@app.command("embed")
@handle_errors
def embed(
    ctx: typer.Context,
    model: ModelArg,
    inputs: InputsArg = None,
    *,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="'-' (tsv on stdout), .tsv/.txt (tsv), .npy (float32 matrix) or .npz "
            "('vectors'); with --engine dask a name without those is a directory of parts.",
        ),
    ] = "-",
    threads: ThreadsOpt = 2,
    parts_format: Annotated[
        str,
        typer.Option(
            "--parts-format",
            help="tsv or npy: the format of each part of an -o DIR (--engine dask).",
        ),
    ] = "tsv",
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    partition_size: PartitionSizeOpt = None,
    force: ForceOpt = False,
) -> None:
    """One pooled vector per input line (fastText print-sentence-vectors for mean pooling).

    On a word-vector model (embedcli pretrain) each line's vector is the mean of its word
    vectors; unknown words take their subword vector when the model has subwords.

    The format follows the output's extension; any other extension is refused. With --engine
    dask, -o DIR writes one part per input partition (part-00000.tsv or .npy, see
    --parts-format) and manifest.json listing them in input order; the parts concatenated are
    the local engine's rows.

    Example: embedcli embed model sample_data/seed/sentences.txt -o vectors.npy
    """
    import numpy as np

    from embedcli.api_model import Model
    from embedcli.corpus import CorpusOptions, CorpusReader

    inputs = inputs or ["-"]
    parts_format = check_choice(parts_format, ("tsv", "npy"), "--parts-format")
    dask = use_dask(engine, scheduler, workers, partition_size)
    where = _output_kind(output, dask, tuple(EMBED_FORMATS)) if dask else "file"
    kind = "dir" if where == "dir" else _embed_format(output)
    if parts_format != "tsv" and kind != "dir":
        raise UsageError("--parts-format applies to an output directory (--engine dask -o DIR)")
    start_command()
    claimed = [model, *(local_inputs(inputs) if dask else inputs)]
    _claim(ctx, output, "dir" if kind == "dir" else "file", claimed, force)
    # a classifier's pooled vectors; word vectors: the mean of each line's word vectors
    m = Model.load(model)
    width = m.embed_width
    options = CorpusOptions(fmt="auto")
    if dask:
        _embed_dask(model, inputs, options, output, kind, parts_format, width, cluster_args(ctx))
        return

    def vectors() -> Iterator[Any]:
        for batch in CorpusReader(inputs, options).batches(BATCH_LINES):
            yield np.asarray(m.embed_batch(batch, threads=threads), dtype=np.float32)

    _write_vectors(output, kind, vectors(), width)


def _write_vectors(output: str, kind: str, blocks: Iterator[Any], width: int) -> None:
    """``embed``'s output file (or stdout) from float32 row blocks in order."""
    import numpy as np

    from embedcli.atomic import atomic_write
    from embedcli.predict_output import embed_text

    if kind in ("npy", "npz"):
        parts = list(blocks)
        arr = np.concatenate(parts) if parts else np.zeros((0, width), np.float32)
        with atomic_write(output, "wb") as f:
            if kind == "npy":
                np.save(f, arr, allow_pickle=False)
            else:
                np.savez(f, vectors=arr)
    else:
        with atomic_write(output, "w") as f:
            for vecs in blocks:
                f.write(embed_text(vecs))


def _embed_dask(model, inputs, options, output, kind, parts_format, width, args) -> None:
    """``embed --engine dask``: the parts directory, or the partitions' rows in input order
    into the output file (or stdout)."""
    from embedcli import dask_predict as dp

    ref = dp.model_ref(model, None, "embed")
    if kind == "dir":
        from embedcli.atomic import atomic_dir

        header = {"command": "embed", "model": ref.path, "model_sha256": ref.sha256}
        with atomic_dir(output) as folder, cluster(inputs, options, *args) as (client, parts):
            futures = dp.embed_futures(client, parts, options, ref, parts_format, str(folder))
            dp.write_parts(futures, parts, folder, header)
        return
    with cluster(inputs, options, *args) as (client, parts):
        if kind == "tsv":  # the workers format the rows
            from embedcli.atomic import atomic_write

            futures = dp.embed_futures(client, parts, options, ref, "tsv")
            with atomic_write(output, "w") as f:
                dp.stream(futures, lambda data: f.write(data.decode("utf-8")))
            return
        futures = dp.embed_futures(client, parts, options, ref, "npy")
        _write_vectors(output, kind, (r["data"] for r in dp.in_order(futures)), width)


#: ``embed -o`` formats by extension
EMBED_FORMATS = {"npy": "npy", "npz": "npz", "tsv": "tsv", "txt": "tsv"}


def _embed_format(output: str) -> str:
    """``npy``, ``npz`` or ``tsv`` from the output's extension; ``-`` and special files (a
    device, a FIFO, /dev/stdout) take tsv; any other extension is a usage error."""
    from embedcli.outputs import resolve

    if output == "-":
        return "tsv"
    name = output.rsplit("/", 1)[-1]
    suffix = name.lower().rsplit(".", 1)[-1] if "." in name else ""
    if suffix in EMBED_FORMATS:
        return EMBED_FORMATS[suffix]
    if resolve(output).special:
        return "tsv"
    raise UsageError(
        f"--output {output}: embed writes .npy, .npz, .tsv or .txt (or '-' for tsv on stdout); "
        "the extension decides the format"
    )
