"""A full disk fails atomically: one `Error:` line, exit 1, nothing half-written left behind.

Uses a 2 MB tmpfs mounted for the test; skipped where mounting is not allowed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tmpfs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def tiny_fs(tmp_path: Path):
    with tmpfs(tmp_path / "tiny", "2M") as mnt:
        yield mnt


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "embedcli", *args], capture_output=True, timeout=300
    )


@pytest.mark.skipif(not (SHARED / "sms_spam").is_dir(), reason="../shared/data not present")
def test_train_and_encode_on_a_full_disk(tiny_fs: Path, tmp_path: Path) -> None:
    train = SHARED / "sms_spam" / "train.txt"
    r = run("train", str(train), "-o", str(tiny_fs / "model"), "--dim", "50", "--epochs", "1", "-q")
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert err.count("Error:") == 1 and "No space left" in err and "Traceback" not in err
    assert list(tiny_fs.iterdir()) == [], "a partial model or temporary directory was left"

    vocab = tmp_path / "v.tsv"
    assert run("build-vocab", str(train), "-o", str(vocab), "-q").returncode == 0
    big = tmp_path / "big.txt"
    big.write_bytes(train.read_bytes() * 20)
    # the size of the encoded output is known before writing: refused before anything is written
    # (a disk that fills while writing is the train case above)
    r = run(
        "encode",
        str(big),
        "--vocab",
        str(vocab),
        "--maxlen",
        "64",
        "-o",
        str(tiny_fs / "ids.npy"),
        "-q",
    )
    err = r.stderr.decode()
    assert r.returncode == 1 and "free" in err and "Traceback" not in err, err
    assert err.count("Error:") == 1, err
    assert list(tiny_fs.iterdir()) == []
