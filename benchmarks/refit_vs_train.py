"""Test accuracy of plain ``train`` against the autotune's refit of the same defaults (one search
trial on a 0.1 split, then the refit on all documents), 2 threads, a few seeds (not a timed test).
Results: ``benchmarks/results/autotune_refit_chunks.md``.

    python benchmarks/refit_vs_train.py 20newsgroups plain|refit 0,1,2 [WORKDIR]
"""

import sys
import tempfile
import time
from pathlib import Path

import embedcli
from embedcli import train as T

orig = T.TrainingRun.run_epoch


def run_epoch(self, epoch):
    if epoch == 1:
        print("n_chunks", self.n_chunks, "docs", self.corpus.n_docs, file=sys.stderr, flush=True)
    return orig(self, epoch)


T.TrainingRun.run_epoch = run_epoch
ds, mode, seeds = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split(",")]
work = Path(sys.argv[4] if len(sys.argv) > 4 else tempfile.mkdtemp(prefix="refit-vs-train-"))
d = Path(__file__).resolve().parents[2] / "shared" / "data" / ds
for s in seeds:
    t = time.time()
    if mode == "plain":
        m = embedcli.train(str(d / "train.txt"), threads=2, seed=s)
    else:
        out = work / f"refit_{ds}_{s}"
        m = embedcli.train(
            str(d / "train.txt"), threads=2, seed=s, val_split=0.1, autotune_trials=1,
            autotune_duration=600, output=str(out), force=True,
        )  # fmt: skip
    acc = m.evaluate(str(d / "test.txt"))["accuracy"]
    print(ds, mode, s, round(acc, 4), round(time.time() - t, 1), flush=True)
