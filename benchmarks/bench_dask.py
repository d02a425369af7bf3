"""Throughput of ``build-vocab`` and ``encode``: ``--engine local`` vs ``--engine dask`` (1, 2 workers).

The corpus is imdb's train.txt repeated ``--repeat`` times across ``--files`` files (the issue
asks for 10x over 20 files; ``--repeat 3`` is the short run). Each command runs as a fresh
subprocess under ``nice -n 10``; MB/s is raw text bytes over wall seconds, end to end (cluster
start included: ``cluster start`` reports that part alone, on a one-line input). Also measured:
the scheduler's overhead per task (empty tasks on a local cluster of 2 workers). Prints a
markdown table; ratios come from the same run (the machine is shared and noisy).

    python benchmarks/bench_dask.py --repeat 3
    python benchmarks/bench_dask.py --predict 4 --files 8    # predict: local vs dask 2 workers
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMDB = REPO.parent / "shared" / "data" / "imdb" / "train.txt"
IMDB_TEST = REPO.parent / "shared" / "data" / "imdb" / "test.txt"


def make_corpus(folder: Path, repeat: int, files: int, source: Path = IMDB) -> int:
    lines = source.read_bytes().splitlines(keepends=True)
    everything = lines * repeat
    per = -(-len(everything) // files)
    for i in range(files):
        (folder / f"imdb.{i:02d}.txt").write_bytes(b"".join(everything[i * per : (i + 1) * per]))
    return sum(p.stat().st_size for p in folder.glob("imdb.*.txt"))


def run(args: list[str], quiet: bool = True) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    r = subprocess.run(
        ["nice", "-n", "10", sys.executable, "-m", "embedcli", *args, *(["-q"] if quiet else [])],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {r.stderr.strip()}")
    return seconds


def task_overhead(n: int = 2000) -> float:
    """Seconds of scheduling per empty task on a local cluster of 2 process workers."""
    sys.path.insert(0, str(REPO))
    from embedcli.dask_engine import dask_client

    with dask_client(workers=2) as client:
        client.gather(client.map(abs, range(100)))  # warm
        t0 = time.perf_counter()
        client.gather(client.map(abs, range(n), pure=False))
        return (time.perf_counter() - t0) / n


def in_process(files: list[str], mb: float) -> list[tuple[str, float, float]]:
    """Library calls on a running cluster (no interpreter or cluster start): seconds of
    build_vocabulary and encode for the local engine and local clusters of 1 and 2 workers."""
    sys.path.insert(0, str(REPO))
    from embedcli import dask_engine
    from embedcli.corpus import CorpusOptions, CorpusReader
    from embedcli.inputs import expand_inputs
    from embedcli.shards import encode_corpus
    from embedcli.text import make_tokenizer_config
    from embedcli.vocab import build_vocabulary, vocab_options

    tok, vopts = make_tokenizer_config(), vocab_options(min_count=2)
    counting, encoding = CorpusOptions(skip_blank=True), CorpusOptions()
    t0 = time.perf_counter()
    vocab, _ = build_vocabulary(CorpusReader(files, counting), tok, vopts)
    t1 = time.perf_counter()
    encode_corpus(CorpusReader(files, encoding), vocab)
    rows = [("local (library)", t1 - t0, time.perf_counter() - t1)]
    expanded = expand_inputs(files)
    for workers in (1, 2):
        with dask_engine.dask_client(workers=workers) as client:
            parts, _ = dask_engine.plan(expanded, counting, client)
            t0 = time.perf_counter()
            dask_engine.build_vocabulary_dask(client, parts, counting, tok, vopts)
            t1 = time.perf_counter()
            dask_engine.encode_dask(client, parts, encoding, vocab)
            rows.append(
                (f"dask {workers} worker(s), running cluster", t1 - t0, time.perf_counter() - t1)
            )
    return rows


def predict_table(repeat: int, files: int) -> None:
    """``predict`` throughput, local vs a local cluster of 2 workers, on imdb test x``repeat``
    in ``files`` files (a model trained once on imdb train, untimed; outputs compared)."""
    with tempfile.TemporaryDirectory(prefix="bench-dask-predict-") as tmp:
        data, out = Path(tmp) / "data", Path(tmp) / "out"
        data.mkdir()
        out.mkdir()
        total = make_corpus(data, repeat, files, IMDB_TEST)
        docs = sum(p.read_bytes().count(b"\n") for p in data.glob("imdb.*.txt"))
        files_ = sorted(str(p) for p in data.glob("imdb.*.txt"))
        model = str(out / "model")
        run(["train", str(IMDB), "-o", model, "--epochs", "2", "--dim", "32", "--seed", "1"])
        mb = total / 1e6
        rows = [
            ("local", run(["predict", model, *files_, "-o", str(out / "p.txt"), "-k", "2"], False)),
            (
                "dask --workers 2",
                run(
                    [
                        "predict",
                        model,
                        str(data),
                        "-o",
                        str(out / "parts"),
                        "-k",
                        "2",
                        "--engine",
                        "dask",
                        "--workers",
                        "2",
                    ]
                ),  # fmt: skip
            ),
        ]
        parts = sorted((out / "parts").glob("part-*.txt"))
        same = b"".join(p.read_bytes() for p in parts) == (out / "p.txt").read_bytes()
    print(
        f"\npredict: imdb test x{repeat} in {files} files = {mb:,.0f} MB, {docs:,} lines; "
        f"cores: {len(os.sched_getaffinity(0))}; nice -n 10; parts identical to local: {same}\n"
    )
    print("| predict | s | MB/s | lines/s | vs local |\n|---|---:|---:|---:|---:|")
    for name, sec in rows:
        print(
            f"| {name} | {sec:.1f} | {mb / sec:.1f} | {docs / sec:,.0f} | {rows[0][1] / sec:.2f}x |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--out", default=None, help="Append the table to this file.")
    ap.add_argument("--library-only", action="store_true", help="Only the in-process table.")
    ap.add_argument(
        "--predict",
        type=int,
        default=0,
        metavar="N",
        help="Only the predict table, on imdb test xN in --files files.",
    )
    opts = ap.parse_args()
    if opts.predict:
        predict_table(opts.predict, opts.files)
        return
    if opts.library_only:
        with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
            total = make_corpus(Path(tmp), opts.repeat, opts.files)
            files = sorted(str(p) for p in Path(tmp).glob("imdb.*.txt"))
            mb = total / 1e6
            print(f"\ncorpus: imdb train x{opts.repeat} in {opts.files} files = {mb:,.0f} MB\n")
            print(
                "| in process | build-vocab s | MB/s | encode s | MB/s |\n|---|---:|---:|---:|---:|"
            )
            for name, sv, se in in_process(files, mb):
                print(
                    f"| {name} | {sv:.1f} | {mb / sv:.1f} | {se:.1f} | {mb / se:.1f} |", flush=True
                )
        return
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        data, out = Path(tmp) / "data", Path(tmp) / "out"
        data.mkdir()
        out.mkdir()
        total = make_corpus(data, opts.repeat, opts.files)
        files = sorted(str(p) for p in data.glob("imdb.*.txt"))
        mb = total / 1e6
        tiny = Path(tmp) / "tiny.txt"
        tiny.write_text("__label__a one line\n")
        engines = {
            "local": [],
            "dask --workers 1": ["--engine", "dask", "--workers", "1"],
            "dask --workers 2": ["--engine", "dask", "--workers", "2"],
        }
        rows = []
        start = run(
            ["build-vocab", str(tiny), "-o", str(out / "t.tsv"), *engines["dask --workers 2"]]
        )
        vocab = out / "vocab.tsv"
        run(["build-vocab", *files, "-o", str(vocab), "--min-count", "2"])
        for name, extra in engines.items():
            inputs = files if name == "local" else [str(data)]
            sec_v = run(
                ["build-vocab", *inputs, "-o", str(out / "v.tsv"), "--min-count", "2", *extra]
            )
            sec_e = run(
                [
                    "encode",
                    *inputs,
                    "--vocab",
                    str(vocab),
                    "-o",
                    str(out / "ids.npy"),
                    "--maxlen",
                    "256",
                    *extra,
                ]
            )
            rows.append((name, sec_v, sec_e))
        overhead = task_overhead()
    print(
        f"\ncorpus: imdb train x{opts.repeat} in {opts.files} files = {mb:,.0f} MB; cores: "
        f"{len(os.sched_getaffinity(0))}; nice -n 10; cluster start (2 workers, 1-line input): "
        f"{start:.1f} s; scheduler overhead {overhead * 1e3:.2f} ms per task\n"
    )
    lines = [
        "| engine | build-vocab s | MB/s | encode s | MB/s | vs local (vocab, encode) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    base_v, base_e = rows[0][1], rows[0][2]
    for name, sv, se in rows:
        lines.append(
            f"| {name} | {sv:.1f} | {mb / sv:.1f} | {se:.1f} | {mb / se:.1f} | "
            f"{base_v / sv:.2f}x, {base_e / se:.2f}x |"
        )
    table = "\n".join(lines)
    print(table)
    if opts.out:
        with open(opts.out, "a") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
