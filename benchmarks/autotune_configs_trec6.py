"""trec6: fastText's autotune winner (its trial 5 on seeds 0 and 1: SGD lr 0.085, dim 92, 100 epochs,
bigrams; buckets capped at embedcli's 2M), embedcli's defaults and its seeded SGD trial, each
trained by embedcli on the fit split of seeds 0, 1, 2 with three training seeds: mean validation
and test accuracy (not a timed test). Results: ``benchmarks/results/autotune_trec6_selection.md``.

    python benchmarks/autotune_configs_trec6.py
"""

import statistics as st
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_autotune import split  # noqa: E402

import embedcli  # noqa: E402

data = Path(__file__).resolve().parents[2] / "shared" / "data" / "trec6"
for seed in (0, 1, 2):
    work = Path(tempfile.mkdtemp())
    fit, val = split(data / "train.txt", work, seed)
    for name, kw in {
        "ft trial5": dict(
            optimizer="sgd",
            lr=0.085,
            dim=92,
            epochs=100,
            word_ngrams=2,
            buckets=2000000,
            dropout=0.0,
        ),
        "defaults": dict(),
        "sgd 2x (seeded 1)": dict(optimizer="sgd", dropout=0.0, epochs=0),
    }.items():
        vs, ts = [], []
        for s in (seed, 101, 102):
            m = embedcli.train(str(fit), seed=s, threads=2, **kw)
            vs.append(m.evaluate(str(val))["accuracy"])
            ts.append(m.evaluate(str(data / "test.txt"))["accuracy"])
        print(
            seed,
            name,
            f"val {st.mean(vs):.4f}",
            f"test {st.mean(ts):.4f}",
            [round(t, 3) for t in ts],
            flush=True,
        )
