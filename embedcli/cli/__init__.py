"""The ``embedcli`` command line: a thin Typer layer over the library.

Each command module registers its commands on the shared ``app``, in the order ``--help`` lists
them. Commands that need numba (train, predict, evaluate, embed) import the engine inside their
function body, so ``--help``, ``lookup``, ``export`` and ``info`` never import it.
"""

from __future__ import annotations

import importlib

from embedcli.cli.app import app

for _module in ("vocab_cmds", "train_cmd", "table_cmds", "predict_cmds"):
    importlib.import_module(f"embedcli.cli.{_module}")

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
