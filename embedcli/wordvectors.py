"""Word vectors to evaluate: a model's word rows or a word2vec / GloVe file, most frequent first.

- An embedcli model directory: the word rows of its table (never the padding, ``[UNK]`` or hashed
  n-gram bucket rows), sorted by count (stable, so a vocabulary in frequency order keeps its
  order: the order ``export --words-only`` writes). Models of kind ``"vectors"``
  (``embedcli pretrain``) too.
- word2vec / fastText ``.vec`` text (``count dim`` header), GloVe text (no header), word2vec
  binary (``.bin``), in file order, which is frequency order for files written by word2vec,
  fastText, gensim and ``embedcli export``. As gensim, a word seen twice keeps its first vector.

``limit`` reads only the first rows of a file: evaluation restricted to the N most frequent words
needs no more, so a large file costs N rows of memory. Left out: gzip'd files, fastText ``.bin``
models (their subword vectors).

    >>> vecs = WordVectors(["a", "b"], np.eye(2, dtype=np.float32), source="toy")
    >>> vecs.index(case_insensitive=True, restrict=10)
    {'A': 0, 'B': 1}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.errors import DataError, FormatError, UsageError
from embedcli.limits import max_line_bytes

VECTOR_FORMATS = ("auto", "model", "word2vec", "word2vec-binary")


@dataclass
class WordVectors:
    """Words in frequency order and their vectors: row i of ``vectors`` is ``words[i]``.

    ``vectors`` may be a memory map or a view of a model's table; rows are read when needed.
    """

    words: list[str]
    vectors: np.ndarray
    source: str = ""
    kind: str = ""

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise FormatError(
                f"{self.source}: {len(self.words)} words but a table of shape {self.vectors.shape}"
            )

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def index(self, *, case_insensitive: bool, restrict: int) -> dict[str, int]:
        """gensim's ``ok_vocab``: word (upper-cased if asked) -> row, the first row winning."""
        out: dict[str, int] = {}
        for i, w in enumerate(self.words[:restrict]):
            out.setdefault(w.upper() if case_insensitive else w, i)
        return out

    def table(self, stop: int) -> np.ndarray:
        """Rows ``0 .. stop-1`` as one contiguous float32 array."""
        return np.ascontiguousarray(self.vectors[:stop], dtype=np.float32)


def load_word_vectors(
    path: str | Path, fmt: str = "auto", *, limit: int | None = None
) -> WordVectors:
    """Vectors from an embedcli model directory or a word2vec text/binary (or GloVe) file.

    ``auto``: a directory is a model, ``.bin`` a word2vec binary file, anything else text.
    ``limit`` reads only the first rows of a file (the restricted vocabularies need no more).
    """
    path = Path(path)
    if fmt not in VECTOR_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(VECTOR_FORMATS)}, not {fmt!r}")
    if not path.exists():
        raise DataError(f"cannot read {path}: no such file or directory")
    if fmt == "auto":
        fmt = (
            "model" if path.is_dir() else "word2vec-binary" if path.suffix == ".bin" else "word2vec"
        )
    if fmt == "model":
        return model_vectors(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a {fmt} file (use --format model)")
    if fmt == "word2vec-binary":
        return read_word2vec_binary(path, limit=limit)
    return read_word2vec_text(path, limit=limit)


def model_vectors(path: str | Path) -> WordVectors:
    """The word rows of an embedcli model (no padding, [UNK] or n-gram bucket rows), most
    frequent first (a stable sort by count: the vocabulary's own order when it is by frequency).

    Classifier models load through ``modeldir``; word-vector models (``"kind": "vectors"``,
    written by ``embedcli pretrain``) through their own loader when this embedcli has it, else
    from their files (``vocab.tsv`` and ``embeddings.npy``, both checked against config.json).
    """
    from embedcli.modeldir import load_model_consistent

    if model_kind(path) == "vectors":
        return _vectors_kind(Path(path))
    loaded = load_model_consistent(path, mmap=True, verify=True, classifier=False)
    vocab = loaded.vocab
    return _word_rows(
        vocab.tokens, vocab.counts, first_word(vocab), loaded.embeddings, str(path), "model"
    )


def first_word(vocab: Any) -> int:
    """Id of the first word of a vocabulary: after the padding and the [UNK] token."""
    return 1 if vocab.unk_id is None else vocab.unk_id + 1


def model_kind(path: str | Path) -> str | None:
    """``config.json``'s "kind" of a model directory (None: a classifier model, or unreadable:
    the loader then says what is wrong)."""
    import json

    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    kind = config.get("kind") if isinstance(config, dict) else None
    return kind if isinstance(kind, str) else None


def _word_rows(
    tokens: list[str], counts: Any, first: int, table: np.ndarray, source: str, kind: str
) -> WordVectors:
    """Tokens ``first ..`` (the words) and their rows, sorted by count (stable)."""
    stop = len(tokens)
    if table.ndim != 2 or table.shape[0] < stop:
        raise FormatError(f"{source}: {stop} tokens but a table of shape {table.shape}")
    words = list(tokens[first:stop])
    rows = table[first:stop]
    count = np.asarray(list(counts)[first:stop], dtype=np.int64)
    if len(count) > 1 and np.any(np.diff(count) > 0):
        order = np.argsort(-count, kind="stable")
        rows = np.asarray(rows)[order]
        words = [words[i] for i in order]
    return WordVectors(words, rows, source=source, kind=kind)


def _vectors_kind(path: Path) -> WordVectors:
    """A model of kind "vectors" (``embedcli pretrain``), through its own checked loader."""
    from embedcli.vectors_model import load_vectors_model

    model = load_vectors_model(path)
    return _word_rows(model.words, model.counts, 0, model.vectors, str(path), "vectors")


def decode_line(raw: bytes, path: Path, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}:{lineno}: not UTF-8 text ({exc.reason})") from None


def bounded_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw bytes)`` of a file, each line at most ``max_line_bytes``."""
    limit = max_line_bytes()
    with open(path, "rb") as f:
        for lineno, raw in enumerate(iter(lambda: f.readline(limit + 1), b""), 1):
            if len(raw) > limit and not raw.endswith(b"\n"):
                raise FormatError(f"{path}:{lineno}: line longer than {limit:,} bytes")
            yield lineno, raw


def read_word2vec_text(path: str | Path, *, limit: int | None = None) -> WordVectors:
    """word2vec / fastText ``.vec`` text (``count dim`` header) or GloVe (no header).

    As gensim: words split on single spaces, a word seen twice keeps its first vector.
    """
    path = Path(path)
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    dim = None
    for lineno, raw in bounded_lines(path):
        parts = raw.rstrip(b"\r\n").rstrip(b" ").split(b" ")
        if lineno == 1 and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            dim = int(parts[1])
            if dim < 1:
                raise FormatError(f"{path}:1: bad header: dimension {dim}")
            continue
        if parts == [b""]:
            continue
        if dim is None:
            dim = len(parts) - 1
            if dim < 1:
                raise FormatError(f"{path}:{lineno}: expected a word and its vector")
        if len(parts) - 1 != dim:
            raise FormatError(
                f"{path}:{lineno}: expected a word and {dim} numbers, found {len(parts) - 1}"
            )
        word = decode_line(parts[0], path, lineno)
        if word in seen:
            continue
        try:
            vec = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise FormatError(f"{path}:{lineno}: not a number in the vector of {word!r}") from None
        seen.add(word)
        words.append(word)
        rows.append(vec)
        if limit is not None and len(words) >= limit:
            break
    if not words:
        raise FormatError(f"{path}: no vectors found")
    return WordVectors(words, finite(np.stack(rows), path), source=str(path), kind="word2vec")


def finite(table: np.ndarray, path: Path) -> np.ndarray:
    """``table``, refused when a value is NaN or infinite (no cosine is defined then)."""
    bad = ~np.isfinite(table).all(axis=1)
    if bad.any():
        raise FormatError(
            f"{path}: the vector of word {int(np.argmax(bad)) + 1} holds NaN or infinite values"
        )
    return table


#: no word of a word2vec binary file is longer (fastText's words are far shorter)
MAX_WORD_BYTES = 1 << 16


def read_word2vec_binary(path: str | Path, *, limit: int | None = None) -> WordVectors:
    """word2vec binary: ``count dim\\n`` then per word ``word<space>`` + dim little-endian float32."""
    path = Path(path)
    with open(path, "rb") as f:
        header = f.readline(256).split()
        try:
            count, dim = int(header[0]), int(header[1])
        except (IndexError, ValueError):
            raise FormatError(f"{path}: not a word2vec binary file (bad header)") from None
        if count < 0 or dim < 1:
            raise FormatError(f"{path}: bad header: {count} words of dimension {dim}")
        n = count if limit is None else min(count, limit)
        width = 4 * dim
        words: list[str] = []
        rows: list[np.ndarray] = []
        seen: set[str] = set()
        for k in range(count):
            if len(words) >= n:
                break
            word = bytearray()
            while True:
                ch = f.read(1)
                if not ch:
                    raise FormatError(f"{path}: truncated after {k} of {count} vectors")
                if ch == b" ":
                    break
                if ch != b"\n":
                    word += ch
                if len(word) > MAX_WORD_BYTES:
                    raise FormatError(
                        f"{path}: word {k + 1} is longer than {MAX_WORD_BYTES:,} bytes"
                    )
            data = f.read(width)
            if len(data) != width:
                raise FormatError(f"{path}: truncated after {k} of {count} vectors")
            try:
                text = bytes(word).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FormatError(f"{path}: word {k + 1} is not UTF-8 ({exc.reason})") from None
            if text in seen:
                continue
            seen.add(text)
            words.append(text)
            rows.append(np.frombuffer(data, dtype="<f4").astype(np.float32))
    if not words:
        raise FormatError(f"{path}: no vectors found")
    return WordVectors(
        words, finite(np.stack(rows), path), source=str(path), kind="word2vec-binary"
    )
