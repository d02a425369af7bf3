"""``quantize --retrain`` variants on one float model: the test accuracy of each (an
experiment, not a timed test; results in ``results/quantize_retrain_variants.jsonl``, README
"Quantization").

    PYTHONPATH=. .venv/bin/python benchmarks/quantize_retrain_variants.py DATASET FLOAT_MODEL_DIR \
        OUT.jsonl CUTOFF VARIANT...

VARIANT, dash-joined parts: ``none`` (cut, no retrain), ``base`` (the default retrain), ``all``
(retrain on every document, no held-out tenth), ``lrX`` (the model's lr times X), ``epY`` (its
epochs times Y), ``use`` (``--select usefulness``), ``sgdX`` (plain SGD at lr X in place of the model's optimizer), ``seedN`` (the quantize seed, 0). Each quantizes with dsub 2, 256 centroids,
qnorm, seed 0, 2 threads, and evaluates on ``../shared/data/DATASET/test.txt``.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from embedcli import quantize_run as qr

name, model, out, cutoff = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
variants = sys.argv[5:]
data = Path(__file__).resolve().parents[2] / "shared" / "data" / name
work = Path(out).parent / f"q_{name}"
work.mkdir(exist_ok=True)


def make(v: str):
    parts = v.split("-")
    lr_scale, ep_scale, use_all, select, sgd_lr, seed = 1.0, 1.0, False, "norm", None, 0
    for p in parts:
        if p.startswith("lr"):
            lr_scale = float(p[2:])
        elif p.startswith("ep"):
            ep_scale = float(p[2:])
        elif p.startswith("sgd"):
            sgd_lr = float(p[3:])
        elif p.startswith("seed"):
            seed = int(p[4:])
        elif p == "all":
            use_all = True
        elif p == "use":
            select = "usefulness"

    def retrain(table, dense, spec, data_, docs, config, opts, note):
        cfg = dict(config.get("train") or {})
        cfg["lr"] = float(cfg.get("lr") or 0.1) * lr_scale
        if sgd_lr is not None:
            cfg["optimizer"], cfg["lr"] = "sgd", sgd_lr
        epochs = max(1, round(int(cfg.get("epochs") or 5) * ep_scale))
        if use_all:
            docs = np.arange(len(data_.offsets) - 1, dtype=np.int64)
        qr.train_epochs(table, dense, spec, data_, docs, cfg, opts, note, epochs, 1, "retrain")
        return epochs

    return retrain, select, seed


for v in variants:
    retrain, select, seed = make(v)
    qr.retrain = retrain
    dst = work / f"{v}_{cutoff}_{time.time_ns()}"
    opts = qr.QuantizeOptions(
        dsub=2,
        ksub=256,
        cutoff=cutoff,
        retrain=not v.startswith("none"),
        qnorm=True,
        input=str(data / "train.txt") if not v.startswith("none") or select != "norm" else None,
        threads=2,
        seed=seed,
        select=select,
    )
    t0 = time.time()
    r = qr.quantize_model(model, dst, opts, lambda m: print("  ", m, file=sys.stderr))
    secs = time.time() - t0
    ev = subprocess.run(
        [sys.executable, "-m", "embedcli", "evaluate", str(dst), str(data / "test.txt"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    acc = json.loads(ev.stdout)
    acc = acc.get("accuracy", acc.get("precision_at_1"))
    row = {
        "dataset": name,
        "variant": v,
        "cutoff": cutoff,
        "acc": acc,
        "bytes": r.bytes_after,
        "seconds": round(secs, 1),
        "tuned": r.tuned,
    }
    print(json.dumps(row), flush=True)
    with open(out, "a") as f:
        f.write(json.dumps(row) + "\n")
