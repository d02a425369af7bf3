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
from embedcli.cli.checks import SEED_MAX, finite, start_command
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
    QuietOpt,
    Reading,
    ResumeOpt,
    TokenPatternOpt,
    TrainThreadsOpt,
    reading_options,
    report_invalid_utf8,
    warn_ignored_on_resume,
)
from embedcli.cli.render import table_title, text
from embedcli.errors import UsageError

#: the defaults of ``embedcli.pretrain.METHOD_DEFAULTS`` (``--sample``/``--lr``/``--sg-input``
#: left out), repeated here since the help must not import the trainer (numba); a test compares
SKIPGRAM_DEFAULTS = {"sample": 1e-4, "lr": 0.05}
CBOW_DEFAULTS = {"sample": 1e-4, "lr": 0.05}
SG_INPUT_DEFAULTS = ("context", "centre")
#: --buckets above this cannot be addressed (int32 ids), the same bound fastText's int32 has
BUCKETS_MAX = 2**31 - 1


@app.command("pretrain")
@handle_errors
@reading_options(labels=False)
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
        float | None,
        typer.Option(
            "--sample",
            min=0.0,
            max=1.0,
            callback=finite(0.0, 1.0, high_open=True),
            help="Subsampling threshold of frequent words (0 = off; default: "
            f"{SKIPGRAM_DEFAULTS['sample']:g} skipgram, {CBOW_DEFAULTS['sample']:g} cbow).",
        ),
    ] = None,
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
            help="Start learning rate, decayed linearly to 0 (default: "
            f"{SKIPGRAM_DEFAULTS['lr']:g} skipgram, {CBOW_DEFAULTS['lr']:g} cbow).",
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
    threads: TrainThreadsOpt = 0,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=SEED_MAX, help="Random seed, 0..2^32-1.")
    ] = 0,
    sg_input: Annotated[
        str | None,
        typer.Option(
            "--sg-input",
            help="Skip-gram: the centre word's rows predict each context word (centre, fastText) "
            "or each context word's rows predict the centre (context, word2vec and gensim); "
            f"default: {SG_INPUT_DEFAULTS[0]} without subwords, {SG_INPUT_DEFAULTS[1]} with.",
        ),
    ] = None,
    checkpoint_every: CheckpointEveryOpt = 0,
    checkpoint: CheckpointOpt = None,
    resume: ResumeOpt = None,
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
    reading: Reading,  # --format, --label-prefix, --text-column... (options.reading_options)
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
    from embedcli import api_run

    start_command()
    if not output and not dry_run:
        raise UsageError("missing --output/-o MODEL_DIR")
    options = {_API_NAMES.get(k, k): v for k, v in locals().items() if k not in _CLI_ONLY}
    options.update(reading.keywords())
    progress = _Progress(quiet)

    def prepared(prep: Any) -> None:
        _read(prep, quiet)
        if not dry_run:
            progress.start(prep.plan.spec.epochs)

    events = api_run.Events(
        reading=lambda paths: _Reading(paths, quiet),
        prepared=prepared,
        resumed=lambda checkpoint: warn_ignored_on_resume(ctx, _USED_ON_RESUME),
        progress=None if quiet else progress.update,
    )
    with progress:
        run = api_run.pretrain_run(
            api_run.FilePaths(corpus),
            options,
            events=events,
            dask=dask_plan(engine, scheduler, workers, partition_size, output, quiet),
        )
    result = run.summary
    if dry_run:
        if json_out:
            print_json(result)
        else:
            _render(result, "Pretraining plan (dry run)")
        return
    result["seconds_total"] = round(time.perf_counter() - STARTED, 3)
    _report(result, output, quiet, json_out)


#: command-line parameters that are not ``embedcli.pretrain`` keywords, and those named otherwise
_CLI_ONLY = {
    "ctx", "corpus", "reading", "quiet", "json_out", "api_run",
    "engine", "scheduler", "workers", "partition_size",
}  # fmt: skip
_API_NAMES: dict[str, str] = {}

#: ``pretrain`` parameters that still apply with ``--resume`` (the others come from the checkpoint)
_USED_ON_RESUME = {
    "ctx", "corpus", "output", "dry_run", "checkpoint_every", "checkpoint", "resume", "quiet",
    "json_out", "force", "engine", "scheduler", "workers", "partition_size",
}  # fmt: skip


class _Reading:
    """``reading FILES …`` on stderr when the reading starts."""

    def __init__(self, paths: list[str], quiet: bool) -> None:
        self.paths, self.quiet = paths, quiet

    def __enter__(self) -> None:
        if not self.quiet:
            _stage(f"reading {', '.join(self.paths)} …")

    def __exit__(self, *exc: object) -> None:
        pass


def _read(prepared: Any, quiet: bool) -> None:
    """What was read: invalid UTF-8, documents, tokens and words kept."""
    for reader in prepared.readers:
        report_invalid_utf8(reader, quiet)
    if not quiet:
        _stage(
            f"read {prepared.documents:,} documents, {prepared.tokens_read:,} tokens; "
            f"{len(prepared.corpus.words):,} words seen --min-count {prepared.plan.min_count} "
            f"times or more ({len(prepared.corpus.ids):,} tokens to train on)"
        )


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

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.epochs = 0
        self.live: Any = None
        self.last: dict[str, Any] | None = None
        self.printed_epoch = 0
        self.started = time.perf_counter()
        self.compiling = False

    def __enter__(self) -> _Progress:
        return self

    def start(self, epochs: int) -> None:
        """Training starts (the corpus is read): the live line from now on."""
        self.started = time.perf_counter()
        self.epochs = epochs
        if not self.quiet and err_console.is_terminal:
            from rich.live import Live

            self.live = Live("", console=err_console, transient=True, refresh_per_second=4)
            self.live.start()

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
