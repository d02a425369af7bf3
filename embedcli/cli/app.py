"""The Typer app, the stderr console and the one place where errors become exit codes.

The option types shared by several commands live in ``options``.

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
import typer.main
from typer.core import TyperCommand, TyperGroup

from embedcli import __version__
from embedcli.cli import interrupts
from embedcli.cli.checks import safe_stdio
from embedcli.cli.render import LazyConsole, labelled
from embedcli.cli.stdio import STDOUT, silence_stdout
from embedcli.errors import EmbedcliError
from embedcli.phases import reached

HELP_OPTIONS = ["-h", "--help"]

#: every command, in the order ``--help`` lists them: name -> (module under embedcli.cli, summary).
#: ``embedcli --help`` lists the commands from these summaries without importing their modules;
#: a summary fits an 80-column listing (tests/test_help.py), the command's own help says more.
COMMANDS: dict[str, tuple[str, str]] = {
    "build-vocab": ("vocab_cmds", "Count a corpus and write its vocabulary (TSV)."),
    "encode": ("vocab_cmds", "Integer-encode and pad documents (Keras pad_sequences)."),
    "train": ("train_cmd", "Train embeddings and a classifier; write a model."),
    "pretrain": ("pretrain_cmd", "Word vectors from unlabelled text (skip-gram, CBOW)."),
    "lookup": ("table_cmds", "Embedding rows of ids, words or a sentence."),
    "nearest": ("table_cmds", "The k most similar words by cosine."),
    "analogy": ("table_cmds", "Analogy by vector offset: closest to B - A + C."),
    "export": ("table_cmds", "Export the table: npy, csv, word2vec, projector."),
    "info": ("table_cmds", "Model summary: layers, vocabulary, labels, training."),
    "plot": ("table_cmds", "A labelled 2-D map of the most frequent words."),
    "explore": ("explore_cmd", "A self-contained HTML page to explore the embedding."),
    "predict": ("predict_cmds", "Predict label(s) for every input line."),
    "evaluate": ("predict_cmds", "Accuracy, P@k, R@k, per-label P/R/F1, confusion."),
    "embed": ("predict_cmds", "One pooled vector per input line."),
    "evaluate-vectors": ("evalvec_cmd", "Score word vectors: analogies, word-pair similarity."),
    "quantize": ("quantize_cmd", "Product-quantize a classifier into a small model."),
}
SUMMARY_MAX = 55


class LazyGroup(TyperGroup):
    """The root command: imports a command's module only when that command runs or shows its help.

    ``embedcli --help`` lists ``COMMANDS`` from their summaries alone, so it imports neither numpy
    nor any command module. Usage errors (unknown option, bad value, missing argument) print one
    line ``Error: ...`` and exit 2 instead of typer's boxed panel; ``--help`` is unchanged.
    """

    _listing = False

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        if cmd_name in COMMANDS and self._listing:
            return _Summary(name=cmd_name, short_help=COMMANDS[cmd_name][1])
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self._load(COMMANDS[cmd_name][0])
        return self.commands.get(cmd_name)

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def _load(self, module: str) -> None:
        import importlib

        from typer.main import get_command_from_info, get_command_name

        importlib.import_module(f"embedcli.cli.{module}")  # registers its commands on ``app``
        for info in app.registered_commands:
            name = info.name or get_command_name(info.callback.__name__)
            if name not in self.commands:
                command = get_command_from_info(
                    info,
                    pretty_exceptions_short=app.pretty_exceptions_short,
                    rich_markup_mode=app.rich_markup_mode,
                )
                self.commands[name] = tidy_help(command)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        for command in self.commands.values():  # modules imported before the group was built
            tidy_help(command)
        tidy_help(self)
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as exc:  # click's UsageError, BadParameter, NoSuchOption...
            raise SystemExit(_usage_error(exc)) from None
        except typer.Abort:
            raise SystemExit(1) from None
        raise SystemExit(code if isinstance(code, int) else 0)


def command_group() -> LazyGroup:
    """The root click group with every command loaded (for tests and tools that inspect them)."""
    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    for module in dict.fromkeys(module for module, _ in COMMANDS.values()):
        group._load(module)
    return group


class _Summary(TyperCommand):
    """A command as ``embedcli --help`` lists it: its name and summary, nothing imported."""


def tidy_help(command: Any) -> Any:
    """Help that says what to type: flags (``--help`` too) show no ``<bool>`` as they take no
    value; arguments are upper case, and a variadic one shows ``CORPUS`` (usage
    ``{CORPUS}...``) instead of ``<list[str]>``; examples keep their lines. Returns ``command``."""
    if command.help and "\nExample" in command.help and "\b" not in command.help:
        # an example is copied into a shell: never re-wrapped to the terminal width
        command.help = command.help.replace("\n\nExample", "\n\n\b\nExample")
    params = list(getattr(command, "params", ()))
    help_option = command.get_help_option(typer.Context(command, help_option_names=HELP_OPTIONS))
    for param in [*params, help_option]:
        if param is None or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.param_type_name == "argument":
            param.metavar = param.name.upper()
            if param.nargs != 1:
                param.display_type_rich = _no_type  # the usage line already says "one or more"
    return command


def _no_type(ctx: Any) -> None:
    return None


def _usage_error(exc: typer.TyperException) -> int:
    """Print a click usage error as one line (with where to find help) and return its exit code."""
    ctx = getattr(exc, "ctx", None)
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    if type(exc).__name__ == "NoArgsIsHelpError":  # ``embedcli`` alone: the help, as before
        sys.stderr.write(message.rstrip("\n") + "\n")
        return int(getattr(exc, "exit_code", 2))
    message = " ".join(message.split())
    if ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    err_console.print(labelled("Error:", "bold red", message), soft_wrap=True)
    return int(getattr(exc, "exit_code", 2))


app = typer.Typer(
    cls=LazyGroup,
    rich_markup_mode=None,
    name="embedcli",
    help="Train text embeddings and classifiers from the command line (Numba kernels, no TF/PyTorch)."
    "\n\nExample: embedcli train sample_data/stdlib/train.txt -o model && embedcli nearest model socket",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": HELP_OPTIONS},
    pretty_exceptions_enable=False,
)
err_console = LazyConsole(stderr=True, highlight=False, emoji=False)

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
    """embedcli: corpus -> vocabulary -> ids -> trained embedding table + classifier."""
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
