"""Hostile inputs, options and environment (issue 13, section 4): each ends within seconds in one
line naming the file/option and the fault, exit 1 (data) or 2 (usage), nothing half-written.

- Inputs that never end or grow without bound: ``/dev/zero``, a gzip decompression bomb, one
  line of 200 MB. Run as real subprocesses under a 20 s timeout and a 2 GiB address-space cap;
  their peak RSS (``os.wait4``) must stay far below what reading them whole would take.
- A ``--vocab`` file that is not one is refused from its first line (a FIFO that never ends
  proves nothing more is read).
- Inputs that would be silently misread: CR-only line ends, UTF-16/UTF-32 (with or without a
  byte-order mark), NUL bytes, labels with line breaks or control characters, damaged gzip.
- Every numeric option of every command has a range (checked by introspection) and hostile
  values (too large for int64, negative, NaN, infinities, 0 where invalid) are usage errors.
- ``EMBEDCLI_MEM_LIMIT``/``EMBEDCLI_MAX_LINE`` garbage, an ``encode`` output larger than the free
  disk, ``PYTHONIOENCODING=ascii``, and NaN in ``--json`` output (strict JSON only).
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.cli.app import command_group
from embedcli.corpus import CorpusOptions, CorpusReader
from embedcli.errors import DataError, FormatError
from embedcli.vocab import Vocabulary

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()
TRAIN = ["--dim", "4", "--epochs", "1", "--threads", "1", "--buckets", "64", "--quiet"]
LINES = [
    "__label__pos good great fine nice naïve café",
    "__label__négatif bad awful poor grim école",
    "__label__pos good lovely fine",
    "__label__négatif bad poor dire",
] * 5


def run(*args: object, env: dict[str, str] | None = None, input: bytes | str | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env, input=input)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Error:")]


def assert_refused(r, code: int, *needles: str) -> str:  # noqa: ANN001
    """Exit ``code``, no traceback, exactly one ``Error:`` line holding every needle."""
    out = r.output
    context = f"exit {r.exit_code}\n{out[-2000:]}"
    assert r.exit_code == code, context
    assert "Traceback" not in out and "internal error" not in out, context
    lines = error_lines(r.stderr)
    assert len(lines) == 1, context
    for needle in needles:
        assert needle in lines[0], context
    return lines[0]


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    corpus = write(root / "train.txt", "\n".join(LINES) + "\n")
    r = run("train", corpus, "-o", root / "model", *TRAIN)
    assert r.exit_code == 0, r.output
    return root / "model"


@pytest.fixture(scope="module")
def vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile_vocab")
    corpus = write(root / "train.txt", "\n".join(LINES) + "\n")
    r = run("build-vocab", corpus, "-o", root / "vocab.tsv", "-q")
    assert r.exit_code == 0, r.output
    return root / "vocab.tsv"


# -- subprocesses with a time limit, an address-space cap and the peak RSS ------------------------
Bounded = collections.namedtuple("Bounded", "code stderr seconds rss_mb")


#: runs ``python -m embedcli ARGS`` under a 2 GiB address-space cap and reports its exit code and
#: peak RSS on fd ``argv[1]``. A child forked from pytest itself would inherit pytest's own RSS
#: high-water mark in ``ru_maxrss`` (Linux keeps it across fork and exec), so the command is
#: forked from this small launcher instead.
LAUNCHER = """
import os, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "embedcli", *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
os.write(int(sys.argv[1]), f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}".encode())
"""


def run_bounded(
    args: list[object],
    *,
    feed: bytes | None = None,
    feed_total: int = 0,
    env: dict[str, str] | None = None,
    timeout: float = 20.0,
) -> Bounded:
    """``python -m embedcli ARGS``; stdin gets ``feed`` repeated up to ``feed_total`` bytes.

    The child may use at most 2 GiB of address space (a reader that reads without bound fails
    fast instead of exhausting the machine); it is killed after ``timeout`` seconds (code -9).
    """
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    err_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"embedcli-hostile-{os.getpid()}.err"
    report_r, report_w = os.pipe()
    with open(err_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(report_w), *map(str, args)],
            stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=full_env,
            pass_fds=(report_w,),
            start_new_session=True,
        )
        os.close(report_w)
        if feed is not None:

            def pump() -> None:
                sent = 0
                try:
                    while sent < feed_total:
                        proc.stdin.write(feed)
                        sent += len(feed)
                    proc.stdin.close()
                except (BrokenPipeError, ValueError, OSError):
                    pass

            threading.Thread(target=pump, daemon=True).start()

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
        seconds = time.monotonic() - t0
    with os.fdopen(report_r, "rb") as f:
        report = f.read().split()
    code, rss_kb = (int(report[0]), int(report[1])) if len(report) == 2 else (-9, 0)
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    err_path.unlink()
    return Bounded(code, stderr, seconds, rss_kb / 1024)


def assert_bounded_refusal(b: Bounded, *needles: str, rss_mb: float = 400) -> None:
    context = (
        f"exit {b.code} after {b.seconds:.1f} s, peak RSS {b.rss_mb:.0f} MB\n{b.stderr[-2000:]}"
    )
    assert b.code == 1, context
    assert "Traceback" not in b.stderr and "internal error" not in b.stderr, context
    lines = error_lines(b.stderr)
    assert len(lines) == 1, context
    for needle in needles:
        assert needle in lines[0], context
    assert b.rss_mb < rss_mb, context


# -- 1. inputs that never end or grow without bound -----------------------------------------------
@pytest.mark.parametrize("command", ["build-vocab", "encode", "train"])
def test_dev_zero_is_refused_at_once(tmp_path: Path, vocab: Path, command: str) -> None:
    args: list[object] = {
        "build-vocab": ["build-vocab", "/dev/zero", "-o", tmp_path / "v.tsv"],
        "encode": ["encode", "/dev/zero", "--vocab", vocab, "-o", tmp_path / "ids.npy"],
        "train": ["train", "/dev/zero", "-o", tmp_path / "model", *TRAIN],
    }[command]
    b = run_bounded(args)
    assert_bounded_refusal(b, "/dev/zero", "NUL byte", rss_mb=300)
    assert b.seconds < 15
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["build-vocab", "encode"])
def test_a_200_mb_line_on_stdin_stops_at_the_line_limit(
    tmp_path: Path, vocab: Path, command: str
) -> None:
    """One line of 200 MB without a newline (``yes a | tr -d '\\n' | head -c 200M``): refused
    once it passes 64 MiB, so the peak stays near the limit, not the line."""
    args: list[object] = (
        ["build-vocab", "-", "-o", tmp_path / "v.tsv"]
        if command == "build-vocab"
        else ["encode", "-", "--vocab", vocab, "-o", tmp_path / "ids.npy"]
    )
    b = run_bounded(args, feed=b"a" * (1 << 20), feed_total=200 << 20)
    assert_bounded_refusal(b, "line 1 of <stdin> is longer than 64 MiB", rss_mb=400)
    assert not any(tmp_path.iterdir())


def _gzip_bomb(path: Path, unit: bytes, total: int) -> Path:
    """``total`` bytes of ``unit`` repeated, as concatenated gzip members (~1 KB per MiB)."""
    member = gzip.compress(unit * ((1 << 20) // len(unit)), compresslevel=9)
    return write(path, member * (total >> 20))


@pytest.mark.parametrize("command", ["build-vocab", "encode"])
def test_gzip_bomb_of_one_endless_line(tmp_path: Path, vocab: Path, command: str) -> None:
    bomb = _gzip_bomb(tmp_path / "bomb.txt.gz", b"spam ", 1 << 30)  # 1 GiB from ~1 MB
    assert bomb.stat().st_size < 4 << 20
    out = tmp_path / "out"
    out.mkdir()
    args: list[object] = (
        ["build-vocab", bomb, "-o", out / "v.tsv"]
        if command == "build-vocab"
        else ["encode", bomb, "--vocab", vocab, "-o", out / "ids.npy"]
    )
    b = run_bounded(args)
    assert_bounded_refusal(b, "line 1 of", "bomb.txt.gz", "longer than 64 MiB", rss_mb=400)
    assert not any(out.iterdir())


def test_gzip_bomb_of_zeros(tmp_path: Path) -> None:
    bomb = _gzip_bomb(tmp_path / "zeros.txt.gz", b"\0", 1 << 30)
    b = run_bounded(["build-vocab", bomb, "-o", tmp_path / "v.tsv"])
    assert_bounded_refusal(b, "zeros.txt.gz", "NUL byte", rss_mb=300)


@pytest.mark.parametrize(
    ("name", "line", "extra"),
    [
        ("raw.txt", "x" * 5000, []),  # build-vocab counts raw byte blocks
        ("text.txt", "x" * 5000, ["--format", "text"]),
        ("doc.txt", "x" * 5000, ["--token-pattern", r"\w+"]),  # the Document path
        ("c.csv", '"' + "x" * 5000 + '",pos', []),
        ("c.jsonl", json.dumps({"text": "x" * 5000, "label": "pos"}), []),
    ],
)
def test_line_limit_names_file_and_line(
    tmp_path: Path, name: str, line: str, extra: list[str]
) -> None:
    """EMBEDCLI_MAX_LINE lowers the 64 MiB limit; a line at the limit passes, one byte more not."""
    header = "text,label\n" if name.endswith(".csv") else ""
    filler = {".csv": "short,pos", "sonl": json.dumps({"text": "short", "label": "pos"})}.get(
        name[-4:], "short line"
    )
    ok = write(tmp_path / f"ok_{name}", header + filler + "\n" + line[:4096] + "\n")
    bad = write(tmp_path / name, header + f"{filler}\n{filler}\n{line}\n{filler}\n")
    env = {"EMBEDCLI_MAX_LINE": "4K"}
    if not name.endswith((".csv", ".jsonl")):  # a 4096-byte line of text is exactly the limit
        r = run("build-vocab", ok, "-o", tmp_path / "ok.tsv", "-q", *extra, env=env)
        assert r.exit_code == 0, r.output
    r = run("build-vocab", bad, "-o", tmp_path / "v.tsv", "-q", *extra, env=env)
    lineno = 4 if header else 3
    assert_refused(r, 1, f"line {lineno} of {bad}", "longer than 4 KiB")
    assert not (tmp_path / "v.tsv").exists()


def test_line_limit_in_byte_range_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shard readers of the parallel encoder are bounded too."""
    monkeypatch.setenv("EMBEDCLI_MAX_LINE", "1K")
    path = write(tmp_path / "c.txt", "a b\n" + "y" * 3000 + "\nc d\n")
    reader = CorpusReader([path])
    with pytest.raises(DataError, match="longer than 1 KiB"):
        list(reader.iter_byte_range(str(path), 2, path.stat().st_size))


def test_nul_byte_deep_in_a_file_names_its_line(tmp_path: Path) -> None:
    lines = [f"__label__a word{i}" for i in range(200_000)]
    lines[150_000] = "__label__a bro\0ken"
    path = write(tmp_path / "c.txt", "\n".join(lines) + "\n")
    for command in (
        ["build-vocab", path, "-o", tmp_path / "v.tsv"],
        ["train", path, "-o", tmp_path / "m", *TRAIN],
    ):
        r = run(*command)
        assert_refused(r, 1, f"line 150001 of {path}", "NUL byte")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


# -- 2. a vocabulary file that is not one ----------------------------------------------------------
def test_vocab_header_is_checked_before_the_file_is_read(tmp_path: Path) -> None:
    """A FIFO whose writer never closes: only a bounded read of the first line can return."""
    fifo = tmp_path / "vocab.fifo"
    os.mkfifo(fifo)
    release = threading.Event()

    def writer() -> None:
        with open(fifo, "wb") as f:
            f.write(b"__label__pos this is a corpus, not a vocabulary\n" * 100)
            f.flush()
            release.wait(30)

    threading.Thread(target=writer, daemon=True).start()
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            Vocabulary.load(fifo)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    t.join(10)
    finished_while_open = bool(outcome)
    release.set()  # let a reader that waits for the end of the file finish
    t.join(10)
    assert finished_while_open, "Vocabulary.load waited for the end of the file"
    assert isinstance(outcome[0], FormatError), outcome
    assert "not an embedcli vocabulary" in str(outcome[0])


@pytest.mark.parametrize("what", ["corpus", "dev_zero"])
def test_vocab_option_refuses_a_non_vocabulary(tmp_path: Path, what: str) -> None:
    corpus = write(tmp_path / "c.txt", "\n".join(LINES) + "\n")
    not_vocab = corpus if what == "corpus" else "/dev/zero"
    b = run_bounded(["encode", corpus, "--vocab", not_vocab, "-o", tmp_path / "ids.npy"])
    assert_bounded_refusal(b, str(not_vocab), "not an embedcli vocabulary", rss_mb=300)
    b = run_bounded(["train", corpus, "--vocab", not_vocab, "-o", tmp_path / "m", *TRAIN])
    assert_bounded_refusal(b, str(not_vocab), "not an embedcli vocabulary", rss_mb=400)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


# -- 3. inputs that would be silently misread -------------------------------------------------------
def test_cr_only_line_ends_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "mac.txt", "\r".join(LINES) + "\r")
    for args in (
        ["build-vocab", path, "-o", tmp_path / "v.tsv"],
        ["train", path, "-o", tmp_path / "m", *TRAIN],
    ):
        assert_refused(run(*args), 1, str(path), "CR-only line ends", "tr ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mac.txt"]


def test_crlf_and_stray_cr_keep_working(tmp_path: Path) -> None:
    """CRLF files read exactly as LF files; a few CRs inside lines do not trigger the refusal."""
    lf = write(tmp_path / "lf.txt", "\n".join(LINES) + "\n")
    crlf = write(tmp_path / "crlf.txt", "\r\n".join(LINES) + "\r\n")
    stray = write(tmp_path / "stray.txt", "\n".join(LINES[:-1]) + "\n__label__pos odd\rcr\n")
    for p in (lf, crlf, stray):
        r = run("build-vocab", p, "-o", p.with_suffix(".tsv"), "--json")
        assert r.exit_code == 0, r.output
    assert (tmp_path / "lf.tsv").read_bytes() == (tmp_path / "crlf.tsv").read_bytes()


@pytest.mark.parametrize(
    ("encoding", "needle"),
    [
        ("utf-16", "UTF-16 text (byte-order mark)"),
        ("utf-16-be", "NUL byte"),
        ("utf-16-le", "NUL byte"),
        ("utf-32", "UTF-32 text (byte-order mark)"),
        ("utf-32-be", "NUL byte"),
    ],
)
def test_utf16_and_utf32_are_refused(tmp_path: Path, encoding: str, needle: str) -> None:
    path = tmp_path / "wide.txt"
    path.write_bytes(("\n".join(LINES) + "\n").encode(encoding))
    assert_refused(run("build-vocab", path, "-o", tmp_path / "v.tsv"), 1, str(path), needle)
    assert_refused(run("train", path, "-o", tmp_path / "m", *TRAIN), 1, str(path), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wide.txt"]


def test_utf16_without_bom_mostly_non_ascii_is_refused(tmp_path: Path) -> None:
    """CJK text in UTF-16 has few NULs, but the first ASCII space or newline brings one."""
    path = write(tmp_path / "cjk.txt", ("中文 日本語\n" * 50).encode("utf-16-le"))
    assert_refused(run("build-vocab", path, "-o", tmp_path / "v.tsv"), 1, "NUL byte")


@pytest.mark.parametrize(
    ("name", "content", "lineno", "label"),
    [
        ("nl.jsonl", '{"text": "a", "label": "pos"}\n{"text": "b", "label": "x\\ny"}\n', 2, "x\ny"),
        (
            "ls.jsonl",
            '{"text": "a", "label": "pos"}\n{"text": "b", "label": ["x\\u2028y"]}\n',
            2,
            "x\u2028y",
        ),
        ("esc.csv", 'text,label\ngood,pos\nbad,"\x1b[31mred"\n', 3, "\x1b[31mred"),
        ("bell.txt", "__label__pos good\n__label__bell\x07 bad\n", 2, "bell\x07"),
        ("c1.tsv", "text\tlabel\ngood\tpos\nbad\tneg\x9b\n", 3, "neg\x9b"),
    ],
)
def test_labels_with_control_characters_are_refused(
    tmp_path: Path, name: str, content: str, lineno: int, label: str
) -> None:
    path = write(tmp_path / name, content)
    where = f"{path}:{lineno}: label {label!r} contains the control character"
    assert_refused(run("train", path, "-o", tmp_path / "m", *TRAIN), 1, where)
    assert_refused(run("build-vocab", path, "-o", tmp_path / "v.tsv"), 1, where)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_newline_in_a_csv_label_cannot_add_prediction_lines(tmp_path: Path, model: Path) -> None:
    """A quoted CSV label with a line break splits into two labels (whitespace), never one label
    holding a newline; predict writes exactly one line per input line."""
    path = write(tmp_path / "c.csv", 'text,label\ngood,"pos\nneg"\nbad,neg\n')
    docs = list(CorpusReader([path]))
    assert [d.labels for d in docs] == [("pos", "neg"), ("neg",)]
    q = write(tmp_path / "q.txt", "good fine\nbad poor\n\n")
    r = run("predict", model, q)
    assert r.exit_code == 0, r.output
    assert r.stdout.count("\n") == 3


@pytest.mark.parametrize("damage", ["corrupt_block", "truncated", "bad_crc", "not_gzip"])
def test_damaged_gzip_is_one_line(tmp_path: Path, damage: str) -> None:
    text = "".join(f"__label__a word{i} other{i % 97}\n" for i in range(100_000)).encode()
    data = bytearray(gzip.compress(text))
    if damage == "corrupt_block":
        mid = len(data) // 2
        data[mid : mid + 64] = bytes(64)
    elif damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "bad_crc":
        data[-8] ^= 0xFF
    else:
        data = bytearray(b"plain text, not gzip\n" * 10)
    path = write(tmp_path / "c.txt.gz", bytes(data))
    r = run("build-vocab", path, "-o", tmp_path / "v.tsv")
    assert_refused(r, 1, f"cannot read {path}", "gzip" if damage != "truncated" else "truncated")
    r = run("train", path, "-o", tmp_path / "m", *TRAIN)
    # deflate damage may first decode to garbage (here: a line without a label) before the
    # stream breaks or its CRC fails; either way one line naming the file
    assert_refused(r, 1, str(path) if damage == "corrupt_block" else f"cannot read {path}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt.gz"]


def test_nul_on_stdin_of_query_commands(model: Path) -> None:
    b = run_bounded(["nearest", model, "-"], feed=b"\0" * (1 << 20), feed_total=100 << 20)
    assert_bounded_refusal(b, "<stdin>", "NUL byte", rss_mb=300)
    b = run_bounded(["lookup", model, "-"], feed=b"word " * 1000, feed_total=100 << 20)
    assert_bounded_refusal(b, "line 1 of <stdin> is longer than", rss_mb=300)


# -- 4. options and environment --------------------------------------------------------------------
BIG = "99999999999999999999"  # > int64
MODEL_ARGS = ["no-such-model"]
COMMANDS: dict[str, list[str]] = {
    "build-vocab": ["build-vocab", "c.txt", "-o", "v.tsv"],
    "encode": ["encode", "c.txt", "--vocab", "v.tsv", "-o", "ids.npy"],
    "train": ["train", "c.txt", "-o", "m"],
    "pretrain": ["pretrain", "c.txt", "-o", "m"],
    "lookup": ["lookup", *MODEL_ARGS, "--sentence", "a b"],
    "nearest": ["nearest", *MODEL_ARGS, "word"],
    "analogy": ["analogy", *MODEL_ARGS, "a", "b", "c"],
    "plot": ["plot", *MODEL_ARGS, "-o", "p.png"],
    "explore": ["explore", *MODEL_ARGS, "-o", "e.html"],
    "predict": ["predict", *MODEL_ARGS, "q.txt"],
    "evaluate": ["evaluate", *MODEL_ARGS, "q.txt"],
    "embed": ["embed", *MODEL_ARGS, "q.txt"],
    "evaluate-vectors": ["evaluate-vectors", *MODEL_ARGS, "--analogies", "q.txt"],
    "quantize": ["quantize", *MODEL_ARGS, "-o", "small"],
}
INT_HOSTILE = [BIG, "-" + BIG, "nan", "inf", "1.5"]
FLOAT_HOSTILE = ["nan", "inf", "-inf", "1e400", "-1e400"]
#: (command, option, hostile values beyond the common ones)
NUMERIC_OPTIONS: list[tuple[str, str, list[str]]] = [
    ("build-vocab", "--min-count", ["0", "-1"]),
    ("build-vocab", "--max-size", ["0", "-1", "2147483648"]),
    ("encode", "--maxlen", ["0", "-1", "1000001"]),
    ("encode", "--value", ["2147483648", "-2147483649"]),
    ("build-vocab", "--workers", ["0", "-1", "1025"]),
    ("build-vocab", "--partition-size", ["0", "1023", str((1 << 40) + 1)]),
    ("encode", "--workers", ["0", "-1", "1025"]),
    ("encode", "--partition-size", ["0", "1023", str((1 << 40) + 1)]),
    ("predict", "--workers", ["0", "-1", "1025"]),
    ("predict", "--partition-size", ["0", "1023", str((1 << 40) + 1)]),
    ("embed", "--workers", ["0", "-1", "1025"]),
    ("embed", "--partition-size", ["0", "1023", str((1 << 40) + 1)]),
    ("evaluate", "--workers", ["0", "-1", "1025"]),
    ("evaluate", "--partition-size", ["0", "1023", str((1 << 40) + 1)]),
    ("pretrain", "--workers", ["0", "-1", "1025"]),
    ("pretrain", "--partition-size", ["0", "1023", str((1 << 40) + 1)]),
    ("train", "--workers", ["0", "-1", "1025"]),
    ("train", "--partition-size", ["0", "1023", str((1 << 40) + 1)]),
    ("train", "--val-split", ["-0.1", "1", "1.5"]),
    ("train", "--dim", ["0", "-1", "10001"]),
    ("train", "--epochs", ["-1", "10001"]),
    ("train", "--lr", ["0", "-0.5"]),
    ("train", "--batch-size", ["0", "-1", "1000001"]),
    ("train", "--l2", ["-0.1"]),
    ("train", "--dropout", ["-0.1", "1", "2"]),
    ("train", "--hidden", ["-1", "10001"]),
    ("train", "--maxlen", ["-1", "100001"]),
    ("train", "--threshold", ["-0.1", "1.1"]),
    ("train", "--word-ngrams", ["0", "-1", "11"]),
    ("train", "--buckets", ["-1", str((1 << 24) + 1)]),
    ("train", "--threads", ["-1", "1025"]),
    ("train", "--seed", ["-1", str(2**32)]),
    ("train", "--early-stopping", ["-1", "10001"]),
    ("train", "--checkpoint-every", ["-1", "10001"]),
    ("train", "--min-count", ["0", "-1"]),
    ("train", "--max-size", ["0", "1", "-1"]),
    ("train", "--minn", ["-1", "31"]),
    ("train", "--maxn", ["-1", "31"]),
    ("train", "--autotune-duration", ["0", "-1"]),
    ("train", "--autotune-trials", ["-1", "1000001"]),
    ("pretrain", "--dim", ["0", "-1", "10001"]),
    ("pretrain", "--window", ["0", "-1", "1001"]),
    ("pretrain", "--negative", ["0", "-1", "1001"]),
    ("pretrain", "--sample", ["-0.1", "1", "2"]),
    ("pretrain", "--epochs", ["0", "-1", "10001"]),
    ("pretrain", "--lr", ["0", "-0.5", "11"]),
    ("pretrain", "--minn", ["-1", "101"]),
    ("pretrain", "--maxn", ["-1", "101"]),
    ("pretrain", "--buckets", ["-1", str(2**31)]),
    ("pretrain", "--threads", ["-1", "1025"]),
    ("pretrain", "--checkpoint-every", ["-1", "10001"]),
    ("pretrain", "--seed", ["-1", str(2**32)]),
    ("pretrain", "--min-count", ["0", "-1"]),
    ("pretrain", "--max-size", ["0", "1", "-1"]),
    ("lookup", "--maxlen", ["0", "-1"]),
    ("nearest", "--k", ["0", "-1", "1000001"]),
    ("analogy", "--k", ["0", "-1"]),
    ("plot", "--top", ["0", "-1"]),
    ("plot", "--seed", ["-1", str(2**32)]),
    ("explore", "--top", ["0", "1", "-1"]),
    ("explore", "--k", ["0", "-1", "101"]),
    ("explore", "--max-docs", ["0", "-1", "100001"]),
    ("explore", "--seed", ["-1", str(2**32)]),
    ("explore", "--search-words", ["-1", "1000001"]),
    ("explore", "--ngram-words", ["-1", "1000001"]),
    ("predict", "--k", ["0", "-1"]),
    ("predict", "--threshold", ["-0.1", "1.5"]),
    ("predict", "--batch-size", ["0", "-1", "1000001"]),
    ("predict", "--threads", ["0", "-1", "1025"]),
    ("evaluate", "--k", ["0", "-1"]),
    ("evaluate", "--threshold", ["-0.1", "1.5"]),
    ("evaluate", "--threads", ["0", "-1"]),
    ("embed", "--threads", ["0", "-1"]),
    ("evaluate-vectors", "--restrict-vocab", ["0", "-1", "2147483648"]),
    ("evaluate-vectors", "--pairs-restrict-vocab", ["0", "-1"]),
    ("quantize", "--dsub", ["0", "-1", "10001"]),
    ("quantize", "--centroids", ["0", "-1", "257"]),
    ("quantize", "--cutoff", ["0", "-1", "2147483648"]),
    ("quantize", "--epochs", ["0", "-1", "10001"]),
    ("quantize", "--lr", ["0", "-0.5", "101", "nan"]),
    ("quantize", "--threads", ["0", "-1", "1025"]),
    ("quantize", "--seed", ["-1", str(2**32)]),
]


def _numeric_options() -> dict[tuple[str, str], str]:
    """Every int/float option of every command: (command, longest name) -> 'int' | 'float'."""
    group = command_group()
    found = {}
    for name, command in group.commands.items():
        for param in command.params:
            kind = _kind(param)
            if param.param_type_name == "option" and kind in ("int", "float"):
                found[(name, max(param.opts, key=len))] = kind
    return found


def _kind(param: Any) -> str:
    """'int', 'float' or '' for an option (typer 0.29 has ``bare_type``; 0.28 names the type)."""
    if hasattr(param, "bare_type"):
        return param.bare_type()
    name = getattr(param.type, "name", "")
    return "int" if name.startswith("int") else "float" if name.startswith("float") else ""


def _bounds(param: Any) -> tuple[Any, Any]:
    holder = param if hasattr(param, "min") else param.type
    return getattr(holder, "min", None), getattr(holder, "max", None)


def _float_options() -> set[tuple[str, str]]:
    return {key for key, kind in _numeric_options().items() if kind == "float"}


HOSTILE_CASES = [
    (command, option, value)
    for command, option, extra in NUMERIC_OPTIONS
    for value in (FLOAT_HOSTILE if (command, option) in _float_options() else INT_HOSTILE) + extra
]


def test_every_numeric_option_has_a_range_and_is_tested() -> None:
    group = command_group()
    listed = {(c, o) for c, o, _ in NUMERIC_OPTIONS}
    assert set(_numeric_options()) == listed
    for (command, option), kind in _numeric_options().items():
        param = next(p for p in group.commands[command].params if option in p.opts)
        if kind == "int":
            assert None not in _bounds(param), (command, option)
        else:
            assert param.callback is not None, (command, option)


@pytest.mark.parametrize(("command", "option", "value"), HOSTILE_CASES)
def test_hostile_numeric_values_are_usage_errors(command: str, option: str, value: str) -> None:
    r = run(*COMMANDS[command], option, value)
    out = r.output
    assert r.exit_code == 2, f"{command} {option} {value}: exit {r.exit_code}\n{out}"
    assert "Traceback" not in out and "internal error" not in out, out
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert option in out, out


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("train", "--seed", str(2**32 - 1)),
        ("train", "--seed", "0"),
        ("train", "--l2", "0"),
        ("train", "--val-split", "0.999"),
        ("train", "--threshold", "1"),
        ("train", "--buckets", "2000000"),
        ("encode", "--value", "-2147483648"),
        ("encode", "--value", "2147483647"),
        ("encode", "--maxlen", "1000000"),
        ("build-vocab", "--max-size", "2"),
        ("predict", "--threshold", "0"),
    ],
)
def test_extreme_valid_values_pass_option_parsing(command: str, option: str, value: str) -> None:
    """Values at the ends of the ranges get past parsing (then fail on the missing input)."""
    r = run(*COMMANDS[command], option, value)
    assert r.exit_code == 1, r.output
    assert option not in r.output and "internal error" not in r.output, r.output


def test_l2_nan_is_blamed_on_l2(tmp_path: Path) -> None:
    corpus = write(tmp_path / "c.txt", "\n".join(LINES) + "\n")
    r = run("train", corpus, "-o", tmp_path / "m", "--l2", "nan", *TRAIN)
    assert r.exit_code == 2 and "'--l2'" in r.stderr and "--lr" not in r.stderr, r.output
    r = run("train", corpus, "-o", tmp_path / "m", "--hidden", "-1", *TRAIN)
    assert r.exit_code == 2 and "'--hidden'" in r.stderr and "reshape" not in r.output, r.output
    assert not (tmp_path / "m").exists()


ENV_HOSTILE = ["inf", "nan", "-1", "0", "garbage", "1e400", "12Q", "-inf", " "]


@pytest.mark.parametrize("variable", ["EMBEDCLI_MEM_LIMIT", "EMBEDCLI_MAX_LINE"])
@pytest.mark.parametrize("value", ENV_HOSTILE)
@pytest.mark.parametrize("command", ["build-vocab", "encode", "train", "predict"])
def test_size_variables_are_checked_up_front(
    tmp_path: Path, vocab: Path, variable: str, value: str, command: str
) -> None:
    corpus = write(tmp_path / "c.txt", "\n".join(LINES) + "\n")
    args: list[object] = {
        "build-vocab": ["build-vocab", corpus, "-o", tmp_path / "v.tsv"],
        "encode": ["encode", corpus, "--vocab", vocab, "-o", tmp_path / "ids.npy"],
        "train": ["train", corpus, "-o", tmp_path / "m", *TRAIN],
        "predict": ["predict", "no-such-model", corpus],
    }[command]
    r = run(*args, env={variable: value})
    if not value.strip():  # empty: the default applies
        assert r.exit_code != 2, r.output
        return
    if value == "0" and variable == "EMBEDCLI_MEM_LIMIT":  # 0: spill every array to disk at once
        assert r.exit_code != 2, r.output
        return
    assert_refused(r, 2, variable, repr(value))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


@pytest.mark.parametrize("value", ["2G", "512M", "1048576", "1.5GiB", "0"])
def test_valid_mem_limit_values(tmp_path: Path, value: str) -> None:
    corpus = write(tmp_path / "c.txt", "\n".join(LINES) + "\n")
    r = run(
        "build-vocab", corpus, "-o", tmp_path / "v.tsv", "-q", env={"EMBEDCLI_MEM_LIMIT": value}
    )
    assert r.exit_code == 0, r.output


def test_encode_output_larger_than_the_free_disk_is_refused_before_writing(
    tmp_path: Path, vocab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = write(tmp_path / "c.txt", "\n".join(LINES) + "\n")
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 50_000, 50_000))
    for name, need in (("ids.npy", "320.0 kB"), ("ids.npz", "320.0 kB"), ("ids.txt", "160.0 kB")):
        r = run("encode", corpus, "--vocab", vocab, "--maxlen", "4000", "-o", tmp_path / name, "-q")
        line = assert_refused(r, 1, name, need, "50.0 kB free", "20 rows x 4,000 ids")
        assert "--maxlen" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]
    # what fits is written; stdout is a stream and never checked
    r = run("encode", corpus, "--vocab", vocab, "--maxlen", "100", "-o", tmp_path / "ok.npy", "-q")
    assert r.exit_code == 0, r.output
    r = run("encode", corpus, "--vocab", vocab, "--maxlen", "4000", "-q")
    assert r.exit_code == 0 and r.stdout.count("\n") == len(LINES), r.output[-500:]


def test_pythonioencoding_ascii_does_not_crash(tmp_path: Path, model: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "ascii"}
    corpus = write(tmp_path / "c.txt", "\n".join(LINES) + "\n")

    def cli(*args: object) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "embedcli", *map(str, args)],
            capture_output=True,
            env=env,
            timeout=120,
        )

    for args in (
        ["build-vocab", corpus, "-o", tmp_path / "v.tsv"],  # summary with naïve, café on stderr
        ["build-vocab", corpus, "-o", "-", "-q"],  # the vocabulary on stdout
        ["predict", model, corpus, "--k", "2"],  # labels __label__négatif on stdout
        ["lookup", model, "--sentence", "café école", "--format", "tsv"],
        ["nearest", model, "café", "--format", "tsv"],
        ["build-vocab", tmp_path / "naïve-missing.txt", "-o", tmp_path / "x.tsv"],  # error line
    ):
        p = cli(*args)
        out = (p.stdout + p.stderr).decode("ascii")  # nothing but ASCII was written
        assert "Traceback" not in out and "internal error" not in out, (args, out)
        assert "UnicodeEncodeError" not in out, (args, out)
        assert p.returncode == (1 if "naïve-missing" in str(args[1]) else 0), (args, out)
    assert "n\\xe9gatif" in cli("predict", model, corpus, "--k", "2").stdout.decode("ascii")


def _strict_loads(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_print_json_writes_null_for_nan_and_infinities(capsys: pytest.CaptureFixture[str]) -> None:
    from embedcli.cli.app import print_json

    print_json(
        {
            "nan": math.nan,
            "inf": [math.inf, -math.inf, 1.5],
            "np": np.float32("nan"),
            "arr": np.array([1.0, np.nan, np.inf]),
            "nested": {"t": (np.float64("-inf"), 2)},
            "ok": "NaN as text stays",
        }
    )
    data = _strict_loads(capsys.readouterr().out)
    assert data == {
        "nan": None,
        "inf": [None, None, 1.5],
        "np": None,
        "arr": [1.0, None, None],
        "nested": {"t": [None, 2]},
        "ok": "NaN as text stays",
    }


def test_train_and_info_json_are_strict_json(tmp_path: Path) -> None:
    """A test file whose labels the model does not know: the test accuracy is undefined (NaN),
    written as null by ``train --json`` and by ``info --json`` (which reads config.json)."""
    corpus = write(tmp_path / "c.txt", "\n".join(LINES) + "\n")
    unknown = write(tmp_path / "t.txt", "__label__zzz good fine\n__label__yyy bad poor\n")
    r = run("train", corpus, "-o", tmp_path / "m", "--test", unknown, "--json", *TRAIN)
    assert r.exit_code == 0, r.output
    data = _strict_loads(r.stdout)
    assert data["test_accuracy"] is None
    r = run("info", tmp_path / "m", "--json")
    assert r.exit_code == 0, r.output
    assert _strict_loads(r.stdout)


def test_reader_refusals_leave_counts_consistent(tmp_path: Path) -> None:
    """Library view: CorpusReader raises DataError (no partial Document beyond the bad line)."""
    path = write(tmp_path / "c.txt", "__label__a one\n__label__a two\n__label__b\x1b x\n")
    seen = []
    with pytest.raises(DataError, match=r"c\.txt:3: label 'b\\x1b'"):
        for doc in CorpusReader([path], CorpusOptions()):
            seen.append(doc)
    assert [d.text for d in seen] == ["one", "two"]


@pytest.mark.parametrize("name", ["vectors.vec", "vectors.bin"])
def test_endless_init_vectors_are_refused(tmp_path: Path, name: str) -> None:
    """--init-vectors reads bounded lines (text) and a bounded header (word2vec binary): a 1 GiB
    file of zeros without a line end (sparse, so it takes no disk) is refused early."""
    corpus = write(tmp_path / "c.txt", "\n".join(LINES) + "\n")
    vectors = tmp_path / name
    with open(vectors, "wb") as f:
        f.truncate(1 << 30)
    b = run_bounded(["train", corpus, "-o", tmp_path / "m", "--init-vectors", vectors, *TRAIN])
    assert_bounded_refusal(b, str(vectors), rss_mb=400)
    assert not (tmp_path / "m").exists()
