"""``embedcli encode`` as one call: the vocabulary (or a classifier's rows) loaded, the corpus
encoded (here, or on a Dask cluster that ``on_cluster`` opens), and the padded ids written
atomically -- or, on a cluster with an output directory, the encoded shard directory.

``on_cluster(job)`` opens a cluster, calls ``job(client, partitions)`` and returns its result (the
command's ``--engine dask`` passes one); without it the local engine encodes. For one padded
file the cluster's workers write their ids to a temporary folder beside the output
(``.NAME.PID.XXXXXXXX.tmp``, removed when the call ends, and by the next run's
``outputs.clean_debris`` after a kill): the output's folder must be on a file system the workers
share (a local cluster's always is).

Left out: claiming the output (the command does it before any work, ``check_encode_args``
tells it whether the output is a file or a directory), printing.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedcli.errors import DataError, UsageError

#: the widest padded row ``encode`` writes (one row is then 4 MB)
MAXLEN_MAX = 1_000_000

OnCluster = Callable[[Callable[[Any, list[Any]], Any]], Any]


@dataclass
class EncodeRun:
    """What ``encode`` did. A padded file: ``rows`` x ``width`` ids, ``truncated`` rows cut.
    A shard directory: ``shards`` written, ``kept`` of them from an earlier run."""

    output: str
    documents: int
    tokens: int
    reading: Any
    seconds: float
    rows: int = 0
    width: int = 0
    padding: str = "post"
    truncating: str = "post"
    truncated: int = 0
    shards: int | None = None
    kept: int = 0

    def message(self) -> str:
        """The line ``encode`` prints."""
        if self.shards is not None:
            kept = f", {self.kept} kept from an earlier run" if self.kept else ""
            return (
                f"encoded {self.documents:,} documents, {self.tokens:,} tokens into "
                f"{self.shards} shards{kept} in {self.seconds:.2f} s -> {self.output}"
            )
        return (
            f"encoded {self.documents:,} documents, {self.tokens:,} tokens -> {self.rows:,} x "
            f"{self.width} int32 (padding={self.padding}, truncating={self.truncating}; "
            f"{self.truncated:,} truncated) in {self.seconds:.2f} s"
            + ("" if self.output == "-" else f" -> {self.output}")
        )


def check_encode_args(
    output: str,
    *,
    dask: bool,
    vocab: str | None,
    model: str | None,
    maxlen: int | None = None,
    padding: str | None = None,
    truncating: str | None = None,
    hashes: bool = False,
) -> str:
    """``UsageError`` for arguments ``encode`` refuses; else the output's kind, "file" or "dir"
    (an encoded shard directory: ``dask`` and no .npy/.npz/.txt suffix)."""
    if maxlen is not None and not 1 <= maxlen <= MAXLEN_MAX:
        raise UsageError(f"--maxlen must be in 1..{MAXLEN_MAX:,}, not {maxlen}")
    suffix = output.lower().rsplit(".", 1)[-1] if "." in output else ""
    to_dir = dask and output != "-" and suffix not in ("npy", "npz", "txt")
    if output != "-" and suffix not in ("npy", "npz", "txt") and not to_dir:
        raise UsageError(
            f"--output must end in .npy, .npz or .txt, or be '-' (got {output!r}); "
            "an encoded shard directory needs --engine dask"
        )
    if hashes and not to_dir:
        raise UsageError("--hashes applies to an encoded shard directory (--engine dask -o DIR)")
    if to_dir and (maxlen is not None or padding or truncating):
        raise UsageError(
            "an encoded shard directory keeps documents whole: drop --maxlen/--padding/--truncating"
        )
    if (vocab is None) == (model is None):
        raise UsageError(
            "give --vocab VOCAB_TSV or --model MODEL_DIR, one of them (see embedcli encode --help)"
        )
    if model is not None and dask:
        raise UsageError("encode --model runs on the local engine: drop --engine dask")
    return "dir" if to_dir else "file"


def check_output_space(output: str, rows: int, width: int) -> None:
    """Refuse, before writing, an ``encode`` output larger than the free space of its file system.

    ``.npy``/``.npz`` take 4 bytes per cell, text at least 2 ("0 "); stdout and special files
    (a pipe, /dev/null) are not checked.
    """
    if output == "-":
        return
    if os.path.exists(output) and not os.path.isfile(output):
        return
    per_cell = 2 if output.lower().endswith(".txt") else 4
    need = rows * width * per_cell
    target = os.path.dirname(os.path.abspath(output))
    try:
        free = shutil.disk_usage(target).free
    except OSError:
        return  # the write itself will report an unusable directory
    if need > free:
        raise DataError(
            f"{output} would take {_bytes(need)} ({rows:,} rows x {width:,} ids) but its file "
            f"system has {_bytes(free)} free; lower --maxlen or write elsewhere"
        )


def _bytes(n: int) -> str:
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} bytes"


def encode(
    corpus: Sequence[str],
    output: str,
    options: Any,
    *,
    vocab: str | None = None,
    model: str | None = None,
    maxlen: int | None = None,
    padding: str | None = None,
    truncating: str | None = None,
    value: int = 0,
    hashes: bool = False,
    on_cluster: OnCluster | None = None,
) -> EncodeRun:
    """Encode ``corpus`` (paths, read with ``options``, a ``corpus.CorpusOptions``) with the
    vocabulary TSV ``vocab`` -- or, with ``model``, as the rows that classifier pools -- and
    write the ids padded/truncated to ``maxlen`` (default: the longest document) to ``output``
    (.npy, .npz with labels, .txt, '-' = stdout). ``padding``/``truncating`` default to the
    vocabulary's compat preset. With ``on_cluster`` and a directory ``output``: the encoded shard
    directory (``embedcli.shard_dir``), with ``hashes`` its per-token fastText hashes (for word
    n-grams). ``DataError`` when nothing was read."""
    from embedcli.vocab import Vocabulary

    kind = check_encode_args(
        output,
        dask=on_cluster is not None,
        vocab=vocab,
        model=model,
        maxlen=maxlen,
        padding=padding,
        truncating=truncating,
        hashes=hashes,
    )
    loaded = None
    if model is not None:
        from embedcli.modeldir import load_model_consistent

        loaded = load_model_consistent(model, mmap=True, verify=True, command="encode --model")
        words = loaded.vocab
    else:
        words = Vocabulary.load(vocab)
    t0 = time.perf_counter()
    if kind == "dir":
        assert on_cluster is not None
        return _encode_to_dir(output, options, words, on_cluster, t0, hashes)
    padding = padding or words.options.get("padding", "post")
    truncating = truncating or words.options.get("truncating", "post")
    if on_cluster is not None:
        enc, reading = _encode_on_cluster(output, options, words, on_cluster)
    else:
        from embedcli.corpus import CorpusReader

        reading = CorpusReader(corpus, options)
        enc = _encode_local(reading, words, loaded)
    if enc.n_docs == 0:
        raise DataError("the corpus is empty: no documents were read")
    return _write(output, enc, words, maxlen, padding, truncating, value, reading, t0)


def _encode_local(reader: Any, vocab: Any, loaded: Any) -> Any:
    from embedcli.shards import encode_corpus

    if loaded is None:
        return encode_corpus(reader, vocab)
    return _model_rows(reader, loaded, encode_corpus)


def _model_rows(reader: Any, m: Any, encode_corpus: Any) -> Any:
    """The corpus encoded as ``m`` pools it: ``model.featurize`` of its word ids (``</s>``, word
    n-gram and subword rows appended), labels kept."""
    import dataclasses

    from embedcli import model as engine

    spec = m.spec
    subwords = (spec.minn, spec.maxn) if spec.has_subwords else None
    enc = encode_corpus(reader, m.vocab, hashes=bool(spec.ngram_hash), subwords=subwords)
    tokens, offsets = engine.featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    return dataclasses.replace(enc, tokens=tokens, offsets=offsets, hashes=None)


def _encode_on_cluster(output: str, options: Any, vocab: Any, on_cluster: OnCluster) -> Any:
    """The corpus encoded on the cluster; with a file output, the workers' ids pass through a
    temporary folder beside it (see the module's note), removed however the call ends."""
    from embedcli.dask_engine import encode_dask

    spill = None
    if output != "-":
        import tempfile

        from embedcli.outputs import mark, temp_prefix

        dest = Path(os.path.abspath(output))
        spill = tempfile.mkdtemp(prefix=temp_prefix(dest), suffix=".tmp", dir=dest.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(spill, 0o777 & ~umask)  # workers of a remote cluster may be other users
        mark(spill)
    try:
        enc, reading = on_cluster(
            lambda client, parts: encode_dask(client, parts, options, vocab, spill=spill)
        )
    finally:
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)
    return enc, _reading(reading)


def _reading(totals: dict[str, Any]) -> Any:
    """The reading totals of the cluster as a reader's attributes (invalid UTF-8 lines)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        hints=[],
        invalid_utf8_lines=totals["invalid"],
        first_invalid_utf8=totals["first_invalid"],
        lines_read=totals["lines"],
    )


def _write(
    output: str,
    enc: Any,
    vocab: Any,
    maxlen: int | None,
    padding: str,
    truncating: str,
    value: int,
    reading: Any,
    t0: float,
) -> EncodeRun:
    from embedcli.formats import write_encoded
    from embedcli.sequences import padded_width

    width = padded_width(enc.offsets, maxlen)
    check_output_space(output, enc.n_docs, width)
    # the padded matrix is streamed to the file in row blocks, never built in memory
    rows, width = write_encoded(
        output, enc, width, vocab.labels, padding=padding, truncating=truncating, value=value
    )
    return EncodeRun(
        output=output,
        documents=enc.n_docs,
        tokens=len(enc.tokens),
        reading=reading,
        seconds=time.perf_counter() - t0,
        rows=rows,
        width=width,
        padding=padding,
        truncating=truncating,
        truncated=int((enc.lengths() > width).sum()),
    )


def _encode_to_dir(
    output: str, options: Any, vocab: Any, on_cluster: OnCluster, t0: float, hashes: bool = False
) -> EncodeRun:
    """The encoded shard directory (``dask_engine.encode_to_dir``)."""
    from embedcli.dask_engine import encode_to_dir

    os.makedirs(output, exist_ok=True)
    manifest = on_cluster(
        lambda client, parts: encode_to_dir(client, parts, options, vocab, output, hashes=hashes)
    )
    if manifest["documents"] == 0:
        raise DataError("the corpus is empty: no documents were read")
    shards = manifest["shards"]
    reading = _reading(
        {
            "invalid": sum(s.get("invalid_utf8_lines", 0) for s in shards),
            "first_invalid": next(
                (s["first_invalid_utf8"] for s in shards if s.get("first_invalid_utf8")), None
            ),
            "lines": sum(s.get("lines", 0) for s in shards),
        }
    )
    return EncodeRun(
        output=output,
        documents=manifest["documents"],
        tokens=manifest["tokens"],
        reading=reading,
        seconds=time.perf_counter() - t0,
        shards=len(shards),
        kept=manifest["kept"],
    )
