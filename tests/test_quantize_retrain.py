"""embedcli quantize: which rows ``--cutoff`` keeps (``--select usefulness``/``norm``) and the
classifier tuned on the decoded quantized rows after ``--retrain`` (kept only when it lowers the
held-out loss), on the repository's small real corpus (sample_data/stdlib)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "sample_data" / "stdlib" / "train.txt"
TEST = ROOT / "sample_data" / "stdlib" / "test.txt"


def ok(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r


def select_ref(emb, cutoff, always, weights=None, usage=None):
    """Plain-numpy twin of quantize.select_rows."""
    x = emb.astype(np.float64)
    if weights is not None:
        x = x @ weights.astype(np.float64)
    s = np.linalg.norm(x, axis=1)
    if usage is not None:
        s = s * usage
    s[always] = np.inf
    return np.sort(np.argsort(-s, kind="stable")[: max(cutoff, len(always))])


def test_select_rows_scores_rows_through_the_classifier():
    from embedcli.quantize import select_rows

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(300, 6)).astype(np.float32)
    w = rng.normal(size=(6, 3))
    usage = rng.random(300)
    for args in [(None, None), (w, None), (w, usage)]:
        got = select_rows(emb, 40, [0, 1], *args)
        assert got.tolist() == select_ref(emb, 40, [0, 1], *args).tolist()
    # a long row the classifier cannot see is cut before a short row it reads
    emb = np.zeros((5, 2), np.float32)
    emb[2] = [10.0, 0.0]  # orthogonal to the only output direction
    emb[3] = [0.0, 1.0]
    weights = np.array([[0.0], [1.0]])
    assert select_rows(emb, 2, [0], weights).tolist() == [0, 3]
    assert select_rows(emb, 2, [0]).tolist() == [0, 2]  # by norm (fastText)
    # usage: a row no training document holds is worth nothing
    emb[4] = [0.0, 2.0]
    assert select_rows(emb, 2, [0], weights, np.array([1, 1, 1, 1, 0.0])).tolist() == [0, 3]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("qr")
    out = root / "model"
    ok("train", TRAIN, "-o", out, "--dim", 16, "--word-ngrams", 2, "--buckets", 20000,
       "--epochs", 5, "--threads", 1, "--seed", 1, "--quiet")  # fmt: skip
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_usefulness_cut_keeps_what_the_classifier_reads(model, tmp_path):
    """Of two cuts to the same row count, the classifier-aware one changes the float model's
    test scores less (the cut alone, no retrain, no quantization error to speak of)."""
    from embedcli import model as engine
    from embedcli.corpus import CorpusOptions, CorpusReader
    from embedcli.modeldir import load_model
    from embedcli.sequences import encode_corpus

    f = load_model(model)
    enc = encode_corpus(CorpusReader([str(TEST)], CorpusOptions(fmt="auto")), f.vocab, hashes=True)
    want = engine.scores(f.params, f.spec, enc.tokens, enc.offsets, hashes=enc.hashes)
    errs = {}
    for sel in ("usefulness", "norm"):
        out = tmp_path / sel
        ok("quantize", model, "-o", out, "--cutoff", 2000, "--select", sel, "--input", TRAIN,
           "--threads", 1, "--seed", 1, "--quiet")  # fmt: skip
        q = load_model(out)
        e = encode_corpus(
            CorpusReader([str(TEST)], CorpusOptions(fmt="auto")), q.vocab, hashes=True
        )
        got = engine.scores(q.params, q.spec, e.tokens, e.offsets, hashes=e.hashes)
        errs[sel] = float(np.abs(got - want).mean())
    assert errs["usefulness"] < errs["norm"], errs
    r = runner.invoke(app, ["quantize", str(model), "-o", str(tmp_path / "x"), "--cutoff", "9",
                            "--select", "size"])  # fmt: skip
    assert r.exit_code == 2 and "--select must be one of" in r.stderr, r.stderr
    assert not (tmp_path / "x").exists()


def test_retrain_tunes_the_classifier_on_the_decoded_rows(model, tmp_path):
    """A very coarse quantization (each 16-column row one byte, 4 centroids) leaves an error to
    recover: the classifier tuned on the decoded rows lowers the held-out loss and is kept (at
    dsub 2 / 256 centroids, or 8 / 8, it is not: the held-out loss rises and the untuned
    classifier stays); the quantized table is the one quantize would write without tuning; the
    run is reproducible; the scores are the float model's on the decoded rows."""
    from embedcli import model as engine
    from embedcli import quantize_run
    from embedcli.corpus import CorpusOptions, CorpusReader
    from embedcli.modeldir import load_model
    from embedcli.sequences import encode_corpus
    from embedcli.spec import ModelParams

    args = ["--cutoff", 3000, "--retrain", "--input", TRAIN, "--dsub", 16, "--centroids", 4,
            "--threads", 1, "--seed", 1, "--json"]  # fmt: skip
    runs = []
    for name in ("a", "b"):
        runs.append(json.loads(ok("quantize", model, "-o", tmp_path / name, *args).stdout))
    s = runs[0]
    assert s["retrain_epochs"] == 5 and s["tune_epochs"] == quantize_run.TUNE_EPOCHS, s
    before, after = s["tune_loss"]
    assert after < before, s
    for f in ("classifier.npz", "quantized.npz"):  # --threads 1 --seed: the same bytes
        assert _sha(tmp_path / "a" / f) == _sha(tmp_path / "b" / f)
    # without the tuning: the same codes, another classifier, a higher held-out loss
    mp = pytest.MonkeyPatch()
    mp.setattr(quantize_run, "TUNE_EPOCHS", 0)
    try:
        plain = json.loads(ok("quantize", model, "-o", tmp_path / "plain", *args).stdout)
    finally:
        mp.undo()
    assert plain["tune_epochs"] == 0 and plain["tune_loss"][1] == before
    a, p = (np.load(tmp_path / d / "quantized.npz") for d in ("a", "plain"))
    assert np.array_equal(a["codes"], p["codes"])
    ca, cp = (np.load(tmp_path / d / "classifier.npz") for d in ("a", "plain"))
    assert not np.array_equal(ca["out_W"], cp["out_W"])
    # predictions of the tuned quantized model = the float model holding the decoded rows
    q = load_model(tmp_path / "a")
    enc = encode_corpus(CorpusReader([str(TEST)], CorpusOptions(fmt="auto")), q.vocab, hashes=True)
    got = engine.predict_proba(q.params, q.spec, enc.tokens, enc.offsets, hashes=enc.hashes)
    tokens, offsets = engine.featurize(enc.tokens, enc.offsets, q.spec, enc.hashes)
    mapped = quantize_run.map_rows(tokens, q.spec.num_words, q.embeddings.kept)
    p = q.params
    fl = ModelParams(q.embeddings.decoded_stored(), p.out_W, p.out_b, p.hidden_W, p.hidden_b)
    want = engine.predict_proba(fl, q.spec, mapped, offsets, featurized=True)
    assert np.array_equal(got, want)


def test_retrain_epochs_and_lr(model, tmp_path):
    """``--epochs``/``--lr`` set the retrain's schedule (fastText's quantize ``-epoch``/``-lr``):
    the default is the model's epochs and a tenth of its Adagrad lr (the same bytes as given
    explicitly), others give another table; without ``--retrain`` they are refused in one line
    and nothing is written."""
    from embedcli.quantize_run import ADAPTIVE_RETRAIN_LR

    cfg = json.loads((model / "config.json").read_text())["train"]
    assert cfg["optimizer"] == "adagrad"
    base = ["--cutoff", 3000, "--retrain", "--input", TRAIN, "--threads", 1, "--seed", 1, "--json"]
    default = json.loads(ok("quantize", model, "-o", tmp_path / "d", *base).stdout)
    same = json.loads(ok("quantize", model, "-o", tmp_path / "s", *base, "--epochs",
                         cfg["epochs"], "--lr", cfg["lr"] * ADAPTIVE_RETRAIN_LR).stdout)  # fmt: skip
    assert default["retrain_epochs"] == same["retrain_epochs"] == cfg["epochs"]
    assert _sha(tmp_path / "d" / "quantized.npz") == _sha(tmp_path / "s" / "quantized.npz")
    other = json.loads(ok("quantize", model, "-o", tmp_path / "o", *base, "--epoch", 2,
                          "--lr", cfg["lr"]).stdout)  # fmt: skip
    assert other["retrain_epochs"] == 2
    assert _sha(tmp_path / "d" / "quantized.npz") != _sha(tmp_path / "o" / "quantized.npz")
    for extra in (["--epochs", 2], ["--lr", 0.1]):
        r = runner.invoke(app, ["quantize", str(model), "-o", str(tmp_path / "x"), "--cutoff",
                                "3000", *map(str, extra)])  # fmt: skip
        assert r.exit_code == 2 and "add --retrain" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "x").exists()
    r = runner.invoke(app, ["quantize", str(model), "-o", str(tmp_path / "x"), "--lr", "nan"])
    assert r.exit_code == 2 and not (tmp_path / "x").exists()


def test_retrain_lr_is_a_tenth_for_adaptive_optimizers():
    """SGD models retrain at their own lr (fastText); Adagrad and Adam models, whose optimizer
    state the model file does not keep, at a tenth of it; ``--lr`` wins over both."""
    from embedcli.quantize_run import retrain_lr

    assert retrain_lr({"optimizer": "sgd", "lr": 0.5}, None) == 0.5
    assert retrain_lr({"optimizer": "adagrad", "lr": 0.3}, None) == pytest.approx(0.03)
    assert retrain_lr({"optimizer": "adam", "lr": 0.01}, None) == pytest.approx(0.001)
    assert retrain_lr({"optimizer": "adagrad", "lr": 0.3}, 0.2) == 0.2
    assert retrain_lr({}, None) == 0.1  # a config without them: SGD at fastText's 0.1


def test_nothing_cut_is_nothing_retrained(model, tmp_path):
    """fastText retrains only a cut table (``-cutoff`` below the rows): a --cutoff that keeps
    every row quantizes the model as trained, the same bytes as without --retrain."""
    base = ["--cutoff", 10_000_000, "--threads", 1, "--seed", 1, "--json"]
    r = ok("quantize", model, "-o", tmp_path / "r", *base, "--retrain", "--input", TRAIN)
    assert "nothing is retrained" in r.stderr, r.stderr
    assert json.loads(r.stdout)["retrain_epochs"] == 0
    ok("quantize", model, "-o", tmp_path / "p", *base)
    assert _sha(tmp_path / "r" / "quantized.npz") == _sha(tmp_path / "p" / "quantized.npz")
