"""Nearest neighbours and analogies: a hand-worked case, then agreement with gensim's most_similar."""

from __future__ import annotations

import numpy as np
import pytest

from embedcli.errors import UsageError
from embedcli.similarity import NeighborIndex


def test_hand_worked_neighbours_exclude_the_query_and_reserved_rows():
    # rows: 0 pad, 1 [UNK], 2..4 words, 5 an n-gram bucket row identical to word 2
    E = np.array([[0, 0], [1, 0], [1, 0], [0.8, 0.6], [0, 1], [1, 0]], np.float32)
    index = NeighborIndex(E, first=2, stop=5)
    (result,) = index.nearest([2], k=5)
    assert [i for i, _ in result] == [3, 4]  # not 2 itself, not 1 ([UNK]) nor 5 (bucket)
    assert result[0][1] == pytest.approx(0.8)
    assert result[1][1] == pytest.approx(0.0)


def test_zero_rows_score_zero_and_ties_are_ordered_by_id():
    E = np.array([[0, 0], [0, 0], [1, 0], [2, 0], [3, 0], [0, 0]], np.float32)
    index = NeighborIndex(E, first=1, stop=6)
    (result,) = index.nearest([2], k=4)
    assert result == [(3, pytest.approx(1.0)), (4, pytest.approx(1.0)), (1, 0.0), (5, 0.0)]


def test_k_must_be_positive_and_queries_nonempty():
    index = NeighborIndex(np.eye(4, dtype=np.float32), 1, 4)
    with pytest.raises(UsageError):
        index.nearest([1], k=0)
    with pytest.raises(UsageError):
        index.combine([], [], k=3)


def test_k_larger_than_the_vocabulary_returns_every_other_word():
    index = NeighborIndex(np.eye(5, dtype=np.float32), 1, 5)
    (result,) = index.nearest([1], k=100)
    assert sorted(i for i, _ in result) == [2, 3, 4]


@pytest.fixture(scope="module")
def random_table():
    rng = np.random.default_rng(3)
    return rng.standard_normal((500, 16)).astype(np.float32)


def _gensim(E):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=E.shape[1])
    kv.add_vectors([f"w{i}" for i in range(len(E))], E)
    return kv


def test_nearest_agrees_with_gensim(random_table):
    kv = _gensim(random_table)
    index = NeighborIndex(random_table, 0, len(random_table))
    ours = index.nearest([7, 42], k=10)
    for q, result in zip([7, 42], ours, strict=True):
        theirs = kv.most_similar(f"w{q}", topn=10)
        assert [f"w{i}" for i, _ in result] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in result], [s for _, s in theirs], rtol=1e-5)


def test_analogy_agrees_with_gensim(random_table):
    kv = _gensim(random_table)
    index = NeighborIndex(random_table, 0, len(random_table))
    ours = index.analogy(3, 10, 20, k=8)  # b - a + c = w10 - w3 + w20
    theirs = kv.most_similar(positive=["w10", "w20"], negative=["w3"], topn=8)
    assert [f"w{i}" for i, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-5)
    assert not {3, 10, 20} & {i for i, _ in ours}


def test_memory_mapped_table_in_blocks(tmp_path, random_table, monkeypatch):
    import embedcli.similarity as sim

    path = tmp_path / "e.npy"
    np.save(path, random_table)
    mm = np.load(path, mmap_mode="r")
    monkeypatch.setattr(sim, "BLOCK_ROWS", 64)  # several blocks, ragged last one
    blocked = sim.NeighborIndex(mm, 2, 480).nearest([5, 9], k=7)
    monkeypatch.setattr(sim, "BLOCK_ROWS", 1 << 20)
    whole = sim.NeighborIndex(random_table, 2, 480).nearest([5, 9], k=7)
    assert [[i for i, _ in r] for r in blocked] == [[i for i, _ in r] for r in whole]
