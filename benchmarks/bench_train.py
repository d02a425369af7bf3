"""Accuracy + speed benchmark of ``embedcli train`` against fastText, end to end.

For every dataset in ../shared/data (fastText format, ``train.txt`` / ``test.txt``) and every
config, this runs ``embedcli train TRAIN -o DIR --test TEST --json ...`` as a fresh subprocess and,
interleaved with it (embedcli, fastText, embedcli, fastText, ...), a fresh fastText worker process
(``train_supervised`` + ``test()``) with the same dim, epochs, lr, n-grams and threads. Both are
timed as wall seconds of the whole process, wrapped in ``/usr/bin/time -f %M`` for the peak RSS.

    bash benchmarks/setup_peers.sh        # fastText (fasttext-wheel 0.9.2) in its own venv
    NUMBA_CACHE_DIR=.numba_cache .venv/bin/python benchmarks/bench_train.py \\
        --repeat 3 --json benchmarks/results/train.json --markdown benchmarks/results/train.md

See benchmarks/README.md for the configs, the columns and the targets.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
PEERS_DIR = SHARED / "peers"
DATASETS = ["sms_spam", "trec6", "sst2", "20newsgroups", "imdb"]
PEERS_PATTERN = r"\w+|[^\w\s]"
# Best test accuracy of any peer in ../shared/peers/RESULTS.md (fastText, torch, keras).
BEST_PEER = {"sms_spam": 0.992, "trec6": 0.896, "sst2": 0.818, "20newsgroups": 0.841, "imdb": 0.898}
DEFAULT_TARGET_POINTS = 0.5  # default config: accuracy >= best peer - 0.5 points
MIRROR_ACC_POINTS = 0.3  # fasttext-mirror: accuracy >= fastText - 0.3 points
MIRROR_MAX_RATIO = 1.0  # fasttext-mirror: wall time <= 1.0 x fastText's

COMMON = ["--dim", "50", "--threads", "2"]
MIRROR = ["--optimizer", "sgd", "--lr", "0.5", "--word-ngrams", "2", "--epochs", "5"]
FT_MIRROR = {"lr": 0.5, "wordNgrams": 2, "epoch": 5, "minCount": 1}
# name -> (embedcli args, fastText train_supervised params, description)
CONFIGS: dict[str, tuple[list[str], dict[str, Any], str]] = {
    "default": (
        COMMON,
        {"dim": 50, "thread": 2},
        "embedcli --dim 50 --threads 2 (its defaults choose the rest) vs fastText defaults "
        "(lr 0.1, epoch 5, wordNgrams 1) with dim 50, thread 2",
    ),
    "fasttext-mirror": (
        COMMON + MIRROR + ["--buckets", "2000000"],
        {"dim": 50, "thread": 2, "bucket": 2_000_000, **FT_MIRROR},
        "embedcli --optimizer sgd --lr 0.5 --word-ngrams 2 --epochs 5 --buckets 2000000 vs fastText "
        "lr 0.5 wordNgrams 2 epoch 5 bucket 2000000 minCount 1 (dim 50, 2 threads)",
    ),
    "fasttext-mirror-1m": (
        COMMON + MIRROR,
        {"dim": 50, "thread": 2, "bucket": 1 << 20, **FT_MIRROR},
        "as fasttext-mirror but both with embedcli's default 1,048,576 buckets",
    ),
}

# The fastText worker: a fresh interpreter in the fastText venv; prints one JSON line.
FT_WORKER = r"""
import json, sys, time
t0 = time.perf_counter()
import fasttext
a = json.loads(sys.argv[1])
t1 = time.perf_counter()
m = fasttext.train_supervised(input=a["train"], verbose=0, loss="softmax", **a["params"])
t2 = time.perf_counter()
n, p1, _ = m.test(a["test"])
t3 = time.perf_counter()
if a.get("save"):
    m.save_model(a["save"])
args = m.f.getArgs()
print(json.dumps({"import_s": t1 - t0, "train_s": t2 - t1, "test_s": t3 - t2,
                  "test_n": n, "p_at_1": p1, "bucket": args.bucket, "lr": args.lr,
                  "epoch": args.epoch, "wordNgrams": args.wordNgrams, "dim": args.dim,
                  "thread": args.thread}), flush=True)
"""

# Peak RSS without /usr/bin/time: an intermediate process runs the command and reports the
# RUSAGE_CHILDREN high-water mark (its only child is the command).
RUSAGE_WRAPPER = r"""
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)
"""

TIME_BIN = "/usr/bin/time"


# --------------------------------------------------------------------------------------------
# process running
# --------------------------------------------------------------------------------------------


def run_measured(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``cmd``; return wall seconds, peak RSS (MB), exit code, stdout, stderr."""
    fd, rss_file = tempfile.mkstemp(prefix="bench-rss-")
    os.close(fd)
    if os.access(TIME_BIN, os.X_OK):
        full = [TIME_BIN, "-f", "%M", "-o", rss_file, *cmd]
    else:
        full = [sys.executable, "-c", RUSAGE_WRAPPER, rss_file, *cmd]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(full, env=env, capture_output=True, text=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = -9, "", f"timeout after {timeout} s: {e}"
    wall = time.perf_counter() - t0
    rss_mb = None
    try:
        txt = Path(rss_file).read_text().strip().splitlines()
        # /usr/bin/time writes "Command exited with non-zero status N" before %M on failure.
        rss_mb = int(txt[-1]) / 1024 if txt else None
    except (OSError, ValueError):
        pass
    finally:
        os.unlink(rss_file)
    return {"wall_s": wall, "peak_rss_mb": rss_mb, "rc": rc, "stdout": out, "stderr": err}


def embedcli_cmd() -> list[str]:
    script = Path(sys.executable).with_name("embedcli")
    return [str(script)] if script.exists() else [sys.executable, "-m", "embedcli"]


def run_embedcli(
    train: str, test: str, args: list[str], env: dict[str, str], timeout: float
) -> dict[str, Any]:
    out_dir = tempfile.mkdtemp(prefix="embedcli-bench-model-")
    model = os.path.join(out_dir, "model")
    cmd = [*embedcli_cmd(), "train", train, "-o", model, "--test", test, "--json", *args]
    r = run_measured(cmd, env, timeout)
    shutil.rmtree(out_dir, ignore_errors=True)
    res: dict[str, Any] = {
        "wall_s": r["wall_s"],
        "peak_rss_mb": r["peak_rss_mb"],
        "rc": r["rc"],
        "cmd": " ".join(cmd),
    }
    if r["rc"] != 0:
        res["error"] = _tail(r["stderr"])
        return res
    try:
        j = json.loads(r["stdout"])
    except json.JSONDecodeError:
        res["rc"] = -1
        res["error"] = "no JSON on stdout: " + _tail(r["stdout"] + r["stderr"])
        return res
    for k in (
        "test_accuracy",
        "train_seconds",
        "tokens_per_s",
        "seconds_total",
        "prep_seconds",
        "epochs",
        "epochs_run",
        "train_tokens",
        "train_documents",
        "vocab_size",
        "train_accuracy",
    ):
        res[k] = j.get(k)
    res["config"] = j.get("config")
    warn = [ln for ln in r["stderr"].splitlines() if "warn" in ln.lower() or "error" in ln.lower()]
    if warn:
        res["stderr_warnings"] = warn[:10]
    return res


def run_fasttext(
    ft_python: str,
    train: str,
    test: str,
    params: dict[str, Any],
    n_test: int,
    env: dict[str, str],
    timeout: float,
    save: bool,
) -> dict[str, Any]:
    out_dir = tempfile.mkdtemp(prefix="embedcli-bench-ft-")
    spec = {"train": train, "test": test, "params": params}
    if save:
        spec["save"] = os.path.join(out_dir, "model.bin")
    r = run_measured([ft_python, "-c", FT_WORKER, json.dumps(spec)], env, timeout)
    shutil.rmtree(out_dir, ignore_errors=True)
    res: dict[str, Any] = {"wall_s": r["wall_s"], "peak_rss_mb": r["peak_rss_mb"], "rc": r["rc"]}
    if r["rc"] != 0:
        res["error"] = _tail(r["stderr"])
        return res
    j = json.loads(r["stdout"].strip().splitlines()[-1])
    res.update(j)
    # fastText's test() skips test lines without a known word; count them as wrong, as
    # embedcli (which evaluates every test document) would have to get them right.
    res["accuracy"] = j["p_at_1"] * j["test_n"] / n_test if n_test else None
    return res


def _tail(s: str, n: int = 12) -> str:
    return "\n".join(s.strip().splitlines()[-n:])


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def count_labelled(path: str) -> int:
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if "__label__" in line and any(p.startswith("__label__") for p in line.split()):
                n += 1
    return n


_peers_mod = None


def peers_module() -> Any:
    """../shared/peers/peers.py, imported for its ``prepare_cache`` (stdlib-only at import)."""
    global _peers_mod
    if _peers_mod is None:
        spec = importlib.util.spec_from_file_location("peers", PEERS_DIR / "peers.py")
        assert spec and spec.loader
        _peers_mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_peers_mod)
    return _peers_mod


def dataset_files(data_dir: Path, name: str, tokenization: str) -> dict[str, str]:
    """Files each side trains/tests on, plus the embedcli tokenizer flags."""
    d = data_dir / name
    raw = {"train": str(d / "train.txt"), "test": str(d / "test.txt")}
    if tokenization == "raw":
        return {
            "e_train": raw["train"],
            "e_test": raw["test"],
            "f_train": raw["train"],
            "f_test": raw["test"],
            "e_args": [],
        }
    # peers: fastText reads the pre-tokenized copy peers.py writes to /tmp/peers-cache/<key>/;
    # embedcli reads the raw file with the same rule (lowercase, \w+ runs, each other
    # non-space character a token: --keep-punctuation, else punctuation is stripped first).
    cdir, _stats = peers_module().prepare_cache(str(d))
    return {
        "e_train": raw["train"],
        "e_test": raw["test"],
        "f_train": os.path.join(cdir, "train.tok.txt"),
        "f_test": os.path.join(cdir, "test.tok.txt"),
        "e_args": ["--token-pattern", PEERS_PATTERN, "--keep-punctuation"],
    }


# --------------------------------------------------------------------------------------------
# aggregation and tables
# --------------------------------------------------------------------------------------------


def _med(runs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def _mean(runs: list[dict], key: str) -> float | None:
    vals = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
    return sum(vals) / len(vals) if vals else None


def _range(runs: list[dict], key: str) -> list[float] | None:
    vals = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
    return [min(vals), max(vals)] if vals else None


def summarize(
    dataset: str, config: str, tokenization: str, e_runs: list[dict], f_runs: list[dict]
) -> dict[str, Any]:
    ok_e = [r for r in e_runs if r.get("rc") == 0]
    ok_f = [r for r in f_runs if r.get("rc") == 0]
    s: dict[str, Any] = {
        "dataset": dataset,
        "config": config,
        "tokenization": tokenization,
        "repeats": len(e_runs),
        "embedcli_ok": len(ok_e),
        "fasttext_ok": len(ok_f),
        "embedcli_acc": _mean(ok_e, "test_accuracy"),
        "embedcli_acc_range": _range(ok_e, "test_accuracy"),
        "fasttext_acc": _mean(ok_f, "accuracy"),
        "fasttext_acc_range": _range(ok_f, "accuracy"),
        "embedcli_wall_s": _med(ok_e, "wall_s"),
        "embedcli_wall_range": _range(ok_e, "wall_s"),
        "fasttext_wall_s": _med(ok_f, "wall_s"),
        "fasttext_wall_range": _range(ok_f, "wall_s"),
        "embedcli_train_s": _med(ok_e, "train_seconds"),
        "embedcli_prep_s": _med(ok_e, "prep_seconds"),
        "embedcli_seconds_total": _med(ok_e, "seconds_total"),
        "fasttext_train_s": _med(ok_f, "train_s"),
        "fasttext_test_s": _med(ok_f, "test_s"),
        "embedcli_tokens_per_s": _med(ok_e, "tokens_per_s"),
        "embedcli_peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in ok_e) if ok_e else None,
        "fasttext_peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in ok_f) if ok_f else None,
        "embedcli_epochs": ok_e[0].get("epochs_run") if ok_e else None,
        "embedcli_train_tokens": ok_e[0].get("train_tokens") if ok_e else None,
        "embedcli_vocab": ok_e[0].get("vocab_size") if ok_e else None,
        "embedcli_errors": [r["error"] for r in e_runs if r.get("rc") != 0],
        "fasttext_errors": [r["error"] for r in f_runs if r.get("rc") != 0],
    }
    ea, fa = s["embedcli_acc"], s["fasttext_acc"]
    s["acc_delta_points"] = 100 * (ea - fa) if ea is not None and fa is not None else None
    ew, fw = s["embedcli_wall_s"], s["fasttext_wall_s"]
    s["wall_ratio"] = ew / fw if ew and fw else None
    et, ft = s["embedcli_train_s"], s["fasttext_train_s"]
    s["train_ratio"] = et / ft if et and ft else None
    s["targets"] = targets(s)
    return s


def targets(s: dict[str, Any]) -> dict[str, Any]:
    t: dict[str, Any] = {}
    ea = s["embedcli_acc"]
    if ea is None:
        return {"status": "embedcli failed"}
    if s["config"] == "default":
        best = BEST_PEER.get(s["dataset"])
        if best is not None:
            t["best_peer_acc"] = best
            t["vs_best_peer_points"] = 100 * (ea - best)
            t["acc_ok"] = ea >= best - DEFAULT_TARGET_POINTS / 100 - 1e-9
    elif s["config"].startswith("fasttext-mirror"):
        if s["acc_delta_points"] is not None:
            t["acc_ok"] = s["acc_delta_points"] >= -MIRROR_ACC_POINTS - 1e-9
        if s["wall_ratio"] is not None:
            t["speed_ok"] = s["wall_ratio"] <= MIRROR_MAX_RATIO
    return t


def _f(v: Any, nd: int = 2) -> str:
    if v is None:
        return "-"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _acc(v: float | None, rng: list[float] | None) -> str:
    if v is None:
        return "-"
    if rng and rng[1] - rng[0] >= 0.0005:
        return f"{v:.4f} ({rng[0]:.3f}–{rng[1]:.3f})"
    return f"{v:.4f}"


def _target_cell(s: dict[str, Any]) -> str:
    t = s["targets"]
    if "status" in t:
        return t["status"]
    parts = []
    if "vs_best_peer_points" in t:
        mark = "ok" if t["acc_ok"] else "MISS"
        parts.append(
            f"{mark}: {t['vs_best_peer_points']:+.1f} pt vs best peer {t['best_peer_acc']}"
        )
    elif "acc_ok" in t:
        parts.append("acc ok" if t["acc_ok"] else "acc MISS")
    if "speed_ok" in t:
        parts.append("speed ok" if t["speed_ok"] else "speed MISS")
    return ", ".join(parts) or "-"


def markdown(summaries: list[dict[str, Any]]) -> str:
    head = (
        "| dataset | config | embedcli acc | fastText acc | Δ pt | embedcli wall s | "
        "fastText wall s | ratio | tok/s | peak RSS MB (e / ft) | train s (e / ft) | epochs | target |"
    )
    rows = [head, "|" + "---|" * 13]
    for s in summaries:
        cfg = s["config"] + ("" if s["tokenization"] == "raw" else f" [{s['tokenization']}]")
        if s["embedcli_errors"]:
            cfg += f" ({len(s['embedcli_errors'])} embedcli errors)"
        if s["fasttext_errors"]:
            cfg += f" ({len(s['fasttext_errors'])} fastText errors)"
        tps = s["embedcli_tokens_per_s"]
        rows.append(
            "| "
            + " | ".join(
                [
                    s["dataset"],
                    cfg,
                    _acc(s["embedcli_acc"], s["embedcli_acc_range"]),
                    _acc(s["fasttext_acc"], s["fasttext_acc_range"]),
                    _f(s["acc_delta_points"], 1) if s["acc_delta_points"] is not None else "-",
                    _f(s["embedcli_wall_s"]),
                    _f(s["fasttext_wall_s"]),
                    _f(s["wall_ratio"]) + "×" if s["wall_ratio"] else "-",
                    f"{tps / 1e6:.2f} M" if tps else "-",
                    f"{_f(s['embedcli_peak_rss_mb'], 0)} / {_f(s['fasttext_peak_rss_mb'], 0)}",
                    f"{_f(s['embedcli_train_s'])} / {_f(s['fasttext_train_s'])}",
                    _f(s["embedcli_epochs"]),
                    _target_cell(s),
                ]
            )
            + " |"
        )
    return "\n".join(rows)


def quoted_peers(summaries: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """torch-sparse / keras figures from ../shared/peers/results/*.json (not this run)."""
    rows = [
        "| dataset | peer (lr 0.01, 5 epochs) | acc | train s | train tok/s | "
        "embedcli default tok/s (this run) | embedcli / peer tok/s |",
        "|---|---|---|---|---|---|---|",
    ]
    out = []
    # Prefer the peers tokenization: its token count is the numerator of the peers' tok/s.
    by_ds: dict[str, dict[str, Any]] = {}
    for s in summaries:
        if s["config"] == "default" and (s["dataset"] not in by_ds or s["tokenization"] == "peers"):
            by_ds[s["dataset"]] = s
    for ds in DATASETS:
        p = PEERS_DIR / "results" / f"{ds}.json"
        if not p.exists():
            continue
        for r in json.loads(p.read_text())["results"]:
            if r.get("peer") not in ("torch-sparse", "keras") or "lr=0.01 " not in r.get(
                "config", ""
            ):
                continue
            e = by_ds.get(ds, {}).get("embedcli_tokens_per_s")
            etok = by_ds.get(ds, {}).get("tokenization", "")
            ratio = e / r["tokens_per_s"] if e and r.get("tokens_per_s") else None
            out.append(
                {
                    "dataset": ds,
                    "peer": r["peer"],
                    "accuracy": r.get("accuracy"),
                    "train_s": r.get("train_s"),
                    "tokens_per_s": r.get("tokens_per_s"),
                    "embedcli_tokens_per_s": e,
                    "embedcli_tokenization": etok,
                    "speedup_tok_s": ratio,
                }
            )
            rows.append(
                f"| {ds} | {r['peer']} | {_f(r.get('accuracy'), 4)} | {_f(r.get('train_s'))} | "
                f"{r['tokens_per_s']:,.0f} | {f'{e:,.0f} ({etok})' if e else '-'} | "
                f"{f'{ratio:.1f}×' if ratio else '-'} |"
            )
    return "\n".join(rows), out


# --------------------------------------------------------------------------------------------
# JIT compile measurement
# --------------------------------------------------------------------------------------------


def measure_jit(data_dir: Path, env: dict[str, str], configs: list[str]) -> list[dict[str, Any]]:
    """First-ever run (empty NUMBA_CACHE_DIR) vs a cached run, on a 300-line file."""
    src = data_dir / "sms_spam" / "train.txt"
    tmp = Path(tempfile.mkdtemp(prefix="embedcli-bench-jit-"))
    tiny = tmp / "tiny.txt"
    with open(src, encoding="utf-8") as f, open(tiny, "w", encoding="utf-8") as g:
        for i, line in enumerate(f):
            if i >= 300:
                break
            g.write(line)
    out = []
    for cfg in configs:
        cache = tmp / f"numba-cache-{cfg}"
        cache.mkdir()
        jenv = {**env, "NUMBA_CACHE_DIR": str(cache)}
        args = CONFIGS[cfg][0]
        rec: dict[str, Any] = {"config": cfg, "file_lines": 300}
        for label in ("cold", "cached", "cached2"):
            r = run_embedcli(str(tiny), str(tiny), args, jenv, 900)
            rec[f"{label}_wall_s"] = r["wall_s"]
            rec[f"{label}_seconds_total"] = r.get("seconds_total")
            rec[f"{label}_train_s"] = r.get("train_seconds")
            if r["rc"] != 0:
                rec[f"{label}_error"] = r.get("error")
        if rec.get("cold_wall_s") and rec.get("cached_wall_s"):
            rec["compile_s"] = rec["cold_wall_s"] - min(rec["cached_wall_s"], rec["cached2_wall_s"])
        out.append(rec)
        print(f"# jit {cfg}: {json.dumps(rec)}", file=sys.stderr, flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def jit_markdown(recs: list[dict[str, Any]]) -> str:
    rows = [
        "| config | cold run wall s (empty NUMBA_CACHE_DIR) | cached run wall s | "
        "≈ compile s | cold / cached train s |",
        "|---|---|---|---|---|",
    ]
    for r in recs:
        cached = min(x for x in (r.get("cached_wall_s"), r.get("cached2_wall_s")) if x is not None)
        rows.append(
            f"| {r['config']} | {_f(r.get('cold_wall_s'))} | {_f(cached)} | "
            f"{_f(r.get('compile_s'))} | {_f(r.get('cold_train_s'))} / {_f(r.get('cached_train_s'))} |"
        )
    return "\n".join(rows)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def engine_fingerprint() -> dict[str, Any]:
    h = hashlib.sha256()
    for f in sorted((ROOT / "embedcli").rglob("*.py")):
        h.update(f.read_bytes())
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "embedcli"],
            capture_output=True,
            text=True,
        ).stdout.split("\n")
    except OSError:
        head, dirty = "?", []
    return {
        "git_head": head,
        "dirty_files": [d.strip() for d in dirty if d.strip()],
        "source_sha256": h.hexdigest()[:16],
    }


def run_peers_harness(data_dir: Path, ds: str, repeat: int) -> dict[str, Any]:
    fd, out = tempfile.mkstemp(prefix=f"peers-{ds}-", suffix=".json")
    os.close(fd)
    cmd = [
        "bash",
        str(PEERS_DIR / "run.sh"),
        str(data_dir / ds),
        "--peers",
        "torch-sparse,keras",
        "--repeat",
        str(repeat),
        "--json",
        out,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    try:
        res = json.loads(Path(out).read_text())["results"] if p.returncode == 0 else []
    except (OSError, ValueError, KeyError):
        res = []
    os.unlink(out)
    return {"rc": p.returncode, "results": res, "error": None if res else _tail(p.stderr)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--configs", default="default,fasttext-mirror", help=", ".join(CONFIGS))
    ap.add_argument(
        "--tokenization",
        default="raw",
        help="raw (embedcli default tokenizer; fastText on the raw file), peers (both on the "
        "peers.py rule), or raw,peers",
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs per side (median times)")
    ap.add_argument("--json", help="write everything (every run) here")
    ap.add_argument("--markdown", help="write the tables here")
    ap.add_argument("--data-dir", default=str(DATA))
    ap.add_argument("--ft-python", help="python of the fastText venv (default: setup_peers.sh)")
    ap.add_argument("--fasttext-save", action="store_true", help="fastText also saves its .bin")
    ap.add_argument("--no-jit", action="store_true", help="skip the JIT compile measurement")
    ap.add_argument("--with-peers", action="store_true", help="also run peers' torch-sparse,keras")
    ap.add_argument("--timeout", type=float, default=1800, help="per process, seconds")
    args = ap.parse_args(argv)

    datasets = [d for d in args.datasets.split(",") if d]
    configs = [c for c in args.configs.split(",") if c]
    toks = [t for t in args.tokenization.split(",") if t]
    for c in configs:
        if c not in CONFIGS:
            ap.error(f"unknown config {c!r} (choose from {', '.join(CONFIGS)})")
    for t in toks:
        if t not in ("raw", "peers"):
            ap.error(f"unknown tokenization {t!r}")
    data_dir = Path(args.data_dir)

    ft_python = args.ft_python
    if not ft_python:
        setup = [str(Path(__file__).with_name("setup_peers.sh"))]
        if args.with_peers:
            setup.append("--with-peers")
        p = subprocess.run(["bash", *setup], capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stderr, file=sys.stderr)
            return 1
        ft_python = p.stdout.strip().splitlines()[-1]

    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    ft_env = {k: v for k, v in env.items() if not k.startswith("NUMBA")}

    meta: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "engine_at_start": engine_fingerprint(),
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "fasttext_python": ft_python,
        "numba_cache_dir": env["NUMBA_CACHE_DIR"],
        "args": vars(args),
        "configs": {
            c: {"embedcli": CONFIGS[c][0], "fasttext": CONFIGS[c][1], "description": CONFIGS[c][2]}
            for c in configs
        },
        "rss_method": "/usr/bin/time -f %M" if os.access(TIME_BIN, os.X_OK) else "RUSAGE_CHILDREN",
    }
    print(f"# {json.dumps(meta)}", file=sys.stderr, flush=True)

    jit = [] if args.no_jit else measure_jit(data_dir, env, configs)

    # Warm the shared numba cache for every config (untimed), so the first timed run of a
    # config does not pay for compilation after an engine change.
    tiny_src = data_dir / "sms_spam"
    for c in configs:
        r = run_embedcli(
            str(tiny_src / "test.txt"), str(tiny_src / "test.txt"), CONFIGS[c][0], env, args.timeout
        )
        print(f"# warm-up {c}: rc={r['rc']} wall={r['wall_s']:.2f}s", file=sys.stderr, flush=True)

    summaries, all_runs, peer_runs = [], [], {}
    for ds in datasets:
        for tok in toks:
            files = dataset_files(data_dir, ds, tok)
            n_test = count_labelled(files["f_test"])
            for c in configs:
                e_args, ft_params, _ = CONFIGS[c]
                e_runs, f_runs = [], []
                for i in range(args.repeat):
                    la = os.getloadavg()[0]
                    e = run_embedcli(
                        files["e_train"],
                        files["e_test"],
                        e_args + files["e_args"],
                        env,
                        args.timeout,
                    )
                    e["loadavg_1m"] = la
                    la = os.getloadavg()[0]
                    f = run_fasttext(
                        ft_python,
                        files["f_train"],
                        files["f_test"],
                        ft_params,
                        n_test,
                        ft_env,
                        args.timeout,
                        args.fasttext_save,
                    )
                    f["loadavg_1m"] = la
                    e_runs.append(e)
                    f_runs.append(f)
                    print(
                        f"# {ds} {tok} {c} #{i + 1}: embedcli rc={e['rc']} "
                        f"acc={_f(e.get('test_accuracy'), 4)} wall={e['wall_s']:.2f}s "
                        f"train={_f(e.get('train_seconds'))}s rss={_f(e['peak_rss_mb'], 0)}MB | "
                        f"fastText rc={f['rc']} acc={_f(f.get('accuracy'), 4)} "
                        f"wall={f['wall_s']:.2f}s train={_f(f.get('train_s'))}s "
                        f"rss={_f(f['peak_rss_mb'], 0)}MB | load {la:.2f}",
                        file=sys.stderr,
                        flush=True,
                    )
                    for side, r in (("embedcli", e), ("fastText", f)):
                        if r["rc"] != 0:
                            print(f"#   {side} error: {r.get('error')}", file=sys.stderr)
                s = summarize(ds, c, tok, e_runs, f_runs)
                summaries.append(s)
                all_runs.append(
                    {
                        "dataset": ds,
                        "config": c,
                        "tokenization": tok,
                        "embedcli": e_runs,
                        "fasttext": f_runs,
                    }
                )
                print(markdown([s]).splitlines()[-1], flush=True)
        if args.with_peers:
            peer_runs[ds] = run_peers_harness(data_dir, ds, args.repeat)

    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    meta["engine_at_end"] = engine_fingerprint()
    meta["engine_changed_during_run"] = (
        meta["engine_at_end"]["source_sha256"] != meta["engine_at_start"]["source_sha256"]
    )
    table = markdown(summaries)
    quoted_md, quoted = quoted_peers(summaries)
    parts = [
        f"## embedcli train vs fastText (repeat {args.repeat}, wall = fresh process end to end)",
        "",
        table,
        "",
    ]
    if jit:
        parts += ["## JIT compile (300-line file)", "", jit_markdown(jit), ""]
    parts += ["## torch-sparse / keras: from RESULTS.md (peers/results/*.json), not this run", ""]
    parts += [quoted_md, ""]
    if peer_runs:
        parts += ["## torch-sparse / keras: this run (--with-peers)", ""]
        for ds, pr in peer_runs.items():
            for r in pr["results"]:
                parts.append(
                    f"- {ds} {r.get('peer')} {r.get('config')}: acc {_f(r.get('accuracy'), 4)}, "
                    f"train {_f(r.get('train_s'))} s, {r.get('tokens_per_s') or 0:,.0f} tok/s"
                )
            if pr["error"]:
                parts.append(f"- {ds}: peers harness failed: {pr['error']}")
        parts.append("")
    if meta["engine_changed_during_run"]:
        parts.append("**Warning: embedcli's source changed during this run.**\n")
    md = "\n".join(parts)
    print()
    print(md)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(md)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {
                    "meta": meta,
                    "summaries": summaries,
                    "jit": jit,
                    "quoted_peers": quoted,
                    "peers_this_run": peer_runs,
                    "runs": all_runs,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
