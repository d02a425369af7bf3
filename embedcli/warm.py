"""Compile (or load from numba's cache) every kernel a training run will use, before it starts.

``train`` calls :func:`warm_kernels` between reading the corpus and the first epoch, so that
compile time is its own visible step ("compiling kernels (first run only)…") instead of a
progress bar frozen at 0 %, and is never counted in epoch 1's seconds or tokens/s.

How: one epoch of the same training (same optimizer, pool, objective, hidden layer, n-grams,
threads, dropout, class weights, frozen rows) on the first few documents, with a tiny embedding
width and bucket count. Numba specialises kernels on argument *types*, not sizes or values, so
this compiles exactly the specialisations the real run calls, and nothing else. A test set adds
one prediction pass (the end-of-run evaluation). With a warm cache this takes a few milliseconds.

Left out: the chunked featurizing path taken when the n-gram features exceed the memory limit
(its kernels then compile during epoch 1, as before).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedcli import kernels
from embedcli.errors import TrainingDiverged
from embedcli.model import predict_proba
from embedcli.train import TrainConfig, fit

#: documents of the warm-up run; enough for every kernel (batches, labels) to be called
WARM_DOCS = 16


@dataclass
class Warmed:
    compiled: int  # kernel specialisations compiled now (0: all came from the cache)
    loaded: int  # kernel specialisations loaded from the cache
    seconds: float


def dispatchers() -> dict[str, Any]:
    """Every kernel of ``embedcli.kernels`` by name: the module's functions and the entry
    kernels of ``TRAIN_ROWS``/``TRAIN_EXACT``/``PREDICT`` by their key (as
    ``TRAIN_ROWS[pool,objective,update]``, ``PREDICT[pool,objective]``)."""
    from numba.core.dispatcher import Dispatcher

    out = {}
    for name, obj in vars(kernels).items():
        if isinstance(obj, Dispatcher):
            out[name] = obj
        elif isinstance(obj, dict) and name.isupper():
            for key, fn in obj.items():
                if isinstance(fn, Dispatcher):
                    out[f"{name}[{','.join(map(str, key))}]"] = fn
    return out


def kernel_cache_stats() -> tuple[int, int]:
    """(compiled, loaded from cache) kernel specialisations so far in this process."""
    compiled = loaded = 0
    for fn in dispatchers().values():
        stats = fn.stats
        compiled += sum(stats.cache_misses.values())
        loaded += sum(stats.cache_hits.values())
    return compiled, loaded


def warm_kernels(prepared: Any) -> Warmed:
    """Run one tiny epoch of ``prepared``'s training so that its kernels are compiled now."""
    t0 = time.perf_counter()
    before = kernel_cache_stats()
    train = prepared.train
    tiny = train.subset(np.arange(min(WARM_DOCS, train.n_docs)))
    cfg = dict(prepared.plan.config)
    cfg.update(epochs=1, dim=min(int(cfg["dim"]), 4), patience=0)
    if int(cfg.get("hidden") or 0) > 0:
        cfg["hidden"] = min(int(cfg["hidden"]), 4)
    if int(cfg.get("word_ngrams") or 1) > 1 or int(cfg.get("minn") or 0) > 0:
        cfg["buckets"] = 64
    try:
        result = fit(
            tiny,
            TrainConfig(**cfg),
            val=tiny if prepared.val is not None else None,
            num_words=len(prepared.vocab),
            num_classes=len(prepared.vocab.labels),
        )
    except TrainingDiverged as exc:
        # the kernels ran (and compiled) before the loss was checked; the real run reports the
        # divergence itself, with what happened to the output
        result = exc.result
    if prepared.test is not None and result is not None:
        predict_proba(
            result.params,
            result.spec,
            tiny.tokens,
            tiny.offsets,
            threads=result.config.threads,
            hashes=tiny.hashes,
        )
    after = kernel_cache_stats()
    return Warmed(after[0] - before[0], after[1] - before[1], time.perf_counter() - t0)
