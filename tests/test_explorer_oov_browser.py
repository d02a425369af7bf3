"""The explorer's search box for ANY typed word, in headless Chromium (Debian's chromium and
chromedriver through Selenium, no download; skips without them): a vocabulary word that is not on
the map, a misspelling and non-ASCII words (``naïveté``, ``東京``) get the page's cosine top-k,
which must equal ``embedcli.explorer.page_search`` (the same algorithm in Python, to the bit),
numpy's top-k over the page's decoded vectors and, where the page holds every n-gram row,
``embedcli nearest`` on the model restricted to the mapped words. The page's n-gram hashing and
tokenizer are checked against ``embedcli.subwords`` and the model's tokenizer on tricky words; the
keyboard zooms (+/-) and pans (arrows), 0 resets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.cli.model_common import query_tokens
from embedcli.explorer import page_search
from embedcli.subwords import SubwordSpec, subword_buckets
from embedcli.text import get_preset
from embedcli.vectors_model import load_vectors_model

sys.path.insert(0, str(Path(__file__).parent))
from browser_helpers import headless_chromium, needs_chromium  # noqa: E402
from explorer_fixtures import expected_neighbours, page_data, vectors_model, word_list  # noqa: E402

pytestmark = needs_chromium
K = 6
TOP = 120
#: vocabulary words sharing n-grams with the non-ASCII queries
WORDS = ["naïve", "東京都", "straße", "café"] + word_list(300)
#: queries outside the vocabulary: a misspelling, accents, CJK, a combining mark
OOV = ["wabcq", "naïveté", "東京", "cafe\u0301s"]
TRICKY = OOV + ["😀ab", "ÿÿÿ", "ﬁx", "a", "ab", "x" * 40, "\u05e9\u05dc\u05d5\u05dd", "💩💩"]
#: characters on which JavaScript's whitespace (``\\s``, ``trim()``) and Python's differ
SPACES = ["\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\ufeff", "\u180e", "\u200b", "\u2028", "\xa0"]
#: texts around them, for the tokenizer and the search box's strip
SPACED = [f"{a}{c}{b}" for c in SPACES for a, b in (("ab", "cd"), ("", "wabcq"), ("wabcq", ""))]


@pytest.fixture(scope="module", name="browser")
def _browser():
    yield from headless_chromium()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return vectors_model(tmp_path_factory.mktemp("oov") / "m", WORDS, dim=16, minn=2, maxn=4)


def build(model: Path, out: Path, *args: str) -> dict:
    r = CliRunner().invoke(app, ["explore", str(model), "-o", str(out), "-k", str(K), *args])
    assert r.exit_code == 0, r.stderr
    return page_data(out.read_text(encoding="utf-8"))


def typed(browser, word: str) -> dict:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = browser.find_element(By.ID, "search")
    box.clear()
    box.send_keys(word, Keys.ENTER)
    items = browser.find_elements(By.CSS_SELECTOR, "#neighbours li")
    state = browser.execute_script("return window.explorer")
    state["listed"] = [li.get_attribute("data-word") for li in items]
    state["title"] = browser.find_element(By.ID, "panel-title").text
    return state


def open_page(browser, path: Path) -> None:
    browser.get(path.as_uri())
    assert browser.execute_script("return document.body.dataset.ready") == "1"


def nearest_mapped(model: Path, word: str, mapped: list[str]) -> list[str]:
    """``embedcli nearest`` over the whole vocabulary, restricted to the mapped words."""
    r = CliRunner().invoke(app, ["nearest", str(model), word, "-k", "1000", "-f", "tsv"])
    assert r.exit_code == 0, r.stderr
    keep = set(mapped)
    found = [line.split("\t")[1] for line in r.stdout.splitlines() if line.strip()]
    return [w for w in found if w in keep][:K]


def test_any_word_matches_python_numpy_and_nearest(browser, model, tmp_path):
    out = tmp_path / "exact.html"
    # every stored n-gram row on the page, float16: exact coverage
    data = build(model, out, "--top", str(TOP), "--ngram-words", "100000", "--precision", "float16")
    assert data["search"]["sub"]["complete"]
    open_page(browser, out)
    mapped = data["words"][:TOP]
    rows = data["rows_"][:TOP]
    m = load_vectors_model(model)
    for word in [m.words[250], *OOV]:  # a vocabulary word beyond the map, then unknown words
        state = typed(browser, word)
        ref = page_search(data, word)
        assert state["query"] == ref.token == word
        assert state["listed"] == [mapped[i] for i in ref.neighbours]
        assert state["cosines"] == ref.cosines  # the same float64 operations: to the bit
        assert ref.neighbours == expected_neighbours(rows, ref.vector, K, None)
        assert state["listed"] == nearest_mapped(model, word, mapped), word
        assert state["exact"] and "approximate" not in state["title"]
        assert word in state["title"]
    assert browser.get_log("browser") == []


def test_hashing_and_tokenizer_match_embedcli(browser, model, tmp_path):
    out = tmp_path / "page.html"
    data = build(model, out, "--top", str(TOP))
    open_page(browser, out)
    spec = SubwordSpec(2, 4, 1000)
    for word in TRICKY:
        got = browser.execute_script("return window.explorer.buckets(arguments[0])", word)
        assert got == subword_buckets([word], spec)[0].tolist(), word
    vocab = load_vectors_model(model).vocab
    for text in ["Naïveté", "  東京  ", "Don't stop!", "two words", "STRASSE", "!!", "wAbCq"]:
        got = browser.execute_script("return window.explorer.tokenize(arguments[0])", text)
        assert got == query_tokens(vocab, text.strip()), text
    for text in SPACED:  # the split as str.split(), the search box's strip as str.strip()
        got = browser.execute_script("return window.explorer.tokenize(arguments[0])", text)
        assert got == query_tokens(vocab, text), repr(text)
        got = browser.execute_script("return window.explorer.strip(arguments[0])", text)
        assert got == text.strip(), repr(text)
    assert data["search"]["tok"]["lower"] is True


def test_the_default_token_pattern_runs_in_the_page(browser, tmp_path):
    # embedcli's default tokenizer: words and runs of punctuation by a regex, in JS too
    tok = get_preset("embedcli").tokenizer
    model = vectors_model(tmp_path / "p", ["don't", "!!", *word_list(50)], tokenizer=tok)
    out = tmp_path / "pattern.html"
    data = build(model, out, "--top", "20")
    assert data["search"]["tok"]["token_pattern"] == tok.token_pattern
    open_page(browser, out)
    vocab = load_vectors_model(model).vocab
    texts = ["Don't!!", "naïveté", "l'été", "rock'n'roll", "a-b", "ΟΔΟΣ", "a\u00a0b", "£5", ">>>"]
    for text in texts + ["x...", "'quoted'", "😀ok", "İstanbul", "tab\there", "o'", *SPACED]:
        got = browser.execute_script("return window.explorer.tokenize(arguments[0])", text)
        assert got == query_tokens(vocab, text), repr(text)
    state = typed(browser, "DON'T")
    assert state["query"] == "don't" and state["source"] == "mapped"


def test_ngrams_off_the_page_are_reported_as_approximate(browser, model, tmp_path):
    out = tmp_path / "part.html"
    data = build(model, out, "--top", str(TOP), "--ngram-words", "3")  # int8, a few rows only
    open_page(browser, out)
    ref = page_search(data, "wabcq")
    assert 0 < ref.known < ref.total and not ref.exact
    state = typed(browser, "wabcq")
    assert f"approximate: {ref.known} of {ref.total} n-grams on this page" in state["title"]
    assert state["listed"] == [data["words"][i] for i in ref.neighbours]
    assert state["cosines"] == ref.cosines
    # a vocabulary word beyond the map is still exact: its own packed vector
    state = typed(browser, load_vectors_model(model).words[280])
    assert state["exact"] and state["source"] == "vocabulary"


def test_keyboard_zooms_and_pans(browser, model, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    out = tmp_path / "keys.html"
    build(model, out, "--top", str(TOP))
    open_page(browser, out)
    browser.find_element(By.ID, "title").click()  # focus off the search box
    start = browser.execute_script("return window.explorer.view()")
    drawn = browser.execute_script("return window.explorer.stats.drawn")

    def press(*keys: str) -> dict:
        chain = ActionChains(browser)
        for key in keys:
            chain.send_keys(key)
        chain.perform()
        browser.execute_script("return new Promise(r => requestAnimationFrame(() => r()))")
        return browser.execute_script("return window.explorer.view()")

    zoomed = press("+", "+")
    assert abs(zoomed["scale"] / start["scale"] - 1.5625) < 1e-9
    assert (zoomed["cx"], zoomed["cy"]) == (start["cx"], start["cy"])  # about the centre
    assert browser.execute_script("return window.explorer.stats.drawn") < drawn
    moved = press(Keys.ARROW_RIGHT, Keys.ARROW_UP)
    assert moved["cx"] > zoomed["cx"] and moved["cy"] > zoomed["cy"]
    assert moved["scale"] == zoomed["scale"]
    assert abs(press("-")["scale"] / zoomed["scale"] - 0.8) < 1e-9
    assert press("0") == start  # reset
    # typing in the search box does not move the map
    box = browser.find_element(By.ID, "search")
    box.send_keys("+-0")
    assert browser.execute_script("return window.explorer.view()") == start


PINCH = """
const c = document.getElementById('map'), r = c.getBoundingClientRect();
const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
function fire(type, gap) {
  const touches = gap === null ? [] : [-1, 1].map((s, i) => new Touch(
    {identifier: i, target: c, clientX: cx + s * gap, clientY: cy}));
  c.dispatchEvent(new TouchEvent(type, {touches: touches, changedTouches: touches,
    bubbles: true, cancelable: true}));
}
fire('touchstart', 50); fire('touchmove', 100); fire('touchend', null);
return window.explorer.view();
"""
WHEEL = """
const c = document.getElementById('map'), r = c.getBoundingClientRect();
c.dispatchEvent(new WheelEvent('wheel', {deltaY: -200, clientX: r.left + r.width / 2,
  clientY: r.top + r.height / 2, bubbles: true, cancelable: true}));
return window.explorer.view();
"""


def test_pinch_and_wheel_zoom_about_the_fingers(browser, model, tmp_path):
    out = tmp_path / "touch.html"
    build(model, out, "--top", str(TOP))
    open_page(browser, out)
    start = browser.execute_script("return window.explorer.view()")
    pinched = browser.execute_script(PINCH)  # fingers 100 px apart, then 200 px: 2x
    assert abs(pinched["scale"] / start["scale"] - 2) < 1e-9
    assert abs(pinched["cx"] - start["cx"]) < 1e-9 and abs(pinched["cy"] - start["cy"]) < 1e-9
    wheeled = browser.execute_script(WHEEL)
    assert wheeled["scale"] > pinched["scale"]


#: lone surrogates built in the page (WebDriver's JSON would not carry them intact)
LONE = {"wab\ud800": "'wab' + String.fromCharCode(0xd800)",
        "\udcffab": "String.fromCharCode(0xdcff) + 'ab'",
        "c\udbffd": "'c' + String.fromCharCode(0xdbff) + 'd'"}  # fmt: skip


def test_lone_surrogates_hash_as_embedcli_encodes_them(browser, model, tmp_path):
    # embedcli encodes text with "surrogatepass" (a lone surrogate is its 3-byte form), the
    # page too: same n-gram buckets, same neighbours as page_search, no U+FFFD substitution
    out = tmp_path / "lone.html"
    data = build(model, out, "--top", str(TOP), "--ngram-words", "100000")
    open_page(browser, out)
    spec = SubwordSpec(2, 4, 1000)
    for word, js in LONE.items():
        got = browser.execute_script(f"return window.explorer.buckets({js})")
        assert got == subword_buckets([word], spec)[0].tolist(), repr(word)
        assert got != subword_buckets([word.encode("utf-8", "replace").decode()], spec)[0].tolist()
        state = browser.execute_script(
            f"window.explorer.find({js}); const e = window.explorer;"
            " return {query: Array.from(e.query, c => c.codePointAt(0)), neighbours: e.neighbours, cosines: e.cosines,"
            " exact: e.exact, listed: Array.from(document.querySelectorAll('#neighbours li'),"
            " li => li.dataset.word)}"
        )
        ref = page_search(data, word)
        assert ref.token == word and state["query"] == [ord(c) for c in word]  # (WebDriver)
        assert ref.neighbours and state["listed"] == [data["words"][i] for i in ref.neighbours]
        assert state["cosines"] == ref.cosines and state["exact"] == ref.exact
    assert browser.get_log("browser") == []


def test_python_regex_classes_run_the_same_in_the_page(browser, model, tmp_path):
    # embedcli.explorer.js_pattern spells Python's \s \w \d \b out for JavaScript
    import re

    from embedcli.explorer import js_pattern

    out = tmp_path / "re.html"
    build(model, out, "--top", "20")
    open_page(browser, out)
    texts = [*SPACED, "naïve_1 x² ٣٤ 東京", "a.b\nc\u2028d", "İstanbul's café", "-a- [b]"]
    for pattern in [r"\w+", r"\d+|\D", r"\b\w+\b", r"[^\s!]+", r"\S+", r".", r"[]a]+|\B.", r"\'"]:
        js = js_pattern(pattern)
        assert js is not None, pattern
        for text in texts:
            got = browser.execute_script(
                "return arguments[1].match(new RegExp(arguments[0], 'gu')) || []", js, text
            )
            assert got == re.findall(pattern, text), (pattern, text)
    for untranslatable in [r"\Aa", r"(?i)a", r"[\S]", r"a\Z"]:
        assert js_pattern(untranslatable) is None


@pytest.fixture(scope="module")
def subword_classifier(tmp_path_factory) -> Path:
    """A real classifier trained with character n-grams (fastText's supervised -minn/-maxn)."""
    out = tmp_path_factory.mktemp("clf") / "model"
    train = Path(__file__).resolve().parents[1] / "sample_data" / "stdlib" / "train.txt"
    r = CliRunner().invoke(app, [
        "train", str(train), "-o", str(out), "--dim", "8", "--epochs", "2", "--minn", "3",
        "--maxn", "5", "--buckets", "2000", "--seed", "1", "--threads", "1", "--quiet"])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    return out


def test_an_unknown_word_on_a_subword_classifier_page(browser, subword_classifier, tmp_path):
    # the classifier rule: an unknown word's vector is the mean of its n-gram bucket rows
    # (fastText's getWordVector, embedcli's Model.vector); every bucket on the page: exact
    import numpy as np

    import embedcli

    out = tmp_path / "clf.html"
    data = build(subword_classifier, out, "--top", str(TOP), "--ngram-words", "100000",
                 "--precision", "float16")  # fmt: skip
    assert data["kind"] == "classifier" and data["search"]["sub"]["rule"] == "classifier"
    assert data["search"]["sub"]["complete"]
    open_page(browser, out)
    model = embedcli.load(subword_classifier)
    mapped = data["words"][:TOP]
    for word in ["socketizationx", "threadz", "parsingly", "jsonify"]:
        assert model.word_id(word) is None and word not in data["words"]
        state = typed(browser, word)
        ref = page_search(data, word)
        assert ref.source == "ngrams" and ref.exact and ref.known == ref.total > 0
        assert state["query"] == ref.token == word and state["source"] == "ngrams"
        assert state["listed"] == [mapped[i] for i in ref.neighbours]
        assert state["cosines"] == ref.cosines  # the same float64 operations: to the bit
        assert ref.neighbours == expected_neighbours(data["rows_"][:TOP], ref.vector, K, None)
        true = np.asarray(model.vector(word), np.float64)  # float16 on the page: near, not equal
        cos = true @ ref.vector / np.linalg.norm(true) / np.linalg.norm(ref.vector)
        assert cos > 0.9999, (word, cos)
        assert state["exact"] and "approximate" not in state["title"]
    assert browser.get_log("browser") == []
