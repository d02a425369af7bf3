"""Count how much of the shared datasets each ``--compat`` preset reproduces exactly (README,
'Tokenizing and --compat'). Needs the interop venv (``make test-interop``); runs against whichever
embedcli is on ``sys.path``, so the same script measures an older checkout too:

    .venv-interop/bin/python benchmarks/compat_matches.py [DATA_DIR]

For every ``*/train.txt``: TextVectorization vocabularies (max_tokens None and 1000) and encoded
documents (ragged ids); Tokenizer vocabularies and ``texts_to_sequences`` (num_words None/1000 x
oov_token None/'<OOV>'); fastText dictionaries (words, counts, order) and the word n-gram bucket
rows of every line (wordNgrams 2, 2M buckets, compared through ``get_sentence_vector`` as in
``tests/test_compat_real.py``). Prints one line per preset: matched / total.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from embedcli import model as engine  # noqa: E402
from embedcli.corpus import CorpusOptions, CorpusReader, Document  # noqa: E402
from embedcli.sequences import encode_corpus  # noqa: E402
from embedcli.text import Tokenizer, make_tokenizer_config  # noqa: E402
from embedcli.vocab import TokenCounter, build_vocabulary, vocab_options  # noqa: E402

BUCKETS = 2_000_000
HASHES = "hashes" in inspect.signature(encode_corpus).parameters


def vocab_of(texts, compat, **options):
    if "oov_token" in options and "oov_token" not in inspect.signature(vocab_options).parameters:
        return None  # this version cannot express it
    counter = TokenCounter(Tokenizer(make_tokenizer_config(compat)))
    counter.add(texts, [() for _ in texts])
    return counter.vocabulary(**vocab_options(compat, **options))


def rows(vocab, texts):
    enc = encode_corpus([Document(t, ()) for t in texts], vocab)
    return [enc.tokens[enc.offsets[i] : enc.offsets[i + 1]].tolist() for i in range(enc.n_docs)]


def textvectorization(texts, tally):
    import keras
    import tensorflow as tf

    for max_tokens in (None, 1000):
        layer = keras.layers.TextVectorization(max_tokens=max_tokens, ragged=True)
        layer.adapt(texts, batch_size=4096)
        vocab = vocab_of(texts, "textvectorization", max_size=max_tokens)
        tally["tv vocabularies"][1] += 1
        tally["tv vocabularies"][0] += [str(t) for t in layer.get_vocabulary()] == vocab.tokens
        expected = [list(r) for r in layer(tf.constant(texts)).to_list()]
        got = rows(vocab, texts)
        tally["tv documents"][1] += len(texts)
        tally["tv documents"][0] += sum(a == b for a, b in zip(expected, got))


def tokenizer(texts, tally):
    from keras_preprocessing.text import Tokenizer as KerasTokenizer

    for oov in (None, "<OOV>"):
        kt = KerasTokenizer(oov_token=oov)
        kt.fit_on_texts(texts)
        for num_words in (None, 1000):
            kt.num_words = num_words
            words = sorted(kt.word_index, key=kt.word_index.get)
            words = words[: num_words - 1] if num_words else words
            expected = kt.texts_to_sequences(texts)
            options = {"max_size": num_words} | ({"oov_token": oov} if oov else {})
            vocab = vocab_of(texts, "tokenizer", **options)
            tally["tokenizer vocabularies"][1] += 1
            tally["tokenizer documents"][1] += len(texts)
            if vocab is None:
                continue
            tally["tokenizer vocabularies"][0] += [""] + words == vocab.tokens
            got = rows(vocab, texts)
            tally["tokenizer documents"][0] += sum(a == b for a, b in zip(expected, got))


def fasttext_dictionary_and_ngrams(path, tally):
    import fasttext

    model = fasttext.train_supervised(
        input=str(path), epoch=0, dim=16, thread=1, wordNgrams=2, bucket=BUCKETS, minn=0,
        maxn=0, verbose=0,
    )  # fmt: skip
    words, freqs = model.get_words(include_freq=True)
    reader = CorpusReader([path], CorpusOptions(skip_blank=True))
    vocab, _ = build_vocabulary(
        reader, make_tokenizer_config("fasttext"), vocab_options("fasttext")
    )
    tally["fasttext dictionaries"][1] += 1
    tally["fasttext dictionaries"][0] += vocab.tokens[1:] == list(words) and vocab.counts[1:] == [
        int(f) for f in freqs
    ]
    nwords = len(words)
    matrix = np.zeros((nwords + BUCKETS, 16), dtype=np.float32)
    matrix[nwords:] = np.random.default_rng(0).integers(-100, 101, (BUCKETS, 16))
    model.set_matrices(matrix, model.get_output_matrix())
    docs = list(CorpusReader([path], CorpusOptions(skip_blank=True)))
    raw = [r for r in path.read_text(encoding="utf-8").split("\n") if r.strip()]
    if HASHES:
        enc = encode_corpus(docs, vocab, hashes=True)
        spec = engine.ModelSpec(
            len(vocab), BUCKETS, 16, 2, word_ngrams=2, ngram_hash="fasttext-2017"
        )
        feats, offs = engine.featurize(enc.tokens, enc.offsets, spec, enc.hashes)
    else:
        enc = encode_corpus(docs, vocab)
        spec = engine.ModelSpec(len(vocab), BUCKETS, 16, 2, word_ngrams=2)
        feats, offs = engine.featurize(enc.tokens, enc.offsets, spec)
    table = matrix[nwords:].astype(np.int64)
    tally["fasttext n-gram lines"][1] += len(raw)
    for i, line in enumerate(raw):
        r = feats[offs[i] : offs[i + 1]]
        total = table[r[r >= len(vocab)] - len(vocab)].sum(axis=0).astype(np.float32)
        expected = total * np.float32(1.0 / len(r)) if len(r) else total
        tally["fasttext n-gram lines"][0] += bool(
            np.array_equal(model.get_sentence_vector(line), expected)
        )


def main() -> None:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[2] / "shared/data")
    tally: dict[str, list[int]] = {
        k: [0, 0]
        for k in (
            "tv vocabularies",
            "tv documents",
            "tokenizer vocabularies",
            "tokenizer documents",
            "fasttext dictionaries",
            "fasttext n-gram lines",
        )
    }
    for path in sorted(data.glob("*/train.txt")):
        texts = [d.text for d in CorpusReader([path], CorpusOptions(skip_blank=True))]
        textvectorization(texts, tally)
        tokenizer(texts, tally)
        fasttext_dictionary_and_ngrams(path, tally)
        print(path.parent.name, {k: tuple(v) for k, v in tally.items()}, file=sys.stderr)
    for key, (ok, total) in tally.items():
        print(f"{key}: {ok:,} of {total:,}")


if __name__ == "__main__":
    main()
