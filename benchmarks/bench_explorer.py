"""The explorer page (``embedcli explore``): its size and build time at 2,000 and 20,000 mapped
words, and how far the page's packed vectors (int8 with a per-row scale, float16) move the
cosine top-10 away from the float32 model's (not a timed test).

MODELS are model directories (a word-vector model from ``pretrain`` and a classifier trained
with --minn/--maxn). For each: pages with the default options at ``--top 2000`` and ``20000``
(bytes, wall seconds of the command), then, over the 2,000 mapped words, the top-10 from the
float64 cosine of the model's vectors against the top-10 on the page's decoded vectors (mean
overlap, share of identical lists), and the same for unknown words (misspellings of vocabulary
words ranked 2,000-2,300: a middle letter dropped), composed from every stored n-gram row.
``page_search`` (the page's algorithm) is checked against numpy's product on the decoded vectors.

    flock /work/wt/bench.lock .venv/bin/python benchmarks/bench_explorer.py MODEL... \\
        --markdown benchmarks/results/explorer.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embedcli.cli.model_common import open_table  # noqa: E402
from embedcli.explorer import (  # noqa: E402
    cosine_neighbours,
    decode_search,
    oov_vector,
    pack_rows,
    page_json,
    page_search,
    search_table,
    top_word_ids,
    unit_rows,
    word_vectors,
)

K = 10


def build(model: str, out: Path, *args: str) -> tuple[int, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "embedcli", "explore", model, "-o", str(out), "--force", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    secs = time.perf_counter() - t0
    inner = float(re.search(r"built in ([0-9.]+) s", r.stderr).group(1))
    return out.stat().st_size, secs, inner


def overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    same = [len(set(x) & set(y)) / len(x) for x, y in zip(a.tolist(), b.tolist(), strict=True)]
    ident = [x == y for x, y in zip(a.tolist(), b.tolist(), strict=True)]
    return float(np.mean(same)), float(np.mean(ident))


def quality(model: str) -> dict:
    table = open_table(model, classifier=True)
    ids, _ = top_word_ids(table, 2000)
    full = unit_rows(word_vectors(table, ids))
    ref, _ = cosine_neighbours(full, None, K)
    out: dict = {}
    # unknown words: misspellings of less frequent words, not themselves words of the model
    later, _ = top_word_ids(table, 2300)
    vocab = set(table.vocab.tokens)
    typos = []
    for i in later[2000:]:
        w = table.vocab.tokens[int(i)]
        t = w[: len(w) // 2] + w[len(w) // 2 + 1 :]
        if len(w) >= 5 and t not in vocab:
            typos.append(t)
    oov = [oov_vector(table, t) for t in typos]
    keep = [j for j, v in enumerate(oov) if v is not None]
    typos = [typos[j] for j in keep]
    oov_ref = cosine_neighbours(full, unit_rows(np.array([oov[j] for j in keep])), K)[0]
    for precision in ("int8", "float16"):
        packed, _ = pack_rows(full, precision)
        dec = unit_rows(packed.astype(np.float64))
        got, _ = cosine_neighbours(dec, None, K)
        o, ident = overlap(ref, got)
        st = search_table(table, search_words=2000, ngram_words=1_000_000, precision=precision)
        data = json.loads(page_json_of(table, st))
        arrays = decode_search(data)
        rows = data_rows(st)
        pages = [page_search(data, t, arrays=arrays) for t in typos]
        page_nbr = np.array([p.neighbours for p in pages])
        o2, ident2 = overlap(oov_ref, page_nbr)
        # the page's algorithm against numpy's product on the same decoded vectors
        mismatch = 0
        for j in range(0, 2000, 10):
            p = page_search(data, data["words"][j], arrays=arrays)
            if (
                p.neighbours
                != cosine_neighbours(unit_rows(rows), unit_rows(rows[[j]]), K + 1)[0][0][
                    1:
                ].tolist()
            ):
                mismatch += 1
        for p in pages:
            if (
                p.neighbours
                != cosine_neighbours(unit_rows(rows), unit_rows(p.vector[None]), K)[0][0].tolist()
            ):
                mismatch += 1
        out[precision] = {
            "words_overlap": o,
            "words_identical": ident,
            "oov_words": len(typos),
            "oov_overlap": o2,
            "oov_identical": ident2,
            "page_vs_numpy_mismatches": mismatch,
            "page_vs_numpy_queries": 200 + len(pages),
        }
    return out


def data_rows(st) -> np.ndarray:
    return st.rows[:2000].astype(np.float64)


def page_json_of(table, st) -> str:
    from embedcli.explorer import ExplorerData

    n = 2000
    data = ExplorerData(
        title="bench",
        kind="x",
        method="pca",
        dim=int(st.rows.shape[1]),
        words=st.words[:n],
        ids=np.arange(n),
        counts=None,
        xy=np.zeros((n, 2)),
        k=K,
        search=st,
    )
    return page_json(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--markdown")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            res: dict = {"pages": {}}
            for top in (2000, 20000):
                size, secs, inner = build(model, Path(tmp) / "p.html", "--top", str(top))
                res["pages"][f"top {top}"] = {"bytes": size, "seconds": secs, "build": inner}
                print(model, top, size, f"{secs:.2f}s", f"(built in {inner:.2f} s)", flush=True)
            size, secs, inner = build(
                model, Path(tmp) / "p.html", "--top", "2000", "--ngram-words", "1000000"
            )
            res["pages"]["top 2000, every n-gram row"] = {
                "bytes": size,
                "seconds": secs,
                "build": inner,
            }
            print(model, "all ngrams", size, f"{secs:.2f}s", flush=True)
            res["quality"] = quality(model)
            print(json.dumps(res["quality"], indent=1), flush=True)
            results[model] = res
    if args.markdown:
        lines = ["# embedcli explore: page size, build time, packed-vector error", ""]
        lines.append("| model | page | bytes | MB | command s | build s |")
        lines.append("|---|---|---:|---:|---:|---:|")
        for model, res in results.items():
            for name, p in res["pages"].items():
                lines.append(
                    f"| {model} | {name} | {p['bytes']:,} | {p['bytes'] / 1e6:.2f} "
                    f"| {p['seconds']:.2f} | {p['build']:.2f} |"
                )
        lines += [
            "",
            "| model | precision | words: top-10 overlap | identical lists "
            "| OOV: overlap | identical | page vs numpy mismatches |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for model, res in results.items():
            for prec, q in res["quality"].items():
                lines.append(
                    f"| {model} | {prec} | {q['words_overlap']:.4f} | {q['words_identical']:.3f} "
                    f"| {q['oov_overlap']:.4f} ({q['oov_words']} words) | {q['oov_identical']:.3f} "
                    f"| {q['page_vs_numpy_mismatches']} of {q['page_vs_numpy_queries']} |"
                )
        Path(args.markdown).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
