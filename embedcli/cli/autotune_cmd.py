"""``train --autotune-*``: the options, and the search run in place of one training run.

``train`` declares the options (types here) and hands its plan to :func:`run_autotune`, which
calls ``embedcli.autotune.search`` once, prints one progress line per trial on stderr, writes the
best model, the trials log and the summary (a table of the best trials, or ``--json``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from embedcli.cli.app import err_console, print_json
from embedcli.cli.checks import COUNT_MAX, finite
from embedcli.cli.render import table_title, text

AutotuneValidationOpt = Annotated[
    str | None,
    typer.Option(
        "--autotune-validation",
        help="Search hyperparameters scored on this labelled file (fastText's "
        "-autotune-validation); without it, --val-split holds out part of the training data.",
    ),
]
AutotuneDurationOpt = Annotated[
    float | None,
    typer.Option(
        "--autotune-duration",
        help="Seconds the search may take (default 300; the final model is written after).",
        min=0.0,
        max=1e7,
        callback=finite(0.0, 1e7, low_open=True),
    ),
]
AutotuneMetricOpt = Annotated[
    str | None,
    typer.Option(
        "--autotune-metric",
        help="What to maximise on validation: f1 (default; = accuracy with one label per "
        "document), accuracy, f1:LABEL, precision-at-recall:R[:LABEL], "
        "recall-at-precision:P[:LABEL] (R, P in percent).",
    ),
]
AutotuneModelSizeOpt = Annotated[
    str | None,
    typer.Option(
        "--autotune-model-size",
        help="Largest model on disk (2M, 500k, 1G): larger candidates are quantized to fit "
        "(dsub and cutoff searched, as fastText) and the model is written quantized.",
    ),
]
AutotuneTrialsLogOpt = Annotated[
    str | None,
    typer.Option("--autotune-trials-log", help="Write every trial as a JSON line to this file."),
]
AutotuneTrialsOpt = Annotated[
    int,
    typer.Option(
        "--autotune-trials",
        min=0,
        max=COUNT_MAX,
        help="Stop after this many trials (0 = only the time budget); with --seed and "
        "--threads 1 the search is reproducible.",
    ),
]

#: ``train`` parameter names -> the ``TrainConfig``/plan names the search would vary
_SEARCHED_PARAMS = {
    "optimizer": "optimizer",
    "lr": "lr",
    "dim": "dim",
    "epochs": "epochs",
    "word_ngrams": "word_ngrams",
    "buckets": "buckets",
    "dropout": "dropout",
    "min_count": "min_count",
    "minn": "minn",
    "maxn": "maxn",
}


@dataclass
class AutotuneArgs:
    validation: str | None
    duration: float | None
    metric: str | None
    model_size: str | None
    trials_log: str | None
    trials: int

    @property
    def requested(self) -> bool:
        return bool(
            self.validation
            or self.duration is not None
            or self.metric
            or self.model_size
            or self.trials_log
            or self.trials
        )


def explicit_options(ctx: typer.Context) -> frozenset[str]:
    """The searched options the user set on the command line (or in the environment)."""
    fixed = set()
    for param, name in _SEARCHED_PARAMS.items():
        source = ctx.get_parameter_source(param)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            fixed.add(name)
    return frozenset(fixed)


def claim_trials_log(
    ctx: typer.Context, args: AutotuneArgs, output: str, inputs: list[str | None]
) -> None:
    """Refuse a model directory that is the validation file; check and lock the trials log
    before any work (released when the command ends)."""
    from embedcli.outputs import Output, claim_outputs, guard_outputs

    guard_outputs([Output(output, "dir")], [args.validation])
    if args.trials_log:
        out = Output(args.trials_log, "file", "--autotune-trials-log")
        ctx.with_resource(claim_outputs([out], [*inputs, args.validation, output]))


def run_autotune(
    ctx: typer.Context,
    plan: Any,
    args: AutotuneArgs,
    output: str,
    quiet: bool,
    json_out: bool,
) -> None:
    """Search, write the best model (and the trials log), print the summary."""
    from embedcli.autotune import AutotuneOptions, finish, parse_metric, parse_size, search
    from embedcli.errors import UsageError

    if args.duration is not None and args.duration <= 0:
        raise UsageError("--autotune-duration must be more than 0 seconds")
    metric = parse_metric(args.metric or "f1")
    size = parse_size(args.model_size) if args.model_size else 0
    test_path = plan.test_path
    fixed = explicit_options(ctx)
    if plan.init_vectors:
        fixed |= {"dim"}  # the vectors' dimension
    if plan.vocab_path:
        fixed |= {"min_count"}
    notes: list[str] = []
    if args.validation:
        plan.val_path = args.validation
    elif not plan.val_path and not plan.val_split:
        plan.val_split = 0.1
        notes.append("autotune: validating on 10 % of the training data (--val-split 0.1)")
    options = AutotuneOptions(
        metric=metric,
        duration=300.0 if args.duration is None else float(args.duration),
        trials=args.trials,
        model_size=size,
        fixed=fixed,
    )
    if not quiet:
        for note in notes:
            err_console.print(text(note))
        kept = sorted(fixed)
        err_console.print(
            text(
                f"autotune: maximising {metric} on "
                + (plan.val_path or f"{plan.val_split:g} of the training data")
                + f" for {options.duration:g} s"
                + (f" or {options.trials} trials" if options.trials else "")
                + (f"; fixed: {', '.join(kept)}" if kept else "")
            )
        )
    started = time.perf_counter()
    result = search(plan, options, on_trial=None if quiet else _print_trial)
    if not quiet and result.stopped == "interrupted":
        err_console.print(
            text(f"interrupted: keeping the best of {len(result.trials)} trials"), style="yellow"
        )
    if not quiet:
        for note in result.notes:
            err_console.print(text(f"warning: {note}"))
    summary = finish(result, output, test_path, on_stage=None if quiet else _stage)
    if args.trials_log:
        _write_log(args.trials_log, result.trials)
    summary["seconds_search"] = round(time.perf_counter() - started, 3)
    if json_out:
        print_json(summary)
    elif not quiet:
        _render_trials(result, summary)


def _stage(message: str) -> None:
    err_console.print(text(message))


def _write_log(path: str, trials: list[dict[str, Any]]) -> None:
    import json

    from embedcli.atomic import atomic_write

    with atomic_write(path) as f:
        f.writelines(json.dumps(t, sort_keys=True) + "\n" for t in trials)


def _print_trial(record: dict[str, Any], best: dict[str, Any] | None, left: float) -> None:
    score = record.get("score")
    shown = f"{score:.4f}" if score is not None else "-"
    state = record["state"]
    line = f"trial {record['trial']:>3}  {state:<9} score {shown:<7}"
    if best is not None:
        line += f"  best {best['score']:.4f} (trial {best['trial']})"
    line += f"  {left:5.0f} s left  {record.get('seconds', 0):.1f} s  " + _params(record["params"])
    err_console.print(text(line))


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _render_trials(result: Any, summary: dict[str, Any]) -> None:
    from rich.table import Table

    from embedcli.autotune import best_trials

    counts: dict[str, int] = {}
    for t in result.trials:
        counts[t["state"]] = counts.get(t["state"], 0) + 1
    t = Table(
        title=table_title(
            f"Best trials of {len(result.trials)} ("
            + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            + f"; {result.seconds:.0f} s, stopped by {result.stopped})"
        ),
        title_justify="left",
    )
    for name in ("trial", str(result.metric), "seconds", "parameters"):
        t.add_column(text(name))
    for trial in best_trials(result.trials):
        t.add_row(
            str(trial["trial"]),
            f"{trial['score']:.4f}",
            f"{trial['seconds']:.1f}",
            text(_params(trial["params"])),
        )
    err_console.print(t)
    line = f"Model written to {summary['model']} (trial {result.best_trial['trial']})"
    if "test_accuracy" in summary:
        line += f"; test accuracy {summary['test_accuracy']:.4f}"
    err_console.print(text(line))
