"""One run of ``train`` or ``pretrain``, from options to a model: the function that both the
Python API (``embedcli.train``/``embedcli.pretrain``) and the commands call, once each.

:func:`train_run` and :func:`pretrain_run` take the options as keywords (the API's names:
``format``, ``word_ngrams``, ``output``...), check them, claim the outputs, build the plan (or
continue a checkpoint), read the corpus, then stop at the plan (``dry_run``), search
hyperparameters (``autotune_*``), write a model directory (``output``) or keep the model in
memory. Nothing is printed: the caller hears of each step through :class:`Events`, and draws
bars or lines as it likes (the commands do, the API does not unless ``progress=True``).

Left out: parsing (the command line's), rendering (``embedcli.cli``), in-memory runs with
checkpoints or a search (both write files: they need ``output``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from embedcli.errors import UsageError
from embedcli.memcorpus import corpus_source


class FilePaths(list):
    """Corpus paths exactly as given (``-`` is standard input): never read as texts."""


@dataclass
class Events:
    """What a run tells its caller; every hook is optional.

    ``reading(paths)``: a context manager around reading and encoding the corpus;
    ``prepared(prepared)``: the corpus is read (``PreparedTraining``/``PreparedPretrain``: readers,
    notes, sizes); ``resumed(checkpoint)``: a checkpoint was loaded to continue;
    ``warm(compile)``: call ``compile()`` to compile the kernels before the first epoch (train);
    ``epoch(record)``: a finished epoch (train); ``progress(x)``: the fraction done (train) or the
    trainer's record, a few times a second (pretrain); ``stage(message)``: a step after training
    (test evaluation, writing); ``trial(record, best, seconds_left)`` and ``searched(result)``:
    a finished autotune trial, and the search's end.
    """

    reading: Callable[[list[str]], Any] | None = None
    prepared: Callable[[Any], Any] | None = None
    resumed: Callable[[Any], Any] | None = None
    warm: Callable[[Callable[[], Any]], Any] | None = None
    epoch: Callable[[dict[str, Any]], Any] | None = None
    progress: Callable[[Any], Any] | None = None
    stage: Callable[[str], Any] | None = None
    trial: Callable[[dict[str, Any], dict[str, Any] | None, float], Any] | None = None
    searched: Callable[[Any], Any] | None = None


@dataclass
class Run:
    """A finished run: ``summary`` is what ``--json`` prints (the plan with ``dry_run``);
    ``model`` the model in memory (runs without ``output``); ``search`` the autotune result."""

    summary: dict[str, Any] = field(default_factory=dict)
    model: Any = None
    search: Any = None


# -- shared steps ---------------------------------------------------------------------------------
def reading_options(opts: dict[str, Any], **extra: Any) -> Any:
    """The ``CorpusOptions`` of the reading options (``format``, ``label_prefix``,
    ``text_column``, ``label_column``, ``no_header``, ``text_field``, ``label_field``,
    ``strict_utf8``; the last two label ones optional): the one place they become a reader's."""
    from embedcli.corpus import CorpusOptions

    return CorpusOptions(
        fmt=opts["format"],
        label_prefix=opts["label_prefix"],
        text_column=opts.get("text_column"),
        label_column=opts.get("label_column"),
        header=not opts["no_header"],
        text_field=opts["text_field"],
        label_field=opts.get("label_field", "label"),
        strict_utf8=opts["strict_utf8"],
        **extra,
    )


def vocabulary_options(opts: dict[str, Any]) -> dict[str, Any]:
    """The plan fields of the tokenizer and vocabulary options (train's and pretrain's)."""
    return {
        "compat": opts["compat"],
        "lower": False if opts["no_lower"] else None,
        "keep_punctuation": opts["keep_punctuation"],
        "token_pattern": opts["token_pattern"],
        "min_count": opts["min_count"],
        "max_size": opts["max_size"],
    }


def _source(corpus: Any, labelled: bool) -> tuple[list[str], Any]:
    if isinstance(corpus, FilePaths):
        return list(corpus), None
    return corpus_source(corpus, labelled=labelled)


def _check_outputs(o: dict[str, Any], what: str) -> str | None:
    """The checks on ``output``/``checkpoint`` before any work; the checkpoint path."""
    from embedcli.atomic import check_writable_dir

    output, every, checkpoint = o["output"], o["checkpoint_every"], o["checkpoint"]
    if output:
        check_writable_dir(output)
    if checkpoint and not every:
        raise UsageError("--checkpoint needs --checkpoint-every N")
    if not output and not o["dry_run"] and (every or o["resume"]):
        raise UsageError(f"checkpoints and --resume need --output (the {what} written at the end)")
    if every and output:
        checkpoint = checkpoint or f"{output.rstrip('/')}.ckpt"
    if checkpoint:
        check_writable_dir(checkpoint)
    return checkpoint


def _claim(
    stack: contextlib.ExitStack, o: dict[str, Any], checkpoint: str | None, inputs: list[Any]
) -> None:
    """Check, lock and clean the model (and checkpoint) directory for the run. The checkpoint
    may be the one ``resume`` continues (read whole before the first checkpoint is written);
    the model directory may not."""
    from embedcli.outputs import Output, claim_outputs, guard_outputs

    if o["dry_run"] or not o["output"]:
        return
    model_out = Output(o["output"], "dir")
    outputs = [model_out] + ([Output(checkpoint, "dir", "--checkpoint")] if checkpoint else [])
    guard_outputs([model_out], [o["resume"]])
    stack.enter_context(claim_outputs(outputs, inputs, force=o["force"]))


def _read(events: Events, paths: list[str], prepare: Callable[[Any], Any], plan: Any) -> Any:
    """``prepare(plan)`` (read and encode the corpus) inside ``events.reading(paths)``; then
    ``events.prepared`` hears of it."""
    with events.reading(paths) if events.reading is not None else contextlib.nullcontext():
        prepared = prepare(plan)
    if events.prepared is not None:
        events.prepared(prepared)
    return prepared


# -- train ----------------------------------------------------------------------------------------
def train_run(
    corpus: Any,
    options: dict[str, Any],
    *,
    events: Events | None = None,
    fixed: Any = None,
    dask: Any = None,
) -> Run:
    """One ``train`` run (``options``: every keyword of ``embedcli.train``); ``fixed``: the
    searched options autotune keeps as given (``TrainConfig``/plan names); ``dask``: a
    ``shard_corpus.DaskPlan`` (``--engine dask``: the corpus is encoded on the cluster)."""
    from embedcli.api_fit import check_train_options

    ev = events or Events()
    o = check_train_options(options)
    checkpoint = _check_outputs(o, "model")
    tune = {k[9:]: o[k] for k in o if k.startswith("autotune_")}
    tuning = tune["duration"] is not None or any(
        tune[k] for k in ("validation", "metric", "model_size", "trials_log", "trials")
    )
    if tuning and (o["resume"] or o["dry_run"] or o["checkpoint_every"]):
        raise UsageError("--autotune-* cannot be combined with --resume, --dry-run or checkpoints")
    if tuning and not o["output"]:
        raise UsageError("autotune writes the best model: it needs --output")
    if dask is not None and o["resume"]:
        raise UsageError("--resume continues from the checkpoint's corpus: drop --engine dask")
    paths, docs = _source(corpus, labelled=True)
    val = o["val"] or None
    val_paths, val_docs = (
        (None, None) if val is None else corpus_source(val, labelled=False, what="val")
    )
    test = o["test"]
    test_paths, test_docs = (
        (None, None) if test is None else corpus_source(test, labelled=False, what="test")
    )
    for name, found in (("val", val_paths), ("test", test_paths)):
        if found is not None and len(found) > 1:
            raise UsageError(f"{name} takes one file")
    inputs = [*paths, o["vocab"], *(val_paths or []), *(test_paths or []), o["init_vectors"]]
    with contextlib.ExitStack() as stack:
        _claim(stack, o, checkpoint, inputs)
        if tuning:
            _claim_trials_log(stack, o, inputs)
        plan = train_plan(o, paths, docs, val_paths, val_docs, test_paths, test_docs)
        plan.dask = dask
        if tuning:
            return _autotune(plan, o, tune, ev, fixed)
        saved = None
        if o["resume"]:
            from embedcli.checkpoint import load_checkpoint
            from embedcli.pipeline import resume_plan

            saved = load_checkpoint(o["resume"])
            plan = resume_plan(
                saved,
                paths,
                val_paths[0] if val_paths else None,
                test_paths[0] if test_paths else None,
            )
            if ev.resumed is not None:
                ev.resumed(saved)
        return _train(plan, o, ev, checkpoint, saved)


def train_plan(
    o: dict[str, Any],
    paths: list[str],
    docs: Any = None,
    val_paths: list[str] | None = None,
    val_docs: Any = None,
    test_paths: list[str] | None = None,
    test_docs: Any = None,
) -> Any:
    """The ``pipeline.TrainPlan`` of checked options (the one place options become a plan)."""
    from embedcli.pipeline import TrainPlan

    config_keys = (
        "dim epochs lr optimizer lr_schedule batch_size l2 dropout pool hidden objective "
        "threshold class_weight word_ngrams buckets maxlen threads seed freeze_embeddings "
        "minn maxn"
    ).split()
    return TrainPlan(
        train_paths=paths or ["<memory>"],
        corpus_options=reading_options(o, skip_blank=True, require_labels=True),
        vocab_path=o["vocab"],
        order=o["order"] or None,
        oov=False if o["no_oov"] else None,
        val_path=val_paths[0] if val_paths else None,
        val_split=o["val_split"],
        test_path=test_paths[0] if test_paths else None,
        init_vectors=o["init_vectors"],
        train_docs=docs,
        val_docs=val_docs,
        test_docs=test_docs,
        config={**{k: o[k] for k in config_keys}, "patience": o["early_stopping"]},
        **vocabulary_options(o),
    )


def _train(plan: Any, o: dict[str, Any], ev: Events, checkpoint: str | None, saved: Any) -> Run:
    from embedcli.pipeline import prepare_training, run_training

    prepared = _read(ev, plan.train_paths, prepare_training, plan)
    if o["dry_run"]:
        return Run(summary=prepared.plan_summary())
    if ev.warm is not None:
        from embedcli.warm import warm_kernels  # imports numba

        ev.warm(lambda: warm_kernels(prepared))
    if not o["output"]:
        from embedcli.api_fit import fit_prepared

        return Run(model=fit_prepared(prepared, callback=ev.epoch, on_progress=ev.progress))
    # SIGTERM and Ctrl-C stop the run: the last checkpoint stays, nothing partial is written
    summary = run_training(
        prepared,
        o["output"],
        on_epoch=ev.epoch,
        on_progress=ev.progress,
        checkpoint_every=o["checkpoint_every"],
        checkpoint_path=checkpoint,
        resume=saved,
        on_stage=ev.stage,
    )
    return Run(summary=summary)


def _claim_trials_log(stack: contextlib.ExitStack, o: dict[str, Any], inputs: list[Any]) -> None:
    """Refuse a model directory that is the validation file; lock the trials log."""
    from embedcli.outputs import Output, claim_outputs, guard_outputs

    guard_outputs([Output(o["output"], "dir")], [o["autotune_validation"]])
    if o["autotune_trials_log"]:
        out = Output(o["autotune_trials_log"], "file", "--autotune-trials-log")
        stack.enter_context(claim_outputs([out], [*inputs, o["autotune_validation"], o["output"]]))


def _autotune(plan: Any, o: dict[str, Any], tune: dict[str, Any], ev: Events, fixed: Any) -> Run:
    """A search of many training runs instead of one (``embedcli.autotune``): the best model
    written to ``output``, every trial to the trials log."""
    from embedcli.autotune import AutotuneOptions, finish, parse_metric, parse_size, search

    if tune["duration"] is not None and tune["duration"] <= 0:
        raise UsageError("--autotune-duration must be more than 0 seconds")
    metric = parse_metric(tune["metric"] or "f1")
    size = parse_size(tune["model_size"]) if tune["model_size"] else 0
    test_path = plan.test_path
    fixed = frozenset(fixed or ())
    if plan.init_vectors:
        fixed |= {"dim"}  # the vectors' dimension
    if plan.vocab_path:
        fixed |= {"min_count"}
    if tune["validation"]:
        plan.val_path = tune["validation"]
    elif not plan.val_path and not plan.val_split:
        plan.val_split = 0.1
        if ev.stage is not None:
            ev.stage("autotune: validating on 10 % of the training data (--val-split 0.1)")
    options = AutotuneOptions(
        metric=metric,
        duration=300.0 if tune["duration"] is None else float(tune["duration"]),
        trials=tune["trials"],
        model_size=size,
        fixed=fixed,
    )
    if ev.stage is not None:
        kept = sorted(fixed)
        ev.stage(
            f"autotune: maximising {metric} on "
            + (plan.val_path or f"{plan.val_split:g} of the training data")
            + f" for {options.duration:g} s"
            + (f" or {options.trials} trials" if options.trials else "")
            + (f"; fixed: {', '.join(kept)}" if kept else "")
        )
    started = time.perf_counter()
    result = search(plan, options, on_trial=ev.trial)
    if ev.searched is not None:
        ev.searched(result)
    summary = finish(result, o["output"], test_path, on_stage=ev.stage)
    if tune["trials_log"]:
        _write_log(tune["trials_log"], result.trials)
    summary["seconds_search"] = round(time.perf_counter() - started, 3)
    return Run(summary=summary, search=result)


def _write_log(path: str, trials: list[dict[str, Any]]) -> None:
    import json

    from embedcli.atomic import atomic_write

    with atomic_write(path) as f:
        f.writelines(json.dumps(t, sort_keys=True) + "\n" for t in trials)


# -- pretrain -------------------------------------------------------------------------------------
def pretrain_run(
    corpus: Any, options: dict[str, Any], *, events: Events | None = None, dask: Any = None
) -> Run:
    """One ``pretrain`` run (``options``: every keyword of ``embedcli.pretrain``; ``dask``: a
    ``shard_corpus.DaskPlan`` when the corpus is prepared on a Dask cluster)."""
    from embedcli.api_fit import PRETRAIN_RANGES
    from embedcli.api_model import check_ranges
    from embedcli.pretrain_run import PretrainPlan, check_spec
    from embedcli.pretrain_spec import PretrainSpec

    ev = events or Events()
    o = dict(options)
    check_ranges(o, PRETRAIN_RANGES)
    checkpoint = _check_outputs(o, "vectors")
    spec_keys = (
        "method dim window negative sample epochs minn maxn buckets threads seed sg_input".split()
    )
    spec = PretrainSpec(**{k: o[k] for k in [*spec_keys, "lr"]})  # None: the method's default
    check_spec(spec)
    paths, docs = _source(corpus, labelled=False)
    with contextlib.ExitStack() as stack:
        _claim(stack, o, checkpoint, paths)
        saved = None
        if o["resume"]:
            from embedcli.pretrain_checkpoint import load_pretrain_checkpoint
            from embedcli.pretrain_run import resume_plan

            saved = load_pretrain_checkpoint(o["resume"])
            plan = resume_plan(saved, paths)
            if ev.resumed is not None:
                ev.resumed(saved)
        else:
            plan = PretrainPlan(
                paths=paths or ["<memory>"],
                corpus_options=reading_options(
                    {**o, "label_column": None, "label_field": "label"}, skip_blank=True
                ),
                spec=spec,
                documents=docs,
                **vocabulary_options(o),
            )
        plan.dask = dask  # where the corpus is prepared, also on --resume
        return _pretrain(plan, o, ev, checkpoint, saved)


def _pretrain(plan: Any, o: dict[str, Any], ev: Events, checkpoint: str | None, saved: Any) -> Run:
    from embedcli.pretrain_run import prepare_pretrain, run_pretrain

    prepared = _read(ev, plan.paths, prepare_pretrain, plan)
    if o["dry_run"]:
        return Run(summary=prepared.plan_summary())
    if not o["output"]:
        from embedcli.api_fit import train_prepared_vectors

        return Run(model=train_prepared_vectors(prepared, progress=ev.progress))
    summary = run_pretrain(
        prepared,
        o["output"],
        progress=ev.progress,
        checkpoint_every=o["checkpoint_every"],
        checkpoint_path=checkpoint,
        resume=saved,
    )
    return Run(summary=summary)


def loaded(run: Run, output: str | None) -> Any:
    """The run's model: the one in memory, else the directory it wrote, opened."""
    if run.model is not None:
        return run.model
    from embedcli.api_model import Model

    return Model.load(os.fspath(output), verify=False)
