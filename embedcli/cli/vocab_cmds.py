"""``build-vocab`` and ``encode``: corpus -> vocabulary -> padded integer ids."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from embedcli.cli.app import (
    app,
    err_console,
    handle_errors,
    print_json,
)
from embedcli.cli.checks import INT32_MAX, INT32_MIN, start_command
from embedcli.cli.engine import (
    EngineOpt,
    PartitionSizeOpt,
    SchedulerOpt,
    WorkersOpt,
    cluster,
    local_inputs,
    reading_summary,
    use_dask,
)
from embedcli.cli.options import (
    CompatOpt,
    ForceOpt,
    JsonOpt,
    KeepPunctOpt,
    MaxSizeOpt,
    MinCountOpt,
    NoLowerOpt,
    NoOovOpt,
    OovTokenOpt,
    OrderOpt,
    QuietOpt,
    Reading,
    TokenPatternOpt,
    reading_options,
    report_invalid_utf8,
)
from embedcli.cli.render import text
from embedcli.corpus import CorpusReader
from embedcli.errors import DataError, UsageError

#: the widest padded row ``encode`` writes (one row is then 4 MB)
MAXLEN_MAX = 1_000_000


def check_output_space(output: str, rows: int, width: int) -> None:
    """Refuse, before writing, an ``encode`` output larger than the free space of its file system.

    ``.npy``/``.npz`` take 4 bytes per cell, text at least 2 ("0 "); stdout and special files
    (a pipe, /dev/null) are not checked.
    """
    import os
    import shutil

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


@app.command("build-vocab")
@handle_errors
@reading_options()
def build_vocab(
    ctx: typer.Context,
    corpus: Annotated[list[str], typer.Argument(help="Input file(s); '-' reads standard input.")],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Vocabulary TSV to write ('-' = stdout).")
    ],
    *,
    min_count: MinCountOpt = 1,
    max_size: MaxSizeOpt = None,
    order: OrderOpt = "",
    no_oov: NoOovOpt = False,
    oov_token: OovTokenOpt = None,
    compat: CompatOpt = "embedcli",
    no_lower: NoLowerOpt = False,
    keep_punctuation: KeepPunctOpt = False,
    token_pattern: TokenPatternOpt = None,
    reading: Reading,  # --format, --label-prefix, --text-column... (options.reading_options)
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    partition_size: PartitionSizeOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Count a corpus and write its vocabulary: id 0 padding, id 1 [UNK], then tokens by frequency.

    Example: embedcli build-vocab sample_data/stdlib/train.txt -o vocab.tsv --min-count 2
    """
    from embedcli.outputs import Output, claim_outputs
    from embedcli.vocab_run import build_vocab as build

    start_command()
    if json_out and output == "-":
        raise UsageError("--json and '-o -' both write to stdout; choose one")
    dask = use_dask(engine, scheduler, workers, partition_size)
    inputs = local_inputs(corpus) if dask else corpus
    # checked, locked and cleaned before any work; released when the command ends
    ctx.with_resource(claim_outputs([Output(output)], inputs, force=force))
    options = reading.options(
        skip_blank=True,
    )

    def on_dask(options: Any, tok_cfg: Any, opts: dict) -> tuple[Any, Any, Any]:
        from embedcli.dask_engine import build_vocabulary_dask

        with cluster(corpus, options, scheduler, workers, partition_size, quiet) as (client, parts):
            vocab, stats, counted = build_vocabulary_dask(client, parts, options, tok_cfg, opts)
        return vocab, stats, reading_summary(counted)

    run = build(
        corpus,
        output,
        options,
        compat=compat,
        lower=False if no_lower else None,
        keep_punctuation=keep_punctuation,
        token_pattern=token_pattern,
        order=order or None,
        oov=False if no_oov else None,
        min_count=min_count,
        max_size=max_size,
        oov_token=oov_token,
        count=on_dask if dask else None,
    )
    report_invalid_utf8(run.reading, quiet)
    summary = run.summary(output)
    if json_out:  # the JSON is the summary: no table besides it (warnings still on stderr)
        print_json(summary)
    elif not quiet:
        _render_vocab_summary(summary)


def _render_vocab_summary(s: dict) -> None:
    from rich.table import Table

    t = Table(title="Vocabulary", show_header=False, title_justify="left", box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("documents", f"{s['documents']:,}")
    t.add_row("tokens", f"{s['tokens']:,}")
    t.add_row("unique tokens", f"{s['unique']:,}")
    t.add_row("kept", f"{s['kept']:,} (+ reserved = {s['vocab_size']:,} ids)")
    t.add_row("coverage", f"{100 * s['coverage']:.2f} % of corpus tokens")
    t.add_row("top tokens", text(", ".join(f"{w} ({c:,})" for w, c in s["top"])))
    if s["labels"]:
        t.add_row("labels", text(", ".join(f"{w} ({c:,})" for w, c in s["labels"][:20])))
    t.add_row("time", text(f"{s['seconds']:.2f} s -> {s['output']}"))
    err_console.print(t)


@app.command("encode")
@handle_errors
@reading_options()
def encode(
    ctx: typer.Context,
    corpus: Annotated[list[str], typer.Argument(help="Input file(s); '-' reads standard input.")],
    vocab_path: Annotated[
        str | None, typer.Option("--vocab", help="Vocabulary TSV from build-vocab.")
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="ids.npy (int32 n x maxlen), ids.npz (+ labels) or '-' (text)."
        ),
    ] = "-",
    *,
    maxlen: Annotated[
        int | None,
        typer.Option(
            "--maxlen",
            min=1,
            max=MAXLEN_MAX,
            help="Row width; default: the longest sequence.",
        ),
    ] = None,
    padding: Annotated[
        str | None,
        typer.Option(
            "--padding", help="pre or post (default: the vocabulary's compat preset, post)."
        ),
    ] = None,
    truncating: Annotated[
        str | None,
        typer.Option(
            "--truncating", help="pre or post (default: the vocabulary's compat preset, post)."
        ),
    ] = None,
    value: Annotated[
        int,
        typer.Option("--value", min=INT32_MIN, max=INT32_MAX, help="Padding value (int32)."),
    ] = 0,
    reading: Reading,  # --format, --label-prefix, --text-column... (options.reading_options)
    engine: EngineOpt = "local",
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    partition_size: PartitionSizeOpt = None,
    hashes: Annotated[
        bool,
        typer.Option(
            "--hashes",
            help="Shard directory only: also store each token string's hash (unknown words "
            "included), which train --word-ngrams above 1 needs.",
        ),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Instead of --vocab: the rows a classifier pools for each document (its "
            "words, then </s>, word n-gram and subword rows), for EmbeddingBag/Keras.",
        ),
    ] = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Integer-encode and pad/truncate documents with Keras pad_sequences semantics.

    With --engine dask, -o DIR (no .npy/.npz/.txt suffix) writes an encoded shard directory
    (unpadded int32 ids per input partition, resumable) that train reads as its corpus.

    --model MODEL_DIR writes the embedding rows the model averages for each document (the
    words, then its hashed n-gram and subword rows, as predict and embed do): with
    'export --format npy' they give embed's vectors in torch.nn.EmbeddingBag (padding_idx=0)
    or a Keras Embedding(mask_zero=True) + GlobalAveragePooling1D.

    Example: embedcli encode sample_data/stdlib/test.txt --vocab vocab.tsv --maxlen 40 -o ids.npz
    """
    from embedcli.formats import write_encoded
    from embedcli.outputs import Output, claim_outputs
    from embedcli.sequences import padded_width
    from embedcli.shards import encode_corpus
    from embedcli.vocab import Vocabulary

    start_command()
    if maxlen is not None and maxlen < 1:
        raise UsageError(f"--maxlen must be at least 1, not {maxlen}")
    dask = use_dask(engine, scheduler, workers, partition_size)
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
    if (vocab_path is None) == (model is None):
        raise UsageError(
            "give --vocab VOCAB_TSV or --model MODEL_DIR, one of them (see embedcli encode --help)"
        )
    if model is not None and dask:
        raise UsageError("encode --model runs on the local engine: drop --engine dask")
    source = vocab_path if model is None else model
    inputs = [*(local_inputs(corpus) if dask else corpus), source]
    kind = "dir" if to_dir else "file"
    ctx.with_resource(claim_outputs([Output(output, kind=kind)], inputs, force=force))
    loaded = None
    if model is not None:
        from embedcli.cli.model_common import LoadedModel

        loaded = LoadedModel(model, command="encode --model")
        vocab = loaded.vocab
    else:
        vocab = Vocabulary.load(vocab_path)
    padding = padding or vocab.options.get("padding", "post")
    truncating = truncating or vocab.options.get("truncating", "post")
    options = reading.options()
    t0 = time.perf_counter()
    if to_dir:
        _encode_to_dir(
            corpus, options, vocab, output, scheduler, workers, partition_size, quiet, t0, hashes
        )
        return
    if dask:
        from embedcli.dask_engine import encode_dask

        with cluster(corpus, options, scheduler, workers, partition_size, quiet) as (client, parts):
            enc, reading = encode_dask(client, parts, options, vocab)
        reader = reading_summary(reading)
    else:
        reader = CorpusReader(corpus, options)
        if loaded is None:
            enc = encode_corpus(reader, vocab)
        else:
            enc = _model_rows(reader, loaded, encode_corpus)
    if enc.n_docs == 0:
        raise DataError("the corpus is empty: no documents were read")
    report_invalid_utf8(reader, quiet)
    width = padded_width(enc.offsets, maxlen)
    check_output_space(output, enc.n_docs, width)
    # the padded matrix is streamed to the file in row blocks, never built in memory
    n_rows, width = write_encoded(
        output,
        enc,
        width,
        vocab.labels,
        padding=padding,
        truncating=truncating,
        value=value,
    )
    if not quiet:
        lens = enc.lengths()
        cut = int((lens > width).sum())
        err_console.print(
            text(
                f"encoded {enc.n_docs:,} documents, {len(enc.tokens):,} tokens -> {n_rows:,} x {width} int32 "
                f"(padding={padding}, truncating={truncating}; {cut:,} truncated) in {time.perf_counter() - t0:.2f} s"
                + ("" if output == "-" else f" -> {output}")
            )
        )
    sys.stdout.flush()


def _encode_to_dir(
    corpus, options, vocab, output, scheduler, workers, partition_size, quiet, t0, hashes=False
):
    """``encode --engine dask -o DIR``: the encoded shard directory (``embedcli.shard_dir``)."""
    import os

    from embedcli.dask_engine import encode_to_dir

    os.makedirs(output, exist_ok=True)
    with cluster(corpus, options, scheduler, workers, partition_size, quiet) as (client, parts):
        manifest = encode_to_dir(client, parts, options, vocab, output, hashes=hashes)
    if manifest["documents"] == 0:
        raise DataError("the corpus is empty: no documents were read")
    if not quiet:
        kept = f", {manifest['kept']} kept from an earlier run" if manifest["kept"] else ""
        err_console.print(
            text(
                f"encoded {manifest['documents']:,} documents, {manifest['tokens']:,} tokens into "
                f"{len(manifest['shards'])} shards{kept} in {time.perf_counter() - t0:.2f} s -> {output}"
            )
        )


def _model_rows(reader: CorpusReader, m: Any, encode_corpus: Any) -> Any:
    """The corpus encoded as ``m`` pools it: ``model.featurize`` of its word ids (``</s>``, word
    n-gram and subword rows appended), labels kept."""
    import dataclasses

    from embedcli import model as engine
    from embedcli.cli.model_common import encode_for_model

    enc = encode_for_model(encode_corpus, reader, m)
    tokens, offsets = engine.featurize(enc.tokens, enc.offsets, m.spec, enc.hashes)
    return dataclasses.replace(enc, tokens=tokens, offsets=offsets, hashes=None)
