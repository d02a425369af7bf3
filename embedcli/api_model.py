"""``Model``: a trained classifier or word-vector model, in memory or opened from its directory.

One class for both kinds of model directory (``modeldir``: "classifier" from ``embedcli
train``, "vectors" from ``embedcli pretrain``). The table methods (``words``, ``vector``,
``nearest``, ``analogy``, ``export``, ``to_gensim``) run on numpy alone over the memory-mapped
table; ``predict``, ``predict_proba``, ``embed`` (classifier), ``evaluate`` and ``explain``
load the engine (numba) on first use. The batch methods (``predict_batch``, ``evaluation``,
``embed_batch``) take ``corpus.Document`` lists: the commands call them on the batches their
reader yields, so a command and the API compute the same numbers.

    >>> import embedcli
    >>> m = embedcli.train("sample_data/stdlib/train.txt", dim=32, seed=1, threads=1)
    >>> m.labels
    ['data', 'net', 'concurrency', 'text']
    >>> m.predict("parse this json file")  # doctest: +ELLIPSIS
    [('data', 0.99...)]
    >>> m.predict_proba(["parse this json file", "a socket"]).shape
    (2, 4)
    >>> m.embed(["a socket", "a thread"]).shape
    (2, 32)
    >>> [w for w, _ in m.nearest("parse", k=3)]
    ['parsing', 'parser', 'path']
    >>> m.info()["labels"][0]  # embedcli info --json
    {'label': 'data', 'count': 560}

Left out: training more epochs on a loaded model (``embedcli train --resume`` does it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from embedcli.errors import DataError, UsageError

KINDS = ("classifier", "vectors")
#: the ranges of the prediction commands' options (``predict --threshold``, ``--threads``)
PREDICT_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "threshold": (0.0, 1.0, False, False),
    "threads": (1, 1024, False, False),
}


class Prediction(NamedTuple):
    """One document's decision: label ids (best first), their probabilities, and with
    ``explain`` the per-feature contributions (``explain.explain_batch``'s dict, or None)."""

    ids: Any
    probs: Any
    explanation: dict | None = None


class Model:
    """A model of either kind; build one with ``embedcli.train``, ``embedcli.pretrain`` or
    ``embedcli.load``. ``table`` is a ``modeldir.LoadedModel`` or a
    ``vectors_model.VectorsModel``."""

    def __init__(self, table: Any) -> None:
        from embedcli.vectors_model import is_vectors

        self._table = table
        self.kind = "vectors" if is_vectors(table) else "classifier"
        self._index: Any = None
        #: tokens encoded by the engine methods so far (``predict --verbose``)
        self.tokens_seen = 0

    # -- opening ------------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        verify: bool = True,
        command: str = "this command",
        kind: str | None = None,
        classifier: bool = True,
    ) -> Model:
        """``embedcli.load``: the directory at ``path``, checked, its table memory-mapped.
        ``kind="classifier"`` refuses word vectors in the one line ``command`` says about
        them (``FormatError``); ``classifier=False`` leaves a classifier's output layer unread
        (the table commands)."""
        from embedcli.modeldir import load_model_consistent, peek_kind
        from embedcli.vectors_model import load_vectors_consistent

        path = os.fspath(path)
        if kind not in (None, *KINDS):
            raise UsageError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if kind != "classifier" and peek_kind(path) == "vectors":
            return cls(load_vectors_consistent(path, mmap=True, verify=verify))
        return cls(
            load_model_consistent(
                path, mmap=True, verify=verify, command=command, classifier=classifier
            )
        )

    # -- what it holds ------------------------------------------------------------------------------
    @property
    def path(self) -> str | None:
        """The directory the model was loaded from (None for a model trained in memory)."""
        p = getattr(self._table, "path", None)
        return None if p is None else str(p)

    @property
    def table(self) -> Any:
        """The loaded directory: a ``modeldir.LoadedModel`` (classifier) or a
        ``vectors_model.VectorsModel`` (what ``embedcli.explorer`` reads)."""
        return self._table

    @property
    def config(self) -> dict[str, Any]:
        """config.json as the directory holds it (or will, once saved)."""
        return self._table.config

    @property
    def vocab(self) -> Any:
        """The ``vocab.Vocabulary`` (ids, tokens, counts, labels, tokenizer)."""
        return self._table.vocab

    @property
    def first_word(self) -> int:
        """Id of the first word row (after padding and [UNK])."""
        v = self.vocab
        return 1 if v.unk_id is None else v.unk_id + 1

    @property
    def words(self) -> list[str]:
        """The words, in id order (most frequent first): rows ``first_word ..``."""
        return self.vocab.tokens[self.first_word :]

    @property
    def labels(self) -> list[str]:
        """The labels (classifier; id order), ``[]`` for word vectors."""
        return list(self.vocab.labels)

    @property
    def embeddings(self) -> Any:
        """The embedding table (row i = token id i, then n-gram rows), memory-mapped when loaded."""
        return self._table.embeddings

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def output_layers(self) -> dict[str, Any]:
        """A classifier's arrays after the pooling (``out_W`` inputs x outputs, ``out_b``, and
        with ``--hidden`` ``hidden_W``/``hidden_b``); ``{}`` for word vectors or when the
        output layer was left unread (``load(..., classifier=False)``)."""
        return dict(getattr(self._table, "classifier", None) or {})

    def mean_vectors(self, token_lists: Sequence[Sequence[str]]) -> Any:
        """float32 ``(len(token_lists), dim)``: per list of standardized tokens the mean of their
        vectors (an unknown token's from its character n-grams; words with no vector left out),
        as fastText's print-word-vectors and ``embed`` on word vectors. Word-vector models."""
        if self.kind != "vectors":
            raise UsageError(
                f"word lists need a word-vector model (embedcli pretrain); "
                f"{self.path or 'this model'} is a classifier"
            )
        return self._table.mean_vectors(token_lists)

    def __repr__(self) -> str:
        labels = f", labels={self.labels!r}" if self.kind == "classifier" else ""
        if len(labels) > 80:
            labels = f", labels={len(self.labels)}"
        where = f", path={self.path!r}" if self.path else ""
        return f"Model(kind={self.kind!r}, words={len(self.words)}{labels}, dim={self.dim}{where})"

    # -- words --------------------------------------------------------------------------------------
    def tokens_of(self, word: str) -> list[str]:
        """The tokens of a query word after the model's standardization (no ``</s>``)."""
        from embedcli.text import EOS_TOKEN

        toks = self.vocab.tokenizer.tokenize(word)
        if self.vocab.tokenizer.config.eos and toks and toks[-1] == EOS_TOKEN:
            toks.pop()
        return toks

    def word_id(self, word: str) -> int | None:
        """Row of a query word after standardization (None if it is not one known word)."""
        toks = self.tokens_of(word)
        if len(toks) != 1:
            return None
        i = self.vocab.token_to_id.get(toks[0])
        return i if i is not None and i >= self.first_word else None

    @property
    def subword_spec(self) -> Any:
        """The ``subwords.SubwordSpec`` of the character n-grams (None without subwords)."""
        if self.kind == "vectors":
            return self._table.subwords
        sub = self.config["model"].get("subwords")
        if not isinstance(sub, dict) or not (
            int(sub.get("minn") or 0) and int(sub.get("maxn") or 0)
        ):
            return None
        from embedcli.subwords import SubwordSpec

        return SubwordSpec(int(sub["minn"]), int(sub["maxn"]), int(sub["buckets"]))

    @property
    def has_subwords(self) -> bool:
        """Whether an unknown word gets a vector from its character n-grams (``pretrain`` with
        ``--minn/--maxn``, or a classifier trained with them)."""
        return self.subword_spec is not None

    def _ngram_rows(self, word: str) -> tuple[Any, int]:
        """A classifier's table rows of the character n-grams of a standardized ``word`` that
        are stored (all of them, but for a quantized model cut with ``--cutoff``: fastText
        leaves pruned n-grams out too), and the number of its n-grams."""
        from embedcli.subwords import subword_buckets

        buckets = subword_buckets([word], self.subword_spec)[0]
        rows = int(self.config["model"]["num_words"]) + buckets
        stored = getattr(self.embeddings, "stored_rows", None)
        return (rows if stored is None else rows[stored(rows) >= 0]), len(buckets)

    def ngrams_found(self, word: str) -> tuple[int, int]:
        """``(n-grams with a stored row, n-grams)`` of a standardized ``word``."""
        if self.kind == "vectors":
            return self._table.ngrams_found(word)
        if not self.has_subwords:
            return 0, 0
        rows, total = self._ngram_rows(word)
        return len(rows), total

    def subword_vector(self, word: str) -> Any:
        """The mean of the character n-gram rows of a standardized ``word`` (zeros without
        subwords, or when none of its n-grams has a row): fastText's ``getWordVector`` of an
        unknown word, for both kinds of model."""
        import numpy as np

        if self.kind == "vectors":
            return self._table.oov_vectors([word])[0]
        out = np.zeros(self.dim, dtype=np.float32)
        if not self.has_subwords:
            return out
        rows, _ = self._ngram_rows(word)
        if len(rows):
            out = np.asarray(self.embeddings[rows], np.float32).mean(axis=0, dtype=np.float32)
        return np.asarray(out, dtype=np.float32)

    def token_vector(self, token: str) -> Any:
        """float32 ``(dim,)`` of a standardized token: the one rule for an unknown word, shared
        by ``vector`` and ``embedcli lookup``. A word's row; an unknown word's the mean of its
        character n-gram rows when the model has subwords (as fastText's ``getWordVector``),
        else the [UNK] row; ``DataError`` when there is neither."""
        import numpy as np

        i = self.vocab.token_to_id.get(token)
        if i is not None and i >= self.first_word:
            return np.array(self.embeddings[i], dtype=np.float32)
        if self.has_subwords:
            return np.asarray(self.subword_vector(token), dtype=np.float32)
        if self.vocab.unk_id is not None:
            return np.array(self.embeddings[self.vocab.unk_id], dtype=np.float32)
        raise DataError(f"{token!r} is not in the vocabulary (and the model has no subwords)")

    def vector(self, word: str) -> Any:
        """float32 ``(dim,)`` of a word: its row; an unknown word's the mean of its character
        n-gram rows when the model has subwords (``token_vector``), else the [UNK] row;
        ``DataError`` when there is none. A text of several tokens gets the [UNK] row."""
        import numpy as np

        toks = self.tokens_of(word)
        if len(toks) == 1:
            return self.token_vector(toks[0])
        if self.vocab.unk_id is not None:
            return np.array(self.embeddings[self.vocab.unk_id], dtype=np.float32)
        raise DataError(f"{word!r} is not in the vocabulary (and the model has no subwords)")

    # -- neighbours ---------------------------------------------------------------------------------
    @property
    def index(self) -> Any:
        """The cosine index over the word rows (``similarity.NeighborIndex``), built once."""
        if self._index is None:
            from embedcli.similarity import NeighborIndex

            self._index = NeighborIndex(self.embeddings, self.first_word, len(self.vocab.tokens))
        return self._index

    def subword_query(self, word: str) -> Any:
        """The unit vector of an unknown query word from its character n-grams, or None (no
        subwords, several tokens, or no n-gram with a row)."""
        import numpy as np

        toks = self.tokens_of(word)
        if len(toks) != 1 or not self.has_subwords:
            return None
        v = np.asarray(self.subword_vector(toks[0]), dtype=np.float64)
        norm = float(np.linalg.norm(v))
        return None if norm == 0 else v / norm

    def nearest(self, word_or_vector: Any, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` words most similar by cosine to a word (itself excluded; an unknown word
        through its subwords) or to a vector: ``[(word, cosine), ...]``, best first."""
        import numpy as np

        _check_k(k)
        tokens = self.vocab.tokens
        if isinstance(word_or_vector, str):
            i = self.word_id(word_or_vector)
            if i is not None:
                return [(tokens[j], s) for j, s in self.index.nearest([i], k)[0]]
            query = self.subword_query(word_or_vector)
            if query is None:
                raise DataError(f"{word_or_vector!r} is not a word of the vocabulary")
        else:
            query = np.asarray(word_or_vector, dtype=np.float64).reshape(-1)
            if query.shape != (self.dim,):
                raise UsageError(f"the vector must have {self.dim} values, not {query.size}")
            norm = float(np.linalg.norm(query))
            query = query / norm if norm > 0 else query
        return [(tokens[j], s) for j, s in self.index.top_k(query[None, :], k)[0]]

    def analogy(self, a: str, b: str, c: str, k: int = 10) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ...: the words closest to ``b - a + c`` (gensim's
        ``most_similar(positive=[b, c], negative=[a])``), the three excluded."""
        _check_k(k)
        ids = [self.word_id(w) for w in (a, b, c)]
        missing = [w for w, i in zip((a, b, c), ids, strict=True) if i is None]
        if missing:
            raise DataError(f"{', '.join(map(repr, missing))} not in the vocabulary")
        tokens = self.vocab.tokens
        return [(tokens[j], s) for j, s in self.index.analogy(ids[0], ids[1], ids[2], k)]

    # -- the engine: predict, embed, evaluate, explain ----------------------------------------------
    def _classifier(self, what: str) -> Any:
        if self.kind != "classifier":
            from embedcli.errors import FormatError
            from embedcli.modeldir import not_a_classifier

            raise FormatError(not_a_classifier(self.path or "this model", what))
        return self._table

    @property
    def spec(self) -> Any:
        """A classifier's ``spec.ModelSpec`` (geometry, pooling, objective)."""
        return self._classifier("this method").spec

    def encode(self, docs: Sequence[Any]) -> Any:
        """``sequences.encode_corpus`` of ``corpus.Document``s with what the model's features
        need (token hashes of word n-grams, character n-grams of subwords)."""
        from embedcli.sequences import encode_corpus

        t = self._classifier("predict")
        spec = t.spec
        subwords = (spec.minn, spec.maxn) if spec.has_subwords else None
        enc = encode_corpus(docs, t.vocab, hashes=bool(spec.ngram_hash), subwords=subwords)
        self.tokens_seen += len(enc.tokens)
        return enc

    def decision(self, k: int | None, threshold: Any) -> tuple[int | None, Any]:
        """Effective ``(k, threshold)``: by default 1 label over 0.0; a multi-label model
        keeps every label over its stored per-label threshold (0.5 when none is stored)."""
        import numpy as np

        t = self._classifier("predict")
        multilabel = t.spec.objective == "multilabel"
        if k is not None:
            _check_k(k)
        if threshold is not None and np.ndim(threshold) == 0:
            check_ranges({"threshold": threshold}, PREDICT_RANGES)
        if k is None and not multilabel:
            k = 1
        if threshold is not None:
            return k, threshold
        if multilabel:
            th = t.classifier.get("thresholds")
            return k, (np.asarray(th, dtype=np.float32) if th is not None else 0.5)
        return k, 0.0

    def _proba(self, enc: Any, threads: int) -> Any:
        from embedcli import model as engine

        check_ranges({"threads": threads}, PREDICT_RANGES)
        t = self._table
        return engine.predict_proba(
            t.params, t.spec, enc.tokens, enc.offsets, threads=threads, hashes=enc.hashes
        )

    def predict_batch(
        self,
        docs: Sequence[Any],
        k: int | None = None,
        threshold: Any = None,
        *,
        explain: bool = False,
        threads: int = 2,
    ) -> list[Prediction]:
        """One ``Prediction`` per ``corpus.Document`` (what ``embedcli predict`` prints); a
        document without any token gets an empty one, as in fastText."""
        import numpy as np

        from embedcli.metrics import select_labels

        k, thr = self.decision(k, threshold)
        if explain:
            from embedcli.explain import check_explainable

            check_explainable(self._table.spec)
        enc = self.encode(docs)
        chosen = select_labels(self._proba(enc, threads), k, thr)
        empty = np.diff(enc.offsets) == 0
        explanations: list[Any] = [None] * len(chosen)
        if explain:
            from embedcli.explain import explain_batch

            explanations = explain_batch(self._table, enc, list(docs), chosen)
        out = []
        for j, (ids, ps) in enumerate(chosen):
            if empty[j]:
                ids, ps = ids[:0], ps[:0]
            out.append(Prediction(ids, ps, explanations[j]))
        return out

    def predict(
        self,
        texts: str | Iterable[str],
        k: int | None = None,
        threshold: float | None = None,
        *,
        threads: int = 2,
    ) -> Any:
        """Labels with their probabilities, best first: ``[(label, p), ...]`` for one text, a
        list of those for a list of texts (``embedcli predict --proba``). ``k`` defaults to 1
        and ``threshold`` to 0.0 (a multi-label model: every label over its stored threshold).
        A word-vector model has no labels: ``UsageError``."""
        one = isinstance(texts, str)
        docs = _documents([texts] if one else texts)
        labels = self.vocab.labels if self.kind == "classifier" else []
        out = [
            [(labels[i], float(p)) for i, p in zip(pred.ids, pred.probs, strict=True)]
            for pred in self.predict_batch(docs, k, threshold, threads=threads)
        ]
        return out[0] if one else out

    def predict_proba(self, texts: str | Iterable[str], *, threads: int = 2) -> Any:
        """float32 ``(len(texts), len(labels))``: every label's probability per text."""
        import numpy as np

        docs = _documents([texts] if isinstance(texts, str) else texts)
        self._classifier("predict")
        if not docs:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.asarray(self._proba(self.encode(docs), threads), dtype=np.float32)

    def embed_batch(self, docs: Sequence[Any], *, threads: int = 2) -> Any:
        """float32 ``(len(docs), width)``: each document's pooled vector (classifier) or the
        mean of its word vectors (word vectors; unknown words through their subwords) —
        ``embedcli embed``'s rows."""
        import numpy as np

        if self.kind == "vectors":
            tokenize = self.vocab.tokenizer.tokenize
            return self._table.mean_vectors([tokenize(doc.text) for doc in docs])
        from embedcli import model as engine

        t = self._table
        check_ranges({"threads": threads}, PREDICT_RANGES)
        if not docs:
            return np.zeros((0, t.spec.pooled_dim), dtype=np.float32)
        enc = self.encode(docs)
        return engine.pooled(
            t.params, t.spec, enc.tokens, enc.offsets, threads=threads, hashes=enc.hashes
        )

    @property
    def embed_width(self) -> int:
        """Length of ``embed``'s vectors."""
        return self.dim if self.kind == "vectors" else int(self._table.spec.pooled_dim)

    def embed(self, texts: str | Iterable[str], *, threads: int = 2) -> Any:
        """float32 ``(len(texts), width)``: one vector per text (``embedcli embed``)."""
        import numpy as np

        docs = _documents([texts] if isinstance(texts, str) else texts)
        return np.asarray(self.embed_batch(docs, threads=threads), dtype=np.float32)

    def evaluation(
        self,
        batches: Iterable[Sequence[Any]],
        k: int | None = None,
        threshold: Any = None,
        *,
        threads: int = 2,
    ) -> Any:
        """``metrics.Evaluation`` over batches of labelled ``corpus.Document``s, counted as
        fastText counts (examples without a known label or a token skipped)."""
        import numpy as np

        from embedcli.metrics import evaluate as count
        from embedcli.metrics import select_labels

        k, thr = self.decision(k, threshold)
        preds: list[Any] = []
        gold: list[Any] = []
        skipped_empty = 0
        for batch in batches:
            enc = self.encode(batch)
            lengths = np.diff(enc.offsets)
            for j, (ids, _) in enumerate(select_labels(self._proba(enc, threads), k, thr)):
                if lengths[j] == 0:
                    skipped_empty += 1
                    continue
                preds.append(ids)
                gold.append(enc.label_ids[enc.label_offsets[j] : enc.label_offsets[j + 1]])
        ev = count(preds, gold, len(self.vocab.labels), k)
        ev.skipped += skipped_empty
        return ev

    def evaluate(
        self,
        data: Any,
        k: int | None = None,
        threshold: float | None = None,
        *,
        threads: int = 2,
    ) -> dict[str, Any]:
        """Accuracy, P@k, R@k, per-label P/R/F1, macro/micro averages and the confusion matrix
        (``embedcli evaluate --json``'s dict) on a test file (read as the training files were)
        or on ``(text, labels)`` pairs."""
        from embedcli.memcorpus import corpus_source

        self._classifier("evaluate")
        paths, docs = corpus_source(data, labelled=False, what="test data")
        if paths:
            from embedcli.corpus import CorpusOptions, CorpusReader, recorded_options

            where = f"{self.path or 'the model'}/config.json"
            options = recorded_options(self.config.get("corpus"), where)
            reader = CorpusReader(paths, CorpusOptions(**options))  # type: ignore[arg-type]
            batches: Iterable[Any] = reader.batches(8192)
        else:
            batches = [list(docs)]
        ev = self.evaluation(batches, k, threshold, threads=threads)
        if ev.n == 0:
            raise DataError("no test example had both a known label and a token")
        return ev.to_dict(self.labels)

    def explain(self, text: str, *, threads: int = 2) -> dict[str, Any] | None:
        """Each feature's (word, word n-gram, character n-gram) exact share of the top label's
        score (``embedcli predict --explain``): ``{"label", "score", "bias", "features":
        [(feature, contribution), ...]}`` largest first; None for a text with no token.
        Needs a linear output over mean, sum or flatten pooling (``UsageError`` otherwise)."""
        (pred,) = self.predict_batch(_documents([text]), explain=True, threads=threads)
        ex = pred.explanation
        if ex is None:
            return None
        return {**ex, "label": self.labels[ex["label"]]}

    # -- writing ------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, force: bool = False) -> str:
        """Write the model directory (atomically; an existing one only if embedcli wrote it,
        never the directory the model was loaded from), as ``embedcli train`` writes it."""
        from embedcli.outputs import Output, claim_outputs

        path = os.fspath(path)
        with claim_outputs([Output(path, "dir")], [self.path], force=force):
            if self.kind == "vectors":
                self._save_vectors(path)
            else:
                self._save_classifier(path)
        return path

    def _save_classifier(self, path: str) -> None:
        from embedcli.modeldir import save_model

        t = self._table
        standard = ("format", "version", "model", "train", "tokenizer", "labels", "metrics")
        standard += ("files", "versions", "created")
        save_model(
            path,
            spec=t.config["model"],
            params=t.params,
            vocab=t.vocab,
            train_config=t.config.get("train", {}),
            metrics=t.config.get("metrics", {}),
            extra={k: v for k, v in t.config.items() if k not in standard},
        )

    def _save_vectors(self, path: str) -> None:
        from types import SimpleNamespace

        from embedcli.vectors_model import save_vectors_model

        t = self._table
        first = self.first_word
        trained = SimpleNamespace(
            vectors=t.embeddings[first:],
            words=self.words,
            subwords=t.subwords,
            subword_buckets=t.subword_buckets,
            subword_rows=t.subword_rows,
        )
        model = {k: v for k, v in t.config["model"].items() if k not in ("dim", "subwords")}
        standard = ("format", "version", "kind", "model", "tokenizer", "labels", "files")
        standard += ("versions", "created")
        extra = {k: v for k, v in t.config.items() if k not in standard}
        save_vectors_model(path, trained, t.vocab, config_extra={"model": model, **extra})

    def export(
        self,
        path: str | os.PathLike,
        format: str,  # noqa: A002  (the option is --format)
        *,
        words_only: bool = False,
        words: str | os.PathLike | Iterable[str] | None = None,
        force: bool = False,
    ) -> list[str]:
        """``embedcli export``: the table as npy, npz, csv, word2vec, word2vec-binary or
        projector files (``words_only`` drops the padding, [UNK] and n-gram rows; ``words``, a
        file or the words, writes their vectors instead: word-vector models); the paths written
        (``.rows`` and ``.dim`` say what)."""
        from embedcli.model_export import export_model

        return export_model(self, path, format, words_only=words_only, words=words, force=force)

    def info(self) -> dict[str, Any]:
        """``embedcli info --json``'s dict: format, layers and parameters (classifier) or words
        and subword rows (word vectors), vocabulary, labels, training, metrics and, for a model
        opened from a directory, its files with their sha256 status."""
        from embedcli.model_info import build_info

        files: list[dict] = []
        if self.path is not None:
            from embedcli.modeldir import file_report

            files = file_report(self.path, self.config)
        bad = [f["file"] for f in files if f["status"] != "ok"]
        return build_info(self.path, self.config, files, self._table, bad).report

    def plot(
        self,
        path: str | os.PathLike,
        *,
        top: int = 100,
        method: str = "pca",
        title: str | None = None,
        seed: int = 0,
        force: bool = False,
    ) -> int:
        """``embedcli plot``: the ``top`` most frequent words in 2-D (``method`` pca, tsne or
        umap) drawn to a .png, .svg or .pdf (matplotlib: ``pip install 'embedcli[plot]'``),
        coloured by the label each word pushes towards; the number of words drawn."""
        from embedcli.plotting import plot_model

        return plot_model(self, path, top=top, method=method, title=title, seed=seed, force=force)

    def explore(
        self,
        path: str | os.PathLike,
        *,
        top: int = 2000,
        method: str = "pca",
        k: int = 10,
        words: str | os.PathLike | None = None,
        docs: str | os.PathLike | None = None,
        max_docs: int = 1000,
        search_words: int = 20_000,
        ngram_words: int = 2000,
        precision: str = "int8",
        title: str | None = None,
        seed: int = 0,
        force: bool = False,
    ) -> Any:
        """``embedcli explore``: one self-contained HTML page (a 2-D map of the ``top`` most
        frequent words by ``method`` pca, tsne or umap, a search box for any word listing its
        ``k`` nearest mapped words by cosine in the full space; ``words`` a file of extra search
        words, ``docs`` a file of documents to map) written to ``path``; an
        ``explore_run.ExploreResult`` (bytes, counts, seconds, warnings)."""
        from embedcli.explore_run import explore_model

        return explore_model(
            self,
            path,
            top=top,
            method=method,
            k=k,
            words=words,
            docs=docs,
            max_docs=max_docs,
            search_words=search_words,
            ngram_words=ngram_words,
            precision=precision,
            title=title,
            seed=seed,
            force=force,
        )

    def to_gensim(self) -> Any:
        """The word vectors as a gensim ``KeyedVectors`` (words in id order, with their corpus
        counts); gensim is imported here (``UsageError`` with how to install it when missing)."""
        import numpy as np

        try:
            from gensim.models import KeyedVectors
        except ImportError:
            raise UsageError("to_gensim needs gensim: pip install 'embedcli[gensim]'") from None
        first, stop = self.first_word, len(self.vocab.tokens)
        kv = KeyedVectors(vector_size=self.dim, dtype=np.float32)
        kv.add_vectors(self.words, np.asarray(self.embeddings[first:stop], dtype=np.float32))
        kv.allocate_vecattrs(attrs=["count"], types=[np.int64])
        kv.expandos["count"][:] = np.asarray(self.vocab.counts[first:stop], dtype=np.int64)
        return kv


def check_ranges(values: dict[str, Any], ranges: dict[str, tuple[Any, Any, bool, bool]]) -> None:
    """``UsageError`` naming the option (``--word-ngrams``) for a value outside its range or of
    the wrong type; ``None`` passes (an option left to choose)."""
    for name, (low, high, low_open, high_open) in ranges.items():
        value = values.get(name)
        if value is None:
            continue
        option = "--" + name.replace("_", "-")
        integer = isinstance(low, int) and not isinstance(low, bool)
        if isinstance(value, bool) or not isinstance(value, (int, float) if not integer else int):
            kind = "an integer" if integer else "a number"
            raise UsageError(f"{option} must be {kind}, not {value!r}")
        if integer:
            if not (value >= low and (high is None or value <= high)):
                raise UsageError(f"{option} must be in {low}..{high}, not {value}")
            continue
        bad = not math.isfinite(value)
        bad = bad or value < low or (low_open and value == low)
        bad = bad or (high is not None and (value > high or (high_open and value == high)))
        if bad:
            left = f"{'>' if low_open else '>='} {low:g}"
            right = "" if high is None else f" and {'<' if high_open else '<='} {high:g}"
            raise UsageError(f"{option} must be a finite number {left}{right}, not {value!r}")


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise UsageError(f"--k must be 1 or more, not {k!r}")


def _documents(texts: Iterable[Any]) -> list[Any]:
    """``corpus.Document``s of texts (or ``(text, labels)`` pairs); labels not needed."""
    from embedcli.memcorpus import document

    if isinstance(texts, (str, bytes, Path)) or not isinstance(texts, Iterable):
        raise UsageError(
            f"texts must be a string or an iterable of strings, not {type(texts).__name__}"
        )
    return [document(t, n, "texts") for n, t in enumerate(texts, 1)]
