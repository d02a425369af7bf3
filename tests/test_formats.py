"""Array outputs of ``encode`` and the atomic file/directory writers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedcli.atomic import atomic_dir, atomic_write, check_writable_dir
from embedcli.corpus import Document
from embedcli.errors import DataError, UsageError
from embedcli.formats import read_ids_text, write_ids, write_ids_text
from embedcli.outputs import mark
from embedcli.sequences import encode_corpus, pad_ragged
from embedcli.text import Tokenizer
from embedcli.vocab import TokenCounter


def _encoded():
    counter = TokenCounter(Tokenizer())
    counter.add(["a b c", "b c d"], [("pos",), ("neg",)])
    vocab = counter.vocabulary()
    docs = [Document("a b", ("neg",)), Document("d d d c", ("pos", "neg")), Document("", ())]
    enc = encode_corpus(docs, vocab)
    return vocab, enc, pad_ragged(enc.tokens, enc.offsets, 3, padding="post", truncating="post")


def test_npy_is_int32_matrix(tmp_path: Path) -> None:
    vocab, enc, ids = _encoded()
    write_ids(tmp_path / "ids.npy", ids, enc, vocab.labels)
    got = np.load(tmp_path / "ids.npy", allow_pickle=False)
    assert got.dtype == np.int32 and got.shape == (3, 3)
    assert np.array_equal(got, ids)


def test_npz_has_ids_labels_and_names(tmp_path: Path) -> None:
    vocab, enc, ids = _encoded()
    write_ids(tmp_path / "ids.npz", ids, enc, vocab.labels)
    with np.load(tmp_path / "ids.npz", allow_pickle=False) as z:
        assert {"ids", "labels", "label_names", "label_ids", "label_offsets"} <= set(z.files)
        assert np.array_equal(z["ids"], ids)
        names = z["label_names"].tolist()
        assert names == vocab.labels
        assert [names[i] if i >= 0 else None for i in z["labels"]] == ["neg", "pos", None]
        assert z["label_offsets"].tolist() == [0, 1, 3, 3]


def test_text_ids_round_trip(tmp_path: Path) -> None:
    vocab, enc, ids = _encoded()
    write_ids(tmp_path / "ids.txt", ids, enc, vocab.labels)
    lines = (tmp_path / "ids.txt").read_text().splitlines()
    assert read_ids_text(lines) == ids.tolist()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=3, max_size=3), max_size=30))
def test_write_ids_text_round_trip(rows) -> None:
    ids = np.array(rows, dtype=np.int32).reshape(len(rows), 3)
    buf = io.StringIO()
    write_ids_text(buf, ids, block=7)
    assert read_ids_text(buf.getvalue().splitlines()) == rows


# -- atomic writes ----------------------------------------------------------------------------------
def test_atomic_write_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    mark(target)  # written by embedcli earlier: only such a file is replaced
    with atomic_write(target) as f:
        f.write("new")
        assert target.read_text() == "old"  # not visible before the end
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_write_keeps_old_file_when_body_raises(tmp_path: Path) -> None:
    target = tmp_path / "out.npy"
    target.write_text("old")
    mark(target)
    with pytest.raises(RuntimeError), atomic_write(target, "wb") as f:
        f.write(b"partial")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npy"]  # no temp file left


def test_atomic_write_new_file_not_created_on_error(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), atomic_write(tmp_path / "new.txt") as f:
        f.write("x")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_into_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"), atomic_write(tmp_path / "no" / "x.txt"):
        pass
    with pytest.raises(DataError):
        check_writable_dir(tmp_path / "no" / "x.txt")
    check_writable_dir("-")


def test_atomic_dir_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    mark(target)
    with atomic_dir(target) as d:
        (d / "new.txt").write_text("new")
        assert (target / "old.txt").exists()
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_dir_keeps_old_directory_when_body_raises(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    mark(target)
    with pytest.raises(ValueError), atomic_dir(target) as d:
        (d / "half.txt").write_text("half")
        raise ValueError("boom")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_atomic_dir_refuses_to_replace_a_file(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.write_text("a file")
    with pytest.raises(UsageError, match="not a directory"), atomic_dir(target) as d:
        (d / "x").write_text("x")
    assert target.read_text() == "a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
