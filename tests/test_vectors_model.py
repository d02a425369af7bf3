"""The model directory of kind "vectors" (embedcli pretrain): its files, the loader's checks on a
damaged or hostile copy, out-of-vocabulary vectors from character n-grams against a plain numpy
computation, the table commands on it (lookup, nearest, export --words, embed, info, plot) and
the one-line refusal of the commands that need a classifier."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.errors import FormatError
from embedcli.ftcompat import token_hash
from embedcli.modeldir import load_model
from embedcli.pretrain import PretrainCorpus, PretrainSpec
from embedcli.subwords import SubwordSpec, char_ngrams, subword_buckets
from embedcli.vectors_model import (
    compose_subword_vectors,
    load_vectors_model,
    save_vectors_model,
)
from embedcli.vocab import Vocabulary

sys.path.insert(0, str(Path(__file__).parent))
from vectors_fixtures import standin_train_vectors  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORDS = ["socket", "sockets", "thread", "threads", "process", "file", "files", "café", "naïve"]
COUNTS = [90, 80, 70, 60, 50, 40, 30, 20, 10]
SPEC = PretrainSpec(dim=6, minn=3, maxn=5, buckets=2_000_000, epochs=1, seed=3)

runner = CliRunner()


def build(path: Path, spec: PretrainSpec = SPEC) -> tuple[Path, object, Vocabulary]:
    vocab = Vocabulary.from_counts(WORDS, COUNTS)
    first = 2
    corpus = PretrainCorpus(
        ids=np.arange(len(WORDS), dtype=np.int32),
        offsets=np.array([0, len(WORDS)], np.int64),
        counts=np.asarray(vocab.counts[first:], np.int64),
        words=vocab.tokens[first:],
    )
    trained = standin_train_vectors(corpus, spec)
    extra = {
        "model": {
            "method": spec.method,
            "window": 5,
            "negative": 5,
            "sample": 1e-4,
            "epochs": 1,
            "lr": 0.05,
        },
        "train": {"seed": spec.seed},
    }
    save_vectors_model(path, trained, vocab, config_extra=extra)
    return path, trained, vocab


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, Vocabulary]:
    return build(tmp_path_factory.mktemp("vec") / "model")


@pytest.fixture
def model(built: tuple) -> Path:
    return built[0]


def invoke(*args: object, input: str | None = None) -> object:
    return runner.invoke(app, [str(a) for a in args], input=input)


def naive_oov(word: str, spec: SubwordSpec, buckets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The mean of the rows of the word's n-grams that have one (float64), zeros when none."""
    found = []
    for gram in char_ngrams(word, spec.minn, spec.maxn):
        b = (token_hash(gram) & 0xFFFFFFFF) % spec.buckets
        hit = np.flatnonzero(buckets == b)
        if len(hit):
            found.append(rows[hit[0]].astype(np.float64))
    return np.mean(found, axis=0) if found else np.zeros(rows.shape[1])


# -- format ---------------------------------------------------------------------------------------
def test_files_config_and_rows_are_the_contract(built: tuple) -> None:
    path, trained, vocab = built
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "embeddings.npy",
        "subword_buckets.npy",
        "subword_rows.npy",
        "vocab.tsv",
    ]
    config = json.loads((path / "config.json").read_text())
    assert config["kind"] == "vectors"
    assert config["model"]["dim"] == 6 and config["model"]["method"] == "skipgram"
    assert config["model"]["subwords"] == {
        "minn": 3,
        "maxn": 5,
        "buckets": 2_000_000,
        "hash": "fasttext-fnv1a",
    }
    for name, digest in config["files"].items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == digest
    emb = np.load(path / "embeddings.npy")
    assert emb.dtype == np.float32 and emb.shape == (len(WORDS) + 2, 6)
    assert not emb[:2].any()
    np.testing.assert_array_equal(emb[2:], trained.vectors)
    np.testing.assert_array_equal(np.load(path / "subword_buckets.npy"), trained.subword_buckets)
    np.testing.assert_array_equal(np.load(path / "subword_rows.npy"), trained.subword_rows)
    assert Vocabulary.load(path / "vocab.tsv").tokens == vocab.tokens


def test_load_round_trip(built: tuple) -> None:
    path, trained, _ = built
    m = load_vectors_model(path)
    assert m.words == WORDS and m.counts.tolist() == COUNTS
    np.testing.assert_array_equal(m.vectors, trained.vectors)
    assert m.subwords == SubwordSpec(3, 5, 2_000_000)
    np.testing.assert_array_equal(m.word_vectors(["thread"]), trained.vectors[[2]])


def test_without_subwords_there_are_no_subword_files(tmp_path: Path) -> None:
    path, trained, _ = build(tmp_path / "plain", PretrainSpec(dim=4, minn=0, epochs=1))
    assert not (path / "subword_rows.npy").exists()
    config = json.loads((path / "config.json").read_text())
    assert config["model"]["subwords"] is None
    m = load_vectors_model(path)
    assert m.subwords is None
    assert not m.word_vectors(["sockettt"]).any()  # unknown, no subwords: zeros


# -- OOV composition ------------------------------------------------------------------------------
@pytest.mark.parametrize("word", ["sockett", "threading", "cafés", "naïveté", "zz", "x"])
def test_oov_vector_is_the_mean_of_the_known_ngram_rows(built: tuple, word: str) -> None:
    m = load_vectors_model(built[0])
    want = naive_oov(word, m.subwords, m.subword_buckets, np.asarray(m.subword_rows))
    got = m.word_vectors([word])[0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert m.word_id(word) is None


def test_composition_of_a_vocabulary_word_matches_its_stored_vector(built: tuple) -> None:
    """The stand-in composes (word row + n-gram rows) / (1 + n); the n-gram part is what
    compose_subword_vectors gives for the same word."""
    _, trained, _ = built
    sub = compose_subword_vectors(
        ["files"], trained.subwords, trained.subword_buckets, trained.subword_rows
    )[0]
    n = len(char_ngrams("files", 3, 5))
    want = (trained.word_rows[6] + n * sub) / (1 + n)
    np.testing.assert_allclose(trained.vectors[6], want, rtol=1e-5, atol=1e-6)


def test_compose_many_random_words_against_numpy() -> None:
    rng = np.random.default_rng(0)
    spec = SubwordSpec(2, 4, 97)
    buckets = np.sort(rng.choice(97, size=40, replace=False)).astype(np.int64)
    rows = rng.standard_normal((40, 5)).astype(np.float32)
    alphabet = list("abcdeé日")
    words = ["".join(rng.choice(alphabet, size=rng.integers(1, 8))) for _ in range(200)]
    got = compose_subword_vectors(words, spec, buckets, rows)
    want = np.stack([naive_oov(w, spec, buckets, rows) for w in words])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- damaged and hostile copies -------------------------------------------------------------------
def copy_model(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def rehash(path: Path, name: str) -> None:
    config = json.loads((path / "config.json").read_text())
    config["files"][name] = hashlib.sha256((path / name).read_bytes()).hexdigest()
    (path / "config.json").write_text(json.dumps(config))


def edit_config(path: Path, fn) -> None:
    config = json.loads((path / "config.json").read_text())
    fn(config)
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "name", ["embeddings.npy", "vocab.tsv", "subword_buckets.npy", "subword_rows.npy"]
)
def test_a_changed_byte_in_any_file_is_refused(model: Path, tmp_path: Path, name: str) -> None:
    path = copy_model(model, tmp_path / "m")
    data = bytearray((path / name).read_bytes())
    data[-1] ^= 1
    (path / name).write_bytes(bytes(data))
    with pytest.raises(FormatError, match=f"{name} is damaged: its sha256"):
        load_vectors_model(path)
    r = invoke("lookup", path, "socket", "--format", "tsv")
    if name in ("embeddings.npy", "subword_rows.npy"):  # lookup skips the large tables' hash
        assert r.exit_code == 0, r.output
    else:
        assert r.exit_code == 1 and "sha256" in r.output, r.output
    r = invoke("info", path)
    assert r.exit_code == 1 and "damaged" in r.output, r.output


@pytest.mark.parametrize("name", ["subword_rows.npy", "vocab.tsv"])
def test_a_missing_file_is_refused(model: Path, tmp_path: Path, name: str) -> None:
    path = copy_model(model, tmp_path / "m")
    (path / name).unlink()
    with pytest.raises(FormatError, match=f"{name} is missing"):
        load_vectors_model(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(kind="sentences"), "unknown model kind 'sentences'"),
        (lambda c: c["model"]["subwords"].update(hash="murmur3"), "not a scheme this embedcli"),
        (lambda c: c["model"]["subwords"].update(minn=4, maxn=3), "maxn must be an integer >= 4"),
        (lambda c: c["model"]["subwords"].update(buckets=2**31), "buckets must be < 2"),
        (lambda c: c["model"].update(method="glove"), "model.method must be one of"),
        (lambda c: c["model"].update(dim=0), "model.dim must be an integer >= 1"),
        (lambda c: c["files"].pop("subword_rows.npy"), "no sha256 for subword_rows.npy"),
        (lambda c: c.update(labels=["spam"]), "has no labels"),
        (lambda c: c["tokenizer"].update(lower=False), "'tokenizer' differs"),
    ],
)
def test_bad_config_is_refused_in_one_line(model: Path, tmp_path: Path, edit, message) -> None:
    path = copy_model(model, tmp_path / "m")
    edit_config(path, edit)
    with pytest.raises(FormatError, match=message):
        load_vectors_model(path)
    r = invoke("lookup", path, "socket")
    assert r.exit_code == 1, r.output
    assert r.output.count("Error:") == 1 and "Traceback" not in r.output, r.output


def put(a: np.ndarray, where: tuple, value: float) -> np.ndarray:
    a = a.copy()
    a[where] = value
    return a


def rewrite(path: Path, name: str, array: np.ndarray) -> None:
    np.save(path / name, array)
    rehash(path, name)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("subword_buckets.npy", lambda a: a[::-1].copy(), "sorted, unique"),
        ("subword_buckets.npy", lambda a: np.append(a[:-1], 2_000_000), "sorted, unique"),
        ("subword_buckets.npy", lambda a: a.astype(np.int32), "expected int64"),
        ("subword_rows.npy", lambda a: a[:-1], "expected float32"),
        ("subword_rows.npy", lambda a: put(a, (3, 1), np.nan), "NaN or Inf"),
        ("embeddings.npy", lambda a: put(a, (4, 0), np.inf), "NaN or Inf"),
        ("embeddings.npy", lambda a: a * np.float32(1e20), "values too large"),
        ("embeddings.npy", lambda a: a + 1, "padding/\\[UNK\\] rows must be zero"),
        ("embeddings.npy", lambda a: a.astype(np.float64), "expected float32"),
    ],
)
def test_bad_arrays_are_refused(model: Path, tmp_path: Path, name, change, message) -> None:
    path = copy_model(model, tmp_path / "m")
    rewrite(path, name, change(np.load(path / name)))
    with pytest.raises(FormatError, match=message):
        load_vectors_model(path)


def test_a_pickled_array_is_never_loaded(model: Path, tmp_path: Path) -> None:
    path = copy_model(model, tmp_path / "m")
    np.save(path / "subword_buckets.npy", np.array([object()], dtype=object), allow_pickle=True)
    rehash(path, "subword_buckets.npy")
    with pytest.raises(FormatError, match="not a plain array"):
        load_vectors_model(path)


# -- commands that need a classifier --------------------------------------------------------------
def test_classifier_loader_refuses_a_vectors_model(model: Path) -> None:
    with pytest.raises(FormatError, match="is a word-vector model \\(embedcli pretrain\\)"):
        load_model(model, command="predict")


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_predict_and_evaluate_say_what_the_model_is(model: Path, command: str) -> None:
    r = invoke(command, model, REPO / "sample_data" / "stdlib" / "test.txt")
    assert r.exit_code == 1, r.output
    assert r.stderr.strip() == (
        f"Error: {model} is a word-vector model (embedcli pretrain); {command} needs a "
        "classifier from embedcli train"
    )


def test_train_resume_from_a_vectors_model_says_what_it_is(model: Path, tmp_path: Path) -> None:
    r = invoke(
        "train",
        REPO / "sample_data" / "stdlib" / "train.txt",
        "-o",
        tmp_path / "m",
        "--resume",
        model,
    )
    assert r.exit_code == 1, r.output
    assert r.stderr.strip() == (
        f"Error: {model} is a word-vector model (embedcli pretrain); train --resume needs a "
        "checkpoint of embedcli train"
    )


# -- table commands --------------------------------------------------------------------------------
def test_lookup_marks_words_from_subwords(model: Path) -> None:
    m = load_vectors_model(model)
    r = invoke("lookup", model, "socket", "Sockett", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0]["token"] == "socket" and rows[0]["id"] == 2 and "from_subwords" not in rows[0]
    assert rows[1] == {
        "token": "sockett",
        "id": -1,
        "from_subwords": True,
        "vector": rows[1]["vector"],
    }
    np.testing.assert_allclose(rows[1]["vector"], m.word_vectors(["sockett"])[0], rtol=1e-6)
    assert "from subwords" in r.stderr
    r = invoke("lookup", model, "--sentence", "the sockett", "--format", "tsv")
    assert r.exit_code == 0, r.output
    assert [line.split("\t")[:2] for line in r.stdout.splitlines()] == [
        ["the", "-1"],
        ["sockett", "-1"],
    ]


def test_lookup_without_subwords_uses_the_unk_row(tmp_path: Path) -> None:
    path, _, _ = build(tmp_path / "plain", PretrainSpec(dim=4, minn=0, epochs=1))
    r = invoke("lookup", path, "sockett", "--format", "tsv")
    assert r.exit_code == 0, r.output
    assert r.stdout.split("\t")[:2] == ["sockett", "1"] and "[UNK]" in r.stderr
    r = invoke("nearest", path, "sockett")
    assert r.exit_code == 1 and "none of the query words" in r.stderr, r.output


def test_nearest_queries_an_unknown_word_by_its_ngrams(model: Path) -> None:
    m = load_vectors_model(model)
    r = invoke("nearest", model, "sockett", "socket", "-k", "3", "--format", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [q["query"] for q in out] == ["sockett", "socket"]
    q = m.word_vectors(["sockett"])[0].astype(np.float64)
    emb = np.asarray(m.vectors, np.float64)
    cos = emb @ q / (np.linalg.norm(emb, axis=1) * np.linalg.norm(q))
    want = [WORDS[i] for i in np.argsort(-cos, kind="stable")[:3]]
    assert [n["word"] for n in out[0]["neighbors"]] == want
    np.testing.assert_allclose(
        [n["score"] for n in out[0]["neighbors"]], np.sort(cos)[::-1][:3], rtol=1e-5
    )
    assert "socket" not in [n["word"] for n in out[1]["neighbors"]]  # a known word: excluded
    assert "from subwords" in r.stderr


def test_analogy_and_plot_work(model: Path, tmp_path: Path) -> None:
    r = invoke("analogy", model, "socket", "sockets", "file", "-k", "2", "--format", "json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)[0]["neighbors"]) == 2
    r = invoke("plot", model, "-o", tmp_path / "p.png", "--top", "5")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.parametrize("fmt", ["npy", "csv", "word2vec", "word2vec-binary", "projector"])
def test_export_all_formats(model: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"x.{fmt}"
    r = invoke("export", model, "--format", fmt, "-o", out, "--words-only")
    assert r.exit_code == 0, r.output
    if fmt == "npy":
        np.testing.assert_array_equal(np.load(out), load_vectors_model(model).vectors)


def test_export_words_writes_any_word_like_print_word_vectors(model: Path, tmp_path: Path) -> None:
    gensim = pytest.importorskip("gensim")
    m = load_vectors_model(model)
    words = tmp_path / "words.txt"
    words.write_text("socket Sockett\nzzqq\n\ncafé thread\n", encoding="utf-8")
    out = tmp_path / "w.vec"
    r = invoke("export", model, "--format", "word2vec", "--words", words, "-o", out)
    assert r.exit_code == 0, r.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "5 6"
    assert [line.split(" ")[0] for line in lines[1:]] == [
        "socket",
        "Sockett",
        "zzqq",
        "café",
        "thread",
    ]
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(out), binary=False)
    np.testing.assert_array_equal(kv["socket"], m.vectors[0])
    np.testing.assert_array_equal(kv["Sockett"], m.word_vectors(["sockett"])[0])
    assert not kv["zzqq"].any()  # no n-gram of it has a row
    r = invoke("export", model, "--format", "csv", "--words", "-", "-o", "-", input="thread\n")
    assert r.exit_code == 0 and r.stdout.splitlines()[1].startswith("thread,"), r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "npy"], "holds no words"),
        (["--format", "word2vec", "--words-only"], "drop --words-only"),
    ],
)
def test_export_words_refusals(model: Path, tmp_path: Path, args, message) -> None:
    words = tmp_path / "words.txt"
    words.write_text("socket\n")
    r = invoke("export", model, *args, "--words", words, "-o", tmp_path / "o")
    assert r.exit_code == 2 and message in r.stderr, r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_embed_is_the_mean_of_word_vectors(model: Path, tmp_path: Path) -> None:
    m = load_vectors_model(model)
    src = tmp_path / "lines.txt"
    src.write_text("socket thread\nsockett zzqq\n\nqqqq\n", encoding="utf-8")
    out = tmp_path / "e.npy"
    r = invoke("embed", model, src, "-o", out)
    assert r.exit_code == 0, r.output
    got = np.load(out)
    assert got.shape == (4, 6)
    np.testing.assert_allclose(got[0], (m.vectors[0] + m.vectors[2]) / 2, rtol=1e-6)
    # zzqq has no n-gram row: left out of the mean, as fastText leaves zero vectors out
    np.testing.assert_allclose(got[1], m.word_vectors(["sockett"])[0], rtol=1e-6)
    assert not got[2].any() and not got[3].any()


def test_info_shows_kind_method_and_subwords(model: Path) -> None:
    r = invoke("info", model, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["kind"] == "vectors" and info["model"]["method"] == "skipgram"
    assert info["words"] == len(WORDS) and info["subword_rows"] > 0
    assert info["model"]["subwords"]["hash"] == "fasttext-fnv1a"
    r = invoke("info", model)
    assert r.exit_code == 0, r.output
    assert "word vectors" in r.stdout and "3-5-grams" in r.stdout and "skipgram" in r.stdout


@pytest.mark.parametrize(
    "args",
    [["lookup", "{m}", "sockett", "socket"], ["info", "{m}"], ["nearest", "{m}", "sockett"]],
)
def test_lookup_info_nearest_do_not_import_numba(model: Path, args: list[str]) -> None:
    argv = [a.format(m=model) for a in args]
    code = (
        "import sys\n"
        "from embedcli.cli import app\n"
        "try:\n"
        f"    app({argv!r})\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "assert 'numba' not in sys.modules, 'numba imported'\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert r.returncode == 0, r.stderr


def test_compose_equals_the_trainers_compose_oov_bit_for_bit() -> None:
    pretrain = pytest.importorskip("embedcli.pretrain")
    if not hasattr(pretrain, "compose_oov"):
        pytest.skip("the trainer has not landed yet")
    rng = np.random.default_rng(5)
    spec = SubwordSpec(3, 6, 50_000)
    words = ["".join(rng.choice(list("abcdefgé"), size=rng.integers(1, 12))) for _ in range(300)]
    buckets = np.unique(np.concatenate(subword_buckets(words[:150], spec)))
    rows = rng.standard_normal((len(buckets), 7)).astype(np.float32)
    mine = compose_subword_vectors(words, spec, buckets, rows)
    np.testing.assert_array_equal(mine, pretrain.compose_oov(words, spec, buckets, rows))


def test_export_words_refuses_a_classifier_model(tmp_path: Path) -> None:
    clf = tmp_path / "clf"
    train = REPO / "sample_data" / "stdlib" / "train.txt"
    r = invoke("train", train, "-o", clf, "--dim", "4", "--epochs", "1", "--threads", "1", "-q")
    assert r.exit_code == 0, r.output
    words = tmp_path / "w.txt"
    words.write_text("socket\n")
    r = invoke("export", clf, "--format", "word2vec", "--words", words, "-o", tmp_path / "o.vec")
    assert r.exit_code == 2, r.output
    assert "--words needs a word-vector model (embedcli pretrain)" in r.stderr
    assert not (tmp_path / "o.vec").exists()
