"""Damaged vocabulary and model files: every command refuses them with one ``Error:`` line.

A tiny model is trained once; each test copies it, damages one file (truncated, bit-flipped,
wrong shape or dtype, NaN/Inf, another version, a pickle inside an ``.npy``, hostile names in
``config.json``) and runs the real commands through Typer's ``CliRunner``. "Re-signed" damage also
rewrites the sha256 in ``config.json`` (a tampered model, not a disk error), so the array and TSV
parsers are reached instead of the checksum check.

Cases (fixed; hypothesis ``max_examples`` in brackets):

| test | cases |
|---|---|
| ``test_damaged_embeddings`` | 23 damage kinds x 2 (re-signed or not) x 3 commands = 138 |
| ``test_damaged_classifier`` | 14 kinds x 4 commands = 56 |
| ``test_damaged_config`` | 47 kinds x 3 commands = 141 |
| ``test_damaged_vocab_in_model`` | 30 kinds x 3 commands = 90 |
| ``test_damaged_vocab_file`` | 30 kinds x 2 commands (encode, train --vocab) = 60 |
| ``test_missing_file`` | 5 files x 3 commands = 15 |
| ``test_bit_flips`` (hypothesis) | [120] |
| ``test_truncations`` (hypothesis) | [80] |
| ``test_pickle_payload_never_runs`` | 3 (.npy, .npz member, --init-vectors .npy) |
| total | 500 fixed command runs + 200 hypothesis cases |
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    CLASSIFIER_DAMAGE,
    assert_clean,
    bit_flip,
    config_variants,
    damaged_classifier,
    damaged_npy,
    damaged_npy_names,
    list_temp_files,
    truncate,
    vocab_variants,
)
from typer.testing import CliRunner

from embedcli.cli import app

runner = CliRunner()
MODEL_FILES = ("config.json", "embeddings.npy", "classifier.npz", "vocab.tsv", "labels.tsv")
TRAIN = ["--dim", "4", "--epochs", "1", "--threads", "1", "--buckets", "64", "--quiet"]
LINES = [
    "__label__good hello world nice sunny day",
    "__label__bad bye moon awful rainy night",
    "__label__good hello there lovely bright",
    "__label__bad bye sun grim dark cold",
] * 5


def run(*args: str, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("damaged")
    (root / "train.txt").write_text("\n".join(LINES) + "\n", encoding="utf-8")
    (root / "query.txt").write_text("hello world\nunknownword\n\nbye\n", encoding="utf-8")
    r = run("train", root / "train.txt", "-o", root / "model", *TRAIN)
    assert r.exit_code == 0, r.output
    r = run("build-vocab", root / "train.txt", "-o", root / "vocab.tsv", "--quiet")
    assert r.exit_code == 0, r.output
    return root


def copy_model(ws: Path, dest: Path) -> Path:
    shutil.copytree(ws / "model", dest)
    return dest


def resign(model: Path) -> None:
    """Rewrite the checksums in config.json to match the (damaged) files: a tampered model."""
    cfg = json.loads((model / "config.json").read_text(encoding="utf-8"))
    for name in list(cfg["files"]):
        f = model / name
        if f.is_file():
            cfg["files"][name] = hashlib.sha256(f.read_bytes()).hexdigest()
    (model / "config.json").write_text(json.dumps(cfg), encoding="utf-8")


def write(path: Path, data: str | bytes) -> None:
    if isinstance(data, str):
        path.write_bytes(data.encode("utf-8", "surrogatepass"))
    else:
        path.write_bytes(data)


def model_commands(
    ws: Path, model: Path, out_dir: Path
) -> dict[str, tuple[list[str], Path | None]]:
    """The commands that open a model, each with the output file it would write (if any)."""
    q = str(ws / "query.txt")
    m = str(model)
    return {
        "lookup": (["lookup", m, "hello", "--format", "tsv"], None),
        "nearest": (["nearest", m, "hello", "--format", "tsv", "-k", "2"], None),
        "predict": (["predict", m, q, "--proba"], None),
        "evaluate": (["evaluate", m, str(ws / "train.txt"), "--json"], None),
        "export": (
            ["export", m, "--format", "word2vec", "-o", str(out_dir / "vectors.txt"), "-q"],
            out_dir / "vectors.txt",
        ),
        "info": (["info", m, "--json"], None),
    }


def run_all(ws: Path, model: Path, names: tuple[str, ...], expect_ok: dict[str, bool | None]):
    out_dir = model.parent / "out"
    out_dir.mkdir(exist_ok=True)
    cmds = model_commands(ws, model, out_dir)
    for name in names:
        args, output = cmds[name]
        r = run(*args)
        outputs = (output,) if output is not None else ()
        assert_clean(r, *outputs, ok=expect_ok.get(name), what=" ".join(args[:1] + args[2:]))
        if output is not None and output.exists():
            output.unlink()


VOCAB_KINDS = sorted(vocab_variants("#embedcli-vocab\t1\n#tokenizer\t{}\n0\t\t0\n"))
ALL = ("lookup", "nearest", "predict", "evaluate", "export", "info")
#: files each command reads (labels.tsv is verified against vocab.tsv by every command)
NEEDS = {
    "lookup": ("config.json", "embeddings.npy", "vocab.tsv", "labels.tsv"),
    "nearest": ("config.json", "embeddings.npy", "vocab.tsv", "labels.tsv"),
    "export": ("config.json", "embeddings.npy", "vocab.tsv", "labels.tsv"),
    "predict": ("config.json", "embeddings.npy", "vocab.tsv", "classifier.npz", "labels.tsv"),
    "evaluate": ("config.json", "embeddings.npy", "vocab.tsv", "classifier.npz", "labels.tsv"),
    "info": ("config.json", "embeddings.npy", "vocab.tsv", "classifier.npz", "labels.tsv"),
}
VERIFYING = ("evaluate", "export", "info")  # sha256 + finiteness of the embedding table


@pytest.mark.parametrize("kind", damaged_npy_names())
@pytest.mark.parametrize("signed", [True, False], ids=["resigned", "checksum"])
def test_damaged_embeddings(workspace: Path, tmp_path: Path, kind: str, signed: bool) -> None:
    model = copy_model(workspace, tmp_path / "m")
    original = np.load(model / "embeddings.npy")
    write(model / "embeddings.npy", damaged_npy(original, kind))
    if signed:
        resign(model)
    if kind == "fortran" and signed:  # same values, another memory order: a valid table
        expect = {c: True for c in ALL}
    elif kind in ("nan", "inf"):
        # lookup/nearest/predict skip the full-table scan for a fast start (documented)
        expect = {c: False for c in VERIFYING}
    elif kind == "pickle":
        expect = {c: False for c in ALL}
    elif not signed:
        expect = {c: False for c in VERIFYING}
    else:
        expect = {c: False for c in ALL}
    # lookup: memory-mapped fast start; evaluate: full verification + engine; export: an output
    run_all(workspace, model, ("lookup", "evaluate", "export"), expect)


@pytest.mark.parametrize("kind", CLASSIFIER_DAMAGE)
def test_damaged_classifier(workspace: Path, tmp_path: Path, kind: str) -> None:
    model = copy_model(workspace, tmp_path / "m")
    with np.load(model / "classifier.npz") as z:
        arrays = {k: z[k] for k in z.files}
    write(model / "classifier.npz", damaged_classifier(arrays, kind))
    resign(model)
    run_all(
        workspace,
        model,
        ("predict", "evaluate", "info", "lookup"),
        {"predict": False, "evaluate": False, "info": False},
    )


def _config_cases() -> list[str]:
    return sorted(config_variants({"model": {}, "files": {"embeddings.npy": ""}, "x": 1}))


@pytest.mark.parametrize("kind", _config_cases())
def test_damaged_config(workspace: Path, tmp_path: Path, kind: str) -> None:
    model = copy_model(workspace, tmp_path / "m")
    original = json.loads((model / "config.json").read_text(encoding="utf-8"))
    write(model / "config.json", config_variants(original)[kind])
    # Harmless edits (extra keys, an unused 'train' or 'metrics' section) may load.
    harmless = {"extra_spec_key", "metrics_str", "labels_int", "train_prefix_int", "tokenizer_str"}
    expect = {} if kind in harmless else {c: False for c in ALL}
    run_all(workspace, model, ("lookup", "predict", "info"), expect)


@pytest.mark.parametrize("kind", VOCAB_KINDS)
def test_damaged_vocab_in_model(workspace: Path, tmp_path: Path, kind: str) -> None:
    model = copy_model(workspace, tmp_path / "m")
    original = (model / "vocab.tsv").read_text(encoding="utf-8")
    write(model / "vocab.tsv", vocab_variants(original)[kind])
    resign(model)
    harmless = {"crlf", "options_bad_padding", "label_no_count"}
    expect = {} if kind in harmless else {"lookup": False, "predict": False, "info": False}
    run_all(workspace, model, ("lookup", "predict", "info"), expect)


@pytest.mark.parametrize("kind", VOCAB_KINDS)
def test_damaged_vocab_file(workspace: Path, tmp_path: Path, kind: str) -> None:
    original = (workspace / "vocab.tsv").read_text(encoding="utf-8")
    vocab = tmp_path / "v.tsv"
    write(vocab, vocab_variants(original)[kind])
    ids = tmp_path / "ids.npy"
    r = run("encode", workspace / "query.txt", "--vocab", vocab, "-o", ids, "--quiet")
    assert_clean(r, ids)
    out = tmp_path / "model"
    r = run("train", workspace / "train.txt", "--vocab", vocab, "-o", out, *TRAIN)
    assert_clean(r, out)


@pytest.mark.parametrize("name", MODEL_FILES)
def test_missing_file(workspace: Path, tmp_path: Path, name: str) -> None:
    model = copy_model(workspace, tmp_path / "m")
    (model / name).unlink()
    # labels.tsv is checked by every command; lookup does not need classifier.npz
    failing = ("lookup", "predict", "info") if name == "labels.tsv" else ("predict", "info")
    run_all(workspace, model, ("lookup", "predict", "info"), {c: False for c in failing})


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(MODEL_FILES),
    position=st.integers(0, 1 << 20),
    bit=st.integers(0, 7),
    signed=st.booleans(),
    command=st.sampled_from(ALL),
)
def test_bit_flips(
    workspace: Path, name: str, position: int, bit: int, signed: bool, command: str
) -> None:
    with tempfile.TemporaryDirectory(dir=workspace) as d:
        model = copy_model(workspace, Path(d) / "m")
        f = model / name
        write(f, bit_flip(f.read_bytes(), position, bit))
        if signed and name != "config.json":
            resign(model)
        run_all(workspace, model, (command,), {})


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(MODEL_FILES),
    fraction=st.floats(0.0, 0.999),
    signed=st.booleans(),
    command=st.sampled_from(ALL),
)
def test_truncations(workspace: Path, name: str, fraction: float, signed: bool, command: str):
    with tempfile.TemporaryDirectory(dir=workspace) as d:
        model = copy_model(workspace, Path(d) / "m")
        f = model / name
        original = f.read_bytes()
        data = truncate(original, fraction)
        write(f, data)
        if signed and name != "config.json":
            resign(model)
        # Cutting only trailing whitespace (a final newline) leaves a valid, re-signed file.
        harmless = signed and not original[len(data) :].strip()
        expect = {command: False} if name in NEEDS[command] and not harmless else {}
        run_all(workspace, model, (command,), expect)


class _Payload:
    """Unpickling this creates the marker file: proof that code ran."""

    marker = ""

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("where", ["embeddings.npy", "classifier.npz", "init-vectors"])
def test_pickle_payload_never_runs(workspace: Path, tmp_path: Path, where: str) -> None:
    """An object array whose unpickling would create a file is refused unread (FormatError)."""
    import io

    marker = tmp_path / "PWNED"
    payload = _Payload()
    payload.marker = str(marker)
    buf = io.BytesIO()
    np.save(buf, np.array([payload], dtype=object), allow_pickle=True)
    assert not marker.exists()
    model = copy_model(workspace, tmp_path / "m")
    if where == "embeddings.npy":
        (model / "embeddings.npy").write_bytes(buf.getvalue())
        resign(model)
        from embedcli.errors import FormatError
        from embedcli.modeldir import load_model

        for mmap in (False, True):
            with pytest.raises(FormatError, match="embeddings.npy"):
                load_model(model, mmap=mmap, verify=False)
        run_all(workspace, model, ALL, {c: False for c in ALL})
    elif where == "classifier.npz":
        import zipfile

        with np.load(model / "classifier.npz") as z:
            arrays = {k: z[k] for k in z.files}
        with zipfile.ZipFile(model / "classifier.npz", "w") as zf:
            zf.writestr("out_W.npy", buf.getvalue())
            zf.writestr("out_b.npy", _npy(arrays["out_b"]))
        resign(model)
        run_all(workspace, model, ("predict", "evaluate", "info"), {c: False for c in ALL})
    else:
        vec = tmp_path / "vectors.npy"
        vec.write_bytes(buf.getvalue())
        shutil.copy(workspace / "vocab.tsv", tmp_path / "vectors.tsv")
        out = tmp_path / "model2"
        r = run(
            "train", workspace / "train.txt", "-o", out, "--init-vectors", vec, *TRAIN[:-1], "-q"
        )
        assert_clean(r, out, ok=False)
    assert not marker.exists(), "unpickling ran code"
    assert not list_temp_files(tmp_path)


def _npy(a: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()
