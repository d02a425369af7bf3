"""End-to-end ``embedcli pretrain`` against gensim and fastText in ONE run of the peers' harness.

Usage (from the repo root, serialized through the shared lock, not niced):
    flock /work/wt/bench.lock python benchmarks/bench_pretrain_peers.py OUT_STEM
        [--harness ../shared/peers/unsup.py] [--only NAME,...] [--configs sg,cbow,sg-sub,cbow-sub]

Runs ``unsup.py OUT_STEM.raw.json`` with all its peers (gensim skip-gram/CBOW, fastText skip-gram
and CBOW without subwords, fastText skip-gram with subwords), adds fastText CBOW with subwords
(the harness has no row for it: run by the harness' own worker arithmetic, see ``FT_CBOW_SUB``)
and embedcli skip-gram/CBOW with and without subwords as ``--embedcli`` commands. Every added
command runs under ``/usr/bin/time`` (peak RSS, CPU seconds); embedcli's ``pretrain --json``
gives its stage times (reading + vocabulary + encoding, training, saving), the export to word2vec
text is timed apart. Writes ``OUT_STEM.json`` (everything) and ``OUT_STEM.md`` (the table).

Speed columns: the harness' words/s (tokens x epochs / seconds) where the seconds are, for the
harness' peers, the training call (reading + vocabulary + training, saving excluded) and for the
added commands the whole command (process start, reading, vocabulary, training, saving, export);
"words/s (pretrain)" is embedcli's pretrain process alone (reading + vocabulary + training +
saving the model, export excluded), the closest match of the peers' definition.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HARNESS = next(
    (
        p
        for p in (
            os.path.abspath(os.path.join(ROOT, "..", "..", "shared", "peers", "unsup.py")),
            "/work/shared/peers/unsup.py",
        )
        if os.path.exists(p)
    ),
    "unsup.py",
)
CONFIGS = {
    "sg": "--method skipgram --minn 0",
    "cbow": "--method cbow --minn 0",
    "sg-sub": "--method skipgram --minn 3 --maxn 6",
    "cbow-sub": "--method cbow --minn 3 --maxn 6",
}
#: fastText CBOW with subwords 3-6: the harness' worker arithmetic (train_s = the training call)
FT_CBOW_SUB = r"""
import json, resource, sys, time
import fasttext
corpus, vec, stats = sys.argv[1:4]
t = time.perf_counter()
m = fasttext.train_unsupervised(corpus, model="cbow", dim=100, ws=5, neg=5, minCount=5, epoch=5,
                                thread=2, minn=3, maxn=6, verbose=0)
train_s = time.perf_counter() - t
words = m.get_words()
with open(vec, "w") as f:
    f.write(f"{len(words)} 100\n")
    for w in words:
        f.write(w + " " + " ".join(f"{x:.6f}" for x in m.get_word_vector(w)) + "\n")
json.dump({"train_s": train_s,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
          open(stats, "w"))
"""


def timed(cmd: str, out: str) -> str:
    """``cmd`` under /usr/bin/time writing ``wall user sys maxrss_kb`` to ``out``."""
    return f"/usr/bin/time -f '%e %U %S %M' -o {shlex.quote(out)} {cmd}"


def read_time(path: str) -> dict:
    try:
        wall, user, sys_, rss = open(path).read().split()[-4:]
    except (OSError, ValueError):
        return {}
    return {
        "wall_s": float(wall),
        "cpu_s": float(user) + float(sys_),
        "peak_rss_mb": int(rss) / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_stem")
    ap.add_argument("--harness", default=HARNESS)
    ap.add_argument("--only", default="", help="harness peers to run (default: all)")
    ap.add_argument("--configs", default="sg,cbow,sg-sub,cbow-sub")
    ap.add_argument("--no-ft-cbow-sub", action="store_true")
    ap.add_argument("--corpus", nargs="*", help="corpus files (default: the harness' imdb text)")
    ap.add_argument(
        "--table", metavar="JSON", help="only rewrite OUT_STEM.md from a finished run's JSON"
    )
    a = ap.parse_args()
    if a.table:
        raw = json.load(open(a.table))
        with open(a.out_stem + ".md", "w") as f:
            f.write(table(raw))
        print(table(raw))
        return
    work = f"/tmp/bench-pretrain-peers-{os.getpid()}"
    os.makedirs(work, exist_ok=True)
    py = shlex.quote(sys.executable)
    extra = []
    if not a.no_ft_cbow_sub:
        script = os.path.join(work, "ft_cbow_sub.py")
        with open(script, "w") as f:
            f.write(FT_CBOW_SUB)
        cmd = f"{py} {script} {{corpus}} {{vec}} {work}/fasttext-cbow-sub.stats"
        extra.append(("fasttext-cbow-sub", timed(cmd, f"{work}/fasttext-cbow-sub.time")))
    for name in filter(None, a.configs.split(",")):
        model = f"{work}/embedcli-{name}"
        pre = (
            f"{py} -m embedcli pretrain {{corpus}} -o {model} {CONFIGS[name]} --threads 2 "
            f"--seed 1 --keep-punctuation --force --json > {model}.json"
        )
        exp = f"{py} -m embedcli export {model} --format word2vec -o {{vec}} --words-only --quiet"
        cmd = f"{timed(pre, model + '.time')} && {timed(exp, model + '.export.time')}"
        extra.append((f"embedcli-{name}", f"sh -c {shlex.quote(cmd)}"))
    argv = [sys.executable, a.harness, a.out_stem + ".raw.json"]
    if a.only:
        argv += ["--only", a.only]
    if a.corpus:
        argv += ["--corpus", *a.corpus]
    for name, cmd in extra:
        argv += ["--embedcli", f"{name}={cmd}"]
    env = {**os.environ, "PYTHONPATH": ROOT}
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, env=env)
    took = time.perf_counter() - t0
    raw = json.load(open(a.out_stem + ".raw.json"))
    ntok, epochs = raw["tokens"], raw["epochs"]
    for row in raw["results"]:
        name = row["name"]
        if name == "fasttext-cbow-sub":
            row.update(read_time(f"{work}/fasttext-cbow-sub.time"))
            try:
                row.update(json.load(open(f"{work}/fasttext-cbow-sub.stats")))
                row["words_per_s"] = ntok * epochs / row["train_s"]
            except OSError:
                pass
        elif name.startswith("embedcli-"):
            model = f"{work}/{name}"
            pre = read_time(model + ".time")
            exp = read_time(model + ".export.time")
            row["pretrain"] = pre
            row["export"] = exp
            try:
                out = json.load(open(model + ".json"))
                row["timings"] = out.get("timings")
                row["pretrain_json"] = {
                    k: v for k, v in out.items() if isinstance(v, (int, float, str))
                }
            except (OSError, ValueError):
                pass
            if pre:
                row["peak_rss_mb"] = max(pre["peak_rss_mb"], exp.get("peak_rss_mb", 0))
                row["cpu_s"] = pre["cpu_s"] + exp.get("cpu_s", 0)
                row["words_per_s_pretrain"] = ntok * epochs / pre["wall_s"]
    raw["load_before"] = load0
    raw["load_after"] = os.getloadavg()
    raw["seconds"] = took
    with open(a.out_stem + ".json", "w") as f:
        json.dump(raw, f, indent=1)
    with open(a.out_stem + ".md", "w") as f:
        f.write(table(raw))
    print(table(raw))


def kind(name: str) -> tuple[str, bool]:
    """``(method, subwords)`` of a row: the harness' ``fasttext-skipgram`` has subwords 3-6,
    ``*-nosub`` and gensim rows have none, ``*-sub`` rows have them."""
    method = "cbow" if "cbow" in name else "sg"
    subwords = name == "fasttext-skipgram" or (name.endswith("-sub") and not name.endswith("nosub"))
    return method, subwords


def table(raw: dict) -> str:
    # speed targets compare with the fastest peer of the same method AND subword setting (a
    # subword model does several times the work per token); the method-wide ratio is given too
    fastest: dict[tuple[str, bool], float] = {}
    for row in raw["results"]:
        if row["name"].startswith("embedcli") or "words_per_s" not in row:
            continue
        k = kind(row["name"])
        fastest[k] = max(fastest.get(k, 0.0), row["words_per_s"])
        fastest[k[0], None] = max(fastest.get((k[0], None), 0.0), row["words_per_s"])
    lines = [
        f"tokens {raw['tokens']:,}, dim {raw['dim']}, epochs {raw['epochs']}, threads "
        f"{raw['threads']}; load before {raw['load_before'][0]:.1f}, after "
        f"{raw['load_after'][0]:.1f}; {raw['seconds']:.0f} s in all",
        "",
        "| config | words/s | words/s (pretrain) | ratio to the fastest peer (same method, same "
        "subwords) | (same method) | analogy | WordSim-353 | SimLex-999 | peak RSS MB | vocab "
        "| read s | train s | save s | export s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in raw["results"]:
        k = kind(row["name"])
        if "error" in row:
            lines.append(f"| {row['name']} | error: {row['error']} |" + " |" * 12)
            continue
        t = row.get("timings") or {}
        ratio = ratio_method = ""
        if row["name"].startswith("embedcli"):
            best = row.get("words_per_s_pretrain", row["words_per_s"])
            if fastest.get(k):
                ratio = f"{best / fastest[k]:.2f}x"
            if fastest.get((k[0], None)):
                ratio_method = f"{best / fastest[k[0], None]:.2f}x"

        def f(key: str, fmt: str, d: dict = row) -> str:
            v = d.get(key)
            return format(v, fmt) if isinstance(v, (int, float)) else ""

        lines.append(
            f"| {row['name']} | {row['words_per_s'] / 1000:,.0f} k | "
            + (
                f"{row['words_per_s_pretrain'] / 1000:,.0f} k"
                if "words_per_s_pretrain" in row
                else ""
            )
            + f" | {ratio} | {ratio_method} | {f('analogy', '.2%')} | {f('wordsim353', '.3f')} | "
            f"{f('simlex999', '.3f')} | {f('peak_rss_mb', ',.0f')} | {f('vocab', ',d')} | "
            f"{f('read_encode', '.1f', t)} | {f('train', '.1f', t)} | {f('save', '.1f', t)} | "
            f"{f('wall_s', '.1f', row.get('export') or {})} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
