"""``train --autotune-*``: the options, and the search run in place of one training run.

``train`` declares the options (types here); ``embedcli.api_run.train_run`` runs the search
(``embedcli.autotune.search`` once, then the best model and the trials log written); this
module prints one progress line per trial on stderr and the summary (a table of the best
trials, or ``--json``).
"""

from __future__ import annotations

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


def autotune_notes(result: Any, quiet: bool) -> None:
    """After the search: an interruption, and the search's warnings."""
    if not quiet and result.stopped == "interrupted":
        err_console.print(
            text(f"interrupted: keeping the best of {len(result.trials)} trials"), style="yellow"
        )
    if not quiet:
        for note in result.notes:
            err_console.print(text(f"warning: {note}"))


def show_autotune(result: Any, summary: dict[str, Any], quiet: bool, json_out: bool) -> None:
    """The summary of a search (``embedcli.api_run.train_run`` ran it): a table or --json."""
    if json_out:
        print_json(summary)
    elif not quiet:
        _render_trials(result, summary)


def print_trial(record: dict[str, Any], best: dict[str, Any] | None, left: float) -> None:
    score = record.get("score")
    shown = f"{score:.4f}" if score is not None else "-"
    state = record["state"]
    line = f"trial {record['trial']:>3}  {state:<9} score {shown:<7}"
    if best is not None:
        line += f"  best {best['score']:.4f} (trial {best['trial']})"
    line += f"  {left:5.0f} s left  {record.get('seconds', 0):.1f} s  " + _params(record["params"])
    if record.get("cut"):  # the first trial, fitted to the budget
        cut = record["cut"]
        line += f"  (cut to {cut['epochs']} of {cut['planned_epochs']} epochs: {cut['reason']})"
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
