"""Autotune against fastText's: test accuracy of the model each returns in the same time budget.

Not a timed test. For every shared dataset (``../shared/data/<name>/{train,test}.txt``) the
training file is split once per seed (``--seeds``, default 0) exactly as ``embedcli train
--val-split 0.1 --seed S`` splits it (``numpy.random.default_rng(S).permutation``, round(10 %) documents): 90 % ``fit.txt``,
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
orientation only; run it under the bench lock (``flock /work/wt/bench.lock``), not niced.

fastText's ``autotuneDuration`` bounds neither the end of the trial running when the budget ends
nor the final retraining (``Autotune::train``, fastText 0.9.2): its timer calls
``FastText::abort()`` once, and when that lands while a trial is still reading its dictionary or
initialising its input matrix (seconds for millions of buckets), ``FastText::startThreads``
clears the abort (``trainException_ = nullptr``) and that trial trains all its epochs (up to
100, dim up to 1000, buckets up to 10M); then the best arguments are trained again. Seen here:
``autotuneDuration=1`` on 20newsgroups returned a model after 42 s (trial 1 ran its 22 s, then
the retraining). So fastText runs in a process whose stdout (its verbose-3 trace: each trial's
arguments, score and seconds) the harness reads line by line with arrival times; it is killed
``--fasttext-grace`` seconds after the budget, and the row then says which phase it was in (the
trial that outlived the budget, or the final retraining, with their arguments). Its address
space is limited to ``FASTTEXT_MEMORY``: a trial that cannot allocate is skipped by fastText
itself (``catch (std::bad_alloc&)``, counted as ``nan`` in the trace), where an unlimited one
would take most of the shared machine's memory.

    flock /work/wt/bench.lock /work/main/.venv/bin/python benchmarks/bench_autotune.py \\
        --budget 60 --json benchmarks/results/autotune_60.json --markdown /tmp/autotune_60.md
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
#: fastText's autotune is killed this many seconds after its budget: its duration bounds neither
#: the trial running when the budget ends (see the module doc) nor the final retraining
FASTTEXT_GRACE = 600
#: address space of the fastText process (bytes): its search draws dim up to 1000 and buckets up
#: to 10M (up to 40 GB of floats); a trial that cannot allocate is skipped by fastText itself
#: (``catch (std::bad_alloc&)`` in ``Autotune::train``), as on a machine with this much memory
FASTTEXT_MEMORY = 8 << 30

FASTTEXT = """
import json, sys, time, fasttext
fit, val, test, budget = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seed = int(sys.argv[5])
t = time.perf_counter()
if budget:  # verbose 3: every trial's arguments and score on stdout (the harness's trace)
    m = fasttext.train_supervised(input=fit, autotuneValidationFile=val,
                                  autotuneDuration=budget, thread=2, verbose=3, seed=seed)
else:
    m = fasttext.train_supervised(input=fit, thread=2, verbose=0, seed=seed)
seconds = time.perf_counter() - t
n, p, r = m.test(test)
a = m.f.getArgs()
print(json.dumps({"accuracy": p, "seconds": seconds, "params": {
    "lr": a.lr, "dim": a.dim, "epoch": a.epoch, "wordNgrams": a.wordNgrams,
    "bucket": a.bucket, "minn": a.minn, "maxn": a.maxn}}), flush=True)
"""
#: the arguments fastText's autotune logs per trial (``Autotune::printArgs``), shown in reasons
TRACE_ARGS = ("epoch", "lr", "dim", "wordNgrams", "minn", "bucket")


def split(train: Path, where: Path, seed: int = 0) -> tuple[Path, Path]:
    import numpy as np

    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    perm = np.random.default_rng(seed).permutation(len(lines))
    n_val = max(1, int(round(0.1 * len(lines))))  # pipeline.prepare_training's --val-split
    val = where / "val.txt"
    fit = where / "fit.txt"
    val.write_text("".join(lines[i] for i in sorted(perm[:n_val])), encoding="utf-8")
    fit.write_text("".join(lines[i] for i in sorted(perm[n_val:])), encoding="utf-8")
    return fit, val


def parse_trace(lines: list[tuple[float, str]]) -> dict:
    """fastText's verbose-3 autotune log (``Trial = N``, ``name = value`` lines, ``currentScore``,
    ``train took``, ``Best selected args``), each line with its arrival second: the trials, when
    the search ended and the final retraining began, and the best arguments."""
    trials: list[dict] = []
    final: dict | None = None
    current: dict | None = None
    for t, line in lines:
        key, sep, value = line.partition(" = ")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "Trial":
            current = {"trial": int(value), "started": round(t, 1), "args": {}}
            trials.append(current)
        elif key == "Best selected args":
            final = {"started": round(t, 1), "args": {}}
            current = final
        elif key == "currentScore" and current is not None:
            current["score"] = None if value == "NaN" else float(value)
        elif key == "train took" and current is not None:
            current["seconds"] = round(float(value), 2)
        elif current is not None and key in TRACE_ARGS:
            current["args"][key] = float(value) if key == "lr" else int(value)
    scores = [t["score"] for t in trials if t.get("score") is not None]
    return {
        "trials": trials,
        "finished": len(scores),
        "nan": sum(1 for t in trials if "score" in t and t["score"] is None),
        "best_val": max(scores) if scores else None,
        "final": final,
    }


def _args(args: dict) -> str:
    return " ".join(f"{k}={v:.3g}" if k == "lr" else f"{k}={v}" for k, v in args.items())


def _last_error(stderr: str) -> str:
    """The last line of stderr that is not fastText's ``\\r``-refreshed progress."""
    parts = [p.strip() for p in stderr.replace("\r", "\n").splitlines()]
    parts = [p for p in parts if p and not p.startswith("Progress:")]
    return parts[-1][-300:] if parts else "(no message)"


def run_fasttext(
    fit: Path, val: Path, test: Path, budget: int, grace: int = FASTTEXT_GRACE, seed: int = 0
) -> dict:
    """fastText in a fresh process (2 threads, ``FASTTEXT_MEMORY`` of address space), its stdout
    read line by line with arrival times; killed ``grace`` seconds after the budget. A row with
    ``accuracy``, or with ``error``: a precise reason (fastText's message, or the phase it was
    in when killed, from its trace)."""
    import resource
    import shutil
    import threading

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (FASTTEXT_MEMORY, FASTTEXT_MEMORY))

    # stdout line-buffered (C++ iostreams write through C stdio): the trace survives a kill
    pre = ["stdbuf", "-oL"] if shutil.which("stdbuf") else []
    cmd = [*pre, sys.executable, "-c", FASTTEXT, str(fit), str(val), str(test), str(budget)]
    cmd.append(str(seed))
    timeout = budget + grace if budget else grace
    lines: list[tuple[float, str]] = []
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                preexec_fn=limit, start_new_session=True)  # fmt: skip

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append((time.perf_counter() - t0, line.rstrip("\n")))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        killed = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            killed = True
            os.killpg(proc.pid, 9)
            proc.wait()
        wall = time.perf_counter() - t0
        reader.join(5)
        err.seek(0)
        stderr = err.read()
    trace = parse_trace(lines) if budget else None
    row: dict = {"seconds": round(wall, 1)}
    if budget:
        row["memory_limit_bytes"] = FASTTEXT_MEMORY
        row["trace"] = trace
    if killed:
        row["error"] = _killed_reason(trace, budget, wall)
        return row
    if proc.returncode != 0:
        msg = _last_error(stderr)
        row["error"] = f"fastText failed (exit {proc.returncode}): {msg}"
        if trace is not None:
            row["error"] += (
                f" ({len(trace['trials'])} trials started, {trace['finished']} finished)"
            )
        return row
    out = [line for _, line in lines if line.startswith("{")]
    if not out:
        row["error"] = f"no result line; stderr: {_last_error(stderr)}"
        return row
    row.update(json.loads(out[-1]))
    row["seconds"] = round(row["seconds"], 1)
    if trace is not None and trace["final"] is not None:
        row["search_seconds"] = trace["final"]["started"]
        row["retrain_seconds"] = round(row["seconds"] - trace["final"]["started"], 1)
        row["trials"] = len(trace["trials"])
        row["val_score"] = trace["best_val"]
    return row


def _killed_reason(trace: dict | None, budget: int, wall: float) -> str:
    """Why a killed fastText run has no model, from its trace."""
    head = f"no model after {wall:.0f} s (killed; budget {budget} s)"
    if trace is None:
        return head
    done = f"{len(trace['trials'])} trials started, {trace['finished']} scored"
    if trace["final"] is not None:
        f = trace["final"]
        return (
            f"{head}: still in its final retraining of the best arguments "
            f"({_args(f['args'])}), started at {f['started']:.0f} s, after the search; {done}"
        )
    if trace["trials"]:
        last = trace["trials"][-1]
        if "score" not in last:
            return (
                f"{head}: trial {last['trial']} ({_args(last['args'])}), started at "
                f"{last['started']:.0f} s, was still training: the end-of-budget abort did not "
                f"stop it; {done}"
            )
    return f"{head}: {done}"


def embedcli_run(train: Path, test: Path, budget: int, out: Path, seed: int = 0) -> dict:
    args = [sys.executable, "-m", "embedcli", "train", str(train), "-o", str(out), "--test",
            str(test), "--threads", "2", "--seed", str(seed), "--json", "--force"]  # fmt: skip
    if budget:
        args += ["--val-split", "0.1", "--autotune-duration", str(budget)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    if r.returncode != 0:
        return {"error": f"embedcli failed (exit {r.returncode}): {_last_error(r.stderr)}",
                "seconds": round(seconds, 1)}  # fmt: skip
    s = json.loads(r.stdout)
    row = {"accuracy": s["test_accuracy"], "seconds": round(seconds, 1)}
    if budget:
        a = s["autotune"]
        best = next((t for t in a["trials"] if t["trial"] == a["best_trial"]), {})
        row.update(
            params=a["best_params"],
            trials=len(a["trials"]),
            val_score=a["best_score"],
            search_seconds=a["seconds"],
            compile_seconds=a.get("compile_seconds"),
            stopped=a.get("stopped"),
            refit=a.get("refit"),
            best_trial=a["best_trial"],
            best_trial_cut=best.get("cut"),
            accuracy_before_refit=s.get("test_accuracy_before_refit"),
            states=_states(a["trials"]),
        )
    return row


def _states(trials: list) -> dict:
    out: dict = {}
    for t in trials:
        out[t["state"]] = out.get(t["state"], 0) + 1
    return out


def _acc(x: dict) -> str:
    if not x:
        return "-"  # not run
    return f"{x['accuracy']:.4f}" if "accuracy" in x else "no result: " + x.get("error", "?")


def markdown(results: dict, budget: int) -> str:
    head = (
        f"| dataset | fastText autotune {budget} s | embedcli autotune {budget} s | "
        "embedcli - fastText | embedcli best trial before refit | fastText defaults | "
        "embedcli defaults (fit) | embedcli defaults (all of train) | trials (ft / ec) | "
        "wall s (ft / ec) |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for name, r in results.items():
        ft, ec = r["fasttext_autotune"], r["embedcli_autotune"]
        fd, ed = r.get("fasttext_default", {}), r.get("embedcli_default", {})
        ea = r.get("embedcli_default_all", {})
        diff = (
            f"{100 * (ec['accuracy'] - ft['accuracy']):+.1f} pt"
            if "accuracy" in ft and "accuracy" in ec
            else "-"
        )
        miss = []
        if "accuracy" not in ec:
            miss.append("no result")
        if "accuracy" in ft and "accuracy" in ec and ec["accuracy"] < ft["accuracy"]:
            miss.append("below fastText")
        for base, what in ((ed, "defaults (fit)"), (ea, "defaults (all)")):
            if "accuracy" in base and "accuracy" in ec and ec["accuracy"] < base["accuracy"]:
                miss.append(f"below {what}")
        b = ec.get("accuracy_before_refit")
        before = f"{b:.4f}" if b is not None else "-"
        states = ec.get("states") or {}
        trials = str(ec.get("trials", "-")) + (
            " (" + ", ".join(f"{n} {k}" for k, n in sorted(states.items())) + ")" if states else ""
        )
        ft_trials = ft.get("trace") or {}
        ft_n = f"{len(ft_trials['trials'])} ({ft_trials['finished']} scored)" if ft_trials else "-"
        ec_cell = _acc(ec) if "accuracy" in ec else f"{_acc(ec)}"
        if miss and "accuracy" in ec:
            ec_cell += " (**miss**: " + ", ".join(miss) + ")"
        elif miss:
            ec_cell = "**miss**: " + ec_cell
        rows.append(
            f"| {name} | {_acc(ft)} | {ec_cell} | {diff} | {before} | {_acc(fd)} | {_acc(ed)} | "
            f"{_acc(ea)} | {ft_n} / {trials} | "
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
        "--fasttext-grace",
        type=int,
        default=FASTTEXT_GRACE,
        help="kill fastText's autotune this many seconds after its budget (default %(default)s)",
    )
    ap.add_argument("--no-defaults", action="store_true", help="only the two autotune runs")
    ap.add_argument(
        "--seeds",
        type=int,
        nargs="*",
        default=[0],
        help="one run of each tool per seed: fastText's seed=, embedcli's --seed, and the "
        "fit/val split drawn with it (as embedcli's --val-split does)",
    )
    opts = ap.parse_args()
    results: dict = {}
    out_json = Path(opts.json) if opts.json else None
    if out_json is not None and out_json.exists():  # several invocations add to one file
        results = json.loads(out_json.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        for name, seed in ((n, s) for n in opts.datasets for s in opts.seeds):
            d = DATA / name
            where = Path(tmp) / f"{name}.{seed}"
            where.mkdir()
            fit, val = split(d / "train.txt", where, seed)
            test = d / "test.txt"
            r: dict = {"budget": opts.budget, "seed": seed, "uptime_before": _uptime()}
            r["fasttext_autotune"] = run_fasttext(
                fit, val, test, opts.budget, opts.fasttext_grace, seed
            )
            r["embedcli_autotune"] = embedcli_run(
                d / "train.txt", test, opts.budget, where / "at", seed
            )
            if not opts.no_defaults:
                r["fasttext_default"] = run_fasttext(fit, val, test, 0, seed=seed)
                r["embedcli_default"] = embedcli_run(fit, test, 0, where / "def", seed)
                r["embedcli_default_all"] = embedcli_run(
                    d / "train.txt", test, 0, where / "all", seed
                )
            r["uptime_after"] = _uptime()
            key = name if opts.budget == 60 else f"{name}@{opts.budget}"
            key += f" seed {seed}" if seed else ""
            results[key] = r
            print(name, json.dumps(r), flush=True)
            if out_json is not None:
                out_json.write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(
        {k: v for k, v in results.items() if v.get("budget", 60) == opts.budget}, opts.budget
    )
    print(table)
    if opts.markdown:
        Path(opts.markdown).write_text(table)


if __name__ == "__main__":
    main()
