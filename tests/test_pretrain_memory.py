"""``embedcli pretrain``'s memory: the encoded corpus lives in an unlinked temporary file
(``embedcli.pretrain_spec.IdFile``) and the trainer holds one chunk of it per thread, never the
whole corpus; the training is the same as from an in-memory array, bit for bit; reading and
encoding run before numba is imported.

The peak resident memory of whole runs (imdb and 10x imdb against gensim and fastText) is a
benchmark, not a test: README "Pretrain memory"."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import embedcli.pretrain as pretrain_module
from embedcli import pretrain_kernels as pk
from embedcli.corpus import CorpusOptions
from embedcli.pretrain import PretrainCorpus, PretrainSpec, train_vectors
from embedcli.pretrain_run import PretrainPlan, compact_ids, compact_to_file, prepare_pretrain
from embedcli.pretrain_spec import IdFile

REPO = Path(__file__).resolve().parents[1]


def write_corpus(path: Path, docs: int, words: int, seed: int = 0) -> int:
    """``docs`` lines of random words ``w0 .. w{words-1}`` (Zipf-like), 0..200 tokens each;
    returns the number of tokens."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 200, size=docs)
    ids = np.minimum(rng.zipf(1.3, size=int(lengths.sum())) - 1, words - 1)
    names = np.array([f"w{i}" for i in range(words)])
    with open(path, "w", encoding="utf-8") as f:
        pos = 0
        for n in lengths:
            f.write(" ".join(names[ids[pos : pos + n]]) + "\n")
            pos += n
    return int(lengths.sum())


def plan_of(path: Path, **spec: object) -> PretrainPlan:
    return PretrainPlan(
        paths=[str(path)],
        corpus_options=CorpusOptions(),
        spec=PretrainSpec(**{"dim": 8, "epochs": 2, "minn": 0, "threads": 1, "seed": 1, **spec}),
        min_count=2,
    )


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# -- the file -------------------------------------------------------------------------------------
def test_id_file_has_no_name_so_a_killed_run_leaves_nothing(private_tmp: Path) -> None:
    f = IdFile()
    f.append(np.arange(10, dtype=np.int32))
    assert os.listdir(private_tmp) == []  # unlinked from the start: gone with the process
    f.write(3, np.array([-1, -2], dtype=np.int32))
    assert f.read(2, 6).tolist() == [2, -1, -2, 5] and len(f) == 10
    assert f[8:].tolist() == [8, 9] and np.asarray(f).tolist()[:4] == [0, 1, 2, -1]
    out = np.zeros(4, dtype=np.int32)
    assert f.read(0, 3, out).base is out  # read into the caller's buffer
    assert [s for s, _ in f.blocks(4)] == [0, 4, 8]
    with pytest.raises(IndexError):
        f.read(5, 11)
    f.truncate(4)
    assert len(f) == 4 and f[:].tolist() == [0, 1, 2, -1]
    f.close()


@pytest.mark.parametrize("block", [1, 7, 1 << 20])
def test_compaction_into_the_file_equals_compact_ids(block: int) -> None:
    rng = np.random.default_rng(block)
    tokens = rng.integers(0, 9, size=5_000).astype(np.int32)
    cuts = np.sort(rng.integers(0, len(tokens), size=300))
    offsets = np.concatenate([[0], cuts, [len(tokens)], [len(tokens)]]).astype(np.int64)
    want_ids, want_offsets = compact_ids(tokens.copy(), offsets, 2)
    from_array = IdFile()
    got = compact_to_file(tokens, offsets, 2, from_array, block=block)
    assert got.tolist() == want_offsets.tolist()
    assert np.asarray(from_array).tolist() == want_ids.tolist()
    in_place = IdFile()  # the file rewritten where it lies
    in_place.append(tokens)
    got = compact_to_file(in_place, offsets, 2, in_place, block=block)
    assert got.tolist() == want_offsets.tolist()
    assert np.asarray(in_place).tolist() == want_ids.tolist()


# -- the trainer ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["cbow", "skipgram"])
def test_the_trainer_holds_one_chunk_per_thread_and_trains_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """The prepared corpus is a file; the kernel sees chunks of it, never the whole corpus, and
    the vectors equal those trained from the same ids in memory, bit for bit (one thread)."""
    monkeypatch.setattr(pretrain_module, "CHUNK_TOKENS", 3_000)
    tokens = write_corpus(tmp_path / "c.txt", 400, 300)
    prepared = prepare_pretrain(plan_of(tmp_path / "c.txt", method=method))
    corpus = prepared.corpus
    assert isinstance(corpus.ids, IdFile), "the encoded corpus is held in memory"
    assert 0.9 * tokens < len(corpus.ids) <= tokens
    seen: list[int] = []
    kernel = pk.train_docs

    def spy(params, data, opt, st, lo, hi):
        seen.append(len(data.ids))
        return kernel(params, data, opt, st, lo, hi)

    monkeypatch.setattr(pk, "train_docs", spy)
    spec = prepared.plan.spec
    from_file = train_vectors(corpus, spec)
    assert seen and max(seen) <= 3_000 + pk.BLOCK < len(corpus.ids)
    in_memory = PretrainCorpus(np.asarray(corpus.ids), corpus.offsets, corpus.counts, corpus.words)
    seen.clear()
    from_array = train_vectors(in_memory, spec)
    assert max(seen) == len(corpus.ids)  # an array corpus is passed whole (no copy)
    np.testing.assert_array_equal(from_file.vectors, from_array.vectors)
    assert from_file.stats["loss"] == from_array.stats["loss"]


def test_two_threads_read_their_own_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrain_module, "CHUNK_TOKENS", 2_000)
    write_corpus(tmp_path / "c.txt", 300, 200, seed=3)
    prepared = prepare_pretrain(plan_of(tmp_path / "c.txt", threads=2, epochs=1))
    trained = train_vectors(prepared.corpus, prepared.plan.spec)
    assert trained.stats["threads"] == 2
    assert trained.stats["tokens"] == len(prepared.corpus.ids)  # every token read once
    assert np.isfinite(trained.vectors).all() and np.abs(trained.vectors).sum() > 0


def test_an_id_outside_the_vocabulary_in_the_file_is_one_error() -> None:
    f = IdFile()
    f.append(np.array([0, 1, 5], dtype=np.int32))
    corpus = PretrainCorpus(f, np.array([0, 3]), np.array([1, 1]), ["a", "b"])
    with pytest.raises(pretrain_module.DataError, match="token id 5 outside 0..1"):
        train_vectors(corpus, PretrainSpec(dim=4, minn=0, threads=1))


# -- the process ----------------------------------------------------------------------------------
MEASURE = """
import sys
def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon"):
            return int(line.split()[1]) * 1024
from embedcli.corpus import CorpusOptions
from embedcli.pretrain_run import PretrainPlan, prepare_pretrain
from embedcli.pretrain_spec import PretrainSpec
before = anon()
plan = PretrainPlan(paths=[sys.argv[1]], corpus_options=CorpusOptions(),
                    spec=PretrainSpec(dim=8, minn=0, threads=1), min_count=2)
prepared = prepare_pretrain(plan)
print(anon() - before, len(prepared.corpus.ids) * 4, "numba" in sys.modules)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_the_prepared_corpus_is_not_resident_and_numba_is_not_loaded(tmp_path: Path) -> None:
    """After reading and encoding 2.4M tokens (9.6 MB of int32 ids), the process' anonymous
    memory has grown by much less than the ids (the vocabulary and freed pages only), and the
    numba runtime (~110 MB resident) has not been loaded yet."""
    write_corpus(tmp_path / "c.txt", 24_000, 1_000, seed=5)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path / "c.txt")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr
    grown, id_bytes, numba = r.stdout.split()
    assert int(id_bytes) > 9_000_000
    assert int(grown) < int(id_bytes) // 3, r.stdout
    assert numba == "False"
