"""A 2-D map of word vectors: PCA (numpy), t-SNE or UMAP (``embedcli.projection``), drawn with matplotlib.

The projections live in ``embedcli.projection`` (PCA with numpy; t-SNE and UMAP as the optional
extra ``embedcli[explore]``). matplotlib is an optional extra (``pip install 'embedcli[plot]'``); it is
imported inside :func:`draw_map`, never at module import.

    >>> pts = project_2d(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32))
    >>> pts.shape
    (4, 2)

Left out: 3-D plots, interactive HTML (``embedcli explore``), label de-overlapping beyond a small offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedcli.atomic import atomic_write
from embedcli.errors import DataError, UsageError
from embedcli.projection import METHODS, project  # noqa: F401  (METHODS: plot --method)

IMAGE_FORMATS = ("png", "svg", "pdf")


def project_2d(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``(n, 2)`` float64 coordinates of ``vectors`` (n >= 2 rows): ``projection.project``."""
    return project(vectors, method, seed)


def image_format(path: str | Path) -> str:
    """``png``/``svg``/``pdf`` from the file name; anything else is a usage error."""
    suffix = Path(str(path)).suffix.lower().lstrip(".")
    if suffix not in IMAGE_FORMATS:
        raise UsageError(f"cannot tell the image format of {path!s}: use a .png, .svg or .pdf name")
    return suffix


def draw_map(
    points: np.ndarray,
    words: Sequence[str],
    path: str | Path,
    *,
    groups: Sequence[int] | None = None,
    group_names: Sequence[str] = (),
    title: str = "",
    dpi: int = 150,
) -> None:
    """Scatter ``points`` labelled with ``words`` to ``path`` (format from the suffix), atomically.

    ``groups`` (optional) colours each point by an index into ``group_names`` (a legend is drawn).
    """
    fmt = image_format(path)
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        raise DataError(
            "plotting needs matplotlib: pip install 'embedcli[plot]' (or pip install matplotlib)"
        ) from None
    n = len(words)
    size = min(16.0, 6.0 + n / 25.0)
    fig, ax = plt.subplots(figsize=(size, size * 0.75))
    try:
        if groups is not None and group_names:
            groups_arr = np.asarray(groups)
            cmap = plt.get_cmap("tab10" if len(group_names) <= 10 else "tab20")
            for g, name in enumerate(group_names):
                m = groups_arr == g
                if m.any():
                    ax.scatter(points[m, 0], points[m, 1], s=14, color=cmap(g % cmap.N), label=name)
            ax.legend(loc="best", fontsize=9, title="pushes towards", title_fontsize=9)
        else:
            ax.scatter(points[:, 0], points[:, 1], s=14, color="tab:blue")
        fontsize = 9 if n <= 100 else 7
        for (x, y), w in zip(points, words, strict=True):
            ax.annotate(
                w, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=fontsize, alpha=0.85
            )
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.tight_layout()
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format=fmt, dpi=dpi)
    finally:
        plt.close(fig)


def check_request(path: str | Path, method: str, top: int) -> None:
    """``UsageError`` for an image name, ``method`` or ``top`` that ``plot_model`` refuses."""
    image_format(path)
    if method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 2:
        raise UsageError("--top must be 2 or more")


def plot_model(
    model,
    path: str | Path,
    *,
    top: int,
    method: str,
    title: str | None,
    seed: int,
    force: bool,
) -> int:
    """``Model.plot`` and ``embedcli plot``: the ``top`` most frequent words of ``model`` (an
    ``api_model.Model``) projected to 2-D and drawn to ``path`` (.png, .svg or .pdf; an existing
    file only if embedcli wrote it), coloured by the label each word pushes towards when the
    output layer is linear; the number of words drawn. No defaults here: ``Model.plot``'s
    signature is the one place they are set."""
    from embedcli.outputs import Output, claim_outputs

    check_request(path, method, top)
    path = str(path)
    with claim_outputs([Output(path)], [model.path], force=force):
        first = model.first_word
        counts = np.asarray(model.vocab.counts[first:], dtype=np.int64)
        ids = first + np.argsort(-counts, kind="stable")[:top]
        vectors = np.asarray(model.embeddings[ids], dtype=np.float32)
        points = project_2d(vectors, method, seed)
        groups, names = word_groups(model, vectors)
        draw_map(
            points,
            [model.vocab.tokens[i] for i in ids],
            path,
            groups=groups,
            group_names=names,
            title=title or f"{len(ids)} most frequent words ({method.upper()}, dim {model.dim})",
        )
    return len(ids)


def word_groups(model, vectors: np.ndarray) -> tuple[np.ndarray | None, list[str]]:
    """Label each word row pushes towards (linear output over mean/sum pooling), else no groups."""
    spec = model.config["model"]
    w = model.output_layers.get("out_W")
    labels = model.vocab.labels
    if (
        w is None
        or int(spec.get("hidden", 0)) > 0
        or spec.get("pool") not in ("mean", "sum")
        or not labels
    ):
        return None, []
    scores = vectors @ w
    if spec.get("objective") == "binary":
        return (scores[:, 0] > 0).astype(int), list(labels)
    return scores.argmax(axis=1), list(labels)
