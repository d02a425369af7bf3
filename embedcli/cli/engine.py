"""``--engine``, ``--scheduler``, ``--workers``, ``--partition-size``: where a command runs.

The option types and the glue between a command and ``embedcli.dask_engine``, in one place.
``--engine local`` (the default) is the single-machine path; ``--engine dask`` runs the
data-parallel part on a Dask cluster with the same results. Importing this module imports
neither dask nor numba.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from embedcli.cli.app import err_console
from embedcli.cli.checks import THREADS_MAX
from embedcli.cli.render import labelled
from embedcli.errors import UsageError

ENGINES = ("local", "dask")
#: the largest partition accepted (1 TiB); the default is ``shards.MAX_SHARD_BYTES`` (64 MiB)
PARTITION_MAX = 1 << 40

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local (this machine) or dask (a Dask cluster: --scheduler, else a local one "
        "of --workers processes; same results).",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 "
        "(default: $DASK_SCHEDULER_ADDRESS, else a local cluster).",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=THREADS_MAX,
        help="Worker processes of the local Dask cluster (default: the cores available).",
    ),
]
PartitionSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--partition-size",
        min=1024,
        max=PARTITION_MAX,
        help="Largest input partition in bytes with --engine dask (default 64 MiB).",
    ),
]


def use_dask(
    engine: str, scheduler: str | None, workers: int | None, partition_size: int | None
) -> bool:
    """True for ``--engine dask`` (with Dask installed); refuses dask options with ``local``."""
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "local":
        for name, value in (
            ("--scheduler", scheduler),
            ("--workers", workers),
            ("--partition-size", partition_size),
        ):
            if value is not None:
                raise UsageError(f"{name} applies to --engine dask")
        return False
    if scheduler and workers:
        raise UsageError(
            "--workers starts a local cluster; with --scheduler the cluster has its own"
        )
    from embedcli.dask_engine import require_dask

    require_dask()
    return True


def dask_plan(
    engine: str,
    scheduler: str | None,
    workers: int | None,
    partition_size: int | None,
    output: str | None,
    quiet: bool,
) -> Any:
    """``train``/``pretrain --engine dask``: where the corpus is encoded
    (``shard_corpus.DaskPlan``), else None."""
    if not use_dask(engine, scheduler, workers, partition_size):
        return None
    from embedcli.shard_corpus import DaskPlan

    note = None if quiet else (lambda t: err_console.print(labelled("Note:", "yellow", t)))
    return DaskPlan(output or None, scheduler, workers, partition_size, note)


def local_inputs(corpus: Sequence[str]) -> list[str]:
    """The inputs an output must not overwrite: the local files ``corpus`` names (globs and
    directories expanded; URLs are not local)."""
    from embedcli.inputs import expand_inputs, is_url

    return [path for path, _size in expand_inputs(corpus) if not is_url(path)] + [
        spec for spec in corpus if not is_url(spec)
    ]


@contextlib.contextmanager
def cluster(
    corpus: Sequence[str],
    options: Any,
    scheduler: str | None,
    workers: int | None,
    partition_size: int | None,
    quiet: bool,
) -> Iterator[tuple[Any, list[Any]]]:
    """A Dask client and the partitions of ``corpus`` (notes about them printed)."""
    from embedcli.dask_engine import dask_client, plan
    from embedcli.inputs import expand_inputs, plan_partitions
    from embedcli.shards import MAX_SHARD_BYTES

    files = expand_inputs(corpus)
    plan_partitions(files, options, 1)  # refuse what the engine cannot read before starting
    with dask_client(scheduler, workers) as client:
        parts, notes = plan(files, options, client, partition_size or MAX_SHARD_BYTES)
        if not quiet:
            for note in notes:
                err_console.print(labelled("Note:", "yellow", note))
        yield client, parts


def reading_summary(reading: dict[str, Any]) -> Any:
    """What ``report_invalid_utf8`` reads from a reader, from the engine's reading totals."""
    return SimpleNamespace(
        hints=[],
        invalid_utf8_lines=reading["invalid"],
        first_invalid_utf8=reading["first_invalid"],
        lines_read=reading["lines"],
    )
