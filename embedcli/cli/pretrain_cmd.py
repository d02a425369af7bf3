"""``pretrain``: unlabelled text -> vocabulary -> word vectors (skip-gram / CBOW) -> a model
directory of kind "vectors" (the library side is ``embedcli.pretrain_run``)."""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

import typer

from embedcli.cli import STARTED
from embedcli.cli.app import (
    app,
    err_console,
    handle_errors,
    print_json,
)
from embedcli.cli.checks import SEED_MAX, THREADS_MAX, finite, start_command
from embedcli.cli.engine import EngineOpt, PartitionSizeOpt, SchedulerOpt, WorkersOpt
from embedcli.cli.options import (
    CompatOpt,
    ForceOpt,
    FormatOpt,
    JsonOpt,
    KeepPunctOpt,
    LabelPrefixOpt,
    MaxSizeOpt,
    MinCountOpt,
    NoHeaderOpt,
    NoLowerOpt,
    QuietOpt,
    StrictUtf8Opt,
    TextColumnOpt,
    TextFieldOpt,
    TokenPatternOpt,
    corpus_options,
    report_invalid_utf8,
)
from embedcli.cli.render import table_title, text
from embedcli.errors import UsageError

#: --buckets above this cannot be addressed (int32 ids), the same bound fastText's int32 has
BUCKETS_MAX = 2**31 - 1


@app.command("pretrain")
@handle_errors
def pretrain(
    ctx: typer.Context,
    corpus: Annotated[
        list[str],
        typer.Argument(
            help="Text file(s), labels ignored; '-' reads standard input; or an encoded shard "
            "directory (encode --engine dask -o DIR), memory-mapped."
        ),
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="Model directory to write.")] = "",
    *,
    method: Annotated[
        str, typer.Option("--method", help="skipgram (predict the context) or cbow.")
    ] = "skipgram",
    dim: Annotated[int, typer.Option("--dim", min=1, max=10_000, help="Vector dimension.")] = 100,
    window: Annotated[
        int,
        typer.Option(
            "--window",
            min=1,
            max=1_000,
            help="Context words on each side (drawn in 1..window per position).",
        ),
    ] = 5,
    negative: Annotated[
        int,
        typer.Option("--negative", min=1, max=1_000, help="Negative samples per context word."),
    ] = 5,
    sample: Annotated[
        float,
        typer.Option(
            "--sample",
            min=0.0,
            max=1.0,
            callback=finite(0.0, 1.0, high_open=True),
            help="Subsampling threshold of frequent words (0 = off).",
        ),
    ] = 1e-4,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, max=10_000, help="Passes over the corpus.")
    ] = 5,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            min=0.0,
            max=10.0,
            callback=finite(0.0, 10.0, low_open=True),
            help="Start learning rate, decayed linearly to 0 (default: the trainer's).",
        ),
    ] = None,
    minn: Annotated[
        int,
        typer.Option("--minn", min=0, max=100, help="Shortest character n-gram (0 = no subwords)."),
    ] = 3,
    maxn: Annotated[
        int, typer.Option("--maxn", min=0, max=100, help="Longest character n-gram.")
    ] = 6,
    buckets: Annotated[
        int,
        typer.Option(
            "--buckets",
            min=0,
            max=BUCKETS_MAX,
            help="Hash buckets of the n-grams (only the rows words use are kept).",
        ),
    ] = 2_000_000,
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            min=0,
            max=THREADS_MAX,
            help="Worker threads (0 = all cores; 1 = bit-reproducible).",
        ),
    ] = 0,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=SEED_MAX, help="Random seed, 0..2^32-1.")
    ] = 0,
    checkpoint_every: Annotated[
        int,
        typer.Option(
            "--checkpoint-every",
            min=0,
            max=10_000,
            help="Write a checkpoint every N epochs (to --checkpoint, default MODEL_DIR.ckpt).",
        ),
    ] = 0,
    checkpoint: Annotated[
        str | None, typer.Option("--checkpoint", help="Checkpoint directory to write.")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Continue the run saved in this checkpoint on the same corpus (its options, "
            "vocabulary and corpus format are used; the command line's are ignored).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the plan (vocabulary, table sizes, memory) and stop."
        ),
    ] = False,
    min_count: MinCountOpt = 5,
    max_size: MaxSizeOpt = None,
    compat: CompatOpt = "embedcli",
    no_lower: NoLowerOpt = False,
    keep_punctuation: KeepPunctOpt = False,
    token_pattern: TokenPatternOpt = None,
    fmt: FormatOpt = "auto",
    label_prefix: LabelPrefixOpt = "__label__",
    text_column: TextColumnOpt = None,
    no_header: NoHeaderOpt = False,
    text_field: TextFieldOpt = "text",
    strict_utf8: StrictUtf8Opt = False,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    partition_size: PartitionSizeOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Learn word vectors from unlabelled text (word2vec skip-gram/CBOW, fastText subwords).

    Writes a word-vector model directory: lookup, nearest, analogy, export, info, plot and
    embed work on it, and unknown words get a vector from their character n-grams.

    Example: embedcli pretrain sample_data/stdlib/train.txt -o vectors --min-count 2 --dim 32 --epochs 2 --seed 1
    """
    start_command()
    if not output and not dry_run:
        raise UsageError("missing --output/-o MODEL_DIR")
    if checkpoint and not checkpoint_every:
        raise UsageError("--checkpoint needs --checkpoint-every N")
    given = {"lr": lr} if lr is not None else {}
    spec = _spec(
        method=method, dim=dim, window=window, negative=negative, sample=sample, epochs=epochs,
        minn=minn, maxn=maxn, buckets=buckets, threads=threads, seed=seed, **given,
    )  # fmt: skip
    if checkpoint_every and output:
        checkpoint = checkpoint or f"{output.rstrip('/')}.ckpt"
    _claim(ctx, corpus, output, checkpoint, resume, force, dry_run)
    reading = {
        "corpus_options": corpus_options(
            fmt, label_prefix, text_column, None, no_header, text_field, "label", strict_utf8,
            skip_blank=True,
        ),
        "compat": compat,
        "lower": False if no_lower else None,
        "keep_punctuation": keep_punctuation,
        "token_pattern": token_pattern,
        "min_count": min_count,
        "max_size": max_size,
    }  # fmt: skip
    plan, saved = _plan(ctx, corpus, spec, reading, resume)
    plan.dask = _dask_plan(engine, scheduler, workers, partition_size, output, quiet)
    prepared = _prepare(plan, quiet)
    if dry_run:
        summary = prepared.plan_summary()
        if json_out:
            print_json(summary)
        else:
            _render(summary, "Pretraining plan (dry run)")
        return
    from embedcli.pretrain_run import run_pretrain

    with _Progress(quiet, plan.spec.epochs) as progress:
        result = run_pretrain(
            prepared, output, progress=progress, checkpoint_every=checkpoint_every,
            checkpoint_path=checkpoint, resume=saved,
        )  # fmt: skip
    result["seconds_total"] = round(time.perf_counter() - STARTED, 3)
    _report(result, output, quiet, json_out)


#: ``pretrain`` parameters that still apply with ``--resume`` (the others come from the checkpoint)
_USED_ON_RESUME = {
    "ctx", "corpus", "output", "dry_run", "checkpoint_every", "checkpoint", "resume", "quiet",
    "json_out", "force", "engine", "scheduler", "workers", "partition_size",
}  # fmt: skip


def _dask_plan(engine, scheduler, workers, partition_size, output, quiet) -> Any:  # noqa: ANN001
    """``--engine dask``: where the corpus is prepared (``embedcli.shard_corpus``), else None."""
    from embedcli.cli.engine import use_dask

    if not use_dask(engine, scheduler, workers, partition_size):
        return None
    from embedcli.cli.render import labelled
    from embedcli.shard_corpus import DaskPlan

    note = None if quiet else (lambda t: err_console.print(labelled("Note:", "yellow", t)))
    return DaskPlan(output or None, scheduler, workers, partition_size, note)


def _spec(**options: Any) -> Any:
    """The training spec of the options, refused in one line when no run can use it."""
    from embedcli.pretrain import PretrainSpec
    from embedcli.pretrain_run import check_spec

    spec = PretrainSpec(**options)
    check_spec(spec)
    return spec


def _claim(
    ctx: typer.Context,
    corpus: list[str],
    output: str,
    checkpoint: str | None,
    resume: str | None,
    force: bool,
    dry_run: bool,
) -> None:
    """Check and lock the model (and checkpoint) directory before any work; released when the
    command ends. The checkpoint may be the one --resume continues (read whole before the first
    checkpoint is written); the model directory may not."""
    from embedcli.atomic import check_writable_dir
    from embedcli.outputs import Output, claim_outputs, guard_outputs

    if output:
        check_writable_dir(output)
    if checkpoint:
        check_writable_dir(checkpoint)
    if dry_run:
        return
    model_out = Output(output, "dir")
    outputs = [model_out] + ([Output(checkpoint, "dir", "--checkpoint")] if checkpoint else [])
    guard_outputs([model_out], [resume])
    ctx.with_resource(claim_outputs(outputs, corpus, force=force))


def _plan(
    ctx: typer.Context, corpus: list[str], spec: Any, reading: dict[str, Any], resume: str | None
) -> tuple[Any, Any]:
    """``(plan, checkpoint)``: the run the options describe, or with --resume the checkpoint's
    run on ``corpus`` (a warning names the options it ignores) and the loaded checkpoint."""
    from embedcli.pretrain_run import PretrainPlan, resume_plan

    if not resume:
        return PretrainPlan(paths=corpus, spec=spec, **reading), None
    from embedcli.pretrain_checkpoint import load_pretrain_checkpoint

    saved = load_pretrain_checkpoint(resume)
    plan = resume_plan(saved, corpus)
    ignored = [
        max(p.opts, key=len)
        for p in ctx.command.params
        if p.name not in _USED_ON_RESUME
        and getattr(ctx.get_parameter_source(p.name), "name", "") in ("COMMANDLINE", "ENVIRONMENT")
    ]
    if ignored:
        _stage(
            "warning: --resume continues with the checkpoint's settings; ignoring "
            + ", ".join(ignored)
        )
    return plan, saved


def _prepare(plan: Any, quiet: bool) -> Any:
    """Read and encode the corpus, saying what was read."""
    from embedcli.pretrain_run import prepare_pretrain

    if not quiet:
        _stage(f"reading {', '.join(plan.paths)} …")
    prepared = prepare_pretrain(plan)
    for reader in prepared.readers:
        report_invalid_utf8(reader, quiet)
    if not quiet:
        _stage(
            f"read {prepared.documents:,} documents, {prepared.tokens_read:,} tokens; "
            f"{len(prepared.corpus.words):,} words seen --min-count {plan.min_count} times or "
            f"more ({len(prepared.corpus.ids):,} tokens to train on)"
        )
    return prepared


def _report(result: dict[str, Any], output: str, quiet: bool, json_out: bool) -> None:
    if json_out:
        print_json(result)
    elif not quiet:
        keys = ("documents", "tokens", "words", "subword_rows", "loss", "words_per_second",
                "seconds", "seconds_total")  # fmt: skip
        _render({k: result[k] for k in keys if k in result}, f"Word vectors written to {output}")


def _stage(message: str) -> None:
    err_console.print(text(message))


class _Progress:
    """Training progress on stderr from the trainer's ``progress(dict)`` callback: a live line
    on a terminal (epoch, %, words/s, loss, lr, ETA), else one line per finished epoch."""

    def __init__(self, quiet: bool, epochs: int) -> None:
        self.quiet = quiet
        self.epochs = epochs
        self.live: Any = None
        self.last: dict[str, Any] | None = None
        self.printed_epoch = 0
        self.started = time.perf_counter()
        self.compiling = False

    def __enter__(self) -> Any:
        self.started = time.perf_counter()
        if self.quiet:
            return None
        if err_console.is_terminal:
            from rich.live import Live

            self.live = Live("", console=err_console, transient=True, refresh_per_second=4)
            self.live.start()
        return self.update

    def update(self, rec: dict[str, Any]) -> None:
        # no word done after a second: the kernels are being compiled (a first run only)
        idle = not float(rec.get("progress", 0.0)) and time.perf_counter() - self.started > 1.0
        if idle and not self.compiling:
            self.compiling = True
            if self.live is None:
                _stage("compiling kernels (first run only) …")
        if self.live is not None:
            shown = "compiling kernels (first run only) …" if idle else _line(rec, self.epochs)
            self.live.update(text(shown))
        else:  # one line each time an epoch is done
            done = int(float(rec.get("progress", 0.0)) * self.epochs + 1e-9)
            if done > self.printed_epoch:
                self.printed_epoch = done
                err_console.print(text(_line({**rec, "epoch": done}, self.epochs)))
        self.last = rec

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
            if exc[0] is None and self.last is not None:
                err_console.print(text(_line(self.last, self.epochs)))


def _line(rec: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {rec.get('epoch', '?')}/{epochs}"]
    if "progress" in rec:
        parts.append(f"{100 * float(rec['progress']):5.1f}%")
    if "words_per_second" in rec:
        parts.append(f"{float(rec['words_per_second']) / 1e3:,.0f}k words/s")
    if "loss" in rec:
        parts.append(f"loss {float(rec['loss']):.4f}")
    if "lr" in rec:
        parts.append(f"lr {float(rec['lr']):.5f}")
    if "eta" in rec:
        parts.append(f"ETA {_duration(float(rec['eta']))}")
    return "  ".join(parts)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _render(s: dict[str, Any], title: str) -> None:
    from rich.table import Table

    t = Table(title=table_title(title), show_header=False, title_justify="left", box=None)
    t.add_column(style="bold")
    t.add_column()
    for key, value in s.items():
        t.add_row(text(key.replace("_", " ")), text(_fmt(value)))
    err_console.print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
