"""The Python API (``embedcli.train/pretrain/load`` and ``Model``) against the commands: the same
models, the same numbers, the same options, checks and named errors; quiet; lazy imports."""

from __future__ import annotations

import doctest
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import embedcli
from embedcli.cli import app
from embedcli.corpus import parse_fasttext_line

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "sample_data" / "stdlib" / "train.txt"
TEST = REPO / "sample_data" / "stdlib" / "test.txt"
OPTS = dict(dim=16, epochs=3, seed=1, threads=1)
CLI_OPTS = ["--dim", "16", "--epochs", "3", "--seed", "1", "--threads", "1", "--quiet"]
PRE_OPTS = dict(dim=12, epochs=2, seed=1, threads=1, min_count=2, buckets=20_000)
PRE_CLI = ["--dim", "12", "--epochs", "2", "--seed", "1", "--threads", "1", "--min-count", "2"]
PRE_CLI += ["--buckets", "20000", "--quiet"]
runner = CliRunner()


def cli(*args: object) -> str:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r.stdout


def test_texts() -> list[str]:
    lines = TEST.read_text(encoding="utf-8").splitlines()
    return [parse_fasttext_line(line, "__label__").text for line in lines]


test_texts.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("cli") / "model"
    cli("train", TRAIN, "-o", out, *CLI_OPTS)
    return str(out)


@pytest.fixture(scope="module")
def model() -> embedcli.Model:
    return embedcli.train(TRAIN, **OPTS)


@pytest.fixture(scope="module")
def cli_vectors(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("cli") / "vectors"
    cli("pretrain", TRAIN, "-o", out, *PRE_CLI)
    return str(out)


@pytest.fixture(scope="module")
def vectors() -> embedcli.Model:
    return embedcli.pretrain(TRAIN, **PRE_OPTS)


# -- the same model -------------------------------------------------------------------------------
def test_train_gives_the_model_the_command_writes(model, cli_model) -> None:
    loaded = embedcli.load(cli_model)
    assert np.array_equal(model.embeddings, loaded.embeddings)
    for key in ("out_W", "out_b"):
        assert np.array_equal(model._table.classifier[key], loaded._table.classifier[key])
    assert model.labels == loaded.labels and model.words == loaded.words
    assert model.config["model"] == loaded.config["model"]
    assert model.config["train"] == loaded.config["train"]


def test_an_in_memory_corpus_gives_the_same_model_as_the_file(model) -> None:
    docs = [parse_fasttext_line(line, "__label__") for line in TRAIN.read_text().splitlines()]
    pairs = [(d.text, list(d.labels)) for d in docs]
    again = embedcli.train(iter(pairs), **OPTS)  # a generator: read once, no temporary file
    assert np.array_equal(again.embeddings, model.embeddings)
    assert again.words == model.words and again.labels == model.labels


def test_pretrain_gives_the_vectors_the_command_writes_from_a_file_or_memory(
    vectors, cli_vectors
) -> None:
    loaded = embedcli.load(cli_vectors)
    assert loaded.kind == vectors.kind == "vectors"
    assert np.array_equal(vectors.embeddings, loaded.embeddings)
    assert np.array_equal(vectors._table.subword_rows, loaded._table.subword_rows)
    texts = [parse_fasttext_line(x, "__label__").text for x in TRAIN.read_text().splitlines()]
    again = embedcli.pretrain(texts, **PRE_OPTS)
    assert np.array_equal(again.embeddings, vectors.embeddings)


# -- the same numbers as the commands ------------------------------------------------------------
def test_predict_equals_the_predict_command(model, cli_model) -> None:
    lines = cli("predict", cli_model, TEST, "--k", "2", "--proba").splitlines()
    got = [
        " ".join(f"__label__{label} {p:g}" for label, p in pred)
        for pred in model.predict(test_texts(), k=2)
    ]
    assert got == lines
    one = model.predict(test_texts()[0], k=2)
    assert " ".join(f"__label__{lab} {p:g}" for lab, p in one) == lines[0]


def test_predict_proba_holds_the_predicted_probabilities(model) -> None:
    texts = test_texts()[:50]
    proba = model.predict_proba(texts)
    assert proba.shape == (50, len(model.labels)) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    for row, pred in zip(proba, model.predict(texts), strict=True):
        (label, p) = pred[0]
        assert model.labels[int(row.argmax())] == label and row.max() == np.float32(p)


def test_embed_equals_the_embed_command(model, cli_model, vectors, cli_vectors, tmp_path) -> None:
    for m, path in ((model, cli_model), (vectors, cli_vectors)):
        out = tmp_path / f"{m.kind}.npy"
        cli("embed", path, TEST, "-o", out)
        assert np.array_equal(m.embed(test_texts()), np.load(out))


def test_evaluate_equals_the_evaluate_command(model, cli_model) -> None:
    report = json.loads(cli("evaluate", cli_model, TEST, "--json"))
    assert model.evaluate(TEST) == report
    pairs = [
        (d.text, d.labels)
        for d in map(lambda x: parse_fasttext_line(x, "__label__"), TEST.read_text().splitlines())
    ]
    assert model.evaluate(pairs) == report


def test_explain_equals_predict_explain(model, cli_model, tmp_path) -> None:
    text = "send the bytes over a socket connection"
    (tmp_path / "one.txt").write_text(text + "\n")
    lines = cli("predict", cli_model, tmp_path / "one.txt", "--explain", "-f", "json")
    ex = json.loads(lines.splitlines()[1])["explain"]
    got = model.explain(text)
    assert got["label"] == ex["label"] and got["score"] == pytest.approx(ex["score"], abs=1e-6)
    assert [f for f, _ in got["features"]] == [c["feature"] for c in ex["contributions"]]
    assert [v for _, v in got["features"]] == pytest.approx(
        [c["value"] for c in ex["contributions"]], abs=1e-6
    )


def test_nearest_analogy_and_vector_equal_the_table_commands(model, cli_model) -> None:
    rows = [
        line.split("\t")
        for line in cli("nearest", cli_model, "socket", "-k", "5", "-f", "tsv").splitlines()
    ]
    assert [(w, f"{s:.6f}") for w, s in model.nearest("socket", 5)] == [(r[1], r[2]) for r in rows]
    rows = cli("analogy", cli_model, "thread", "threads", "process", "-k", "3", "-f", "tsv")
    expected = [tuple(r.split("\t")[1:]) for r in rows.splitlines()]
    got = [(w, f"{s:.6f}") for w, s in model.analogy("thread", "threads", "process", 3)]
    assert got == expected
    row = cli("lookup", cli_model, "socket", "-f", "tsv").split("\t")
    assert np.array_equal(model.vector("socket"), np.array(row[2:], dtype=np.float32))
    by_vector = model.nearest(model.vector("socket"), 6)
    expected = model.nearest("socket", 5)
    assert by_vector[0][0] == "socket" and [w for w, _ in by_vector[1:]] == [w for w, _ in expected]
    assert [s for _, s in by_vector[1:]] == pytest.approx([s for _, s in expected], abs=1e-6)


def test_word_vectors_compose_unknown_words_from_subwords(vectors, cli_vectors) -> None:
    word = "socketization"
    assert word not in vectors.words
    row = cli("lookup", cli_vectors, word, "-f", "tsv").split("\t")
    assert row[1] == "-1"
    assert np.array_equal(vectors.vector(word), np.array(row[2:], dtype=np.float32))
    nearest = cli("nearest", cli_vectors, word, "-k", "3", "-f", "tsv").splitlines()
    assert [w for w, _ in vectors.nearest(word, 3)] == [r.split("\t")[1] for r in nearest]


# -- writing --------------------------------------------------------------------------------------
def test_save_then_load_round_trips_and_the_commands_read_it(model, vectors, tmp_path) -> None:
    for m in (model, vectors):
        out = tmp_path / m.kind
        assert m.save(out) == str(out)
        back = embedcli.load(out)
        assert back.kind == m.kind and back.path == str(out)
        assert np.array_equal(back.embeddings, m.embeddings) and back.words == m.words
        assert json.loads(cli("info", out, "--json"))["files"]
        with pytest.raises(embedcli.UsageError):  # never over the directory it was read from
            back.save(out)
        assert repr(back).startswith(f"Model(kind='{m.kind}', words={len(m.words)}")
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(embedcli.UsageError):
        model.save(foreign)
    assert (foreign / "cat.jpg").read_bytes() == b"\xff\xd8"


def test_save_writes_the_files_the_commands_write(model, cli_model, vectors, cli_vectors, tmp_path):
    for m, theirs in ((model, cli_model), (vectors, cli_vectors)):
        ours = Path(m.save(tmp_path / m.kind))
        names = sorted(p.name for p in Path(theirs).iterdir())
        assert sorted(p.name for p in ours.iterdir()) == names
        for name in names:
            if name not in ("config.json", "classifier.npz"):  # npz: zip timestamps
                assert (ours / name).read_bytes() == (Path(theirs) / name).read_bytes(), name
        a, b = (json.loads((d / "config.json").read_text()) for d in (ours, Path(theirs)))
        assert a["model"] == b["model"] and a["train"] == b["train"] and a["files"] == b["files"]
        assert a["corpus"] == b["corpus"] and a["tokenizer"] == b["tokenizer"]


def test_export_equals_the_export_command(model, cli_model, tmp_path) -> None:
    cli("export", cli_model, "--format", "word2vec", "-o", tmp_path / "cli.txt", "--words-only")
    assert model.export(tmp_path / "api.txt", "word2vec", words_only=True) == [
        str(tmp_path / "api.txt")
    ]
    assert (tmp_path / "api.txt").read_bytes() == (tmp_path / "cli.txt").read_bytes()


def test_to_gensim_gives_the_same_neighbours(model, vectors) -> None:
    pytest.importorskip("gensim")
    for m in (model, vectors):
        kv = m.to_gensim()
        assert list(kv.index_to_key) == m.words
        assert kv.get_vecattr("socket", "count") == m.vocab.counts[m.word_id("socket")]
        ours = m.nearest("socket", 5)
        assert [kv.similarity("socket", w) for w, _ in ours] == pytest.approx(
            [s for _, s in ours], abs=1e-5
        )
        if m.kind == "classifier":  # well separated scores: the same order
            assert [w for w, _ in kv.most_similar("socket", topn=5)] == [w for w, _ in ours]


def test_progress_draws_on_stderr_only(capfd) -> None:
    docs = [("open a socket", "net"), ("parse the json file", "data")] * 20
    embedcli.train(docs, dim=8, epochs=2, seed=1, threads=1, progress=True)
    assert capfd.readouterr().out == ""


# -- errors, quiet, callbacks ---------------------------------------------------------------------
def test_errors_are_the_named_errors_of_the_commands(model, vectors, cli_vectors) -> None:
    docs = [("open a socket", "net"), ("parse json", "data")] * 5
    with pytest.raises(embedcli.UsageError, match="--dim"):
        embedcli.train(docs, dim=0)
    with pytest.raises(embedcli.UsageError, match="--val-split"):
        embedcli.train(docs, val_split=1.0)
    with pytest.raises(embedcli.UsageError, match="optimizer"):
        embedcli.train(docs, optimizer="rmsprop", epochs=1)
    with pytest.raises(embedcli.UsageError, match="not both"):
        embedcli.train(docs, val=TEST, val_split=0.1)
    with pytest.raises(embedcli.UsageError, match="--pool flatten needs --maxlen"):
        embedcli.train(docs, pool="flatten")
    with pytest.raises(embedcli.DataError, match="item 1 has no label"):
        embedcli.train(["open a socket", "parse json"])
    with pytest.raises(embedcli.DataError, match="at least 2 distinct labels"):
        embedcli.train([("a b", "x")] * 3, epochs=1)
    with pytest.raises(embedcli.UsageError, match="--window"):
        embedcli.pretrain(["a b c"], window=0)
    with pytest.raises(embedcli.UsageError, match="--k"):
        model.predict("socket", k=0)
    with pytest.raises(embedcli.UsageError, match="--threshold"):
        model.predict("socket", threshold=1.5)
    with pytest.raises(embedcli.UsageError, match="--threads"):
        model.embed("socket", threads=0)
    with pytest.raises(embedcli.DataError, match="not a word"):
        model.nearest("zzzzqqq")
    r = runner.invoke(app, ["predict", cli_vectors, str(TEST)])
    with pytest.raises(embedcli.FormatError) as caught:
        embedcli.load(cli_vectors).predict("a socket")
    assert r.exit_code == 1 and str(caught.value) in r.stderr.replace("\n", " ")
    with pytest.raises(embedcli.FormatError, match="not found"):
        embedcli.load(REPO / "no-such-model")


def test_nothing_is_printed_and_the_callback_hears_every_epoch(capfd) -> None:
    seen: list[int] = []
    docs = [("open a socket", "net"), ("parse the json file", "data")] * 20
    m = embedcli.train(
        docs, dim=8, epochs=4, seed=1, threads=1, callback=lambda r: seen.append(r["epoch"])
    )
    m.predict(["a socket"]), m.embed(["a socket"]), m.nearest("socket", 2)
    words: list[int] = []
    embedcli.pretrain(
        [t for t, _ in docs],
        dim=8,
        epochs=3,
        min_count=1,
        seed=1,
        threads=1,
        callback=lambda r: words.append(r["epoch"]),
    )
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert seen == [1, 2, 3, 4] and words == [1, 2, 3]


# -- the same options as the commands -------------------------------------------------------------
API_ONLY = {"corpus", "callback", "progress"}
#: what only the command line has: how it prints (autotune, checkpoints, --resume, --dry-run and
#: --output are the API's too: issue #10)
CLI_ONLY = {"corpus", "quiet", "json_out"}
#: train's and pretrain's Dask cluster (--engine/--scheduler/--workers/--partition-size) is the
#: command's: in a notebook, prepare an encoded shard directory (``encode --engine dask -o DIR``)
#: and pass its path
CLI_ONLY_ENGINE = {"engine", "scheduler", "workers", "partition_size"}


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_the_api_has_the_commands_options_defaults_and_ranges(command) -> None:
    from embedcli import api
    from embedcli.cli.app import command_group

    cli_only = CLI_ONLY | CLI_ONLY_ENGINE
    params = [p for p in command_group().commands[command].params if p.name not in cli_only]
    options = {max(p.opts, key=len)[2:].replace("-", "_"): p for p in params}
    signature = inspect.signature(getattr(api, command)).parameters
    assert set(signature) - API_ONLY == set(options)
    assert inspect.signature(getattr(embedcli, command)) == inspect.signature(getattr(api, command))
    ranges = api.TRAIN_RANGES if command == "train" else api.PRETRAIN_RANGES
    for name, p in options.items():
        if name == "output":  # "" on the command line (then required), None (in memory) here
            assert not signature[name].default and not p.default
            continue
        assert signature[name].default == p.default, name
        low, high = getattr(p.type, "min", None), getattr(p.type, "max", None)
        if low is not None or high is not None:
            assert ranges[name][:2] == (low, high), name
    assert set(ranges) == {
        n for n, p in options.items() if getattr(p.type, "min", None) is not None
    }


# -- imports --------------------------------------------------------------------------------------
def test_import_and_load_stay_numba_free(cli_model) -> None:
    code = f"""
import sys
import embedcli
heavy = [m for m in ("numba", "numpy", "rich", "typer") if m in sys.modules]
assert not heavy, heavy
m = embedcli.load({cli_model!r})
m.words, m.labels, m.vector("socket"), m.nearest("socket", 3), repr(m)
assert "numba" not in sys.modules, "numba after load"
m.predict("a socket")
assert "numba" in sys.modules
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr


def test_the_train_and_pretrain_modules_stay_importable() -> None:
    import embedcli.train as train_module
    from embedcli import pretrain as pretrain_module

    assert callable(train_module) and hasattr(train_module, "fit")
    assert callable(pretrain_module) and hasattr(pretrain_module, "train_vectors")


# -- the documentation runs -----------------------------------------------------------------------
def readme_python_blocks() -> list[str]:
    """The ``python`` blocks of the README's "Python API" section (the interop section's block
    needs torch and Keras: tests/test_interop_real.py runs it)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch) -> None:
    blocks = readme_python_blocks()
    assert blocks, "the README has no python example"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample_data").symlink_to(REPO / "sample_data")
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102


@pytest.mark.parametrize("module", ["embedcli.api", "embedcli.api_model", "embedcli.memcorpus"])
def test_the_doctests_of_the_api_modules_pass(module, monkeypatch) -> None:
    import importlib

    monkeypatch.chdir(REPO)
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, extraglobs={"embedcli": embedcli}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_the_commands_compute_through_the_api(
    cli_model, cli_vectors, monkeypatch, tmp_path
) -> None:
    from embedcli.api_model import Model

    calls: list[str] = []
    for name in ("load", "predict_batch", "evaluation", "embed_batch", "subword_query"):
        real = getattr(Model, name)
        if name == "load":
            spy = classmethod(lambda cls, *a, _r=real, **k: calls.append("load") or _r(*a, **k))
        else:
            spy = (lambda r, n: lambda self, *a, **k: calls.append(n) or r(self, *a, **k))(
                real, name
            )
        monkeypatch.setattr(Model, name, spy)
    cli("predict", cli_model, TEST)
    cli("evaluate", cli_model, TEST)
    cli("embed", cli_model, TEST, "-o", tmp_path / "e.npy")
    cli("nearest", cli_vectors, "socketization", "-f", "tsv")
    cli("analogy", cli_model, "thread", "threads", "process", "-f", "tsv")
    cli("lookup", cli_model, "socket", "-f", "tsv")
    assert calls.count("load") == 6
    for name in ("predict_batch", "evaluation", "embed_batch", "subword_query"):
        assert name in calls, name


def test_the_top_level_names() -> None:
    from embedcli import api, errors
    from embedcli.api_model import Model

    assert embedcli.Model is Model and embedcli.load is api.load
    assert (embedcli.UsageError, embedcli.DataError, embedcli.FormatError) == (
        errors.UsageError,
        errors.DataError,
        errors.FormatError,
    )
    assert issubclass(embedcli.FormatError, embedcli.DataError)
    assert {"train", "pretrain", "load", "Model", "UsageError"} <= set(dir(embedcli))


def test_the_prediction_ranges_are_the_commands() -> None:
    from embedcli.api_model import PREDICT_RANGES
    from embedcli.cli.app import command_group

    for command in ("predict", "evaluate", "embed"):
        for p in command_group().commands[command].params:
            if p.name in PREDICT_RANGES:
                assert PREDICT_RANGES[p.name][:2] == (p.type.min, p.type.max), (command, p.name)


def test_to_gensim_without_gensim_says_how_to_install_it(model, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gensim", None)  # import gensim -> ImportError
    monkeypatch.setitem(sys.modules, "gensim.models", None)
    with pytest.raises(embedcli.UsageError, match=r"pip install 'embedcli\[gensim\]'"):
        model.to_gensim()
