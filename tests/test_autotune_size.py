"""``train --autotune-model-size``: candidates too large as float models are quantized to fit
(fastText's autotune with a model size), the best model is written quantized (format v2), fits
on disk and predicts; the cutoff planning against ``quantize.estimate_quantized_bytes``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.autotune_size import CUTOFF_LIMIT, plan_quantization, quantized_bytes
from embedcli.cli import app
from embedcli.spec import ModelSpec

pytest.importorskip("optuna")
runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("autotune_size")
    rng = np.random.default_rng(11)
    labels = ["red", "green", "blue"]
    out = {}
    for name, n in (("train", 900), ("val", 200), ("test", 200)):
        lines = []
        for _ in range(n):
            k = int(rng.integers(3))
            own = [f"{labels[k]}w{int(rng.integers(40))}" for _ in range(int(rng.integers(2, 5)))]
            noise = [f"n{int(rng.integers(400))}" for _ in range(int(rng.integers(3, 8)))]
            words = own + noise
            rng.shuffle(words)
            lines.append(f"__label__{labels[k]} " + " ".join(words))
        path = d / f"{name}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out[name] = path
    return out


def test_plan_quantization_takes_the_largest_cutoff_that_fits() -> None:
    spec = ModelSpec(num_words=5000, buckets=200_000, dim=100, num_classes=4, word_ngrams=2)
    assert spec.num_rows == 205_000
    size = 600_000
    for dsub in (2, 4, 8, 16):
        plan = plan_quantization(spec, size, dsub)
        assert plan is not None and plan.dsub == dsub and CUTOFF_LIMIT < plan.cutoff < 205_000
        assert quantized_bytes(spec, dsub, plan.cutoff, False) <= size
        assert quantized_bytes(spec, dsub, plan.cutoff + 1, False) > 0.97 * size
    # a larger dsub stores fewer bytes per row: more rows fit
    assert plan_quantization(spec, size, 8).cutoff > plan_quantization(spec, size, 2).cutoff
    # the whole table fits: nothing is cut
    assert plan_quantization(spec, 50_000_000, 2).cutoff == 0
    # not even the centroids fit (fastText: a cutoff of 256 rows fails the size)
    assert plan_quantization(spec, 50_000, 2) is None


def test_too_large_candidates_are_quantized_to_fit(corpus: dict[str, Path], tmp_path: Path) -> None:
    size = 150_000  # the float model of every candidate is ~26 MB (65k bucket rows x 100)
    out = tmp_path / "m"
    r = run(
        "train", corpus["train"], "-o", out, "--seed", 3, "--threads", 1,
        "--autotune-validation", corpus["val"], "--autotune-trials", 3,
        "--autotune-model-size", "150k", "--test", corpus["test"], "--json", "--quiet",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    config = json.loads((out / "config.json").read_text())
    assert config["version"] == 2 and "quantized" in config  # format v2
    assert not (out / "embeddings.npy").exists() and (out / "quantized.npz").exists()
    on_disk = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    assert on_disk <= size, on_disk
    assert summary["quantized"]["bytes"] == on_disk
    rec = config["autotune"]
    done = [t for t in rec["trials"] if t["state"] == "complete"]
    assert done and all(t["quantized"]["cutoff"] > CUTOFF_LIMIT for t in done), done
    assert all(t["model_bytes"] <= size and "float_score" in t for t in done), done
    best = next(t for t in done if t["trial"] == rec["best_trial"])
    assert config["quantized"]["dsub"] == best["quantized"]["dsub"]
    assert config["quantized"]["cutoff"] == best["quantized"]["cutoff"]
    assert summary["test_accuracy"] > 0.6, summary  # 3 labels: it learned
    # the written model predicts, and evaluates to the accuracy reported
    r = run("predict", out, corpus["test"])
    assert r.exit_code == 0 and r.stdout.count("__label__") == 200, r.output
    r = run("evaluate", out, corpus["test"], "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["accuracy"] == pytest.approx(summary["test_accuracy"])


def test_a_model_that_fits_as_floats_stays_float(corpus: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "f"
    r = run(
        "train", corpus["train"], "-o", out, "--seed", 3, "--threads", 1,
        "--autotune-validation", corpus["val"], "--autotune-trials", 2, "--dim", 8,
        "--buckets", 10000, "--autotune-model-size", "1M", "--quiet",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    config = json.loads((out / "config.json").read_text())
    assert config["version"] == 1 and (out / "embeddings.npy").exists()
    assert all("quantized" not in t for t in config["autotune"]["trials"])
