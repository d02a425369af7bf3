"""``embedcli quantize``: fastText's product quantization of a classifier (see
``embedcli.quantize``); the library does the work (``embedcli.quantize_run``), this module parses,
claims the output and prints."""

from __future__ import annotations

from typing import Annotated

import typer

from embedcli.cli.app import app, err_console, handle_errors, print_json
from embedcli.cli.checks import SEED_MAX, THREADS_MAX, finite, start_command
from embedcli.cli.options import ForceOpt, JsonOpt, ModelArg, QuietOpt
from embedcli.cli.render import text


@app.command("quantize")
@handle_errors
def quantize(
    ctx: typer.Context,
    model: ModelArg,
    *,
    output: Annotated[
        str, typer.Option("--output", "-o", help="The quantized model directory to write.")
    ],
    dsub: Annotated[
        int | None,
        typer.Option(
            "--dsub",
            min=1,
            max=10_000,
            help="Columns per sub-vector, one byte each (default 2, as fastText; on an odd dim "
            "the last sub-space is then shorter). A value given must divide dim.",
            show_default=False,
        ),
    ] = None,
    uneven_dsub: Annotated[
        bool,
        typer.Option(
            "--uneven-dsub",
            help="Allow a --dsub that does not divide dim: the last sub-space is shorter (fastText).",
        ),
    ] = False,
    centroids: Annotated[
        int,
        typer.Option("--centroids", min=1, max=256, help="k-means centroids per sub-space."),
    ] = 256,
    cutoff: Annotated[
        int | None,
        typer.Option(
            "--cutoff",
            min=1,
            max=2**31 - 1,
            help="Keep only the N most useful rows (words and n-grams); cut the vocabulary.",
        ),
    ] = None,
    select: Annotated[
        str,
        typer.Option(
            "--select",
            help="How --cutoff ranks rows: norm (fastText) or usefulness (what a row adds to "
            "the classifier, weighted by its use in --input).",
        ),
    ] = "norm",
    retrain: Annotated[
        bool,
        typer.Option("--retrain", help="Train the cut table and classifier again (needs --input)."),
    ] = False,
    train_input: Annotated[
        str | None,
        typer.Option("--input", help="The training corpus, for --retrain (fastText's -input)."),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs",
            "--epoch",
            min=1,
            max=10_000,
            help="Epochs of --retrain (fastText's -epoch). Default: the model's own.",
            show_default=False,
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            min=0.0,
            max=100.0,
            callback=finite(0.0, 100.0, low_open=True),
            help="Learning rate of --retrain (fastText's -lr). Default: the model's own "
            "(a tenth of it for adagrad and adam models).",
            show_default=False,
        ),
    ] = None,
    qnorm: Annotated[
        bool, typer.Option("--qnorm", help="Store row norms apart, one byte each.")
    ] = False,
    qout: Annotated[
        bool, typer.Option("--qout", help="Quantize the output layer too (dsub 2).")
    ] = False,
    threads: Annotated[
        int, typer.Option("--threads", "-t", min=1, max=THREADS_MAX, help="Retraining threads.")
    ] = 2,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=SEED_MAX, help="Seed of sampling and retraining.")
    ] = 0,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Product-quantize a classifier into a small model, as fastText's quantize (.ftz).

    Each row of the embedding table is cut into sub-vectors of --dsub columns, each stored as one
    byte: its nearest of --centroids k-means centroids (a --dsub given must divide dim, unless
    --uneven-dsub; the default 2 leaves a shorter last sub-space on an odd dim, as fastText).
    --cutoff N keeps the N most useful rows (--select) and cuts the
    vocabulary; --retrain then trains them again on nine tenths of --input with the model's own
    settings (--epochs and --lr change the retrain's) and, after quantizing, tunes the classifier for two epochs on the decoded rows (kept
    only when it lowers the loss on the held-out tenth). The result is a model directory
    every command reads (predict decodes rows as it goes).

    Example: embedcli quantize model -o model-small --cutoff 5000 --qnorm --seed 1
    """
    from pathlib import Path

    from embedcli.outputs import Output, claim_outputs

    start_command()
    inputs = [model] + ([train_input] if train_input else [])
    ctx.with_resource(claim_outputs([Output(output, "dir")], inputs, force=force))
    from embedcli.quantize_run import QuantizeOptions, quantize_model

    def note(message: str) -> None:
        if not quiet:
            err_console.print(text(message))

    opts = QuantizeOptions(
        dsub=2 if dsub is None else dsub,
        # the default fits any model, as fastText's; a --dsub given must divide dim (#11)
        uneven_dsub=uneven_dsub or dsub is None,
        ksub=centroids,
        cutoff=cutoff,
        select=select,
        retrain=retrain,
        qnorm=qnorm,
        qout=qout,
        input=train_input,
        threads=threads,
        seed=seed,
        epochs=epochs,
        lr=lr,
    )
    r = quantize_model(model, output, opts, note)
    summary = {
        "model": str(Path(output)),
        "rows_before": r.rows_before,
        "rows_kept": r.rows_kept,
        "words_kept": r.words_kept,
        "bytes_before": r.bytes_before,
        "bytes_after": r.bytes_after,
        "compression": round(r.bytes_before / max(1, r.bytes_after), 2),
        "retrain_epochs": r.retrain_epochs,
        "tune_epochs": r.tuned[0] if r.tuned else 0,
        "tune_loss": list(r.tuned[1:]) if r.tuned else None,
        "seconds": round(r.seconds, 2),
    }
    if json_out:
        print_json(summary)
    elif not quiet:
        err_console.print(
            text(
                f"quantized {r.rows_kept:,} of {r.rows_before:,} rows: {r.bytes_before:,} -> "
                f"{r.bytes_after:,} bytes ({summary['compression']}x smaller) in "
                f"{r.seconds:.1f} s -> {output}"
            )
        )
