"""The embedding explorer: one self-contained HTML page (``embedcli explore``) built from a model.

What the page holds, all computed here when it is built (numpy only, no numba):

- the ``top`` most frequent words, their 2-D coordinates (``embedcli.projection`` over the unit
  vectors, so the map reflects cosine), id and corpus count (``None`` when the model keeps none);
- the search table (``SearchTable``, below): packed full-space vectors of the most frequent
  words and, with subwords, n-gram rows, from which the page's script finds the ``k`` nearest
  mapped words of ANY typed word by cosine in the *full* space (never a 2-D distance);
- ``extra`` query words (``--words FILE``): any word, out-of-vocabulary ones too when the model
  has subwords, carried with embedcli's own vector (exact even when the page lacks some of the
  word's n-gram rows); a searched word off the map is drawn at the mean position of its three
  nearest mapped words;
- optional documents (``--docs``): their 2-D position (projected together with the words), text
  (cut to ``DOC_CHARS``), true and predicted label and the ``predict --explain`` contributions.

A word's full-space vector is its row; on a classifier trained with subwords (``--minn/--maxn``)
it is fastText's word vector, the mean of its row and its character n-gram bucket rows (a
word-vector model from ``pretrain`` stores that mean already).

The page also carries what it needs to search ANY typed word (``SearchTable``): the full-space
vectors of the ``search_words`` most frequent vocabulary words (the mapped ones first), packed as
int8 with a per-row scale (``--precision int8``, the default) or float16, and, on a model with
subwords, the character n-gram bucket rows of the ``ngram_words`` most frequent words' n-grams.
The page's script tokenizes a typed word as the model does (its tokenizer settings are in the
page), looks it up among the carried words, else hashes its n-grams (fastText's FNV-1a over the
sign-extended UTF-8 bytes of each n-gram of ``<word>``, as ``embedcli.subwords``) and averages
the carried bucket rows; it then ranks the mapped words by cosine in the full space.
``page_search`` is that algorithm in Python over the page's own data, operation for operation
(float64, sums taken left to right over the dimensions, as the script takes them), so its
results are the page's bit for bit. When an n-gram's row is not on the page, the result says so
("approximate: 7 of 9 n-grams on this page") instead of silently differing from embedcli.

An int8 row keeps no scale for a word (a positive per-row factor cancels in the cosine), a
bucket row keeps its float32 scale (rows are summed before the cosine).

Escaping: the data goes into ``<script type="application/json">`` as ASCII JSON with ``<``,
``>``, ``&`` escaped as ``\\u003c``..., so no word can close the script element; the page's
JavaScript shows user strings through ``textContent`` and canvas ``fillText`` only, never as
HTML. A Content-Security-Policy meta tag forbids every network fetch.

``cosine_neighbours`` (float64, exact, ties by the lower index) is the plain float reference the
benchmarks compare the packed vectors' rankings with.

    >>> pack_rows(np.array([[0.5, -1.0, 0.25]]), "int8")[0].tolist()
    [[64, -127, 32]]
    >>> unit = np.eye(3)[[0, 0, 1]] + np.array([[0, 0.1, 0], [0, 0.2, 0], [0, 0, 0]])
    >>> cosine_neighbours(unit / np.linalg.norm(unit, axis=1, keepdims=True), None, 1)[0].tolist()
    [[1], [0], [1]]
"""

from __future__ import annotations

import base64
import functools
import json
import re
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
    #: neighbours listed per search
    k: int
    #: the vectors the page searches (its first ``len(words)`` words are ``words``)
    search: SearchTable
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


# -- searching any word: the data the page carries and its algorithm in Python ------------------------
#: how the page packs vectors (bytes per value: 1, 2)
PRECISIONS = ("int8", "float16")
#: default number of vocabulary words the page can search by their own vector
SEARCH_WORDS = 20_000


def pack_rows(x: np.ndarray, precision: str) -> tuple[np.ndarray, np.ndarray]:
    """``(values, scale)``: each row divided by a float32 per-row scale and stored as int8
    (``rint``, scale = max|row| / 127) or float16 (scale = max|row|); a zero row has scale 0.
    The decoded row is ``values * scale`` (exact in float64)."""
    x = np.asarray(x, dtype=np.float64)
    peak = np.abs(x).max(axis=1) if x.size else np.zeros(len(x))
    if precision == "int8":
        scale = (peak / 127).astype(np.float32)
    elif precision == "float16":
        scale = peak.astype(np.float32)
    else:
        raise ValueError(f"unknown precision {precision!r}")
    safe = np.where(scale > 0, scale, 1).astype(np.float64)[:, None]
    if precision == "int8":
        return np.clip(np.rint(x / safe), -127, 127).astype(np.int8), scale
    return np.clip(x / safe, -1, 1).astype("<f2"), scale


def unpack_rows(values: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """float64 rows from ``pack_rows`` (``scale=None``: the values alone, a word's cosine row)."""
    out = np.asarray(values, dtype=np.float64)
    if out.ndim == 1:
        out = out.reshape(len(scale) if scale is not None else 1, -1)
    return out if scale is None else out * np.asarray(scale, np.float64)[:, None]


@dataclass
class SearchTable:
    """What the page needs to search any typed word (see the module's docstring)."""

    precision: str
    #: the carried words: ``vocab_words`` vocabulary words by frequency (the mapped ones
    #: first), then the ``--words`` entries outside them
    words: list[str]
    #: ``pack_rows(...)[0]`` of their full-space vectors (the scale is left out: it cancels)
    rows: np.ndarray
    vocab_words: int
    #: words of the model's vocabulary (more than ``vocab_words`` when the page carries a part)
    vocab_size: int
    extra_notes: list[str]
    #: the model's tokenizer settings (``dataclasses.asdict`` of its config) and split characters
    tokenizer: dict
    #: ``{"minn", "maxn", "buckets", "rule"}``: rule "vectors" (an n-gram without a row in the
    #: model is left out of the mean) or "classifier" (every n-gram has a row); None: no subwords
    subwords: dict | None = None
    bucket_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    bucket_rows: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    bucket_scale: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    #: the page holds every bucket row the model could use for any word (exact for every word)
    buckets_complete: bool = False
    ngram_words: int = 0


def search_table(
    table: Any,
    *,
    search_words: int,
    ngram_words: int,
    precision: str,
    extra: list[str] | None = None,
    extra_vectors: np.ndarray | None = None,
    extra_notes: list[str] | None = None,
) -> SearchTable:
    """The ``SearchTable`` of a model: the vectors of its ``search_words`` most frequent words
    (``top_word_ids`` order, so the mapped words are a prefix), the ``extra`` words' vectors,
    and the n-gram rows of its ``ngram_words`` most frequent words (0: none)."""
    from dataclasses import asdict

    from embedcli.subwords import subword_buckets
    from embedcli.text import SPLITS, UNICODE_SPACE

    ids, _ = top_word_ids(table, search_words)
    vocab = table.vocab
    words = [vocab.tokens[int(i)] for i in ids]
    vectors = word_vectors(table, ids)
    extra = list(extra or [])
    if extra:
        vectors = np.vstack([vectors, np.asarray(extra_vectors, dtype=np.float64)])
    rows, _ = pack_rows(vectors, precision)
    first = 1 if vocab.unk_id is None else vocab.unk_id + 1
    tok = asdict(vocab.tokenizer.config)
    seps = SPLITS[tok["split"]]
    tok["separators"] = UNICODE_SPACE if seps is None else seps
    tok["spaces"] = UNICODE_SPACE  # what str.strip() strips (not JavaScript's trim())
    tok["js_pattern"] = None if tok["token_pattern"] is None else js_pattern(tok["token_pattern"])
    out = SearchTable(
        precision=precision,
        words=words + extra,
        rows=rows,
        vocab_words=len(words),
        vocab_size=len(vocab.tokens) - first,
        extra_notes=list(extra_notes or []),
        tokenizer=tok,
    )
    spec = getattr(table, "subwords", None)
    rule = "vectors"
    if spec is None:
        spec, rule = _classifier_subwords(table), "classifier"
    if spec is None or not spec.enabled:
        return out
    out.subwords = {"minn": spec.minn, "maxn": spec.maxn, "buckets": spec.buckets, "rule": rule}
    gram_ids, _ = top_word_ids(table, max(ngram_words, 1))
    gram_ids = gram_ids[:ngram_words]
    out.ngram_words = len(gram_ids)
    used = subword_buckets([vocab.tokens[int(i)] for i in gram_ids], spec)
    buckets = np.unique(np.concatenate(used)) if used else np.zeros(0, np.int64)
    if rule == "vectors":
        stored = np.asarray(table.subword_buckets, dtype=np.int64)
        pos = np.searchsorted(stored, buckets)
        have = pos < len(stored)
        have[have] = stored[pos[have]] == buckets[have]
        buckets, pos = buckets[have], pos[have]
        bucket_vectors = np.asarray(table.subword_rows[pos], dtype=np.float64)
        out.buckets_complete = len(buckets) == len(stored)
    else:
        bucket_vectors = np.asarray(table.embeddings[table.num_words + buckets], dtype=np.float64)
        out.buckets_complete = len(buckets) == spec.buckets
    out.bucket_ids = buckets.astype(np.uint32)
    out.bucket_rows, out.bucket_scale = pack_rows(
        bucket_vectors.reshape(len(buckets), vectors.shape[1]), precision
    )
    return out


# -- the tokenizer's regex in JavaScript ---------------------------------------------------------------
#: what the page's tokenizer settings hold beyond ``TokenizerConfig``
PAGE_ONLY_TOK = ("separators", "spaces", "js_pattern")
#: Python's (``re``, str patterns) classes whose JavaScript namesakes differ: JavaScript's ``\\s``
#: adds U+FEFF and lacks \\x1c-\\x1f and U+0085; its ``\\w``, ``\\d`` and ``\\b`` are ASCII only
_CLASSES = {"s": r"\s", "d": r"\d", "w": r"\w"}


@functools.cache
def _class_ranges(letter: str) -> str:
    """The code points Python's ``\\<letter>`` matches, as JavaScript class ranges (``u`` flag)."""
    from embedcli.text import UNICODE_SPACE

    # \\s: str.isspace() (checked in the tests); \\d, \\w: every code point through re (~0.5 s once)
    every = UNICODE_SPACE if letter == "s" else "".join(map(chr, range(0x110000)))
    out = []
    for m in re.finditer(_CLASSES[letter] + "+", every):
        a, b = ord(m.group()[0]), ord(m.group()[-1])
        if b - a + 1 != len(m.group()):  # a run of UNICODE_SPACE that skips code points
            out.extend(f"\\u{{{ord(ch):x}}}" for ch in m.group())
            continue
        out.append(f"\\u{{{a:x}}}" + ("" if a == b else f"-\\u{{{b:x}}}"))
    return "".join(out)


def js_pattern(pattern: str) -> str | None:
    """``pattern`` (a Python ``re`` token pattern) rewritten for a JavaScript ``RegExp`` with the
    ``u`` flag so that both find the same tokens: ``\\s \\S \\d \\D \\w \\W`` become explicit
    classes generated from Python's, ``\\b \\B`` lookarounds over Python's ``\\w``, ``.`` any code
    point but ``\\n``, and a ``]`` opening a class a literal one. None when that is not possible
    (a negated class letter inside brackets, inline flags, ``\\A``, ``\\Z``...): the page then
    runs the pattern as written and says it may tokenize some text differently.

        >>> js_pattern(r"[^\\s!]+") == "[^" + _class_ranges("s") + "!]+"
        True
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_start = -1
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            e = pattern[i + 1]
            i += 2
            low = e.lower()
            if low in _CLASSES:
                ranges = _class_ranges(low)
                if in_class:
                    if e != low:
                        return None
                    out.append(ranges)
                else:
                    out.append(("[" if e == low else "[^") + ranges + "]")
            elif e in "bB" and not in_class:
                w = "[" + _class_ranges("w") + "]"
                out.append(
                    f"(?:(?<={w})(?!{w})|(?<!{w})(?={w}))"
                    if e == "b"
                    else f"(?:(?<={w})(?={w})|(?<!{w})(?!{w}))"
                )
            elif e.isalnum() and e not in "ntrfvxu":
                return None  # \\A \\Z \\N{...} \\U...: no JavaScript twin here
            elif e == "-" and not in_class:
                out.append("-")  # JavaScript's u flag refuses \\- outside brackets
            elif e.isalnum() or e in "^$\\.*+?()[]{}|/-":
                out.append("\\" + e)
            else:  # an identity escape JavaScript's u flag refuses (\\' \\!): the code point
                out.append(f"\\u{{{ord(e):x}}}")
            continue
        if in_class:
            if c == "]" and i != class_start:
                in_class = False
            elif c == "]":
                out.append("\\]")
                i += 1
                continue
            elif c == "[":
                out.append("\\[")
                i += 1
                continue
        elif c == "[":
            in_class = True
            class_start = i + 1
            if pattern.startswith("^", i + 1):
                out.append("[^")
                class_start = i + 2
                i += 2
                continue
        elif c == ".":
            out.append("[^\\n]")
            i += 1
            continue
        elif (
            c == "("
            and pattern.startswith("(?", i)
            and not pattern.startswith(("(?:", "(?=", "(?!", "(?<=", "(?<!"), i)
        ):
            return None  # inline flags, named groups in Python's syntax...
        out.append(c)
        i += 1
    return None if in_class else "".join(out)


@dataclass
class PageResult:
    """What the page shows for a typed word (``page_search``)."""

    token: str | None
    #: indices into the mapped words, best first, and their cosines
    neighbours: list[int]
    cosines: list[float]
    #: "mapped", "vocabulary", "extra", "ngrams" or an error ("tokens", "unknown", "no-vector")
    source: str
    known: int = 0
    total: int = 0
    exact: bool = True
    vector: np.ndarray | None = None


def decode_search(data: dict) -> dict:
    """The packed search arrays of a page's JSON (``page_json``) as numpy arrays."""
    s = data["search"]
    dim = data["dim"]
    dtype = "<i1" if s["precision"] == "int8" else "<f2"
    out = {"rows": np.frombuffer(base64.b64decode(s["rows"]), dtype).reshape(-1, dim)}
    sub = s.get("sub")
    if sub:
        out["ids"] = np.frombuffer(base64.b64decode(sub["ids"]), "<u4").astype(np.int64)
        out["brows"] = np.frombuffer(base64.b64decode(sub["rows"]), dtype).reshape(-1, dim)
        out["bscale"] = np.frombuffer(base64.b64decode(sub["scale"]), "<f4")
    return out


def page_search(
    data: dict, text: str, k: int | None = None, arrays: dict | None = None
) -> PageResult:
    """The page's search in Python over the page's own data (``json.loads`` of its data
    element): tokenize ``text`` with the model's tokenizer, take the carried word's vector or
    average the carried n-gram rows, and rank the mapped words by cosine with the same float64
    operations in the same order as the script, so the result is the page's bit for bit."""
    from embedcli.subwords import SubwordSpec, subword_buckets
    from embedcli.text import EOS_TOKEN, Tokenizer, TokenizerConfig

    s = data["search"]
    arrays = decode_search(data) if arrays is None else arrays  # (decoded once by a caller)
    n = data["n"]
    k = data["k"] if k is None else k
    tok = dict(s["tok"])
    for key in PAGE_ONLY_TOK:
        tok.pop(key, None)
    words = data["words"]
    where = {w: i for i, w in reversed(list(enumerate(words)))}
    word = text = text.strip()
    if word not in where:  # a carried word's exact spelling first, else the model's tokens
        toks = Tokenizer(TokenizerConfig(**tok)).tokenize(text)
        if tok.get("eos") and toks and toks[-1] == EOS_TOKEN:
            toks.pop()
        if len(toks) != 1:
            return PageResult(None, [], [], "tokens")
        word = toks[0]
    me = -1
    known = total = 0
    exact = True
    if word in where:
        at = where[word]
        vec = arrays["rows"][at].astype(np.float64)
        source = "mapped" if at < n else "vocabulary" if at < s["nv"] else "extra"
        me = at if at < n else -1
    elif s.get("sub"):
        sub = s["sub"]
        spec = SubwordSpec(sub["minn"], sub["maxn"], sub["buckets"])
        buckets = subword_buckets([word], spec)[0]
        total = len(buckets)
        ids = arrays["ids"]
        acc = np.zeros(data["dim"], dtype=np.float64)
        for b in buckets:
            p = int(np.searchsorted(ids, b))
            if p < len(ids) and ids[p] == b:
                acc = acc + arrays["brows"][p].astype(np.float64) * float(arrays["bscale"][p])
                known += 1
        source = "ngrams"
        exact = known == total or (sub["rule"] == "vectors" and sub["complete"])
        exact = exact and s["nv"] == s["vocabSize"]
        if known == 0:
            return PageResult(word, [], [], "no-vector", known, total, exact)
        vec = acc / known
    else:
        return PageResult(word, [], [], "unknown")
    rows = arrays["rows"][:n].astype(np.float64)
    vnorm = 0.0
    for d in range(len(vec)):
        vnorm = vnorm + vec[d] * vec[d]
    vnorm = float(np.sqrt(vnorm))
    if vnorm == 0:
        return PageResult(word, [], [], "no-vector", known, total, exact)
    dots = np.zeros(n)
    norms = np.zeros(n)
    for d in range(rows.shape[1]):
        dots = dots + vec[d] * rows[:, d]
        norms = norms + rows[:, d] * rows[:, d]
    norms = np.sqrt(norms)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norms > 0, dots / (vnorm * norms), 0.0)
    order = [int(i) for i in np.lexsort((np.arange(n), -cos)) if i != me][:k]
    return PageResult(word, order, [float(cos[i]) for i in order], source, known, total, exact, vec)


# -- the page ---------------------------------------------------------------------------------------
def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def page_json(data: ExplorerData) -> str:
    """The page's data as ASCII JSON that cannot end a ``<script>`` element."""
    n = len(data.words)
    st = data.search
    if st.words[:n] != data.words:
        raise AssertionError("the search table must start with the mapped words")
    search: dict[str, Any] = {
        "precision": st.precision,
        "rows": _b64(st.rows, st.rows.dtype.newbyteorder("<").str),
        "nv": st.vocab_words,
        "vocabSize": st.vocab_size,
        "tok": st.tokenizer,
        "sub": None,
    }
    if st.subwords is not None:
        search["sub"] = {
            **st.subwords,
            "complete": st.buckets_complete,
            "ngramWords": st.ngram_words,
            "ids": _b64(st.bucket_ids, "<u4"),
            "rows": _b64(st.bucket_rows, st.bucket_rows.dtype.newbyteorder("<").str),
            "scale": _b64(st.bucket_scale, "<f4"),
        }
    payload: dict[str, Any] = {
        "title": data.title,
        "kind": data.kind,
        "method": data.method,
        "dim": data.dim,
        "n": n,
        "k": data.k,
        "words": st.words,
        "ids": _b64(data.ids, "<u4"),
        "counts": None if data.counts is None else _b64(data.counts, "<f8"),
        "xy": _b64(data.xy, "<f4"),
        "extraNotes": st.extra_notes,
        "search": search,
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
