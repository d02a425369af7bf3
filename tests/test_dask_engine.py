"""``--engine dask``: partitions of files/globs/directories/URLs, results identical to the local
engine (vocabulary, ids), the encoded shard directory (atomic shards, resume), faults (a worker
killed mid-job, Ctrl-C, malformed partitions), object storage against a local S3 server, and the
one-line message without Dask.

A real ``distributed.LocalCluster`` of 2 process workers, shared by the module; the shared
datasets split into many files (skipped where they are missing).
"""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from embedcli import shard_dir
from embedcli.corpus import CorpusOptions, CorpusReader
from embedcli.errors import DataError, FormatError, UsageError
from embedcli.inputs import PartitionReader, expand_inputs, plan_partitions
from embedcli.sequences import encode_corpus
from embedcli.text import make_tokenizer_config
from embedcli.vocab import build_vocabulary, vocab_options

sys.path.insert(0, str(Path(__file__).parent))
from dask_helpers import REPO, SHARED, alive, descendants, env, plan, split, worker_killer  # noqa: E402

distributed = pytest.importorskip("distributed")
dask_engine = pytest.importorskip("embedcli.dask_engine")

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_port() -> int:
    # set before the cluster starts: its worker processes inherit the environment
    port = _free_port()
    os.environ.update(S3_ENV)
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"  # botocore's own variable
    return port


@pytest.fixture(scope="module")
def client(s3_port):
    with dask_engine.dask_client(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def sst2_parts(tmp_path_factory) -> list[Path]:
    src = SHARED / "sst2" / "train.txt"
    if not src.exists():
        pytest.skip(f"shared dataset missing: {src}")
    return split(src, tmp_path_factory.mktemp("sst2"), 12, limit=30000)


# ----------------------------------------------------------------------------------- inputs
def test_partitions_read_every_line_exactly_once(tmp_path):
    lines = [f"__label__{i % 3} line {i} " + "x" * (i % 50) for i in range(2000)]
    lines[5] = "__label__0 a line with a BOM-free é and CRLF\r"
    (tmp_path / "a.txt").write_text("\n".join(lines), encoding="utf-8")  # no final newline
    (tmp_path / "b.txt").write_text("\n".join(lines[:7]) + "\n\n\n", encoding="utf-8")
    with gzip.open(tmp_path / "c.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines[:300]) + "\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / ".hidden").write_text("not an input\n")
    files = expand_inputs([str(tmp_path)])
    assert [Path(u).name for u, _ in files] == ["a.txt", "b.txt", "c.txt.gz", "empty.txt"]
    options = CorpusOptions()
    local = list(CorpusReader([u for u, _ in files], options))
    for size in (1024, 3000, 1 << 20):
        parts, _notes = plan_partitions(files, options, 4, size)
        assert len(parts) >= (4 if size > 1 << 19 else 30)
        docs = [d for p in parts for d in PartitionReader(p, options)]
        assert docs == local, size
    # a glob and a file:// URL name the same files
    assert [u for u, _ in expand_inputs([str(tmp_path / "*.txt")])] == [
        str(tmp_path / n) for n in ("a.txt", "b.txt", "empty.txt")
    ]
    assert [s for _, s in expand_inputs([f"file://{tmp_path}"])] == [s for _, s in files]


def test_one_big_gzip_gets_a_note(tmp_path):
    with gzip.open(tmp_path / "big.txt.gz", "wb", compresslevel=0) as f:
        f.write(b"word " * 400_000 + b"\n")
    (tmp_path / "small.txt").write_text("a b\n")
    _parts, notes = plan_partitions(expand_inputs([str(tmp_path)]), CorpusOptions(), 2, 1 << 20)
    assert len(notes) == 1 and "gzip cannot be split" in notes[0] and "big.txt.gz" in notes[0]


# --------------------------------------------------------------------- identical to local
@pytest.mark.parametrize(
    "compat,extra",
    [("embedcli", {}), ("embedcli", {"min_count": 3, "max_size": 500}), ("tokenizer", {})],
)
def test_vocabulary_identical_to_local(client, sst2_parts, tmp_path, compat, extra):
    tok = make_tokenizer_config(compat)
    opts = vocab_options(compat, **extra)
    options = CorpusOptions(skip_blank=True)
    local, local_stats = build_vocabulary(CorpusReader(sst2_parts, options), tok, opts)
    parts = plan(client, sst2_parts, options)
    assert len(parts) >= 3 * len(sst2_parts)  # several partitions per file
    vocab, stats, reading = dask_engine.build_vocabulary_dask(client, parts, options, tok, opts)
    local.save(tmp_path / "local.tsv")
    vocab.save(tmp_path / "dask.tsv")
    assert (tmp_path / "dask.tsv").read_bytes() == (tmp_path / "local.tsv").read_bytes()
    assert stats == local_stats
    assert reading["invalid"] == 0 and reading["lines"] > 0


def test_encoded_ids_identical_to_local(client, sst2_parts):
    tok = make_tokenizer_config("embedcli")
    vocab, _ = build_vocabulary(CorpusReader(sst2_parts), tok, vocab_options(min_count=2))
    options = CorpusOptions()
    local = encode_corpus(CorpusReader(sst2_parts, options), vocab)
    enc, _reading = dask_engine.encode_dask(
        client, plan(client, sst2_parts, options), options, vocab
    )
    for name in ("tokens", "offsets", "label_ids", "label_offsets"):
        np.testing.assert_array_equal(getattr(enc, name), getattr(local, name), err_msg=name)


def test_encoded_ids_through_files_identical_and_files_removed(client, sst2_parts, tmp_path):
    """With ``spill`` the workers write each partition's ids to a file the client reads in order
    (and deletes): the ids are the local engine's, none of them pass through Dask's comms."""
    tok = make_tokenizer_config("embedcli")
    vocab, _ = build_vocabulary(CorpusReader(sst2_parts), tok, vocab_options(min_count=2))
    options = CorpusOptions()
    local = encode_corpus(CorpusReader(sst2_parts, options), vocab)
    parts = plan(client, sst2_parts, options)
    spill = tmp_path / "spill"
    spill.mkdir()
    # what a task returns: lengths and labels; its ids are in its file
    one = dask_engine._encode_partition_to(parts[2], options, vocab, str(spill))
    assert "tokens" not in one and one["tokens_file"] == str(spill / "part-00002.npy")
    alone = encode_corpus(PartitionReader(parts[2], options), vocab)
    np.testing.assert_array_equal(np.load(one["tokens_file"]), alone.tokens)
    os.unlink(one["tokens_file"])
    enc, reading = dask_engine.encode_dask(client, parts, options, vocab, spill=spill)
    seen = os.listdir(spill)
    assert seen == []  # every part file read and deleted
    assert reading["lines"] == sum(1 for p in sst2_parts for _ in p.open("rb"))
    for name in ("tokens", "offsets", "label_ids", "label_offsets"):
        np.testing.assert_array_equal(getattr(enc, name), getattr(local, name), err_msg=name)


def test_cli_encode_npy_spills_beside_the_output_and_cleans_up(sst2_parts, tmp_path):
    """``encode --engine dask -o ids.npy``: byte-identical to the local engine; the temporary
    folder of part files beside the output is gone afterwards, and one left by a killed run
    (dead PID) is removed by the next run."""
    folder = sst2_parts[0].parent
    vocab = tmp_path / "v.tsv"
    assert _run("build-vocab", *map(str, sst2_parts), "-o", str(vocab), "-q").returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".ids.npy.999999999.abcd1234.tmp"  # a folder of a killed run (no such PID)
    stale.mkdir()
    (stale / "part-00000.npy").write_bytes(b"debris")
    r = _run("encode", *map(str, sst2_parts), "--vocab", str(vocab), "-o", str(out / "local.npy"))
    assert r.returncode == 0, r.stderr
    r = _run(
        "encode", str(folder / "part*.txt"), "--vocab", str(vocab), "-o", str(out / "ids.npy"),
        "--engine", "dask", "--workers", "2", "--partition-size", "100000",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    docs = sum(1 for p in sst2_parts for _ in p.open("rb"))
    assert f"encoded {docs:,} documents" in r.stderr and f"-> {out / 'ids.npy'}" in r.stderr
    assert (out / "ids.npy").read_bytes() == (out / "local.npy").read_bytes()
    assert sorted(os.listdir(out)) == ["ids.npy", "local.npy"]


# ----------------------------------------------------------------- encoded shard directory
def test_encoded_directory_is_complete_verified_and_resumes(client, sst2_parts, tmp_path):
    vocab, _ = build_vocabulary(CorpusReader(sst2_parts), make_tokenizer_config(), vocab_options())
    options = CorpusOptions()
    local = encode_corpus(CorpusReader(sst2_parts, options), vocab)
    parts = plan(client, sst2_parts, options)
    out = tmp_path / "enc"
    out.mkdir()
    manifest = dask_engine.encode_to_dir(client, parts, options, vocab, out)
    assert manifest["kept"] == 0 and len(manifest["shards"]) == len(parts)
    assert manifest["format"] == "embedcli-encoded" and manifest["version"] == 1
    assert manifest["documents"] == local.n_docs
    rec = manifest["shards"][3]
    assert rec["files"]["tokens"]["sha256"] == shard_dir.sha256_file(out / "part-00003.tokens.npy")
    assert rec["input"]["url"] == str(parts[3].url)
    loaded = shard_dir.load_corpus(out, limit=4096)  # past the limit: a file map, not RAM
    np.testing.assert_array_equal(loaded.tokens, local.tokens)
    np.testing.assert_array_equal(loaded.offsets, local.offsets)
    np.testing.assert_array_equal(loaded.label_ids, local.label_ids)

    # an interrupted job: no manifest, one shard without its record, one damaged shard
    (out / "manifest.json").unlink()
    (out / "part-00001.json").unlink()
    data = bytearray((out / "part-00004.tokens.npy").read_bytes())
    data[-1] ^= 0xFF
    (out / "part-00004.tokens.npy").write_bytes(bytes(data))
    (out / ".part-00002.tokens.npy.abcd.tmp").write_bytes(b"debris of a killed writer")
    with pytest.raises(FormatError, match="incomplete"):
        shard_dir.load_corpus(out)
    again = dask_engine.encode_to_dir(client, parts, options, vocab, out)
    assert again["kept"] == len(parts) - 2
    assert not (out / ".part-00002.tokens.npy.abcd.tmp").exists()
    np.testing.assert_array_equal(shard_dir.load_corpus(out).tokens, local.tokens)

    # another vocabulary: nothing is kept
    other, _ = build_vocabulary(
        CorpusReader(sst2_parts), make_tokenizer_config(), vocab_options(min_count=2)
    )
    third = dask_engine.encode_to_dir(client, parts, options, other, out)
    assert third["kept"] == 0


def test_train_reads_the_encoded_directory_as_its_corpus(client, sst2_parts, tmp_path):
    from embedcli.pipeline import TrainPlan, prepare_training

    vocab, _ = build_vocabulary(
        CorpusReader(sst2_parts, CorpusOptions(skip_blank=True)),
        make_tokenizer_config(),
        vocab_options(min_count=2),
    )
    options = CorpusOptions()
    out = tmp_path / "enc"
    out.mkdir()
    dask_engine.encode_to_dir(client, plan(client, sst2_parts, options), options, vocab, out)
    train_opts = CorpusOptions(require_labels=True, skip_blank=True)
    config = {"word_ngrams": 1, "seed": 1}
    from_dir = prepare_training(TrainPlan([str(out)], train_opts, config))
    from_text = prepare_training(
        TrainPlan(
            [str(p) for p in sst2_parts], train_opts, config, vocab_path=str(out / "vocab.tsv")
        )
    )
    assert from_dir.vocab.tokens == from_text.vocab.tokens
    assert from_dir.vocab.labels == from_text.vocab.labels
    for name in ("tokens", "offsets", "label_ids", "label_offsets"):
        np.testing.assert_array_equal(
            getattr(from_dir.train, name), getattr(from_text.train, name), err_msg=name
        )
    with pytest.raises(UsageError, match="token ids only"):
        prepare_training(TrainPlan([str(out)], train_opts, {"word_ngrams": 2}))
    with pytest.raises(UsageError, match="carries its vocabulary"):
        prepare_training(
            TrainPlan([str(out)], train_opts, config, vocab_path=str(out / "vocab.tsv"))
        )


# ------------------------------------------------------------------------------------ faults
def test_malformed_partition_names_file_and_byte_offset(client, tmp_path):
    good = "".join(f"__label__a some words {i}\n" for i in range(3000))
    bad = good[:40000] + "bro\0ken\n" + good[40000:]
    (tmp_path / "in.txt").write_text(bad)
    options = CorpusOptions()
    parts = plan(client, [tmp_path / "in.txt"], options, size=16384)
    tok = make_tokenizer_config()
    with pytest.raises(DataError) as err:
        dask_engine.build_vocabulary_dask(client, parts, options, tok, vocab_options())
    msg = str(err.value)
    assert "NUL byte" in msg and f"{tmp_path / 'in.txt'} from byte " in msg, msg
    offset = int(msg.split(" from byte ")[1].split()[0].rstrip(":"))
    assert 0 < offset <= 40000 and bad[offset - 1] == "\n", msg
    # in the first partition the message is the local engine's, line number included
    (tmp_path / "first.txt").write_text("ok line\nbro\0ken\n" + good)
    with pytest.raises(DataError) as local_err:
        build_vocabulary(CorpusReader([tmp_path / "first.txt"]), tok, vocab_options())
    parts = plan(client, [tmp_path / "first.txt"], options, size=16384)
    with pytest.raises(DataError) as dask_err:
        dask_engine.build_vocabulary_dask(client, parts, options, tok, vocab_options())
    assert str(dask_err.value) == str(local_err.value)


# ---------------------------------------------------------------------------- object storage
def test_s3_inputs_against_a_local_server(client, s3_port, sst2_parts):
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    server.start()
    try:
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        fs.mkdir("corpus")
        for p in sst2_parts[:4]:
            fs.put_file(str(p), f"corpus/texts/{p.name}")
        tok, opts = make_tokenizer_config(), vocab_options()
        options = CorpusOptions(skip_blank=True)
        local, _ = build_vocabulary(CorpusReader(sst2_parts[:4], options), tok, opts)
        names = [p.name for p in sst2_parts[:4]]
        globbed = expand_inputs(["s3://corpus/texts/part0*.txt"])
        assert [u.rsplit("/", 1)[1] for u, _ in globbed] == names
        files = expand_inputs(["s3://corpus/texts/"])
        assert files == globbed
        parts, _ = dask_engine.plan(files, options, client, 30_000)
        vocab, _s, _r = dask_engine.build_vocabulary_dask(client, parts, options, tok, opts)
        assert vocab.tokens == local.tokens and vocab.counts == local.counts
        assert vocab.labels == local.labels and vocab.label_counts == local.label_counts
        with pytest.raises(DataError, match="no such file|matches no file"):
            expand_inputs(["s3://corpus/nothing*.txt"])
    finally:
        server.stop()


# runs last of the tests that share the cluster: it leaves one worker restarting
def test_worker_killed_mid_job_changes_nothing(client, sst2_parts):
    tok = make_tokenizer_config()
    opts = vocab_options()
    options = CorpusOptions(skip_blank=True)
    local, _ = build_vocabulary(CorpusReader(sst2_parts, options), tok, opts)
    parts = plan(client, sst2_parts, options, size=8000)
    kill_one, killed = worker_killer(client)

    vocab, _stats, _ = dask_engine.build_vocabulary_dask(
        client, parts, options, tok, opts, kill_one
    )
    assert killed
    assert vocab.tokens == local.tokens and vocab.counts == local.counts
    assert vocab.labels == local.labels and vocab.label_counts == local.label_counts


# ------------------------------------------------------------------------------------ the CLI
def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "embedcli", *args],
        capture_output=True,
        text=True,
        env=env(),
        cwd=cwd,
        timeout=300,
    )


def test_without_dask_one_line_and_exit_2(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['dask'] = None\n"
        "sys.modules['distributed'] = None\n"
        "from embedcli.cli import main\n"
        f"sys.argv = ['embedcli', 'build-vocab', {str(REPO / 'sample_data/stdlib/train.txt')!r},"
        f" '-o', {str(tmp_path / 'v.tsv')!r}, '--engine', 'dask']\n"
        "main()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env())
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        "Error: --engine dask needs Dask (dask.distributed): pip install 'embedcli[dask]'"
    ]
    assert not (tmp_path / "v.tsv").exists()


def test_help_imports_neither_dask_nor_numba():
    code = (
        "import sys\n"
        "from embedcli.cli import main\n"
        "for args in (['--help'], ['build-vocab', '--help'], ['encode', '--help']):\n"
        "    sys.argv = ['embedcli', *args]\n"
        "    try:\n        main()\n    except SystemExit as e:\n        assert e.code == 0\n"
        "print('HEAVY', sorted(m for m in ('dask', 'distributed', 'fsspec', 'numba')"
        " if m in sys.modules))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout
    assert "--engine" in r.stdout and "--scheduler" in r.stdout


def test_dask_options_need_the_dask_engine(tmp_path):
    r = _run(
        "build-vocab",
        str(REPO / "sample_data/stdlib/train.txt"),
        "-o",
        str(tmp_path / "v.tsv"),
        "--workers",
        "2",
    )
    assert r.returncode == 2 and r.stderr.strip() == "Error: --workers applies to --engine dask"
    r = _run(
        "encode",
        str(REPO / "sample_data/stdlib/train.txt"),
        "--vocab",
        "x.tsv",
        "-o",
        str(tmp_path / "d"),
    )
    assert r.returncode == 2 and "needs --engine dask" in r.stderr


@pytest.mark.slow
def test_cli_identical_to_local(sst2_parts, tmp_path):
    folder = sst2_parts[0].parent
    r = _run("build-vocab", *map(str, sst2_parts), "-o", str(tmp_path / "local.tsv"), "-q")
    assert r.returncode == 0, r.stderr
    r = _run(
        "build-vocab",
        str(folder),
        "-o",
        str(tmp_path / "dask.tsv"),
        "-q",
        "--engine",
        "dask",
        "--workers",
        "2",
        "--partition-size",
        "50000",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "dask.tsv").read_bytes() == (tmp_path / "local.tsv").read_bytes()
    r = _run(
        "encode",
        *map(str, sst2_parts),
        "--vocab",
        str(tmp_path / "local.tsv"),
        "-o",
        str(tmp_path / "local.npz"),
        "-q",
    )
    assert r.returncode == 0, r.stderr
    r = _run(
        "encode",
        str(folder / "part*.txt"),
        "--vocab",
        str(tmp_path / "local.tsv"),
        "-o",
        str(tmp_path / "dask.npz"),
        "-q",
        "--engine",
        "dask",
        "--workers",
        "2",
    )
    assert r.returncode == 0, r.stderr
    a, b = np.load(tmp_path / "local.npz"), np.load(tmp_path / "dask.npz")
    assert a.files == b.files
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.slow
def test_ctrl_c_leaves_no_complete_looking_shard_and_no_worker(sst2_parts, tmp_path):
    vocab = tmp_path / "v.tsv"
    inputs = [str(p) for p in sst2_parts[:6]]  # about 450 partitions of 2 KiB
    assert _run("build-vocab", *map(str, sst2_parts), "-o", str(vocab), "-q").returncode == 0
    out = tmp_path / "enc"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "embedcli",
            "encode",
            *inputs,
            "--vocab",
            str(vocab),
            "-o",
            str(out),
            "--engine",
            "dask",
            "--workers",
            "2",
            "--partition-size",
            "2048",
        ],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen |= descendants(proc.pid)
        if out.is_dir() and any(
            n.endswith(".json") and n.startswith("part-") for n in os.listdir(out)
        ):
            break
        time.sleep(0.05)
    assert len(seen) >= 2, "no worker processes were started"
    proc.send_signal(signal.SIGINT)
    _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["Interrupted; no partial output was written."], stderr
    time.sleep(1)
    assert [p for p in seen if alive(p)] == []
    assert not (out / "manifest.json").exists()
    # every shard with a record is complete and verified; a rerun completes the directory
    for name in os.listdir(out):
        if name.startswith("part-") and name.endswith(".json"):
            index = int(name[5:10])
            assert shard_dir.kept_shard(out, index, {}) is not None, name
    r = _run(
        "encode",
        *inputs,
        "--vocab",
        str(vocab),
        "-o",
        str(out),
        "--engine",
        "dask",
        "--workers",
        "2",
        "--partition-size",
        "2048",
    )
    assert r.returncode == 0, r.stderr
    assert "kept from an earlier run" in r.stderr
    assert shard_dir.read_manifest(out)["documents"] > 0
