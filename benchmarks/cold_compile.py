"""What a truly cold `embedcli train` compiles, and how long it takes (issue #8, "The first run").

For each configuration, `python -m embedcli train sample_data/stdlib/train.txt -o TMP --dim 32
--epochs 1 --seed 1 --threads 1 -q [options]` runs in a subprocess with a fresh, empty
NUMBA_CACHE_DIR (cold), then again on the cache it left (warm). Reported per configuration (the
median of ``--repeats`` cold/warm pairs; the machine is shared):

- cold and warm wall seconds of the whole command (start-up included), and the cold run's CPU
  seconds (user + system: less sensitive than wall time to other load on a shared machine);
- compile seconds: the summed duration of numba's top-level ``numba:compile`` events in the
  child (nested compiles of callees are inside their caller's event, so not counted twice);
- the kernel functions and specialisations compiled: every specialisation numba caches is one
  ``*.nbc`` file next to its function's ``*.nbi`` index in the cache directory, so the cold run's
  cache directory lists exactly what it compiled (``name×2`` = two specialisations).

Usage: python benchmarks/cold_compile.py [--repeats 3] [--only default,max] [--json OUT]
(``PYTHONPATH`` should point at the checkout to measure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "sample_data" / "stdlib" / "train.txt"
BASE = ["--dim", "32", "--epochs", "1", "--seed", "1", "--threads", "1", "-q"]

#: name -> extra options (binary trains on a two-label copy of the corpus)
CONFIGS: dict[str, list[str]] = {
    "default (softmax, mean)": [],
    "binary, mean": ["--objective", "binary"],
    "multilabel, mean": ["--objective", "multilabel"],
    "softmax, max": ["--pool", "max"],
    "softmax, flatten": ["--pool", "flatten", "--maxlen", "16"],
    "softmax, sum, sgd": ["--pool", "sum", "--optimizer", "sgd", "--lr", "0.05"],
    "softmax, mean, adam": ["--optimizer", "adam", "--batch-size", "8"],
}

#: run inside the child: times numba's top-level compiles, then runs the CLI
CHILD = r"""
import json, os, runpy, sys, time
from numba.core import event
total = [0.0]
depth = [0]
start = [0.0]
class Listener(event.Listener):
    def on_start(self, ev):
        if depth[0] == 0:
            start[0] = time.perf_counter()
        depth[0] += 1
    def on_end(self, ev):
        depth[0] -= 1
        if depth[0] == 0:
            total[0] += time.perf_counter() - start[0]
event.register("numba:compile", Listener())
sys.argv = ["embedcli", *sys.argv[1:]]
try:
    runpy.run_module("embedcli", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
with open(os.environ["COLD_COMPILE_OUT"], "w") as f:
    json.dump({"compile_seconds": total[0], "exit": code}, f)
sys.exit(code)
"""

NBC = re.compile(r"^(?P<mod>[^.]+)\.(?P<fn>.+)-\d+\.py\d+\.(?P<n>\d+)\.nbc$")


def compiled(cache: Path) -> Counter:
    """``{module.function: specialisations}`` cached in ``cache`` (one ``.nbc`` each)."""
    out: Counter = Counter()
    for path in cache.rglob("*.nbc"):
        m = NBC.match(path.name)
        if m:
            out[f"{m['mod']}.{m['fn']}"] += 1
    return out


def run(args: list[str], cache: Path, work: Path) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    env["COLD_COMPILE_OUT"] = str(work / "child.json")
    out = work / "model"
    cmd = [sys.executable, "-c", CHILD, "train", *args, "-o", str(out), "--force"]
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(args)}\n{proc.stderr}")
    child = json.loads((work / "child.json").read_text())
    return {"wall": wall, "cpu": cpu, "compile": child["compile_seconds"]}


def binary_corpus(work: Path) -> Path:
    """The first two labels of the sample corpus (binary needs exactly two)."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    keep = [ln for ln in lines if ln.split(" ", 1)[0] in ("__label__net", "__label__data")]
    path = work / "binary.txt"
    path.write_text("\n".join(keep) + "\n", encoding="utf-8")
    return path


def measure(name: str, extra: list[str], repeats: int) -> dict:
    cold, cold_cpu, warm, comp, warm_comp = [], [], [], [], []
    kernels: Counter = Counter()
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="cold_compile_") as tmp:
            work = Path(tmp)
            cache = work / "numba_cache"
            cache.mkdir()
            corpus = binary_corpus(work) if "binary" in extra else CORPUS
            args = [str(corpus), *BASE, *extra]
            c = run(args, cache, work)
            kernels = compiled(cache)
            w = run(args, cache, work)
            cold.append(c["wall"])
            cold_cpu.append(c["cpu"])
            comp.append(c["compile"])
            warm.append(w["wall"])
            warm_comp.append(w["compile"])
    return {
        "config": name,
        "options": " ".join(extra) or "(defaults)",
        "cold_wall": statistics.median(cold),
        "cold_cpu": statistics.median(cold_cpu),
        "cold_compile": statistics.median(comp),
        "warm_wall": statistics.median(warm),
        "warm_compile": statistics.median(warm_comp),
        "functions": len(kernels),
        "specialisations": sum(kernels.values()),
        "compiled": dict(sorted(kernels.items())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated substrings of config names")
    ap.add_argument("--json", default="", help="also write the rows to this JSON file")
    ns = ap.parse_args()
    wanted = [w for w in ns.only.split(",") if w]
    rows = []
    for name, extra in CONFIGS.items():
        if wanted and not any(w in name for w in wanted):
            continue
        row = measure(name, extra, ns.repeats)
        rows.append(row)
        print(
            f"{name:26} cold {row['cold_wall']:5.2f} s (cpu {row['cold_cpu']:5.2f})  compile {row['cold_compile']:5.2f} s  "
            f"warm {row['warm_wall']:5.2f} s  {row['functions']} functions / "
            f"{row['specialisations']} specialisations",
            file=sys.stderr,
            flush=True,
        )
    print(f"\nmedian of {ns.repeats}; python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print(
        "| configuration | cold wall s | cold CPU s | cold compile s | warm wall s | functions | "
        "specialisations |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['config']} | {r['cold_wall']:.2f} | {r['cold_cpu']:.2f} | {r['cold_compile']:.2f} | "
            f"{r['warm_wall']:.2f} | {r['functions']} | {r['specialisations']} |"
        )
    for r in rows:
        twice = [f"{k}×{v}" if v > 1 else k for k, v in r["compiled"].items()]
        print(f"\n{r['config']} compiles: {', '.join(twice)}")
    if ns.json:
        Path(ns.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
