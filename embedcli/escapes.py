"""Escapes for user strings written as data: one record per line, whatever a label or token holds.

``data_field(s)`` is for the plain data written to stdout or to part files (predict, nearest,
analogy): only the characters that would break one record per line (line breaks, tabs, other
C0/C1 controls, U+2028/U+2029) are escaped; a label or token without them is written byte for
byte. The CLI's ``visible`` (``cli/render.py``) uses the same ``escape_char`` for what people see.
"""

from __future__ import annotations

import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: control characters that would break a record or reach the terminal as a command
DATA_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_char(match: re.Match[str]) -> str:
    """The escape of one matched character: ``\\n``, ``\\x1b``, ``\\u202e``."""
    c = match.group()
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def data_field(value: object) -> str:
    """``str(value)`` with the characters that break one record per line escaped (for data)."""
    return DATA_UNSAFE.sub(escape_char, str(value))
