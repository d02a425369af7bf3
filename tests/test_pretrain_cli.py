"""``embedcli pretrain``: reading and encoding into a PretrainCorpus (OOV dropped, ids shifted,
document bounds kept, memory-mapped beyond the memory limit), --dry-run, --json, bad input in one
line, interruption, and the real pipeline pretrain -> lookup/nearest/export in a subprocess.

The CliRunner tests use a stand-in trainer (``vectors_fixtures``) so they test the command and
not the kernels; the subprocess pipeline runs the real ``embedcli.pretrain.train_vectors`` and is
skipped while that is not there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import embedcli.pretrain
from embedcli.cli import app
from embedcli.corpus import CorpusOptions
from embedcli.pretrain import PretrainSpec
from embedcli.pretrain_run import PretrainPlan, compact_ids, prepare_pretrain
from embedcli.text import Tokenizer, get_preset

sys.path.insert(0, str(Path(__file__).parent))
from vectors_fixtures import standin_train_vectors  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "sample_data" / "stdlib" / "train.txt"
SMALL = ["--dim", "8", "--epochs", "2", "--min-count", "2", "--seed", "1", "--threads", "1"]

runner = CliRunner()


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> list:
    """The trainer replaced by the stand-in; records the corpus and spec it was given."""
    calls: list = []

    def train(corpus, spec, *, progress=None):
        calls.append((corpus, spec))
        return standin_train_vectors(corpus, spec, progress=progress)

    monkeypatch.setattr(embedcli.pretrain, "train_vectors", train, raising=False)
    return calls


def invoke(*args: object, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def one_error_line(r) -> str:
    """The one error line (a "reading ..." stage line may come before it, as in train)."""
    lines = [line for line in r.stderr.strip().splitlines() if not line.startswith("reading ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    assert "Traceback" not in r.output
    return lines[0]


# -- the corpus the trainer sees ------------------------------------------------------------------
def test_compact_ids_drops_reserved_ids_and_keeps_document_bounds() -> None:
    rng = np.random.default_rng(1)
    tokens = rng.integers(0, 12, size=5000).astype(np.int32)
    lengths = rng.integers(0, 30, size=400)
    lengths[-1] += 5000 - lengths.sum() if lengths.sum() < 5000 else 0
    offsets = np.concatenate(([0], np.minimum(np.cumsum(lengths), 5000))).astype(np.int64)
    offsets[-1] = 5000
    want_ids, want_offsets = [], [0]
    for d in range(len(offsets) - 1):
        doc = [t - 2 for t in tokens[offsets[d] : offsets[d + 1]].tolist() if t >= 2]
        want_ids += doc
        want_offsets.append(want_offsets[-1] + len(doc))
    ids, new_offsets = compact_ids(tokens.copy(), offsets, 2, block=97)  # many small blocks
    assert ids.dtype == np.int32
    assert ids.tolist() == want_ids and new_offsets.tolist() == want_offsets


def test_compact_ids_rewrites_a_memory_mapped_corpus_in_place(tmp_path: Path) -> None:
    mm = np.lib.format.open_memmap(tmp_path / "t.npy", mode="w+", dtype=np.int32, shape=(10,))
    mm[:] = [2, 1, 3, 0, 4, 5, 1, 1, 6, 2]
    ids, off = compact_ids(mm, np.array([0, 3, 3, 10]), 2, block=4)
    assert np.shares_memory(ids, mm)
    assert ids.tolist() == [0, 1, 2, 3, 4, 0] and off.tolist() == [0, 2, 2, 6]


def plan(paths: list[Path], **kw) -> PretrainPlan:
    return PretrainPlan(
        paths=[str(p) for p in paths],
        corpus_options=CorpusOptions(skip_blank=True),
        spec=PretrainSpec(dim=8, epochs=1),
        min_count=kw.pop("min_count", 2),
        **kw,
    )


def expected_corpus(path: Path, min_count: int) -> tuple[list[list[str]], dict[str, int]]:
    """Each line's tokens (labels left out) and the corpus counts, in plain Python."""
    tok = Tokenizer(get_preset("embedcli").tokenizer)
    docs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words = [w for w in line.split() if not w.startswith("__label__")]
        toks = tok.tokenize(" ".join(words))
        if toks:
            docs.append(toks)
    counts: dict[str, int] = {}
    for doc in docs:
        for t in doc:
            counts[t] = counts.get(t, 0) + 1
    return docs, {w: c for w, c in counts.items() if c >= min_count}


def test_prepared_corpus_is_the_in_vocabulary_ids_of_each_line() -> None:
    prepared = prepare_pretrain(plan([TRAIN]))
    docs, kept = expected_corpus(TRAIN, 2)
    c = prepared.corpus
    assert set(c.words) == set(kept) and not any(w.startswith("__label__") for w in c.words)
    assert c.counts.tolist() == [kept[w] for w in c.words]
    assert c.ids.dtype == np.int32 and c.offsets.dtype == np.int64
    assert len(c.offsets) == len(docs) + 1 == prepared.documents + 1
    for d in (0, 1, 17, len(docs) - 1):
        got = [c.words[i] for i in c.ids[c.offsets[d] : c.offsets[d + 1]]]
        assert got == [t for t in docs[d] if t in kept]
    assert prepared.vocab.labels == []


def test_a_corpus_past_the_memory_limit_is_memory_mapped_and_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = prepare_pretrain(plan([TRAIN]))
    monkeypatch.setenv("EMBEDCLI_MEM_LIMIT", "64K")
    spilled = prepare_pretrain(plan([TRAIN]))
    # the trainer reads the ids from a temporary file either way (embedcli.pretrain_spec.IdFile)
    assert spilled.spilled and whole.spilled
    np.testing.assert_array_equal(spilled.corpus.ids, whole.corpus.ids)
    np.testing.assert_array_equal(spilled.corpus.offsets, whole.corpus.offsets)


# -- the command ----------------------------------------------------------------------------------
def test_pretrain_writes_a_vectors_model_and_json_summary(standin: list, tmp_path: Path) -> None:
    out = tmp_path / "vec"
    r = invoke("pretrain", TRAIN, "-o", out, *SMALL, "--minn", "2", "--maxn", "4", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)  # strict JSON, nothing else on stdout
    corpus, spec = standin[0]
    assert spec == PretrainSpec(dim=8, epochs=2, minn=2, maxn=4, threads=1, seed=1)
    assert summary["words"] == len(corpus.words) and summary["tokens"] == len(corpus.ids)
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "vectors" and config["model"]["subwords"]["minn"] == 2
    assert config["train"]["min_count"] == 2
    assert "epoch 2/2" in r.stderr  # progress on stderr
    r = invoke("lookup", out, "socket", "--format", "tsv")
    assert r.exit_code == 0 and r.stdout.startswith("socket\t"), r.output


def test_lr_is_passed_only_when_given(standin: list, tmp_path: Path) -> None:
    r = invoke("pretrain", TRAIN, "-o", tmp_path / "a", *SMALL, "--lr", "0.2", "-q")
    assert r.exit_code == 0 and r.output == "", r.output
    assert standin[0][1].lr == 0.2
    r = invoke("pretrain", TRAIN, "-o", tmp_path / "b", *SMALL, "--method", "cbow", "-q")
    assert r.exit_code == 0, r.output
    assert standin[1][1].lr == PretrainSpec(method="cbow").lr


def test_dry_run_reports_sizes_and_writes_nothing(standin: list, tmp_path: Path) -> None:
    out = tmp_path / "vec"
    r = invoke("pretrain", TRAIN, "-o", out, *SMALL, "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    plan_ = json.loads(r.stdout)
    assert not out.exists() and standin == []
    words, dim = plan_["words"], 8
    assert plan_["vocab_size"] == words + 2
    assert plan_["subword_rows"] > words  # the compact n-gram table: rows words use
    assert plan_["table_rows"] == words + plan_["subword_rows"]
    assert plan_["table_bytes"] == plan_["table_rows"] * dim * 4
    assert plan_["fasttext_table_bytes"] == (words + 2_000_000) * dim * 4
    assert plan_["encoded_corpus"] == "temporary file, read a chunk at a time"
    r = invoke("pretrain", TRAIN, *SMALL, "--dry-run", "--minn", "0")
    assert r.exit_code == 0 and "subword rows" in r.stderr, r.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--window", "0"], 2, "--window"),
        (["--negative", "0"], 2, "--negative"),
        (["--buckets", "0"], 2, "--buckets must be in 1..2,147,483,647 with subwords on"),
        (["--buckets", str(2**31)], 2, "--buckets"),
        (["--minn", "4", "--maxn", "3"], 2, "--maxn 3 is below --minn 4"),
        (["--method", "glove"], 2, "--method must be one of skipgram, cbow"),
        (["--min-count", "100000"], 1, "no word is seen --min-count 100000 times"),
    ],
)
def test_bad_input_is_one_line(
    standin: list, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    r = invoke("pretrain", TRAIN, "-o", tmp_path / "vec", *args)
    assert r.exit_code == code, r.output
    assert message in one_error_line(r)
    assert not (tmp_path / "vec").exists() and standin == []


def test_subwords_off_accepts_zero_buckets(standin: list, tmp_path: Path) -> None:
    r = invoke("pretrain", TRAIN, "-o", tmp_path / "v", *SMALL, "--minn", "0", "--buckets", "0")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "v" / "config.json").read_text())["model"]["subwords"] is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the corpus is empty"),
        ("\n\n  \n", "the corpus is empty"),
        ("__label__a\n__label__b\n", "the corpus has no tokens"),
        ("one two three\nfour five\n", "no word is seen --min-count 5 times"),
    ],
)
def test_empty_corpora_are_one_line(standin: list, tmp_path: Path, text: str, message: str) -> None:
    src = tmp_path / "c.txt"
    src.write_text(text)
    r = invoke("pretrain", src, "-o", tmp_path / "vec")
    assert r.exit_code == 1, r.output
    assert message in one_error_line(r)
    assert not (tmp_path / "vec").exists()


def test_a_corpus_of_stripped_punctuation_has_no_tokens(standin: list, tmp_path: Path) -> None:
    src = tmp_path / "c.txt"
    src.write_text(".. ,, !!\n")
    r = invoke("pretrain", src, "-o", tmp_path / "vec", "--compat", "textvectorization")
    assert r.exit_code == 1, r.output
    assert "the corpus has no tokens" in one_error_line(r)
    assert not (tmp_path / "vec").exists()


def test_stdin_and_labels_are_read_like_build_vocab(standin: list, tmp_path: Path) -> None:
    text = "__label__x alpha beta alpha\n__label__y beta gamma alpha\n"
    r = invoke("pretrain", "-", "-o", tmp_path / "v", "--min-count", "2", "-q", input=text)
    assert r.exit_code == 0, r.output
    corpus, _ = standin[0]
    assert corpus.words == ["alpha", "beta"] and corpus.counts.tolist() == [3, 2]
    assert np.asarray(corpus.ids).tolist() == [0, 1, 0, 1, 0]
    assert corpus.offsets.tolist() == [0, 3, 5]


def test_interruption_leaves_no_output(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def interrupted(corpus, spec, *, progress=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(embedcli.pretrain, "train_vectors", interrupted, raising=False)
    r = invoke("pretrain", TRAIN, "-o", tmp_path / "vec", *SMALL)
    assert r.exit_code == 130, r.output
    assert "no partial output was written" in r.stderr
    assert os.listdir(tmp_path) == []


def test_an_output_embedcli_did_not_write_is_refused(standin: list, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = invoke("pretrain", TRAIN, "-o", out, *SMALL)
    assert r.exit_code != 0, r.output
    assert (out / "notes.txt").read_text() == "keep me" and standin == []
    r = invoke("pretrain", TRAIN, "-o", TRAIN, *SMALL)  # an input as output
    assert r.exit_code != 0 and TRAIN.read_text().startswith("__label__"), r.output


# -- the real pipeline ----------------------------------------------------------------------------
@pytest.mark.skipif(
    not hasattr(embedcli.pretrain, "train_vectors"), reason="the trainer has not landed yet"
)
def test_real_pipeline_pretrain_lookup_nearest_export(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "embedcli", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )

    r = run(
        "pretrain",
        str(TRAIN),
        "-o",
        "vec",
        "--dim",
        "16",
        "--epochs",
        "2",
        "--min-count",
        "2",
        "--minn",
        "3",
        "--maxn",
        "5",
        "--threads",
        "1",
        "--seed",
        "1",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["words"] > 1000 and summary["subword_rows"] > 0
    vec = tmp_path / "vec"  # lookup and nearest in-process (quick), the --words export not
    q = invoke("lookup", vec, "socket", "socketz", "--format", "json")
    assert q.exit_code == 0, q.output
    rows = json.loads(q.stdout)
    assert rows[0]["id"] >= 2 and rows[1]["from_subwords"] is True
    assert np.linalg.norm(rows[1]["vector"]) > 0
    q = invoke("nearest", vec, "socket", "socketz", "-k", "5", "--format", "tsv")
    assert q.exit_code == 0, q.output
    assert len(q.stdout.splitlines()) == 10
    (tmp_path / "w.txt").write_text("socket\nsocketz\n")
    r = run("export", "vec", "--format", "word2vec", "--words", "w.txt", "-o", "w.vec")
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "w.vec").read_text().splitlines()
    assert lines[0] == "2 16" and lines[2].startswith("socketz ")
    q = invoke("export", vec, "--format", "npy", "-o", tmp_path / "all.npy", "--words-only")
    assert q.exit_code == 0, q.output
    assert np.load(tmp_path / "all.npy").shape == (summary["words"], 16)


@pytest.mark.skipif(
    not hasattr(embedcli.pretrain, "train_vectors"), reason="the trainer has not landed yet"
)
def test_sigint_in_training_keeps_the_earlier_model_and_leaves_no_temp(
    standin: list, tmp_path: Path
) -> None:
    """A real SIGINT once epoch 1 is reported: exit 130, one message, the model written before
    at the same path byte for byte, no temporary left beside it."""
    import signal
    import time

    out = tmp_path / "vec"
    r = invoke("pretrain", TRAIN, "-o", out, *SMALL, "-q")  # the earlier model (stand-in)
    assert r.exit_code == 0, r.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    p = subprocess.Popen(
        [sys.executable, "-m", "embedcli", "pretrain", str(TRAIN), "-o", "vec", "--dim", "8",
         "--epochs", "5000", "--min-count", "2", "--threads", "1"],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert p.stderr is not None
    lines = []
    deadline = time.monotonic() + 120
    for line in p.stderr:  # off a terminal: one line per finished epoch
        lines.append(line)
        if line.startswith("epoch ") or time.monotonic() > deadline:
            break
    p.send_signal(signal.SIGINT)
    rest = p.communicate(timeout=60)[1]
    err = "".join(lines) + rest
    assert p.returncode == 130, err
    assert "Interrupted; no partial output was written." in err and "Traceback" not in err
    assert {q.name: q.read_bytes() for q in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["vec"], os.listdir(tmp_path)


def test_fasttext_compat_queries_ignore_the_end_of_line_token(
    standin: list, tmp_path: Path
) -> None:
    out = tmp_path / "vec"
    r = invoke("pretrain", TRAIN, "-o", out, *SMALL, "--compat", "fasttext", "-q")
    assert r.exit_code == 0, r.output
    assert "</s>" in standin[0][0].words  # fastText trains on its end-of-line token too
    r = invoke("lookup", out, "socket", "socketzz", "--format", "tsv")
    assert r.exit_code == 0, r.output
    assert [line.split("\t")[0] for line in r.stdout.splitlines()] == ["socket", "socketzz"]
    r = invoke("nearest", out, "socket", "socketzz", "-k", "2", "--format", "tsv")
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == 4, r.output


def test_method_defaults_in_the_help_are_the_trainers() -> None:
    # the help repeats embedcli.pretrain's defaults (it must not import the trainer)
    from embedcli.cli import pretrain_cmd
    from embedcli.pretrain import METHOD_DEFAULTS, SG_INPUT_DEFAULTS

    assert pretrain_cmd.SKIPGRAM_DEFAULTS == METHOD_DEFAULTS["skipgram"]
    assert pretrain_cmd.CBOW_DEFAULTS == METHOD_DEFAULTS["cbow"]
    assert pretrain_cmd.SG_INPUT_DEFAULTS == SG_INPUT_DEFAULTS == ("context", "centre")
    for method, want in METHOD_DEFAULTS.items():
        spec = PretrainSpec(method=method)
        assert (spec.sample, spec.lr) == (want["sample"], want["lr"])
    # skip-gram: word2vec's roles on plain words, fastText's with subwords
    assert PretrainSpec(minn=0).sg_input == "context"
    assert PretrainSpec(minn=3, maxn=6).sg_input == "centre"
    assert PretrainSpec(minn=0, sg_input="centre").sg_input == "centre"
    assert PretrainSpec(method="cbow", sample=0.0, lr=0.1).sample == 0.0  # given values stay
