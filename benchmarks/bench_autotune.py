"""Autotune against fastText's: test accuracy of the model each returns in the same time budget.

Not a timed test. For every shared dataset (``../shared/data/<name>/{train,test}.txt``) the
training file is split once (seed 0): 90 % ``fit.txt`` to train on, 10 % ``val.txt`` to tune on,
the same two files for both tools. Then, each a fresh process, 2 threads:

- fastText autotune: ``fasttext.train_supervised(input=fit.txt, autotuneValidationFile=val.txt,
  autotuneDuration=BUDGET, thread=2)`` (fasttext-wheel 0.9.2; it retrains the best arguments
  after the budget, so its wall time is longer);
- embedcli autotune: ``embedcli train fit.txt --autotune-validation val.txt
  --autotune-duration BUDGET --threads 2 --seed 0`` (keeps the best trial's model);
- the defaults of both, trained on ``fit.txt``.

Score: accuracy (P@1) on ``test.txt``, which neither search reads. Wall seconds are printed for
orientation only (the machine is shared).

    nice -n 10 /work/main/.venv/bin/python benchmarks/bench_autotune.py --budget 60 \\
        --markdown benchmarks/results/autotune.md --json benchmarks/results/autotune.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
DATASETS = ["sms_spam", "trec6", "sst2", "imdb", "20newsgroups"]

FASTTEXT = """
import json, sys, time, fasttext
fit, val, test, budget = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
t = time.perf_counter()
if budget:
    m = fasttext.train_supervised(input=fit, autotuneValidationFile=val,
                                  autotuneDuration=budget, thread=2, verbose=0)
else:
    m = fasttext.train_supervised(input=fit, thread=2, verbose=0)
seconds = time.perf_counter() - t
n, p, r = m.test(test)
a = m.f.getArgs()
print(json.dumps({"accuracy": p, "seconds": seconds, "params": {
    "lr": a.lr, "dim": a.dim, "epoch": a.epoch, "wordNgrams": a.wordNgrams,
    "bucket": a.bucket, "minn": a.minn, "maxn": a.maxn}}))
"""


def split(train: Path, where: Path) -> tuple[Path, Path]:
    import numpy as np

    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    perm = np.random.default_rng(0).permutation(len(lines))
    n_val = len(lines) // 10
    val = where / "val.txt"
    fit = where / "fit.txt"
    val.write_text("".join(lines[i] for i in sorted(perm[:n_val])), encoding="utf-8")
    fit.write_text("".join(lines[i] for i in sorted(perm[n_val:])), encoding="utf-8")
    return fit, val


def fasttext_run(fit: Path, val: Path, test: Path, budget: int) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", FASTTEXT, str(fit), str(val), str(test), str(budget)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        return {"error": r.stderr.strip()[-300:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def embedcli_run(fit: Path, val: Path, test: Path, budget: int, out: Path) -> dict:
    args = [sys.executable, "-m", "embedcli", "train", str(fit), "-o", str(out), "--test",
            str(test), "--threads", "2", "--seed", "0", "--json", "--force"]  # fmt: skip
    if budget:
        args += ["--autotune-validation", str(val), "--autotune-duration", str(budget)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    if r.returncode != 0:
        return {"error": r.stderr.strip()[-300:]}
    s = json.loads(r.stdout)
    row = {"accuracy": s["test_accuracy"], "seconds": seconds}
    if budget:
        a = s["autotune"]
        row.update(
            params=a["best_params"],
            trials=len(a["trials"]),
            val_score=a["best_score"],
            search_seconds=a["seconds"],
        )
    return row


def markdown(results: dict, budget: int) -> str:
    head = (
        f"| dataset | fastText autotune {budget} s | embedcli autotune {budget} s | "
        "embedcli - fastText | fastText defaults | embedcli defaults | embedcli trials | "
        "wall s (ft / ec) |\n|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for name, r in results.items():
        ft, ec = r["fasttext_autotune"], r["embedcli_autotune"]
        fd, ed = r["fasttext_default"], r["embedcli_default"]

        def acc(x: dict) -> str:
            return f"{x['accuracy']:.4f}" if "accuracy" in x else "error"

        diff = (
            f"{100 * (ec['accuracy'] - ft['accuracy']):+.1f} pt"
            if "accuracy" in ft and "accuracy" in ec
            else "-"
        )
        miss = []
        if "accuracy" in ft and "accuracy" in ec and ec["accuracy"] < ft["accuracy"]:
            miss.append("below fastText")
        if "accuracy" in ed and "accuracy" in ec and ec["accuracy"] < ed["accuracy"]:
            miss.append("below defaults")
        rows.append(
            f"| {name} | {acc(ft)} | {acc(ec)}{' (**miss**: ' + ', '.join(miss) + ')' if miss else ''}"
            f" | {diff} | {acc(fd)} | {acc(ed)} | {ec.get('trials', '-')} | "
            f"{ft.get('seconds', 0):.0f} / {ec.get('seconds', 0):.0f} |"
        )
    return head + "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=60)
    ap.add_argument("--datasets", nargs="*", default=DATASETS)
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    opts = ap.parse_args()
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in opts.datasets:
            d = DATA / name
            where = Path(tmp) / name
            where.mkdir()
            fit, val = split(d / "train.txt", where)
            test = d / "test.txt"
            r = {
                "fasttext_autotune": fasttext_run(fit, val, test, opts.budget),
                "embedcli_autotune": embedcli_run(fit, val, test, opts.budget, where / "at"),
                "fasttext_default": fasttext_run(fit, val, test, 0),
                "embedcli_default": embedcli_run(fit, val, test, 0, where / "def"),
            }
            results[name] = r
            print(name, json.dumps(r), flush=True)
            if opts.json:
                Path(opts.json).write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(results, opts.budget)
    print(table)
    if opts.markdown:
        Path(opts.markdown).write_text(table)


if __name__ == "__main__":
    main()
