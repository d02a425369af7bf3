"""Issue #8 section 5: reader options of predict/evaluate, gzip on stdin, the CSV hint, info's
number formatting, a quiet build-vocab --json, and vectorised text exports (byte-identical)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from typer.testing import CliRunner

import embedcli.exporters as ex
from embedcli.cli import app

REPO = Path(__file__).resolve().parents[1]


# -- text exports: vectorised, byte for byte what the per-value formatting wrote --------------------
def _old_rows(block: np.ndarray, sep: str) -> list[str]:
    """Today's per-value formatting (``str(np.float32(x))``), the reference."""
    return [sep.join(map(str, np.asarray(r, np.float32))) + "\n" for r in block]


def _hostile_table() -> np.ndarray:
    rng = np.random.default_rng(7)
    specials = np.array(
        [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            0.1,
            1 / 3,
            1.00390625,
            1e-4,
            9.999999e-05,
            0.00010000001,
            1023.99994,
            1024.0,
            999.99994,
            9.9999995,
            1e-5,
            -2.5e-08,
            1e-38,
            1e-40,
            1e-45,
            -1e-45,
            3.4028235e38,
            -3.4028235e38,
            1e30,
            1e-30,
            16777217.0,
            8388607.5,
            123456.7,
            1e16,
            1e15,
        ],
        np.float32,
    )
    pts = np.concatenate([10.0 ** np.arange(-6, 5), 2.0 ** np.arange(-16, 12)]).astype(np.float32)
    around = np.concatenate(
        [np.nextafter(pts, np.float32(0)), pts, np.nextafter(pts, np.float32(np.inf))]
    )
    bits = rng.integers(0, 2**32, size=3000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    bits = bits[np.isfinite(bits)]
    k = rng.integers(-20, 12, size=3000).astype(float)
    few_bits = rng.integers(1, 2**10, size=3000) * np.exp2(k) * rng.choice([-1, 1], size=3000)
    normal = rng.standard_normal(30000) * 0.3
    tiny = rng.uniform(-0.01, 0.01, 3000)
    values = np.concatenate(
        [specials, -specials, around, -around, bits, few_bits, normal, tiny]
    ).astype(np.float32)
    values = values[: len(values) // 20 * 20]
    return rng.permutation(values).reshape(-1, 20)


@pytest.mark.parametrize("sep", [" ", ",", "\t"])
def test_format_rows_is_byte_identical_to_per_value_str(sep):
    table = _hostile_table()
    assert ex.format_rows(table, sep) == _old_rows(table, sep)
    assert ex.format_rows(table[:0], sep) == []
    assert ex.format_rows(table[:1, :1], sep) == _old_rows(table[:1, :1], sep)


NAMES = ["", "[UNK]", "the", "café", 'q"uote', "com,ma", "ta\tb", "new\nline", "cr\rx", " sp"]


def _old_export(fmt: str, E: np.ndarray, rows: ex.RowSet) -> dict[str, str]:
    """The exporters as they were before vectorising (csv.writer and str per value)."""
    if fmt == "csv":
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["token"] + [f"d{j}" for j in range(E.shape[1])])
        w.writerows([rows.names[i], *map(str, E[i])] for i in range(len(rows)))
        return {"e.out": out.getvalue()}
    if fmt == "word2vec":
        names = [ex._printable(n) for n in rows.names]
        head = f"{len(rows)} {E.shape[1]}\n"
        return {
            "e.out": head
            + "".join(f"{names[i]} {' '.join(map(str, E[i]))}\n" for i in range(len(rows)))
        }
    names = [ex.PAD_NAME if n == "" else n for n in rows.names]
    return {
        "vectors.tsv": "".join("\t".join(map(str, r)) + "\n" for r in E),
        "metadata.tsv": "word\tcount\n"
        + "".join(f"{n}\t{c}\n" for n, c in zip(names, rows.counts)),
    }


@pytest.mark.parametrize("fmt", ["csv", "word2vec", "projector"])
def test_text_exports_are_byte_identical_to_before(tmp_path, fmt):
    E = _hostile_table()[:5000]
    names = NAMES if fmt == "csv" else [n for n in NAMES if not any(c.isspace() for c in n)]
    tokens = names + [f"w{i}" for i in range(len(E) - len(names) - 7)]
    rows = ex.select_rows(tokens, len(E), first_word=2, counts=list(range(len(tokens))))
    old_chunk = ex.CHUNK_ROWS
    ex.CHUNK_ROWS = 1000  # several blocks
    try:
        target = tmp_path / ("out/" if fmt == "projector" else "e.out")
        ex.export_embeddings(E, rows, fmt, target)
    finally:
        ex.CHUNK_ROWS = old_chunk
    want = _old_export(fmt, E, rows)
    for name, text in want.items():
        path = tmp_path / "out" / name if fmt == "projector" else tmp_path / name
        assert path.read_bytes() == text.encode("utf-8"), name


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 6), st.integers(1, 8)),
        elements=st.floats(width=32, allow_nan=False),
    )
)
def test_format_rows_matches_str_on_any_float32(block):
    assert ex.format_rows(block, " ") == _old_rows(block, " ")


# -- CLI helpers -------------------------------------------------------------------------------------
runner = CliRunner()
POS = "good great excellent happy love wonderful".split()
NEG = "bad awful terrible sad hate poor".split()


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def ok(*args, input=None):
    r = run(*args, input=input)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r


def examples(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = rng.choices(POS if label == "pos" else NEG, k=4) + ["the", "movie"]
        rng.shuffle(words)
        out.append((" ".join(words), label))
    return out


def write_table(path: Path, fmt: str, rows, *, header=("review", "sentiment")) -> Path:
    if fmt == "jsonl":
        path.write_text(
            "".join(json.dumps({"body": t, "stars": lab}) + "\n" for t, lab in rows),
            encoding="utf-8",
        )
        return path
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def train(corpus: Path, out: Path, *reading: str) -> str:
    ok("train", corpus, "-o", out, "--epochs", "8", "--dim", "8", "--threads", "1", "-q", *reading)
    return str(out)


READING = {  # how each layout is told to train; predict/evaluate must then need nothing
    "csv": ("--text-column", "review", "--label-column", "sentiment"),
    "tsv": ("--text-column", "review", "--label-column", "sentiment"),
    "jsonl": ("--text-field", "body", "--label-field", "stars"),
}


# -- 1. predict and evaluate read files as the training files were read ----------------------------
@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_predict_and_evaluate_default_to_the_training_columns(tmp_path, fmt):
    model = train(
        write_table(tmp_path / f"train.{fmt}", fmt, examples(200, 0)), tmp_path / "m", *READING[fmt]
    )
    test_rows = examples(30, 1)
    test = write_table(tmp_path / f"test.{fmt}", fmt, test_rows)
    r = ok("predict", model, test)
    predicted = r.stdout.split()
    assert len(predicted) == len(test_rows)
    assert sum(p == f"__label__{lab}" for p, (_, lab) in zip(predicted, test_rows)) >= 27
    report = json.loads(ok("evaluate", model, test, "--json").stdout)
    assert report["n"] == len(test_rows)
    assert report["accuracy"] >= 0.9
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["corpus"]["format"] == "auto"
    if fmt == "jsonl":
        assert (config["corpus"]["text_field"], config["corpus"]["label_field"]) == (
            "body",
            "stars",
        )
    else:
        assert (config["corpus"]["text_column"], config["corpus"]["label_column"]) == (
            "review",
            "sentiment",
        )


def test_predict_of_unlabelled_rows_needs_no_label_column(tmp_path):
    model = train(
        write_table(tmp_path / "train.csv", "csv", examples(200, 0)),
        tmp_path / "m",
        *READING["csv"],
    )
    (tmp_path / "new.csv").write_text("id,review\n1,great happy movie\n2,awful sad film\n")
    assert ok("predict", model, tmp_path / "new.csv").stdout.split() == [
        "__label__pos",
        "__label__neg",
    ]


def test_training_format_and_header_are_inherited(tmp_path):
    """Trained with --format tsv --no-header on .txt files: the test .txt is read the same way."""
    rows = [(lab, t) for t, lab in examples(200, 0)]
    model = train(
        write_table(tmp_path / "train.txt", "tsv", rows, header=None),
        tmp_path / "m",
        "--format",
        "tsv",
        "--no-header",
        "--text-column",
        "1",
        "--label-column",
        "0",
    )
    test = write_table(
        tmp_path / "test.txt", "tsv", [(lab, t) for t, lab in examples(20, 1)], header=None
    )
    assert json.loads(ok("evaluate", model, test, "--json").stdout)["n"] == 20
    assert len(ok("predict", model, test).stdout.splitlines()) == 20


def test_options_override_the_training_columns(tmp_path):
    model = train(
        write_table(tmp_path / "train.csv", "csv", examples(200, 0)),
        tmp_path / "m",
        *READING["csv"],
    )
    other = write_table(tmp_path / "other.csv", "csv", examples(20, 1), header=("comment", "y"))
    r = run("predict", model, other)
    assert r.exit_code == 2
    assert "unknown column 'review'" in r.stderr and "--text-column" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(ok("predict", model, other, "--text-column", "comment").stdout.splitlines()) == 20
    report = json.loads(
        ok(
            "evaluate", model, other, "--text-column", "comment", "--label-column", "y", "--json"
        ).stdout
    )
    assert report["n"] == 20
    # the same rows as fastText lines, told explicitly
    ft = tmp_path / "other.csv.txt"
    ft.write_text("".join(f"__label__{lab} {t}\n" for t, lab in examples(20, 1)))
    assert (
        json.loads(ok("evaluate", model, ft, "--input-format", "fasttext", "--json").stdout)["n"]
        == 20
    )


def test_models_without_a_corpus_record_read_as_before(tmp_path):
    """A model written before config.json recorded the reading options: today's defaults."""
    model = train(
        write_table(tmp_path / "train.csv", "csv", examples(200, 0)),
        tmp_path / "m",
        *READING["csv"],
    )
    cfg_path = tmp_path / "m" / "config.json"
    config = json.loads(cfg_path.read_text())
    del config["corpus"]
    cfg_path.write_text(json.dumps(config))
    plain = write_table(tmp_path / "plain.csv", "csv", examples(10, 1), header=("text", "label"))
    assert json.loads(ok("evaluate", model, plain, "--json").stdout)["n"] == 10
    renamed = write_table(tmp_path / "renamed.csv", "csv", examples(10, 1))
    r = run("predict", model, renamed)
    assert r.exit_code == 2 and "no 'text' column; choose one with --text-column" in r.stderr


@pytest.mark.parametrize(
    "corpus",
    ["x", [1], {"format": "xml"}, {"text_column": 3}, {"header": "yes"}, {"label_prefix": ""}],
)
def test_a_damaged_corpus_record_is_a_one_line_error(tmp_path, corpus):
    model = train(
        write_table(tmp_path / "train.csv", "csv", examples(100, 0)),
        tmp_path / "m",
        *READING["csv"],
    )
    cfg_path = tmp_path / "m" / "config.json"
    config = json.loads(cfg_path.read_text())
    config["corpus"] = corpus
    cfg_path.write_text(json.dumps(config))
    r = run("predict", model, tmp_path / "train.csv")
    assert r.exit_code == 1, r.stderr
    assert (
        r.stderr.startswith("Error: ") and "corpus" in r.stderr and len(r.stderr.splitlines()) == 1
    )


def test_a_control_character_in_the_corpus_record_is_refused(tmp_path):
    model = train(
        write_table(tmp_path / "train.csv", "csv", examples(100, 0)),
        tmp_path / "m",
        *READING["csv"],
    )
    cfg_path = tmp_path / "m" / "config.json"
    config = json.loads(cfg_path.read_text())
    config["corpus"]["text_column"] = "re\x1b[31mview"
    cfg_path.write_text(json.dumps(config))
    for cmd in (("predict", model, tmp_path / "train.csv"), ("info", model)):
        r = run(*cmd)
        assert r.exit_code == 1 and "control character" in r.stderr and "\x1b" not in r.stderr


# -- 2. gzipped standard input, and the CSV hint ----------------------------------------------------
@pytest.fixture(scope="module")
def ft_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("ft")
    (d / "train.txt").write_text("".join(f"__label__{lab} {t}\n" for t, lab in examples(200, 0)))
    return train(d / "train.txt", d / "m")


def test_gzipped_stdin_is_decompressed(ft_model):
    lines = "".join(f"__label__{lab} {t}\n" for t, lab in examples(25, 3)).encode()
    packed = gzip.compress(lines)
    plain = json.loads(ok("evaluate", ft_model, "-", "--json", input=lines).stdout)
    assert json.loads(ok("evaluate", ft_model, "-", "--json", input=packed).stdout) == plain
    assert plain["n"] == 25
    # a real pipe: `zcat`-free, as `embedcli predict model - < file.gz` in a shell
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "embedcli", "predict", ft_model, "-"],
        input=packed,
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == ok("predict", ft_model, "-", input=lines).stdout
    # a damaged gzip stream is a one-line data error
    r = run("predict", ft_model, "-", input=packed[:-12])
    assert r.exit_code == 1 and ("gzip" in r.stderr or "truncated" in r.stderr), r.stderr


def test_build_vocab_reads_gzipped_stdin(tmp_path):
    text = "".join(f"{t}\n" for t, _ in examples(30, 2)).encode()
    a = json.loads(ok("build-vocab", "-", "-o", tmp_path / "a.tsv", "--json", input=text).stdout)
    b = json.loads(
        ok("build-vocab", "-", "-o", tmp_path / "b.tsv", "--json", input=gzip.compress(text)).stdout
    )
    assert (a["documents"], a["tokens"]) == (b["documents"], b["tokens"]) == (30, 180)
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()


def test_a_csv_file_with_another_extension_gets_a_hint(tmp_path, ft_model):
    data = write_table(tmp_path / "reviews.dat", "csv", examples(20, 1))
    r = ok("predict", ft_model, data)
    assert len(r.stdout.splitlines()) == 21  # behaviour unchanged: the header is a line too
    hint = [line for line in r.stderr.splitlines() if line.startswith("Hint:")]
    assert len(hint) == 1 and "--input-format csv" in hint[0] and "review, sentiment" in hint[0]
    r = ok("build-vocab", data, "-o", tmp_path / "v.tsv")
    assert "Hint:" in r.stderr and "--format csv" in r.stderr
    r = run("train", data, "-o", tmp_path / "m2", "-q")
    assert r.exit_code == 1 and "line has no label" in r.stderr and "--format csv" in r.stderr
    tsv = write_table(tmp_path / "reviews.data", "tsv", examples(5, 1))
    assert "--format tsv" in ok("build-vocab", tsv, "-o", tmp_path / "w.tsv").stderr
    # told the format, or read as CSV by name: no hint
    assert "Hint:" not in ok("predict", ft_model, data, "--input-format", "text").stderr
    assert (
        "Hint:"
        not in ok(
            "build-vocab",
            data,
            "-o",
            tmp_path / "v.tsv",
            "--format",
            "csv",
            "--text-column",
            "review",
        ).stderr
    )


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("text,label", ("csv", ["text", "label"])),
        ('"review_body","star rating"', ("csv", ["review_body", "star rating"])),
        ("id\ttext\tlabel", ("tsv", ["id", "text", "label"])),
        ("Hello, world", None),
        ("__label__a x,y", None),
        ("I liked it, a lot, really", None),
        ("single", None),
        ("a,,b", None),
        ("great movie!,5", None),
    ],
)
def test_tabular_header_heuristic(line, found):
    from embedcli.corpus import tabular_header

    assert tabular_header(line, "__label__") == found


# -- 3. info rounds its floats; --json prints only the JSON ----------------------------------------
def test_info_shows_rounded_floats_and_json_keeps_them(tmp_path, ft_model):
    cfg_path = Path(ft_model) / "config.json"
    config = json.loads(cfg_path.read_text())
    config["metrics"].update(
        train_seconds=2.0477643439999156, tokens_per_s=1234567.891, tiny=3.5e-05
    )
    cfg_path.write_text(json.dumps(config))
    shown = ok("info", ft_model).stdout
    assert "2.0477643439999156" not in shown and "2.048" in shown
    assert "1,234,568" in shown and "3.5e-05" in shown
    for number in re.findall(r"\b\d+\.\d+", shown):  # no raw float anywhere
        assert len(number.replace(".", "").lstrip("0")) <= 4, number
    metrics = json.loads(ok("info", ft_model, "--json").stdout)["metrics"]
    assert metrics["train_seconds"] == 2.0477643439999156


def test_build_vocab_json_prints_only_the_json(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"{t}\n" for t, _ in examples(30, 2)))
    r = ok("build-vocab", corpus, "-o", tmp_path / "v.tsv", "--json")
    assert json.loads(r.stdout)["documents"] == 30
    assert r.stderr == ""
    human = ok("build-vocab", corpus, "-o", tmp_path / "v.tsv")
    assert "top tokens" in human.stderr  # without --json the table is still there
