"""Real processes: shell pipelines, stdin/stdout, import hygiene, and a real dataset end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from embedcli import __version__

BIN = Path(sys.executable).parent
EMBEDCLI = BIN / "embedcli"
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e.get('PATH', '')}"
    e.pop("EMBEDCLI_DEBUG", None)
    return e


def sh(script: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", "set -o pipefail; " + script],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pipe")
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    lines = [
        f"__label__{'ab'[i % 2]} " + " ".join(words[(i + k) % 10] for k in range(i % 9 + 1))
        for i in range(20_000)
    ]
    (d / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = sh("embedcli build-vocab corpus.txt -o v.tsv -q", d)
    assert r.returncode == 0, r.stderr
    return d


@pytest.mark.skipif(not EMBEDCLI.exists(), reason="embedcli console script not installed")
def test_encode_into_head_exits_cleanly(corpus: Path) -> None:
    r = sh("cat corpus.txt | embedcli encode - --vocab v.tsv -o - -q | head -3", corpus)
    assert r.returncode == 0, r.stderr  # pipefail: embedcli itself exited 0 on EPIPE
    assert len(r.stdout.splitlines()) == 3
    assert all(len(line.split()) == 9 for line in r.stdout.splitlines())
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
    assert "Exception ignored" not in r.stderr, r.stderr


@pytest.mark.skipif(not EMBEDCLI.exists(), reason="embedcli console script not installed")
def test_build_vocab_from_stdin_to_stdout(corpus: Path) -> None:
    r = sh("head -100 corpus.txt | embedcli build-vocab - -o - -q", corpus)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("#embedcli-vocab\t1\n")
    rows = [ln.split("\t") for ln in r.stdout.splitlines() if not ln.startswith("#")]
    assert rows[0] == ["0", "", "0"] and rows[1] == ["1", "[UNK]", "0"]
    assert len(rows) == 12
    assert r.stderr == ""


@pytest.mark.skipif(not EMBEDCLI.exists(), reason="embedcli console script not installed")
def test_build_vocab_stdout_pipes_into_encode(corpus: Path) -> None:
    r = sh(
        "embedcli build-vocab corpus.txt -o - -q > piped.tsv && "
        "echo 'alpha unknown beta' | embedcli encode - --vocab piped.tsv -q",
        corpus,
    )
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split()) == 3 and r.stdout.split()[1] == "1"


def test_python_m_version() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "embedcli", "--version"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"embedcli {__version__}"


def test_importing_the_cli_does_not_import_numba() -> None:
    code = "import embedcli.cli, sys; assert 'numba' not in sys.modules, 'numba imported'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr


def test_help_does_not_import_numba() -> None:
    code = (
        "import sys\n"
        "from embedcli.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "assert 'numba' not in sys.modules, 'numba imported by --help'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr
    assert "build-vocab" in r.stdout


def test_vocab_commands_do_not_import_numba(corpus: Path) -> None:
    code = (
        "import sys\n"
        "from embedcli.cli import app\n"
        "for args in (['build-vocab', 'corpus.txt', '-o', 'w.tsv', '-q'],\n"
        "             ['encode', 'corpus.txt', '--vocab', 'w.tsv', '-o', 'w.npy', '-q']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        "assert 'numba' not in sys.modules, 'numba imported'\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env(), cwd=corpus
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(not EMBEDCLI.exists(), reason="embedcli console script not installed")
def test_errors_in_a_real_process_are_one_line(corpus: Path) -> None:
    r = sh("embedcli encode missing.txt --vocab v.tsv", corpus)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == ["Error: cannot read missing.txt: no such file"]
    r = sh("embedcli encode corpus.txt --vocab v.tsv --maxlen 0", corpus)
    assert r.returncode == 2 and "Traceback" not in r.stderr


# -- a real dataset ---------------------------------------------------------------------------------
@pytest.mark.skipif(not EMBEDCLI.exists(), reason="embedcli console script not installed")
def test_sst2_build_vocab_and_encode(tmp_path: Path) -> None:
    train = SHARED / "sst2" / "train.txt"
    if not train.is_file():
        pytest.skip(f"{train} not found")
    lines = train.read_text(encoding="utf-8").splitlines()
    label_counts = Counter(line.split(" ", 1)[0].removeprefix("__label__") for line in lines)
    r = sh(f"embedcli build-vocab {train} -o v.tsv --min-count 1 --json -q", tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["documents"] == len(lines)
    assert dict(s["labels"]) == dict(label_counts)
    assert s["coverage"] == 1.0
    r = sh(f"embedcli encode {train} --vocab v.tsv --maxlen 40 -o ids.npz -q", tmp_path)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "ids.npz", allow_pickle=False) as z:
        assert z["ids"].shape == (len(lines), 40)
        assert (z["ids"] != 1).any() and not (z["ids"] == 1).any()  # no OOV on its own corpus
        names = z["label_names"].tolist()
        assert Counter(names[i] for i in z["labels"]) == label_counts


# -- the committed sample corpus ------------------------------------------------------------------
def test_sample_corpus_is_valid_fasttext() -> None:
    stdlib = REPO / "sample_data" / "stdlib"
    train = (stdlib / "train.txt").read_text(encoding="utf-8").splitlines()
    test = (stdlib / "test.txt").read_text(encoding="utf-8").splitlines()
    assert len(train) >= 2000 and len(test) >= 400
    for lines in (train, test):
        labels = Counter(line.split(" ", 1)[0] for line in lines)
        assert set(labels) == {f"__label__{c}" for c in ("net", "text", "concurrency", "data")}
        assert min(labels.values()) >= 0.15 * len(lines), labels
        assert all("\t" not in line and len(line.split()) >= 7 for line in lines)
    assert not set(train) & set(test)
    assert len(set(train)) == len(train)
    seeds = (REPO / "sample_data" / "seed" / "sentences.txt").read_text(encoding="utf-8")
    assert seeds.splitlines()[:2] == ["Hope to see you soon", "Nice meeting you"]


@pytest.mark.skipif(sys.version_info[:3] != (3, 11, 7), reason="files were made with 3.11.7")
def test_sample_corpus_is_reproducible() -> None:
    script = REPO / "sample_data" / "make_stdlib_corpus.py"
    r = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
