"""Standardization and splitting: Keras TextVectorization / Tokenizer / fastText conventions."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedcli.errors import FormatError, UsageError
from embedcli.text import (
    COMPAT_PRESETS,
    DEFAULT_TOKEN_PATTERN,
    Tokenizer,
    TokenizerConfig,
    get_preset,
    make_tokenizer_config,
)


def tok(compat: str = "embedcli", **kw) -> Tokenizer:
    return Tokenizer(make_tokenizer_config(compat, **kw))


# -- the default: words and punctuation runs (issue #8, section 3) ---------------------------------
def test_default_keeps_punctuation_runs_and_contractions_as_tokens() -> None:
    assert tok().tokenize("Hope to see you soon!") == ["hope", "to", "see", "you", "soon", "!"]
    assert tok().tokenize("Don't STOP?! >>> quoted ----- it is n't") == [
        "don't",
        "stop",
        "?!",
        ">>>",
        "quoted",
        "-----",
        "it",
        "is",
        "n't",
    ]
    assert tok().tokenize("e-mail: a@b.c 'tis a''b") == [
        "e",
        "-",
        "mail",
        ":",
        "a",
        "@",
        "b",
        ".",
        "c",
        "'",
        "tis",
        "a",
        "''",
        "b",
    ]


def test_default_keeps_combining_marks_and_symbols_in_their_word() -> None:
    # Python's \w excludes combining marks (category M): a \w pattern would cut these words
    assert tok().tokenize("नमस्ते cafe\u0301 £5 50% 日本語!") == [
        "नमस्ते",
        "cafe\u0301",
        "£5",
        "50",
        "%",
        "日本語",
        "!",
    ]


# -- Keras TextVectorization ---------------------------------------------------------------------
def test_textvectorization_lowercases_and_deletes_ascii_punctuation() -> None:
    assert tok("textvectorization").tokenize("Hope to see you soon!") == [
        "hope",
        "to",
        "see",
        "you",
        "soon",
    ]
    assert tok("textvectorization").tokenize("Hello, World... (again)") == [
        "hello",
        "world",
        "again",
    ]


def test_textvectorization_strips_apostrophe_and_hyphen() -> None:
    t = tok("textvectorization")
    assert t.tokenize("don't") == ["dont"]
    assert t.tokenize("foo-bar") == ["foobar"]
    assert t.tokenize("e-mail: a@b.c") == ["email", "abc"]


def test_every_ascii_punctuation_character_is_deleted() -> None:
    assert tok("textvectorization").tokenize(f"a{string.punctuation}b") == ["ab"]
    assert tok().tokenize(f"a{string.punctuation}b") == ["a", string.punctuation, "b"]


def test_unicode_punctuation_is_kept_like_keras() -> None:
    # Keras strips ASCII punctuation only (DEFAULT_STRIP_REGEX is string.punctuation); the default
    # separates ASCII punctuation only
    assert tok("textvectorization").tokenize("«Bonjour» ¿qué? — fin") == [
        "«bonjour»",
        "¿qué",
        "—",
        "fin",
    ]
    assert tok().tokenize("«Bonjour» ¿qué? — fin") == ["«bonjour»", "¿qué", "?", "—", "fin"]


# -- legacy Keras Tokenizer -------------------------------------------------------------------------
def test_tokenizer_preset_keeps_apostrophe_and_splits_on_punctuation() -> None:
    t = tok("tokenizer")
    assert t.tokenize("don't") == ["don't"]
    assert t.tokenize("foo-bar") == ["foo", "bar"]
    assert t.tokenize("Hello,world!How are\tyou?") == ["hello", "world", "how", "are", "you"]


def test_tokenizer_preset_conventions() -> None:
    p = get_preset("tokenizer")
    assert p.oov is False
    assert (p.padding, p.truncating) == ("pre", "pre")
    assert p.order == "frequency" and p.ties == "appearance"


# -- fastText -----------------------------------------------------------------------------------
def test_fasttext_preset_keeps_case_and_punctuation() -> None:
    t = tok("fasttext")
    assert t.tokenize("Hello, World! don't foo-bar") == [
        "Hello,",
        "World!",
        "don't",
        "foo-bar",
        "</s>",
    ]
    assert t.tokenize("  a\tb\n c  ") == ["a", "b", "c", "</s>"]
    # fastText's separators are space \n \r \t \v \f \0: not NBSP, U+3000 nor \x1c
    assert t.tokenize("a\xa0b\u3000c\x1cd\x0be\x0cf\rg") == [
        "a\xa0b\u3000c\x1cd",
        "e",
        "f",
        "g",
        "</s>",
    ]
    assert get_preset("fasttext").oov is False


# -- Unicode -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Café CRÈME brûlée", ["café", "crème", "brûlée"]),
        ("Привет, Мир!", ["привет", ",", "мир", "!"]),
        ("日本語 テキスト 中文", ["日本語", "テキスト", "中文"]),
        ("ΟΔΟΣ ΣΟΦΟΣ", ["οδος", "σοφος"]),  # final sigma
        ("naïve\u00a0coöperation", ["naïve", "coöperation"]),  # NBSP is whitespace
        ("a\u3000b", ["a", "b"]),  # ideographic space
        ("x\x1cy\x1fz", ["x", "y", "z"]),  # str.split separators FS..US
        ("émoji 🙂 ok", ["émoji", "🙂", "ok"]),
    ],
)
def test_unicode_letters_survive(text: str, expected: list[str]) -> None:
    assert tok().tokenize(text) == expected


def test_no_lower_and_keep_punctuation_overrides() -> None:
    assert tok(lower=False).tokenize("Café, OK") == ["Café", ",", "OK"]
    assert tok("textvectorization", lower=False).tokenize("Café, OK") == ["Café", "OK"]
    assert tok("textvectorization", keep_punctuation=True).tokenize("Don't-stop!") == [
        "don't-stop!"
    ]
    assert tok(keep_punctuation=True).tokenize("Don't-stop!") == ["don't", "-", "stop", "!"]


def test_token_pattern_replaces_the_split() -> None:
    t = tok(keep_punctuation=True, token_pattern=r"[a-z]+|\d+")
    assert t.tokenize("Room 101, floor-3") == ["room", "101", "floor", "3"]


def test_invalid_token_pattern_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="token-pattern"):
        tok(token_pattern="(unclosed")


def test_unknown_compat_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="compat"):
        make_tokenizer_config("spacy")


def test_bad_punctuation_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        Tokenizer(TokenizerConfig(punctuation_mode="replace"))


def test_config_dict_round_trip_and_unknown_keys() -> None:
    for preset in COMPAT_PRESETS.values():
        cfg = preset.tokenizer
        assert TokenizerConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(FormatError, match="stemmer"):
        TokenizerConfig.from_dict({"lower": True, "stemmer": "porter"})


_REFERENCE_SEPARATORS = {
    "ascii": " \t\n\v\f\r",
    "space": " ",
    "fasttext": " \n\r\t\v\f\0",
}


def _reference_default(text: str) -> list[str]:
    """Plain-Python twin of ``DEFAULT_TOKEN_PATTERN``: runs of word characters (neither
    whitespace nor ASCII punctuation) joined over single inner apostrophes, and runs of ASCII
    punctuation."""

    def kind(c: str) -> str:
        return "s" if c.isspace() else "p" if c in string.punctuation else "w"

    tokens, i, n = [], 0, len(text)
    while i < n:
        k = kind(text[i])
        if k == "s":
            i += 1
            continue
        j = i + 1
        while j < n:
            if kind(text[j]) == k:
                j += 1
            elif k == "w" and text[j] == "'" and j + 1 < n and kind(text[j + 1]) == "w":
                j += 2
            else:
                break
        tokens.append(text[i:j])
        i = j
    return tokens


def _reference_tokenize(text: str, cfg: TokenizerConfig) -> list[str]:
    """Plain-Python twin: lower (every character, or A-Z only), then delete/space each
    punctuation character, then split character by character on the configured separators
    (the default's pattern: ``_reference_default``)."""
    if cfg.token_pattern == DEFAULT_TOKEN_PATTERN:
        return _reference_default(text.lower() if cfg.lower else text)
    if cfg.lower:
        if cfg.lowercase == "ascii":
            text = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
        else:
            text = text.lower()
    repl = "" if cfg.punctuation_mode == "delete" else " "
    text = "".join(repl if c in cfg.punctuation else c for c in text)
    if cfg.split == "whitespace":
        tokens = text.split()
    else:
        seps = _REFERENCE_SEPARATORS[cfg.split]
        tokens, word = [], ""
        for c in text:
            if c in seps:
                if word:
                    tokens.append(word)
                word = ""
            else:
                word += c
        if word:
            tokens.append(word)
    return tokens + (["</s>"] if cfg.eos else [])


TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(
            list(string.printable)
            + ["\x1c", "\x1f", "\xa0", "\u3000", "\u2028", "\x85", "\0", "É", "ß", "Ü", "İ"]
        ),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(text=TEXT, compat=st.sampled_from(sorted(COMPAT_PRESETS)))
def test_fast_paths_equal_the_plain_reference(text: str, compat: str) -> None:
    """The byte-level ASCII path and the regex path both equal a character-by-character twin."""
    cfg = make_tokenizer_config(compat)
    assert Tokenizer(cfg).tokenize(text) == _reference_tokenize(text, cfg)
