"""``embedcli explore`` without a browser: the projection against numpy's SVD, the neighbour lists
against a plain-numpy cosine search, escaping of hostile words, self-containment, the page
size, stdout, refusals and the install hints of the optional extras (tests/test_explorer_browser.py
opens the page in Chromium)."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.explorer import cosine_neighbours, page_search, unit_rows
from embedcli.projection import pca, project
from embedcli.subwords import SubwordSpec, subword_buckets
from embedcli.vectors_model import compose_subword_vectors, load_vectors_model

sys.path.insert(0, str(Path(__file__).parent))
from explorer_fixtures import (  # noqa: E402
    HOSTILE,
    classifier_model,
    expected_neighbours,
    page_data,
    vectors_model,
    word_list,
)

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def ok(*args):
    r = run(*args)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r


@pytest.fixture(scope="module")
def vec_model(tmp_path_factory) -> Path:
    return vectors_model(tmp_path_factory.mktemp("vec") / "m", word_list(300))


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory) -> Path:
    return vectors_model(tmp_path_factory.mktemp("hostile") / "m", HOSTILE + word_list(40))


# -- the numbers ------------------------------------------------------------------------------------
def test_pca_is_numpys_svd():
    x = np.random.default_rng(0).standard_normal((50, 7))
    got = pca(x)
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    want = u[:, :2] * s[:2]
    for c in range(2):  # the sign is a convention: compare up to it
        assert np.allclose(got[:, c], want[:, c]) or np.allclose(got[:, c], -want[:, c])
    assert np.var(got[:, 0]) >= np.var(got[:, 1])
    assert np.array_equal(project(x, "pca"), got)


def test_cosine_neighbours_are_the_plain_numpy_search():
    rng = np.random.default_rng(1)
    v = rng.standard_normal((120, 5))
    v[7] = v[3] * 2  # a tie in direction
    unit = unit_rows(v)
    idx, sims = cosine_neighbours(unit, None, 6)
    for i in range(len(v)):
        assert idx[i].tolist() == expected_neighbours(v, v[i], 6, skip=i)
    assert np.allclose(sims[3, 0], 1.0) and idx[3, 0] == 7
    q = rng.standard_normal((4, 5))
    idx, _ = cosine_neighbours(unit, unit_rows(q), 6)
    assert [r.tolist() for r in idx] == [expected_neighbours(v, qq, 6, None) for qq in q]


# -- the page ---------------------------------------------------------------------------------------
def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def numpy_top(rows: np.ndarray, query: np.ndarray, k: int, skip: int | None) -> list[int]:
    """numpy's full-space cosine top-k (a BLAS product), ties by the lower index."""
    return expected_neighbours(rows, query, k, skip)


def test_vectors_model_page_carries_the_full_space_vectors(vec_model, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("zzqqx\nwaa\n", encoding="utf-8")  # an OOV word, a mapped one
    out = tmp_path / "e.html"
    r = ok("explore", vec_model, "-o", out, "--top", "200", "-k", "7", "--words", words)
    size = out.stat().st_size
    assert f"{size:,} bytes" in r.stderr
    data = page_data(out.read_text(encoding="utf-8"))
    m = load_vectors_model(vec_model)
    assert data["n"] == 200 and data["k"] == 7 and data["kind"] == "vectors"
    # the most frequent words first, with their ids and counts; then the other 100 vocabulary
    # words (searchable, not mapped), then the --words entry
    assert data["words"] == m.words[:300] + ["zzqqx"]
    assert data["search"]["nv"] == data["search"]["vocabSize"] == 300
    assert data["ids_"].tolist() == list(range(m.first, m.first + 200))
    assert data["counts_"].tolist() == m.counts[:200].tolist()
    table = np.asarray(m.embeddings[m.first : m.first + 300], np.float64)
    # int8 rows: the same directions (per-row scale left out: it cancels in the cosine)
    rows = data["rows_"]
    cos = np.sum(unit_rows(rows[:300]) * unit_rows(table), axis=1)
    assert cos.min() > 0.999
    assert np.allclose(data["xy_"], pca(unit_rows(table[:200])), atol=1e-5)
    mapped = rows[:200]
    for i in (0, 17, 199, 250):  # mapped words leave themselves out; word 250 is not mapped
        res = page_search(data, m.words[i])
        assert res.source == ("mapped" if i < 200 else "vocabulary") and res.exact
        assert res.neighbours == numpy_top(mapped, rows[i], 7, i if i < 200 else None)
    # the OOV word of --words: embedcli's own vector, packed with the others
    res = page_search(data, "zzqqx")
    assert res.source == "extra"
    oov = np.asarray(m.oov_vectors(["zzqqx"])[0], np.float64)
    assert cosine(rows[300], oov) > 0.999
    assert res.neighbours == numpy_top(mapped, rows[300], 7, None)


def test_unknown_words_are_composed_from_the_pages_ngram_rows(vec_model, tmp_path):
    out = tmp_path / "e.html"
    ok("explore", vec_model, "-o", out, "--top", "200", "-k", "6", "--ngram-words", "300")
    data = page_data(out.read_text(encoding="utf-8"))
    m = load_vectors_model(vec_model)
    sub = data["search"]["sub"]
    assert sub["complete"] and sub["rule"] == "vectors"  # every stored row is on the page
    assert data["bucket_ids_"].tolist() == m.subword_buckets.tolist()
    spec = SubwordSpec(3, 5, 1000)
    mapped = data["rows_"][:200]
    for word in ("wzzqq", "naïveté", "東京", "wáb"):
        res = page_search(data, word)
        assert res.source == "ngrams" and res.exact
        buckets = subword_buckets([word], spec)[0]
        assert res.total == len(buckets)
        assert res.known == int(np.isin(buckets, m.subword_buckets).sum())
        # embedcli's composition (vectors_model.compose_subword_vectors) over the decoded rows
        want = compose_subword_vectors(
            [word], spec, m.subword_buckets, data["bucket_rows_"].astype(np.float32)
        )[0]
        assert np.allclose(res.vector, want, atol=1e-6)
        # and within the int8 error of the model's own float32 vector
        full = m.oov_vectors([word])[0]
        assert cosine(res.vector, full) > 0.999
        assert res.neighbours == numpy_top(mapped, res.vector, 6, None)


def test_a_word_with_ngrams_off_the_page_is_marked_approximate(vec_model, tmp_path):
    out = tmp_path / "e.html"
    ok("explore", vec_model, "-o", out, "--top", "50", "--ngram-words", "5")
    data = page_data(out.read_text(encoding="utf-8"))
    assert not data["search"]["sub"]["complete"]
    res = page_search(data, "wzzqq")
    assert res.known < res.total and not res.exact
    assert any("n-gram rows of the 5 most frequent" in note for note in data["notes"])
    # --search-words below the vocabulary: the page says an unknown word may be a model word
    ok("explore", vec_model, "-o", out, "--top", "50", "--search-words", "60", "--force")
    data = page_data(out.read_text(encoding="utf-8"))
    assert data["search"]["nv"] == 60 and data["search"]["vocabSize"] == 300
    assert page_search(data, "wzzqq").exact is False
    # no n-gram rows at all: an unknown word has no vector on the page, and says so
    ok("explore", vec_model, "-o", out, "--top", "50", "--ngram-words", "0", "--force")
    data = page_data(out.read_text(encoding="utf-8"))
    assert data["search"]["sub"]["ngramWords"] == 0 and len(data["bucket_ids_"]) == 0
    res = page_search(data, "wzzqq")
    assert res.source == "no-vector" and res.known == 0 and res.total > 0


def test_float16_pages_rank_like_float64(vec_model, tmp_path):
    out = tmp_path / "e.html"
    ok("explore", vec_model, "-o", out, "--top", "300", "--precision", "float16", "-k", "5")
    data = page_data(out.read_text(encoding="utf-8"))
    m = load_vectors_model(vec_model)
    table = np.asarray(m.embeddings[m.first : m.first + 300], np.float64)
    assert data["search"]["precision"] == "float16"
    for i in (3, 100, 299):
        assert page_search(data, m.words[i]).neighbours == numpy_top(table, table[i], 5, i)


def test_classifier_with_subwords_uses_fasttext_word_vectors(tmp_path):
    words = word_list(60)
    model = classifier_model(tmp_path / "c", words, minn=3, maxn=4, buckets=40)
    out = tmp_path / "c.html"
    ok("explore", model, "-o", out, "-k", "5", "--precision", "float16")
    data = page_data(out.read_text(encoding="utf-8"))
    emb = np.load(model / "embeddings.npy").astype(np.float64)
    nwords = len(words) + 2
    spec = SubwordSpec(3, 4, 40)
    vecs = []
    for w, i in zip(words, range(2, nwords), strict=True):  # the word row and its n-gram rows
        rows = [emb[i]] + [emb[nwords + b] for b in subword_buckets([w], spec)[0]]
        vecs.append(np.mean(rows, axis=0))
    vecs = np.array(vecs)
    assert data["words"] == words and data["search"]["sub"]["rule"] == "classifier"
    assert np.sum(unit_rows(data["rows_"]) * unit_rows(vecs), axis=1).min() > 0.9999
    for i in (0, 30):
        assert page_search(data, words[i]).neighbours == numpy_top(vecs, vecs[i], 5, i)
    # an OOV word: the mean of all its n-gram rows (every one of the 40 buckets is on the page)
    res = page_search(data, "qqqzz")
    oov = np.mean([emb[nwords + b] for b in subword_buckets(["qqqzz"], spec)[0]], axis=0)
    assert res.exact and res.known == res.total
    assert cosine(res.vector, oov) > 0.9999
    assert res.neighbours == numpy_top(data["rows_"], res.vector, 5, None)


def test_without_subwords_an_unknown_search_word_is_skipped_with_a_note(tmp_path):
    model = classifier_model(tmp_path / "c", word_list(30), counts=[0] * 30)
    (tmp_path / "w.txt").write_text("unknownword\nwaa\n", encoding="utf-8")
    r = ok("explore", model, "-o", tmp_path / "p.html", "--words", tmp_path / "w.txt")
    assert "'unknownword' is not in the vocabulary; skipped" in " ".join(r.stderr.split())
    data = page_data((tmp_path / "p.html").read_text(encoding="utf-8"))
    assert data["words"] == word_list(30) and data["extraNotes"] == []
    assert data["counts_"] is None  # no counts: the page says so
    assert any("no word counts" in note for note in data["notes"])
    assert any("no subwords" in note for note in data["notes"])
    assert page_search(data, "unknownword").source == "unknown"


def test_hostile_words_are_escaped(hostile_model, tmp_path):
    out = tmp_path / "h.html"
    ok("explore", hostile_model, "-o", out, "--title", "</title><script>alert(1)</script>")
    html = out.read_text(encoding="utf-8")
    assert html.count("</script>") == 2  # the data element's and the code's own end tags
    assert html.count("<script") == 2
    assert "<img" not in html and "<!--" not in html and "\x00" not in html
    assert "\u202e" not in html  # RTL override: escaped in the JSON
    assert "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>" in html
    data = page_data(html)
    assert set(HOSTILE) <= set(data["words"])  # every word survives the round trip exactly


def test_page_is_self_contained(vec_model, tmp_path):
    out = tmp_path / "s.html"
    ok("explore", vec_model, "-o", out, "--top", "50")
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"https?://", html)
    assert not re.search(r"\b(src|href)\s*=", html, re.I)  # nothing to load
    assert not re.search(r"@import|url\(", html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_stdout_and_size_figures(vec_model):
    r = ok("explore", vec_model, "-o", "-", "--top", "100")
    assert r.stdout.startswith("<!DOCTYPE html>") and r.stdout.rstrip().endswith("</html>")
    assert "wrote stdout" in r.stderr and "bytes" in r.stderr
    # beyond the fixed script and style (< 40 kB), base64 of: mapped words x (xy 8 + id 4 +
    # count 8) bytes, searchable words x (dim int8 + the word), n-gram rows x (dim int8 +
    # bucket id 4 + scale 4)
    m = load_vectors_model(vec_model)
    dim, rows = 12, len(m.subword_buckets)
    bound = 40_000 + 100 * 20 * 4 / 3 + 300 * (dim * 4 / 3 + 10) + rows * (dim + 8) * 4 / 3
    assert len(r.stdout.encode()) < bound


def test_refusals(vec_model, tmp_path):
    r = run("explore", vec_model, "-o", vec_model / "page.html")
    assert r.exit_code == 2, r.stderr  # inside an input
    (tmp_path / "mine.html").write_text("not embedcli's\n")
    r = run("explore", vec_model, "-o", tmp_path / "mine.html")
    assert r.exit_code == 2 and (tmp_path / "mine.html").read_text() == "not embedcli's\n"
    r = run("explore", vec_model, "-o", tmp_path / "x.html", "--method", "mds")
    assert r.exit_code == 2 and "--method" in r.stderr
    assert run("explore", vec_model, "-o", tmp_path / "x.html", "--top", "1").exit_code == 2
    assert run("explore", vec_model, "-o", tmp_path / "x.html", "-k", "0").exit_code == 2
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    ("method", "hidden"), [("tsne", ("openTSNE", "sklearn")), ("umap", ("umap",))]
)
def test_missing_extra_is_one_line_with_the_install_hint(
    vec_model, tmp_path, monkeypatch, method, hidden
):
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    r = run("explore", vec_model, "-o", tmp_path / "t.html", "--method", method)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'embedcli[explore]'" in lines[0], r.stderr
    assert not (tmp_path / "t.html").exists()
    r = run("plot", vec_model, "-o", tmp_path / "t.png", "--method", method)
    assert r.exit_code == 2 and "embedcli[explore]" in r.stderr


@pytest.mark.slow  # umap-learn compiles its numba code on first use: a minute here
@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_tsne_and_umap_maps(vec_model, tmp_path, method):
    pytest.importorskip("openTSNE" if method == "tsne" else "umap")
    out = tmp_path / f"{method}.html"
    ok("explore", vec_model, "-o", out, "--top", "60", "--method", method, "--seed", "1")
    data = page_data(out.read_text(encoding="utf-8"))
    assert data["method"] == method and np.isfinite(data["xy_"]).all()
    assert np.ptp(data["xy_"], axis=0).min() > 0
    ok("plot", vec_model, "-o", tmp_path / f"{method}.png", "--top", "30", "--method", method)


@pytest.mark.slow  # loads the engine (numba) to pool, predict and explain the documents
def test_docs_carry_labels_predictions_and_the_explain_contributions(tmp_path):
    import json

    words = ["good", "great", "bad", "awful", "movie", "the", "plot", "fine"]
    model = classifier_model(tmp_path / "c", words, minn=3, maxn=4, buckets=30)
    docs = tmp_path / "docs.txt"
    docs.write_text(
        "__label__pos good movie great plot\n__label__neg awful bad movie\nthe fine </script>\n",
        encoding="utf-8",
    )
    out = tmp_path / "d.html"
    ok("explore", model, "-o", out, "--docs", docs, "-k", "3")
    data = page_data(out.read_text(encoding="utf-8"))
    assert [d["label"] for d in data["docs"]] == ["pos", "neg", None]
    assert data["docs"][2]["text"] == "the fine </script>"
    r = ok("predict", model, docs, "--explain", "-f", "json")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    predictions, explains = lines[0::2], lines[1::2]
    for doc, pred, ex in zip(data["docs"], predictions, explains, strict=True):
        assert doc["predicted"] == pred["labels"][0]
        want = ex["explain"]
        got = doc["explain"]
        assert got["label"] == want["label"] and got["score"] == pytest.approx(
            want["score"], abs=1e-6
        )
        kept = want["contributions"][: len(got["features"])]  # the largest |contribution|s
        assert len(kept) == min(15, len(want["contributions"])) and kept
        assert got["more"] == len(want["contributions"]) - len(kept)
        assert [f for f, _ in got["features"]] == [c["feature"] for c in kept]
        assert [v for _, v in got["features"]] == pytest.approx(
            [c["value"] for c in kept], abs=1e-6
        )
    assert len(data["docXy"]) > 0


def test_docs_on_a_vectors_model_are_mean_vectors_coloured_by_label(vec_model, tmp_path):
    docs = tmp_path / "docs.txt"
    docs.write_text("__label__a waa wab\n__label__b wac\nno label wad\n", encoding="utf-8")
    out = tmp_path / "v.html"
    ok("explore", vec_model, "-o", out, "--top", "50", "--docs", docs, "--max-docs", "2")
    data = page_data(out.read_text(encoding="utf-8"))
    assert [(d["label"], d["predicted"], d["explain"]) for d in data["docs"]] == [
        ("a", None, None),
        ("b", None, None),
    ]
    m = load_vectors_model(vec_model)
    table = unit_rows(np.asarray(m.embeddings[m.first : m.first + 50], np.float64))
    doc = unit_rows(m.mean_vectors([["waa", "wab"], ["wac"]]))
    both = pca(np.vstack([table, doc]))  # words and documents share one projection
    got = np.frombuffer(base64.b64decode(data["docXy"]), "<f4").reshape(2, 2)
    assert np.allclose(got, both[50:], atol=1e-5)
    assert np.allclose(data["xy_"], both[:50], atol=1e-5)
