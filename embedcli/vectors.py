"""Read pretrained word vectors for ``train --init-vectors``.

Formats, detected from the file:

- word2vec / fastText ``.vec`` text: a ``count dim`` header line, then ``word v1 ... vdim``;
- GloVe text: the same lines without a header;
- word2vec binary (``.bin``): ``count dim\\n`` then ``word<space>`` + dim little-endian float32;
- ``.npy``: a ``rows x dim`` float32 table whose row i is token i of an embedcli vocabulary found
  beside it (``NAME.tsv`` or ``vocab.tsv`` in the same directory; an exported model qualifies).

Only the rows of words in the target vocabulary are kept, so a large file streams through in
bounded memory. An embedcli model directory (``embedcli pretrain``'s word vectors with their subword
rows, or a classifier's word rows) is read by ``embedcli.vectors_dir``. What is left out: gzip'd
vector files, subword (``.bin`` fastText model) files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedcli.errors import DataError, FormatError, UsageError
from embedcli.limits import max_line_bytes
from embedcli.vocab import Vocabulary


@dataclass
class InitCoverage:
    """How much of a vocabulary pretrained vectors cover."""

    words_hit: int
    words_missed: int
    token_coverage: float  # share of corpus tokens (vocabulary counts) whose word was found
    top_missing: list[tuple[str, int]]
    source_rows: int
    dim: int
    #: words of the vocabulary the source lacks, given the mean of its rows of their n-grams
    words_composed: int = 0
    #: subword bucket rows copied from a pretrained model directory
    subword_rows: int = 0
    #: why a pretrained model's subword rows were not copied ("" otherwise)
    subword_note: str = ""

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def load_init_vectors(
    path: str | Path, vocab: Vocabulary, dim: int, subwords: Any = None
) -> tuple[Any, np.ndarray, InitCoverage]:
    """Return ``(rows (len(vocab), dim) float32, found mask, coverage)`` for ``vocab``'s words.

    ``path`` may be an embedcli model directory (``embedcli.vectors_dir``): the rows are then a
    ``spec.InitEmbeddings`` (word rows, and the pretrained subword rows when ``subwords``, the
    run's ``SubwordSpec``, equals the model's), and words it lacks are composed from its n-gram
    rows (counted in ``words_composed`` and in the found mask)."""
    path = Path(path)
    if path.is_dir():
        return _load_model_dir(path, vocab, dim, subwords)
    if not path.is_file():
        raise DataError(f"cannot read --init-vectors {path}: no such file")
    wanted = vocab.token_to_id
    out = np.zeros((len(vocab), dim), dtype=np.float32)
    found = np.zeros(len(vocab), dtype=bool)
    if path.suffix == ".npy":
        rows = _read_npy(path, wanted, out, found, dim)
    elif path.suffix == ".bin":
        rows = _read_word2vec_binary(path, wanted, out, found, dim)
    else:
        rows = _read_text(path, wanted, out, found, dim)
    return out, found, _coverage(vocab, found, rows, dim)


def _load_model_dir(
    path: Path, vocab: Vocabulary, dim: int, subwords: Any
) -> tuple[Any, np.ndarray, InitCoverage]:
    from embedcli.vectors_dir import init_rows, is_model_dir, read_pretrained_model

    if not is_model_dir(path):
        raise DataError(
            f"cannot read --init-vectors {path}: a directory that is no embedcli model "
            "(config.json is missing)"
        )
    pm = read_pretrained_model(path)
    got = init_rows(pm, vocab, dim, subwords)
    cov = _coverage(vocab, got.found, len(pm.vocab) - pm.first_word, dim)
    cov.words_composed = got.words_composed
    cov.words_hit -= got.words_composed
    cov.subword_rows = got.subword_rows
    cov.subword_note = got.note
    return got.init, got.found, cov


def _coverage(vocab: Vocabulary, found: np.ndarray, rows: int, dim: int) -> InitCoverage:
    """How much of ``vocab``'s words and corpus tokens ``found`` covers."""
    found[0] = False  # padding stays zero
    if vocab.oov:
        found[1] = False
    counts = np.asarray(vocab.counts, dtype=np.int64)
    words = np.arange(len(vocab)) >= (2 if vocab.oov else 1)
    total = int(counts[words].sum()) or 1
    missing = np.flatnonzero(words & ~found)
    top = missing[np.argsort(-counts[missing], kind="stable")[:10]]
    cov = InitCoverage(
        words_hit=int(found.sum()),
        words_missed=len(missing),
        token_coverage=float(counts[found].sum() / total),
        top_missing=[(vocab.tokens[i], int(counts[i])) for i in top],
        source_rows=rows,
        dim=dim,
    )
    return cov


def _dim_error(path: Path, got: int, dim: int) -> UsageError:
    return UsageError(
        f"--init-vectors {path} has dimension {got} but --dim is {dim}; set --dim {got}"
    )


def _read_text(
    path: Path, wanted: dict[str, int], out: np.ndarray, found: np.ndarray, dim: int
) -> int:
    rows = 0
    limit = max_line_bytes()
    with open(path, "rb") as f:
        # bounded reads: /dev/zero or a file without line ends fails early instead of filling memory
        for lineno, raw in enumerate(iter(lambda: f.readline(limit + 1), b""), 1):
            if len(raw) > limit and not raw.endswith(b"\n"):
                raise FormatError(
                    f"{path}:{lineno}: line longer than {limit:,} bytes; not a vectors file?"
                )
            parts = raw.rstrip(b"\r\n").split(b" ")
            if parts and parts[-1] == b"":
                parts.pop()
            if lineno == 1 and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                if int(parts[1]) != dim:
                    raise _dim_error(path, int(parts[1]), dim)
                continue
            if not parts or parts == [b""]:
                continue
            if len(parts) - 1 != dim:
                if lineno <= 2:
                    raise _dim_error(path, len(parts) - 1, dim)
                raise FormatError(
                    f"{path}:{lineno}: expected a word and {dim} numbers, found {len(parts) - 1}"
                )
            rows += 1
            word = parts[0].decode("utf-8", "replace")
            i = wanted.get(word)
            if i is None or found[i]:
                continue
            try:
                out[i] = np.array(parts[1:], dtype=np.float32)
            except ValueError:
                raise FormatError(
                    f"{path}:{lineno}: not a number in the vector of {word!r}"
                ) from None
            found[i] = True
    if rows == 0:
        raise FormatError(f"{path}: no vectors found")
    return rows


#: no word of a word2vec binary file is longer (fastText's words are far shorter)
_MAX_WORD = 1 << 16


def _read_word2vec_binary(
    path: Path, wanted: dict[str, int], out: np.ndarray, found: np.ndarray, dim: int
) -> int:
    with open(path, "rb") as f:
        header = f.readline(256).split()
        try:
            count, file_dim = int(header[0]), int(header[1])
        except (IndexError, ValueError):
            raise FormatError(f"{path}: not a word2vec binary file (bad header)") from None
        if file_dim != dim:
            raise _dim_error(path, file_dim, dim)
        width = 4 * dim
        for n in range(count):
            word = bytearray()
            while True:
                ch = f.read(1)
                if not ch:
                    raise FormatError(f"{path}: truncated after {n} of {count} vectors")
                if ch == b" ":
                    break
                if ch != b"\n":
                    word += ch
                if len(word) > _MAX_WORD:
                    raise FormatError(f"{path}: word {n + 1} is longer than {_MAX_WORD:,} bytes")
            data = f.read(width)
            if len(data) != width:
                raise FormatError(f"{path}: truncated after {n} of {count} vectors")
            i = wanted.get(word.decode("utf-8", "replace"))
            if i is not None and not found[i]:
                out[i] = np.frombuffer(data, dtype="<f4")
                found[i] = True
    return count


def _read_npy(
    path: Path, wanted: dict[str, int], out: np.ndarray, found: np.ndarray, dim: int
) -> int:
    candidates = [path.with_suffix(".tsv"), path.parent / "vocab.tsv"]
    src_vocab_path = next((c for c in candidates if c.is_file()), None)
    if src_vocab_path is None:
        raise UsageError(
            f"--init-vectors {path}: a .npy table needs its vocabulary beside it ({candidates[0].name} or vocab.tsv)"
        )
    src_vocab = Vocabulary.load(src_vocab_path)
    try:
        table = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # numpy's header parser raises many kinds on damaged bytes
        raise FormatError(f"{path}: not a plain numeric array ({exc})") from None
    if not isinstance(table, np.ndarray):
        raise FormatError(f"{path}: not a .npy array")
    if table.ndim != 2 or table.shape[0] < len(src_vocab):
        raise FormatError(
            f"{path}: expected at least {len(src_vocab)} x dim rows, found shape {table.shape}"
        )
    if table.shape[1] != dim:
        raise _dim_error(path, table.shape[1], dim)
    for j, token in enumerate(src_vocab.tokens):
        i = wanted.get(token)
        if i is not None:
            out[i] = table[j]
            found[i] = True
    return len(src_vocab)
