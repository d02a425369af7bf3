"""``train --autotune-*`` on a short budget: the first trial is fitted to the budget (the search
always returns a model), and a search whose best trial is the defaults refits exactly the model
``train`` without a search gives."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from labelled_text import write_keyword_corpus
from typer.testing import CliRunner

from embedcli.autotune import _fit_to_budget, file_order
from embedcli.cli import app
from embedcli.spec import TrainConfig

pytest.importorskip("optuna")
runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("budget") / "train.txt"
    return write_keyword_corpus(path, seed=3, docs=500, keywords=20, noise=120)


def _run_state(epochs: int) -> SimpleNamespace:
    return SimpleNamespace(cfg=TrainConfig(epochs=epochs), tokens_per_epoch=100.0,
                           total_tokens=100.0 * epochs)  # fmt: skip


def test_fit_to_budget_shortens_the_schedule() -> None:
    # 2 epochs took 2 s, 3.5 s are left: 3 more epochs fit, the lr now decays to 0 at epoch 5
    r = _run_state(10)
    assert _fit_to_budget(r, 2, 2.0, 3.5).epochs == 5
    assert r.cfg.epochs == 5 and r.total_tokens == 500.0
    # no time for another epoch: the run ends at this one
    r = _run_state(10)
    assert _fit_to_budget(r, 2, 2.0, 0.5).epochs == 2 and r.total_tokens == 200.0
    # enough time: unchanged
    r = _run_state(10)
    assert _fit_to_budget(r, 2, 2.0, 100.0).epochs == 10 and r.total_tokens == 1000.0


def test_a_budget_shorter_than_a_trial_still_gives_a_model(train_file: Path, tmp_path: Path):
    """1 ms: preparing the data uses it up; trial 0 still runs, cut at once, and is written."""
    out = tmp_path / "m"
    r = run("train", train_file, "-o", out, "--val-split", 0.2, "--autotune-duration", 0.001,
            "--seed", 1, "--threads", 1, "--epochs", 50, "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)["autotune"]
    assert len(rec["trials"]) == 1 and rec["trials"][0]["state"] == "complete", rec["trials"]
    cut = rec["trials"][0]["cut"]
    assert cut["planned_epochs"] == 50 and cut["epochs"] < 50, cut
    assert rec["refit"]["done"] is False  # no time left for it
    assert "(cut to " in r.stderr and "of 50 epochs" in r.stderr, r.stderr
    assert (out / "config.json").exists() and (out / "embeddings.npy").exists()


def test_file_order_restores_the_split(train_file: Path) -> None:
    from embedcli.corpus import CorpusOptions
    from embedcli.pipeline import TrainPlan, prepare_training

    plan = TrainPlan([str(train_file)], CorpusOptions(), {"seed": 4, "word_ngrams": 2})
    whole = prepare_training(plan)
    full = file_order(prepare_training(replace(plan, val_split=0.2)))
    assert whole.train.hashes is not None
    assert np.array_equal(full.tokens, whole.train.tokens)
    assert np.array_equal(full.offsets, whole.train.offsets)
    assert np.array_equal(full.label_ids, whole.train.label_ids)
    assert np.array_equal(full.hashes.values, whole.train.hashes.values)


def test_defaults_refit_is_the_plain_training(train_file: Path, tmp_path: Path) -> None:
    """The search's best is trial 0 (the only one): its refit is ``train`` without a search,
    bit for bit with ``--threads 1``."""
    tuned, plain = tmp_path / "tuned", tmp_path / "plain"
    r = run("train", train_file, "-o", tuned, "--val-split", 0.2, "--autotune-trials", 1,
            "--autotune-duration", 600, "--seed", 2, "--threads", 1, "--json", "--quiet")  # fmt: skip
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)["autotune"]
    assert rec["refit"]["done"] and rec["refit"]["config"] == "defaults", rec["refit"]
    r = run("train", train_file, "-o", plain, "--seed", 2, "--threads", 1, "--quiet")
    assert r.exit_code == 0, r.output
    assert (tuned / "embeddings.npy").read_bytes() == (plain / "embeddings.npy").read_bytes()


def test_a_search_that_used_its_budget_still_refits() -> None:
    """The trials stop when only the refit's reserve is left (a chunk later): the refit starts
    then (it was refused by a hair: left < reserve), not when far less is left."""
    from embedcli.autotune import REFIT_MARGIN, refit_starts

    assert refit_starts(11.49, 11.5) and refit_starts(10.0 + 1e-9, 10.0 * REFIT_MARGIN)
    assert not refit_starts(5.0, 11.5)
