"""Commands that use a trained model: lookup, nearest, analogy, predict, evaluate, embed, export,
info, plot.

Thin layer: parse options, call the library (``modeldir``, ``similarity``, ``metrics``,
``exporters``, ``plotting``), render. ``lookup``, ``nearest``, ``analogy``, ``export``, ``info`` and
``plot`` open the model without numba (memory-mapped table); ``predict``, ``evaluate`` and ``embed``
import the engine inside the command.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated, Any

import typer

from embedcli.cli.app import app, err_console, handle_errors, print_json, stdout_is_terminal
from embedcli.errors import DataError, UsageError

ModelArg = Annotated[str, typer.Argument(help="Model directory written by 'embedcli train'.")]
InputArg = Annotated[str, typer.Argument(help="Input file, one document per line; '-' = stdin.")]
KOpt = Annotated[int, typer.Option("--k", "-k", help="Number of results per query.")]
ThreadsOpt = Annotated[int, typer.Option("--threads", "-t", help="Prediction threads.")]
BATCH_LINES = 8192


# -- helpers ----------------------------------------------------------------------------------------
def _choice(value: str, choices: Sequence[str], option: str) -> str:
    if value not in choices:
        raise UsageError(f"{option} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _out_format(value: str | None, choices: Sequence[str]) -> str:
    """The requested --format, else table on a terminal and the first data format when piped."""
    if value is None:
        return "table" if stdout_is_terminal() else choices[1]
    return _choice(value, choices, "--format")


def _check_k(k: int | None) -> None:
    if k is not None and k <= 0:
        raise UsageError(f"--k must be 1 or more, not {k}")


def _stdin_lines() -> Iterator[str]:
    for line in sys.stdin:
        line = line.strip()
        if line:
            yield line


def _queries(words: Sequence[str] | None) -> list[str]:
    """Query words from the arguments, or one per line from stdin when the only argument is '-'."""
    words = list(words or [])
    if words == ["-"]:
        words = list(_stdin_lines())
    if not words:
        raise UsageError("empty query: give words as arguments or '-' to read them from stdin")
    return words


def _open_table(path: str, verify: bool = False, classifier: bool = False) -> Any:
    """Embeddings (memory-mapped), vocabulary and config, without importing numba."""
    from embedcli.modeldir import load_model

    return load_model(path, mmap=True, verify=verify, classifier=classifier)


class _Model:
    """A loaded model with its engine objects built once (imports numba).

    ``verify=False`` skips only the sha256/finiteness pass over the (large) table; shapes, dtypes
    and the checksums of every other file are still checked.
    """

    def __init__(self, path: str, verify: bool = True) -> None:
        from embedcli.modeldir import load_model

        loaded = load_model(path, mmap=True, verify=verify)
        self.config = loaded.config
        self.vocab = loaded.vocab
        self.spec = loaded.spec
        self.params = loaded.params


def _first_word(vocab: Any) -> int:
    return 1 if vocab.unk_id is None else vocab.unk_id + 1


def _label_prefix(config: dict) -> str:
    return str((config.get("train") or {}).get("label_prefix") or "__label__")


def _note(message: str) -> None:
    err_console.print(f"[yellow]Note:[/] {message}", soft_wrap=True)


def _word_id(vocab: Any, word: str) -> int | None:
    """Row id of a query word after the model's own standardization (None if not a known word)."""
    toks = vocab.tokenizer.tokenize(word)
    if len(toks) != 1:
        return None
    i = vocab.token_to_id.get(toks[0])
    return i if i is not None and i >= _first_word(vocab) else None


def _show_token(token: str) -> str:
    return "<pad>" if token == "" else token


def _json_floats(values: Any) -> str:
    """A JSON array of float32 values written with their shortest round-trip strings."""
    from embedcli.exporters import float_strings

    return "[" + ", ".join(float_strings(values)) + "]"


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
        typer.Option("--maxlen", help="With --sentence: pad (id 0) or truncate at the end to N."),
    ] = None,
    skip_oov: Annotated[
        bool, typer.Option("--skip-oov", help="Drop unknown words instead of using the [UNK] row.")
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="table|tsv|csv|json (default: table on a terminal, else tsv)."
        ),
    ] = None,
) -> None:
    """Look up embedding rows: the Embedding layer as a table lookup (ids -> vectors).

    tsv rows are token, id, then the vector; csv has a header token,id,d0,...; floats are the
    shortest strings that read back to the same float32.

    Example: embedcli lookup model --sentence "Nice to see you again" --format json
    """
    fmt = _out_format(fmt, ("table", "tsv", "csv", "json"))
    if maxlen is not None and (maxlen < 1 or sentence is None):
        raise UsageError("--maxlen needs --sentence and a value of 1 or more")
    if sentence is not None and words:
        raise UsageError("give either --sentence or words, not both")
    if sentence is None and index and words == ["-"]:
        words = list(_stdin_lines())
    table = _open_table(model)
    vocab, emb = table.vocab, table.embeddings
    if sentence is not None:
        pairs = _lookup_words(vocab, vocab.tokenizer.tokenize(sentence), skip_oov)
        if maxlen is not None:
            pairs = (pairs + [("", 0)] * maxlen)[:maxlen]
    elif index:
        pairs = _lookup_ids(vocab, emb.shape[0], _queries(words))
    else:
        tokens = [t for w in _queries(words) for t in _tokens_of(vocab, w)]
        pairs = _lookup_words(vocab, tokens, skip_oov)
    ids = [i for _, i in pairs]
    vectors = emb[ids] if ids else emb[:0]
    _render_lookup(fmt, pairs, vectors, sentence)


def _tokens_of(vocab: Any, word: str) -> list[str]:
    toks = vocab.tokenizer.tokenize(word)
    if not toks:
        _note(f"{word!r} is empty after standardization; skipped")
    return toks


def _lookup_words(vocab: Any, tokens: Iterable[str], skip_oov: bool) -> list[tuple[str, int]]:
    pairs = []
    for tok in tokens:
        i = vocab.token_to_id.get(tok)
        if i is None:
            if skip_oov or vocab.unk_id is None:
                _note(f"{tok!r} is not in the vocabulary; skipped")
                continue
            _note(f"{tok!r} is not in the vocabulary; using the [UNK] row (id {vocab.unk_id})")
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
            f'  {{"token": {json.dumps(t, ensure_ascii=False)}, "id": {i}, "vector": {_json_floats(v)}}}'
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
        from rich.console import Console
        from rich.table import Table

        title = f"ids: {[i for _, i in pairs]}" if sentence is not None else None
        t = Table(title=title, title_justify="left")
        t.add_column("token")
        t.add_column("id", justify="right")
        t.add_column("vector")
        for (tok, i), v in zip(pairs, vectors, strict=True):
            t.add_row(
                _show_token(tok), str(i), "[" + ", ".join(f"{x:.4f}" for x in v.tolist()) + "]"
            )
        Console().print(t)
    out.flush()


# -- nearest / analogy ------------------------------------------------------------------------------
NeighborFormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="table|tsv|json (default: table on a terminal, else tsv)."),
]


def _neighbor_index(table: Any) -> Any:
    from embedcli.similarity import NeighborIndex

    vocab = table.vocab
    return NeighborIndex(table.embeddings, _first_word(vocab), len(vocab.tokens))


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

    tsv rows are query, neighbour, cosine.

    Example: embedcli nearest model free prize -k 5
    """
    fmt = _out_format(fmt, ("table", "tsv", "json"))
    _check_k(k)
    queries = _queries(words)
    table = _open_table(model)
    index = _neighbor_index(table)
    found = []
    for w in queries:
        i = _word_id(table.vocab, w)
        if i is None:
            _note(f"{w!r} is not a word of the vocabulary; skipped")
        else:
            found.append((w, i))
    if not found:
        raise DataError("none of the query words is in the vocabulary")
    results = index.nearest([i for _, i in found], k)
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

    Example: embedcli analogy model man king woman -k 3
    """
    fmt = _out_format(fmt, ("table", "tsv", "json"))
    _check_k(k)
    if words == ["-"]:
        triples = [line.split() for line in _stdin_lines()]
    else:
        triples = [list(words)]
    if not triples:
        raise UsageError("empty query: give A B C, or '-' to read triples from stdin")
    for t in triples:
        if len(t) != 3:
            raise UsageError(f"an analogy takes three words A B C, got {' '.join(t)!r}")
    table = _open_table(model)
    index = _neighbor_index(table)
    labels, results = [], []
    for a, b, c in triples:
        ids = [_word_id(table.vocab, w) for w in (a, b, c)]
        missing = [w for w, i in zip((a, b, c), ids, strict=True) if i is None]
        if missing:
            _note(f"{', '.join(map(repr, missing))} not in the vocabulary; '{a} {b} {c}' skipped")
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
                f"{q}\t{tokens[i]}\t{s:.6f}\n"
                for q, r in zip(queries, results, strict=True)
                for i, s in r
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for q, r in zip(queries, results, strict=True):
        t = Table(title=q, title_justify="left")
        t.add_column("#", justify="right")
        t.add_column("word")
        t.add_column("cosine", justify="right")
        for rank, (i, s) in enumerate(r, 1):
            t.add_row(str(rank), tokens[i], f"{s:.4f}")
        console.print(t)


# -- predict ----------------------------------------------------------------------------------------
def _read_batches(path: str, size: int) -> Iterator[list[Any]]:
    from embedcli.corpus import CorpusOptions, CorpusReader

    return CorpusReader([path], CorpusOptions(fmt="auto")).batches(size)


def _decision(model: Any, k: int | None, threshold: float | None) -> tuple[int | None, Any]:
    """Effective (k, threshold): multi-label models default to every label over its threshold."""
    import numpy as np

    multilabel = model.spec.objective == "multilabel"
    if k is None and not multilabel:
        k = 1
    if threshold is not None:
        return k, threshold
    if multilabel:
        th = model.params.thresholds
        return k, (np.asarray(th, dtype=np.float32) if th is not None else 0.5)
    return k, 0.0


@app.command("predict")
@handle_errors
def predict(
    model: ModelArg,
    input: InputArg = "-",
    *,
    k: Annotated[
        int | None,
        typer.Option(
            "--k", "-k", help="Labels per line (default 1; multi-label: all over threshold)."
        ),
    ] = None,
    proba: Annotated[bool, typer.Option("--proba", "-p", help="Print probabilities.")] = False,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Keep labels with probability >= this (multi-label default: stored per-label thresholds).",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text|tsv|json.")] = "text",
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Show each token's and n-gram's share of the chosen label's score."
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Lines per batch.")] = BATCH_LINES,
    threads: ThreadsOpt = 2,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Throughput on stderr.")] = False,
) -> None:
    """Predict label(s) for every input line, streaming in batches.

    text is fastText predict / predict-prob output ('__label__x 0.93', k labels on one line);
    tsv is label[<TAB>probability] per label; json is one object per line. A line with no tokens
    gets an empty prediction, as in fastText.

    Example: embedcli predict model test.txt --k 2 --proba
    """
    fmt = _choice(fmt, ("text", "tsv", "json"), "--format")
    _check_k(k)
    if batch_size < 1:
        raise UsageError("--batch-size must be 1 or more")
    import numpy as np

    from embedcli import model as engine
    from embedcli.metrics import select_labels
    from embedcli.sequences import encode_corpus

    m = _Model(model)
    k, thr = _decision(m, k, threshold)
    if explain:
        _check_explainable(m.spec)
    prefix = _label_prefix(m.config)
    labels = m.vocab.labels
    names = [prefix + lab for lab in labels] if fmt == "text" else list(labels)
    t0 = time.perf_counter()
    n_lines = n_tokens = 0
    out = sys.stdout
    for batch in _read_batches(input, batch_size):
        enc = encode_corpus(batch, m.vocab)
        probs = engine.predict_proba(m.params, m.spec, enc.tokens, enc.offsets, threads=threads)
        chosen = select_labels(probs, k, thr)
        empty = np.diff(enc.offsets) == 0
        explanations = _explain_batch(m, enc, batch, chosen) if explain else None
        lines = []
        for j, (ids, ps) in enumerate(chosen):
            if empty[j]:
                ids, ps = ids[:0], ps[:0]
            lines.append(_format_prediction(fmt, names, ids, ps, proba))
            if explanations is not None:
                lines.append(_format_explanation(fmt, explanations[j], names))
        out.write("".join(lines))
        n_lines += len(batch)
        n_tokens += len(enc.tokens)
    out.flush()
    if verbose:
        secs = time.perf_counter() - t0
        err_console.print(
            f"predicted {n_lines:,} lines ({n_tokens:,} tokens) in {secs:.3f} s: "
            f"{n_lines / max(secs, 1e-9):,.0f} lines/s, {n_tokens / max(secs, 1e-9):,.0f} tokens/s"
        )


def _format_prediction(fmt: str, names: list[str], ids: Any, ps: Any, proba: bool) -> str:
    if fmt == "json":
        return (
            json.dumps(
                {"labels": [names[i] for i in ids], "probabilities": [float(p) for p in ps]},
                ensure_ascii=False,
            )
            + "\n"
        )
    if fmt == "tsv":
        cells = [
            f"{names[i]}\t{float(p):.6g}" if proba else names[i]
            for i, p in zip(ids, ps, strict=True)
        ]
        return "\t".join(cells) + "\n"
    # fastText: std::cout << label [<< ' ' << prob] with the default 6 significant digits.
    cells = [
        f"{names[i]} {float(p):g}" if proba else names[i] for i, p in zip(ids, ps, strict=True)
    ]
    return " ".join(cells) + "\n"


def _check_explainable(spec: Any) -> None:
    if spec.hidden > 0 or spec.pool not in ("mean", "sum", "flatten"):
        raise UsageError(
            "--explain gives exact contributions only for a linear output over mean, sum or flatten "
            f"pooling; this model has pool={spec.pool!r}, hidden={spec.hidden}"
        )


def _explain_batch(m: Any, enc: Any, batch: list[Any], chosen: list[Any]) -> list[dict | None]:
    """For every line: the features (words, then n-grams) with their share of the top label's logit."""
    import numpy as np

    from embedcli import model as engine
    from embedcli.metrics import linear_contributions

    spec, params, vocab = m.spec, m.params, m.vocab
    feats, feat_off = engine.featurize(enc.tokens, enc.offsets, spec)
    out: list[dict | None] = []
    for j, (ids, _) in enumerate(chosen):
        rows = feats[feat_off[j] : feat_off[j + 1]]
        if not len(ids) or not len(rows):
            out.append(None)
            continue
        label = int(ids[0])
        column, sign = (
            (0, 1.0 if label == 1 else -1.0) if spec.objective == "binary" else (label, 1.0)
        )
        contrib, bias = linear_contributions(
            np.asarray(params.embeddings[rows]),
            params.out_W,
            params.out_b,
            column,
            pool=spec.pool,
            maxlen=spec.maxlen,
            sign=sign,
        )
        words = _feature_names(
            vocab, batch[j].text, enc.tokens[enc.offsets[j] : enc.offsets[j + 1]], spec
        )
        order = np.argsort(-np.abs(contrib), kind="stable")
        out.append(
            {
                "label": label,
                "score": float(contrib.sum() + bias),
                "bias": bias,
                "features": [(words[i], float(contrib[i])) for i in order],
            }
        )
    return out


def _feature_names(vocab: Any, text: str, word_ids: Any, spec: Any) -> list[str]:
    """Names of a document's feature rows: its words, then its n-grams in featurize order."""
    toks = vocab.tokenizer.tokenize(text)
    if vocab.unk_id is None:  # unknown words were dropped by the encoder
        toks = [t for t in toks if t in vocab.token_to_id]
    if len(toks) != len(word_ids):
        toks = [vocab.tokens[i] for i in word_ids]
    names = list(toks)
    n = spec.word_ngrams if spec.buckets > 0 else 1
    for i in range(len(toks)):
        for j in range(i + 1, min(len(toks), i + n)):
            names.append(" ".join(toks[i : j + 1]))
    return names


def _format_explanation(fmt: str, ex: dict | None, names: list[str]) -> str:
    if ex is None:
        return "" if fmt != "json" else json.dumps({"explain": None}) + "\n"
    if fmt == "json":
        return (
            json.dumps(
                {
                    "explain": {
                        "label": names[ex["label"]],
                        "score": ex["score"],
                        "bias": ex["bias"],
                        "contributions": [{"feature": f, "value": v} for f, v in ex["features"]],
                    }
                },
                ensure_ascii=False,
            )
            + "\n"
        )
    head = f"#\tscore of {names[ex['label']]} = {ex['score']:+.6f} (bias {ex['bias']:+.6f})\n"
    return head + "".join(f"#\t{v:+.6f}\t{f}\n" for f, v in ex["features"])


# -- evaluate ---------------------------------------------------------------------------------------
@app.command("evaluate")
@handle_errors
def evaluate(
    model: ModelArg,
    test: Annotated[
        list[str],
        typer.Argument(help="Labelled test file(s) (fastText format, csv, ...); '-' = stdin."),
    ],
    *,
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            "-k",
            help="Predicted labels per example (default 1; multi-label: all over threshold).",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="Probability threshold (default: as predict)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="table | fasttext (the lines of 'fasttext test') | fasttext-label ('fasttext test-label').",
        ),
    ] = "table",
    json_out: Annotated[
        bool, typer.Option("--json", help="The full report as JSON on stdout.")
    ] = False,
    threads: ThreadsOpt = 2,
) -> None:
    """Accuracy, P@k and R@k, per-label precision/recall/F1, macro/micro averages, confusion matrix.

    Counting follows fastText: examples without a known label or without any token are skipped.

    Example: embedcli evaluate model ../shared/data/sst2/test.txt --format fasttext
    """
    fmt = _choice(fmt, ("table", "fasttext", "fasttext-label"), "--format")
    _check_k(k)
    import numpy as np

    from embedcli import model as engine
    from embedcli.corpus import CorpusOptions, CorpusReader
    from embedcli.metrics import evaluate as count
    from embedcli.metrics import select_labels
    from embedcli.sequences import encode_corpus

    m = _Model(model)
    k, thr = _decision(m, k, threshold)
    preds: list[Any] = []
    gold: list[Any] = []
    skipped_empty = 0
    for batch in CorpusReader(test, CorpusOptions(fmt="auto")).batches(BATCH_LINES):
        enc = encode_corpus(batch, m.vocab)
        probs = engine.predict_proba(m.params, m.spec, enc.tokens, enc.offsets, threads=threads)
        lengths = np.diff(enc.offsets)
        for j, (ids, _) in enumerate(select_labels(probs, k, thr)):
            if lengths[j] == 0:
                skipped_empty += 1
                continue
            preds.append(ids)
            gold.append(enc.label_ids[enc.label_offsets[j] : enc.label_offsets[j + 1]])
    ev = count(preds, gold, len(m.vocab.labels), k)
    ev.skipped += skipped_empty
    if ev.n == 0:
        raise DataError("no test example had both a known label and a token")
    if ev.skipped:
        _note(f"{ev.skipped} example(s) skipped (no known label, or no token), as fastText does")
    labels = m.vocab.labels
    if json_out:
        print_json(ev.to_dict(labels))
    elif fmt == "fasttext":
        sys.stdout.write("\n".join(ev.format_fasttext_test()) + "\n")
    elif fmt == "fasttext-label":
        prefix = _label_prefix(m.config)
        sys.stdout.write(
            "\n".join(ev.format_fasttext_test_label([prefix + x for x in labels])) + "\n"
        )
    else:
        _render_evaluation(ev, labels)


def _render_evaluation(ev: Any, labels: list[str]) -> None:
    import math

    from rich.console import Console
    from rich.table import Table

    def pct(x: float) -> str:
        return "--" if math.isnan(x) else f"{x:.4f}"

    console = Console()
    summary = Table(title="Evaluation", show_header=False, title_justify="left")
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_row("examples", f"{ev.n:,}")
    summary.add_row("accuracy", pct(ev.accuracy))
    at = "all" if ev.k is None else ev.k
    summary.add_row(f"P@{at}", pct(ev.precision_at_k))
    summary.add_row(f"R@{at}", pct(ev.recall_at_k))
    mp, mr, mf = ev.macro()
    summary.add_row("macro P / R / F1", f"{pct(mp)} / {pct(mr)} / {pct(mf)}")
    summary.add_row(
        "micro P / R / F1", f"{pct(ev.precision_at_k)} / {pct(ev.recall_at_k)} / {pct(ev.micro_f1)}"
    )
    console.print(summary)
    per = Table(title="Per label", title_justify="left")
    for col in ("label", "precision", "recall", "F1", "support", "predicted"):
        per.add_column(col, justify="left" if col == "label" else "right")
    p, r, f = ev.per_label()
    for i, name in enumerate(labels):
        per.add_row(
            name, pct(p[i]), pct(r[i]), pct(f[i]), f"{ev.gold[i]:,}", f"{ev.predicted[i]:,}"
        )
    console.print(per)
    if len(labels) <= 25:
        cm = Table(
            title="Confusion (rows: true label, columns: top-1 prediction)", title_justify="left"
        )
        cm.add_column("true \\ pred", style="bold")
        for name in labels:
            cm.add_column(name, justify="right")
        for i, name in enumerate(labels):
            cells = [
                f"[bold green]{v:,}[/]" if i == j and v else (f"{v:,}" if v else "[dim]0[/]")
                for j, v in enumerate(ev.confusion[i].tolist())
            ]
            cm.add_row(name, *cells)
        console.print(cm)
    else:
        _note(f"{len(labels)} labels: confusion matrix not drawn (see --json)")


# -- embed ------------------------------------------------------------------------------------------
@app.command("embed")
@handle_errors
def embed(
    model: ModelArg,
    input: InputArg = "-",
    *,
    output: Annotated[
        str, typer.Option("--output", "-o", help="'-' (tsv on stdout), a .tsv file or a .npy file.")
    ] = "-",
    threads: ThreadsOpt = 2,
) -> None:
    """One pooled vector per input line (fastText print-sentence-vectors for mean pooling).

    Example: embedcli embed model sentences.txt -o vectors.npy
    """
    import numpy as np

    from embedcli import model as engine
    from embedcli.atomic import atomic_write
    from embedcli.exporters import float_strings
    from embedcli.sequences import encode_corpus

    m = _Model(model)

    def vectors() -> Iterator[Any]:
        for batch in _read_batches(input, BATCH_LINES):
            enc = encode_corpus(batch, m.vocab)
            yield engine.pooled(m.params, m.spec, enc.tokens, enc.offsets, threads=threads)

    if output.lower().endswith(".npy"):
        parts = [np.asarray(v, dtype=np.float32) for v in vectors()]
        arr = np.concatenate(parts) if parts else np.zeros((0, m.spec.pooled_dim), np.float32)
        with atomic_write(output, "wb") as f:
            np.save(f, arr, allow_pickle=False)
    else:
        with atomic_write(output, "w") as f:
            for vecs in vectors():
                f.write("".join("\t".join(float_strings(v)) + "\n" for v in vecs))


# -- export -----------------------------------------------------------------------------------------
@app.command("export")
@handle_errors
def export(
    model: ModelArg,
    *,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="npy|csv|word2vec|word2vec-binary|projector.")
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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
) -> None:
    """Export the embedding table (row i = token id i) for gensim, numpy, spreadsheets or TensorBoard.

    word2vec files name the padding row '<pad>' (csv: empty token) and n-gram rows '<bucket_N>'.
    projector writes vectors.tsv + metadata.tsv into a directory, or after a prefix ending in _ - .

    Example: embedcli export model --format word2vec -o vectors.txt --words-only
    """
    from embedcli.exporters import EXPORT_FORMATS, export_embeddings, select_rows

    fmt = _choice(fmt, EXPORT_FORMATS, "--format")
    table = _open_table(model, verify=True)
    vocab = table.vocab
    rows = select_rows(
        vocab.tokens,
        table.embeddings.shape[0],
        first_word=_first_word(vocab),
        counts=vocab.counts,
        words_only=words_only,
    )
    paths = export_embeddings(table.embeddings, rows, fmt, output)
    if not quiet and output != "-":
        err_console.print(
            f"exported {len(rows):,} rows x {table.embeddings.shape[1]} ({fmt}) -> {', '.join(paths)}"
        )


# -- info -------------------------------------------------------------------------------------------
POOL_LAYERS = {
    "mean": "GlobalAveragePooling1D",
    "sum": "GlobalSumPooling1D",
    "max": "GlobalMaxPooling1D",
    "flatten": "Flatten",
}


def _layers(spec: dict) -> list[dict]:
    """Keras-style layer rows (name, type, output shape, parameter count) from the spec dict."""
    dim, pool = int(spec["dim"]), spec.get("pool", "mean")
    hidden, classes = int(spec.get("hidden", 0)), int(spec["num_classes"])
    maxlen = int(spec.get("maxlen", 0)) if pool == "flatten" else None
    rows = int(spec["num_words"]) + (
        int(spec["buckets"]) if int(spec.get("word_ngrams", 1)) > 1 else 0
    )
    pooled = dim * maxlen if maxlen else dim
    layers = [
        {
            "name": "embedding",
            "type": "Embedding",
            "output_shape": [None, maxlen, dim],
            "params": rows * dim,
        },
        {
            "name": "pooling",
            "type": POOL_LAYERS.get(pool, pool),
            "output_shape": [None, pooled],
            "params": 0,
        },
    ]
    if hidden > 0:
        layers.append(
            {
                "name": "hidden",
                "type": "Dense (relu)",
                "output_shape": [None, hidden],
                "params": pooled * hidden + hidden,
            }
        )
    act = "softmax" if spec.get("objective", "softmax") == "softmax" else "sigmoid"
    out_in = hidden if hidden > 0 else pooled
    layers.append(
        {
            "name": "output",
            "type": f"Dense ({act})",
            "output_shape": [None, classes],
            "params": out_in * classes + classes,
        }
    )
    return layers


def _file_report(path: str, config: dict) -> list[dict]:
    from pathlib import Path

    from embedcli.modeldir import sha256_file

    root = Path(path)
    expected = config.get("files", {})
    report = []
    for name in ["config.json", *sorted(expected)]:
        f = root / name
        entry: dict[str, Any] = {"file": name, "bytes": f.stat().st_size if f.is_file() else None}
        if name == "config.json":
            entry["status"] = "ok"
        elif entry["bytes"] is None:
            entry["status"] = "missing"
        else:
            entry["sha256"] = sha256_file(f)
            entry["status"] = "ok" if entry["sha256"] == expected[name] else "MISMATCH"
        report.append(entry)
    return report


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
    from embedcli.modeldir import read_config

    config = read_config(model)
    files = _file_report(model, config)
    bad = [f["file"] for f in files if f["status"] != "ok"]
    spec = config["model"]
    layers = _layers(spec)
    total = sum(layer["params"] for layer in layers)
    # verify: info is the command that says whether a model is sound (finiteness included)
    vocab = None if bad else _open_table(model, verify=True, classifier=True).vocab
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
            "buckets": int(spec.get("buckets", 0)) if int(spec.get("word_ngrams", 1)) > 1 else 0,
            "tokenizer": config.get("tokenizer"),
        },
        "labels": None
        if vocab is None
        else [
            {"label": lab, "count": c}
            for lab, c in zip(vocab.labels, vocab.label_counts, strict=True)
        ],
        "train": config.get("train", {}),
        "metrics": config.get("metrics", {}),
        "files": files,
        "versions": config.get("versions", {}),
    }
    if json_out:
        print_json(report)
    else:
        _render_info(report)
    if bad:
        raise DataError(
            f"{model}: {', '.join(bad)} missing or damaged (sha256 differs from config.json)"
        )


def _render_info(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    def shape(s: list) -> str:
        return "(" + ", ".join("None" if x is None else str(x) for x in s) + ")"

    def kv(title: str, data: dict) -> Table:
        t = Table(title=title, title_justify="left", show_header=False)
        t.add_column(style="bold")
        t.add_column()
        for key, value in data.items():
            t.add_row(str(key), json.dumps(value) if isinstance(value, dict | list) else str(value))
        return t

    console = Console()
    s = Table(title=f"Model: {r['path']}", title_justify="left")
    s.add_column("Layer (type)")
    s.add_column("Output Shape")
    s.add_column("Param #", justify="right")
    for layer in r["layers"]:
        s.add_row(
            f"{layer['name']} ({layer['type']})",
            shape(layer["output_shape"]),
            f"{layer['params']:,}",
        )
    total = r["total_params"]
    s.caption = f"Total params: {total:,} ({total * 4 / 2**20:.2f} MB float32), all trainable"
    s.caption_justify = "left"
    console.print(s)
    if r["vocab"] is not None:
        v = r["vocab"]
        console.print(
            kv(
                "Vocabulary",
                {
                    "size": v["size"],
                    "[UNK] row": v["oov"],
                    "n-gram buckets": v["buckets"],
                    "tokenizer": v["tokenizer"],
                },
            )
        )
        labels = Table(title="Labels", title_justify="left")
        labels.add_column("id", justify="right")
        labels.add_column("label")
        labels.add_column("count", justify="right")
        for i, item in enumerate(r["labels"]):
            labels.add_row(str(i), item["label"], f"{item['count']:,}")
        console.print(labels)
    if r["train"]:
        console.print(kv("Training", r["train"]))
    if r["metrics"]:
        console.print(kv("Metrics", r["metrics"]))
    f = Table(title="Files", title_justify="left")
    for col in ("file", "bytes", "sha256", "status"):
        f.add_column(col, justify="right" if col == "bytes" else "left")
    for item in r["files"]:
        status = item["status"] if item["status"] == "ok" else f"[bold red]{item['status']}[/]"
        size = "-" if item["bytes"] is None else f"{item['bytes']:,}"
        f.add_row(item["file"], size, (item.get("sha256") or "")[:16], status)
    console.print(f)


# -- plot -------------------------------------------------------------------------------------------
@app.command("plot")
@handle_errors
def plot(
    model: ModelArg,
    *,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Image to write: .png, .svg or .pdf.")
    ],
    top: Annotated[
        int, typer.Option("--top", "-n", help="Number of most frequent words to draw.")
    ] = 100,
    method: Annotated[
        str, typer.Option("--method", help="pca (numpy) or tsne (needs scikit-learn or openTSNE).")
    ] = "pca",
    title: Annotated[str | None, typer.Option("--title", help="Plot title.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (t-SNE).")] = 0,
) -> None:
    """A labelled 2-D map of the most frequent words (PCA by default) as PNG, SVG or PDF.

    Points are coloured by the label each word pushes towards when the output layer is linear.

    Example: embedcli plot model -o words.png --top 80
    """
    import numpy as np

    from embedcli.plotting import METHODS, draw_map, image_format, project_2d

    image_format(output)
    _choice(method, METHODS, "--method")
    if top < 2:
        raise UsageError("--top must be 2 or more")
    table = _open_table(model, classifier=True)
    vocab = table.vocab
    first = _first_word(vocab)
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
    err_console.print(f"wrote {output} ({len(ids)} words)")


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
