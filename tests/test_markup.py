"""User text is never markup, never raw control characters, never cut in a file or a pipe.

File names, column names, labels, tokens and config strings reach the screen through Rich. Each
command that shows one is run here with strings Rich could take for markup (``[/red]``,
``[deleted]``, ``[plot]``, ``:smile:``, backslashes) and with control characters (``\\x1b[31m``,
line breaks inside a field, bidi overrides). Every run must end with the expected exit code and no
traceback (no ``MarkupError``); the string must appear as it is (control characters as visible
escapes such as ``\\x1b``, never raw); nothing is printed blank. Then the regressions of issue 13
as reported, and the no-wrap rule for files and pipes (epoch lines, a 20-class confusion matrix).

Hypothesis cases per run: 60 error lines, 40 missing files (8 commands), 25 models with
markup-like labels and tokens (info, lookup, nearest, evaluate), 20 models with control characters
(info, lookup, nearest, evaluate, predict text/tsv): 145, plus 12 fixed tests (about 60 checks)
and 10 unit cases of the helper. ``strategies.MARKUP_PIECES`` also feed the corpora of test_fuzz.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import CONTROL_PIECES, display_text, file_name, markup_text
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.cli.render import data_field, visible
from embedcli.errors import FormatError
from embedcli.modeldir import save_model
from embedcli.text import TokenizerConfig
from embedcli.vocab import Vocabulary

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
#: what must never reach the screen raw (a newline ends a line and is allowed)
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: what plain data on stdout never holds raw (bidi formatting is text there, kept)
RAW_IN_DATA = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
#: a whitespace split that keeps every character: tokens such as "[deleted]" survive
KEEP_ALL = TokenizerConfig(lower=False, punctuation="")
TOKENS = [
    "alpha",
    "beta",
    "[deleted]",
    "[/red]",
    "[bold]x",
    "a\\",
    ":smile:",
    "[link=x]y",
    "[plot]",
]
LABELS = ["[/a]", "[bold]", "[deleted]", "x\\", ":smile:"]


def run(*args: object, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def clean(r, code: int | tuple[int, ...] = 0, what: str = ""):  # noqa: ANN001, ANN201
    """Expected exit code, no traceback or markup error, one ``Error:`` line on failure."""
    codes = (code,) if isinstance(code, int) else code
    out = r.stdout + r.stderr
    ctx = f"{what}: exit {r.exit_code}\nstdout: {r.stdout[-3000:]!r}\nstderr: {r.stderr[-3000:]!r}"
    assert r.exit_code in codes, ctx
    assert r.exception is None or isinstance(r.exception, SystemExit), f"{r.exception!r}\n{ctx}"
    for bad in ("Traceback", "MarkupError", "internal error"):
        assert bad not in out, ctx
    assert not RAW_CONTROL.search(r.stderr), ctx
    if r.exit_code:  # progress lines ("reading FILE …") may come first; the error is one line
        lines = r.stderr.strip("\n").splitlines()
        errors = [ln for ln in lines if ln.startswith("Error: ")]
        assert len(errors) == 1 and lines[-1] == errors[0], ctx
    return r


def shown(s: str, out: str) -> bool:
    """``s`` appears as it is (control characters escaped), or as its repr() in a message."""
    return visible(s) in out or visible(repr(s)[1:-1]) in out


def write_model(path: Path, tokens: list[str], labels: list[str], **train: str) -> str:
    """A small model written by hand: [pad], [UNK], tokens; a linear softmax over ``labels``."""
    words = ["", "[UNK]", *tokens]
    rng = np.random.default_rng(len(words) + len(labels))
    dim = 4
    vocab = Vocabulary(
        words,
        [0, 0, *range(len(tokens) + 1, 1, -1)],
        oov=True,
        labels=labels,
        label_counts=[1] * len(labels),
        tokenizer=KEEP_ALL,
    )
    params = types.SimpleNamespace(
        embeddings=rng.normal(size=(len(words), dim)).astype(np.float32),
        out_W=rng.normal(size=(dim, len(labels))).astype(np.float32),
        out_b=np.zeros(len(labels), np.float32),
    )
    spec = dict(
        num_words=len(words),
        buckets=0,
        dim=dim,
        num_classes=len(labels),
        pool="mean",
        hidden=0,
        objective="softmax",
        word_ngrams=1,
        maxlen=0,
    )
    save_model(path, spec=spec, params=params, vocab=vocab, train_config={"epochs": 1, **train})
    return str(path)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A model whose tokens and labels look like markup, and a labelled test file for it."""
    root = tmp_path_factory.mktemp("markup")
    model = write_model(root / "model[old]", TOKENS, LABELS, label_prefix="__label__")
    test = root / "test[old].txt"
    lines = [f"__label__{lab} alpha {tok}" for lab in LABELS for tok in TOKENS[2:5]]
    test.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return model, str(test)


# -- the helper ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, screen",
    [
        ("data[old].csv", "data[old].csv"),
        ("missing[/red].txt", "missing[/red].txt"),
        ("a\\[bold]b\\", "a\\[bold]b\\"),
        (":smile: [plot]", ":smile: [plot]"),
        ("a\x1b[31mb", "a\\x1b[31mb"),
        ("one\ntwo\r\tthree", "one\\ntwo\\r\\tthree"),
        ("\x00\x07\x7f\x85\x9b", "\\x00\\x07\\x7f\\x85\\x9b"),
        ("abc\u202eevil\u2066x\u2028", "abc\\u202eevil\\u2066x\\u2028"),
        ("naïve 中文 😀 עברית", "naïve 中文 😀 עברית"),
    ],
)
def test_visible_escapes_only_control_characters(raw: str, screen: str) -> None:
    assert visible(raw) == screen


def test_data_field_escapes_what_breaks_a_record_and_nothing_else() -> None:
    assert data_field("[/a]\\x") == "[/a]\\x"
    assert data_field("a\nb\tc\rd\x1b") == "a\\nb\\tc\\rd\\x1b"
    assert data_field("abc\u202edef") == "abc\u202edef"  # bidi text is data, kept


@given(message=display_text)
@settings(FUZZ, max_examples=60)
def test_error_line_is_the_message_as_text(message: str) -> None:
    from embedcli.cli.app import fail

    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        exit_ = fail(message)
    assert exit_.exit_code == 1
    assert buf.getvalue() == f"Error: {visible(message)}\n"


# -- fuzz: hostile names and strings through the commands ---------------------------------------------
MISSING_INPUT_COMMANDS = ["build-vocab", "encode", "train", "predict", "evaluate", "embed"]


@given(name=file_name, command=st.sampled_from(MISSING_INPUT_COMMANDS + ["info", "lookup"]))
@settings(FUZZ, max_examples=40)
def test_missing_file_is_named_in_one_error_line(
    hostile: tuple[str, str], tmp_path: Path, name: str, command: str
) -> None:
    model, _ = hostile
    missing = tmp_path / name
    assume(not missing.exists())
    out = tmp_path / "out"
    args = {
        "build-vocab": ["build-vocab", missing, "-o", out],
        "encode": ["encode", missing, "--vocab", Path(model) / "vocab.tsv"],
        "train": ["train", missing, "-o", out],
        "predict": ["predict", model, missing],
        "evaluate": ["evaluate", model, missing],
        "embed": ["embed", model, missing, "-o", tmp_path / "v.tsv"],
        "info": ["info", missing],
        "lookup": ["lookup", missing, "alpha"],
    }[command]
    r = clean(run(*args), code=(1, 2), what=command)
    assert shown(name, r.stderr), r.stderr


@given(label=markup_text, token=markup_text)
@settings(FUZZ, max_examples=25)
def test_markup_like_labels_and_tokens_are_shown_as_they_are(
    tmp_path_factory: pytest.TempPathFactory, label: str, token: str
) -> None:
    assume(token not in ("alpha", "[UNK]") and label != "other")
    assume(visible(label) == label)  # a label with a control character is refused (tested below)
    root = tmp_path_factory.mktemp("m")
    model = write_model(root / "m", ["alpha", token], [label, "other"])
    r = clean(run("info", model), what="info")
    assert visible(label) in r.stdout
    r = clean(run("lookup", model, "--index", "3", "--format", "table"), what="lookup")
    assert visible(token) in r.stdout
    r = clean(run("nearest", model, "alpha", "--format", "table"), what="nearest")
    assert visible(token) in r.stdout
    test = root / "test.txt"
    test.write_text("__label__other alpha\n", encoding="utf-8")
    r = clean(run("evaluate", model, test), what="evaluate")
    assert r.stdout.count(visible(label)) >= 3, r.stdout  # per-label row, matrix row and column


@given(piece=st.sampled_from(CONTROL_PIECES), where=st.sampled_from(["label", "token"]))
@settings(FUZZ, max_examples=20)
def test_control_characters_never_reach_the_screen_raw(
    tmp_path_factory: pytest.TempPathFactory, piece: str, where: str
) -> None:
    """Shown escaped, or the model is refused in one line; predict keeps one line per input."""
    root = tmp_path_factory.mktemp("c")
    label = f"a{piece}b" if where == "label" else "a"
    token = f"t{piece}u" if where == "token" else "t"
    try:
        model = write_model(root / "m", ["alpha", token], [label, "other"])
    except FormatError as exc:  # refused where a vocabulary is made: no model can hold it
        assert where == "label" and "control character" in str(exc), exc
        return
    outputs = []
    for args in (
        ["info", model],
        ["lookup", model, "--index", "3", "--format", "table"],
        ["nearest", model, "alpha", "--format", "table"],
    ):
        r = clean(run(*args), code=(0, 1), what=args[0])
        assert not RAW_CONTROL.search(r.stdout), r.stdout
        outputs.append(r)
    if outputs[0].exit_code == 0:
        assert visible(label) in outputs[0].stdout
        assert visible(token) in outputs[1].stdout
    test = root / "test.txt"
    test.write_text("__label__other alpha\nalpha t\nbeta\n", encoding="utf-8")
    r = clean(run("evaluate", model, test), code=(0, 1), what="evaluate")
    assert not RAW_CONTROL.search(r.stdout), r.stdout
    for fmt in ("text", "tsv"):
        r = clean(run("predict", model, test, "-k", "2", "--format", fmt), code=(0, 1), what=fmt)
        if r.exit_code == 0:
            assert len(r.stdout.splitlines()) == 3, r.stdout
            assert not RAW_IN_DATA.search(r.stdout.replace("\t", " ")), r.stdout


# -- the cases of issue 13, as reported ---------------------------------------------------------------
def test_bracketed_file_name_is_shown_as_is(tmp_path: Path) -> None:
    data = tmp_path / "data[old].csv"
    data.write_text("text,label\nhello world,a\nfoo bar,b\n", encoding="utf-8")
    r = clean(run("build-vocab", data, "--text-column", "nope", "-o", tmp_path / "v"), code=2)
    assert "data[old].csv" in r.stderr
    out = tmp_path / "vocab[old].tsv"
    r = clean(run("build-vocab", data, "--label-column", "label", "-o", out))
    assert out.is_file() and "vocab[old].tsv" in r.stderr


def test_missing_file_with_a_closing_tag_is_one_error_line(tmp_path: Path) -> None:
    r = clean(run("build-vocab", tmp_path / "missing[/red].txt", "-o", tmp_path / "v"), code=1)
    assert "missing[/red].txt" in r.stderr


def test_label_with_a_closing_tag_builds_and_trains(tmp_path: Path) -> None:
    data = tmp_path / "train.txt"
    lines = ["__label__[/a] good fine nice", "__label__b bad poor awful"] * 10
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    vocab = tmp_path / "vocab.tsv"
    r = clean(run("build-vocab", data, "-o", vocab))
    assert "#label\t[/a]\t10" in vocab.read_text(encoding="utf-8")
    assert "[/a] (10)" in r.stderr
    fast = ["--dim", "4", "--epochs", "2", "--threads", "1", "--buckets", "64"]
    model = tmp_path / "model"
    r = clean(run("train", data, "-o", model, *fast, "--val", data, "--test", data))
    assert (model / "config.json").is_file()
    assert "[/a], b" in r.stderr and "Model written to" in r.stderr
    r = clean(run("train", data, "--dry-run", *fast))
    assert "[/a], b" in r.stderr
    r = clean(run("train", data, "--dry-run", "--json", *fast))
    assert json.loads(r.stdout)["labels"] == ["[/a]", "b"]
    r = clean(run("train", data, "-o", tmp_path / "m2", "--json", "--quiet", *fast))
    assert json.loads(r.stdout)["labels"] in (2, ["[/a]", "b"])
    r = clean(run("predict", model, data, "-k", "2"))
    assert "__label__[/a]" in r.stdout


def test_bracketed_tokens_are_not_blank(hostile: tuple[str, str]) -> None:
    model, _ = hostile
    r = clean(run("lookup", model, "[deleted]", "[/red]", ":smile:", "--format", "table"))
    for tok in ("[deleted]", "[/red]", ":smile:"):
        assert re.search(rf"│ {re.escape(tok)} +│ +\d+ │", r.stdout), r.stdout
    r = clean(run("lookup", model, "--sentence", "alpha [plot] a\\", "--format", "table"))
    assert "[plot]" in r.stdout and "a\\" in r.stdout
    r = clean(run("nearest", model, "[deleted]", "-k", "20", "--format", "table"))
    for tok in ("[/red]", "[bold]x", "a\\", ":smile:", "[link=x]y", "[plot]"):
        assert f" {tok} " in r.stdout, r.stdout
    assert "[deleted]" in r.stdout.splitlines()[0]  # the title: the query word
    r = clean(run("analogy", model, "alpha", "[deleted]", "[/red]", "--format", "table"))
    assert "alpha : [deleted] :: [/red] : ?" in r.stdout
    r = clean(run("nearest", model, "[nope]", "alpha"))
    assert "'[nope]' is not a word of the vocabulary" in r.stderr


def test_plot_hint_keeps_the_extra_name(
    hostile: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = hostile
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    r = clean(run("plot", model, "-o", tmp_path / "w.png"), code=1)
    assert "'embedcli[plot]'" in r.stderr


def test_evaluate_tables_show_every_label(hostile: tuple[str, str]) -> None:
    model, test = hostile
    r = clean(run("evaluate", model, test))
    per_label = r.stdout.split("Per label")[1].split("Confusion")[0]
    confusion = r.stdout.split("Confusion")[1]
    header = confusion.splitlines()[2]
    for lab in LABELS:
        assert re.search(rf"│ {re.escape(lab)} +│", per_label), per_label
        assert f" {lab} " in header, header
        assert re.search(rf"│ {re.escape(lab)} +│", confusion), confusion
    r = clean(run("evaluate", model, test, "--format", "fasttext-label"))
    assert "__label__[/a]" in r.stdout


def test_info_shows_labels_and_config_strings(tmp_path: Path) -> None:
    model = write_model(
        tmp_path / "m", ["alpha"], ["[/a]", "[b]"], label_prefix="[x]", note="[plot]"
    )
    r = clean(run("info", model))
    for s in ("[/a]", "[b]", "[x]", "[plot]"):
        assert s in r.stdout, r.stdout
    assert f"Model: {model}" in r.stdout
    # a config string with a control character is refused at load (never printed raw)
    model = write_model(tmp_path / "m2", ["alpha"], ["a", "b"], note="[plot] \x1b[2J")
    r = clean(run("info", model), code=1)
    assert "\\x1b" in r.stderr and "\x1b" not in r.stderr, r.stderr


def test_predict_explain_verbose_embed_export_encode(
    hostile: tuple[str, str], tmp_path: Path
) -> None:
    model, test = hostile
    r = clean(run("predict", model, test, "--explain", "--verbose"))
    assert "[deleted]" in r.stdout and "# " not in r.stdout.splitlines()[0]
    assert any(line.startswith("__label__[") for line in r.stdout.splitlines())
    assert "predicted 15 lines" in r.stderr
    vec = tmp_path / "vec[old].tsv"
    clean(run("embed", model, test, "-o", vec))
    assert len(vec.read_text().splitlines()) == 15
    out = tmp_path / "w2v[old].txt"
    r = clean(run("export", model, "--format", "word2vec", "-o", out))
    assert "w2v[old].txt" in r.stderr and "[deleted] " in out.read_text(encoding="utf-8")
    vocab = tmp_path / "v[1].tsv"
    clean(run("build-vocab", test, "-o", vocab, "--quiet"))
    ids = tmp_path / "ids[old].npz"
    r = clean(run("encode", test, "--vocab", vocab, "-o", ids))
    assert ids.is_file() and "ids[old].npz" in r.stderr


def test_control_characters_in_a_file_name_are_escaped(tmp_path: Path) -> None:
    for name in ("bad\x1b[31mname.txt", "two\nlines.txt", "over\u202etxt.exe"):
        r = clean(run("build-vocab", tmp_path / name, "-o", tmp_path / "v"), code=1)
        assert visible(name) in r.stderr and "\x1b" not in r.stderr


# -- no wrapping or truncation in a file or a pipe ----------------------------------------------------
def test_the_test_run_exports_no_terminal_size() -> None:
    """pytest imports readline, which exports COLUMNS=80 LINES=24 at C level (not in os.environ):
    pytest-xdist's workers and every subprocess inherited them, and the in-process runs of this
    file then wrapped long paths at 80 columns under ``-n 2``. conftest.py unsets them."""
    code = "import os; print(os.environ.get('COLUMNS'), os.environ.get('LINES'))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.split() == ["None", "None"], p.stdout
    assert "COLUMNS" not in os.environ and "LINES" not in os.environ


def _cli(*args: object, **kwargs: object) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "embedcli", *map(str, args)],
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=600,
        **kwargs,  # type: ignore[arg-type]
    )


def test_epoch_lines_are_whole_in_a_file(tmp_path: Path) -> None:
    data = tmp_path / "train.txt"
    lines = ["__label__pos good fine nice", "__label__neg bad poor awful"] * 10
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log = tmp_path / "log.txt"
    with log.open("w") as err:
        p = _cli(
            "train", data, "-o", tmp_path / ("model_" + "x" * 90), "--val", data,
            "--dim", "4", "--epochs", "3", "--threads", "1", "--buckets", "64",
            stderr=err, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    text = log.read_text()
    assert p.returncode == 0, text
    epochs = [line for line in text.splitlines() if line.startswith("epoch")]
    assert len(epochs) == 3 and all(line.rstrip().endswith(tuple("0123456789")) for line in epochs)
    assert all("val acc" in line and len(line) > 80 for line in epochs), text
    assert f"Model written to {tmp_path / ('model_' + 'x' * 90)}" in text


def test_twenty_class_confusion_matrix_in_a_pipe(tmp_path: Path) -> None:
    labels = [f"topic_{i:02d}_with_a_long_name" for i in range(20)]
    model = write_model(tmp_path / "m20", ["alpha", "beta", "gamma"], labels)
    test = tmp_path / "t.txt"
    test.write_text("".join(f"__label__{lab} alpha beta\n" for lab in labels), encoding="utf-8")
    p = _cli("evaluate", model, test, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "…" not in p.stdout
    confusion = p.stdout.split("Confusion")[1].splitlines()
    assert all(f" {lab} " in confusion[2] for lab in labels), confusion[2]
    rows = [line for line in confusion if line.startswith("│ topic_")]
    assert len(rows) == 20 and all(len(line) == len(confusion[1]) for line in rows)


def test_long_table_title_is_one_line_in_a_pipe(tmp_path: Path) -> None:
    model = write_model(tmp_path / ("model_" + "y" * 120), ["alpha"], ["a", "b"])
    r = clean(run("info", model))
    assert f"Model: {model}\n" in r.stdout
