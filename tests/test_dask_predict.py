"""``predict``, ``embed`` and ``evaluate`` with ``--engine dask``: parts identical to the local
engine's output (every option), evaluation counts summed to the local report, the model loaded
once per worker process, output directories claimed and replaced atomically, faults (a worker
killed mid-job, Ctrl-C, a malformed partition), and the one-line message without Dask.

A real ``distributed.LocalCluster`` of 2 process workers, shared by the module; trec6 and sst2
split into several files (skipped where the shared datasets are missing).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embedcli.corpus import CorpusOptions, CorpusReader
from embedcli.errors import DataError

sys.path.insert(0, str(Path(__file__).parent))
from dask_helpers import (  # noqa: E402
    SHARED,
    alive,
    descendants,
    env,
    plan,
    split,
    worker_killer,
)

distributed = pytest.importorskip("distributed")
dask_engine = pytest.importorskip("embedcli.dask_engine")
from embedcli import dask_predict as dp  # noqa: E402
from embedcli.api_model import Model  # noqa: E402
from embedcli.cli.predict_cmds import reading_options  # noqa: E402
from embedcli.predict_output import (  # noqa: E402
    PredictFormat,
    embed_text,
    label_names,
    prediction_text,
)


def _data(name: str, split_name: str) -> Path:
    src = SHARED / name / f"{split_name}.txt"
    if not src.exists():
        pytest.skip(f"shared dataset missing: {src}")
    return src


@pytest.fixture(scope="module")
def client():
    with dask_engine.dask_client(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    import embedcli

    train = _data("trec6", "train")
    out = tmp_path_factory.mktemp("model") / "trec6"
    m = embedcli.train(str(train), dim=16, epochs=3, word_ngrams=2, seed=1, threads=1)
    m.save(out)
    return out


@pytest.fixture(scope="module")
def trec_parts(tmp_path_factory) -> list[Path]:
    return split(_data("trec6", "test"), tmp_path_factory.mktemp("trec"), 4)


@pytest.fixture(scope="module")
def sst2_parts(tmp_path_factory) -> list[Path]:
    return split(_data("sst2", "test"), tmp_path_factory.mktemp("sst2"), 5)


def _options(model_dir: Path, labelled: bool = False) -> CorpusOptions:
    m = Model.load(model_dir)
    return reading_options(
        m.config,
        str(model_dir),
        fmt=None,
        label_prefix=None,
        text_column=None,
        label_column=None,
        no_header=False,
        text_field=None,
        label_field=None,
        strict_utf8=False,
        labelled=labelled,
    )


def _local_predict(model_dir: Path, paths: list[Path], how: PredictFormat) -> bytes:
    m = Model.load(model_dir, kind="classifier")
    reader = CorpusReader([str(p) for p in paths], _options(model_dir))
    return "".join(prediction_text(m, b, how, threads=2) for b in reader.batches(1000)).encode()


def _how(model_dir: Path, fmt: str = "text", **kw) -> PredictFormat:
    m = Model.load(model_dir)
    return PredictFormat(fmt, label_names(m.vocab.labels, "__label__", fmt), **kw)


# ------------------------------------------------------------------ identical to local
@pytest.mark.parametrize(
    "fmt,kw",
    [
        ("text", {"k": 2, "proba": True}),
        ("tsv", {"k": 3, "threshold": 0.2, "proba": True}),
        ("json", {"explain": True}),
        ("text", {"explain": True}),
    ],
)
def test_predict_parts_are_the_local_output(client, model_dir, trec_parts, tmp_path, fmt, kw):
    how = _how(model_dir, fmt, **kw)
    local = _local_predict(model_dir, trec_parts, how)
    options = _options(model_dir)
    parts = plan(client, trec_parts, options, size=4000)
    assert len(parts) >= 2 * len(trec_parts)
    ref = dp.model_ref(str(model_dir), "classifier", "predict")
    folder = tmp_path / "out"
    folder.mkdir()
    futures = dp.predict_futures(client, parts, options, ref, how, 64, str(folder))
    manifest, reading = dp.write_parts(futures, parts, folder, {"command": "predict"})
    assert [r["name"] for r in manifest["parts"]] == [
        f"part-{i:05d}.txt" for i in range(len(parts))
    ]
    assert b"".join(p.read_bytes() for p in dp.read_parts(folder)) == local
    documents = len(list(CorpusReader([str(p) for p in trec_parts], options)))
    assert manifest["documents"] == reading["documents"] == documents
    streamed: list[bytes] = []
    dp.stream(dp.predict_futures(client, parts, options, ref, how, 1000), streamed.append)
    assert b"".join(streamed) == local


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory) -> Path:
    import embedcli

    folder = tmp_path_factory.mktemp("vectors")
    lines = _data("sst2", "train").read_text(encoding="utf-8").splitlines()[:3000]
    (folder / "sents.txt").write_text("".join(x.split(" ", 1)[-1] + "\n" for x in lines))
    m = embedcli.pretrain(
        str(folder / "sents.txt"), dim=8, epochs=1, buckets=1000, min_count=1, seed=1, threads=1
    )
    m.save(folder / "model")
    return folder / "model"


@pytest.mark.parametrize("kind", ["classifier", "vectors"])
def test_embed_parts_are_the_local_rows(client, model_dir, vectors_dir, sst2_parts, tmp_path, kind):
    if kind == "vectors":
        model_dir = vectors_dir  # mean word vectors, unknown words through their subwords
    m = Model.load(model_dir)
    assert m.kind == kind
    options = CorpusOptions(fmt="auto")
    blocks = [
        np.asarray(m.embed_batch(b), dtype=np.float32)
        for b in CorpusReader([str(p) for p in sst2_parts], options).batches(700)
    ]
    local = np.concatenate(blocks)
    parts = plan(client, sst2_parts, options, size=30_000)
    ref = dp.model_ref(str(model_dir), None, "embed")
    for fmt in ("npy", "tsv"):
        folder = tmp_path / fmt
        folder.mkdir()
        futures = dp.embed_futures(client, parts, options, ref, fmt, str(folder))
        dp.write_parts(futures, parts, folder, {"command": "embed"})
        files = list(dp.read_parts(folder))
        assert all(f.suffix == f".{fmt}" for f in files) and len(files) == len(parts)
        if fmt == "npy":
            got = np.concatenate([np.load(f, allow_pickle=False) for f in files])
            np.testing.assert_array_equal(got, local)
        else:
            assert b"".join(f.read_bytes() for f in files) == embed_text(local).encode()


@pytest.mark.parametrize("k,threshold", [(None, None), (2, 0.1)])
def test_evaluation_counts_add_up_to_the_local_report(
    client, model_dir, sst2_parts, trec_parts, k, threshold
):
    m = Model.load(model_dir, kind="classifier")
    options = _options(model_dir, labelled=True)
    # sst2's labels are unknown to a trec6 model: skipped examples are counted too
    paths = [*trec_parts, sst2_parts[0]]
    reader = CorpusReader([str(p) for p in paths], options)
    local = m.evaluation(reader.batches(1000), k, threshold)
    ref = dp.model_ref(str(model_dir), "classifier", "evaluate")
    ev, reading = dp.evaluate_dask(
        client, plan(client, paths, options, size=4000), options, ref, k, threshold
    )
    assert local.skipped > 0
    labels = m.vocab.labels
    assert json.dumps(ev.to_dict(labels)) == json.dumps(local.to_dict(labels))
    np.testing.assert_array_equal(ev.confusion, local.confusion)
    assert ev.format_fasttext_test() == local.format_fasttext_test()
    assert reading["lines"] == reader.lines_read


def test_the_model_is_loaded_once_per_worker_process(client, model_dir, trec_parts):
    options = _options(model_dir)
    parts = plan(client, trec_parts, options, size=1024)
    assert len(parts) >= 20
    ref = dp.model_ref(str(model_dir), "classifier", "predict")
    how = _how(model_dir)
    for _ in range(2):
        dp.stream(dp.predict_futures(client, parts, options, ref, how, 100), lambda d: None)
    loads = client.run(dp.loads)
    per_worker = [counts.get(ref.sha256, 0) for counts in loads.values()]
    assert len(per_worker) == 2 and max(per_worker) == 1, loads


# ------------------------------------------------------------------------------------ faults
def test_malformed_partition_names_file_and_byte_offset(client, model_dir, tmp_path):
    good = "".join(f"__label__DESC what is word number {i} ?\n" for i in range(3000))
    bad = good[:40000] + "bro\0ken\n" + good[40000:]
    (tmp_path / "in.txt").write_text(bad)
    options = _options(model_dir)
    parts = plan(client, [tmp_path / "in.txt"], options, size=16384)
    ref = dp.model_ref(str(model_dir), "classifier", "predict")
    with pytest.raises(DataError) as err:
        dp.stream(
            dp.predict_futures(client, parts, options, ref, _how(model_dir), 100), lambda d: None
        )
    msg = str(err.value)
    assert "NUL byte" in msg and f"{tmp_path / 'in.txt'} from byte " in msg, msg
    offset = int(msg.split(" from byte ")[1].split()[0].rstrip(":"))
    assert 0 < offset <= 40000 and bad[offset - 1] == "\n", msg
    # in the first partition the message is the local engine's, line number included
    (tmp_path / "first.txt").write_text("ok line\nbro\0ken\n" + good)
    with pytest.raises(DataError) as local_err:
        _local_predict(model_dir, [tmp_path / "first.txt"], _how(model_dir))
    parts = plan(client, [tmp_path / "first.txt"], options, size=16384)
    with pytest.raises(DataError) as dask_err:
        dp.evaluate_dask(client, parts, _options(model_dir, True), ref, None, None)
    assert str(dask_err.value) == str(local_err.value)


# runs last of the tests that share the cluster: it leaves one worker restarting
def test_worker_killed_mid_job_changes_nothing(client, model_dir, sst2_parts, tmp_path):
    how = _how(model_dir, "text", k=2, proba=True)
    local = _local_predict(model_dir, sst2_parts, how)
    options = _options(model_dir)
    parts = plan(client, sst2_parts, options, size=4000)
    ref = dp.model_ref(str(model_dir), "classifier", "predict")
    kill_one, killed = worker_killer(client)

    folder = tmp_path / "out"
    folder.mkdir()
    futures = dp.predict_futures(client, parts, options, ref, how, 100, str(folder))
    manifest, _ = dp.write_parts(futures, parts, folder, {}, kill_one)
    assert killed
    assert len(manifest["parts"]) == len(parts)
    assert b"".join(p.read_bytes() for p in dp.read_parts(folder)) == local
    assert sorted(os.listdir(folder)) == ["manifest.json"] + [r["name"] for r in manifest["parts"]]


# ------------------------------------------------------------------------------------ the CLI
def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "embedcli", *args],
        capture_output=True,
        env=env(),
        timeout=300,
        **kw,
    )


DASK = ("--engine", "dask", "--workers", "2", "--partition-size", "4096")


@pytest.mark.slow
def test_cli_predict_dir_equals_local_and_a_failed_run_keeps_it(model_dir, trec_parts, tmp_path):
    files = list(map(str, trec_parts))
    local = _run("predict", str(model_dir), *files, "-k", "2", "--proba")
    assert local.returncode == 0, local.stderr
    out = tmp_path / "preds"
    r = _run("predict", str(model_dir), str(trec_parts[0].parent), "-o", str(out), "-k", "2",
             "--proba", *DASK)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert b"".join(p.read_bytes() for p in dp.read_parts(out)) == local.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "embedcli-parts" and manifest["command"] == "predict"
    assert [i["url"] for i in manifest["inputs"]] == files
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # a run that fails (a NUL byte in one input) leaves the previous directory as it was
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.txt").write_bytes(trec_parts[0].read_bytes() + b"bro\0ken\n")
    r = _run("predict", str(model_dir), str(bad), "-o", str(out), *DASK)
    assert r.returncode == 1 and b"NUL byte" in r.stderr and len(r.stderr.splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


def test_cli_refuses_foreign_and_input_outputs(model_dir, trec_parts, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not embedcli's")
    r = _run("predict", str(model_dir), str(trec_parts[0]), "-o", str(foreign), *DASK)
    assert r.returncode != 0 and b"Error:" in r.stderr, r.stderr
    assert (foreign / "notes.txt").read_text() == "not embedcli's"
    r = _run("embed", str(model_dir), str(trec_parts[0].parent), "-o",
             str(trec_parts[0].parent), *DASK)  # fmt: skip
    assert r.returncode == 2 and b"Error:" in r.stderr, r.stderr
    r = _run("predict", str(model_dir), str(trec_parts[0]), "-o", str(tmp_path / "d"))
    assert r.returncode == 2 and b"needs --engine dask" in r.stderr
    r = _run("embed", str(model_dir), str(trec_parts[0]), "-o", str(tmp_path / "v.npy"),
             "--parts-format", "npy")  # fmt: skip
    assert r.returncode == 2 and b"--parts-format applies" in r.stderr


def test_without_dask_one_line_and_exit_2(model_dir, trec_parts, tmp_path):
    for args in (
        ["predict", str(model_dir), str(trec_parts[0]), "-o", str(tmp_path / "p")],
        ["embed", str(model_dir), str(trec_parts[0]), "-o", str(tmp_path / "e")],
        ["evaluate", str(model_dir), str(trec_parts[0])],
    ):
        code = (
            "import sys\n"
            "sys.modules['dask'] = None\n"
            "sys.modules['distributed'] = None\n"
            "from embedcli.cli import main\n"
            f"sys.argv = ['embedcli', *{args!r}, '--engine', 'dask']\n"
            "main()\n"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env())
        assert r.returncode == 2, r.stderr
        assert r.stderr.strip().splitlines() == [
            "Error: --engine dask needs Dask (dask.distributed): pip install 'embedcli[dask]'"
        ]
    assert os.listdir(tmp_path) == []


def test_help_imports_neither_dask_nor_numba():
    code = (
        "import sys\n"
        "from embedcli.cli import main\n"
        "for args in (['predict', '--help'], ['embed', '--help'], ['evaluate', '--help']):\n"
        "    sys.argv = ['embedcli', *args]\n"
        "    try:\n        main()\n    except SystemExit as e:\n        assert e.code == 0\n"
        "print('HEAVY', sorted(m for m in ('dask', 'distributed', 'fsspec', 'numba', 'numpy')"
        " if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout
    assert r.stdout.count("--partition-size") == 3 and "--scheduler" in r.stdout


@pytest.mark.slow
def test_cli_embed_and_evaluate_equal_local(model_dir, trec_parts, tmp_path):
    files = list(map(str, trec_parts))
    glob = str(trec_parts[0].parent / "part*.txt")
    for out in ("local.npy", "local.tsv"):
        assert _run("embed", str(model_dir), *files, "-o", str(tmp_path / out)).returncode == 0
    r = _run("embed", str(model_dir), glob, "-o", str(tmp_path / "dask.npy"), *DASK)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "dask.npy"), np.load(tmp_path / "local.npy"))
    r = _run("embed", str(model_dir), glob, "-o", "-", *DASK)
    assert r.returncode == 0 and r.stdout == (tmp_path / "local.tsv").read_bytes()
    r = _run("embed", str(model_dir), glob, "-o", str(tmp_path / "vecs"), "--parts-format",
             "npy", *DASK)  # fmt: skip
    assert r.returncode == 0, r.stderr
    got = np.concatenate([np.load(p) for p in dp.read_parts(tmp_path / "vecs")])
    np.testing.assert_array_equal(got, np.load(tmp_path / "local.npy"))
    for extra in ([], ["--json"], ["--format", "fasttext", "-k", "2"]):
        a = _run("evaluate", str(model_dir), *files, *extra)
        b = _run("evaluate", str(model_dir), glob, *extra, *DASK)
        assert a.returncode == b.returncode == 0, b.stderr
        assert a.stdout == b.stdout and a.stdout


@pytest.mark.slow
def test_ctrl_c_leaves_no_part_and_no_worker(model_dir, sst2_parts, tmp_path):
    out = tmp_path / "preds"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "embedcli",
            "predict",
            str(model_dir),
            *map(str, sst2_parts),
            "-o",
            str(out),
            "--engine",
            "dask",
            "--workers",
            "2",
            "--partition-size",
            "1024",
        ],  # fmt: skip
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    started = False
    while time.monotonic() < deadline and not started:
        seen |= descendants(proc.pid)
        for name in os.listdir(tmp_path):  # the directory under construction
            path = tmp_path / name
            if name.startswith(".preds.") and path.is_dir():
                with contextlib.suppress(OSError):  # removed meanwhile
                    started |= any(n.startswith("part-") for n in os.listdir(path))
        time.sleep(0.05)
    assert started and len(seen) >= 2, "no part was written by the workers"
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["Interrupted; no partial output was written."], stderr
    time.sleep(1)
    assert [p for p in seen if alive(p)] == []
    assert not out.exists()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".preds.") and "lock" not in n] == []
