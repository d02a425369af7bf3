"""embedcli quantize (issue 11 section 2): k-means and code assignment against plain-numpy twins,
encode/decode, a quantized model predicting exactly as a float model holding its decoded rows
(without building the float table), cutoff remapping, every command on a quantized model, bad
input, damaged files, and the size estimate."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from embedcli.cli import app

runner = CliRunner()

WORDS = [f"w{i}" for i in range(600)]
TOPICS = {"a": WORDS[:200], "b": WORDS[200:400], "c": WORDS[400:]}


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args):
    r = run(*args)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return r


# -- plain-numpy twins ------------------------------------------------------------------------
def assign_ref(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Nearest centroid (float64 squared L2, first on ties)."""
    d = x.shape[1]
    dist = ((x[:, None, :].astype(np.float64) - c[None, :, :d].astype(np.float64)) ** 2).sum(-1)
    return dist.argmin(axis=1)


def kmeans_ref(x: np.ndarray, init: np.ndarray, niter: int, eps: float) -> np.ndarray:
    """Lloyd's iterations; an empty cluster takes half of the largest (see the kernel)."""
    c = x[init].astype(np.float32).copy()
    k, d = c.shape
    for _ in range(niter):
        a = assign_ref(x, c)
        counts = np.bincount(a, minlength=k).astype(np.int64)
        for q in range(k):
            if counts[q]:
                c[q] = (x[a == q].astype(np.float64).sum(0) / counts[q]).astype(np.float32)
        for q in range(k):
            if counts[q]:
                continue
            m = int(np.argmax(counts))
            sign = np.where(np.arange(d) % 2 == 0, 1.0, -1.0)
            c[q] = (c[m] * (1.0 + sign * eps)).astype(np.float32)
            c[m] = (c[m] * (1.0 - sign * eps)).astype(np.float32)
            counts[q] = counts[m] // 2
            counts[m] -= counts[q]
    return c


def pool_ref(table: np.ndarray, tokens: np.ndarray, offsets: np.ndarray, mean: bool):
    out = np.zeros((len(offsets) - 1, table.shape[1]), np.float32)
    for i in range(len(offsets) - 1):
        rows = [t for t in tokens[offsets[i] : offsets[i + 1]] if t != 0]
        for t in rows:
            out[i] += table[t]
        if mean and rows:
            out[i] = (out[i].astype(np.float64) * (1.0 / len(rows))).astype(np.float32)
    return out


@pytest.mark.parametrize("d", [1, 2, 3])
def test_kmeans_and_assign_match_numpy(d):
    from embedcli.quantize_kernels import assign_codes, kmeans

    rng = np.random.default_rng(d)
    x = rng.normal(size=(400, d)).astype(np.float32)
    x[:50] = x[0]  # duplicates: empty clusters appear and are split
    init = np.sort(rng.permutation(400)[:24]).astype(np.int64)
    c = kmeans(x, init, 10, 1e-7)
    ref = kmeans_ref(x, init, 10, 1e-7)
    np.testing.assert_allclose(c, ref, rtol=1e-6, atol=1e-7)
    codes = np.empty(400, np.uint8)
    assign_codes(x, c, codes)
    assert np.array_equal(codes, assign_ref(x, c))


def test_train_pq_encodes_and_decodes_with_a_shorter_last_subspace():
    from embedcli.quantize import subspaces, train_pq

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 7)).astype(np.float32)
    assert subspaces(7, 2) == (4, 1)
    pq = train_pq(x, 2, 32, qnorm=False)
    assert pq.codes.shape == (600, 4) and pq.centroids.shape == (4, 32, 2)
    assert not pq.centroids[3, :, 1].any()  # the last sub-space has 1 column
    ref = np.concatenate(
        [pq.centroids[m, pq.codes[:, m], : 2 if m < 3 else 1] for m in range(4)], axis=1
    )
    dec = pq.decode(np.arange(600), 7)
    assert np.array_equal(dec, ref)
    for m in range(4):  # every code is the nearest centroid of its sub-vector
        part = x[:, 2 * m : 2 * m + 2]
        assert np.array_equal(pq.codes[:, m], assign_ref(part, pq.centroids[m]))
    err = np.linalg.norm(dec - x) / np.linalg.norm(x)
    assert err < 0.5
    qn = train_pq(x, 2, 32, qnorm=True)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    dn = qn.decode(np.arange(600), 7)
    np.testing.assert_allclose(
        dn,
        np.concatenate([qn.centroids[m, qn.codes[:, m], : 2 if m < 3 else 1] for m in range(4)], 1)
        * qn.norm_centroids[qn.norm_codes][:, None],
    )
    assert np.linalg.norm(dn / np.linalg.norm(dn, axis=1, keepdims=True) - unit) < np.linalg.norm(
        unit
    )


# -- a small trained model ----------------------------------------------------------------------
def corpus_lines(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    lines = []
    for _ in range(n):
        label = rnd.choice("abc")
        words = rnd.sample(TOPICS[label], 6) + rnd.sample(WORDS, 3)
        lines.append(f"__label__{label} " + " ".join(words))
    return lines


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("q")
    train, test = root / "train.txt", root / "test.txt"
    train.write_text("\n".join(corpus_lines(600, 0)) + "\n")
    test.write_text("\n".join(corpus_lines(150, 1)) + "\n")
    model = root / "model"
    ok("train", train, "-o", model, "--dim", 16, "--word-ngrams", 2, "--buckets", 4096,
       "--epochs", 5, "--threads", 1, "--seed", 1, "--quiet")  # fmt: skip
    return root, model, train, test


@pytest.fixture(scope="module")
def small(trained):
    root, model, train, _ = trained
    out = root / "small"
    ok("quantize", model, "-o", out, "--cutoff", 1500, "--qnorm", "--seed", 1, "--quiet",
       "--select", "norm")  # fmt: skip
    return out


def _featurized(path, lines):
    from embedcli import model as engine
    from embedcli.corpus import CorpusOptions, CorpusReader
    from embedcli.modeldir import load_model
    from embedcli.sequences import encode_corpus

    m = load_model(path)
    f = path.parent / "q.txt"
    f.write_text("\n".join(lines) + "\n")
    enc = encode_corpus(CorpusReader([str(f)], CorpusOptions(fmt="auto")), m.vocab, hashes=True)
    tokens, offsets = engine.featurize(enc.tokens, enc.offsets, m.spec, enc.hashes)
    return m, enc, tokens, offsets


@pytest.mark.parametrize("flags", [(), ("--cutoff", 1500, "--qnorm"), ("--qnorm", "--qout")])
def test_predictions_equal_the_float_model_of_the_decoded_rows(trained, flags, monkeypatch):
    from embedcli import model as engine
    from embedcli.quantize import QuantizedTable
    from embedcli.quantize_run import map_rows
    from embedcli.spec import ModelParams

    root, model, _, test = trained
    out = root / ("q" + "".join(str(f) for f in flags).replace("-", "_"))
    ok("quantize", model, "-o", out, "--seed", 2, "--quiet", *flags)
    lines = test.read_text().splitlines()
    m, enc, tokens, offsets = _featurized(out, lines)
    table = m.embeddings
    assert isinstance(table, QuantizedTable)

    def no_float_table(*a, **k):
        raise AssertionError("the whole float table was built")

    monkeypatch.setattr(QuantizedTable, "__array__", no_float_table)
    got = engine.predict_proba(m.params, m.spec, enc.tokens, enc.offsets, hashes=enc.hashes)
    decoded = table.decoded_stored()
    p = m.params
    float_params = ModelParams(decoded, p.out_W, p.out_b, p.hidden_W, p.hidden_b)
    mapped = map_rows(tokens, m.spec.num_words, table.kept)
    want = engine.predict_proba(float_params, m.spec, mapped, offsets, featurized=True)
    assert np.array_equal(got, want)
    pooled = engine.pooled(m.params, m.spec, enc.tokens, enc.offsets, hashes=enc.hashes)
    assert np.array_equal(pooled, pool_ref(decoded, mapped, offsets, True))
    acc = (got.argmax(1) == enc.label_ids).mean()
    assert acc > 0.8, acc


def test_prediction_does_not_allocate_the_float_table(trained, tmp_path):
    from embedcli import model as engine

    root, model, _, test = trained
    out = tmp_path / "all"
    ok("quantize", model, "-o", out, "--dsub", 4, "--quiet")  # every row: 4096 + words
    m, enc, _, _ = _featurized(out, test.read_text().splitlines())
    float_bytes = m.embeddings.nbytes_float()
    engine.predict_proba(m.params, m.spec, enc.tokens, enc.offsets, hashes=enc.hashes)  # compile
    tracemalloc.start()
    engine.predict_proba(m.params, m.spec, enc.tokens, enc.offsets, hashes=enc.hashes)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < float_bytes / 4, (peak, float_bytes)


def test_cutoff_keeps_the_largest_rows_and_remaps_words_and_labels(trained, small):
    from embedcli.modeldir import load_model

    _, model, _, _ = trained
    f, q = load_model(model), load_model(small)
    assert q.config["version"] == 2 and f.config["version"] == 1
    assert q.vocab.labels == f.vocab.labels and q.vocab.label_counts == f.vocab.label_counts
    emb = np.asarray(f.embeddings)
    norms = np.linalg.norm(emb, axis=1)
    norms[[0, 1]] = np.inf  # padding and [UNK] are always kept
    keep = set(np.argsort(-norms, kind="stable")[:1500].tolist())
    nw = f.spec.num_words
    kept_words = [f.vocab.tokens[i] for i in sorted(keep) if i < nw]
    assert q.vocab.tokens == kept_words
    assert q.spec.num_words == len(kept_words) and q.spec.buckets == f.spec.buckets
    assert q.embeddings.kept.tolist() == [i - nw for i in sorted(keep) if i >= nw]
    # a kept word's row (new id) decodes close to its float row (old id); a cut word is unknown
    for tok in kept_words[2:40]:
        old, new = f.vocab.token_to_id[tok], q.vocab.token_to_id[tok]
        a, b = emb[old], q.embeddings[new]
        assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.8
    cut = next(t for t in f.vocab.tokens[2:] if t not in q.vocab.token_to_id)
    assert q.vocab.id_of(cut) == q.vocab.unk_id
    # a kept bucket decodes where it was; a cut bucket reads as zeros
    b_kept = int(q.embeddings.kept[0])
    assert np.linalg.norm(q.embeddings[q.spec.num_words + b_kept]) > 0
    cut_bucket = next(b for b in range(f.spec.buckets) if b not in set(q.embeddings.kept.tolist()))
    assert not q.embeddings[q.spec.num_words + cut_bucket].any()


def test_retrain_trains_the_cut_table_on_the_corpus(trained, tmp_path):
    root, model, train, test = trained
    out = tmp_path / "re"
    r = ok("quantize", model, "-o", out, "--cutoff", 800, "--retrain", "--input", train,
           "--qnorm", "--seed", 1, "--json")  # fmt: skip
    summary = json.loads(r.stdout)
    assert summary["retrain_epochs"] == 5 and summary["rows_kept"] == 800
    ev = json.loads(ok("evaluate", out, test, "--json").stdout)
    assert ev["accuracy"] > 0.8, ev["accuracy"]


def test_every_command_reads_a_quantized_model(trained, small, tmp_path):
    root, model, _, test = trained
    word = json.loads(ok("info", small, "--json").stdout)
    assert word["quantized"]["compression"] > 5, word["quantized"]
    assert word["quantized"]["bytes"] < word["quantized"]["float_bytes"]
    ok("predict", small, test)
    ok("evaluate", small, test)
    ok("embed", small, test)
    ok("info", small)
    ok("lookup", small, "w0", "w5")
    ok("nearest", small, "w5", "-k", 3)
    ok("export", small, "--format", "npy", "-o", tmp_path / "e.npy", "--words-only")
    e = np.load(tmp_path / "e.npy")
    from embedcli.modeldir import load_model

    q = load_model(small)
    assert e.shape[1] == 16 and np.array_equal(e[0], q.embeddings[2])


def test_bad_input_is_one_line_and_writes_nothing(trained, small, tmp_path):
    root, model, train, _ = trained
    out = tmp_path / "out"
    cases = [
        (["--cutoff", 0], 2, "--cutoff"),
        (["--dsub", 17], 2, "--dsub"),
        (["--dsub", 3], 2, "--uneven-dsub"),  # 3 does not divide dim 16
        (["--centroids", 257], 2, "--centroids"),
        (["--cutoff", 100, "--centroids", 256], 2, "--centroids"),
        (["--retrain", "--cutoff", 1000], 2, "--input"),
        (["--retrain", "--input", train], 2, "--cutoff"),
    ]
    for extra, code, word in cases:
        r = run("quantize", model, "-o", out, *extra)
        assert r.exit_code == code, (extra, r.output)
        assert word in r.output and "Traceback" not in r.output, r.output
        assert not out.exists()
    r = run("quantize", small, "-o", out)
    assert r.exit_code == 2 and "already quantized" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and not out.exists()


def test_dsub_not_dividing_dim_follows_fasttext(trained, tmp_path):
    root, model, _, test = trained
    out = tmp_path / "d3"
    r = ok("quantize", model, "-o", out, "--dsub", 3, "--uneven-dsub", "--cutoff", 1000)
    assert "last sub-space has 1 columns" in r.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["quantized"]["dsub"] == 3
    ok("evaluate", out, test)


def test_default_dsub_fits_an_odd_dim(trained, tmp_path):
    """The autotune picks any dim (71, say): the default --dsub 2 still quantizes it, with
    fastText's shorter last sub-space; --dsub 2 given is held to dividing dim."""
    root, _, train, test = trained
    model = tmp_path / "odd"
    ok("train", train, "-o", model, "--dim", 7, "--epochs", 2, "--threads", 1, "--quiet")
    out = tmp_path / "q7"
    r = ok("quantize", model, "-o", out, "--cutoff", 1000)
    assert "last sub-space has 1 columns" in r.stderr
    assert json.loads((out / "config.json").read_text())["quantized"]["dsub"] == 2
    ok("evaluate", out, test)
    bad = tmp_path / "q7b"
    r = run("quantize", model, "-o", bad, "--dsub", 2)
    assert r.exit_code == 2 and "use one of 1, 7" in r.output and not bad.exists(), r.output


def test_damaged_quantized_files_are_refused(small, tmp_path):
    import shutil

    from embedcli.errors import FormatError
    from embedcli.modeldir import load_model, sha256_file

    bad = tmp_path / "bad"
    shutil.copytree(small, bad)
    with np.load(bad / "quantized.npz") as z:
        arrays = dict(z)
    arrays["norm_codes"][0] = 255
    cfg = json.loads((bad / "config.json").read_text())
    np.savez(bad / "quantized.npz", **arrays)
    cfg["files"]["quantized.npz"] = sha256_file(bad / "quantized.npz")
    cfg["quantized"]["ksub"] = 256
    (bad / "config.json").write_text(json.dumps(cfg))
    load_model(bad)  # 256 centroids: code 255 is in range
    assert (bad / "vocab.tsv.gz").is_file() and not (bad / "vocab.tsv").exists()
    size = cfg["quantized"]["vocab_bytes"]
    for wrong in (size - 1, 10):  # an inflated vocabulary is read up to its recorded size only
        cfg["quantized"]["vocab_bytes"] = wrong
        (bad / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(FormatError, match="bytes of vocabulary"):
            load_model(bad)
    cfg["quantized"]["vocab_bytes"] = size
    arrays["codes"] = arrays["codes"][:-1]
    np.savez(bad / "quantized.npz", **arrays)
    cfg["files"]["quantized.npz"] = sha256_file(bad / "quantized.npz")
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(FormatError, match="codes"):
        load_model(bad)
    (bad / "quantized.npz").write_bytes(b"junk")
    with pytest.raises(FormatError, match="sha256"):
        load_model(bad)
    cfg["version"] = 1
    (bad / "config.json").write_text(json.dumps(cfg))
    r = run("info", bad)
    assert r.exit_code == 1 and "version 2" in r.output, r.output


def test_estimate_quantized_bytes(trained, small):
    from embedcli.modeldir import load_model
    from embedcli.quantize import estimate_quantized_bytes

    _, model, _, _ = trained
    f = load_model(model)
    actual = sum(p.stat().st_size for p in Path(small).iterdir())
    est = estimate_quantized_bytes(
        f.spec.num_rows, 16, 2, cutoff=1500, qnorm=True, labels=3, words=f.spec.num_words
    )
    assert 0.5 < est / actual < 2.0, (est, actual)
    big = estimate_quantized_bytes(
        2_000_000 + 50_000, 100, 2, cutoff=100_000, qnorm=True, labels=20
    )
    assert 100_000 * 50 < big < 100_000 * 50 * 1.5
    assert estimate_quantized_bytes(10_000, 100, 4) < estimate_quantized_bytes(10_000, 100, 2)


def test_info_and_lookup_of_a_quantized_model_never_import_numba(small):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from embedcli.cli import main\n"
        f"for argv in (['info', {str(small)!r}], ['lookup', {str(small)!r}, 'w5']):\n"
        "    sys.argv = ['embedcli', *argv]\n"
        "    try:\n        main()\n    except SystemExit as e:\n        assert not e.code, e.code\n"
        "print('NUMBA', 'numba' in sys.modules, file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "NUMBA False" in r.stderr, r.stderr[-500:]
    assert "Quantization" in r.stdout and "compression" in r.stdout, r.stdout[-2000:]
