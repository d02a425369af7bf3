"""``embedcli train``/``pretrain`` are one call each into ``embedcli.api_run``, the function the
Python API calls too; what the API gained from the commands: ``output``, ``dry_run``,
checkpoints, ``resume`` (a ``KeyboardInterrupt`` keeps the checkpoint) and the autotune search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import embedcli
from embedcli import api_run
from embedcli.cli import app

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "sample_data" / "stdlib" / "train.txt"
TEST = REPO / "sample_data" / "stdlib" / "test.txt"
FAST = dict(dim=8, seed=1, threads=1, buckets=4096)
FAST_CLI = ["--dim", "8", "--seed", "1", "--threads", "1", "--buckets", "4096"]
PRE = dict(dim=8, epochs=2, seed=1, threads=1, min_count=2, buckets=20_000)
PRE_CLI = ["--dim", "8", "--epochs", "2", "--seed", "1", "--threads", "1", "--min-count", "2"]
PRE_CLI += ["--buckets", "20000"]
runner = CliRunner()


def cli(*args: object, code: int = 0) -> str:
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == code, (r.stdout, r.stderr)
    return r.stdout


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Every call of the run functions, by name (the real ones still run)."""
    seen: list[str] = []
    for name in ("train_run", "pretrain_run"):
        real = getattr(api_run, name)
        monkeypatch.setattr(
            api_run,
            name,
            (lambda r, n: lambda *a, **k: seen.append(n) or r(*a, **k))(real, name),
        )
    return seen


def test_the_train_command_is_one_call_into_the_api(calls, tmp_path) -> None:
    cli("train", TRAIN, "-o", tmp_path / "m", "--epochs", "1", *FAST_CLI, "--quiet")
    assert calls == ["train_run"]
    cli("train", TRAIN, "--dry-run", "--json", *FAST_CLI)
    embedcli.train(TRAIN, epochs=1, **FAST)
    assert calls == ["train_run"] * 3


def test_the_pretrain_command_is_one_call_into_the_api(calls, tmp_path) -> None:
    cli("pretrain", TRAIN, "-o", tmp_path / "v", *PRE_CLI, "--quiet")
    assert calls == ["pretrain_run"]
    embedcli.pretrain(TRAIN, **PRE)
    assert calls == ["pretrain_run"] * 2


def test_dry_run_returns_the_plan_the_command_prints() -> None:
    printed = json.loads(cli("train", TRAIN, "--dry-run", "--json", *FAST_CLI, "--quiet"))
    assert embedcli.train(TRAIN, dry_run=True, **FAST) == printed
    printed = json.loads(cli("pretrain", TRAIN, "--dry-run", "--json", *PRE_CLI, "--quiet"))
    assert embedcli.pretrain(TRAIN, dry_run=True, **PRE) == printed


def test_output_writes_what_the_command_writes(tmp_path) -> None:
    cli("train", TRAIN, "-o", tmp_path / "cli", "--epochs", "2", *FAST_CLI, "--quiet")
    model = embedcli.train(TRAIN, output=str(tmp_path / "api"), epochs=2, **FAST)
    assert model.kind == "classifier"
    a = np.load(tmp_path / "cli" / "embeddings.npy")
    b = np.load(tmp_path / "api" / "embeddings.npy")
    assert np.array_equal(a, b)
    vectors = embedcli.pretrain(TRAIN, output=str(tmp_path / "vec"), **PRE)
    assert vectors.kind == "vectors" and (tmp_path / "vec" / "config.json").exists()


def test_an_interrupted_run_keeps_its_checkpoint_and_resume_finishes_it(tmp_path) -> None:
    full, part, ckpt = tmp_path / "full", tmp_path / "part", tmp_path / "part.ckpt"
    embedcli.train(TRAIN, output=str(full), epochs=4, **FAST)

    def stop(record: dict) -> None:
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embedcli.train(TRAIN, output=str(part), epochs=4, checkpoint_every=1, callback=stop, **FAST)
    assert not part.exists()  # nothing partial
    assert json.loads((ckpt / "checkpoint.json").read_text())["epoch"] >= 1
    resumed = embedcli.train(TRAIN, output=str(tmp_path / "resumed"), resume=str(ckpt))
    assert resumed.config["train"]["epochs"] == 4
    assert np.array_equal(
        np.load(full / "embeddings.npy"), np.load(tmp_path / "resumed" / "embeddings.npy")
    )


def test_the_api_checks_the_new_options_as_the_command_does(tmp_path) -> None:
    with pytest.raises(embedcli.UsageError, match="--checkpoint needs --checkpoint-every"):
        embedcli.train(TRAIN, output=str(tmp_path / "m"), checkpoint=str(tmp_path / "c"))
    with pytest.raises(embedcli.UsageError, match="need --output"):
        embedcli.train(TRAIN, checkpoint_every=1)
    with pytest.raises(embedcli.UsageError, match="need --output"):
        embedcli.pretrain(TRAIN, resume=str(tmp_path / "c"))
    with pytest.raises(embedcli.UsageError, match="--checkpoint-every must be in 0..10000"):
        embedcli.train(TRAIN, output=str(tmp_path / "m"), checkpoint_every=-1)
    with pytest.raises(embedcli.UsageError, match="--autotune-duration must be a finite number"):
        embedcli.train(TRAIN, output=str(tmp_path / "m"), autotune_duration=0.0)
    with pytest.raises(embedcli.UsageError, match="cannot be combined"):
        embedcli.train(TRAIN, output=str(tmp_path / "m"), autotune_trials=2, checkpoint_every=1)
    with pytest.raises(embedcli.UsageError, match="it needs --output"):
        embedcli.train(TRAIN, autotune_trials=2)
    assert not (tmp_path / "m").exists()


def test_autotune_from_the_api_writes_the_best_model_and_the_trials_log(tmp_path) -> None:
    pytest.importorskip("optuna")
    log = tmp_path / "trials.jsonl"
    model = embedcli.train(
        TRAIN,
        output=str(tmp_path / "best"),
        test=str(TEST),
        autotune_trials=2,
        autotune_duration=60.0,
        autotune_trials_log=str(log),
        epochs=2,
        **FAST,
    )
    trials = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(trials) == 2
    assert model.kind == "classifier" and (tmp_path / "best" / "config.json").exists()
    # the options set (not the default) stay fixed in every trial
    assert all(t["params"].get("dim", 8) == 8 for t in trials)
    assert all(t["params"].get("epochs", 2) == 2 for t in trials)


def test_the_corpus_reader_options_are_declared_once_where_they_stood() -> None:
    from embedcli.cli.app import command_group

    reading = ["fmt", "label_prefix", "text_column", "label_column", "no_header", "text_field"]
    reading += ["label_field", "strict_utf8"]
    group = command_group()
    seen = {}
    for name in ("build-vocab", "encode", "train", "pretrain"):
        params = [p.name for p in group.commands[name].params]
        mine = [
            n for n in reading if name != "pretrain" or n not in ("label_column", "label_field")
        ]
        start = params.index("fmt")
        assert params[start : start + len(mine)] == mine, name  # in one block, --help order
        for p in group.commands[name].params:
            if p.name in reading:
                seen.setdefault(p.name, set()).add((tuple(p.opts), p.help, p.default))
    assert all(len(v) == 1 for v in seen.values()), seen  # the same option everywhere
    train = [p.name for p in group.commands["train"].params]
    assert train[train.index("fmt") - 1] == "token_pattern"
