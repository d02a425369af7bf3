"""Every command that uses a trained model, through Typer's CliRunner (exit codes + parsed stdout),
plus a shell pipeline and the no-numba guarantee of the fast commands."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.modeldir import save_model
from embedcli.vocab import Vocabulary

runner = CliRunner()
SEED_TABLE = [
    [1.2, 3.1, 2.5],
    [0.1, 4.2, 1.5],
    [1.0, 3.1, 2.2],
    [0.3, 2.1, 2.0],
    [2.2, 1.4, 1.2],
    [0.7, 1.7, 0.5],
    [4.1, 2.0, 4.5],
    [3.1, 1.0, 4.0],
]
POS = "good great excellent happy love wonderful".split()
NEG = "bad awful terrible sad hate poor".split()
NEUTRAL = "the a movie film it was is and".split()


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def ok(*args, input=None):
    r = run(*args, input=input)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r


def write_model(path, tokens, E, W, b, labels, *, oov=True, arrays=None, **spec):
    """A model directory written by hand (arrays: thresholds, hidden_W, hidden_b)."""
    vocab = Vocabulary(
        tokens, [0] * len(tokens), oov=oov, labels=labels, label_counts=[1] * len(labels)
    )
    params = types.SimpleNamespace(
        embeddings=np.asarray(E, np.float32),
        out_W=np.asarray(W, np.float32),
        out_b=np.asarray(b, np.float32),
        **{k: np.asarray(v, np.float32) for k, v in (arrays or {}).items()},
    )
    full = dict(
        num_words=len(tokens),
        buckets=0,
        dim=params.embeddings.shape[1],
        num_classes=params.out_W.shape[1],
        pool="mean",
        hidden=0,
        objective="softmax",
        word_ngrams=1,
        maxlen=0,
    )
    full.update(spec)
    save_model(path, spec=full, params=params, vocab=vocab, train_config={"epochs": 1})
    return str(path)


@pytest.fixture(scope="module")
def seed_model(tmp_path_factory):
    """The worked example of shared/seeds/000: ids 1..7, padding 0, table (8, 3), no [UNK]."""
    tokens = ["", "hope", "to", "see", "you", "soon", "nice", "meeting"]
    W = [[1, -1], [0.5, -0.5], [-1, 1]]
    return write_model(
        tmp_path_factory.mktemp("m") / "seed",
        tokens,
        SEED_TABLE,
        W,
        [0.1, -0.1],
        ["a", "b"],
        oov=False,
    )


def synthetic_docs(n, seed):
    from embedcli.corpus import Document

    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = rng.sample(POS if label == "pos" else NEG, 2) + rng.sample(NEUTRAL, 4)
        rng.shuffle(words)
        docs.append(Document(" ".join(words), (label,)))
    return docs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained by the library: word bigrams, 2 labels."""
    from embedcli.sequences import encode_corpus
    from embedcli.text import make_tokenizer_config
    from embedcli.train import TrainConfig, fit
    from embedcli.vocab import build_vocabulary, vocab_options

    docs = synthetic_docs(300, 0)
    vocab, _ = build_vocabulary(docs, make_tokenizer_config(), vocab_options("embedcli"))
    res = fit(
        encode_corpus(docs, vocab),
        TrainConfig(dim=8, epochs=5, word_ngrams=2, buckets=64, threads=1, seed=0),
        num_words=len(vocab),
        num_classes=len(vocab.labels),
    )
    path = tmp_path_factory.mktemp("m") / "tiny"
    save_model(
        path,
        spec=res.spec.to_dict(),
        params=res.params,
        vocab=vocab,
        train_config=res.config.to_dict(),
        metrics=res.metrics,
    )
    test = path.parent / "test.txt"
    lines = [("__label__" + d.labels[0] + " " + d.text) for d in synthetic_docs(40, 1)]
    test.write_text("\n".join(lines + ["", "no label here good"]) + "\n", encoding="utf-8")
    return str(path), str(test)


# -- lookup -----------------------------------------------------------------------------------------
def test_lookup_seed_worked_example_json(seed_model):
    r = ok("lookup", seed_model, "--sentence", "Nice meeting you", "--maxlen", "5", "-f", "json")
    data = json.loads(r.stdout)
    assert data["ids"] == [6, 7, 4, 0, 0]
    assert [row["vector"] for row in data["rows"]] == [
        [4.1, 2.0, 4.5],
        [3.1, 1.0, 4.0],
        [2.2, 1.4, 1.2],
        [1.2, 3.1, 2.5],
        [1.2, 3.1, 2.5],
    ]


def test_lookup_tsv_csv_and_table(seed_model):
    r = ok("lookup", seed_model, "Nice", "you")  # not a terminal -> tsv
    assert r.stdout.splitlines() == ["nice\t6\t4.1\t2.0\t4.5", "you\t4\t2.2\t1.4\t1.2"]
    rows = list(csv.reader(io.StringIO(ok("lookup", seed_model, "soon", "-f", "csv").stdout)))
    assert rows == [["token", "id", "d0", "d1", "d2"], ["soon", "5", "0.7", "1.7", "0.5"]]
    table = ok("lookup", seed_model, "see", "-f", "table").stdout
    assert "see" in table and "0.3000" in table


def test_lookup_full_float32_precision(trained):
    model, _ = trained
    r = ok("lookup", model, "good", "-f", "json")
    vec = np.array(json.loads(r.stdout)[0]["vector"], np.float32)
    table = np.load(Path(model) / "embeddings.npy")
    vocab = Vocabulary.load(Path(model) / "vocab.tsv")
    np.testing.assert_array_equal(vec, table[vocab.token_to_id["good"]])


def test_lookup_index_and_stdin(seed_model):
    r = ok("lookup", seed_model, "--index", "0", "7")
    assert [line.split("\t")[:2] for line in r.stdout.splitlines()] == [["", "0"], ["meeting", "7"]]
    r = ok("lookup", seed_model, "-", input="hope\n\nSOON!\n")
    assert [line.split("\t")[1] for line in r.stdout.splitlines()] == ["1", "5"]
    r = ok("lookup", seed_model, "--index", "-", input="3\n")
    assert r.stdout.startswith("see\t3\t")


def test_lookup_oov_unk_row_note_and_skip(trained):
    model, _ = trained
    r = ok("lookup", model, "zebra", "good")
    assert [line.split("\t")[:2] for line in r.stdout.splitlines()][0] == ["zebra", "1"]
    assert "[UNK]" in r.stderr
    r = ok("lookup", model, "zebra", "good", "--skip-oov")
    assert [line.split("\t")[0] for line in r.stdout.splitlines()] == ["good"]
    assert "skipped" in r.stderr


@pytest.mark.parametrize(
    "args, code",
    [
        (["lookup", "{m}"], 2),  # empty query
        (["lookup", "{m}", "-f", "xml", "see"], 2),
        (["lookup", "{m}", "--index", "x"], 2),
        (["lookup", "{m}", "--index", "99"], 1),
        (["lookup", "{m}", "see", "--maxlen", "3"], 2),
        (["lookup", "/nonexistent/model", "see"], 1),
    ],
)
def test_lookup_errors(seed_model, args, code):
    r = run(*[a.format(m=seed_model) for a in args])
    assert r.exit_code == code, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert r.stderr.startswith("Error:")


# -- nearest / analogy ------------------------------------------------------------------------------
def test_nearest_tsv_json_and_exclusions(trained):
    model, _ = trained
    r = ok("nearest", model, "good", "-k", "3")
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert len(rows) == 3 and all(q == "good" for q, _, _ in rows)
    assert {w for _, w, _ in rows} <= set(POS)  # the sentiment words cluster after training
    scores = [float(s) for _, _, s in rows]
    assert scores == sorted(scores, reverse=True)
    data = json.loads(
        ok("nearest", model, "-", "-f", "json", "-k", "50", input="good\nbad\n").stdout
    )
    assert [d["query"] for d in data] == ["good", "bad"]
    words = {n["word"] for n in data[0]["neighbors"]}
    assert "good" not in words and "" not in words and "[UNK]" not in words
    assert all(not w.startswith("<bucket") for w in words)


def test_nearest_unknown_and_bad_k(trained):
    model, _ = trained
    r = run("nearest", model, "zebra")
    assert r.exit_code == 1 and "none of the query words" in r.stderr
    r = ok("nearest", model, "zebra", "bad", "-k", "1")
    assert r.stdout.startswith("bad\t") and "zebra" in r.stderr
    assert run("nearest", model, "good", "-k", "0").exit_code == 2
    assert run("nearest", model, "-", input="\n").exit_code == 2


def test_analogy(trained):
    model, _ = trained
    r = ok("analogy", model, "bad", "good", "awful", "-k", "3", "-f", "json")
    (result,) = json.loads(r.stdout)
    got = [n["word"] for n in result["neighbors"]]
    assert len(got) == 3 and not {"bad", "good", "awful"} & set(got)
    r = ok(
        "analogy",
        model,
        "-",
        input="bad good awful\nsad happy hate\n",
    )
    assert len(r.stdout.splitlines()) == 20
    assert run("analogy", model, "bad", "good").exit_code == 2


# -- predict ----------------------------------------------------------------------------------------
def test_predict_text_is_fasttext_format(trained):
    model, test = trained
    lines = ok("predict", model, test).stdout.splitlines()
    n = len(Path(test).read_text().splitlines())
    assert len(lines) == n
    assert all(re.fullmatch(r"__label__(pos|neg)", x) for x in lines if x)
    assert lines[-2] == ""  # an empty line gets an empty prediction, as in fastText
    gold = [x.split()[0] for x in Path(test).read_text().splitlines()[:40]]
    assert sum(p == g for p, g in zip(lines, gold, strict=False)) >= 36
    proba = ok("predict", model, test, "-k", "2", "--proba").stdout.splitlines()
    parts = proba[0].split(" ")
    assert len(parts) == 4 and parts[0].startswith("__label__")
    assert float(parts[1]) >= float(parts[3]) and float(parts[1]) + float(
        parts[3]
    ) == pytest.approx(1, abs=1e-5)


def test_predict_tsv_json_threshold_and_stdin(trained):
    model, test = trained
    text = Path(test).read_text()
    tsv = ok("predict", model, "-", "-f", "tsv", "--proba", input=text).stdout.splitlines()
    label, p = tsv[0].split("\t")
    assert label in ("pos", "neg") and 0.5 <= float(p) <= 1
    js = [
        json.loads(x)
        for x in ok("predict", model, test, "-f", "json", "-k", "2").stdout.splitlines()
    ]
    assert len(js[0]["labels"]) == 2 and js[0]["probabilities"] == sorted(
        js[0]["probabilities"], reverse=True
    )
    high = ok(
        "predict", model, test, "-k", "2", "--threshold", "0.99", "-f", "json"
    ).stdout.splitlines()
    assert all(all(p >= 0.99 for p in json.loads(x)["probabilities"]) for x in high)
    assert run("predict", model, test, "-k", "0").exit_code == 2
    assert run("predict", model, test, "-f", "xml").exit_code == 2
    assert run("predict", model, "/nonexistent.txt").exit_code == 1


def test_predict_batches_give_the_same_answer(trained):
    model, test = trained
    a = ok("predict", model, test, "--proba").stdout
    b = ok("predict", model, test, "--proba", "--batch-size", "3", "--threads", "1").stdout
    assert a == b


def test_predict_explain_adds_up_to_the_logit(trained):
    from embedcli import model as engine
    from embedcli.modeldir import load_model
    from embedcli.sequences import encode_texts

    model, _ = trained
    line = "good movie and happy film"
    r = ok("predict", model, "-", "--explain", "-f", "json", input=line + "\n")
    pred, ex = (json.loads(x) for x in r.stdout.splitlines())
    explain = ex["explain"]
    assert explain["label"] == pred["labels"][0]
    feats = [c["feature"] for c in explain["contributions"]]
    assert sorted(feats) == sorted(
        line.split() + ["</s>", "good movie", "movie and", "and happy", "happy film", "film </s>"]
    )
    values = [abs(c["value"]) for c in explain["contributions"]]
    assert values == sorted(values, reverse=True)  # strongest first
    m = load_model(model)
    enc = encode_texts([line], m.vocab)
    logits = engine.scores(m.params, m.spec, enc.tokens, enc.offsets)[0]
    label_id = m.vocab.labels.index(explain["label"])
    total = sum(c["value"] for c in explain["contributions"]) + explain["bias"]
    assert total == pytest.approx(float(logits[label_id]), abs=1e-4)
    assert explain["score"] == pytest.approx(total)
    text = ok("predict", model, "-", "--explain", input=line + "\n").stdout.splitlines()
    assert text[0].startswith("__label__") and text[1].startswith("#\tscore of")


def test_predict_explain_refuses_hidden_layer(tmp_path):
    model = write_model(
        tmp_path / "h",
        ["", "[UNK]", "x", "y"],
        np.eye(4),
        np.ones((2, 2)),
        [0, 0],
        ["a", "b"],
        hidden=2,
        arrays={"hidden_W": np.ones((4, 2)), "hidden_b": np.zeros(2)},
    )
    r = run("predict", model, "-", "--explain", input="x y\n")
    assert r.exit_code == 2 and "hidden" in r.stderr
    assert ok("predict", model, "-", input="x y\n").stdout.strip() in ("__label__a", "__label__b")


def test_predict_multilabel_uses_stored_thresholds(tmp_path):
    # 3 labels with logits = one-hot rows: "x" -> label 0 high, "y" -> label 1 high
    E = np.zeros((5, 3), np.float32)
    E[2], E[3], E[4] = [4, -4, -4], [-4, 4, -4], [4, 4, -4]
    model = write_model(
        tmp_path / "ml",
        ["", "[UNK]", "x", "y", "xy"],
        E,
        np.eye(3),
        [0, 0, 0],
        ["a", "b", "c"],
        objective="multilabel",
        arrays={"thresholds": [0.5, 0.99, 0.5]},
    )
    out = ok("predict", model, "-", "-f", "tsv", input="x\ny\nxy\n").stdout.splitlines()
    # sigmoid(4) = 0.982 < 0.99: label b is never over its stored threshold
    assert out == ["a", "", "a"]
    out = ok(
        "predict", model, "-", "-f", "tsv", "--threshold", "0.5", input="xy\n"
    ).stdout.splitlines()
    assert out == ["a\tb"]
    test = "__label__a x\n__label__b y\n__label__a __label__b xy\n"
    d = json.loads(ok("evaluate", model, "-", "--json", input=test).stdout)
    # predictions a, -, a: 2 predicted, both gold; 4 gold labels in all
    assert (d["k"], d["precision_at_k"], d["recall_at_k"]) == (None, 1.0, 0.5)
    lines = ok("evaluate", model, "-", "-f", "fasttext", input=test).stdout.splitlines()
    assert lines == ["N\t3", "P@-1\t1", "R@-1\t0.5"]
    assert "P@all" in ok("evaluate", model, "-", input=test).stdout


def test_predict_binary_model(tmp_path):
    E = np.array([[0], [0], [3], [-3]], np.float32)
    model = write_model(
        tmp_path / "bin",
        ["", "[UNK]", "yes", "no"],
        E,
        [[1]],
        [0],
        ["neg", "pos"],
        objective="binary",
    )
    out = ok("predict", model, "-", "--proba", "-k", "2", input="yes\nno\n").stdout.splitlines()
    assert out[0].split()[0] == "__label__pos" and out[1].split()[0] == "__label__neg"
    r = ok("predict", model, "-", "--explain", "-f", "json", input="no\n").stdout.splitlines()
    explain = json.loads(r[1])["explain"]
    assert explain["label"] == "neg" and explain["contributions"][0]["value"] == pytest.approx(3.0)


def test_predict_verbose_reports_throughput(trained):
    model, test = trained
    r = ok("predict", model, test, "--verbose")
    assert "lines/s" in r.stderr and "lines/s" not in r.stdout


# -- evaluate ---------------------------------------------------------------------------------------
def test_evaluate_fasttext_formats(trained):
    model, test = trained
    lines = ok("evaluate", model, test, "-f", "fasttext").stdout.splitlines()
    assert lines[0] == "N\t40"
    assert re.fullmatch(r"P@1\t(1|0\.\d{1,3})", lines[1]) and re.fullmatch(
        r"R@1\t(1|0\.\d{1,3})", lines[2]
    )
    label_lines = ok("evaluate", model, test, "-f", "fasttext-label", "-k", "2").stdout.splitlines()
    pat = r"F1-Score : \d\.\d{6}  Precision : \d\.\d{6}  Recall : \d\.\d{6}   __label__(pos|neg)"
    assert all(re.fullmatch(pat, x) for x in label_lines[:2])
    assert label_lines[2:] == ["N\t40", "P@2\t0.500", "R@2\t1.000"]


def test_evaluate_json_agrees_with_predict(trained):
    model, test = trained
    d = json.loads(ok("evaluate", model, test, "--json").stdout)
    preds = ok("predict", model, test).stdout.splitlines()[:40]
    gold = [x.split()[0] for x in Path(test).read_text().splitlines()[:40]]
    acc = sum(p == g for p, g in zip(preds, gold, strict=True)) / 40
    assert d["n"] == 40 and d["skipped"] == 2
    assert d["accuracy"] == pytest.approx(acc)
    assert sum(x["support"] for x in d["labels"]) == 40
    assert np.array(d["confusion"]["matrix"]).sum() == 40
    table = ok("evaluate", model, test).stdout
    assert "Per label" in table and "Confusion" in table


def test_evaluate_errors(trained):
    model, test = trained
    assert run("evaluate", model, test, "-k", "0").exit_code == 2
    assert run("evaluate", model, test, "-f", "csv").exit_code == 2
    r = run("evaluate", model, "-", input="no labels at all\n")
    assert r.exit_code == 1 and "Traceback" not in r.stderr


# -- embed ------------------------------------------------------------------------------------------
def test_embed_tsv_and_npy(trained, tmp_path):
    from embedcli import model as engine
    from embedcli.modeldir import load_model
    from embedcli.sequences import encode_texts

    model, test = trained
    r = ok("embed", model, "-", input="good movie\nbad film\n")
    vecs = np.array([[np.float32(x) for x in line.split("\t")] for line in r.stdout.splitlines()])
    m = load_model(model)
    enc = encode_texts(["good movie", "bad film"], m.vocab)
    np.testing.assert_array_equal(vecs, engine.pooled(m.params, m.spec, enc.tokens, enc.offsets))
    out = tmp_path / "v.npy"
    ok("embed", model, test, "-o", out)
    arr = np.load(out)
    assert arr.shape == (len(Path(test).read_text().splitlines()), 8)


# -- export -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["npy", "npz", "csv", "word2vec", "word2vec-binary", "projector"])
def test_export_every_format(trained, tmp_path, fmt):
    model, _ = trained
    out = tmp_path / ("proj" if fmt == "projector" else f"e.{fmt}")
    r = ok("export", model, "--format", fmt, "-o", out)
    assert "exported" in r.stderr
    table = np.load(Path(model) / "embeddings.npy")
    if fmt == "npy":
        np.testing.assert_array_equal(np.load(out), table)
    elif fmt == "npz":  # the table and the classifier's layers (Keras Dense layout)
        z = np.load(out, allow_pickle=False)
        clf = np.load(Path(model) / "classifier.npz")
        np.testing.assert_array_equal(z["embeddings"], table)
        np.testing.assert_array_equal(z["out_W"], clf["out_W"])
        np.testing.assert_array_equal(z["out_b"], clf["out_b"])
        assert (str(z["pool"]), str(z["objective"]), int(z["maxlen"])) == ("mean", "softmax", 0)
        assert list(z["labels"]) == Vocabulary.load(Path(model) / "vocab.tsv").labels
    elif fmt == "csv":
        rows = list(csv.reader(open(out, newline="", encoding="utf-8")))
        assert rows[1][0] == "" and rows[2][0] == "[UNK]" and len(rows) == len(table) + 1
    elif fmt.startswith("word2vec"):
        from gensim.models import KeyedVectors

        kv = KeyedVectors.load_word2vec_format(str(out), binary=fmt.endswith("binary"))
        np.testing.assert_array_equal(kv.vectors, table)
        assert kv.index_to_key[0] == "<pad>"
    else:
        assert sorted(os.listdir(out)) == ["metadata.tsv", "projector_config.pbtxt", "vectors.tsv"]


def test_export_words_only_and_stdout(trained, tmp_path):
    model, _ = trained
    vocab = Vocabulary.load(Path(model) / "vocab.tsv")
    r = ok("export", model, "-f", "word2vec", "-o", "-", "--words-only")
    lines = r.stdout.splitlines()
    assert lines[0] == f"{len(vocab) - 2} 8"
    assert [x.split(" ")[0] for x in lines[1:]] == vocab.tokens[2:]


def test_export_errors_leave_nothing(trained, tmp_path):
    model, _ = trained
    r = run("export", model, "-f", "parquet", "-o", tmp_path / "x")
    assert r.exit_code == 2 and r.stderr.startswith("Error:")
    r = run("export", model, "-f", "csv", "-o", tmp_path / "missing-dir" / "x.csv")
    assert r.exit_code == 1
    assert os.listdir(tmp_path) == []


# -- info -------------------------------------------------------------------------------------------
def test_info_json_and_table(trained):
    model, _ = trained
    d = json.loads(ok("info", model, "--json").stdout)
    assert [layer["params"] for layer in d["layers"]] == [(22 + 64) * 8, 0, 8 * 2 + 2]
    assert d["total_params"] == (22 + 64) * 8 + 18
    assert d["vocab"]["size"] == 22 and {x["label"] for x in d["labels"]} == {"pos", "neg"}
    assert all(f["status"] == "ok" for f in d["files"])
    assert d["train"]["dim"] == 8 and "train_accuracy" in d["metrics"]
    out = ok("info", model).stdout
    assert "Embedding" in out and "GlobalAveragePooling1D" in out and "Total params" in out


def copy_model(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return str(dst)


def test_damaged_model_is_a_one_line_error(trained, tmp_path):
    model, _ = trained
    bad = copy_model(model, tmp_path / "bad")
    with open(Path(bad) / "vocab.tsv", "a", encoding="utf-8") as f:
        f.write("99\tx\t1\n")
    r = run("info", bad)
    assert r.exit_code == 1 and "vocab.tsv" in r.stderr and "Traceback" not in r.stderr
    assert "MISMATCH" in r.stdout
    for cmd in (
        ["lookup", bad, "good"],
        ["predict", bad, "-"],
        ["export", bad, "-f", "csv", "-o", "-"],
    ):
        r = run(*cmd, input="good\n")
        assert r.exit_code == 1 and r.stdout == "" and "Traceback" not in r.stderr, cmd


def test_newer_format_version_is_refused(trained, tmp_path):
    model, _ = trained
    newer = copy_model(model, tmp_path / "newer")
    cfg = json.loads((Path(newer) / "config.json").read_text())
    cfg["version"] = 99
    (Path(newer) / "config.json").write_text(json.dumps(cfg))
    for cmd in (["info", newer], ["lookup", newer, "good"], ["predict", newer, "-"]):
        r = run(*cmd, input="good\n")
        assert r.exit_code == 1 and "newer" in r.stderr and r.stdout == "", cmd


# -- plot -------------------------------------------------------------------------------------------
def test_plot_png_and_svg(trained, tmp_path):
    model, _ = trained
    ok("plot", model, "-o", tmp_path / "w.png", "--top", "15")
    assert (tmp_path / "w.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ok("plot", model, "-o", tmp_path / "w.svg")
    assert "<svg" in (tmp_path / "w.svg").read_text()[:500]


def test_plot_errors(trained, tmp_path, monkeypatch):
    model, _ = trained
    assert run("plot", model, "-o", tmp_path / "w.bmp").exit_code == 2
    assert run("plot", model, "-o", tmp_path / "w.png", "--method", "mds").exit_code == 2
    try:
        import sklearn  # noqa: F401
    except ImportError:
        r = run("plot", model, "-o", tmp_path / "w.png", "--method", "tsne")
        assert r.exit_code == 2 and "scikit-learn" in r.stderr
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    r = run("plot", model, "-o", tmp_path / "w.png")
    assert r.exit_code == 1 and "matplotlib" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


# -- help, pipeline, no numba -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "cmd",
    ["lookup", "nearest", "analogy", "predict", "evaluate", "embed", "export", "info", "plot"],
)
def test_every_command_has_help_with_an_example(cmd):
    r = ok(cmd, "--help")
    assert "Example" in r.stdout


def venv_env():
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def test_shell_pipeline(trained):
    model, test = trained
    out = subprocess.run(
        ["bash", "-c", f"embedcli predict '{model}' - < '{test}' | cut -f1 | sort | uniq -c"],
        capture_output=True,
        text=True,
        env=venv_env(),
        check=True,
    ).stdout
    counts = {
        label: int(n)
        for n, label in (line.split() for line in out.splitlines() if len(line.split()) == 2)
    }
    assert set(counts) == {"__label__pos", "__label__neg"}
    assert sum(counts.values()) == 41


def test_fast_commands_do_not_import_numba(trained, tmp_path):
    model, _ = trained
    script = f"""
import sys
from typer.testing import CliRunner
from embedcli.cli import app
r = CliRunner()
for args in (["--help"], ["lookup", {model!r}, "good"], ["nearest", {model!r}, "good"],
             ["export", {model!r}, "-f", "csv", "-o", {str(tmp_path / "e.csv")!r}], ["info", {model!r}]):
    res = r.invoke(app, args)
    assert res.exit_code == 0, (args, res.stdout, res.stderr)
    assert "numba" not in sys.modules, args
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=venv_env()
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
