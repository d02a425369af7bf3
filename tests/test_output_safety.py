"""Outputs never destroy what is not ours (issue 13, section 1).

One section per rule of ``embedcli.outputs``: ownership (+ --force), outputs that are inputs,
pre-flight refusals, failed runs leave outputs byte-identical, the uninterruptible directory
swap and its leftovers, the lock between concurrent writers (real processes) and readers racing
a swap, special files written through, debris of SIGKILL'd runs cleaned, full disk / file-size
limit, and ``embed -o`` formats. Every command that writes an output appears in at least one
CliRunner test; ``test_output_paths_fuzz`` throws hostile output paths at ``build-vocab``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import tmpfs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from embedcli import atomic
from embedcli.cli import app
from embedcli.errors import UsageError
from embedcli.outputs import (
    Output,
    claim_outputs,
    clean_debris,
    guard_outputs,
    is_marked,
    spill_dir,
)

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
FAST = ["--dim", "8", "--epochs", "2", "--threads", "1", "--buckets", "256", "--quiet"]
WORDS = {
    "sport": "ball goal team match score win player coach league",
    "tech": "code computer software chip data network server cloud bug",
}


def run(*args: object, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def make_corpus(path: Path, n: int = 120) -> Path:
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        label = list(WORDS)[i % 2]
        lines.append(f"__label__{label} " + " ".join(rng.choice(WORDS[label].split(), size=6)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tree_digest(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (or of ``path`` itself), by relative name."""
    if path.is_file():
        return {"": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def debris(folder: Path) -> list[str]:
    """Temporaries, lock files and half-swapped copies left in ``folder``."""
    return sorted(
        p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".lock")) or ".old-" in p.name
    )


def one_error_line(r) -> str:
    err = r.stderr
    assert err.count("Error:") == 1 and "Traceback" not in err, err
    return " ".join(err.split())


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO)
    return e


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus") / "train.txt")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    out = tmp_path_factory.mktemp("model") / "m"
    r = run("train", corpus, "-o", out, *FAST)
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture
def vocab(tmp_path: Path, corpus: Path) -> Path:
    out = tmp_path / "v.tsv"
    assert run("build-vocab", corpus, "-o", out, "-q").exit_code == 0
    return out


# -- every file output of every command, as (command line builder, output suffix) -------------
def file_commands(corpus: Path, model: Path, vocab: Path) -> dict[str, tuple[list, str]]:
    return {
        "build-vocab": (["build-vocab", corpus, "-q"], ".tsv"),
        "encode": (["encode", corpus, "--vocab", vocab, "-q"], ".npy"),
        "export-npy": (["export", model, "-f", "npy", "-q"], ".npy"),
        "export-csv": (["export", model, "-f", "csv", "-q"], ".csv"),
        "export-word2vec": (["export", model, "-f", "word2vec", "-q"], ".txt"),
        "export-word2vec-binary": (["export", model, "-f", "word2vec-binary", "-q"], ".bin"),
        "export-projector-prefix": (["export", model, "-f", "projector", "-q"], "_"),
        "plot": (["plot", model, "--top", "5"], ".png"),
        "explore": (["explore", model, "--top", "5"], ".html"),
        "embed": (["embed", model, corpus], ".npy"),
    }


COMMANDS = [
    "build-vocab",
    "encode",
    "export-npy",
    "export-csv",
    "export-word2vec",
    "export-word2vec-binary",
    "export-projector-prefix",
    "plot",
    "explore",
    "embed",
]


def written_file(out: Path) -> Path:
    """The file a command wrote for ``-o out`` (the projector prefix writes ``out``vectors.tsv)."""
    return Path(str(out) + "vectors.tsv") if str(out).endswith("_") else out


# ============================================================================ 1. ownership
@pytest.mark.parametrize("name", COMMANDS)
def test_file_output_refuses_a_foreign_file_and_force_replaces_it(
    name: str, tmp_path: Path, corpus: Path, model: Path, vocab: Path
) -> None:
    args, suffix = file_commands(corpus, model, vocab)[name]
    out = tmp_path / f"out{suffix}"
    target = written_file(out)
    target.write_text("my own notes\n")
    r = run(*args, "-o", out)
    assert r.exit_code == 2, r.output
    line = one_error_line(r)
    assert str(target) in line and "--force" in line, line
    assert target.read_text() == "my own notes\n"
    r = run(*args, "-o", out, "--force")
    assert r.exit_code == 0, r.output
    assert target.read_bytes() != b"my own notes\n"
    assert is_marked(target)
    assert debris(tmp_path) == []


@pytest.mark.parametrize("name", COMMANDS)
def test_file_output_replaces_its_own_file_without_force(
    name: str, tmp_path: Path, corpus: Path, model: Path, vocab: Path
) -> None:
    args, suffix = file_commands(corpus, model, vocab)[name]
    out = tmp_path / f"again{suffix}"
    written_file(out).write_bytes(b"")  # an empty file holds nothing: may be replaced
    for _ in range(2):  # the second run replaces the first run's output
        r = run(*args, "-o", out)
        assert r.exit_code == 0, r.output
    assert written_file(out).stat().st_size > 0
    assert debris(tmp_path) == []


def test_vocabulary_recognised_by_its_header_without_xattr(
    tmp_path: Path, corpus: Path, vocab: Path
) -> None:
    copy = tmp_path / "copy.tsv"
    copy.write_bytes(vocab.read_bytes())  # no xattr on the copy
    assert not is_marked(copy)
    assert run("build-vocab", corpus, "-o", copy, "-q").exit_code == 0


@pytest.mark.parametrize("how", ["-o", "--checkpoint", "default-ckpt"])
def test_train_refuses_a_foreign_directory_even_with_force(
    how: str, tmp_path: Path, corpus: Path
) -> None:
    foreign = tmp_path / ("m.ckpt" if how == "default-ckpt" else "photos")
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8 precious")
    args = ["train", corpus, *FAST, "--force"]
    if how == "-o":
        args += ["-o", foreign]
    elif how == "--checkpoint":
        args += ["-o", tmp_path / "m", "--checkpoint-every", "1", "--checkpoint", foreign]
    else:
        args += ["-o", tmp_path / "m", "--checkpoint-every", "1"]
    r = run(*args)
    assert r.exit_code == 2, r.output
    line = one_error_line(r)
    assert str(foreign) in line and "even with --force" in line, line
    assert (foreign / "holiday.jpg").read_bytes() == b"\xff\xd8 precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [foreign.name]


def test_train_replaces_its_own_model_and_checkpoint_and_an_empty_directory(
    tmp_path: Path, corpus: Path
) -> None:
    out = tmp_path / "m"
    out.mkdir()  # empty: may be used
    for _ in range(2):
        r = run("train", corpus, "-o", out, *FAST, "--checkpoint-every", "1")
        assert r.exit_code == 0, r.output
    assert (out / "config.json").is_file() and (tmp_path / "m.ckpt" / "checkpoint.json").is_file()
    assert is_marked(out)
    assert debris(tmp_path) == []


def test_model_directory_recognised_by_its_config_without_xattr(
    tmp_path: Path, corpus: Path, model: Path
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(model, copy)  # copytree copies xattrs; drop them to test the manifest
    with contextlib.suppress(OSError):
        os.removexattr(copy, "user.embedcli")
    assert not is_marked(copy)
    assert run("train", corpus, "-o", copy, *FAST).exit_code == 0


def test_projector_new_directory_then_existing_directory(tmp_path: Path, model: Path) -> None:
    out = tmp_path / "proj"
    for _ in range(2):  # first a new directory, then files inside the existing one
        assert run("export", model, "-f", "projector", "-o", out, "-q").exit_code == 0
    (out / "vectors.tsv").unlink()
    (out / "vectors.tsv").write_text("someone else's\n")  # new inode: no xattr
    r = run("export", model, "-f", "projector", "-o", out, "-q")
    assert r.exit_code == 2 and "vectors.tsv" in one_error_line(r)
    assert (out / "vectors.tsv").read_text() == "someone else's\n"


# ================================================================ 2. outputs that are inputs
def test_encode_and_build_vocab_refuse_to_overwrite_their_input(
    tmp_path: Path, corpus: Path, vocab: Path
) -> None:
    x = tmp_path / "x.txt"
    x.write_bytes(corpus.read_bytes())
    before = x.read_bytes()
    for args in (
        ["encode", x, "--vocab", vocab, "-o", x],
        ["build-vocab", x, "-o", x],
        ["encode", x, "--vocab", vocab, "-o", vocab.with_suffix(".txt")],  # not an input: ok
    ):
        r = run(*args, "-q")
        if args[-1] == x:
            assert r.exit_code == 2, r.output
            assert "is the input" in one_error_line(r)
        assert x.read_bytes() == before
    vtxt = tmp_path / "vocab.txt"
    vtxt.write_bytes(vocab.read_bytes())
    r = run("encode", x, "--vocab", vtxt, "-o", vtxt, "--force", "-q")  # the vocabulary
    assert r.exit_code == 2 and "is the input" in one_error_line(r)


def test_output_reached_through_a_symlink_or_hard_link_is_the_input(
    tmp_path: Path, corpus: Path
) -> None:
    x = tmp_path / "x.txt"
    x.write_bytes(corpus.read_bytes())
    (tmp_path / "soft.txt").symlink_to(x)
    os.link(x, tmp_path / "hard.txt")
    for out in ("soft.txt", "hard.txt", "sub/../x.txt"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        r = run("build-vocab", x, "-o", tmp_path / out, "-q", "--force")
        assert r.exit_code == 2, (out, r.output)
    assert x.read_bytes() == corpus.read_bytes()


def test_export_and_plot_and_embed_refuse_outputs_inside_the_model(
    tmp_path: Path, model: Path, corpus: Path
) -> None:
    before = tree_digest(model)
    for args in (
        ["export", model, "-f", "npy", "-o", model / "embeddings.npy"],
        ["export", model, "-f", "csv", "-o", model / "new.csv"],
        ["export", model, "-f", "projector", "-o", model / "proj"],
        ["plot", model, "-o", model / "map.png"],
        ["embed", model, corpus, "-o", model / "vecs.npy"],
        ["embed", model, corpus, "-o", corpus.with_name("train.txt")],
    ):
        r = run(*args, "--force")
        assert r.exit_code == 2, (args, r.output)
        assert "input" in one_error_line(r)
    assert tree_digest(model) == before


def test_train_refuses_a_model_directory_that_contains_its_input(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    x = make_corpus(d / "x.txt")
    r = run("train", x, "-o", d, *FAST)
    assert r.exit_code == 2 and "contains the input" in one_error_line(r)
    assert sorted(p.name for p in d.iterdir()) == ["x.txt"]
    m = tmp_path / "m"  # a model directory of ours, with the user's validation file put inside
    assert run("train", x, "-o", m, *FAST).exit_code == 0
    (m / "val.txt").write_bytes(x.read_bytes())
    r = run("train", x, "-o", m, "--val", m / "val.txt", *FAST)
    assert r.exit_code == 2 and "contains the input" in one_error_line(r)
    assert (m / "val.txt").read_bytes() == x.read_bytes()


def test_train_may_checkpoint_to_the_checkpoint_it_resumes(tmp_path: Path, corpus: Path) -> None:
    m = tmp_path / "m"
    r = run("train", corpus, "-o", m, *FAST, "--checkpoint-every", "1")
    assert r.exit_code == 0, r.output
    ckpt = tmp_path / "m.ckpt"
    r = run("train", corpus, "-o", m, "--resume", ckpt, "--checkpoint-every", "1", "-q")
    assert r.exit_code == 0, r.output
    r = run("train", corpus, "-o", ckpt, "--resume", ckpt, "-q")  # but not the model into it
    assert r.exit_code == 2 and "is the input" in one_error_line(r)


def test_guard_outputs_library_function(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "f.txt").write_text("x")
    with pytest.raises(UsageError, match="lies inside"):
        guard_outputs([Output(str(d / "f.npy"))], [d])
    with pytest.raises(UsageError, match="contains"):
        guard_outputs([Output(str(d), "dir")], [d / "f.txt"])
    guard_outputs([Output(str(tmp_path / "other"))], [d, "-", None, tmp_path / "missing"])


# ====================================================================== 3. pre-flight
def _no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: object, **k: object) -> None:
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr("embedcli.pipeline.prepare_training", boom)
    monkeypatch.setattr("embedcli.vocab.build_vocabulary", boom)


@pytest.mark.parametrize(
    "out, code, words",
    [
        (".", 2, "not a usable output path"),
        ("..", 2, "not a usable output path"),
        ("/", 2, "not a usable output path"),
        ("loop", 2, "symbolic link loop"),
        ("missing/m", 1, "does not exist"),
        ("afile", 2, "not a directory"),
        ("afile/m", 1, "is not a directory"),
    ],
)
def test_train_preflight_refuses_before_any_work(
    out: str, code: int, words: str, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "afile").write_text("x")
    _no_work(monkeypatch)
    r = run("train", corpus, "-o", out, *FAST)
    assert r.exit_code == code, r.output
    assert words in one_error_line(r)


@pytest.mark.parametrize("out", [".", "..", "adir", "loop"])
def test_file_output_preflight(
    out: str, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "loop").symlink_to("loop")
    _no_work(monkeypatch)
    r = run("build-vocab", corpus, "-o", out, "-q")
    assert r.exit_code == 2, r.output
    one_error_line(r)


# ============================================================ 4. a failed run changes nothing
def _diverging(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = []
    for i in range(200):
        label = ("a", "b")[i % 2]
        words = rng.choice([f"{label}{k}" for k in range(8)] + ["x", "y"], size=6)
        lines.append(f"__label__{label} " + " ".join(words))
    corpus = tmp_path / "div.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return corpus


DIVERGE = ["--lr", "1e9", "--optimizer", "sgd", "--dim", "8", "--epochs", "3", "--threads", "1"]


def test_diverged_training_leaves_an_existing_model_byte_identical(tmp_path: Path) -> None:
    corpus = _diverging(tmp_path)
    out = tmp_path / "m"
    assert run("train", corpus, "-o", out, *FAST).exit_code == 0
    before = tree_digest(out)
    r = run("train", corpus, "-o", out, *DIVERGE, "-q")
    assert r.exit_code == 1, r.output
    line = one_error_line(r)
    assert "diverged" in line and "left unchanged" in line, line
    assert tree_digest(out) == before
    assert debris(tmp_path) == []


def test_diverged_training_into_a_new_path_writes_the_flagged_model(tmp_path: Path) -> None:
    corpus = _diverging(tmp_path)
    r = run("train", corpus, "-o", tmp_path / "new", *DIVERGE, "-q")
    assert r.exit_code == 1 and "marked diverged" in one_error_line(r)
    assert (tmp_path / "new" / "config.json").is_file()


def test_failed_encode_leaves_the_old_output(tmp_path: Path, corpus: Path, vocab: Path) -> None:
    out = tmp_path / "ids.npy"
    assert run("encode", corpus, "--vocab", vocab, "-o", out, "-q").exit_code == 0
    before = out.read_bytes()
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = run("encode", empty, "--vocab", vocab, "-o", out, "-q")
    assert r.exit_code == 1 and out.read_bytes() == before


# =============================================================== 5. the directory swap
def _dir(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "f").write_text(text)
    return path


def test_exchange_swaps_two_directories_in_one_step(tmp_path: Path) -> None:
    a, b = _dir(tmp_path / "a", "A"), _dir(tmp_path / "b", "B")
    if not atomic.exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    assert (a / "f").read_text() == "B" and (b / "f").read_text() == "A"


def test_swap_by_renames_holds_back_a_signal_between_the_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new, dest = _dir(tmp_path / ".new.tmp", "new"), _dir(tmp_path / "m", "old")
    real_rename = os.rename
    calls: list[str] = []

    def rename_then_interrupt(src: object, dst: object) -> None:
        real_rename(src, dst)
        calls.append(str(dst))
        if len(calls) == 1:  # Ctrl-C and SIGTERM right between "old aside" and "new in place"
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)

    monkeypatch.setattr(atomic.os, "rename", rename_then_interrupt)
    hups: list[int] = []
    old_hup = signal.signal(signal.SIGHUP, lambda n, f: hups.append(n))
    try:
        with pytest.raises(KeyboardInterrupt):
            atomic.swap_by_renames(new, dest)
    finally:
        signal.signal(signal.SIGHUP, old_hup)
    assert len(calls) == 2, "the signal fell between the renames"
    assert (dest / "f").read_text() == "new"
    assert hups == [signal.SIGHUP]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_atomic_dir_falls_back_to_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic, "exchange", lambda a, b: False)
    dest = _dir(tmp_path / "m", "old")
    atomic.mark(dest)
    with atomic.atomic_dir(dest) as d:
        (d / "f").write_text("new")
    assert (dest / "f").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_leftover_old_copy_is_restored_or_removed_at_the_next_start(tmp_path: Path) -> None:
    pid = dead_pid()
    old = _dir(tmp_path / f".m.old-{pid}", "good model")
    atomic.mark(old)
    with claim_outputs([Output(str(tmp_path / "m"), "dir")]) as claims:  # m is missing
        assert "restored" in claims[0].cleaned[0]
    assert (tmp_path / "m" / "f").read_text() == "good model"
    old = _dir(tmp_path / f".m.old-{pid}", "older")
    atomic.mark(old)
    with claim_outputs([Output(str(tmp_path / "m"), "dir")]):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_leftover_of_a_live_or_foreign_name_is_kept(tmp_path: Path) -> None:
    keep = [
        f".m.old-{os.getpid()}",  # alive: ours, mid-swap
        ".m.old-abc",
        ".m.12345.tmp",
        f".m.{dead_pid()}.ABCDEFGH.tmp",  # not mkstemp's alphabet
        f".other.{dead_pid()}.abcdefgh.tmp",
    ]
    for name in keep:
        _dir(tmp_path / name, "x")
    (tmp_path / "m").mkdir()
    assert clean_debris(tmp_path / "m") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, "m"])


# ====================================================================== 6. lock, readers
def _popen(*args: object, **kw: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "embedcli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env(),
        **kw,
    )


HOLD_LOCK = """
import sys
from embedcli.outputs import Output, claim_outputs
with claim_outputs([Output(sys.argv[1], sys.argv[2])]):
    print("ready", flush=True)
    sys.stdin.read()
"""


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_second_writer_refuses_while_the_first_holds_the_lock(
    kind: str, tmp_path: Path, corpus: Path
) -> None:
    out = tmp_path / ("m" if kind == "dir" else "v.tsv")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out), kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    commands = (
        [["train", corpus, *FAST], ["train", corpus, *FAST, "--force"]]
        if kind == "dir"
        else [["build-vocab", corpus, "-q"], ["build-vocab", corpus, "-q", "--force"]]
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        t0 = time.monotonic()
        for args in commands:
            second = subprocess.run(
                [sys.executable, "-m", "embedcli", *map(str, args), "-o", str(out)],
                capture_output=True,
                text=True,
                env=env(),
                timeout=120,
            )
            assert second.returncode == 1, second.stderr
            assert f"another embedcli run (pid {holder.pid}) is writing {out}" in second.stderr
            assert second.stderr.count("Error:") == 1
        assert time.monotonic() - t0 < 60
        assert not out.exists()
    finally:
        holder.communicate(input="", timeout=30)
    assert holder.returncode == 0
    assert debris(tmp_path) == []  # the lock file went with its holder
    assert run(*commands[0], "-o", out).exit_code == 0


def test_two_concurrent_train_runs_on_one_output(tmp_path: Path) -> None:
    """Real racing writers: exactly one of them writes, the other refuses in one line (or
    runs after the first finished); never a damaged model or debris."""
    big = make_corpus(tmp_path / "big.txt", n=3000)
    out = tmp_path / "m"
    args = ["train", big, "-o", out, "--dim", "8", "--epochs", "3", "--threads", "1", "-q"]
    procs = [_popen(*args) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in procs]  # type: ignore[union-attr]
    for code, err in results:
        assert code in (0, 1), err
        if code == 1:
            assert "another embedcli run" in err and err.count("Error:") == 1, err
    assert 0 in [code for code, _ in results]
    from embedcli.modeldir import load_model

    load_model(out)
    assert debris(tmp_path) == []


def test_reader_racing_a_replacement_reports_no_damage(
    tmp_path: Path, model: Path, corpus: Path
) -> None:
    import shutil

    from embedcli.modeldir import load_model_consistent

    other = tmp_path / "other"  # the same shapes, other weights: other checksums
    assert run("train", corpus, "-o", other, *FAST, "--seed", "1").exit_code == 0
    dest = tmp_path / "m"
    shutil.copytree(model, dest)
    stop = threading.Event()
    swaps = [0]

    def writer() -> None:
        while not stop.is_set():
            with atomic.atomic_dir(dest) as d:
                for f in (model, other)[swaps[0] % 2].iterdir():
                    shutil.copy(f, d / f.name)
            swaps[0] += 1
            time.sleep(0.05)

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(80):
            loaded = load_model_consistent(dest, mmap=True)
            assert loaded.embeddings.shape[1] == 8
    finally:
        stop.set()
        t.join()
    assert swaps[0] > 0


# ================================================================ 7. special files
def test_char_device_and_fifo_are_written_through(
    tmp_path: Path, corpus: Path, model: Path
) -> None:
    r = run("embed", model, corpus, "-o", "/dev/null")
    assert r.exit_code == 0, r.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "pipe.tsv"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = run("build-vocab", corpus, "-o", fifo, "-q")
    reader.join(timeout=30)
    assert r.exit_code == 0, r.output
    assert got and got[0].startswith(b"#embedcli-vocab")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("path", ["/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"])
def test_dev_stdout_redirected_to_a_file_is_written_through(
    path: str, tmp_path: Path, corpus: Path
) -> None:
    dest = tmp_path / "redirected.tsv"
    with open(dest, "wb") as f:
        r = subprocess.run(
            [sys.executable, "-m", "embedcli", "build-vocab", str(corpus), "-o", path, "-q"],
            stdout=f,
            stderr=subprocess.PIPE,
            env=env(),
            timeout=120,
        )
    assert r.returncode == 0, r.stderr.decode()
    assert dest.read_bytes().startswith(b"#embedcli-vocab")
    assert debris(tmp_path) == []


def test_dev_stdout_opened_on_the_input_is_refused(tmp_path: Path, corpus: Path) -> None:
    x = tmp_path / "x.txt"
    x.write_bytes(corpus.read_bytes())
    with open(x, "r+b") as f:  # `1<>x.txt`: stdout is the input, not truncated
        r = subprocess.run(
            [sys.executable, "-m", "embedcli", "build-vocab", str(x), "-o", "/dev/stdout", "-q"],
            stdout=f,
            stderr=subprocess.PIPE,
            env=env(),
            timeout=120,
        )
    assert r.returncode == 2 and b"is the input" in r.stderr, r.stderr
    assert x.read_bytes() == corpus.read_bytes()


def test_symlink_output_replaces_the_target_and_keeps_the_link(
    tmp_path: Path, corpus: Path
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    assert run("build-vocab", corpus, "-o", real / "v.tsv", "-q").exit_code == 0
    link = tmp_path / "link.tsv"
    link.symlink_to(real / "v.tsv")
    r = run("build-vocab", corpus, "-o", link, "-q", "--min-count", "3")
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and os.readlink(link) == str(real / "v.tsv")
    assert (real / "v.tsv").read_text() != ""
    assert debris(real) == [] and debris(tmp_path) == []


# ================================================================= 8. debris of killed runs
KILL_DURING = """
import os, sys
from embedcli import atomic
kind, path = sys.argv[1], sys.argv[2]
if kind == "dir":
    with atomic.atomic_dir(path) as d:
        (d / "half").write_text("half")
        os.kill(os.getpid(), 9)
elif kind == "swap":  # SIGKILL (which no one can hold back) between the two renames
    atomic.exchange = lambda a, b: False
    real_rename = os.rename

    def rename(a, b):
        real_rename(a, b)
        if ".old-" in str(b):
            os.kill(os.getpid(), 9)

    os.rename = rename
    with atomic.atomic_dir(path) as d:
        (d / "f").write_text("new")
elif kind == "file":
    with atomic.atomic_write(path) as f:
        f.write("half")
        f.flush()
        os.kill(os.getpid(), 9)
else:
    from embedcli.outputs import spill_dir
    d = spill_dir()
    open(os.path.join(d, "0.tokens.npy"), "w").write("x")
    os.kill(os.getpid(), 9)
"""


def _killed(kind: str, path: Path, **env_extra: str) -> None:
    r = subprocess.run(
        [sys.executable, "-c", KILL_DURING, kind, str(path)],
        env={**env(), **env_extra},
        timeout=60,
    )
    assert r.returncode == -signal.SIGKILL


def test_temporaries_of_a_sigkilled_train_are_cleaned_by_the_next_run(
    tmp_path: Path, corpus: Path
) -> None:
    _killed("dir", tmp_path / "m")
    _killed("file", tmp_path / "v.tsv")
    assert len(debris(tmp_path)) == 2
    assert run("train", corpus, "-o", tmp_path / "m", *FAST).exit_code == 0
    assert run("build-vocab", corpus, "-o", tmp_path / "v.tsv", "-q").exit_code == 0
    assert debris(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "v.tsv"]


def test_model_moved_aside_by_a_sigkilled_swap_is_restored_by_the_next_writer(
    tmp_path: Path,
) -> None:
    m = tmp_path / "m"
    with atomic.atomic_dir(m) as d:
        (d / "f").write_text("old")
    _killed("swap", m)
    assert not m.exists() and len(debris(tmp_path)) == 2  # .m.old-PID and the new .tmp
    with claim_outputs([Output(str(m), "dir")]) as claims:
        assert any("restored" in c for c in claims[0].cleaned), claims[0].cleaned
    assert (m / "f").read_text() == "old"
    assert debris(tmp_path) == []


def test_spill_folders_of_a_sigkilled_run_are_cleaned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _killed("spill", tmp_path, TMPDIR=str(tmp_path))
    (tmp_path / "embedcli-shards-notapid").mkdir()  # not our naming: kept
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith("embedcli-shards-")]
    assert len(left) == 2
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine = spill_dir()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["embedcli-shards-notapid", os.path.basename(mine)])
    assert os.path.basename(mine).startswith(f"embedcli-shards-{os.getpid()}-")


# ========================================================== 9. full disk, file-size limit
@pytest.fixture
def tiny_fs(tmp_path: Path):
    with tmpfs(tmp_path / "tiny", "16k") as mnt:
        yield mnt


def test_full_disk_names_the_output(tiny_fs: Path, tmp_path: Path, model: Path) -> None:
    big = make_corpus(tmp_path / "big.txt", n=4000)
    for args, out in (
        (["embed", model, big], tiny_fs / "v.npy"),
        (["embed", model, big], tiny_fs / "v.tsv"),
        (["export", model, "-f", "csv"], tiny_fs / "e.csv"),
        (["train", big, "--dim", "64", "--epochs", "1", "--threads", "1", "-q"], tiny_fs / "m"),
    ):
        r = run(*args, "-o", out)
        assert r.exit_code == 1, r.output
        line = one_error_line(r)
        assert f"cannot write {out}: the disk is full" in line, line
        assert list(tiny_fs.iterdir()) == []


def _limited(limit: int):
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.parametrize("suffix", [".npy", ".tsv"])
def test_file_size_limit_names_the_output(suffix: str, tmp_path: Path, model: Path) -> None:
    big = make_corpus(tmp_path / "big.txt", n=4000)
    out = tmp_path / f"v{suffix}"
    r = subprocess.run(
        [sys.executable, "-m", "embedcli", "embed", str(model), str(big), "-o", str(out)],
        capture_output=True,
        text=True,
        env=env(),
        preexec_fn=_limited(50_000),
        timeout=300,
    )
    assert r.returncode == 1, r.stderr
    assert f"cannot write {out}: the file-size limit (ulimit -f) is reached" in r.stderr
    assert "requested and" not in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and debris(tmp_path) == []


def test_space_errors_are_described() -> None:
    import errno

    from embedcli.outputs import describe_write_error

    assert "the disk is full" in describe_write_error(OSError(errno.ENOSPC, "No space"), "o")
    assert "file-size limit" in describe_write_error(OSError(errno.EFBIG, "too large"), "o")


# ================================================================== 10. embed formats
def test_embed_honours_npz_tsv_and_refuses_other_extensions(
    tmp_path: Path, model: Path, corpus: Path
) -> None:
    n = len(corpus.read_text().splitlines())
    assert run("embed", model, corpus, "-o", tmp_path / "v.npz").exit_code == 0
    with np.load(tmp_path / "v.npz") as z:
        assert z["vectors"].shape == (n, 8) and z["vectors"].dtype == np.float32
    for name in ("v.tsv", "v.txt"):
        assert run("embed", model, corpus, "-o", tmp_path / name).exit_code == 0
        rows = (tmp_path / name).read_text().splitlines()
        assert len(rows) == n and len(rows[0].split("\t")) == 8
    for name in ("v.json", "v.csv", "vectors"):
        r = run("embed", model, corpus, "-o", tmp_path / name)
        assert r.exit_code == 2 and ".npy, .npz, .tsv or .txt" in one_error_line(r)
        assert not (tmp_path / name).exists()


# ======================================================= hostile output paths (hypothesis)
#: output paths people and scripts produce: dots, the root, brackets (Rich markup), spaces,
#: unicode, control-free oddities, and paths that reach the input or its folder
OUTPUT_PATHS = st.one_of(
    st.sampled_from(
        [
            ".",
            "..",
            "/",
            "./",
            "x.txt",
            "./x.txt",
            "sub/../x.txt",
            "link.txt",
            "sub",
            "sub/",
            "loop",
            "loop/v.tsv",
            "missing/v.tsv",
            "x.txt/v.tsv",
            "[red]v[/red].tsv",
            "[/].tsv",
            "data[old].tsv",
            "with space.tsv",
            "ünï cödé.tsv",
            "-v.tsv",
            ".hidden.tsv",
            "v.tsv.lock",
        ]
    ),
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\x00"),
        min_size=1,
        max_size=30,
    ).filter(lambda s: s not in (".", "..") and not s.startswith("-")),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(out=OUTPUT_PATHS)
def test_output_paths_fuzz(out: str, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        monkeypatch.chdir(root)
        x = root / "x.txt"
        x.write_bytes(corpus.read_bytes())
        (root / "link.txt").symlink_to(x)
        (root / "sub").mkdir()
        (root / "sub" / "keep").write_text("keep")
        (root / "loop").symlink_to("loop")
        before = {p.name for p in root.iterdir()}
        r = run("build-vocab", "x.txt", "-o", out, "-q")
        assert r.exit_code in (0, 1, 2), r.output
        assert "Traceback" not in r.output and "internal error" not in r.output, r.output
        assert x.read_bytes() == corpus.read_bytes()
        assert (root / "sub" / "keep").read_text() == "keep"
        if r.exit_code:
            assert r.stderr.count("Error:") == 1, r.stderr
        else:
            written = Path(os.path.realpath(out))
            assert written.read_bytes().startswith(b"#embedcli-vocab")
        name = os.path.basename(os.path.normpath(out))
        assert set(debris(root)) <= {name} and debris(root / "sub") == []
        after = {p.name for p in root.iterdir()}
        assert after - before <= {os.path.basename(os.path.normpath(out))}


MODEL_PATHS = st.one_of(
    OUTPUT_PATHS,
    st.sampled_from(["m", "m/", "./m", "m/embeddings.npy", "m/config.json", "m/../m", "m/new.npy"]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(out=MODEL_PATHS)
def test_export_output_paths_fuzz(out: str, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        monkeypatch.chdir(root)
        shutil.copytree(model, root / "m")
        before = tree_digest(root / "m")
        (root / "sub").mkdir()
        (root / "loop").symlink_to("loop")
        (root / "x.txt").write_text("not ours\n")
        r = run("export", "m", "-f", "npy", "-o", out, "-q")
        assert r.exit_code in (0, 1, 2), r.output
        assert "Traceback" not in r.output and "internal error" not in r.output, r.output
        assert tree_digest(root / "m") == before
        assert (root / "x.txt").read_text() == "not ours\n"
        if r.exit_code:
            assert r.stderr.count("Error:") == 1, r.stderr
        else:
            assert np.load(os.path.realpath(out)).dtype == np.float32
        name = os.path.basename(os.path.normpath(out))
        assert set(debris(root)) <= {name} and debris(root / "m") == []
