"""The vocabulary: token <-> id, with padding id 0 and the OOV token ``[UNK]`` at id 1.

Counting is one streaming pass (``TokenCounter``): each new token gets a provisional id in order
of first appearance, and counts are ``np.bincount`` over those ids, so the pass costs one dict
lookup per token and memory grows with the number of distinct tokens only. ``Vocabulary.from_counts``
then orders, filters and truncates:

- ``order="frequency"``: count descending; ties by first appearance (legacy Keras ``Tokenizer``),
  ``ties="reverse-lexical"`` (Keras ``TextVectorization``) or ``ties="std-sort"`` (fastText: the
  order libstdc++'s unstable ``std::sort`` leaves equal counts in, labels included, see
  ``embedcli.ftcompat``);
- ``order="appearance"``: first-seen order (the seeds' worked example);
- ``min_count`` drops rare tokens; ``max_size`` counts the reserved entries, as ``max_tokens`` does.

    >>> v = Vocabulary.from_counts(["foo", "bar", "baz", "bada", "boom"], [1, 2, 2, 1, 1],
    ...                            ties="reverse-lexical")
    >>> v.tokens
    ['', '[UNK]', 'baz', 'bar', 'foo', 'boom', 'bada']

File format (TSV, readable by ``cut``/``awk`` after ``grep -v '^#'``)::

    #embedcli-vocab<TAB>1
    #tokenizer<TAB>{"lower": true, ...}
    #options<TAB>{"compat": "embedcli", "oov": true, ...}
    #label<TAB>pos<TAB>12500
    0<TAB><TAB>0
    1<TAB>[UNK]<TAB>0
    2<TAB>the<TAB>336713

Tokens and labels escape backslash, tab, newline and carriage return as ``\\\\ \\t \\n \\r``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.atomic import atomic_write
from embedcli.errors import FormatError, UsageError
from embedcli.text import Tokenizer, TokenizerConfig, control_character, get_preset

PAD_ID = 0
UNK_ID = 1
PAD_TOKEN = ""
UNK_TOKEN = "[UNK]"
VOCAB_FORMAT = "#embedcli-vocab"
VOCAB_VERSION = 1
ORDERS = ("frequency", "appearance")
TIES = ("appearance", "reverse-lexical", "std-sort")


class FirstSeenIndex(dict):
    """dict that gives an unseen key the next id (in order of first appearance)."""

    def __missing__(self, key: str) -> int:
        value = self[key] = len(self)
        return value


class TokenCounter:
    """Streaming counts of tokens and labels; also yields provisional ids for one-pass encoding."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.index: dict[str, int] = FirstSeenIndex()
        self._counts = np.zeros(1024, dtype=np.int64)
        self.label_index: dict[str, int] = FirstSeenIndex()
        self._label_counts: list[int] = []
        #: distinct tokens seen before each label first appeared (fastText's dictionary order)
        self.label_positions: list[int] = []
        self.documents = 0
        self.tokens = 0

    def add(
        self, texts: Sequence[str], labels: Sequence[Sequence[str]] = (), need_lengths: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Count a batch; return its provisional ids (int64) and per-document lengths (int64).

        With ``need_lengths=False`` the lengths come back empty (counting-only fast path).
        """
        tokenize = self.tokenizer.tokenize
        before = len(self.index)
        if (
            not need_lengths
            and self.tokenizer.config.token_pattern is None
            and not self.tokenizer.config.eos
        ):
            # Counting only: one standardize+split over the whole batch is markedly faster.
            flat = tokenize(self.tokenizer.joiner.join(texts))
            lengths = np.zeros(0, dtype=np.int64)
        else:
            flat = []
            lengths = np.empty(len(texts), dtype=np.int64)
            for i, text in enumerate(texts):
                toks = tokenize(text)
                lengths[i] = len(toks)
                flat.extend(toks)
        ids = np.fromiter(map(self.index.__getitem__, flat), dtype=np.int64, count=len(flat))
        n = len(self.index)
        if n > len(self._counts):
            grown = np.zeros(max(n, 2 * len(self._counts)), dtype=np.int64)
            grown[: len(self._counts)] = self._counts
            self._counts = grown
        if len(ids):
            self._counts[:n] += np.bincount(ids, minlength=n)
        seen_before = None
        for d, doc_labels in enumerate(labels):
            for label in doc_labels:
                lid = self.label_index[label]
                if lid == len(self._label_counts):
                    self._label_counts.append(0)
                    if seen_before is None:  # distinct tokens before each document
                        seen_before = (
                            _distinct_before(ids, lengths, before)
                            if len(lengths) == len(labels)
                            else np.full(len(labels), before)  # counting-only: by batch
                        )
                    self.label_positions.append(int(seen_before[d]))
                self._label_counts[lid] += 1
        self.documents += len(texts)
        self.tokens += len(flat)
        return ids, lengths

    @property
    def counts(self) -> np.ndarray:
        return self._counts[: len(self.index)]

    @property
    def label_counts(self) -> list[int]:
        return self._label_counts

    def vocabulary(self, **options: Any) -> Vocabulary:
        """Order, filter and truncate the counted tokens into a Vocabulary (see ``from_counts``)."""
        labels = list(self.label_index)
        return Vocabulary.from_counts(
            list(self.index),
            self.counts,
            labels=labels,
            label_counts=self._label_counts,
            label_positions=self.label_positions,
            tokenizer=self.tokenizer.config,
            **options,
        )


def _distinct_before(ids: np.ndarray, lengths: np.ndarray, before: int) -> np.ndarray:
    """Distinct tokens seen before each document of a batch (provisional ids are given in
    first-appearance order, so that is one more than the largest id so far)."""
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    running = np.maximum.accumulate(ids) + 1 if len(ids) else ids
    out = np.full(len(lengths), before, dtype=np.int64)
    has = starts > 0
    out[has] = np.maximum(before, running[starts[has] - 1])
    return out


class Vocabulary:
    """Index <-> token table plus the labels and the settings that produced it."""

    def __init__(
        self,
        tokens: list[str],
        counts: Sequence[int],
        *,
        oov: bool = True,
        labels: Sequence[str] = (),
        label_counts: Sequence[int] = (),
        tokenizer: TokenizerConfig | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.tokens = tokens
        self.counts = [int(c) for c in counts]
        self.oov = oov
        self.token_to_id = {t: i for i, t in enumerate(tokens)}
        if len(self.token_to_id) != len(tokens):
            raise FormatError("vocabulary has duplicate tokens")
        self.labels = list(labels)
        for i, label in enumerate(self.labels):
            # A label is printed once per input by predict: a newline or a terminal escape in it
            # would add lines or rewrite the screen. Refused wherever a vocabulary is made.
            c = control_character(label) if isinstance(label, str) else None
            if c is not None:
                raise FormatError(
                    f"label {i} {label!r} contains the control character {c!r} (labels are "
                    "printed one per line: control characters are refused)"
                )
        self.label_counts = [int(c) for c in label_counts] or [0] * len(self.labels)
        self.label_to_id = {label: i for i, label in enumerate(self.labels)}
        self.tokenizer_config = tokenizer or TokenizerConfig()
        self.tokenizer = Tokenizer(self.tokenizer_config)
        self.options = dict(options or {})

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_counts(
        cls,
        tokens: Sequence[str],
        counts: Sequence[int] | np.ndarray,
        *,
        min_count: int = 1,
        max_size: int | None = None,
        order: str = "frequency",
        ties: str = "appearance",
        oov: bool = True,
        labels: Sequence[str] = (),
        label_counts: Sequence[int] = (),
        label_positions: Sequence[int] | None = None,
        tokenizer: TokenizerConfig | None = None,
        options: dict[str, Any] | None = None,
    ) -> Vocabulary:
        """Build from tokens in first-appearance order and their counts. ``label_positions``
        (distinct tokens seen before each label first appeared) matters to ``ties="std-sort"``
        only; without it the labels are taken to come after all tokens."""
        if order not in ORDERS:
            raise UsageError(f"--order must be one of {', '.join(ORDERS)}, not {order!r}")
        if ties not in TIES:
            raise UsageError(f"ties must be one of {', '.join(TIES)}, not {ties!r}")
        if min_count < 1:
            raise UsageError("--min-count must be at least 1")
        unk = (options or {}).get("oov_token") or UNK_TOKEN
        if not isinstance(unk, str):
            raise UsageError(f"the OOV token must be a string, not {unk!r}")
        reserved = [PAD_TOKEN, unk] if oov else [PAD_TOKEN]
        if max_size is not None and max_size <= len(reserved):
            raise UsageError(
                f"--max-size must be greater than the {len(reserved)} reserved entries"
            )
        counts = np.asarray(counts, dtype=np.int64)
        # Reserved strings never become ordinary tokens (a literal "[UNK]" maps to the OOV row).
        keep = [i for i, t in enumerate(tokens) if counts[i] >= min_count and t not in reserved]
        # Label order: count descending, ties by first appearance.
        label_order = sorted(range(len(labels)), key=lambda i: -int(label_counts[i]))
        if order == "frequency":
            if ties == "reverse-lexical":
                keep.sort(key=lambda i: tokens[i], reverse=True)
            if ties == "std-sort":
                from embedcli.ftcompat import dictionary_order

                # fastText sorts every entry, then drops those under min_count (same result
                # as dropping first only for a stable sort): sort all, then filter
                word_order, label_order = dictionary_order(
                    counts.tolist(),
                    [int(c) for c in label_counts],
                    list(label_positions)
                    if label_positions is not None
                    else [len(tokens)] * len(labels),
                )
                kept = set(keep)
                keep = [i for i in word_order if i in kept]
            else:
                keep.sort(key=lambda i: -counts[i])  # stable: ties keep the previous order
        if max_size is not None:
            keep = keep[: max_size - len(reserved)]
        opts = {
            "min_count": min_count,
            "max_size": max_size,
            "order": order,
            "ties": ties,
            **(options or {}),
        }
        return cls(
            reserved + [tokens[i] for i in keep],
            [0] * len(reserved) + [int(counts[i]) for i in keep],
            oov=oov,
            labels=[labels[i] for i in label_order],
            label_counts=[int(label_counts[i]) for i in label_order],
            tokenizer=tokenizer,
            options=opts,
        )

    # -- lookups ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def unk_id(self) -> int | None:
        return UNK_ID if self.oov else None

    def id_of(self, token: str) -> int | None:
        """Id of an already-standardized token: its own, else UNK (or None without OOV)."""
        return self.token_to_id.get(token, self.unk_id)

    def encode_tokens(self, tokens: Iterable[str]) -> list[int]:
        """Ids of tokens; unknown ones map to UNK, or are dropped without an OOV entry."""
        get = self.token_to_id.get
        if self.oov:
            return [get(t, UNK_ID) for t in tokens]
        return [i for i in (get(t) for t in tokens) if i is not None]

    def encode_text(self, text: str) -> list[int]:
        return self.encode_tokens(self.tokenizer.tokenize(text))

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def remap_table(self, provisional_tokens: Sequence[str]) -> np.ndarray:
        """int32 table mapping TokenCounter's provisional ids to this vocabulary's ids (-1 = drop)."""
        missing = UNK_ID if self.oov else -1
        get = self.token_to_id.get
        return np.fromiter(
            (get(t, missing) for t in provisional_tokens),
            dtype=np.int32,
            count=len(provisional_tokens),
        )

    # -- files -------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the TSV file atomically (``-`` writes to stdout)."""
        with atomic_write(path, "w") as f:
            f.write(f"{VOCAB_FORMAT}\t{VOCAB_VERSION}\n")
            f.write(
                f"#tokenizer\t{json.dumps(self.tokenizer_config.to_dict(), ensure_ascii=False)}\n"
            )
            opts = {**self.options, "oov": self.oov}
            f.write(f"#options\t{json.dumps(opts, ensure_ascii=False, sort_keys=True)}\n")
            for label, count in zip(self.labels, self.label_counts):
                f.write(f"#label\t{_escape(label)}\t{count}\n")
            f.write(
                "".join(
                    f"{i}\t{_escape(t)}\t{c}\n"
                    for i, (t, c) in enumerate(zip(self.tokens, self.counts))
                )
            )

    @classmethod
    def load(cls, path: str | Path, max_bytes: int | None = None) -> Vocabulary:
        """Read and validate a vocabulary file; any problem is a FormatError naming the line.

        A ``.gz`` file (a quantized model's ``vocab.tsv.gz``) is read through gzip, never more
        than ``max_bytes`` decompressed bytes (a larger one is an error: no gzip bomb)."""
        path = str(path)
        gz = path.endswith(".gz")
        if gz and max_bytes is None:
            raise FormatError(f"{path}: a compressed vocabulary needs its size")
        try:
            with _open_vocab(path, gz) as f:
                # the header first, in a bounded read: a large file that is not a vocabulary
                # (a corpus, a model file, /dev/zero) is refused before it is read whole
                magic = VOCAB_FORMAT.encode() + b"\t"
                head = f.readline(len(magic) + 32)
                if not head.startswith(magic):
                    raise FormatError(
                        f"{path} is not an embedcli vocabulary (its first line is not the "
                        f"'{VOCAB_FORMAT}' header)"
                    )
                rest = f.read() if max_bytes is None else f.read(max(0, max_bytes + 1 - len(head)))
                if max_bytes is not None and len(head) + len(rest) != max_bytes:
                    raise FormatError(
                        f"{path}: expected {max_bytes:,} bytes of vocabulary, found "
                        f"{'more' if len(head) + len(rest) > max_bytes else len(head) + len(rest)}"
                    )
                lines = (head + rest).decode("utf-8").split("\n")
        except FileNotFoundError:
            raise FormatError(f"cannot read vocabulary {path}: no such file") from None
        except IsADirectoryError:
            raise FormatError(f"cannot read vocabulary {path}: is a directory") from None
        except UnicodeDecodeError:
            raise FormatError(f"{path} is not an embedcli vocabulary (not UTF-8 text)") from None
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
            why = getattr(exc, "strerror", None) or str(exc)
            raise FormatError(f"cannot read vocabulary {path}: {why}") from None
        if lines and lines[-1] == "":
            lines.pop()
        head = lines[0].split("\t") if lines else []
        if not head or head[0] != VOCAB_FORMAT:
            raise FormatError(
                f"{path} is not an embedcli vocabulary (missing '{VOCAB_FORMAT}' header)"
            )
        try:
            version = int(head[1])
        except (IndexError, ValueError):
            raise FormatError(f"{path}:1: bad vocabulary version") from None
        if version > VOCAB_VERSION:
            raise FormatError(
                f"{path}: vocabulary format version {version} is newer than this embedcli "
                f"supports ({VOCAB_VERSION}); upgrade embedcli"
            )
        tokenizer_cfg: dict[str, Any] | None = None
        options: dict[str, Any] = {}
        labels: list[str] = []
        label_counts: list[int] = []
        tokens: list[str] = []
        counts: list[int] = []
        # Header lines come first; the token lines are parsed in bulk (a 1M-word file in ~0.3 s)
        # and only a file that fails the bulk checks goes through the line-by-line loop below,
        # which names the offending line.
        first = 1
        while first < len(lines) and lines[first].startswith("#"):
            first += 1
        bulk = _parse_token_lines(lines[first:])
        if bulk is not None:
            tokens, counts = bulk
            scan = lines[1:first]
        else:
            scan = lines[1:]
        for lineno, line in enumerate(scan, 2):
            parts = line.split("\t")
            try:
                if parts[0] == "#tokenizer":
                    tokenizer_cfg = json.loads(parts[1])
                elif parts[0] == "#options":
                    options = json.loads(parts[1])
                elif parts[0] == "#label":
                    labels.append(_unescape(parts[1]))
                    label_counts.append(int(parts[2]))
                elif parts[0].startswith("#"):
                    continue  # comment or a header added by a later minor version
                else:
                    if len(parts) != 3:
                        raise ValueError("expected index<TAB>token<TAB>count")
                    index = int(parts[0])
                    if index != len(tokens):
                        raise ValueError(f"index {index} out of order (expected {len(tokens)})")
                    tokens.append(_unescape(parts[1]))
                    counts.append(int(parts[2]))
            except (ValueError, IndexError, json.JSONDecodeError) as exc:
                raise FormatError(f"{path}:{lineno}: malformed vocabulary line ({exc})") from None
        if (
            tokenizer_cfg is None
            or not isinstance(tokenizer_cfg, dict)
            or not isinstance(options, dict)
        ):
            raise FormatError(f"{path}: vocabulary has no valid #tokenizer header")
        oov = bool(options.pop("oov", True))
        unk = options.get("oov_token") or UNK_TOKEN
        reserved = [PAD_TOKEN, unk] if oov else [PAD_TOKEN]
        if tokens[: len(reserved)] != reserved:
            raise FormatError(
                f"{path}: the first entries must be padding '' (and {unk!r}), found {tokens[:2]}"
            )
        try:
            return cls(
                tokens,
                counts,
                oov=oov,
                labels=labels,
                label_counts=label_counts,
                tokenizer=TokenizerConfig.from_dict(tokenizer_cfg),
                options=options,
            )
        except (TypeError, UsageError, FormatError) as exc:  # settings, duplicate tokens
            raise FormatError(f"{path}: invalid vocabulary ({exc})") from None


def _open_vocab(path: str, gz: bool) -> Any:
    if gz:
        import gzip

        return gzip.open(path, "rb")
    return open(path, "rb")


@dataclass
class VocabStats:
    """What a counting pass saw and how much of it the vocabulary keeps."""

    documents: int
    tokens: int
    unique: int
    kept: int
    coverage: float  # share of corpus tokens whose token is in the vocabulary
    top: list[tuple[str, int]]
    labels: list[tuple[str, int]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def vocab_options(
    compat: str = "embedcli",
    *,
    order: str | None = None,
    oov: bool | None = None,
    min_count: int = 1,
    max_size: int | None = None,
    oov_token: str | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``Vocabulary.from_counts`` from a compat preset plus overrides.

    ``oov_token`` (Keras ``Tokenizer(oov_token=...)``) names the OOV entry at id 1 and turns it
    on; a literal occurrence of it in the text maps to that entry, as ``[UNK]`` does."""
    preset = get_preset(compat)
    if oov_token is not None:
        if oov is False:
            raise UsageError("--oov-token and --no-oov contradict each other")
        if (
            not oov_token
            or control_character(oov_token) is not None
            or oov_token != oov_token.strip()
        ):
            raise UsageError(
                f"--oov-token must be a non-empty token without spaces or control characters, not {oov_token!r}"
            )
        oov = True
    options: dict[str, Any] = {
        "compat": compat,
        "padding": preset.padding,
        "truncating": preset.truncating,
    }
    if oov_token is not None and oov_token != UNK_TOKEN:
        options["oov_token"] = oov_token
    return {
        "order": order or preset.order,
        "ties": preset.ties,
        "oov": preset.oov if oov is None else oov,
        "min_count": min_count,
        "max_size": max_size,
        "options": options,
    }


def build_vocabulary(
    docs: Iterable[Any],
    tokenizer: TokenizerConfig,
    options: dict[str, Any],
    batch_size: int = 8192,
) -> tuple[Vocabulary, VocabStats]:
    """Count ``Document``s in one streaming pass and build the vocabulary (see ``vocab_options``)."""
    return vocabulary_from_counts(count_corpus(docs, tokenizer, batch_size), tokenizer, options)


@dataclass
class CorpusCounts:
    """What one counting pass over a corpus (or a part of it) saw, in first-appearance order:
    parts counted separately and merged in corpus order (``embedcli.dask_engine``) give exactly
    the counts of one pass. ``label_positions`` (fastText's dictionary order) is None when the
    pass did not track them."""

    tokens: list[str]
    counts: np.ndarray  # int64, one per token
    labels: list[str]
    label_counts: list[int]
    n_tokens: int
    documents: int
    label_positions: list[int] | None = None


def count_corpus(
    docs: Iterable[Any], tokenizer: TokenizerConfig, batch_size: int = 8192
) -> CorpusCounts:
    """Token and label counts of ``Document``s in one streaming pass (the raw-bytes fast path for
    a reader of line files, the same counts)."""
    tok = Tokenizer(tokenizer)
    if (
        hasattr(docs, "can_read_raw")
        and docs.can_read_raw()
        and tokenizer.token_pattern is None
        and not tokenizer.eos
    ):
        return _count_raw(docs, tok)
    counter = TokenCounter(tok)
    batch_texts: list[str] = []
    batch_labels: list[Sequence[str]] = []
    for doc in docs:
        batch_texts.append(doc.text)
        batch_labels.append(doc.labels)
        if len(batch_texts) >= batch_size:
            counter.add(batch_texts, batch_labels, need_lengths=False)
            batch_texts, batch_labels = [], []
    if batch_texts:
        counter.add(batch_texts, batch_labels, need_lengths=False)
    return CorpusCounts(
        tokens=list(counter.index),
        counts=counter.counts.copy(),
        labels=list(counter.label_index),
        label_counts=list(counter.label_counts),
        n_tokens=counter.tokens,
        documents=counter.documents,
        label_positions=list(counter.label_positions),
    )


def vocabulary_from_counts(
    counted: CorpusCounts, tokenizer: TokenizerConfig, options: dict[str, Any], top: int = 10
) -> tuple[Vocabulary, VocabStats]:
    """Order, filter and truncate counted tokens into a Vocabulary, with its statistics."""
    vocab = Vocabulary.from_counts(
        counted.tokens,
        counted.counts,
        labels=counted.labels,
        label_counts=counted.label_counts,
        label_positions=counted.label_positions,
        tokenizer=tokenizer,
        **options,
    )
    counts = np.asarray(counted.counts, dtype=np.int64)
    n_tokens = counted.n_tokens
    order = np.argsort(-counts, kind="stable")[:top]
    stats = VocabStats(
        documents=counted.documents,
        tokens=n_tokens,
        unique=len(counts),
        kept=len(vocab) - (2 if vocab.oov else 1),
        coverage=sum(vocab.counts) / n_tokens if n_tokens else 0.0,
        top=[(counted.tokens[i], int(counts[i])) for i in order],
        labels=list(zip(vocab.labels, vocab.label_counts)),
    )
    return vocab, stats


# ASCII whitespace that str.split() honours but bytes.split() does not (FS, GS, RS, US).
_EXTRA_WS = bytes(range(0x1C, 0x20))


def _count_raw(reader: Any, tok: Tokenizer) -> CorpusCounts:
    """Counting fast path on raw byte blocks: same tokens as ``Tokenizer.tokenize``, 2-3x faster.

    ASCII punctuation is deleted (or mapped to spaces) with one ``bytes.translate``; ASCII blocks are
    lowercased and split as bytes; a block with non-ASCII text goes through ``str.lower`` and the
    Unicode-aware ``str.split``; invalid UTF-8 is replaced and counted per line as the reader does.
    """
    cfg = tok.config
    table = bytearray(range(256))
    if cfg.split == "whitespace":
        for b in _EXTRA_WS:
            table[b] = 0x20
    # bytes.split() splits on ASCII whitespace only, which is TensorFlow's split and fastText's
    # (NUL is refused by the reader); bytes.lower() lowercases A-Z only, as TensorFlow does
    unicode_line = cfg.split == "whitespace" or (cfg.lower and cfg.lowercase == "unicode")
    delete = b""
    punct = cfg.punctuation.encode("ascii", "ignore") if cfg.punctuation else b""
    non_ascii_punct = cfg.punctuation and any(ord(c) > 127 for c in cfg.punctuation)
    if cfg.punctuation_mode == "delete":
        delete = punct
    else:
        for b in punct:
            table[b] = 0x20
    counts: Counter[bytes] = Counter()
    label_counts: Counter[bytes] = Counter()
    n_tokens = 0
    for texts, labels in reader.raw_blocks():
        label_counts.update(labels)
        if not non_ascii_punct:
            # Only lines with non-ASCII bytes need Unicode lowercasing and whitespace splitting;
            # they are normalized in place so first-appearance order stays exact.
            if unicode_line:
                texts = [t if t.isascii() else _normalize_line(t, cfg) for t in texts]
            block = tok.joiner.encode().join(texts).translate(table, delete)
            if cfg.lower:
                block = block.lower()
            toks = block.split(b" ") if cfg.split == "space" else block.split()
            if cfg.split == "space":
                toks = [t for t in toks if t]
        else:
            text = b"\n".join(texts).decode("utf-8", "surrogatepass")
            toks = [t.encode("utf-8", "surrogatepass") for t in tok.tokenize(text)]
        n_tokens += len(toks)
        counts.update(toks)
    words = [w.decode("utf-8", "replace") for w in counts]
    merged: dict[str, int] = {}
    for w, c in zip(words, counts.values()):
        merged[w] = merged.get(w, 0) + c
    label_names = [lab.decode("utf-8", "replace") for lab in label_counts]
    merged_labels: dict[str, int] = {}
    for name, c in zip(label_names, label_counts.values()):
        merged_labels[name] = merged_labels.get(name, 0) + c
    return CorpusCounts(
        tokens=list(merged),
        counts=np.fromiter(merged.values(), dtype=np.int64, count=len(merged)),
        labels=list(merged_labels),
        label_counts=list(merged_labels.values()),
        n_tokens=n_tokens,
        documents=reader.documents,
    )


def _normalize_line(line: bytes, cfg: TokenizerConfig) -> bytes:
    """Unicode lowercasing and (``split="whitespace"``) Unicode whitespace splitting for one
    non-ASCII line (valid UTF-8: the reader already decoded and re-encoded it, counting invalid
    bytes)."""
    text = line.decode("utf-8", "surrogatepass")
    if cfg.lower and cfg.lowercase == "unicode":
        text = text.lower()
    if cfg.split == "whitespace":
        text = " ".join(text.split())
    return text.encode("utf-8", "surrogatepass")


def counter_stats(counter: TokenCounter, vocab: Vocabulary, top: int = 10) -> VocabStats:
    counts = counter.counts
    words = vocab.tokens[2:] if vocab.oov else vocab.tokens[1:]
    kept_tokens = sum(vocab.counts)
    order = np.argsort(-counts, kind="stable")[:top]
    tokens_in_order = list(counter.index)
    return VocabStats(
        documents=counter.documents,
        tokens=counter.tokens,
        unique=len(counts),
        kept=len(words),
        coverage=kept_tokens / counter.tokens if counter.tokens else 0.0,
        top=[(tokens_in_order[i], int(counts[i])) for i in order],
        labels=list(zip(vocab.labels, vocab.label_counts)),
    )


def _parse_token_lines(lines: list[str]) -> tuple[list[str], list[int]] | None:
    """Bulk parse of ``index<TAB>token<TAB>count`` lines; None when anything is off.

    One flat split (strings only, no per-line lists) keeps the garbage collector out of it.
    """
    flat = "\t".join(lines).split("\t") if lines else []
    n = len(lines)
    if len(flat) != 3 * n:
        return None
    if flat[0::3] != [str(i) for i in range(n)]:
        return None
    try:
        counts = [int(c) for c in flat[2::3]]
        tokens = [_unescape(t) if "\\" in t else t for t in flat[1::3]]
    except ValueError:
        return None
    return tokens, counts


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def _escape(s: str) -> str:
    if not any(c in s for c in _ESCAPES):
        return s
    return "".join(_ESCAPES.get(c, c) for c in s)


def _unescape(s: str) -> str:
    if "\\" not in s:
        return s
    out: list[str] = []
    it = iter(s)
    for c in it:
        if c == "\\":
            nxt = next(it, "")
            if nxt not in _UNESCAPES:
                raise ValueError(f"bad escape '\\{nxt}'")
            out.append(_UNESCAPES[nxt])
        else:
            out.append(c)
    return "".join(out)
