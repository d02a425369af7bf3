"""Autotune against fastText's: test accuracy of the model each returns in the same time budget.

Not a timed test. For every shared dataset (``../shared/data/<name>/{train,test}.txt``) the
training file is split once (seed 0) exactly as ``embedcli train --val-split 0.1 --seed 0``
splits it (``numpy.random.default_rng(0).permutation``, round(10 %) documents): 90 % ``fit.txt``,
10 % ``val.txt``. Both tools tune on the same validation documents. Then, each a fresh process,
2 threads:

- fastText autotune: ``fasttext.train_supervised(input=fit.txt, autotuneValidationFile=val.txt,
  autotuneDuration=BUDGET, thread=2)`` (fasttext-wheel 0.9.2; it retrains the best arguments on
  fit.txt after the budget, outside it, so its wall time is longer);
- embedcli autotune: ``embedcli train train.txt --val-split 0.1 --autotune-duration BUDGET
  --threads 2 --seed 0`` (the same fit/val documents; within the budget it trains the best
  configuration again on fit + val, which fastText does not: ``test_accuracy_before_refit`` is
  the best trial's own model);
- the defaults of both, trained on ``fit.txt``, and embedcli's defaults on all of ``train.txt``
  (what the refit's extra 10 % of data alone gives).

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
#: fastText's autotune retrains its best arguments after the budget (100 epochs over millions of
#: buckets can take many minutes): it is stopped after this many seconds
FASTTEXT_TIMEOUT = 1200

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
    n_val = max(1, int(round(0.1 * len(lines))))  # pipeline.prepare_training's --val-split
    val = where / "val.txt"
    fit = where / "fit.txt"
    val.write_text("".join(lines[i] for i in sorted(perm[:n_val])), encoding="utf-8")
    fit.write_text("".join(lines[i] for i in sorted(perm[n_val:])), encoding="utf-8")
    return fit, val


def fasttext_run(fit: Path, val: Path, test: Path, budget: int) -> dict:
    try:
        r = subprocess.run(
            [sys.executable, "-c", FASTTEXT, str(fit), str(val), str(test), str(budget)],
            capture_output=True,
            text=True,
            timeout=FASTTEXT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"not returned after {FASTTEXT_TIMEOUT} s (stopped)"}
    if r.returncode != 0:
        return {"error": r.stderr.strip()[-300:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def embedcli_run(train: Path, test: Path, budget: int, out: Path) -> dict:
    args = [sys.executable, "-m", "embedcli", "train", str(train), "-o", str(out), "--test",
            str(test), "--threads", "2", "--seed", "0", "--json", "--force"]  # fmt: skip
    if budget:
        args += ["--val-split", "0.1", "--autotune-duration", str(budget)]
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
            refit=a.get("refit"),
            accuracy_before_refit=s.get("test_accuracy_before_refit"),
            states=_states(a["trials"]),
        )
    return row


def _states(trials: list) -> dict:
    out: dict = {}
    for t in trials:
        out[t["state"]] = out.get(t["state"], 0) + 1
    return out


def markdown(results: dict, budget: int) -> str:
    head = (
        f"| dataset | fastText autotune {budget} s | embedcli autotune {budget} s | "
        "embedcli - fastText | embedcli best trial before refit | fastText defaults | "
        "embedcli defaults (fit) | embedcli defaults (all of train) | embedcli trials | "
        "wall s (ft / ec) |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for name, r in results.items():
        ft, ec = r["fasttext_autotune"], r["embedcli_autotune"]
        fd, ed = r["fasttext_default"], r["embedcli_default"]
        ea = r.get("embedcli_default_all", {})

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
        b = ec.get("accuracy_before_refit")
        before = f"{b:.4f}" if b is not None else "-"
        states = ec.get("states") or {}
        trials = str(ec.get("trials", "-")) + (
            " (" + ", ".join(f"{n} {k}" for k, n in sorted(states.items())) + ")" if states else ""
        )
        rows.append(
            f"| {name} | {acc(ft)} | {acc(ec)}{' (**miss**: ' + ', '.join(miss) + ')' if miss else ''}"
            f" | {diff} | {before} | {acc(fd)} | {acc(ed)} | {acc(ea)} | {trials} | "
            f"{ft.get('seconds', 0):.0f} / {ec.get('seconds', 0):.0f} |"
        )
    return head + "\n".join(rows) + "\n"


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=60)
    ap.add_argument("--datasets", nargs="*", default=DATASETS)
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    ap.add_argument(
        "--load", action="store_true", help="record `uptime` before and after each dataset"
    )
    opts = ap.parse_args()
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in opts.datasets:
            d = DATA / name
            where = Path(tmp) / name
            where.mkdir()
            fit, val = split(d / "train.txt", where)
            before_load = _uptime() if opts.load else None
            test = d / "test.txt"
            r = {
                "fasttext_autotune": fasttext_run(fit, val, test, opts.budget),
                "embedcli_autotune": embedcli_run(d / "train.txt", test, opts.budget, where / "at"),
                "fasttext_default": fasttext_run(fit, val, test, 0),
                "embedcli_default": embedcli_run(fit, test, 0, where / "def"),
                "embedcli_default_all": embedcli_run(d / "train.txt", test, 0, where / "all"),
            }
            if opts.load:
                r["uptime_after"] = _uptime()
                r["uptime_before"] = before_load
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
