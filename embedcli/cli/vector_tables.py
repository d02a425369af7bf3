"""The subword side of the table commands: the vector of an out-of-vocabulary query from its
character n-grams (``nearest``), with its note. Numba-free, as the commands that use it.
(``export --words`` is ``model_export.word_list_rows``; ``info``'s report is ``model_info``.)"""

from __future__ import annotations

from typing import Any

from embedcli.cli.model_common import print_note

#: the id ``lookup`` shows for an out-of-vocabulary word whose vector comes from its n-grams
SUBWORD_ID = -1


def subword_query(table: Any, word: str) -> Any:
    """The unit vector of an out-of-vocabulary query from its character n-grams (with a note),
    or None when the word has no n-gram with a stored row. ``table`` is an ``api_model.Model``."""
    vector = table.subword_query(word)
    if vector is None:
        return None
    found, total = table.ngrams_found(table.tokens_of(word)[0])
    print_note(
        f"{word!r} is not in the vocabulary; querying with the mean of {found} of its {total} "
        "character n-grams (from subwords)"
    )
    return vector
