"""The training core's structure (issue #14): numba-free data types, one resolution of the
config, named steps, divergence without recursion, named errors, no import cycle, no private
cross-module imports, kernel records that load from numba's cache."""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli import train as train_mod
from embedcli.cli import app
from embedcli.errors import DataError, FormatError, TrainingDiverged, UsageError
from embedcli.spec import ModelSpec, TrainConfig, dense_bounds

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "embedcli"
runner = CliRunner()


class Arrays:
    def __init__(self, n: int = 200, seed: int = 1, num_words: int = 50) -> None:
        rng = np.random.default_rng(seed)
        lengths = rng.integers(1, 10, n)
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.label_ids = rng.integers(0, 3, n).astype(np.int32)
        self.tokens = rng.integers(2, num_words, int(lengths.sum())).astype(np.int32)
        self.tokens[self.offsets[:-1]] = 2 + self.label_ids
        self.label_offsets = np.arange(n + 1, dtype=np.int64)


def run_python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_spec_checkpoint_modeldir_pipeline_import_no_numba() -> None:
    mods = "embedcli.spec, embedcli.resources, embedcli.checkpoint, embedcli.modeldir"
    out = run_python(f"import sys, {mods}, embedcli.pipeline; print('numba' in sys.modules)")
    assert out.strip() == "False"


def module_imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every ``from embedcli... import`` in a file (also inside
    functions)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("embedcli"):
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("embedcli")]
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    return ".".join(p for p in rel.parts if p != "__init__")


def library_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.glob("*.py") if p.name not in ("__main__.py",))


def test_no_library_module_imports_a_private_name_of_another() -> None:
    bad = [
        (module_name(p), mod, name)
        for p in library_modules()
        for mod, names in module_imports(p)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert bad == []


def test_library_import_graph_has_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for p in library_modules():
        deps = set()
        for mod, names in module_imports(p):
            if mod == "embedcli":  # from embedcli import kernels, limits, ...
                deps |= {f"embedcli.{n}" for n in names if (PACKAGE / f"{n}.py").exists()}
            elif mod.count(".") == 1 and not mod.startswith("embedcli.cli"):
                deps.add(mod)
        graph[module_name(p)] = deps - {module_name(p)}
    seen: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for dep in sorted(graph.get(node, ())):
            assert seen.get(dep) != 1, f"import cycle: {' -> '.join([*path, dep])}"
            if dep not in seen:
                visit(dep, [*path, dep])
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node, [node])
    assert "embedcli.train" not in graph["embedcli.modeldir"]
    assert "embedcli.model" not in graph["embedcli.modeldir"]
    assert "embedcli.shards" not in graph["embedcli.sequences"]


def test_fit_is_a_short_orchestrator() -> None:
    lines = inspect.getsource(train_mod.fit).splitlines()
    body = [ln for ln in lines if ln.strip()]
    assert len(body) < 80
    assert "fit(" not in "\n".join(lines[1:])  # no recursion


def test_resolve_is_what_fit_trains_with_and_is_idempotent() -> None:
    data = Arrays()
    cfg = TrainConfig(dim=8, threads=1, optimizer="sgd")
    resolved = cfg.resolve(len(data.offsets) - 1, len(data.tokens))
    assert (resolved.epochs, resolved.lr, resolved.dropout) == (25, 0.5, 0.0)
    assert resolved.buckets == 1 << 16 and resolved.threads == 1
    assert resolved.resolve(10**6, 10**8) == resolved
    assert cfg.epochs == 0 and cfg.lr is None  # not mutated
    res = train_mod.fit(data, TrainConfig(dim=8, threads=1, optimizer="sgd", epochs=1))
    assert res.config == TrainConfig(**{**resolved.to_dict(), "epochs": 1})


def test_spec_owns_the_geometry_and_its_validation() -> None:
    spec = ModelSpec(10, 64, 4, 3, pool="flatten", maxlen=5, hidden=6, word_ngrams=2)
    assert (spec.num_rows, spec.pooled_dim, spec.out_in) == (74, 20, 6)
    assert spec.dense_bounds == dense_bounds(20, 6, 3) == (0, 120, 126, 144, 147)
    assert spec.dense_size == 147
    assert spec.classifier_shapes()["hidden_W"] == (20, 6)
    with pytest.raises(UsageError, match="flatten"):
        ModelSpec(10, 0, 4, 3, pool="flatten")
    with pytest.raises(FormatError, match="not a valid model spec"):
        ModelSpec.from_dict({"num_words": 10, "buckets": 0, "dim": 0, "num_classes": 2})
    with pytest.raises(UsageError, match="lr_schedule"):
        TrainConfig(lr_schedule="cosine").validate()


def test_engine_raises_named_errors() -> None:
    data = Arrays()
    with pytest.raises(DataError, match="token ids"):
        train_mod.fit(data, TrainConfig(dim=4, epochs=1, threads=1), num_words=10)
    with pytest.raises(UsageError, match="exactly 2 labels"):
        train_mod.fit(data, TrainConfig(dim=4, epochs=1, threads=1, objective="binary"))
    empty = Arrays(0)
    with pytest.raises(DataError, match="no training documents"):
        train_mod.fit(empty, TrainConfig(dim=4, epochs=1, threads=1))


def test_divergence_carries_the_last_good_result_without_recursion(monkeypatch) -> None:
    data = Arrays(300)
    cfg = TrainConfig(dim=8, epochs=6, threads=1, optimizer="sgd", lr=5.0, lr_schedule="constant")
    calls = []
    real_fit = train_mod.fit
    monkeypatch.setattr(train_mod, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    with pytest.raises(TrainingDiverged) as info:
        train_mod.fit(data, cfg, num_words=50)
    assert calls == [1]
    err = info.value
    assert err.epoch == 3 and err.result is not None
    assert len(err.result.history) == err.epoch - 1
    if err.epoch > 1:  # the last good epoch, bit for bit (constant schedule: same steps)
        good = real_fit(data, replace(cfg, epochs=err.epoch - 1), num_words=50)
        assert np.array_equal(good.params.embeddings, err.result.params.embeddings)
    assert np.isfinite(err.result.params.embeddings).all()


def test_feature_source_whole_and_chunked_give_the_same_rows() -> None:
    data = train_mod.Arrays.of(Arrays(120))
    spec = TrainConfig(dim=4, buckets=256, threads=1).resolve(120, 800).model_spec(50, 3)
    whole = train_mod.FeatureSource(data, spec, 1 << 30)
    chunked = train_mod.FeatureSource(data, spec, 200)
    assert not whole.chunked and chunked.chunked and chunked.chunk_docs < 120
    docs = np.array([5, 0, 77, 3], dtype=np.int64)
    (wd, wo), (cd, co) = whole.examples(docs), chunked.examples(docs)
    for k in range(4):
        w = wd.tokens[wd.offsets[wo[k]] : wd.offsets[wo[k] + 1]]
        c = cd.tokens[cd.offsets[co[k]] : cd.offsets[co[k] + 1]]
        assert np.array_equal(w, c) and wd.doc_ids[wo[k]] == cd.doc_ids[co[k]]


def test_early_stopping_keeps_the_best_copy() -> None:
    from embedcli.spec import ModelParams

    p = ModelParams(np.zeros((3, 2), np.float32), np.zeros((2, 2), np.float32),
                    np.zeros(2, np.float32))  # fmt: skip
    stop = train_mod.EarlyStopping(patience=2, active=True)
    stop.update(1, 0.5, p)
    p.embeddings += 1.0
    stop.update(2, 0.4, p)
    assert not stop.stop and stop.params.embeddings.sum() == 0.0
    stop.update(3, 0.4, p)
    assert stop.stop and stop.to_dict() == {"score": 0.5, "epoch": 1, "bad_epochs": 2}


def test_kernel_records_load_from_the_numba_cache(tmp_path: Path) -> None:
    """The namedtuple arguments compile with ``cache=True`` and a second process loads them."""
    code = (
        "import numpy as np\n"
        "from embedcli import kernels\n"
        "from embedcli.train import TrainConfig, fit\n"
        "rng = np.random.default_rng(0)\n"
        "class D: pass\n"
        "d = D(); d.tokens = rng.integers(1, 20, 200).astype(np.int32)\n"
        "d.offsets = np.arange(0, 201, 5, dtype=np.int64)\n"
        "d.label_ids = (np.arange(40) % 2).astype(np.int32)\n"
        "d.label_offsets = np.arange(41, dtype=np.int64)\n"
        "fit(d, TrainConfig(dim=4, epochs=1, threads=1))\n"
        "print(sum(kernels.TRAIN_ROWS[0, 0, 1].stats.cache_hits.values()))\n"
    )
    run_python(code)  # compiles (or loads) and saves
    assert int(run_python(code).strip()) >= 1


def test_damaged_checkpoint_array_exits_1_with_one_error_line(tmp_path: Path) -> None:
    """A checkpoint whose arrays have the wrong shape (sha256 rewritten to match, as a hand
    edit would) is a format error: exit 1, one ``Error:`` line (it was exit 2, a usage error)."""
    corpus = tmp_path / "train.txt"
    corpus.write_text("".join(f"__label__{'ab'[i % 2]} w{i % 7} x{i % 5} y\n" for i in range(60)))
    ckpt = tmp_path / "ck"
    opts = ["--dim", "4", "--epochs", "2", "--threads", "1", "--buckets", "256", "--quiet"]
    r = runner.invoke(app, ["train", str(corpus), "-o", str(tmp_path / "m"), *opts,
                            "--checkpoint-every", "1", "--checkpoint", str(ckpt)])  # fmt: skip
    assert r.exit_code == 0, r.output
    with np.load(ckpt / "state.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["emb"] = arrays["emb"][:-1]
    np.savez(ckpt / "state.npz", **arrays)
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    meta["files"]["state.npz"] = hashlib.sha256((ckpt / "state.npz").read_bytes()).hexdigest()
    (ckpt / "checkpoint.json").write_text(json.dumps(meta))
    r = runner.invoke(app, ["train", str(corpus), "--resume", str(ckpt), "-o", str(tmp_path / "r")])
    assert r.exit_code == 1, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "'emb'" in errors[0], r.output  # after the reading progress lines
    assert "Traceback" not in r.output, r.output
    assert "Traceback" not in r.output
