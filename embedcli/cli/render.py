"""User text on the screen: never markup, never raw control characters, never cut to 80 columns.

File names, column names, labels, tokens and config strings come from users and from downloaded
model files. Everything the CLI shows goes through one of these helpers:

- ``visible(s)``: the string with control characters (C0, DEL, C1, U+2028/U+2029) and bidi
  overrides/isolates written as escapes (``\\x1b``, ``\\n``, ``\\u202e``), so a label can neither
  drive the terminal nor split one line of output into two. Everything else, brackets and
  backslashes included, is kept as is: ``data[old].csv`` is shown as ``data[old].csv``.
- ``text(s, style)``: ``visible(s)`` as a ``rich.text.Text``, which Rich never parses as markup
  (``[/red]``, ``[plot]``, ``[deleted]`` and ``:emoji:`` codes stay literal). Use it for table cells
  and any message (``labelled`` puts our styled ``Error:``/``Note:`` first); ``table_title(s)`` for
  table titles.
- ``data_field(s)``: for the plain data written to stdout (predict, nearest, analogy): only the
  characters that would break one record per line (line breaks, tabs, other C0/C1 controls) are
  escaped; a label or token without them is written byte for byte.

``Console`` (in ``consoles``) is a ``rich.console.Console`` that never wraps or truncates when its file is not a
terminal (a file or a pipe): long lines stay one line and tables keep every column whole. On a
terminal it behaves as Rich does.

Left out on purpose: backslashes are not doubled, so ``a\\x1bb`` typed by a user and a real escape
look alike on screen (the display is for people; ``--json`` is the exact form).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from embedcli.escapes import data_field as data_field  # re-exported: the CLI writes data with it
from embedcli.escapes import escape_char

if TYPE_CHECKING:
    from rich.text import Text

    from embedcli.cli.consoles import Console

#: width used for a file or a pipe: wide enough that no line is wrapped and no column is cut
UNBOUNDED_WIDTH = 1 << 20

#: control characters and the bidi embeddings, overrides and isolates that reorder what follows them
_DISPLAY_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible(value: object) -> str:
    """``str(value)`` with control characters and bidi overrides shown as escapes (for people)."""
    return _DISPLAY_UNSAFE.sub(escape_char, str(value))


def text(value: object, style: str = "") -> Text:
    """User text as a Rich ``Text``: shown literally (no markup, no emoji codes), controls escaped."""
    from rich.text import Text

    return Text(visible(value), style=style)


def table_title(value: object, style: str = "") -> Text:
    """User text for a ``Table(title=...)``: as ``text``, and never wrapped in a file or a pipe."""
    from embedcli.cli.consoles import Title

    return Title(visible(value), style=style)


def labelled(tag: str, style: str, message: object) -> Text:
    """``tag`` in ``style``, a space, then ``message`` as user text (e.g. ``Error: <message>``)."""
    from rich.text import Text

    return Text.assemble((tag, style), " ", visible(message))


class LazyConsole:
    """A ``Console(**settings)`` made at its first use, so importing the CLI (``--help``, a
    command's help) never imports Rich. Attribute reads and writes and ``with`` go to the console."""

    def __init__(self, **settings: Any) -> None:
        object.__setattr__(self, "_settings", settings)
        object.__setattr__(self, "_console", None)

    @property
    def console(self) -> Console:
        """The Rich console itself (created now if it was not yet)."""
        if self._console is None:
            from embedcli.cli.consoles import Console

            object.__setattr__(self, "_console", Console(**self._settings))
        return self._console  # type: ignore[return-value]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.console, name, value)

    def __enter__(self) -> Console:
        return self.console.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.console.__exit__(*exc)


def __getattr__(name: str) -> Any:
    """``render.Console``: imported from ``consoles`` (and Rich with it) only when asked for."""
    if name == "Console":
        from embedcli.cli.consoles import Console

        return Console
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def out_console() -> Console:
    """The console for tables on stdout (created per command: stdout may have been replaced)."""
    from embedcli.cli.consoles import Console

    return Console(emoji=False)


class reading_progress:
    """``reading FILES …`` on stderr, then, for as long as the reading lasts, the documents read
    so far (``embedcli.readcount``, shard workers included): one live line on a terminal, a new
    line every ``every`` seconds in a log. A read shorter than that adds nothing."""

    def __init__(self, console: Any, what: str, quiet: bool, every: float = 10.0) -> None:
        self.console, self.what, self.quiet, self.every = console, what, quiet, every
        self._stop: Any = None
        self._thread: Any = None

    def _line(self, documents: int) -> Text:
        return text(f"reading {self.what} … {documents:,} documents")

    def __enter__(self) -> reading_progress:
        if self.quiet:
            return self
        import threading

        from embedcli import readcount

        readcount.reset()
        self.console.print(text(f"reading {self.what} …"))
        self._stop = threading.Event()
        live = self.console.is_terminal
        period = 0.5 if live else self.every

        def tick() -> None:
            status = None
            try:
                while not self._stop.wait(period):
                    documents = readcount.total()
                    if not documents:
                        continue
                    if live:
                        if status is None:
                            from rich.live import Live

                            status = Live(
                                self._line(documents), console=self.console, transient=True
                            )
                            status.start()
                        else:
                            status.update(self._line(documents))
                    else:
                        self.console.print(self._line(documents))
            finally:
                if status is not None:
                    status.stop()

        self._thread = threading.Thread(target=tick, name="reading-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
