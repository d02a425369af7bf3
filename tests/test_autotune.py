"""``train --autotune-*``: metrics against a literal port of fastText's ``Meter``, sizes, the search
(reproducible, budget, fixed options, the test set untouched), bad input, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.autotune import (
    AutotuneOptions,
    Metric,
    float_model_bytes,
    metric_score,
    parse_metric,
    parse_size,
    search,
)
from embedcli.cli import app
from embedcli.errors import UsageError

pytest.importorskip("optuna")
runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


# --------------------------------------------------------------------------- data


def _docs(rng: np.random.Generator, n: int, labels: list[str]) -> list[str]:
    """Documents of label-specific words plus shared noise (learnable, not trivial)."""
    lines = []
    for _ in range(n):
        k = int(rng.integers(len(labels)))
        own = [f"{labels[k]}w{int(rng.integers(30))}" for _ in range(int(rng.integers(2, 5)))]
        other = [f"{labels[int(rng.integers(len(labels)))]}w{int(rng.integers(30))}"]
        noise = [f"n{int(rng.integers(200))}" for _ in range(int(rng.integers(3, 8)))]
        words = own + other + noise
        rng.shuffle(words)
        lines.append(f"__label__{labels[k]} " + " ".join(words))
    return lines


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("autotune")
    rng = np.random.default_rng(5)
    labels = ["red", "green", "blue"]
    out = {}
    for name, n in (("train", 900), ("val", 200), ("test", 200)):
        path = d / f"{name}.txt"
        path.write_text("\n".join(_docs(rng, n, labels)) + "\n", encoding="utf-8")
        out[name] = path
    return out


def _autotune_record(model: Path) -> dict:
    return json.loads((model / "config.json").read_text())["autotune"]


# --------------------------------------------------------------------------- metrics


def _fasttext_meter(probs, gold_sets, metric: Metric, label: int) -> float:
    """fastText's Meter (src/meter.cc) with one prediction per document, line by line."""
    n, C = probs.shape
    pairs: dict[int, list[tuple[float, float]]] = {c: [] for c in range(C)}
    gold_l = [0] * C
    pred_l = [0] * C
    pg_l = [0] * C
    gold_all = pred_all = pg_all = 0
    for i in range(n):
        top = int(np.argmax(probs[i]))
        score = float(probs[i, top])
        labels = gold_sets[i]
        gold_all += len(labels)
        pred_all += 1
        pred_l[top] += 1
        g = 1.0 if top in labels else 0.0
        pg_l[top] += int(g)
        pg_all += int(g)
        pairs[top].append((score, g))
        for lab in labels:
            gold_l[lab] += 1
            if label >= 0 and lab != top:  # falseNegativeLabels_
                pairs[lab].append((-1.0, 1.0))

    def f1(pg: int, pred: int, gold: int) -> float:
        p = pg / pred if pred else float("nan")
        r = pg / gold if gold else float("nan")
        return 2 * p * r / (p + r) if (p + r) and not np.isnan(p + r) else 0.0

    if metric.kind == "f1":
        return (
            f1(pg_all, pred_all, gold_all)
            if label < 0
            else f1(pg_l[label], pred_l[label], gold_l[label])
        )
    v = sorted(p for c in range(C) for p in pairs[c]) if label < 0 else sorted(pairs[label])
    golds = gold_all if label < 0 else gold_l[label]
    counts: list[tuple[int, int]] = []
    tp = fp = 0
    last = -2.0
    for score, g in reversed(v):
        if score < 0:
            break
        tp, fp = (tp + 1, fp) if g == 1.0 else (tp, fp + 1)
        if score == last and counts:
            counts[-1] = (tp, fp)
        else:
            counts.append((tp, fp))
        last = score
    curve = []
    if counts:
        full = next((i for i, c in enumerate(counts) if c[0] >= golds), len(counts) - 1)
        for a, b in counts[: full + 1]:
            curve.append((a / (a + b) if a + b else 0.0, a / golds))
        curve.append((1.0, 0.0))
    if metric.kind == "precision-at-recall":
        return max([p for p, r in curve if r >= metric.value], default=0.0)
    return max([r for p, r in curve if p >= metric.value], default=0.0)


@pytest.mark.parametrize(
    "text",
    [
        "f1",
        "f1:1",
        "precision-at-recall:30",
        "precision-at-recall:80:0",
        "recall-at-precision:50",
        "recall-at-precision:90:2",
        "precisionAtRecall:40:1",
    ],
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_fasttexts_meter(text: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, C = 300, 3
    logits = rng.normal(size=(n, C)) * 2
    logits = np.round(logits, 1)  # ties in the scores
    probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    gold_sets = [
        sorted({int(rng.integers(C))} | ({int(rng.integers(C))} if rng.random() < 0.2 else set()))
        for _ in range(n)
    ]
    label_ids = np.array([g for s in gold_sets for g in s], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in gold_sets])]).astype(np.int64)
    metric = parse_metric(text)
    label = int(metric.label) if metric.label is not None else -1
    got = metric_score(metric, probs, label_ids, offsets, label)
    want = _fasttext_meter(probs, gold_sets, metric, label)
    assert got == pytest.approx(want, abs=1e-12), (text, got, want)


def test_f1_equals_accuracy_with_one_label_per_document() -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), size=200).astype(np.float32)
    label_ids = rng.integers(0, 4, 200).astype(np.int32)
    offsets = np.arange(201, dtype=np.int64)
    acc = float((probs.argmax(1) == label_ids).mean())
    assert metric_score(parse_metric("f1"), probs, label_ids, offsets) == pytest.approx(acc)
    assert metric_score(parse_metric("accuracy"), probs, label_ids, offsets) == pytest.approx(acc)


def test_metric_parsing() -> None:
    assert parse_metric("precision-at-recall:30:spam") == Metric("precision-at-recall", 0.3, "spam")
    assert parse_metric("recallAtPrecision:95") == Metric("recall-at-precision", 0.95, None)
    assert parse_metric("f1:__label__x") == Metric("f1", 0.0, "__label__x")
    assert str(parse_metric("precision-at-recall:30:spam")) == "precision-at-recall:30:spam"
    for bad in ("", "acc", "f1:", "precision-at-recall", "precision-at-recall:x",
                "recall-at-precision:101", "precision-at-recall:30:", "accuracy:x",
                "precision-at-recall:nan"):  # fmt: skip
        with pytest.raises(UsageError):
            parse_metric(bad)


def test_sizes() -> None:
    assert parse_size("2M") == 2_000_000 and parse_size("500k") == 500_000
    assert parse_size("1G") == 10**9 and parse_size("1234") == 1234
    for bad in ("", "M", "2X", "0", "-1k", "nan"):
        with pytest.raises(UsageError):
            parse_size(bad)
    from embedcli.model import init_params
    from embedcli.spec import ModelSpec

    for hidden in (0, 7):
        spec = ModelSpec(num_words=50, buckets=30, dim=6, num_classes=4, hidden=hidden)
        p = init_params(spec, 0)
        arrays = [p.embeddings, p.out_W, p.out_b, p.hidden_W, p.hidden_b]
        want = sum(a.nbytes for a in arrays if a is not None)
        assert float_model_bytes(spec.num_rows, spec.dim, spec.num_labels, hidden) == want


# --------------------------------------------------------------------------- the search


def _tune(corpus: dict[str, Path], out: Path, *extra: object):
    return run(
        "train", corpus["train"], "-o", out, "--seed", 3, "--threads", 1,
        "--autotune-validation", corpus["val"], "--quiet", *extra,
    )  # fmt: skip


def test_search_is_reproducible_with_seed_and_one_thread(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    args = ("--autotune-trials", 3, "--autotune-duration", 600, "--epochs", 3)
    outs = []
    for name in ("a", "b"):
        r = _tune(
            corpus, tmp_path / name, *args, "--autotune-trials-log", tmp_path / f"{name}.jsonl"
        )
        assert r.exit_code == 0, r.output
        outs.append(tmp_path / name)
    a, b = (_autotune_record(o) for o in outs)
    assert len(a["trials"]) == 3 and a["stopped"] == "trials"
    strip = [{k: v for k, v in t.items() if not k.endswith("seconds")} for t in a["trials"]]
    assert strip == [{k: v for k, v in t.items() if not k.endswith("seconds")} for t in b["trials"]]
    assert len({json.dumps(t["params"], sort_keys=True) for t in a["trials"]}) == 3
    assert (outs[0] / "embeddings.npy").read_bytes() == (outs[1] / "embeddings.npy").read_bytes()
    log = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [t["trial"] for t in log] == [0, 1, 2]
    # trial 0 is the run's own configuration; the best is kept as the model
    cfg = json.loads((outs[0] / "config.json").read_text())
    assert a["trials"][0]["params"]["dim"] == 100
    assert (
        cfg["metrics"]["val_f1"]
        == a["best_score"]
        == max(t["score"] for t in a["trials"] if t["state"] == "complete")
    )
    assert cfg["train"]["dim"] == a["best_params"]["dim"]


def test_explicit_options_stay_fixed(corpus: dict[str, Path], tmp_path: Path) -> None:
    r = _tune(
        corpus, tmp_path / "m", "--autotune-trials", 4, "--dim", 7, "--optimizer", "sgd",
        "--word-ngrams", 1, "--epochs", 2, "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rec = _autotune_record(tmp_path / "m")
    assert {"dim", "optimizer", "word_ngrams", "epochs"} <= set(rec["fixed"])
    for t in rec["trials"]:
        assert "dim" not in t["params"] and "optimizer" not in t["params"], t
        assert t["params"]["epochs"] == 2
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())["train"]
    assert (cfg["dim"], cfg["optimizer"], cfg["word_ngrams"], cfg["epochs"]) == (7, "sgd", 1, 2)
    assert {t["params"]["lr"] for t in rec["trials"]} != {0.5}  # lr is still searched


def test_tiny_budget_stops(corpus: dict[str, Path], tmp_path: Path) -> None:
    """A budget far shorter than the default trial: the search stops (with or without a model)."""
    big = tmp_path / "big.txt"
    big.write_text(corpus["train"].read_text() * 30, encoding="utf-8")
    t0 = time.perf_counter()
    r = run("train", big, "-o", tmp_path / "m", "--autotune-validation", corpus["val"],
            "--autotune-duration", 0.3, "--epochs", 100, "--seed", 1, "--json")  # fmt: skip
    assert time.perf_counter() - t0 < 120
    if r.exit_code == 0:
        rec = _autotune_record(tmp_path / "m")
        assert rec["stopped"] == "budget" and len(rec["trials"]) <= 3, rec
    else:
        assert r.exit_code == 1 and "finished no trial" in r.output, r.output
        assert not (tmp_path / "m").exists()


def test_val_split_never_reads_the_test_set(corpus: dict[str, Path]) -> None:
    from embedcli.cli.options import corpus_options
    from embedcli.pipeline import TrainPlan, prepare_training

    seen = []

    def prepare(plan):  # noqa: ANN001, ANN202
        seen.append(plan.test_path)
        prepared = prepare_training(plan)
        assert prepared.test is None
        seen.append(prepared.val.n_docs + prepared.train.n_docs)
        return prepared

    copts = corpus_options("auto", "__label__", None, None, False, "text", "label", False,
                           skip_blank=True, require_labels=True)  # fmt: skip
    plan = TrainPlan(
        train_paths=[str(corpus["train"])], corpus_options=copts,
        config={"seed": 4, "threads": 1, "epochs": 2}, val_split=0.2, test_path=str(corpus["test"]),
    )  # fmt: skip
    result = search(plan, AutotuneOptions(parse_metric("f1"), 600, trials=2), prepare=prepare)
    assert seen and all(s is None for s in seen[::2]), seen
    assert set(seen[1::2]) == {900}  # the validation docs come out of the training file
    assert len(result.trials) == 2
    # the best configuration was trained again on the 720 + 180 documents (--val-split refit)
    assert result.refit["done"] and result.refit["documents"] == 900, result.refit
    assert result.prepared.train.n_docs == 900 and result.prepared.val is None
    assert result.trial_model is not None and result.best is not result.trial_model


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("--autotune-duration", "0"), 2, "--autotune-duration"),
        (("--autotune-metric", "f2"), 2, "--autotune-metric"),
        (("--autotune-metric", "precision-at-recall:150"), 2, "percentage"),
        (("--autotune-metric", "f1:purple"), 2, "purple"),
        (("--autotune-model-size", "2X"), 2, "--autotune-model-size"),
        (("--autotune-trials", "-1"), 2, "--autotune-trials"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    corpus: dict[str, Path], tmp_path: Path, args: tuple[str, ...], code: int, needle: str
) -> None:
    out = tmp_path / "m"
    log = tmp_path / "t.jsonl"
    r = _tune(corpus, out, "--autotune-trials-log", log, *args)
    assert r.exit_code == code, r.output
    assert needle in r.output and "Traceback" not in r.output, r.output
    assert len([line for line in r.output.splitlines() if "Error" in line]) == 1, r.output
    assert not out.exists() and not log.exists()


def test_validation_labels_unknown_to_training(corpus: dict[str, Path], tmp_path: Path) -> None:
    val = tmp_path / "val.txt"
    val.write_text(corpus["val"].read_text() + "__label__purple redw1 n2\n", encoding="utf-8")
    r = run("train", corpus["train"], "-o", tmp_path / "m", "--autotune-validation", val,
            "--autotune-trials-log", tmp_path / "t.jsonl")  # fmt: skip
    assert r.exit_code == 1, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "purple" in errors[0], r.output
    assert not (tmp_path / "m").exists() and not (tmp_path / "t.jsonl").exists()


def test_ctrl_c_keeps_the_best_model(corpus: dict[str, Path], tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text(corpus["train"].read_text() * 5, encoding="utf-8")
    out = tmp_path / "m"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    p = subprocess.Popen(
        [sys.executable, "-m", "embedcli", "train", str(big), "-o", str(out), "--seed", "1",
         "--threads", "1", "--autotune-validation", str(corpus["val"]),
         "--autotune-duration", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    lines = []
    assert p.stderr is not None
    for line in p.stderr:
        lines.append(line)
        if line.startswith("trial   1"):
            break
    p.send_signal(signal.SIGINT)
    rest = p.communicate(timeout=120)[1]
    err = "".join(lines) + rest
    assert p.returncode == 0, err
    assert "interrupted: keeping the best of" in err, err
    rec = _autotune_record(out)
    assert rec["stopped"] == "interrupted" and len(rec["trials"]) >= 2, rec


def test_model_size_nothing_fits(corpus: dict[str, Path], tmp_path: Path) -> None:
    # 1 kB holds not even the k-means centroids of a quantized model (tests/test_autotune_size.py
    # has the candidates that are quantized to fit)
    r = _tune(corpus, tmp_path / "n", "--autotune-trials", 3, "--autotune-model-size", "1k")
    assert r.exit_code == 1 and "no candidate fits --autotune-model-size" in r.output, r.output
    assert not (tmp_path / "n").exists()


def test_without_optuna_one_line_says_how_to_install(
    corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    r = _tune(corpus, tmp_path / "m", "--autotune-trials", 2)
    assert r.exit_code == 2, r.output
    assert r.output.strip() == "Error: autotune needs optuna: pip install 'embedcli[autotune]'"
    assert not (tmp_path / "m").exists()
