"""Options shared by several commands (``Annotated`` types) and the corpus reader they configure.

Command modules import their shared options from here, never from each other.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from embedcli.cli.app import err_console
from embedcli.cli.checks import COUNT_MAX, THREADS_MAX
from embedcli.cli.render import labelled

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:  # the reader is imported when a corpus is read, not for --help
    from embedcli.corpus import CorpusOptions, CorpusReader

# -- options shared by the commands that read a corpus ----------------------------------------------
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="Input format: auto, fasttext, text, csv, tsv or jsonl (auto: by extension).",
    ),
]
LabelPrefixOpt = Annotated[
    str, typer.Option("--label-prefix", help="Label prefix of fastText lines.")
]
TextColumnOpt = Annotated[
    str | None,
    typer.Option("--text-column", help="CSV/TSV text column: header name or 0-based index."),
]
LabelColumnOpt = Annotated[
    str | None,
    typer.Option("--label-column", help="CSV/TSV label column: header name or 0-based index."),
]
NoHeaderOpt = Annotated[bool, typer.Option("--no-header", help="CSV/TSV files have no header row.")]
TextFieldOpt = Annotated[
    str, typer.Option("--text-field", help="JSON Lines field holding the text.")
]
LabelFieldOpt = Annotated[
    str, typer.Option("--label-field", help="JSON Lines field holding the label(s).")
]
StrictUtf8Opt = Annotated[
    bool,
    typer.Option(
        "--strict-utf8", help="Invalid UTF-8 is an error (default: replaced and counted)."
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace an existing output file that embedcli did not write (never a directory).",
    ),
]

# -- options of the commands that train (train, pretrain) ----------------------------------------
TrainThreadsOpt = Annotated[
    int,
    typer.Option(
        "--threads",
        min=0,
        max=THREADS_MAX,
        help="Worker threads (0 = all cores; 1 = bit-reproducible).",
    ),
]
CheckpointEveryOpt = Annotated[
    int,
    typer.Option(
        "--checkpoint-every",
        min=0,
        max=10_000,
        help="Write a checkpoint every N epochs (to --checkpoint, default MODEL_DIR.ckpt).",
    ),
]
CheckpointOpt = Annotated[
    str | None, typer.Option("--checkpoint", help="Checkpoint directory to write.")
]
ResumeOpt = Annotated[
    str | None,
    typer.Option(
        "--resume",
        help="Continue the run saved in this checkpoint on the same corpus (its training "
        "options, vocabulary and corpus format are used; the command line's are ignored).",
    ),
]

# -- tokenizer / vocabulary options ----------------------------------------------------------------
CompatOpt = Annotated[
    str,
    typer.Option(
        "--compat",
        help="Conventions of another tool: embedcli, textvectorization, tokenizer or fasttext.",
    ),
]
NoLowerOpt = Annotated[bool, typer.Option("--no-lower", help="Keep the case of the text.")]
KeepPunctOpt = Annotated[
    bool,
    typer.Option(
        "--keep-punctuation",
        help="Do not strip punctuation (--compat textvectorization/tokenizer; the default keeps it).",
    ),
]
TokenPatternOpt = Annotated[
    str | None,
    typer.Option(
        "--token-pattern",
        help="Regex whose matches are the tokens (default: words, and runs of punctuation).",
    ),
]
MinCountOpt = Annotated[
    int, typer.Option("--min-count", min=1, max=2**62, help="Drop tokens seen fewer times.")
]
MaxSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--max-size",
        min=2,
        max=2**31 - 1,
        help="Largest vocabulary, reserved entries included (Keras max_tokens).",
    ),
]
OrderOpt = Annotated[
    str,
    typer.Option(
        "--order",
        help="Token order: frequency (the default) or appearance (first seen first).",
    ),
]
NoOovOpt = Annotated[
    bool,
    typer.Option(
        "--no-oov", help="No [UNK] entry: words start at id 1 and unknown words are dropped."
    ),
]
OovTokenOpt = Annotated[
    str | None,
    typer.Option(
        "--oov-token",
        help="Name of the OOV entry at id 1 (Keras Tokenizer oov_token); turns it on.",
    ),
]


# -- options of the commands that use a trained model ---------------------------------------------
ModelArg = Annotated[str, typer.Argument(help="Model directory written by 'embedcli train'.")]
InputArg = Annotated[str, typer.Argument(help="Input file, one document per line; '-' = stdin.")]
KOpt = Annotated[
    int, typer.Option("--k", "-k", min=1, max=COUNT_MAX, help="Number of results per query.")
]
ThreadsOpt = Annotated[
    int, typer.Option("--threads", "-t", min=1, max=THREADS_MAX, help="Prediction threads.")
]


#: the corpus-reader options: (parameter, type, default) in --help order
_READING = (
    ("fmt", FormatOpt, "auto"),
    ("label_prefix", LabelPrefixOpt, "__label__"),
    ("text_column", TextColumnOpt, None),
    ("label_column", LabelColumnOpt, None),
    ("no_header", NoHeaderOpt, False),
    ("text_field", TextFieldOpt, "text"),
    ("label_field", LabelFieldOpt, "label"),
    ("strict_utf8", StrictUtf8Opt, False),
)
_LABEL_OPTIONS = ("label_column", "label_field")


@dataclass(frozen=True)
class Reading:
    """How a command was told to read its corpus (``--format``, ``--label-prefix``...)."""

    fmt: str = "auto"
    label_prefix: str = "__label__"
    text_column: str | None = None
    label_column: str | None = None
    no_header: bool = False
    text_field: str = "text"
    label_field: str = "label"
    strict_utf8: bool = False

    def keywords(self) -> dict[str, Any]:
        """As ``embedcli.train``/``pretrain`` keywords (``format=``...)."""
        return {"format" if k == "fmt" else k: v for k, v in self.__dict__.items()}

    def options(self, **extra: bool) -> CorpusOptions:
        """The reader's ``CorpusOptions`` (``embedcli.api_run.reading_options``)."""
        from embedcli.api_run import reading_options

        return reading_options(self.keywords(), **extra)


def reading_options(*, labels: bool = True) -> Callable[[F], F]:
    """Give a command the corpus-reader options in place of its parameter ``reading: Reading``
    (``labels=False``: without --label-column/--label-field); the command receives them as one
    ``Reading``. The options keep their names, so ``ctx.get_parameter_source`` still works."""

    def decorate(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)
        shared = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=t)
            for name, t, default in _READING
            if labels or name not in _LABEL_OPTIONS
        ]
        params: list[inspect.Parameter] = []
        for p in signature.parameters.values():
            params.extend(shared if p.name == "reading" else [p])

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {p.name: kwargs.pop(p.name) for p in shared if p.name in kwargs}
            return func(*args, reading=Reading(**given), **kwargs)

        command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command  # type: ignore[return-value]

    return decorate


def corpus_options(
    fmt: str,
    label_prefix: str,
    text_column: str | None,
    label_column: str | None,
    no_header: bool,
    text_field: str,
    label_field: str,
    strict_utf8: bool,
    **extra: bool,
) -> CorpusOptions:
    """The reader's options of the eight reading options in --help order (``Reading``'s)."""
    reading = Reading(fmt, label_prefix, text_column, label_column, no_header, text_field,
                      label_field, strict_utf8)  # fmt: skip
    return reading.options(**extra)


def warn_ignored_on_resume(ctx: typer.Context, used: set[str]) -> None:
    """--resume continues the checkpoint's run: a warning naming the options given on the command
    line (or in the environment) that it ignores, as spelled in --help (``used``: those it uses)."""
    ignored = [
        max(p.opts, key=len)
        for p in ctx.command.params
        if p.name not in used
        and getattr(ctx.get_parameter_source(p.name), "name", "") in ("COMMANDLINE", "ENVIRONMENT")
    ]
    if ignored:
        err_console.print(
            "warning: --resume continues with the checkpoint's settings; ignoring "
            + ", ".join(ignored),
            markup=False,
            highlight=False,
        )


def report_invalid_utf8(reader: CorpusReader, quiet: bool, option: str = "--format") -> None:
    """Warn about replaced invalid UTF-8, and hint at ``option csv`` for a file read as lines
    that looks like CSV/TSV (``CorpusReader.hints``)."""
    from embedcli.corpus import describe_tabular

    if quiet:
        return
    for path, fmt, cells in reader.hints:
        err_console.print(labelled("Hint:", "yellow", describe_tabular(path, fmt, cells, option)))
    if reader.invalid_utf8_lines:
        err_console.print(
            labelled(
                "Warning:",
                "yellow",
                f"{reader.invalid_utf8_lines} line(s) had invalid UTF-8, replaced by U+FFFD "
                f"(first at {reader.first_invalid_utf8}); --strict-utf8 makes this an error",
            )
        )
