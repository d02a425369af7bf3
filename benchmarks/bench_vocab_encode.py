"""Throughput and memory of ``embedcli build-vocab`` and ``embedcli encode`` on real corpora.

End to end: each command runs as a fresh subprocess (``/usr/bin/time -v`` gives the peak RSS of
the largest single process; a /proc sampler adds up the PSS of the whole process tree, since
``encode`` forks shard workers on large files). ``--cpus 1`` pins the child to one core with ``taskset``.
In process: the library calls alone, including the Document counting path that the byte-level
fast path replaces. Median of ``--runs`` runs. Prints a markdown table.

    python benchmarks/bench_vocab_encode.py              # imdb + 20newsgroups train, 5 runs
    python benchmarks/bench_vocab_encode.py --runs 3 --datasets imdb

Targets: build-vocab >= 20 MB/s on one core end to end; peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
DATASETS = {
    "imdb": DATA / "imdb" / "train.txt",
    "20newsgroups": DATA / "20newsgroups" / "train.txt",
}
EMBEDCLI = Path(sys.executable).parent / "embedcli"
TIME = shutil.which("time") or "/usr/bin/time"
TARGET_MBS = 20.0
TARGET_RSS_MB = 300.0


def _tree_rss_kb(pid: int) -> int:
    """Memory of a process and all its descendants (kB): the sum of their PSS, from /proc.

    PSS (proportional set size) splits pages shared after ``fork`` between the processes that
    share them, so the sum is the real footprint (a sum of RSS would count them twice).
    """
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


def run_measured(cmd: list[str], cwd: Path) -> tuple[float, float, float, float]:
    """(wall s, CPU s of the tree, peak RSS of the largest process MB, peak PSS of the tree MB).

    CPU seconds (user + system, shard workers included) are what the machine spent; on a busy
    shared machine they are steadier than wall time.
    """
    env = dict(os.environ, NUMBA_CACHE_DIR=str(REPO / ".numba_cache"))
    full = [TIME, "-v", *cmd]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        full, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    peak_tree = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not done.is_set():
            peak_tree = max(peak_tree, _tree_rss_kb(proc.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    max_single = int(m.group(1)) / 1024 if m else float("nan")
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", err))
    # the sampler sees /usr/bin/time too (~2 MB); leave it in: it is an upper bound
    return seconds, cpu, max_single, max(peak_tree / 1024, max_single)


def bench_cli(name: str, path: Path, runs: int, cpus: int | None, work: Path) -> list[dict]:
    size_mb = path.stat().st_size / 1e6
    with open(path, "rb") as f:
        lines = sum(1 for _ in f)
    pin = ["taskset", "-c", ",".join(str(i) for i in range(cpus))] if cpus else []
    vocab = work / f"{name}.vocab.tsv"
    cmds = {
        "build-vocab": [*pin, str(EMBEDCLI), "build-vocab", str(path), "-o", str(vocab), "-q"],
        "encode": [
            *pin, str(EMBEDCLI), "encode", str(path), "--vocab", str(vocab),
            "--maxlen", "256", "-o", str(work / f"{name}.ids.npy"), "-q",
        ],
    }  # fmt: skip
    rows = []
    for command, cmd in cmds.items():
        results = [run_measured(cmd, work) for _ in range(runs)]
        secs = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        rows.append(
            {
                "what": f"`embedcli {command}` ({cpus or os.cpu_count()} core{'s' if (cpus or os.cpu_count()) != 1 else ''})",
                "data": f"{name} ({size_mb:.1f} MB, {lines:,} lines)",
                "seconds": secs,
                "mbs": size_mb / secs,
                "lines_s": lines / secs,
                "mb_cpu_s": size_mb / cpu if cpu else float("nan"),
                "rss": max(r[2] for r in results),
                "rss_tree": max(r[3] for r in results),
            }
        )
    return rows


def bench_library(name: str, path: Path, runs: int) -> list[dict]:
    """In-process: the fast counting path, the Document counting path, and encode + pad."""
    from embedcli.corpus import CorpusReader
    from embedcli.sequences import encode_corpus, pad_ragged
    from embedcli.text import TokenizerConfig
    from embedcli.vocab import build_vocabulary, vocab_options

    size_mb = path.stat().st_size / 1e6
    cfg, opts = TokenizerConfig(), vocab_options()
    holder: dict = {}

    def fast() -> None:
        holder["vocab"], stats = build_vocabulary(CorpusReader([path]), cfg, opts)
        holder["docs"] = stats.documents

    def documents() -> None:
        build_vocabulary(iter(CorpusReader([path])), cfg, opts)

    def encode() -> None:
        enc = encode_corpus(CorpusReader([path]), holder["vocab"])
        pad_ragged(enc.tokens, enc.offsets, 256, padding="post", truncating="post")

    rows = []
    for label, fn in (
        ("library `build_vocabulary` (byte fast path)", fast),
        ("library `build_vocabulary` (Document path)", documents),
        ("library `encode_corpus` + `pad_ragged`", encode),
    ):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        secs = statistics.median(times)
        rows.append(
            {
                "what": label,
                "data": name,
                "seconds": secs,
                "mbs": size_mb / secs,
                "lines_s": holder["docs"] / secs,
                "mb_cpu_s": float("nan"),
                "rss": float("nan"),
                "rss_tree": float("nan"),
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    out = [
        "| what | data | median s | MB/s | lines/s | MB per CPU-s | peak RSS, largest process (MB) | peak PSS, process tree (MB) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        rss = "" if r["rss"] != r["rss"] else f"{r['rss']:.0f}"
        tree = "" if r["rss_tree"] != r["rss_tree"] else f"{r['rss_tree']:.0f}"
        cpu = "" if r["mb_cpu_s"] != r["mb_cpu_s"] else f"{r['mb_cpu_s']:.1f}"
        out.append(
            f"| {r['what']} | {r['data']} | {r['seconds']:.2f} | {r['mbs']:.1f} | "
            f"{r['lines_s']:,.0f} | {cpu} | {rss} | {tree} |"
        )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description="build-vocab / encode throughput and memory")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument(
        "--cpus", type=int, nargs="*", default=[1, 0], help="core counts to pin to (0 = all)"
    )
    parser.add_argument("--no-library", action="store_true", help="skip the in-process runs")
    args = parser.parse_args()
    if not EMBEDCLI.exists():
        raise SystemExit(f"{EMBEDCLI} not found: pip install -e . first")
    if not Path(TIME).exists():
        raise SystemExit("/usr/bin/time is needed for the peak RSS")
    cpus = [c for c in args.cpus if c == 0 or shutil.which("taskset")]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_vocab_") as tmp:
        work = Path(tmp)
        for name in args.datasets:
            path = DATASETS[name]
            if not path.is_file():
                print(f"skipping {name}: {path} not found", file=sys.stderr)
                continue
            for c in cpus:
                print(f"{name}: CLI, cpus={c or 'all'} ...", file=sys.stderr)
                rows += bench_cli(name, path, args.runs, c or None, work)
            if not args.no_library:
                print(f"{name}: library ...", file=sys.stderr)
                rows += bench_library(name, path, max(1, min(args.runs, 3)))
    print(
        f"\nPython {sys.version.split()[0]}, {os.cpu_count()} cores, median of {args.runs} runs\n"
    )
    print(table(rows))
    cli_vocab = [r for r in rows if r["what"].startswith("`embedcli build-vocab` (1 core")]
    if cli_vocab:
        worst = min(r["mbs"] for r in cli_vocab)
        print(f"\nbuild-vocab on one core: {worst:.1f} MB/s (target >= {TARGET_MBS:.0f})", end="")
        print(" OK" if worst >= TARGET_MBS else " BELOW TARGET", end="")
        best_cpu = min(r["mb_cpu_s"] for r in cli_vocab)
        print(f"; {best_cpu:.1f} MB per CPU-second (independent of other load)")
    rss = [r["rss_tree"] for r in rows if r["rss_tree"] == r["rss_tree"]]
    if rss:
        print(
            f"peak memory (PSS of the process tree): {max(rss):.0f} MB (target < {TARGET_RSS_MB:.0f})",
            end="",
        )
        print(" OK" if max(rss) < TARGET_RSS_MB else " ABOVE TARGET")
    return 0


if __name__ == "__main__":
    sys.exit(main())
