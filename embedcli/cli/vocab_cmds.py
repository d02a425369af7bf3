"""``build-vocab`` and ``encode``: corpus -> vocabulary -> padded integer ids."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from embedcli.cli.app import (
    app,
    err_console,
    handle_errors,
    print_json,
)
from embedcli.cli.checks import INT32_MAX, INT32_MIN, start_command
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
from embedcli.cli.options import (
    CompatOpt,
    ForceOpt,
    JsonOpt,
    KeepPunctOpt,
    MaxSizeOpt,
    MinCountOpt,
    NoLowerOpt,
    NoOovOpt,
    OovTokenOpt,
    OrderOpt,
    QuietOpt,
    Reading,
    TokenPatternOpt,
    reading_options,
    report_invalid_utf8,
)
from embedcli.cli.render import text

# the library's limits and checks, importable from here as before
from embedcli.encode_run import MAXLEN_MAX, check_output_space  # noqa: F401
from embedcli.errors import UsageError


@app.command("build-vocab")
@handle_errors
@reading_options()
def build_vocab(
    ctx: typer.Context,
    corpus: Annotated[list[str], typer.Argument(help="Input file(s); '-' reads standard input.")],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Vocabulary TSV to write ('-' = stdout).")
    ],
    *,
    min_count: MinCountOpt = 1,
    max_size: MaxSizeOpt = None,
    order: OrderOpt = "",
    no_oov: NoOovOpt = False,
    oov_token: OovTokenOpt = None,
    compat: CompatOpt = "embedcli",
    no_lower: NoLowerOpt = False,
    keep_punctuation: KeepPunctOpt = False,
    token_pattern: TokenPatternOpt = None,
    reading: Reading,  # --format, --label-prefix, --text-column... (options.reading_options)
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    partition_size: PartitionSizeOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Count a corpus and write its vocabulary: id 0 padding, id 1 [UNK], then tokens by frequency.

    Example: embedcli build-vocab sample_data/stdlib/train.txt -o vocab.tsv --min-count 2
    """
    from embedcli.outputs import Output, claim_outputs
    from embedcli.vocab_run import build_vocab as build

    start_command()
    if json_out and output == "-":
        raise UsageError("--json and '-o -' both write to stdout; choose one")
    dask = use_dask(engine, scheduler, workers, partition_size)
    inputs = local_inputs(corpus) if dask else corpus
    # checked, locked and cleaned before any work; released when the command ends
    ctx.with_resource(claim_outputs([Output(output)], inputs, force=force))
    options = reading.options(
        skip_blank=True,
    )

    def on_dask(options: Any, tok_cfg: Any, opts: dict) -> tuple[Any, Any, Any]:
        from embedcli.dask_engine import build_vocabulary_dask

        with cluster(corpus, options, scheduler, workers, partition_size, quiet) as (client, parts):
            vocab, stats, counted = build_vocabulary_dask(client, parts, options, tok_cfg, opts)
        return vocab, stats, reading_summary(counted)

    run = build(
        corpus,
        output,
        options,
        compat=compat,
        lower=False if no_lower else None,
        keep_punctuation=keep_punctuation,
        token_pattern=token_pattern,
        order=order or None,
        oov=False if no_oov else None,
        min_count=min_count,
        max_size=max_size,
        oov_token=oov_token,
        count=on_dask if dask else None,
    )
    report_invalid_utf8(run.reading, quiet)
    summary = run.summary(output)
    if json_out:  # the JSON is the summary: no table besides it (warnings still on stderr)
        print_json(summary)
    elif not quiet:
        _render_vocab_summary(summary)


def _render_vocab_summary(s: dict) -> None:
    from rich.table import Table

    t = Table(title="Vocabulary", show_header=False, title_justify="left", box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("documents", f"{s['documents']:,}")
    t.add_row("tokens", f"{s['tokens']:,}")
    t.add_row("unique tokens", f"{s['unique']:,}")
    t.add_row("kept", f"{s['kept']:,} (+ reserved = {s['vocab_size']:,} ids)")
    t.add_row("coverage", f"{100 * s['coverage']:.2f} % of corpus tokens")
    t.add_row("top tokens", text(", ".join(f"{w} ({c:,})" for w, c in s["top"])))
    if s["labels"]:
        t.add_row("labels", text(", ".join(f"{w} ({c:,})" for w, c in s["labels"][:20])))
    t.add_row("time", text(f"{s['seconds']:.2f} s -> {s['output']}"))
    err_console.print(t)


@app.command("encode")
@handle_errors
@reading_options()
def encode(
    ctx: typer.Context,
    corpus: Annotated[list[str], typer.Argument(help="Input file(s); '-' reads standard input.")],
    vocab_path: Annotated[
        str | None, typer.Option("--vocab", help="Vocabulary TSV from build-vocab.")
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="ids.npy (int32 n x maxlen), ids.npz (+ labels) or '-' (text)."
        ),
    ] = "-",
    *,
    maxlen: Annotated[
        int | None,
        typer.Option(
            "--maxlen",
            min=1,
            max=MAXLEN_MAX,
            help="Row width; default: the longest sequence.",
        ),
    ] = None,
    padding: Annotated[
        str | None,
        typer.Option(
            "--padding", help="pre or post (default: the vocabulary's compat preset, post)."
        ),
    ] = None,
    truncating: Annotated[
        str | None,
        typer.Option(
            "--truncating", help="pre or post (default: the vocabulary's compat preset, post)."
        ),
    ] = None,
    value: Annotated[
        int,
        typer.Option("--value", min=INT32_MIN, max=INT32_MAX, help="Padding value (int32)."),
    ] = 0,
    reading: Reading,  # --format, --label-prefix, --text-column... (options.reading_options)
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    partition_size: PartitionSizeOpt = None,
    hashes: Annotated[
        bool,
        typer.Option(
            "--hashes",
            help="Shard directory only: also store each token string's hash (unknown words "
            "included), which train --word-ngrams above 1 needs.",
        ),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Instead of --vocab: the rows a classifier pools for each document (its "
            "words, then </s>, word n-gram and subword rows), for EmbeddingBag/Keras.",
        ),
    ] = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Integer-encode and pad/truncate documents with Keras pad_sequences semantics.

    With --engine dask, -o DIR (no .npy/.npz/.txt suffix) writes an encoded shard directory
    (unpadded int32 ids per input partition, resumable) that train reads as its corpus.

    --model MODEL_DIR writes the embedding rows the model averages for each document (the
    words, then its hashed n-gram and subword rows, as predict and embed do): with
    'export --format npy' they give embed's vectors in torch.nn.EmbeddingBag (padding_idx=0)
    or a Keras Embedding(mask_zero=True) + GlobalAveragePooling1D.

    Example: embedcli encode sample_data/stdlib/test.txt --vocab vocab.tsv --maxlen 40 -o ids.npz
    """
    from embedcli.encode_run import check_encode_args
    from embedcli.encode_run import encode as encode_run
    from embedcli.outputs import Output, claim_outputs

    start_command()
    dask = use_dask(engine, scheduler, workers, partition_size)
    kind = check_encode_args(
        output,
        dask=dask,
        vocab=vocab_path,
        model=model,
        maxlen=maxlen,
        padding=padding,
        truncating=truncating,
        hashes=hashes,
    )
    source = vocab_path if model is None else model
    inputs = [*(local_inputs(corpus) if dask else corpus), source]
    ctx.with_resource(claim_outputs([Output(output, kind=kind)], inputs, force=force))
    options = reading.options()

    def on_cluster(job: Any) -> Any:
        with cluster(corpus, options, scheduler, workers, partition_size, quiet) as (client, parts):
            return job(client, parts)

    run = encode_run(
        corpus,
        output,
        options,
        vocab=vocab_path,
        model=model,
        maxlen=maxlen,
        padding=padding,
        truncating=truncating,
        value=value,
        hashes=hashes,
        on_cluster=on_cluster if dask else None,
    )
    report_invalid_utf8(run.reading, quiet)
    if not quiet:
        err_console.print(text(run.message()))
    sys.stdout.flush()
