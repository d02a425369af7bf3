"""Hypothesis strategies for hostile input: text, malformed corpus lines, damaged model files.

Everything here produces *bytes* (what a command reads from disk), so invalid UTF-8, lone
surrogates written as their (invalid) UTF-8 bytes, NUL and every control character can appear.
The damage functions take a valid file and return a broken copy; the fuzz tests apply them to a
freshly trained model and check that every command refuses the result cleanly.

What this leaves out: multi-gigabyte inputs (one dedicated test writes a 10 MB line), filesystem
faults (full disk, permissions), concurrent writers.
"""

from __future__ import annotations

import io
import json
import os
import string
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

# -- text ----------------------------------------------------------------------------------------
#: pieces chosen to hit tokenizer and reader edge cases (whitespace that str.split honours but
#: bytes.split does not, bidi controls, zero-width characters, case mappings that change length)
#: ``make test`` runs each fuzz property with a fifth of its budget (at least 5 cases) to stay
#: within 3 minutes; ``make test-fuzz`` (CI runs both) sets EMBEDCLI_FUZZ=full for the whole budget.
FUZZ_FULL = os.environ.get("EMBEDCLI_FUZZ") == "full"


def fuzz_budget(cases: int) -> int:
    """Hypothesis ``max_examples`` for a property whose full budget is ``cases``."""
    return cases if FUZZ_FULL else max(5, cases // 5)


HOSTILE_PIECES = [
    "\x00",
    "\x01",
    "\x07",
    "\x08",
    "\x1b[31m",
    "\x7f",
    "\t",
    "\x0b",
    "\x0c",
    "\r",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x1f",
    "\x85",
    "\u00a0",
    "\u1680",
    "\u2000",
    "\u2028",
    "\u2029",
    "\u3000",
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\ufeff",
    "\ufffd",
    "\ufffe",
    "\U0010ffff",
    "😀",
    "👩\u200d👩\u200d👧",
    "🇫🇷",
    "e\u0301",
    "İ",
    "ß",
    "ﬁ",
    "Σ",
    "ǅ",
    "中文",
    "עברית",
    "العربية",
    "\\",
    "\\t",
    "\\n",
    "[UNK]",
    "__label__",
    "__label__x",
    '"',
    "'",
    ",",
    "{",
    "}",
]
WORDS = ["a", "the", "Word", "WORD", "ok", "don't", "x-y", "naïve", "ÉCOLE", "1", "42"]

#: byte sequences that are not valid UTF-8 (a lone surrogate, overlong forms, stray bytes)
INVALID_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xc3",  # truncated 2-byte sequence
    b"\xe2\x82",  # truncated 3-byte sequence
    b"\xed\xa0\x80",  # U+D800, a lone surrogate, as (invalid) UTF-8
    b"\xed\xbf\xbf",  # U+DFFF
    b"\xc0\xaf",  # overlong '/'
    b"\xf4\x90\x80\x80",  # above U+10FFFF
]

# -- strings that are shown: Rich markup look-alikes, escapes, terminal control ------------------
#: what a file name, column name, label or token can hold that a renderer might take for markup
#: (Rich tags, emoji codes, a trailing backslash) or pass to the terminal as a command
MARKUP_PIECES = [
    "[",
    "]",
    "[]",
    "[/",
    "[/]",
    "[/red]",
    "[/a]",
    "[bold]",
    "[red]",
    "[b]x[/b]",
    "[plot]",
    "[deleted]",
    "[old]",
    "[UNK]",
    "[link=https://example.com]",
    "[/link]",
    "[@click=app.quit]",
    "[#ff0000 on blue]",
    "\\",
    "\\[",
    "\\[bold]",
    "[bold]\\",
    ":smile:",
    ":cross_mark:",
    "%s",
    "{}",
    "{0}",
    "__label__[/a]",
]
#: control characters a label or a file name can carry to the terminal (escape sequences, line
#: breaks inside a CSV/JSONL field, bidi overrides)
CONTROL_PIECES = [
    "\x1b[31m",
    "\x1b[2J",
    "\x1b]8;;https://example.com\x1b\\",
    "\x1b",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "\x07",
    "\x08",
    "\x7f",
    "\x85",
    "\x9b",
    "\u2028",
    "\u202e",
    "\u2066",
]
_printable = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))

#: shown text without control characters or edge spaces: it must reach the screen as it is
#: (bidi formatting characters excepted: they are shown escaped, see ``cli.render.visible``)
markup_text = (
    st.lists(
        st.one_of(
            st.sampled_from(MARKUP_PIECES),
            st.sampled_from(WORDS),
            st.text(alphabet=_printable, min_size=1, max_size=4),
        ),
        min_size=1,
        max_size=6,
    )
    .map("".join)
    .filter(lambda s: s.strip() == s and s != "")
)

#: shown text that may also hold control characters (shown escaped, never raw)
display_text = st.lists(
    st.one_of(st.sampled_from(MARKUP_PIECES), st.sampled_from(CONTROL_PIECES), markup_text),
    min_size=1,
    max_size=5,
).map("".join)

#: a file name (one path component) made of shown text; may not exist
file_name = display_text.filter(
    lambda s: "/" not in s and "\x00" not in s and s not in (".", "..") and len(s.encode()) < 200
)

text_piece = st.one_of(
    st.sampled_from(HOSTILE_PIECES),
    st.sampled_from(MARKUP_PIECES),
    st.sampled_from(WORDS),
    st.sampled_from(list(string.punctuation)),
    st.text(max_size=6),  # any code point except lone surrogates
    st.just(" "),
)

#: one line of hostile text (a str: valid Unicode, no newline)
line_text = st.lists(text_piece, max_size=25).map(lambda xs: "".join(xs).replace("\n", " "))

only_punctuation = st.text(alphabet=string.punctuation + " ", max_size=40)


@st.composite
def line_bytes(draw: st.DrawFn) -> bytes:
    """One line as bytes: hostile text, sometimes with invalid UTF-8 spliced in."""
    parts = [p.encode("utf-8") for p in draw(st.lists(line_text, min_size=1, max_size=3))]
    if draw(st.integers(0, 3)) == 0:
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(parts)))
            parts.insert(i, draw(st.sampled_from(INVALID_UTF8)))
    return b"".join(parts).replace(b"\n", b" ")


@st.composite
def long_line(draw: st.DrawFn, max_bytes: int = 3 << 20) -> bytes:
    """A line of up to a few MB (one repeated unit), the kind that breaks line buffers."""
    unit = draw(
        st.sampled_from(
            [b"word ", b"a", b"\xff", "😀".encode(), b"\x00", b" ", b"x,", b'"', b"__label__z "]
        )
    )
    n = draw(st.integers(1, max_bytes // len(unit)))
    return unit * n


@st.composite
def text_corpus(draw: st.DrawFn, labelled: bool = False) -> bytes:
    """A whole line-format file: hostile lines, blank lines, optionally labels; rarely a long line."""
    lines = draw(st.lists(st.one_of(line_bytes(), st.just(b""), st.just(b"   ")), max_size=30))
    if labelled:
        lines = [draw(fasttext_label_prefix()) + line for line in lines]
    if draw(st.integers(0, 9)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(long_line()))
    end = draw(st.sampled_from([b"\n", b"\r\n", b""]))
    bom = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf"]))
    return bom + end.join(lines) + (end if lines else b"")


# -- malformed fastText / CSV / TSV / JSON Lines -------------------------------------------------
@st.composite
def fasttext_label_prefix(draw: st.DrawFn) -> bytes:
    """Zero or more label words in odd forms (empty label, unicode, invalid bytes, NBSP)."""
    labels = draw(
        st.lists(
            st.sampled_from(
                [
                    b"__label__pos ",
                    b"__label__neg ",
                    b"__label__ ",
                    b"__label__",
                    b"__label____label__ ",
                    "__label__é ".encode(),
                    b"__label__\xff ",
                    "__label__a\u00a0".encode(),
                    b"__label__b\t",
                    b"__label__c\x1c",
                    b"__LABEL__up ",
                ]
            ),
            max_size=3,
        )
    )
    return b"".join(labels)


@st.composite
def fasttext_corpus(draw: st.DrawFn) -> bytes:
    """fastText lines with labels first, in the middle, alone, or missing."""
    lines = []
    always_labelled = draw(st.booleans())  # train refuses a file with an unlabelled line
    for _ in range(draw(st.integers(0, 20))):
        head = draw(fasttext_label_prefix())
        if always_labelled:
            head = (
                draw(st.sampled_from([b"__label__pos ", b"__label__neg ", b"__label__\xff "]))
                + head
            )
        body = draw(line_bytes())
        tail = draw(st.sampled_from([b"", b" __label__mid", b" __label__pos", b"__label__glued"]))
        lines.append(head + body + tail)
    return b"\n".join(lines) + (b"\n" if lines else b"")


CSV_FIELDS = [
    "text",
    "label",
    "",
    "hello world",
    "pos",
    "neg",
    '"unbalanced',
    'mid"quote',
    '"quoted, with comma"',
    '"multi\nline"',
    '""',
    '"a""b"',
    "\x00",
    "__label__x",
    "é",
    " ",
]


@st.composite
def delimited_corpus(draw: st.DrawFn, sep: str) -> bytes:
    """CSV/TSV: a header (or not), rows with missing or extra columns and broken quoting."""
    fields = st.one_of(st.sampled_from(CSV_FIELDS), line_text.map(lambda s: s.replace(sep, " ")))
    header = draw(
        st.sampled_from(
            [["text", "label"], ["label", "text"], ["text"], ["foo", "bar"], [], ["text", "text"]]
        )
    )
    if draw(st.booleans()):  # well-formed rows: hostile text, label present
        plain = line_text.map(lambda s: s.replace(sep, " ").replace('"', "").replace("\r", ""))
        label = st.sampled_from(["pos", "neg", "é", "\\", "a b"])
        row = st.tuples(plain, label).map(
            lambda t: list(t) if header[:1] != ["label"] else [t[1], t[0]]
        )
        rows = draw(st.lists(row, max_size=15))
    else:
        rows = draw(st.lists(st.lists(fields, max_size=4), max_size=15))
    out = [sep.join(header)] + [sep.join(r) for r in rows]
    data = "\n".join(out) + "\n"
    raw = data.encode("utf-8")
    if draw(st.integers(0, 4)) == 0:
        raw += draw(line_bytes()) + b"\n"
    return raw


JSON_VALUES = [
    '"hello world"',
    '""',
    "42",
    "-1.5e308",
    "1e999",
    "NaN",
    "Infinity",
    "null",
    "true",
    "[]",
    '["pos", "neg"]',
    '["pos", 3]',
    '["pos", null]',
    "[[1]]",
    '{"a": 1}',
    '"\\ud800"',  # a lone surrogate escaped in JSON
    '"\\udfff tail"',
    '"a\\u0000b"',
    '"\\u202e evil"',
    '"pos"',
]


JSON_TEXTS = [v for v in JSON_VALUES if v.startswith('"')]
JSON_LABELS = JSON_TEXTS + ["42", '["pos", "neg"]', '["\\udc80", "x"]', "null"]


@st.composite
def jsonl_corpus(draw: st.DrawFn) -> bytes:
    """JSON Lines with wrong types, missing fields, non-objects and broken syntax."""
    lines: list[bytes] = []
    well_formed = draw(st.booleans())  # else one bad line usually stops the whole file
    for _ in range(draw(st.integers(0, 15))):
        kind = draw(st.integers(0, 5 if well_formed else 9))
        if kind <= 5:
            if well_formed:
                text = draw(st.one_of(st.sampled_from(JSON_TEXTS), line_text.map(json.dumps)))
                label = draw(st.sampled_from(JSON_LABELS))
                keys = ("text", "label")
            else:
                text = draw(st.one_of(st.sampled_from(JSON_VALUES), line_text.map(json.dumps)))
                label = draw(st.sampled_from(JSON_VALUES))
                keys = draw(
                    st.sampled_from([("text", "label"), ("text",), ("label",), ("Text", "x")])
                )
            vals = {"text": text, "label": label, "Text": text, "x": label}
            body = ", ".join(f'"{k}": {vals[k]}' for k in keys)
            lines.append(("{" + body + "}").encode())
        elif kind == 6:
            lines.append(draw(st.sampled_from([b"[1, 2]", b'"text"', b"3", b"null", b"{}"])))
        elif kind == 7:
            lines.append(
                draw(
                    st.sampled_from(
                        [
                            b'{"text": ',
                            b"{",
                            b'{"text": "a",}',
                            b"}{",
                            b'{"text": "a", "label": ' + b"9" * 5000 + b"}",  # int digit limit
                            b"[" * 50_000 + b"]" * 50_000,  # recursion limit
                        ]
                    )
                )
            )
        elif kind == 8:
            lines.append(b"")
        else:
            lines.append(draw(line_bytes()))
    return b"\n".join(lines) + (b"\n" if lines else b"")


# -- damaged files -------------------------------------------------------------------------------
def truncate(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def bit_flip(data: bytes, position: int, bit: int) -> bytes:
    if not data:
        return data
    b = bytearray(data)
    b[position % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def pickle_npy() -> bytes:
    """An ``.npy`` whose payload is a pickle (object array), as the brief's example."""
    return npy_bytes(np.array([{"a": 1}], dtype=object), allow_pickle=True)


def npz_bytes(arrays: dict[str, np.ndarray], allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, a in arrays.items():
            z.writestr(name + ".npy", npy_bytes(a, allow_pickle))
    return buf.getvalue()


def _npy_variants(original: np.ndarray) -> dict[str, Callable[[], bytes]]:
    rows, dim = original.shape
    bad = original.copy()
    bad.flat[0] = np.nan
    inf = original.copy()
    inf.flat[-1] = np.inf
    return {
        "float64": lambda: npy_bytes(original.astype(np.float64)),
        "float16": lambda: npy_bytes(original.astype(np.float16)),
        "int32": lambda: npy_bytes(original.astype(np.int32)),
        "transposed": lambda: npy_bytes(np.ascontiguousarray(original.T)),
        "fortran": lambda: npy_bytes(np.asfortranarray(original)),
        "one_row_less": lambda: npy_bytes(original[:-1]),
        "one_dim_more": lambda: npy_bytes(np.zeros((rows, dim + 1), np.float32)),
        "flat": lambda: npy_bytes(original.ravel()),
        "3d": lambda: npy_bytes(original[None]),
        "scalar": lambda: npy_bytes(np.float32(1.0)),
        "empty": lambda: npy_bytes(np.zeros((0, dim), np.float32)),
        "nan": lambda: npy_bytes(bad),
        "inf": lambda: npy_bytes(inf),
        "pickle": pickle_npy,
        "structured": lambda: npy_bytes(np.zeros(rows, dtype=[("a", "<f4", (dim,))])),
        "unicode": lambda: npy_bytes(np.array(["x"] * rows)),
        "bigendian": lambda: npy_bytes(original.astype(">f4")),
        "zero_bytes": lambda: b"",
        "garbage": lambda: b"\x93NUMPY\x09\x09" + b"\xff" * 64,
        "header_v3": lambda: b"\x93NUMPY\x03\x00" + npy_bytes(original)[8:],
        "npz_instead": lambda: npz_bytes({"a": original}),
        "text": lambda: b"0.1 0.2 0.3\n",
        "huge_shape_header": lambda: _lying_header(original, (1 << 40, dim)),
    }


def _lying_header(original: np.ndarray, shape: tuple[int, ...]) -> bytes:
    """A valid-looking header that claims far more data than the file holds."""
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    text = repr(header)
    pad = 64 - (10 + len(text) + 1) % 64
    h = (text + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h + original.tobytes()[:64]


def damaged_npy_names() -> list[str]:
    return sorted(_npy_variants(np.zeros((2, 2), np.float32)))


def damaged_npy(original: np.ndarray, name: str) -> bytes:
    return _npy_variants(original)[name]()


def damaged_classifier(arrays: dict[str, np.ndarray], name: str) -> bytes:
    """A broken ``classifier.npz``: missing/extra/reshaped/retyped arrays, NaN, pickles, not a zip."""
    a = dict(arrays)
    w = a["out_W"]
    if name == "missing_out_W":
        del a["out_W"]
    elif name == "missing_out_b":
        del a["out_b"]
    elif name == "out_W_float64":
        a["out_W"] = w.astype(np.float64)
    elif name == "out_W_transposed":
        a["out_W"] = np.ascontiguousarray(w.T)
    elif name == "out_W_extra_class":
        a["out_W"] = np.zeros((w.shape[0], w.shape[1] + 1), np.float32)
    elif name == "out_b_nan":
        a["out_b"] = np.full_like(a["out_b"], np.nan)
    elif name == "out_W_inf":
        a["out_W"] = np.full_like(w, np.inf)
    elif name == "thresholds_wrong":
        a["thresholds"] = np.zeros(w.shape[1] + 3, np.float32)
    elif name == "hidden_unexpected":
        a["hidden_W"] = np.zeros((3, 3), np.float32)
    elif name == "pickle_member":
        return npz_bytes({**a, "out_W": np.array([{"a": 1}], dtype=object)}, allow_pickle=True)
    elif name == "empty_zip":
        return npz_bytes({})
    elif name == "not_zip":
        return b"PK\x03\x04" + b"\x00" * 40
    elif name == "npy_instead":
        return npy_bytes(w)
    elif name == "zero_bytes":
        return b""
    else:
        raise KeyError(name)
    return npz_bytes(a)


CLASSIFIER_DAMAGE = [
    "missing_out_W",
    "missing_out_b",
    "out_W_float64",
    "out_W_transposed",
    "out_W_extra_class",
    "out_b_nan",
    "out_W_inf",
    "thresholds_wrong",
    "hidden_unexpected",
    "pickle_member",
    "empty_zip",
    "not_zip",
    "npy_instead",
    "zero_bytes",
]


def vocab_variants(original: str) -> dict[str, str | bytes]:
    """Damaged ``vocab.tsv`` texts: other versions, broken headers and entries, bad escapes."""
    lines = original.split("\n")
    head = lines[0]
    body = [x for x in lines if x and not x.startswith("#")]
    meta = [x for x in lines[1:] if x.startswith("#")]
    tok_line = next(x for x in meta if x.startswith("#tokenizer"))
    others = [x for x in meta if not x.startswith("#tokenizer")]

    def with_tokenizer(cfg: str) -> str:
        return "\n".join([head, "#tokenizer\t" + cfg, *others, *body]) + "\n"

    return {
        "version_2": original.replace(head, "#embedcli-vocab\t2", 1),
        "version_text": original.replace(head, "#embedcli-vocab\tone", 1),
        "no_header": "\n".join(lines[1:]),
        "other_format": original.replace(head, "#embedcli-model\t1", 1),
        "zero_words": "\n".join([head, *meta]) + "\n",
        "only_header": head + "\n",
        "empty": "",
        "duplicate_token": original + f"{len(body)}\t{body[-1].split(chr(9))[1]}\t1\n",
        "index_gap": original + f"{len(body) + 5}\tzzz\t1\n",
        "index_text": original + "x\tzzz\t1\n",
        "two_columns": original + f"{len(body)}\tzzz\n",
        "four_columns": original + f"{len(body)}\tzzz\t1\t1\n",
        "count_float": original + f"{len(body)}\tzzz\t1.5\n",
        "bad_escape": original + f"{len(body)}\tz\\qz\t1\n",
        "trailing_backslash": original + f"{len(body)}\tzz\\\t1\n",
        "no_tokenizer": "\n".join([head, *others, *body]) + "\n",
        "tokenizer_not_json": with_tokenizer("{lower: true"),
        "tokenizer_list": with_tokenizer("[1, 2]"),
        "tokenizer_unknown_key": with_tokenizer('{"lower": true, "stem": true}'),
        "tokenizer_bad_types": with_tokenizer(
            '{"lower": "yes", "punctuation": 5, "punctuation_mode": "delete", "token_pattern": null}'
        ),
        "tokenizer_pattern_list": with_tokenizer(
            '{"lower": true, "punctuation": "", "punctuation_mode": "delete", "token_pattern": [1]}'
        ),
        "tokenizer_bad_regex": with_tokenizer(
            '{"lower": true, "punctuation": "", "punctuation_mode": "delete", "token_pattern": "("}'
        ),
        "tokenizer_bad_mode": with_tokenizer(
            '{"lower": true, "punctuation": "", "punctuation_mode": "shout", "token_pattern": null}'
        ),
        "options_list": original.replace("#options\t{", "#options\t[{", 1).replace(
            "}\n#label", "}]\n#label", 1
        ),
        "options_bad_padding": "\n".join(
            [head, tok_line, '#options\t{"oov": true, "padding": 5, "truncating": "sideways"}']
            + [x for x in others if not x.startswith("#options")]
            + body
        )
        + "\n",
        "label_no_count": original.replace("#label\t", "#label\tx\n#label\t", 1),
        "no_reserved": "\n".join([head, *meta, "0\tfoo\t1"]) + "\n",
        "latin1": original.encode("utf-8") + "3\tcafé\t1\n".encode("latin-1"),
        "nul_bytes": original.replace("\t", "\t\x00", 3),
        "crlf": original.replace("\n", "\r\n"),
    }


def config_variants(original: dict) -> dict[str, str | bytes]:
    """Damaged ``config.json`` texts: other format/version, wrong types, hostile file names."""

    def dump(cfg: object) -> str:
        return json.dumps(cfg)

    def edit(path: tuple[str, ...], value: object) -> str:
        cfg = json.loads(json.dumps(original))
        d = cfg
        for k in path[:-1]:
            d = d[k]
        if value is _DELETE:
            d.pop(path[-1], None)
        else:
            d[path[-1]] = value
        return dump(cfg)

    text = dump(original)
    out: dict[str, str | bytes] = {
        "empty": "",
        "not_json": text[: len(text) // 2],
        "list": "[]",
        "null": "null",
        "latin1_bytes": b"\xff\xfe{}",
        "utf16": text.encode("utf-16"),
        "format_other": edit(("format",), "keras-model"),
        "version_2": edit(("version",), 2),
        "version_str": edit(("version",), "1"),
        "version_float": edit(("version",), 1.0),
        "version_missing": edit(("version",), _DELETE),
        "model_missing": edit(("model",), _DELETE),
        "model_list": edit(("model",), [1]),
        "files_missing": edit(("files",), _DELETE),
        "files_list": edit(("files",), ["embeddings.npy"]),
        "files_sha_int": edit(("files", "embeddings.npy"), 5),
        "files_nul_name": edit(("files", "a\x00b"), "0" * 64),
        "files_abs_name": edit(("files", "/etc/hostname"), "0" * 64),
        "files_parent_name": edit(("files", "../../x"), "0" * 64),
        "files_dir_name": edit(("files", "."), "0" * 64),
        "dim_negative": edit(("model", "dim"), -4),
        "dim_zero": edit(("model", "dim"), 0),
        "dim_str": edit(("model", "dim"), "4"),
        "dim_float": edit(("model", "dim"), 4.0),
        "dim_huge": edit(("model", "dim"), 1 << 62),
        "num_words_wrong": edit(("model", "num_words"), 3),
        "num_classes_wrong": edit(("model", "num_classes"), 7),
        "num_classes_zero": edit(("model", "num_classes"), 0),
        "buckets_huge": edit(("model", "buckets"), 1 << 62),
        "ngrams_str": edit(("model", "word_ngrams"), "2"),
        "ngrams_zero": edit(("model", "word_ngrams"), 0),
        "ngrams_null": edit(("model", "word_ngrams"), None),
        "pool_unknown": edit(("model", "pool"), "median"),
        "pool_int": edit(("model", "pool"), 3),
        "objective_unknown": edit(("model", "objective"), "regression"),
        "hidden_negative": edit(("model", "hidden"), -1),
        "hidden_str": edit(("model", "hidden"), "8"),
        "maxlen_str": edit(("model", "maxlen"), "x"),
        "flatten_no_maxlen": edit(("model", "pool"), "flatten"),
        "extra_spec_key": edit(("model", "surprise"), 1),
        "train_list": edit(("train",), [1, 2]),
        "train_prefix_int": edit(("train",), {"label_prefix": 7}),
        "tokenizer_str": edit(("tokenizer",), "lower"),
        "labels_int": edit(("labels",), 3),
        "metrics_str": edit(("metrics",), "good"),
        "bool_dim": edit(("model", "dim"), True),
        "deep_nesting": "[" * 100_000 + "]" * 100_000,
    }
    return out


_DELETE = object()


def read_bytes(path: Path) -> bytes:
    return path.read_bytes()


# -- checks shared by the reliability tests ------------------------------------------------------
def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def assert_clean(result, *outputs: Path, ok: bool | None = None, what: str = "") -> None:  # noqa: ANN001
    """A command either succeeded, or failed with exactly one ``Error:`` line and wrote nothing.

    ``result`` is a ``typer.testing.Result``; ``outputs`` are files or directories the command was
    asked to write (absent after a failure, and never a temp file beside them); ``ok`` forces the
    expected outcome when the test knows it.
    """
    out = result.output
    context = f"{what}: exit {result.exit_code}\nstderr: {result.stderr[-1500:]}"
    assert "Traceback" not in out, context
    assert "internal error" not in out, context
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{result.exception!r}\n{context}"
    )
    if ok is not None:
        assert (result.exit_code == 0) == ok, context
    if result.exit_code != 0:
        assert result.exit_code in (1, 2), context
        assert len(error_lines(result.stderr)) == 1, context
        for p in outputs:
            assert not Path(p).exists(), f"{p} exists after a failure\n{context}"
    else:
        assert not error_lines(result.stderr), context
    for p in outputs:
        leftovers = list_temp_files(Path(p).parent)
        assert not leftovers, f"temp files left: {leftovers}\n{context}"


def list_temp_files(directory: Path) -> list[str]:
    """Names that atomic_write/atomic_dir use for work in progress (``.NAME.XXXX.tmp``, ``.old-``)."""
    if not directory.is_dir():
        return []
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name.startswith(".") and (p.name.endswith(".tmp") or ".old-" in p.name)
    )
