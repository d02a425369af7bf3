"""Memory of ``pretrain`` from an encoded shard directory vs from the text, under a memory limit.

The corpus is ``../shared/data/imdb/train.txt`` repeated ``--repeat`` times (10: 330 MB) in 10
files in a temporary folder (deleted at the end). Stages, each a fresh subprocess:

1. ``build-vocab CORPUS -o vocab.tsv --min-count 5`` (local engine);
2. ``encode CORPUS --vocab vocab.tsv -o enc --engine dask --workers 2`` (the shard directory);
3. ``pretrain CORPUS ...`` and 4. ``pretrain enc ...``, both with ``EMBEDCLI_MEM_LIMIT=--limit``
   (default 64M, far below the 330 MB of text and the ~240 MB of int32 ids), ``--min-count 5
   --dim 50 --epochs 1 --minn 0 --threads 2``.

For each pretrain: wall seconds, the peak RSS and the peak anonymous RSS (``RssAnon``: memory
the kernel cannot drop, unlike the file-backed pages of a memory map) of the whole process tree
(a /proc sampler every 50 ms adding up every descendant), and the main process' ``VmHWM``.

    flock /work/wt/bench.lock python benchmarks/bench_shard_pretrain.py --out benchmarks/results/shard_pretrain.md
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

REPO = Path(__file__).resolve().parents[1]
IMDB = REPO.parent / "shared" / "data" / "imdb" / "train.txt"
MB = 1e6
TRAIN = ["--min-count", "5", "--dim", "50", "--epochs", "1", "--minn", "0", "--threads", "2"]


def make_corpus(folder: Path, repeat: int, files: int = 10) -> int:
    lines = IMDB.read_bytes().splitlines(keepends=True)
    everything = lines * repeat
    per = -(-len(everything) // files)
    for i in range(files):
        (folder / f"imdb.{i:02d}.txt").write_bytes(b"".join(everything[i * per : (i + 1) * per]))
    return sum(p.stat().st_size for p in folder.glob("imdb.*.txt"))


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "VmHWM", "PPid"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def _tree(root: int) -> list[int]:
    parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _status(int(name))
            if "PPid" in st:
                parent[int(name)] = st["PPid"]
    tree, grew = {root}, True
    while grew:
        new = {p for p, pp in parent.items() if pp in tree and p not in tree}
        tree |= new
        grew = bool(new)
    return sorted(tree)


def measure(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``embedcli ARGS``; wall seconds and the tree's peak RSS / anonymous RSS (MB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedcli", *args], env=env, stdout=subprocess.PIPE, text=True
    )
    peak = {"rss": 0, "anon": 0, "hwm": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = anon = 0
            for pid in _tree(proc.pid):
                st = _status(pid)
                rss += st.get("VmRSS", 0)
                anon += st.get("RssAnon", 0)
                if pid == proc.pid:
                    peak["hwm"] = max(peak["hwm"], st.get("VmHWM", 0))
            peak["rss"], peak["anon"] = max(peak["rss"], rss), max(peak["anon"], anon)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"embedcli {' '.join(args)} failed ({proc.returncode})")
    result = json.loads(stdout) if stdout.strip().startswith("{") else {}
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak["rss"] * 1024 / MB, 1),
        "peak_anon_mb": round(peak["anon"] * 1024 / MB, 1),
        "main_hwm_mb": round(peak["hwm"] * 1024 / MB, 1),
        "tokens": result.get("tokens"),
        "words": result.get("words"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--limit", default="64M", help="EMBEDCLI_MEM_LIMIT of the pretrain runs")
    ap.add_argument("--out", default=None, help="Write the table (markdown) and a .json here.")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_CACHE_DIR": str(REPO / ".numba_cache")}
    tmp = Path(tempfile.mkdtemp(prefix="bench-shard-pretrain-"))
    try:
        size = make_corpus(tmp, args.repeat)
        files = sorted(str(p) for p in tmp.glob("imdb.*.txt"))
        vocab, enc = str(tmp / "vocab.tsv"), str(tmp / "enc")
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "embedcli", "build-vocab", *files, "-o", vocab,
             "--min-count", "5", "-q"], env=env, check=True,
        )  # fmt: skip
        vocab_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "embedcli", "encode", *files, "--vocab", vocab, "-o", enc,
             "--engine", "dask", "--workers", "2", "-q"], env=env, check=True,
        )  # fmt: skip
        encode_s = time.perf_counter() - t0
        ids_bytes = sum(p.stat().st_size for p in Path(enc).glob("*.tokens.npy"))
        limited = {**env, "EMBEDCLI_MEM_LIMIT": args.limit}
        rows = {
            "text": measure(["pretrain", *files, "-o", str(tmp / "m_text"), *TRAIN, "--json"], limited),
            "shard_dir": measure(["pretrain", enc, "-o", str(tmp / "m_dir"), *TRAIN, "--json"], limited),
        }  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "corpus_mb": round(size / MB, 1),
        "ids_mb": round(ids_bytes / MB, 1),
        "limit": args.limit,
        "build_vocab_seconds": round(vocab_s, 1),
        "encode_dask_seconds": round(encode_s, 1),
        "runs": rows,
        "load": os.getloadavg(),
    }
    lines = [
        f"imdb train x{args.repeat}: {report['corpus_mb']} MB of text, {report['ids_mb']} MB of "
        f"int32 ids in the shard directory; EMBEDCLI_MEM_LIMIT={args.limit}; "
        f"pretrain {' '.join(TRAIN)}",
        "",
        "| corpus | seconds | peak RSS, tree (MB) | peak anonymous RSS, tree (MB) | main VmHWM (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['seconds']} | {r['peak_rss_mb']} | {r['peak_anon_mb']} | "
            f"{r['main_hwm_mb']} |"
        )
    lines.append(
        f"\nbuild-vocab {report['build_vocab_seconds']} s, encode --engine dask --workers 2 "
        f"{report['encode_dask_seconds']} s; load average at the end {report['load']}"
    )
    text = "\n".join(lines)
    print(text)
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(text + "\n")
        Path(args.out).with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
