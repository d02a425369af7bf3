"""Commands that read a model's table without the engine: lookup, nearest, analogy, export, info, plot.

They open the model memory-mapped and never import numba, so they start fast.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

import typer

from embedcli.cli.app import (
    app,
    err_console,
    handle_errors,
    print_json,
)
from embedcli.cli.checks import COUNT_MAX, SEED_MAX
from embedcli.cli.model_common import (
    check_choice,
    check_k,
    first_word_id,
    json_floats,
    open_table,
    output_format,
    print_note,
    query_tokens,
    query_words,
    show_token,
    stdin_lines,
)
from embedcli.cli.options import (
    ForceOpt,
    KOpt,
    ModelArg,
)
from embedcli.cli.render import data_field, out_console, table_title, text
from embedcli.cli.vector_tables import SUBWORD_ID, subword_query, vectors_info, word_list_rows
from embedcli.errors import DataError, UsageError


# -- lookup -----------------------------------------------------------------------------------------
@app.command("lookup")
@handle_errors
def lookup(
    model: ModelArg,
    words: Annotated[
        list[str] | None,
        typer.Argument(help="Words (or ids with --index); '-' reads one per line."),
    ] = None,
    *,
    sentence: Annotated[
        str | None, typer.Option("--sentence", "-s", help="Tokenize this text and look up its ids.")
    ] = None,
    index: Annotated[bool, typer.Option("--index", help="Arguments are integer row ids.")] = False,
    maxlen: Annotated[
        int | None,
        typer.Option(
            "--maxlen",
            min=1,
            max=COUNT_MAX,
            help="With --sentence: pad (id 0) or truncate at the end to N.",
        ),
    ] = None,
    skip_oov: Annotated[
        bool, typer.Option("--skip-oov", help="Drop unknown words instead of using the [UNK] row.")
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Output: table, tsv, csv or json (default: table on a terminal, else tsv).",
        ),
    ] = None,
) -> None:
    """Look up embedding rows: the Embedding layer as a table lookup (ids -> vectors).

    tsv rows are token, id, then the vector; csv has a header token,id,d0,...; floats are the
    shortest strings that read back to the same float32. On a word-vector model with subwords
    (embedcli pretrain) an unknown word gets the mean of its character n-gram vectors, shown
    with id -1 ("subwords" in the table, "from_subwords" in json).

    Example: embedcli lookup model --sentence "Nice to see you again" --format json
    """
    import numpy as np

    fmt = output_format(fmt, ("table", "tsv", "csv", "json"))
    if maxlen is not None and (maxlen < 1 or sentence is None):
        raise UsageError("--maxlen needs --sentence and a value of 1 or more")
    if sentence is not None and words:
        raise UsageError("give either --sentence or words, not both")
    if sentence is None and index and words == ["-"]:
        words = list(stdin_lines())
    table = _open_model(model)
    vocab, emb = table.vocab, table.embeddings
    subwords = table.kind == "vectors" and table.has_subwords  # a word-vector model's n-grams
    if sentence is not None:
        pairs = _lookup_words(vocab, vocab.tokenizer.tokenize(sentence), skip_oov, subwords)
        if maxlen is not None:
            pairs = (pairs + [("", 0)] * maxlen)[:maxlen]
    elif index:
        pairs = _lookup_ids(vocab, emb.shape[0], query_words(words))
    else:
        tokens = [t for w in query_words(words) for t in _tokens_of(vocab, w)]
        pairs = _lookup_words(vocab, tokens, skip_oov, subwords)
    ids = [max(i, 0) for _, i in pairs]
    vectors = np.array(emb[ids] if ids else emb[:0], dtype=np.float32)
    composed = [j for j, (_, i) in enumerate(pairs) if i == SUBWORD_ID]
    if composed:
        vectors[composed] = [table.subword_vector(pairs[j][0]) for j in composed]
        for j in composed:
            found, total = table.ngrams_found(pairs[j][0])
            how = (
                f"the mean of {found} of its {total} character n-grams"
                if found
                else f"zeros (none of its {total} character n-grams has a row)"
            )
            print_note(
                f"{pairs[j][0]!r} is not in the vocabulary; its vector is {how} (from subwords; "
                f"id {SUBWORD_ID} in the output)"
            )
    _render_lookup(fmt, pairs, vectors, sentence)


def _tokens_of(vocab: Any, word: str) -> list[str]:
    toks = query_tokens(vocab, word)
    if not toks:
        print_note(f"{word!r} is empty after standardization; skipped")
    return toks


def _lookup_words(
    vocab: Any, tokens: Iterable[str], skip_oov: bool, subwords: bool = False
) -> list[tuple[str, int]]:
    """``(token, row id)`` pairs; an unknown token takes ``SUBWORD_ID`` when the model has
    subwords (its vector is composed by the caller), else the [UNK] row or is skipped."""
    pairs = []
    for tok in tokens:
        i = vocab.token_to_id.get(tok)
        if i is not None and i < first_word_id(vocab):  # a reserved entry, not a word
            i = None if subwords else i
        if i is None and subwords and not skip_oov:
            pairs.append((tok, SUBWORD_ID))
            continue
        if i is None:
            if skip_oov or vocab.unk_id is None:
                print_note(f"{tok!r} is not in the vocabulary; skipped")
                continue
            print_note(f"{tok!r} is not in the vocabulary; using the [UNK] row (id {vocab.unk_id})")
            i = vocab.unk_id
        pairs.append((tok, i))
    return pairs


def _lookup_ids(vocab: Any, num_rows: int, values: Sequence[str]) -> list[tuple[str, int]]:
    from embedcli.exporters import bucket_name

    pairs = []
    for v in values:
        try:
            i = int(v)
        except ValueError:
            raise UsageError(f"--index expects integer ids, got {v!r}") from None
        if not 0 <= i < num_rows:
            raise DataError(f"id {i} is out of range: the table has rows 0..{num_rows - 1}")
        name = vocab.tokens[i] if i < len(vocab.tokens) else bucket_name(i - len(vocab.tokens))
        pairs.append((name, i))
    return pairs


def _render_lookup(
    fmt: str, pairs: list[tuple[str, int]], vectors: Any, sentence: str | None
) -> None:
    from embedcli.exporters import float_strings

    out = sys.stdout
    if fmt == "json":
        rows = ",\n".join(
            f'  {{"token": {json.dumps(t, ensure_ascii=False)}, "id": {i}, '
            + ('"from_subwords": true, ' if i == SUBWORD_ID else "")
            + f'"vector": {json_floats(v)}}}'
            for (t, i), v in zip(pairs, vectors, strict=True)
        )
        body = f"[\n{rows}\n]" if pairs else "[]"
        if sentence is not None:
            ids = json.dumps([i for _, i in pairs])
            body = (
                f'{{"sentence": {json.dumps(sentence, ensure_ascii=False)}, "ids": {ids}, '
                f'"rows": {body}}}'
            )
        out.write(body + "\n")
    elif fmt in ("tsv", "csv"):
        import csv

        writer = csv.writer(out, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
        if fmt == "csv":
            writer.writerow(["token", "id"] + [f"d{j}" for j in range(vectors.shape[1])])
        writer.writerows(
            [t, i, *float_strings(v)] for (t, i), v in zip(pairs, vectors, strict=True)
        )
    else:
        from rich.table import Table

        heading = table_title(f"ids: {[i for _, i in pairs]}") if sentence is not None else None
        t = Table(title=heading, title_justify="left")
        t.add_column("token")
        t.add_column("id", justify="right")
        t.add_column("vector")
        for (tok, i), v in zip(pairs, vectors, strict=True):
            t.add_row(
                text(show_token(tok)),
                "subwords" if i == SUBWORD_ID else str(i),
                text("[" + ", ".join(f"{x:.4f}" for x in v.tolist()) + "]"),
            )
        out_console().print(t)
    out.flush()


# -- nearest / analogy ------------------------------------------------------------------------------
NeighborFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="Output: table, tsv or json (default: table on a terminal, else tsv).",
    ),
]


def _open_model(model: str) -> Any:
    """The API's ``Model`` over the memory-mapped table (no numba, output layer unread)."""
    from embedcli.api_model import Model

    return Model.load(model, verify=False, classifier=False)


@app.command("nearest")
@handle_errors
def nearest(
    model: ModelArg,
    words: Annotated[list[str], typer.Argument(help="Query word(s); '-' reads one per line.")],
    *,
    k: KOpt = 10,
    fmt: NeighborFormatOpt = None,
) -> None:
    """The k most similar words by cosine (padding, [UNK] and n-gram rows excluded).

    tsv rows are query, neighbour, cosine. On a word-vector model with subwords an unknown
    query word is searched with its character n-gram vector.

    Example: embedcli nearest model socket thread -k 5
    """
    fmt = output_format(fmt, ("table", "tsv", "json"))
    check_k(k)
    queries = query_words(words)
    table = _open_model(model)
    index = table.index
    subwords = table.kind == "vectors" and table.has_subwords  # a word-vector model's n-grams
    found: list[tuple[str, int | Any]] = []  # (query, row id or its composed vector)
    for w in queries:
        i = table.word_id(w)
        vector = subword_query(table, w) if i is None and subwords else None
        if i is not None:
            found.append((w, i))
        elif vector is not None:
            found.append((w, vector))
        else:
            print_note(f"{w!r} is not a word of the vocabulary; skipped")
    if not found:
        raise DataError(
            "none of the query words is in the vocabulary"
            + (" or has a known character n-gram" if subwords else "")
        )
    # known words in one batched search (each excludes itself), composed queries in another
    known = [j for j, (_, q) in enumerate(found) if isinstance(q, int)]
    composed = [j for j, (_, q) in enumerate(found) if not isinstance(q, int)]
    results: list[Any] = [None] * len(found)
    for j, r in zip(known, index.nearest([found[j][1] for j in known], k), strict=True):
        results[j] = r
    if composed:
        import numpy as np

        queries_ = np.stack([found[j][1] for j in composed])
        for j, r in zip(composed, index.top_k(queries_, k), strict=True):
            results[j] = r
    _render_neighbors(fmt, [w for w, _ in found], results, table.vocab.tokens)


@app.command("analogy")
@handle_errors
def analogy(
    model: ModelArg,
    words: Annotated[
        list[str], typer.Argument(help="A B C (A is to B as C is to ?); '-' reads 'A B C' lines.")
    ],
    *,
    k: KOpt = 10,
    fmt: NeighborFormatOpt = None,
) -> None:
    """Analogy by vector offset: the words closest to B - A + C (gensim most_similar).

    Example: embedcli analogy model thread threads process -k 3
    """
    fmt = output_format(fmt, ("table", "tsv", "json"))
    check_k(k)
    if words == ["-"]:
        triples = [line.split() for line in stdin_lines()]
    else:
        triples = [list(words)]
    if not triples:
        raise UsageError("empty query: give A B C, or '-' to read triples from stdin")
    for t in triples:
        if len(t) != 3:
            raise UsageError(f"an analogy takes three words A B C, got {' '.join(t)!r}")
    table = _open_model(model)
    index = table.index
    labels, results = [], []
    for a, b, c in triples:
        ids = [table.word_id(w) for w in (a, b, c)]
        missing = [w for w, i in zip((a, b, c), ids, strict=True) if i is None]
        if missing:
            print_note(
                f"{', '.join(map(repr, missing))} not in the vocabulary; '{a} {b} {c}' skipped"
            )
            continue
        labels.append(f"{a} : {b} :: {c} : ?")
        results.append(index.analogy(ids[0], ids[1], ids[2], k))
    if not results:
        raise DataError("no analogy query had all three words in the vocabulary")
    _render_neighbors(fmt, labels, results, table.vocab.tokens)


def _render_neighbors(
    fmt: str, queries: list[str], results: list[list[tuple[int, float]]], tokens: list[str]
) -> None:
    if fmt == "json":
        print_json(
            [
                {"query": q, "neighbors": [{"word": tokens[i], "id": i, "score": s} for i, s in r]}
                for q, r in zip(queries, results, strict=True)
            ]
        )
        return
    if fmt == "tsv":
        sys.stdout.write(
            "".join(
                f"{data_field(q)}\t{data_field(tokens[i])}\t{s:.6f}\n"
                for q, r in zip(queries, results, strict=True)
                for i, s in r
            )
        )
        return
    from rich.table import Table

    console = out_console()
    for q, r in zip(queries, results, strict=True):
        t = Table(title=table_title(q), title_justify="left")
        t.add_column("#", justify="right")
        t.add_column("word")
        t.add_column("cosine", justify="right")
        for rank, (i, s) in enumerate(r, 1):
            t.add_row(str(rank), text(tokens[i]), f"{s:.4f}")
        console.print(t)


# -- export -----------------------------------------------------------------------------------------
@app.command("export")
@handle_errors
def export(
    ctx: typer.Context,
    model: ModelArg,
    *,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="npy, npz, csv, word2vec, word2vec-binary or projector."
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="File to write ('-' = stdout); projector: directory or prefix."
        ),
    ],
    words_only: Annotated[
        bool, typer.Option("--words-only", help="Drop the padding, [UNK] and n-gram bucket rows.")
    ] = False,
    words_file: Annotated[
        str | None,
        typer.Option(
            "--words",
            help="Vectors of the words in this file instead, known or not, in its order "
            "('-' = stdin; word-vector models; not npy).",
        ),
    ] = None,
    force: ForceOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
) -> None:
    """Export the embedding table (row i = token id i) for gensim, numpy, spreadsheets or TensorBoard.

    word2vec files name the padding row '<pad>' (csv: empty token) and n-gram rows '<bucket_N>',
    with more angle brackets when the vocabulary holds such a token.
    projector writes vectors.tsv + metadata.tsv into a directory (with the
    projector_config.pbtxt TensorBoard reads), or after a prefix ending in _ - .
    npz holds the table and a classifier's Dense layers (out_W, out_b, hidden_W, hidden_b:
    Keras kernel layout) with its pool and objective, for a Keras or PyTorch copy of the model.
    --words FILE (word-vector models) writes the vectors of the file's words instead, known or
    not, as fastText's print-word-vectors: word2vec text is its 'word v1 v2 ...' lines after
    a 'count dim' header.

    Example: embedcli export model --format word2vec -o vectors.txt --words-only
    """
    from embedcli.exporters import EXPORT_FORMATS, export_embeddings, export_outputs, select_rows
    from embedcli.outputs import claim_outputs

    fmt = check_choice(fmt, EXPORT_FORMATS, "--format")
    if words_file is not None:
        if words_only:
            raise UsageError("--words exports the words of a file: drop --words-only")
        if fmt in ("npy", "npz"):
            raise UsageError(
                "--words writes each word with its vector: use --format word2vec, "
                "word2vec-binary, csv or projector (an npy matrix holds no words)"
            )
    if fmt == "npz" and words_only:
        raise UsageError("npz holds the whole model (row i = id i): drop --words-only")
    inputs = [model] + ([words_file] if words_file not in (None, "-") else [])
    ctx.with_resource(claim_outputs(export_outputs(fmt, output), inputs, force=force))
    table = open_table(model, verify=True, classifier=fmt == "npz")
    vocab = table.vocab
    layers = _layers(table) if fmt == "npz" else None
    if words_file is not None:
        embeddings, rows = word_list_rows(table, model, words_file)
    else:
        embeddings = table.embeddings
        rows = select_rows(
            vocab.tokens,
            table.embeddings.shape[0],
            first_word=first_word_id(vocab),
            counts=vocab.counts,
            words_only=words_only,
        )
    paths = export_embeddings(embeddings, rows, fmt, output, layers)
    if not quiet and output != "-":
        err_console.print(
            text(
                f"exported {len(rows):,} rows x {table.embeddings.shape[1]} ({fmt}) "
                f"-> {', '.join(paths)}"
            )
        )


def _layers(table: Any) -> dict[str, Any]:
    """A classifier's arrays after the pooling for ``export --format npz`` (none for word
    vectors): Dense kernels (inputs x outputs) and biases, and what a copy needs to know."""
    import numpy as np

    if not getattr(table, "classifier", None):
        return {}
    spec = table.spec
    keys = ("out_W", "out_b", "hidden_W", "hidden_b")
    layers = {k: np.asarray(table.classifier[k]) for k in keys if k in table.classifier}
    layers["pool"] = np.array(spec.pool)
    layers["objective"] = np.array(spec.objective)
    layers["maxlen"] = np.array(int(spec.maxlen))
    layers["labels"] = np.array(list(table.vocab.labels), dtype=np.str_)
    return layers


# -- info -------------------------------------------------------------------------------------------
@app.command("info")
@handle_errors
def info(
    model: ModelArg,
    *,
    json_out: Annotated[bool, typer.Option("--json", help="Everything as JSON on stdout.")] = False,
) -> None:
    """Model summary (layers, output shapes, parameters), vocabulary, labels, training, files.

    The sha256 of every file recorded in config.json is checked; a mismatch is an error (exit 1).

    Example: embedcli info model --json
    """
    from embedcli.modeldir import file_report, layer_summary, model_kind, read_config

    config = read_config(model)
    files = file_report(model, config)
    bad = [f["file"] for f in files if f["status"] != "ok"]
    spec = config["model"]
    if model_kind(config) == "vectors":
        report, summary = vectors_info(model, config, files, bad)
        if json_out:
            print_json(report)
        else:
            _render_info_sections(f"Word vectors: {model}", summary, report)
        if bad:
            raise DataError(
                f"{model}: {', '.join(bad)} missing or damaged (sha256 differs from config.json)"
            )
        return
    layers = layer_summary(spec)
    total = sum(layer["params"] for layer in layers)
    # verify: info is the command that says whether a model is sound (finiteness included)
    vocab = None if bad else open_table(model, verify=True, classifier=True).vocab
    report = {
        "path": model,
        "format": config.get("format"),
        "version": config.get("version"),
        "created": config.get("created"),
        "model": spec,
        "layers": layers,
        "total_params": total,
        "vocab": None
        if vocab is None
        else {
            "size": len(vocab),
            "oov": vocab.unk_id is not None,
            "buckets": int(spec.get("buckets", 0))
            if int(spec.get("word_ngrams", 1)) > 1 or spec.get("subwords")
            else 0,
            **({"subwords": _subwords_text(spec["subwords"])} if spec.get("subwords") else {}),
            "tokenizer": config.get("tokenizer"),
        },
        "labels": None
        if vocab is None
        else [
            {"label": lab, "count": c}
            for lab, c in zip(vocab.labels, vocab.label_counts, strict=True)
        ],
        "train": config.get("train", {}),
        "corpus": config.get("corpus") or {},
        "metrics": config.get("metrics", {}),
        "files": files,
        "versions": config.get("versions", {}),
    }
    if "quantized" in config:
        report["quantized"] = _quantized_info(config, files)
    if json_out:
        print_json(report)
    else:
        _render_info(report)
    if bad:
        raise DataError(
            f"{model}: {', '.join(bad)} missing or damaged (sha256 differs from config.json)"
        )


def human_number(x: float) -> str:
    """A float as a person reads it: 4 significant digits (``2.048``, ``0.1141``, ``3.5e-05``),
    thousands separated from 10,000 up (``1,234,568``); ``info --json`` keeps every digit."""
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def _rounded(value: Any) -> Any:
    """``value`` with every float cut to 4 significant digits (nested dicts and lists)."""
    if isinstance(value, float):
        return float(f"{value:.4g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _kv(heading: str, data: dict) -> Any:
    from rich.table import Table

    t = Table(title=table_title(heading), title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    for key, value in data.items():
        shown = json.dumps(_rounded(value)) if isinstance(value, dict | list) else value
        t.add_row(text(key), text(human_number(shown) if isinstance(shown, float) else shown))
    return t


def _render_info_sections(heading: str, summary: dict, r: dict) -> None:
    """A word-vector model's ``info``: the summary, then training, reading and files."""
    console = out_console()
    console.print(_kv(heading, summary))
    _render_info_tail(r)


def _quantized_info(config: dict, files: list[dict]) -> dict:
    """``info``'s Quantization section: the options, the bytes on disk and against the float
    model the quantized one came from."""
    q = config["quantized"]
    size = sum(f["bytes"] or 0 for f in files)
    source = q.get("source") if isinstance(q.get("source"), dict) else {}
    float_bytes = source.get("bytes")
    if not isinstance(float_bytes, int):
        float_bytes = 4 * int(source.get("rows", q["stored_rows"])) * int(config["model"]["dim"])
    return {
        "dsub": q["dsub"],
        "centroids": q["ksub"],
        "qnorm": q["qnorm"],
        "qout": q["qout"],
        "cutoff": q["cutoff"] or None,
        "stored_rows": q["stored_rows"],
        "bytes": size,
        "float_bytes": float_bytes,
        "compression": round(float_bytes / max(1, size), 2),
    }


def _render_info_tail(r: dict) -> None:
    """Training, reading, metrics and files sections of ``info`` (both kinds of model)."""
    from rich.table import Table

    console = out_console()
    if r["train"]:
        console.print(_kv("Training", r["train"]))
    if isinstance(r["corpus"], dict) and r["corpus"]:
        console.print(_kv("Reading (as trained)", r["corpus"]))
    if r["metrics"]:
        console.print(_kv("Metrics", r["metrics"]))
    f = Table(title="Files", title_justify="left")
    for col in ("file", "bytes", "sha256", "status"):
        f.add_column(col, justify="right" if col == "bytes" else "left")
    for item in r["files"]:
        status = text(item["status"], "" if item["status"] == "ok" else "bold red")
        size = "-" if item["bytes"] is None else f"{item['bytes']:,}"
        f.add_row(text(item["file"]), size, text((item.get("sha256") or "")[:16]), status)
    console.print(f)


def _render_info(r: dict) -> None:
    from rich.table import Table

    def shape(s: list) -> str:
        return "(" + ", ".join("None" if x is None else str(x) for x in s) + ")"

    console = out_console()
    s = Table(title=table_title(f"Model: {r['path']}"), title_justify="left")
    s.add_column("Layer (type)")
    s.add_column("Output Shape")
    s.add_column("Param #", justify="right")
    for layer in r["layers"]:
        s.add_row(
            text(f"{layer['name']} ({layer['type']})"),
            text(shape(layer["output_shape"])),
            f"{layer['params']:,}",
        )
    total = r["total_params"]
    s.caption = f"Total params: {total:,} ({total * 4 / 2**20:.2f} MB float32), all trainable"
    s.caption_justify = "left"
    console.print(s)
    if r.get("quantized"):
        q = dict(r["quantized"])
        q["compression"] = f"{q['compression']}x ({q['float_bytes']:,} -> {q['bytes']:,} bytes)"
        console.print(_kv("Quantization", q))
    if r["vocab"] is not None:
        v = r["vocab"]
        console.print(
            _kv(
                "Vocabulary",
                {
                    "size": v["size"],
                    "[UNK] row": v["oov"],
                    "n-gram buckets": v["buckets"],
                    **({"subwords": v["subwords"]} if "subwords" in v else {}),
                    "tokenizer": v["tokenizer"],
                },
            )
        )
        labels = Table(title="Labels", title_justify="left")
        labels.add_column("id", justify="right")
        labels.add_column("label")
        labels.add_column("count", justify="right")
        for i, item in enumerate(r["labels"]):
            labels.add_row(str(i), text(item["label"]), f"{item['count']:,}")
        console.print(labels)
    _render_info_tail(r)


# -- plot -------------------------------------------------------------------------------------------
@app.command("plot")
@handle_errors
def plot(
    ctx: typer.Context,
    model: ModelArg,
    *,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Image to write: .png, .svg or .pdf.")
    ],
    top: Annotated[
        int,
        typer.Option(
            "--top", "-n", min=1, max=COUNT_MAX, help="Number of most frequent words to draw."
        ),
    ] = 100,
    method: Annotated[
        str,
        typer.Option(
            "--method", help="pca (numpy), tsne or umap (pip install 'embedcli[explore]')."
        ),
    ] = "pca",
    title: Annotated[str | None, typer.Option("--title", help="Plot title.")] = None,
    force: ForceOpt = False,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=SEED_MAX, help="Random seed (t-SNE), 0..2^32-1.")
    ] = 0,
) -> None:
    """A labelled 2-D map of the most frequent words (PCA by default) as PNG, SVG or PDF.

    Points are coloured by the label each word pushes towards when the output layer is linear.

    Example: embedcli plot model -o words.png --top 80
    """
    import numpy as np

    from embedcli.outputs import Output, claim_outputs
    from embedcli.plotting import METHODS, draw_map, image_format, project_2d

    image_format(output)
    ctx.with_resource(claim_outputs([Output(output)], [model], force=force))
    check_choice(method, METHODS, "--method")
    if top < 2:
        raise UsageError("--top must be 2 or more")
    table = open_table(model, classifier=True)
    vocab = table.vocab
    first = first_word_id(vocab)
    counts = np.asarray(vocab.counts[first:], dtype=np.int64)
    ids = first + np.argsort(-counts, kind="stable")[:top]
    vectors = np.asarray(table.embeddings[ids], dtype=np.float32)
    points = project_2d(vectors, method, seed)
    groups, names = _word_groups(table, vectors)
    spec = table.config["model"]
    draw_map(
        points,
        [vocab.tokens[i] for i in ids],
        output,
        groups=groups,
        group_names=names,
        title=title or f"{len(ids)} most frequent words ({method.upper()}, dim {spec['dim']})",
    )
    err_console.print(text(f"wrote {output} ({len(ids)} words)"))


def _word_groups(table: Any, vectors: Any) -> tuple[Any, list[str]]:
    """Label each word row pushes towards (linear output over mean/sum pooling), else no groups."""
    spec = table.config["model"]
    w = table.classifier.get("out_W")
    labels = table.vocab.labels
    if (
        w is None
        or int(spec.get("hidden", 0)) > 0
        or spec.get("pool") not in ("mean", "sum")
        or not labels
    ):
        return None, []
    scores = vectors @ w
    if spec.get("objective") == "binary":
        return (scores[:, 0] > 0).astype(int), list(labels)
    return scores.argmax(axis=1), list(labels)


def _subwords_text(sub: Any) -> str:
    """The ``model.subwords`` record of config.json in words ("off" without one)."""
    if not isinstance(sub, dict):
        return "off"
    return f"character n-grams of {sub.get('minn')}..{sub.get('maxn')} (shared buckets)"
