"""Where does the wall time of ``embedcli train`` go? Per-stage timings, fresh process per run.

Each run is a fresh interpreter (``--worker``) that times its imports (the CLI, then numba and the
engine), runs the real ``embedcli train ... --json`` command in-process, and reads the stage
timings the library reports (``timings`` in the JSON: read+encode, fit's init / featurize /
optimizer state / each epoch, test predict, save with its embeddings write, other files, hashes
and rename). Numba's dispatcher work (loading cached machine code, or compiling) happens inside
the first call of each kernel; the worker also sums it separately ("numba load/compile"). The
parent prints medians over ``--repeat`` runs, runs interleaved so that a noisy machine hits every
variant alike. ``--cprofile`` prints cProfile's top entries for one extra run of each case.

    NUMBA_CACHE_DIR=/work/main/.numba_cache .venv/bin/python benchmarks/profile_train.py
    ... --datasets sms_spam --configs mirror --repeat 5 --cprofile
    ... --cold            # empty temporary NUMBA_CACHE_DIR for every run (first-ever run)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PEERS_PATTERN = r"\w+|[^\w\s]"
COMMON = ["--dim", "50", "--threads", "2", "--token-pattern", PEERS_PATTERN, "--keep-punctuation"]
CONFIGS = {
    "mirror": COMMON
    + ["--optimizer", "sgd", "--lr", "0.5", "--word-ngrams", "2", "--epochs", "5"]
    + ["--buckets", "2000000"],
    "default": COMMON,
}


def worker(args: list[str], cprofile: bool) -> dict:
    """Run in a fresh interpreter: imports, then the train command; return the timings."""
    sys.path.insert(0, os.environ.get("PROFILE_TRAIN_ROOT", str(ROOT)))
    t0 = time.perf_counter()
    import embedcli.cli  # noqa: F401  (typer, rich, numpy: what every command pays)

    t1 = time.perf_counter()
    import numba  # noqa: F401

    t2 = time.perf_counter()
    import embedcli.train  # noqa: F401  (model, kernels: the dispatchers, no compilation yet)

    t3 = time.perf_counter()
    from numba.core.dispatcher import Dispatcher

    jit = {"seconds": 0.0, "calls": 0}
    original = Dispatcher._compile_for_args

    def timed(self, *a, **k):  # the first call of a kernel for a new signature
        t = time.perf_counter()
        try:
            return original(self, *a, **k)
        finally:
            jit["seconds"] += time.perf_counter() - t
            jit["calls"] += 1

    Dispatcher._compile_for_args = timed
    from embedcli.cli import app

    out = io.StringIO()
    prof = None
    if cprofile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t4 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        try:
            app(args=["train", *args, "--json", "--quiet"], standalone_mode=False)
        except SystemExit as exc:  # pragma: no cover - errors are printed by the command
            if exc.code:
                raise
    t5 = time.perf_counter()
    if prof is not None:
        prof.disable()
        import pstats

        s = io.StringIO()
        st = pstats.Stats(prof, stream=s).sort_stats("cumulative")
        st.print_stats(30)
        st.sort_stats("tottime").print_stats(20)
        print(s.getvalue(), file=sys.stderr)
    summary = json.loads(out.getvalue())
    timings = {
        "import embedcli.cli": t1 - t0,
        "import numba": t2 - t1,
        "import engine": t3 - t2,
        **{k: v for k, v in summary["timings"].items()},
        "numba load/compile (inside stages)": jit["seconds"],
        "train command total": t5 - t4,
    }
    return {
        "timings": timings,
        "jit_calls": jit["calls"],
        "test_accuracy": summary.get("test_accuracy"),
    }


def run_one(
    dataset: str, config: str, outdir: str, cold: bool, cprofile: bool, root: str | None = None
) -> dict:
    d = DATA / dataset
    args = [
        str(d / "train.txt"),
        "-o",
        os.path.join(outdir, "model"),
        "--test",
        str(d / "test.txt"),
    ]
    args += CONFIGS[config]
    env = dict(os.environ)
    if root:
        env["PROFILE_TRAIN_ROOT"] = root
    tmp_cache = None
    if cold:
        tmp_cache = tempfile.mkdtemp(prefix="numba-cold-")
        env["NUMBA_CACHE_DIR"] = tmp_cache
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(args)]
        + (["--cprofile"] if cprofile else []),
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    if tmp_cache:
        subprocess.run(["rm", "-rf", tmp_cache])
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({dataset} {config}):\n{proc.stderr[-3000:]}")
    if cprofile:
        print(f"==== cProfile {dataset} {config}\n{proc.stderr}", file=sys.stderr)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    t = res["timings"]
    t["process wall (parent)"] = wall
    t["python start + exit (rest)"] = (
        wall
        - t["train command total"]
        - sum(t[k] for k in ("import embedcli.cli", "import numba", "import engine"))
    )
    epochs = sorted((k for k in t if k.startswith("fit.epoch_")), key=lambda k: int(k[10:]))
    if len(epochs) > 1:
        t["fit.epochs 2..n (sum)"] = sum(t.pop(k) for k in epochs[1:])
    return res


ORDER = [
    "python start + exit (rest)",
    "import embedcli.cli",
    "import numba",
    "import engine",
    "read_encode_train",
    "read_encode_eval",
    "fit",
    "fit.init",
    "fit.featurize",
    "fit.state",
    "fit.epoch_1",
    "fit.epochs 2..n (sum)",
    "test_predict",
    "save",
    "save.embeddings",
    "save.other_files",
    "save.hash",
    "save.rename",
    "numba load/compile (inside stages)",
    "train command total",
    "process wall (parent)",
]


def table(runs: dict[str, list[dict]], before: dict[str, list[dict]] | None) -> None:
    """One markdown table: a row per stage, a column (or before/after pair) per case."""
    cases = list(runs)
    head = ["stage"]
    for c in cases:
        head += [f"{c} before", f"{c} after"] if before and c in before else [c]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    keys = ORDER + sorted(
        {k for rs in runs.values() for r in rs for k in r["timings"]} - set(ORDER)
    )

    def med(rs: list[dict], k: str) -> str:
        vals = [r["timings"][k] for r in rs if k in r["timings"]]
        return f"{statistics.median(vals):.3f}" if vals else ""

    for k in keys:
        row = [k]
        for c in cases:
            if before and c in before:
                row.append(med(before[c], k))
            row.append(med(runs[c], k))
        if any(row[1:]):
            print("| " + " | ".join(row) + " |")
    row = ["test accuracy"]
    for c in cases:
        for rs in ([before[c]] if before and c in before else []) + [runs[c]]:
            row.append(f"{statistics.median(r['test_accuracy'] for r in rs):.4f}")
    print("| " + " | ".join(row) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default="sms_spam,imdb")
    ap.add_argument("--configs", default="mirror,default", help=", ".join(CONFIGS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cold", action="store_true", help="empty NUMBA_CACHE_DIR for each run")
    ap.add_argument("--cprofile", action="store_true", help="one extra cProfile'd run per case")
    ap.add_argument("--json", help="also write the raw runs here")
    ap.add_argument("--compare", help="a --json file of an earlier run: before/after columns")
    ap.add_argument(
        "--before-root",
        help="also profile the embedcli package of this checkout, interleaved: before/after columns",
    )
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(json.loads(a.worker), a.cprofile)))
        return
    if "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(ROOT / ".numba_cache")
    cases = [(ds, c) for ds in a.datasets.split(",") for c in a.configs.split(",")]
    roots = {"after": None}
    if a.before_root:
        roots = {"before": str(Path(a.before_root).resolve()), "after": None}
    runs: dict[str, dict[tuple[str, str], list[dict]]] = {
        v: {case: [] for case in cases} for v in roots
    }
    with tempfile.TemporaryDirectory(prefix="profile-train-") as out:
        for case in cases:  # warm the cache and the page cache once
            for root in roots.values():
                if not a.cold:
                    run_one(*case, out, False, False, root)
        for _ in range(a.repeat):
            for case in cases:
                for v, root in roots.items():
                    runs[v][case].append(run_one(*case, out, a.cold, False, root))
        if a.cprofile:
            for case in cases:
                run_one(*case, out, a.cold, True)
    named = {f"{ds}/{c}": v for (ds, c), v in runs["after"].items()}
    before = json.loads(Path(a.compare).read_text()) if a.compare else None
    if "before" in runs:
        before = {f"{ds}/{c}": v for (ds, c), v in runs["before"].items()}
    print(f"\nmedians of {a.repeat} runs (seconds); cold numba cache: {a.cold}\n")
    table(named, before)
    if a.json:
        Path(a.json).write_text(json.dumps(named, indent=1))


if __name__ == "__main__":
    main()
