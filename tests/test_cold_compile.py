"""A truly cold default ``train`` compiles only the kernels it uses, each once (issue #8, "The
first run"; measured by ``benchmarks/cold_compile.py``).

A fresh process with an empty numba cache trains with the defaults (softmax, mean pooling,
Adagrad, word bigrams) and a test set (the end-of-run evaluation), and lists every kernel of
``embedcli.kernels`` that has a compiled signature. Before the entry kernels per (pool, objective), such a run compiled the binary and
one-vs-all losses and their sigmoid helpers (the loss was chosen at run time), and ``_affine`` and
``_doc_string_ngrams`` twice (a literal ``True``/``False`` argument is a type of its own to numba).
No timing is asserted: the machine may be busy.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: trains in a fresh process, then prints every compiled kernel with its signatures
CODE = (
    "import json, sys\n"
    "from embedcli.cli import main\n"
    "sys.argv = ['embedcli', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
    "from embedcli.warm import dispatchers\n"
    "sigs = {k: [str(s) for s in d.signatures] for k, d in dispatchers().items() if d.signatures}\n"
    "print('COMPILED ' + json.dumps({'code': code, 'kernels': sigs}))\n"
)

#: kernels of the objectives and pools a default run does not use
OTHER_OBJECTIVES = {"_binary_row", "_ova_row", "_sigmoid", "_log1pexp", "_sigmoid_probs"}
OTHER_POOLS = {"_pool_max", "_pool_flatten"}


def compiled_by_a_cold_run(tmp_path: Path, *args: str) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "EMBEDCLI_DEBUG"}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba_cache")  # empty: everything compiles now
    env["PYTHONPATH"] = str(REPO)
    corpus = REPO / "sample_data" / "stdlib" / "train.txt"
    opts = ["--dim", "8", "--epochs", "1", "--seed", "1", "--threads", "1", "-q"]
    r = subprocess.run(
        [sys.executable, "-c", CODE, "train", str(corpus), "-o", str(tmp_path / "m"), *opts, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    found = re.search(r"^COMPILED (.*)$", r.stdout, re.M)
    assert found, (r.stdout[-2000:], r.stderr[-2000:])
    result = json.loads(found.group(1))
    assert result["code"] in (0, None), r.stderr
    return result["kernels"]


def test_a_cold_default_run_compiles_its_own_kernels_once_each(tmp_path: Path) -> None:
    test = REPO / "sample_data" / "stdlib" / "test.txt"
    kernels = compiled_by_a_cold_run(tmp_path, "--test", str(test))
    twice = {name: sigs for name, sigs in kernels.items() if len(sigs) > 1}
    assert not twice, f"compiled more than once: {twice}"
    assert not OTHER_OBJECTIVES & kernels.keys(), sorted(kernels)
    assert not OTHER_POOLS & kernels.keys(), sorted(kernels)
    entries = {name for name in kernels if "[" in name}
    # softmax (objective 0) with mean pooling (pool 0) and Adagrad without L2 (update 1): the
    # fastText-style training kernel and the prediction kernel, no other (pool, objective, update)
    assert entries == {"TRAIN_ROWS[0,0,1]", "PREDICT[0,0]"}, sorted(kernels)
    # the general row update (SGD or Adagrad with L2) is not compiled for the default's
    assert "_row_update_sa" not in kernels, sorted(kernels)
    # and what it does use was compiled in this process (the cache was empty)
    used = {"_softmax_row", "_softmax_probs", "_pool_sum", "hash_string_ngrams_docs"}
    assert used <= kernels.keys(), sorted(kernels)
