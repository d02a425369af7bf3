"""Documents held in memory as a corpus: what the Python API reads instead of files.

``corpus_source`` tells a path (or a list of ``pathlib.Path``) from documents; ``MemoryCorpus``
yields ``corpus.Document``s checked as ``corpus.CorpusReader`` checks a file's lines (labels
are non-empty strings without control characters or white space; a labelled corpus needs a
label per document; empty documents are skipped), so the encoders and vocabulary builders take
them as they take a reader: no temporary file.

    >>> list(MemoryCorpus([("Open a socket ", ["net", "io"]), "", "no label"], labelled=False))
    [Document(text='Open a socket', labels=('net', 'io')), Document(text='no label', labels=())]

Left out: reading options (format, columns, label prefix) — in memory, the text and the labels
are given apart.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from embedcli.errors import DataError, UsageError

#: characters a label must not hold (as ``corpus.CorpusReader`` refuses them in files)
_LABEL_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


# -- corpora ----------------------------------------------------------------------------------------
def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def corpus_source(corpus: Any, *, labelled: bool, what: str = "corpus") -> tuple[list[str], Any]:
    """``(paths, None)`` for a path or a list of ``os.PathLike``; ``([], documents)`` for
    anything else iterable (pairs or strings, read once, lazily)."""
    if corpus is None:
        raise UsageError(f"no {what} given")
    if _is_path(corpus):
        return [os.fspath(corpus)], None
    if (
        isinstance(corpus, (list, tuple))
        and corpus
        and all(isinstance(x, os.PathLike) for x in corpus)
    ):
        return [os.fspath(x) for x in corpus], None
    if isinstance(corpus, (bytes, bytearray)) or not isinstance(corpus, Iterable):
        raise UsageError(
            f"{what} must be a path, a list of pathlib.Path or an iterable of documents, "
            f"not {type(corpus).__name__}"
        )
    return [], MemoryCorpus(corpus, labelled=labelled, what=what)


class MemoryCorpus:
    """In-memory documents as ``corpus.Document``s, checked as a file's lines are: a text is a
    ``str``, labels are strings without control characters, ``labelled`` corpora need a label
    per document; empty documents are skipped (as training skips blank lines). Iterated once
    per pass; a generator is read once."""

    def __init__(self, items: Iterable[Any], *, labelled: bool, what: str = "corpus") -> None:
        self.items = items
        self.labelled = labelled
        self.what = what
        self.documents = 0

    def __iter__(self) -> Iterator[Any]:
        from embedcli.corpus import Document

        for n, item in enumerate(self.items, 1):
            doc = document(item, n, self.what)
            if not doc.text and not doc.labels:
                continue
            if self.labelled and not doc.labels:
                raise DataError(
                    f"{self.what} item {n} has no label: give (text, labels) pairs"
                    + (" (several files: a list of pathlib.Path)" if isinstance(item, str) else "")
                )
            self.documents += 1
            yield Document(doc.text, doc.labels)


def document(item: Any, n: int = 1, what: str = "corpus") -> Any:
    """One ``corpus.Document`` from a string or a ``(text, labels)`` pair (``DataError`` for
    anything else, naming the item)."""
    from embedcli.corpus import Document

    if isinstance(item, str):
        return Document(item.strip(), ())
    if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
        text, labels = item
        if isinstance(labels, str):
            labels = (labels,) if labels else ()
        elif labels is None:
            labels = ()
        elif isinstance(labels, Iterable):
            labels = tuple(labels)
        else:
            labels = (labels,)
        for label in labels:
            if not isinstance(label, str) or not label:
                raise DataError(
                    f"{what} item {n}: a label must be a non-empty string, not {label!r}"
                )
            bad = _LABEL_CONTROL.search(label)
            if bad is not None:
                raise DataError(
                    f"{what} item {n}: label {label!r} contains the control character "
                    f"U+{ord(bad.group()):04X}"
                )
            if any(c.isspace() for c in label):
                raise DataError(f"{what} item {n}: label {label!r} contains white space")
        return Document(text.strip(), labels)
    raise DataError(
        f"{what} item {n} must be a text or a (text, labels) pair, not {type(item).__name__}"
    )
