"""``pretrain`` from an encoded shard directory and ``pretrain --engine dask``; token hashes in the
shards (format 1.1) so that ``train --word-ngrams 2`` works from them.

What is proved here, on sst2 (real text) split into files and encoded by a real
``distributed.LocalCluster`` of 2 process workers (shared by the module):

- with ``--threads 1 --seed``, vectors from the shard directory are bit-identical to vectors
  from the text with the same vocabulary options, also when ``--min-count``/``--max-size`` ask
  for a smaller vocabulary than the directory's (the exact filter on the ids); document bounds
  (offsets) are the text's, so windows never cross a document;
- options that would need another vocabulary, another tokenizer, or a vocabulary file that does
  not match the manifest get one line (exit 2 / exit 1);
- ``train DIR --word-ngrams 2`` from a directory encoded with ``--hashes`` writes the same model
  as ``train TEXT --word-ngrams 2``; a directory without hashes (format 1.0) still loads and only
  word n-grams refuse it, in one line;
- ``pretrain CORPUS --engine dask`` writes the same vectors as the local engine and leaves no
  temporary shard directory (also not one a killed run left).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli import shard_dir
from embedcli.cli import app
from embedcli.corpus import CorpusOptions, CorpusReader
from embedcli.errors import FormatError, UsageError
from embedcli.inputs import expand_inputs
from embedcli.pretrain import PretrainSpec, train_vectors
from embedcli.pretrain_run import PretrainPlan, prepare_pretrain
from embedcli.text import make_tokenizer_config
from embedcli.vocab import build_vocabulary, vocab_options

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

distributed = pytest.importorskip("distributed")
dask_engine = pytest.importorskip("embedcli.dask_engine")

runner = CliRunner()
READ = CorpusOptions(skip_blank=True)


def split(src: Path, folder: Path, n: int, limit: int) -> list[Path]:
    lines = src.read_bytes().splitlines(keepends=True)[:limit]
    folder.mkdir(parents=True, exist_ok=True)
    per = -(-len(lines) // n)
    paths = []
    for i in range(n):
        p = folder / f"part{i:02d}.txt"
        p.write_bytes(b"".join(lines[i * per : (i + 1) * per]))
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> list[Path]:
    src = SHARED / "sst2" / "train.txt"
    if not src.exists():
        pytest.skip(f"shared dataset missing: {src}")
    return split(src, tmp_path_factory.mktemp("sst2"), 4, limit=4000)


@pytest.fixture(scope="module")
def client():
    with dask_engine.dask_client(workers=2) as c:
        yield c


def encode_dir(client, parts, folder: Path, hashes: bool = False, **vocab_opts) -> Path:
    """``parts`` encoded as a shard directory with a vocabulary of ``vocab_opts``."""
    vocab, _ = build_vocabulary(
        CorpusReader(parts, READ), make_tokenizer_config(), vocab_options(**vocab_opts)
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = expand_inputs([str(p) for p in parts])
    plan, _ = dask_engine.plan(files, READ, client, 30_000)
    assert len(plan) > len(parts)  # several partitions per file: several shards
    dask_engine.encode_to_dir(client, plan, READ, vocab, folder, hashes=hashes)
    return folder


@pytest.fixture(scope="module")
def enc(client, parts, tmp_path_factory) -> Path:
    """min-count 2, with token hashes."""
    return encode_dir(client, parts, tmp_path_factory.mktemp("enc") / "d", True, min_count=2)


def plan_of(paths, spec, **kw) -> PretrainPlan:
    return PretrainPlan([str(p) for p in paths], READ, spec, **kw)


def one_error_line(r) -> str:
    lines = [x for x in r.stderr.strip().splitlines() if not x.startswith("reading ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    assert "Traceback" not in r.output
    return lines[0]


# ------------------------------------------------------------------- pretrain from shards
@pytest.mark.parametrize(
    ("kw", "spec"),
    [
        ({"min_count": 2}, PretrainSpec(dim=12, epochs=2, threads=1, seed=5, minn=0)),
        # a smaller vocabulary than the directory's: the exact filter on the ids
        ({"min_count": 3, "max_size": 900}, PretrainSpec(dim=8, epochs=1, threads=1, seed=2,
                                                         minn=3, maxn=4, buckets=5000)),
    ],
)  # fmt: skip
def test_vectors_from_shards_are_bit_identical_to_text(enc, parts, kw, spec):
    from_dir = prepare_pretrain(plan_of([enc], spec, **kw))
    from_text = prepare_pretrain(plan_of(parts, spec, **kw))
    assert from_dir.vocab.tokens == from_text.vocab.tokens
    assert from_dir.vocab.counts == from_text.vocab.counts
    assert from_dir.documents == from_text.documents
    # the same ids and the same document bounds: no window crosses a document in either
    np.testing.assert_array_equal(from_dir.corpus.ids, from_text.corpus.ids)
    np.testing.assert_array_equal(from_dir.corpus.offsets, from_text.corpus.offsets)
    a = train_vectors(from_dir.corpus, spec)
    b = train_vectors(from_text.corpus, spec)
    assert a.vectors.tobytes() == b.vectors.tobytes()


def test_shards_are_remapped_block_by_block_into_a_file_map(enc, monkeypatch):
    from embedcli import shard_corpus

    monkeypatch.setattr(shard_corpus, "REMAP_BLOCK", 1000)  # many blocks per shard
    monkeypatch.setenv("EMBEDCLI_MEM_LIMIT", "4K")  # past it: a file map, not RAM
    spec = PretrainSpec(dim=4, threads=1, minn=0)
    small = prepare_pretrain(plan_of([enc], spec, min_count=2))
    monkeypatch.undo()
    whole = prepare_pretrain(plan_of([enc], spec, min_count=2))
    assert small.spilled and not whole.spilled
    np.testing.assert_array_equal(small.corpus.ids, whole.corpus.ids)
    np.testing.assert_array_equal(small.corpus.offsets, whole.corpus.offsets)
    assert shard_corpus.shard_corpus_of([str(enc)]) == str(enc)


def test_vocabulary_options_that_need_another_vocabulary_are_refused(client, enc, parts, tmp_path):
    spec = PretrainSpec(dim=4, threads=1, minn=0)
    with pytest.raises(UsageError, match="--min-count must be at least 2"):
        prepare_pretrain(plan_of([enc], spec, min_count=1))
    with pytest.raises(UsageError, match="tokenized with"):
        prepare_pretrain(plan_of([enc], spec, min_count=2, lower=False))
    with pytest.raises(UsageError, match="one encoded shard directory"):
        prepare_pretrain(plan_of([enc, parts[0]], spec, min_count=2))
    cut = encode_dir(client, parts[:1], tmp_path / "cut", min_count=2, max_size=300)
    with pytest.raises(UsageError, match="cut at --max-size 300"):
        prepare_pretrain(plan_of([cut], spec, min_count=2))
    inside = prepare_pretrain(plan_of([cut], spec, min_count=2, max_size=200))
    text = prepare_pretrain(plan_of(parts[:1], spec, min_count=2, max_size=200))
    assert inside.vocab.tokens == text.vocab.tokens and len(text.vocab) == 200
    np.testing.assert_array_equal(inside.corpus.ids, text.corpus.ids)


def test_cli_checksum_mismatch_and_usage_lines(enc, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(enc, bad)
    with open(bad / "vocab.tsv", "a") as f:
        f.write("\n")
    r = runner.invoke(app, ["pretrain", str(bad), "-o", str(tmp_path / "m"), "--min-count", "2"])
    assert r.exit_code == 1
    assert "does not match the checksum in its manifest" in one_error_line(r)
    r = runner.invoke(app, ["pretrain", str(enc), "-o", str(tmp_path / "m"), "--min-count", "1"])
    assert r.exit_code == 2
    assert "--min-count must be at least 2" in one_error_line(r)
    assert not (tmp_path / "m").exists()
    incomplete = tmp_path / "incomplete"
    shutil.copytree(enc, incomplete)
    (incomplete / "manifest.json").unlink()
    r = runner.invoke(app, ["pretrain", str(incomplete), "-o", str(tmp_path / "m")])
    assert r.exit_code == 1
    assert "incomplete encoded directory" in one_error_line(r)


def test_cli_pretrain_from_shards_writes_the_text_model(enc, parts, tmp_path):
    opts = ["--dim", "8", "--epochs", "1", "--threads", "1", "--seed", "3", "--min-count", "2",
            "--minn", "0", "-q"]  # fmt: skip
    r = runner.invoke(app, ["pretrain", str(enc), "-o", str(tmp_path / "a"), *opts])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["pretrain", *map(str, parts), "-o", str(tmp_path / "b"), *opts])
    assert r.exit_code == 0, r.output
    for name in ("embeddings.npy", "vocab.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


# ------------------------------------------------------------------------- token hashes
def test_train_word_ngrams_from_shards_equals_text(enc, parts, tmp_path):
    manifest = shard_dir.read_manifest(enc)
    assert manifest["minor_version"] == 1
    assert manifest["hashes"] == {"scheme": "fasttext-2017", "eos_bucket": True}
    assert all(set(r["files"]) >= {"hashes", "hash_offsets"} for r in manifest["shards"])
    opts = ["--word-ngrams", "2", "--dim", "8", "--epochs", "2", "--threads", "1", "--seed", "4",
            "--buckets", "20000", "-q"]  # fmt: skip
    r = runner.invoke(app, ["train", str(enc), "-o", str(tmp_path / "a"), *opts])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["train", *map(str, parts), "--min-count", "2", "-o", str(tmp_path / "b"), *opts]
    )
    assert r.exit_code == 0, r.output
    for name in ("embeddings.npy", "classifier.npz", "vocab.tsv", "labels.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["model"]["word_ngrams"] == 2


def test_directory_without_hashes_loads_and_refuses_only_word_ngrams(client, parts, tmp_path):
    old = encode_dir(client, parts[:2], tmp_path / "old", min_count=2)
    # a format 1.0 manifest, as embedcli wrote before hashes existed
    manifest = json.loads((old / "manifest.json").read_text())
    for key in ("minor_version", "hashes"):
        manifest.pop(key)
    for rec in manifest["shards"]:
        rec.pop("hashes")
    (old / "manifest.json").write_text(json.dumps(manifest))
    assert not list(old.glob("*.hashes.npy"))
    assert shard_dir.load_corpus(old).n_docs > 0
    with pytest.raises(FormatError, match="without token hashes"):
        shard_dir.load_corpus(old, hashes=True)
    r = runner.invoke(
        app, ["train", str(old), "--word-ngrams", "2", "-o", str(tmp_path / "m"), "--dim", "4"]
    )
    assert r.exit_code == 2
    assert "encoded without --hashes" in one_error_line(r)
    r = runner.invoke(
        app, ["train", str(old), "--word-ngrams", "1", "-o", str(tmp_path / "m"), "--dim", "4",
              "--epochs", "1", "-q"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output


def test_hashes_change_which_shards_a_rerun_keeps(client, parts, tmp_path):
    vocab, _ = build_vocabulary(
        CorpusReader(parts[:1], READ), make_tokenizer_config(), vocab_options(min_count=2)
    )
    plan, _ = dask_engine.plan(expand_inputs([str(parts[0])]), READ, client, 30_000)
    out = tmp_path / "d"
    out.mkdir()
    first = dask_engine.encode_to_dir(client, plan, READ, vocab, out)
    assert first["hashes"] is None and not list(out.glob("*.hashes.npy"))
    hashed = dask_engine.encode_to_dir(client, plan, READ, vocab, out, hashes=True)
    assert hashed["kept"] == 0  # shards without hashes are not what the job asks for
    again = dask_engine.encode_to_dir(client, plan, READ, vocab, out, hashes=True)
    assert again["kept"] == len(plan)
    local = CorpusReader(parts[:1], READ)
    from embedcli.sequences import encode_corpus

    want = encode_corpus(local, vocab, hashes=True).hashes
    got = shard_dir.load_corpus(out, hashes=True).hashes
    np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_array_equal(got.offsets, want.offsets)


# ------------------------------------------------------------------ pretrain --engine dask
def test_encode_hashes_needs_a_shard_directory(parts, tmp_path):
    vocab = tmp_path / "v.tsv"
    assert runner.invoke(app, ["build-vocab", str(parts[0]), "-o", str(vocab), "-q"]).exit_code == 0
    r = runner.invoke(
        app, ["encode", str(parts[0]), "--vocab", str(vocab), "-o", str(tmp_path / "x.npy"),
              "--hashes"],
    )  # fmt: skip
    assert r.exit_code == 2
    assert "--hashes applies to an encoded shard directory" in one_error_line(r)


@pytest.mark.slow
def test_pretrain_engine_dask_equals_local_and_cleans_its_shards(parts, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    opts = ["--dim", "8", "--epochs", "1", "--threads", "1", "--seed", "3", "--min-count", "2",
            "--minn", "0", "-q"]  # fmt: skip
    out = tmp_path / "dask_model"
    # what a killed run left beside the output (pid 2**22 + 1 is above pid_max's default)
    stale = tmp_path / f".dask_model.{2**22 + 1}.abcdefgh.tmp"
    stale.mkdir()
    (stale / "part-00000.tokens.npy").write_bytes(b"x")
    cmd = [sys.executable, "-m", "embedcli", "pretrain"]
    r = subprocess.run(
        [*cmd, *map(str, parts), "-o", str(out), "--engine", "dask", "--workers", "2",
         "--partition-size", "30000", *opts],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [*cmd, *map(str, parts), "-o", str(tmp_path / "local"), *opts],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    for name in ("embeddings.npy", "vocab.tsv"):
        assert (out / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".dask_model.")]
    assert leftovers == [], leftovers


# ------------------------------------------------------------------------- train --engine dask
@pytest.mark.slow
def test_train_engine_dask_equals_local_and_cleans_its_shards(tmp_path):
    src = SHARED / "sst2" / "train.txt"
    if not src.exists():
        pytest.skip(f"shared dataset missing: {src}")
    files = split(src, tmp_path / "sst2", 3, limit=3000)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # default --word-ngrams 2: the cluster's shards carry the token hashes
    opts = ["--dim", "8", "--epochs", "2", "--threads", "1", "--seed", "1", "--buckets", "20000",
            "-q"]  # fmt: skip
    out = tmp_path / "m1"
    stale = tmp_path / f".m1.{2**22 + 1}.abcdefgh.tmp"  # what a killed run left beside the output
    stale.mkdir()
    (stale / "part-00000.tokens.npy").write_bytes(b"x")
    cmd = [sys.executable, "-m", "embedcli", "train", *map(str, files)]
    r = subprocess.run(
        [*cmd, "-o", str(out), "--engine", "dask", "--workers", "2", *opts],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = subprocess.run(
        [*cmd, "-o", str(tmp_path / "m2"), *opts],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    for name in ("embeddings.npy", "classifier.npz", "vocab.tsv", "labels.tsv"):
        assert (out / name).read_bytes() == (tmp_path / "m2" / name).read_bytes(), name
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".m1.")]
    assert leftovers == [], leftovers


def test_train_engine_dask_usage_lines(enc, parts, tmp_path):
    out = str(tmp_path / "m")
    cases = [
        ([str(enc)], [], "is already encoded: drop --engine dask"),
        ([str(parts[0])], ["--minn", "2", "--maxn", "4"], "subwords need the text files"),
        ([str(parts[0])], ["--resume", str(tmp_path / "ck")], "drop --engine dask"),
        ([str(parts[0])], ["--vocab", str(tmp_path / "v.tsv")], "drop --vocab"),
    ]
    for corpus, extra, message in cases:
        r = runner.invoke(app, ["train", *corpus, "-o", out, "--engine", "dask", *extra])
        assert r.exit_code == 2, r.output
        assert message in r.output, r.output
        assert "Traceback" not in r.output
    assert not any(p.name.startswith(".m.") for p in tmp_path.iterdir())


def test_train_engine_dask_refuses_in_memory_documents(tmp_path):
    from embedcli.pipeline import TrainPlan, prepare_training
    from embedcli.shard_corpus import DaskPlan

    plan = TrainPlan(
        train_paths=["<memory>"],
        corpus_options=CorpusOptions(skip_blank=True, require_labels=True),
        config={},
        train_docs=[],
        dask=DaskPlan(str(tmp_path / "m")),
    )
    with pytest.raises(UsageError, match="not in-memory documents"):
        prepare_training(plan)
