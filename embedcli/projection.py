"""2-D coordinates of vectors: PCA (numpy), t-SNE (openTSNE or scikit-learn), UMAP (umap-learn).

PCA is the default because it needs nothing beyond numpy and is deterministic: rows are centred,
the top two right singular vectors (eigenvectors of ``x'x``) give the axes, and each axis's sign is fixed so that its
largest loading is positive (the same picture on every run). t-SNE and UMAP are optional extras
(``pip install 'embedcli[explore]'``), imported inside the function that needs them; without
them :func:`project` raises a ``UsageError`` whose one line says how to install them.

    >>> pts = project(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32))
    >>> pts.shape
    (4, 2)

Left out: 3-D layouts, projecting new points into an existing t-SNE/UMAP map.
"""

from __future__ import annotations

import numpy as np

from embedcli.errors import DataError, UsageError

METHODS = ("pca", "tsne", "umap")
INSTALL_HINT = "pip install 'embedcli[explore]'"


def project(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``(n, 2)`` float64 coordinates of ``vectors`` (n >= 2 rows) by ``method``."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise DataError("need at least two vectors to draw a map")
    if method == "pca":
        return pca(x)
    if method == "tsne":
        return _tsne(x, seed)
    if method == "umap":
        return _umap(x, seed)
    raise UsageError(f"unknown --method {method!r} (choose from {', '.join(METHODS)})")


def pca(x: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows of ``x`` (signs fixed, see above)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    # the right singular vectors of x are the eigenvectors of the dim x dim matrix x'x: an
    # eigh of that is ~10x faster than the SVD of 20,000 rows (and far less on a busy machine)
    _, vecs = np.linalg.eigh(x.T @ x)
    axes = vecs[:, ::-1][:, :2].T  # largest eigenvalue first
    if axes.shape[0] < 2:  # one-dimensional vectors: second axis is zero
        axes = np.vstack([axes, np.zeros_like(axes)])
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    signs[signs == 0] = 1
    return x @ (axes * signs[:, None]).T


def _perplexity(n: int) -> float:
    return float(max(2.0, min(30.0, (n - 1) / 3.0)))


def _tsne(x: np.ndarray, seed: int) -> np.ndarray:
    perplexity = _perplexity(x.shape[0])
    try:
        from openTSNE import TSNE as OpenTSNE
    except ImportError:
        pass
    else:
        fitted = OpenTSNE(perplexity=perplexity, random_state=seed, n_jobs=1, verbose=False).fit(x)
        return np.asarray(fitted, dtype=np.float64)
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise UsageError(
            f"--method tsne needs openTSNE (or scikit-learn): {INSTALL_HINT}; "
            "or use the default --method pca"
        ) from None
    return TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(
        x
    )


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    try:
        import umap
    except ImportError:
        raise UsageError(
            f"--method umap needs umap-learn: {INSTALL_HINT}; or use the default --method pca"
        ) from None
    reducer = umap.UMAP(
        n_components=2, n_neighbors=min(15, x.shape[0] - 1), random_state=seed, n_jobs=1
    )
    return np.asarray(reducer.fit_transform(x), dtype=np.float64)
