"""The table commands (`export`, `info`, `plot`, `evaluate-vectors`) are one library call each,
and `lookup` gives an unknown word the vector `Model.vector` gives (fastText's getWordVector:
on a classifier with subwords, the mean of its character n-gram rows)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import embedcli
from embedcli.cli import app

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "sample_data" / "stdlib" / "train.txt"
ANALOGIES = REPO / "sample_data" / "stdlib" / "analogies.txt"
PAIRS = REPO / "sample_data" / "stdlib" / "wordpairs.tsv"
OOV = "socketizationx"
runner = CliRunner()


def cli(*args: object, code: int = 0) -> str:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == code, (r.stdout, r.stderr)
    return r.stdout


@pytest.fixture(scope="module")
def subword_classifier(tmp_path_factory) -> str:
    """A real classifier trained with character n-grams (fastText's supervised -minn/-maxn)."""
    out = tmp_path_factory.mktemp("sub") / "model"
    cli("train", TRAIN, "-o", out, "--dim", "8", "--epochs", "2", "--minn", "3", "--maxn", "5",
        "--buckets", "20000", "--seed", "1", "--threads", "1", "--quiet")  # fmt: skip
    return str(out)


# -- the OOV rule: one implementation -------------------------------------------------------------
def test_lookup_of_an_unknown_word_is_model_vector_the_mean_of_its_ngram_rows(
    subword_classifier,
) -> None:
    from embedcli.sequences import word_ngram_hashes

    rows = json.loads(cli("lookup", subword_classifier, OOV, "socket", "-f", "json"))
    model = embedcli.load(subword_classifier)
    assert model.has_subwords
    unknown, known = rows
    assert unknown["token"] == OOV and unknown["id"] == -1 and unknown["from_subwords"] is True
    printed = np.array(unknown["vector"], dtype=np.float32)
    assert np.array_equal(printed, model.vector(OOV))
    # the rows training uses for the word's n-grams (the kernel's hash, not subwords.py's)
    spec = model.config["model"]
    hashes, _ = word_ngram_hashes([OOV], 3, 5)
    ids = spec["num_words"] + hashes.view(np.uint32).astype(np.int64) % spec["buckets"]
    expected = np.asarray(model.embeddings[ids], dtype=np.float32).mean(axis=0)
    np.testing.assert_allclose(printed, expected, rtol=1e-6, atol=1e-7)
    assert not np.allclose(printed, model.embeddings[model.vocab.unk_id])
    assert np.array_equal(np.array(known["vector"], np.float32), model.vector("socket"))
    assert known["id"] == model.word_id("socket")


def test_lookup_tsv_and_nearest_use_the_same_rule(subword_classifier) -> None:
    model = embedcli.load(subword_classifier)
    token, row_id, *values = cli("lookup", subword_classifier, OOV, "-f", "tsv").split("\t")
    assert (token, row_id) == (OOV, "-1")
    assert np.array_equal(np.array(values, dtype=np.float32), model.vector(OOV))
    lines = cli("nearest", subword_classifier, OOV, "-k", "3", "-f", "tsv").splitlines()
    assert [line.split("\t")[1] for line in lines] == [w for w, _ in model.nearest(OOV, k=3)]


def test_a_quantized_cut_classifier_leaves_pruned_ngrams_out(subword_classifier, tmp_path):
    small = tmp_path / "small"
    cli("quantize", subword_classifier, "-o", small, "--cutoff", "3000", "--seed", "1", "--quiet")
    from embedcli.sequences import word_ngram_hashes

    model = embedcli.load(small)
    spec = model.config["model"]
    hashes, _ = word_ngram_hashes([OOV], 3, 5)
    every = spec["num_words"] + hashes.view(np.uint32).astype(np.int64) % spec["buckets"]
    rows, total = every[model.embeddings.stored_rows(every) >= 0], len(every)
    assert 0 < len(rows) < total  # some of its n-gram buckets were cut
    r = runner.invoke(app, ["lookup", str(small), OOV, "-f", "tsv"])
    assert r.exit_code == 0, r.stderr
    assert f"the mean of {len(rows)} of its {total} character n-grams" in r.stderr
    values = np.array(r.stdout.split("\t")[2:], dtype=np.float32)
    assert np.array_equal(values, model.vector(OOV))
    expected = np.asarray(model.embeddings[rows], dtype=np.float32).mean(axis=0)
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-7)


def test_lookup_of_an_unknown_word_stays_numba_free(subword_classifier) -> None:
    script = (
        "import sys\nfrom typer.testing import CliRunner\nfrom embedcli.cli import app\n"
        f"r = CliRunner().invoke(app, ['lookup', {subword_classifier!r}, {OOV!r}, '-f', 'tsv'])\n"
        "assert r.exit_code == 0, r.stderr\nassert r.stdout.split()[1] == '-1'\n"
        "assert 'numba' not in sys.modules\nprint('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# -- one library call per command -----------------------------------------------------------------
def spy(monkeypatch, owner, name, calls, result=None):
    real = getattr(owner, name)

    def wrapper(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs) if result is None else result

    monkeypatch.setattr(owner, name, wrapper)


def test_export_is_model_export(subword_classifier, monkeypatch, tmp_path) -> None:
    import embedcli.exporters as exporters
    from embedcli.api_model import Model

    calls: list[str] = []
    spy(monkeypatch, Model, "export", calls)
    spy(monkeypatch, exporters, "export_embeddings", calls)
    out = tmp_path / "v.txt"
    r = runner.invoke(
        app, ["export", subword_classifier, "-f", "word2vec", "-o", str(out), "--words-only"]
    )
    assert r.exit_code == 0, r.stderr
    assert calls == ["export", "export_embeddings"]
    model = embedcli.load(subword_classifier)
    assert out.read_text(encoding="utf-8").split("\n", 1)[0] == f"{len(model.words)} 8"
    assert f"exported {len(model.words):,} rows x 8 (word2vec)" in r.stderr


def test_export_words_goes_through_the_api(tmp_path, monkeypatch) -> None:
    from embedcli.api_model import Model

    vectors = tmp_path / "vectors"
    cli("pretrain", TRAIN, "-o", vectors, "--dim", "8", "--epochs", "1", "--min-count", "2",
        "--buckets", "20000", "--seed", "1", "--threads", "1", "--quiet")  # fmt: skip
    calls: list[str] = []
    spy(monkeypatch, Model, "export", calls)
    r = runner.invoke(
        app,
        ["export", str(vectors), "-f", "word2vec", "-o", str(tmp_path / "w.txt"), "--words", "-"],
        input="socket socketizationx\n",
    )
    assert r.exit_code == 0, r.stderr
    assert calls == ["export"]
    model = embedcli.load(vectors)
    api = model.export(tmp_path / "api.txt", "word2vec", words=["socket", "socketizationx"])
    assert api.rows == 2 and api.dim == 8
    assert (tmp_path / "w.txt").read_bytes() == (tmp_path / "api.txt").read_bytes()


def test_info_is_one_describe_call(subword_classifier, monkeypatch) -> None:
    import embedcli.model_info as model_info
    import embedcli.modeldir as modeldir

    calls: list[str] = []
    spy(monkeypatch, model_info, "describe", calls)
    spy(monkeypatch, modeldir, "layer_summary", calls)
    report = json.loads(cli("info", subword_classifier, "--json"))
    assert calls == ["describe", "layer_summary"]  # the summary is computed inside describe
    assert report == json.loads(json.dumps(embedcli.load(subword_classifier).info()))
    assert report["vocab"]["subwords"] == "character n-grams of 3..5 (shared buckets)"


def test_info_of_a_model_in_memory() -> None:
    model = embedcli.train(TRAIN, dim=8, epochs=1, seed=1, threads=1)
    info = model.info()
    assert info["path"] is None and info["files"] == []
    assert [x["label"] for x in info["labels"]] == model.labels
    assert info["total_params"] == sum(layer["params"] for layer in info["layers"])


def test_plot_is_one_model_plot_call(subword_classifier, monkeypatch, tmp_path) -> None:
    from embedcli.api_model import Model

    calls: list[str] = []
    spy(monkeypatch, Model, "plot", calls, result=7)  # the library's answer, rendered
    r = runner.invoke(app, ["plot", subword_classifier, "-o", str(tmp_path / "p.png")])
    assert r.exit_code == 0, r.stderr
    assert calls == ["plot"] and f"wrote {tmp_path / 'p.png'} (7 words)" in r.stderr
    r = runner.invoke(app, ["plot", subword_classifier, "-o", str(tmp_path / "p.png"), "-n", "1"])
    assert r.exit_code == 2 and "--top must be 2 or more" in r.stderr and calls == ["plot"]


def test_evaluate_vectors_is_one_call(subword_classifier, monkeypatch) -> None:
    import embedcli.vector_eval as vector_eval

    calls: list[str] = []
    spy(monkeypatch, vector_eval, "evaluate_vectors", calls)
    args = ["evaluate-vectors", subword_classifier, "--analogies", ANALOGIES]
    report = json.loads(cli(*args, "--similarity", PAIRS, "--json"))
    assert calls == ["evaluate_vectors"]
    again = vector_eval.evaluate_vectors(
        subword_classifier, analogies=[str(ANALOGIES)], similarity=[str(PAIRS)]
    ).report
    for key in ("analogies", "similarity"):
        ours = [{k: v for k, v in r.items() if k != "seconds"} for r in report[key]]
        api = [{k: v for k, v in r.items() if k != "seconds"} for r in again[key]]
        assert ours == json.loads(json.dumps(api)), key


def test_the_table_commands_no_longer_assemble_library_pieces() -> None:
    source = (REPO / "embedcli" / "cli" / "table_cmds.py").read_text(encoding="utf-8")
    source += (REPO / "embedcli" / "cli" / "evalvec_cmd.py").read_text(encoding="utf-8")
    for piece in ("export_embeddings", "select_rows", "layer_summary", "file_report",
                  "draw_map", "project_2d", "load_word_vectors", "evaluate_analogies"):  # fmt: skip
        assert piece not in source, piece


def test_build_vocab_is_one_call(monkeypatch, tmp_path) -> None:
    import embedcli.vocab as vocab_module
    import embedcli.vocab_run as vocab_run

    calls: list[str] = []
    spy(monkeypatch, vocab_run, "build_vocab", calls)
    spy(monkeypatch, vocab_module, "build_vocabulary", calls)
    out = tmp_path / "v.tsv"
    summary = json.loads(cli("build-vocab", TRAIN, "-o", out, "--min-count", "2", "--json"))
    assert calls == ["build_vocab", "build_vocabulary"]  # the counting pass inside the call
    from embedcli.corpus import CorpusOptions

    options = CorpusOptions(skip_blank=True)
    run = vocab_run.build_vocab([str(TRAIN)], str(tmp_path / "api.tsv"), options, min_count=2)
    assert out.read_bytes() == (tmp_path / "api.tsv").read_bytes()
    ours = {k: v for k, v in summary.items() if k not in ("seconds", "output")}
    api = {k: v for k, v in run.summary(str(out)).items() if k not in ("seconds", "output")}
    assert ours == json.loads(json.dumps(api))


# -- explore --------------------------------------------------------------------------------------
def test_explore_is_one_model_explore_call(subword_classifier, monkeypatch, tmp_path) -> None:
    import embedcli.explorer as explorer
    from embedcli.api_model import Model

    calls: list[str] = []
    spy(monkeypatch, Model, "explore", calls)
    spy(monkeypatch, explorer, "build_page", calls)
    out = tmp_path / "e.html"
    docs = REPO / "sample_data" / "stdlib" / "test.txt"
    args = ["explore", subword_classifier, "-o", out, "--top", "40", "--docs", docs]
    r = runner.invoke(app, [str(a) for a in [*args, "--max-docs", "20", "--seed", "3"]])
    assert r.exit_code == 0, r.stderr
    assert calls == ["explore", "build_page"]  # the page is built inside the one call
    assert f"wrote {out}: " in r.stderr and "40 words, 20 documents" in r.stderr
    model = embedcli.load(subword_classifier)
    result = model.explore(tmp_path / "api.html", top=40, docs=docs, max_docs=20, seed=3)
    assert (result.words, result.documents, result.subwords) == (40, 20, True)
    assert result.bytes == (tmp_path / "api.html").stat().st_size
    assert out.read_bytes() == (tmp_path / "api.html").read_bytes()
    # the library claims its output: a file embedcli did not write is refused
    (tmp_path / "mine.html").write_text("not ours")
    with pytest.raises(embedcli.UsageError):
        model.explore(tmp_path / "mine.html", top=40)
    assert (tmp_path / "mine.html").read_text() == "not ours"
    with pytest.raises(embedcli.UsageError, match="--top must be"):
        model.explore(tmp_path / "x.html", top=1)


def test_explore_ranges_are_the_commands(subword_classifier) -> None:
    from embedcli.api_model import Model
    from embedcli.cli.app import command_group
    from embedcli.explore_run import EXPLORE_RANGES

    params = {p.name: p for p in command_group().commands["explore"].params}
    ranged = {n: (p.type.min, p.type.max) for n, p in params.items() if hasattr(p.type, "min")}
    assert ranged == {n: r[:2] for n, r in EXPLORE_RANGES.items()}
    signature = inspect.signature(Model.explore).parameters
    for name, p in params.items():
        if name not in ("model", "output"):
            assert signature[name].default == p.default, name


def test_explore_no_longer_assembles_library_pieces() -> None:
    source = (REPO / "embedcli" / "cli" / "explore_cmd.py").read_text(encoding="utf-8")
    for piece in ("open_table", "pooled", "search_table", "build_page", "project(",
                  "claim_outputs(", "atomic_write(", "CorpusReader", "explain_batch"):  # fmt: skip
        assert piece not in source, piece


def test_encode_is_one_call(monkeypatch, tmp_path) -> None:
    import embedcli.encode_run as encode_run
    import embedcli.formats as formats
    import embedcli.shards as shards

    calls: list[str] = []
    spy(monkeypatch, encode_run, "encode", calls)
    spy(monkeypatch, shards, "encode_corpus", calls)
    spy(monkeypatch, formats, "write_encoded", calls)
    vocab = tmp_path / "v.tsv"
    cli("build-vocab", TRAIN, "-o", vocab, "--min-count", "2", "--quiet")
    out = tmp_path / "ids.npz"
    r = runner.invoke(app, ["encode", str(TRAIN), "--vocab", str(vocab), "--maxlen", "12",
                            "-o", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert calls == ["encode", "encode_corpus", "write_encoded"]  # inside the one call
    from embedcli.corpus import CorpusOptions

    run = encode_run.encode([str(TRAIN)], str(tmp_path / "api.npz"), CorpusOptions(),
                            vocab=str(vocab), maxlen=12)  # fmt: skip
    assert out.read_bytes() == (tmp_path / "api.npz").read_bytes()
    assert (run.rows, run.width) == np.load(out)["ids"].shape
    line = run.message().split(" in ")[0]  # the printed line, up to the time
    assert line in r.stderr.replace("\n", " ")
    # usage errors come from the library too, before any reading
    with pytest.raises(embedcli.UsageError, match="--vocab VOCAB_TSV or --model"):
        encode_run.encode([str(TRAIN)], "-", CorpusOptions())
    r = runner.invoke(app, ["encode", str(TRAIN), "--vocab", str(vocab), "-o", str(tmp_path / "d")])
    assert r.exit_code == 2 and "needs --engine dask" in r.stderr


def test_encode_model_rows_are_one_call(subword_classifier, monkeypatch, tmp_path) -> None:
    import embedcli.encode_run as encode_run

    calls: list[str] = []
    spy(monkeypatch, encode_run, "encode", calls)
    spy(monkeypatch, encode_run, "_model_rows", calls)
    out = tmp_path / "rows.npy"
    cli("encode", TRAIN, "--model", subword_classifier, "-o", out, "--quiet")
    assert calls == ["encode", "_model_rows"]
    model = embedcli.load(subword_classifier)
    rows = np.load(out)
    assert rows.max() >= len(model.words)  # n-gram rows past the words
