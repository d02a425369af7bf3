"""The ``embedcli`` command line: a thin Typer layer over the library.

Each command module registers its commands on the shared ``app``. Commands that need numba
(train, predict, evaluate, embed) import the engine inside their function body, so ``--help``,
``lookup``, ``export`` and ``info`` never import it.
"""

from __future__ import annotations

from embedcli.cli import model_cmds, train_cmd, vocab_cmds  # noqa: F401  (registers commands)
from embedcli.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
