"""Named errors. The library raises these; the CLI turns them into one line and an exit code.

`UsageError` (exit 2) is a mistake in how a command was called; `DataError` (exit 1) is a problem
with the data or files given; `FormatError` is a file of the wrong format, version or integrity.
"""

from __future__ import annotations


class EmbedcliError(Exception):
    """Base of every error embedcli reports to a user."""

    exit_code = 1


class UsageError(EmbedcliError):
    """Bad options or arguments (exit code 2)."""

    exit_code = 2


class DataError(EmbedcliError):
    """Bad or unusable input data (exit code 1)."""


class FormatError(DataError):
    """A file of another format or version, or a damaged one."""


class TrainingDiverged(DataError):
    """Loss became NaN or Inf during training. ``epoch`` is the epoch that diverged and
    ``result`` the last good training result (an ``embedcli.train.TrainResult``), when known."""

    def __init__(self, message: str, *, epoch: int | None = None, result: object = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.result = result
