"""Benchmark the training engine on ../shared/data (fastText-format datasets).

Tokenizes like the peers harness (lowercase, ``\\w+|[^\\w\\s]``), builds a minCount-1
vocabulary (PAD 0, UNK 1; test OOV words dropped as fastText does), caches the encoded arrays
under /tmp/embedcli-bench, then trains with ``embedcli.train.fit`` and prints test accuracy,
train seconds and tokens/s (median over ``--repeat`` runs).

    NUMBA_CACHE_DIR=.numba_cache .venv/bin/python benchmarks/bench_engine.py --dim 50 --threads 2
    ... --datasets imdb --optimizer sgd --lr 0.5 --word-ngrams 2 --epochs 5   # fastText mirror
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embedcli.train import TrainConfig, evaluate_arrays, fit  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CACHE = Path("/tmp/embedcli-bench")
TOKEN_RE = re.compile(r"\w+|[^\w\s]")
DATASETS = ["sms_spam", "trec6", "sst2", "20newsgroups", "imdb"]
TARGETS = {"sms_spam": 0.992, "trec6": 0.896, "sst2": 0.818, "20newsgroups": 0.841, "imdb": 0.898}


@dataclass
class Arrays:
    tokens: np.ndarray
    offsets: np.ndarray
    label_ids: np.ndarray
    label_offsets: np.ndarray


def _read(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            labs, words = [], []
            for p in line.split():
                (labs if p.startswith("__label__") else words).append(p)
            labels.append([x[len("__label__") :] for x in labs])
            texts.append(TOKEN_RE.findall(" ".join(words).lower()))
    return texts, labels


def _encode(texts, labels, word_id, label_id, drop_oov: bool) -> Arrays:
    toks, offs, labs, loffs = [], [0], [], [0]
    for words, ls in zip(texts, labels, strict=True):
        ids = [word_id.get(w, -1) for w in words]
        ids = [i for i in ids if i >= 0] if drop_oov else [i if i >= 0 else 1 for i in ids]
        toks.extend(ids)
        offs.append(len(toks))
        labs.extend(label_id.get(x, -1) for x in ls)
        loffs.append(len(labs))
    return Arrays(
        np.array(toks, dtype=np.int32),
        np.array(offs, dtype=np.int64),
        np.array(labs, dtype=np.int32),
        np.array(loffs, dtype=np.int64),
    )


def load(name: str) -> tuple[Arrays, Arrays, int, int]:
    """(train, test, num_words, num_classes), cached as .npz."""
    cache = CACHE / f"{name}.npz"
    if cache.exists():
        z = np.load(cache)
        tr = Arrays(*(z[f"tr_{k}"] for k in ("tokens", "offsets", "label_ids", "label_offsets")))
        te = Arrays(*(z[f"te_{k}"] for k in ("tokens", "offsets", "label_ids", "label_offsets")))
        return tr, te, int(z["num_words"]), int(z["num_classes"])
    tr_t, tr_l = _read(DATA / name / "train.txt")
    te_t, te_l = _read(DATA / name / "test.txt")
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for words in tr_t:
        for w in words:
            counts[w] += 1
            first.setdefault(w, len(first))
    vocab = sorted(counts, key=lambda w: (-counts[w], first[w]))
    word_id = {w: i + 2 for i, w in enumerate(vocab)}
    lcounts: Counter[str] = Counter(x for ls in tr_l for x in ls)
    lfirst: dict[str, int] = {}
    for ls in tr_l:
        for x in ls:
            lfirst.setdefault(x, len(lfirst))
    label_id = {x: i for i, x in enumerate(sorted(lcounts, key=lambda x: (-lcounts[x], lfirst[x])))}
    tr = _encode(tr_t, tr_l, word_id, label_id, drop_oov=True)
    te = _encode(te_t, te_l, word_id, label_id, drop_oov=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(
        cache,
        **{f"tr_{k}": v for k, v in tr.__dict__.items()},
        **{f"te_{k}": v for k, v in te.__dict__.items()},
        num_words=len(word_id) + 2,
        num_classes=len(label_id),
    )
    return tr, te, len(word_id) + 2, len(label_id)


def run(name: str, cfg: TrainConfig, repeat: int) -> dict:
    from embedcli.model import predict_proba

    tr, te, nw, nc = load(name)
    accs, secs, tps = [], [], []
    for r in range(repeat):
        c = TrainConfig(**{**cfg.to_dict(), "seed": cfg.seed + r})
        res = fit(tr, c, num_words=nw, num_classes=nc)
        t0 = time.perf_counter()
        probs = predict_proba(
            res.params, res.spec, te.tokens, te.offsets, threads=res.config.threads
        )
        pred_s = time.perf_counter() - t0
        ev = evaluate_arrays(probs, te.label_ids, te.label_offsets)
        accs.append(ev["accuracy"])
        secs.append(res.seconds)
        tps.append(res.tokens_per_s)
    return {
        "dataset": name,
        "accuracy": statistics.mean(accs),
        "acc_min": min(accs),
        "acc_max": max(accs),
        "train_s": statistics.median(secs),
        "tokens_per_s": statistics.median(tps),
        "predict_s": pred_s,
        "target": TARGETS[name] - 0.005,
        "epochs": res.config.epochs,
        "lr": res.config.lr,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", default=None)
    for f in TrainConfig.__dataclass_fields__.values():
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("int", "bool"):
            ap.add_argument(flag, type=int, default=None)
        elif f.type in ("float", "float | None"):
            ap.add_argument(flag, type=float, default=None)
        else:
            ap.add_argument(flag, default=None)
    args = ap.parse_args()
    over = {
        k: v
        for k, v in vars(args).items()
        if k in TrainConfig.__dataclass_fields__ and v is not None
    }
    if "freeze_embeddings" in over:
        over["freeze_embeddings"] = bool(over["freeze_embeddings"])
    if over.get("class_weight") == "none":
        over["class_weight"] = None
    cfg = TrainConfig(**over)
    rows = []
    print(f"config overrides: {over}", flush=True)
    print(
        f"{'dataset':14s} {'acc':>7s} {'(min-max)':>15s} {'target':>7s} {'train s':>8s} {'tok/s':>12s} {'pred s':>7s} ep  lr"
    )
    for name in args.datasets.split(","):
        if not (DATA / name / "train.txt").exists():
            print(f"{name}: missing, skipped")
            continue
        r = run(name, cfg, args.repeat)
        rows.append(r)
        mark = "ok" if r["accuracy"] >= r["target"] else "LOW"
        print(
            f"{name:14s} {r['accuracy']:7.4f} ({r['acc_min']:.4f}-{r['acc_max']:.4f}) {r['target']:7.3f} "
            f"{r['train_s']:8.2f} {r['tokens_per_s']:12,.0f} {r['predict_s']:7.2f} {r['epochs']:2d}  {r['lr']:g} {mark}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"overrides": over, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
