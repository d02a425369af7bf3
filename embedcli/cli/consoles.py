"""The Rich side of ``render``: the ``Console`` that never wraps in a file or a pipe, and table
titles that follow it. Only imported when something is printed with Rich, never by ``--help``
(``render`` imports this module inside the functions that need it)."""

from __future__ import annotations

from typing import Any

from rich.console import Console as _RichConsole
from rich.console import ConsoleDimensions, ConsoleOptions, RenderResult
from rich.text import Text

from embedcli.cli.render import UNBOUNDED_WIDTH


class Title(Text):
    """A table title: wrapped to the table's width on a terminal, one whole line otherwise."""

    def __rich_console__(self, console: _RichConsole, options: ConsoleOptions) -> RenderResult:
        if options.size.width >= UNBOUNDED_WIDTH:  # a file or a pipe (see Console)
            options = options.update(no_wrap=True, overflow="ignore")
        yield from super().__rich_console__(console, options)


def _isatty(file: Any) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Console(_RichConsole):
    """A Rich console that does not wrap or truncate when its file is not a terminal."""

    @property  # type: ignore[override]
    def size(self) -> ConsoleDimensions:
        size = _RichConsole.size.fget(self)  # type: ignore[attr-defined]
        if self._width is None and not _isatty(self.file):
            return ConsoleDimensions(UNBOUNDED_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        _RichConsole.size.fset(self, new_size)  # type: ignore[attr-defined]
