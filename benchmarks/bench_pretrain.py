"""Benchmark of ``embedcli.pretrain.train_vectors``: words/s, seconds, peak RSS, and (when gensim is
importable) the analogy / WordSim-353 / SimLex-999 scores of the vectors by gensim's evaluators.

Usage:
    python benchmarks/bench_pretrain.py [--corpus FILE] [--limit-tokens N] [--epochs 5]
        [--threads 2] [--dim 100] [--configs sg,cbow,sg-sub,cbow-sub] [--sample 1e-4] [--json OUT]
        [--peers gensim-sg,gensim-cbow,fasttext-sg,fasttext-cbow,fasttext-sg-sub]

The corpus is a tokenized text file, one document per line, tokens split on spaces (the peers'
``/tmp/peers-cache/unsup-*.txt`` when present); without one, the imdb text of ``../shared/data``
(train + test, ``__label__`` tokens dropped) is tokenized with a lowercase ``\\w+|[^\\w\\s]`` split
and cached under ``/tmp/embedcli-bench-pretrain/``. Vocabulary: min count 5, sorted by count. Each
config runs in its own subprocess (fresh peak RSS); words/s = corpus tokens x epochs / training
seconds (the peers' harness definition; reading and encoding are reported apart).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time
from array import array
from collections import Counter

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = "/tmp/embedcli-bench-pretrain"
CONFIGS = {
    "sg": {"method": "skipgram", "minn": 0},
    "cbow": {"method": "cbow", "minn": 0},
    "sg-sub": {"method": "skipgram", "minn": 3, "maxn": 6},
    "cbow-sub": {"method": "cbow", "minn": 3, "maxn": 6},
}
TOKEN = re.compile(r"\w+|[^\w\s]")


def default_corpus() -> str:
    peers = sorted(glob.glob("/tmp/peers-cache/unsup-*.txt"))
    if peers:
        return peers[0]
    out = os.path.join(CACHE, "imdb.txt")
    if os.path.exists(out):
        return out
    os.makedirs(CACHE, exist_ok=True)
    data = os.path.abspath(os.path.join(HERE, "..", "..", "shared", "data", "imdb"))
    with open(out + ".tmp", "w", encoding="utf-8") as w:
        for name in ("train.txt", "test.txt"):
            with open(os.path.join(data, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    text = " ".join(p for p in line.split() if not p.startswith("__label__"))
                    toks = TOKEN.findall(text.lower())
                    if toks:
                        w.write(" ".join(toks) + "\n")
    os.replace(out + ".tmp", out)
    return out


def _lines(path: str, limit: int):
    """The token lists of the lines, stopping after ``limit`` tokens (0 = all)."""
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            toks = line.split()
            if limit and n + len(toks) > limit:
                toks = toks[: limit - n]
            if toks:
                yield toks
                n += len(toks)
            if limit and n >= limit:
                return


def encode(path: str, limit: int, min_count: int = 5):
    """(ids int32, offsets int64, counts int64, words, tokens read) of the first ``limit`` tokens
    (0 = all): two streaming passes (count, then encode), so memory is the vocabulary + the ids."""
    c: Counter = Counter()
    for toks in _lines(path, limit):
        c.update(toks)
    words = sorted((w for w, k in c.items() if k >= min_count), key=lambda w: (-c[w], w))
    index = {w: i for i, w in enumerate(words)}
    ids, offsets = array("i"), array("q", [0])
    get = index.get
    for toks in _lines(path, limit):
        ids.extend(i for i in map(get, toks) if i is not None)
        offsets.append(len(ids))
    counts = np.array([c[w] for w in words], dtype=np.int64)
    ntok = sum(c.values())
    return np.frombuffer(ids, np.int32), np.frombuffer(offsets, np.int64), counts, words, ntok


def evaluate(words: list[str], vectors: np.ndarray) -> dict:
    try:
        import logging

        logging.disable(logging.WARNING)
        import gensim.test.utils as tu
        from gensim.models import KeyedVectors
    except ImportError:
        return {}
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors)
    an, _ = kv.evaluate_word_analogies(tu.datapath("questions-words.txt"), restrict_vocab=30000)
    ws = kv.evaluate_word_pairs(tu.datapath("wordsim353.tsv"))
    sl = kv.evaluate_word_pairs(tu.datapath("simlex999.txt"))
    return {"analogy": an, "wordsim353": ws[1][0], "simlex999": sl[1][0]}


def worker(cfg: dict) -> dict:
    import resource

    sys.path.insert(0, os.path.dirname(HERE))
    from embedcli.pretrain import PretrainCorpus, PretrainSpec, train_vectors

    t = time.perf_counter()
    ids, offsets, counts, words, ntok = encode(cfg["corpus"], cfg["limit"])
    read_s = time.perf_counter() - t
    spec = PretrainSpec(**cfg["spec"])
    corpus = PretrainCorpus(ids, offsets, counts, words)
    # compile outside the timing (a tiny run of the same config)
    train_vectors(
        PretrainCorpus(ids[:2000], np.array([0, 2000]), counts, words),
        PretrainSpec(**{**cfg["spec"], "epochs": 1, "threads": 1}),
    )
    cpu0 = time.process_time()
    tv = train_vectors(corpus, spec)
    cpu = time.process_time() - cpu0
    row = {
        "name": cfg["name"],
        "spec": cfg["spec"],
        "corpus_tokens": ntok,
        "vocab": len(words),
        "read_encode_s": read_s,
        "train_s": tv.stats["seconds"],
        "words_per_s": ntok * spec.epochs / tv.stats["seconds"],
        "kernel_words_per_s": tv.stats["words_per_second"],
        "cpu_s": cpu,
        "prepare_s": tv.stats["prepare_seconds"],
        "compose_s": tv.stats["compose_seconds"],
        "load1": os.getloadavg()[0],
        "loss": tv.stats["loss"],
        "subword_rows": tv.stats["subword_rows"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if not cfg.get("no_eval"):
        row.update(evaluate(words, tv.vectors))
    return row


PEER = r"""
import json, resource, sys, time
cfg = json.loads(sys.argv[1])
t = time.perf_counter()
c = time.process_time()
if cfg["peer"] == "gensim":
    from gensim.models import Word2Vec
    m = Word2Vec(corpus_file=cfg["corpus"], vector_size=cfg["dim"], window=5, negative=5,
                 min_count=5, sg=int(cfg["method"] == "skipgram"), sample=1e-3,
                 epochs=cfg["epochs"], workers=cfg["threads"], seed=1)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    words, vectors = list(m.wv.index_to_key), m.wv.vectors
else:
    import fasttext
    m = fasttext.train_unsupervised(cfg["corpus"], model=cfg["method"], dim=cfg["dim"], ws=5,
                                    neg=5, minCount=5, epoch=cfg["epochs"],
                                    thread=cfg["threads"], minn=cfg["minn"], maxn=cfg["maxn"],
                                    verbose=0)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    words = m.get_words()
    vectors = [m.get_word_vector(w).tolist() for w in words]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with open(cfg["out"], "w") as f:
    json.dump({"words": words, "vectors": [list(map(float, v)) for v in vectors]}, f)
print(json.dumps({"train_s": secs, "cpu_s": cpu, "peak_rss_mb": rss}))
"""


def run_peer(name: str, a, corpus: str, ntok: int) -> dict:
    """gensim (sample 1e-3, as the peers' harness) or fastText (its defaults) on the same file;
    scored by the same gensim evaluators."""
    peer, method, *sub = name.split("-")
    py = a.fasttext_python if peer == "fasttext" else sys.executable
    out = os.path.join(CACHE, f"peer-{name}.json")
    cfg = {
        "peer": peer,
        "method": {"sg": "skipgram"}.get(method, method),
        "corpus": corpus,
        "dim": a.dim,
        "epochs": a.epochs,
        "threads": a.threads,
        "minn": 3 if sub else 0,
        "maxn": 6 if sub else 0,
        "out": out,
    }
    r = subprocess.run([py, "-c", PEER, json.dumps(cfg)], capture_output=True, text=True)
    if r.returncode != 0:
        return {"name": name, "error": r.stderr.strip().splitlines()[-3:]}
    row = {"name": name, **json.loads(r.stdout.strip().splitlines()[-1])}
    row["words_per_s"] = ntok * a.epochs / row["train_s"]
    row["load1"] = os.getloadavg()[0]
    with open(out) as f:
        got = json.load(f)
    os.unlink(out)
    row.update(evaluate(got["words"], np.array(got["vectors"], dtype=np.float32)))
    return row


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(worker(json.loads(sys.argv[2]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus")
    ap.add_argument("--limit-tokens", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--sample", type=float, default=1e-4)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--configs", default="sg,cbow,sg-sub,cbow-sub")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument(
        "--peers",
        default="",
        help="also run peers on the same file, e.g. gensim-sg,gensim-cbow,fasttext-sg,"
        "fasttext-cbow,fasttext-sg-sub (fastText from --fasttext-python)",
    )
    ap.add_argument("--fasttext-python", default="/tmp/pt-ft-venv/bin/python")
    ap.add_argument("--json")
    a = ap.parse_args()
    corpus = a.corpus or default_corpus()
    rows = []
    for name in filter(None, a.peers.split(",")):
        ntok = sum(len(line.split()) for line in open(corpus, encoding="utf-8"))
        row = run_peer(name, a, corpus, ntok)
        print(json.dumps(row), flush=True)
        rows.append(row)
    for name in filter(None, a.configs.split(",")):
        spec = {
            **CONFIGS[name],
            "dim": a.dim,
            "epochs": a.epochs,
            "threads": a.threads,
            "sample": a.sample,
            "lr": a.lr,
            "seed": 1,
        }
        cfg = {
            "name": name,
            "corpus": corpus,
            "limit": a.limit_tokens,
            "spec": spec,
            "no_eval": a.no_eval,
        }
        r = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(cfg)], capture_output=True, text=True
        )
        if r.returncode != 0:
            row = {"name": name, "error": r.stderr.strip().splitlines()[-3:]}
        else:
            row = json.loads(r.stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        rows.append(row)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"corpus": corpus, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
