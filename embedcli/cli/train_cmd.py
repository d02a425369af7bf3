"""``train``: corpus -> vocabulary -> ragged ids -> trained model directory."""

from __future__ import annotations

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
from embedcli.cli.autotune_cmd import (
    AutotuneArgs,
    AutotuneDurationOpt,
    AutotuneMetricOpt,
    AutotuneModelSizeOpt,
    AutotuneTrialsLogOpt,
    AutotuneTrialsOpt,
    AutotuneValidationOpt,
    autotune_notes,
    explicit_options,
    print_trial,
    show_autotune,
)
from embedcli.cli.checks import COUNT_MAX, SEED_MAX, finite, start_command
from embedcli.cli.engine import (
    EngineOpt,
    PartitionSizeOpt,
    SchedulerOpt,
    WorkersOpt,
    dask_plan,
)
from embedcli.cli.options import (
    CheckpointEveryOpt,
    CheckpointOpt,
    CompatOpt,
    ForceOpt,
    JsonOpt,
    KeepPunctOpt,
    MaxSizeOpt,
    MinCountOpt,
    NoLowerOpt,
    NoOovOpt,
    OrderOpt,
    QuietOpt,
    Reading,
    ResumeOpt,
    TokenPatternOpt,
    TrainThreadsOpt,
    reading_options,
    report_invalid_utf8,
    warn_ignored_on_resume,
)
from embedcli.cli.render import reading_progress, table_title, text
from embedcli.errors import UsageError

#: ``train`` parameters that still apply with ``--resume`` (the others come from the checkpoint)
_USED_ON_RESUME = {
    "ctx",
    "corpus",
    "output",
    "val",
    "test",
    "dry_run",
    "checkpoint_every",
    "checkpoint",
    "resume",
    "quiet",
    "json_out",
    "force",
}


@app.command("train")
@handle_errors
@reading_options()
def train(
    ctx: typer.Context,
    corpus: Annotated[
        list[str], typer.Argument(help="Labelled training file(s); '-' reads standard input.")
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="Model directory to write.")] = "",
    *,
    vocab_path: Annotated[
        str | None, typer.Option("--vocab", help="Use this vocabulary instead of building one.")
    ] = None,
    val: Annotated[
        str | None,
        typer.Option("--val", help="Validation file (per-epoch metrics, early stopping)."),
    ] = None,
    val_split: Annotated[
        float,
        typer.Option(
            "--val-split",
            help="Hold out this share of the training data for validation.",
            min=0.0,
            max=1.0,
            callback=finite(0.0, 1.0, high_open=True),
        ),
    ] = 0.0,
    test: Annotated[
        str | None, typer.Option("--test", help="Evaluate on this file at the end.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (sizes, memory) and stop.")
    ] = False,
    dim: Annotated[
        int, typer.Option("--dim", min=1, max=10_000, help="Embedding dimension.")
    ] = 100,
    epochs: Annotated[
        int,
        typer.Option(
            "--epochs",
            min=0,
            max=10_000,
            help="Passes over the data (0 = chosen from the data size).",
        ),
    ] = 0,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            help="Learning rate (default: 0.3 with adagrad, 0.5 with sgd, 0.01 with adam).",
            min=0.0,
            callback=finite(0.0, low_open=True),
        ),
    ] = None,
    optimizer: Annotated[
        str, typer.Option("--optimizer", help="adagrad, sgd or adam.")
    ] = "adagrad",
    lr_schedule: Annotated[
        str, typer.Option("--lr-schedule", help="linear (decay to 0, as fastText) or constant.")
    ] = "linear",
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            max=COUNT_MAX,
            help="Examples per update (1 = fastText's per-example SGD).",
        ),
    ] = 1,
    l2: Annotated[
        float,
        typer.Option(
            "--l2",
            help="L2 penalty on the touched rows and the classifier.",
            min=0.0,
            callback=finite(0.0),
        ),
    ] = 0.0,
    dropout: Annotated[
        float | None,
        typer.Option(
            "--dropout",
            help="Dropout on the pooled vector (default: 0.3 with adagrad/adam, 0 with sgd).",
            min=0.0,
            max=1.0,
            callback=finite(0.0, 1.0, high_open=True),
        ),
    ] = None,
    pool: Annotated[
        str, typer.Option("--pool", help="mean, sum, max or flatten (flatten needs --maxlen).")
    ] = "mean",
    hidden: Annotated[
        int,
        typer.Option(
            "--hidden", min=0, max=10_000, help="Units of one Dense+ReLU layer (0 = none)."
        ),
    ] = 0,
    maxlen: Annotated[
        int,
        typer.Option("--maxlen", min=0, max=100_000, help="Sequence length for --pool flatten."),
    ] = 0,
    objective: Annotated[
        str, typer.Option("--objective", help="softmax, binary or multilabel.")
    ] = "softmax",
    multilabel: Annotated[
        bool, typer.Option("--multilabel", help="Shortcut for --objective multilabel.")
    ] = False,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold",
            help="Multi-label decision threshold.",
            min=0.0,
            max=1.0,
            callback=finite(0.0, 1.0),
        ),
    ] = 0.5,
    class_weight: Annotated[
        str | None,
        typer.Option("--class-weight", help="balanced: weight classes by inverse frequency."),
    ] = None,
    word_ngrams: Annotated[
        int,
        typer.Option(
            "--word-ngrams",
            min=1,
            max=10,
            help="Max word n-gram length hashed into buckets (1 = words only).",
        ),
    ] = 2,
    buckets: Annotated[
        int,
        typer.Option(
            "--buckets",
            min=0,
            max=1 << 24,
            help="Hash buckets for word n-grams (0 = sized to the data, 2^16..2^20).",
        ),
    ] = 0,
    minn: Annotated[
        int,
        typer.Option(
            "--minn",
            min=0,
            max=30,
            help="Subwords: shortest character n-gram of <word> hashed into the buckets "
            "(0 = no subwords, as fastText's supervised default; fastText's skipgram uses 3).",
        ),
    ] = 0,
    maxn: Annotated[
        int,
        typer.Option(
            "--maxn",
            min=0,
            max=30,
            help="Subwords: longest character n-gram (0 = no subwords; fastText's skipgram "
            "uses 6). Unseen words of new text then still count through their n-grams.",
        ),
    ] = 0,
    init_vectors: Annotated[
        str | None,
        typer.Option(
            "--init-vectors",
            help="Pretrained vectors: word2vec text/binary, GloVe, .vec, .npy (+ vocab), or an "
            "embedcli model directory (pretrain's word vectors: unknown words composed from "
            "their subwords, subword rows copied when --minn/--maxn match; or a classifier).",
        ),
    ] = None,
    freeze_embeddings: Annotated[
        bool, typer.Option("--freeze-embeddings", help="Do not train the word rows.")
    ] = False,
    threads: TrainThreadsOpt = 0,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", min=0, max=SEED_MAX, help="Random seed (init, shuffling, split), 0..2^32-1."
        ),
    ] = 0,
    early_stopping: Annotated[
        int,
        typer.Option(
            "--early-stopping",
            min=0,
            max=10_000,
            help="Stop after this many epochs without validation gain; keep the best.",
        ),
    ] = 0,
    checkpoint_every: CheckpointEveryOpt = 0,
    checkpoint: CheckpointOpt = None,
    resume: ResumeOpt = None,
    min_count: MinCountOpt = 1,
    max_size: MaxSizeOpt = None,
    order: OrderOpt = "",
    no_oov: NoOovOpt = False,
    compat: CompatOpt = "embedcli",
    no_lower: NoLowerOpt = False,
    keep_punctuation: KeepPunctOpt = False,
    token_pattern: TokenPatternOpt = None,
    reading: Reading,  # --format, --label-prefix, --text-column... (options.reading_options)
    autotune_validation: AutotuneValidationOpt = None,
    autotune_duration: AutotuneDurationOpt = None,
    autotune_metric: AutotuneMetricOpt = None,
    autotune_model_size: AutotuneModelSizeOpt = None,
    autotune_trials_log: AutotuneTrialsLogOpt = None,
    autotune_trials: AutotuneTrialsOpt = 0,
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    partition_size: PartitionSizeOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Train an embedding table and a classifier on labelled text; write a model directory.

    Example: embedcli train sample_data/stdlib/train.txt -o model --test sample_data/stdlib/test.txt --seed 1
    """
    from embedcli import api_run

    start_command()
    if not output and not dry_run:
        raise UsageError("missing --output/-o MODEL_DIR")
    options = {_API_NAMES.get(k, k): v for k, v in locals().items() if k not in _CLI_ONLY}
    options.update(reading.keywords())
    tune = AutotuneArgs(
        autotune_validation,
        autotune_duration,
        autotune_metric,
        autotune_model_size,
        autotune_trials_log,
        autotune_trials,
    )
    with _Bar(quiet) as bar:
        run = api_run.train_run(
            api_run.FilePaths(corpus),
            options,
            events=_events(ctx, corpus, quiet, bar),
            fixed=explicit_options(ctx) if tune.requested else None,
            dask=dask_plan(engine, scheduler, workers, partition_size, output, quiet),
        )
    if run.search is not None:  # a search of many training runs instead of one
        return show_autotune(run.search, run.summary, quiet, json_out)
    result = run.summary
    if dry_run:
        if json_out:
            print_json(result)
        else:
            _render_plan(result)
        return
    result["seconds_total"] = round(time.perf_counter() - STARTED, 3)  # start-up included
    if json_out:  # the JSON is the summary: no table besides it (epoch lines still on stderr)
        print_json(result)
    elif not quiet:
        _render_result(result)


#: command-line parameters that are not ``embedcli.train`` keywords, and those named otherwise
_CLI_ONLY = {
    "ctx", "corpus", "reading", "quiet", "json_out", "api_run",
    "engine", "scheduler", "workers", "partition_size",
}  # fmt: skip
_API_NAMES = {"vocab_path": "vocab"}


def _events(ctx: typer.Context, corpus: list[str], quiet: bool, bar: Any) -> Any:
    """The run's events drawn on stderr: reading, what was read, epochs, the bar, stages."""
    from embedcli.api_run import Events
    from embedcli.corpus import CorpusReader

    def prepared(prep: Any) -> None:
        if not quiet:
            _stage(f"read {prep.train.n_docs:,} documents, {int(len(prep.train.tokens)):,} tokens")
        for reader in prep.readers:
            if isinstance(reader, CorpusReader):
                report_invalid_utf8(reader, quiet)
        if not quiet:
            for note in prep.notes:
                err_console.print(text(note))

    return Events(
        reading=lambda paths: reading_progress(err_console, ", ".join(corpus), quiet),
        prepared=prepared,
        resumed=lambda checkpoint: warn_ignored_on_resume(ctx, _USED_ON_RESUME),
        warm=lambda compile: _warm_kernels(compile, quiet),
        epoch=None if quiet else _print_epoch,
        progress=bar,
        stage=None if quiet else _stage,
        trial=None if quiet else print_trial,
        searched=lambda result: autotune_notes(result, quiet),
    )


def _stage(message: str) -> None:
    err_console.print(text(message))


def _warm_kernels(compile_kernels: Any, quiet: bool) -> None:
    """Compile the run's kernels before epoch 1, saying so when that is what happens: loading
    them from the cache costs a fraction of a CPU second, a first-ever run compiles for several.
    (CPU time, not wall time, so a busy machine does not make a cached run look cold.)"""
    import threading

    done = threading.Event()

    def notice() -> None:
        start = time.process_time()
        while not done.wait(0.1):
            if time.process_time() - start > 1.0:
                _stage("compiling kernels (first run only) …")
                return

    watcher = threading.Thread(target=notice, daemon=True)
    if not quiet:
        watcher.start()
    try:
        warmed = compile_kernels()
    finally:
        done.set()
    if warmed.compiled and not quiet:
        _stage(
            f"compiled {warmed.compiled} kernels in {warmed.seconds:.1f} s "
            "(cached: later runs start at once)"
        )


class _Bar:
    """A rich progress bar on stderr fed by the run's progress(fraction) events: drawn from the
    first one on (after reading and compiling), removed when the command's block ends."""

    def __init__(self, quiet: bool) -> None:
        self.show = not quiet and err_console.is_terminal
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> _Bar | None:
        return self if self.show else None

    def __call__(self, fraction: float) -> None:
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f}%"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("training", total=1.0)
        # the last epoch is done: the test set is evaluated and the model written next
        done = "evaluating and saving" if fraction >= 1.0 else "training"
        self.progress.update(self.task, completed=fraction, description=done)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_epoch(rec: dict[str, Any]) -> None:
    line = (
        f"epoch {rec['epoch']:>3}  loss {rec['loss']:.4f}  acc {rec['accuracy']:.4f}  "
        f"lr {rec['lr']:.4g}  {rec['tokens_per_s'] / 1e6:.1f}M tok/s  {rec['seconds']:.2f} s"
    )
    if "val_accuracy" in rec:
        line += f"  | val loss {rec['val_loss']:.4f}  val acc {rec['val_accuracy']:.4f}"
    err_console.print(line)


def _render_plan(s: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title="Training plan (dry run)", show_header=False, title_justify="left", box=None)
    t.add_column(style="bold")
    t.add_column()
    for key, value in s.items():
        t.add_row(text(key.replace("_", " ")), text(_fmt(value)))
    err_console.print(t)


def _render_result(r: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(
        title=table_title(f"Model written to {r['model']}"),
        show_header=False,
        title_justify="left",
        box=None,
    )
    t.add_column(style="bold")
    t.add_column()
    for key in (
        "train_documents",
        "train_tokens",
        "vocab_size",
        "labels",
        "epochs_run",
        "train_accuracy",
        "val_accuracy",
        "test_accuracy",
        "train_seconds",
        "tokens_per_s",
        "seconds_total",
    ):
        if key in r:
            t.add_row(key.replace("_", " "), text(_fmt(r[key])))
    err_console.print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, list):
        return ", ".join(map(str, v[:20])) + (" ..." if len(v) > 20 else "")
    return str(v)
