"""Nearest neighbours and analogies by cosine similarity over a model's word rows (numpy only).

The candidates are the *word* rows: padding (id 0), ``[UNK]`` and the hashed n-gram bucket rows are
never returned. Scores are cosines, computed as ``(E @ q) / |E_i|`` with the row norms computed
once, so a memory-mapped table of a million rows is never copied into a normalized twin; top-k uses
``np.argpartition`` and sorts only the k winners.

Analogy follows gensim ``most_similar(positive=[b, c], negative=[a])``: the query is the mean of
the unit vectors (``+b``, ``+c``, ``-a``), normalized, and the query words themselves are excluded.

    >>> E = np.array([[0, 0], [0, 0], [1, 0], [0.9, 0.1], [0, 1]], np.float32)
    >>> index = NeighborIndex(E, first=2, stop=5)
    >>> [(int(i), round(s, 3)) for i, s in index.nearest([2], k=2)[0]]
    [(3, 0.994), (4, 0.0)]

Left out: approximate indexes (HNSW, IVF), 3CosMul analogies, char n-gram vectors for unknown words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embedcli.errors import UsageError

#: rows per block when computing norms or scores, so a memory-mapped table streams through memory
BLOCK_ROWS = 262_144


class NeighborIndex:
    """Cosine search over rows ``first .. stop-1`` of an embedding table (ids stay table ids)."""

    def __init__(self, embeddings: np.ndarray, first: int, stop: int) -> None:
        if embeddings.ndim != 2:
            raise UsageError("the embedding table must be 2-D")
        if not 0 <= first <= stop <= embeddings.shape[0]:
            raise UsageError(f"bad candidate row range {first}..{stop}")
        self.embeddings = embeddings
        self.first = first
        self.stop = stop
        self.rows = embeddings[first:stop]
        norms = np.empty(stop - first, dtype=np.float32)
        for s in range(0, stop - first, BLOCK_ROWS):
            block = np.asarray(self.rows[s : s + BLOCK_ROWS], dtype=np.float32)
            norms[s : s + len(block)] = np.sqrt(np.einsum("ij,ij->i", block, block))
        # A zero row has no direction: it gets score 0 rather than NaN.
        self.inv_norms = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)

    @property
    def size(self) -> int:
        return self.stop - self.first

    def unit(self, row_id: int) -> np.ndarray:
        """The unit vector of table row ``row_id`` (float64; zeros stay zeros)."""
        v = np.asarray(self.embeddings[row_id], dtype=np.float64)
        n = np.linalg.norm(v)
        return v / n if n > 0 else v

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """Cosine of every candidate row with each unit query: ``(m, size)`` float32."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        out = np.empty((q.shape[0], self.size), dtype=np.float32)
        for s in range(0, self.size, BLOCK_ROWS):
            block = np.asarray(self.rows[s : s + BLOCK_ROWS], dtype=np.float32)
            out[:, s : s + len(block)] = q @ block.T
        out *= self.inv_norms
        return out

    def top_k(
        self, queries: np.ndarray, k: int, exclude: Sequence[Sequence[int]] = ()
    ) -> list[list[tuple[int, float]]]:
        """Top-k ``(row id, cosine)`` per query, best first; ``exclude[j]`` ids never appear."""
        check_k(k)
        sims = self.scores(queries)
        results = []
        for j in range(sims.shape[0]):
            row = sims[j]
            for rid in exclude[j] if j < len(exclude) else ():
                if self.first <= rid < self.stop:
                    row[rid - self.first] = -np.inf
            valid = int(np.isfinite(row).sum())
            kk = min(k, valid)
            if kk == 0:
                results.append([])
                continue
            part = np.argpartition(-row, kk - 1)[:kk] if kk < row.size else np.arange(row.size)
            # Ties are ordered by id, so results are stable across runs and platforms.
            order = part[np.lexsort((part, -row[part]))]
            results.append(
                [(int(i) + self.first, float(row[i])) for i in order[:kk] if np.isfinite(row[i])]
            )
        return results

    def nearest(self, ids: Sequence[int], k: int, batch: int = 64) -> list[list[tuple[int, float]]]:
        """The k neighbours of each row id in ``ids`` (each query excludes itself), batched."""
        out: list[list[tuple[int, float]]] = []
        for s in range(0, len(ids), batch):
            chunk = list(ids[s : s + batch])
            queries = np.stack([self.unit(i) for i in chunk])
            out.extend(self.top_k(queries, k, [[i] for i in chunk]))
        return out

    def combine(
        self, positive: Sequence[int], negative: Sequence[int], k: int
    ) -> list[tuple[int, float]]:
        """gensim ``most_similar``: unit(mean(+unit(p), -unit(n))); query ids excluded."""
        if not positive and not negative:
            raise UsageError("empty query: give at least one word")
        vecs = [self.unit(i) for i in positive] + [-self.unit(i) for i in negative]
        mean = np.mean(vecs, axis=0)
        n = np.linalg.norm(mean)
        if n > 0:
            mean = mean / n
        return self.top_k(mean[None, :], k, [list(positive) + list(negative)])[0]

    def analogy(self, a: int, b: int, c: int, k: int) -> list[tuple[int, float]]:
        """``a`` is to ``b`` as ``c`` is to ...: ``b - a + c`` (gensim ``positive=[b, c], negative=[a]``)."""
        return self.combine([b, c], [a], k)


def check_k(k: int) -> None:
    if k <= 0:
        raise UsageError(f"k must be 1 or more, not {k}")
