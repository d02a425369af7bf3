"""Standardize and tokenize text, the same way in every command.

The default (``--compat embedcli``) lowercases every letter, then takes as tokens the runs of
characters that are neither whitespace nor ASCII punctuation (letters, digits, combining marks,
CJK, ``£``...), keeping contractions whole (``don't``), and each run of ASCII punctuation
(``!``, ``?!``, ``>>>``, ``-----``) as one token (``DEFAULT_TOKEN_PATTERN``; chosen by measurement
on five datasets: ``benchmarks/results/defaults.md``). ``TokenizerConfig()`` itself, and ``--compat
textvectorization``, is Keras ``TextVectorization(standardize="lower_and_strip_punctuation",
split="whitespace")``: lowercase, delete ASCII punctuation (``string.punctuation``, apostrophe
included), split on whitespace; ``TokenizerConfig()`` lowercases every letter and splits on every
Unicode space, where TensorFlow lowercases A-Z only and splits on ASCII whitespace only (``--compat
textvectorization`` does exactly that).

    >>> Tokenizer().tokenize("Hope to see you soon!")
    ['hope', 'to', 'see', 'you', 'soon']
    >>> Tokenizer(get_preset("embedcli").tokenizer).tokenize("Don't stop!!")
    ["don't", 'stop', '!!']

Presets (``COMPAT_PRESETS``) reproduce other tools exactly: the legacy Keras ``Tokenizer`` replaces
its filter characters (punctuation without ``'``) by spaces, fastText splits on whitespace only.
A ``token_pattern`` regex, when given, replaces the split: tokens are ``re.findall`` matches on the
standardized text. Patterns come from the command line and from vocabulary and model files that
someone else may have written, so ``check_token_pattern`` admits only patterns that ``re`` runs in
linear time (no repeat or alternative the engine could backtrack into; the rule is in its
docstring and the README); anything else is refused with one line before any text is read. What it leaves out: no stemming, no Unicode punctuation stripping (Keras strips
ASCII punctuation only), no subword units.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import asdict, dataclass, fields
from typing import Any

from embedcli.errors import FormatError, UsageError

#: Keras TextVectorization DEFAULT_STRIP_REGEX == string.punctuation (apostrophe included).
KERAS_PUNCTUATION = string.punctuation
_ASCII_PUNCT_CLASS = "".join("\\" + c if c in "\\]^-[" else c for c in string.punctuation)
#: the default tokenizer's pattern: a word is a run of anything but whitespace and ASCII punctuation
#: (so combining marks, CJK and symbols such as ``£`` stay in their word), with inner apostrophes
#: (``don't``, ``n't``); a run of ASCII punctuation is one token (``!!``, ``>>>``: one token, not a
#: run of identical ones that would drown the words of a mean-pooled e-mail). Chosen by measurement
#: (``benchmarks/bench_defaults.py``): deleting punctuation loses 0.7-0.9 points on short texts.
DEFAULT_TOKEN_PATTERN = (
    f"[^\\s{_ASCII_PUNCT_CLASS}]+(?:'[^\\s{_ASCII_PUNCT_CLASS}]+)*|[{_ASCII_PUNCT_CLASS}]+"
)
#: Keras legacy Tokenizer default ``filters``: punctuation without the apostrophe, plus tab/newline.
TOKENIZER_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


@dataclass(frozen=True)
class TokenizerConfig:
    """How text becomes tokens. Saved in every vocabulary and model file."""

    lower: bool = True
    #: characters removed (``punctuation_mode="delete"``) or turned into spaces (``"space"``)
    punctuation: str = KERAS_PUNCTUATION
    punctuation_mode: str = "delete"
    #: if set, tokens are the regex matches instead of a whitespace split
    token_pattern: str | None = None
    #: what ``lower`` lowercases: ``"unicode"`` (``str.lower``) or ``"ascii"`` (A-Z only, as
    #: TensorFlow's ``tf.strings.lower``: Keras keeps ``Ü`` apart from ``ü``)
    lowercase: str = "unicode"
    #: the separators of the split (see ``SPLITS``)
    split: str = "whitespace"
    #: append fastText's end-of-line token ``</s>`` to every document (a word like the others)
    eos: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # settings added after format 1 are written only when they differ from their default,
        # so files of the default tokenizer stay readable by earlier versions
        for name, default in _LATER_DEFAULTS.items():
            if data[name] == default:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FormatError(f"unknown tokenizer settings: {', '.join(sorted(unknown))}")
        return cls(**data)


_LATER_DEFAULTS = {"lowercase": "unicode", "split": "whitespace", "eos": False}

#: fastText's end-of-line token
EOS_TOKEN = "</s>"

#: ``split`` values and the characters each one separates tokens on
SPLITS = {
    # Python's str.split(): every Unicode whitespace character (NBSP, U+2028, U+3000, \x1c-\x1f...)
    "whitespace": None,
    # TensorFlow's tf.strings.split (TextVectorization split="whitespace"): ASCII whitespace only
    "ascii": " \t\n\v\f\r",
    # the legacy Keras Tokenizer: split=" " only (its filters have turned \t and \n into spaces)
    "space": " ",
    # fastText's Dictionary::readWord: space, \n \r \t \v \f and NUL
    "fasttext": " \n\r\t\v\f\0",
}
LOWERCASES = ("unicode", "ascii")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class Tokenizer:
    """A configured standardize-and-split function (cheap to call in a loop)."""

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        cfg = self.config
        if cfg.punctuation_mode not in ("delete", "space"):
            raise UsageError(
                f"punctuation_mode must be 'delete' or 'space', not {cfg.punctuation_mode!r}"
            )
        # A compiled character class is ~5x faster than str.translate with a dict on long text.
        self._strip = (
            re.compile("[" + "".join(_class_escape(c) for c in cfg.punctuation) + "]+")
            if cfg.punctuation
            else None
        )
        self._replacement = "" if cfg.punctuation_mode == "delete" else " "
        # ASCII text takes a byte-level path: bytes.translate is ~10x faster than a regex.
        ascii_punct = cfg.punctuation.isascii()
        self._byte_delete = (
            cfg.punctuation.encode() if ascii_punct and cfg.punctuation_mode == "delete" else None
        )
        self._byte_table = (
            bytes.maketrans(cfg.punctuation.encode(), b" " * len(cfg.punctuation))
            if ascii_punct and cfg.punctuation_mode == "space"
            else None
        )
        if cfg.lowercase not in LOWERCASES:
            raise UsageError(f"lowercase must be 'unicode' or 'ascii', not {cfg.lowercase!r}")
        if cfg.split not in SPLITS:
            raise UsageError(f"split must be one of {', '.join(SPLITS)}, not {cfg.split!r}")
        if not isinstance(cfg.eos, bool):
            raise UsageError(f"eos must be true or false, not {cfg.eos!r}")
        seps = SPLITS[cfg.split]
        #: characters that str.split() also splits on but this split does not
        self._not_separators = (
            None
            if seps is None
            else re.compile("[" + "".join(c for c in _UNICODE_SPACE if c not in seps) + "]")
        )
        self._separators = None if seps is None else re.compile("[" + re.escape(seps) + "]+")
        #: what joins documents when a batch is tokenized in one call (a separator of the split)
        self.joiner = " " if cfg.split == "space" else "\n"
        self._pattern = None
        if cfg.token_pattern is not None:
            if not isinstance(cfg.token_pattern, str):
                raise UsageError(f"token_pattern must be a string, not {cfg.token_pattern!r}")
            check_token_pattern(cfg.token_pattern)  # linear time, or a UsageError
            self._pattern = re.compile(cfg.token_pattern)

    def standardize(self, text: str) -> str:
        """Lowercase and strip punctuation as configured (no splitting)."""
        if self.config.lower:
            if self.config.lowercase == "unicode" or text.isascii():
                text = text.lower()
            else:
                text = text.translate(_ASCII_LOWER)
        if self._strip is None:
            return text
        if text.isascii():
            if self._byte_delete is not None:
                return text.encode().translate(None, self._byte_delete).decode()
            if self._byte_table is not None:
                return text.encode().translate(self._byte_table).decode()
        text = self._strip.sub(self._replacement, text)
        return text

    def tokenize(self, text: str) -> list[str]:
        """Standardize then split one document into tokens."""
        text = self.standardize(text)
        if self._pattern is not None:
            tokens = self._pattern.findall(text)
        else:
            tokens = self.split(text)
        if self.config.eos:
            tokens.append(EOS_TOKEN)
        return tokens

    def split(self, text: str) -> list[str]:
        """Split standardized text on the separators of ``config.split`` (empty tokens dropped)."""
        if self._not_separators is None:
            return text.split()
        if self.config.split == "space":
            return [t for t in text.split(" ") if t]
        if "\0" not in text and self._not_separators.search(text) is None:
            return text.split()  # no character on which str.split() and this split differ
        return [t for t in self._separators.split(text) if t]

    def __repr__(self) -> str:
        return f"Tokenizer({self.config!r})"


#: every character str.split() separates on
_UNICODE_SPACE = (
    "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: the same, for other modules (the explorer page splits and strips on exactly these)
UNICODE_SPACE = _UNICODE_SPACE


def _class_escape(c: str) -> str:
    return "\\" + c if c in "\\]^-[" else c


@dataclass(frozen=True)
class CompatPreset:
    """Every convention that differs between Keras TextVectorization, the Keras Tokenizer and fastText."""

    tokenizer: TokenizerConfig
    oov: bool
    order: str  # "frequency" | "appearance"
    ties: str  # "appearance" | "reverse-lexical"
    padding: str
    truncating: str


COMPAT_PRESETS: dict[str, CompatPreset] = {
    # embedcli's own defaults: words and punctuation runs as tokens (DEFAULT_TOKEN_PATTERN),
    # Tokenizer-style stable tie order.
    "embedcli": CompatPreset(
        TokenizerConfig(punctuation="", token_pattern=DEFAULT_TOKEN_PATTERN),
        True,
        "frequency",
        "appearance",
        "post",
        "post",
    ),
    # TextVectorization: '' and [UNK] reserved; ties broken reverse-lexicographically; output
    # keeps the first N tokens and pads at the end.
    # TensorFlow lowercases A-Z only and splits on ASCII whitespace only.
    "textvectorization": CompatPreset(
        TokenizerConfig(lowercase="ascii", split="ascii"),
        True,
        "frequency",
        "reverse-lexical",
        "post",
        "post",
    ),
    # keras.preprocessing.text.Tokenizer (no oov_token) + pad_sequences defaults (pre/pre).
    "tokenizer": CompatPreset(
        TokenizerConfig(punctuation=TOKENIZER_FILTERS, punctuation_mode="space", split="space"),
        False,
        "frequency",
        "appearance",
        "pre",
        "pre",
    ),
    # fastText: split on its six separators, case kept, </s> ends every line (a word with an
    # id), unknown words dropped, equal counts in the order of libstdc++'s (unstable) std::sort.
    "fasttext": CompatPreset(
        TokenizerConfig(lower=False, punctuation="", split="fasttext", eos=True),
        False,
        "frequency",
        "std-sort",
        "post",
        "post",
    ),
}


def make_tokenizer_config(
    compat: str = "embedcli",
    *,
    lower: bool | None = None,
    keep_punctuation: bool = False,
    token_pattern: str | None = None,
) -> TokenizerConfig:
    """Tokenizer settings from a compat preset plus the command-line overrides."""
    preset = get_preset(compat)
    cfg = preset.tokenizer
    return TokenizerConfig(
        lower=cfg.lower if lower is None else lower,
        punctuation="" if keep_punctuation else cfg.punctuation,
        punctuation_mode=cfg.punctuation_mode,
        token_pattern=token_pattern if token_pattern is not None else cfg.token_pattern,
        lowercase=cfg.lowercase,
        split=cfg.split,
        eos=cfg.eos,
    )


def get_preset(compat: str) -> CompatPreset:
    try:
        return COMPAT_PRESETS[compat]
    except KeyError:
        names = ", ".join(COMPAT_PRESETS)
        raise UsageError(f"unknown --compat {compat!r} (choose from {names})") from None


# -- token pattern safety ------------------------------------------------------------------------
try:  # Python 3.11+
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

#: longest token pattern accepted (characters)
MAX_PATTERN_LENGTH = 1000
#: most characters one failed match attempt may examine (repeat counts multiply, alternatives
#: add up): ``findall`` costs at most about this many steps per character of a line
MAX_PATTERN_COST = 100
_SINGLE = {_sre.LITERAL, _sre.NOT_LITERAL, _sre.ANY, _sre.IN}
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT} | (
    {_sre.POSSESSIVE_REPEAT} if hasattr(_sre, "POSSESSIVE_REPEAT") else set()
)
_GROUPS = {_sre.SUBPATTERN} | ({_sre.ATOMIC_GROUP} if hasattr(_sre, "ATOMIC_GROUP") else set())


class _Unsafe(Exception):
    """A construct the linear-time rule does not admit (the message says which)."""


def check_token_pattern(pattern: str) -> None:
    """Refuse a token pattern that could make ``findall`` run in more than linear time.

    Python's ``re`` backtracks: ``(a+)+$`` takes minutes on a 30-character line and ``\\w+x``
    takes time quadratic in the line length. A token pattern comes from the command line or from
    a vocabulary/model file someone else wrote, so it must not be able to make embedcli run
    unbounded work. The rule below admits only patterns whose every ``findall`` step is
    deterministic: the engine never has to go back into a repeat or an alternative once it has
    passed it, so tokenizing a line of n characters costs O(n x pattern size).

    In every sequence (the whole pattern, each alternative, each group, each repeated body):

    - first come fixed items: single characters and classes (``a``, ``.``, ``\\w``, ``[^\\s]``),
      assertions (``\\b``, ``^``), fixed counts (``x{3}``), groups of fixed items, and short
      optional prefixes of listed characters that cannot start what follows (``-?\\d+``);
    - then at most one item that chooses: a repeat (``+ * ? {m,n}``, greedy or lazy), an
      alternation or a group holding one; a repeated group that chooses inside needs a minimum
      count of 0 or 1;
    - after it only optional items (a repeat with minimum 0, like ``(?:'\\w+)?``), plus one
      ``\\b`` straight after a greedy ``\\w+`` (it always holds there, as in ``\\b\\w\\w+\\b``).

    Refused besides: backreferences, lookarounds and conditionals, a pattern that matches the
    empty string, more than one capturing group (``findall`` would return tuples), patterns longer
    than 1000 characters, and patterns where one failed attempt could examine more than 100
    characters (``\\w{200}``; counts multiply, alternatives add up). ``\\w+|[^\\w\\s]``,
    ``\\b\\w\\w+\\b``, ``[a-z]{4,}``, ``\\d+(?:\\.\\d+)?`` and ``\\w+(?:'\\w+)*`` pass;
    ``(a+)+$``, ``(\\w+\\s?)+$``, ``\\w+x`` and ``(a|ab)c`` do not. Raises ``UsageError``.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UsageError(
            f"--token-pattern is {len(pattern)} characters long (at most {MAX_PATTERN_LENGTH})"
        )
    try:
        parsed = _sre_parse.parse(pattern, 0)
    except re.error as exc:
        raise UsageError(f"invalid --token-pattern {pattern!r}: {exc}") from None
    except (RecursionError, OverflowError, ValueError) as exc:
        raise UsageError(f"invalid --token-pattern {pattern!r}: {exc}") from None
    try:
        if control_character(pattern) is not None:
            raise _Unsafe("it contains a control character (write it as an escape like \\t)")
        if parsed.state.flags & _sre.SRE_FLAG_LOCALE:
            raise _Unsafe("the locale flag (?L) is not supported")
        if parsed.state.groups - 1 > 1:
            raise _Unsafe("more than one capturing group (use (?:...) for grouping)")
        if parsed.getwidth()[0] == 0:
            raise _Unsafe("it can match the empty string")
        _check_sequence(list(parsed), _Context.of(parsed))
        if _cost(list(parsed)) > MAX_PATTERN_COST:
            raise _Unsafe(
                f"one failed match attempt could examine more than {MAX_PATTERN_COST} characters "
                "(repeat counts multiply, alternatives add up)"
            )
    except _Unsafe as exc:
        raise UsageError(
            f"unsafe --token-pattern {pattern!r}: {exc} (the rule is in the README, "
            "'Tokenizing and --compat')"
        ) from None
    except RecursionError:
        raise UsageError(f"unsafe --token-pattern {pattern!r}: nested too deeply") from None


def control_character(text: str) -> str | None:
    """The first control character of ``text`` (C0, DEL, C1, or a Unicode line or paragraph
    separator), or None. Such a character in a label or a name shown to a user could move the
    cursor, recolour the terminal or add a line to line-per-input output."""
    if text.isprintable():  # no Cc, Zl or Zp (the fast path)
        return None
    for c in text:
        if c < " " or "\x7f" <= c <= "\x9f" or unicodedata.category(c) in ("Zl", "Zp"):
            return c
    return None


def _is_fixed(item: tuple) -> bool:
    """True for an item that matches in exactly one way (no choice to go back to)."""
    op, av = item
    if op in _SINGLE or op is _sre.AT:
        return True
    if op in _REPEATS:
        low, high, body = av
        return low == high and all(_is_fixed(i) for i in body)
    if op in _GROUPS:
        return all(_is_fixed(i) for i in _group_body(item))
    _refuse_unknown(op)
    return False


def _group_body(item: tuple) -> list:
    op, av = item
    return list(av[-1]) if op is _sre.SUBPATTERN else list(av)


def _refuse_unknown(op: Any) -> None:
    if op in _SINGLE or op in _REPEATS or op in _GROUPS or op in (_sre.AT, _sre.BRANCH):
        return
    names = {
        _sre.GROUPREF: "a backreference",
        _sre.GROUPREF_EXISTS: "a conditional group",
        _sre.ASSERT: "a lookahead/lookbehind",
        _sre.ASSERT_NOT: "a negative lookahead/lookbehind",
    }
    raise _Unsafe(f"{names.get(op, str(op).lower())} is not supported")


@dataclass(frozen=True)
class _Context:
    """Pattern-wide flags the optional-prefix rule needs (``_is_disjoint_prefix``)."""

    dotall: bool
    ascii: bool
    #: False under IGNORECASE or scoped flags: character sets are then not worked out
    sets_known: bool

    @classmethod
    def of(cls, parsed: Any) -> _Context:
        flags = parsed.state.flags
        return cls(
            dotall=bool(flags & _sre.SRE_FLAG_DOTALL),
            ascii=not flags & _sre.SRE_FLAG_UNICODE,
            sets_known=not flags & _sre.SRE_FLAG_IGNORECASE and not _scoped_flags(list(parsed)),
        )


def _scoped_flags(items: list) -> bool:
    for op, av in items:
        if op is _sre.SUBPATTERN and (av[1] or av[2]):
            return True
        subs = []
        if op in _REPEATS:
            subs = [list(av[2])]
        elif op in _GROUPS:
            subs = [_group_body((op, av))]
        elif op is _sre.BRANCH:
            subs = [list(a) for a in av[1]]
        if any(_scoped_flags(sub) for sub in subs):
            return True
    return False


def _check_sequence(items: list, ctx: _Context) -> None:
    """Fixed items (or short optional prefixes, see ``_is_disjoint_prefix``), then at most one
    choosing item, then only optional items (see ``check_token_pattern``)."""
    j = 0
    while j < len(items) and (_is_fixed(items[j]) or _is_disjoint_prefix(items, j, ctx)):
        j += 1
    if j == len(items):
        return
    choice = items[j]
    _check_choice(choice, ctx)
    rest = items[j + 1 :]
    if rest and rest[0] == (_sre.AT, _sre.AT_BOUNDARY) and _is_greedy_word_run(choice):
        rest = rest[1:]
    for op, av in rest:
        _refuse_unknown(op)
        if op not in _REPEATS or av[0] != 0:
            raise _Unsafe(
                "after a repeat or an alternative only optional parts may follow "
                "(the engine could backtrack into it)"
            )
        _check_sequence(list(av[2]), ctx)


def _check_choice(item: tuple, ctx: _Context) -> None:
    op, av = item
    _refuse_unknown(op)
    if op in _REPEATS:
        low, _high, body = av
        body = list(body)
        if len(body) == 1 and body[0][0] in _SINGLE:
            return
        _check_sequence(body, ctx)
        if low > 1 and not all(_is_fixed(i) for i in body):
            raise _Unsafe(
                "a repeated group that has choices inside needs a minimum count of 0 or 1"
            )
    elif op in _GROUPS:
        _check_sequence(_group_body(item), ctx)
    elif op is _sre.BRANCH:
        for alternative in av[1]:
            _check_sequence(list(alternative), ctx)


#: longest optional prefix (``x?``, ``[+-]{0,2}``) and largest character set it may have
PREFIX_MAX_COUNT = 4
PREFIX_MAX_CHARS = 64


def _is_disjoint_prefix(items: list, j: int, ctx: _Context) -> bool:
    """``items[j]`` is a short greedy repeat of a few listed characters (``-?``, ``#?``,
    ``[+-]{0,2}``) none of which can start what follows, and what follows cannot match empty:
    giving back one of its characters makes the rest fail on its first character, so the choice
    costs O(count) and never multiplies (``-?\\d+``, ``#?\\w+``, ``[+-]?\\d+(?:\\.\\d+)?``)."""
    op, av = items[j]
    if not ctx.sets_known or op not in _REPEATS or op is _sre.MIN_REPEAT:
        return False
    low, high, body = av
    body = list(body)
    if high == _sre.MAXREPEAT or high > PREFIX_MAX_COUNT or len(body) != 1:
        return False
    chars = _listed_chars(body[0])
    if chars is None:
        return False
    first, nullable = _first_atoms(items[j + 1 :])
    if nullable:
        return False
    return not any(_atom_matches(atom, c, ctx) for atom in first for c in chars)


def _listed_chars(atom: tuple) -> list[str] | None:
    """The characters of a literal or of a class of literals and ranges (no negation, no
    category), or None; at most ``PREFIX_MAX_CHARS`` of them."""
    op, av = atom
    if op is _sre.LITERAL:
        return [chr(av)]
    if op is not _sre.IN:
        return None
    chars: list[str] = []
    for o, a in av:
        if o is _sre.LITERAL:
            chars.append(chr(a))
        elif o is _sre.RANGE and a[1] - a[0] < PREFIX_MAX_CHARS:
            chars.extend(chr(x) for x in range(a[0], a[1] + 1))
        else:
            return None
        if len(chars) > PREFIX_MAX_CHARS:
            return None
    return chars


def _first_atoms(items: list) -> tuple[list, bool]:
    """The single-character atoms that can match the first character ``items`` consume (a
    superset: assertions are looked through), and whether ``items`` can match empty."""
    atoms: list = []
    for op, av in items:
        _refuse_unknown(op)
        if op is _sre.AT:
            continue
        if op in _SINGLE:
            atoms.append((op, av))
            return atoms, False
        if op in _REPEATS:
            sub, nullable = _first_atoms(list(av[2]))
            nullable = nullable or av[0] == 0
        elif op in _GROUPS:
            sub, nullable = _first_atoms(_group_body((op, av)))
        else:  # BRANCH
            nullable = False
            sub = []
            for alternative in av[1]:
                alt_atoms, alt_nullable = _first_atoms(list(alternative))
                sub += alt_atoms
                nullable = nullable or alt_nullable
        atoms += sub
        if not nullable:
            return atoms, False
    return atoms, True


_CATEGORIES = {
    _sre.CATEGORY_DIGIT: r"\d",
    _sre.CATEGORY_NOT_DIGIT: r"\D",
    _sre.CATEGORY_SPACE: r"\s",
    _sre.CATEGORY_NOT_SPACE: r"\S",
    _sre.CATEGORY_WORD: r"\w",
    _sre.CATEGORY_NOT_WORD: r"\W",
}


def _atom_matches(atom: tuple, c: str, ctx: _Context) -> bool:
    """Whether a single-character atom matches ``c`` (True when unsure)."""
    op, av = atom
    if op is _sre.LITERAL:
        return ord(c) == av
    if op is _sre.NOT_LITERAL:
        return ord(c) != av
    if op is _sre.ANY:
        return c != "\n" or ctx.dotall
    if op is not _sre.IN:
        return True
    negate, hit = False, False
    for o, a in av:
        if o is _sre.NEGATE:
            negate = True
        elif o is _sre.LITERAL:
            hit = hit or ord(c) == a
        elif o is _sre.RANGE:
            hit = hit or a[0] <= ord(c) <= a[1]
        elif o is _sre.CATEGORY and a in _CATEGORIES:
            flags = re.ASCII if ctx.ascii else 0
            hit = hit or re.fullmatch(_CATEGORIES[a], c, flags) is not None
        else:
            return True
    return hit != negate


def _is_greedy_word_run(item: tuple) -> bool:
    op, av = item
    return (
        op in _REPEATS
        and op is not _sre.MIN_REPEAT
        and av[1] == _sre.MAXREPEAT
        and list(av[2]) == [(_sre.IN, [(_sre.CATEGORY, _sre.CATEGORY_WORD)])]
    )


def _cost(items: list) -> int:
    """Upper bound of the characters one failed attempt examines (counts multiply)."""
    total = 0
    for op, av in items:
        if op in _REPEATS:
            total += max(av[0], 1) * _cost(list(av[2]))
        elif op in _GROUPS:
            total += _cost(_group_body((op, av)))
        elif op is _sre.BRANCH:
            total += sum(_cost(list(a)) for a in av[1])
        else:
            total += 1
    return total
