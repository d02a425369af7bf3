"""The Typer app, the stderr console and the options shared by several commands.

Everything here is cheap to import: no numpy-heavy work, never numba.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import typer

from embedcli import __version__
from embedcli.cli import interrupts
from embedcli.cli.checks import safe_stdio
from embedcli.cli.render import Console, labelled
from embedcli.cli.stdio import STDOUT, silence_stdout
from embedcli.errors import EmbedcliError
from embedcli.phases import reached

app = typer.Typer(
    name="embedcli",
    help="Train text embeddings and classifiers from the command line (Numba kernels, no TF/PyTorch).",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, highlight=False, emoji=False)

_state = {"debug": bool(os.environ.get("EMBEDCLI_DEBUG")), "stdout_streamed": False}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"embedcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    """embedcli: corpus -> vocabulary -> ids -> trained embedding table + classifier.

    Example: embedcli train sample_data/sms_spam/train.txt -o model && embedcli nearest model free
    """
    _state["debug"] = _state["debug"] or debug
    safe_stdio()  # no command fails on a character stdout/stderr cannot encode


F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``Error: message`` on stderr and return the Exit to raise.

    The message is user text (it embeds file names, labels...): never markup, controls escaped.
    """
    err_console.print(labelled("Error:", "bold red", message), soft_wrap=True)
    return typer.Exit(code=code)


def handle_errors(func: F) -> F:
    """Turn library errors into one line on stderr plus an exit code; tracebacks only with --debug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _state["stdout_streamed"] = kwargs.get("output") == "-"
        try:
            with _sigterm_as_interrupt():
                reached("command")
                return func(*args, **kwargs)
        except SystemExit as exc:
            if isinstance(exc.__context__, BrokenPipeError):  # rich's answer to a closed pipe
                silence_stdout()
                raise typer.Exit(code=0) from None
            raise
        except (typer.Exit, typer.Abort):
            raise
        except EmbedcliError as exc:
            if _state["debug"]:
                traceback.print_exc()
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt as exc:
            raise _interrupted(exc) from None
        except BrokenPipeError:
            # Reader went away (e.g. `| head`): quiet exit, as other Unix tools do.
            silence_stdout()
            raise typer.Exit(code=0) from None
        except MemoryError:
            raise fail("out of memory") from None
        except OSError as exc:
            if _state["debug"]:
                traceback.print_exc()
            if exc.filename == STDOUT:
                raise fail(f"cannot write to standard output: {exc.strerror or exc}") from None
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            raise fail(f"{exc.strerror or exc}{where}") from None
        except Exception as exc:  # a bug: say so in one line, full story with --debug
            cause = _interrupt_cause(exc)
            if cause is not None:  # a signal raised inside a numba call: SystemError from it
                raise _interrupted(cause) from None
            if _state["debug"]:
                traceback.print_exc()
            raise fail(
                f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"
            ) from None

    return wrapper  # type: ignore[return-value]


def streaming_to_stdout() -> None:
    """Called by a command once it starts writing data to stdout as it goes: an interruption
    then says that stdout is incomplete instead of "no partial output was written"."""
    _state["stdout_streamed"] = True


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """During a command, SIGTERM and SIGHUP unwind like Ctrl-C (temp files removed, one message).

    See ``interrupts``: outside a command the same signals end the process at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with interrupts.command():
        yield


def _interrupt_cause(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt behind ``exc`` (numba wraps one raised mid-call in a SystemError)."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 10:
        if isinstance(cur, KeyboardInterrupt):
            return cur
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return None


def _interrupted(exc: KeyboardInterrupt) -> typer.Exit:
    interrupts.leave_command()  # a second signal while the message is printed: exit at once
    signum = interrupts.signal_of(exc)
    what = interrupts.MESSAGES.get(signum, "Interrupted")
    if _state.get("stdout_streamed"):
        err_console.print(f"{what}; the output on stdout is incomplete.", markup=False)
    else:
        err_console.print(f"{what}; no partial output was written.", markup=False)
    return typer.Exit(code=interrupts.exit_code(signum))


def print_json(data: Any) -> None:
    """Machine-readable output on stdout: strict JSON, NaN and infinities written as null."""
    text = json.dumps(
        _strict_json(data), indent=2, ensure_ascii=False, allow_nan=False, default=_json_default
    )
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _strict_json(obj: Any) -> Any:
    """``obj`` with NumPy values made plain and every non-finite float replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict_json(v) for v in obj]
    if not isinstance(obj, (str, int, bool)) and obj is not None:
        if hasattr(obj, "tolist"):  # NumPy arrays and scalars
            return _strict_json(obj.tolist())
        if hasattr(obj, "item"):
            return _strict_json(obj.item())
    return obj


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


# -- options shared by the commands that read a corpus ----------------------------------------------
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="Input format: auto|fasttext|text|csv|tsv|jsonl (auto: by extension).",
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

# -- tokenizer / vocabulary options ----------------------------------------------------------------
CompatOpt = Annotated[
    str,
    typer.Option(
        "--compat",
        help="Conventions of another tool: embedcli|textvectorization|tokenizer|fasttext.",
    ),
]
NoLowerOpt = Annotated[bool, typer.Option("--no-lower", help="Keep the case of the text.")]
KeepPunctOpt = Annotated[bool, typer.Option("--keep-punctuation", help="Do not strip punctuation.")]
TokenPatternOpt = Annotated[
    str | None,
    typer.Option(
        "--token-pattern",
        help="Regex whose matches are the tokens (instead of a whitespace split).",
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
OrderOpt = Annotated[str, typer.Option("--order", help="Token order: frequency|appearance.")]
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
