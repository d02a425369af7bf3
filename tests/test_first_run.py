"""The first hour: one kernel cache whoever runs embedcli, warmed by ``make demo``; a cold run
says it is compiling, and compile time is never reported as epoch 1."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from embedcli.cli import app

REPO = Path(__file__).resolve().parents[1]
STDLIB = REPO / "sample_data" / "stdlib"

#: a fresh process runs ``embedcli ARGS`` and then prints its kernel cache counters
STATS = (
    "import json, sys\n"
    "from embedcli.cli import main\n"
    "sys.argv = ['embedcli', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
    "from embedcli.warm import kernel_cache_stats\n"
    "compiled, loaded = kernel_cache_stats()\n"
    "print('STATS ' + json.dumps({'code': code, 'compiled': compiled, 'loaded': loaded}))\n"
)


def _copy_of_the_project(tmp_path: Path) -> Path:
    """The package, sample data and demo script in a fresh folder: a cold in-tree kernel cache."""
    root = tmp_path / "repo"
    shutil.copytree(
        REPO / "embedcli", root / "embedcli", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(REPO / "sample_data", root / "sample_data")
    return root


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "EMBEDCLI_DEBUG")}
    env["PYTHONPATH"] = str(root)
    return env


def _train_with_stats(root: Path, *args: str) -> tuple[dict, str]:
    r = subprocess.run(
        [sys.executable, "-c", STATS, "train", *args],
        capture_output=True,
        text=True,
        cwd=root,
        env=_env(root),
        timeout=900,
    )
    found = re.search(r"^STATS (.*)$", r.stdout, re.M)
    assert found, (r.stdout[-2000:], r.stderr[-2000:])
    stats = json.loads(found.group(1))
    assert stats["code"] in (0, None), r.stderr
    return stats, r.stderr


def test_demo_warms_the_cache_a_direct_run_uses(tmp_path: Path) -> None:
    """``make demo`` then ``embedcli train`` (no NUMBA_CACHE_DIR anywhere): the first run compiles
    and says so before epoch 1, which does not include the compile; the next compiles nothing."""
    root = _copy_of_the_project(tmp_path)
    wrapper = tmp_path / "embedcli"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m embedcli "$@"\n')
    wrapper.chmod(0o755)
    demo = subprocess.run(
        ["bash", "sample_data/demo.sh"],
        capture_output=True,
        text=True,
        cwd=root,
        env={**_env(root), "EMBEDCLI": str(wrapper)},
        timeout=1800,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    err = demo.stderr
    assert "compiling kernels (first run only)" in err, err[-3000:]
    compiled = re.search(r"compiled (\d+) kernels in ([\d.]+) s", err)
    assert compiled and int(compiled.group(1)) > 0, err[-3000:]
    assert err.index("compiling kernels") < err.index("epoch   1")
    epoch1 = re.search(r"^epoch   1 .* ([\d.]+) s$", err, re.M)
    assert epoch1, err[-3000:]
    assert float(epoch1.group(1)) < float(compiled.group(2)) / 4, (epoch1.group(0), compiled[0])
    # embedcli's own cache: the package's __pycache__ (it is writable here)
    assert list((root / "embedcli" / "__pycache__").glob("kernels.*.nbi"))

    # the README's first train, in a new process: everything comes from the cache
    stats, err = _train_with_stats(
        root,
        "sample_data/stdlib/train.txt",
        "-o",
        "model",
        "--test",
        "sample_data/stdlib/test.txt",
        "--seed",
        "1",
    )
    assert stats["compiled"] == 0 and stats["loaded"] > 0, stats
    assert "compiling kernels" not in err and "compiled" not in err, err


def test_compiling_first_changes_no_result(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """The warm-up epoch is separate: a model trained with it is bit-identical to one without."""
    import embedcli.warm

    args = [str(STDLIB / "train.txt"), "--epochs", "2", "--dim", "8", "--threads", "1", "-q"]
    runner = CliRunner()
    first = runner.invoke(app, ["train", *args, "-o", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    monkeypatch.setattr(
        embedcli.warm, "warm_kernels", lambda prepared: embedcli.warm.Warmed(0, 0, 0.0)
    )
    second = runner.invoke(app, ["train", *args, "-o", str(tmp_path / "b")])
    assert second.exit_code == 0, second.output
    a = np.load(tmp_path / "a" / "embeddings.npy")
    b = np.load(tmp_path / "b" / "embeddings.npy")
    assert a.tobytes() == b.tobytes()


def test_train_shows_its_steps_and_times_from_start_up(tmp_path: Path) -> None:
    """Reading is a visible step, and ``seconds total`` is the whole command as the user waits
    for it (imports of numpy/numba included), not only the work after them."""
    import time

    args = ["train", "sample_data/stdlib/train.txt", "-o", str(tmp_path / "m"), "--epochs", "1"]
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "embedcli", *args, "--dim", "8", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
    )
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stderr
    assert "reading sample_data/stdlib/train.txt" in r.stderr
    assert "read 2,139 documents, " in r.stderr
    assert r.stderr.index("read 2,139") < r.stderr.index("epoch   1")
    summary = json.loads(r.stdout)
    # the process's whole life but its exit (imports of numpy and numba are most of a short run)
    assert 0.6 * wall <= summary["seconds_total"] <= wall, (summary["seconds_total"], wall)


def test_quiet_train_prints_no_steps(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        app,
        ["train", str(STDLIB / "train.txt"), "-o", str(tmp_path / "m"), "--epochs", "1", "-q"],
    )
    assert r.exit_code == 0, r.output
    assert r.stderr == ""
