"""Skip-gram default settings: one full-corpus ``embedcli pretrain`` run per config, scored.

Usage (from the repo root; under the shared lock for figures, ``nice -n 19`` for a look):
    python benchmarks/sg_explore.py OUT.jsonl NAME="PRETRAIN OPTIONS" [NAME="..." ...]
        [--corpus FILE] [--workdir DIR]

Every config runs the command of ``benchmarks/bench_pretrain_peers.py`` (``--threads 2 --seed 1
--keep-punctuation``, the harness' tokenized imdb text) plus its own options, e.g.
``s3e-4="--minn 0 --sample 3e-4 --lr 0.05"``, then ``embedcli evaluate-vectors`` with gensim's
files (Google analogies restricted to the 30,000 most frequent words, WordSim-353 and SimLex-999
Spearman: the harness' scores). One JSON line per config is appended to OUT.jsonl: the scores,
the wall seconds of ``pretrain`` (end to end), its stage timings and the load average before.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

CORPUS = "/tmp/peers-cache/unsup-be954c6134ea.txt"
BASE = "--method skipgram --threads 2 --seed 1 --keep-punctuation --force --json --quiet"


def gensim_data() -> str:
    import importlib.util

    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("gensim is needed for its evaluation files (pip install gensim)")
    return os.path.join(spec.submodule_search_locations[0], "test", "test_data")


def run_one(name: str, options: str, corpus: str, workdir: str) -> dict:
    py = sys.executable
    model = os.path.join(workdir, name)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    out = subprocess.run(
        [py, "-m", "embedcli", "pretrain", corpus, "-o", model, *shlex.split(BASE),
         *shlex.split(options)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    info = json.loads(out.stdout)
    data = gensim_data()
    ev = subprocess.run(
        [py, "-m", "embedcli", "evaluate-vectors", model, "--json",
         "--analogies", os.path.join(data, "questions-words.txt"),
         "--similarity", os.path.join(data, "wordsim353.tsv"),
         "--similarity", os.path.join(data, "simlex999.txt")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    scores = json.loads(ev.stdout)
    ws, sl = scores["similarity"]
    return {
        "name": name,
        "options": options,
        "analogy": scores["analogies"][0]["accuracy"],
        "wordsim353": ws["spearman"],
        "simlex999": sl["spearman"],
        "pretrain_wall_s": round(wall, 1),
        "timings": info.get("timings"),
        "words_per_second": info.get("words_per_second"),
        "loss": info.get("loss"),
        "load1_before": round(load, 2),
        "nice": os.nice(0),
        "spec": info.get("spec"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("configs", nargs="+", help='NAME="pretrain options"')
    ap.add_argument("--corpus", default=CORPUS)
    ap.add_argument("--workdir", default="/tmp/sg-explore")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    for spec in a.configs:
        name, options = spec.split("=", 1)
        row = run_one(name, options, a.corpus, a.workdir)
        print(json.dumps({k: row[k] for k in list(row)[:7]}), flush=True)
        with open(a.out, "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
