"""``train --init-vectors MODEL_DIR``: word rows (and subword rows) from an embedcli model
directory of kind "vectors" (``embedcli pretrain``'s layout, written here by hand with
modeldir's helpers) or from a classifier's word rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app
from embedcli.corpus import CorpusOptions
from embedcli.errors import FormatError, UsageError
from embedcli.model import featurize, pooled
from embedcli.modeldir import MODEL_FORMAT, MODEL_VERSION, save_npy_sha256, sha256_file
from embedcli.pipeline import TrainPlan, prepare_training
from embedcli.spec import InitEmbeddings, ModelSpec, TrainConfig
from embedcli.subwords import SubwordSpec, subword_buckets
from embedcli.train import initial_parameters
from embedcli.vectors_dir import compose, read_pretrained_model
from embedcli.vocab import Vocabulary

runner = CliRunner()
DIM = 8
SPEC = SubwordSpec(3, 5, 4096)
PRETRAINED_WORDS = ["movie", "great", "awful", "boring", "plot", "acting"]


def write_vectors_model(
    path: Path, words: list[str], spec: SubwordSpec | None, seed: int = 0
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A "vectors" directory as the contract describes it: composed vectors (the mean of a word's
    own row and its n-gram rows), the compact table of the buckets the words use. Returns
    (word -> composed vector, buckets, rows)."""
    rng = np.random.default_rng(seed)
    vocab = Vocabulary.from_counts(words, list(range(100, 100 - len(words), -1)))
    own = {w: rng.normal(size=DIM).astype(np.float32) for w in words}
    buckets = np.zeros(0, np.int64)
    rows = np.zeros((0, DIM), np.float32)
    composed = dict(own)
    if spec is not None:
        per_word = subword_buckets(words, spec)
        buckets = np.unique(np.concatenate(per_word))
        rows = rng.normal(size=(len(buckets), DIM)).astype(np.float32)
        for w, b in zip(words, per_word):
            r = rows[np.searchsorted(buckets, b)]
            composed[w] = ((own[w] + r.sum(axis=0)) / (1 + len(b))).astype(np.float32)
    path.mkdir()
    table = np.zeros((len(vocab), DIM), np.float32)
    for i, t in enumerate(vocab.tokens):
        if t in composed:
            table[i] = composed[t]
    files = {"embeddings.npy": save_npy_sha256(path / "embeddings.npy", table)}
    vocab.save(path / "vocab.tsv")
    files["vocab.tsv"] = sha256_file(path / "vocab.tsv")
    if spec is not None:
        files["subword_buckets.npy"] = save_npy_sha256(path / "subword_buckets.npy", buckets)
        files["subword_rows.npy"] = save_npy_sha256(path / "subword_rows.npy", rows)
    model = {"dim": DIM, "method": "skipgram", "subwords": spec.to_json() if spec else None}
    config = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "kind": "vectors",
        "model": model,
        "tokenizer": vocab.tokenizer_config.to_dict(),
        "labels": [],
        "files": files,
    }
    (path / "config.json").write_text(json.dumps(config))
    return composed, buckets, rows


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    lines = [
        "__label__pos great movie great acting",
        "__label__neg awful plot boring movie",
        "__label__pos movies greatest",  # 'movies', 'greatest' are not pretrained words
        "__label__neg zzz qqq",  # no n-gram of these exists in the pretrained table
    ]
    path = tmp_path / "train.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare(corpus: Path, init: Path, **config) -> object:
    cfg = {"dim": DIM, "word_ngrams": 1, "seed": 0, **config}
    plan = TrainPlan([str(corpus)], CorpusOptions(require_labels=True), cfg, init_vectors=str(init))
    return prepare_training(plan)


def test_words_found_and_composed_from_subwords(tmp_path: Path, corpus: Path) -> None:
    composed, buckets, rows = write_vectors_model(tmp_path / "vec", PRETRAINED_WORDS, SPEC)
    p = prepare(corpus, tmp_path / "vec")  # the run has no subwords: word rows only
    init, vocab, cov = p.init_embeddings, p.vocab, p.init_coverage
    assert isinstance(init, InitEmbeddings) and len(init.bucket_ids) == 0
    for w in ("great", "movie", "acting", "awful", "plot", "boring"):
        np.testing.assert_array_equal(init.words[vocab.id_of(w)], composed[w])
    for w in ("movies", "greatest"):  # mean of their n-gram rows present in the table
        expected, has = compose([w], SPEC, buckets, rows)
        assert has[0]
        np.testing.assert_allclose(init.words[vocab.id_of(w)], expected[0], rtol=1e-6)
    assert (cov["words_hit"], cov["words_composed"], cov["words_missed"]) == (6, 2, 2)
    assert cov["subword_rows"] == 0 and "not copied" in cov["subword_note"]
    assert any("6 words found, 2 composed from subwords, 2 missed" in n for n in p.notes)
    # hand check of one composition: the n-grams of "movies" that "movie" shares
    b = subword_buckets(["movies"], SPEC)[0]
    present = [rows[np.searchsorted(buckets, x)] for x in b if x in set(buckets.tolist())]
    np.testing.assert_allclose(
        init.words[vocab.id_of("movies")], np.mean(present, axis=0), rtol=1e-6
    )


def test_same_subword_spec_copies_the_rows_and_words_average_to_their_vectors(
    tmp_path: Path, corpus: Path
) -> None:
    composed, buckets, rows = write_vectors_model(tmp_path / "vec", PRETRAINED_WORDS, SPEC)
    # --buckets left to choose: the run takes the pretrained model's 4096
    p = prepare(corpus, tmp_path / "vec", minn=3, maxn=5)
    init, vocab = p.init_embeddings, p.vocab
    assert p.plan.config["buckets"] == SPEC.buckets and p.init_coverage["subword_rows"] == len(
        buckets
    )
    np.testing.assert_array_equal(init.bucket_ids, buckets)
    cfg = TrainConfig(**p.plan.config).resolve(p.train.n_docs, len(p.train.tokens), 1)
    spec = cfg.model_spec(len(vocab), 2)
    emb, _dense = initial_parameters(spec, 0, init, None)
    np.testing.assert_array_equal(emb[len(vocab) + buckets], rows)
    # a one-word document pools (mean of own row and n-gram rows) to the pretrained vector
    from embedcli.sequences import encode_texts

    words = ["great", "movie", "movies"]
    enc = encode_texts(words, vocab, subwords=(3, 5))
    params = type("P", (), {"embeddings": emb})()
    vecs = pooled(params, spec, enc.tokens, enc.offsets, hashes=enc.hashes)
    np.testing.assert_allclose(vecs[0], composed["great"], atol=1e-5)
    np.testing.assert_allclose(vecs[1], composed["movie"], atol=1e-5)
    # "movies" (composed): its own row is the mean of its pretrained n-gram rows, its n-grams
    # that no pretrained word has start at zero
    feats = featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    doc = feats[0][feats[1][2] : feats[1][3]]
    np.testing.assert_allclose(vecs[2], emb[doc].mean(axis=0), atol=1e-6)
    assert np.all(emb[doc[1:]][~np.isin(doc[1:] - len(vocab), buckets)] == 0)


def test_other_subword_spec_copies_no_rows(tmp_path: Path, corpus: Path) -> None:
    write_vectors_model(tmp_path / "vec", PRETRAINED_WORDS, SPEC)
    p = prepare(corpus, tmp_path / "vec", minn=2, maxn=4, buckets=4096)
    assert len(p.init_embeddings.bucket_ids) == 0
    assert any("were not copied: this run's subwords are 2-4" in n for n in p.notes)


def test_a_model_without_subwords_gives_word_rows_only(tmp_path: Path, corpus: Path) -> None:
    composed, _, _ = write_vectors_model(tmp_path / "vec", PRETRAINED_WORDS, None)
    p = prepare(corpus, tmp_path / "vec", minn=3, maxn=5)
    np.testing.assert_array_equal(p.init_embeddings.words[p.vocab.id_of("plot")], composed["plot"])
    cov = p.init_coverage
    assert (cov["words_hit"], cov["words_composed"], cov["words_missed"]) == (6, 0, 4)


def test_cli_trains_from_a_vectors_model_and_reports_coverage(tmp_path: Path, corpus: Path) -> None:
    write_vectors_model(tmp_path / "vec", PRETRAINED_WORDS, SPEC)
    args = [
        "train",
        str(corpus),
        "-o",
        str(tmp_path / "m"),
        "--init-vectors",
        str(tmp_path / "vec"),
    ]
    args += ["--dim", str(DIM), "--epochs", "2", "--threads", "1", "--minn", "3", "--maxn", "5"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "2 composed from subwords" in r.output and "subword rows copied" in r.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["init_vectors"]["words_composed"] == 2
    assert config["model"]["subwords"] == SPEC.to_json()
    # a dimension mismatch is one line, exit 2
    r = runner.invoke(app, [*args[:-6], "--dim", "16", "--epochs", "1", "--force"])
    assert r.exit_code == 2, r.output
    errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "dimension 8 but --dim is 16" in errors[0], r.output
    assert "Traceback" not in r.output


def test_a_classifier_model_lends_its_word_rows(tmp_path: Path, corpus: Path) -> None:
    base = ["train", str(corpus), "--dim", str(DIM), "--epochs", "1", "--threads", "1", "--quiet"]
    r = runner.invoke(app, [*base, "-o", str(tmp_path / "clf")])
    assert r.exit_code == 0, r.output
    clf = np.load(tmp_path / "clf" / "embeddings.npy")
    src = Vocabulary.load(tmp_path / "clf" / "vocab.tsv")
    p = prepare(corpus, tmp_path / "clf")
    for w in ("great", "zzz"):
        np.testing.assert_array_equal(p.init_embeddings.words[p.vocab.id_of(w)], clf[src.id_of(w)])
    assert p.init_coverage["words_missed"] == 0


def test_damaged_or_unknown_directories_are_one_line_errors(tmp_path: Path, corpus: Path) -> None:
    write_vectors_model(tmp_path / "vec", PRETRAINED_WORDS, SPEC)
    rows = np.load(tmp_path / "vec" / "subword_rows.npy")
    rows[0, 0] += 1
    np.save(tmp_path / "vec" / "subword_rows.npy", rows)
    with pytest.raises(FormatError, match="subword_rows.npy is damaged"):
        read_pretrained_model(tmp_path / "vec")
    (tmp_path / "other").mkdir()
    cfg = {"format": MODEL_FORMAT, "version": 1, "kind": "tokenizer", "model": {}, "files": {}}
    (tmp_path / "other" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(FormatError, match="unknown model kind"):
        read_pretrained_model(tmp_path / "other")
    (tmp_path / "empty").mkdir()
    for name, code in (("vec", 1), ("other", 1), ("empty", 1)):
        r = runner.invoke(
            app,
            ["train", str(corpus), "-o", str(tmp_path / "m"), "--dim", str(DIM),
             "--init-vectors", str(tmp_path / name)],
        )  # fmt: skip
        assert r.exit_code == code, r.output
        assert sum(line.startswith("Error:") for line in r.output.splitlines()) == 1, r.output


def test_init_embeddings_bucket_rows_are_checked() -> None:
    spec = ModelSpec(10, 16, DIM, 2, minn=3, maxn=5)
    bad = InitEmbeddings(np.zeros((10, DIM), np.float32), np.array([16]), np.zeros((1, DIM)))
    with pytest.raises(UsageError):
        initial_parameters(spec, 0, bad, None)
