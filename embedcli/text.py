"""Standardize and tokenize text, the same way in every command.

The default equals Keras ``TextVectorization(standardize="lower_and_strip_punctuation",
split="whitespace")``: lowercase, delete ASCII punctuation (``string.punctuation``, apostrophe
included), split on whitespace. Unicode letters (accents, Cyrillic, CJK) pass through untouched.

    >>> Tokenizer().tokenize("Hope to see you soon!")
    ['hope', 'to', 'see', 'you', 'soon']

Presets (``COMPAT_PRESETS``) reproduce other tools exactly: the legacy Keras ``Tokenizer`` replaces
its filter characters (punctuation without ``'``) by spaces, fastText splits on whitespace only.
A ``token_pattern`` regex, when given, replaces the split: tokens are ``re.findall`` matches on the
standardized text. What it leaves out: no stemming, no Unicode punctuation stripping (Keras strips
ASCII punctuation only), no subword units.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass, fields
from typing import Any

from embedcli.errors import FormatError, UsageError

#: Keras TextVectorization DEFAULT_STRIP_REGEX == string.punctuation (apostrophe included).
KERAS_PUNCTUATION = string.punctuation
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenizerConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FormatError(f"unknown tokenizer settings: {', '.join(sorted(unknown))}")
        return cls(**data)


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
        self._pattern = None
        if cfg.token_pattern is not None:
            try:
                self._pattern = re.compile(cfg.token_pattern)
            except re.error as exc:
                raise UsageError(f"invalid --token-pattern {cfg.token_pattern!r}: {exc}") from None

    def standardize(self, text: str) -> str:
        """Lowercase and strip punctuation as configured (no splitting)."""
        if self.config.lower:
            text = text.lower()
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
            return self._pattern.findall(text)
        return text.split()

    def __repr__(self) -> str:
        return f"Tokenizer({self.config!r})"


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
    # embedcli's own defaults: TextVectorization text handling, Tokenizer-style stable tie order.
    "embedcli": CompatPreset(TokenizerConfig(), True, "frequency", "appearance", "post", "post"),
    # TextVectorization: '' and [UNK] reserved; ties broken reverse-lexicographically; output
    # keeps the first N tokens and pads at the end.
    "textvectorization": CompatPreset(
        TokenizerConfig(), True, "frequency", "reverse-lexical", "post", "post"
    ),
    # keras.preprocessing.text.Tokenizer (no oov_token) + pad_sequences defaults (pre/pre).
    "tokenizer": CompatPreset(
        TokenizerConfig(punctuation=TOKENIZER_FILTERS, punctuation_mode="space"),
        False,
        "frequency",
        "appearance",
        "pre",
        "pre",
    ),
    # fastText: whitespace split only, case kept, unknown words dropped.
    "fasttext": CompatPreset(
        TokenizerConfig(lower=False, punctuation=""),
        False,
        "frequency",
        "appearance",
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
    )


def get_preset(compat: str) -> CompatPreset:
    try:
        return COMPAT_PRESETS[compat]
    except KeyError:
        names = ", ".join(COMPAT_PRESETS)
        raise UsageError(f"unknown --compat {compat!r} (choose from {names})") from None
