"""Diagnostic for the trec6 autotune miss (not a timed test): would choosing among the top trials
by a mean over more training seeds pick configurations with a better test mean?

Runs ``embedcli.train(..., autotune_duration=BUDGET, val_split=0.1, seed=SEED)`` on DATASET, then
trains each of the TOP best complete trials again on the same fit split (``bench_autotune.split``)
with the search's seed and four others, and prints each one's validation and test accuracy.
Results of 2026-12-01: ``benchmarks/results/autotune_trec6_selection.md``.

    python benchmarks/autotune_selection.py trec6 0 60 8
"""

import json
import statistics as st
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_autotune import split  # noqa: E402

import embedcli  # noqa: E402

ds, seed, budget = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
TOP, SEEDS = int(sys.argv[4]) if len(sys.argv) > 4 else 8, [101, 102, 103, 104]
data = Path(__file__).resolve().parents[2] / "shared" / "data" / ds
work = Path(tempfile.mkdtemp(prefix="intens-"))
fit, val = split(data / "train.txt", work, seed)
out = work / "at"
m = embedcli.train(
    str(data / "train.txt"),
    output=str(out),
    val_split=0.1,
    seed=seed,
    threads=2,
    autotune_duration=budget,
    test=str(data / "test.txt"),
)
cfg = json.loads((out / "config.json").read_text())
rec = cfg.get("autotune") or cfg.get("train", {}).get("autotune")
trials = [t for t in rec["trials"] if t["state"] == "complete"]
trials.sort(key=lambda t: -t["score"])
print("returned test", m.evaluate(str(data / "test.txt"))["accuracy"], flush=True)
rows = []
for t in trials[:TOP]:
    p = dict(t["params"])
    kw = dict(
        optimizer=p["optimizer"],
        dim=p["dim"],
        epochs=p["epochs"],
        word_ngrams=p["word_ngrams"],
        buckets=p["buckets"],
        dropout=p["dropout"],
        min_count=p.get("min_count", 1),
        minn=p.get("minn", 0),
        maxn=p.get("maxn", 0),
    )
    if "lr" in p:
        kw["lr"] = p["lr"]
    vs, ts = [], []
    for s in [seed] + SEEDS:
        mm = embedcli.train(str(fit), seed=s, threads=2, **kw)
        vs.append(mm.evaluate(str(val))["accuracy"])
        ts.append(mm.evaluate(str(data / "test.txt"))["accuracy"])
    row = dict(trial=t["trial"], score=t["score"], val=vs, test=ts, params=p)
    rows.append(row)
    print(
        json.dumps({k: row[k] for k in ("trial", "score")}),
        "val",
        [round(v, 3) for v in vs],
        "test",
        [round(v, 3) for v in ts],
        f"mean test {st.mean(ts):.4f}",
        flush=True,
    )
json.dump(rows, open(work / f"selection_{ds}_{seed}.json", "w"), indent=1)
