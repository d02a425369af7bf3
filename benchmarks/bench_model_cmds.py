"""Benchmark the model commands: start-up, lookup latency, nearest on 1M rows, predict throughput.

    python benchmarks/bench_model_cmds.py [--dataset ../shared/data/imdb] [--fasttext-python PY]

- ``embedcli --help`` and ``embedcli lookup`` wall time (subprocess, best of 3) on a generated
  100k-word, dim-100 model (targets: 0.3 s and 0.5 s);
- ``nearest`` on a generated 1M-row table: index build (row norms) and per-query time;
- ``predict`` wall time and lines/s on DATASET/test.txt with a model trained by the library on
  DATASET/train.txt (dim 50, 5 epochs, bigrams, 2 threads); with ``--fasttext-python`` (a Python
  that has ``fasttext`` installed, e.g. /tmp/ftvenv/bin/python) the same for fastText.

Prints one JSON object. Models go to a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def best_of(cmd: list[str], n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return min(times)


def random_model(path: Path, rows: int, dim: int) -> None:
    from embedcli.modeldir import save_model
    from embedcli.vocab import Vocabulary

    tokens = ["", "[UNK]"] + [f"w{i}" for i in range(rows - 2)]
    vocab = Vocabulary(
        tokens, [0, 0] + list(range(rows - 2, 0, -1)), labels=["a", "b"], label_counts=[1, 1]
    )
    params = types.SimpleNamespace(
        embeddings=np.random.default_rng(0).standard_normal((rows, dim), dtype=np.float32),
        out_W=np.zeros((dim, 2), np.float32),
        out_b=np.zeros(2, np.float32),
    )
    spec = dict(
        num_words=rows,
        buckets=0,
        dim=dim,
        num_classes=2,
        pool="mean",
        hidden=0,
        objective="softmax",
    )
    save_model(path, spec=spec, params=params, vocab=vocab, train_config={})


def bench_nearest(rows: int = 1_000_000, dim: int = 100) -> dict:
    from embedcli.similarity import NeighborIndex

    table = np.random.default_rng(1).standard_normal((rows, dim), dtype=np.float32)
    t = time.perf_counter()
    index = NeighborIndex(table, 2, rows)
    build = time.perf_counter() - t
    t = time.perf_counter()
    index.nearest(list(range(10, 42)), k=10)
    per_query = (time.perf_counter() - t) / 32
    return {
        "rows": rows,
        "dim": dim,
        "index_s": round(build, 3),
        "query_ms": round(per_query * 1e3, 2),
    }


def train_model(dataset: Path, out: Path) -> dict:
    from embedcli.corpus import CorpusOptions, CorpusReader
    from embedcli.modeldir import save_model
    from embedcli.sequences import encode_corpus
    from embedcli.text import make_tokenizer_config
    from embedcli.train import TrainConfig, fit
    from embedcli.vocab import build_vocabulary, vocab_options

    docs = list(CorpusReader([dataset / "train.txt"], CorpusOptions(skip_blank=True)))
    vocab, _ = build_vocabulary(docs, make_tokenizer_config(), vocab_options("embedcli"))
    cfg = TrainConfig(dim=50, epochs=5, word_ngrams=2, threads=2, seed=0)
    res = fit(encode_corpus(docs, vocab), cfg, num_words=len(vocab), num_classes=len(vocab.labels))
    save_model(
        out,
        spec=res.spec.to_dict(),
        params=res.params,
        vocab=vocab,
        train_config=res.config.to_dict(),
    )
    return {"train_s": round(res.seconds, 2)}


FASTTEXT_SCRIPT = """
import json, sys, time, fasttext
train, test, out = sys.argv[1:4]
m = fasttext.train_supervised(train, dim=50, epoch=5, wordNgrams=2, thread=2, verbose=0)
m.save_model(out)
t = time.perf_counter()
m = fasttext.load_model(out)
lines = [l.rstrip("\\n") for l in open(test, encoding="utf-8")]
t1 = time.perf_counter()
m.predict(lines, k=1)
t2 = time.perf_counter()
n, p, r = m.test(test)
print(json.dumps({"load_read_s": round(t1 - t, 3), "predict_s": round(t2 - t1, 3),
                  "lines_per_s": round(len(lines) / (t2 - t1)), "total_s": round(t2 - t, 3), "P@1": p}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(HERE.parent.parent / "shared" / "data" / "sst2"))
    ap.add_argument("--fasttext-python", default=None)
    args = ap.parse_args()
    embedcli = str(BIN / "embedcli")
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        random_model(tmp / "m100k", 100_000, 100)
        results["help_s"] = round(best_of([embedcli, "--help"]), 3)
        results["lookup_100k_dim100_s"] = round(
            best_of([embedcli, "lookup", str(tmp / "m100k"), "w5", "w99"]), 3
        )
        results["nearest"] = bench_nearest()
        dataset = Path(args.dataset)
        if (dataset / "train.txt").is_file():
            results["train"] = train_model(dataset, tmp / "model")
            test = str(dataset / "test.txt")
            n_lines = sum(1 for _ in open(test, encoding="utf-8"))
            wall = best_of([embedcli, "predict", str(tmp / "model"), test], n=2)
            results["predict"] = {
                "dataset": dataset.name,
                "lines": n_lines,
                "wall_s": round(wall, 3),
                "lines_per_s_wall": round(n_lines / wall),
            }
            ev = subprocess.run(
                [embedcli, "evaluate", str(tmp / "model"), test, "--json"],
                capture_output=True,
                text=True,
                check=True,
            )
            results["predict"]["accuracy"] = json.loads(ev.stdout)["accuracy"]
            if args.fasttext_python:
                out = subprocess.run(
                    [
                        args.fasttext_python,
                        "-c",
                        FASTTEXT_SCRIPT,
                        str(dataset / "train.txt"),
                        test,
                        str(tmp / "ft.bin"),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={**os.environ, "PYTHONWARNINGS": "ignore"},
                )
                results["fasttext"] = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
