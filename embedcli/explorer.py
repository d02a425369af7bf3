"""The embedding explorer: one self-contained HTML page (``embedcli explore``) built from a model.

What the page holds, all computed here when it is built (numpy only, no numba):

- the ``top`` most frequent words, their 2-D coordinates (``embedcli.projection`` over the unit
  vectors, so the map reflects cosine), id and corpus count (``None`` when the model keeps none);
- for every mapped word, its ``k`` nearest mapped words by cosine in the *full* space (float64,
  exact, ties broken by the lower index), with the cosines: the search box shows these, never a
  2-D distance;
- ``extra`` query words (``--words FILE``): any word, out-of-vocabulary ones too when the model
  has subwords (their vector is the mean of their character n-gram rows), with their neighbours
  among the mapped words; each is drawn at the mean position of its three nearest neighbours;
- optional documents (``--docs``): their 2-D position (projected together with the words), text
  (cut to ``DOC_CHARS``), true and predicted label and the ``predict --explain`` contributions.

A word's full-space vector is its row; on a classifier trained with subwords (``--minn/--maxn``)
it is fastText's word vector, the mean of its row and its character n-gram bucket rows (a
word-vector model from ``pretrain`` stores that mean already).

The page ships no vectors, so its size does not grow with ``dim``: the neighbour lists are
precomputed. The cost is that the search box knows only the mapped words and the ``--words``
list; a word outside both gets a message saying to rebuild with ``--words``. Hashing n-grams in
the browser was rejected: an out-of-vocabulary word may touch any of the model's bucket rows
(millions of ``dim``-wide rows), far more than a page should carry.

Escaping: the data goes into ``<script type="application/json">`` as ASCII JSON with ``<``,
``>``, ``&`` escaped as ``\\u003c``..., so no word can close the script element; the page's
JavaScript shows user strings through ``textContent`` and canvas ``fillText`` only, never as
HTML. A Content-Security-Policy meta tag forbids every network fetch.

    >>> unit = np.eye(3)[[0, 0, 1]] + np.array([[0, 0.1, 0], [0, 0.2, 0], [0, 0, 0]])
    >>> cosine_neighbours(unit / np.linalg.norm(unit, axis=1, keepdims=True), None, 1)[0].tolist()
    [[1], [0], [1]]
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from embedcli.errors import DataError

#: characters of a document's text kept in the page
DOC_CHARS = 400
#: features of a document's explanation kept in the page (largest |contribution| first)
DOC_FEATURES = 15
#: query rows per block of the neighbour search (float32 scores: block x top x 4 bytes)
BLOCK = 256
#: candidates beyond k whose float64 cosines are compared (see ``cosine_neighbours``)
MARGIN = 16
#: ``</script`` can never appear in the JSON: these three are written as \\u escapes
_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


@dataclass
class ExplorerDoc:
    """One ``--docs`` document as the page shows it."""

    text: str
    label: str | None = None
    predicted: str | None = None
    #: ``{"label", "score", "bias", "features": [(feature, contribution), ...]}`` or None
    explain: dict | None = None


@dataclass
class ExplorerData:
    """Everything the page shows; ``build_page`` turns it into HTML."""

    title: str
    kind: str
    method: str
    dim: int
    words: list[str]
    ids: np.ndarray
    counts: np.ndarray | None
    xy: np.ndarray
    #: ``(len(words) + len(extra), k)`` indices into ``words`` and their cosines
    neighbours: np.ndarray
    scores: np.ndarray
    extra: list[str] = field(default_factory=list)
    extra_notes: list[str] = field(default_factory=list)
    docs: list[ExplorerDoc] = field(default_factory=list)
    doc_xy: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


# -- vectors ----------------------------------------------------------------------------------------
def top_word_ids(table: Any, top: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Row ids of the ``top`` most frequent words (ties in id order) and their counts (None when
    the vocabulary records no counts: then the first ``top`` words in vocabulary order)."""
    vocab = table.vocab
    first = 1 if vocab.unk_id is None else vocab.unk_id + 1
    counts = np.asarray(vocab.counts[first:], dtype=np.int64)
    if not len(counts):
        raise DataError("the model has no words to map")
    recorded = bool(counts.any())
    order = np.argsort(-counts, kind="stable") if recorded else np.arange(len(counts))
    ids = first + order[:top]
    return ids.astype(np.int64), (counts[ids - first] if recorded else None)


def word_vectors(table: Any, ids: np.ndarray) -> np.ndarray:
    """float64 full-space vectors of the rows ``ids`` (fastText's word vector on a classifier
    with subwords: the mean of the word's row and its n-gram rows)."""
    rows = np.asarray(table.embeddings[np.asarray(ids, dtype=np.int64)], dtype=np.float64)
    sub = _classifier_subwords(table)
    if sub is None:
        return rows
    from embedcli.subwords import subword_buckets

    words = [table.vocab.tokens[int(i)] for i in ids]
    for j, buckets in enumerate(subword_buckets(words, sub)):
        if len(buckets):
            grams = np.asarray(table.embeddings[table.num_words + buckets], dtype=np.float64)
            rows[j] = (rows[j] + grams.sum(axis=0)) / (1 + len(buckets))
    return rows


def oov_vector(table: Any, word: str) -> np.ndarray | None:
    """The subword vector of a standardized word outside the vocabulary (mean of its n-gram
    rows), or None when the model has no subwords or none of its n-grams has a row."""
    vec: np.ndarray | None = None
    if getattr(table, "subwords", None) is not None:  # a word-vector model (compact n-gram table)
        vec = np.asarray(table.oov_vectors([word])[0], dtype=np.float64)
    else:
        sub = _classifier_subwords(table)
        if sub is not None:
            from embedcli.subwords import subword_buckets

            buckets = subword_buckets([word], sub)[0]
            if len(buckets):
                vec = np.asarray(
                    table.embeddings[table.num_words + buckets], dtype=np.float64
                ).mean(axis=0)
    if vec is None or not np.any(vec):
        return None
    return vec


def has_subwords(table: Any) -> bool:
    return getattr(table, "subwords", None) is not None or _classifier_subwords(table) is not None


def _classifier_subwords(table: Any) -> Any:
    spec = table.config.get("model") if isinstance(table.config, dict) else None
    if table.config.get("kind") == "vectors" or not isinstance(spec, dict):
        return None
    sub = spec.get("subwords")
    if not isinstance(sub, dict):
        return None
    from embedcli.subwords import SubwordSpec

    return SubwordSpec.from_json(sub)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), float64."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def cosine_neighbours(
    unit: np.ndarray, queries: np.ndarray | None, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``unit`` nearest each query by cosine: ``(indices int64, cosines)``,
    best first, ties by the lower index. ``queries=None`` searches each row of ``unit`` itself,
    leaving the row out; unit vectors in, so a dot product is the cosine.

    A float32 product picks ``k + MARGIN`` candidates per query; their float64 cosines decide
    the order (float32 rounding, ~1e-7, cannot reach past MARGIN near-equal candidates)."""
    n = unit.shape[0]
    self_search = queries is None
    q = unit if self_search else np.asarray(queries, dtype=np.float64)
    k = min(k, n - 1 if self_search else n)
    idx = np.zeros((len(q), max(k, 0)), dtype=np.int64)
    sims = np.zeros((len(q), max(k, 0)), dtype=np.float64)
    if k <= 0:
        return idx, sims
    c = min(n, k + MARGIN + (1 if self_search else 0))
    unit32 = np.ascontiguousarray(unit, dtype=np.float32)
    for s in range(0, len(q), BLOCK):
        block = q[s : s + BLOCK]
        rows = np.arange(len(block))
        scores = block.astype(np.float32) @ unit32.T
        cand = (
            np.argpartition(-scores, c - 1, axis=1)[:, :c]
            if c < n
            else np.tile(np.arange(n), (len(block), 1))
        )
        exact = np.einsum("bd,bcd->bc", block, unit[cand])
        if self_search:
            exact[cand == (s + rows)[:, None]] = -np.inf
        order = np.lexsort((cand, -exact), axis=-1)[:, :k]
        idx[s : s + len(block)] = np.take_along_axis(cand, order, axis=1)
        sims[s : s + len(block)] = np.take_along_axis(exact, order, axis=1)
    return idx, sims


# -- the page ---------------------------------------------------------------------------------------
def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def page_json(data: ExplorerData) -> str:
    """The page's data as ASCII JSON that cannot end a ``<script>`` element."""
    n = len(data.words)
    wide = n > 65535
    payload: dict[str, Any] = {
        "title": data.title,
        "kind": data.kind,
        "method": data.method,
        "dim": data.dim,
        "n": n,
        "k": int(data.neighbours.shape[1]) if data.neighbours.ndim == 2 else 0,
        "words": data.words,
        "ids": _b64(data.ids, "<u4"),
        "counts": None if data.counts is None else _b64(data.counts, "<f8"),
        "xy": _b64(data.xy, "<f4"),
        "nbrWide": wide,
        "nbr": _b64(data.neighbours, "<u4" if wide else "<u2"),
        "sim": _b64(np.rint(np.clip(data.scores, -1, 1) * 10000), "<i2"),
        "extra": data.extra,
        "extraNotes": data.extra_notes,
        "docs": [
            {
                "text": d.text[:DOC_CHARS] + ("…" if len(d.text) > DOC_CHARS else ""),
                "label": d.label,
                "predicted": d.predicted,
                "explain": _explain_json(d.explain),
            }
            for d in data.docs
        ],
        "docXy": None if data.doc_xy is None else _b64(data.doc_xy, "<f4"),
        "notes": data.notes,
    }
    text = json.dumps(payload, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.translate(_JSON_ESCAPES)


def _explain_json(ex: dict | None) -> dict | None:
    if ex is None:
        return None
    feats = ex["features"][:DOC_FEATURES]
    return {
        "label": ex["label"],
        "score": round(float(ex["score"]), 6),
        "bias": round(float(ex["bias"]), 6),
        "features": [[str(f), round(float(v), 6)] for f, v in feats],
        "more": max(0, len(ex["features"]) - len(feats)),
    }


def asset(name: str) -> str:
    """The text of ``embedcli/explorer_assets/NAME`` (the page's script and style sheet)."""
    return resources.files("embedcli").joinpath("explorer_assets", name).read_text("utf-8")


def escape_html(value: str) -> str:
    """Text for HTML element content or a quoted attribute."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
        .replace("\x00", "\ufffd")
    )


#: no fetch of any kind: scripts and styles are inline, images are drawn on a canvas
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"


def build_page(data: ExplorerData) -> str:
    """The whole HTML page (a str) for ``data``."""
    script = asset("explorer.js")
    style = asset("explorer.css")
    for code in (script, style):
        if "</" in code:  # the assets are ours: keep them from ending their element
            raise AssertionError("an explorer asset contains '</'")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape_html(data.title)}</title>\n"
        f"<style>\n{style}</style>\n</head>\n<body>\n"
        '<header><h1 id="title"></h1>'
        '<input id="search" type="search" placeholder="search a word" autocomplete="off" '
        'spellcheck="false" aria-label="search a word">'
        '<button id="reset" type="button">reset view</button>'
        '<span id="status" role="status"></span></header>\n'
        '<main><canvas id="map" aria-label="2-D map of the words"></canvas>'
        '<aside id="panel"><p id="help"></p><h2 id="panel-title"></h2>'
        '<ol id="neighbours"></ol><div id="explain"></div><ul id="notes"></ul></aside></main>\n'
        '<div id="tip" hidden></div>\n'
        f'<script id="explorer-data" type="application/json">{page_json(data)}</script>\n'
        f"<script>\n{script}</script>\n</body>\n</html>\n"
    )
