"""``train --autotune-* --val-split``: the seeded first trials, the refit of the best configuration
on training + validation documents (reproducible with a seed and ``--threads 1``), and the
search space centred on the defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labelled_text import write_keyword_corpus
from typer.testing import CliRunner

from embedcli.autotune import _Space, seeded_trials
from embedcli.cli import app

pytest.importorskip("optuna")
runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("refit") / "train.txt"
    return write_keyword_corpus(path, seed=2, docs=600, keywords=25, noise=150)


def test_seeded_trials_start_from_the_defaults() -> None:
    defaults = {"optimizer": "adagrad", "lr_factor": 1.0, "dim": 100, "epochs": 25,
                "dropout": 0.3, "word_ngrams": 2}  # fmt: skip
    space = _Space.around(defaults, 200_000)
    assert space.epochs == (8, 100)
    trials = seeded_trials(defaults, frozenset(), space)
    assert trials[0] == defaults
    assert trials[1]["optimizer"] == "sgd" and trials[1]["dropout"] == 0.0
    assert trials[1]["epochs"] == 50 and trials[2]["epochs"] == 100  # 4x, clamped to 100
    # a fixed option keeps the plan's value: no SGD recipe when the optimizer is fixed
    fixed = seeded_trials(defaults, frozenset({"optimizer"}), space)
    assert fixed == [defaults]
    fixed = seeded_trials(defaults, frozenset({"epochs"}), space)
    assert all(t["epochs"] == 25 for t in fixed) and len(fixed) == 3


def test_val_split_refit_is_reproducible(train_file: Path, tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        r = run(
            "train", train_file, "-o", out, "--seed", 5, "--threads", 1, "--val-split", 0.2,
            "--autotune-trials", 3, "--autotune-duration", 600, "--test", train_file,
            "--json", "--quiet",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        outs.append((out, json.loads(r.stdout)))
    (a, sa), (b, sb) = outs
    rec = sa["autotune"]
    assert rec["refit"]["done"] and rec["refit"]["documents"] == 600, rec["refit"]
    assert sa["train_documents"] == 600  # the model was trained on all documents
    assert "test_accuracy_before_refit" in sa
    assert [t["params"] for t in rec["trials"]] == [t["params"] for t in sb["autotune"]["trials"]]
    assert (a / "embeddings.npy").read_bytes() == (b / "embeddings.npy").read_bytes()
    config = json.loads((a / "config.json").read_text())
    assert config["autotune"]["refit"]["done"]


def test_refit_chunks_last_about_two_seconds_not_half_a_million_tokens() -> None:
    """The refit trains in as few chunks as its time estimate allows (plain ``train``'s one per
    epoch when an epoch takes under 2 s and the featurized corpus fits in memory)."""
    from embedcli.autotune import REFIT_MARGIN, refit_chunks

    # 20newsgroups' refit: ~19 s for 12 epochs -> one chunk per epoch, as train itself
    assert refit_chunks(1, 19.0 * REFIT_MARGIN, 12, 11_314, 1) == 1
    # a long epoch (52 s) is still cut so the budget is checked every ~2 s
    assert refit_chunks(1, 600.0 * REFIT_MARGIN, 10, 100_000, 1) == 31
    # never more chunks than mini-batches, never fewer than fit in memory
    assert refit_chunks(1, 600.0 * REFIT_MARGIN, 1, 5, 1) == 5
    assert refit_chunks(1, 600.0 * REFIT_MARGIN, 1, 64, 16) == 4
    assert refit_chunks(4, 1.0, 10, 1_000, 1) == 4
