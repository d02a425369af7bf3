"""From files to a trained model directory: the library side of ``embedcli train``.

``prepare_training`` reads and encodes the corpora (building the vocabulary in the same single
pass unless one is given, so standard input works), splits off validation data and loads
pretrained vectors. ``run_training`` fits the model (``embedcli.train.fit``), evaluates the test
file and saves the model directory atomically. Nothing here prints: notes are returned.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedcli.corpus import CorpusOptions, CorpusReader
from embedcli.errors import DataError, TrainingDiverged, UsageError
from embedcli.sequences import EncodedCorpus, truncation_rate
from embedcli.shards import build_and_encode, encode_corpus
from embedcli.text import Tokenizer, make_tokenizer_config
from embedcli.vocab import TokenCounter, Vocabulary, vocab_options


@dataclass
class TrainPlan:
    train_paths: list[str]
    corpus_options: CorpusOptions
    config: dict[str, Any]
    vocab_path: str | None = None
    compat: str = "embedcli"
    lower: bool | None = None
    keep_punctuation: bool = False
    token_pattern: str | None = None
    min_count: int = 1
    max_size: int | None = None
    order: str | None = None
    oov: bool | None = None
    val_path: str | None = None
    val_split: float = 0.0
    test_path: str | None = None
    init_vectors: str | None = None
    #: in-memory documents (``corpus.Document``) read instead of ``train_paths`` / ``val_path`` /
    #: ``test_path`` (the Python API: no temporary files)
    train_docs: Any = None
    val_docs: Any = None
    test_docs: Any = None
    #: ``--engine dask``: a ``shard_corpus.DaskPlan`` (the corpus is encoded on the cluster)
    dask: Any = None


@dataclass
class PreparedTraining:
    plan: TrainPlan
    vocab: Vocabulary
    train: EncodedCorpus
    val: EncodedCorpus | None
    test: EncodedCorpus | None
    init_embeddings: np.ndarray | None
    readers: list[CorpusReader] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    init_coverage: dict[str, Any] | None = None
    prep_seconds: float = 0.0
    #: wall seconds per preparation stage (read_encode_train, read_encode_eval, init_vectors)
    timings: dict[str, float] = field(default_factory=dict)

    def plan_summary(self) -> dict[str, Any]:
        """Sizes and memory of the run, computed without allocating the model."""
        from embedcli.spec import TrainConfig

        n_tokens = int(len(self.train.tokens))
        # the same resolution and geometry as fit(): one place decides epochs, buckets, sizes
        cfg = TrainConfig.from_dict(self.plan.config).resolve(self.train.n_docs, n_tokens, 1)
        spec = cfg.model_spec(len(self.vocab), len(self.vocab.labels))
        words, dim, rows, dense = len(self.vocab), spec.dim, spec.num_rows, spec.dense_size
        bucket_rows = rows - words
        opt = cfg.optimizer
        opt_bytes = {
            "sgd": 0,
            "adagrad": rows * 4 + dense * 4,
            "adam": rows * (8 * dim + 4) + dense * 8,
        }.get(opt, 0)
        lengths = self.train.lengths()
        summary: dict[str, Any] = {
            "train_documents": self.train.n_docs,
            "train_tokens": int(len(self.train.tokens)),
            "vocab_size": words,
            "bucket_rows": bucket_rows,
            "embedding_rows": rows,
            "labels": self.vocab.labels,
            "parameters": rows * dim + dense,
            "parameter_bytes": (rows * dim + dense) * 4,
            "optimizer": opt,
            "epochs": cfg.epochs,
            "optimizer_state_bytes": opt_bytes,
            "encoded_corpus_bytes": self.train.nbytes,
            "val_documents": self.val.n_docs if self.val is not None else 0,
            "test_documents": self.test.n_docs if self.test is not None else 0,
            "mean_length": float(lengths.mean()) if len(lengths) else 0.0,
            "max_length": int(lengths.max()) if len(lengths) else 0,
        }
        if spec.pool == "flatten":
            docs_cut, tokens_lost = truncation_rate(lengths, spec.maxlen)
            summary["truncated_documents"] = docs_cut
            summary["truncated_tokens"] = tokens_lost
            summary["padded_matrix_bytes"] = self.train.n_docs * spec.maxlen * 4
        if self.init_coverage:
            summary["init_vectors"] = self.init_coverage
        return summary


def _label_pass(
    docs: Any, vocab: Vocabulary, hashes: bool = False, subwords: tuple[int, int] | None = None
) -> EncodedCorpus:
    """Encode with a vocabulary that has no labels yet: learn them from the documents."""
    from embedcli.vocab import FirstSeenIndex

    index = FirstSeenIndex()
    enc = encode_corpus(docs, vocab, label_index=index, hashes=hashes, subwords=subwords)
    names = list(index)
    counts = (
        np.bincount(enc.label_ids, minlength=len(names))
        if len(enc.label_ids)
        else np.zeros(len(names), int)
    )
    order = sorted(range(len(names)), key=lambda i: -int(counts[i]))
    remap = np.empty(len(names), dtype=np.int32)
    remap[order] = np.arange(len(names), dtype=np.int32)
    enc.label_ids = remap[enc.label_ids] if len(enc.label_ids) else enc.label_ids
    vocab.labels = [names[i] for i in order]
    vocab.label_counts = [int(counts[i]) for i in order]
    vocab.label_to_id = {name: i for i, name in enumerate(vocab.labels)}
    return enc


def subword_lengths(config: dict[str, Any]) -> tuple[int, int] | None:
    """``(minn, maxn)`` of a run's config (a ``TrainConfig`` dict) with subwords, else None."""
    minn, maxn = int(config.get("minn") or 0), int(config.get("maxn") or 0)
    return (minn, maxn) if minn > 0 and maxn > 0 else None


def _encoded_dir(plan: TrainPlan) -> str | None:
    """The encoded shard directory the plan trains on (``embedcli.shard_dir``), if it does."""
    from embedcli.shard_dir import is_encoded_dir

    if not any(is_encoded_dir(p) for p in plan.train_paths):
        return None
    if len(plan.train_paths) != 1:
        raise UsageError("train on one encoded shard directory, or on text files, not both")
    if plan.vocab_path:
        raise UsageError("an encoded shard directory carries its vocabulary: drop --vocab")
    return plan.train_paths[0]


def _check_dask(plan: TrainPlan, encoded_dir: str | None, sub: Any) -> None:
    """``train --engine dask``: refuse what the cluster does not prepare (one usage line)."""
    if encoded_dir is not None:
        raise UsageError(f"{encoded_dir} is already encoded: drop --engine dask")
    if plan.train_docs is not None:
        raise UsageError("--engine dask reads files or URLs, not in-memory documents")
    if sub:
        raise UsageError("subwords need the text files; drop --engine dask")
    if plan.vocab_path:
        raise UsageError("--engine dask counts the vocabulary on the cluster: drop --vocab")


def vocabulary_settings(plan: TrainPlan) -> tuple[Any, dict[str, Any]]:
    """The tokenizer config and vocabulary options a plan counts its corpus with (locally or on
    a Dask cluster: the same vocabulary either way)."""
    tok_cfg = make_tokenizer_config(
        plan.compat,
        lower=plan.lower,
        keep_punctuation=plan.keep_punctuation,
        token_pattern=plan.token_pattern,
    )
    opts = vocab_options(
        plan.compat,
        order=plan.order,
        oov=plan.oov,
        min_count=plan.min_count,
        max_size=plan.max_size,
    )
    return tok_cfg, opts


def _prepare_with_dask(plan: TrainPlan, hashes: bool) -> PreparedTraining:
    """``train --engine dask``: the corpus encoded on the cluster into a temporary shard
    directory beside the output (``shard_corpus.dask_shards``), then trained on as
    ``train SHARD_DIR`` is; the directory is removed once it is loaded, or on failure."""
    from embedcli.shard_corpus import dask_shards

    tok_cfg, opts = vocabulary_settings(plan)
    t0 = time.perf_counter()
    with dask_shards(
        plan.train_paths, plan.corpus_options, tok_cfg, opts, plan.dask, hashes
    ) as folder:
        local = dataclasses.replace(plan, train_paths=[folder], dask=None)
        prepared = prepare_training(local)
        seconds = time.perf_counter() - t0  # the cluster's counting and encoding included
        prepared.timings["read_encode_train"] = seconds - sum(
            v for k, v in prepared.timings.items() if k != "read_encode_train"
        )
    prepared.plan = plan
    return prepared


def val_split_indices(n_docs: int, val_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``--val-split``'s documents: ``(training, validation)`` indices, each in file order (a
    seeded permutation; round(val_split x n_docs) documents held out, at least one)."""
    perm = np.random.default_rng(seed).permutation(n_docs)
    n_val = max(1, int(round(val_split * n_docs)))
    if n_val >= n_docs:
        raise UsageError("--val-split leaves no training documents")
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def prepare_training(plan: TrainPlan) -> PreparedTraining:
    t0 = time.perf_counter()
    readers: list[CorpusReader] = []
    notes: list[str] = []
    # word n-grams of new models hash the token strings (fastText's scheme): keep their hashes
    hashes = int(plan.config.get("word_ngrams") or 1) > 1
    # fastText's subwords: the corpora carry the character n-grams of their unknown tokens
    sub = subword_lengths(plan.config)
    encoded_dir = _encoded_dir(plan)
    if plan.dask is not None:
        _check_dask(plan, encoded_dir, sub)
        return _prepare_with_dask(plan, hashes)
    train_reader: Any = plan.train_docs  # in-memory documents (the Python API), else the files
    if encoded_dir is None and train_reader is None:
        train_reader = CorpusReader(plan.train_paths, plan.corpus_options)
        readers.append(train_reader)
    if encoded_dir is not None:  # prepared by `encode --engine dask -o DIR`: memory-mapped
        from embedcli.shard_dir import load_training_corpus

        vocab, train = load_training_corpus(
            encoded_dir, plan.corpus_options.require_labels, hashes, bool(sub)
        )
    elif plan.vocab_path:
        vocab = Vocabulary.load(plan.vocab_path)
        train = (
            encode_corpus(train_reader, vocab, hashes=hashes, subwords=sub)
            if vocab.labels
            else _label_pass(train_reader, vocab, hashes, sub)
        )
    else:
        tok_cfg, opts = vocabulary_settings(plan)
        vocab, train = build_and_encode(
            train_reader, TokenCounter(Tokenizer(tok_cfg)), opts, hashes=hashes, subwords=sub
        )
    if train.n_docs == 0:
        raise DataError("the training corpus is empty: no labelled documents were read")
    if len(vocab.labels) < 2 and plan.config.get("objective") != "multilabel":
        raise DataError(
            f"training needs at least 2 distinct labels, found {len(vocab.labels)} ({', '.join(vocab.labels)})"
        )
    if plan.config.get("objective") == "binary" and len(vocab.labels) != 2:
        raise UsageError(f"--objective binary needs exactly 2 labels, found {len(vocab.labels)}")
    if len(vocab) <= (2 if vocab.oov else 1):
        raise DataError(
            "the vocabulary is empty: no word besides the reserved ids"
            + (
                f" (no token is seen --min-count {plan.min_count} times)"
                if not plan.vocab_path
                else ""
            )
        )
    if len(train.tokens) == 0:
        raise DataError(
            "the training corpus has no known tokens (every line is empty or out of vocabulary)"
        )

    timings = {"read_encode_train": time.perf_counter() - t0}
    t_stage = time.perf_counter()
    val = test = None
    eval_opts = CorpusOptions(**{**plan.corpus_options.__dict__, "require_labels": False})
    if plan.val_docs is not None:
        val = encode_corpus(plan.val_docs, vocab, hashes=hashes, subwords=sub)
    elif plan.val_path:
        r = CorpusReader([plan.val_path], eval_opts)
        readers.append(r)
        val = encode_corpus(r, vocab, hashes=hashes, subwords=sub)
    elif plan.val_split > 0:
        kept, held = val_split_indices(
            train.n_docs, plan.val_split, int(plan.config.get("seed", 0))
        )
        val = train.subset(held)
        train = train.subset(kept)
    if plan.test_docs is not None:
        test = encode_corpus(plan.test_docs, vocab, hashes=hashes, subwords=sub)
    elif plan.test_path:
        r = CorpusReader([plan.test_path], eval_opts)
        readers.append(r)
        test = encode_corpus(r, vocab, hashes=hashes, subwords=sub)

    timings["read_encode_eval"] = time.perf_counter() - t_stage
    t_stage = time.perf_counter()
    init = None
    coverage = None
    if plan.init_vectors:
        from embedcli.vectors import load_init_vectors

        run_subwords = _init_subwords(plan, train)
        init, _found, cov = load_init_vectors(
            plan.init_vectors, vocab, int(plan.config["dim"]), run_subwords
        )
        coverage = cov.to_dict()
        composed = f"{cov.words_composed:,} composed from subwords, " if cov.words_composed else ""
        notes.append(
            f"init vectors: {cov.words_hit:,} words found, {composed}{cov.words_missed:,} "
            f"missed, {100 * cov.token_coverage:.1f} % of corpus tokens covered"
            + (f"; {cov.subword_rows:,} subword rows copied" if cov.subword_rows else "")
            + (
                "; most frequent missing: "
                + ", ".join(f"{w} ({c})" for w, c in cov.top_missing[:5])
                if cov.top_missing
                else ""
            )
        )
        if cov.subword_note:
            notes.append(f"init vectors: {cov.subword_note}")
        # fit() overwrites the word rows with `init`, so words without a pretrained vector get
        # the same uniform(-0.05, 0.05) start as a fresh model.
        rng = np.random.default_rng(int(plan.config.get("seed", 0)) + 1)
        missing = ~_found
        words = getattr(init, "words", init)
        words[missing] = rng.uniform(-0.05, 0.05, size=(int(missing.sum()), words.shape[1])).astype(
            np.float32
        )
        words[0] = 0.0
        timings["init_vectors"] = time.perf_counter() - t_stage
    return PreparedTraining(
        plan=plan,
        vocab=vocab,
        train=train,
        val=val,
        test=test,
        init_embeddings=init,
        readers=readers,
        notes=notes,
        init_coverage=coverage,
        prep_seconds=time.perf_counter() - t0,
        timings=timings,
    )


def _init_subwords(plan: TrainPlan, train: EncodedCorpus) -> Any:
    """The run's ``SubwordSpec`` (None without subwords), buckets resolved as ``fit`` will. A
    pretrained model directory with the same n-gram lengths lends its number of buckets when
    ``--buckets`` is left to choose (so that its subword rows can be copied)."""
    from embedcli.spec import TrainConfig
    from embedcli.subwords import SubwordSpec

    lengths = subword_lengths(plan.config)
    if lengths is None:
        return None
    if not plan.config.get("buckets"):
        pretrained = _pretrained_subwords(plan.init_vectors)
        if pretrained is not None and (pretrained.minn, pretrained.maxn) == lengths:
            plan.config["buckets"] = pretrained.buckets
    cfg = TrainConfig.from_dict(plan.config).resolve(train.n_docs, int(len(train.tokens)), 1)
    return SubwordSpec(lengths[0], lengths[1], cfg.buckets)


def _pretrained_subwords(path: str | None) -> Any:
    """The ``SubwordSpec`` recorded in a model directory's config.json, else None."""
    import json

    from embedcli.subwords import SubwordSpec

    try:
        with open(os.path.join(path or "", "config.json"), encoding="utf-8") as f:
            return SubwordSpec.from_json(json.load(f)["model"]["subwords"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not a model directory, or none with subwords: the reader says what is wrong


def checkpoint_plan(plan: TrainPlan) -> dict[str, Any]:
    """What a checkpoint records of the run besides the training state: how to read the corpus
    again and where the validation data came from (JSON)."""
    return {
        "train_paths": list(plan.train_paths),
        "corpus_options": dict(plan.corpus_options.__dict__),
        "val_path": plan.val_path,
        "val_split": plan.val_split,
        "test_path": plan.test_path,
    }


def resume_plan(
    checkpoint: Any, train_paths: list[str], val_path: str | None, test_path: str | None
) -> TrainPlan:
    """The plan that continues ``checkpoint`` (an ``embedcli.checkpoint.Checkpoint``) on the corpus
    ``train_paths``: the checkpoint's vocabulary, corpus options, training settings and
    validation split; ``val_path``/``test_path`` default to the checkpoint's."""
    saved = checkpoint.plan
    return TrainPlan(
        train_paths=train_paths,
        corpus_options=CorpusOptions(**saved.get("corpus_options", {})),
        config=checkpoint.state.config.to_dict(),
        vocab_path=str(checkpoint.vocab_path),
        val_path=val_path or saved.get("val_path"),
        val_split=float(saved.get("val_split") or 0.0),
        test_path=test_path or saved.get("test_path"),
    )


def _save_diverged(
    output: str,
    exc: TrainingDiverged,
    last: Any,
    vocab: Vocabulary,
    coverage: Any,
    corpus: Any,
) -> None:
    """Save the last good model of a diverged run (``metrics.diverged = true``)."""
    from embedcli.modeldir import save_model

    metrics = dict(last.metrics)
    metrics["diverged"] = True
    metrics["diverged_epoch"] = int(exc.epoch if exc.epoch is not None else len(last.history) + 1)
    metrics["epoch"] = len(last.history)
    save_model(
        output,
        spec=last.spec.to_dict(),
        params=last.params,
        vocab=vocab,
        train_config=last.config.to_dict(),
        metrics=metrics,
        extra={"history": last.history, "init_vectors": coverage, "corpus": corpus},
    )


def evaluate_test(result: Any, test: EncodedCorpus) -> dict[str, Any]:
    """``test_accuracy``, ``test_loss``, ``test_documents`` of a fit's model on ``test``."""
    from embedcli.model import predict_proba
    from embedcli.train import evaluate_arrays

    probs = predict_proba(
        result.params,
        result.spec,
        test.tokens,
        test.offsets,
        threads=result.config.threads,
        hashes=test.hashes,
    )
    ev = evaluate_arrays(probs, test.label_ids, test.label_offsets)
    return {"test_accuracy": ev["accuracy"], "test_loss": ev["loss"], "test_documents": test.n_docs}


def save_run(
    output: str,
    result: Any,
    prepared: PreparedTraining,
    metrics: dict[str, Any],
    extra: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
) -> Any:
    """Write the model of a finished run (a ``train.TrainResult`` on ``prepared``) as a model
    directory: its parameters, vocabulary, resolved config, ``metrics``, history and how the
    training files were read, plus ``extra`` (``train`` and ``train --autotune-*`` share it)."""
    from embedcli.modeldir import save_model

    return save_model(
        output,
        spec=result.spec.to_dict(),
        params=result.params,
        vocab=prepared.vocab,
        train_config=result.config.to_dict(),
        metrics=metrics,
        extra={
            "history": result.history,
            "init_vectors": prepared.init_coverage,
            # how the training files were read: predict and evaluate read new files the same way
            "corpus": prepared.plan.corpus_options.record(),
            **(extra or {}),
        },
        timings=timings,
    )


def run_training(
    prepared: PreparedTraining,
    output: str,
    on_epoch: Any = None,
    on_progress: Any = None,
    *,
    checkpoint_every: int = 0,
    checkpoint_path: str | None = None,
    resume: Any = None,
    on_stage: Any = None,
) -> dict[str, Any]:
    """Fit, evaluate and save; return the summary (the JSON that ``train --json`` prints).
    ``on_stage(message)`` hears of the steps after training (test evaluation, saving).

    ``checkpoint_every`` N > 0 writes a checkpoint directory (default ``OUTPUT.ckpt``) every N
    epochs; ``resume`` (an ``embedcli.checkpoint.Checkpoint``) continues one. The corpus must
    encode to the checkpoint's document and token counts (else a DataError).
    """
    from embedcli.checkpoint import save_checkpoint
    from embedcli.train import TrainConfig, fit

    config = TrainConfig.from_dict(prepared.plan.config)  # fit() validates it
    vocab = prepared.vocab
    # a run that fails must leave an existing model as it was (an empty directory holds nothing)
    keep_existing = os.path.lexists(output) and not (
        os.path.isdir(output) and not os.listdir(output)
    )
    state = resume.state if resume is not None else None
    if state is not None:
        found = (prepared.train.n_docs, int(len(prepared.train.tokens)))
        if found != (state.n_docs, state.n_tokens):
            raise DataError(
                f"the corpus does not match the checkpoint {resume.path}: it encodes to "
                f"{found[0]:,} documents and {found[1]:,} tokens, the checkpoint was trained on "
                f"{state.n_docs:,} documents and {state.n_tokens:,} tokens"
            )
    on_checkpoint = None
    if checkpoint_every > 0:
        ckpt_path = checkpoint_path or f"{output.rstrip('/')}.ckpt"
        ckpt_plan = checkpoint_plan(prepared.plan)

        def on_checkpoint(st: Any) -> None:
            save_checkpoint(ckpt_path, st, vocab, ckpt_plan)

    timings = dict(prepared.timings)
    t_stage = time.perf_counter()
    try:
        result = fit(
            prepared.train,
            config,
            val=prepared.val,
            init_embeddings=prepared.init_embeddings,
            on_epoch=on_epoch,
            on_progress=on_progress,
            num_words=len(vocab),
            num_classes=len(vocab.labels),
            checkpoint_every=checkpoint_every,
            on_checkpoint=on_checkpoint,
            resume=state,
        )
    except TrainingDiverged as exc:
        last = exc.result
        if last is None:
            raise
        if not keep_existing:
            _save_diverged(
                output,
                exc,
                last,
                vocab,
                prepared.init_coverage,
                prepared.plan.corpus_options.record(),
            )
        epoch = exc.epoch if exc.epoch is not None else len(last.history) + 1
        done = len(last.history)
        raise TrainingDiverged(
            f"training diverged in epoch {epoch} (the loss became NaN or infinite); the learning "
            f"rate (--lr {last.config.lr:g}, --optimizer {last.config.optimizer}) is the likely "
            f"cause: try a lower one. "
            + (
                f"The existing model in {output} was left unchanged"
                if keep_existing
                else "The last good model "
                + (
                    f"(after epoch {done})"
                    if done
                    else "(the untrained initial weights: no epoch finished)"
                )
                + f" was written to {output} (marked diverged)"
            )
        ) from None
    timings["fit"] = time.perf_counter() - t_stage
    timings.update({f"fit.{k}": v for k, v in result.timings.items()})
    metrics: dict[str, Any] = dict(result.metrics)
    t_stage = time.perf_counter()
    if prepared.test is not None:
        if on_stage is not None:
            on_stage(f"evaluating on {prepared.plan.test_path} …")
        metrics.update(evaluate_test(result, prepared.test))
        timings["test_predict"] = time.perf_counter() - t_stage
    metrics["tokens_per_s"] = result.tokens_per_s
    metrics["prep_seconds"] = prepared.prep_seconds
    if on_stage is not None:
        on_stage(f"writing {output} …")
    t_stage = time.perf_counter()
    save_timings: dict[str, float] = {}
    save_run(output, result, prepared, metrics, timings=save_timings)
    timings["save"] = time.perf_counter() - t_stage
    timings.update({f"save.{k}": v for k, v in save_timings.items()})
    return {
        "model": output,
        "train_documents": prepared.train.n_docs,
        "train_tokens": int(len(prepared.train.tokens)),
        "vocab_size": len(vocab),
        "labels": vocab.labels,
        "epochs": result.config.epochs,
        **{k: v for k, v in metrics.items()},
        "config": result.config.to_dict(),
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
