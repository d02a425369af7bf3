"""``predict``, ``embed`` and ``evaluate`` with ``--engine dask``: a model applied to partitions.

The partitions are ``embedcli.dask_engine``'s (byte ranges cut by ``shards.cut_ranges``, read by
``inputs.PartitionReader``: the local reader's documents and one-line errors). A task applies
the model to its partition through ``api_model.Model`` -- the calls the local commands make --
so each document's prediction line or vector is the local one, and the partitions in order are
the local output:

- ``predict``/``embed`` to ``-o -`` (or to one file): the client fetches the partitions' text or
  arrays in input order and writes them;
- ``predict``/``embed`` to ``-o OUT_DIR``: each task writes its part (``part-00000.txt``,
  ``.tsv`` or ``.npy``) atomically into the directory under construction, and the client writes
  ``manifest.json`` (format ``embedcli-parts``) last, listing the parts in input order; the
  directory is built under a temporary name and swapped into place at the end
  (``atomic.atomic_dir``), so a failed or interrupted run leaves the previous one untouched;
- ``evaluate``: a task returns its partition's counts (``metrics.Evaluation``: confusion
  matrix, per-label gold/predicted/correct, top-1 hits); the client adds them up. Every metric
  is a function of those sums, so the report is the local one exactly.

The model goes to the workers once: a task carries the model's path and the sha256 of its
``config.json`` (which holds the sha256 of every other file); ``worker_model`` loads it once per
worker process and keeps it under that checksum. The model directory (and ``OUT_DIR``) must be
reachable under the same path by every worker -- a shared file system; the inputs may be URLs.

Faults: tasks only read, or write their own part under a temporary name renamed into place, so
Dask may rerun a task on another worker when one dies; temporaries of a killed writer are
removed before the manifest is written.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.corpus import CorpusOptions
from embedcli.errors import DataError
from embedcli.inputs import Partition, PartitionReader

#: format name and version of an output directory of parts
FORMAT = "embedcli-parts"
VERSION = 1
MANIFEST = "manifest.json"
#: models a worker process keeps loaded
CACHED_MODELS = 2
#: documents per model call inside a task
BATCH = 4096

Progress = Callable[[int, int], None]

# per worker process: checksum-keyed models, and how often each was loaded (tests read it)
_MODELS: OrderedDict[tuple[str, str], Any] = OrderedDict()
LOADS: dict[str, int] = {}


@dataclass(frozen=True)
class ModelRef:
    """How a worker finds the model: its absolute path, the sha256 of its config.json, and the
    kind the command accepts (``classifier`` for predict/evaluate, None for embed)."""

    path: str
    sha256: str
    kind: str | None
    command: str


def model_ref(path: str, kind: str | None, command: str) -> ModelRef:
    from embedcli.modeldir import sha256_file

    path = os.path.abspath(path)
    try:
        digest = sha256_file(os.path.join(path, "config.json"))
    except OSError as exc:
        raise DataError(f"cannot read {path}/config.json: {exc.strerror}") from None
    return ModelRef(path, digest, kind, command)


def worker_model(ref: ModelRef) -> Any:
    """The model ``ref`` names, loaded once per process (a fresh ``Model`` view of the cached
    table, so per-task counters start at zero)."""
    from embedcli.api_model import Model
    from embedcli.modeldir import sha256_file

    key = (ref.path, ref.sha256)
    cached = _MODELS.get(key)
    if cached is not None and ref.kind not in (None, cached.kind):
        cached = None  # Model.load below refuses it in the command's words
    if cached is None:
        cached = Model.load(ref.path, command=ref.command, kind=ref.kind)
        if sha256_file(os.path.join(ref.path, "config.json")) != ref.sha256:
            raise DataError(f"the model {ref.path} changed while the job ran")
        LOADS[ref.sha256] = LOADS.get(ref.sha256, 0) + 1
        _MODELS[key] = cached
        while len(_MODELS) > CACHED_MODELS:
            _MODELS.popitem(last=False)
    _MODELS.move_to_end(key)
    return Model(cached._table)


def loads() -> dict[str, int]:
    """Model loads of this process by config checksum (``client.run(loads)`` in the tests)."""
    return dict(LOADS)


# ------------------------------------------------------------------------------------ tasks
def _reading(reader: PartitionReader) -> dict[str, Any]:
    return {
        "lines": reader.lines_read,
        "invalid": reader.invalid_utf8_lines,
        "first_invalid": reader.first_invalid_utf8,
    }


def _part_file(folder: str, index: int, suffix: str, write: Callable[[Any], None]) -> dict:
    """Write part ``index`` of ``folder`` atomically; its record (name, bytes, sha256)."""
    from embedcli.atomic import atomic_write
    from embedcli.modeldir import sha256_file

    name = f"part-{index:05d}.{suffix}"
    path = os.path.join(folder, name)
    with atomic_write(path, "wb") as f:
        write(f)
    return {"name": name, "bytes": os.path.getsize(path), "sha256": sha256_file(path)}


def _predict_partition(
    part: Partition,
    options: CorpusOptions,
    ref: ModelRef,
    how: Any,
    lines_per_batch: int,
    folder: str | None,
) -> dict[str, Any]:
    from embedcli.predict_output import prediction_text

    m = worker_model(ref)
    reader = PartitionReader(part, options)
    chunks, documents = [], 0
    for batch in reader.batches(lines_per_batch):
        chunks.append(prediction_text(m, batch, how, threads=1))
        documents += len(batch)
    data = "".join(chunks).encode("utf-8")
    out: dict[str, Any] = {"documents": documents, "tokens": m.tokens_seen, **_reading(reader)}
    if folder is None:
        return {**out, "data": data}
    return {**out, **_part_file(folder, part.index, "txt", lambda f: f.write(data))}


def _embed_partition(
    part: Partition, options: CorpusOptions, ref: ModelRef, kind: str, folder: str | None
) -> dict[str, Any]:
    """``kind``: ``tsv`` (text) or ``npy`` (a float32 matrix)."""
    from embedcli.predict_output import embed_text

    m = worker_model(ref)
    reader = PartitionReader(part, options)
    blocks = [
        np.asarray(m.embed_batch(batch, threads=1), dtype=np.float32)
        for batch in reader.batches(BATCH)
    ]
    arr = np.concatenate(blocks) if blocks else np.zeros((0, m.embed_width), np.float32)
    out: dict[str, Any] = {"documents": len(arr), **_reading(reader)}
    if kind == "tsv":
        data = "".join(embed_text(b) for b in blocks).encode("utf-8")
        if folder is None:
            return {**out, "data": data}
        return {**out, **_part_file(folder, part.index, "tsv", lambda f: f.write(data))}
    if folder is None:
        return {**out, "data": arr}
    write = lambda f: np.save(f, arr, allow_pickle=False)  # noqa: E731
    return {**out, **_part_file(folder, part.index, "npy", write)}


def _evaluate_partition(
    part: Partition, options: CorpusOptions, ref: ModelRef, k: int | None, threshold: Any
) -> dict[str, Any]:
    m = worker_model(ref)
    reader = PartitionReader(part, options)
    ev = m.evaluation(reader.batches(BATCH), k, threshold, threads=1)
    return {"evaluation": ev, **_reading(reader)}


# ----------------------------------------------------------------------------------- client
def _submit(client: Any, fn: Callable[..., Any], parts: list[Partition], **kwargs: Any) -> list:
    return client.map(fn, parts, pure=False, **kwargs)


def in_order(futures: list[Any], progress: Progress | None = None) -> Iterator[dict[str, Any]]:
    """The results of ``futures`` in their order, each released once fetched."""
    for done, future in enumerate(futures, 1):
        result = future.result()
        future.release()
        if progress is not None:
            progress(done, len(futures))
        yield result


def add_reading(total: dict[str, Any], part: dict[str, Any]) -> None:
    total["lines"] += part["lines"]
    total["invalid"] += part["invalid"]
    total["first_invalid"] = total["first_invalid"] or part["first_invalid"]


def new_reading() -> dict[str, Any]:
    return {"lines": 0, "invalid": 0, "first_invalid": None, "documents": 0, "tokens": 0}


def predict_futures(
    client: Any,
    parts: list[Partition],
    options: CorpusOptions,
    ref: ModelRef,
    how: Any,
    batch_size: int,
    folder: str | None = None,
) -> list[Any]:
    return _submit(
        client,
        _predict_partition,
        parts,
        options=options,
        ref=ref,
        how=how,
        lines_per_batch=batch_size,
        folder=folder,
    )


def embed_futures(
    client: Any,
    parts: list[Partition],
    options: CorpusOptions,
    ref: ModelRef,
    kind: str,
    folder: str | None = None,
) -> list[Any]:
    return _submit(
        client, _embed_partition, parts, options=options, ref=ref, kind=kind, folder=folder
    )


def stream(
    futures: list[Any], write: Callable[[Any], None], progress: Progress | None = None
) -> dict[str, Any]:
    """``write`` each partition's data in input order; the reading totals."""
    total = new_reading()
    for r in in_order(futures, progress):
        write(r["data"])
        _add_counts(total, r)
    return total


def _add_counts(total: dict[str, Any], r: dict[str, Any]) -> None:
    add_reading(total, r)
    total["documents"] += r["documents"]
    total["tokens"] += r.get("tokens", 0)


def write_parts(
    futures: list[Any],
    parts: list[Partition],
    folder: str | Path,
    header: dict[str, Any],
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wait for the tasks writing the parts of ``folder``, remove temporaries of killed
    writers, write the manifest (the commit); ``(manifest, reading totals)``."""
    from embedcli.shard_dir import write_json

    folder = Path(folder)
    total = new_reading()
    records = []
    for part, r in zip(parts, in_order(futures, progress), strict=True):
        _add_counts(total, r)
        records.append(
            {
                "index": part.index,
                "name": r["name"],
                "input": part.spec(),
                "documents": r["documents"],
                "bytes": r["bytes"],
                "sha256": r["sha256"],
            }
        )
    for name in os.listdir(folder):
        if name.startswith(".") and name.endswith(".tmp"):
            (folder / name).unlink(missing_ok=True)
    inputs: dict[str, int] = {}
    for p in parts:
        inputs.setdefault(p.url, p.size)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        **header,
        "inputs": [{"url": url, "size": size} for url, size in inputs.items()],
        "documents": total["documents"],
        "parts": records,
    }
    write_json(folder / MANIFEST, manifest)
    return manifest, total


def evaluate_dask(
    client: Any,
    parts: list[Partition],
    options: CorpusOptions,
    ref: ModelRef,
    k: int | None,
    threshold: Any,
    progress: Progress | None = None,
) -> tuple[Any, dict[str, Any]]:
    """``Model.evaluation`` over the partitions: ``(Evaluation, reading totals)``, the counts
    summed in input order."""
    futures = _submit(
        client, _evaluate_partition, parts, options=options, ref=ref, k=k, threshold=threshold
    )
    total = new_reading()
    ev = None
    for r in in_order(futures, progress):
        add_reading(total, r)
        ev = r["evaluation"] if ev is None else add_evaluations(ev, r["evaluation"])
    return ev, total


def add_evaluations(a: Any, b: Any) -> Any:
    """The counts of two evaluations of the same model and ``k``, added."""
    from embedcli.metrics import Evaluation

    return Evaluation(
        a.k,
        a.n + b.n,
        a.skipped + b.skipped,
        a.top1_correct + b.top1_correct,
        a.gold + b.gold,
        a.predicted + b.predicted,
        a.predicted_gold + b.predicted_gold,
        a.confusion + b.confusion,
    )


def read_parts(folder: str | Path) -> Iterator[Path]:
    """The part files of a complete output directory, in input order (its manifest's order)."""
    from embedcli.errors import FormatError
    from embedcli.shard_dir import read_json

    folder = Path(folder)
    manifest = read_json(folder / MANIFEST)
    if manifest is None or manifest.get("format") != FORMAT:
        raise FormatError(f"{folder} is not a complete output directory (no {MANIFEST})")
    for record in manifest["parts"]:
        yield folder / record["name"]
