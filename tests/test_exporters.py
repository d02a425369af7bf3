"""Exports read back with the real consumers: numpy, csv, gensim (word2vec text and binary),
PyTorch when installed; names, row selection, float32 round-trips and atomicity."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import embedcli.exporters as ex
from embedcli.errors import DataError, UsageError

TOKENS = ["", "[UNK]", "the", "movie", "café"]
BUCKETS = 3


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    E = rng.standard_normal((len(TOKENS) + BUCKETS, 4)).astype(np.float32)
    E[0] = 0.0
    E[2, 0] = np.float32(1e-40)  # a subnormal must survive the text formats too
    return E


def rows(words_only=False):
    return ex.select_rows(
        TOKENS, len(TOKENS) + BUCKETS, first_word=2, counts=[0, 0, 9, 5, 1], words_only=words_only
    )


def test_row_selection_and_names():
    full = rows()
    assert full.ids.tolist() == list(range(8))
    assert full.names == TOKENS + ["<bucket_0>", "<bucket_1>", "<bucket_2>"]
    words = rows(words_only=True)
    assert words.ids.tolist() == [2, 3, 4]
    assert words.names == ["the", "movie", "café"]
    assert words.counts == [9, 5, 1]


def test_npy(tmp_path, table):
    out = tmp_path / "e.npy"
    ex.export_embeddings(table, rows(), "npy", out)
    back = np.load(out, allow_pickle=False)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, table)


def test_csv_has_header_padding_as_empty_and_exact_floats(tmp_path, table):
    out = tmp_path / "e.csv"
    ex.export_embeddings(table, rows(), "csv", out)
    with open(out, newline="", encoding="utf-8") as f:
        data = list(csv.reader(f))
    assert data[0] == ["token", "d0", "d1", "d2", "d3"]
    assert [r[0] for r in data[1:]] == TOKENS + ["<bucket_0>", "<bucket_1>", "<bucket_2>"]
    back = np.array([[np.float32(x) for x in r[1:]] for r in data[1:]], np.float32)
    np.testing.assert_array_equal(back, table)


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_read_by_gensim(tmp_path, table, binary):
    from gensim.models import KeyedVectors

    out = tmp_path / ("e.bin" if binary else "e.txt")
    ex.export_embeddings(table, rows(), "word2vec-binary" if binary else "word2vec", out)
    kv = KeyedVectors.load_word2vec_format(str(out), binary=binary)
    assert kv.index_to_key == ["<pad>", "[UNK]", "the", "movie", "café"] + [
        f"<bucket_{i}>" for i in range(BUCKETS)
    ]
    np.testing.assert_array_equal(kv.vectors, table)
    assert kv.get_index("movie") == 3  # row i = token id i


def test_word2vec_words_only(tmp_path, table):
    from gensim.models import KeyedVectors

    out = tmp_path / "w.txt"
    ex.export_embeddings(table, rows(words_only=True), "word2vec", out)
    kv = KeyedVectors.load_word2vec_format(str(out))
    assert kv.index_to_key == ["the", "movie", "café"]
    np.testing.assert_array_equal(kv.vectors, table[2:5])


def test_word2vec_refuses_tokens_with_whitespace(tmp_path, table):
    bad = ex.select_rows(["", "a b"], 2, first_word=1)
    with pytest.raises(DataError, match="whitespace"):
        ex.export_embeddings(table[:2], bad, "word2vec", tmp_path / "x.txt")
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("target", ["proj", "proj/", "pre_"])
def test_projector_directory_or_prefix(tmp_path, table, target):
    paths = ex.export_embeddings(table, rows(words_only=True), "projector", str(tmp_path / target))
    vec, meta = paths[:2]
    assert vec.endswith("vectors.tsv") and meta.endswith("metadata.tsv")
    # a directory also gets the config TensorBoard's projector plugin reads; a prefix does not
    assert [os.path.basename(p) for p in paths[2:]] == (
        [] if target == "pre_" else ["projector_config.pbtxt"]
    )
    vectors = np.loadtxt(vec, delimiter="\t", dtype=np.float32)
    np.testing.assert_array_equal(vectors, table[2:5])
    with open(meta, encoding="utf-8") as f:
        assert f.read().splitlines() == ["word\tcount", "the\t9", "movie\t5", "café\t1"]


def test_projector_into_existing_directory_keeps_other_files(tmp_path, table):
    (tmp_path / "keep.txt").write_text("x")
    ex.export_embeddings(table, rows(), "projector", str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [
        "keep.txt",
        "metadata.tsv",
        "projector_config.pbtxt",
        "vectors.tsv",
    ]
    with open(tmp_path / "metadata.tsv", encoding="utf-8") as f:
        assert f.read().splitlines()[1] == "<pad>\t0"


def test_unknown_format(tmp_path, table):
    with pytest.raises(UsageError, match="unknown export format"):
        ex.export_embeddings(table, rows(), "hdf5", tmp_path / "x")


class FailingTable:
    """An embedding table whose second block of rows cannot be read (a disk error midway)."""

    def __init__(self, table):
        self.table, self.shape, self.ndim, self.reads = table, table.shape, table.ndim, 0

    def __getitem__(self, index):
        self.reads += 1
        if self.reads > 1:
            raise OSError("read error")
        return self.table[index]


@pytest.mark.parametrize("fmt", ex.EXPORT_FORMATS)
def test_error_midway_leaves_no_partial_file(tmp_path, table, monkeypatch, fmt):
    monkeypatch.setattr(ex, "CHUNK_ROWS", 2)
    target = tmp_path / "out" if fmt == "projector" else tmp_path / "out.txt"
    failing = FailingTable(table)
    with pytest.raises(OSError, match="read error"):
        ex.export_embeddings(failing, rows(), fmt, target)
    assert os.listdir(tmp_path) == []


def test_existing_file_survives_a_failed_export(tmp_path, table, monkeypatch):
    from embedcli.outputs import mark

    out = tmp_path / "e.csv"
    out.write_text("old")
    mark(out)  # an earlier export (only embedcli's own files are replaced)
    monkeypatch.setattr(ex, "format_rows", lambda *a: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        ex.export_embeddings(table, rows(), "csv", out)
    assert out.read_text() == "old"
    assert os.listdir(tmp_path) == ["e.csv"]


def test_torch_embedding_from_npy(tmp_path, table):
    torch = pytest.importorskip("torch")
    out = tmp_path / "e.npy"
    ex.export_embeddings(table, rows(), "npy", out)
    emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(np.load(out)), padding_idx=0)
    looked_up = emb(torch.tensor([[3, 2, 0]])).numpy()
    np.testing.assert_array_equal(looked_up[0], table[[3, 2, 0]])


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.integers(1, 20),
        elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
    )
)
def test_float_strings_round_trip_float32(values):
    back = np.array([np.float32(s) for s in ex.float_strings(values)], np.float32)
    np.testing.assert_array_equal(back, values)
    # shortest: never longer than the 9 significant digits that always suffice
    assert all(
        len(s.lstrip("-").replace(".", "").split("e")[0].lstrip("0")) <= 9
        for s in ex.float_strings(values)
    )
