"""`embedcli train` end to end through the CLI, and the model directory it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.errors import FormatError
from embedcli.modeldir import load_model

runner = CliRunner()
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FAST = ["--dim", "8", "--epochs", "3", "--threads", "1", "--buckets", "1024", "--quiet"]

WORDS = {
    "sport": "ball goal team match score win player coach league",
    "tech": "code computer software chip data network server cloud bug",
    "food": "bread cheese soup salad pasta pizza sauce spice bake",
}


def make_corpus(path: Path, n: int = 240, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    labels = list(WORDS)
    for i in range(n):
        label = labels[i % len(labels)]
        words = rng.choice(WORDS[label].split(), size=6).tolist() + ["the", "a"]
        rng.shuffle(words)
        lines.append(f"__label__{label} " + " ".join(words))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("c") / "train.txt")


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def test_train_writes_a_complete_model_and_json(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    r = invoke("train", str(corpus), "-o", str(out), "--test", str(corpus), "--json", *FAST)
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["test_accuracy"] > 0.9, summary
    assert summary["labels"] == ["sport", "tech", "food"]
    for name in ("config.json", "embeddings.npy", "classifier.npz", "vocab.tsv", "labels.tsv"):
        assert (out / name).is_file(), name
    m = load_model(out)
    assert m.embeddings.shape == (len(m.vocab) + 1024, 8)
    assert np.all(m.embeddings[0] == 0), "padding row must stay zero"
    assert m.config["train"]["epochs"] == 3
    assert not list(tmp_path.glob(".model*")), "temporary directory left behind"


def test_dry_run_plans_without_writing(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    r = invoke(
        "train",
        str(corpus),
        "-o",
        str(out),
        "--dry-run",
        "--json",
        "--pool",
        "flatten",
        "--maxlen",
        "4",
        *FAST,
    )
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["train_documents"] == 240
    assert plan["embedding_rows"] == plan["vocab_size"] + 1024  # --buckets 1024 given
    assert plan["parameter_bytes"] > 0 and plan["encoded_corpus_bytes"] > 0
    assert plan["truncated_documents"] == pytest.approx(1.0)  # every doc has 8 tokens > 4
    assert not out.exists()


def test_val_split_is_deterministic(corpus: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        r = invoke(
            "train", str(corpus), "-o", str(tmp_path / name), "--val-split", "0.25", "--json", *FAST
        )
        assert r.exit_code == 0, r.output
        runs.append(json.loads(r.stdout))
    assert runs[0]["train_documents"] == 180
    assert runs[0]["val_accuracy"] == runs[1]["val_accuracy"]
    a = np.load(tmp_path / "a" / "embeddings.npy")
    b = np.load(tmp_path / "b" / "embeddings.npy")
    assert np.array_equal(a, b), "--threads 1 with a seed must be bit-identical"


def test_train_with_given_vocab_and_init_vectors(corpus: Path, tmp_path: Path) -> None:
    vocab = tmp_path / "v.tsv"
    assert invoke("build-vocab", str(corpus), "-o", str(vocab), "-q").exit_code == 0
    vec = tmp_path / "vec.txt"
    rng = np.random.default_rng(1)
    known = {w: rng.normal(size=8).astype(np.float32) for w in ("ball", "code", "soup", "zzz")}
    vec.write_text(
        "4 8\n" + "".join(f"{w} " + " ".join(map(str, v)) + "\n" for w, v in known.items())
    )
    out = tmp_path / "m"
    r = invoke(
        "train",
        str(corpus),
        "-o",
        str(out),
        "--vocab",
        str(vocab),
        "--init-vectors",
        str(vec),
        "--freeze-embeddings",
        "--json",
        *FAST,
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["vocab_size"] == len(load_model(out).vocab)
    m = load_model(out)
    for w in ("ball", "code", "soup"):
        assert np.allclose(m.embeddings[m.vocab.token_to_id[w]], known[w]), w
    cov = m.config["init_vectors"]
    assert cov["words_hit"] == 3 and cov["top_missing"]


def test_init_vectors_dimension_mismatch_is_a_usage_error(corpus: Path, tmp_path: Path) -> None:
    vec = tmp_path / "vec.txt"
    vec.write_text("1 3\nball 1 2 3\n")
    r = runner.invoke(
        app, ["train", str(corpus), "-o", str(tmp_path / "m"), "--init-vectors", str(vec), *FAST]
    )
    assert r.exit_code == 2, r.output
    assert "dimension 3" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize(
    ("content", "args", "code", "needle"),
    [
        ("just text without labels\n", [], 1, "no label"),
        ("__label__a one\n__label__a two\n", [], 1, "at least 2 distinct labels"),
        ("", [], 1, "empty"),
        ("__label__a x\n__label__b y\n", ["--pool", "flatten"], 2, "--maxlen"),
        ("__label__a x\n__label__b y\n", ["--val-split", "1.5"], 2, "--val-split"),
    ],
)
def test_bad_training_input_is_one_clean_line(
    tmp_path: Path, content: str, args: list[str], code: int, needle: str
) -> None:
    f = tmp_path / "in.txt"
    f.write_text(content)
    r = runner.invoke(app, ["train", str(f), "-o", str(tmp_path / "m"), *FAST, *args])
    assert r.exit_code == code, r.output
    assert needle in r.output and "Traceback" not in r.output
    assert not (tmp_path / "m").exists()


def test_output_in_missing_directory(corpus: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["train", str(corpus), "-o", str(tmp_path / "nope" / "m"), *FAST])
    assert r.exit_code == 1 and "does not exist" in r.output


def test_failed_training_keeps_the_previous_model(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    assert invoke("train", str(corpus), "-o", str(out), *FAST).exit_code == 0
    before = (out / "embeddings.npy").read_bytes()
    bad = tmp_path / "vec.txt"
    bad.write_text("1 3\nball 1 2 3\n")
    r = runner.invoke(
        app, ["train", str(corpus), "-o", str(out), "--init-vectors", str(bad), *FAST]
    )
    assert r.exit_code != 0
    assert (out / "embeddings.npy").read_bytes() == before


def test_damaged_model_is_refused(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    assert invoke("train", str(corpus), "-o", str(out), *FAST).exit_code == 0
    data = bytearray((out / "embeddings.npy").read_bytes())
    data[-5] ^= 0xFF
    (out / "embeddings.npy").write_bytes(bytes(data))
    with pytest.raises(FormatError, match="sha256"):
        load_model(out)
    cfg = json.loads((out / "config.json").read_text())
    cfg["version"] = 99
    (out / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(FormatError, match="newer"):
        load_model(out)


def test_train_from_stdin_subprocess(corpus: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("embedcli")
    out = tmp_path / "m"
    with open(corpus, "rb") as f:
        p = subprocess.run(
            [str(exe), "train", "-", "-o", str(out), "--json", *FAST],
            stdin=f,
            capture_output=True,
            env={**os.environ},
            timeout=300,
        )
    assert p.returncode == 0, p.stderr.decode()
    assert json.loads(p.stdout)["train_documents"] == 240


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "sms_spam").is_dir(), reason="../shared/data not present")
def test_learns_real_data_sms_spam(tmp_path: Path) -> None:
    d = SHARED / "sms_spam"
    r = invoke(
        "train",
        str(d / "train.txt"),
        "-o",
        str(tmp_path / "m"),
        "--test",
        str(d / "test.txt"),
        "--dim",
        "20",
        "--threads",
        "2",
        "--json",
        "--quiet",
    )
    assert r.exit_code == 0, r.output
    acc = json.loads(r.stdout)["test_accuracy"]
    assert acc > 0.95, acc  # majority class (ham) is 0.866
