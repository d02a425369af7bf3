"""The explorer page in a real browser: Debian's headless Chromium driven by Selenium through the
system chromedriver (no Selenium Manager, no download: SE_OFFLINE). Skips when either is absent
(``.ci/run`` installs them).

Checks that the points are drawn (the script's count and non-white canvas pixels), that typing a
word into the search box lists exactly the full-space cosine top-k computed here in numpy, that an
out-of-vocabulary ``--words`` entry is searchable, and that hostile words neither run script nor
lose a character."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.vectors_model import load_vectors_model

sys.path.insert(0, str(Path(__file__).parent))
from browser_helpers import headless_chromium, needs_chromium  # noqa: E402
from explorer_fixtures import (  # noqa: E402
    HOSTILE,
    expected_neighbours,
    page_data,
    vectors_model,
    word_list,
)

pytestmark = needs_chromium
K = 8


@pytest.fixture(scope="module", name="browser")
def _browser():
    yield from headless_chromium()


def explore(model: Path, out: Path, *args: str) -> None:
    r = CliRunner().invoke(app, ["explore", str(model), "-o", str(out), *args])
    assert r.exit_code == 0, r.stderr


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    model = vectors_model(root / "m", HOSTILE + word_list(400), dim=16)
    (root / "words.txt").write_text("zzqqx\n", encoding="utf-8")
    out = root / "explorer.html"
    explore(model, out, "--top", "300", "-k", str(K), "--words", str(root / "words.txt"))
    return model, out


def open_page(browser, path: Path) -> None:
    browser.get(path.as_uri())
    assert browser.execute_script("return document.body.dataset.ready") == "1"


def search(browser, word: str) -> list[str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = browser.find_element(By.ID, "search")
    box.clear()
    box.send_keys(word, Keys.ENTER)
    items = browser.find_elements(By.CSS_SELECTOR, "#neighbours li")
    return [li.get_attribute("data-word") for li in items]


NON_WHITE = """
const c = document.getElementById('map'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) n++;
return n;
"""


def test_points_render(browser, page):
    _, out = page
    open_page(browser, out)
    stats = browser.execute_script("return window.explorer.stats")
    assert stats["drawn"] == 300 and stats["labels"] > 0
    assert browser.execute_script(NON_WHITE) > 300 * 4  # at least the 3x3 dots' worth of ink
    # labels appear as you zoom: a larger share of the points in view gets one
    share = stats["labels"] / stats["drawn"]
    browser.execute_script("window.explorer.zoom(6)")
    zoomed = browser.execute_script("return window.explorer.stats")
    assert 0 < zoomed["drawn"] < 300 and zoomed["labels"] / zoomed["drawn"] > share
    assert browser.get_log("browser") == []  # no script error


def test_hover_shows_word_id_and_frequency(browser, page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    model, out = page
    open_page(browser, out)
    m = load_vectors_model(model)
    canvas = browser.find_element(By.ID, "map")
    for i in (0, 150):
        x, y, w, h = browser.execute_script("return window.explorer.screenOf(arguments[0])", i)
        ActionChains(browser).move_to_element_with_offset(
            canvas, int(x - w / 2), int(y - h / 2)
        ).perform()
        tip = browser.execute_script("return document.getElementById('tip').innerText")
        lines = tip.splitlines()
        # the nearest point to the cursor: the word itself unless another lies on top of it
        word = lines[0]
        j = m.words.index(word)
        assert lines[1:] == [f"id {m.first + j}", f"frequency {int(m.counts[j])}"]


def test_search_lists_the_full_space_neighbours(browser, page):
    model, out = page
    open_page(browser, out)
    data = page_data(out.read_text(encoding="utf-8"))
    m = load_vectors_model(model)
    rows = data["rows_"][:300]  # the page's vectors (int8), as numpy decodes them
    words = m.words[:300]
    for i in (9, 120, 299):
        want = [words[j] for j in expected_neighbours(rows, rows[i], K, skip=i)]
        assert search(browser, words[i]) == want
        assert browser.execute_script("return window.explorer.query") == words[i]
    # the out-of-vocabulary word of --words: embedcli's n-gram vector, packed in the page
    assert data["words"] == m.words + ["zzqqx"]
    extra = data["rows_"][len(m.words)]
    want = [words[j] for j in expected_neighbours(rows, extra, K, None)]
    assert search(browser, "zzqqx") == want
    # two tokens: no list, and the panel says why
    assert search(browser, "two words") == []
    title = browser.execute_script("return document.getElementById('panel-title').textContent")
    assert "2 tokens" in title


def test_hostile_words_stay_text(browser, page):
    _, out = page
    open_page(browser, out)
    for word in HOSTILE:  # typed or (NUL, RTL) passed as a JS string
        browser.execute_script("window.explorer.find(arguments[0])", word)
        assert browser.execute_script("return window.explorer.query") == word
        title = browser.execute_script("return document.getElementById('panel-title').textContent")
        assert title.startswith(word + " (id ")
        assert len(browser.execute_script("return window.explorer.neighbours")) == K
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.execute_script("return document.getElementsByTagName('img').length") == 0
    assert browser.execute_script("return document.scripts.length") == 2


@pytest.mark.slow  # --docs on a classifier loads the engine (numba)
def test_document_click_shows_the_contributions(browser, tmp_path):
    from explorer_fixtures import classifier_model, page_data

    model = classifier_model(
        tmp_path / "c", ["good", "bad", "movie", "the"], minn=3, maxn=4, buckets=20
    )
    docs = tmp_path / "docs.txt"
    docs.write_text("__label__pos good movie\n__label__neg bad <b>movie</b>\n", encoding="utf-8")
    out = tmp_path / "d.html"
    explore(model, out, "--docs", str(docs), "-k", "2")
    want = page_data(out.read_text(encoding="utf-8"))["docs"]
    open_page(browser, out)
    assert browser.execute_script("return window.explorer.stats.docsDrawn") == 2
    for i, doc in enumerate(want):
        browser.execute_script("window.explorer.explain(arguments[0])", i)
        cells = browser.execute_script(
            "return [...document.querySelectorAll('#explain tr')].map(r => r.cells[0].textContent)"
        )
        assert cells == [f for f, _ in doc["explain"]["features"]]
        text = browser.execute_script("return document.querySelector('#explain p').textContent")
        assert text == doc["text"]
    assert browser.execute_script("return document.getElementsByTagName('b').length") == 0
