"""Nearest neighbours on unit-norm embeddings (cosine similarity = dot product), exact.

Exact search costs N x N x D multiply-adds: fine up to EXACT_KNN_LIMIT rows (100,000 rows of
384-d MiniLM embeddings take about a minute once, on 2 CPU cores, and are cached); above it the
neighbour graph is not built and the evidence that needs it is left out (said where it is shown).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXACT_KNN_LIMIT = 100_000
DEFAULT_K = 10
_BLOCK = 2048  # query rows per matrix product: 2048 x N float32 scores at a time


@dataclass(frozen=True)
class Neighbours:
    """The k nearest other examples of every example: indices (N, k) int64 row positions and
    similarity (N, k) float32 cosine similarities, most similar first."""

    indices: np.ndarray
    similarity: np.ndarray

    def to_array(self) -> np.ndarray:
        """(N, 2k) float64: indices then similarities (indices are exact in float64)."""
        return np.hstack([self.indices.astype(np.float64), self.similarity.astype(np.float64)])

    @classmethod
    def from_array(cls, array: np.ndarray) -> Neighbours:
        k = array.shape[1] // 2
        return cls(array[:, :k].astype(np.int64), array[:, k:].astype(np.float32))


def knn_graph(embeddings: np.ndarray, k: int = DEFAULT_K) -> Neighbours:
    """Exact k nearest neighbours of every row of (N, D) unit-norm `embeddings`, itself excluded.
    k is capped at N - 1. Ties keep the lower row position first."""
    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = len(vectors)
    k = min(k, n - 1)
    indices = np.zeros((n, max(k, 0)), dtype=np.int64)
    similarity = np.zeros((n, max(k, 0)), dtype=np.float32)
    if k <= 0:
        return Neighbours(indices, similarity)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        scores = vectors[start:stop] @ vectors.T
        scores[np.arange(stop - start), np.arange(start, stop)] = -np.inf   # not its own neighbour
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.lexsort((top, -top_scores), axis=1)
        indices[start:stop] = np.take_along_axis(top, order, axis=1)
        similarity[start:stop] = np.take_along_axis(top_scores, order, axis=1)
    return Neighbours(indices, similarity)


def similar_to(embeddings: np.ndarray, position: int, threshold: float, limit: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose cosine similarity to row `position` is at least `threshold` (itself excluded),
    most similar first, at most `limit`: ((M,) int64 positions, (M,) float32 similarities)."""
    scores = np.asarray(embeddings, dtype=np.float32) @ np.asarray(embeddings[position], dtype=np.float32)
    scores[position] = -np.inf
    rows = np.flatnonzero(scores >= threshold)
    rows = rows[np.lexsort((rows, -scores[rows]))][:limit]
    return rows.astype(np.int64), scores[rows].astype(np.float32)


def conflict_groups(text_keys: np.ndarray, labels: np.ndarray, neighbours: Neighbours | None,
                    threshold: float = 0.95) -> np.ndarray:
    """(N,) int64 group number of each row whose identical text (same `text_keys`) or near-identical
    text (a neighbour with similarity >= threshold) carries a different label; -1 elsewhere.
    Groups are connected components of those links; only groups with 2+ labels are kept,
    numbered 0.. in order of their first row."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(labels)
    _, first = np.unique(np.asarray(text_keys, dtype=object), return_inverse=True)
    rows, cols = [np.arange(n)], [n + first]       # each row linked to a node for its exact text
    if neighbours is not None and neighbours.indices.size:
        near = neighbours.similarity >= threshold
        rows.append(np.repeat(np.arange(n), near.sum(axis=1)))
        cols.append(neighbours.indices[near])
    size = n + int(first.max()) + 1 if n else 0
    edges = coo_matrix((np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(size, size))
    _, component = connected_components(edges, directed=False)
    component = component[:n]
    labels = np.asarray(labels, dtype=np.int64)
    order = np.lexsort((labels, component))
    kinds = np.zeros(component.max() + 1 if n else 0, dtype=np.int64)
    changed = np.r_[True, (np.diff(component[order]) != 0) | (np.diff(labels[order]) != 0)]
    np.add.at(kinds, component[order][changed], 1)    # distinct labels per component
    keep = kinds[component] >= 2
    groups = np.full(n, -1, dtype=np.int64)
    if keep.any():
        _, renumbered = np.unique(component[keep], return_inverse=True)
        first_row = np.full(renumbered.max() + 1, n, dtype=np.int64)
        np.minimum.at(first_row, renumbered, np.flatnonzero(keep))
        rank = np.argsort(np.argsort(first_row, kind="stable"), kind="stable")
        groups[keep] = rank[renumbered]
    return groups
