"""Benchmark the text exports of a real table: npy against csv, word2vec, projector and embed's
tsv formatting, with the three ways of formatting float32 text embedcli has had.

    python benchmarks/bench_export.py MODEL_DIR [--json out.json] [--formats csv,word2vec,...]

- ``str``: ``str(np.float32(x))`` per value (the exporters before they were vectorised);
- ``numpy``: ``exporters.format_rows``'s whole-array NumPy path (no numba);
- ``compiled``: ``embedcli.float_text``'s kernel, which ``format_rows`` takes for blocks of
  ``KERNEL_MIN_VALUES`` values or more (what ``embedcli export`` runs now).

Each variant writes the whole table (every row: padding, words, n-gram buckets) through
``exporters.export_embeddings`` to a temporary directory; the files of every variant are checked
to be byte-identical. Wall and CPU seconds (this process) per export; the kernel's one-time
compilation is done before timing (it is cached on disk after the first run). Prints JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedcli import exporters as ex  # noqa: E402
from embedcli.vocab import Vocabulary  # noqa: E402


def str_rows(block: np.ndarray, sep: str) -> list[str]:
    return [sep.join(map(str, row)) + "\n" for row in block]


def digest(paths: list[str]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--formats", default="npy,csv,word2vec,word2vec-binary,projector")
    ap.add_argument("--variants", default="str,numpy,compiled")
    ap.add_argument("--json")
    args = ap.parse_args()
    model = Path(args.model)
    table = np.load(model / "embeddings.npy", mmap_mode="r")
    vocab = Vocabulary.load(model / "vocab.tsv")
    rows = ex.select_rows(vocab.tokens, len(table), first_word=2, counts=vocab.counts)
    real_format_rows, real_min = ex.format_rows, ex.KERNEL_MIN_VALUES
    ex.format_rows(np.ones((ex.KERNEL_MIN_VALUES, 1), np.float32), " ")  # compile/load once
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            digests = set()
            for variant in (
                args.variants.split(",") if fmt not in ("npy", "word2vec-binary") else ["-"]
            ):
                ex.format_rows, ex.KERNEL_MIN_VALUES = real_format_rows, real_min
                if variant == "str":
                    ex.format_rows = str_rows
                elif variant == "numpy":
                    ex.KERNEL_MIN_VALUES = 1 << 62
                out = str(Path(tmp) / f"{fmt}-{variant}") + ("" if fmt == "projector" else ".out")
                c0, w0 = time.process_time(), time.perf_counter()
                paths = ex.export_embeddings(table, rows, fmt, out)
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                digests.add(digest(paths[:2]))
                mb = sum(Path(p).stat().st_size for p in paths) / 1e6
                results.append(
                    {
                        "format": fmt,
                        "variant": variant,
                        "wall_s": round(wall, 2),
                        "cpu_s": round(cpu, 2),
                        "MB": round(mb, 1),
                    }  # fmt: skip
                )
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            assert len(digests) == 1, f"{fmt}: the variants wrote different bytes"
    ex.format_rows, ex.KERNEL_MIN_VALUES = real_format_rows, real_min
    report = {"table": list(table.shape), "results": results}
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
