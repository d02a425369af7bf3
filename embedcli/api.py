"""The Python API: ``train``, ``pretrain`` and ``load`` return a :class:`~embedcli.api_model.Model`.

The same options, defaults, checks and named errors as the commands ``embedcli train`` and
``embedcli pretrain`` (an option ``--word-ngrams`` is the keyword ``word_ngrams``; ``--format``
is ``format``; ``--vocab`` is ``vocab``). A corpus is a path, a list of ``pathlib.Path``, or
documents in memory: ``(text, labels)`` pairs (``labels`` a string or a sequence of strings) or,
for ``pretrain``, plain strings. In-memory documents feed the encoders directly: no temporary
file. Nothing is printed: ``callback(record)`` hears of every epoch (a dict: epoch, loss...),
``progress=True`` draws a rich bar on stderr.

    >>> import embedcli
    >>> docs = [("open a socket", "net"), ("parse the json file", "data")] * 20
    >>> model = embedcli.train(docs, dim=8, epochs=5, seed=1, threads=1)
    >>> model
    Model(kind='classifier', words=7, labels=['net', 'data'], dim=8)
    >>> model.predict("send bytes over a socket")[0][0]
    'net'
    >>> embedcli.train(docs, dim=0)
    Traceback (most recent call last):
    ...
    embedcli.errors.UsageError: --dim must be in 1..10000, not 0

``output=DIR`` writes the model directory as the command does (and opens it); with it come
checkpoints, ``resume`` and the hyperparameter search (``autotune_*``); ``dry_run=True``
returns the plan instead. The commands call the same function (``embedcli.api_run``) once.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

from embedcli.api_fit import (  # noqa: F401  (the API's names since issue #10)
    PRETRAIN_RANGES,
    TRAIN_RANGES,
    check_train_options,
    fit_prepared,
    train_prepared_vectors,
)
from embedcli.api_model import Model

__all__ = ["Model", "load", "pretrain", "train"]

#: the options the autotune search varies (``train``'s names)
SEARCHED = ("optimizer", "lr", "dim", "epochs", "word_ngrams", "buckets", "dropout", "min_count",
            "minn", "maxn")  # fmt: skip


# -- train ------------------------------------------------------------------------------------------
def train(
    corpus: Any,
    *,
    output: str | None = None,
    vocab: str | None = None,
    val: Any = None,
    val_split: float = 0.0,
    test: Any = None,
    dry_run: bool = False,
    dim: int = 100,
    epochs: int = 0,
    lr: float | None = None,
    optimizer: str = "adagrad",
    lr_schedule: str = "linear",
    batch_size: int = 1,
    l2: float = 0.0,
    dropout: float | None = None,
    pool: str = "mean",
    hidden: int = 0,
    maxlen: int = 0,
    objective: str = "softmax",
    multilabel: bool = False,
    threshold: float = 0.5,
    class_weight: str | None = None,
    word_ngrams: int = 2,
    buckets: int = 0,
    minn: int = 0,
    maxn: int = 0,
    init_vectors: str | None = None,
    freeze_embeddings: bool = False,
    threads: int = 0,
    seed: int = 0,
    early_stopping: int = 0,
    checkpoint_every: int = 0,
    checkpoint: str | None = None,
    resume: str | None = None,
    min_count: int = 1,
    max_size: int | None = None,
    order: str = "",
    no_oov: bool = False,
    compat: str = "embedcli",
    no_lower: bool = False,
    keep_punctuation: bool = False,
    token_pattern: str | None = None,
    format: str = "auto",  # noqa: A002  (the option is --format)
    label_prefix: str = "__label__",
    text_column: str | None = None,
    label_column: str | None = None,
    no_header: bool = False,
    text_field: str = "text",
    label_field: str = "label",
    strict_utf8: bool = False,
    autotune_validation: str | None = None,
    autotune_duration: float | None = None,
    autotune_metric: str | None = None,
    autotune_model_size: str | None = None,
    autotune_trials_log: str | None = None,
    autotune_trials: int = 0,
    force: bool = False,
    callback: Callable[[dict[str, Any]], Any] | None = None,
    progress: bool = False,
) -> Any:
    """Train an embedding table and a classifier: the model in memory, or written to
    ``output`` (a model directory, as ``embedcli train -o`` writes it) and opened from there.

    ``corpus``, ``val`` and ``test``: a path (fastText lines, CSV/TSV, JSON Lines, as
    ``--format`` says), a list of ``pathlib.Path``, or ``(text, labels)`` pairs in memory.
    Every other keyword is the option of ``embedcli train`` of the same name, with its default.
    ``callback(record)`` is called after every epoch (``epoch``, ``loss``, ``accuracy``, ``lr``,
    ``tokens_per_s``, ``seconds``, with ``val_*`` when validating); ``progress=True`` shows a bar.

        >>> m = train("sample_data/stdlib/train.txt", dim=16, epochs=2, seed=1, threads=1)
        >>> m.kind, len(m.labels), m.dim
        ('classifier', 4, 16)

    ``dry_run=True`` reads the corpus and returns the plan ``--dry-run --json`` prints (sizes,
    memory) instead of training:

        >>> train("sample_data/stdlib/train.txt", dim=16, dry_run=True)["parameter_bytes"] > 0
        True

    Runs that write files need ``output``: ``checkpoint_every=N`` writes a checkpoint every N
    epochs (to ``checkpoint``, default ``OUTPUT.ckpt``; a ``KeyboardInterrupt`` keeps it);
    ``resume=CHECKPOINT`` continues one on the same corpus (its settings win);
    ``autotune_validation``/``_duration``/``_metric``/``_model_size``/``_trials``/
    ``_trials_log`` search hyperparameters (validated on ``val`` or ``val_split``, default
    0.1) and write the best model. The searched options you set (different from the default)
    stay fixed.
    """
    from embedcli.api_run import Events, loaded, train_run

    opts = {k: v for k, v in locals().items() if k not in ("corpus", "callback", "progress")}
    defaults = inspect.signature(train).parameters
    fixed = {k for k in SEARCHED if opts[k] != defaults[k].default}  # as the user set them
    with _Bar(progress, "training") as bar:
        run = train_run(corpus, opts, events=Events(epoch=callback, progress=bar), fixed=fixed)
    return run.summary if dry_run else loaded(run, output)


# -- pretrain ---------------------------------------------------------------------------------------
def pretrain(
    corpus: Any,
    *,
    output: str | None = None,
    method: str = "skipgram",
    dim: int = 100,
    window: int = 5,
    negative: int = 5,
    sample: float | None = None,
    epochs: int = 5,
    lr: float | None = None,
    minn: int = 3,
    maxn: int = 6,
    buckets: int = 2_000_000,
    threads: int = 0,
    seed: int = 0,
    sg_input: str | None = None,
    checkpoint_every: int = 0,
    checkpoint: str | None = None,
    resume: str | None = None,
    dry_run: bool = False,
    min_count: int = 5,
    max_size: int | None = None,
    compat: str = "embedcli",
    no_lower: bool = False,
    keep_punctuation: bool = False,
    token_pattern: str | None = None,
    format: str = "auto",  # noqa: A002  (the option is --format)
    label_prefix: str = "__label__",
    text_column: str | None = None,
    no_header: bool = False,
    text_field: str = "text",
    strict_utf8: bool = False,
    force: bool = False,
    callback: Callable[[dict[str, Any]], Any] | None = None,
    progress: bool = False,
) -> Any:
    """Word vectors (skip-gram or CBOW with fastText's subwords) from unlabelled text; a model
    of kind ``"vectors"``, in memory or written to ``output`` and opened from there. ``corpus``:
    a path, a list of ``pathlib.Path``, or texts (strings, or ``(text, labels)`` pairs whose
    labels are ignored). The keywords are ``embedcli pretrain``'s options; ``callback(record)``
    is called once per finished epoch (with the trainer's latest figures: it reports a few times
    a second, not at epoch ends). ``dry_run=True`` returns the plan (``--dry-run --json``);
    ``checkpoint_every``/``checkpoint``/``resume`` need ``output``, as in ``train``.

        >>> texts = ["the cat sat on the mat", "the dog sat on the log"] * 50
        >>> v = pretrain(texts, dim=8, epochs=1, min_count=1, seed=1, threads=1)
        >>> v.kind, v.words[:3]
        ('vectors', ['the', 'sat', 'on'])
        >>> pretrain(texts, dim=8, min_count=1, dry_run=True)["words"]
        7
    """
    from embedcli.api_run import Events, loaded, pretrain_run

    opts = {k: v for k, v in locals().items() if k not in ("corpus", "callback", "progress")}
    with _Bar(progress, "pretraining") as bar:
        events = Events(progress=_epochs(callback, bar, epochs))
        run = pretrain_run(corpus, opts, events=events)
    return run.summary if dry_run else loaded(run, output)


def _epochs(callback: Any, bar: Any, epochs: int) -> Callable[[dict[str, Any]], None] | None:
    """The pretrainer's ``progress(record)`` as ``bar(fraction)`` and one ``callback(record)``
    per finished epoch."""
    if callback is None and bar is None:
        return None
    done = [0]

    def progress(rec: dict[str, Any]) -> None:
        fraction = float(rec.get("progress", 0.0))
        if bar is not None:
            bar(fraction)
        epoch = int(fraction * epochs + 1e-9)
        while callback is not None and epoch > done[0]:  # every epoch passed since the last call
            done[0] += 1
            callback({**rec, "epoch": done[0]})

    return progress


# -- load -------------------------------------------------------------------------------------------
def load(path: str | os.PathLike, *, verify: bool = True, command: str = "this command") -> Model:
    """Open a model directory written by ``embedcli train``/``pretrain`` or ``Model.save``: the
    table memory-mapped, every file checked (``FormatError`` naming what is wrong).
    ``verify=False`` skips only the sha256/finiteness pass over the large table. Never
    imports numba (``.words``, ``.vector``, ``.nearest`` run without it).

        >>> m = load("sample_data/no-such-model")
        Traceback (most recent call last):
        ...
        embedcli.errors.FormatError: model directory not found: sample_data/no-such-model
    """

    return Model.load(path, verify=verify, command=command)


class _Bar:
    """``progress=True``: a rich progress bar on stderr fed with fractions; else nothing."""

    def __init__(self, show: bool, what: str) -> None:
        self.show = show
        self.what = what
        self.progress: Any = None

    def __enter__(self) -> Callable[[float], None] | None:
        if not self.show:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn(self.what),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.progress.start()
        task = self.progress.add_task(self.what, total=1.0)
        return lambda fraction: self.progress.update(task, completed=fraction)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
