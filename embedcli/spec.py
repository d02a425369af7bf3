"""The plain data types of the model and of training (numpy only: never imports numba).

``ModelSpec`` is the architecture and owns **all** of its geometry (rows, pooled width, layer sizes,
the flat dense layout the kernels use) and its validation; ``ModelParams`` holds the trained
arrays; ``TrainConfig`` holds every hyperparameter, ``validate()`` checks it (``UsageError``) and
``resolve()`` fills in the "choose for me" values (epochs, buckets, learning rate, dropout,
threads) from the data size and the machine. ``modeldir``, ``pipeline`` and the CLI use these
types without loading the engine; ``model``/``train`` re-export them.

The integer codes (``POOLS``, ``OBJECTIVES``, ``OPTIMIZERS``) are what the kernels branch on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, NamedTuple

import numpy as np

from embedcli.errors import FormatError, UsageError

POOLS = {"mean": 0, "sum": 1, "max": 2, "flatten": 3}
OBJECTIVES = {"softmax": 0, "binary": 1, "multilabel": 2}
OPTIMIZERS = {"sgd": 0, "adagrad": 1, "adam": 2}
LR_SCHEDULES = ("linear", "constant")

# Default learning rate per optimizer when ``TrainConfig.lr`` is None.
DEFAULT_LR = {"sgd": 0.5, "adagrad": 0.3, "adam": 0.01}
# Dropout on the pooled vector when ``TrainConfig.dropout`` is None (adaptive optimizers only).
DEFAULT_DROPOUT = 0.3


class DenseBounds(NamedTuple):
    """Starts of the segments of the flat dense vector ``[hidden_W, hidden_b, out_W, out_b]``."""

    hidden_W: int
    hidden_b: int
    out_W: int
    out_b: int
    end: int


def dense_bounds(pooled_dim: int, hidden: int, num_classes: int) -> DenseBounds:
    """The dense-layout offsets (the one place they are computed in Python; the kernels'
    ``_dense_bounds`` is the same arithmetic)."""
    out_in = hidden if hidden > 0 else pooled_dim
    o_hb = pooled_dim * hidden
    o_W = o_hb + hidden
    o_b = o_W + out_in * num_classes
    return DenseBounds(0, o_hb, o_W, o_b, o_b + num_classes)


@dataclass
class ModelSpec:
    """Architecture, enough to rebuild the parameter shapes (stored in ``config.json``).

    Construction validates (``UsageError``); :meth:`from_dict` turns any problem of a stored
    spec into a ``FormatError``."""

    num_words: int
    buckets: int
    dim: int
    num_classes: int
    pool: str = "mean"
    hidden: int = 0
    objective: str = "softmax"
    word_ngrams: int = 1
    maxlen: int = 0
    #: how n-gram rows are hashed: ``"fasttext-2017"`` = from the token strings' hashes, as
    #: fastText does since 2017 (``embedcli.ftcompat``); ``""`` = from the word ids (models
    #: written before it, whose config.json has no such key, keep loading and predicting as
    #: they did)
    ngram_hash: str = ""
    #: fastText's subwords: character n-grams of ``minn .. maxn`` characters of every word,
    #: hashed into the same ``buckets`` rows as the word n-grams (0 = off: models written before
    #: them). Stored in config.json as ``"subwords": SubwordSpec.to_json()`` (see ``to_dict``)
    minn: int = 0
    maxn: int = 0

    def __post_init__(self) -> None:
        if self.pool not in POOLS:
            raise UsageError(f"pool must be one of {sorted(POOLS)}, not {self.pool!r}")
        if self.objective not in OBJECTIVES:
            raise UsageError(
                f"objective must be one of {sorted(OBJECTIVES)}, not {self.objective!r}"
            )
        if self.pool == "flatten" and self.maxlen <= 0:
            raise UsageError("pool 'flatten' needs maxlen > 0")
        if self.objective == "binary" and self.num_classes != 1:
            raise UsageError("objective 'binary' has num_classes == 1 (one logit for label id 1)")
        if self.dim < 1 or self.num_words < 1 or self.num_classes < 1:
            raise UsageError("dim, num_words and num_classes must be >= 1")
        if self.hidden < 0 or self.buckets < 0 or self.word_ngrams < 1 or self.maxlen < 0:
            raise UsageError("hidden, buckets and maxlen must be >= 0, word_ngrams >= 1")
        check_subwords(self.minn, self.maxn)
        if self.has_subwords and self.buckets < 1:
            raise UsageError("subwords (minn, maxn) need buckets >= 1")
        if self.has_subwords and self.pool == "flatten":
            raise UsageError("subwords (--minn/--maxn) need a pooling other than flatten")

    @property
    def num_rows(self) -> int:
        """Rows of the embedding table: words, then the buckets of word n-grams and subwords
        (none without either)."""
        return self.num_words + (self.buckets if self.word_ngrams > 1 or self.has_subwords else 0)

    @property
    def has_subwords(self) -> bool:
        """Whether every word adds the rows of its character n-grams (fastText's subwords)."""
        return self.minn > 0 and self.maxn > 0

    @property
    def adds_rows(self) -> bool:
        """Whether :func:`embedcli.model.featurize` adds any row (word n-grams or subwords)."""
        return self.uses_ngrams or (self.has_subwords and self.buckets > 0)

    @property
    def subwords(self) -> Any:
        """The ``embedcli.subwords.SubwordSpec`` (``minn``, ``maxn``, ``buckets``), or None."""
        if not self.has_subwords:
            return None
        from embedcli.subwords import SubwordSpec

        return SubwordSpec(self.minn, self.maxn, self.buckets)

    @property
    def uses_ngrams(self) -> bool:
        """Whether :func:`embedcli.model.featurize` appends hashed n-gram rows."""
        return self.word_ngrams > 1 and self.buckets > 0

    @property
    def pooled_dim(self) -> int:
        return self.maxlen * self.dim if self.pool == "flatten" else self.dim

    @property
    def out_in(self) -> int:
        return self.hidden if self.hidden > 0 else self.pooled_dim

    @property
    def num_labels(self) -> int:
        """Columns of ``predict_proba``: 2 for binary, else num_classes."""
        return 2 if self.objective == "binary" else self.num_classes

    @property
    def dense_bounds(self) -> DenseBounds:
        return dense_bounds(self.pooled_dim, self.hidden, self.num_classes)

    @property
    def dense_size(self) -> int:
        return self.dense_bounds.end

    def classifier_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the classifier arrays (``hidden_*`` only with a hidden layer)."""
        shapes: dict[str, tuple[int, ...]] = {}
        if self.hidden > 0:
            shapes.update(hidden_W=(self.pooled_dim, self.hidden), hidden_b=(self.hidden,))
        shapes.update(out_W=(self.out_in, self.num_classes), out_b=(self.num_classes,))
        return shapes

    def kernel_shape(self) -> tuple[int, int, int, int, int]:
        """``(pool, maxlen, hidden, n_out, objective)`` as the kernels take it."""
        maxlen = self.maxlen if self.pool == "flatten" else 0
        return (
            POOLS[self.pool],
            int(maxlen),
            int(self.hidden),
            int(self.num_classes),
            OBJECTIVES[self.objective],
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``model`` section of config.json: the fields, with ``minn``/``maxn`` as
        ``"subwords": SubwordSpec.to_json()`` when on (absent when off, as before them)."""
        out = asdict(self)
        del out["minn"], out["maxn"]
        if self.has_subwords:
            out["subwords"] = self.subwords.to_json()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """The spec of a stored ``model`` section (unknown keys ignored); ``FormatError`` when
        it is not a valid spec."""
        names = {f.name for f in fields(cls)} - {"minn", "maxn"}
        try:
            kwargs = {k: v for k, v in data.items() if k in names}
            sub = data.get("subwords")
            if sub is not None:
                from embedcli.subwords import SubwordSpec

                sw = SubwordSpec.from_json(sub)
                if sw.buckets != data.get("buckets"):
                    raise UsageError("subwords.buckets differs from buckets")
                if not sw.enabled:
                    raise UsageError("subwords must have minn, maxn and buckets >= 1")
                kwargs.update(minn=sw.minn, maxn=sw.maxn)
            return cls(**kwargs)
        except (UsageError, TypeError, AttributeError, ValueError) as exc:
            raise FormatError(f"not a valid model spec: {exc}") from None


@dataclass
class ModelParams:
    """Trained arrays (float32). ``out_W`` is ``(in_dim, C)``; ``hidden_W`` is ``(pooled_dim, H)``."""

    embeddings: np.ndarray
    out_W: np.ndarray
    out_b: np.ndarray
    hidden_W: np.ndarray | None = None
    hidden_b: np.ndarray | None = None
    thresholds: np.ndarray | None = None

    def copy(self) -> ModelParams:
        def c(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a.copy()

        return ModelParams(
            self.embeddings.copy(),
            self.out_W.copy(),
            self.out_b.copy(),
            c(self.hidden_W),
            c(self.hidden_b),
            c(self.thresholds),
        )


@dataclass
class InitEmbeddings:
    """Pretrained rows to start a model from (``train.fit``'s ``init_embeddings`` also takes a
    plain ``(k, dim)`` array = ``words`` alone): ``words`` ``(k, dim)`` overwrite the first k word
    rows; ``bucket_rows[i]`` overwrites the bucket row ``num_words + bucket_ids[i]`` (the subword
    rows of a pretrained model with the same subword spec)."""

    words: np.ndarray  # float32 (k, dim)
    bucket_ids: np.ndarray  # int64, 0 .. buckets - 1
    bucket_rows: np.ndarray  # float32 (len(bucket_ids), dim)

    @property
    def shape(self) -> tuple[int, int]:
        return self.words.shape


#: the longest character n-gram ``--maxn`` takes
MAX_NGRAM_CHARS = 30


def check_subwords(minn: int, maxn: int) -> None:
    """``UsageError`` unless ``minn``/``maxn`` are both 0 (off) or ``1 <= minn <= maxn <= 30``."""
    if minn == 0 and maxn == 0:
        return
    if not (1 <= minn <= maxn <= MAX_NGRAM_CHARS):
        raise UsageError(
            f"--minn and --maxn must both be 0 (no subwords) or satisfy 1 <= minn <= maxn <= "
            f"{MAX_NGRAM_CHARS}, not minn {minn}, maxn {maxn}"
        )


def dense_size(spec: ModelSpec) -> int:
    """Length of the flat dense vector ``[hidden_W, hidden_b, out_W, out_b]`` (see kernels.py)."""
    return spec.dense_size


def pack_dense(params: ModelParams, spec: ModelSpec, dtype: Any = np.float32) -> np.ndarray:
    """The classifier arrays concatenated in the kernels' flat layout."""
    parts = []
    if spec.hidden > 0:
        parts += [params.hidden_W.ravel(), params.hidden_b.ravel()]
    parts += [params.out_W.ravel(), params.out_b.ravel()]
    return np.ascontiguousarray(np.concatenate(parts), dtype=dtype)


def unpack_dense(flat: np.ndarray, spec: ModelSpec) -> dict[str, np.ndarray | None]:
    """Views into ``flat``: ``hidden_W, hidden_b, out_W, out_b`` (the hidden ones None if none)."""
    b = spec.dense_bounds
    H = spec.hidden
    return {
        "hidden_W": flat[: b.hidden_b].reshape(spec.pooled_dim, H) if H > 0 else None,
        "hidden_b": flat[b.hidden_b : b.out_W] if H > 0 else None,
        "out_W": flat[b.out_W : b.out_b].reshape(spec.out_in, spec.num_classes),
        "out_b": flat[b.out_b : b.end],
    }


def params_from_dense(emb: np.ndarray, flat: np.ndarray, spec: ModelSpec) -> ModelParams:
    """``ModelParams`` viewing ``emb`` and the flat dense vector (no copy)."""
    v = unpack_dense(flat, spec)
    return ModelParams(emb, v["out_W"], v["out_b"], v["hidden_W"], v["hidden_b"])


def auto_epochs(n_docs: int, n_tokens: int) -> int:
    """Epochs when ``TrainConfig.epochs == 0``: about 200k example updates and at most about
    60M token visits, clamped to 5..25. Small sets need many passes (fastText's 25-epoch rows win
    on trec6); long-document sets (20newsgroups, imdb) have converged after ~8-10."""
    if n_docs <= 0:
        return 5
    by_docs = 200_000 / n_docs
    by_tokens = 60_000_000 / max(1, n_tokens)
    return int(min(25, max(5, round(min(by_docs, by_tokens)))))


def auto_buckets(n_docs: int, n_tokens: int, word_ngrams: int, subwords: bool = False) -> int:
    """Buckets when ``TrainConfig.buckets == 0``: the power of two >= 2x the training n-gram
    windows (with subwords, plus 2 per token for the character n-grams), between 2**16 and
    2**20 (1M x dim 50 = 200 MB; fastText's 2M is 400 MB)."""
    windows = max(
        1, (n_tokens - n_docs) * max(0, word_ngrams - 1) + (2 * n_tokens if subwords else 0)
    )
    return int(min(1 << 20, max(1 << 16, 1 << int(np.ceil(np.log2(2 * windows))))))


@dataclass
class TrainConfig:
    """Every hyperparameter of ``embedcli.train.fit`` (stored in the model's ``config.json``).

    ``epochs=0`` and ``lr=None`` mean "choose": epochs from the dataset size (see
    :func:`auto_epochs`), lr from ``DEFAULT_LR[optimizer]``. ``threads=0`` means all cores.
    ``dropout=None`` means 0.3 for the adaptive optimizers and 0 for SGD (so SGD with
    ``lr=0.5, word_ngrams=2, epochs=5`` is fastText's supervised model). ``buckets=0`` means
    "choose" (:func:`auto_buckets`). ``freeze_embeddings`` freezes the word rows (the hashed
    n-gram rows still train). :meth:`resolve` returns the config with every choice made.
    """

    dim: int = 100
    epochs: int = 0
    lr: float | None = None
    optimizer: str = "adagrad"
    lr_schedule: str = "linear"
    batch_size: int = 1
    l2: float = 0.0
    dropout: float | None = None
    pool: str = "mean"
    hidden: int = 0
    objective: str = "softmax"
    threshold: float = 0.5
    class_weight: str | None = None
    word_ngrams: int = 2
    buckets: int = 0
    maxlen: int = 0
    threads: int = 0
    seed: int = 0
    patience: int = 0
    freeze_embeddings: bool = False
    #: fastText's subwords: character n-grams of minn..maxn characters (0 = off, fastText's
    #: supervised default)
    minn: int = 0
    maxn: int = 0

    @property
    def has_subwords(self) -> bool:
        return self.minn > 0 and self.maxn > 0

    def to_dict(self) -> dict[str, Any]:
        """The fields (``minn``/``maxn`` only when subwords are on: a config without them reads
        as before them)."""
        out = asdict(self)
        if not self.minn and not self.maxn:
            del out["minn"], out["maxn"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A config from its ``to_dict``; ``UsageError`` on unknown options."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UsageError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**data)

    def validate(self) -> None:
        """Raise ``UsageError`` on an impossible combination."""
        choices = (
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("pool", self.pool, POOLS),
            ("objective", self.objective, OBJECTIVES),
            ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
        )
        for name, value, allowed in choices:
            if value not in allowed:
                raise UsageError(f"{name} must be one of {sorted(allowed)}, not {value!r}")
        if self.class_weight not in (None, "balanced"):
            raise UsageError("class_weight must be None or 'balanced'")
        if self.dim < 1 or self.batch_size < 1 or self.epochs < 0 or self.threads < 0:
            raise UsageError("dim and batch_size must be >= 1, epochs and threads >= 0")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise UsageError("dropout must be in [0, 1)")
        if self.lr is not None and not self.lr > 0:
            raise UsageError("lr must be > 0")
        if self.pool == "flatten" and self.maxlen < 1:
            raise UsageError("pool 'flatten' needs maxlen >= 1")
        if self.word_ngrams < 1 or self.buckets < 0 or self.hidden < 0:
            raise UsageError("word_ngrams must be >= 1, buckets and hidden >= 0")
        check_subwords(self.minn, self.maxn)
        if self.has_subwords and self.pool == "flatten":
            raise UsageError("subwords (--minn/--maxn) need a pooling other than flatten")

    def resolve(self, n_docs: int, n_tokens: int, cores: int | None = None) -> TrainConfig:
        """A validated copy with every "choose" value chosen for a training corpus of
        ``n_docs`` documents and ``n_tokens`` word ids: epochs, buckets (with n-grams), lr,
        dropout and threads (``cores``, default the usable cores). Resolving twice changes
        nothing."""
        self.validate()
        if not self.threads and cores is None:
            from embedcli.resources import available_cores

            cores = available_cores()
        return replace(
            self,
            epochs=self.epochs or auto_epochs(n_docs, n_tokens),
            buckets=(
                self.buckets or auto_buckets(n_docs, n_tokens, self.word_ngrams, self.has_subwords)
            )
            if self.word_ngrams > 1 or self.has_subwords
            else self.buckets,
            lr=float(self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]),
            dropout=self.dropout
            if self.dropout is not None
            else (0.0 if self.optimizer == "sgd" else DEFAULT_DROPOUT),
            threads=self.threads or int(cores or 1),
        )

    def model_spec(self, num_words: int, num_classes: int, ngram_hash: str = "") -> ModelSpec:
        """The architecture this (resolved) config trains over ``num_words`` word rows and
        ``num_classes`` labels (binary: one logit); ``ngram_hash``: see ``ModelSpec``."""
        if self.objective == "binary" and num_classes != 2:
            raise UsageError(f"objective 'binary' needs exactly 2 labels, not {num_classes}")
        return ModelSpec(
            num_words=int(num_words),
            buckets=int(self.buckets) if self.word_ngrams > 1 or self.has_subwords else 0,
            dim=self.dim,
            num_classes=1 if self.objective == "binary" else int(num_classes),
            pool=self.pool,
            hidden=self.hidden,
            objective=self.objective,
            word_ngrams=self.word_ngrams,
            maxlen=self.maxlen if self.pool == "flatten" else 0,
            ngram_hash=ngram_hash if self.word_ngrams > 1 else "",
            minn=self.minn,
            maxn=self.maxn,
        )
