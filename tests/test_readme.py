"""The README's session is what the commands print: docs/readme_session.py runs them again and
compares (timings masked, numbers to 4 significant digits)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "docs"))

import readme_session  # noqa: E402


def test_readme_session_matches_a_fresh_run() -> None:
    pytest.importorskip("matplotlib")  # the session ends with `embedcli plot`
    r = subprocess.run(
        [sys.executable, str(REPO / "docs" / "readme_session.py")],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_every_session_command_shows_the_seed_and_the_reproducible_path() -> None:
    block = readme_session.readme_block(readme_session.README.read_text(encoding="utf-8"))
    commands = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    assert commands == [
        step.command + (f"     # {step.comment}" if step.comment else "")
        for step in readme_session.STEPS
    ]
    (train,) = [c for c in commands if c.startswith("embedcli train ")]
    assert "--seed 1" in train and "--threads 1" in train


def test_the_check_ignores_timings_but_not_results() -> None:
    a = "epoch   1  loss 0.8100  acc 0.6830  lr 0.288  0.3M tok/s  0.14 s\n seconds total    1.2\n"
    b = "epoch   1  loss 0.8100  acc 0.6830  lr 0.288  2.1M tok/s  0.02 s\n seconds total    9.9\n"
    c = "epoch   1  loss 0.8200  acc 0.6830  lr 0.288  2.1M tok/s  0.02 s\n seconds total    9.9\n"
    assert readme_session.normalized(a) == readme_session.normalized(b)
    assert readme_session.normalized(a) != readme_session.normalized(c)
    assert readme_session.normalized("socket\thost 0.8290411") == readme_session.normalized(
        "socket\thost 0.8290409"
    )
