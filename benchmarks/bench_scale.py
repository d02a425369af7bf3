"""Scale and memory: build-vocab, encode and train on corpora of 1x, 10x and 100x imdb/train.

The corpora repeat the lines of ``../shared/data/imdb/train.txt`` (33 MB), each repetition in a
new random order, into a temporary folder on disk (100x is 3.3 GB; free space is checked first,
everything is deleted at the end unless ``--keep``). Each stage runs as a fresh subprocess:

- ``embedcli build-vocab CORPUS -o vocab.tsv --json``
- ``embedcli encode CORPUS --vocab vocab.tsv --maxlen 256 -o ids.npy``
- ``embedcli train CORPUS -o model --dim 50 --threads 2 --epochs 1 --quiet --json``
  (``--min-count 5`` at 100x)

and is measured for wall seconds, MB/s and tokens/s of input, the peak RSS of the largest single
process (``/usr/bin/time``) and the peak of the whole process tree (a /proc sampler adding up
PSS, so the pages that forked shard workers share with the parent count once). The bound each
stage must stay under is ``base + vocabulary + parameters + int32 corpus``:

- base: the interpreter with numpy, numba and the CLI imported (measured once),
- vocabulary: the RSS growth of loading ``vocab.tsv`` (measured per size),
- parameters: ``(vocab + buckets) x dim`` float32 plus the Adagrad state (train only),
- int32 corpus: ``4 x tokens + 8 x documents`` of the ragged encoding (encode and train).

Writes ``benchmarks/results/scale.md`` and ``scale.json``.

    python benchmarks/bench_scale.py                      # 1x, 10x, 100x (about 30 min)
    python benchmarks/bench_scale.py --sizes 1,10 --out /tmp/scale
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "imdb" / "train.txt"
TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
PY = sys.executable
ENV = dict(os.environ, NUMBA_CACHE_DIR=str(REPO / ".numba_cache"))
MB = 1e6


def make_corpus(path: Path, times: int, seed: int = 0) -> int:
    """``times`` shuffled copies of the source's lines; returns the size in bytes."""
    lines = SOURCE.read_bytes().splitlines(keepends=True)
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for _ in range(times):
            f.write(b"".join(lines[i] for i in rng.permutation(len(lines))))
    return path.stat().st_size


def _tree_pss_kb(pid: int) -> int:
    """PSS (kB) of a process and all its descendants, from /proc."""
    total, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def run(cmd: list[str], cwd: Path, log: Path) -> dict:
    """Run ``cmd``; wall seconds, peak single-process RSS and tree PSS (MB), stdout."""
    timing = cwd / ".time"
    full = [TIME, "-f", "%M", "-o", str(timing), *cmd] if TIME else cmd
    t0 = time.perf_counter()
    with open(log, "ab") as err:
        err.write(f"\n$ {' '.join(cmd)}\n".encode())
        err.flush()
        proc = subprocess.Popen(full, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=err)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_pss_kb(proc.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        seconds = time.perf_counter() - t0
        done.set()
        sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}; see {log}")
    single = int(timing.read_text().split()[-1]) / 1024 if TIME else float("nan")
    return {
        "seconds": seconds,
        "rss_single_mb": single * 1024 * 1024 / MB,
        "peak_tree_mb": max(peak * 1024 / MB, single * 1024 * 1024 / MB if TIME else 0),
        "stdout": out.decode(),
    }


def measure_base(cwd: Path) -> float:
    code = "import numba, numpy, embedcli.cli, embedcli.train"
    return run([PY, "-c", code], cwd, cwd / "base.log")["rss_single_mb"]


def measure_vocab(vocab: Path, cwd: Path) -> float:
    """RSS growth (MB) of loading the vocabulary file."""
    code = (
        "import resource, sys; from embedcli.vocab import Vocabulary\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096\n"
        "r0 = rss(); v = Vocabulary.load(sys.argv[1]); print((rss() - r0) / 1e6)"
    )
    out = subprocess.run([PY, "-c", code, str(vocab)], env=ENV, capture_output=True, check=True)
    return float(out.stdout)


def bench_size(times: int, work: Path, log: Path, base_mb: float) -> list[dict]:
    corpus = work / f"corpus{times}x.txt"
    t0 = time.perf_counter()
    nbytes = make_corpus(corpus, times)
    print(
        f"[{times}x] corpus {nbytes / MB:,.0f} MB in {time.perf_counter() - t0:.0f} s", flush=True
    )
    size_mb = nbytes / MB
    min_count = ["--min-count", "5"] if times >= 100 else []
    emb = [PY, "-m", "embedcli"]
    rows = []

    def row(stage: str, r: dict, tokens: int, bound_mb: float, **extra: object) -> dict:
        d = {
            "size": f"{times}x",
            "corpus_mb": round(size_mb, 1),
            "stage": stage,
            "seconds": round(r["seconds"], 2),
            "mb_s": round(size_mb / r["seconds"], 2),
            "tokens_s": round(tokens / r["seconds"]),
            "peak_tree_mb": round(r["peak_tree_mb"], 1),
            "rss_single_mb": round(r["rss_single_mb"], 1),
            "bound_mb": round(bound_mb, 1),
            **extra,
        }
        print(
            f"[{times}x] {stage}: {d['seconds']} s, {d['mb_s']} MB/s, peak {d['peak_tree_mb']} MB"
            f" (bound {d['bound_mb']} MB)",
            flush=True,
        )
        rows.append(d)
        return d

    vocab = work / "vocab.tsv"
    r = run(
        [*emb, "build-vocab", str(corpus), "-o", str(vocab), "--json", "-q", *min_count], work, log
    )
    stats = json.loads(r["stdout"])
    tokens, docs = int(stats["tokens"]), int(stats["documents"])
    vocab_mb = measure_vocab(vocab, work)
    row(
        "build-vocab",
        r,
        tokens,
        base_mb + vocab_mb,
        vocab_size=stats["vocab_size"],
        vocab_mb=round(vocab_mb, 1),
    )

    ids = work / "ids.npy"
    r = run(
        [
            *emb,
            "encode",
            str(corpus),
            "--vocab",
            str(vocab),
            "--maxlen",
            "256",
            "-o",
            str(ids),
            "-q",
        ],
        work,
        log,
    )
    corpus_mb = (4 * tokens + 8 * docs) / MB
    row(
        "encode",
        r,
        tokens,
        base_mb + vocab_mb + corpus_mb,
        int32_corpus_mb=round(corpus_mb, 1),
        padded_mb=round(ids.stat().st_size / MB, 1),
    )
    ids.unlink()

    model = work / "model"
    r = run(
        [*emb, "train", str(corpus), "-o", str(model), "--dim", "50", "--threads", "2",
         "--epochs", "1", "--quiet", "--json", *min_count],
        work,
        log,
    )  # fmt: skip
    res = json.loads(r["stdout"])
    cfg = res["config"]
    rows_ = res["vocab_size"] + (int(cfg.get("buckets") or 0) if int(cfg["word_ngrams"]) > 1 else 0)
    params_mb = (rows_ * int(cfg["dim"]) * 4 + rows_ * 4) / MB  # + Adagrad's per-row state
    train_tokens = int(res["train_tokens"])
    corpus_mb = (4 * train_tokens + 8 * int(res["train_documents"])) / MB
    row(
        "train",
        r,
        train_tokens,
        base_mb + vocab_mb + params_mb + corpus_mb,
        params_mb=round(params_mb, 1),
        int32_corpus_mb=round(corpus_mb, 1),
        prep_seconds=round(float(res.get("prep_seconds", float("nan"))), 2),
        fit_tokens_s=round(float(res.get("tokens_per_s", float("nan")))),
        accuracy=res.get("accuracy") or res.get("train_accuracy"),
    )
    shutil.rmtree(model, ignore_errors=True)
    corpus.unlink()
    return rows


def table(rows: list[dict]) -> str:
    out = [
        "| size | corpus MB | stage | seconds | MB/s | tokens/s | peak RSS MB (tree PSS) "
        "| largest process MB | bound MB | peak / bound |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['size']} | {r['corpus_mb']:,.0f} | {r['stage']} | {r['seconds']:,.1f} "
            f"| {r['mb_s']:.1f} | {r['tokens_s']:,} | {r['peak_tree_mb']:,.0f} "
            f"| {r['rss_single_mb']:,.0f} | {r['bound_mb']:,.0f} "
            f"| {r['peak_tree_mb'] / r['bound_mb']:.2f} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1,10,100", help="Multiples of imdb/train.txt.")
    ap.add_argument("--workdir", default=None, help="Folder for the corpora (default $TMPDIR).")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scale"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="embedcli-scale-", dir=args.workdir))
    need = max(sizes) * SOURCE.stat().st_size * 2.2  # corpus + ids.npy + model
    free = shutil.disk_usage(work).free
    if free < need:
        shutil.rmtree(work)
        raise SystemExit(f"needs {need / 1e9:.1f} GB free in {work.parent}, has {free / 1e9:.1f}")
    log = Path(args.out + ".log")
    log.write_text("")
    rows: list[dict] = []
    try:
        base_mb = measure_base(work)
        print(f"base (python + numpy + numba + embedcli.cli): {base_mb:.0f} MB", flush=True)
        for times in sizes:
            rows.extend(bench_size(times, work, log, base_mb))
            write(args.out, rows, base_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(rows))


def write(out: str, rows: list[dict], base_mb: float) -> None:
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "git": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "cpus": os.cpu_count(),
        "base_mb": round(base_mb, 1),
        "source": str(SOURCE),
        "load_1min": os.getloadavg()[0],
    }
    Path(out + ".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    Path(out + ".md").write_text(
        f"# bench_scale.py, {meta['date']} (HEAD {meta['git']}, {meta['cpus']} cores)\n\n"
        f"Bound = base {base_mb:.0f} MB (python + numpy + numba + CLI) + vocabulary + parameters"
        " + int32 corpus (see the script's docstring).\n\n" + table(rows) + "\n"
    )


if __name__ == "__main__":
    main()
