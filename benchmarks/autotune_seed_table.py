"""The autotune table over seeds from ``bench_autotune.py --json`` files (not a timed test): per
dataset, each tool's test accuracy per seed and the mean, and the targets judged on the means.

    python benchmarks/autotune_seed_table.py benchmarks/results/autotune_60_idle_all.json \\
        benchmarks/results/autotune_60_idle_seeds.json
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict

COLUMNS = [
    ("fastText autotune", "fasttext_autotune"),
    ("embedcli autotune", "embedcli_autotune"),
    ("embedcli defaults (fit)", "embedcli_default"),
    ("embedcli defaults (all of train)", "embedcli_default_all"),
]


def main(paths: list[str]) -> None:
    runs: dict[str, dict[int, dict]] = defaultdict(dict)
    for path in paths:
        for key, row in json.loads(open(path).read()).items():
            runs[key.split(" seed ")[0]][int(row.get("seed", 0))] = row
    budget = {row["budget"] for per in runs.values() for row in per.values()}
    print(f"Budget {', '.join(map(str, sorted(budget)))} s; test accuracy per seed (mean).\n")
    head = ["dataset", "seeds"] + [c for c, _ in COLUMNS] + ["verdict on the means"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, per in runs.items():
        seeds = sorted(per)
        means = {}
        cells = []
        for _, key in COLUMNS:
            accs = [per[s].get(key, {}).get("accuracy") for s in seeds]
            accs = [a for a in accs if a is not None]
            means[key] = statistics.mean(accs) if accs else None
            text = " / ".join(f"{a:.4f}" for a in accs)
            cells.append(f"{text} (**{means[key]:.4f}**)" if len(accs) > 1 else text)
        ec = means["embedcli_autotune"]
        verdict = []
        for label, key in (("fastText", "fasttext_autotune"), ("defaults (fit)", "embedcli_default"),
                           ("defaults (all)", "embedcli_default_all")):  # fmt: skip
            if means[key] is not None:
                diff = 100 * (ec - means[key])
                verdict.append(f"{'>=' if diff >= 0 else '<'} {label} ({diff:+.2f} pt)")
        row = [name, ", ".join(map(str, seeds)), *cells, "; ".join(verdict)]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
