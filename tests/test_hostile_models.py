"""Hostile model files: a model directory downloaded from someone else must not be able to hang
embedcli, exhaust its memory, print what it likes to the terminal or give silent wrong answers.

A tiny model is trained once; each test copies it, makes one hostile edit and usually re-signs
the files (rewrites their sha256 in ``config.json``: a tampered model, not a disk error), then runs
the real commands. Every refusal is one ``Error:`` line and exit 1.

| test | hostile cases | command runs or loads |
|---|---:|---:|
| ``test_backtracking_pattern_in_model`` (subprocess, 20 s limit) | 9 | 9 |
| ``test_backtracking_pattern_elsewhere`` (``--token-pattern``, vocabulary file) | 18 | 18 |
| ``test_pattern_rule_edges`` (plus 5 lookalikes that pass) | 10 | 10 |
| ``test_classifier_zip_bomb`` / ``_header_bomb`` / ``_extra_small_member`` | 4 | 6 |
| ``test_missing_checksum`` (entry removed or null; 4 files) | 8 | 16 |
| ``test_control_characters_in_labels`` (8 labels; everywhere or vocab.tsv only) | 16 | 48 |
| ``test_training_refuses_control_labels`` (fastText, CSV, JSONL) | 3 | 3 |
| ``test_control_characters_in_config`` | 9 | 27 |
| ``test_huge_weights`` | 6 | 12 |
| ``test_labels_tsv_damage`` (7 edits, re-signed or not) | 14 | 28 |
| ``test_config_labels_disagree`` / ``_tokenizer_disagrees`` | 4 | 4 |
| ``test_hostile_checkpoint`` (``train --resume``) | 4 | 4 |
| total | 105 | 185 |

Positive controls (must load and work): 10 common token patterns timed on 200,000-character lines
and compared with ``re.findall``, Keras' punctuation with tab and newline, weights just under the
overflow bound on a 200,000-token line, the untouched model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from strategies import assert_clean, error_lines
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.errors import FormatError, UsageError
from embedcli.modeldir import load_model, read_config
from embedcli.text import Tokenizer, TokenizerConfig, check_token_pattern

runner = CliRunner()
TRAIN = ["--dim", "4", "--epochs", "1", "--threads", "1", "--buckets", "64", "--quiet"]
LINES = [
    "__label__good hello world nice sunny day",
    "__label__bad bye moon awful rainy night",
    "__label__good hello there lovely bright",
    "__label__bad bye sun grim dark cold",
] * 5
#: a 41-character line that makes a backtracking pattern run for hours
EVIL_LINE = "a" * 40 + "!"


def run(*args: object, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "train.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    (root / "query.txt").write_text(f"hello world\n{EVIL_LINE}\nbye\n", encoding="utf-8")
    r = run("train", root / "train.txt", "-o", root / "model", *TRAIN)
    assert r.exit_code == 0, r.output
    r = run("build-vocab", root / "train.txt", "-o", root / "vocab.tsv", "--quiet")
    assert r.exit_code == 0, r.output
    return root


def copy_model(ws: Path, dest: Path) -> Path:
    shutil.copytree(ws / "model", dest)
    return dest


def resign(model: Path) -> None:
    """Rewrite the checksums in config.json to match the (edited) files: a tampered model."""
    cfg = json.loads((model / "config.json").read_text(encoding="utf-8"))
    for name in list(cfg["files"]):
        f = model / name
        if f.is_file():
            cfg["files"][name] = hashlib.sha256(f.read_bytes()).hexdigest()
    (model / "config.json").write_text(json.dumps(cfg), encoding="utf-8")


def edit_config(model: Path, fn) -> None:  # noqa: ANN001
    cfg = json.loads((model / "config.json").read_text(encoding="utf-8"))
    fn(cfg)
    (model / "config.json").write_text(json.dumps(cfg), encoding="utf-8")


def set_token_pattern(model: Path, pattern: str) -> None:
    """Store ``pattern`` as the tokenizer pattern in vocab.tsv and config.json, re-signed."""
    set_vocab_pattern(model / "vocab.tsv", pattern)
    edit_config(model, lambda c: c["tokenizer"].update(token_pattern=pattern))
    resign(model)


def set_vocab_pattern(vocab: Path, pattern: str) -> None:
    lines = vocab.read_text(encoding="utf-8").split("\n")
    i = next(i for i, line in enumerate(lines) if line.startswith("#tokenizer\t"))
    cfg = json.loads(lines[i].split("\t", 1)[1])
    cfg["token_pattern"] = pattern
    lines[i] = "#tokenizer\t" + json.dumps(cfg)
    vocab.write_text("\n".join(lines), encoding="utf-8")


def expect_refusal(result, *needles: str, code: int = 1) -> str:  # noqa: ANN001
    assert_clean(result, ok=False)
    assert result.exit_code == code, result.output
    (line,) = error_lines(result.stderr)
    for needle in needles:
        assert needle in line, line
    return line


# -- 1. token patterns that backtrack -------------------------------------------------------------
EVIL_PATTERNS = [
    r"(a+)+$",
    r"(\w+\s?)+$",
    r"(a|aa)+$",
    r"(a|a)*b",
    r"(.*a){12}",
    r"\w*\w*\w*\w*\w*x",
    r"(?:a*)*$",
    r"(a+)\1+$",
    r"(?=(a+))\1b",
]


@pytest.mark.parametrize("pattern", EVIL_PATTERNS)
def test_backtracking_pattern_in_model(workspace: Path, tmp_path: Path, pattern: str) -> None:
    """A stored pattern that backtracks is refused in one line before any text is tokenized
    (today: predict on a 41-character line runs for hours). A real subprocess, so that a hang
    is a failure and not a stuck test run."""
    model = copy_model(workspace, tmp_path / "m")
    set_token_pattern(model, pattern)
    t0 = time.monotonic()
    try:
        p = subprocess.run(
            [sys.executable, "-m", "embedcli", "predict", str(model), "-"],
            input=f"{EVIL_LINE}\n",
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"predict with token pattern {pattern!r} still running after 20 s")
    assert p.returncode == 1, p.stderr
    assert p.stdout == ""
    lines = error_lines(p.stderr)
    assert len(lines) == 1 and "token-pattern" in lines[0] and "vocab.tsv" in lines[0], p.stderr
    assert "Traceback" not in p.stderr
    assert time.monotonic() - t0 < 20


@pytest.mark.parametrize("pattern", EVIL_PATTERNS)
def test_backtracking_pattern_elsewhere(workspace: Path, tmp_path: Path, pattern: str) -> None:
    """The same rule for --token-pattern (exit 2) and a vocabulary file given to encode (exit 1)."""
    corpus = tmp_path / "c.txt"
    corpus.write_text(f"{EVIL_LINE}\nhello\n", encoding="utf-8")
    r = run("build-vocab", corpus, "-o", tmp_path / "v.tsv", "--token-pattern", pattern, "-q")
    expect_refusal(r, "token-pattern", code=2)
    assert not (tmp_path / "v.tsv").exists()
    vocab = tmp_path / "v2.tsv"
    text = (workspace / "vocab.tsv").read_text(encoding="utf-8")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("#tokenizer\t"):  # the default tokenizer's own pattern replaced
            settings = json.loads(line.split("\t", 1)[1])
            settings["token_pattern"] = pattern
            lines[i] = "#tokenizer\t" + json.dumps(settings)
    assert json.dumps(pattern) in "\n".join(lines)
    vocab.write_text("\n".join(lines), encoding="utf-8")
    r = run("encode", corpus, "--vocab", vocab, "-o", tmp_path / "ids.npy", "-q")
    expect_refusal(r, "token-pattern", str(vocab))


ACCEPTED = [
    r"\w+|[^\w\s]",
    r"(?u)\b\w\w+\b",
    r"[a-z]{4,}",
    r"[a-z]+|\d+",
    r"\d+(?:\.\d+)?",
    r"\w+(?:'\w+)*",
    r"\S+",
    r"(?i)[a-z]+",
    r"[+-]?\d+(?:\.\d+)?",
    r"#?\w+|[^\w\s]",
]


@pytest.mark.parametrize("pattern", ACCEPTED)
def test_accepted_patterns_run_in_linear_time(pattern: str) -> None:
    """Patterns people use pass, tokenize exactly as ``re.findall`` does, and stay fast on the
    lines that make backtracking patterns explode (200,000 characters each)."""
    check_token_pattern(pattern)
    tok = Tokenizer(TokenizerConfig(punctuation="", token_pattern=pattern))
    sample = "Don't stop: 3.14 café, naïve_x 東京 ÉCOLE a1b2!"
    assert tok.tokenize(sample) == re.findall(pattern, sample.lower())
    n = 200_000
    for line in (
        "a" * n,
        "a" * n + "!",
        "a " * (n // 2),
        "1." * (n // 2),
        "a'" * (n // 2),
        "-" * n,
        "#-" * (n // 2),
    ):
        t0 = time.perf_counter()
        tok.tokenize(line)
        assert time.perf_counter() - t0 < 2.0, (pattern, line[:10])


def test_pattern_rule_edges() -> None:
    """Refusals name the construct; harmless lookalikes pass."""
    for pattern, reason in [
        (r"(a)(b)", "capturing group"),
        (r"\w*", "empty string"),
        ("a\x1bb", "control character"),
        ("a" * 1001, "characters long"),
        (r"(?:a{999}){999}", "more than 100 characters"),
        (r"\w{60}x|\w{60}y", "alternatives add up"),
        (r"(a)\1", "backreference"),
        (r"(?<=a)b", "lookahead/lookbehind"),
        (r"a?a?a?a?aaaa", "optional parts"),
        (r"\w?\w+", "optional parts"),
        (r"(?i)#?\w+", "optional parts"),
    ]:
        with pytest.raises(UsageError, match=reason):
            check_token_pattern(pattern)
    for pattern in (r"(\w+)", r"\w\w+", r"(?:ab)+", r"a{3}\w+", r"(?a)\b\w+\b"):
        check_token_pattern(pattern)


# -- 2. classifier.npz: the zip directory is checked before anything is inflated ----------------
def _zip_member(name: str, data: bytes, *, declared: int | None = None, crc: int | None = None):
    """(local header + data, central directory entry) for a member with deflated ``data``
    already compressed when ``declared`` is given (its uncompressed size)."""
    if declared is None:
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = comp.compress(data) + comp.flush()
        size, crc = len(data), zlib.crc32(data)
    else:
        payload, size = data, declared
    fname = name.encode()
    head = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(payload), size, len(fname), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0x21,
        crc,
        len(payload),
        size,
        len(fname),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    return head + fname + payload, central + fname


def _zip(members: list[tuple[bytes, bytes]]) -> bytes:
    out, directory = b"", b""
    for local, central in members:
        # the central entry's last field is the local header's offset
        directory += central[:42] + struct.pack("<I", len(out)) + central[46:]
        out += local
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(out), 0
    )
    return out + directory + end


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


#: 2 GiB: an .npy header announcing float32 (536870880,) then zeros, deflated to about 2 MB
BOMB_SIZE = 1 << 31
BOMB_CRC = 0x226A5998  # zlib.crc32 of those 2 GiB (computed once; 2 s to recompute)


def _bomb_stream() -> bytes:
    head = io.BytesIO()
    shape = ((BOMB_SIZE - 128) // 4,)
    np.lib.format.write_array_header_1_0(
        head, {"descr": "<f4", "fortran_order": False, "shape": shape}
    )
    assert len(head.getvalue()) == 128
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = 1 << 20
    first = comp.compress(head.getvalue() + bytes(block - 128)) + comp.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the compressor starts afresh: every further MiB of zeros deflates to
    # the same bytes, so the 2 GiB stream is built without compressing 2 GiB.
    again = comp.compress(bytes(block)) + comp.flush(zlib.Z_FULL_FLUSH)
    return first + again * (BOMB_SIZE // block - 1) + comp.flush()


def _classifier_members(model: Path) -> dict[str, bytes]:
    with np.load(model / "classifier.npz") as z:
        return {f"{k}.npy": _npy(z[k]) for k in z.files}


def _write_classifier(model: Path, members: list[tuple[bytes, bytes]]) -> None:
    (model / "classifier.npz").write_bytes(_zip(members))
    resign(model)


def _refused_fast(model: Path, *needles: str) -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(FormatError) as info:
            load_model(model)
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    assert elapsed < 1.0, f"{elapsed:.1f} s: the member was inflated"
    assert peak < 64 << 20, f"peak {peak / 2**20:.0f} MiB: the member was inflated"


@pytest.mark.parametrize("name", ["junk.npy", "out_b.npy"])
def test_classifier_zip_bomb(workspace: Path, tmp_path: Path, name: str) -> None:
    """An extra member, or an expected one, that inflates to 2 GiB is refused from the zip
    directory alone (today the whole archive is inflated before its names are checked)."""
    model = copy_model(workspace, tmp_path / "m")
    members = {k: v for k, v in _classifier_members(model).items() if k != name}
    parts = [_zip_member(k, v) for k, v in members.items()]
    parts.append(_zip_member(name, _bomb_stream(), declared=BOMB_SIZE, crc=BOMB_CRC))
    _write_classifier(model, parts)
    assert (model / "classifier.npz").stat().st_size < 4 << 20
    with zipfile.ZipFile(model / "classifier.npz") as zf:  # a well-formed zip
        assert zf.getinfo(name).file_size == BOMB_SIZE
    needle = "unexpected member 'junk.npy'" if name == "junk.npy" else "declares 2,147,483,648"
    _refused_fast(model, "classifier.npz", needle)
    r = run("predict", model, workspace / "query.txt")
    expect_refusal(r, needle)


def test_classifier_header_bomb(workspace: Path, tmp_path: Path) -> None:
    """A small member whose .npy header announces a huge shape is refused by its header."""
    model = copy_model(workspace, tmp_path / "m")
    members = _classifier_members(model)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (1 << 40,)}
    )
    members["out_b.npy"] = header.getvalue() + b"\0" * 8
    _write_classifier(model, [_zip_member(k, v) for k, v in members.items()])
    _refused_fast(model, "'out_b' should be float32")


def test_classifier_extra_small_member(workspace: Path, tmp_path: Path) -> None:
    model = copy_model(workspace, tmp_path / "m")
    members = _classifier_members(model)
    members["notes.txt"] = b"hello"
    _write_classifier(model, [_zip_member(k, v) for k, v in members.items()])
    _refused_fast(model, "unexpected member 'notes.txt'")


# -- 3. every file the loader reads has a checksum ------------------------------------------------
@pytest.mark.parametrize("name", ["embeddings.npy", "classifier.npz", "vocab.tsv", "labels.tsv"])
@pytest.mark.parametrize("how", ["removed", "null"])
def test_missing_checksum(workspace: Path, tmp_path: Path, name: str, how: str) -> None:
    """Deleting a file's sha256 from config.json no longer switches its check off: altered
    weights (or vocabulary, or labels) behind a removed entry are refused."""
    model = copy_model(workspace, tmp_path / "m")
    f = model / name
    if name == "classifier.npz":
        members = _classifier_members(model)
        with np.load(model / "classifier.npz") as z:
            members["out_W.npy"] = _npy(-z["out_W"])
        f.write_bytes(_zip([_zip_member(k, v) for k, v in members.items()]))
    elif name == "embeddings.npy":
        np.save(f, np.load(f)[::-1].copy())
    else:
        f.write_bytes(f.read_bytes() + b"")  # unchanged bytes: the entry alone is missing

    def drop(cfg: dict) -> None:
        if how == "removed":
            del cfg["files"][name]
        else:
            cfg["files"][name] = None

    edit_config(model, drop)
    for cmd in (["predict", model, workspace / "query.txt"], ["info", model]):
        r = run(*cmd)
        expect_refusal(r, name, "config.json")


# -- 4. control characters in labels and printed strings -----------------------------------------
CONTROL_LABELS = [
    "x\ny",
    "x\rfake",
    "\x1b[2Jgood",
    "bad\x1b]0;title\x07",
    "a\tb",
    "nul\x00",
    "c1\x9b31m",
    "ls\u2028ep",
]


def _set_label(model: Path, index: int, label: str, everywhere: bool = True) -> None:
    """Rename label ``index`` in vocab.tsv (escaped as the format does) and, if ``everywhere``,
    in labels.tsv and config.json too; re-signed."""
    from embedcli.vocab import _escape

    vocab = model / "vocab.tsv"
    lines = vocab.read_text(encoding="utf-8").split("\n")
    label_lines = [i for i, line in enumerate(lines) if line.startswith("#label\t")]
    parts = lines[label_lines[index]].split("\t")
    old = parts[1]
    parts[1] = _escape(label)
    lines[label_lines[index]] = "\t".join(parts)
    vocab.write_bytes("\n".join(lines).encode("utf-8"))
    if everywhere:
        tsv = (model / "labels.tsv").read_text(encoding="utf-8")
        tsv = tsv.replace(f"\t{old}\t", f"\t{label}\t")
        (model / "labels.tsv").write_bytes(tsv.encode("utf-8"))
        edit_config(model, lambda c: c["labels"].__setitem__(index, label))
    resign(model)


@pytest.mark.parametrize("label", CONTROL_LABELS)
@pytest.mark.parametrize("where", ["everywhere", "vocab-only"])
def test_control_characters_in_labels(
    workspace: Path, tmp_path: Path, label: str, where: str
) -> None:
    """A label that would add a line to predict's output or rewrite the terminal is refused,
    naming the file and the label (today predict prints it raw: more output lines than inputs)."""
    model = copy_model(workspace, tmp_path / "m")
    _set_label(model, 1, label, everywhere=where == "everywhere")
    for cmd in (
        ["predict", model, workspace / "query.txt"],
        ["evaluate", model, workspace / "train.txt"],
        ["info", model],
    ):
        line = expect_refusal(run(*cmd), "control character")
        if where == "everywhere":
            assert "config.json: labels[1]" in line, line
        else:
            assert "vocab.tsv" in line and "label 1" in line, line


@pytest.mark.parametrize(
    "corpus",
    [
        "__label__a\x1b[2J x y\n__label__b z w\n",
        'text,label\n"x y","a\x1b[31mb"\n"z w",c\n',
        '{"text": "x y", "label": "bell\\u0007"}\n{"text": "z w", "label": "c"}\n',
    ],
    ids=["fasttext-escape", "csv-escape", "jsonl-bell"],
)
def test_training_refuses_control_labels(tmp_path: Path, corpus: str) -> None:
    """The same rule where labels are made: train cannot write a model that predict refuses."""
    f = tmp_path / ("c.csv" if corpus.startswith("text,") else "c.txt")
    if corpus.startswith("{"):
        f = tmp_path / "c.jsonl"
    f.write_text(corpus, encoding="utf-8")
    r = run("train", f, "-o", tmp_path / "model", *TRAIN)
    expect_refusal(r, "control character")
    assert not (tmp_path / "model").exists()


CONFIG_PLACES = {
    "label_prefix": lambda c: c["train"].__setitem__("label_prefix", "__x\n__label__"),
    "train_value": lambda c: c["train"].__setitem__("optimizer", "adagrad\x1b[31m"),
    "train_key": lambda c: c["train"].__setitem__("evil\x1b]8;;http://x\x07", 1),
    "metrics_key": lambda c: c["metrics"].__setitem__("acc\nuracy", 1.0),
    "metrics_value": lambda c: c["metrics"].__setitem__("note", "\x9b2J"),
    "versions": lambda c: c["versions"].__setitem__("embedcli", "0.1\r\n"),
    "created": lambda c: c.__setitem__("created", "2026\x1b[1A"),
    "token_pattern": lambda c: c["tokenizer"].__setitem__("token_pattern", "\x1b"),
    "punctuation_escape": lambda c: c["tokenizer"].__setitem__("punctuation", "!\x1b"),
}


@pytest.mark.parametrize("place", sorted(CONFIG_PLACES))
def test_control_characters_in_config(workspace: Path, tmp_path: Path, place: str) -> None:
    """Strings of config.json that commands print may hold no control characters."""
    model = copy_model(workspace, tmp_path / "m")
    edit_config(model, CONFIG_PLACES[place])
    for cmd in (
        ["predict", model, workspace / "query.txt"],
        ["lookup", model, "hello"],
        ["info", model, "--json"],
    ):
        expect_refusal(run(*cmd), "config.json", "control character")


def test_punctuation_may_hold_whitespace_controls(workspace: Path, tmp_path: Path) -> None:
    """Keras' filters contain tab and newline: a tokenizer punctuation with them still loads."""
    model = copy_model(workspace, tmp_path / "m")
    punct = json.loads((model / "config.json").read_text(encoding="utf-8"))["tokenizer"]
    assert "\t" not in punct["punctuation"]
    r = run("info", model, "--json")
    assert r.exit_code == 0, r.output
    from embedcli.text import TOKENIZER_FILTERS

    edit_config(model, lambda c: c["tokenizer"].__setitem__("punctuation", TOKENIZER_FILTERS))
    read_config(model)  # its strings pass the control-character check


# -- 5. weights that overflow the forward pass ----------------------------------------------------
@pytest.mark.parametrize(
    "target",
    ["out_W", "out_b", "emb", "emb_small", "out_W_max", "emb_max"],
)
def test_huge_weights(workspace: Path, tmp_path: Path, target: str) -> None:
    """Finite weights whose forward pass overflows float32 are refused (today: NaN scores and
    empty predictions, exit 0)."""
    model = copy_model(workspace, tmp_path / "m")
    members = _classifier_members(model)
    emb = np.load(model / "embeddings.npy")
    if target.startswith("out"):
        key = target.split("_max")[0] if target != "out_W_max" else "out_W"
        a = np.load(io.BytesIO(members[f"{key}.npy"]))
        a = np.full_like(a, np.finfo(np.float32).max) if target.endswith("max") else a * 1e36
        members[f"{key}.npy"] = _npy(a.astype(np.float32))
        (model / "classifier.npz").write_bytes(
            _zip([_zip_member(k, v) for k, v in members.items()])
        )
    else:
        scale = {"emb": 1e36, "emb_small": 1e22, "emb_max": None}[target]
        emb = np.full_like(emb, np.finfo(np.float32).max) if scale is None else emb * scale
        np.save(model / "embeddings.npy", emb.astype(np.float32))
    resign(model)
    assert all(np.isfinite(np.load(model / "embeddings.npy")).ravel())
    expect_refusal(run("predict", model, workspace / "query.txt", "--proba"), "weights too large")
    expect_refusal(run("info", model), "could overflow float32")


def test_weights_under_the_bound_predict_finite(workspace: Path, tmp_path: Path) -> None:
    """Large weights that pass the bound still give finite probabilities on a long line."""
    model = copy_model(workspace, tmp_path / "m")
    emb = np.load(model / "embeddings.npy")
    np.save(model / "embeddings.npy", (emb / np.abs(emb).max() * 1e12).astype(np.float32))
    resign(model)
    long_line = " ".join(["hello", "world", "bye", "moon"] * 50_000)
    (tmp_path / "q.txt").write_text(long_line + "\nhello\n", encoding="utf-8")
    r = run("predict", model, tmp_path / "q.txt", "--proba")
    assert r.exit_code == 0, r.output
    out = r.stdout.splitlines()
    assert len(out) == 2 and all(line.startswith("__label__") for line in out), out


# -- 6. labels.tsv is checked against vocab.tsv ---------------------------------------------------
LABELS_EDITS = {
    "truncated_line": lambda t: t[: t.index("\n") + 3],
    "last_line_gone": lambda t: t[: t.index("\n") + 1],
    "empty": lambda t: "",
    "swapped": lambda t: "".join(
        f"{i}\t{line.split(chr(9), 1)[1]}\n" for i, line in enumerate(reversed(t.splitlines()))
    ),
    "renamed": lambda t: t.replace("\tbad\t", "\tworse\t"),
    "count": lambda t: t.replace("\t10\n", "\t11\n", 1),
    "extra": lambda t: t + "2\tother\t1\n",
}


@pytest.mark.parametrize("edit", sorted(LABELS_EDITS))
@pytest.mark.parametrize("signed", [True, False], ids=["resigned", "checksum"])
def test_labels_tsv_damage(workspace: Path, tmp_path: Path, edit: str, signed: bool) -> None:
    """labels.tsv is verified (sha256, then line by line against vocab.tsv's labels): a
    truncated or edited copy is an error instead of being silently ignored."""
    model = copy_model(workspace, tmp_path / "m")
    f = model / "labels.tsv"
    original = f.read_text(encoding="utf-8")
    assert original.count("\n") == 2 and "\t10\n" in original, original
    f.write_text(LABELS_EDITS[edit](original), encoding="utf-8")
    assert f.read_text(encoding="utf-8") != original
    if signed:
        resign(model)
    for cmd in (["predict", model, workspace / "query.txt"], ["lookup", model, "hello"]):
        expect_refusal(run(*cmd), "labels.tsv")


@pytest.mark.parametrize("labels", [["good"], ["bad", "good"], "good bad"])
def test_config_labels_disagree(workspace: Path, tmp_path: Path, labels: object) -> None:
    model = copy_model(workspace, tmp_path / "m")
    edit_config(model, lambda c: c.__setitem__("labels", labels))
    expect_refusal(run("predict", model, workspace / "query.txt"), "'labels'", "vocab.tsv")


def test_config_tokenizer_disagrees(workspace: Path, tmp_path: Path) -> None:
    """info shows config.json's tokenizer: it must be the one vocab.tsv holds (and uses)."""
    model = copy_model(workspace, tmp_path / "m")
    edit_config(model, lambda c: c["tokenizer"].__setitem__("lower", False))
    expect_refusal(run("info", model), "'tokenizer'", "vocab.tsv")


def test_untouched_model_loads(workspace: Path) -> None:
    """The checks refuse nothing a real training wrote."""
    m = load_model(workspace / "model")
    assert m.labels == ["good", "bad"] or m.labels == ["bad", "good"]
    r = run("predict", workspace / "model", workspace / "query.txt")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 3, r.output


# -- checkpoints: the same zip and checksum rules -------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(workspace: Path) -> Path:
    ck = workspace / "ck"
    r = run(
        "train", workspace / "train.txt", "-o", workspace / "ck-model", "--checkpoint", ck,
        "--checkpoint-every", "1", *TRAIN[:2], "--epochs", "2", *TRAIN[4:],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return ck


def _resign_checkpoint(ck: Path, drop: str | None = None) -> None:
    meta = json.loads((ck / "checkpoint.json").read_text(encoding="utf-8"))
    for name in ("state.npz", "vocab.tsv"):
        meta["files"][name] = hashlib.sha256((ck / name).read_bytes()).hexdigest()
    if drop:
        del meta["files"][drop]
    (ck / "checkpoint.json").write_text(json.dumps(meta), encoding="utf-8")


@pytest.mark.parametrize("case", ["bomb", "extra", "no-checksum", "evil-pattern"])
def test_hostile_checkpoint(workspace: Path, checkpoint: Path, tmp_path: Path, case: str) -> None:
    """train --resume reads a checkpoint with the same rules as a model."""
    ck = tmp_path / "ck"
    shutil.copytree(checkpoint, ck)
    with np.load(ck / "state.npz") as z:
        members = {f"{k}.npy": _npy(z[k]) for k in z.files}
    parts = [_zip_member(k, v) for k, v in members.items() if k != "emb_V.npy"]
    drop = None
    if case == "bomb":
        parts.append(_zip_member("emb_V.npy", _bomb_stream(), declared=BOMB_SIZE, crc=BOMB_CRC))
        needle = "declares 2,147,483,648"
    elif case == "extra":
        parts.append(_zip_member("emb_V.npy", members["emb_V.npy"]))
        parts.append(_zip_member("payload.npy", b"x"))
        needle = "unexpected member 'payload.npy'"
    elif case == "no-checksum":
        parts.append(_zip_member("emb_V.npy", members["emb_V.npy"]))
        drop, needle = "state.npz", "no sha256 for state.npz"
    else:
        parts.append(_zip_member("emb_V.npy", members["emb_V.npy"]))
        set_vocab_pattern(ck / "vocab.tsv", r"(a+)+$")  # checkpoint.json re-signed below
        needle = "unsafe --token-pattern"
    (ck / "state.npz").write_bytes(_zip(parts))
    _resign_checkpoint(ck, drop)
    out = tmp_path / "resumed"
    t0 = time.perf_counter()
    r = run("train", workspace / "train.txt", "--resume", ck, "-o", out, "--quiet")
    assert time.perf_counter() - t0 < 30
    expect_refusal(r, needle)
    assert not out.exists()
