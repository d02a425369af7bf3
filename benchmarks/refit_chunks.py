"""Test accuracy of ``train``'s defaults (dim 50) on 20newsgroups with one chunk per epoch (plain
``train``) or ~500k-token chunks (what the autotune's trials and, before, its refit used), on
2 or 1 threads (not a timed test). Results: ``benchmarks/results/autotune_refit_chunks.md``.

    python benchmarks/refit_chunks.py plain|chunked THREADS SEEDS   # e.g. chunked 2 0,1,2
"""

import sys

import embedcli
from embedcli import train as T

mode = sys.argv[1]
orig = T.TrainingRun.run_epoch


def run_epoch(self, epoch):
    if mode == "chunked":
        n_batches = -(-self.corpus.n_docs // self.cfg.batch_size)
        self.n_chunks = int(
            min(n_batches, max(self.n_chunks, int(self.tokens_per_epoch // 500_000) + 1))
        )
    if epoch == 1:
        print("n_chunks", self.n_chunks, file=sys.stderr)
    return orig(self, epoch)


T.TrainingRun.run_epoch = run_epoch
d = "/work/shared/data/20newsgroups/"
for s in [int(x) for x in sys.argv[3].split(",")]:
    m = embedcli.train(d + "train.txt", dim=50, threads=int(sys.argv[2]), seed=s)
    print(mode, s, m.evaluate(d + "test.txt")["accuracy"], flush=True)
