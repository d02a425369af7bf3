"""evaluate-vectors: the figures equal gensim's evaluate_word_analogies / evaluate_word_pairs on the
same vectors (a real model, exported files, hostile random vectors), the correlations equal
scipy's, and the command reads, reports and refuses as the house does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli import correlation as corr
from embedcli import wordeval as we
from embedcli import wordvectors as wv
from embedcli.cli import app
from embedcli.errors import DataError, FormatError

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "stdlib"
runner = CliRunner()


def gensim_data(name: str) -> Path:
    pytest.importorskip("gensim")
    from gensim.test.utils import datapath

    return Path(datapath(name))


def keyed_vectors(vectors: wv.WordVectors):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vectors.dim)
    kv.add_vectors(list(vectors.words), np.asarray(vectors.vectors, dtype=np.float32))
    return kv


def gensim_analogies(kv, path: Path, restrict: int, case_insensitive: bool = True) -> dict:
    score, sections = kv.evaluate_word_analogies(
        str(path), restrict_vocab=restrict, case_insensitive=case_insensitive
    )
    return {
        "score": score,
        "sections": [(s["section"], len(s["correct"]), len(s["incorrect"])) for s in sections],
    }


def ours_analogies(result: we.AnalogyResult) -> dict:
    sections = [(s.name, s.correct, s.incorrect) for s in [*result.sections, result.total]]
    return {"score": result.accuracy, "sections": sections}


def assert_pairs_equal(kv, vectors: wv.WordVectors, path: Path, **kw) -> we.PairsResult:
    pearson, spearman, oov = kv.evaluate_word_pairs(str(path), **kw)
    ours = we.evaluate_pairs(vectors, path, **kw)
    assert ours.pearson == pytest.approx(pearson[0], abs=1e-12)
    assert ours.spearman == pytest.approx(spearman[0], abs=1e-12)
    assert ours.pearson_pvalue == pytest.approx(pearson[1], rel=1e-9, abs=1e-300)
    assert ours.spearman_pvalue == pytest.approx(spearman[1], rel=1e-9, abs=1e-300)
    assert ours.oov_ratio == oov
    return ours


def every_nth_question(src: Path, dst: Path, n: int) -> Path:
    """gensim's questions-words.txt with every section and every n-th question (fast tests)."""
    out, k = [], 0
    for line in src.read_text(encoding="utf-8").splitlines():
        if line.startswith(": "):
            out.append(line)
        else:
            k += 1
            if k % n == 0:
                out.append(line)
    dst.write_text("\n".join(out) + "\n", encoding="utf-8")
    return dst


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


# -- models ------------------------------------------------------------------------------------------
def train_model(corpus: Path, out: Path, *extra: str) -> Path:
    r = cli("train", corpus, "-o", out, "--seed", "1", "--threads", "1", "-q", *extra)
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def stdlib_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stdlib") / "model"
    return train_model(SAMPLE / "train.txt", out, "--epochs", "5")


@pytest.fixture(scope="module")
def real_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = REPO.parent / "shared" / "data" / "sst2" / "train.txt"
    if not corpus.is_file():
        pytest.skip(f"shared dataset not found: {corpus}")
    out = tmp_path_factory.mktemp("sst2") / "model"
    return train_model(corpus, out, "--epochs", "3", "--dim", "50")


# -- correlation: numpy only, equal to scipy ---------------------------------------------------------
def test_rank_and_correlations_by_hand() -> None:
    assert corr.rankdata(np.array([10.0, 20.0, 20.0, 5.0])).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert corr.spearman(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])) == pytest.approx(0.5)
    assert corr.pearson(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])) == pytest.approx(1.0)
    assert corr.pearson(np.array([1.0, 1.0]), np.array([1.0, 2.0])) is None  # constant side
    assert corr.pearson(np.array([1.0]), np.array([1.0])) is None


def test_correlations_equal_scipy_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    for n in (2, 3, 10, 353, 999):
        x = rng.integers(0, 7, n).astype(float)  # many ties
        y = rng.normal(size=n).round(1)
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        np.testing.assert_allclose(corr.rankdata(x), stats.rankdata(x))
        assert corr.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
        assert corr.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
        if n < 3:
            assert corr.pearson_pvalue(corr.pearson(x, y), n) is None  # scipy: 1.0 or nan
            continue
        p = corr.pearson_pvalue(corr.pearson(x, y), n)
        assert p == pytest.approx(stats.pearsonr(x, y)[1], rel=1e-9, abs=1e-300)
        p = corr.spearman_pvalue(corr.spearman(x, y), n)
        assert p == pytest.approx(stats.spearmanr(x, y)[1], rel=1e-9, abs=1e-300)
    x = np.arange(50.0)
    assert corr.spearman(x, x**3) == 1.0 and corr.spearman_pvalue(1.0, 50) == 0.0
    assert corr.spearman(x, -x) == -1.0
    assert corr.betainc(0.3, 2.0, 3.0) == pytest.approx(
        0.3483, abs=1e-12
    )  # 1 - 0.7^4 - 4 * 0.3 * 0.7^3


# -- equal to gensim on a real model -----------------------------------------------------------------
def test_real_model_equals_gensim(real_model: Path, tmp_path: Path) -> None:
    vectors = wv.load_word_vectors(real_model)
    assert vectors.kind == "model" and len(vectors.words) > 10_000
    kv = keyed_vectors(vectors)
    questions = every_nth_question(gensim_data("questions-words.txt"), tmp_path / "q.txt", 12)
    for restrict in (30_000, 3_000):
        ours = we.evaluate_analogies(vectors, questions, restrict_vocab=restrict)
        assert ours_analogies(ours) == gensim_analogies(kv, questions, restrict)
        assert ours.total.answered > (150 if restrict == 30_000 else 30)  # it means something
    for name in ("wordsim353.tsv", "simlex999.txt"):
        result = assert_pairs_equal(kv, vectors, gensim_data(name))
        assert result.pairs > 150


def test_exported_files_read_back_to_the_same_figures(real_model: Path, tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    questions = every_nth_question(gensim_data("questions-words.txt"), tmp_path / "q.txt", 40)
    wordsim = gensim_data("wordsim353.tsv")
    direct = wv.load_word_vectors(real_model)
    want = we.evaluate_analogies(direct, questions).to_dict()
    want_pairs = we.evaluate_pairs(direct, wordsim).to_dict()
    for fmt, name in (("word2vec", "v.txt"), ("word2vec-binary", "v.bin")):
        r = cli("export", real_model, "--format", fmt, "-o", tmp_path / name, "--words-only", "-q")
        assert r.exit_code == 0, r.output
        loaded = wv.load_word_vectors(tmp_path / name)  # format from the extension
        assert loaded.words == direct.words
        np.testing.assert_array_equal(loaded.vectors, np.asarray(direct.vectors))
        got = we.evaluate_analogies(loaded, questions).to_dict()
        assert {**got, "seconds": 0} == {**want, "seconds": 0}
        pairs = we.evaluate_pairs(loaded, wordsim).to_dict()
        assert {**pairs, "seconds": 0, "file": ""} == {**want_pairs, "seconds": 0, "file": ""}
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    assert ours_analogies(we.evaluate_analogies(loaded, questions)) == gensim_analogies(
        kv, questions, 30_000
    )
    limited = wv.load_word_vectors(tmp_path / "v.txt", limit=100)
    assert limited.words == direct.words[:100]


# -- equal to gensim on hostile vectors --------------------------------------------------------------
HOSTILE_WORDS = [
    "athens", "Athens", "ATHENS", "greece", "Greece", "baghdad", "iraq", "Iraq", "paris",
    "france", "France", "berlin", "germany", "straße", "STRASSE", "strasse", "ß", "SS", "é", "É",
    "big", "bigger", "Bigger", "small", "smaller", "cold", "colder", "good", "better", "bad",
    "worse", "man", "woman", "king", "queen", "boy", "girl", "tie1", "tie2", "tie3", "zero",
]  # fmt: skip


def hostile_vectors(dim: int, seed: int) -> wv.WordVectors:
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(len(HOSTILE_WORDS), dim)).astype(np.float32)
    tie = HOSTILE_WORDS.index("tie1")
    table[tie + 1] = table[tie]  # exact ties between candidates
    table[tie + 2] = table[tie] * 2  # same direction, another norm: a tie in cosine
    table[HOSTILE_WORDS.index("Bigger")] = table[HOSTILE_WORDS.index("bigger")]
    return wv.WordVectors(list(HOSTILE_WORDS), table, source="hostile")


def hostile_analogy_file(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pool = [*HOSTILE_WORDS, "unknown", "Athens", "GREECE", "Strasse", "STRASSE"]
    lines = []
    for section in range(4):
        lines.append(f": sec{section}" if section != 2 else ": : odd  name  ")
        for _ in range(60):
            lines.append(" ".join(pool[i] for i in rng.integers(0, len(pool), 4)))
        lines.append("athens greece athens greece")  # expected = a question word
        lines.append("tie1 tie2 tie1 tie3")
        lines.append("")
    lines.append(": empty-section")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("dim", [2, 3, 16])
@pytest.mark.parametrize("case_insensitive", [True, False])
def test_hostile_vectors_equal_gensim(tmp_path: Path, dim: int, case_insensitive: bool) -> None:
    vectors = hostile_vectors(dim, dim)
    kv = keyed_vectors(vectors)
    questions = hostile_analogy_file(tmp_path / "q.txt", dim)
    for restrict in (4, 12, 30_000):
        ours = we.evaluate_analogies(
            vectors, questions, restrict_vocab=restrict, case_insensitive=case_insensitive
        )
        want = gensim_analogies(kv, questions, restrict, case_insensitive)
        assert ours_analogies(ours) == want, (restrict, case_insensitive)
    pairs = tmp_path / "pairs.tsv"
    rng = np.random.default_rng(dim)
    lines = ["# comment", "word1\tword2\tscore"]  # a header line (gensim skips it too)
    for _ in range(150):
        a, b = (HOSTILE_WORDS[i] for i in rng.integers(0, len(HOSTILE_WORDS), 2))
        lines.append(f"{a.upper() if rng.random() < 0.3 else a}\t{b}\t{rng.integers(0, 4)}")
    lines += ["tie1\ttie2\t5", "tie1\ttie3\t5", "nope\tathens\t3", "ATHENS\tGreece\t7.5"]
    pairs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for restrict in (10, 300_000):
        assert_pairs_equal(
            kv, vectors, pairs, restrict_vocab=restrict, case_insensitive=case_insensitive
        )


def test_zero_vector_questions_and_candidates_equal_gensim(tmp_path: Path) -> None:
    vectors = hostile_vectors(4, 7)
    vectors.vectors[HOSTILE_WORDS.index("zero")] = 0
    kv = keyed_vectors(vectors)
    q = tmp_path / "q.txt"
    q.write_text(": s\nzero big small cold\nking queen man woman\nbig zero man king\n")
    with np.errstate(all="ignore"):
        want = gensim_analogies(kv, q, 30_000)
    assert ours_analogies(we.evaluate_analogies(vectors, q)) == want


def test_case_variants_take_the_most_frequent_vector() -> None:
    vectors = hostile_vectors(3, 1)
    index = vectors.index(case_insensitive=True, restrict=100)
    assert index["ATHENS"] == 0 and index["GREECE"] == 3
    assert index["STRASSE"] == HOSTILE_WORDS.index("straße")  # str.upper, as gensim
    assert vectors.index(case_insensitive=False, restrict=100)["Athens"] == 1
    assert "GREECE" not in vectors.index(case_insensitive=True, restrict=3)


# -- the model's word rows -----------------------------------------------------------------------------
def test_model_rows_are_the_words_in_frequency_order(stdlib_model: Path) -> None:
    from embedcli.modeldir import load_model

    vectors = wv.load_word_vectors(stdlib_model, "model")
    loaded = load_model(stdlib_model, mmap=True, classifier=False)
    vocab = loaded.vocab
    assert vectors.words == vocab.tokens[2:]  # no padding, no [UNK]
    np.testing.assert_array_equal(
        np.asarray(vectors.vectors), loaded.embeddings[2 : len(vocab.tokens)]
    )
    counts = [vocab.counts[vocab.token_to_id[w]] for w in vectors.words]
    assert counts == sorted(counts, reverse=True)


def test_bucket_rows_are_not_words(tmp_path: Path) -> None:
    model = train_model(
        SAMPLE / "train.txt", tmp_path / "m", "--word-ngrams", "2", "--buckets", "1000",
        "--epochs", "1",
    )  # fmt: skip
    vectors = wv.load_word_vectors(model)
    table = np.load(model / "embeddings.npy", mmap_mode="r")
    assert table.shape[0] == len(vectors.words) + 2 + 1000
    assert vectors.vectors.shape[0] == len(vectors.words)


# -- bad files -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("big bigger small smaller\n", ":1: a question before the first section"),
        ("\n\n", "no analogy section"),
        ("big bigger small smaller\n: s\n", ":1: a question before the first section"),
        (": s\nbig bigger small\n", ":2: expected a section line ': NAME' or a question of four"),
        (": s\nbig bigger small smaller x\n", "found 5 words"),
        (":s\n", ":1: expected a section line"),
    ],
)
def test_malformed_analogy_files_name_file_and_line(
    tmp_path: Path, content: str, needle: str
) -> None:
    q = tmp_path / "q.txt"
    q.write_text(content)
    with pytest.raises(DataError, match=needle.replace("(", r"\(")):
        we.read_analogies(q)


def test_non_utf8_and_bad_vector_files(tmp_path: Path) -> None:
    q = tmp_path / "q.txt"
    q.write_bytes(b": s\nbig \xff small smaller\n")
    with pytest.raises(FormatError, match=r"q.txt:2: not UTF-8"):
        we.read_analogies(q)
    v = tmp_path / "v.txt"
    v.write_text("2 3\na 1 2 3\nb 1 2\n")
    with pytest.raises(FormatError, match=r"v.txt:3: expected a word and 3 numbers, found 2"):
        wv.load_word_vectors(v)
    v.write_text("a 1 x 3\n")
    with pytest.raises(FormatError, match="not a number"):
        wv.load_word_vectors(v)
    b = tmp_path / "v.bin"
    b.write_bytes(b"2 3\na " + np.ones(3, "<f4").tobytes())
    with pytest.raises(FormatError, match="truncated after 1 of 2"):
        wv.load_word_vectors(b)


def test_pair_files_header_comments_and_simlex_layout(tmp_path: Path) -> None:
    vectors = hostile_vectors(8, 2)
    p = tmp_path / "p.tsv"
    p.write_text("# c\n\nbig\tsmall\t1\nking\tqueen\t8.5\nman\twoman\t7\nbig\tbigger\t9\n")
    assert [x[:2] for x in we.read_pairs(p)][:2] == [("big", "small"), ("king", "queen")]
    p.write_text("big\tsmall\t1\nking\tqueen\tlots\n")
    with pytest.raises(DataError, match=r"p.tsv:2: expected 3 fields .* and score 'lots'"):
        we.read_pairs(p)
    simlex = tmp_path / "SimLex-999.txt"
    simlex.write_text(
        "word1\tword2\tPOS\tSimLex999\tconc(w1)\n"
        "big\tsmall\tA\t1.5\t3\nking\tqueen\tN\t8.5\t4\nman\twoman\tN\t7\t4\n"
    )
    assert we.read_pairs(simlex) == [
        ("big", "small", 1.5),
        ("king", "queen", 8.5),
        ("man", "woman", 7.0),
    ]
    result = we.evaluate_pairs(vectors, simlex)
    assert result.pairs == 3 and result.spearman is not None


# -- the command -------------------------------------------------------------------------------------
def test_cli_json_and_table(stdlib_model: Path) -> None:
    args = [
        "evaluate-vectors", stdlib_model, "--analogies", SAMPLE / "analogies.txt",
        "--similarity", SAMPLE / "wordpairs.tsv",
    ]  # fmt: skip
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    (an,) = report["analogies"]
    assert [s["section"] for s in an["sections"]] == ["plural-nouns", "past-tense", "opposites"]
    assert an["total"]["questions"] == 20 and an["total"]["oov"] == 0 and an["oov_ratio"] == 0
    assert an["restrict_vocab"] == 30_000
    (pairs,) = report["similarity"]
    assert pairs["pairs"] == 28 and -1 <= pairs["spearman"] <= 1 and -1 <= pairs["pearson"] <= 1
    assert report["vectors"]["words"] > 4000 and report["vectors"]["format"] == "model"
    direct = we.evaluate_pairs(wv.load_word_vectors(stdlib_model), SAMPLE / "wordpairs.tsv")
    assert pairs["spearman"] == direct.spearman
    r = cli(*args)
    assert r.exit_code == 0, r.output
    for needle in ("plural-nouns", "Total accuracy", "Spearman", "wordpairs.tsv"):
        assert needle in r.stdout, r.stdout


def test_cli_all_oov_reports_zero_with_a_note(stdlib_model: Path, tmp_path: Path) -> None:
    q = tmp_path / "q.txt"
    q.write_text(": s\naaa bbb ccc ddd\n")
    p = tmp_path / "p.tsv"
    p.write_text("aaa\tbbb\t3\n")
    r = cli("evaluate-vectors", stdlib_model, "--analogies", q, "--similarity", p, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["analogies"][0]["accuracy"] == 0 and report["analogies"][0]["oov_ratio"] == 100
    assert report["similarity"][0]["spearman"] is None  # strict JSON: null, never NaN
    assert "Note:" in r.stderr and "accuracy 0" in r.stderr


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        ([], 2, "nothing to evaluate"),
        (["--analogies", "missing.txt"], 1, "cannot read missing.txt: no such file"),
        (["--similarity", "missing.tsv"], 1, "cannot read missing.tsv: no such file"),
        (["--analogies", "BAD"], 1, "BAD:2: expected a section line"),
        (["--analogies", "Q", "--format", "glove"], 2, "--format must be one of"),
        (["--analogies", "Q", "--restrict-vocab", "0"], 2, "--restrict-vocab"),
        (["--analogies", "Q", "--pairs-restrict-vocab", "-1"], 2, "--pairs-restrict-vocab"),
        (["--similarity", "Q", "--delimiter", ""], 2, "--delimiter must not be empty"),
    ],
)
def test_cli_errors_are_one_line(
    stdlib_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args, code, needle
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("BAD").write_text(": s\nonly three words\n")
    Path("Q").write_text(": s\nthread threads process processes\n")
    r = cli("evaluate-vectors", stdlib_model, *args)
    assert r.exit_code == code, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("Error: ") and needle in line, line
    assert r.stdout == ""


def test_cli_missing_model_and_word2vec_input(stdlib_model: Path, tmp_path: Path) -> None:
    r = cli("evaluate-vectors", tmp_path / "nope", "--analogies", SAMPLE / "analogies.txt")
    assert r.exit_code == 1 and "no such file or directory" in r.stderr, r.output
    out = tmp_path / "v.txt"
    assert cli("export", stdlib_model, "-f", "word2vec", "-o", out, "--words-only").exit_code == 0
    r = cli(
        "evaluate-vectors", out, "--similarity", SAMPLE / "wordpairs.tsv", "--json", "-f",
        "word2vec",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    direct = we.evaluate_pairs(wv.load_word_vectors(stdlib_model), SAMPLE / "wordpairs.tsv")
    assert report["similarity"][0]["spearman"] == direct.spearman
    assert report["vectors"]["format"] == "word2vec"


def test_command_never_imports_numba(stdlib_model: Path) -> None:
    code = (
        "import sys\nfrom embedcli.cli import main\n"
        f"sys.argv = ['embedcli', 'evaluate-vectors', {str(stdlib_model)!r}, '--similarity', "
        f"{str(SAMPLE / 'wordpairs.tsv')!r}, '--json']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "assert 'numba' not in sys.modules\nprint('NO NUMBA')\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert "NO NUMBA" in r.stdout


# -- models of kind "vectors" (embedcli pretrain) ------------------------------------------------------
def vectors_model(path: Path, words: list[str], counts: list[int], table: np.ndarray) -> Path:
    """A vectors model written by embedcli's own writer: pad 0, [UNK] 1, then the words."""
    from embedcli.pretrain import TrainedVectors
    from embedcli.subwords import SubwordSpec
    from embedcli.vectors_model import save_vectors_model
    from embedcli.vocab import Vocabulary

    vocab = Vocabulary(["", "[UNK]", *words], [0, 0, *counts])
    trained = TrainedVectors(
        words=list(words),
        counts=np.asarray(counts, np.int64),
        vectors=table,
        word_rows=table,
        subwords=SubwordSpec(0, 0, 0),
        subword_buckets=np.zeros(0, np.int64),
        subword_rows=np.zeros((0, table.shape[1]), np.float32),
        stats={},
    )
    extra = {"model": {"method": "skipgram", "window": 5, "negative": 5, "sample": 1e-4,
                       "epochs": 1, "lr": 0.05}}  # fmt: skip
    return save_vectors_model(path, trained, vocab, config_extra=extra)


def test_vectors_kind_model_read_through_its_loader(tmp_path: Path) -> None:
    table = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    model = vectors_model(tmp_path / "v", ["b", "a", "c", "d"], [5, 9, 9, 1], table)
    vectors = wv.load_word_vectors(model)
    assert vectors.kind == "vectors"
    assert vectors.words == ["a", "c", "b", "d"]  # by count, ties in vocabulary order
    np.testing.assert_array_equal(vectors.vectors, table[[1, 2, 0, 3]])
    (model / "embeddings.npy").write_bytes((model / "embeddings.npy").read_bytes()[:-4] + b"\0" * 4)
    with pytest.raises(FormatError, match="embeddings.npy"):
        wv.load_word_vectors(model)


def test_section_names_and_file_names_are_shown_as_text(stdlib_model: Path, tmp_path: Path) -> None:
    q = tmp_path / "[red]q[i].txt"
    q.write_text(": [bold]x[/bold] \x1b[31mred\n: :emoji: [link=http://x]y\nthread threads a b\n")
    r = cli("evaluate-vectors", stdlib_model, "--analogies", q)
    assert r.exit_code == 0, r.output
    assert "[bold]x[/bold] \\x1b[31mred" in r.stdout and "\x1b" not in r.stdout
    assert "[red]q[i].txt" in r.stdout and "[link=http://x]y" in r.stdout
    report = json.loads(cli("evaluate-vectors", stdlib_model, "--analogies", q, "--json").stdout)
    assert report["analogies"][0]["sections"][0]["section"] == "[bold]x[/bold] \x1b[31mred"
    assert report["analogies"][0]["sections"][1]["section"] == "emoji: [link=http://x]y"


def test_directories_and_non_finite_vectors_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="it is a directory"):
        we.read_analogies(tmp_path)
    with pytest.raises(DataError, match="it is a directory"):
        we.read_pairs(tmp_path)
    v = tmp_path / "v.txt"
    v.write_text("a 1 2\nb nan 2\n")
    with pytest.raises(FormatError, match="word 2 holds NaN or infinite"):
        wv.load_word_vectors(v)
    b = tmp_path / "v.bin"
    b.write_bytes(b"1 2\na " + np.array([1, np.inf], "<f4").tobytes())
    with pytest.raises(FormatError, match="word 1 holds NaN or infinite"):
        wv.load_word_vectors(b)


def test_gensims_own_arithmetic_alone_gives_the_same_answers(tmp_path, monkeypatch) -> None:
    """Every question through the per-question path (as near ties are): still gensim's answers;
    and the batched path really is trusted for most questions of well-spread vectors."""
    vectors = hostile_vectors(16, 5)
    kv = keyed_vectors(vectors)
    questions = hostile_analogy_file(tmp_path / "q.txt", 5)
    want = gensim_analogies(kv, questions, 30_000)
    calls = []
    exact = we._exact_best
    monkeypatch.setattr(we, "_exact_best", lambda *a: calls.append(1) or exact(*a))
    assert ours_analogies(we.evaluate_analogies(vectors, questions)) == want
    batched = len(calls)
    monkeypatch.setattr(we, "EXACT_GAP", np.inf)
    calls.clear()
    result = we.evaluate_analogies(vectors, questions)
    assert ours_analogies(result) == want
    assert len(calls) == result.total.answered > batched
