"""Helpers shared by the commands that use a trained model (their options are in ``options``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any

from embedcli.cli.app import (
    err_console,
    stdout_is_terminal,
)
from embedcli.cli.render import labelled
from embedcli.errors import DataError, UsageError

BATCH_LINES = 8192


# -- helpers ----------------------------------------------------------------------------------------
def check_choice(value: str, choices: Sequence[str], option: str) -> str:
    if value not in choices:
        raise UsageError(f"{option} must be one of {', '.join(choices)}, not {value!r}")
    return value


def output_format(value: str | None, choices: Sequence[str]) -> str:
    """The requested --format, else table on a terminal and the first data format when piped."""
    if value is None:
        return "table" if stdout_is_terminal() else choices[1]
    return check_choice(value, choices, "--format")


def encode_for_model(encode: Any, batch: Any, m: Any) -> Any:
    """``encode(batch, vocab, ...)`` (an ``encode_corpus``) with what the model's features need:
    the token hashes of string-hashed word n-grams, the character n-grams of subwords."""
    spec = m.spec
    subwords = (spec.minn, spec.maxn) if spec.has_subwords else None
    return encode(batch, m.vocab, hashes=bool(spec.ngram_hash), subwords=subwords)


def check_k(k: int | None) -> None:
    if k is not None and k <= 0:
        raise UsageError(f"--k must be 1 or more, not {k}")


def stdin_lines() -> Iterator[str]:
    """Non-blank stripped lines of stdin; a line over 1 MiB (or EMBEDCLI_MAX_LINE) or a NUL byte (a binary
    stream such as /dev/zero) is refused instead of read without end."""
    from embedcli.limits import max_line_bytes

    limit = min(max_line_bytes(), 1 << 20)  # a query line, not a document: 1 MiB is plenty
    lineno = 0
    while True:
        try:
            line = sys.stdin.readline(limit + 1)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"line {lineno + 1} of <stdin> is not UTF-8 text ({exc.reason})"
            ) from None
        if not line:
            return
        lineno += 1
        if "\0" in line:
            raise DataError(f"line {lineno} of <stdin> contains a NUL byte: not text")
        if len(line) > limit and not line.endswith("\n"):
            raise DataError(f"line {lineno} of <stdin> is longer than {limit:,} characters")
        line = line.strip()
        if line:
            yield line


def query_words(words: Sequence[str] | None) -> list[str]:
    """Query words from the arguments, or one per line from stdin when the only argument is '-'."""
    words = list(words or [])
    if words == ["-"]:
        words = list(stdin_lines())
    if not words:
        raise UsageError("empty query: give words as arguments or '-' to read them from stdin")
    return words


def open_table(path: str, verify: bool = False, classifier: bool = False) -> Any:
    """Embeddings (memory-mapped), vocabulary and config, without importing numba: a
    classifier's ``modeldir.LoadedModel`` or a word-vector model's ``VectorsModel``."""
    from embedcli.vectors_model import load_table

    return load_table(path, mmap=True, verify=verify, classifier=classifier)


class LoadedModel:
    """A loaded model with its engine objects built once (imports numba).

    ``verify=False`` skips only the sha256/finiteness pass over the (large) table; shapes, dtypes
    and the checksums of every other file are still checked.
    """

    def __init__(self, path: str, verify: bool = True, *, command: str = "this command") -> None:
        from embedcli.modeldir import load_model_consistent

        loaded = load_model_consistent(path, mmap=True, verify=verify, command=command)
        self.config = loaded.config
        self.vocab = loaded.vocab
        self.spec = loaded.spec
        self.params = loaded.params


def first_word_id(vocab: Any) -> int:
    return 1 if vocab.unk_id is None else vocab.unk_id + 1


def model_label_prefix(config: dict) -> str:
    """The label prefix the model was trained with (config.json "corpus"; older models: the
    default)."""
    corpus = config.get("corpus")
    prefix = corpus.get("label_prefix") if isinstance(corpus, dict) else None
    if not isinstance(prefix, str) or not prefix:
        prefix = (config.get("train") or {}).get("label_prefix")
    return str(prefix or "__label__")


def print_note(message: str) -> None:
    err_console.print(labelled("Note:", "yellow", message), soft_wrap=True)


def query_tokens(vocab: Any, word: str) -> list[str]:
    """The tokens of a query word after the model's own standardization, without the
    end-of-line token a fastText-compatible tokenizer adds (a query word is not a line)."""
    from embedcli.text import EOS_TOKEN

    toks = vocab.tokenizer.tokenize(word)
    if vocab.tokenizer.config.eos and toks and toks[-1] == EOS_TOKEN:
        toks.pop()
    return toks


def word_id(vocab: Any, word: str) -> int | None:
    """Row id of a query word after the model's own standardization (None if not a known word)."""
    toks = query_tokens(vocab, word)
    if len(toks) != 1:
        return None
    i = vocab.token_to_id.get(toks[0])
    return i if i is not None and i >= first_word_id(vocab) else None


def show_token(token: str) -> str:
    return "<pad>" if token == "" else token


def json_floats(values: Any) -> str:
    """A JSON array of float32 values written with their shortest round-trip strings."""
    from embedcli.exporters import float_strings

    return "[" + ", ".join(float_strings(values)) + "]"
