"""A 2-D map of word vectors: PCA (numpy) or t-SNE (scikit-learn / openTSNE), drawn with matplotlib.

PCA is the default because it needs nothing beyond numpy and is deterministic: rows are centred, the
top two right singular vectors give the axes, and each axis's sign is fixed so that its largest
loading is positive (the same picture on every run). t-SNE is used only when asked and a library
for it is importable. matplotlib is an optional extra (``pip install 'embedcli[plot]'``); it is
imported inside :func:`draw_map`, never at module import.

    >>> pts = project_2d(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32))
    >>> pts.shape
    (4, 2)

Left out: UMAP, 3-D plots, interactive HTML, label de-overlapping beyond a small offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedcli.atomic import atomic_write
from embedcli.errors import DataError, UsageError

METHODS = ("pca", "tsne")
IMAGE_FORMATS = ("png", "svg", "pdf")


def project_2d(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``(n, 2)`` float64 coordinates of ``vectors`` (n >= 2 rows)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise DataError("need at least two word vectors to draw a map")
    if method == "pca":
        return _pca(x)
    if method == "tsne":
        return _tsne(x, seed)
    raise UsageError(f"unknown --method {method!r} (choose from {', '.join(METHODS)})")


def _pca(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    axes = vt[:2]
    if axes.shape[0] < 2:  # one-dimensional vectors: second axis is zero
        axes = np.vstack([axes, np.zeros_like(axes)])
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1
    return x @ (axes * signs[:, None]).T


def _tsne(x: np.ndarray, seed: int) -> np.ndarray:
    perplexity = float(max(2.0, min(30.0, (x.shape[0] - 1) / 3.0)))
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        pass
    else:
        return TSNE(
            n_components=2, perplexity=perplexity, random_state=seed, init="pca"
        ).fit_transform(x)
    try:
        from openTSNE import TSNE as OpenTSNE
    except ImportError:
        raise UsageError(
            "--method tsne needs scikit-learn or openTSNE (pip install scikit-learn); "
            "or use the default --method pca"
        ) from None
    return np.asarray(OpenTSNE(perplexity=perplexity, random_state=seed).fit(x))


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
